// Tests for the exact assignment solver (brute force, LEMON network simplex) and the couplings.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <lemon/network_simplex.h>
#include <lemon/smart_graph.h>
#include <numeric>

#include "core/base/rng.h"
#include "core/flow/coupling.h"

using namespace fmp;

namespace {

Points normal_points(int n, Rng& rng) {
    Points p(n, 2);
    for (int i = 0; i < n; ++i) {
        p(i, 0) = rng.normal();
        p(i, 1) = rng.normal();
    }
    return p;
}

// Two interleaved half circles with a little noise, centred near the origin.
Points moons_points(int n, Rng& rng) {
    Points p(n, 2);
    for (int i = 0; i < n; ++i) {
        const float t = 3.14159265f * rng.uniform();
        if (i % 2 == 0) {
            p(i, 0) = std::cos(t) - 0.5f;
            p(i, 1) = std::sin(t) - 0.25f;
        } else {
            p(i, 0) = 0.5f - std::cos(t);
            p(i, 1) = 0.25f - std::sin(t);
        }
        p(i, 0) = 2.0f * p(i, 0) + 0.1f * rng.normal();
        p(i, 1) = 2.0f * p(i, 1) + 0.1f * rng.normal();
    }
    return p;
}

// Points on a small integer grid: many exactly equal costs, which stress the tie handling.
Points grid_points(int n, Rng& rng) {
    Points p(n, 2);
    for (int i = 0; i < n; ++i) {
        p(i, 0) = float(rng.below(3));
        p(i, 1) = float(rng.below(3));
    }
    return p;
}

double cost_of(const Points& a, const Points& b, const std::vector<int>& perm) {
    double s = 0.0;
    for (int i = 0; i < int(perm.size()); ++i) {
        const double dx = double(a(i, 0)) - b(perm[i], 0), dy = double(a(i, 1)) - b(perm[i], 1);
        s += dx * dx + dy * dy;
    }
    return s;
}

bool is_permutation_of_n(const std::vector<int>& perm, int n) {
    if (int(perm.size()) != n) return false;
    std::vector<char> seen(std::size_t(n), 0);
    for (int j : perm) {
        if (j < 0 || j >= n || seen[std::size_t(j)]) return false;
        seen[std::size_t(j)] = 1;
    }
    return true;
}

double brute_force_cost(const Points& a, const Points& b) {
    std::vector<int> perm(std::size_t(a.rows()));
    std::iota(perm.begin(), perm.end(), 0);
    double best = INFINITY;
    do best = std::min(best, cost_of(a, b, perm));
    while (std::next_permutation(perm.begin(), perm.end()));
    return best;
}

// The optimum of the same assignment problem as a min-cost flow, by an independent solver.
double lemon_cost(const Points& a, const Points& b) {
    using G = lemon::SmartDigraph;
    const int n = int(a.rows());
    G g;
    std::vector<G::Node> s(static_cast<std::size_t>(n)), t(static_cast<std::size_t>(n));
    for (auto& v : s) v = g.addNode();
    for (auto& v : t) v = g.addNode();
    G::ArcMap<double> cost(g);
    G::NodeMap<int> supply(g);
    for (int i = 0; i < n; ++i) {
        supply[s[i]] = 1;
        supply[t[i]] = -1;
        for (int j = 0; j < n; ++j) {
            const double dx = double(a(i, 0)) - b(j, 0), dy = double(a(i, 1)) - b(j, 1);
            cost[g.addArc(s[i], t[j])] = dx * dx + dy * dy;
        }
    }
    lemon::NetworkSimplex<G, int, double> ns(g);
    ns.costMap(cost).supplyMap(supply);
    REQUIRE(ns.run() == lemon::NetworkSimplex<G, int, double>::OPTIMAL);
    return ns.totalCost<double>();
}

}  // namespace

