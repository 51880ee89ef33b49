// The export job: preparation thread (training, particles) -> offscreen render and overlays
// on the GL thread -> encoder thread (FrameSink). Frames are drawn by build_scene + SceneRenderer,
// the window's own code, so an export looks exactly like the app. With the GL engine on the GL
// thread the particles are integrated and drawn on the GPU (GpuParticles), as in the window.
#include "app/export/export_job.h"

#include <glad/gl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "app/export/frame_overlay.h"
#include "app/render/gpu_particles.h"
#include "app/render/instrument_layers.h"
#include "app/render/palette.h"
#include "app/render/scene_builder.h"
#include "app/run/train_options.h"
#include "app/run/training_run.h"
#include "core/engine/engine.h"
#include "core/engine/gl/gl_context.h"
#include "core/engine/gl/gl_engine.h"
#include "core/instruments/error_map.h"
#include "core/instruments/likelihood.h"
#include "core/instruments/posterior_lens.h"
#include "core/nn/model_file.h"

namespace fmp {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// Frames waiting for the encoder: two keep it busy while the next one renders; more only cost memory.
constexpr std::size_t k_queue_frames = 3;
// Training steps between checks for cancellation and progress updates.
constexpr int k_train_chunk = 50;
// Timelapse snapshots computed ahead of the one being drawn (each holds a whole trajectory).
constexpr int k_snapshots_ahead = 2;

// The steps a traced path takes from t = 1 back to t = 0 (RK4), as in the window.
constexpr int k_trace_steps = 64;

struct Snapshot {
    // CPU points: every particle (the CPU path), or on the GPU path only those the CPU layers
    // read (paths, trails, heatmap; null when none is drawn).
    std::shared_ptr<const Trajectory> trajectory;
    // The GPU path: the GpuParticles build holding this snapshot's particles (0: the CPU path).
    uint64_t gpu_build = 0;
    std::shared_ptr<const Mlp> mlp;
    int64_t step = 0;
    // The instruments that do not depend on t, computed once per snapshot (null: not drawn).
    std::shared_ptr<const LikelihoodGrid> likelihood;
    std::shared_ptr<const Points> traced;  // the trace point from t = 1 back to t = 0
};

// The grid the heatmaps are computed on: the frame's visible box, about 128 cells across (160
// from 1080p up: more cells than that only blur the same field under the bilinear filter).
PlaneGrid instrument_grid(const View2D& view) {
    PlaneGrid grid;
    grid.box = view.visible_box();
    grid.nx = view.height >= 1080 ? 160 : 128;
    const float aspect = grid.box.sizes().y() / std::max(grid.box.sizes().x(), 1e-6f);
    grid.ny = std::clamp(static_cast<int>(std::lround(grid.nx * aspect)), 8, 512);
    return grid;
}

// The datasets an export draws: a model file's, or the settings' own.
std::pair<Dataset, Dataset> export_datasets(const ExportSettings& s) {
    if (!s.model.empty()) {
        ModelFile mf = load_model(s.model);
        return {mf.source, mf.target};
    }
    TrainSetup setup = resolve_train_options(s.train);
    return {setup.source, setup.target};
}

// Why the GL engine cannot integrate this export's particles on the GPU ("" when it can). The
// GPU path must draw the particles the CPU path draws, so what GpuParticles does not reproduce
// goes to the CPU MLP instead of giving another picture. The SDE runs on the GPU: its noise is
// counter-based there (Engine::integrate_particles_sde), so the particles are another draw of the
// same SDE, as two seeds of the CPU path are, with the same steps and marginals. A
// class-conditional network's particles follow their classes there too
// (Engine::set_particle_classes), so what is left is memory.
std::string gpu_particles_blocker(const FlowSpec& spec) {
    const int steps = std::max(1, spec.steps);
    if (gpu_trajectory_slices(spec.particles, steps, steps) < steps)
        return "every solver step of " + std::to_string(spec.particles) +
               " particles does not fit the GPU trajectory's memory, and mixing positions over several steps "
               "would move them off the CPU path's";
    return "";
}

}  // namespace

void check_export_settings(const ExportSettings& s) {
    s.validate();
    // Resolving the training data checks classes against the target too (--classes needs one).
    const bool classes = s.train.classes && s.model.empty();
    if (!s.instruments.any() && !classes) return;
    auto [source, target] = export_datasets(s);
    if (s.instruments.any()) check_instruments(s.instruments, source, target);
}

int default_render_helpers() {
    // Hardware GPUs draw a frame in well under a millisecond: one thread is plenty there.
    if (!gl_renderer_is_software(gl_renderer_string())) return 0;
    int cores = static_cast<int>(std::thread::hardware_concurrency());
    return std::clamp(cores - 1, 0, 3);
}

