// Particles for the GL engine: integrated on the GPU into a trajectory kept in GL buffers and
// drawn straight from them, so a GPU shows 100k-1M particles without a copy through the CPU.
// The window builds it in slices between UI frames; exports build it whole per snapshot.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "app/render/flow_state.h"
#include "app/render/scene_builder.h"
#include "app/render/scene_renderer.h"
#include "core/engine/engine.h"

namespace fmp {

// The window's cap on stored slices: 1M particles with 1000 solver steps must not need gigabytes,
// and between slices the view interpolates over several solver steps.
inline constexpr int k_window_gpu_slices = 64;

// The slices a trajectory of `particles` x `steps` solver steps is stored in, at most max_slices
// and as many as the per-buffer memory budget holds (>= 1). Equal to steps when every solver step
// is kept, so positions between them are mixed exactly as Trajectory::positions_at mixes frames.
int gpu_trajectory_slices(int particles, int steps, int max_slices);

class GpuParticles {
  public:
    GpuParticles() = default;
    ~GpuParticles();
    GpuParticles(const GpuParticles&) = delete;
    GpuParticles& operator=(const GpuParticles&) = delete;

    // A new spec (data, path, solver, steps, count, seed): the next update starts over from
    // fresh source samples, drawn exactly as the CPU view worker draws them. max_slices: see
    // gpu_trajectory_slices (an export keeps every solver step that fits). With sde_gamma > 0 the
    // particles follow the SDE (Engine::integrate_particles_sde, k_sde_substeps steps per solver
    // step as on the CPU path), whose counter-based noise differs from the CPU path's draws.
    void set_spec(const FlowSpec& spec, int max_slices = k_window_gpu_slices);

    // Integrates whole slices of the trajectory being built until about budget_ms is spent (at
    // least one slice) and publishes it when complete; a new build starts when the network
    // changed since the last one began. Call on the thread where the engine's context is current.
    // The weights may move on between slices while training runs; each build is as fresh as the
    // CPU path's, which also lags training by one trajectory.
    void update(Engine& engine, uint64_t params_version, double budget_ms);

    // Integrates a whole trajectory now under the engine's current weights, waiting for the GPU,
    // and publishes it (an export's snapshot). Call where the engine's context is current. False
    // if `engine` is not a GL engine or no spec was set.
    bool build(Engine& engine);

    // The first `rows` particles of every stored slice, read back as a trajectory whose frames are
    // the slices (x0 unscaled, modes labelled from `reference`), for the layers drawn from CPU
    // points (paths, trails, heatmap). Null before a trajectory is ready.
    std::shared_ptr<Trajectory> read_trajectory(int rows, const FlowReference& reference) const;

    bool ready() const { return m_front_ready; }
    int count() const { return m_count; }
    int slices() const { return m_slices; }
    // Complete builds so far: each published trajectory has its own number.
    uint64_t builds() const { return m_front_build; }
    // Seconds the last complete build took (0 before the first).
    double last_build_seconds() const { return m_last_build_seconds; }
    // The field evaluations (NFE) the last complete build used, and why dopri5 gave up in it (or
    // empty): the particles then stay where it stopped.
    int64_t last_evaluations() const { return m_last_evaluations; }
    const std::string& last_error() const { return m_last_error; }

    // The particles at time t as a layer that reads GL buffers: positions mixed between the two
    // stored slices around t, colours by start or by the target mode each particle reaches (the
    // modes of `reference`, read back once per build). False until a trajectory is ready.
    bool fill_layer(float t, ColorMode mode, float alpha, const FlowReference* reference,
                    PointLayer& layer);

  private:
    void release();
    void allocate(Engine& engine);
    void upload_colors(ColorMode mode, float alpha, const FlowReference* reference);
    void start_build(unsigned engine_buffer, uint64_t params_version);
    // Integrates slices of the build in progress until the deadline (at least one); true when
    // the build is complete and published.
    bool integrate_slices(Engine& engine, unsigned engine_buffer, double deadline);
    float slice_time(int j) const;

    FlowSpec m_spec;
    bool m_has_spec = false;
    bool m_allocated = false;
    int m_count = 0;
    int m_slices = 0;                 // stored positions: slice j at t = slice_time(j), j = 0..m_slices
    Points m_x0;                      // unscaled source samples (for colours by start)
    int m_classes = 0;                // the network's classes at the last build (0: none)
    unsigned m_front = 0, m_back = 0; // (m_slices + 1) x m_count vec2 each
    unsigned m_colors = 0;
    bool m_front_ready = false;
    uint64_t m_front_version = 0;
    uint64_t m_front_build = 0;
    bool m_building = false;
    uint64_t m_build_version = 0;
    int m_next_slice = 0;
    double m_build_start = 0.0;
    double m_last_build_seconds = 0.0;
    int64_t m_build_evaluations = 0, m_last_evaluations = 0;
    std::string m_build_error, m_last_error;
    // What the colour buffer holds.
    ColorMode m_color_mode = ColorMode::Single;
    float m_color_alpha = -1.0f;
    uint64_t m_color_build = ~uint64_t(0);
};

}  // namespace fmp
