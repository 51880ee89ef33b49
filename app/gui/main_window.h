// The GUI application object: owns the window, the training driver, the view worker and the UI
// state; one call to frame() per displayed frame. Its members are defined across app/gui/ (the
// file is named beside each group below).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "app/gui/classes_panel.h"
#include "app/gui/cnf_race_panel.h"
#include "app/gui/compare_view.h"
#include "app/gui/coupling_plan_panel.h"
#include "app/gui/reflow_panel.h"
#include "app/gui/draw_panel.h"
#include "app/gui/export_panel.h"
#include "app/gui/flow_worker.h"
#include "app/gui/gl_window.h"
#include "app/render/gpu_particles.h"
#include "app/gui/gui_app.h"
#include "app/gui/sde_panel.h"
#include "app/gui/session_panel.h"
#include "app/gui/solver_lab_panel.h"
#include "app/gui/start_screen.h"
#include "app/gui/instruments_panel.h"
#include "app/gui/lesson_panel.h"
#include "app/gui/trainer.h"
#include "app/render/scene_builder.h"
#include "app/render/scene_renderer.h"

namespace fmp {

enum class PlayMode { Once, Loop, PingPong };

// Everything the panels edit. Indices point into the core's name lists.
struct UiSettings {
    int target = 0, source = 0, path = 0, coupling = 0, solver = 0;
    int ot_batch = 0;       // 0: the whole batch
    float ot_reg = 0.05f;   // sinkhorn's epsilon
    float sb_sigma = 0.5f;  // sb's bridge noise
    int prediction = 0;     // Prediction: velocity, data, noise
    bool sde = false;        // the particles follow the SDE (sde_sampler.h)
    float sde_gamma = 1.0f;  // its g(t) = gamma sigma_t
    bool classes = false;    // condition the network on the target's classes (when it has some)
    float p_uncond = 0.2f;   // classifier-free guidance's dropout to the null class
    int follow_class = k_all_classes;  // FlowSpec::follow_class
    float guidance = 1.0f;   // the guidance scale w
    int solver_steps = 20;
    float solver_tolerance = 1e-4f;  // dopri5 only
    int particles = 20000;
    int width = 128, depth = 3, activation = 0;
    int seed = 1;
    float lr = 2e-3f;  // moons separate in about half the steps 1e-3 needs, still stable
    int batch = 256;
};

class GuiApp {
  public:
    explicit GuiApp(const GuiOptions& options);
    ~GuiApp();
    int run(GuiRunStats* stats);

  private:
    // [main_window.cpp]
    void init_imgui();
    void frame(double dt, bool last);
    void handle_input();
    void advance_time(double dt);
    void sync_with_workers();
    void render_canvas();
    // Settings that need fresh weights; with `state`, training continues from it instead (an
    // opened session).
    void reset_training(std::shared_ptr<const TrainingState> state = nullptr);
    // Another prediction (fresh weights); refused with a message while the coupling is sb.
    void apply_prediction(int prediction);
    TrainConfig train_config() const;  // the panels' settings as a config
    TrainConfig train_config_for(const UiSettings& s) const;  // another lane's (side by side)
    void update_spec();     // settings that only re-integrate
    // The engine stopped a diverging run and rolled it back: pause and say why.
    void note_divergence(const TrainHealth& health);
    // Trains on from the restored weights, with a tenfold lower rate if lower_rate.
    void resume_after_divergence(bool lower_rate);
    void fit_view();
    // [scene_settings.cpp] The panels' settings for a scene (scene.json's): InputError (one line
    // starting with `what`) for a name the window does not offer; nothing changes.
    UiSettings settings_from_scene(const ExportSettings& scene, bool target_drawn, bool source_drawn,
                                   const std::string& what) const;
    // Shows a scene: its settings, layers and instruments; fresh weights only when its training
    // differs from the current one (returns true then). A target "text:WORDS" becomes the drawn target.
    bool show_scene(const ExportSettings& scene, const std::string& what);
    // A section header the current lesson step may hide or highlight (lesson_panel.cpp).
    bool section(const char* label, ImGuiTreeNodeFlags flags = 0) { return m_lessons->section(label, flags); }
    void take_screenshot(const std::string& path);
    // [script.cpp]
    void parse_script(const std::string& text);  // throws InputError for a malformed item
    // One KEY=VALUE item of a script (or a lesson's action): InputError when the window would refuse it.
    static void check_script_item(const std::string& key, const std::string& value);
    void apply_script(int frame);
    void apply_setting(const std::string& key, const std::string& value);
    // [panels.cpp]
    void draw_panels();
    void draw_time_bar();
    void draw_status_bar();
    void draw_axis_labels();
    // [settings_panel.cpp]
    void draw_settings_panel();
    void draw_coupling_section();
    void draw_prediction_section();
    void draw_prediction_gain();  // |b(t)| of both conversions on the current path
    void apply_coupling();  // the panels' coupling to the trainer, weights kept
    // [view_panel.cpp]
    void draw_view_panel();
    std::string seeing_line() const;
    // Whether background jobs (instruments, reflow pairs) compute on the GPU, in contexts of
    // their own: the window trains there, on a real GPU.
    bool background_gpu() const { return m_gl_engine && !m_software_gl; }
    friend class ExportPanel;  // reads the window's state for exports (export_panel.cpp)
    friend class DrawPanel;    // drawing and imports edit the datasets (draw_panel.cpp)
    friend class InstrumentsPanel;  // the lens, error map, likelihood... (instruments_panel.cpp)
    friend class SolverLabPanel;    // samples vs NFE per solver (solver_lab_panel.cpp)
    friend class CouplingPlanPanel;  // a small batch's plan and pairs (coupling_plan_panel.cpp)
    friend class ReflowPanel;       // rectified-flow generations (reflow_panel.cpp)
    friend class CnfRacePanel;      // flow matching vs a maximum-likelihood CNF (cnf_race_panel.cpp)
    friend class SdePanel;          // ODE vs SDE sampling (sde_panel.cpp)
    friend class ClassesPanel;      // classes and classifier-free guidance (classes_panel.cpp)
    friend class SessionPanel;      // saving and opening sessions (session_panel.cpp)
    friend class LessonPanel;       // lessons and presenter mode (lesson_panel.cpp)
    friend class StartScreen;       // the gallery of lessons and scenes (start_screen.cpp)
    friend class CompareView;       // side by side, A | B (compare_view.cpp)
    // The learned arrows' class and guidance: the followed class, or for the guidance arrows
    // while every class is followed, the first class the target has.
    ClassGuidance arrow_guidance() const;
    ArrowRequest current_arrow_request() const;  // the arrow grid of the view, t and class
    // True when the GPU integrates and draws the particles: the GL engine and the ODE, for an
    // unconditional network (the particles of a class-conditional one follow a class each, which
    // the view worker evaluates class by class).
    bool gpu_draws_particles() const;
    // The dataset for a combo index (the last index is the drawn set of that side).
    Dataset dataset_at(int index, DrawWhich which);

