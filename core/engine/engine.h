// The engine interface: what the app needs every frame, implemented by the CPU and GL engines.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/base/types.h"
#include "core/data/dataset.h"
#include "core/flow/coupling.h"
#include "core/flow/ode_solver.h"
#include "core/flow/probability_path.h"
#include "core/flow/sde_sampler.h"
#include "core/nn/mlp.h"
#include "core/nn/optimizer.h"

namespace fmp {

// Everything that defines a training run except the datasets themselves.
struct TrainConfig {
    ProbabilityPath path;                                // = CondOT
    CouplingKind coupling = CouplingKind::Independent;
    CouplingOptions coupling_options;                    // OT sub-batch, epsilon, SB sigma
    MlpConfig mlp;                                       // = 3 x 128 SiLU, raw t
    OptimizerConfig optimizer;                           // = Adam, lr 1e-3
    int batch = 256;                                     // 1..65536
    // With mlp.classes > 0: the target's classes condition the network, each row's class
    // replaced by the null class with this probability (classifier-free guidance's dropout).
    float p_uncond = 0.2f;                               // 0..1
    uint64_t seed = 1;
    void validate() const;                               // throws InputError
};

// The live-tunable settings' checks, shared by TrainConfig::validate and the engines' setters.
void validate_batch_size(int batch);         // throws InputError unless 1..65536
void validate_learning_rate(float lr);       // throws InputError unless a number in (0, 1]
// The Paired coupling needs two point sets of equal size (row i of each is a pair); throws
// InputError otherwise. Nothing to check for the other couplings.
void check_paired(const TrainConfig& config, const Dataset& source, const Dataset& target);
// The config with another coupling, checked (options, and pairs for Paired) against the
// datasets being trained on: what Engine::set_coupling applies. Throws InputError.
TrainConfig with_coupling(const TrainConfig& config, CouplingKind kind, const CouplingOptions& options,
                          const Dataset& source, const Dataset& target);

// One explicit training batch: source samples, target samples (already coupled) and times.
// With the Schroedinger-bridge coupling, `noise` holds the bridge's standard normals (one row per
// batch row; see add_bridge_noise); empty, or any other coupling: no bridge noise.
struct Batch {
    Points x0;
    Points x1;
    VectorF t;
    Points noise;
    // Class-conditional networks: each row's class (the null class is config.mlp.classes); empty:
    // every row the null class.
    std::vector<int> classes;
};

// Everything a run continues from exactly (a saved session): the weights, Adam's moments, the
// step, and where the CPU-side batch stream stands (the GL engine's GPU-sampled batches follow
// from the seed and the step). Restored into an engine reset with the same config, the next steps
// are the ones the saved engine would have taken.
struct TrainingState {
    std::vector<float> params, adam_m, adam_v;
    int64_t step = 0;
    RngState batch_rng;
};

struct LossRecord {
    int64_t step = 0;
    float loss = 0.0f;
};

// The CFM loss split by t into equal bins, as a running mean over recent steps.
inline constexpr int k_loss_time_bins = 10;
using LossByTime = std::array<float, k_loss_time_bins>;

enum class EngineKind { Cpu, Gl };

// What made a run diverge: a step whose CFM loss was NaN or inf (the forward pass overflowed; the
// step is not applied), or an update that left a parameter NaN or inf (or its Adam second moment:
// the squared gradient overflowed, which would freeze the weight for good).
enum class DivergenceCause { None, LossNotFinite, ParamsNotFinite };
// "loss not finite", "parameters not finite" ("" for None).
std::string divergence_cause_name(DivergenceCause cause);

// The divergence guard's report. A diverged engine has already put the weights, the Adam moments
// and the step count back to the last good snapshot, and train() does nothing until
// acknowledge_divergence() or reset().
struct TrainHealth {
    bool diverged = false;      // stopped, waiting for acknowledge_divergence()
    DivergenceCause cause = DivergenceCause::None;
    int64_t step = 0;           // the first bad step (1-based, as LossRecord::step)
    int64_t restored_step = 0;  // the last good step: where the weights are now
    float loss = 0.0f;          // that step's loss (NaN or inf when the loss was the cause)
    int divergences = 0;        // since the last reset()
};

// Both engines snapshot the weights and the Adam moments every k_snapshot_interval steps and at
// the start of every train() / train_on_batch() call, alternating between two slots (no
// allocation per step). A divergence at step k condemns the weights of step k - 1 too (step k
// started from them: its loss came from them, and so did the gradient that overflowed, which a
// lower rate would not shrink), so the rollback goes to the newest snapshot s < k - 1. Of two
// distinct slots one always qualifies; the reset state is the last resort.
inline constexpr int64_t k_snapshot_interval = 64;
// The slot (0 or 1) to roll back to, given the slots' steps (-1: empty).
int rollback_slot(const int64_t slot_steps[2], int64_t bad_step);

// The report both engines fill in once their state is back at `restored_step` (they also drop
// the losses of the undone steps): diverged, cause, steps, loss, one more divergence.
void record_divergence(TrainHealth& health, DivergenceCause cause, int64_t bad_step,
                       int64_t restored_step, float loss);

class Engine {
public:
    virtual ~Engine() = default;