View2D export_view(const ExportSettings& s, const FlowReference& reference) {
    View2D v;
    v.width = s.video.width;
    v.height = s.video.height;
    if (s.fit) {
        v.fit(data_box(reference, true), 0.07f);
    } else {
        v.center = Eigen::Vector2f(s.center_x, s.center_y);
        v.pixels_per_unit = s.video.height / s.view_height;
    }
    return v;
}

// ---------------------------------------------------------------------------------------------
// [SECTION] ExportJob

namespace {

// What one GL context needs to draw frames: its renderer, target, scene and glyph cache.
struct FrameRenderer {
    SceneRenderer* renderer = nullptr;
    std::unique_ptr<SceneRenderer> own_renderer;
    std::unique_ptr<OffscreenTarget> target;
    Scene scene;
    TextPainter text;
    // The error map's CPU engine, holding `engine_mlp`'s weights, and the last map it computed.
    std::unique_ptr<Engine> engine;
    std::shared_ptr<const Mlp> engine_mlp;
    std::shared_ptr<const ErrorMap> error_map;
    float error_t = -1.0f;
};

}  // namespace

struct ExportJob::Impl {
    ExportSettings s;
    SceneOptions options;
    FrameSink* sink = nullptr;
    int total = 0;
    std::optional<ExportModel> model;
    std::unique_ptr<Engine> engine;
    bool inline_engine = false;
    bool training = false;           // the engine trains the snapshots
    // The GPU path (the GL engine on this thread): its particles, and whether the engine holds
    // the network's weights yet when it did not train them.
    bool gpu_route = false;
    std::unique_ptr<GpuParticles> gpu;
    PointLayer gpu_layer;
    bool gpu_engine_loaded = false;
    FrameRenderer main;

    TrainSetup setup;
    FlowSpec spec;
    std::shared_ptr<const FlowReference> reference;
    std::optional<Mlp> loaded;     // a model file's network
    int64_t loaded_step = 0;
    ConditionalPairs pairs;
    bool pairs_made = false;
    View2D view;
    int snapshot_count = 1;
    std::vector<int64_t> snapshot_steps;
    std::string overlay_line;
    PlaneGrid grid;                    // the instruments' heatmap grid
    Points references;                 // the exact field's points (the error map)
    std::unique_ptr<Engine> likelihood_engine;  // the snapshot thread's, for the likelihood

    // Everything below is shared between threads, under `mutex`.
    mutable std::mutex mutex;
    std::condition_variable changed;
    std::map<int, Snapshot> ready;
    int next_snapshot = 0;        // the next one the preparation computes
    int needed_snapshot = 0;      // the earliest one a frame still to be encoded needs
    bool stop = false;
    std::exception_ptr error;
    std::atomic<int64_t> trained{0};
    std::atomic<bool> integrating{false};
    bool engine_ready = false;
    int next_claim = 0;           // the next frame a renderer takes
    int rendered = 0;
    int encoded = 0;
    std::map<int, std::vector<uint8_t>> done;  // rendered frames waiting for the encoder, by index
    bool sink_finished = false;
    int helpers = 0;              // render helper threads (their own contexts)

    std::thread prep_thread, encode_thread;
    std::vector<std::thread> helper_threads;
    Clock::time_point start = Clock::now();
    double first_frame_at = -1;   // seconds from start when the first frame was encoded
    Profile profile;
    bool cancelled = false;

    Snapshot compute_snapshot(int i);
    // The snapshot's particles on the GPU, and the few the CPU layers read back from them.
    void build_gpu_particles(Snapshot& snap);
    void prep_loop();
    void encode_loop(std::atomic<int>& encoded_out);
    void helper_loop(std::unique_ptr<SiblingGlContext> context);
    void rethrow() {
        std::lock_guard<std::mutex> lock(mutex);
        if (error) std::rethrow_exception(error);
    }
    // Frames rendered but not yet encoded, at most: enough to keep every thread busy.
    int window() const { return static_cast<int>(k_queue_frames) + helpers; }
    bool can_claim_locked() const { return next_claim < total && next_claim < encoded + window(); }
    // Takes the next frame under the lock: -1 if none may be taken now.
    int claim_locked() {
        if (!can_claim_locked()) return -1;
        int k = next_claim++;
        int needed = frame_time(s, std::min(encoded, total - 1), total).snapshot;
        if (needed != needed_snapshot) {
            needed_snapshot = needed;
            // Snapshots behind every frame still to be encoded are not needed again.
            for (auto it = ready.begin(); it != ready.end();) it = it->first < needed ? ready.erase(it) : std::next(it);
            changed.notify_all();
        }
        return k;
    }
    Snapshot wait_snapshot(int i);
    void render_frame(FrameRenderer& fr, float t, const Snapshot& snap, std::vector<uint8_t>& out);
    // A CPU engine for the export's data and network, holding `mlp`'s weights.
    std::unique_ptr<Engine> make_instrument_engine(const Mlp& mlp) const;
    void compute_instruments(Snapshot& snap);
    void add_instruments(FrameRenderer& fr, float t, const Snapshot& snap, InstrumentOverlay& overlay);
    void deliver(int k, std::vector<uint8_t>&& frame) {
        std::lock_guard<std::mutex> lock(mutex);
        done[k] = std::move(frame);
        ++rendered;
        changed.notify_all();
    }
    void fail(std::exception_ptr e) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!error) error = e;
        changed.notify_all();
    }
    void stop_threads();
};

