// Reflow: the pairs a flow makes, the straightness measure, and one reflow straightening a flow.
#include <doctest/doctest.h>

#include <cmath>

#include "core/engine/engine.h"
#include "core/instruments/reflow.h"
#include "core/metrics/metrics.h"

using namespace fmp;

namespace {

TrainConfig small_config(const ProbabilityPath& path, CouplingKind coupling, int width,
                         uint64_t seed) {
    TrainConfig c;
    c.path = path;
    c.mlp.width = width;
    c.mlp.depth = 3;
    c.batch = 256;
    c.seed = seed;
    c.coupling = coupling;
    c.optimizer.lr = 2e-3f;
    return c;
}

// Generation k = 0 trained on the data, then k = 1 on its pairs from k = 0's weights (the same
// number of steps); returns the straightness of both, measured from the original source.
struct ReflowRun {
    FlowStraightness before, after;
};

ReflowRun reflow_once(const Dataset& source, const Dataset& target, int steps, int pairs) {
    const ProbabilityPath path;  // CondOT
    ReflowRun run;
    auto e = make_cpu_engine();
    e->reset(small_config(path, CouplingKind::Independent, 64, 1), source, target);
    e->train(steps);
    REQUIRE_FALSE(e->health(true).diverged);
    run.before = measure_straightness(*e, path, source, target, 1000, 11);
    const std::vector<float> parent = e->params();
    const ReflowPairs p = generate_reflow_pairs(*e, path, source, pairs, {SolverKind::RK4, 16}, 3);
    e->reset(small_config(path, CouplingKind::Paired, 64, 2),
             Dataset::from_points(p.x0, "reflow x0"), Dataset::from_points(p.x1, "reflow x1"));
    e->set_params(parent);
    e->train(steps);
    REQUIRE_FALSE(e->health(true).diverged);
    run.after = measure_straightness(*e, path, source, target, 1000, 11);
    return run;
}

}  // namespace

TEST_CASE("reflow pairs: x0 is the unscaled source draw, x1 where the engine takes its start") {
    const Dataset source(DatasetKind::Normal), target(DatasetKind::Moons);
    for (const char* name : {"condot", "ve"}) {
        CAPTURE(name);
        const ProbabilityPath path = make_path(name);
        auto e = make_cpu_engine();
        e->reset(small_config(path, CouplingKind::Independent, 32, 4), source, target);
        e->train(20);
        const IntegrationSettings settings{SolverKind::RK4, 8};
        const ReflowPairs p = generate_reflow_pairs(*e, path, source, 500, settings, 5);
        REQUIRE(p.x0.rows() == 500);
        REQUIRE(p.x1.rows() == 500);
        // The start is initial_particles' draw for Rng(seed, 3): the source sample times sigma_0
        // (ve_sigma_max = 8 for VE, 1 otherwise); x0 is that sample before the scaling.
        Rng rng(5, 3), same(5, 3);
        const Points start = initial_particles(path, source, 500, rng);
        CHECK(p.x0 == source.sample(500, same));
        CHECK((p.x0 * path.source_scale() - start).cwiseAbs().maxCoeff() == 0.0f);
        if (path.source_scale() != 1.0f) CHECK((p.x0 - start).cwiseAbs().maxCoeff() > 1.0f);
        // x1: the engine's own integration of that start.
        e->set_particles(start);
        e->integrate_particles(0.0f, 1.0f, settings);
        Points end;
        e->read_particles(end);
        CHECK(p.x1 == end);
        // Another seed draws other pairs.
        CHECK(generate_reflow_pairs(*e, path, source, 500, settings, 6).x0 != p.x0);
    }
    auto e = make_cpu_engine();
    const ProbabilityPath path;
    e->reset(small_config(path, CouplingKind::Independent, 32, 4), source, target);
    CHECK_THROWS_AS(generate_reflow_pairs(*e, path, source, 0, {}, 1), InputError);
    CHECK_THROWS_AS(generate_reflow_pairs(*e, path, source, k_max_reflow_pairs + 1, {}, 1),
                    InputError);
    CHECK_THROWS_AS(generate_reflow_pairs(*e, path, source, 10, {SolverKind::RK4, 0}, 1),
                    InputError);
    // Huge (finite) weights overflow the field: refused with a message, not NaN pairs.
    e->set_params(std::vector<float>(e->params().size(), 1e30f));
    CHECK_THROWS_WITH_AS(generate_reflow_pairs(*e, path, source, 10, {}, 1),
                         doctest::Contains("overflows"), InputError);
    CHECK_THROWS_AS(measure_straightness(*e, path, source, target, 10, 1), InputError);
}