    GuiOptions m_options;
    std::unique_ptr<GlWindow> m_window;
    std::unique_ptr<SceneRenderer> m_renderer;
    std::unique_ptr<Trainer> m_trainer;
    std::unique_ptr<FlowWorker> m_worker;
    std::unique_ptr<GpuParticles> m_gpu_particles;  // with the GL engine only
    PointLayer m_gpu_layer;
    bool m_gl_engine = false;
    int m_class_net = 0;  // the classes of the network in training (0: unconditional)
    bool m_software_gl = false;  // llvmpipe & co: frames are capped to leave CPU for training
    std::string m_engine_label;

    UiSettings m_settings;
    SceneOptions m_scene_options;
    FlowSpec m_spec;
    ProbabilityPath m_path;
    View2D m_view;
    Scene m_scene;
    ConditionalPairs m_pairs;
    int m_pairs_count = 0;

    // Time.
    float m_t = 0.0f;
    bool m_playing = true;
    PlayMode m_play_mode = PlayMode::PingPong;
    float m_speed = 0.3f;  // t units per second
    int m_direction = 1;
    float m_hold = 0.0f;  // seconds left to rest at an end of the sweep

    // Training view.
    bool m_training = true;
    int m_steps_per_frame = 0;  // 0: free-running on the worker; N: exactly N steps per frame
    TrainingSnapshot m_snapshot;
    uint64_t m_sent_params_version = 0;
    std::vector<float> m_loss_raw, m_loss_smooth;
    int64_t m_loss_first_step = 0;
    int64_t m_loss_stride = 1;  // steps per history entry (doubles as long runs are halved)
    double m_loss_ema = 0.0, m_loss_ema_weight = 0.0;
    // Divergences: the engine's count seen for this generation, the total since start (for the
    // report), and while one is open (paused, not yet continued) the texts that explain it.
    int m_divergences_seen = 0;
    int m_divergence_total = 0;
    bool m_divergence_open = false;
    bool m_continue_armed = false;    // --script continue=1 before the divergence it answers
    std::string m_divergence_text;    // the Training section's explanation
    std::string m_divergence_status;  // the status bar's short form (red while it shows)

    // Layout and feel.
    bool m_panels = true;
    float m_scale = 1.0f;
    float m_left_w = 0, m_right_w = 0, m_bottom_h = 0;  // panel extents (framebuffer pixels)
    bool m_fit_pending = true;
    uint64_t m_fit_spec = 0;
    double m_fps = 0.0;
    std::string m_message;
    double m_message_until = 0.0;
    double m_now = 0.0;
    std::string m_screenshot_request;
    std::vector<std::pair<int, std::string>> m_script;
    int m_frame_index = 0;
    std::unique_ptr<ExportPanel> m_export = std::make_unique<ExportPanel>();
    std::unique_ptr<DrawPanel> m_draw = std::make_unique<DrawPanel>();
    std::unique_ptr<InstrumentsPanel> m_instruments = std::make_unique<InstrumentsPanel>();
    std::unique_ptr<SolverLabPanel> m_solver_lab = std::make_unique<SolverLabPanel>();
    std::unique_ptr<SdePanel> m_sde = std::make_unique<SdePanel>();
    std::unique_ptr<ClassesPanel> m_classes = std::make_unique<ClassesPanel>();
    std::unique_ptr<SessionPanel> m_session = std::make_unique<SessionPanel>();
    std::unique_ptr<LessonPanel> m_lessons = std::make_unique<LessonPanel>();
    std::unique_ptr<StartScreen> m_start = std::make_unique<StartScreen>();
    std::unique_ptr<CompareView> m_compare = std::make_unique<CompareView>();
    float m_split_x = 0.0f;  // side by side: the framebuffer x where B's half starts (0: no split)
    std::string m_shown_text_target;  // the "text:WORDS" target a lesson drew (show_scene)
    std::unique_ptr<CnfRacePanel> m_cnf_race = std::make_unique<CnfRacePanel>();
    std::unique_ptr<CouplingPlanPanel> m_coupling_plan = std::make_unique<CouplingPlanPanel>();
    std::unique_ptr<ReflowPanel> m_reflow = std::make_unique<ReflowPanel>();
};

}  // namespace fmp
