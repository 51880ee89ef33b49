// The start screen: continue the last session, or pick a lesson or an example scene from a gallery
// of thumbnails the app renders itself (trained on a worker thread, drawn on the GL thread, cached).
#pragma once
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "app/export/export_job.h"

namespace fmp {

class GuiApp;

class StartScreen {
  public:
    ~StartScreen();
    void set_settings_dir(const std::string& dir);  // the thumbnails' cache (thumbnails/)
    void open(GuiApp& app);
    void close() { m_visible = false; }
    bool visible() const { return m_visible; }
    void draw(GuiApp& app);    // the full-window gallery while visible
    void update(GuiApp& app);  // turns one trained card into its thumbnail per frame
    int thumbnails_ready() const;
    int cards() const { return static_cast<int>(m_cards.size()); }
    void print_report() const;

    static const std::vector<std::string>& script_keys();  // start=open|close|wait, start_pick=NAME
    static void check_script(const std::string& key, const std::string& value);
    bool apply_script(GuiApp& app, const std::string& key, const std::string& value);

  private:
    struct Card {
        bool lesson = false;
        std::string name, title, summary;
        ExportSettings scene;
        float t = 1.0f;
        std::string cache;      // the thumbnail's file (empty: not cached)
        unsigned texture = 0;   // GL texture once ready
        std::vector<uint8_t> rgba;  // read from the cache, uploaded on the GL thread
        std::string failed;         // why it has no thumbnail (its data cannot train or render here)
    };
    void build_cards(GuiApp& app);
    void start_worker();
    void stop_worker();
    void pick(GuiApp& app, int index);
    void upload(Card& card);

    bool m_visible = false;
    bool m_paused_training = false;  // the window's training paused while the gallery shows
    bool m_built = false;
    std::string m_dir;
    std::vector<Card> m_cards;
    std::string m_error;
    // Trained models waiting for the GL thread: (card, model).
    std::mutex m_mutex;
    std::deque<std::pair<int, ExportModel>> m_trained;
    std::deque<std::pair<int, std::string>> m_failures;  // cards the worker could not train, and why
    std::thread m_worker;
    std::atomic<bool> m_stop{false};
    std::atomic<int> m_pending{0};  // cards not yet trained
};

}  // namespace fmp
