// The window: set-up, settings -> engine and view worker, and the frame loop (input, time,
// training sync, canvas, screenshots).
#include "app/gui/gui_app.h"

#include <malloc.h>
#include <unistd.h>

#include <backends/imgui_impl_glfw.h>
#include <backends/imgui_impl_opengl3.h>
#include <glad/gl.h>
// GLFW after glad, and without its own GL header: glad declares the GL functions.
#define GLFW_INCLUDE_NONE
#include <GLFW/glfw3.h>
#include <imgui.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <thread>

#include "app/gui/main_window.h"
#include "app/gui/theme.h"
#include "app/gui/widgets.h"
#include "app/gui/window_layout.h"
#include "app/render/png_writer.h"
#include "app/run/training_run.h"
#include "core/base/clock.h"
#include "core/base/parallel.h"
#include "core/engine/gl/gl_context.h"
#include "core/engine/gl/gl_engine.h"

namespace fmp {
namespace {

// With the GL engine, the CPU view worker integrates this many of the particles (for trails,
// paths and the heatmap); the GPU draws all of them.
constexpr int k_cpu_view_particles = 20000;

// Frame times as a histogram (0.05 ms bins up to 2 s): the statistics of an hour-long run in a
// fixed 320 KB, so a soak's memory reading is not its own bookkeeping growing.
class FrameTimes {
public:
    void add(double ms) {
        std::size_t bin = static_cast<std::size_t>(std::clamp(ms / k_bin_ms, 0.0, k_bins - 1.0));
        m_bins[bin]++;
        m_count++;
    }
    std::size_t count() const { return m_count; }
    double quantile(double q) const {
        if (m_count == 0) return 0.0;
        std::size_t want = std::min(m_count - 1, static_cast<std::size_t>(q * m_count)), seen = 0;
        for (std::size_t i = 0; i < m_bins.size(); ++i) {
            seen += m_bins[i];
            if (seen > want) return (i + 0.5) * k_bin_ms;
        }
        return k_bins * k_bin_ms;
    }

private:
    static constexpr double k_bin_ms = 0.05;
    static constexpr double k_bins = 40000;
    std::vector<uint64_t> m_bins = std::vector<uint64_t>(static_cast<std::size_t>(k_bins), 0);
    std::size_t m_count = 0;
};

// Bytes the program holds in the heap (glibc's mallinfo2: in-use chunks plus mmapped blocks). Set
// beside the resident size, it tells a leak (both grow) from memory the allocator keeps for reuse.
double heap_in_use_megabytes() {
    struct mallinfo2 mi = ::mallinfo2();
    return static_cast<double>(mi.uordblks + mi.hblkhd) / (1024.0 * 1024.0);
}

// Resident memory of this process (Linux /proc/self/statm), for the soak report.
double resident_megabytes() {
    long pages_total = 0, pages_resident = 0;
    if (FILE* f = std::fopen("/proc/self/statm", "r")) {
        if (std::fscanf(f, "%ld %ld", &pages_total, &pages_resident) != 2) pages_resident = 0;
        std::fclose(f);
    }
    return static_cast<double>(pages_resident) * static_cast<double>(::sysconf(_SC_PAGESIZE)) /
           (1024.0 * 1024.0);
}

// Ctrl+C in the terminal closes the window cleanly, so the layout is saved as on a normal close.
std::atomic<bool> g_quit{false};
extern "C" void on_quit_signal(int) {
    g_quit.store(true);
}

}  // namespace

int run_gui(const GuiOptions& options) {
    return run_gui(options, nullptr);
}

int run_gui(const GuiOptions& options, GuiRunStats* stats) {
    GuiApp app(options);
    return app.run(stats);
}

// ---------------------------------------------------------------------------------------------
// [SECTION] Set-up

GuiApp::GuiApp(const GuiOptions& options) : m_options(options) {
    // Validate every name before a window opens: bad input is a one-line error, exit code 2.
    m_settings.target = name_index(dataset_names(), options.target);
    m_settings.source = name_index(dataset_names(), options.source);
    if (m_settings.target < 0)
        (void)make_dataset(options.target);  // throws InputError with the choices
    if (m_settings.source < 0) (void)make_dataset(options.source);
    if (m_settings.target < 0 || m_settings.source < 0)
        throw InputError("the GUI takes dataset names (" + join_names(dataset_names()) + ")");
    m_settings.path = static_cast<int>(make_path(options.path).kind());
    m_settings.path = name_index(path_names(), path_name(make_path(options.path).kind()));
    m_settings.coupling =
        name_index(coupling_names(), coupling_name(make_coupling(options.coupling)));
    if (m_settings.coupling < 0)
        throw InputError("--coupling paired is set by reflow, not chosen; valid: " +
                         join_names(coupling_names()));
    m_settings.prediction = static_cast<int>(make_prediction(options.prediction));
    if (m_settings.prediction != 0 &&
        make_coupling(options.coupling) == CouplingKind::SchrodingerBridge)
        throw InputError("--prediction " + options.prediction +
                         " cannot train with --coupling sb (its bridge noise breaks the conversion "
                         "to the velocity)");
    m_settings.solver = name_index(solver_names(), solver_name(make_solver(options.solver)));
    if (options.solver_steps < 1 || options.solver_steps > 1000)
        throw InputError("--steps must be in 1..1000");
    if (options.engine != "auto" && options.engine != "cpu" && options.engine != "gl")
        throw InputError("unknown engine '" + options.engine + "'; valid engines: auto, cpu, gl");
    m_settings.solver_steps = options.solver_steps;
    validate_tolerance(options.solver_tolerance);
    m_settings.solver_tolerance = options.solver_tolerance;
    m_settings.seed = static_cast<int>(options.seed & 0x7fffffff);
    if (!options.views.empty()) apply_views(options.views, m_scene_options, &m_panels);
    if (!options.script.empty()) parse_script(options.script);
    // A session that cannot be read is refused before a window opens (it is read again, and put
    // into the window, once the window exists).
    if (!options.session.empty()) (void)load_session(options.session);
    if (!options.lesson.empty())
        (void)find_lesson(options.lesson, options.lessons.empty() ? default_user_lesson_dir() : options.lessons);
    m_training = !options.no_train;
    if (options.time >= 0.0f) {
        m_t = options.time;
        m_playing = false;
    }

    GlWindowOptions wo;
    wo.width = options.width > 0 ? options.width : 1600;
    wo.height = options.height > 0 ? options.height : 960;
    wo.title = "fmplay — flow matching playground";
    wo.vsync = options.frames == 0;
    m_window = std::make_unique<GlWindow>(wo);
    m_scale = m_window->content_scale();
    m_scene_options.ui_scale = m_scale;
    m_renderer = std::make_unique<SceneRenderer>();

    m_software_gl = gl_renderer_is_software(m_window->renderer());
    std::string choice = options.engine;
    if (choice == "auto") choice = m_software_gl ? "cpu" : "gl";
    std::unique_ptr<Engine> engine;
    if (choice == "gl") {
        try {
            engine = make_gl_engine();
            m_gl_engine = true;
        } catch (const std::exception& e) {
            if (options.engine == "gl") throw;
            m_message = std::string("GPU engine unavailable (") + e.what() + "), using the CPU";
            m_message_until = now_seconds() + 8.0;
        }
    }
    if (!engine) engine = make_cpu_engine();
    // On a real GPU the instruments' grids go there too, through a context of their worker's own.
    m_instruments->use_gpu(background_gpu());
    m_settings.particles =
        options.particles > 0 ? options.particles : (m_gl_engine ? 100000 : 20000);
    // The GL engine's context lives on this thread, so it trains here in per-frame slices.
    m_trainer = std::make_unique<Trainer>(std::move(engine), !m_gl_engine);
    m_engine_label = m_trainer->description();
    m_worker = std::make_unique<FlowWorker>();
    if (m_gl_engine) m_gpu_particles = std::make_unique<GpuParticles>();

    init_imgui();
    // Drawn sets live next to imgui.ini; test runs (--frames) leave the user's files alone.
    bool first_start = false;
    if (options.frames == 0) {
        std::string ini = layout_ini_path();
        if (ini != "imgui.ini") {
            m_draw->set_settings_dir(std::filesystem::path(ini).parent_path().string());
            m_session->set_settings_dir(std::filesystem::path(ini).parent_path().string());
            m_lessons->set_settings_dir(std::filesystem::path(ini).parent_path().string());
            m_start->set_settings_dir(std::filesystem::path(ini).parent_path().string());
            first_start = !std::filesystem::exists(ini);
        }
    }
    bool drawn_target = false, drawn_source = false;
    m_draw->load_saved(*this, drawn_target, drawn_source);
    // The saved selection comes back unless the command line chose another dataset.
    if (drawn_target && options.target == GuiOptions{}.target)
        m_settings.target = DrawPanel::custom_index();
    if (drawn_source && options.source == GuiOptions{}.source)
        m_settings.source = DrawPanel::custom_index();
    reset_training();
    // --session: checked before the window opened (run_gui), so it opens here.
    if (!options.session.empty() && !m_session->open(*this, options.session))
        throw InputError("--session " + options.session + ": " + m_message);
    if (!options.lessons.empty()) m_lessons->set_user_dir(options.lessons);
    if (!options.lesson.empty()) m_lessons->open(*this, options.lesson);
    // The first start shows the gallery (unless the command line asked for something).
    if (first_start && options.session.empty() && options.lesson.empty() && options.script.empty()) m_start->open(*this);
}

GuiApp::~GuiApp() {
    m_draw->save(*this, false);
    // The work so far, where a next start can find it (the autosave, written aside and renamed).
    if (!m_session->autosave_path().empty() && m_snapshot.params) {
        try {
            save_session(m_session->autosave_path(), m_session->capture(*this));
        } catch (const std::exception&) {
        }
    }
    m_export.reset();  // an unfinished export: its GL objects go while the context is alive
    // Workers first (they hold no GL objects), then ImGui and GL objects before the context goes.
    m_worker.reset();
    m_trainer.reset();
    ImGui_ImplOpenGL3_Shutdown();
    ImGui_ImplGlfw_Shutdown();
    ImGui::DestroyContext();
    forget_window_size_setting();
    m_renderer.reset();
    m_window.reset();
}

void GuiApp::init_imgui() {
    IMGUI_CHECKVERSION();
    ImGui::CreateContext();
    ImGuiIO& io = ImGui::GetIO();
    static std::string ini;
    if (m_options.frames > 0) {
        io.IniFilename =
            nullptr;  // test and benchmark runs neither read nor change the user's layout
    } else {
        ini = layout_ini_path();
        io.IniFilename = ini.c_str();
    }
    install_window_size_setting(m_window.get(),
                                m_options.width == 0 && m_options.height == 0 && m_options.frames == 0);

    ImGui_ImplGlfw_InitForOpenGL(m_window->handle(), true);
    ImGui_ImplOpenGL3_Init("#version 430 core");
    apply_gui_theme(m_scale);
}

// ---------------------------------------------------------------------------------------------
// [SECTION] Settings -> engine and worker

TrainConfig GuiApp::train_config() const { return train_config_for(m_settings); }

TrainConfig GuiApp::train_config_for(const UiSettings& s) const {
    TrainConfig config;
    config.path = ProbabilityPath(*path_kind_from_name(path_names()[s.path]));
    config.coupling = *coupling_kind_from_name(coupling_names()[s.coupling]);
    config.coupling_options.ot_batch = s.ot_batch;
    config.coupling_options.ot_reg = s.ot_reg;
    config.coupling_options.sb_sigma = s.sb_sigma;
    config.mlp.width = s.width;
    config.mlp.depth = s.depth;
    config.mlp.activation = *activation_from_name(activation_names()[s.activation]);
    config.mlp.prediction = static_cast<Prediction>(s.prediction);
    config.mlp.path = config.path;
    config.optimizer.lr = s.lr;
    config.batch = s.batch;
    config.seed = static_cast<uint64_t>(s.seed);
    const int k = m_spec.target.class_count();
    config.mlp.classes = s.classes && k >= 2 ? k : 0;
    config.p_uncond = s.p_uncond;
    return config;
}

void GuiApp::reset_training(std::shared_ptr<const TrainingState> state) {
    const UiSettings& s = m_settings;
    TrainConfig config = train_config();
    m_path = config.path;
    config.validate();
    Dataset source = dataset_at(s.source, DrawWhich::Source);
    Dataset target = dataset_at(s.target, DrawWhich::Target);
    // The network's class input follows the target being trained on (none if it has no classes).
    config.mlp.classes = s.classes && target.class_count() >= 2 ? target.class_count() : 0;
    m_class_net = config.mlp.classes;
    bool data_changed = m_spec.source.name() != source.name() ||
                        m_spec.target.name() != target.name() ||
                        m_spec.path.kind() != m_path.kind();
    m_trainer->reset(config, source, target, nullptr, std::move(state));
    m_trainer->set_running(m_training && m_steps_per_frame == 0);
    m_reflow->on_reset();  // fresh weights on the data: reflow generations start over
    // Fresh weights: nothing to roll back or explain any more.
    m_divergence_open = false;
    if (!m_divergence_status.empty() && m_message == m_divergence_status) m_message_until = 0.0;
    m_loss_raw.clear();
    m_loss_smooth.clear();
    m_loss_first_step = 0;
    m_loss_stride = 1;
    m_sent_params_version = 0;
    m_spec.source = source;
    m_spec.target = target;
    m_spec.path = m_path;
    m_spec.coupling = config.coupling;
    m_spec.coupling_options = config.coupling_options;
    if (data_changed) m_fit_pending = true;
    update_spec();
}

ArrowRequest GuiApp::current_arrow_request() const {
    ArrowRequest request = arrow_request_for(m_view, m_scene_options, m_t);
    request.guidance = arrow_guidance();
    return request;
}

ClassGuidance GuiApp::arrow_guidance() const {
    return arrow_guidance_for(m_spec, m_class_net, m_scene_options);
}

bool GuiApp::gpu_draws_particles() const {
    // With the GL engine the GPU integrates every kind of particle: the ODE, the SDE
    // (Engine::integrate_particles_sde) and a class-conditional network's classes
    // (Engine::set_particle_classes).
    return m_gpu_particles != nullptr;
}

Dataset GuiApp::dataset_at(int index, DrawWhich which) {
    if (index == DrawPanel::custom_index()) {
        // An empty drawing keeps what was there, so choosing it never stops training.
        return m_draw->dataset(which, which == DrawWhich::Target ? m_spec.target : m_spec.source);
    }
    return make_dataset(dataset_names()[index]);
}

void GuiApp::update_spec() {
    m_spec.solver = *solver_kind_from_name(solver_names()[m_settings.solver]);
    m_spec.steps = m_settings.solver_steps;
    m_spec.tolerance = m_settings.solver_tolerance;
    m_spec.particles = m_settings.particles;
    m_spec.seed = static_cast<uint64_t>(m_settings.seed);
    // The SDE's score needs the normal source; elsewhere the switch has no effect.
    m_spec.sde_gamma = m_settings.sde && m_spec.source.kind() == DatasetKind::Normal ? m_settings.sde_gamma : 0.0f;
    m_spec.follow_class = m_settings.follow_class;
    m_spec.guidance = m_settings.guidance;
    if (gpu_draws_particles()) {
        // The GPU draws every particle; the CPU worker integrates a subset for the trails, the
        // paths and the heatmap (its first particles are the GPU's first ones).
        m_gpu_particles->set_spec(m_spec);
        FlowSpec subset = m_spec;
        subset.particles = std::min(m_spec.particles, k_cpu_view_particles);
        m_worker->set_spec(subset);
    } else {
        m_worker->set_spec(m_spec);
    }
}

// ---------------------------------------------------------------------------------------------
// [SECTION] Frame loop

int GuiApp::run(GuiRunStats* stats) {
    FrameTimes all, interval;
    double previous = now_seconds();
    const double started = previous;
    double last_report = previous;
    const bool scripted = m_options.frames > 0;
    int frames = 0, interval_frames = 0;
    g_quit.store(false);
    auto previous_int = std::signal(SIGINT, on_quit_signal);
    auto previous_term = std::signal(SIGTERM, on_quit_signal);
    while (!m_window->should_close() && !g_quit.load()) {
        double start = now_seconds();
        // Test runs advance t by a fixed 1/60 s per frame so the picture does not depend on speed.
        double dt = scripted ? 1.0 / 60.0 : std::min(0.1, start - previous);
        previous = start;
        const bool out_of_time = m_options.seconds > 0 && start - started >= m_options.seconds;
        bool last = (scripted && frames + 1 >= m_options.frames) || out_of_time;
        frame(dt, last);
        double work = now_seconds() - start;
        // The first frames compile shaders and warm caches; leave them out of the statistics.
        if (frames >= 5) all.add(work * 1e3);
        interval.add(work * 1e3);
        ++frames, ++interval_frames;
        if (m_options.report_every > 0 && now_seconds() - last_report >= m_options.report_every) {
            last_report = now_seconds();
            std::printf(
                "soak: t=%.0f s frames=%d median=%.2f ms p95=%.2f ms rss=%.1f MB heap=%.1f MB "
                "steps=%lld\n",
                last_report - started, interval_frames, interval.quantile(0.5),
                interval.quantile(0.95), resident_megabytes(), heap_in_use_megabytes(),
                static_cast<long long>(m_trainer->snapshot().step));
            std::fflush(stdout);
            interval = FrameTimes();
            interval_frames = 0;
        }
        // A software rasterizer shares the CPU with training: past 40 fps, the time is better
        // spent training. The report counts the work per frame, not this rest.
        if (m_software_gl && work < 1.0 / 40.0 && !last)
            std::this_thread::sleep_for(std::chrono::duration<double>(1.0 / 40.0 - work));
        if (last) break;
    }
    std::signal(SIGINT, previous_int);
    std::signal(SIGTERM, previous_term);
    if (all.count() == 0) all = interval;
    const double median = all.quantile(0.5), p95 = all.quantile(0.95);
    TrainingSnapshot snap = m_trainer->snapshot();
    const std::size_t drawn_target = m_draw->count(DrawWhich::Target);
    const std::size_t drawn_source = m_draw->count(DrawWhich::Source);
    if (m_options.report) {
        std::printf("frames: %d\nmedian frame: %.2f ms (%.1f fps)\np95 frame: %.2f ms\n", frames,
                    median, median > 0 ? 1e3 / median : 0.0, p95);
        std::printf("engine: %s\nparticles: %d\ntraining steps: %lld\ntrajectory refresh: %.2f s\n",
                    m_engine_label.c_str(), m_settings.particles, static_cast<long long>(snap.step),
                    m_worker->last_trajectory_seconds());
        if (m_gpu_particles)
            std::printf("gpu particles: %d (trajectory build %.2f s)\nparticles drawn by: %s\n",
                        m_gpu_particles->count(), m_gpu_particles->last_build_seconds(),
                        gpu_draws_particles() ? "the GPU" : "the CPU view worker");
        std::printf("drawn target points: %zu\ndrawn source points: %zu\ndataset swaps: %d\n"
                    "training resets: %llu\n",
                    drawn_target, drawn_source, m_draw->swaps(),
                    static_cast<unsigned long long>(snap.generation));
        std::printf("divergences: %d\ntraining paused: %s\nlearning rate: %g\n",
                    m_divergence_total, m_training ? "no" : "yes", m_settings.lr);
        std::printf("reflow generation: %d\n", m_reflow->generation());
        std::printf("prediction: %s\ncoupling: %s\nsde gamma: %g\n",
                    prediction_name(snap.mlp.prediction).c_str(), coupling_name(m_spec.coupling).c_str(),
                    static_cast<double>(m_spec.sde_gamma));
        if (snap.mlp.classes > 0) {
            const ClassSpread& sp = m_classes->spread();
            std::printf("classes: %d\nfollow: %d\nguidance: %g\n", snap.mlp.classes, m_spec.follow_class,
                        static_cast<double>(m_spec.guidance));
            std::printf("class spread: outside %.4f, data outside %.4f, elsewhere %.4f, own %.4f, data own "
                        "%.4f (%d particles)\n",
                        static_cast<double>(sp.outside), static_cast<double>(sp.data_outside),
                        static_cast<double>(sp.elsewhere), static_cast<double>(sp.own),
                        static_cast<double>(sp.data_own), sp.particles);
            const std::vector<ClassSpread> sweep = m_classes->sweep();
            for (std::size_t i = 0; i < sweep.size(); ++i)
                std::printf("guidance sweep: w %g outside %.4f elsewhere %.4f own %.4f shift %.4f spread %.4f\n",
                            static_cast<double>(guidance_sweep_scales()[i]), static_cast<double>(sweep[i].outside),
                            static_cast<double>(sweep[i].elsewhere), static_cast<double>(sweep[i].own),
                            static_cast<double>(sweep[i].shift), static_cast<double>(sweep[i].spread));
        }
        if (snap.params) {
            // A fingerprint of the weights, to compare runs (a saved and reopened session).
            double sum = 0.0;
            for (std::size_t i = 0; i < snap.params->size(); ++i)
                sum += static_cast<double>((*snap.params)[i]) * static_cast<double>(i % 7 + 1);
            std::printf("weights checksum: %.9g\n", sum);
        }
        if (!m_message.empty()) std::printf("message: %s\n", m_message.c_str());
        if (!m_export->message().empty()) std::printf("export: %s\n", m_export->message().c_str());
        m_lessons->print_report();
        m_start->print_report();
        m_compare->print_report(*this);
        if (m_reflow->live_measured())
            std::printf("live straightness: %.6g\n", m_reflow->live_straightness());
        std::fflush(stdout);
    }
    if (stats) {
        stats->frames = frames;
        stats->median_frame_ms = median;
        stats->p95_frame_ms = p95;
        stats->training_steps = snap.step;
        stats->engine = m_engine_label;
        stats->particles = m_settings.particles;
        stats->drawn_target_points = drawn_target;
        stats->drawn_source_points = drawn_source;
        stats->dataset_swaps = m_draw->swaps();
        stats->training_resets = static_cast<int>(snap.generation);
        stats->divergences = m_divergence_total;
        stats->training_paused = !m_training;
        stats->learning_rate = m_settings.lr;
    }
    std::string err = m_trainer->error();
    if (!err.empty()) {
        std::fprintf(stderr, "fmplay: training stopped: %s\n", err.c_str());
        return 1;
    }
    return 0;
}

void GuiApp::frame(double dt, bool last) {
    m_now = now_seconds();
    m_window->poll_events();
    ImGui_ImplOpenGL3_NewFrame();
    ImGui_ImplGlfw_NewFrame();
    ImGui::NewFrame();
    apply_script(m_frame_index);
    handle_input();
    advance_time(dt);
    sync_with_workers();
    m_session->update(*this);
    m_lessons->update(*this);
    m_start->update(*this);
    m_compare->update(*this);
    m_draw->update(*this);
    if (m_frame_index == 0) {
        // The backend creates the font texture in its first NewFrame. The font is rasterised at
        // its display size, so nearest sampling looks the same as linear and is several times
        // cheaper for a software rasterizer, which samples it for every UI pixel.
        auto texture = static_cast<GLuint>(reinterpret_cast<intptr_t>(ImGui::GetIO().Fonts->TexID));
        glBindTexture(GL_TEXTURE_2D, texture);
        glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
        glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
        glBindTexture(GL_TEXTURE_2D, 0);
    }
    if (last) {
        // A screenshot must show the flow, not the first frames before any trajectory exists.
        // With training stopped, the particles of the final weights.
        m_worker->wait_for_trajectory(m_training ? 1 : std::max<uint64_t>(1, m_sent_params_version), 60.0);
        sync_with_workers();
        if (m_gpu_particles)
            for (int i = 0; i < 2000 && !m_gpu_particles->ready(); ++i)
                m_gpu_particles->update(m_trainer->engine(), m_trainer->snapshot().params_version, 50.0);
        if (m_scene_options.arrows) {
            for (int i = 0; i < 400; ++i) {
                auto a = m_worker->arrows();
                // With training stopped, the arrows of the final weights too.
                if (a && a->request == current_arrow_request() &&
                    (m_training || a->params_version >= m_sent_params_version))
                    break;
                std::this_thread::sleep_for(std::chrono::milliseconds(25));
            }
        }
        m_instruments->settle(*this, 60.0);
        m_compare->wait_ready(60.0);
    }
    if (m_panels) draw_panels();
    m_lessons->draw_window(*this);
    m_start->draw(*this);
    render_canvas();
    m_instruments->draw_canvas_overlay(*this);
    if (m_compare->on())
        m_compare->draw_overlay(*this, m_split_x, 0.0f,
                                (m_view.height - (m_panels ? m_bottom_h : 0.0f)) / ImGui::GetIO().DisplayFramebufferScale.y);
    draw_axis_labels();
    m_draw->draw_overlay(*this);
    ImGui::Render();
    ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
    if (last && !m_options.screenshot.empty()) m_screenshot_request = m_options.screenshot;
    if (!m_screenshot_request.empty()) {
        take_screenshot(m_screenshot_request);
        m_screenshot_request.clear();
    }
    m_window->swap_buffers();
    // Real frame time, also in scripted runs where t advances by a fixed step.
    double real = std::max(1e-4, now_seconds() - m_now);
    m_fps = m_fps == 0.0 ? 1.0 / real : 0.95 * m_fps + 0.05 / real;
    ++m_frame_index;
}

void GuiApp::handle_input() {
    ImGuiIO& io = ImGui::GetIO();
    m_session->handle_keys(*this);
    const bool lesson_arrows = m_lessons->handle_keys(*this);
    if (!io.WantTextInput && !io.WantCaptureKeyboard) {
        if (ImGui::IsKeyPressed(GLFW_KEY_SPACE, false)) m_playing = !m_playing;
        if (ImGui::IsKeyPressed(GLFW_KEY_T, false)) {
            if (!m_training && m_divergence_open) {
                resume_after_divergence(false);
            } else {
                m_training = !m_training;
                m_trainer->set_running(m_training && m_steps_per_frame == 0);
            }
        }
        if (ImGui::IsKeyPressed(GLFW_KEY_R, false)) reset_training();
        if (!lesson_arrows && ImGui::IsKeyPressed(GLFW_KEY_LEFT))
            m_t = std::max(0.0f, m_t - 0.01f), m_playing = false;
        if (!lesson_arrows && ImGui::IsKeyPressed(GLFW_KEY_RIGHT))
            m_t = std::min(1.0f, m_t + 0.01f), m_playing = false;
        if (ImGui::IsKeyPressed(GLFW_KEY_F, false)) fit_view();
        if (ImGui::IsKeyPressed(GLFW_KEY_H, false)) m_panels = !m_panels;
        if (!io.KeyCtrl && ImGui::IsKeyPressed(GLFW_KEY_S, false)) {
            char name[64];
            std::time_t now = std::time(nullptr);
            std::strftime(name, sizeof(name), "fmplay-%Y%m%d-%H%M%S.png", std::localtime(&now));
            m_screenshot_request = name;
        }
    }
    // In draw mode the left and right buttons paint; the middle one still pans.
    const bool drawing = m_draw->handle_input(*this);
    // The lens takes the left button in lens mode (and Shift+click traces a point).
    const bool probing = !drawing && m_instruments->handle_input(*this);
    // Pan with any mouse button, zoom around the cursor with the wheel.
    if (!io.WantCaptureMouse) {
        float fx = io.DisplayFramebufferScale.x, fy = io.DisplayFramebufferScale.y;
        for (int b = drawing ? 2 : (probing ? 1 : 0); b < 3; ++b)
            if (ImGui::IsMouseDragging(b, 0.0f)) {
                m_view.center.x() -= io.MouseDelta.x * fx / m_view.pixels_per_unit;
                m_view.center.y() += io.MouseDelta.y * fy / m_view.pixels_per_unit;
                break;
            }
        if (io.MouseWheel != 0.0f)
            m_view.zoom_at(Eigen::Vector2f(io.MousePos.x * fx, io.MousePos.y * fy),
                           std::pow(1.15f, io.MouseWheel));
    }
}

void GuiApp::advance_time(double dt) {
    if (!m_playing) return;
    if (m_hold > 0.0f) {
        m_hold -= static_cast<float>(dt);
        return;
    }
    m_t += m_direction * m_speed * static_cast<float>(dt);
    // Rest briefly at each end so the class can look at the source and the result.
    const float rest = 0.6f;
    if (m_t >= 1.0f) {
        m_t = 1.0f;
        if (m_play_mode == PlayMode::PingPong)
            m_direction = -1, m_hold = rest;
        else if (m_play_mode == PlayMode::Loop)
            m_t = 0.0f, m_hold = rest;
        else
            m_playing = false;
    } else if (m_t <= 0.0f) {
        m_t = 0.0f;
        m_direction = 1;
        if (m_play_mode == PlayMode::PingPong) m_hold = rest;
    }
}

void GuiApp::sync_with_workers() {
    if (m_training && m_steps_per_frame > 0) m_trainer->step_once(m_steps_per_frame);
    if (m_gl_engine) m_trainer->pump(8.0);
    if (gpu_draws_particles()) {
        try {
            m_gpu_particles->update(m_trainer->engine(), m_trainer->snapshot().params_version, 4.0);
        } catch (const std::exception& e) {
            m_message = std::string("GPU particles: ") + e.what();
            m_message_until = m_now + 8.0;
        }
    }
    TrainingSnapshot snap = m_trainer->snapshot();
    if (snap.generation != m_snapshot.generation) {
        m_loss_raw.clear();
        m_loss_smooth.clear();
        m_loss_stride = 1;
        m_divergences_seen = 0;
    }
    m_snapshot = snap;
    m_classes->sync(*this);
    if (snap.health.divergences > m_divergences_seen) {
        m_divergence_total += snap.health.divergences - m_divergences_seen;
        m_divergences_seen = snap.health.divergences;
        if (snap.health.diverged) note_divergence(snap.health);
    }
    if (snap.params && snap.params_version != m_sent_params_version) {
        m_worker->set_params(snap.params, snap.mlp, snap.params_version);
        m_sent_params_version = snap.params_version;
    }
    for (const LossRecord& r : m_trainer->take_losses()) {
        if (!std::isfinite(r.loss)) continue;
        if (m_loss_raw.empty())
            m_loss_first_step = r.step, m_loss_ema = 0.0, m_loss_ema_weight = 0.0;
        m_loss_raw.push_back(r.loss);
        // A bias-corrected moving average (as Adam's moments): no lag toward the first value.
        m_loss_ema = 0.98 * m_loss_ema + 0.02 * r.loss;
        m_loss_ema_weight = 0.98 * m_loss_ema_weight + 0.02;
        m_loss_smooth.push_back(static_cast<float>(m_loss_ema / m_loss_ema_weight));
    }
    // Long runs: halve the resolution of the history instead of dropping its beginning.
    if (m_loss_raw.size() > 40000) {
        for (std::size_t i = 0; i < m_loss_raw.size() / 2; ++i) {
            m_loss_raw[i] = 0.5f * (m_loss_raw[2 * i] + m_loss_raw[2 * i + 1]);
            m_loss_smooth[i] = m_loss_smooth[2 * i + 1];
        }
        m_loss_raw.resize(m_loss_raw.size() / 2);
        m_loss_smooth.resize(m_loss_smooth.size() / 2);
        m_loss_stride *= 2;
    }
    m_instruments->sync(*this);
}

void GuiApp::note_divergence(const TrainHealth& h) {
    m_divergence_open = true;
    m_training = false;
    m_trainer->set_running(false);
    const TrainConfig config = train_config();
    const DivergenceDiagnosis d = diagnose_divergence(config, m_spec.source, m_spec.target);
    char buf[160];
    std::string why;
    if (d.suspect == DivergenceSuspect::DataScale) {
        bool target = d.target_extent >= d.source_extent;
        std::snprintf(buf, sizeof buf, "the %s points reach |x| = %.3g; rescale them to a few units",
                      target ? "target" : "source", target ? d.target_extent : d.source_extent);
        why = buf;
    } else {
        std::snprintf(buf, sizeof buf, "the learning rate %g is too high for this %d × %d network",
                      config.optimizer.lr, config.mlp.depth, config.mlp.width);
        why = buf;
    }
    const char* what = h.cause == DivergenceCause::LossNotFinite
                           ? "the loss became NaN or infinite"
                           : "an update made the weights (or Adam's moments) NaN or infinite";
    m_divergence_text = "Training diverged at step " + with_commas(h.step) + ": " + what +
                        ". Paused and rolled back to step " + with_commas(h.restored_step) +
                        " (the last good weights and optimizer state). Likely cause: " + why + ".";
    m_divergence_status = "Training diverged at step " + with_commas(h.step) + " (" +
                          divergence_cause_name(h.cause) + "): paused, rolled back to step " +
                          with_commas(h.restored_step) + "; lower the learning rate";
    m_message = m_divergence_status;
    m_message_until = m_now + 1e9;  // until training goes on
    if (m_continue_armed) {
        m_continue_armed = false;
        resume_after_divergence(true);
    }
}

void GuiApp::resume_after_divergence(bool lower_rate) {
    if (lower_rate) {
        m_settings.lr = m_settings.lr / 10.0f;
        m_trainer->set_learning_rate(m_settings.lr);
    }
    m_trainer->acknowledge_divergence();
    m_divergence_open = false;
    m_training = true;
    m_trainer->set_running(m_steps_per_frame == 0);
    char buf[96];
    std::snprintf(buf, sizeof buf, "Training goes on from step %s with learning rate %g",
                  with_commas(m_snapshot.health.restored_step).c_str(), m_settings.lr);
    m_message = buf;
    m_message_until = m_now + 6.0;
}

void GuiApp::fit_view() {
    auto ref = m_worker->reference();
    if (!ref) return;
    Eigen::AlignedBox2f box = data_box(*ref, true);
    float left = m_panels ? m_left_w : 0.0f, right = m_panels ? m_right_w : m_lessons->presenter_width_px();
    // A lesson's window floating over the canvas's left side: the data fits beside it.
    if (m_lessons->window_right_px() > left && m_view.width - m_lessons->window_right_px() - right > 0.3f * (m_view.width - left - right))
        left = m_lessons->window_right_px();
    // Side by side: A fits its half, B shows the same window of the plane in the other.
    if (m_compare->on()) right = m_view.width - (left + 0.5f * (m_view.width - left - right));
    float bottom = m_panels ? m_bottom_h : 0.0f;
    float rect_w = std::max(64.0f, m_view.width - left - right),
          rect_h = std::max(64.0f, m_view.height - bottom);
    float margin = 0.07f;
    Eigen::Vector2f size = box.sizes().cwiseMax(1e-3f);
    m_view.pixels_per_unit =
        std::min(rect_w * (1 - 2 * margin) / size.x(), rect_h * (1 - 2 * margin) / size.y());
    // Put the box's centre at the centre of the free rectangle, not of the whole window.
    float cx = left + 0.5f * rect_w, cy = 0.5f * rect_h;
    m_view.center =
        box.center() - Eigen::Vector2f(cx - 0.5f * m_view.width, -(cy - 0.5f * m_view.height)) /
                           m_view.pixels_per_unit;
}

void GuiApp::render_canvas() {
    int w = 0, h = 0;
    m_window->framebuffer_size(w, h);
    m_view.width = std::max(1, w);
    m_view.height = std::max(1, h);
    auto ref = m_worker->reference();
    // Fit to the latest data only: several changes in one frame (a lesson step) queue several specs.
    if (ref && m_fit_pending && ref->spec_id > m_fit_spec && ref->spec_id == m_worker->spec_id()) {
        fit_view();
        m_fit_pending = false;
        m_fit_spec = ref->spec_id;
    }
    auto traj = m_worker->trajectory();
    if (m_scene_options.arrows) {
        m_worker->request_arrows(current_arrow_request());
    } else {
        ArrowRequest none;
        none.nx = none.ny = 1;
        none.learned = false;
        m_worker->request_arrows(none);
    }
    auto arrows = m_worker->arrows();
    if (traj && m_scene_options.paths &&
        (m_pairs.spec_id != traj->spec_id || m_pairs_count != m_scene_options.path_count)) {
        m_pairs = make_conditional_pairs(*traj, m_spec, m_scene_options.path_count);
        m_pairs_count = m_scene_options.path_count;
    }
    SceneInputs in;
    in.trajectory = traj.get();
    in.arrows = arrows.get();
    in.reference = ref.get();
    in.pairs = &m_pairs;
    in.path = &m_path;
    if (gpu_draws_particles() &&
        m_gpu_particles->fill_layer(m_t, m_scene_options.color, m_scene_options.point_alpha, ref.get(),
                                    m_gpu_layer))
        in.gpu_particles = &m_gpu_layer;
    in.t = m_t;
    build_scene(in, m_scene_options, m_view, m_scene);
    m_instruments->add_layers(*this, m_scene);
    m_coupling_plan->add_layers(*this, m_scene);
    // The side panels are opaque: only the strip between them needs drawing.
    if (m_panels) {
        int left = static_cast<int>(m_left_w), right = static_cast<int>(m_right_w);
        m_scene.clip[0] = left;
        m_scene.clip[1] = 0;
        m_scene.clip[2] = std::max(1, m_view.width - left - right);
        m_scene.clip[3] = m_view.height;
    } else {
        m_scene.clip[2] = m_scene.clip[3] = 0;
    }
    m_split_x = 0.0f;
    if (m_compare->on()) {
        // A in the left half, B in the right: B's view is A's moved half a canvas to the right,
        // so pan and zoom move both.
        const int left = m_panels ? static_cast<int>(m_left_w) : 0;
        const int right = m_panels ? static_cast<int>(m_right_w) : 0;
        const int half = std::max(1, (m_view.width - left - right) / 2);
        m_split_x = static_cast<float>(left + half);
        m_scene.clip[0] = left;
        m_scene.clip[1] = 0;
        m_scene.clip[2] = half;
        m_scene.clip[3] = m_view.height;
    }
    m_draw->add_layer(m_scene, m_scale);
    glBindFramebuffer(GL_FRAMEBUFFER, 0);
    m_renderer->render(m_scene, m_view);
    m_draw->take_layer(m_scene);
    if (m_compare->on()) {
        View2D b = m_view;
        const int right = m_panels ? static_cast<int>(m_right_w) : 0;
        const int half = m_scene.clip[2];
        b.center.x() -= static_cast<float>(half) / b.pixels_per_unit;
        const int clip[4] = {m_scene.clip[0] + half, 0, std::max(1, m_view.width - right - m_scene.clip[0] - half),
                             m_view.height};
        m_compare->render(*this, *m_renderer, b, clip);
    }
}

void GuiApp::take_screenshot(const std::string& path) {
    int w = 0, h = 0;
    m_window->framebuffer_size(w, h);
    glBindFramebuffer(GL_READ_FRAMEBUFFER, 0);
    glReadBuffer(GL_BACK);
    std::vector<uint8_t> pixels = read_framebuffer_rgba(w, h);
    for (std::size_t i = 3; i < pixels.size(); i += 4) pixels[i] = 255;  // the window is opaque
    try {
        write_png_atomic(path, w, h, pixels);
        m_message = "Saved screenshot " + path;
    } catch (const std::exception& e) {
        m_message = e.what();
        if (m_options.frames > 0) throw;
    }
    m_message_until = now_seconds() + 6.0;
}

}  // namespace fmp