    virtual EngineKind kind() const = 0;
    // For the CLI and the status bar: "CPU (2 threads, AVX-512)", "GPU: NVIDIA H100 ...".
    virtual std::string description() const = 0;

    // ---- training
    // Starts over: fresh weights from config.seed, fresh optimizer, step 0.
    virtual void reset(const TrainConfig& config, const Dataset& source, const Dataset& target) = 0;
    // Swaps the datasets while keeping the weights and the optimizer state (drawing on the canvas).
    virtual void set_datasets(const Dataset& source, const Dataset& target) = 0;
    virtual void set_learning_rate(float lr) = 0;
    virtual void set_batch_size(int batch) = 0;
    // Changes how batches are paired from the next step on, keeping the weights and the
    // optimizer state (the coupling's sliders act live). Throws InputError for bad options, or
    // Paired without pair sets.
    virtual void set_coupling(CouplingKind kind, const CouplingOptions& options) = 0;
    virtual const TrainConfig& config() const = 0;
    // The class and guidance scale every field evaluation below uses from now on (particles, arrows,
    // likelihood) for a class-conditional network: the default is the unconditional field.
    // Throws InputError for a class the network does not have or a scale out of 0..10.
    virtual void set_guidance(const ClassGuidance& guidance) = 0;
    virtual ClassGuidance guidance() const = 0;
    // A class-conditional network's particles taking the classes in turn: particle i follows
    // class cycle[i mod cycle.size()] at guidance().scale (what the window and exports draw when
    // particles "follow every class", Mlp::evaluate_class_cycle). Empty (the default; reset()
    // clears it): every particle follows guidance(). Only integrate_particles and
    // integrate_particles_sde read it; the fields on given points follow guidance(). Throws
    // InputError for a class the network lacks or more than k_max_classes entries.
    virtual void set_particle_classes(const std::vector<int>& cycle) = 0;
    // Runs `steps` training steps: sample a batch, couple it, CFM loss and gradients, update.
    virtual void train(int steps) = 0;
    // One step on a given batch (no sampling, no coupling); returns its loss. For tests and for
    // comparing engines on identical data.
    virtual float train_on_batch(const Batch& batch) = 0;
    // The loss and dL/dtheta (and dL/dx, B x 2, if given) of a batch, without updating anything.
    virtual float gradients(const Batch& batch, std::vector<float>& dL_dparams, Points* dL_dx) = 0;
    virtual int64_t step_count() const = 0;
    // Losses of the steps finished since the last call, oldest first (the GL engine reads them
    // back asynchronously, so they can lag a few steps behind step_count()).
    virtual std::vector<LossRecord> take_losses() = 0;
    virtual LossByTime loss_by_time() const = 0;
    // Divergence: each step's loss and updated parameters are checked (the GL engine checks on the
    // GPU, skips the bad update and every later one, and learns of it when losses are read back:
    // here, in take_losses() and at the start of train(); `wait` first waits for every queued
    // step). Losses of the rolled-back steps are dropped; no NaN loss is ever reported.
    virtual TrainHealth health(bool wait = false) = 0;
    // Lets a diverged engine train again from the restored state (after the rate was lowered).
    virtual void acknowledge_divergence() = 0;

    // The state to continue from (the GL engine waits for its queued steps first), and putting
    // one back: throws InputError unless the three vectors have the network's parameter count and
    // are finite (the moments' second one non-negative) and the step is >= 0. The restored state
    // becomes the rollback point; losses not yet taken are dropped.
    virtual TrainingState training_state() = 0;
    virtual void set_training_state(const TrainingState& state) = 0;

    virtual std::vector<float> params() const = 0;
    // Recent weights without waiting for the device, for views that redraw while training runs:
    // true with the weights and the step they belong to when a copy asked for by an earlier call
    // has landed (each call asks for the next one); false when none has yet. The CPU engine's
    // are always the current ones. A reset, set_params, a restored state or a rollback drops a
    // copy still in flight, so what comes back is never an earlier network's.
    virtual bool recent_params(std::vector<float>& out, int64_t& step) {
        out = params();
        step = step_count();
        return true;
    }
    // Throws InputError on a size mismatch or a non-finite entry; the new weights become the
    // rollback point.
    virtual void set_params(const std::vector<float>& params) = 0;

