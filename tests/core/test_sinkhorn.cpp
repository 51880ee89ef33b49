// Tests for the entropic OT solver: marginals, closed forms, the exact-OT and independent limits,
// stability at tiny epsilon, pair sampling and bad input.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>

#include "core/base/rng.h"
#include "core/data/dataset.h"
#include "core/flow/coupling.h"
#include "core/flow/sinkhorn.h"

using namespace fmp;

namespace {

Points normal_points(int n, Rng& rng, float scale = 1.0f, float cx = 0.0f, float cy = 0.0f) {
    Points p(n, 2);
    for (int i = 0; i < n; ++i) {
        p(i, 0) = cx + scale * rng.normal();
        p(i, 1) = cy + scale * rng.normal();
    }
    return p;
}

double cost_of(const Points& a, const Points& b, int i, int j) {
    const double dx = double(a(i, 0)) - b(j, 0), dy = double(a(i, 1)) - b(j, 1);
    return dx * dx + dy * dy;
}

struct Marginals {
    double row_error = 0.0, col_error = 0.0, total = 0.0;
    bool finite_nonnegative = true;
};

// Row and column sums of a plan, recomputed here in double, against 1/n and 1/m.
Marginals marginals_of(const SinkhornSolver& s) {
    const int n = s.rows(), m = s.cols();
    const std::vector<float>& p = s.plan();
    REQUIRE(p.size() == std::size_t(n) * std::size_t(m));
    Marginals r;
    std::vector<double> col(std::size_t(m), 0.0);
    for (int i = 0; i < n; ++i) {
        double row = 0.0;
        for (int j = 0; j < m; ++j) {
            const float x = p[std::size_t(i) * m + j];
            if (!(std::isfinite(x) && x >= 0.0f)) r.finite_nonnegative = false;
            row += x;
            col[std::size_t(j)] += x;
        }
        r.row_error = std::max(r.row_error, std::fabs(row * n - 1.0));
        r.total += row;
    }
    for (int j = 0; j < m; ++j)
        r.col_error = std::max(r.col_error, std::fabs(col[std::size_t(j)] * m - 1.0));
    return r;
}

double plan_cost(const SinkhornSolver& s, const Points& a, const Points& b) {
    double c = 0.0;
    for (int i = 0; i < s.rows(); ++i)
        for (int j = 0; j < s.cols(); ++j)
            c += s.plan()[std::size_t(i) * s.cols() + j] * cost_of(a, b, i, j);
    return c;
}

SinkhornSettings settings_for(float epsilon, int max_iterations = 2000, float tolerance = 1e-4f) {
    SinkhornSettings s;
    s.epsilon = epsilon;
    s.max_iterations = max_iterations;
    s.tolerance = tolerance;
    return s;
}

}  // namespace

TEST_CASE("sinkhorn plans meet their marginals for epsilon 1e-3..10 and unequal sizes") {
    Rng rng(1);
    SinkhornSolver solver;  // one solver across sizes: buffers are reused when sizes change
    const Dataset gaussians(DatasetKind::EightGaussians), moons(DatasetKind::Moons);
    const int sizes[][2] = {{50, 80}, {80, 50}, {64, 64}, {17, 33}, {1, 9}, {9, 1}};
    for (const auto& size : sizes) {
        for (float eps : {1e-3f, 1e-2f, 0.05f, 0.3f, 1.0f, 10.0f}) {
            const Points a = normal_points(size[0], rng);
            const Points b = (size[1] % 2 ? moons : gaussians).sample(size[1], rng);
            CAPTURE(size[0]);
            CAPTURE(size[1]);
            CAPTURE(eps);
            const SinkhornReport& r = solver.solve(a, b, settings_for(eps, 20000));
            REQUIRE(solver.rows() == size[0]);
            REQUIRE(solver.cols() == size[1]);
            CHECK(r.converged);
            CHECK(r.iterations <= 20000);
            CHECK(r.marginal_error <= 1e-4);
            const Marginals mg = marginals_of(solver);
            CHECK(mg.finite_nonnegative);
            // The report describes the plan it returns (up to the order of float summation).
            CHECK(std::max(mg.row_error, mg.col_error) <= 1.01e-4);
            CHECK(std::max(mg.row_error, mg.col_error) ==
                  doctest::Approx(r.marginal_error).epsilon(0.05).scale(1e-6));
            CHECK(mg.total == doctest::Approx(1.0).epsilon(1e-4));
            CHECK(r.transport_cost == doctest::Approx(plan_cost(solver, a, b)).epsilon(1e-5));
        }
    }
}

