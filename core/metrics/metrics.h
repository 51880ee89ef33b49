// Distances between point sets: exact W2, sliced W2, MMD; path energy and straightness of paths.
#pragma once
#include <cstdint>
#include <vector>

#include "core/base/types.h"

namespace fmp {

// Exact 2-Wasserstein distance between the uniform empirical measures on a and b (sizes may
// differ), solved as a min-cost flow (LEMON network simplex) on squared Euclidean costs.
// Returns W2 (the square root of the optimal mean squared distance). Throws InputError if a set is
// empty or larger than 5000 points.
double wasserstein2(const Points& a, const Points& b);

// Sliced W2: the root mean over `projections` random directions of the 1D W2^2 of the projected
// sets (sizes may differ: quantiles are matched). Deterministic for the seed.
double sliced_wasserstein2(const Points& a, const Points& b, int projections = 256, uint64_t seed = 1);

// Squared MMD (unbiased U-statistic) with a Gaussian kernel of bandwidth `bandwidth`
// (<= 0: the median pairwise distance heuristic).
double mmd2(const Points& a, const Points& b, double bandwidth = -1.0);

// Mean over particles of sum_k |x_{k+1} - x_k|^2 / dt: the kinetic energy of trajectories
// (straight constant-speed paths minimise it). trajectory[k] is the set at step k, dt = 1/steps.
double path_energy(const std::vector<Points>& trajectory);

// The same over frames at equally spaced times from t_a to t_b (t_b > t_a), dt = (t_b - t_a) /
// (frames - 1): the path energy PE = E[int |v(x_t, t)|^2 dt] of the piecewise-linear paths
// through the frames. Exact for paths straight at constant speed between frames; for curved
// ones it is a lower bound (|dx|^2 / dt <= int |v|^2 dt by Cauchy-Schwarz) that converges as the
// frames get denser. Energies of consecutive time intervals add up, so a long run can be summed
// segment by segment without keeping its frames. Throws InputError on fewer than 2 frames,
// sets of different sizes, no particles, or t_b <= t_a.
double path_energy(const std::vector<Points>& frames, float t_a, float t_b);

// The normalised path energy NPE = |PE - W2^2(p0, p1)| / W2^2(p0, p1) (Tong et al. 2023): 0 when
// the flow moves every particle straight at constant speed along the optimal transport map (the
// least energy any flow from p0 to p1 can have). w2_squared is W2^2, the square of what
// wasserstein2() returns. NaN when w2_squared is not positive (p0 = p1: not defined).
double normalized_path_energy(double path_energy, double w2_squared);

// The straightness of a flow (Liu et al., rectified flow): S = int_0^1 E|(X_1 - X_0) - dX_t/dt|^2
// dt, 0 exactly when every particle moves straight at constant speed. trajectory[k] is the set at
// t_k = k / K (K = frames - 1), and the velocity on step k is the chord's, K (X_{k+1} - X_k) (the
// piecewise-linear path through the solver's points), so
//   S = (1/K) sum_k mean_i |(X_K - X_0)_i - K (X_{k+1} - X_k)_i|^2,
// which equals the path energy of those frames minus E|X_1 - X_0|^2: a path that bends pays for
// the bend in extra energy. Throws InputError on fewer than 2 frames, sets of different sizes, or
// no particles.
double straightness(const std::vector<Points>& trajectory);

}  // namespace fmp
