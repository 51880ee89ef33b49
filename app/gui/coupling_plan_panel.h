// The "Coupling plan" window: for a small batch, the plan matrix of exact OT beside the current
// coupling's, their crossing counts, and the pairs as segments on the canvas.
#pragma once
#include <string>
#include <vector>

#include "core/flow/coupling.h"

namespace fmp {

class GuiApp;
struct Scene;

class CouplingPlanPanel {
  public:
    // The button in the Coupling section that opens the window.
    void draw_toggle(GuiApp& app);
    void draw_window(GuiApp& app);
    // The pairs as segments on the canvas, when asked for.
    void add_layers(GuiApp& app, Scene& scene);

    // --script keys: plan=open|close, plan_pairs=16|32|64, plan_canvas=on|off.
    static const std::vector<std::string>& script_keys();
    static void check_script(const std::string& key, const std::string& value);  // InputError
    bool apply_script(GuiApp& app, const std::string& key, const std::string& value);

    // For tests and the status: the crossings of the current coupling's pairs.
    int64_t crossings() const { return m_crossings[1]; }

  private:
    // Recomputes the batch, the plans and the pairs when the data, coupling or size changed.
    void refresh(GuiApp& app);
    void draw_matrix(const std::vector<float>& plan, const char* title, int64_t crossings,
                     double cost, float size, float s) const;

    bool m_open = false;
    bool m_on_canvas = true;
    int m_pairs = 32;
    int m_draw = 0;     // bumps on Resample
    std::string m_key;  // what the current data was computed for
    Points m_x0, m_x1;  // sorted by x so that a near-monotone plan sits near the diagonal
    std::vector<float> m_plan[2];  // exact OT, the current coupling
    std::vector<int> m_partner[2];
    int64_t m_crossings[2] = {0, 0};
    std::vector<int> m_segment_crossings;  // per pair of the current coupling: others it crosses
    double m_cost[2] = {0, 0};
    std::string m_title;
    std::string m_error;
};

}  // namespace fmp
