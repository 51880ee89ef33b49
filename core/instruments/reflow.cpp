// Reflow pairs from a trained flow, and the straightness and few-step quality of a flow.
#include "core/instruments/reflow.h"

#include <string>
#include <vector>

#include "core/metrics/metrics.h"

namespace fmp {

namespace {

void check_finite(const Points& x, const char* what) {
    if (!x.allFinite())
        throw InputError(std::string(what) +
                         ": the model's field overflows (a path is not finite at t = 1); train "
                         "it again with a lower learning rate");
}

// The unscaled source draw and where integration starts from it, from one seed.
void draw_source(const ProbabilityPath& path, const Dataset& source, int n, uint64_t seed,
                 Points& x0, Points& start) {
    Rng rng(seed, 3);
    Rng same = rng;
    x0 = source.sample(n, same);
    // Through initial_particles, so the start is the particles any sampler of this seed begins
    // with, whatever initial_particles does beyond scaling.
    start = initial_particles(path, source, n, rng);
}

}  // namespace

ReflowPairs generate_reflow_pairs(Engine& engine, const ProbabilityPath& path,
                                  const Dataset& source, int n, const IntegrationSettings& settings,
                                  uint64_t seed) {
    if (n < 1 || n > k_max_reflow_pairs)
        throw InputError("reflow pairs: the number of pairs must be in 1.." +
                         std::to_string(k_max_reflow_pairs) + ", got " + std::to_string(n));
    ReflowPairs pairs;
    Points start;
    draw_source(path, source, n, seed, pairs.x0, start);
    engine.set_particles(start);
    engine.integrate_particles(0.0f, 1.0f, settings);
    engine.read_particles(pairs.x1);
    check_finite(pairs.x1, "reflow pairs");
    return pairs;
}

FlowStraightness measure_straightness(Engine& engine, const ProbabilityPath& path,
                                      const Dataset& source, const Dataset& target, int n,
                                      uint64_t seed) {
    if (n < 1 || n > k_max_straightness_points)
        throw InputError("straightness: the number of paths must be in 1.." +
                         std::to_string(k_max_straightness_points) + ", got " + std::to_string(n));
    Points unscaled, start;
    draw_source(path, source, n, seed, unscaled, start);
    Rng target_rng(seed, 5);
    const Points held_out = target.sample(n, target_rng);

    // One engine call per step, so every step's points are a frame (the same times one call over
    // [0, 1] would step through).
    std::vector<Points> frames;
    frames.reserve(k_straightness_steps + 1);
    frames.push_back(start);
    engine.set_particles(start);
    for (int k = 0; k < k_straightness_steps; ++k) {
        const float t_a = static_cast<float>(k) / k_straightness_steps;
        const float t_b =
            k + 1 == k_straightness_steps ? 1.0f : static_cast<float>(k + 1) / k_straightness_steps;
        engine.integrate_particles(t_a, t_b, IntegrationSettings{SolverKind::Midpoint, 1});
        Points x;
        engine.read_particles(x);
        frames.push_back(std::move(x));
    }
    check_finite(frames.back(), "straightness");

    FlowStraightness s;
    s.straightness = straightness(frames);
    s.path_energy = path_energy(frames, 0.0f, 1.0f);
    const double w2 = wasserstein2(start, held_out);
    s.w2_squared = w2 * w2;
    s.npe = normalized_path_energy(s.path_energy, s.w2_squared);
    for (int j = 0; j < 3; ++j) {
        engine.set_particles(start);
        engine.integrate_particles(0.0f, 1.0f,
                                   IntegrationSettings{SolverKind::Euler, k_euler_step_counts[j]});
        Points x;
        engine.read_particles(x);
        check_finite(x, "straightness");
        s.w2_euler[j] = wasserstein2(x, held_out);
    }
    return s;
}

}  // namespace fmp