Snapshot ExportJob::Impl::compute_snapshot(int i) {
    auto t0 = Clock::now();
    Snapshot snap;
    if (model && s.mode == ExportMode::Sweep) {
        auto mlp = std::make_shared<Mlp>(model->mlp, 1);
        mlp->set_params(model->params);
        snap.mlp = mlp;
        snap.step = model->step;
        // The window's trajectory only when it holds the export's particles (with the GL engine
        // the window's CPU trajectory is a subset).
        if (model->trajectory && model->trajectory->x0.rows() == std::max(1, spec.particles))
            snap.trajectory = model->trajectory;
    } else if (loaded) {
        snap.mlp = std::make_shared<Mlp>(*loaded);
        snap.step = loaded_step;
    } else {
        if (!engine_ready) {
            engine->reset(setup.config, setup.source, setup.target);
            engine_ready = true;
        }
        const int64_t goal = snapshot_steps[i];
        while (engine->step_count() < goal) {
            {
                std::lock_guard<std::mutex> lock(mutex);
                if (stop) return snap;
            }
            engine->train(static_cast<int>(std::min<int64_t>(k_train_chunk, goal - engine->step_count())));
            (void)engine->take_losses();
            // A diverged engine trains no further: stop with its one-line diagnosis.
            throw_if_diverged(*engine, setup);
            trained = engine->step_count();
        }
        throw_if_diverged(*engine, setup, /*wait=*/true);
        auto mlp = std::make_shared<Mlp>(setup.config.mlp, 1);
        mlp->set_params(engine->params());
        snap.mlp = mlp;
        snap.step = engine->step_count();
    }
    if (gpu_route) {
        build_gpu_particles(snap);
    } else if (!snap.trajectory) {
        integrating = true;
        const auto ti = Clock::now();
        snap.trajectory = integrate_trajectory(spec, *snap.mlp, *reference);
        integrating = false;
        const double dt = seconds_since(ti);
        std::lock_guard<std::mutex> lock(mutex);
        profile.integrate += dt;
        ++profile.cpu_trajectories;
    }
    compute_instruments(snap);
    std::lock_guard<std::mutex> lock(mutex);
    profile.prepare += seconds_since(t0);
    return snap;
}

void ExportJob::Impl::build_gpu_particles(Snapshot& snap) {
    if (!training && !gpu_engine_loaded) {
        // A network the engine did not train (a model file's, the window's): its weights on a
        // reset engine. The coupling never runs here; Independent needs no pair sets.
        TrainConfig config = setup.config;
        config.mlp = snap.mlp->config();
        config.path = spec.path;
        config.coupling = CouplingKind::Independent;
        engine->reset(config, spec.source, spec.target);
        engine->set_params(snap.mlp->params());
        gpu_engine_loaded = true;
    }
    integrating = true;
    const auto ti = Clock::now();
    if (!gpu) {
        gpu = std::make_unique<GpuParticles>();
        // Every solver step kept (gpu_particles_blocker checked it fits): frames mix as the CPU's.
        gpu->set_spec(spec, std::max(1, spec.steps));
    }
    if (!gpu->build(*engine)) throw std::logic_error("ExportJob: the GPU particles need the GL engine");
    if (!gpu->last_error().empty()) throw InputError(gpu->last_error());
    snap.gpu_build = gpu->builds();
    // Only the rows the CPU layers read: the paths' first particles, every one for the trails
    // and the heatmap.
    int rows = 0;
    if (options.paths) rows = options.path_count;
    if (options.trails || options.heatmap) rows = gpu->count();
    if (rows > 0) snap.trajectory = gpu->read_trajectory(rows, *reference);
    integrating = false;
    const double dt = seconds_since(ti);
    std::lock_guard<std::mutex> lock(mutex);
    profile.integrate += dt;
    ++profile.gpu_trajectories;
}

