// The OpenGL 4.3 compute engine: CFM training, particle integration and fields on the GPU.
//
// Design (why it is shaped this way):
// - Two dispatches per training step, no CPU<->GPU copy. mlp_train.comp is fused: a workgroup
//   samples a tile of TILE batch rows on the GPU (PCG hash of seed, step and
//   row; Box-Muller for a normal source, else indices into a point pool uploaded once per
//   dataset), runs them forward through every layer, computes the loss, and back through every
//   layer, writing its partial parameter gradient into its own slice of a partials buffer.
//   reduce_adam.comp sums the slices and applies Adam/AdamW (the CPU AdamOptimizer's formulas)
//   in one pass over the parameters. No float atomics are needed (core GL 4.3 has none), and a
//   group loops over tiles g, g+G, ... so the partials stay under k_partials_budget floats for
//   any batch and width.
// - The hidden-layer GEMMs are register-tiled: invocation (tx, ty) of a 32 x TY grid owns RM rows
//   x RN columns of a 32*RN-column chunk, so per inner step a warp does broadcast reads of
//   activations (four columns per vec4 load) and coalesced weight reads from a panel staged in
//   shared memory. Training groups have TILE / RM warps, so every invocation owns 32 outputs
//   (8 x 4 from width 97 on); the field kernels have 8 warps and 64-row tiles in place.
//   Backprop reads a transposed copy
//   of the weights (kept current by the Adam pass) so that its loads coalesce too. Activations
//   of the current layer live in two ping-pong TILE x max(in, width) buffers in shared memory
//   (TILE = 32, or 16 if 32 does not fit); for widths too large even for that they spill to a
//   per-group slice of a coherent scratch buffer. Saved pre-activations (needed for backward)
//   go to that scratch slice, which is not coherent while the activations stay in shared
//   memory: every pass over them maps rows and columns to invocations as the forward GEMM did.
// - Width >= k_wide_width trains through the wide pipeline instead (run_wide_pass): per-layer
//   GEMMs over the whole batch in 128 x 64 blocks (gemm_tile.glsl, 8 x 4 outputs per
//   invocation), pre-activations of every layer kept in a buffer, and the weight gradient split
//   over batch slices into the same partials reduce_adam.comp sums: a fused tile small enough for
//   shared memory would reload every weight from L2 for every 16 rows.
// - Losses never force a sync: invocation 0 of the Adam pass appends (step, loss, per-time-bin
//   sums) to a ring buffer; train() drops a fence every k_fence_interval steps and
//   take_losses() reads back only the ranges whose fences have signalled.
// - Divergence is caught on the GPU: reduce_adam.comp skips a step whose loss is NaN or inf and
//   leaves unwritten any parameter an update would make NaN or inf, and raises a flag (words
//   after the loss ring) that turns every later training pass, update and snapshot into a no-op.
//   train_snapshot.comp copies the weights and moments into one of two slots every
//   k_snapshot_interval steps and at the start of each train() call, only while the flag is down.
//   The CPU sees the flag with the ring (no extra readback), waits for the queue to drain, and
//   restores the slot rollback_slot() picks, exactly as the CPU engine does.
// - Minibatch OT coupling runs on the CPU: batches are sampled there (BatchSampler, the CPU
//   engine's code) and their exact assignments solved ahead on producer threads (BatchPipeline:
//   the draws in order, the solves in parallel, the same batches as drawn one by one), and
//   x0|x1|t goes into a persistently mapped slot of an upload ring (5*B floats) that no queued
//   dispatch still reads, so neither the solve nor the upload stalls the GPU's queue.
// - The entropic couplings (Sinkhorn, SB) are paired on the GPU: the CPU draws their batches
//   uncoupled (the same sampler, which then skips the pair draws), and sinkhorn_pairs.comp solves
//   the plans of several steps' batches in one dispatch, one workgroup per (class group,
//   sub-batch), and draws each batch's pairs from its plan with counter-based random numbers
//   keyed by the step it trains, so the run stays deterministic however many are solved ahead.
//   The steps then read their coupled batch in place. Plans over k_gpu_plan_rows rows stay on
//   the CPU's pipeline (on llvmpipe, plans over k_gpu_training_plan_rows_software rows).
// - Buffers have immutable storage; results come back through a mapped client-storage buffer
//   (GlReadback) and the losses through a mapped mirror of the ring filled by GPU copies queued
//   before each fence (gl_buffers.h): nothing calls glGetBufferSubData.
// - Particles live in one SSBO the renderer draws. integrate_particles runs every step of a
//   call in one dispatch (split only beyond k_max_evals_per_dispatch point-evaluations so no
//   dispatch runs for seconds): each workgroup carries TILE particles through all steps and
//   solver stages with the same tiled forward pass. The adaptive dopri5 is the exception: its
//   step-size controller runs on the host (drive_embedded_pair, the CPU engine's code), one
//   dispatch of ode_pair.comp per stage, and only one error sum per workgroup is read back per
//   step, so both engines take the same steps.
// - The SDE sampler (mlp_sde.comp) runs like the fixed-step solvers, one dispatch for every
//   step of a call. The host computes each step's time and drift/noise coefficients
//   (sde_step_coefficients, the CPU's floats) into a small buffer; the noise is counter-based
//   (counter_noise.glsl, the PCG hash of seed, step and particle), so the CPU engine draws the
//   same normals and the two agree particle for particle.
// - The exact marginal field streams the target points through shared memory with an online
//   log-sum-exp; its path coefficients come from ProbabilityPath::at on the CPU. The same pass
//   gives the mixture's log density for the error map (eval_marginal_field, any references).
// - The likelihood (mlp_divergence.comp) carries each point's value and its d/dx, d/dy tangents
//   as three rows of one tile through the same register-tiled GEMMs, so div v is exact; the
//   augmented ODE (x, l) runs every step in one dispatch, like the particles, and x and l are
//   read back once.
// - Classes: a CLASSES define appends the one-hot input. Sampled rows read their class from the
//   target pool (stored after the points: training already uses GL 4.3's minimum of 8 bindings)
//   and drop to the null class on the GPU; uploaded batches carry a class per row. A guided field
//   runs each tile twice and combines f_null + w (f_class - f_null), as Mlp::evaluate does.
// - On software rasterizers (llvmpipe in CI) the shaders are built with DYNAMIC_LOOPS, which
//   hides loop trip counts from the compiler: fully unrolled, the training shader takes ~10 s
//   to JIT there; real GPUs get constant trip counts.
#include "core/engine/gl/gl_engine.h"

#include <glad/gl.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <stdexcept>

#include "core/base/rng.h"
#include "core/engine/batch_pipeline.h"
#include "core/engine/gl/gl_buffers.h"
#include "core/engine/gl/gl_context.h"
#include "core/engine/gl/gl_shader.h"
#include "core/engine/gl/gpu_grid.h"
#include "core/flow/divergence_integration.h"

namespace fmp {
namespace {

constexpr int k_wg = 256;  // invocations per workgroup of the field shaders
constexpr int k_tx = 32;   // columns of the invocation grid (one warp wide)
constexpr int k_ty = k_wg / k_tx;
constexpr int k_km = 8;           // weight-gradient rows per invocation and chunk
// Outputs per invocation of the training kernel's GEMMs: RM rows x RN columns with RM = 32 / RN
// (8 x 4 from width 97 on, 16 x 2 at widths 33..64, 32 x 1 below), so its workgroup has
// TILE / RM warps and each activation or weight read from shared memory feeds several FMAs.
constexpr int k_train_outputs = 32;
// From this width on training runs as per-layer GEMMs over the whole batch (the wide pipeline,
// wide_*.comp): a fused tile small enough for shared memory reloads every weight for 16 rows.
constexpr int k_wide_width = 256;
constexpr int k_wide_gemm_rows = 128, k_wide_gemm_cols = 64;  // gemm_tile.glsl's block
constexpr int k_wide_output_rows = 32;                        // wide_output.comp's rows per group
constexpr int k_wide_slice_rows = 256;  // batch rows per weight-gradient slice
constexpr int k_ring = 1024;      // loss ring entries
constexpr int k_ring_words = 22;  // step, loss, 10 bin sums, 10 bin counts
constexpr int k_stat_words = 21;
// After the ring: the divergence flag, its step, cause and loss, and the two snapshot slots'
// steps plus one (0: empty); the shaders' HEALTH, see reduce_adam.comp and train_snapshot.comp.
constexpr int k_health = k_ring * k_ring_words;
constexpr int k_health_words = 8;
constexpr int k_fence_interval = 64;
// Copies of the health words in the loss ring's mirror, one per pending fence (a fence whose
// copy slot would be reused waits for the oldest first).
constexpr int k_health_slots = 64;
constexpr int k_batch_slots = 8;  // mapped upload buffers used in turn for uploaded batches
// Entropic plans solved on the GPU (sinkhorn_pairs.comp): at most this many rows per plan (its
// 256 invocations hold 16 rows each); larger plans are solved on the CPU's pipeline.
constexpr int k_gpu_plan_rows = 4096;
constexpr int k_gpu_plan_rows_software = 1024;  // llvmpipe: within its loop-iteration limit
// Where the "GPU" is the CPU (llvmpipe) training pairs only plans up to this on it: beyond,
// SinkhornSolver's Newton steps on the pipeline's threads are far faster there.
constexpr int k_gpu_training_plan_rows_software = 128;
// The plans' over-relaxation: about 3x fewer sweeps than plain Sinkhorn at eps 0.05 (measured
// on normal vs moons, 8 gaussians and checkerboard, n 64 and 256); at 1.9 it stops converging.
constexpr float k_sinkhorn_omega = 1.5f;
// Kernel entries per job and dispatch of the plans' sweeps (a few ms on a GPU).
constexpr int64_t k_pair_evals_per_dispatch = int64_t(1) << 26;
// Batches paired per solve: enough plans for four workgroups per SM (a solve is bound by the
// SMs' exponentials, and each SM holds several of its 8-warp groups), at most this many batches
// and bytes.
constexpr int k_pairs_ahead_max = 256;
constexpr std::size_t k_pairs_ahead_bytes = std::size_t(64) << 20;
// Packed batches start on 256-byte boundaries, the largest SSBO offset alignment GL allows.
constexpr std::size_t k_batch_align_floats = 64;
// The pair draws' stream: the run's seed xor this ("pairs"), keyed by step and row.
constexpr uint64_t k_pair_seed_salt = 0x7061697273ull;
constexpr int k_pool_points = 65536;  // CPU samples of an analytic dataset, uploaded once
// Floats of per-group gradient slices: where the SM count is known the grid is the GPU's (a
// GPU with a reported SM count has the memory), else the budget bounds the group count.
constexpr std::size_t k_partials_budget = std::size_t(16) << 20;
constexpr std::size_t k_partials_budget_sized = std::size_t(64) << 20;
constexpr int64_t k_max_evals_per_dispatch = int64_t(64) << 20;
constexpr int k_max_field_groups_spilled = 256;

int path_index(PathKind k) {
    switch (k) {
        case PathKind::CondOT:
            return 0;
        case PathKind::LipmanOT:
            return 1;
        case PathKind::VP:
            return 2;
        case PathKind::Cosine:
            return 3;
        case PathKind::LinearVP:
            return 4;
        case PathKind::Polynomial:
            return 5;
        case PathKind::VE:
            return 6;
    }
    return 0;
}

int activation_index(Activation a) {
    switch (a) {
        case Activation::SiLU:
            return 0;
        case Activation::SELU:
            return 1;
        case Activation::Tanh:
            return 2;
        case Activation::ReLU:
            return 3;
        case Activation::GELU:
            return 4;
    }
    return 0;
}

int solver_index(SolverKind k) {
    switch (k) {
        case SolverKind::Euler:
            return 0;
        case SolverKind::Midpoint:
            return 1;
        case SolverKind::Heun:
            return 2;
        case SolverKind::RK4:
            return 3;
        case SolverKind::Dopri5:  // adaptive: ode_pair.comp, never mlp_field.comp
            break;
    }
    return 0;
}

std::vector<float> transpose_weights(const MlpConfig& config, const std::vector<float>& params) {
    std::vector<float> t = params;
    for (const LayerLayout& l : mlp_layout(config))
        for (int k = 0; k < l.in; ++k)
            for (int j = 0; j < l.out; ++j)
                t[l.w_offset + std::size_t(j) * l.in + k] =
                    params[l.w_offset + std::size_t(k) * l.out + j];
    return t;
}

class GlEngine final : public Engine {
  public:
    GlEngine() {
        if (!glad_glDispatchCompute || !glad_glGetIntegerv)
            throw std::runtime_error(
                "the GL engine needs a current OpenGL 4.3 context with loaded "
                "entry points (load_gl_functions)");
        GLint major = 0, minor = 0;
        glGetIntegerv(GL_MAJOR_VERSION, &major);
        glGetIntegerv(GL_MINOR_VERSION, &minor);
        if (major * 10 + minor < 43)
            throw std::runtime_error(
                "the GL engine needs OpenGL 4.3 compute shaders; the context is " +
                std::to_string(major) + "." + std::to_string(minor));
        m_gpu = query_gpu_shape();
        m_shared_bytes = static_cast<std::size_t>(m_gpu.max_shared_bytes);
        m_software = gl_renderer_is_software(gl_renderer_string());
        m_description = "GPU: " + gl_renderer_string() + " (OpenGL " + gl_version_string() + ")";
        m_ring.reserve(std::size_t(k_health + k_health_words) * 4);
        m_ring.zero();
        m_step_stats.reserve(k_stat_words * 4);
    }

