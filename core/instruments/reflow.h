// Rectified flow (reflow): the pairs a trained flow makes, and how straight and few-step a flow is.
#pragma once
#include <cstdint>

#include "core/data/dataset.h"
#include "core/engine/engine.h"
#include "core/flow/ode_solver.h"
#include "core/flow/probability_path.h"

namespace fmp {

// Reflow (Liu et al., "Flow straight and fast"): integrating a trained flow couples each source
// point x0 with the point x1 it flows to. Training the next flow on these pairs (the Paired
// coupling) gives paths that cross less, so they are straighter and need fewer solver steps;
// generation k + 1 is trained on the pairs of generation k.
inline constexpr int k_max_reflow_pairs = 1'000'000;

struct ReflowPairs {
    // Row i of x0 flows to row i of x1. x0 is the source draw as sampled, not scaled by the path's
    // source_scale() (sigma_0, VE's prior scale): the training batch forms x_t = alpha_t x1 +
    // sigma_t x0 from unscaled source samples, so these pairs train like the source they replace.
    Points x0, x1;
};

// Draws n source points (the draw initial_particles makes for an Rng(seed, 3)), integrates their
// scaled start from t = 0 to t = 1 with the engine's current weights as `settings` says, and
// returns the pairs. Replaces the engine's particles. Throws InputError for n outside
// 1..k_max_reflow_pairs, bad settings, or end points that are not finite (the field overflows).
ReflowPairs generate_reflow_pairs(Engine& engine, const ProbabilityPath& path,
                                  const Dataset& source, int n, const IntegrationSettings& settings,
                                  uint64_t seed);

// What reflow is for, measured on the engine's current weights:
//  - straightness S = int_0^1 E|(X_1 - X_0) - dX_t/dt|^2 dt (metrics.h) of n paths followed with
//    k_straightness_steps midpoint steps, a frame per step: 0 for straight constant-speed paths;
//  - the path energy of the same frames, and its NPE against W2^2 between the (scaled) source
//    draw and n target samples;
//  - the exact W2 between samples made with 1, 2 and 4 Euler steps (from the same source draw)
//    and those n target samples: a straight flow gets as close with 1 step as with 4.
// The source draw is the one generate_reflow_pairs makes for the seed; the target sample is
// independent of it. Replaces the engine's particles. Throws InputError for n outside
// 1..k_max_straightness_points (the exact W2's limit) or non-finite paths.
inline constexpr int k_straightness_steps = 64;
inline constexpr int k_max_straightness_points = 5000;
inline constexpr int k_euler_step_counts[3] = {1, 2, 4};

struct FlowStraightness {
    double straightness = 0.0;
    double path_energy = 0.0;
    double w2_squared = 0.0;  // W2^2(source draw, target sample): the least energy of any flow
    double npe = 0.0;         // |PE - W2^2| / W2^2 (NaN when W2^2 = 0)
    double w2_euler[3] = {0.0, 0.0, 0.0};  // with k_euler_step_counts[j] Euler steps
};

FlowStraightness measure_straightness(Engine& engine, const ProbabilityPath& path,
                                      const Dataset& source, const Dataset& target, int n,
                                      uint64_t seed);

}  // namespace fmp
