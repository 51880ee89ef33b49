// The solver lab: its table on a field with a known answer (a constant velocity), the budgets it
// runs, and on a trained model that evaluations buy quality (RK4 at NFE 64 beats Euler at NFE 1).
#include <doctest/doctest.h>

#include <cmath>

#include "core/base/rng.h"
#include "core/engine/engine.h"
#include "core/instruments/solver_lab.h"
#include "core/metrics/metrics.h"

using namespace fmp;

namespace {

TrainConfig tiny_config() {
    TrainConfig c;
    c.mlp.width = 32;
    c.mlp.depth = 2;
    c.batch = 256;
    c.seed = 4;
    c.optimizer.lr = 3e-3f;
    return c;
}

const SolverLabRun* find_run(const std::vector<SolverLabRun>& runs, SolverKind kind, int64_t nfe) {
    for (const SolverLabRun& r : runs)
        if (r.solver == kind && r.nfe == nfe) return &r;
    return nullptr;
}

}  // namespace

TEST_CASE("solver lab: a constant field v = (d, 0) moves every sample by exactly d") {
    // All weights zero but the output bias: v_theta(x, t) = (d, 0) everywhere, so every solver
    // at every budget maps x0 to x0 + (d, 0) exactly, and dopri5 needs one step (NFE 7).
    Dataset source(DatasetKind::Normal), target(DatasetKind::Moons);
    auto e = make_cpu_engine();
    e->reset(tiny_config(), source, target);
    const float d = 0.75f;
    std::vector<float> p(e->params().size(), 0.0f);
    p[p.size() - 2] = d;
    e->set_params(p);

    SolverLabSettings s;
    s.particles = 400;
    s.seed = 9;
    // The reference is the expected answer, drawn the way the lab draws its starts.
    Rng rng(s.seed, 0x51ab);
    Points x0 = initial_particles(e->config().path, source, s.particles, rng);
    Points shifted = x0;
    shifted.col(0).array() += d;

    std::vector<SolverLabRun> runs = run_solver_lab(*e, source, shifted, s);
    // Euler 7 budgets, midpoint and Heun 6 (NFE 1 is not a whole step), RK4 5, dopri5 one per
    // tolerance.
    CHECK(runs.size() == std::size_t(7 + 6 + 6 + 5) + s.tolerances.size());
    CHECK(solver_lab_run_count(s) == static_cast<int>(runs.size()));
    for (const SolverLabRun& r : runs) {
        CAPTURE(solver_name(r.solver));
        CAPTURE(r.nfe);
        REQUIRE(r.samples.rows() == s.particles);
        CHECK((r.samples - shifted).cwiseAbs().maxCoeff() < 1e-5f);
        CHECK(r.sliced_w2 < 1e-5);
        if (r.solver == SolverKind::Dopri5) {
            CHECK(r.nfe == 7);
            CHECK(r.steps == 1);
        } else {
            CHECK(r.nfe == int64_t(r.steps) * solver_evaluations(r.solver));
        }
    }
    CHECK(find_run(runs, SolverKind::RK4, 2) == nullptr);
    CHECK(find_run(runs, SolverKind::RK4, 4) != nullptr);
    CHECK(find_run(runs, SolverKind::Midpoint, 1) == nullptr);

    // Against the unshifted starts the distance is the shift's: SW2^2 = d^2 E[cos^2] = d^2 / 2.
    s.projections = 4096;
    std::vector<SolverLabRun> far = run_solver_lab(*e, source, x0, s);
    for (const SolverLabRun& r : far)
        CHECK(r.sliced_w2 == doctest::Approx(d / std::sqrt(2.0)).epsilon(0.03));

    // Progress reports every run and can stop the lab.
    int calls = 0;
    std::vector<SolverLabRun> some =
        run_solver_lab(*e, source, shifted, s, [&](int done, int total) {
            ++calls;
            CHECK(total == solver_lab_run_count(s));
            return done < 3;
        });
    CHECK(some.size() == 3);
    CHECK(calls == 3);

    SolverLabSettings bad = s;
    bad.particles = 0;
    CHECK_THROWS_AS(run_solver_lab(*e, source, shifted, bad), InputError);
    bad = s;
    bad.tolerances = {0.0f};
    CHECK_THROWS_AS(run_solver_lab(*e, source, shifted, bad), InputError);
    CHECK_THROWS_AS(run_solver_lab(*e, source, Points(0, 2), s), InputError);
}

TEST_CASE("solver lab: on a trained model more evaluations buy a closer sample") {
    Dataset source(DatasetKind::Normal), target(DatasetKind::EightGaussians);
    auto e = make_cpu_engine();
    e->reset(tiny_config(), source, target);
    e->train(1500);
    Rng rng(31, 2);
    Points reference = target.sample(1000, rng);
    SolverLabSettings s;
    s.particles = 1000;
    std::vector<SolverLabRun> runs = run_solver_lab(*e, source, reference, s);
    const SolverLabRun* euler1 = find_run(runs, SolverKind::Euler, 1);
    const SolverLabRun* euler64 = find_run(runs, SolverKind::Euler, 64);
    const SolverLabRun* rk4_64 = find_run(runs, SolverKind::RK4, 64);
    REQUIRE(euler1);
    REQUIRE(euler64);
    REQUIRE(rk4_64);
    MESSAGE("sliced W2: Euler NFE 1 " << euler1->sliced_w2 << ", Euler NFE 64 "
                                      << euler64->sliced_w2 << ", RK4 NFE 64 "
                                      << rk4_64->sliced_w2);
    // One Euler step lands every sample near the target's mean direction (the field at t = 0 is
    // E[x1 - x0 | x0]): far from 8 separate modes.
    CHECK(rk4_64->sliced_w2 < 0.6 * euler1->sliced_w2);
    CHECK(euler64->sliced_w2 < euler1->sliced_w2);
    // Dopri5's cost grows as its tolerance shrinks, and at its tightest it is as good as RK4.
    int64_t last_nfe = 0;
    const SolverLabRun* tightest = nullptr;
    for (const SolverLabRun& r : runs) {
        if (r.solver != SolverKind::Dopri5) continue;
        CAPTURE(r.tolerance);
        CHECK(r.nfe >= last_nfe);
        last_nfe = r.nfe;
        tightest = &r;
    }
    REQUIRE(tightest);
    MESSAGE("dopri5 at tolerance " << tightest->tolerance << ": NFE " << tightest->nfe
                                   << ", sliced W2 " << tightest->sliced_w2);
    CHECK(tightest->sliced_w2 < rk4_64->sliced_w2 + 0.02);
}
