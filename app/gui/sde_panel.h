// The "ODE vs SDE" window: the current model sampled by its ODE and by the SDE with the same
// marginals, as two density heatmaps side by side at the current t, with noisy paths and their
// sliced W2; and the switch that makes the main view's particles follow the SDE.
#pragma once
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/base/types.h"

namespace fmp {

class GuiApp;

class SdePanel {
  public:
    SdePanel() = default;
    ~SdePanel();
    SdePanel(const SdePanel&) = delete;
    SdePanel& operator=(const SdePanel&) = delete;

    // The time bar's controls: "SDE" (the main particles follow the SDE), gamma, and the button
    // that opens the window.
    void draw_controls(GuiApp& app);
    void draw_window(GuiApp& app);

    // --script keys: sde=on|off, sde_gamma=G (0..5), odesde=open|close|compute|wait.
    static const std::vector<std::string>& script_keys();
    static void check_script(const std::string& key, const std::string& value);  // InputError
    bool apply_script(GuiApp& app, const std::string& key, const std::string& value);

  private:
    struct Result {
        std::vector<Points> ode, sde;  // frames at t = k / frames, the same x0
        std::vector<Points> ode_other; // a second ODE draw: the sampling floor
        std::vector<double> distance;  // sliced W2(ODE, SDE) per frame
        std::vector<double> floor;     // sliced W2(ODE, other ODE draw) per frame
        float gamma = 0.0f;
        int64_t step = 0;
        std::string error;
        std::string caveat;  // the coupling is not independent: the score is not the marginal's
    };

    bool start(GuiApp& app);  // false: no weights yet
    void join();
    void draw_canvas(const Result& r, const std::vector<Points>& frames, float t, bool noisy, float size,
                     const char* title);

    bool m_open = false;
    float m_gamma_computed = -1.0f;
    uint64_t m_version_computed = 0;
    std::thread m_thread;
    std::atomic<bool> m_running{false};
    std::mutex m_mutex;
    std::shared_ptr<const Result> m_result;
};

}  // namespace fmp