    ~GlEngine() override {
        for (auto& f : m_fences) glDeleteSync(static_cast<GLsync>(f.sync));
        drop_params_copy();
    }

    EngineKind kind() const override { return EngineKind::Gl; }
    std::string description() const override { return m_description; }

    // ---- training
    void reset(const TrainConfig& config, const Dataset& source, const Dataset& target) override {
        config.validate();
        drop_pending_losses();
        m_config = config;
        build_programs();
        std::size_t p = m_config.mlp.parameter_count();
        m_params.reserve(p * 4);
        m_params_t.reserve(p * 4);
        m_grads.reserve(p * 4);
        m_moments.reserve(p * 8);
        m_moments.zero();
        m_slots.reserve(p * 24);
        upload_params(mlp_init_params(m_config.mlp, m_config.seed));
        m_step = 0;
        m_read_step = 0;
        m_copied_step = 0;
        m_ring.zero();  // no flag, empty slots, no stale losses
        m_health = TrainHealth{};
        m_slot_step[0] = m_slot_step[1] = -1;
        m_next_slot = 0;
        take_snapshot(true);
        m_pipeline.reset(m_config, source, target, m_config.seed, 0x6f74);
        drop_paired_batches(false);
        sync_pair_mode();
        m_guidance = ClassGuidance{};
        m_particle_classes.clear();
        upload_datasets(source, target);
        m_loss_by_time.fill(std::nanf(""));
        m_losses.clear();
    }

    void set_datasets(const Dataset& source, const Dataset& target) override {
        check_paired(m_config, source, target);
        drop_paired_batches(true);
        m_pipeline.set_data(source, target);
        upload_datasets(source, target);
    }

    // The pools the GPU samples from and the marginal field's targets (the pipeline has its own
    // copies for the batches coupled on the CPU).
    void upload_datasets(const Dataset& source, const Dataset& target) {
        m_source = source;
        m_target = target;
        Rng rng(m_config.seed, 0x706f6f6c);
        Points src = source.kind() == DatasetKind::PointSet ? source.points()
                     : source.kind() == DatasetKind::Normal ? Points(0, 2)
                                                            : source.sample(k_pool_points, rng);
        // A class-conditional network also needs each target point's class (0 for a dataset
        // without classes, as Dataset::sample_into reports); the draws are the same either way.
        const int classes = m_config.mlp.classes;
        std::vector<int> tgt_classes;
        Points tgt;
        if (target.kind() == DatasetKind::PointSet) {
            tgt = target.points();
            if (classes > 0) {
                const std::vector<uint8_t>& labels = target.point_classes();
                tgt_classes.assign(static_cast<std::size_t>(tgt.rows()), 0);
                for (std::size_t i = 0; i < labels.size() && i < tgt_classes.size(); ++i) tgt_classes[i] = labels[i];
            }
        } else {
            tgt.resize(k_pool_points, 2);
            if (classes > 0) tgt_classes.resize(k_pool_points);
            target.sample_into(tgt, rng, classes > 0 ? tgt_classes.data() : nullptr);
        }
        if (tgt.rows() == 0) throw InputError("the target dataset has no points");
        if (source.kind() == DatasetKind::PointSet && src.rows() == 0)
            throw InputError("the source dataset has no points");
        m_source_count = static_cast<unsigned>(src.rows());
        m_target_count = static_cast<unsigned>(tgt.rows());
        const std::size_t points = std::size_t(src.rows() + tgt.rows());
        m_pools.reserve((points + tgt_classes.size()) * 8);
        m_pools.upload(src.data(), std::size_t(src.rows()) * 8, 0);
        m_pools.upload(tgt.data(), std::size_t(tgt.rows()) * 8, std::size_t(src.rows()) * 8);
        // After the points, as (class, 0) pairs: one more binding would pass GL 4.3's minimum
        // of 8 storage blocks per shader, which training already uses.
        m_class_offset = static_cast<unsigned>(points);
        if (!tgt_classes.empty()) {
            std::vector<float> pairs(2 * tgt_classes.size(), 0.0f);
            for (std::size_t i = 0; i < tgt_classes.size(); ++i)
                pairs[2 * i] = static_cast<float>(class_input(tgt_classes[i]));
            m_pools.upload(pairs.data(), pairs.size() * 4, points * 8);
        }
        // The marginal field's targets: the same reference points as the CPU engine.
        Points marginal = marginal_reference_points(target);
        m_marginal_count = static_cast<unsigned>(marginal.rows());
        m_marginal_targets.upload(marginal.data(), std::size_t(marginal.rows()) * 8);
    }

    void set_learning_rate(float lr) override {
        validate_learning_rate(lr);
        m_config.optimizer.lr = lr;
    }

    void set_batch_size(int batch) override {
        validate_batch_size(batch);
        drop_paired_batches(true);
        m_config.batch = batch;
        m_pipeline.set_config(m_config);
        sync_pair_mode();
    }

    void set_coupling(CouplingKind kind, const CouplingOptions& options) override {
        TrainConfig config = with_coupling(m_config, kind, options, m_source, m_target);
        drop_paired_batches(true);
        m_config = std::move(config);
        m_pipeline.set_coupling(kind, options);
        sync_pair_mode();
    }

    const TrainConfig& config() const override { return m_config; }

    void set_guidance(const ClassGuidance& guidance) override {
        guidance.validate(m_config.mlp);
        m_guidance = guidance;
    }
    ClassGuidance guidance() const override { return m_guidance; }
    void set_particle_classes(const std::vector<int>& cycle) override {
        validate_particle_classes(cycle, m_config.mlp);
        m_particle_classes = cycle;
    }

    void train(int steps) override {
        require_reset();
        collect_losses(false);  // a divergence already on the GPU stops this call
        if (m_health.diverged || steps < 1) return;
        take_snapshot(false);
        // Couplings that solve a plan pair the batch on the CPU and upload it, or (entropic
        // plans) pair it on the GPU; the rest sample their rows on the GPU.
        const bool plan = coupling_solves_plan(m_config.coupling);
        const bool gpu_pairs = plan && m_pipeline.leaves_entropic_plans();
        for (int s = 0; s < steps; ++s) {
            int b = m_config.batch;
            if (gpu_pairs) {
                if (m_paired_next == m_paired_count) pair_batches_ahead();
                m_paired_slot = m_paired_next++;
                m_bridge_sigma = m_paired_sigma;
                m_batch_classes = m_paired_classes;
            } else if (plan) {
                upload_batch(m_pipeline.next());  // solved ahead on the pipeline's threads
            }
            run_train_pass(b, !plan, false, true);
            run_reduce(true, true);
            if (m_step % k_snapshot_interval == 0) take_snapshot(false);
            if ((m_step % k_fence_interval) == 0 || s + 1 == steps) push_fence();
            // Never let the GPU overwrite ring entries that were not read back yet.
            if (m_step - m_read_step >= k_ring - 2 * k_fence_interval) {
                collect_losses(true);
                if (m_health.diverged) break;
            }
        }
        glFlush();
    }

    // A diverged engine takes no step and returns NaN.
    float train_on_batch(const Batch& batch) override {
        require_reset();
        int b = check_batch(batch);
        collect_losses(false);
        if (m_health.diverged) return std::nanf("");
        take_snapshot(false);
        upload_batch(batch);
        run_train_pass(b, false, false, true);
        run_reduce(true, true);
        push_fence();
        float stats[k_stat_words];
        glMemoryBarrier(GL_BUFFER_UPDATE_BARRIER_BIT);
        m_readback.read(m_step_stats, stats, sizeof stats);
        // This call waits for the step anyway, so its verdict is read now too.
        uint32_t flag = 0;
        m_readback.read(m_ring, &flag, 4, std::size_t(k_health) * 4);
        if (flag) handle_divergence();
        return stats[0];
    }

    float gradients(const Batch& batch, std::vector<float>& dL_dparams, Points* dL_dx) override {
        require_reset();
        int b = check_batch(batch);
        upload_batch(batch);
        run_train_pass(b, false, dL_dx != nullptr, false);
        run_reduce(false, false);
        glMemoryBarrier(GL_BUFFER_UPDATE_BARRIER_BIT);
        std::size_t p = m_config.mlp.parameter_count();
        dL_dparams.resize(p);
        m_readback.read(m_grads, dL_dparams.data(), p * 4);
        if (dL_dx) {
            dL_dx->resize(b, 2);
            m_readback.read(m_stats, dL_dx->data(), std::size_t(b) * 8, std::size_t(m_dx_offset) * 4);
        }
        float stats[k_stat_words];
        m_readback.read(m_step_stats, stats, sizeof stats);
        return stats[0];
    }

    int64_t step_count() const override { return m_step; }

    std::vector<LossRecord> take_losses() override {
        collect_losses(false);
        std::vector<LossRecord> out(m_losses.begin(), m_losses.end());
        m_losses.clear();
        return out;
    }

    // The CPU engine's statistic: per bin, an exponential moving average of the bin's mean
    // squared error over roughly its last 200 samples; NaN until a bin has samples. It is
    // updated as losses are read back, so it lags like take_losses().
    LossByTime loss_by_time() const override { return m_loss_by_time; }

    TrainHealth health(bool wait) override {
        if (m_programs_built) collect_losses(wait);
        return m_health;
    }

    void acknowledge_divergence() override { m_health.diverged = false; }

    // Always finite: the GPU never writes a non-finite parameter.
    std::vector<float> params() const override {
        std::vector<float> p(m_config.mlp.parameter_count());
        if (!m_programs_built) return p;
        glMemoryBarrier(GL_BUFFER_UPDATE_BARRIER_BIT);
        m_readback.read(m_params, p.data(), p.size() * 4);
        return p;
    }

    // A GPU copy of the weights into a mapped buffer, fenced, read on a later call: the window
    // publishes weights 20 times a second, and a blocking read each time would drain the queue.
    bool recent_params(std::vector<float>& out, int64_t& step) override {
        require_reset();
        const std::size_t bytes = m_config.mlp.parameter_count() * 4;
        bool got = false;
        if (m_params_fence) {
            GLsync sync = static_cast<GLsync>(m_params_fence);
            const GLenum r = glClientWaitSync(sync, GL_SYNC_FLUSH_COMMANDS_BIT, 0);
            if (r != GL_ALREADY_SIGNALED && r != GL_CONDITION_SATISFIED) return false;
            glDeleteSync(sync);
            m_params_fence = nullptr;
            out.resize(bytes / 4);
            std::memcpy(out.data(), m_params_mirror.data(0), bytes);
            m_params_mirror.count_read();
            step = m_params_fence_step;
            got = true;
        }
        m_params_mirror.reserve(bytes);
        m_params_mirror.queue_copy(m_params, 0, bytes);
        m_params_fence = glFenceSync(GL_SYNC_GPU_COMMANDS_COMPLETE, 0);
        m_params_fence_step = m_step;
        return got;
    }

