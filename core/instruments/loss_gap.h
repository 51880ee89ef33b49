// FM loss = CFM loss + a constant, measured: both losses of the current network on one fixed
// evaluation batch, per t bin, and the gap between them that the theory says does not depend on
// the network.
#pragma once
#include <cstdint>
#include <vector>

#include "core/engine/engine.h"

namespace fmp {

// A fixed batch drawn once: groups of points sharing one t (so the engine evaluates each group in
// one call), k_loss_time_bins bins of groups_per_bin groups at stratified times. The targets of
// both losses are stored, so a measurement only evaluates the network.
struct EvaluationBatch {
    std::vector<float> times;    // one per group
    std::vector<int> bin;        // the t bin of each group
    std::vector<Points> xt;      // x_t = alpha_t x1 + sigma_t x0
    std::vector<Points> u_cond;  // u_t(x_t | x1) = d_alpha x1 + d_sigma x0 (what CFM regresses on)
    std::vector<Points> u_marg;  // u_t(x_t), the exact marginal (what FM regresses on)
    // The gap the theory predicts: E|u_t(x|x1) - u_t(x)|^2, the posterior variance averaged over
    // p_t (overall and per bin), computed from the same batch.
    double expected_gap = 0.0;
    LossByTime expected_gap_by_t{};
    int points() const;
};

// x0 from a standard normal (sigma_t carries any source scale), x1 uniformly from `targets` (the
// mixture the exact field is computed for), `points_per_group` per group. Deterministic for the
// seed. Throws InputError on empty targets or sizes out of range.
EvaluationBatch make_evaluation_batch(const ProbabilityPath& path, const Points& targets,
                                      int groups_per_bin = 4, int points_per_group = 128,
                                      uint64_t seed = 11);

struct LossGap {
    double cfm = 0.0;  // mean |v - u_cond|^2
    double fm = 0.0;   // mean |v - u_marg|^2 (the p_t-weighted error of the field)
    double gap = 0.0;  // cfm - fm
    LossByTime cfm_by_t{}, fm_by_t{}, gap_by_t{};
};

// Both losses of the engine's current network on the batch.
LossGap measure_loss_gap(Engine& engine, const EvaluationBatch& batch);

}  // namespace fmp