TEST_CASE("measure_straightness of a zero field: nothing moves, S = PE = 0, every W2 the same") {
    const Dataset source(DatasetKind::Normal), target(DatasetKind::EightGaussians);
    const ProbabilityPath path;
    auto e = make_cpu_engine();
    e->reset(small_config(path, CouplingKind::Independent, 32, 1), source, target);
    e->set_params(std::vector<float>(e->params().size(), 0.0f));
    const FlowStraightness s = measure_straightness(*e, path, source, target, 300, 2);
    CHECK(s.straightness == 0.0);
    CHECK(s.path_energy == 0.0);
    // The particles stay at the source draw: each W2 is the one between source and target.
    CHECK(s.w2_euler[0] == doctest::Approx(std::sqrt(s.w2_squared)));
    CHECK(s.w2_euler[1] == s.w2_euler[0]);
    CHECK(s.w2_euler[2] == s.w2_euler[0]);
    CHECK(s.npe == doctest::Approx(1.0));
    // Deterministic for the seed.
    const FlowStraightness again = measure_straightness(*e, path, source, target, 300, 2);
    CHECK(again.w2_squared == s.w2_squared);
    CHECK_THROWS_AS(measure_straightness(*e, path, source, target, 0, 1), InputError);
    CHECK_THROWS_AS(
        measure_straightness(*e, path, source, target, k_max_straightness_points + 1, 1),
        InputError);
}

TEST_CASE(
    "normal -> shifted normal: the independent-coupling flow is already straight after one "
    "reflow") {
    // N(0, I) -> N((4, 0), 0.25 I). Under the independent coupling the marginal flow is
    // X_t = t m + sqrt((1-t)^2 + t^2/4) X_0: its spread shrinks non-linearly in t, so k = 0 is
    // slightly curved; its pairs are an affine map, which k = 1 follows in straight lines.
    Rng rng(21, 1);
    Points shifted = Dataset(DatasetKind::Normal).sample(20000, rng) * 0.5f;
    shifted.col(0).array() += 4.0f;
    const Dataset source(DatasetKind::Normal),
        target = Dataset::from_points(shifted, "shifted normal");
    const ReflowRun run = reflow_once(source, target, 2000, 10000);
    const double displacement_sq = 16.0;
    MESSAGE("shifted normal: S " << run.before.straightness << " -> " << run.after.straightness
                                 << "; W2 with 1/2/4 Euler steps " << run.before.w2_euler[0] << "/"
                                 << run.before.w2_euler[1] << "/" << run.before.w2_euler[2]
                                 << " -> " << run.after.w2_euler[0] << "/" << run.after.w2_euler[1]
                                 << "/" << run.after.w2_euler[2]);
    CHECK(run.after.straightness < 1e-2 * displacement_sq);
    CHECK(run.after.straightness < run.before.straightness);
    // Straight paths: one Euler step lands where four do.
    CHECK(std::abs(run.after.w2_euler[0] - run.after.w2_euler[2]) < 0.05);
}

TEST_CASE("S falls by >= 10x from k=0 to k=1 on 8 gaussians") {
    const Dataset source(DatasetKind::Normal), target(DatasetKind::EightGaussians);
    const ReflowRun run = reflow_once(source, target, 3000, 10000);
    MESSAGE("8 gaussians: S0 " << run.before.straightness << ", S1 " << run.after.straightness
                               << " (ratio " << run.before.straightness / run.after.straightness
                               << "); PE " << run.before.path_energy << " -> "
                               << run.after.path_energy << ", W2^2 " << run.before.w2_squared
                               << "; W2 with 1 Euler step " << run.before.w2_euler[0] << " -> "
                               << run.after.w2_euler[0] << ", with 4 " << run.before.w2_euler[2]
                               << " -> " << run.after.w2_euler[2]);
    CHECK(run.after.straightness <= run.before.straightness / 10.0);
    // Fewer steps suffice after reflow: one Euler step gets closer than it did before.
    CHECK(run.after.w2_euler[0] < run.before.w2_euler[0]);
}