    TrainingState training_state() override {
        require_reset();
        collect_losses(true);  // every queued step done (and a divergence rolled back)
        glFinish();
        glMemoryBarrier(GL_BUFFER_UPDATE_BARRIER_BIT);
        const std::size_t p = m_config.mlp.parameter_count();
        TrainingState s;
        s.params.resize(p);
        m_readback.read(m_params, s.params.data(), p * 4);
        std::vector<float> moments(2 * p);
        m_readback.read(m_moments, moments.data(), 2 * p * 4);  // m | v
        s.adam_m.assign(moments.begin(), moments.begin() + std::ptrdiff_t(p));
        s.adam_v.assign(moments.begin() + std::ptrdiff_t(p), moments.end());
        s.step = m_step;
        // Batches paired ahead but not trained yet are drawn again after a restore.
        s.batch_rng = m_paired_next < m_paired_count ? m_paired_rng[std::size_t(m_paired_next)] : m_pipeline.rng_state();
        return s;
    }

    void set_training_state(const TrainingState& state) override {
        require_reset();
        const std::size_t p = m_config.mlp.parameter_count();
        validate_training_state(state, p);
        collect_losses(true);
        drop_pending_losses();
        upload_params(state.params);
        std::vector<float> moments(state.adam_m);
        moments.insert(moments.end(), state.adam_v.begin(), state.adam_v.end());
        m_moments.upload(moments.data(), 2 * p * 4);
        m_step = state.step;
        m_read_step = state.step;
        m_copied_step = state.step;
        m_losses.clear();
        drop_paired_batches(false);
        m_pipeline.set_rng_state(state.batch_rng);
        // No flag, no stale losses, empty slots: the restored state is the rollback point.
        m_ring.zero();
        m_health.diverged = false;
        m_slot_step[0] = m_slot_step[1] = -1;
        m_next_slot = 0;
        take_snapshot(true);
    }

    void set_params(const std::vector<float>& params) override {
        require_reset();
        if (params.size() != m_config.mlp.parameter_count())
            throw InputError("parameter vector has " + std::to_string(params.size()) +
                             " entries; the network needs " +
                             std::to_string(m_config.mlp.parameter_count()));
        for (float p : params)
            if (!std::isfinite(p)) throw InputError("parameter vector has a non-finite entry");
        collect_losses(true);  // settles a divergence of the old weights first
        upload_params(params);
        // The old snapshots hold other weights: a rollback must never bring them back.
        uint32_t empty[2] = {0, 0};
        m_ring.upload(empty, sizeof empty, std::size_t(k_health + 4) * 4);
        m_slot_step[0] = m_slot_step[1] = -1;
        take_snapshot(true);
    }

    // ---- particles
    void set_particles(const Points& x) override {
        m_particle_count = static_cast<int>(x.rows());
        m_particles.reserve(std::size_t(x.rows()) * 8);
        m_particles.upload(x.data(), std::size_t(x.rows()) * 8);
    }

    int particle_count() const override { return m_particle_count; }

    using Engine::integrate_particles;
    IntegrationStats integrate_particles(float t_a, float t_b,
                                         const IntegrationSettings& settings) override {
        require_reset();
        const SolverKind solver = settings.kind;
        const int steps = settings.steps;
        if (steps < 1) throw InputError("integration needs at least 1 step");
        if (solver_is_adaptive(solver)) return integrate_adaptive(t_a, t_b, settings);
        IntegrationStats stats;
        stats.evaluations = int64_t(steps) * solver_evaluations(solver);
        stats.accepted = steps;
        if (m_particle_count == 0) return stats;
        float h = (t_b - t_a) / static_cast<float>(steps);
        int64_t evals_per_step = int64_t(m_particle_count) * solver_evaluations(solver);
        int chunk = static_cast<int>(
            std::clamp<int64_t>(k_max_evals_per_dispatch / evals_per_step, 1, steps));
        m_field.use();
        set_path_uniforms(m_field);
        set_guidance_uniforms(m_field, true);
        m_field.set("u_mode", 1);
        m_field.set("u_count", static_cast<unsigned>(m_particle_count));
        m_field.set("u_h", h);
        m_field.set("u_solver", solver_index(solver));
        m_params.bind(0);
        m_particles.bind(1);
        m_velocities.reserve(16);
        m_velocities.bind(2);
        bind_field_scratch();
        for (int s0 = 0; s0 < steps; s0 += chunk) {
            int n = std::min(chunk, steps - s0);
            m_field.set("u_t", t_a + static_cast<float>(s0) * h);
            m_field.set("u_steps", n);
            glDispatchCompute(field_groups(m_particle_count), 1, 1);
            glMemoryBarrier(GL_SHADER_STORAGE_BARRIER_BIT);
        }
        // The renderer reads the buffer as vertices next.
        glMemoryBarrier(GL_ALL_BARRIER_BITS);
        return stats;
    }

    // dopri5: the host runs the controller (drive_embedded_pair, as the CPU engine does), the
    // GPU the stages (ode_pair.comp); per step the host reads back one error sum per workgroup.
    IntegrationStats integrate_adaptive(float t_a, float t_b, const IntegrationSettings& settings) {
        validate_tolerance(settings.tolerance);
        if (m_particle_count == 0) return {};
        const ButcherTableau& tab = solver_tableau(settings.kind);
        const std::size_t n = static_cast<std::size_t>(m_particle_count);
        m_stages.reserve(std::size_t(tab.stages) * n * 8);
        m_candidate.reserve(n * 8);
        const unsigned groups = field_groups(m_particle_count);
        m_error_sums.reserve(std::size_t(groups) * 4);
        m_pair.use();
        set_path_uniforms(m_pair);
        set_guidance_uniforms(m_pair, true);
        m_pair.set("u_count", static_cast<unsigned>(n));
        for (int j = 0; j < tab.stages; ++j) {
            const std::string e = "u_e[" + std::to_string(j) + "]";
            m_pair.set(e.c_str(), tab.b[std::size_t(j)] - tab.b_star[std::size_t(j)]);
        }
        struct GpuPair final : EmbeddedPairSteps {
            GlEngine& g;
            const ButcherTableau& tab;
            unsigned groups;
            std::vector<float> sums;
            GpuPair(GlEngine& engine, const ButcherTableau& t, unsigned gr)
                : g(engine), tab(t), groups(gr), sums(gr) {}
            void first_stage(float t) override { g.pair_stage(tab, 0, t, 0.0f, 0.0f, groups); }
            double try_step(float t, float h, float tol) override {
                for (int s = 1; s < tab.stages; ++s) g.pair_stage(tab, s, t, h, tol, groups);
                glMemoryBarrier(GL_BUFFER_UPDATE_BARRIER_BIT);
                g.m_readback.read(g.m_error_sums, sums.data(), sums.size() * 4);
                double sum = 0.0;
                for (float v : sums) sum += double(v);
                return std::sqrt(sum / (2.0 * double(g.m_particle_count)));
            }
            void accept() override {
                const GLsizeiptr bytes = GLsizeiptr(g.m_particle_count) * 8;
                // x = x_new; k_1 = k_7 (FSAL): two copies inside GPU memory.
                glBindBuffer(GL_COPY_READ_BUFFER, g.m_candidate.id());
                glBindBuffer(GL_COPY_WRITE_BUFFER, g.m_particles.id());
                glCopyBufferSubData(GL_COPY_READ_BUFFER, GL_COPY_WRITE_BUFFER, 0, 0, bytes);
                glBindBuffer(GL_COPY_READ_BUFFER, g.m_stages.id());
                glBindBuffer(GL_COPY_WRITE_BUFFER, g.m_stages.id());
                glCopyBufferSubData(GL_COPY_READ_BUFFER, GL_COPY_WRITE_BUFFER,
                                    bytes * (tab.stages - 1), 0, bytes);
                glBindBuffer(GL_COPY_READ_BUFFER, 0);
                glBindBuffer(GL_COPY_WRITE_BUFFER, 0);
                glMemoryBarrier(GL_SHADER_STORAGE_BARRIER_BIT);
            }
        } pair(*this, tab, groups);
        IntegrationStats stats =
            drive_embedded_pair(pair, t_a, t_b, settings.steps, settings.tolerance, false);
        // The renderer reads the buffer as vertices next.
        glMemoryBarrier(GL_ALL_BARRIER_BITS);
        return stats;
    }

    // Dispatches stage s of a step of size h from t over every particle (ode_pair.comp).
    void pair_stage(const ButcherTableau& tab, int s, float t, float h, float tol,
                    unsigned groups) {
        m_pair.use();
        const auto& row = tab.a[std::size_t(s)];
        for (std::size_t j = 0; j < row.size(); ++j) {
            const std::string a = "u_a[" + std::to_string(j) + "]";
            m_pair.set(a.c_str(), row[j]);
        }
        m_pair.set("u_stage", s);
        m_pair.set("u_t", t);
        m_pair.set("u_h", h);
        m_pair.set("u_c", tab.c[std::size_t(s)]);
        const bool last = s == tab.stages - 1;
        m_pair.set("u_last", last ? 1 : 0);
        m_pair.set("u_tol", tol);
        m_params.bind(0);
        m_particles.bind(1);
        m_stages.bind(2);
        bind_field_scratch();
        m_candidate.bind(4);
        m_error_sums.bind(5);
        glDispatchCompute(groups, 1, 1);
        glMemoryBarrier(GL_SHADER_STORAGE_BARRIER_BIT);
    }

    IntegrationStats integrate_particles_sde(float t_a, float t_b, const SdeSettings& settings, uint64_t seed,
                                             uint32_t first_step) override {
        require_reset();
        const float h = sde_step_size(settings, t_a, t_b);
        const int steps = settings.steps;
        IntegrationStats stats;
        stats.evaluations = steps;
        stats.accepted = steps;
        if (m_particle_count == 0) return stats;
        build_sde_program();
        // (t, drift_x, drift_v, noise) per step, as integrate_sde_counter computes them.
        std::vector<float> table(std::size_t(steps) * 4);
        for (int k = 0; k < steps; ++k) {
            const float t = t_a + static_cast<float>(k) * h;
            const SdeStepCoefficients c = sde_step_coefficients(m_config.path, settings.gamma, t, h);
            const float entry[4] = {t, c.drift_x, c.drift_v, c.diffuses ? c.noise : 0.0f};
            std::copy(entry, entry + 4, table.begin() + std::ptrdiff_t(k) * 4);
        }
        m_sde_steps.reserve(table.size() * 4);
        m_sde_steps.upload(table.data(), table.size() * 4);
        const int chunk = static_cast<int>(
            std::clamp<int64_t>(k_max_evals_per_dispatch / int64_t(m_particle_count), 1, steps));
        m_sde.use();
        set_path_uniforms(m_sde);
        set_guidance_uniforms(m_sde, true);
        m_sde.set("u_count", static_cast<unsigned>(m_particle_count));
        m_sde.set("u_h", h);
        m_sde.set("u_seed", static_cast<unsigned>(seed), static_cast<unsigned>(seed >> 32));
        m_sde.set("u_first_step", first_step);
        m_params.bind(0);
        m_particles.bind(1);
        bind_field_scratch();
        m_sde_steps.bind(4);
        for (int s0 = 0; s0 < steps; s0 += chunk) {
            m_sde.set("u_first", s0);
            m_sde.set("u_steps", std::min(chunk, steps - s0));
            glDispatchCompute(field_groups(m_particle_count), 1, 1);
            glMemoryBarrier(GL_SHADER_STORAGE_BARRIER_BIT);
        }
        // The renderer reads the buffer as vertices next.
        glMemoryBarrier(GL_ALL_BARRIER_BITS);
        return stats;
    }

    // mlp_sde.comp with the field kernels' tile and storage, compiled on first use (most engines
    // never run the SDE, and each program costs a JIT on software rasterizers).
    void build_sde_program() {
        if (m_sde.valid() && m_sde_defines == m_field_defines) return;
        m_sde = ComputeProgram("mlp_sde.comp", m_field_defines);
        m_sde_defines = m_field_defines;
    }

    void read_particles(Points& x) const override {
        x.resize(m_particle_count, 2);
        glMemoryBarrier(GL_BUFFER_UPDATE_BARRIER_BIT);
        m_readback.read(m_particles, x.data(), std::size_t(m_particle_count) * 8);
    }