TEST_CASE("assignment equals brute force over all permutations for n <= 8") {
    Rng rng(42);
    AssignmentSolver solver;  // one solver across sizes: buffers are reused when sizes change
    for (int trial = 0; trial < 600; ++trial) {
        const int n = 1 + trial % 8;
        const int kind = (trial / 8) % 3;
        Points a = kind == 2 ? grid_points(n, rng) : normal_points(n, rng);
        Points b = kind == 0 ? moons_points(n, rng) : kind == 1 ? normal_points(n, rng) : grid_points(n, rng);
        const std::vector<int>& perm = solver.solve(a, b);
        REQUIRE(is_permutation_of_n(perm, n));
        const double best = brute_force_cost(a, b);
        CHECK(cost_of(a, b, perm) == doctest::Approx(best).epsilon(1e-6).scale(1.0));
        CHECK(cost_of(a, b, optimal_assignment(a, b)) == doctest::Approx(best).epsilon(1e-6).scale(1.0));
    }
}

TEST_CASE("assignment equals the LEMON network simplex optimum for n = 50..300") {
    Rng rng(7);
    AssignmentSolver solver;
    for (int n : {50, 97, 128, 200, 256, 300}) {
        for (int kind = 0; kind < 3; ++kind) {
            Points a = kind == 2 ? grid_points(n, rng) : normal_points(n, rng);
            Points b = kind == 0 ? moons_points(n, rng) : kind == 1 ? normal_points(n, rng) : grid_points(n, rng);
            const std::vector<int>& perm = solver.solve(a, b);
            REQUIRE(is_permutation_of_n(perm, n));
            const double ref = lemon_cost(a, b);
            CHECK(cost_of(a, b, perm) == doctest::Approx(ref).epsilon(1e-6).scale(1.0));
        }
    }
}

// Eight tight clusters on a circle: the training-step case, where the optimal map moves points
// far and many columns compete for the same rows.
Points clustered_points(int n, Rng& rng) {
    Points p(n, 2);
    for (int i = 0; i < n; ++i) {
        const float t = 0.785398163f * float(rng.below(8));
        p(i, 0) = 4.0f * std::cos(t) + 0.1f * rng.normal();
        p(i, 1) = 4.0f * std::sin(t) + 0.1f * rng.normal();
    }
    return p;
}

// The solver pads rows to whole vectors and works on padded columns: sizes on either side of a
// padding unit, and clustered targets, against LEMON over many seeds, reusing one solver.
TEST_CASE("assignment equals LEMON around the vector padding and for clustered targets") {
    Rng rng(99);
    AssignmentSolver solver;
    for (int trial = 0; trial < 40; ++trial) {
        const int sizes[] = {2, 7, 31, 32, 33, 63, 65, 256};
        const int n = sizes[trial % 8];
        const int kind = (trial / 8) % 3;
        Points a = kind == 2 ? grid_points(n, rng) : normal_points(n, rng);
        Points b = kind == 0 ? clustered_points(n, rng) : kind == 1 ? moons_points(n, rng) : grid_points(n, rng);
        const std::vector<int>& perm = solver.solve(a, b);
        REQUIRE(is_permutation_of_n(perm, n));
        CHECK(cost_of(a, b, perm) == doctest::Approx(lemon_cost(a, b)).epsilon(1e-6).scale(1.0));
    }
}

TEST_CASE("assignment of degenerate sets") {
    AssignmentSolver solver;
    SUBCASE("empty") { CHECK(solver.solve(Points(0, 2), Points(0, 2)).empty()); }
    SUBCASE("every source at one point: any bijection is optimal") {
        Rng rng(3);
        Points a = Points::Zero(100, 2);
        Points b = normal_points(100, rng);
        CHECK(is_permutation_of_n(solver.solve(a, b), 100));
    }
    SUBCASE("a set matched to a permutation of itself recovers the permutation") {
        Rng rng(5);
        Points a = normal_points(64, rng);
        std::vector<int> shuffle(64);
        std::iota(shuffle.begin(), shuffle.end(), 0);
        for (int i = 63; i > 0; --i) std::swap(shuffle[std::size_t(i)], shuffle[rng.below(uint32_t(i + 1))]);
        Points b(64, 2);
        for (int i = 0; i < 64; ++i) b.row(shuffle[std::size_t(i)]) = a.row(i);
        const std::vector<int>& perm = solver.solve(a, b);
        CHECK(perm == shuffle);
    }
    SUBCASE("mismatched sizes and non-finite points are rejected") {
        CHECK_THROWS_AS(solver.solve(Points::Zero(3, 2), Points::Zero(4, 2)), InputError);
        Points bad = Points::Zero(3, 2);
        bad(1, 0) = NAN;
        CHECK_THROWS_AS(solver.solve(bad, Points::Zero(3, 2)), InputError);
    }
}