// With uniform weights 1/2 the 2 x 2 plan is [[p, 1/2 - p], [1/2 - p, p]], and scaling rows and
// columns leaves the cross ratio P11 P22 / (P12 P21) equal to the kernel's, exp(-d / eps) with
// d = C11 + C22 - C12 - C21. So p / (1/2 - p) = r := exp(-d / (2 eps)), p = r / (2 (1 + r)).
TEST_CASE("sinkhorn matches the closed-form 2 x 2 entropic plan") {
    Rng rng(2);
    SinkhornSolver solver;
    for (int trial = 0; trial < 40; ++trial) {
        const Points a = normal_points(2, rng), b = normal_points(2, rng);
        const float eps =
            std::array<float, 5>{0.05f, 0.2f, 0.5f, 1.0f, 4.0f}[std::size_t(trial % 5)];
        const double d =
            cost_of(a, b, 0, 0) + cost_of(a, b, 1, 1) - cost_of(a, b, 0, 1) - cost_of(a, b, 1, 0);
        const double ratio = std::exp(-d / (2.0 * eps));
        const double p = ratio / (2.0 * (1.0 + ratio));
        CAPTURE(eps);
        CAPTURE(d);
        const SinkhornReport& r = solver.solve(a, b, settings_for(eps, 2000, 1e-6f));
        REQUIRE(r.converged);
        const std::vector<float>& plan = solver.plan();
        CHECK(std::fabs(plan[0] - p) <= 1e-5);
        CHECK(std::fabs(plan[3] - p) <= 1e-5);
        CHECK(std::fabs(plan[1] - (0.5 - p)) <= 1e-5);
        CHECK(std::fabs(plan[2] - (0.5 - p)) <= 1e-5);
    }
    SUBCASE("the symmetric configuration: p / (1/2 - p) = exp((C12 - C11) / eps)") {
        Points a(2, 2), b(2, 2);
        a << 0.0f, 0.0f, 2.0f, 0.0f;
        b << 0.0f, 0.5f, 2.0f, 0.5f;  // C11 = C22 = 0.25, C12 = C21 = 4.25
        const float eps = 1.5f;
        const double e = std::exp((4.25 - 0.25) / eps), p = 0.5 * e / (1.0 + e);
        solver.solve(a, b, settings_for(eps, 2000, 1e-6f));
        CHECK(std::fabs(solver.plan()[0] - p) <= 1e-5);
        CHECK(std::fabs(solver.plan()[3] - p) <= 1e-5);
        CHECK(solver.plan()[0] ==
              doctest::Approx(0.4674).epsilon(1e-3));  // by hand: e^(8/3) / (2 (1 + e^(8/3)))
    }
}

