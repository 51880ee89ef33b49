// The export pipeline: preparation thread (training, particles) -> offscreen render and overlays
// on the GL thread -> encoder thread (FrameSink). Frames are drawn by build_scene + SceneRenderer,
// the window's own code, so an export looks exactly like the app.
#include "app/export/export_job.h"

#include <glad/egl.h>
#include <glad/gl.h>
#include <stb/stb_truetype.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "app/render/scene_builder.h"
#include "app/run/train_options.h"
#include "core/engine/engine.h"
#include "core/engine/gl/gl_context.h"
#include "core/flow/marginal_velocity.h"
#include "core/nn/model_file.h"
#include "core/base/resources.h"
#include "core/base/rng.h"

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

// ---------------------------------------------------------------------------------------------
// [SECTION] Text overlays: the embedded UI font rasterised by stb_truetype, blended onto frames

class TextPainter {
  public:
    TextPainter() {
        auto font = embedded_file("font.ttf");
        if (!font) throw std::runtime_error("the embedded font.ttf is missing");
        m_data.assign(font->begin(), font->end());
        const auto* bytes = reinterpret_cast<const unsigned char*>(m_data.data());
        if (!stbtt_InitFont(&m_font, bytes, stbtt_GetFontOffsetForIndex(bytes, 0)))
            throw std::runtime_error("cannot read the embedded font.ttf");
    }

    // Width in pixels of `text` at a line height of px.
    float width(const std::string& text, float px) {
        float scale = stbtt_ScaleForPixelHeight(&m_font, px), x = 0;
        int prev = 0;
        for (int cp : decode(text)) {
            int advance = 0, lsb = 0;
            stbtt_GetCodepointHMetrics(&m_font, cp, &advance, &lsb);
            if (prev) x += scale * stbtt_GetCodepointKernAdvance(&m_font, prev, cp);
            x += scale * advance;
            prev = cp;
        }
        return x;
    }

    // Draws text with its top-left corner at (x, y) into a top-row-first RGBA8 image, with a soft
    // dark shadow so it reads on any layer below.
    void draw(std::vector<uint8_t>& rgba, int w, int h, float x, float y, const std::string& text, float px,
              uint32_t color) {
        float scale = stbtt_ScaleForPixelHeight(&m_font, px);
        int ascent = 0, descent = 0, gap = 0;
        stbtt_GetFontVMetrics(&m_font, &ascent, &descent, &gap);
        const float baseline = y + ascent * scale;
        const float shadow = std::max(1.0f, px / 14.0f);
        for (int pass = 0; pass < 2; ++pass) {
            float pen = x;
            int prev = 0;
            uint32_t c = pass == 0 ? pack_rgba(0, 0, 0, 0.75f) : color;
            float off = pass == 0 ? shadow : 0.0f;
            for (int cp : decode(text)) {
                if (prev) pen += scale * stbtt_GetCodepointKernAdvance(&m_font, prev, cp);
                const Glyph& g = glyph(cp, px);
                blend(rgba, w, h, static_cast<int>(std::lround(pen + off)) + g.xoff,
                      static_cast<int>(std::lround(baseline + off)) + g.yoff, g, c);
                pen += g.advance;
                prev = cp;
            }
        }
    }

  private:
    struct Glyph {
        int w = 0, h = 0, xoff = 0, yoff = 0;
        float advance = 0;
        std::vector<uint8_t> alpha;
    };

    const Glyph& glyph(int cp, float px) {
        auto key = std::make_pair(cp, static_cast<int>(std::lround(px * 4)));
        auto it = m_glyphs.find(key);
        if (it != m_glyphs.end()) return it->second;
        Glyph g;
        float scale = stbtt_ScaleForPixelHeight(&m_font, px);
        int advance = 0, lsb = 0;
        stbtt_GetCodepointHMetrics(&m_font, cp, &advance, &lsb);
        g.advance = advance * scale;
        unsigned char* bits = stbtt_GetCodepointBitmap(&m_font, scale, scale, cp, &g.w, &g.h, &g.xoff, &g.yoff);
        if (bits) {
            g.alpha.assign(bits, bits + static_cast<std::size_t>(g.w) * g.h);
            stbtt_FreeBitmap(bits, nullptr);
        }
        return m_glyphs.emplace(key, std::move(g)).first->second;
    }

    static void blend(std::vector<uint8_t>& rgba, int w, int h, int x0, int y0, const Glyph& g, uint32_t c) {
        const float cr = c & 0xff, cg = (c >> 8) & 0xff, cb = (c >> 16) & 0xff, ca = ((c >> 24) & 0xff) / 255.0f;
        for (int y = 0; y < g.h; ++y) {
            int py = y0 + y;
            if (py < 0 || py >= h) continue;
            for (int x = 0; x < g.w; ++x) {
                int px = x0 + x;
                if (px < 0 || px >= w) continue;
                float a = g.alpha[static_cast<std::size_t>(y) * g.w + x] / 255.0f * ca;
                if (a <= 0) continue;
                uint8_t* p = &rgba[(static_cast<std::size_t>(py) * w + px) * 4];
                p[0] = static_cast<uint8_t>(p[0] + (cr - p[0]) * a + 0.5f);
                p[1] = static_cast<uint8_t>(p[1] + (cg - p[1]) * a + 0.5f);
                p[2] = static_cast<uint8_t>(p[2] + (cb - p[2]) * a + 0.5f);
            }
        }
    }

