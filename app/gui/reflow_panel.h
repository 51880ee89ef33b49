// The "Rectified flow" window: reflow the current model (train generation k + 1 on the pairs
// generation k makes), keep every generation with its straightness, and switch between them.
#pragma once
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/instruments/reflow.h"

namespace fmp {

class GuiApp;

class ReflowPanel {
  public:
    ReflowPanel() = default;
    ~ReflowPanel();
    ReflowPanel(const ReflowPanel&) = delete;
    ReflowPanel& operator=(const ReflowPanel&) = delete;

    void draw_toggle(GuiApp& app);  // in the Coupling section
    void draw_window(GuiApp& app);  // also applies a finished background job
    // Training a reflow generation (k >= 1) on pairs now, not the data.
    bool active() const { return m_current > 0; }
    int generation() const { return m_current; }
    // The live generation's last measure (for the --report line and tests).
    bool live_measured() const { return m_live_figures.measured; }
    double live_straightness() const { return m_live_figures.figures.straightness; }
    // The window's training went back to the data with fresh weights: the history is void.
    void on_reset();

    // --script keys: reflow=open|close|run|wait|measure, reflow_pairs=N (100..100000),
    // reflow_init=warm|fresh, reflow_use=K (switch to generation K).
    static const std::vector<std::string>& script_keys();
    static void check_script(const std::string& key, const std::string& value);  // InputError
    bool apply_script(GuiApp& app, const std::string& key, const std::string& value);

  private:
    struct Generation {
        int k = 0;
        std::shared_ptr<const std::vector<float>> params;
        int64_t steps = 0;
        // The pairs it was trained on (k >= 1; empty for k = 0, trained on the data).
        std::shared_ptr<const ReflowPairs> pairs;
        FlowStraightness figures;
        bool measured = false;
        std::vector<Points> paths;  // frames of a fixed set of paths, for side by side
    };
    // What the background job hands back.
    struct Job {
        bool reflow = false;  // true: pairs for a new generation; false: measuring the live one
        Generation measured;
        std::shared_ptr<const ReflowPairs> pairs;
        std::string error;
        double seconds = 0;
    };

    void start_job(GuiApp& app, bool reflow);
    void finish_job(GuiApp& app);
    void use_generation(GuiApp& app, int index);
    void draw_paths(const std::vector<Points>& frames, const char* title, float size,
                    float s) const;

    bool m_open = false;
    int m_pairs = 10000;
    bool m_warm = true;
    int m_current = 0;                                // k of the generation training live
    std::vector<Generation> m_history;                // frozen generations, by k
    std::shared_ptr<const ReflowPairs> m_live_pairs;  // what the live generation trains on
    Generation m_live_figures;                        // the live generation's last measure (if any)
    std::thread m_thread;
    std::atomic<bool> m_running{false};
    std::mutex m_mutex;
    std::unique_ptr<Job> m_done;  // a finished job waiting for the UI thread
    std::string m_status;
};

}  // namespace fmp