// The plan's defining property beyond its marginals: log P_ij = (f_i + g_j - C_ij) / eps, so for
// any rows i, k and columns j, l the log cross ratio of P is minus that of C over eps.
TEST_CASE("sinkhorn plan has the Gibbs form of the entropic optimum") {
    Rng rng(3);
    const Points a = normal_points(20, rng), b = Dataset(DatasetKind::Moons).sample(30, rng);
    SinkhornSolver solver;
    const float eps = 1.0f;  // costs here reach ~30: every entry stays far above float's range
    REQUIRE(solver.solve(a, b, settings_for(eps)).converged);
    const auto logp = [&](int i, int j) {
        return std::log(double(solver.plan()[std::size_t(i) * 30 + j]));
    };
    double worst = 0.0;
    for (int q = 0; q < 2000; ++q) {
        const int i = int(rng.below(20)), k = int(rng.below(20)), j = int(rng.below(30)),
                  l = int(rng.below(30));
        const double lhs = logp(i, j) + logp(k, l) - logp(i, l) - logp(k, j);
        const double rhs = -(cost_of(a, b, i, j) + cost_of(a, b, k, l) - cost_of(a, b, i, l) -
                             cost_of(a, b, k, j)) /
                           eps;
        worst = std::max(worst, std::fabs(lhs - rhs));
    }
    CHECK(worst < 1e-3);
    // A plan with the right marginals but not of this form fails the check: the independent
    // product has log cross ratio 0.
    double independent = 0.0;
    for (int q = 0; q < 200; ++q) {
        const int i = int(rng.below(20)), k = int(rng.below(20)), j = int(rng.below(30)),
                  l = int(rng.below(30));
        independent = std::max(independent, std::fabs((cost_of(a, b, i, j) + cost_of(a, b, k, l) -
                                                       cost_of(a, b, i, l) - cost_of(a, b, k, j)) /
                                                      eps));
    }
    CHECK(independent > 1.0);
}

TEST_CASE("as epsilon shrinks the plan converges to the exact optimal assignment") {
    Rng rng(4);
    const int n = 64;
    const Points a = normal_points(n, rng), b = Dataset(DatasetKind::EightGaussians).sample(n, rng);
    const std::vector<int> perm = optimal_assignment(a, b);
    double exact = 0.0;  // the permutation plan has mass 1/n on each matched pair
    for (int i = 0; i < n; ++i) exact += cost_of(a, b, i, perm[std::size_t(i)]) / n;
    SinkhornSolver solver;
    double previous = INFINITY;
    for (float eps : {4.0f, 1.0f, 0.1f, 0.01f, 1e-3f}) {
        CAPTURE(eps);
        const SinkhornReport& r = solver.solve(a, b, settings_for(eps, 20000));
        REQUIRE(r.converged);
        // Exact OT is the least cost of any coupling; entropy costs at most eps log m more
        // (<P, C> - eps H(P) <= OT - eps log n and H(P) <= log n + log m).
        CHECK(r.transport_cost >= exact * (1.0 - 1e-4));
        CHECK(r.transport_cost <= exact + eps * std::log(double(n)) + 1e-3 * exact);
        // And the entropic cost only falls as eps does.
        CHECK(r.transport_cost <= previous * (1.0 + 1e-4));
        previous = r.transport_cost;
    }
    // At eps = 1e-3 (costs here are ~1..30): within 1% of the optimum, and almost every row puts
    // its largest entry on its partner in the exact assignment.
    CHECK(previous <= exact * 1.01);
    int agree = 0;
    for (int i = 0; i < n; ++i) {
        const float* row = solver.plan().data() + std::size_t(i) * n;
        agree += int(std::max_element(row, row + n) - row) == perm[std::size_t(i)];
    }
    CHECK(agree >= n * 9 / 10);
}

TEST_CASE("as epsilon grows the plan approaches the independent product") {
    Rng rng(5);
    const Points a = normal_points(30, rng),
                 b = Dataset(DatasetKind::EightGaussians).sample(40, rng);
    SinkhornSolver solver;
    // Costs here are below ~40: at eps = 1e4 every entry is within 1% of 1/(n m), at 1e7 within
    // 1e-4.
    for (const std::pair<float, double>& limit : {std::pair{1e4f, 1e-2}, std::pair{1e7f, 1e-4}}) {
        CAPTURE(limit.first);
        REQUIRE(solver.solve(a, b, settings_for(limit.first)).converged);
        double worst = 0.0;
        for (float p : solver.plan()) worst = std::max(worst, std::fabs(p * 30.0 * 40.0 - 1.0));
        CHECK(worst <= limit.second);
    }
    // And at a moderate eps it is far from it (the check above can fail).
    REQUIRE(solver.solve(a, b, settings_for(0.1f)).converged);
    double worst = 0.0;
    for (float p : solver.plan()) worst = std::max(worst, std::fabs(p * 30.0 * 40.0 - 1.0));
    CHECK(worst > 0.5);
}