std::unique_ptr<Engine> ExportJob::Impl::make_instrument_engine(const Mlp& mlp) const {
    TrainConfig config;
    config.path = spec.path;
    config.mlp = mlp.config();
    config.seed = spec.seed;
    std::unique_ptr<Engine> e = make_cpu_engine();
    e->reset(config, spec.source, spec.target);
    e->set_params(mlp.params());
    return e;
}

void ExportJob::Impl::compute_instruments(Snapshot& snap) {
    const InstrumentSettings& in = s.instruments;
    if (in.likelihood == LikelihoodMode::Model) {
        if (!likelihood_engine) likelihood_engine = make_instrument_engine(*snap.mlp);
        else likelihood_engine->set_params(snap.mlp->params());
        LikelihoodSettings settings;
        settings.steps = in.likelihood_steps;
        snap.likelihood = std::make_shared<const LikelihoodGrid>(
            likelihood_grid(*likelihood_engine, spec.path, spec.source, spec.target, grid, settings));
    } else if (in.likelihood == LikelihoodMode::True) {
        // The target's own density needs no model: the same for every snapshot.
        auto truth = std::make_shared<LikelihoodGrid>();
        truth->grid = grid;
        spec.target.log_density(grid.centres(), truth->true_log_p);
        snap.likelihood = truth;
    }
    if (in.trace) {
        // The inverse map: the point at t = 1 carried back to the source by the learned ODE.
        Points x(1, 2);
        x.row(0) = in.trace->transpose();
        std::vector<Points> back;
        const Mlp& mlp = *snap.mlp;
        integrate_particles([&mlp](const Points& p, float t, Points& v) { mlp.evaluate(p, t, v); },
                            SolverKind::RK4, x, 1.0f, 0.0f, k_trace_steps, &back);
        auto path = std::make_shared<Points>(static_cast<Eigen::Index>(back.size()), 2);
        for (std::size_t k = 0; k < back.size(); ++k) path->row(static_cast<Eigen::Index>(k)) = back[k].row(0);
        snap.traced = path;
    }
}

void ExportJob::Impl::add_instruments(FrameRenderer& fr, float t, const Snapshot& snap, InstrumentOverlay& overlay) {
    const InstrumentSettings& in = s.instruments;
    // Heatmaps go under everything else (the particles stay visible on them), as in the window.
    std::vector<SceneLayer> under;
    if (in.error_map != ErrorMapMode::Off) {
        if (!fr.error_map || fr.engine_mlp != snap.mlp || fr.error_t != t) {
            if (!fr.engine) fr.engine = make_instrument_engine(*snap.mlp);
            else if (fr.engine_mlp != snap.mlp) fr.engine->set_params(snap.mlp->params());
            fr.engine_mlp = snap.mlp;
            fr.error_map = std::make_shared<const ErrorMap>(
                compute_error_map(*fr.engine, spec.path, references, ErrorMapRequest{grid, t}));
            fr.error_t = t;
        }
        ColorScale scale;
        under.emplace_back(error_map_layer(*fr.error_map, in.error_map == ErrorMapMode::Weighted, &scale));
        overlay.scales.push_back(scale);
    }
    if (snap.likelihood) {
        ColorScale scale;
        under.emplace_back(log_density_layer(*snap.likelihood, in.likelihood == LikelihoodMode::True, 10.0f, &scale));
        overlay.scales.push_back(scale);
    }
    fr.scene.layers.insert(fr.scene.layers.begin(), std::make_move_iterator(under.begin()),
                           std::make_move_iterator(under.end()));
    if (snap.traced) add_traced_path(*snap.traced, palette::traced, view, options.ui_scale, fr.scene);
    if (in.lens) {
        LensSettings settings;
        settings.bandwidth = in.lens_bandwidth;
        // Exact for a normal source; otherwise the pairwise posterior over the source samples.
        const bool exact = spec.source.kind() == DatasetKind::Normal;
        PosteriorLens lens =
            posterior_lens(spec.path, reference->target, exact ? nullptr : &reference->source, *in.lens, t, settings);
        Points x(1, 2), v;
        x.row(0) = in.lens->transpose();
        snap.mlp->evaluate(x, t, v);
        lens.set_learned(v.row(0).transpose());
        add_lens_layers(lens, view, options.ui_scale, fr.scene);
        LensReadout r;
        r.pixel = view.world_to_pixel(lens.x);
        r.t = lens.t;
        r.effective_count = lens.effective_count;
        r.error = lens.error;
        r.posterior_variance = lens.posterior_variance;
        r.bandwidth = lens.approximate ? lens.bandwidth : 0.0f;
        // The bold arrows' mean direction on the frame (y down), toward which the thin ones fan too.
        const Eigen::Vector2f mean = lens.marginal.normalized() + lens.learned->normalized();
        r.arrows = Eigen::Vector2f(mean.x(), -mean.y());
        overlay.lens = r;
    }
}