    // UTF-8 to code points; invalid bytes become U+FFFD.
    static std::vector<int> decode(const std::string& s) {
        std::vector<int> out;
        for (std::size_t i = 0; i < s.size();) {
            auto b = static_cast<unsigned char>(s[i]);
            int len = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
            if (len == 0 || i + len > s.size()) {
                out.push_back(0xfffd);
                ++i;
                continue;
            }
            int cp = len == 1 ? b : b & (0x7f >> len);
            for (int k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
            out.push_back(cp);
            i += len;
        }
        return out;
    }

    std::string m_data;
    stbtt_fontinfo m_font{};
    std::map<std::pair<int, int>, Glyph> m_glyphs;
};

// ---------------------------------------------------------------------------------------------
// [SECTION] The flow: reference samples, trajectories and arrows, as the view worker makes them

// The same seeds as FlowWorker (gui_flow_worker.cpp), so an export of a spec shows the same
// particles and markers as the window.
std::shared_ptr<FlowReference> make_reference(const FlowSpec& spec) {
    auto ref = std::make_shared<FlowReference>();
    Rng rng(spec.seed * 7919 + 17, 3);
    ref->target = spec.target.sample(2048, rng);
    ref->source = spec.source.sample(2048, rng) * spec.path.source_scale();
    ref->modes = ModeMap::build(ref->target);
    return ref;
}

std::shared_ptr<Trajectory> integrate_trajectory(const FlowSpec& spec, const Mlp& mlp, const FlowReference& ref) {
    auto traj = std::make_shared<Trajectory>();
    Rng rng(spec.seed * 104729 + 5, 11);
    traj->x0 = spec.source.sample(std::max(1, spec.particles), rng);
    Points x = traj->x0 * spec.path.source_scale();
    VelocityFn v = [&mlp](const Points& p, float t, Points& out) { mlp.evaluate(p, t, out); };
    integrate_particles(v, spec.solver, x, 0.0f, 1.0f, std::max(1, spec.steps), &traj->frames);
    const Points& last = traj->frames.back();
    traj->mode.resize(static_cast<std::size_t>(last.rows()));
    for (Eigen::Index i = 0; i < last.rows(); ++i)
        traj->mode[i] = static_cast<uint8_t>(ref.modes.mode_of(last(i, 0), last(i, 1)));
    return traj;
}

ArrowField compute_arrows(const ArrowRequest& r, const Mlp& mlp, const ProbabilityPath& path, const FlowReference& ref) {
    ArrowField f;
    f.request = r;
    int nx = std::max(1, r.nx), ny = std::max(1, r.ny);
    f.base.resize(static_cast<Eigen::Index>(nx) * ny, 2);
    Eigen::Vector2f size = r.box.sizes();
    for (int j = 0; j < ny; ++j)
        for (int i = 0; i < nx; ++i) {
            Eigen::Index row = static_cast<Eigen::Index>(j) * nx + i;
            f.base(row, 0) = r.box.min().x() + (i + 0.5f) * size.x() / nx;
            f.base(row, 1) = r.box.min().y() + (j + 0.5f) * size.y() / ny;
        }
    if (r.learned) mlp.evaluate(f.base, r.t, f.learned);
    if (r.exact) marginal_velocity(path, ref.target, r.t, f.base, f.exact);
    return f;
}

struct Snapshot {
    std::shared_ptr<const Trajectory> trajectory;
    std::shared_ptr<const Mlp> mlp;
    int64_t step = 0;
};

}  // namespace

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
};

// A second EGL context on the display of the current one, for a render helper thread. A software
// rasterizer draws on the thread that issues the calls, so two contexts render two frames at once.
struct HelperContext {
    EGLDisplay display = EGL_NO_DISPLAY;
    EGLContext context = EGL_NO_CONTEXT;
    EGLSurface surface = EGL_NO_SURFACE;