    // ---- particles (the GL engine keeps them in a buffer the renderer draws)
    virtual void set_particles(const Points& x) = 0;
    virtual int particle_count() const = 0;
    // Integrates every particle from t_a to t_b with the learned field, as `settings` says:
    // settings.steps equal steps of a fixed-step solver, or dopri5's adaptive steps at
    // settings.tolerance starting from (t_b - t_a) / steps (see IntegrationSettings). Both
    // engines run dopri5's controller on the host (drive_embedded_pair) and take the same steps;
    // the GL engine computes the stages on the GPU and reads back only the error norm.
    // Returns the field evaluations used (NFE). Throws InputError as integrate_particles does.
    virtual IntegrationStats integrate_particles(float t_a, float t_b,
                                                 const IntegrationSettings& settings) = 0;
    // The same with dopri5 at k_default_tolerance.
    IntegrationStats integrate_particles(float t_a, float t_b, SolverKind solver, int steps) {
        return integrate_particles(t_a, t_b, IntegrationSettings{solver, steps, k_default_tolerance});
    }
    // Integrates every particle from t_a to t_b (forward: t_b > t_a) with the SDE sampler of
    // sde_sampler.h: settings.steps Euler–Maruyama steps of the learned field (at the current
    // guidance) with the score-corrected drift, g(t) = settings.gamma sigma_t. The noise of this
    // call's step k for particle i is counter_normals(seed, first_step + k, i)
    // (core/base/counter_noise.h), drawn alike by both engines, so they agree up to float
    // rounding; a trajectory integrated in slices passes each slice's first global step and draws
    // the noise one call would (integrate_sde_counter is the reference). The step coefficients
    // come from sde_step_coefficients on the host. Returns the field evaluations (one per step).
    // Throws InputError for bad settings or t_b <= t_a.
    virtual IntegrationStats integrate_particles_sde(float t_a, float t_b, const SdeSettings& settings,
                                                     uint64_t seed, uint32_t first_step) = 0;
    virtual void read_particles(Points& x) const = 0;

    // ---- fields on arbitrary points (the arrow grid)
    virtual void eval_velocity(const Points& x, float t, Points& v) = 0;
    // The exact marginal velocity of the current target (its point set, or a fixed sample of an
    // analytic target), for a normal source. See marginal_velocity.h.
    virtual void eval_marginal(const Points& x, float t, Points& v) = 0;
    // The same field for the mixture of any `references` under `path`, with its density
    // log p_t(x) in nats (marginal_log_density): the error map's u_t and weights. Throws
    // InputError for no references.
    virtual void eval_marginal_field(const ProbabilityPath& path, const Points& references, float t,
                                     const Points& x, Points& v, VectorF& log_p) = 0;

    // ---- the instantaneous change of variables (likelihood)
    // v = v_theta(x, t) and its exact divergence div[i] = dv_x/dx + dv_y/dy at row i (the trace
    // of the 2x2 Jacobian, by forward-mode differentiation: exact, not Hutchinson's estimate).
    virtual void eval_velocity_divergence(const Points& x, float t, Points& v, VectorF& div) = 0;
    // Integrates every row of x from t_a to t_b with the learned field (fixed-step solver) and
    // the integral of the divergence along each path beside it, as one augmented ODE
    //   dx/dt = v(x, t),  dl/dt = div v(x, t),  l(t_a) = 0:  div_integral[i] = l_i(t_b).
    // From t_a = 1 to t_b = 0: log p_1(x) = log p_0(x(0)) + div_integral (see likelihood.h).
    virtual void integrate_with_divergence(Points& x, VectorF& div_integral, float t_a, float t_b,
                                           SolverKind solver, int steps) = 0;
};

// The CPU engine (Eigen, both cores).
std::unique_ptr<Engine> make_cpu_engine();

// Where integration starts: n source samples times path.source_scale() (sigma_0; 1 for every
// path but VE). Deterministic for the rng.
Points initial_particles(const ProbabilityPath& path, const Dataset& source, int n, Rng& rng);

// The points the exact marginal field is computed from: the target's own points (at most
// max_points, a deterministic subsample beyond that), or a fixed sample of an analytic target.
Points marginal_reference_points(const Dataset& target, int max_points = 2048, uint64_t seed = 7);

// The checks set_training_state makes, shared by both engines; throws InputError.
void validate_training_state(const TrainingState& state, std::size_t parameter_count);

// The checks set_particle_classes makes, shared by both engines; throws InputError.
void validate_particle_classes(const std::vector<int>& cycle, const MlpConfig& mlp);

// Names: "cpu", "gl", "auto".
std::string engine_kind_name(EngineKind kind);

}  // namespace fmp