void ExportJob::Impl::prep_loop() {
    try {
        for (;;) {
            int i;
            {
                std::unique_lock<std::mutex> lock(mutex);
                changed.wait(lock, [&] {
                    return stop || (next_snapshot < snapshot_count && next_snapshot <= needed_snapshot + k_snapshots_ahead);
                });
                if (stop) return;
                i = next_snapshot;
            }
            Snapshot snap = compute_snapshot(i);
            std::lock_guard<std::mutex> lock(mutex);
            if (stop) return;
            ready[i] = std::move(snap);
            next_snapshot = i + 1;
            changed.notify_all();
        }
    } catch (...) {
        fail(std::current_exception());
    }
}

Snapshot ExportJob::Impl::wait_snapshot(int i) {
    if (inline_engine) {
        // The engine lives on this (GL) thread: compute in order, right here.
        for (;;) {
            int next;
            {
                std::lock_guard<std::mutex> lock(mutex);
                if (ready.count(i)) break;
                next = next_snapshot;
            }
            Snapshot snap = compute_snapshot(next);
            std::lock_guard<std::mutex> lock(mutex);
            ready[next] = std::move(snap);
            next_snapshot = next + 1;
        }
    }
    std::unique_lock<std::mutex> lock(mutex);
    changed.wait(lock, [&] { return stop || error || ready.count(i) > 0; });
    if (error) std::rethrow_exception(error);
    if (stop) throw std::runtime_error("the export was cancelled");
    return ready.at(i);
}

void ExportJob::Impl::encode_loop(std::atomic<int>& encoded_out) {
    try {
        for (;;) {
            std::vector<uint8_t> frame;
            {
                std::unique_lock<std::mutex> lock(mutex);
                changed.wait(lock, [&] { return stop || encoded >= total || done.count(encoded) > 0; });
                if (stop) return;
                if (encoded >= total) break;
                auto it = done.find(encoded);
                frame = std::move(it->second);
                done.erase(it);
            }
            auto t0 = Clock::now();
            sink->add_frame(frame.data(), s.video.width * 4, true);
            double dt = seconds_since(t0);
            std::lock_guard<std::mutex> lock(mutex);
            profile.encode += dt;
            if (first_frame_at < 0) first_frame_at = seconds_since(start);
            encoded_out = ++encoded;
            changed.notify_all();
        }
        auto t0 = Clock::now();
        sink->finish();
        std::lock_guard<std::mutex> lock(mutex);
        profile.encode += seconds_since(t0);
        sink_finished = true;
        changed.notify_all();
    } catch (...) {
        fail(std::current_exception());
    }
}

void ExportJob::Impl::helper_loop(std::unique_ptr<SiblingGlContext> context) {
    if (!context->make_current()) return;  // the main thread renders every frame then
    {
        FrameRenderer fr;
        try {
            for (;;) {
                int k;
                {
                    std::unique_lock<std::mutex> lock(mutex);
                    changed.wait(lock, [&] { return stop || error || next_claim >= total || can_claim_locked(); });
                    if (stop || error || next_claim >= total) break;
                    k = claim_locked();
                }
                FrameTime ft = frame_time(s, k, total);
                Snapshot snap = wait_snapshot(ft.snapshot);
                std::vector<uint8_t> frame;
                render_frame(fr, ft.t, snap, frame);
                deliver(k, std::move(frame));
            }
        } catch (...) {
            fail(std::current_exception());
        }
    }  // the helper's GL objects go while its context is current
    context->release_current();
}

