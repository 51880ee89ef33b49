// `fmplay render`: headless export of a scene (scene.json or the default) to MP4, GIF, PNG frames or a PNG figure.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <thread>

#include "app/cli/commands.h"
#include "app/export/export_job.h"
#include "app/export/side_by_side_export.h"
#include "app/session/session_file.h"
#include "app/run/engine_choice.h"
#include "core/engine/engine.h"
#include "core/base/file_io.h"
#include "core/data/point_io.h"
#include "core/engine/gl/gl_context.h"

namespace fmp {
namespace {

std::atomic<bool> g_interrupted{false};
extern "C" void on_interrupt(int) { g_interrupted = true; }

struct RenderOptions {
    std::string config;
    std::string session;  // a .fmplay: its settings, and its network instead of training
    std::string compare;  // a scene.json patch: B, drawn beside the scene (A) in one clip
    std::string out;
    std::string save_config;
    std::string resolution;
    int width = 0, height = 0, fps = 0;
    double duration = 0;
    std::string views;
    int steps = -1;
    std::string engine;
    std::string model;
    int particles = 0;
    float sde_gamma = -1.0f;  // < 0: as the config says
    bool classes = false;     // train a class-conditional network (network.classes)
    float p_uncond = -1.0f;   // < 0: as the config says
    std::string follow;       // empty: as the config says
    float guidance = -1.0f;
    std::string mode;
    std::string title;
    std::string x264_preset;
    float time = -1;
    bool quiet = false;
    bool profile = false;
    int render_threads = -1;
    // The instruments (empty: as scene.json says).
    std::string lens, trace, error_map, likelihood;
    float lens_bandwidth = 0;
    int likelihood_steps = 0;
};

// "X,Y" -> the point, "off" -> none; anything else is an input error naming the flag.
std::optional<Eigen::Vector2f> parse_point_flag(const std::string& flag, const std::string& value) {
    if (value == "off") return std::nullopt;
    const auto comma = value.find(',');
    char* e1 = nullptr;
    char* e2 = nullptr;
    const float x = std::strtof(value.c_str(), &e1);
    const float y = comma == std::string::npos ? 0.0f : std::strtof(value.c_str() + comma + 1, &e2);
    if (comma == std::string::npos || e1 != value.c_str() + comma || e2 == value.c_str() + comma + 1 || !e2 ||
        *e2 != '\0' || !std::isfinite(x) || !std::isfinite(y))
        throw InputError(flag + " " + quote_for_message(value) + " is not a point X,Y (or off)");
    if (std::fabs(x) > k_max_coordinate || std::fabs(y) > k_max_coordinate)
        throw InputError(flag + " " + quote_for_message(value) + " is beyond the coordinate range |x|, |y| <= 1e6");
    return Eigen::Vector2f(x, y);
}

// A mode name from `names` (its index), or an input error listing them.
int parse_mode_flag(const std::string& flag, const std::string& value, const std::vector<std::string>& names) {
    auto it = std::find(names.begin(), names.end(), value);
    if (it == names.end())
        throw InputError("unknown " + flag + " " + quote_for_message(value) + "; valid: " + join_names(names));
    return static_cast<int>(it - names.begin());
}

bool is_figure_path(const std::string& out) {
    std::string ext = std::filesystem::path(out).extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

// A session's network as a model file for the export to load, removed when the render ends.
struct SessionModel {
    std::string path;
    ~SessionModel() {
        std::error_code ec;
        if (!path.empty()) std::filesystem::remove(path, ec);
    }
};

ExportSettings effective_settings(const RenderOptions& o, SessionModel* session_model = nullptr) {
    if (!o.session.empty() && !o.config.empty()) throw InputError("--session and --config: choose one");
    ExportSettings s = o.config.empty() ? ExportSettings() : load_export_settings(o.config);
    if (!o.session.empty()) {
        // The window's settings and its network as saved: drawn as they are, no training.
        const Session session = load_session(o.session);
        s = session.scene;
        s.mode = ExportMode::Sweep;
        ModelFile model = session.model;
        model.params = session.training.params;
        model.steps_trained = session.training.step;
        const std::string path = (std::filesystem::temp_directory_path() /
                                  ("fmplay-session-model-" + std::to_string(::getpid()) + ".json"))
                                     .string();
        save_model(path, model);
        if (session_model) session_model->path = path;
        s.model = path;
        s.train.steps = 0;  // the datasets are the model's too (drawn ones with their points)
    }
    if (!o.resolution.empty()) apply_resolution(o.resolution, s.video);
    if (o.width > 0) s.video.width = o.width;
    if (o.height > 0) s.video.height = o.height;
    if (o.fps > 0) s.video.fps = o.fps;
    if (o.duration > 0) {
        // A shorter clip keeps its holds in proportion rather than failing validation.
        double total_hold = s.hold_start + s.hold_end;
        if (total_hold > o.duration * 0.5) {
            double f = o.duration * 0.5 / total_hold;
            s.hold_start *= f, s.hold_end *= f;
        }
        s.duration = o.duration;
    }
    if (!o.views.empty()) apply_views(o.views, s.layers);
    if (o.steps >= 0) s.train.steps = o.steps;
    if (!o.engine.empty()) s.engine = o.engine;
    if (!o.model.empty()) s.model = o.model;
    if (o.particles > 0) s.particles = o.particles;
    if (o.sde_gamma >= 0.0f) s.sde_gamma = o.sde_gamma;
    if (o.classes) s.train.classes = true;
    if (o.p_uncond >= 0.0f) s.train.p_uncond = o.p_uncond;
    if (!o.follow.empty()) s.follow = o.follow;
    if (o.guidance >= 0.0f) s.guidance = o.guidance;
    if (!o.mode.empty()) {
        if (o.mode == "sweep") s.mode = ExportMode::Sweep;
        else if (o.mode == "timelapse") s.mode = ExportMode::Timelapse;
        else throw InputError("unknown --mode " + quote_for_message(o.mode) + "; valid: sweep, timelapse");
    }
    if (!o.title.empty()) s.title = o.title;
    if (!o.x264_preset.empty()) s.video.mp4_preset = o.x264_preset;
    if (o.time >= 0) s.figure_t = o.time;
    InstrumentSettings& in = s.instruments;
    if (!o.lens.empty()) in.lens = parse_point_flag("--lens", o.lens);
    if (o.lens_bandwidth > 0) in.lens_bandwidth = o.lens_bandwidth;
    if (!o.error_map.empty())
        in.error_map = static_cast<ErrorMapMode>(parse_mode_flag("--error-map", o.error_map, error_map_mode_names()));
    if (!o.likelihood.empty())
        in.likelihood =
            static_cast<LikelihoodMode>(parse_mode_flag("--likelihood", o.likelihood, likelihood_mode_names()));
    if (o.likelihood_steps > 0) in.likelihood_steps = o.likelihood_steps;
    if (!o.trace.empty()) in.trace = parse_point_flag("--trace", o.trace);
    // The settings and what they need of the data (the instruments), before anything is opened.
    check_export_settings(s);
    return s;
}

std::string format_seconds(double s) {
    char buf[32];
    if (s < 0) return "--";
    if (s < 60) std::snprintf(buf, sizeof buf, "%.0f s", s);
    else std::snprintf(buf, sizeof buf, "%d:%02d", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
    return buf;
}

// An output that is also an input would destroy it (a model or a config overwritten by a video).
void refuse_input_as_output(const RenderOptions& o) {
    const std::pair<const char*, const std::string*> inputs[] = {
        {"--config", &o.config}, {"--model", &o.model}, {"--session", &o.session}};
    const std::pair<const char*, const std::string*> outputs[] = {{"--out", &o.out},
                                                                  {"--save-config", &o.save_config}};
    for (const auto& [out_flag, out] : outputs) {
        if (out->empty()) continue;
        for (const auto& [in_flag, in] : inputs)
            if (!in->empty() && same_file(*in, *out))
                throw InputError(std::string(out_flag) + " " + quote_for_message(*out, 200) +
                                 " is the " + in_flag + " input; write to another file");
    }
    if (!o.out.empty() && !o.save_config.empty() && same_file(o.out, o.save_config))
        throw InputError("--out and --save-config name the same file " + quote_for_message(o.out, 200));
}

// --compare PATCH.json: B is A's scene with the patch's keys changed (RFC 7386), each trained on its
// own, both swept in one clip.
int run_side_by_side(const RenderOptions& o, const ExportSettings& a) {
    if (is_figure_path(o.out) || std::filesystem::is_directory(o.out))
        throw InputError("--compare writes a video: --out FILE.mp4 or FILE.gif");
    nlohmann::json patch;
    try {
        patch = nlohmann::json::parse(read_file(o.compare, 1 << 20));
    } catch (const nlohmann::json::exception& e) {
        throw InputError("--compare " + quote_for_message(o.compare) + ": not JSON (" + one_line_message(e.what(), 120) + ")");
    }
    if (!patch.is_object()) throw InputError("--compare " + quote_for_message(o.compare) + ": must be a JSON object");
    nlohmann::json merged = nlohmann::json::parse(export_settings_to_json(a));
    merged.merge_patch(patch);
    ExportSettings b = export_settings_from_json(merged.dump(), o.compare);
    check_export_settings(b);
    ExportSettings sa = a;
    if (sa.title.empty()) sa.title = "A";
    if (b.title.empty() || b.title == a.title) b.title = "B";
    std::string error;
    auto context = HeadlessGlContext::create(&error);
    if (!context) throw std::runtime_error("no OpenGL 4.3 context to render with: " + error);
    context->make_current();
    const auto start = std::chrono::steady_clock::now();
    SideBySideExport job(sa, b, o.out);
    while (!job.pump(200.0))
        if (!o.quiet) std::fprintf(stderr, "frame %d/%d\r", job.frames_done(), job.total_frames());
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("wrote %s: %d frames, A | B, %dx%d, in %.1f s\n", o.out.c_str(), job.total_frames(),
                2 * ((sa.video.width / 2) & ~1), sa.video.height, secs);
    return 0;
}

int run_render(const RenderOptions& o) {
    if (o.out.empty() && o.save_config.empty()) throw InputError("--out is required (or --save-config alone)");
    refuse_input_as_output(o);
    SessionModel session_model;
    ExportSettings s = effective_settings(o, &session_model);
    if (!o.save_config.empty()) {
        save_export_settings(o.save_config, s);
        if (!o.quiet) std::fprintf(stderr, "fmplay render: wrote %s\n", o.save_config.c_str());
        if (o.out.empty()) return 0;
    }
    if (!o.compare.empty()) return run_side_by_side(o, s);
    const bool figure = is_figure_path(o.out);
    std::unique_ptr<FrameSink> sink;
    if (figure) {
        auto parent = std::filesystem::path(o.out).parent_path();
        if (!parent.empty() && !std::filesystem::is_directory(parent))
            throw InputError("cannot write '" + o.out + "': directory '" + parent.string() + "' does not exist");
    } else {
        sink = FrameSink::open(o.out, s.video);  // checks the path and the size before any work
    }

    // The rendering context: the GL engine's own, or a headless one next to the CPU engine.
    EngineHandle h = make_headless_engine(s.engine);
    std::unique_ptr<HeadlessGlContext> render_context;
    const bool gl_engine = h.context != nullptr;
    if (gl_engine) {
        h.context->make_current();
    } else {
        std::string error;
        render_context = HeadlessGlContext::create(&error);
        if (!render_context) throw std::runtime_error("no OpenGL 4.3 context to render with: " + error);
        render_context->make_current();
    }
    if (!o.quiet) {
        // A model file brings its own datasets: name the file rather than the scene's defaults.
        const std::string what = s.model.empty() ? s.train.source + " -> " + s.train.target + ", training on " +
                                                       h.engine->description()
                                                 : "model " + one_line_message(s.model, 200);
        std::fprintf(stderr, "fmplay render: %s, %dx%d, %s, drawing with %s\n", what.c_str(), s.video.width,
                     s.video.height,
                     figure ? "figure" : (std::to_string(s.frame_count()) + " frames at " + std::to_string(s.video.fps) + " fps").c_str(),
                     gl_engine ? h.context->renderer().c_str() : render_context->renderer().c_str());
    }

    if (figure) {
        render_figure(s, o.out, {}, std::move(h.engine), gl_engine);
        if (!o.quiet) std::fprintf(stderr, "fmplay render: wrote %s\n", o.out.c_str());
        return 0;
    }

    g_interrupted = false;
    auto previous_int = std::signal(SIGINT, on_interrupt);
    auto previous_term = std::signal(SIGTERM, on_interrupt);
    const bool tty = isatty(STDERR_FILENO);
    auto start = std::chrono::steady_clock::now();
    auto last_print = start - std::chrono::seconds(1);
    std::unique_ptr<ExportJob> job;
    bool completed = false;
    ExportJob::Profile profile;
    try {
        job = std::make_unique<ExportJob>(s, sink.get(), std::nullopt, std::move(h.engine), gl_engine);
        job->add_render_helpers(o.render_threads >= 0 ? o.render_threads : default_render_helpers());
        while (!job->finished()) {
            if (g_interrupted) break;
            int before = job->frames_rendered();
            job->pump(50.0);
            if (job->frames_rendered() == before) std::this_thread::sleep_for(std::chrono::milliseconds(2));
            auto now = std::chrono::steady_clock::now();
            if (!o.quiet && (now - last_print > std::chrono::milliseconds(tty ? 250 : 2000) || job->finished())) {
                last_print = now;
                double secs = std::chrono::duration<double>(now - start).count();
                int done = job->frames_encoded();
                std::fprintf(stderr, "%sframe %d/%d  %.1f fps  elapsed %s  ETA %s  (%s)%s", tty ? "\r\033[K" : "",
                             done, job->total_frames(), done / std::max(1e-3, secs), format_seconds(secs).c_str(),
                             format_seconds(job->eta_seconds()).c_str(), job->phase().c_str(), tty ? "" : "\n");
                std::fflush(stderr);
            }
        }
        completed = job->finished();
        profile = job->profile();
        if (!completed) job->cancel();
        job.reset();
    } catch (...) {
        job.reset();  // cancels the sink: no file under the final name
        sink->cancel();
        std::signal(SIGINT, previous_int);
        std::signal(SIGTERM, previous_term);
        if (!o.quiet && tty) std::fprintf(stderr, "\n");
        throw;
    }
    std::signal(SIGINT, previous_int);
    std::signal(SIGTERM, previous_term);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!o.quiet && tty) std::fprintf(stderr, "\n");
    if (!completed) {
        sink->cancel();
        std::fprintf(stderr, "fmplay render: cancelled; nothing written to %s\n", o.out.c_str());
        return 130;
    }
    if (o.profile)
        std::fprintf(stderr,
                     "profile: prepare %.2f s, scene %.2f s, render %.2f s, read-back %.2f s, overlays %.2f s, "
                     "encode %.2f s (encoder thread)\n",
                     profile.prepare, profile.scene, profile.render, profile.readback, profile.overlay, profile.encode);
    if (o.profile) {
        // Where the particles were integrated: part of `prepare` above.
        const bool gpu = profile.gpu_trajectories > 0;
        std::fprintf(stderr, "particles: %s, %d trajector%s integrated in %.2f s%s%s\n",
                     gpu ? "GPU (GL engine, drawn from GL buffers)" : "CPU MLP",
                     gpu ? profile.gpu_trajectories : profile.cpu_trajectories,
                     (gpu ? profile.gpu_trajectories : profile.cpu_trajectories) == 1 ? "y" : "ies", profile.integrate,
                     profile.cpu_particles_reason.empty() ? "" : "; not on the GPU: ",
                     profile.cpu_particles_reason.c_str());
    }
    std::printf("wrote %s: %d frames, %dx%d, %s, in %.1f s\n", o.out.c_str(), sink->frame_count(), s.video.width,
                s.video.height, sink->describe().c_str(), secs);
    return 0;
}

}  // namespace

Command add_render_command(CLI::App& app) {
    auto o = std::make_shared<RenderOptions>();
    CLI::App* sub = app.add_subcommand(
        "render",
        "Export a flow as MP4 (H.264), GIF, a folder of PNG frames, or one PNG figure, with no window. "
        "Without --config: moons from a normal, trained first, a t=0->1 sweep.");
    sub->add_option("--config", o->config, "scene.json: export settings saved by the GUI or --save-config");
    sub->add_option("--session", o->session,
                    "a session saved by the window (.fmplay): its settings, data and network, drawn as saved "
                    "(no training)");
    sub->add_option("--out", o->out, "output: FILE.mp4, FILE.gif, DIR/ (PNG frames) or FILE.png (one figure)");
    sub->add_option("--compare", o->compare,
                    "side by side: B.json, a scene.json patch (e.g. {\"data\": {\"coupling\": \"ot\"}}) applied to "
                    "the scene; A and B are trained apart and swept in one video, A left, B right");
    sub->add_option("--save-config", o->save_config, "write the effective settings as JSON to this file");
    sub->add_option("--resolution", o->resolution, "720p, 1080p, square or WxH");
    sub->add_option("--width", o->width, "frame width in pixels")->check(CLI::Range(2, 8192));
    sub->add_option("--height", o->height, "frame height in pixels")->check(CLI::Range(2, 8192));
    sub->add_option("--fps", o->fps, "frames per second")->check(CLI::Range(1, 120));
    sub->add_option("--duration", o->duration, "clip length in seconds, holds included")->check(CLI::Range(0.05, 600.0));
    sub->add_option("--views", o->views, "comma list of the layers drawn: " + join_names(view_names()));
    sub->add_option("--steps", o->steps, "training steps")->check(CLI::Range(0, 10000000));
    sub->add_option("--engine", o->engine, "training engine: auto, cpu, gl");
    sub->add_option("--model", o->model, "draw this model file (fmplay train) instead of training");
    sub->add_option("--particles", o->particles, "particles drawn")->check(CLI::Range(1, 2000000));
    sub->add_option("--sde-gamma", o->sde_gamma,
                    "particles follow the SDE dX = [v + g^2/2 grad log p_t] dt + g dW with g(t) = "
                    "GAMMA sigma_t (0..5; the score read off the velocity, normal source): noisy "
                    "paths with the ODE's marginals; 0: the ODE");
    sub->add_flag("--classes", o->classes,
                  "train a class-conditional network on the target's classes (network.classes): the particles "
                  "follow each class in its colour (--views byclass)");
    sub->add_option("--p-uncond", o->p_uncond, "with --classes: the null-class dropout (network.p_uncond)")
        ->check(CLI::Range(0.0, 1.0));
    sub->add_option("--follow", o->follow,
                    "class-conditional networks: the class the particles follow: all (particle i follows class i mod "
                    "K), none (the unconditional field) or a class 0..7 (particles.follow)");
    sub->add_option("--guidance", o->guidance,
                    "class-conditional networks: classifier-free guidance scale w, v = v(x|null) + w (v(x|k) - "
                    "v(x|null)) (particles.guidance, 0..10)")
        ->check(CLI::Range(0.0, 10.0));
    sub->add_option("--mode", o->mode, "sweep (t0 -> t1 of the trained flow) or timelapse (the flow while it learns)");
    sub->add_option("--title", o->title, "a title drawn in the upper left");
    sub->add_option("--x264-preset", o->x264_preset, "MP4 speed/size trade-off: ultrafast .. veryslow");
    sub->add_option("--time", o->time, "the t of a PNG figure")->check(CLI::Range(0.0, 1.0));
    sub->add_flag("--quiet", o->quiet, "no progress line");
    sub->add_option("--render-threads", o->render_threads,
                    "extra threads drawing frames in their own GL contexts (default: the cores but one on a "
                    "software rasterizer, none on a GPU)")
        ->check(CLI::Range(0, 8));
    sub->add_flag("--profile", o->profile, "print where the time went (prepare, render, encode)");
    sub->add_option("--lens", o->lens,
                    "posterior lens at X,Y (or off): the conditional velocities toward the data points, "
                    "opacity = posterior weight, their average u_t (gold) and v_theta (white), with its "
                    "numbers, at each frame's t");
    sub->add_option("--lens-bandwidth", o->lens_bandwidth,
                    "the lens's Gaussian kernel width for a non-normal source (the pairwise posterior, an "
                    "approximation; default 0.15)")
        ->check(CLI::Range(1e-6, 10.0));
    sub->add_option("--error-map", o->error_map,
                    "heatmap of |v_theta - u_t|^2 at each frame's t: off, raw or weighted (by p_t); needs a "
                    "normal source");
    sub->add_option("--likelihood", o->likelihood,
                    "heatmap of log p_1(x): off, model (the change of variables; needs a source of known "
                    "density) or true (the target's own density, when known)");
    sub->add_option("--likelihood-steps", o->likelihood_steps, "RK4 steps of the model's likelihood (default 32)")
        ->check(CLI::Range(1, 4096));
    sub->add_option("--trace", o->trace,
                    "the inverse map: carry X,Y (or off) from t=1 back to t=0 with the learned ODE and draw "
                    "its path");
    return {sub, [o] { return run_render(*o); }};
}

}  // namespace fmp
