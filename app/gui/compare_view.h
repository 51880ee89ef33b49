// Side by side (A | B): a second lane beside the window's flow, with its own settings where it
// differs (path, coupling, prediction, solver, steps), its own trainer and view worker, the same
// data, source particles and t; the canvas splits in two and both lanes' metrics are shown.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "app/export/export_job.h"
#include "app/gui/flow_worker.h"
#include "app/gui/trainer.h"
#include "app/render/scene_builder.h"

namespace fmp {

class GuiApp;
class SceneRenderer;

// What B changes (-1 / 0: as A).
struct CompareOverrides {
    int path = -1, coupling = -1, prediction = -1, solver = -1;
    int steps = 0;
    bool any() const { return path >= 0 || coupling >= 0 || prediction >= 0 || solver >= 0 || steps > 0; }
};

// The figures under each half: how well and how cheaply the lane's flow does its job.
struct LaneMetrics {
    double loss = 0.0;          // the smoothed training loss
    double w2 = -1.0;           // sliced W2 of the particles at t = 1 to target samples (< 0: not yet)
    double straightness = -1.0; // E ∫ |(x1 - x0) - dx/dt|² dt along the particles' paths
    int64_t nfe = 0;            // network evaluations per particle for the whole path
    int64_t step = 0;
};

class CompareView {
  public:
    CompareView();
    ~CompareView();
    bool on() const { return m_on; }
    void set_on(GuiApp& app, bool on);
    const CompareOverrides& overrides() const { return m_over; }
    void set_overrides(GuiApp& app, const CompareOverrides& o);

    void update(GuiApp& app);        // each frame: B follows A's settings, trains, integrates
    void draw_section(GuiApp& app);  // "Side by side" in the left panel
    // Draws B's half: A's view shifted by `shift_px` framebuffer pixels, clipped to `clip`.
    void render(GuiApp& app, SceneRenderer& renderer, const View2D& view, const int clip[4]);
    void draw_overlay(GuiApp& app, float split_x, float top, float bottom);  // labels, metrics, divider
    LaneMetrics metrics_a(GuiApp& app);
    const LaneMetrics& metrics_b() const { return m_metrics_b; }
    std::string label_a(const GuiApp& app) const;
    std::string label_b(const GuiApp& app) const;
    // B's settings and weights, for the export of both halves.
    bool has_model() const;
    // True when B differs by its solver only: it draws A's network instead of training its own.
    bool shares_network(const GuiApp& app) const;
    int64_t b_step(const GuiApp& app) const;  // the steps B's network has trained
    void b_model(const GuiApp& app, ExportSettings& scene, ExportModel& model) const;
    std::shared_ptr<const Trajectory> trajectory_b() const;
    // Blocks until B's particles of its latest weights are integrated (the last frame of a test run).
    void wait_ready(double timeout_seconds);

    void print_report(GuiApp& app);
    static const std::vector<std::string>& script_keys();
    static void check_script(const std::string& key, const std::string& value);
    bool apply_script(GuiApp& app, const std::string& key, const std::string& value);

  private:
    struct UiSettingsB;
    std::string training_key(const GuiApp& app) const;
    void restart(GuiApp& app);
    void refresh_metrics_b();  // when B's worker has a new trajectory
    void update_metrics(const Trajectory& traj, const FlowReference& ref, LaneMetrics& m) const;

    bool m_on = false;
    CompareOverrides m_over;
    std::unique_ptr<Trainer> m_trainer;
    std::unique_ptr<FlowWorker> m_worker;
    FlowSpec m_spec;
    std::string m_key;   // what B trains (restarts when it changes)
    std::string m_spec_key;
    uint64_t m_sent_params = 0;
    double m_loss_ema = 0.0, m_loss_weight = 0.0;
    LaneMetrics m_metrics_b, m_metrics_a;
    const Trajectory* m_metrics_traj_a = nullptr;
    const Trajectory* m_metrics_traj_b = nullptr;
    std::shared_ptr<const Trajectory> m_keep_a, m_keep_b;  // the trajectories the metrics are of
    Scene m_scene;
    ConditionalPairs m_pairs;
};

}  // namespace fmp
