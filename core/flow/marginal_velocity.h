// The exact marginal velocity u_t(x) of an empirical target under a Gaussian path (the
// marginalization trick): a posterior-weighted average of the conditional velocities.
#pragma once
#include "core/base/types.h"
#include "core/flow/probability_path.h"

namespace fmp {

// For a target that is the uniform mixture of the points y_i and a standard normal source:
//   p_t(x | y_i) = N(x; alpha_t y_i, sigma_t^2 I),
//   u_t(x | y_i) = (d_sigma / sigma) (x - alpha_t y_i) + d_alpha y_i,
//   w_i(x) = softmax_i( -|x - alpha_t y_i|^2 / (2 sigma_t^2) ),
//   u_t(x) = sum_i w_i(x) u_t(x | y_i).
// t is clamped to [0, 1 - 1e-4] so sigma_t > 0 (at t = 1 CondOT's sigma is 0 and u is undefined).
// Cost O(|x| * |y|); both cores are used. For VE, sigma_t already carries the source scale.
void marginal_velocity(const ProbabilityPath& path, const Points& targets, float t, const Points& x,
                       Points& u);

// The same at one point, also returning the posterior weights (for the GUI's "who pulls this
// point" view and the tests).
Eigen::Vector2f marginal_velocity_at(const ProbabilityPath& path, const Points& targets, float t,
                                     Eigen::Vector2f x, VectorF* weights = nullptr);

// The marginal density of the same mixture, log p_t(x) = log (1/n) sum_i N(x; alpha_t y_i,
// sigma_t^2 I), in nats (t clamped likewise). What the error map weights by.
void marginal_log_density(const ProbabilityPath& path, const Points& targets, float t,
                          const Points& x, VectorF& log_p);

}  // namespace fmp