    // ---- fields
    void eval_velocity(const Points& x, float t, Points& v) override {
        require_reset();
        v.resize(x.rows(), 2);
        if (x.rows() == 0) return;
        m_points.upload(x.data(), std::size_t(x.rows()) * 8);
        m_velocities.reserve(std::size_t(x.rows()) * 8);
        m_field.use();
        set_path_uniforms(m_field);
        set_guidance_uniforms(m_field);
        m_field.set("u_mode", 0);
        m_field.set("u_count", static_cast<unsigned>(x.rows()));
        m_field.set("u_t", t);
        m_params.bind(0);
        m_points.bind(1);
        m_velocities.bind(2);
        bind_field_scratch();
        glDispatchCompute(field_groups(static_cast<int>(x.rows())), 1, 1);
        glMemoryBarrier(GL_BUFFER_UPDATE_BARRIER_BIT);
        m_readback.read(m_velocities, v.data(), std::size_t(x.rows()) * 8);
    }

    // ---- the instantaneous change of variables (mlp_divergence.comp)
    void eval_velocity_divergence(const Points& x, float t, Points& v, VectorF& div) override {
        require_reset();
        v.resize(x.rows(), 2);
        div.resize(x.rows());
        if (x.rows() == 0) return;
        const auto n = static_cast<std::size_t>(x.rows());
        build_divergence_program();
        m_points.upload(x.data(), n * 8);
        m_velocities.reserve(n * 8);
        m_divs.reserve(n * 4);
        m_divergence.use();
        set_path_uniforms(m_divergence);
        set_guidance_uniforms(m_divergence);
        m_divergence.set("u_mode", 0);
        m_divergence.set("u_count", static_cast<unsigned>(n));
        m_divergence.set("u_t", t);
        bind_divergence_buffers();
        glDispatchCompute(divergence_groups(x.rows()), 1, 1);
        glMemoryBarrier(GL_BUFFER_UPDATE_BARRIER_BIT);
        m_readback.read(m_velocities, v.data(), n * 8);
        m_readback.read(m_divs, div.data(), n * 4);
    }

    // Every step of every point on the GPU: x and l stay in their buffers between dispatches
    // (one per chunk of k_max_evals_per_dispatch evaluations) and are read back once.
    void integrate_with_divergence(Points& x, VectorF& div_integral, float t_a, float t_b,
                                   SolverKind solver, int steps) override {
        require_reset();
        validate_divergence_integration(solver, steps);
        div_integral.setZero(x.rows());
        if (x.rows() == 0) return;
        const auto n = static_cast<std::size_t>(x.rows());
        build_divergence_program();
        m_points.upload(x.data(), n * 8);
        m_divs.reserve(n * 4);
        m_velocities.reserve(16);
        const float h = (t_b - t_a) / static_cast<float>(steps);
        const int64_t evals_per_step = int64_t(n) * solver_evaluations(solver);
        const int chunk = static_cast<int>(
            std::clamp<int64_t>(k_max_evals_per_dispatch / (3 * evals_per_step), 1, steps));
        m_divergence.use();
        set_path_uniforms(m_divergence);
        set_guidance_uniforms(m_divergence);
        m_divergence.set("u_mode", 1);
        m_divergence.set("u_count", static_cast<unsigned>(n));
        m_divergence.set("u_h", h);
        m_divergence.set("u_solver", solver_index(solver));
        bind_divergence_buffers();
        for (int s0 = 0; s0 < steps; s0 += chunk) {
            m_divergence.set("u_t", t_a + static_cast<float>(s0) * h);
            m_divergence.set("u_steps", std::min(chunk, steps - s0));
            m_divergence.set("u_first", s0 == 0 ? 1 : 0);
            glDispatchCompute(divergence_groups(x.rows()), 1, 1);
            glMemoryBarrier(GL_SHADER_STORAGE_BARRIER_BIT);
        }
        glMemoryBarrier(GL_BUFFER_UPDATE_BARRIER_BIT);
        m_readback.read(m_points, x.data(), n * 8);
        m_readback.read(m_divs, div_integral.data(), n * 4);
    }

    void eval_marginal(const Points& x, float t, Points& v) override {
        require_reset();
        v.resize(x.rows(), 2);
        if (x.rows() == 0) return;
        run_marginal(m_config.path, m_marginal_targets, m_marginal_count, t, x, v, nullptr);
    }

    void eval_marginal_field(const ProbabilityPath& path, const Points& references, float t, const Points& x,
                             Points& v, VectorF& log_p) override {
        require_reset();
        if (references.rows() == 0) throw InputError("marginal velocity: the target has no points");
        v.resize(x.rows(), 2);
        log_p.resize(x.rows());
        if (x.rows() == 0) return;
        m_field_references.upload(references.data(), std::size_t(references.rows()) * 8);
        run_marginal(path, m_field_references, static_cast<unsigned>(references.rows()), t, x, v, &log_p);
    }

    // marginal.comp: the field (and the density) of `count` targets in `targets` at x.
    void run_marginal(const ProbabilityPath& path, GlBuffer& targets, unsigned count, float t, const Points& x,
                      Points& v, VectorF* log_p) {
        PathCoefficients c = path.at(std::clamp(t, 0.0f, 1.0f - 1e-4f));
        m_points.upload(x.data(), std::size_t(x.rows()) * 8);
        m_velocities.reserve(std::size_t(x.rows()) * 8);
        m_log_densities.reserve(std::size_t(std::max<Eigen::Index>(x.rows(), 1)) * 4);
        m_marginal.use();
        m_marginal.set("u_count", static_cast<unsigned>(x.rows()));
        m_marginal.set("u_target_count", count);
        m_marginal.set("u_alpha", c.alpha);
        m_marginal.set("u_sigma", c.sigma);
        m_marginal.set("u_d_alpha", c.d_alpha);
        m_marginal.set("u_d_sigma", c.d_sigma);
        m_marginal.set("u_want_density", log_p ? 1 : 0);
        targets.bind(0);
        m_points.bind(1);
        m_velocities.bind(2);
        m_log_densities.bind(3);
        glDispatchCompute(
            static_cast<unsigned>(std::min<Eigen::Index>((x.rows() + k_wg - 1) / k_wg, 65535)), 1,
            1);
        glMemoryBarrier(GL_BUFFER_UPDATE_BARRIER_BIT);
        m_readback.read(m_velocities, v.data(), std::size_t(x.rows()) * 8);
        if (log_p) m_readback.read(m_log_densities, log_p->data(), std::size_t(x.rows()) * 4);
    }

    unsigned particle_buffer() const { return m_particles.id(); }
    const GlTransferCounters& transfer_counters() const { return m_counters; }
    const GpuShape& gpu_shape() const { return m_gpu; }
    GlGridReport grid_report(int batch) const {
        GlGridReport r{m_gpu, train_grid(batch)};
        r.train_tile = m_tile;
        r.train_wg = m_train_wg;
        r.train_rm = m_train_rm;
        r.train_rn = m_train_rn;
        if (m_wide) {
            r.wide_layers = true;
            r.train_tile = k_wide_gemm_rows;
            r.train_wg = 256;
            r.train_rm = 8;  // gemm_tile.glsl's
            r.train_rn = 4;
            r.grid = TrainGrid{};
            r.grid.groups = wide_slices(batch);
            r.grid.partial_floats = std::size_t(r.grid.groups) * m_config.mlp.parameter_count();
            r.grid.reason = "weight gradient split into " + std::to_string(r.grid.groups) +
                            (r.grid.groups == 1 ? " batch slice" : " batch slices");
        }
        r.field_tile = m_field_tile;
        r.stage_rows = m_stage_kp;
        r.field_in_place = m_field_in_place;
        return r;
    }
    TrainGrid train_grid(int batch) const {
        return choose_train_grid(m_gpu, batch, m_tile, m_train_wg, m_config.mlp.parameter_count(),
                                 m_train_shared_bytes,
                                 m_gpu.sm_count > 0 ? k_partials_budget_sized : k_partials_budget);
    }

  private:
    struct PendingFence {
        void* sync = nullptr;
        int64_t step = 0;
        int health_slot = 0;  // where in the mirror this fence's copy of the health words lands
    };

    void require_reset() const {
        if (!m_programs_built) throw std::logic_error("GL engine used before reset()");
    }

    int check_batch(const Batch& batch) const {
        auto b = batch.x0.rows();
        if (b < 1 || b > 65536 || batch.x1.rows() != b || batch.t.size() != b)
            throw InputError("a batch needs 1..65536 rows with x0, x1 and t of equal length");
        return static_cast<int>(b);
    }

    // x0 | x1 | t, then the bridge noise when the batch carries it and the coupling uses it,
    // then for a class-conditional network each row's class as a float (all the null class when
    // the batch has none, as the CPU engine's forward pass takes it).
    void upload_batch(const Batch& batch) {
        pack_batch(batch, m_batch_data, 0);
        m_uploaded_rows = static_cast<int>(batch.x0.rows());
        // Into a mapped slot the GPU is not reading: no driver copy, no stall behind the
        // dispatches still queued on earlier batches.
        void* slot = m_batch_ring.acquire(m_batch_data.size() * 4);
        std::memcpy(slot, m_batch_data.data(), m_batch_data.size() * 4);
        m_last_batch = LastBatch::Uploaded;
    }

    // Writes the batch into out from `at` on (growing it), in the layout batch_row.glsl reads,
    // and sets the layout's bridge noise and class offset; returns the floats written.
    std::size_t pack_batch(const Batch& batch, std::vector<float>& out, std::size_t at) {
        auto b = static_cast<std::size_t>(batch.x0.rows());
        m_bridge_sigma = m_config.coupling == CouplingKind::SchrodingerBridge &&
                                 static_cast<std::size_t>(batch.noise.rows()) == b
                             ? m_config.coupling_options.sb_sigma
                             : 0.0f;
        m_batch_classes = static_cast<unsigned>((m_bridge_sigma > 0.0f ? 7 : 5) * b);
        const bool classes = m_config.mlp.classes > 0;
        const std::size_t floats = m_batch_classes + (classes ? b : 0);
        out.resize(std::max(out.size(), at + floats));
        float* data = out.data() + at;
        std::memcpy(data, batch.x0.data(), b * 8);
        std::memcpy(data + 2 * b, batch.x1.data(), b * 8);
        std::memcpy(data + 4 * b, batch.t.data(), b * 4);
        if (m_bridge_sigma > 0.0f) std::memcpy(data + 5 * b, batch.noise.data(), b * 8);
        if (classes) {
            const bool labelled = batch.classes.size() == b;
            for (std::size_t i = 0; i < b; ++i)
                data[m_batch_classes + i] = static_cast<float>(class_input(labelled ? batch.classes[i] : -1));
        }
        return floats;
    }

    // The inverse of pack_batch for b rows, packed with bridge noise or not, classes at classes_at.
    Batch unpack_batch(const float* data, int b, bool noise, unsigned classes_at) const {
        Batch batch;
        batch.x0 = Eigen::Map<const Points>(data, b, 2);
        batch.x1 = Eigen::Map<const Points>(data + 2 * b, b, 2);
        batch.t = Eigen::Map<const VectorF>(data + 4 * b, b);
        if (noise) batch.noise = Eigen::Map<const Points>(data + 5 * b, b, 2);
        if (m_config.mlp.classes > 0)
            for (int i = 0; i < b; ++i) batch.classes.push_back(static_cast<int>(data[classes_at + unsigned(i)]));
        return batch;
    }

    // Floats rounded up to a whole number of k_batch_align_floats (a bind_range offset).
    static std::size_t aligned_floats(std::size_t floats) {
        return (floats + k_batch_align_floats - 1) / k_batch_align_floats * k_batch_align_floats;
    }

    // ---- entropic couplings paired on the GPU (sinkhorn_pairs.comp)

    // Rows per plan: a sub-batch of ot_batch, or the whole batch (class groups are smaller).
    int plan_rows() const {
        const int ot = m_config.coupling_options.ot_batch;
        return ot > 0 ? std::min(ot, m_config.batch) : m_config.batch;
    }

    // The entropic couplings' plans go to the GPU where they fit its kernel.
    void sync_pair_mode() {
        const CouplingKind kind = m_config.coupling;
        const bool on = (kind == CouplingKind::Sinkhorn || kind == CouplingKind::SchrodingerBridge) &&
                        plan_rows() <= (m_software ? k_gpu_training_plan_rows_software : k_gpu_plan_rows);
        if (on != m_pipeline.leaves_entropic_plans()) m_pipeline.leave_entropic_plans(on);
    }

