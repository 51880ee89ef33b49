// Saving and opening sessions in the window, and the autosave.
#include "app/gui/session_panel.h"

#include <GLFW/glfw3.h>
#include <imgui.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "app/gui/main_window.h"
#include "app/gui/widgets.h"
#include "core/base/clock.h"
#include "core/base/file_io.h"

namespace fmp {

std::string SessionPanel::autosave_path() const {
    return m_dir.empty() ? std::string() : (std::filesystem::path(m_dir) / "autosave.fmplay").string();
}

Session SessionPanel::capture(GuiApp& app) {
    std::optional<TrainingState> state = app.m_trainer->training_state();
    const TrainingSnapshot snap = app.m_trainer->snapshot();
    if (!state || snap.mlp.parameter_count() != state->params.size())
        throw InputError("nothing to save yet: the network has no weights");
    Session s;
    s.scene = app.m_export->settings_from_window(app);
    s.training = std::move(*state);
    s.model.mlp = snap.mlp;
    s.model.path = app.m_path;
    s.model.coupling = app.m_spec.coupling;
    s.model.coupling_options = app.m_spec.coupling_options;
    s.model.source = app.m_spec.source;
    s.model.target = app.m_spec.target;
    s.model.params = s.training.params;
    s.model.steps_trained = s.training.step;
    const int64_t stride = std::max<int64_t>(1, app.m_loss_stride);
    for (std::size_t i = 0; i < app.m_loss_raw.size() && i < k_max_session_losses; ++i)
        s.losses.push_back({app.m_loss_first_step + static_cast<int64_t>(i) * stride, app.m_loss_raw[i]});
    s.running = app.m_training;
    s.t = app.m_t;
    s.playing = app.m_playing;
    s.center_x = app.m_view.center.x();
    s.center_y = app.m_view.center.y();
    s.pixels_per_unit = app.m_view.pixels_per_unit;
    s.drawn_target = app.m_draw->drawn(DrawWhich::Target);
    s.drawn_source = app.m_draw->drawn(DrawWhich::Source);
    s.target_drawn = app.m_settings.target == DrawPanel::custom_index() && s.drawn_target.points.rows() > 0;
    s.source_drawn = app.m_settings.source == DrawPanel::custom_index() && s.drawn_source.points.rows() > 0;
    const CompareOverrides& o = app.m_compare->overrides();
    auto name = [](int i, const std::vector<std::string>& names) { return i < 0 ? std::string("same") : names[i]; };
    s.compare.on = app.m_compare->on();
    s.compare.path = name(o.path, path_names());
    s.compare.coupling = name(o.coupling, coupling_names());
    s.compare.prediction = name(o.prediction, prediction_names());
    s.compare.solver = name(o.solver, solver_names());
    s.compare.steps = o.steps;
    return s;
}

void SessionPanel::apply(GuiApp& app, const Session& s) {
    // Everything the window needs is resolved first: a session it cannot take changes nothing.
    UiSettings u = app.settings_from_scene(s.scene, s.target_drawn, s.source_drawn, "the session's");
    const TrainOptions& t = s.scene.train;
    // The network the window would build for these settings must be the saved one.
    const MlpConfig& saved = s.model.mlp;
    const int k = s.model.target.class_count();
    const int window_classes = u.classes && k >= 2 ? k : 0;
    if (saved.width != u.width || saved.depth != u.depth || saved.classes != window_classes ||
        saved.activation != *activation_from_name(t.activation) || saved.time_encoding != TimeEncoding::Raw ||
        saved.prediction != static_cast<Prediction>(u.prediction) || s.model.reflow != 0)
        throw InputError("the session's network (" + std::to_string(saved.depth) + " x " + std::to_string(saved.width) +
                         ") is not one the window's settings make");

    app.m_draw->restore(DrawWhich::Target, s.drawn_target);
    app.m_draw->restore(DrawWhich::Source, s.drawn_source);
    app.m_settings = u;
    const float ui_scale = app.m_scene_options.ui_scale;
    app.m_scene_options = s.scene.layers;
    app.m_scene_options.ui_scale = ui_scale;
    app.m_instruments->apply_settings(s.scene.instruments);
    app.m_training = s.running;
    app.m_t = s.t;
    app.m_playing = s.playing;
    m_pending_generation = app.m_trainer->snapshot().generation;
    app.reset_training(std::make_shared<const TrainingState>(s.training));
    app.m_view.center = Eigen::Vector2f(s.center_x, s.center_y);
    app.m_view.pixels_per_unit = s.pixels_per_unit;
    app.m_fit_pending = false;
    m_pending_losses = s.losses;
    m_losses_pending = true;
    CompareOverrides o;
    auto index = [](const std::string& n, const std::vector<std::string>& names) { return n == "same" ? -1 : name_index(names, n); };
    o.path = index(s.compare.path, path_names());
    o.coupling = index(s.compare.coupling, coupling_names());
    o.prediction = index(s.compare.prediction, prediction_names());
    o.solver = index(s.compare.solver, solver_names());
    o.steps = s.compare.steps;
    app.m_compare->set_overrides(app, o);
    app.m_compare->set_on(app, s.compare.on);
}

void SessionPanel::load_recent() {
    if (m_recent_loaded) return;
    m_recent_loaded = true;
    m_recent.clear();
    if (m_dir.empty()) return;
    try {
        const std::string text = read_file((std::filesystem::path(m_dir) / "recent_sessions.txt").string(), 1 << 16);
        std::size_t start = 0;
        while (start < text.size() && m_recent.size() < 8) {
            const std::size_t end = std::min(text.find('\n', start), text.size());
            if (end > start) m_recent.push_back(text.substr(start, end - start));
            start = end + 1;
        }
    } catch (const std::exception&) {
        // No list yet.
    }
}

void SessionPanel::remember(const std::string& path) {
    load_recent();
    const std::string full = std::filesystem::absolute(path).lexically_normal().string();
    m_recent.erase(std::remove(m_recent.begin(), m_recent.end(), full), m_recent.end());
    m_recent.insert(m_recent.begin(), full);
    if (m_recent.size() > 8) m_recent.resize(8);
    if (m_dir.empty()) return;
    std::string text;
    for (const std::string& r : m_recent) text += r + "\n";
    try {
        write_file_atomic((std::filesystem::path(m_dir) / "recent_sessions.txt").string(), text);
    } catch (const std::exception&) {
    }
}

bool SessionPanel::save(GuiApp& app, const std::string& path) {
    try {
        save_session(path, capture(app));
        remember(path);
        m_status = "saved " + path + " at step " + std::to_string(app.m_trainer->snapshot().step);
        m_status_error = false;
    } catch (const std::exception& e) {
        m_status = one_line_message(std::string("not saved: ") + e.what(), 300);
        m_status_error = true;
    }
    app.m_message = m_status;
    app.m_message_until = now_seconds() + 6.0;
    return !m_status_error;
}

bool SessionPanel::open(GuiApp& app, const std::string& path) {
    try {
        const Session s = load_session(path);
        apply(app, s);
        remember(path);
        m_status = "opened " + path + " at step " + std::to_string(s.training.step);
        m_status_error = false;
        m_path_text = path;
        std::snprintf(m_path, sizeof m_path, "%s", path.c_str());
    } catch (const std::exception& e) {
        m_status = one_line_message(std::string("not opened (nothing changed): ") + e.what(), 300);
        m_status_error = true;
    }
    app.m_message = m_status;
    app.m_message_until = now_seconds() + 8.0;
    return !m_status_error;
}

void SessionPanel::update(GuiApp& app) {
    if (std::optional<std::string> chosen = m_dialog.poll()) {
        m_path_text = *chosen;
        std::snprintf(m_path, sizeof m_path, "%s", chosen->c_str());
        if (m_dialog_mode == FileDialog::Mode::Save)
            save(app, *chosen);
        else
            open(app, *chosen);
    }
    if (m_losses_pending && app.m_snapshot.generation != m_pending_generation) {
        // The trainer took the session: its history goes before the steps trained since.
        std::vector<float> raw;
        for (const LossRecord& r : m_pending_losses) raw.push_back(r.loss);
        raw.insert(raw.end(), app.m_loss_raw.begin(), app.m_loss_raw.end());
        app.m_loss_raw = std::move(raw);
        app.m_loss_stride = m_pending_losses.size() >= 2
                                ? std::max<int64_t>(1, m_pending_losses[1].step - m_pending_losses[0].step)
                                : 1;
        if (!m_pending_losses.empty()) app.m_loss_first_step = m_pending_losses.front().step;
        app.m_loss_ema = app.m_loss_ema_weight = 0.0;
        app.m_loss_smooth.clear();
        for (float l : app.m_loss_raw) {
            app.m_loss_ema = 0.98 * app.m_loss_ema + 0.02 * l;
            app.m_loss_ema_weight = 0.98 * app.m_loss_ema_weight + 0.02;
            app.m_loss_smooth.push_back(static_cast<float>(app.m_loss_ema / app.m_loss_ema_weight));
        }
        m_pending_losses.clear();
        m_losses_pending = false;
    }
    // The autosave: written aside and renamed, so a kill during it leaves the previous one whole.
    const double now = now_seconds();
    if (m_dir.empty() || now - m_last_autosave < m_autosave_seconds) return;
    m_last_autosave = now;
    if (!app.m_snapshot.params || app.m_snapshot.step == m_autosaved_step) return;
    try {
        save_session(autosave_path(), capture(app));
        m_autosaved_step = app.m_snapshot.step;
    } catch (const std::exception&) {
        // A read-only settings folder must not disturb the work; the next interval tries again.
    }
}

void SessionPanel::handle_keys(GuiApp& app) {
    ImGuiIO& io = ImGui::GetIO();
    if (!io.KeyCtrl || io.WantTextInput) return;
    if (ImGui::IsKeyPressed(GLFW_KEY_S, false)) save(app, m_path_text);
    if (ImGui::IsKeyPressed(GLFW_KEY_O, false)) {
        m_dialog_mode = FileDialog::Mode::Open;
        m_dialog.start(FileDialog::Mode::Open, "Open a session", m_path_text, ".fmplay");
    }
}

void SessionPanel::draw_section(GuiApp& app) {
    ImGui::InputTextWithHint("##session", "work.fmplay", m_path, sizeof m_path);
    m_path_text = m_path;
    tip("The session file: everything needed to reopen this work exactly — the datasets (drawn "
        "ones with their points), the path, coupling and every setting, the network's weights and "
        "Adam's state, the loss history, the view and t. Training goes on from it as if it had "
        "never stopped.");
    const float w = (ImGui::GetContentRegionAvail().x - ImGui::GetStyle().ItemSpacing.x) / 2.0f;
    if (ImGui::Button("Save (Ctrl+S)", ImVec2(w, 0))) save(app, m_path_text);
    tip("Writes the session to the file above (to a temporary name first, then renamed: an "
        "interrupted save never damages the file that was there).");
    ImGui::SameLine();
    if (ImGui::Button("Save as…", ImVec2(w, 0))) {
        m_dialog_mode = FileDialog::Mode::Save;
        m_dialog.start(FileDialog::Mode::Save, "Save the session as", m_path_text, ".fmplay");
    }
    tip("Chooses where to save: the desktop's file dialog (zenity) when there is one, else a "
        "folder browser in the window.");
    if (ImGui::Button("Open… (Ctrl+O)", ImVec2(w, 0))) {
        m_dialog_mode = FileDialog::Mode::Open;
        m_dialog.start(FileDialog::Mode::Open, "Open a session", m_path_text, ".fmplay");
    }
    tip("Chooses a session to reopen. A damaged or foreign file changes nothing.");
    ImGui::SameLine();
    if (ImGui::Button("Reopen", ImVec2(w, 0))) open(app, m_path_text);
    tip("Opens the file above again: back to where it was saved.");
    load_recent();
    for (std::size_t i = 0; i < m_recent.size() && i < 5; ++i) {
        const std::string name = std::filesystem::path(m_recent[i]).filename().string();
        ImGui::PushID(static_cast<int>(i));
        if (ImGui::SmallButton(name.c_str())) open(app, m_recent[i]);
        ImGui::PopID();
        tip("Open " + m_recent[i]);
        if (i + 1 < std::min<std::size_t>(m_recent.size(), 5)) ImGui::SameLine();
    }
    if (!m_status.empty()) {
        ImGui::PushTextWrapPos(0.0f);
        if (m_status_error)
            ImGui::TextColored(ImVec4(1.0f, 0.42f, 0.40f, 1.0f), "%s", m_status.c_str());
        else
            ImGui::TextDisabled("%s", m_status.c_str());
        ImGui::PopTextWrapPos();
    }
    if (!m_dir.empty() && m_autosaved_step >= 0)
        ImGui::TextDisabled("autosaved at step %lld (%s)", static_cast<long long>(m_autosaved_step),
                            autosave_path().c_str());
}

const std::vector<std::string>& SessionPanel::script_keys() {
    static const std::vector<std::string> keys = {"session_save", "session_open", "session_dialog", "autosave"};
    return keys;
}

bool SessionPanel::apply_script(GuiApp& app, const std::string& key, const std::string& value) {
    if (key == "session_save") {
        std::snprintf(m_path, sizeof m_path, "%s", value.c_str());
        m_path_text = value;
        save(app, value);
    } else if (key == "session_open") {
        open(app, value);
    } else if (key == "autosave") {
        const auto comma = value.rfind(',');
        const double every = comma == std::string::npos ? 0.0 : std::atof(value.c_str() + comma + 1);
        if (comma == std::string::npos || !(every > 0.0))
            throw InputError("--script autosave=DIR,SECONDS (a folder and an interval > 0)");
        m_dir = value.substr(0, comma);
        m_autosave_seconds = every;
        m_recent_loaded = false;
    } else if (key == "session_dialog") {
        m_dialog_mode = value == "save" ? FileDialog::Mode::Save : FileDialog::Mode::Open;
        m_dialog.start(m_dialog_mode, value == "save" ? "Save the session as" : "Open a session", m_path_text,
                       ".fmplay");
    } else {
        return false;
    }
    return true;
}

}  // namespace fmp
