// Video, GIF and figure export: trains or loads the flow, renders each frame offscreen with the
// window's scene builder and renderer, draws the overlays and feeds a FrameSink.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "app/export/export_settings.h"
#include "app/export/frame_sink.h"
#include "app/render/flow_state.h"
#include "app/render/scene_renderer.h"

namespace fmp {

class Engine;

// A network to draw instead of training or loading one (the window's current weights). The
// window may also hand over its trajectory and reference samples (for its own FlowSpec), which
// spares the export integrating the particles again.
struct ExportModel {
    MlpConfig mlp;
    std::vector<float> params;
    int64_t step = 0;
    std::shared_ptr<const Trajectory> trajectory;
    std::shared_ptr<const FlowReference> reference;
};

// One export in progress, driven by pump() on the thread whose GL context is current (the GUI
// thread between UI frames, or the headless command). Around it:
//  - a preparation thread trains (CPU engine, in chunks) and integrates the particles of each
//    snapshot; with an engine that must stay on the GL thread, pump() does that work inline;
//  - an encoder thread takes the read-back frames from a short queue and feeds the FrameSink,
//    so encoding one frame overlaps rendering the next (the machine has two cores).
// The sink is finished after the last frame; cancel(), the destructor of an unfinished job and
// every error call FrameSink::cancel(), so nothing appears under the final name.
class ExportJob {
  public:
    // settings are validated here (InputError). sink may be null for still images (render_still).
    // engine: trains the flow (null: a CPU engine on the preparation thread); engine_on_gl_thread:
    // it must train inside pump(). A GL engine on the GL thread also integrates every snapshot's
    // particles on the GPU (GpuParticles; given the snapshot's weights when it did not train
    // them), and the frames draw them from GL buffers, unless the settings need the CPU path
    // (Profile::cpu_particles_reason). renderer: reuse one (the window's), else one is made in pump().
    ExportJob(const ExportSettings& settings, FrameSink* sink, std::optional<ExportModel> model = {},
              std::unique_ptr<Engine> engine = nullptr, bool engine_on_gl_thread = false,
              SceneRenderer* renderer = nullptr);
    ~ExportJob();
    ExportJob(const ExportJob&) = delete;
    ExportJob& operator=(const ExportJob&) = delete;

    // Renders frames for about budget_ms and returns (never waiting for the preparation thread or
    // a full encoder queue); budget_ms <= 0 renders one frame, waiting as needed, and after the
    // last frame waits for the encoder to finish. Needs the GL context current. Rethrows errors of
    // the threads. Leaves framebuffer 0 bound. Returns finished().
    bool pump(double budget_ms);
    bool finished() const;  // every frame encoded and the sink finished (renamed into place)
    void cancel();          // stops the threads and cancels the sink; safe to call twice

    // One frame at time t of the first (sweep: the only) snapshot, top row first, RGBA8, with the
    // overlays. Waits for that snapshot. Needs the GL context current.
    std::vector<uint8_t> render_still(float t);

    // Extra threads, each with its own EGL context beside the current one, that render frames in
    // parallel with pump() (a software rasterizer draws on the calling thread, so this is how a
    // headless export uses more than one core for drawing). Only when the current context is an
    // EGL one and the engine does not train inside pump(). Call before the first pump(); returns
    // how many started.
    int add_render_helpers(int count);

    int total_frames() const { return m_total; }
    int frames_rendered() const;
    int frames_encoded() const { return m_encoded.load(); }
    // What is happening, for the progress line and the GUI: "training step 1200/3000",
    // "integrating particles", "rendering", "finishing".
    std::string phase() const;
    // Seconds left, estimated from the rate so far (negative: not known yet).
    double eta_seconds() const;
    double elapsed_seconds() const;
    // Seconds spent on each part, for the benchmark's profile.
    struct Profile {
        double prepare = 0, scene = 0, render = 0, readback = 0, overlay = 0, encode = 0;
        // The part of `prepare` spent integrating the particles' trajectories (on the GPU path with
        // the read-back of the rows the CPU layers draw), and how many were integrated where: on
        // the GPU (the GL engine's GpuParticles, drawn from GL buffers) or by the CPU MLP
        // (integrate_trajectory, drawn from CPU points).
        double integrate = 0;
        int gpu_trajectories = 0, cpu_trajectories = 0;
        // Why an export given the GL engine integrates on the CPU (empty otherwise).
        std::string cpu_particles_reason;
    };
    Profile profile() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> m;
    int m_total = 0;
    std::atomic<int> m_encoded{0};
};

// Frame k of total, for progress reporting.
using ExportProgress = std::function<void(int frame, int total)>;

// Runs a whole export into `sink` with the GL context current on this thread: trains or loads the
// model (a CPU engine on a second thread, or `engine` inline), renders every frame at the
// export's resolution, encodes, and finishes the sink. Returns false if *cancel became true (the
// sink is then cancelled: no output). Errors cancel the sink and propagate.
bool run_export(const ExportSettings& settings, FrameSink& sink, const ExportProgress& progress,
                const std::atomic<bool>* cancel, std::optional<ExportModel> model = {},
                std::unique_ptr<Engine> engine = nullptr, bool engine_on_gl_thread = false,
                ExportJob::Profile* profile = nullptr);

// A PNG (or JPEG) figure of one moment (settings.figure_t) at the export's resolution, with the
// overlays; written atomically. Needs the GL context current.
void render_figure(const ExportSettings& settings, const std::string& out_path, std::optional<ExportModel> model = {},
                   std::unique_ptr<Engine> engine = nullptr, bool engine_on_gl_thread = false,
                   SceneRenderer* renderer = nullptr);

// validate() and what depends on the data drawn (a model file's or the settings' datasets): the
// instruments against the source and target. Throws InputError (one line). ExportJob checks the
// same; this is for a command that wants to fail before it prints or opens anything.
void check_export_settings(const ExportSettings& settings);

// Render helper threads worth starting for the current context: the cores but one on a software
// rasterizer (the encoder and the main thread share the rest), none on a GPU.
int default_render_helpers();

// The view of an export: the settings' centre and height, or the data box fitted with a margin.
View2D export_view(const ExportSettings& settings, const FlowReference& reference);

}  // namespace fmp