    // Forgets the batches paired ahead and not trained yet; `rewind` puts the pipeline's stream
    // back before them, so the next batches are the ones they were.
    void drop_paired_batches(bool rewind) {
        if (rewind && m_paired_next < m_paired_count)
            m_pipeline.set_rng_state(m_paired_rng[std::size_t(m_paired_next)]);
        m_paired_next = m_paired_count = 0;
        m_paired_slot = -1;
    }

    std::size_t packed_stride(int b) const {
        return aligned_floats(std::size_t(b) * ((m_config.coupling == CouplingKind::SchrodingerBridge ? 7 : 5) +
                                                (m_config.mlp.classes > 0 ? 1 : 0)));
    }

    // Draws the next batches uncoupled, uploads them with their jobs (one per class group and
    // sub-batch), and pairs them all in one dispatch into m_paired; steps m_step, m_step + 1, ...
    // then train on them in order.
    void pair_batches_ahead() {
        const int b = m_config.batch;
        const int rows = plan_rows();
        const std::size_t stride = packed_stride(b);
        const int jobs_per_batch = (b + rows - 1) / rows;
        const int wanted = m_gpu.sm_count > 0 ? 4 * m_gpu.sm_count : 8;
        int ahead = std::clamp((wanted + jobs_per_batch - 1) / jobs_per_batch, 1, k_pairs_ahead_max);
        ahead = std::max(1, std::min<int>(ahead, static_cast<int>(k_pairs_ahead_bytes / (stride * 4))));
        m_paired_rng.clear();
        m_pair_jobs.clear();
        m_pair_pack.assign(std::size_t(ahead) * stride, 0.0f);
        for (int k = 0; k < ahead; ++k) {
            m_paired_rng.push_back(m_pipeline.rng_state());
            try {
                pack_batch(m_pipeline.next(), m_pair_pack, std::size_t(k) * stride);
            } catch (...) {
                m_pipeline.set_rng_state(m_paired_rng.front());
                m_paired_next = m_paired_count = 0;
                throw;
            }
            for (const RowGroup& g : m_pipeline.groups())
                for (int begin = g.begin; begin < g.end; begin += rows)
                    m_pair_jobs.insert(m_pair_jobs.end(),
                                       {uint32_t(k), uint32_t(begin), uint32_t(std::min(rows, g.end - begin)), 0u});
        }
        const std::size_t floats = m_pair_pack.size();
        void* slot = m_batch_ring.acquire((floats + m_pair_jobs.size()) * 4);
        std::memcpy(slot, m_pair_pack.data(), floats * 4);
        std::memcpy(static_cast<char*>(slot) + floats * 4, m_pair_jobs.data(), m_pair_jobs.size() * 4);
        m_paired.reserve(floats * 4);
        const unsigned jobs = static_cast<unsigned>(m_pair_jobs.size() / 4);
        SinkhornSettings settings;
        dispatch_pairs(stride, floats, jobs, settings, m_config.seed ^ k_pair_seed_salt, static_cast<uint32_t>(m_step),
                       ahead * b, rows, false);
        m_batch_ring.retire();
        m_paired_sigma = m_bridge_sigma;
        m_paired_classes = m_batch_classes;
        m_paired_stride = stride;
        m_paired_rows = b;
        m_paired_count = ahead;
        m_paired_next = 0;
    }

    // sinkhorn_pairs.comp over the batches and jobs in the ring slot acquired last, into m_paired:
    // the solves in dispatches of a bounded number of sweeps each (the jobs carry their state
    // from one to the next and finished ones return at once), then the pair draws. `rows`: the
    // plans' largest, for the bound.
    void dispatch_pairs(std::size_t stride, std::size_t jobs_offset, unsigned jobs, const SinkhornSettings& settings,
                        uint64_t seed, uint32_t first_step, int rows, int largest, bool write_plan) {
        if (!m_sinkhorn.valid()) m_sinkhorn = ComputeProgram("sinkhorn_pairs.comp", {});
        const std::size_t state_offset = std::size_t(2) * rows;
        m_pair_work.reserve((state_offset + std::size_t(8) * jobs) * 4);
        const int b = m_config.batch;
        const std::size_t plan_floats = write_plan ? std::size_t(rows) * rows : 0;
        m_pair_report.reserve((2 * std::size_t(jobs) + plan_floats) * 4);
        // Sweeps per dispatch: about k_pair_evals_per_dispatch kernel entries per job; on a
        // software rasterizer also within its 65535 loop iterations per invocation (a sweep
        // takes about 4 n (n / 256) of them).
        const double n = std::max(2, largest);
        const double per_sweep = 2.0 * n * n;
        double budget = std::max(1.0, double(k_pair_evals_per_dispatch) / per_sweep);
        if (m_software) budget = std::min(budget, std::max(1.0, 40000.0 / (4.0 * n * std::ceil(n / 256.0) + 64.0)));
        const unsigned sweeps = static_cast<unsigned>(std::min<double>(budget, settings.max_iterations));
        // Every stage after the limit takes one more update: up to 30 stages.
        const int dispatches = (settings.max_iterations + 30 + static_cast<int>(sweeps) - 1) / static_cast<int>(sweeps);
        m_sinkhorn.use();
        m_sinkhorn.set("u_batch", static_cast<unsigned>(write_plan ? rows : b));
        m_sinkhorn.set("u_stride", static_cast<unsigned>(stride));
        m_sinkhorn.set("u_jobs_offset", static_cast<unsigned>(jobs_offset));
        m_sinkhorn.set("u_noise", m_bridge_sigma > 0.0f ? 1 : 0);
        m_sinkhorn.set("u_classes_at", m_config.mlp.classes > 0 && !write_plan ? m_batch_classes : 0u);
        m_sinkhorn.set("u_epsilon", write_plan ? settings.epsilon : Coupler::epsilon_of(m_config.coupling, m_config.coupling_options));
        m_sinkhorn.set("u_tolerance", settings.tolerance);
        m_sinkhorn.set("u_max_sweeps", static_cast<unsigned>(settings.max_iterations));
        m_sinkhorn.set("u_seed", static_cast<unsigned>(seed & 0xffffffffu), static_cast<unsigned>(seed >> 32));
        m_sinkhorn.set("u_first_step", first_step);
        m_sinkhorn.set("u_write_plan", write_plan ? 1 : 0);
        m_sinkhorn.set("u_plan_offset", static_cast<unsigned>(2 * jobs));
        m_sinkhorn.set("u_state_offset", static_cast<unsigned>(state_offset));
        m_sinkhorn.set("u_budget", sweeps);
        m_sinkhorn.set("u_omega", k_sinkhorn_omega);
        m_batch_ring.bind(0);
        m_paired.bind(1);
        m_pair_work.bind(2);
        m_pair_report.bind(3);
        m_sinkhorn.set("u_mode", 0);
        for (int d = 0; d < dispatches; ++d) {
            m_sinkhorn.set("u_fresh", d == 0 ? 1 : 0);
            glDispatchCompute(jobs, 1, 1);
            glMemoryBarrier(GL_SHADER_STORAGE_BARRIER_BIT);
        }
        m_sinkhorn.set("u_mode", 1);
        glDispatchCompute(jobs, 1, 1);
        glMemoryBarrier(GL_SHADER_STORAGE_BARRIER_BIT);
    }

  public:
    // gl_sinkhorn_check: one plan between a and b through the training path's kernel.
    GlSinkhornCheck sinkhorn_check(const Points& a, const Points& b, const SinkhornSettings& settings,
                                   uint64_t seed, uint32_t step) {
        require_reset();
        settings.validate();
        const auto n = static_cast<int>(a.rows());
        const int most = m_software ? k_gpu_plan_rows_software : k_gpu_plan_rows;
        if (n < 2 || n > most || b.rows() != n)
            throw InputError("the GPU plan needs two point sets of equal size, 2.." + std::to_string(most) + " rows");
        const float saved_sigma = m_bridge_sigma;
        m_bridge_sigma = 0.0f;
        const std::size_t stride = aligned_floats(std::size_t(5) * n);
        std::vector<float> pack(stride, 0.0f);
        std::memcpy(pack.data(), a.data(), std::size_t(n) * 8);
        std::memcpy(pack.data() + 2 * n, b.data(), std::size_t(n) * 8);
        const uint32_t job[4] = {0u, 0u, uint32_t(n), 0u};
        void* slot = m_batch_ring.acquire((stride + 4) * 4);
        std::memcpy(slot, pack.data(), stride * 4);
        std::memcpy(static_cast<char*>(slot) + stride * 4, job, sizeof job);
        m_paired.reserve(stride * 4);
        drop_paired_batches(true);  // m_paired is about to be overwritten
        if (m_last_batch == LastBatch::Paired) m_last_batch = LastBatch::None;
        dispatch_pairs(stride, stride, 1, settings, seed, step, n, n, true);
        m_batch_ring.retire();
        m_bridge_sigma = saved_sigma;
        glMemoryBarrier(GL_BUFFER_UPDATE_BARRIER_BIT);
        GlSinkhornCheck check;
        std::vector<float> report(2 + std::size_t(n) * n);
        m_readback.read(m_pair_report, report.data(), report.size() * 4);
        check.sweeps = static_cast<int>(report[0]);
        check.marginal_error = report[1];
        check.plan.assign(report.begin() + 2, report.end());
        std::vector<float> out(std::size_t(4) * n);
        m_readback.read(m_paired, out.data(), out.size() * 4);
        check.x0 = Eigen::Map<const Points>(out.data(), n, 2);
        check.x1 = Eigen::Map<const Points>(out.data() + 2 * n, n, 2);
        return check;
    }

    // gl_last_batch: what the last training step read, when it was not sampled on the GPU.
    std::optional<Batch> last_batch() {
        if (m_last_batch == LastBatch::Uploaded)
            return unpack_batch(m_batch_data.data(), m_uploaded_rows, m_bridge_sigma > 0.0f, m_batch_classes);
        if (m_last_batch != LastBatch::Paired) return std::nullopt;
        glMemoryBarrier(GL_BUFFER_UPDATE_BARRIER_BIT);
        std::vector<float> data(m_paired_stride);
        m_readback.read(m_paired, data.data(), data.size() * 4, std::size_t(m_last_paired_slot) * m_paired_stride * 4);
        return unpack_batch(data.data(), m_last_paired_rows, m_paired_sigma > 0.0f, m_paired_classes);
    }

  private:

    // The one-hot index of a class: the class itself, or the null class (K) for anything outside
    // 0..K-1, as encode_input_row reads it.
    int class_input(int cls) const {
        const int k = m_config.mlp.classes;
        return cls >= 0 && cls < k ? cls : k;
    }

    // The class and guidance scale of a field program in use (field_forward_tile and
    // field_divergence_tile): the unconditional field is the null class.
    // Particle integration (`particles`) also takes the particles' class cycle
    // (set_particle_classes; u_cycle in field_forward_tile).
    void set_guidance_uniforms(ComputeProgram& program, bool particles = false) {
        program.set("u_class", static_cast<unsigned>(class_input(m_guidance.cls)));
        program.set("u_guidance", m_guidance.scale);
        if (m_config.mlp.classes <= 0) return;
        const std::size_t n = particles ? m_particle_classes.size() : 0;
        program.set("u_cycle_len", static_cast<unsigned>(n));
        for (std::size_t k = 0; k < n; ++k)
            program.set(("u_cycle[" + std::to_string(k) + "]").c_str(),
                        static_cast<unsigned>(m_particle_classes[k]));
    }

    void drop_params_copy() {
        if (m_params_fence) glDeleteSync(static_cast<GLsync>(m_params_fence));
        m_params_fence = nullptr;
    }

    void upload_params(const std::vector<float>& p) {
        // Every change of the weights other than a step: a copy in flight is of the old ones.
        drop_params_copy();
        m_params.upload(p.data(), p.size() * 4);
        std::vector<float> t = transpose_weights(m_config.mlp, p);
        m_params_t.upload(t.data(), t.size() * 4);
    }

