// A scene (scene.json's settings) shown in the window: a session's, or a lesson step's preset.
#include "app/gui/main_window.h"

namespace fmp {
namespace {

int index_of(const std::vector<std::string>& names, const std::string& name, const std::string& what,
             const char* field) {
    const int i = name_index(names, name);
    if (i < 0)
        throw InputError(what + " " + field + " " + quote_for_message(name) + " is not one the window offers");
    return i;
}

// The settings whose change needs fresh weights.
bool same_training(const UiSettings& a, const UiSettings& b) {
    return a.target == b.target && a.source == b.source && a.path == b.path && a.coupling == b.coupling &&
           a.ot_batch == b.ot_batch && a.ot_reg == b.ot_reg && a.sb_sigma == b.sb_sigma &&
           a.prediction == b.prediction && a.classes == b.classes && a.p_uncond == b.p_uncond &&
           a.width == b.width && a.depth == b.depth && a.activation == b.activation && a.seed == b.seed &&
           a.lr == b.lr && a.batch == b.batch;
}

}  // namespace

UiSettings GuiApp::settings_from_scene(const ExportSettings& scene, bool target_drawn, bool source_drawn,
                                       const std::string& what) const {
    UiSettings u = m_settings;
    const TrainOptions& t = scene.train;
    u.target = target_drawn ? DrawPanel::custom_index() : index_of(dataset_names(), t.target, what, "target");
    u.source = source_drawn ? DrawPanel::custom_index() : index_of(dataset_names(), t.source, what, "source");
    u.path = index_of(path_names(), t.path, what, "path");
    u.coupling = index_of(coupling_names(), t.coupling, what, "coupling");
    u.ot_batch = t.ot_batch;
    u.ot_reg = t.ot_reg;
    u.sb_sigma = t.sb_sigma;
    u.width = t.width;
    u.depth = t.depth;
    u.activation = index_of(activation_names(), t.activation, what, "activation");
    u.prediction = index_of(prediction_names(), t.prediction, what, "prediction");
    u.lr = t.lr;
    u.batch = t.batch;
    u.seed = static_cast<int>(t.seed);
    u.classes = t.classes;
    u.p_uncond = t.p_uncond;
    u.particles = scene.particles;
    u.solver = index_of(solver_names(), scene.solver, what, "solver");
    u.solver_steps = scene.solver_steps;
    u.solver_tolerance = scene.solver_tolerance;
    u.sde = scene.sde_gamma > 0.0f;
    if (u.sde) u.sde_gamma = scene.sde_gamma;
    u.follow_class = parse_follow_class(scene.follow, what + " particles.follow");
    u.guidance = scene.guidance;
    return u;
}

bool GuiApp::show_scene(const ExportSettings& scene, const std::string& what) {
    // A target of words is the drawn target made of them (the Draw panel's "Make").
    const std::string& target = scene.train.target;
    const bool text_target = target.rfind("text:", 0) == 0;
    UiSettings u = settings_from_scene(scene, text_target, false, what);  // throws before any change
    bool fresh = !same_training(u, m_settings);
    if (text_target && (m_shown_text_target != target || m_settings.target != DrawPanel::custom_index())) {
        m_draw->apply_script(*this, "draw_which", "target");
        m_draw->apply_script(*this, "import_text", target.substr(5));
        m_shown_text_target = target;
        fresh = true;
    }
    if (!text_target) m_shown_text_target.clear();
    m_settings = u;
    const float ui_scale = m_scene_options.ui_scale;
    m_scene_options = scene.layers;
    m_scene_options.ui_scale = ui_scale;
    m_instruments->apply_settings(scene.instruments);
    if (fresh)
        reset_training();
    else
        update_spec();
    return fresh;
}

}  // namespace fmp
