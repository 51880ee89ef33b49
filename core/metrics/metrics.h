// Distances between point sets: exact W2, sliced W2, MMD, and the path energy of trajectories.
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

}  // namespace fmp