    // The path and the prediction's conversion (path_coefficients.glsl) for a program in use.
    void set_path_uniforms(ComputeProgram& program) {
        const PathParams& pp = m_config.path.params();
        program.set("u_path", path_index(m_config.path.kind()));
        program.set("u_sigma_min", pp.sigma_min);
        program.set("u_beta_min", pp.beta_min);
        program.set("u_beta_max", pp.beta_max);
        program.set("u_poly_n", pp.poly_n);
        program.set("u_ve_sigma_max", pp.ve_sigma_max);
        const Prediction prediction = m_config.mlp.prediction;
        program.set("u_prediction", static_cast<int>(prediction));
        // The clamp of prediction.h, as the interval t is clamped to.
        program.set("u_pred_tmin", prediction_clamped_time(m_config.path, prediction, -1e30f));
        program.set("u_pred_tmax", prediction_clamped_time(m_config.path, prediction, 1e30f));
    }

    // Chooses the tile and storage and compiles the shaders for the network's shape.
    void build_programs() {
        const MlpConfig& mlp = m_config.mlp;
        int width = mlp.width, in = mlp.input_dim();
        int maxd = std::max(in, width);
        // Activation rows in shared memory are padded to whole vec4s (mlp_tile.glsl's ASTRIDE).
        const int maxd4 = (maxd + 3) / 4 * 4;
        // Per row: two activation rows and s_out, s_in, s_tin, s_u, s_dv, s_loss (10 floats),
        // and s_cls with classes.
        const int row_extra = mlp.classes > 0 ? 11 : 10;
        const int rn = std::min(4, (width + k_tx - 1) / k_tx);
        // Besides the activations: the output layer's partial sums (at most WG floats) and the
        // weight panel of STAGE_KP rows (mlp_tile.glsl).
        auto panel = [&](int kp) { return std::size_t(kp) * k_tx * rn * 4; };
        // The training group has tile / RM warps; its output layer's partial sums take one float
        // per invocation, at least two per row (mlp_tile.glsl's OUT_PARTS).
        auto train_rm = [&](int tile) { return std::min(k_train_outputs / rn, tile); };
        auto train_wg = [&](int tile) { return tile / train_rm(tile) * k_tx; };
        auto shared_need = [&](int tile, bool acts, int kp) {
            return std::size_t(tile) * ((acts ? 2 * maxd4 : 0) + row_extra) * 4 +
                   std::size_t(std::max(train_wg(tile), 2 * tile)) * 4 + panel(kp) + 64;
        };
        // The largest tile whose activations fit beside a 16-row (else 8-row) weight panel; if
        // none does, activations spill to the scratch buffer and the panel stays.
        int tile = 32, stage_kp = 16;
        bool shared_acts = false;
        for (int t : {32, 16}) {
            for (int kp : {16, 8})
                if (!shared_acts && shared_need(t, true, kp) <= m_shared_bytes) {
                    tile = t, stage_kp = kp, shared_acts = true;
                }
        }
        if (!shared_acts) {
            tile = 32;
            stage_kp = shared_need(tile, false, 16) <= m_shared_bytes ? 16 : 0;
        }
        ShaderDefines defines = {
            {"IN_DIM", std::to_string(in)},
            {"WIDTH", std::to_string(width)},
            {"DEPTH", std::to_string(mlp.depth)},
            {"ACT", std::to_string(activation_index(mlp.activation))},
            {"MAXD", std::to_string(maxd)},
            {"TILE", std::to_string(tile)},
            {"WG", std::to_string(train_wg(tile))},
            {"TX", std::to_string(k_tx)},
            {"TY", std::to_string(tile / train_rm(tile))},
            {"RM", std::to_string(train_rm(tile))},
            {"RN", std::to_string(rn)},
            {"KM", std::to_string(k_km)},
            {"SHARED_ACTS", shared_acts ? "1" : "0"},
            {"STAGE_KP", std::to_string(stage_kp)},
            {"IN_PLACE", "0"},
            {"PCOUNT", std::to_string(mlp.parameter_count()) + "u"},
            {"RING", std::to_string(k_ring)},
            {"DYNAMIC_LOOPS", m_software ? "1" : "0"},
            {"CLASSES", std::to_string(mlp.classes)},
        };
        if (m_programs_built && defines == m_defines) return;
        // The shaders compute the layout themselves; it must be core/nn/mlp.h's.
        std::size_t expected = std::size_t(in) * width + width +
                               std::size_t(mlp.depth - 1) * (std::size_t(width) * width + width) +
                               std::size_t(width) * 2 + 2;
        if (expected != mlp.parameter_count())
            throw std::logic_error("GL engine: parameter layout differs from core/nn/mlp.h");
        m_wide = width >= k_wide_width;
        if (m_wide) {
            m_wide_rows = ComputeProgram("wide_rows.comp", defines);
            m_wide_forward = ComputeProgram("wide_forward.comp", defines);
            m_wide_backward = ComputeProgram("wide_backward.comp", defines);
            m_wide_weight_grad = ComputeProgram("wide_weight_grad.comp", defines);
            m_wide_output = ComputeProgram("wide_output.comp", defines);
        } else {
            m_train = ComputeProgram("mlp_train.comp", defines);
        }
        ShaderDefines reduce_defines = defines;
        reduce_defines.push_back({"SUBGROUP", gpu_subgroup_reductions(m_gpu) ? "1" : "0"});
        m_reduce = ComputeProgram("reduce_adam.comp", reduce_defines);
        m_snapshot = ComputeProgram("train_snapshot.comp", defines);
        // The field kernels keep nothing for a backward pass: activations in place, so the
        // largest tile (64, 32 or 16 rows) that fits beside a weight panel; else training's.
        const int field_extra = (mlp.classes > 0 ? 7 : 6);  // s_out, s_in, s_tin, s_err, s_cls
        auto field_need = [&](int t, int kp) {
            return std::size_t(t) * (maxd4 + field_extra) * 4 + std::size_t(k_wg) * 4 + panel(kp) + 64;
        };
        // The field kernels' groups are k_wg invocations (k_ty warps) whatever training uses.
        ShaderDefines field_defines = defines;
        for (auto& [name, value] : field_defines) {
            if (name == "WG") value = std::to_string(k_wg);
            if (name == "TY") value = std::to_string(k_ty);
            if (name == "RM") value = std::to_string(tile / k_ty);
        }
        int field_tile = tile;
        bool in_place = false;
        for (int t : {64, 32, 16})
            for (int kp : {16, 8})
                if (!in_place && field_need(t, kp) <= m_shared_bytes) {
                    field_tile = t, in_place = true;
                    for (auto& [name, value] : field_defines) {
                        if (name == "TILE") value = std::to_string(t);
                        if (name == "RM") value = std::to_string(t / k_ty);
                        if (name == "SHARED_ACTS") value = "1";
                        if (name == "STAGE_KP") value = std::to_string(kp);
                        if (name == "IN_PLACE") value = "1";
                    }
                }
        m_field = ComputeProgram("mlp_field.comp", field_defines);
        m_field_defines = field_defines;  // mlp_sde.comp is built from them when first needed
        m_pair = ComputeProgram("ode_pair.comp", field_defines);
        m_field_tile = field_tile;
        m_field_shared_acts = in_place || shared_acts;
        m_field_in_place = in_place;
        m_marginal = ComputeProgram("marginal.comp", {{"WG", std::to_string(k_wg)}});
        m_defines = defines;
        m_tile = tile;
        m_train_shared_bytes = shared_need(tile, shared_acts, stage_kp);
        m_train_wg = train_wg(tile);
        m_train_rm = train_rm(tile);
        m_train_rn = rn;
        m_stage_kp = stage_kp;
        m_grid_batch = -1;
        m_shared_acts = shared_acts;
        m_programs_built = true;
    }

    void bind_field_scratch() {
        if (m_field_shared_acts) return;
        m_scratch.reserve(std::size_t(k_max_field_groups_spilled) * 2 * m_field_tile *
                          std::max(m_config.mlp.input_dim(), m_config.mlp.width) * 4);
        m_scratch.bind(3);
    }

    // Chooses the divergence tile (16 points, or 8, or 8 spilled to the scratch buffer: a tile
    // holds two 3 PT x max(in, width) activation buffers) and compiles mlp_divergence.comp for
    // it, once per network shape.
    void build_divergence_program() {
        const MlpConfig& mlp = m_config.mlp;
        const int maxd = std::max(mlp.input_dim(), mlp.width);
        const int maxd4 = (maxd + 3) / 4 * 4;  // rows padded to whole vec4s in shared memory
        // Per tile row: two activation rows, s_out, s_in, s_tin (and s_cls with classes); s_div
        // per point.
        const std::size_t row_extra = mlp.classes > 0 ? 24 : 20;
        auto shared_need = [&](int pt) {
            return std::size_t(3 * pt) * (2 * maxd4 * 4 + row_extra) + std::size_t(pt) * 4 +
                   std::size_t(k_wg) * 4 + 64;
        };
        int pt = 16;
        bool shared_acts = true;
        if (shared_need(16) > m_shared_bytes) {
            pt = 8;
            shared_acts = shared_need(8) <= m_shared_bytes;
        }
        // As many partial sums per output dot product as the workgroup has invocations for.
        int split = 1;
        while (3 * pt * split * 2 <= k_wg && split * 2 <= mlp.width) split *= 2;
        ShaderDefines defines = m_defines;
        for (auto& [name, value] : defines) {
            if (name == "TILE") value = std::to_string(3 * pt);
            if (name == "WG") value = std::to_string(k_wg);
            if (name == "TY") value = std::to_string(k_ty);
            if (name == "RM") value = std::to_string(3 * pt / k_ty);
            if (name == "SHARED_ACTS") value = shared_acts ? "1" : "0";
            if (name == "STAGE_KP") value = "0";  // its GEMMs are its own (three rows per point)
        }
        defines.push_back({"PT", std::to_string(pt)});
        defines.push_back({"OUT_SPLIT", std::to_string(split)});
        if (m_divergence.valid() && defines == m_div_defines) return;
        m_divergence = ComputeProgram("mlp_divergence.comp", defines);
        m_div_defines = defines;
        m_div_points = pt;
        m_div_shared_acts = shared_acts;
    }

    void bind_divergence_buffers() {
        m_params.bind(0);
        m_points.bind(1);
        m_velocities.bind(2);
        m_divs.bind(4);
        if (m_div_shared_acts) return;
        const int maxd = std::max(m_config.mlp.input_dim(), m_config.mlp.width);
        m_scratch.reserve(std::size_t(k_max_field_groups_spilled) * 2 * 3 * m_div_points * maxd * 4);
        m_scratch.bind(3);
    }

    unsigned divergence_groups(Eigen::Index n) const {
        const Eigen::Index tiles = (n + m_div_points - 1) / m_div_points;
        const Eigen::Index cap = m_div_shared_acts ? 65535 : k_max_field_groups_spilled;
        return static_cast<unsigned>(std::clamp<Eigen::Index>(tiles, 1, cap));
    }

    unsigned field_groups(int n) const {
        int tiles = (n + m_field_tile - 1) / m_field_tile;
        int cap = m_field_shared_acts ? 65535 : k_max_field_groups_spilled;
        return static_cast<unsigned>(std::clamp(tiles, 1, cap));
    }

    // What batch_row.glsl reads: how this step's rows are sampled or where they were uploaded.
    void set_batch_uniforms(ComputeProgram& program, int b, bool sampled) {
        program.set("u_batch", static_cast<unsigned>(b));
        program.set("u_sampled", sampled ? 1 : 0);
        program.set("u_seed", static_cast<unsigned>(m_config.seed & 0xffffffffu),
                    static_cast<unsigned>(m_config.seed >> 32));
        program.set("u_step", static_cast<unsigned>(m_step));
        program.set("u_source_normal", m_source.kind() == DatasetKind::Normal ? 1 : 0);
        program.set("u_paired", m_config.coupling == CouplingKind::Paired ? 1 : 0);
        program.set("u_bridge_sigma", sampled ? 0.0f : m_bridge_sigma);
        program.set("u_source_offset", 0u);
        program.set("u_source_count", m_source_count);
        program.set("u_target_offset", m_source_count);
        program.set("u_target_count", m_target_count);
        program.set("u_class_offset", m_class_offset);
        program.set("u_batch_classes", m_batch_classes);
        program.set("u_p_uncond", m_config.p_uncond);
        set_path_uniforms(program);
    }