TEST_CASE("sinkhorn stays finite at epsilon 1e-4 and below with costs up to ~100") {
    Rng rng(6);
    // Two tight clusters 10 apart on each side: costs ~0.01 within a cluster's pairing, ~100
    // across.
    Points a(40, 2), b(60, 2);
    for (int i = 0; i < 40; ++i)
        a.row(i) = normal_points(1, rng, 0.3f, i < 20 ? 0.0f : 10.0f, 0.0f).row(0);
    for (int j = 0; j < 60; ++j)
        b.row(j) = normal_points(1, rng, 0.3f, j < 30 ? 0.0f : 10.0f, 0.5f).row(0);
    SinkhornSolver solver;
    for (float eps : {1e-4f, 1e-5f, 1e-6f}) {
        CAPTURE(eps);
        const SinkhornReport& r = solver.solve(a, b, settings_for(eps, 20000));
        CHECK(r.converged);
        CHECK(std::isfinite(r.transport_cost));
        const Marginals mg = marginals_of(solver);
        CHECK(mg.finite_nonnegative);
        CHECK(mg.row_error <= 1.01e-4);  // in particular no row or column lost its mass
        CHECK(mg.col_error <= 1.01e-4);
        // Nothing crosses between the clusters (exp(-100 / eps) is far below float's range).
        double across = 0.0;
        for (int i = 0; i < 40; ++i)
            for (int j = 0; j < 60; ++j)
                if ((i < 20) != (j < 30)) across += solver.plan()[std::size_t(i) * 60 + j];
        CHECK(across == 0.0);
    }
    SUBCASE("and on a spread-out batch, where the plan is nearly a permutation") {
        const Points x = normal_points(48, rng, 3.0f),
                     y = Dataset(DatasetKind::EightGaussians).sample(48, rng);
        const SinkhornReport& r = solver.solve(x, y, settings_for(1e-4f, 50000));
        CHECK(r.converged);
        const Marginals mg = marginals_of(solver);
        CHECK(mg.finite_nonnegative);
        CHECK(std::max(mg.row_error, mg.col_error) <= 1.01e-4);
        const std::vector<int> perm = optimal_assignment(x, y);
        double exact = 0.0;
        for (int i = 0; i < 48; ++i) exact += cost_of(x, y, i, perm[std::size_t(i)]) / 48;
        CHECK(r.transport_cost == doctest::Approx(exact).epsilon(1e-3));
    }
}

TEST_CASE("sinkhorn's iteration budget is respected and the report stays honest") {
    Rng rng(7);
    const Points a = normal_points(128, rng),
                 b = Dataset(DatasetKind::EightGaussians).sample(128, rng);
    SinkhornSolver solver;
    for (int budget : {1, 2, 10, 40}) {
        CAPTURE(budget);
        const SinkhornReport& r = solver.solve(a, b, settings_for(0.01f, budget));
        CHECK(r.iterations <= budget);
        CHECK(r.converged == (r.marginal_error <= 1e-4));
        const Marginals mg = marginals_of(solver);
        CHECK(mg.finite_nonnegative);
        CHECK(std::max(mg.row_error, mg.col_error) ==
              doctest::Approx(r.marginal_error).epsilon(0.05).scale(1e-6));
    }
    // A budget too small for the schedule jumps straight to the target eps, from potentials far
    // from its own: the far column's every entry underflows there, and must still get its mass.
    Points x(2, 2), y(3, 2);
    x << 0.0f, 0.0f, 0.1f, 0.0f;
    y << 0.0f, 0.0f, 0.1f, 0.0f, 5.0f, 0.0f;
    for (int budget : {1, 2, 3}) {
        CAPTURE(budget);
        solver.solve(x, y, settings_for(1e-4f, budget));
        const Marginals mg = marginals_of(solver);
        CHECK(mg.finite_nonnegative);
        CHECK(mg.row_error < 0.9);  // no row or column without mass (that would be an error of 1)
        CHECK(mg.col_error < 0.9);
    }
    // A budget too small for eps = 1e-3 at this size ends unconverged, not wrong.
    const SinkhornReport& r = solver.solve(a, b, settings_for(1e-3f, 30));
    CHECK_FALSE(r.converged);
    CHECK(r.marginal_error > 1e-4);
}