void ExportJob::Impl::render_frame(FrameRenderer& fr, float t, const Snapshot& snap, std::vector<uint8_t>& out) {
    auto t0 = Clock::now();
    if (!fr.renderer) {
        fr.own_renderer = std::make_unique<SceneRenderer>();
        fr.renderer = fr.own_renderer.get();
    }
    if (!fr.target) fr.target = std::make_unique<OffscreenTarget>(s.video.width, s.video.height);
    std::optional<ArrowField> arrows;
    if (options.arrows) {
        ArrowRequest request = arrow_request_for(view, options, t);
        if (snap.mlp) request.guidance = arrow_guidance_for(spec, snap.mlp->config().classes, options);
        arrows = compute_arrows(request, snap.mlp.get(), spec.path, *reference);
    }
    if (options.paths) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!pairs_made) {
            pairs = make_conditional_pairs(*snap.trajectory, spec, options.path_count);
            pairs_made = true;
        }
    }
    SceneInputs in;
    if (snap.gpu_build) {
        // Snapshots are built and drawn in order on this thread, so the GPU holds this one's.
        if (&fr != &main || !gpu || gpu->builds() != snap.gpu_build)
            throw std::logic_error("ExportJob: a frame of a snapshot whose GPU particles are gone");
        if (options.particles &&
            gpu->fill_layer(t, options.color, options.point_alpha, reference.get(), gpu_layer))
            in.gpu_particles = &gpu_layer;
    }
    in.trajectory = snap.trajectory.get();
    in.arrows = arrows ? &*arrows : nullptr;
    in.reference = reference.get();
    in.pairs = &pairs;
    in.path = &spec.path;
    in.t = t;
    build_scene(in, options, view, fr.scene);
    InstrumentOverlay instrument_overlay;
    if (s.instruments.any()) add_instruments(fr, t, snap, instrument_overlay);
    auto t1 = Clock::now();
    fr.target->bind();
    fr.renderer->render(fr.scene, view);
    glFinish();  // so the profile separates drawing from the read-back
    auto t2 = Clock::now();
    out = fr.target->read_rgba();
    glBindFramebuffer(GL_FRAMEBUFFER, 0);
    auto t3 = Clock::now();
    // The frame is opaque: blending may leave alpha below 1 where layers overlap the background.
    for (std::size_t i = 3; i < out.size(); i += 4) out[i] = 255;
    draw_frame_overlays(fr.text, out, s.video.width, s.video.height, s, overlay_line, t, snap.step);
    draw_instrument_overlays(fr.text, out, s.video.width, s.video.height, instrument_overlay,
                             s.mode == ExportMode::Timelapse);
    auto t4 = Clock::now();
    std::lock_guard<std::mutex> lock(mutex);
    profile.scene += std::chrono::duration<double>(t1 - t0).count();
    profile.render += std::chrono::duration<double>(t2 - t1).count();
    profile.readback += std::chrono::duration<double>(t3 - t2).count();
    profile.overlay += std::chrono::duration<double>(t4 - t3).count();
}

void ExportJob::Impl::stop_threads() {
    {
        std::lock_guard<std::mutex> lock(mutex);
        stop = true;
    }
    changed.notify_all();
    if (prep_thread.joinable()) prep_thread.join();
    if (encode_thread.joinable()) encode_thread.join();
    for (auto& t : helper_threads)
        if (t.joinable()) t.join();
}

