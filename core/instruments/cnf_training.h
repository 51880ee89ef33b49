// The contrast the notes draw: the same network trained as a continuous normalizing flow by
// maximum likelihood (simulate the ODE with its divergence, backpropagate through every solver
// step) against flow matching's simulation-free regression. CPU reference implementation.
#pragma once
#include <cstdint>
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

// Flow matching for `fm_seconds` on the CPU engine, then the CNF until its held-out NLL (exact
// divergence, 32 RK4 steps, the same evaluator for both) reaches flow matching's or
// `cnf_budget_seconds` of training pass. Times exclude the evaluations.
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