TEST_CASE("a reused solver gives the same plan as a fresh one") {
    Rng rng(8);
    const Points big_a = normal_points(200, rng), big_b = normal_points(150, rng, 2.0f);
    const Points a = normal_points(33, rng), b = Dataset(DatasetKind::Moons).sample(47, rng);
    SinkhornSolver reused, fresh;
    reused.solve(big_a, big_b, settings_for(0.05f));
    const SinkhornReport r1 = reused.solve(a, b, settings_for(0.05f));
    const SinkhornReport r2 = fresh.solve(a, b, settings_for(0.05f));
    CHECK(reused.plan() == fresh.plan());
    CHECK(r1.iterations == r2.iterations);
    CHECK(r1.transport_cost == r2.transport_cost);
}

TEST_CASE("sample_pairs draws pairs with the plan's probabilities") {
    Rng rng(9);
    const Points a = normal_points(3, rng), b = normal_points(4, rng);
    SinkhornSolver solver;
    std::vector<int> rows, cols;
    CHECK_THROWS_AS(solver.sample_pairs(5, rng, rows, cols), InputError);  // nothing solved yet
    REQUIRE(solver.solve(a, b, settings_for(0.5f)).converged);
    const std::vector<float> plan = solver.plan();
    // Far from uniform, so that sampling the wrong entries shows.
    REQUIRE(*std::max_element(plan.begin(), plan.end()) >
            3.0f * *std::min_element(plan.begin(), plan.end()));
    const int draws = 200000;
    Rng draw(10);
    solver.sample_pairs(draws, draw, rows, cols);
    REQUIRE(int(rows.size()) == draws);
    REQUIRE(int(cols.size()) == draws);
    std::vector<int> counts(12, 0);
    int out_of_range = 0;
    for (int k = 0; k < draws; ++k) {
        const int i = rows[std::size_t(k)], j = cols[std::size_t(k)];
        if (i < 0 || i >= 3 || j < 0 || j >= 4)
            ++out_of_range;
        else
            ++counts[std::size_t(i * 4 + j)];
    }
    REQUIRE(out_of_range == 0);
    // Pearson's chi-square with 11 degrees of freedom: 31.3 is its 99.9% quantile.
    double chi2 = 0.0, worst = 0.0;
    for (int e = 0; e < 12; ++e) {
        const double expected = double(plan[std::size_t(e)]) * draws;
        REQUIRE(expected > 5.0);
        chi2 +=
            (counts[std::size_t(e)] - expected) * (counts[std::size_t(e)] - expected) / expected;
        worst = std::max(worst,
                         std::fabs(counts[std::size_t(e)] / double(draws) - plan[std::size_t(e)]));
    }
    CHECK(chi2 < 31.3);
    CHECK(worst < 0.005);
    // The same seed draws the same pairs.
    std::vector<int> rows2, cols2;
    Rng again(10);
    solver.sample_pairs(draws, again, rows2, cols2);
    CHECK(rows2 == rows);
    CHECK(cols2 == cols);

    SUBCASE("a new plan replaces the old one's table") {
        Points far(3, 2);
        far << 0.0f, 0.0f, 5.0f, 0.0f, 10.0f, 0.0f;
        Points near(3, 2);
        near << 10.0f, 0.1f, 5.0f, 0.1f, 0.0f, 0.1f;  // row i pairs with column 2 - i
        REQUIRE(solver.solve(far, near, settings_for(0.01f)).converged);
        solver.sample_pairs(1000, draw, rows, cols);
        int off = 0;
        for (int k = 0; k < 1000; ++k) off += cols[std::size_t(k)] != 2 - rows[std::size_t(k)];
        CHECK(off == 0);
    }
    SUBCASE("zero and negative counts") {
        solver.sample_pairs(0, draw, rows, cols);
        CHECK(rows.empty());
        CHECK(cols.empty());
        CHECK_THROWS_AS(solver.sample_pairs(-1, draw, rows, cols), InputError);
    }
}