TEST_CASE("Coupler permutes x0 so that row i pairs optimally with x1 row i") {
    Rng rng(11);
    Points x0 = normal_points(256, rng);
    const Points x1 = moons_points(256, rng);
    const Points original = x0;

    Coupler independent(CouplingKind::Independent);
    Points same = x0;
    independent.couple(same, x1);
    CHECK(same == original);

    Coupler ot(CouplingKind::MinibatchOT);
    CHECK(ot.kind() == CouplingKind::MinibatchOT);
    ot.couple(x0, x1);
    std::vector<int> identity(256);
    std::iota(identity.begin(), identity.end(), 0);
    CHECK(cost_of(x0, x1, identity) == doctest::Approx(lemon_cost(original, x1)).epsilon(1e-6));
    // x0 holds exactly the original rows, each once.
    auto sorted_rows = [](const Points& p) {
        std::vector<std::pair<float, float>> r;
        for (int i = 0; i < p.rows(); ++i) r.emplace_back(p(i, 0), p(i, 1));
        std::sort(r.begin(), r.end());
        return r;
    };
    CHECK(sorted_rows(x0) == sorted_rows(original));
    // Coupling an already optimally paired batch leaves it as it is.
    const Points coupled = x0;
    ot.couple(x0, x1);
    CHECK(x0 == coupled);
    Points wrong = Points::Zero(3, 2);
    CHECK_THROWS_AS(ot.couple(wrong, x1), InputError);
}

TEST_CASE("coupling names") {
    CHECK(coupling_names() == std::vector<std::string>{"independent", "ot"});
    for (const std::string& name : coupling_names()) CHECK(coupling_name(make_coupling(name)) == name);
    CHECK(make_coupling("minibatch-ot") == CouplingKind::MinibatchOT);
    CHECK_FALSE(coupling_kind_from_name("sinkhorn").has_value());
    try {
        make_coupling("sinkhorn");
        FAIL("expected InputError");
    } catch (const InputError& e) {
        const std::string msg = e.what();
        CHECK(msg.find("sinkhorn") != std::string::npos);
        CHECK(msg.find("independent, ot") != std::string::npos);
    }
}

// Timing of the training-step use (normal source, moons target). Run with --no-skip.
TEST_CASE("benchmark: assignment time for normal vs moons batches" * doctest::skip()) {
    for (int n : {64, 128, 256, 512, 1024, 2048, 4096}) {
        Rng rng{static_cast<uint64_t>(n)};
        AssignmentSolver solver;
        const int reps = n <= 256 ? 400 : n <= 1024 ? 20 : 3;
        std::vector<Points> xs, ys;
        for (int r = 0; r < reps; ++r) {
            xs.push_back(normal_points(n, rng));
            ys.push_back(moons_points(n, rng));
        }
        solver.solve(xs[0], ys[0]);  // warm-up: buffers reach their size
        const auto t0 = std::chrono::steady_clock::now();
        const std::clock_t c0 = std::clock();
        for (int r = 0; r < reps; ++r) solver.solve(xs[std::size_t(r)], ys[std::size_t(r)]);
        const double cpu_ms = 1000.0 * double(std::clock() - c0) / CLOCKS_PER_SEC / reps;
        const double ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / reps;
        MESSAGE("n = " << n << ": " << ms << " ms wall, " << cpu_ms << " ms cpu per assignment");
    }
}
