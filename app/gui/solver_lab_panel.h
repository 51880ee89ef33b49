// The "Solver lab" window: samples of the current model from every solver at NFE 1..64 as a grid
// of thumbnails, and their sliced-W2 to the target against NFE, computed on demand in the
// background on a CPU engine with a copy of the current weights.
#pragma once
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/instruments/solver_lab.h"

namespace fmp {

class GuiApp;

class SolverLabPanel {
  public:
    SolverLabPanel() = default;
    ~SolverLabPanel();
    SolverLabPanel(const SolverLabPanel&) = delete;
    SolverLabPanel& operator=(const SolverLabPanel&) = delete;

    // The button that opens the window (beside the solver in the time bar).
    void draw_toggle(GuiApp& app);
    // The window itself, when open.
    void draw_window(GuiApp& app);

    // --script keys: solverlab=open|close|compute|wait (wait blocks until a computation ends,
    // for screenshots).
    static const std::vector<std::string>& script_keys();
    bool apply_script(GuiApp& app, const std::string& key, const std::string& value);

  private:
    // What the last finished computation produced (written by the thread under m_mutex).
    struct Result {
        std::vector<SolverLabRun> runs;
        Points reference;    // the target points the distances are to
        double floor = 0.0;  // sliced W2 between two target samples: what a perfect model gets
        int64_t step = 0;    // the training step of the weights
        std::string error;
    };

    // Starts a computation on the current weights; false when there are none yet.
    bool start(GuiApp& app);
    void join();
    void draw_grid_and_plot(const Result& result, float s);
    void draw_plot(const Result& result, float s);

    bool m_open = false;
    bool m_mouse_moved = false;  // thumbnails' tooltips wait for a real pointer
    std::thread m_thread;
    std::atomic<bool> m_running{false};
    std::atomic<bool> m_cancel{false};
    std::atomic<int> m_done{0}, m_total{0};

    std::mutex m_mutex;
    std::shared_ptr<const Result> m_result;
    double m_started = 0.0, m_seconds = 0.0;
    SolverLabSettings m_settings;
};

}  // namespace fmp