TEST_CASE("sinkhorn rejects bad input") {
    SinkhornSolver solver;
    Rng rng(11);
    const Points ok = normal_points(4, rng);
    CHECK_THROWS_AS(solver.solve(Points(0, 2), ok, SinkhornSettings{}), InputError);
    CHECK_THROWS_AS(solver.solve(ok, Points(0, 2), SinkhornSettings{}), InputError);
    Points bad = ok;
    bad(2, 1) = NAN;
    CHECK_THROWS_AS(solver.solve(bad, ok, SinkhornSettings{}), InputError);
    CHECK_THROWS_AS(solver.solve(ok, bad, SinkhornSettings{}), InputError);
    bad(2, 1) = INFINITY;
    CHECK_THROWS_AS(solver.solve(ok, bad, SinkhornSettings{}), InputError);
    Points huge = ok;
    huge(0, 0) = 1e30f;  // finite, but its squared distances overflow float
    CHECK_THROWS_AS(solver.solve(huge, ok, SinkhornSettings{}), InputError);

    for (float eps : {0.0f, -1.0f, NAN, INFINITY}) {
        CAPTURE(eps);
        CHECK_THROWS_AS(settings_for(eps).validate(), InputError);
        CHECK_THROWS_AS(solver.solve(ok, ok, settings_for(eps)), InputError);
    }
    for (int iterations : {0, -5, 1000001})
        CHECK_THROWS_AS(settings_for(0.05f, iterations).validate(), InputError);
    for (float tol : {0.0f, 1.0f, -0.1f, NAN})
        CHECK_THROWS_AS(settings_for(0.05f, 100, tol).validate(), InputError);
    CHECK_NOTHROW(settings_for(1e-9f, 1).validate());
    CHECK_NOTHROW(settings_for(0.05f, 1000000, 0.999f).validate());
    try {
        solver.solve(ok, ok, settings_for(-2.0f));
        FAIL("expected InputError");
    } catch (const InputError& e) {
        CHECK(std::string(e.what()).find("epsilon") != std::string::npos);
    }
    // The rejected calls solved nothing: there is still no plan to sample from.
    std::vector<int> rows, cols;
    CHECK_THROWS_AS(solver.sample_pairs(1, rng, rows, cols), InputError);
}

// Timing of the training-step use (normal source, 8 gaussians target). Run with --no-skip.
TEST_CASE("benchmark: sinkhorn time for normal vs 8 gaussians batches" * doctest::skip()) {
    const Dataset source(DatasetKind::Normal), target(DatasetKind::EightGaussians);
    for (float eps : {0.05f, 0.01f, 1e-3f}) {
        for (int n : {64, 256, 1024}) {
            Rng rng{static_cast<uint64_t>(n)};
            const int reps = n <= 256 ? 200 : 10;
            std::vector<Points> xs, ys;
            for (int r = 0; r < reps; ++r) {
                xs.push_back(source.sample(n, rng));
                ys.push_back(target.sample(n, rng));
            }
            SinkhornSolver solver;
            const SinkhornSettings settings = settings_for(eps, 20000);
            solver.solve(xs[0], ys[0], settings);  // warm-up: buffers reach their size
            long iterations = 0;
            int converged = 0;
            const auto t0 = std::chrono::steady_clock::now();
            for (int r = 0; r < reps; ++r) {
                const SinkhornReport& rep =
                    solver.solve(xs[std::size_t(r)], ys[std::size_t(r)], settings);
                iterations += rep.iterations;
                converged += rep.converged;
            }
            const double ms =
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                    .count() /
                reps;
            MESSAGE("eps = " << eps << ", n = " << n << ": " << ms << " ms per solve, "
                             << double(iterations) / reps << " iterations, " << converged << "/"
                             << reps << " converged");
        }
    }
}
