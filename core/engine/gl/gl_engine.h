// The OpenGL 4.3 compute engine: trains and integrates on the GPU behind the Engine interface.
#pragma once
#include <memory>
#include <optional>
#include <string>

#include "core/engine/engine.h"
#include "core/engine/gl/gl_buffers.h"
#include "core/engine/gl/gpu_grid.h"
#include "core/flow/sinkhorn.h"

namespace fmp {

// Needs a current OpenGL 4.3+ core context on the calling thread (a hidden GLFW window in the
// app, or HeadlessGlContext). Every later call must come from a thread where that context is
// current. Throws std::runtime_error if the context lacks compute shaders.
std::unique_ptr<Engine> make_gl_engine();

// The particle buffer of a GL engine (an SSBO of vec2, particle_count() entries) so the renderer
// can draw it without a copy; 0 if `engine` is not a GL engine.
unsigned gl_particle_buffer(const Engine& engine);

// What a GL engine has moved between host and GPU so far (zeros for another engine).
GlTransferCounters gl_transfer_counters(const Engine& engine);

// The GPU a GL engine runs on and the training grid it launches for `batch` rows with its
// network (after reset()); nothing for another engine.
struct GlGridReport {
    GpuShape gpu;
    TrainGrid grid;
    // Wide networks (width >= 256) train as per-layer GEMMs over the whole batch: grid.groups is
    // then the weight gradient's batch slices, and the GEMMs run in blocks of 128 x 64.
    bool wide_layers = false;
    int train_wg = 0;            // invocations per training workgroup
    int train_rm = 0, train_rn = 0;  // outputs per invocation of its GEMMs: rows x columns
    int train_tile = 0;          // rows per training tile (the wide pipeline: per GEMM block)
    int stage_rows = 0;          // rows of the weight panels staged in shared memory (0: none)
    int field_tile = 0;          // rows per tile of the field kernels (particles, grids)
    bool field_in_place = false; // their activations in one shared buffer, outputs in registers
};
std::optional<GlGridReport> gl_grid_report(const Engine& engine, int batch);

// The entropic couplings' kernel (sinkhorn_pairs.comp) on one plan, for tests: the plan between
// a and b (equal sizes, 2..4096 rows; row-major, summing to 1), the sweeps (f updates) it took
// and the row-sum error it stopped at, and the pairs it draws from it (x0 row r = a_i, x1 row
// r = b_j) with the stream a training batch trained at `step` would use under `seed`. Nothing
// for another engine; throws InputError for other sizes or bad settings.
struct GlSinkhornCheck {
    std::vector<float> plan;
    int sweeps = 0;
    float marginal_error = 0.0f;
    Points x0, x1;
};
std::optional<GlSinkhornCheck> gl_sinkhorn_check(Engine& engine, const Points& a, const Points& b,
                                                 const SinkhornSettings& settings, uint64_t seed, uint32_t step);
// The batch the GL engine's last training step read, when it was not sampled on the GPU (plan
// couplings, explicit batches), read back; for tests. Nothing otherwise.
std::optional<Batch> gl_last_batch(Engine& engine);

}  // namespace fmp