    // The weight-gradient slices of the wide pipeline for b rows: k_wide_slice_rows rows each,
    // more per slice where the slices would pass the gradient-slice budget.
    int wide_slices(int b) const {
        const std::size_t p = m_config.mlp.parameter_count();
        const int most = static_cast<int>(std::max<std::size_t>(1, k_partials_budget / p));
        return std::clamp((b + k_wide_slice_rows - 1) / k_wide_slice_rows, 1, most);
    }

    // One pass of the wide pipeline over b rows: the rows, each hidden layer's forward GEMM,
    // the output layer with the loss, then back: per layer the split weight gradient and the
    // backward GEMM. Leaves what run_train_pass leaves: gradient slices for reduce_adam, the
    // loss statistics (per 32 rows) and dL/dx in m_stats.
    void run_wide_pass(int b, bool sampled, bool want_dx, bool guard) {
        const MlpConfig& mlp = m_config.mlp;
        const std::size_t p = mlp.parameter_count();
        const unsigned rows = static_cast<unsigned>(b);
        const unsigned width = static_cast<unsigned>(mlp.width);
        const int slices = wide_slices(b);
        const unsigned slice_rows = static_cast<unsigned>((b + slices - 1) / slices);
        const int out_groups = (b + k_wide_output_rows - 1) / k_wide_output_rows;
        m_groups = slices;
        m_stat_groups = out_groups;
        m_partials.reserve(std::size_t(slices) * p * 4);
        m_wide_rows_buffer.reserve(std::size_t(b) * 32);
        m_wide_pre.reserve(std::size_t(mlp.depth) * b * width * 4);
        const unsigned half = rows * width;
        m_wide_grads.reserve(std::size_t(2) * half * 4);
        m_dx_offset = static_cast<unsigned>(out_groups * k_stat_words);
        m_stats.reserve((std::size_t(m_dx_offset) + std::size_t(2) * b) * 4);
        if (sampled) m_batch.reserve(16);
        auto barrier = [] { glMemoryBarrier(GL_SHADER_STORAGE_BARRIER_BIT); };
        auto common = [&](ComputeProgram& program) {
            program.use();
            program.set("u_rows", rows);
            program.set("u_guard", guard ? 1 : 0);
        };
        const unsigned row_blocks = (rows + k_wide_gemm_rows - 1) / k_wide_gemm_rows;
        const unsigned col_blocks = (width + k_wide_gemm_cols - 1) / k_wide_gemm_cols;
        m_wide_rows_buffer.bind(1);
        m_wide_pre.bind(2);
        m_wide_grads.bind(3);
        m_ring.bind(7);

        common(m_wide_rows);
        set_batch_uniforms(m_wide_rows, b, sampled);
        m_pools.bind(4);
        bind_batch(5, sampled);
        glDispatchCompute((rows + 255) / 256, 1, 1);
        barrier();

        common(m_wide_forward);
        m_params.bind(0);
        for (int l = 0; l < mlp.depth; ++l) {
            m_wide_forward.set("u_layer", l);
            glDispatchCompute(row_blocks, col_blocks, 1);
            barrier();
        }

        // G_{D-1} into the first half, then the halves in turn.
        unsigned g_in = 0;
        common(m_wide_output);
        m_partials.bind(4);
        m_stats.bind(6);
        m_wide_output.set("u_mode", 0);
        m_wide_output.set("u_g_out", g_in);
        glDispatchCompute(static_cast<unsigned>(out_groups), 1, 1);
        barrier();
        m_wide_output.set("u_mode", 1);
        m_wide_output.set("u_slice_rows", slice_rows);
        glDispatchCompute(static_cast<unsigned>(slices), 1, 1);

        for (int l = mlp.depth - 1; l >= 0; --l) {
            const unsigned in_blocks =
                (static_cast<unsigned>(l == 0 ? mlp.input_dim() : mlp.width) + 1 + k_wide_gemm_cols - 1) /
                k_wide_gemm_cols;
            common(m_wide_weight_grad);
            m_wide_weight_grad.set("u_layer", l);
            m_wide_weight_grad.set("u_g_in", g_in);
            m_wide_weight_grad.set("u_slice_rows", slice_rows);
            m_partials.bind(4);
            glDispatchCompute((width + k_wide_gemm_rows - 1) / k_wide_gemm_rows, in_blocks,
                              static_cast<unsigned>(slices));
            if (l == 0) break;
            common(m_wide_backward);
            m_wide_backward.set("u_layer", l);
            m_wide_backward.set("u_g_in", g_in);
            m_wide_backward.set("u_g_out", half - g_in);
            m_params_t.bind(0);
            glDispatchCompute(row_blocks, col_blocks, 1);
            barrier();
            g_in = half - g_in;
        }
        if (want_dx) {
            common(m_wide_output);
            m_params.bind(0);
            m_stats.bind(6);
            m_wide_output.set("u_mode", 2);
            m_wide_output.set("u_g_out", g_in);
            m_wide_output.set("u_dx_offset", m_dx_offset);
            glDispatchCompute((rows + 255) / 256, 1, 1);
        }
        barrier();
        batch_read(sampled);
    }

    // Dispatches mlp_train.comp over a batch of b rows (sampled on the GPU or from m_batch);
    // a guarded pass (a training step) does nothing once the divergence flag is up. Wide
    // networks take the per-layer pipeline instead (run_wide_pass).
    void run_train_pass(int b, bool sampled, bool want_dx, bool guard) {
        if (m_wide) return run_wide_pass(b, sampled, want_dx, guard);
        const MlpConfig& mlp = m_config.mlp;
        std::size_t p = mlp.parameter_count();
        // Per batch size, not per step: the grid only changes with the batch or the network.
        if (m_grid_batch != b) m_grid = train_grid(b), m_grid_batch = b;
        const int groups = m_grid.groups;
        m_groups = groups;
        m_stat_groups = groups;
        m_partials.reserve(std::size_t(groups) * p * 4);
        std::size_t scratch =
            std::size_t(mlp.depth) * m_tile * mlp.width +
            (m_shared_acts ? 0 : std::size_t(2) * m_tile * std::max(mlp.input_dim(), mlp.width));
        m_scratch.reserve(
            std::max<std::size_t>(std::size_t(groups) * scratch * 4, m_scratch.bytes()));
        m_dx_offset = static_cast<unsigned>(groups * k_stat_words);
        m_stats.reserve((std::size_t(m_dx_offset) + std::size_t(2) * b) * 4);
        // Sampled passes only need the binding to exist.
        if (sampled) m_batch.reserve(16);

        m_train.use();
        set_batch_uniforms(m_train, b, sampled);
        m_train.set("u_want_dx", want_dx ? 1 : 0);
        m_train.set("u_dx_offset", m_dx_offset);
        m_train.set("u_guard", guard ? 1 : 0);
        m_params.bind(0);
        m_params_t.bind(1);
        m_partials.bind(2);
        m_scratch.bind(3);
        m_pools.bind(4);
        bind_batch(5, sampled);
        m_stats.bind(6);
        m_ring.bind(7);
        glDispatchCompute(static_cast<unsigned>(groups), 1, 1);
        glMemoryBarrier(GL_SHADER_STORAGE_BARRIER_BIT);
        batch_read(sampled);
    }

    // The batch a training pass reads: sampled on the GPU (the binding only has to exist), a
    // batch paired on the GPU (m_paired_slot), or the upload ring's last slot.
    void bind_batch(int binding, bool sampled) {
        if (sampled)
            m_batch.bind(binding);
        else if (m_paired_slot >= 0)
            m_paired.bind_range(binding, std::size_t(m_paired_slot) * m_paired_stride * 4, m_paired_stride * 4);
        else
            m_batch_ring.bind(binding);
    }

    // After the pass that read it: an uploaded slot is fenced for reuse.
    void batch_read(bool sampled) {
        if (sampled) {
            m_last_batch = LastBatch::None;
        } else if (m_paired_slot >= 0) {
            m_last_batch = LastBatch::Paired;
            m_last_paired_slot = m_paired_slot;
            m_last_paired_rows = m_paired_rows;
            m_paired_slot = -1;
        } else {
            m_batch_ring.retire();
        }
    }

    // Dispatches reduce_adam.comp: the gradient sum, then an Adam step if `update`.
    void run_reduce(bool update, bool record) {
        std::size_t p = m_config.mlp.parameter_count();
        m_reduce.use();
        m_reduce.set("u_groups", static_cast<unsigned>(m_groups));
        m_reduce.set("u_stat_groups", static_cast<unsigned>(m_stat_groups));
        m_reduce.set("u_update", update ? 1 : 0);
        m_reduce.set("u_record", record ? 1 : 0);
        if (update) {
            ++m_step;
            const OptimizerConfig& o = m_config.optimizer;
            double t = static_cast<double>(m_step);
            m_reduce.set("u_step", static_cast<unsigned>(m_step));
            m_reduce.set("u_beta1", o.beta1);
            m_reduce.set("u_beta2", o.beta2);
            m_reduce.set("u_eps", o.eps);
            double bc1 = 1.0 - std::pow(double(o.beta1), t);
            double bc2 = 1.0 - std::pow(double(o.beta2), t);
            m_reduce.set("u_step_size", static_cast<float>(o.lr / bc1));
            m_reduce.set("u_inv_sqrt_bc2", static_cast<float>(1.0 / std::sqrt(bc2)));
            m_reduce.set("u_keep",
                         o.kind == OptimizerKind::AdamW ? 1.0f - o.lr * o.weight_decay : 1.0f);
        }
        m_params.bind(0);
        m_params_t.bind(1);
        m_partials.bind(2);
        m_moments.bind(3);
        m_grads.bind(4);
        m_ring.bind(5);
        m_stats.bind(6);
        m_step_stats.bind(7);
        glDispatchCompute(static_cast<unsigned>((p + 255) / 256), 1, 1);
        glMemoryBarrier(GL_SHADER_STORAGE_BARRIER_BIT);
    }

    // Queues a copy of the weights and moments into the older slot (skipped on the GPU once the
    // divergence flag is up), unless the newer slot already holds this step.
    void take_snapshot(bool force) {
        if (!force && m_slot_step[1 - m_next_slot] == m_step) return;
        std::size_t p = m_config.mlp.parameter_count();
        m_snapshot.use();
        m_snapshot.set("u_slot", static_cast<unsigned>(m_next_slot));
        m_snapshot.set("u_step", static_cast<unsigned>(m_step));
        m_params.bind(0);
        m_moments.bind(1);
        m_slots.bind(2);
        m_ring.bind(3);
        glDispatchCompute(static_cast<unsigned>((p + 255) / 256), 1, 1);
        glMemoryBarrier(GL_SHADER_STORAGE_BARRIER_BIT);
        m_slot_step[m_next_slot] = m_step;
        m_next_slot = 1 - m_next_slot;
    }

    // The GPU raised the divergence flag: wait for the queue (a no-op on the GPU from the flag on),
    // restore the last good slot, clear the flag and stop until acknowledge_divergence().
    void handle_divergence() {
        glFinish();
        glMemoryBarrier(GL_BUFFER_UPDATE_BARRIER_BIT);
        uint32_t h[k_health_words];
        m_readback.read(m_ring, h, sizeof h, std::size_t(k_health) * 4);
        const int64_t bad_step = h[1];
        const DivergenceCause cause =
            h[2] == 1u ? DivergenceCause::LossNotFinite : DivergenceCause::ParamsNotFinite;
        float loss;
        std::memcpy(&loss, &h[3], 4);
        const int64_t steps[2] = {h[4] ? int64_t(h[4]) - 1 : -1, h[5] ? int64_t(h[5]) - 1 : -1};
        const int slot = rollback_slot(steps, bad_step);
        const std::size_t p = m_config.mlp.parameter_count();
        std::vector<float> state(3 * p);
        m_readback.read(m_slots, state.data(), state.size() * 4, std::size_t(slot) * 3 * p * 4);
        upload_params(std::vector<float>(state.begin(), state.begin() + std::ptrdiff_t(p)));
        m_moments.upload(state.data() + p, 2 * p * 4);
        drop_pending_losses();
        m_step = std::max<int64_t>(steps[slot], 0);
        m_read_step = m_step;
        m_copied_step = m_step;
        // Clears the flag and the stale ring entries; the slots keep what is still valid, and the
        // next snapshot overwrites the other one.
        m_ring.zero();
        m_slot_step[slot] = m_step;
        m_slot_step[1 - slot] =
            steps[1 - slot] >= 0 && steps[1 - slot] <= m_step ? steps[1 - slot] : -1;
        uint32_t tags[2] = {uint32_t(m_slot_step[0] + 1), uint32_t(m_slot_step[1] + 1)};
        m_ring.upload(tags, sizeof tags, std::size_t(k_health + 4) * 4);
        m_next_slot = 1 - slot;
        while (!m_losses.empty() && m_losses.back().step > m_step) m_losses.pop_back();
        record_divergence(m_health, cause, bad_step, m_step, loss);
    }