ExportJob::ExportJob(const ExportSettings& settings, FrameSink* sink, std::optional<ExportModel> model,
                     std::unique_ptr<Engine> engine, bool engine_on_gl_thread, SceneRenderer* renderer)
    : m(std::make_unique<Impl>()) {
    settings.validate();
    Impl& d = *m;
    d.s = settings;
    d.options = settings.resolved_layers();
    d.sink = sink;
    d.model = std::move(model);
    d.main.renderer = renderer;
    if (sink && (sink->settings().width != settings.video.width || sink->settings().height != settings.video.height))
        throw std::invalid_argument("ExportJob: the sink's frame size differs from the settings'");

    // What is drawn: the settings' data, or a model file's (it carries its datasets and path).
    d.setup = resolve_train_options(settings.train);
    if (!settings.model.empty() && !(d.model && settings.mode == ExportMode::Sweep)) {
        ModelFile mf = load_model(settings.model);
        d.setup.config.mlp = mf.mlp;
        d.setup.config.path = mf.path;
        // A reflow model's "paired" coupling needs pair sets the file does not carry; drawing
        // its conditional paths pairs them independently.
        d.setup.config.coupling = mf.coupling == CouplingKind::Paired ? CouplingKind::Independent : mf.coupling;
        d.setup.config.coupling_options = mf.coupling_options;
        d.setup.source = mf.source;
        d.setup.target = mf.target;
        d.loaded.emplace(mf.mlp, 1);
        d.loaded->set_params(mf.params);
        d.loaded_step = mf.steps_trained;
    }
    d.spec.source = d.setup.source;
    d.spec.target = d.setup.target;
    d.spec.path = d.setup.config.path;
    d.spec.coupling = d.setup.config.coupling;
    d.spec.coupling_options = d.setup.config.coupling_options;
    d.spec.solver = make_solver(settings.solver);
    d.spec.steps = settings.solver_steps;
    d.spec.tolerance = settings.solver_tolerance;
    d.spec.sde_gamma = settings.sde_gamma;
    d.spec.follow_class = parse_follow_class(settings.follow, "particles.follow");
    d.spec.guidance = settings.guidance;
    if (d.spec.sde_gamma > 0.0f && d.spec.source.kind() != DatasetKind::Normal)
        throw InputError("the SDE sampler (particles.sde_gamma, --sde-gamma) needs the normal source: "
                         "its score is read off the velocity by Tweedie's formula");
    d.spec.particles = settings.particles;
    d.spec.seed = settings.train.seed;
    if (d.model && d.model->reference && settings.mode == ExportMode::Sweep) d.reference = d.model->reference;
    else d.reference = make_reference(d.spec);
    d.view = export_view(settings, *d.reference);
    // The instruments against the data actually drawn (a model file's or the window's), before
    // any work starts: an impossible one is an input error, not a failure mid-export.
    check_instruments(settings.instruments, d.spec.source, d.spec.target);
    if (settings.instruments.any()) {
        d.grid = instrument_grid(d.view);
        if (settings.instruments.error_map != ErrorMapMode::Off) d.references = marginal_reference_points(d.spec.target);
    }
    d.overlay_line = d.spec.path.name() + " path, " + coupling_name(d.spec.coupling) + " coupling, " +
                     d.spec.source.name() + " \u2192 " + d.spec.target.name();
    if (d.setup.config.mlp.classes > 0) {
        char w[48];
        std::snprintf(w, sizeof w, ", following %s, guidance w = %.2g",
                      d.spec.follow_class == k_all_classes ? "every class"
                      : d.spec.follow_class < 0           ? "no class"
                                                          : ("class " + std::to_string(d.spec.follow_class)).c_str(),
                      static_cast<double>(d.spec.guidance));
        d.overlay_line += w;
    }

    if (settings.mode == ExportMode::Timelapse) {
        d.snapshot_count = settings.snapshots;
        for (int i = 0; i < d.snapshot_count; ++i)
            d.snapshot_steps.push_back(static_cast<int64_t>(std::llround(
                static_cast<double>(settings.train.steps) * i / (d.snapshot_count - 1))));
    } else {
        d.snapshot_steps.push_back(settings.train.steps);
    }
    bool needs_training = !d.loaded && !(d.model && settings.mode == ExportMode::Sweep);
    if (needs_training && !engine) engine = make_cpu_engine(), engine_on_gl_thread = false;
    d.engine = std::move(engine);
    d.training = needs_training;
    if (d.engine && engine_on_gl_thread && d.engine->kind() == EngineKind::Gl) {
        const bool sweep_model = d.model && settings.mode == ExportMode::Sweep;
        // The window's own trajectory needs no integration at all.
        const bool given = sweep_model && d.model->trajectory &&
                           d.model->trajectory->x0.rows() == std::max(1, d.spec.particles);
        if (!given) {
            d.profile.cpu_particles_reason = gpu_particles_blocker(d.spec);
            d.gpu_route = d.profile.cpu_particles_reason.empty();
        }
    }
    // The GPU path needs the engine's thread too: the snapshots are computed in pump().
    d.inline_engine = engine_on_gl_thread && (needs_training || d.gpu_route);
    d.total = m_total = sink ? settings.frame_count() : 0;

    if (!d.inline_engine) d.prep_thread = std::thread([&d] { d.prep_loop(); });
    if (sink) d.encode_thread = std::thread([this] { m->encode_loop(m_encoded); });
}

ExportJob::~ExportJob() { cancel(); }

int ExportJob::add_render_helpers(int count) {
    Impl& d = *m;
    if (d.inline_engine || !d.sink) return 0;  // the helpers would need the engine's thread
    int started = 0;
    for (int i = 0; i < count; ++i) {
        auto context = SiblingGlContext::create_beside_current();
        if (!context) break;
        {
            std::lock_guard<std::mutex> lock(d.mutex);
            d.helpers++;
        }
        d.helper_threads.emplace_back([&d, c = std::move(context)]() mutable { d.helper_loop(std::move(c)); });
        ++started;
    }
    return started;
}

void ExportJob::cancel() {
    m->stop_threads();
    if (m->sink && !m->sink_finished && !m->cancelled) m->sink->cancel();
    m->cancelled = true;
}

bool ExportJob::finished() const {
    std::lock_guard<std::mutex> lock(m->mutex);
    return m->sink_finished;
}

int ExportJob::frames_rendered() const {
    std::lock_guard<std::mutex> lock(m->mutex);
    return m->rendered;
}

