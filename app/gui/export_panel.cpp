// The Export section of the View panel: settings, scene.json save/load, and a running export
// pumped a few frames per UI frame with a progress bar, ETA and Cancel.
#include "app/gui/export_panel.h"

#include <glad/gl.h>
#include <imgui.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <thread>

#include "app/gui/main_window.h"
#include "app/gui/widgets.h"
#include "core/data/dataset.h"
#include "core/engine/gl/gl_engine.h"

namespace fmp {
namespace {

// Milliseconds of export rendering per UI frame: at least one frame is rendered per UI frame, so
// the window stays interactive (a 720p frame on a software rasterizer takes ~40 ms).
constexpr double k_budget_ms = 12.0;

void copy_to(char* buf, std::size_t size, const std::string& s) {
    std::snprintf(buf, size, "%s", s.c_str());
}

// The path with its extension replaced for a format (PNG frames: a folder, no extension).
std::string with_format(const std::string& path, int format) {
    std::filesystem::path p(path);
    while (!p.empty() && !p.has_filename()) p = p.parent_path();  // "frames/" -> "frames"
    p.replace_extension();
    std::string s = p.string();
    if (s.empty()) s = "fmplay-export";
    return format == 0 ? s + ".mp4" : format == 1 ? s + ".gif" : s + "/";
}

std::string format_eta(double s) {
    if (s < 0) return "--";
    char buf[32];
    if (s < 60) std::snprintf(buf, sizeof buf, "%.0f s", s);
    else std::snprintf(buf, sizeof buf, "%d:%02d", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
    return buf;
}

}  // namespace

ExportPanel::ExportPanel() = default;

ExportPanel::~ExportPanel() {
    m_job.reset();  // stops its threads and cancels the sink
    m_sink.reset();
}

ExportSettings ExportPanel::settings_from_window(const GuiApp& app) const {
    ExportSettings s = m_settings;
    const UiSettings& u = app.m_settings;
    // A drawn set goes to the export (and its saved config) as the CSV it is kept in.
    s.train.target = u.target == DrawPanel::custom_index()
                         ? app.m_draw->spec_for_export(app, DrawWhich::Target)
                         : dataset_names()[u.target];
    s.train.source = u.source == DrawPanel::custom_index()
                         ? app.m_draw->spec_for_export(app, DrawWhich::Source)
                         : dataset_names()[u.source];
    s.train.path = path_names()[u.path];
    s.train.coupling = coupling_names()[u.coupling];
    s.train.ot_batch = u.ot_batch;
    s.train.ot_reg = u.ot_reg;
    s.train.sb_sigma = u.sb_sigma;
    s.train.width = u.width;
    s.train.depth = u.depth;
    s.train.activation = activation_names()[u.activation];
    s.train.prediction = prediction_names()[static_cast<std::size_t>(u.prediction)];
    s.train.lr = u.lr;
    s.train.batch = u.batch;
    s.train.seed = static_cast<uint64_t>(u.seed);
    // A sweep draws the window's network; recording its step count makes `fmplay render
    // --config` retrain to the same point.
    if (s.mode == ExportMode::Sweep) s.train.steps = static_cast<int>(std::clamp<int64_t>(app.m_snapshot.step, 0, 10'000'000));
    s.particles = u.particles;
    s.solver = solver_names()[u.solver];
    s.solver_steps = u.solver_steps;
    s.solver_tolerance = u.solver_tolerance;
    s.sde_gamma = app.m_spec.sde_gamma;
    s.train.classes = app.m_class_net > 0;
    s.train.p_uncond = u.p_uncond;
    s.follow = follow_class_name(u.follow_class);
    s.guidance = u.guidance;
    s.title = m_title;
    if (m_window_layers) {
        s.layers = app.m_scene_options;
        s.layers.ui_scale = 0.0f;  // by the export's height, not the monitor's scale
        s.instruments = app.m_instruments->export_settings(s.instruments);
    }
    s.fit = !m_window_view;
    if (m_window_view) {
        // The middle of the canvas not covered by the panels, and its height in world units.
        const View2D& v = app.m_view;
        float left = app.m_panels ? app.m_left_w : 0.0f, right = app.m_panels ? app.m_right_w : 0.0f;
        float bottom = app.m_panels ? app.m_bottom_h : 0.0f;
        float free_h = std::max(64.0f, v.height - bottom);
        Eigen::Vector2f c = v.pixel_to_world(Eigen::Vector2f(0.5f * (left + v.width - right), 0.5f * free_h));
        s.center_x = c.x();
        s.center_y = c.y();
        s.view_height = free_h / v.pixels_per_unit;
    }
    return s;
}

ExportModel ExportPanel::model_from_window(const GuiApp& app) const {
    ExportModel m;
    if (!app.m_snapshot.params) throw InputError("nothing to export yet: the network has no weights");
    m.mlp = app.m_snapshot.mlp;
    m.params = *app.m_snapshot.params;
    m.step = app.m_snapshot.step;
    m.trajectory = app.m_worker->trajectory();
    m.reference = app.m_worker->reference();
    // The window's trajectory is reused only if it belongs to the current spec.
    if (m.trajectory && m.reference && m.trajectory->spec_id != m.reference->spec_id) m.trajectory.reset();
    return m;
}

void ExportPanel::start(GuiApp& app) {
    ExportSettings s = settings_from_window(app);
    std::string out = m_out;
    if (app.m_compare->on() && s.mode == ExportMode::Sweep) {
        // Side by side: A's half and B's, at the same moments, in one clip.
        if (!app.m_compare->has_model()) throw InputError("nothing to export yet: B has no weights");
        ExportSettings b = s;
        ExportModel mb;
        app.m_compare->b_model(app, b, mb);
        ExportModel ma = model_from_window(app);
        ma.trajectory.reset();  // each half integrates at the export's particle count
        ma.reference.reset();
        if (s.title.empty()) s.title = "A", b.title = "B";
        m_side = std::make_unique<SideBySideExport>(s, b, out, std::move(ma), std::move(mb), app.m_renderer.get());
        m_message = "Exporting A | B to " + out;
        m_message_error = false;
        return;
    }
    m_sink = FrameSink::open(out, s.video);
    std::optional<ExportModel> model;
    if (s.mode == ExportMode::Sweep) model = model_from_window(app);
    // With the GL engine a sweep's particles are integrated and drawn on the GPU, as the window
    // draws them: a second GL engine on this (the GL) thread holds the window's weights, since
    // the trainer's keeps training. A timelapse trains a fresh CPU engine on the job's thread,
    // beside the window's training.
    std::unique_ptr<Engine> engine;
    if (app.m_gl_engine && s.mode == ExportMode::Sweep) {
        try {
            engine = make_gl_engine();
        } catch (const std::exception&) {
            engine.reset();  // the CPU path draws the same particles
        }
    }
    const bool on_gl_thread = engine != nullptr;
    m_job = std::make_unique<ExportJob>(s, m_sink.get(), std::move(model), std::move(engine), on_gl_thread,
                                        app.m_renderer.get());
    m_message = "Exporting to " + out;
    m_message_error = false;
}

void ExportPanel::save_figure(GuiApp& app) {
    ExportSettings s = settings_from_window(app);
    s.mode = ExportMode::Sweep;
    s.figure_t = app.m_t;
    std::string out = m_figure;
    render_figure(s, out, model_from_window(app), nullptr, false, app.m_renderer.get());
    glBindFramebuffer(GL_FRAMEBUFFER, 0);
    m_message = "Saved figure " + out + " (" + std::to_string(s.video.width) + "x" + std::to_string(s.video.height) + ")";
    m_message_error = false;
}

void ExportPanel::wait() {
    // Until the encoder has written the file, not a number of pumps: once every frame is drawn a
    // pump returns at once while the encoder thread still works. Gives up after ten minutes.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::minutes(10);
    while (busy() && std::chrono::steady_clock::now() < give_up) {
        pump();
        if (busy()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
}

void ExportPanel::export_to(GuiApp& app, const std::string& out) {
    if (busy()) return;  // as the disabled button: one export at a time
    copy_to(m_out, sizeof m_out, out);
    try {
        start(app);
    } catch (const std::exception& e) {
        stop(one_line_message(e.what(), 400), true);
    }
}

void ExportPanel::figure_to(GuiApp& app, const std::string& out) {
    copy_to(m_figure, sizeof m_figure, out);
    try {
        save_figure(app);
    } catch (const std::exception& e) {
        m_message = one_line_message(e.what(), 400);
        m_message_error = true;
    }
}

void ExportPanel::stop(const std::string& message, bool error) {
    m_job.reset();
    m_side.reset();
    if (m_sink) m_sink->cancel();
    m_sink.reset();
    m_message = message;
    m_message_error = error;
}

void ExportPanel::pump() {
    if (m_side) {
        try {
            if (m_side->pump(k_budget_ms)) {
                m_message = "Saved " + m_side->path() + ": " + std::to_string(m_side->total_frames()) + " frames, A | B";
                m_message_error = false;
                m_side.reset();
            }
        } catch (const std::exception& e) {
            stop("Export failed: " + one_line_message(e.what(), 400), true);
        }
        return;
    }
    if (!m_job) return;
    try {
        if (m_job->pump(k_budget_ms)) {
            char buf[256];
            const bool gpu = m_job->profile().gpu_trajectories > 0;
            std::snprintf(buf, sizeof buf, "Saved %s: %d frames in %.1f s%s", m_sink->path().c_str(), m_sink->frame_count(),
                          m_job->elapsed_seconds(), gpu ? ", particles on the GPU" : "");
            m_job.reset();
            m_sink.reset();
            m_message = buf;
            m_message_error = false;
        }
    } catch (const std::exception& e) {
        stop("Export failed: " + one_line_message(e.what(), 400), true);
    }
}

void ExportPanel::draw(GuiApp& app) {
    pump();
    if (!app.section("Export")) return;
    ImGui::PushID("export");
    const bool running = busy();
    ExportSettings& s = m_settings;
    if (m_side) {
        const int done = m_side->frames_done(), total = std::max(1, m_side->total_frames());
        char overlay[96];
        std::snprintf(overlay, sizeof overlay, "A | B  %d / %d", done, total);
        ImGui::ProgressBar(static_cast<float>(done) / total, ImVec2(-1, 0), overlay);
        if (ImGui::Button("Cancel")) stop("Export cancelled; nothing was written", false);
        ImGui::Separator();
    }

    if (m_job) {
        int done = m_job->frames_encoded(), total = std::max(1, m_job->total_frames());
        char overlay[96];
        std::snprintf(overlay, sizeof overlay, "%d / %d", done, total);
        ImGui::ProgressBar(static_cast<float>(done) / total, ImVec2(-1, 0), overlay);
        ImGui::Text("%s · ETA %s", m_job->phase().c_str(), format_eta(m_job->eta_seconds()).c_str());
        if (ImGui::Button("Cancel")) stop("Export cancelled; nothing was written", false);
        ImGui::Separator();
    }
    ImGui::BeginDisabled(running);

    // Output.
    const char* formats[] = {"MP4 (H.264)", "GIF", "PNG frames"};
    if (ImGui::Combo("format", &m_format, formats, 3)) copy_to(m_out, sizeof m_out, with_format(m_out, m_format));
    ImGui::InputText("file", m_out, sizeof m_out);
    tip("Where the export goes: FILE.mp4, FILE.gif, or a folder for PNG frames. It is written under a temporary "
         "name and renamed at the end, so a cancelled export leaves nothing behind.");
    const char* resolutions[] = {"1280×720", "1920×1080", "1080×1080", "custom"};
    if (ImGui::Combo("size", &m_resolution, resolutions, 4) && m_resolution < 3)
        apply_resolution(resolution_preset_names()[m_resolution], s.video);
    if (m_resolution == 3) {
        int wh[2] = {s.video.width, s.video.height};
        if (ImGui::InputInt2("W × H", wh)) s.video.width = std::clamp(wh[0], 16, 8192), s.video.height = std::clamp(wh[1], 16, 8192);
    }
    ImGui::SliderInt("fps", &s.video.fps, 5, 60);
    float duration = static_cast<float>(s.duration);
    if (ImGui::SliderFloat("duration", &duration, 1.0f, 30.0f, "%.1f s")) s.duration = duration;
    int easing = static_cast<int>(s.easing);
    const char* easings[] = {"linear", "ease-in-out", "ease-out"};
    if (ImGui::Combo("easing", &easing, easings, 3)) s.easing = static_cast<Easing>(easing);
    tip("How t moves through the sweep: ease-in-out starts and ends slowly, so the source and the data get a moment.");
    float tr[2] = {s.t0, s.t1};
    if (ImGui::SliderFloat2("t range", tr, 0.0f, 1.0f, "%.2f")) s.t0 = tr[0], s.t1 = tr[1];
    float holds[2] = {static_cast<float>(s.hold_start), static_cast<float>(s.hold_end)};
    if (ImGui::SliderFloat2("holds", holds, 0.0f, 3.0f, "%.1f s")) s.hold_start = holds[0], s.hold_end = holds[1];
    tip("Seconds resting at the start and at the end of the sweep (part of the duration).");
    ImGui::Checkbox("ping-pong", &s.ping_pong);
    tip("Sweep t0 → t1 and back, so the clip loops seamlessly.");

    // Content.
    int mode = static_cast<int>(s.mode);
    ImGui::RadioButton("sweep", &mode, 0);
    tip("The current network, t swept from t0 to t1.");
    ImGui::SameLine();
    ImGui::RadioButton("training timelapse", &mode, 1);
    tip("A fresh network trained with the current settings; the picture follows it as it learns.");
    s.mode = static_cast<ExportMode>(mode);
    if (s.mode == ExportMode::Timelapse) {
        ImGui::InputInt("training steps", &s.train.steps, 500, 5000);
        s.train.steps = std::clamp(s.train.steps, 1, 10'000'000);
        ImGui::SliderInt("snapshots", &s.snapshots, 2, 200);
        int show = static_cast<int>(s.timelapse_show);
        ImGui::RadioButton("samples at t1", &show, 0);
        ImGui::SameLine();
        ImGui::RadioButton("sweep each", &show, 1);
        s.timelapse_show = static_cast<TimelapseShow>(show);
    }
    ImGui::Checkbox("layers as in the window", &m_window_layers);
    if (!m_window_layers) {
        SceneOptions& o = s.layers;
        ImGui::Checkbox("particles", &o.particles);
        ImGui::SameLine();
        ImGui::Checkbox("arrows", &o.arrows);
        ImGui::SameLine();
        ImGui::Checkbox("paths", &o.paths);
        ImGui::Checkbox("trails", &o.trails);
        ImGui::SameLine();
        ImGui::Checkbox("heatmap", &o.heatmap);
        ImGui::SameLine();
        ImGui::Checkbox("targets", &o.targets);
        ImGui::Checkbox("sources", &o.sources);
        ImGui::SameLine();
        ImGui::Checkbox("grid", &o.grid);
    }
    ImGui::Checkbox("view as in the window", &m_window_view);
    tip("Off: the frame fits the data (source and target). On: the window's centre and zoom, by height.");
    ImGui::Checkbox("show t", &s.show_t);
    ImGui::SameLine();
    ImGui::Checkbox("path name", &s.show_path);
    ImGui::InputText("title", m_title, sizeof m_title);

    if (ImGui::Button("Export", ImVec2(-1, 0))) {
        try {
            start(app);
        } catch (const std::exception& e) {
            stop(one_line_message(e.what(), 400), true);
        }
    }
    ImGui::InputText("figure", m_figure, sizeof m_figure);
    if (ImGui::Button("Save figure (PNG)")) {
        try {
            save_figure(app);
        } catch (const std::exception& e) {
            m_message = one_line_message(e.what(), 400);
            m_message_error = true;
        }
    }
    tip("The current moment (the window's t) at the export size, with the overlays.");
    ImGui::Separator();
    ImGui::InputText("settings", m_config, sizeof m_config);
    tip("scene.json: what `fmplay render --config scene.json --out flow.mp4` renders without a window.");
    if (ImGui::Button("Save export settings…")) {
        try {
            save_export_settings(m_config, settings_from_window(app));
            m_message = std::string("Saved ") + m_config;
            m_message_error = false;
        } catch (const std::exception& e) {
            m_message = one_line_message(e.what(), 400);
            m_message_error = true;
        }
    }
    ImGui::SameLine();
    if (ImGui::Button("Load…")) {
        try {
            ExportSettings loaded = load_export_settings(m_config);
            m_settings = loaded;
            copy_to(m_title, sizeof m_title, loaded.title);
            m_window_layers = false;
            m_window_view = false;
            m_resolution = 3;
            for (int i = 0; i < 3; ++i) {
                VideoSettings v;
                apply_resolution(resolution_preset_names()[i], v);
                if (v.width == loaded.video.width && v.height == loaded.video.height) m_resolution = i;
            }
            m_message = std::string("Loaded ") + m_config + " (data and network stay as in the window)";
            m_message_error = false;
        } catch (const std::exception& e) {
            m_message = one_line_message(e.what(), 400);
            m_message_error = true;
        }
    }
    ImGui::EndDisabled();
    if (!m_message.empty()) {
        ImGui::PushTextWrapPos(0.0f);
        ImGui::TextColored(m_message_error ? ImVec4(1.0f, 0.45f, 0.45f, 1.0f) : ImVec4(0.55f, 0.85f, 0.75f, 1.0f), "%s",
                           m_message.c_str());
        ImGui::PopTextWrapPos();
    }
    ImGui::PopID();
}

}  // namespace fmp
