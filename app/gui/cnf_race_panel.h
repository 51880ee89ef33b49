// The "FM vs CNF" window: races flow matching against maximum-likelihood CNF training of the same
// network on the current data, plotting held-out NLL against training time as it goes.
#pragma once
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/instruments/cnf_training.h"

namespace fmp {

class GuiApp;

class CnfRacePanel {
  public:
    CnfRacePanel() = default;
    ~CnfRacePanel();
    CnfRacePanel(const CnfRacePanel&) = delete;
    CnfRacePanel& operator=(const CnfRacePanel&) = delete;

    void toggle() { m_open = !m_open; }
    bool open() const { return m_open; }
    // The window itself, when open; also gives the live training back when a race ends.
    void draw_window(GuiApp& app);

    // --script keys: cnfrace=open|close|start|wait|cancel, cnfrace_seconds=S (each side's
    // budget, 0.5..120).
    static const std::vector<std::string>& script_keys();
    static void check_script(const std::string& key, const std::string& value);  // InputError
    bool apply_script(GuiApp& app, const std::string& key, const std::string& value);

  private:
    struct State {
        CnfRace race;
        std::string error;
        std::string data;  // "8 gaussians from normal, 3 x 128 SiLU, batch 256, lr 0.002"
        double budget = 0;
        bool finished = false;
    };

    void start(GuiApp& app);
    void finish(GuiApp& app);  // after the thread ended: join, give training back
    void join();
    void draw_plot(const State& state, float s) const;
    void draw_numbers(const State& state);

    bool m_open = false;
    bool m_mouse_moved = false;
    float m_seconds = 10.0f;  // each side's training budget
    std::thread m_thread;
    std::atomic<bool> m_running{false};
    std::atomic<bool> m_cancel{false};
    bool m_resume_training = false;  // the live training was on when the race paused it
    bool m_joined = true;

    std::mutex m_mutex;
    std::shared_ptr<State> m_state;  // copied under m_mutex by the thread after every mark
};

}  // namespace fmp
