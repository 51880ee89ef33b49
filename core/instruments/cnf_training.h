// The contrast the notes draw: the same network trained as a continuous normalizing flow by
// maximum likelihood (simulate the ODE with its divergence, backpropagate through every solver
// step) against flow matching's simulation-free regression. CPU reference implementation.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "core/data/dataset.h"
#include "core/flow/probability_path.h"
#include "core/nn/mlp.h"
#include "core/nn/optimizer.h"

namespace fmp {

struct CnfSettings {
    int ode_steps = 32;  // Euler steps from t = 1 back to 0 (1..256)
    int batch = 256;     // 1..65536
    OptimizerConfig optimizer{OptimizerKind::Adam, 1e-3f};
    uint64_t seed = 1;
    void validate() const;  // throws InputError
};

// Maximum likelihood on target samples x: the loss is the batch mean of
//   -log p_1(x) = -log p_0(z_0) + sum_k h div v_theta(z_k, t_k),
//   z_K = x, z_{k-1} = z_k - h v_theta(z_k, t_k), t_k = k / K, h = 1 / K
// (explicit Euler backward in time: the discretized change of variables), and its exact gradient
// through all K steps (Mlp::divergence_backward at every step, the forward states kept).
// The source must be a normal (scaled by the path's sigma_0, as for the particles).
class CnfTrainer {
public:
    CnfTrainer(const MlpConfig& mlp, const ProbabilityPath& path, const Dataset& source,
               const Dataset& target, const CnfSettings& settings);
    // One Adam step on a fresh batch; returns the batch's discretized NLL (nats per point).
    float step();
    // The loss and its gradient on a given batch, without updating (for tests).
    float loss_and_gradient(const Points& x, std::vector<float>& grad) const;
    const Mlp& mlp() const { return m_mlp; }
    int64_t steps() const { return m_steps; }

private:
    Mlp m_mlp;
    float m_scale = 1.0f;
    Dataset m_target;
    CnfSettings m_settings;
    AdamOptimizer m_adam;
    Rng m_rng;
    std::vector<float> m_grad;
    int64_t m_steps = 0;
};

// The race the window shows: flow matching and the CNF each train a fresh copy of the same
// network (same seed, so the same start) for a budget of training seconds, their held-out NLL
// (exact divergence, 32 RK4 steps, the same evaluator and points for both) marked at training
// times growing geometrically. Times exclude the evaluations.
struct NllMark {
    double seconds = 0;  // training time spent when measured
    int64_t steps = 0;
    double nll = 0;  // nats per held-out point
};
struct CnfRaceSettings {
    double fm_seconds = 10, cnf_seconds = 10;  // training budgets, each in (0, 600]
    bool cnf_stops_at_fm = false;  // the CNF stops once it reaches flow matching's last NLL
    int held_out = 1024;           // evaluation points drawn from the target
    double first_mark = 0.25;      // seconds of training before the first mark after step 0
    double mark_growth = 1.5;      // each further mark this much later (> 1)
    void validate() const;         // throws InputError
};
struct CnfRace {
    std::vector<NllMark> fm, cnf;  // each starts with the shared initial network at step 0
    double fm_step_ms = 0, cnf_step_ms = 0;  // training time per step
    double target_entropy = 0;  // -mean log p_target of the held-out points (NaN if unknown)
    bool cnf_reached = false;   // the CNF's NLL reached flow matching's last
    bool cancelled = false;
};
// Called after every mark with the race so far (FM's marks first, then the CNF's); returning
// false stops the race there.
using CnfRaceObserver = std::function<bool(const CnfRace&)>;
CnfRace race_cnf_with_fm(const MlpConfig& mlp, const ProbabilityPath& path, const Dataset& source,
                         const Dataset& target, const CnfRaceSettings& race,
                         const CnfSettings& settings = {}, const CnfRaceObserver& observer = {});

// The benchmark's summary of a race run with cnf_stops_at_fm (the CNF gets
// `cnf_budget_seconds`).
struct CnfComparison {
    double fm_seconds = 0, fm_steps_per_second = 0, fm_nll = 0;
    int64_t fm_steps = 0;
    double cnf_steps_per_second = 0, cnf_nll = 0;
    int64_t cnf_steps = 0;
    double cnf_seconds = 0;       // training time spent
    bool cnf_reached = false;     // its NLL reached flow matching's within the budget
    double target_entropy = 0;    // NaN unless the target's density is known
};
CnfComparison compare_cnf_with_fm(const MlpConfig& mlp, const Dataset& source, const Dataset& target,
                                  double fm_seconds, double cnf_budget_seconds,
                                  const CnfSettings& settings = {});

}  // namespace fmp