    // Queues copies of the ring entries written since the last fence and of the health words
    // into the mirror, then the fence that says they have landed: collect_losses reads the
    // mirror without waiting and without reading the whole ring.
    void push_fence() {
        if (static_cast<int>(m_fences.size()) >= k_health_slots - 1) process_oldest_fence(true);
        m_ring_mirror.reserve(std::size_t(k_health + k_health_slots * k_health_words) * 4);
        const int64_t first = std::max(m_copied_step + 1, m_step - k_ring + 1);
        const int64_t entry_bytes = int64_t(k_ring_words) * 4;
        for (int64_t s = first; s <= m_step;) {
            const int64_t index = s % k_ring;
            const int64_t run = std::min<int64_t>(m_step - s + 1, k_ring - index);
            m_ring_mirror.queue_copy(m_ring, std::size_t(index * entry_bytes), std::size_t(run * entry_bytes));
            s += run;
        }
        m_copied_step = std::max(m_copied_step, m_step);
        const int health_slot = static_cast<int>(m_fence_serial++ % k_health_slots);
        m_ring_mirror.queue_copy_to(m_ring, std::size_t(k_health) * 4, std::size_t(k_health_words) * 4,
                                    std::size_t(k_health + health_slot * k_health_words) * 4);
        GLsync sync = glFenceSync(GL_SYNC_GPU_COMMANDS_COMPLETE, 0);
        m_fences.push_back({sync, m_step, health_slot});
    }

    void drop_pending_losses() {
        for (auto& f : m_fences) glDeleteSync(static_cast<GLsync>(f.sync));
        m_fences.clear();
    }

    // Reads the mirrored ring entries of every signalled fence (waiting for them if `wait`).
    void collect_losses(bool wait) {
        while (!m_fences.empty())
            if (!process_oldest_fence(wait)) break;
    }

    // The oldest pending fence's losses and verdict, if it has signalled (or once it has, if
    // `wait`); false if it has not.
    bool process_oldest_fence(bool wait) {
        PendingFence f = m_fences.front();
        GLenum r = glClientWaitSync(static_cast<GLsync>(f.sync), GL_SYNC_FLUSH_COMMANDS_BIT,
                                    wait ? GLuint64(30) * 1000000000ull : 0);
        if (r == GL_TIMEOUT_EXPIRED || r == GL_WAIT_FAILED) return false;
        glDeleteSync(static_cast<GLsync>(f.sync));
        m_fences.pop_front();
        if (f.step <= m_read_step) return true;
        m_ring_mirror.count_read();
        const int64_t first = std::max(m_read_step + 1, f.step - k_ring + 1);
        const auto* words = static_cast<const uint32_t*>(m_ring_mirror.data(0));
        const uint32_t* health = words + k_health + f.health_slot * k_health_words;
        // Steps from the bad one on were not taken (or are rolled back).
        const int64_t bad_step = health[0] ? int64_t(health[1]) : INT64_MAX;
        for (int64_t s = first; s <= f.step && s < bad_step; ++s) {
            const uint32_t* e = &words[std::size_t(s % k_ring) * k_ring_words];
            if (e[0] != static_cast<uint32_t>(s)) continue;  // a gradients() call, not a step
            float v[k_stat_words];
            std::memcpy(v, e + 1, sizeof v);
            m_losses.push_back({s, v[0]});
            for (int q = 0; q < k_loss_time_bins; ++q) {
                float count = v[1 + k_loss_time_bins + q];
                if (count <= 0.0f) continue;
                float mean = v[1 + q] / count;
                float& slot = m_loss_by_time[q];
                float w = std::min(1.0f, count / 200.0f);
                slot = std::isnan(slot) ? mean : (1.0f - w) * slot + w * mean;
            }
        }
        m_read_step = f.step;
        if (health[0]) {
            handle_divergence();
            return false;
        }
        return true;
    }

    // What crossed between host and GPU (gl_transfer_counters), and the ways it crosses.
    GlTransferCounters m_counters;
    mutable GlReadback m_readback{&m_counters};
    GlMirror m_ring_mirror{&m_counters};  // the loss ring and health words, read after fences
    GlUploadRing m_batch_ring{k_batch_slots, &m_counters};  // plan-coupled and explicit batches
    GlMirror m_params_mirror{&m_counters};  // recent_params: weights copied before a fence
    void* m_params_fence = nullptr;
    int64_t m_params_fence_step = 0;

    // The divergence program (mlp_divergence.comp), compiled on first use for the network's
    // shape: PT points per workgroup (tiles of 3 PT rows: values and two tangents), activations
    // in shared memory or spilled to the scratch buffer.
    ComputeProgram m_divergence;
    ShaderDefines m_div_defines;
    int m_div_points = 8;
    bool m_div_shared_acts = true;
    GlBuffer m_divs{&m_counters};

    std::string m_description;
    GpuShape m_gpu;
    TrainGrid m_grid;                      // for m_grid_batch rows (-1: to choose again)
    int m_grid_batch = -1;
    int m_stage_kp = 0;                    // rows of the staged weight panels
    std::size_t m_train_shared_bytes = 0;  // per workgroup of mlp_train.comp
    std::size_t m_shared_bytes = 0;
    int m_train_wg = 128;  // invocations per training workgroup (TILE / RM warps)
    int m_train_rm = 8, m_train_rn = 4;  // its outputs per invocation
    bool m_software =
        false;  // llvmpipe & co: shaders built for a short compile, see mlp_layout.glsl
    TrainConfig m_config;
    Dataset m_source, m_target;
    bool m_programs_built = false;
    ShaderDefines m_defines;
    int m_tile = 32;
    bool m_shared_acts = true;
    int m_field_tile = 32;  // mlp_field.comp and ode_pair.comp: in place where it fits
    bool m_field_shared_acts = true;
    bool m_field_in_place = false;
    ComputeProgram m_train, m_reduce, m_snapshot, m_field, m_marginal;
    // The wide pipeline (width >= k_wide_width), its rows, pre-activations and two halves of
    // layer gradients.
    bool m_wide = false;
    ComputeProgram m_wide_rows, m_wide_forward, m_wide_backward, m_wide_weight_grad, m_wide_output;
    GlBuffer m_wide_rows_buffer{&m_counters}, m_wide_pre{&m_counters}, m_wide_grads{&m_counters};
    ComputeProgram m_pair;  // dopri5's stages (ode_pair.comp)
    // The SDE sampler (mlp_sde.comp), built from the field kernels' defines when first needed,
    // and its per-step table.
    ShaderDefines m_field_defines, m_sde_defines;
    ComputeProgram m_sde;
    GlBuffer m_sde_steps{&m_counters};

    GlBuffer m_params{&m_counters}, m_params_t{&m_counters}, m_moments{&m_counters},
        m_grads{&m_counters}, m_partials{&m_counters}, m_scratch{&m_counters},
        m_pools{&m_counters}, m_batch{&m_counters}, m_stats{&m_counters}, m_ring{&m_counters},
        m_step_stats{&m_counters}, m_particles{&m_counters}, m_points{&m_counters},
        m_velocities{&m_counters}, m_marginal_targets{&m_counters}, m_slots{&m_counters};
    // eval_marginal_field's references and the densities marginal.comp writes
    GlBuffer m_field_references{&m_counters}, m_log_densities{&m_counters};
    // dopri5: k_1..k_7, x_new, error sums
    GlBuffer m_stages{&m_counters}, m_candidate{&m_counters}, m_error_sums{&m_counters};
    unsigned m_source_count = 0, m_target_count = 0, m_marginal_count = 0, m_dx_offset = 0;
    unsigned m_class_offset = 0;   // of the target classes in m_pools, in vec2 entries
    unsigned m_batch_classes = 0;  // of the classes in the uploaded batch, in floats
    int m_groups = 1;       // gradient slices of the last training pass
    int m_stat_groups = 1;  // loss-statistics groups of the last training pass
    int m_particle_count = 0;
    std::vector<float> m_batch_data;

    int64_t m_step = 0;
    int64_t m_read_step = 0;
    int64_t m_copied_step = 0;   // the last step whose ring entry a fence's copy covers
    uint64_t m_fence_serial = 0;  // picks each fence's health slot in the mirror
    std::deque<PendingFence> m_fences;
    std::deque<LossRecord> m_losses;
    LossByTime m_loss_by_time{};

    // Rollback: the step each slot of m_slots was last asked to hold (-1: empty), the slot the
    // next snapshot overwrites, and what the guard found.
    int64_t m_slot_step[2] = {-1, -1};
    int m_next_slot = 0;
    TrainHealth m_health;

    // The plan couplings' batches: the CPU engine's sampler on a stream of its own, solved
    // ahead on producer threads (BatchPipeline) so a step never waits for the assignment.
    BatchPipeline m_pipeline;
    ClassGuidance m_guidance;  // of every field evaluation
    std::vector<int> m_particle_classes;  // set_particle_classes (empty: m_guidance for all)
    float m_bridge_sigma = 0.0f;  // of the uploaded batch (0: no noise in it)
    // The entropic couplings' batches paired on the GPU: m_paired_count packed batches of
    // m_paired_stride floats in m_paired, m_paired_next the next to train on, and the pipeline's
    // stream before each (a saved state or a change of settings goes back to the first not
    // trained). Their layout: m_paired_sigma, m_paired_classes.
    ComputeProgram m_sinkhorn;
    GlBuffer m_paired{&m_counters}, m_pair_work{&m_counters}, m_pair_report{&m_counters};
    std::vector<float> m_pair_pack;
    std::vector<uint32_t> m_pair_jobs;
    std::vector<RngState> m_paired_rng;
    int m_paired_count = 0, m_paired_next = 0;
    int m_paired_slot = -1;       // the slot the pass being set up reads (-1: none)
    int m_last_paired_slot = -1;  // the slot the last pass read
    int m_paired_rows = 0, m_last_paired_rows = 0;  // rows per batch of the paired ones, the last read
    std::size_t m_paired_stride = 0;
    float m_paired_sigma = 0.0f;
    unsigned m_paired_classes = 0;
    enum class LastBatch { None, Uploaded, Paired };
    LastBatch m_last_batch = LastBatch::None;  // what the last training pass read
    int m_uploaded_rows = 0;                   // the last uploaded batch's
};

}  // namespace

std::unique_ptr<Engine> make_gl_engine() {
    return std::make_unique<GlEngine>();
}

unsigned gl_particle_buffer(const Engine& engine) {
    auto* gl = dynamic_cast<const GlEngine*>(&engine);
    return gl ? gl->particle_buffer() : 0;
}

GlTransferCounters gl_transfer_counters(const Engine& engine) {
    auto* gl = dynamic_cast<const GlEngine*>(&engine);
    return gl ? gl->transfer_counters() : GlTransferCounters{};
}

std::optional<GlGridReport> gl_grid_report(const Engine& engine, int batch) {
    auto* gl = dynamic_cast<const GlEngine*>(&engine);
    if (!gl) return std::nullopt;
    return gl->grid_report(batch);
}

std::optional<GlSinkhornCheck> gl_sinkhorn_check(Engine& engine, const Points& a, const Points& b,
                                                 const SinkhornSettings& settings, uint64_t seed, uint32_t step) {
    auto* gl = dynamic_cast<GlEngine*>(&engine);
    if (!gl) return std::nullopt;
    return gl->sinkhorn_check(a, b, settings, seed, step);
}

std::optional<Batch> gl_last_batch(Engine& engine) {
    auto* gl = dynamic_cast<GlEngine*>(&engine);
    if (!gl) return std::nullopt;
    return gl->last_batch();
}


}  // namespace fmp