bool ExportJob::pump(double budget_ms) {
    Impl& d = *m;
    d.rethrow();
    if (!d.sink || d.cancelled) return finished();
    auto start = Clock::now();
    const bool blocking = budget_ms <= 0;
    try {
        for (;;) {
            int k;
            {
                std::unique_lock<std::mutex> lock(d.mutex);
                if (d.next_claim >= d.total) break;
                if (!blocking) {
                    if (!d.inline_engine && !d.ready.count(frame_time(d.s, d.next_claim, d.total).snapshot)) break;
                    k = d.claim_locked();
                    if (k < 0) break;
                } else {
                    d.changed.wait(lock, [&] { return d.stop || d.error || d.next_claim >= d.total || d.can_claim_locked(); });
                    if (d.error) std::rethrow_exception(d.error);
                    if (d.stop || d.next_claim >= d.total) break;
                    k = d.claim_locked();
                }
            }
            FrameTime ft = frame_time(d.s, k, d.total);
            Snapshot snap = d.wait_snapshot(ft.snapshot);
            std::vector<uint8_t> frame;
            d.render_frame(d.main, ft.t, snap, frame);
            d.deliver(k, std::move(frame));
            if (blocking || seconds_since(start) * 1e3 >= budget_ms) break;
        }
        if (blocking) {
            std::unique_lock<std::mutex> lock(d.mutex);
            if (d.next_claim >= d.total)
                d.changed.wait(lock, [&] { return d.stop || d.error || d.sink_finished; });
            if (d.error) std::rethrow_exception(d.error);
        }
        d.rethrow();
    } catch (...) {
        glBindFramebuffer(GL_FRAMEBUFFER, 0);
        cancel();
        throw;
    }
    return finished();
}

std::vector<uint8_t> ExportJob::render_still(float t) {
    Impl& d = *m;
    Snapshot snap = d.wait_snapshot(0);
    std::vector<uint8_t> frame;
    d.render_frame(d.main, t, snap, frame);
    return frame;
}

std::string ExportJob::phase() const {
    const Impl& d = *m;
    std::lock_guard<std::mutex> lock(d.mutex);
    if (d.sink_finished) return "done";
    if (d.next_claim >= d.total && d.total > 0) return "finishing";
    if (d.rendered == 0 || !d.ready.count(frame_time(d.s, std::min(d.next_claim, d.total - 1), d.total).snapshot)) {
        if (d.integrating) return "integrating particles";
        if (d.training && d.trained < d.snapshot_steps.back())
            return "training step " + std::to_string(d.trained.load()) + "/" + std::to_string(d.snapshot_steps.back());
    }
    return "rendering";
}

double ExportJob::elapsed_seconds() const { return seconds_since(m->start); }

double ExportJob::eta_seconds() const {
    const Impl& d = *m;
    std::lock_guard<std::mutex> lock(d.mutex);
    if (d.encoded <= 0 || d.first_frame_at < 0) return -1.0;
    double rate = (seconds_since(d.start) - d.first_frame_at) / std::max(1, d.encoded - 1);
    return rate * (d.total - d.encoded);
}

ExportJob::Profile ExportJob::profile() const {
    std::lock_guard<std::mutex> lock(m->mutex);
    return m->profile;
}

// ---------------------------------------------------------------------------------------------
// [SECTION] One-call exports

bool run_export(const ExportSettings& settings, FrameSink& sink, const ExportProgress& progress,
                const std::atomic<bool>* cancel, std::optional<ExportModel> model, std::unique_ptr<Engine> engine,
                bool engine_on_gl_thread, ExportJob::Profile* profile) {
    std::unique_ptr<ExportJob> job;
    try {
        job = std::make_unique<ExportJob>(settings, &sink, std::move(model), std::move(engine), engine_on_gl_thread);
        job->add_render_helpers(default_render_helpers());
    } catch (...) {
        sink.cancel();
        throw;
    }
    while (!job->finished()) {
        if (cancel && cancel->load()) {
            job->cancel();
            return false;
        }
        // Slices that never wait keep the cancel flag and the progress line responsive while the
        // preparation thread trains; when nothing could be done, the other threads are busy.
        int before = job->frames_rendered();
        job->pump(50.0);
        if (progress) progress(job->frames_rendered(), job->total_frames());
        if (job->frames_rendered() == before) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (profile) *profile = job->profile();
    return true;
}

void render_figure(const ExportSettings& settings, const std::string& out_path, std::optional<ExportModel> model,
                   std::unique_ptr<Engine> engine, bool engine_on_gl_thread, SceneRenderer* renderer) {
    ExportSettings s = settings;
    s.mode = ExportMode::Sweep;  // a figure shows one moment of the trained flow
    ExportJob job(s, nullptr, std::move(model), std::move(engine), engine_on_gl_thread, renderer);
    std::vector<uint8_t> rgba = job.render_still(s.figure_t);
    write_image(out_path, rgba.data(), s.video.width, s.video.height, s.video.width * 4, true);
}

}  // namespace fmp