    // Null unless the current context is an EGL one (the headless command, not the window).
    static std::unique_ptr<HelperContext> create_beside_current() {
        if (!eglGetCurrentContext || eglGetCurrentContext() == EGL_NO_CONTEXT) return nullptr;
        auto h = std::make_unique<HelperContext>();
        h->display = eglGetCurrentDisplay();
        EGLint config_id = 0, count = 0;
        if (!eglQueryContext(h->display, eglGetCurrentContext(), EGL_CONFIG_ID, &config_id)) return nullptr;
        const EGLint by_id[] = {EGL_CONFIG_ID, config_id, EGL_NONE};
        EGLConfig config = nullptr;
        if (!eglChooseConfig(h->display, by_id, &config, 1, &count) || count < 1) return nullptr;
        const EGLint attribs[] = {EGL_CONTEXT_MAJOR_VERSION, 4, EGL_CONTEXT_MINOR_VERSION, 3,
                                  EGL_CONTEXT_OPENGL_PROFILE_MASK, EGL_CONTEXT_OPENGL_CORE_PROFILE_BIT, EGL_NONE};
        h->context = eglCreateContext(h->display, config, EGL_NO_CONTEXT, attribs);
        if (h->context == EGL_NO_CONTEXT) return nullptr;
        if (eglGetCurrentSurface(EGL_DRAW) != EGL_NO_SURFACE) {
            const EGLint pb[] = {EGL_WIDTH, 1, EGL_HEIGHT, 1, EGL_NONE};
            h->surface = eglCreatePbufferSurface(h->display, config, pb);
            if (h->surface == EGL_NO_SURFACE) return nullptr;
        }
        return h;
    }
    bool make_current() const {
        eglBindAPI(EGL_OPENGL_API);  // per thread
        return eglMakeCurrent(display, surface, surface, context);
    }
    ~HelperContext() {
        // Released by its thread before; never eglTerminate: the display is the main context's too.
        if (surface != EGL_NO_SURFACE) eglDestroySurface(display, surface);
        if (context != EGL_NO_CONTEXT) eglDestroyContext(display, context);
    }
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
    void prep_loop();
    void encode_loop(std::atomic<int>& encoded_out);
    void helper_loop(std::unique_ptr<HelperContext> context);
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
            trained = engine->step_count();
        }
        auto mlp = std::make_shared<Mlp>(setup.config.mlp, 1);
        mlp->set_params(engine->params());
        snap.mlp = mlp;
        snap.step = engine->step_count();
    }
    if (!snap.trajectory) {
        integrating = true;
        snap.trajectory = integrate_trajectory(spec, *snap.mlp, *reference);
        integrating = false;
    }
    std::lock_guard<std::mutex> lock(mutex);
    profile.prepare += seconds_since(t0);
    return snap;
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

void ExportJob::Impl::helper_loop(std::unique_ptr<HelperContext> context) {
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
    eglMakeCurrent(context->display, EGL_NO_SURFACE, EGL_NO_SURFACE, EGL_NO_CONTEXT);
}

void ExportJob::Impl::render_frame(FrameRenderer& fr, float t, const Snapshot& snap, std::vector<uint8_t>& out) {
    auto t0 = Clock::now();
    if (!fr.renderer) {
        fr.own_renderer = std::make_unique<SceneRenderer>();
        fr.renderer = fr.own_renderer.get();
    }
    if (!fr.target) fr.target = std::make_unique<OffscreenTarget>(s.video.width, s.video.height);
    std::optional<ArrowField> arrows;
    if (options.arrows) arrows = compute_arrows(arrow_request_for(view, options, t), *snap.mlp, spec.path, *reference);
    if (options.paths) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!pairs_made) {
            pairs = make_conditional_pairs(*snap.trajectory, spec, options.path_count);
            pairs_made = true;
        }
    }
    SceneInputs in;
    in.trajectory = snap.trajectory.get();
    in.arrows = arrows ? &*arrows : nullptr;
    in.reference = reference.get();
    in.pairs = &pairs;
    in.path = &spec.path;
    in.t = t;
    build_scene(in, options, view, fr.scene);
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
    const int w = s.video.width, h = s.video.height;
    const float u = std::max(0.5f, h / 720.0f);
    const float margin = 22.0f * u;
    float y = margin;
    if (!s.title.empty()) {
        fr.text.draw(out, w, h, margin, y, s.title, 34.0f * u, pack_rgba(1, 1, 1, 1));
        y += 44.0f * u;
    }
    if (s.show_path) fr.text.draw(out, w, h, margin, y, overlay_line, 20.0f * u, pack_rgba(0.75f, 0.79f, 0.88f, 1));
    const float small = 24.0f * u;
    if (s.show_t) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "t = %.2f", t);
        fr.text.draw(out, w, h, margin, h - margin - small * 1.2f, buf, small, pack_rgba(1, 1, 1, 1));
    }
    if (s.mode == ExportMode::Timelapse) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "training step %lld", static_cast<long long>(snap.step));
        fr.text.draw(out, w, h, w - margin - fr.text.width(buf, small), h - margin - small * 1.2f, buf, small,
                     pack_rgba(1, 1, 1, 1));
    }
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
        d.setup.config.coupling = mf.coupling;
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
    d.spec.solver = make_solver(settings.solver);
    d.spec.steps = settings.solver_steps;
    d.spec.particles = settings.particles;
    d.spec.seed = settings.train.seed;
    if (d.model && d.model->reference && settings.mode == ExportMode::Sweep) d.reference = d.model->reference;
    else d.reference = make_reference(d.spec);
    d.view = export_view(settings, *d.reference);
    d.overlay_line = d.spec.path.name() + " path, " + coupling_name(d.spec.coupling) + " coupling, " +
                     d.spec.source.name() + " \u2192 " + d.spec.target.name();

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
    d.inline_engine = engine_on_gl_thread && needs_training;
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
        auto context = HelperContext::create_beside_current();
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
        if (d.engine && !d.loaded && d.trained < d.snapshot_steps.back())
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
