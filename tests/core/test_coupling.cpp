// Tests for the exact assignment solver (brute force, LEMON network simplex) and the couplings.
#include <doctest/doctest.h>

#include <set>
#include <stdexcept>

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
    CHECK(coupling_names() == std::vector<std::string>{"independent", "ot", "sinkhorn", "sb"});
    for (const std::string& name : coupling_names()) CHECK(coupling_name(make_coupling(name)) == name);
    CHECK(make_coupling("minibatch-ot") == CouplingKind::MinibatchOT);
    CHECK(make_coupling("paired") == CouplingKind::Paired);
    CHECK(coupling_name(CouplingKind::Paired) == "paired");
    CHECK_FALSE(coupling_kind_from_name("emd").has_value());
    try {
        make_coupling("emd");
        FAIL("expected InputError");
    } catch (const InputError& e) {
        const std::string msg = e.what();
        CHECK(msg.find("emd") != std::string::npos);
        CHECK(msg.find("independent, ot, sinkhorn, sb") != std::string::npos);
    }
}

TEST_CASE("coupling options are checked") {
    CouplingOptions o;
    CHECK_NOTHROW(o.validate());
    for (int bad : {1, -3, 70000}) {
        CouplingOptions c;
        c.ot_batch = bad;
        CHECK_THROWS_AS(c.validate(), InputError);
    }
    for (float bad : {0.0f, -1.0f, 1e-5f, 1e3f, NAN}) {
        CouplingOptions c;
        c.ot_reg = bad;
        CHECK_THROWS_AS(c.validate(), InputError);
        CouplingOptions d;
        d.sb_sigma = bad;
        CHECK_THROWS_AS(d.validate(), InputError);
    }
    CHECK_THROWS_AS(Coupler(CouplingKind::Sinkhorn, CouplingOptions{0, -1.0f, 0.5f}), InputError);
    CHECK(Coupler::epsilon_of(CouplingKind::SchrodingerBridge, CouplingOptions{0, 0.05f, 0.3f}) ==
          doctest::Approx(0.18f));
    CHECK(Coupler::epsilon_of(CouplingKind::Sinkhorn, CouplingOptions{0, 0.2f, 0.3f}) == 0.2f);
    CHECK(Coupler::epsilon_of(CouplingKind::MinibatchOT, CouplingOptions{}) == 0.0f);
}

TEST_CASE("the Brownian bridge noise: s(t) = sigma sqrt(t(1-t)) and its derivative") {
    const float sigma = 0.7f;
    for (float t : {0.05f, 0.2f, 0.5f, 0.8f, 0.97f}) {
        CAPTURE(t);
        CHECK(bridge_scale(sigma, t) == doctest::Approx(sigma * std::sqrt(t * (1 - t))));
        // s'(t) against a central difference in double.
        const double h = 1e-4;
        const double fd = (sigma * std::sqrt((t + h) * (1 - t - h)) - sigma * std::sqrt((t - h) * (1 - t + h))) / (2 * h);
        CHECK(bridge_scale_rate(sigma, t) == doctest::Approx(fd).epsilon(1e-3));
    }
    // The ends: s = 0, s' clamped (finite, 50 sigma at most).
    CHECK(bridge_scale(sigma, 0.0f) == 0.0f);
    CHECK(bridge_scale(sigma, 1.0f) == 0.0f);
    CHECK(std::isfinite(bridge_scale_rate(sigma, 0.0f)));
    CHECK(bridge_scale_rate(sigma, 0.0f) <= 50.0f * sigma);
    CHECK(bridge_scale_rate(sigma, 1.0f) >= -50.0f * sigma);
    // x_t and u_t move by s(t) eps and s'(t) eps, row by row.
    VectorF t(3);
    t << 0.1f, 0.5f, 0.9f;
    Points eps(3, 2), xt = Points::Zero(3, 2), ut = Points::Ones(3, 2);
    eps << 1, 0, 0, 2, -1, 1;
    add_bridge_noise(sigma, t, eps, xt, ut);
    for (int i = 0; i < 3; ++i) {
        CHECK(xt(i, 0) == doctest::Approx(bridge_scale(sigma, t[i]) * eps(i, 0)));
        CHECK(ut(i, 1) == doctest::Approx(1.0f + bridge_scale_rate(sigma, t[i]) * eps(i, 1)));
    }
    // At t = 1/2 the noise is largest and its rate zero: the velocity is unchanged.
    CHECK(ut(1, 0) == doctest::Approx(1.0f));
    Points short_eps(2, 2);
    CHECK_THROWS_AS(add_bridge_noise(sigma, t, short_eps, xt, ut), InputError);
}

TEST_CASE("entropic couplings draw pairs from the plan; OT sub-batches pair within each") {
    Rng rng(21);
    const Points x0 = normal_points(128, rng);
    const Points x1 = moons_points(128, rng);
    // Rows of the result are rows of the inputs (pairs drawn from the plan, with repeats).
    auto row_set = [](const Points& p) {
        std::set<std::pair<float, float>> r;
        for (int i = 0; i < p.rows(); ++i) r.emplace(p(i, 0), p(i, 1));
        return r;
    };
    auto mean_cost = [](const Points& a, const Points& b) { return double((a - b).rowwise().squaredNorm().mean()); };
    const double independent_cost = mean_cost(x0, x1);
    CouplingOptions small;
    small.ot_reg = 0.01f;
    Coupler sinkhorn(CouplingKind::Sinkhorn, small);
    Points a = x0, b = x1;
    Rng draw(3);
    sinkhorn.couple(a, b, draw);
    const auto s0 = row_set(x0), s1 = row_set(x1);
    for (int i = 0; i < a.rows(); ++i) {
        CHECK(s0.count({a(i, 0), a(i, 1)}) == 1);
        CHECK(s1.count({b(i, 0), b(i, 1)}) == 1);
    }
    // A small epsilon pairs nearly as cheaply as the exact assignment, far below independent.
    Points ot0 = x0;
    Coupler(CouplingKind::MinibatchOT).couple(ot0, x1);
    const double exact = mean_cost(ot0, x1), entropic = mean_cost(a, b);
    MESSAGE("mean |x0 - x1|^2: independent " << independent_cost << ", sinkhorn(0.01) " << entropic
                                            << ", exact OT " << exact);
    CHECK(entropic < 0.5 * independent_cost);
    CHECK(entropic < 1.5 * exact + 0.05);
    // A huge epsilon is the independent coupling again (in expectation).
    CouplingOptions big;
    big.ot_reg = 100.0f;
    Coupler blurred(CouplingKind::Sinkhorn, big);
    double blurred_cost = 0.0;
    for (int r = 0; r < 8; ++r) {
        Points c = x0, d = x1;
        blurred.couple(c, d, draw);
        blurred_cost += mean_cost(c, d) / 8;
    }
    CHECK(blurred_cost == doctest::Approx(independent_cost).epsilon(0.15));
    // The SB coupling with sigma s uses epsilon 2 s^2: same draws as sinkhorn at that epsilon.
    CouplingOptions sb;
    sb.sb_sigma = 0.25f;
    CouplingOptions same;
    same.ot_reg = 2 * 0.25f * 0.25f;
    Points e = x0, f = x1, g = x0, h = x1;
    Rng r1(9), r2(9);
    Coupler(CouplingKind::SchrodingerBridge, sb).couple(e, f, r1);
    Coupler(CouplingKind::Sinkhorn, same).couple(g, h, r2);
    CHECK(e == g);
    CHECK(f == h);
    // Entropic couplings need the two-sided call.
    Coupler entropic_coupler(CouplingKind::Sinkhorn);
    Points p = x0;
    CHECK_THROWS_AS(entropic_coupler.couple(p, x1), std::logic_error);

    // Exact OT on sub-batches of 32: each block of 32 rows is a permutation of its own rows,
    // optimal within the block, and the whole costs more than one global assignment.
    CouplingOptions blocks;
    blocks.ot_batch = 32;
    Points sub = x0;
    Points x1_copy = x1;
    Rng unused;
    Coupler(CouplingKind::MinibatchOT, blocks).couple(sub, x1_copy, unused);
    CHECK(x1_copy == x1);
    for (int blk = 0; blk < 4; ++blk) {
        const Points orig = x0.middleRows(blk * 32, 32), got = sub.middleRows(blk * 32, 32);
        CHECK(row_set(orig) == row_set(got));
        Points best = orig;
        Coupler(CouplingKind::MinibatchOT).couple(best, Points(x1.middleRows(blk * 32, 32)));
        CHECK(mean_cost(got, x1.middleRows(blk * 32, 32)) == doctest::Approx(mean_cost(best, x1.middleRows(blk * 32, 32))));
    }
    CHECK(mean_cost(sub, x1) >= exact - 1e-6);
    // Independent and paired batches stay as drawn.
    for (CouplingKind k : {CouplingKind::Independent, CouplingKind::Paired}) {
        Points q = x0, w = x1;
        Coupler(k).couple(q, w, draw);
        CHECK(q == x0);
        CHECK(w == x1);
    }
}

TEST_CASE("plans, partners and crossings") {
    // Two sources on the left, two targets on the right, at the same heights: the straight
    // pairing crosses nothing, the swapped one crosses once.
    Points a(2, 2), b(2, 2);
    a << 0, 0, 0, 1;
    b << 2, 0, 2, 1;
    CHECK(count_crossings(a, b, {0, 1}) == 0);
    CHECK(count_crossings(a, b, {1, 0}) == 1);
    std::vector<int> each;
    CHECK(count_crossings(a, b, {1, 0}, &each) == 1);
    CHECK(each == std::vector<int>{1, 1});
    CHECK(count_crossings(a, b, {0, 1}, &each) == 0);
    CHECK(each == std::vector<int>{0, 0});
    CHECK_THROWS_AS(count_crossings(a, b, {0, 5}), InputError);
    CHECK_THROWS_AS(count_crossings(a, b, {0}), InputError);
    Rng rng(4);
    CHECK(partner_rows(CouplingKind::MinibatchOT, {}, a, b, rng) == std::vector<int>{0, 1});
    const std::vector<float> ot = coupling_plan(CouplingKind::MinibatchOT, {}, a, b);
    CHECK(ot == std::vector<float>{0.5f, 0.0f, 0.0f, 0.5f});
    const std::vector<float> ind = coupling_plan(CouplingKind::Independent, {}, a, b);
    for (float v : ind) CHECK(v == 0.25f);
    // The entropic plan of this square: P_11 / P_12 = exp((C_12 - C_11) / eps) = exp(1 / eps).
    CouplingOptions o;
    o.ot_reg = 0.5f;
    const std::vector<float> ent = coupling_plan(CouplingKind::Sinkhorn, o, a, b);
    CHECK(ent[0] / ent[1] == doctest::Approx(std::exp(1.0 / 0.5)).epsilon(1e-3));
    CHECK(ent[0] + ent[1] + ent[2] + ent[3] == doctest::Approx(1.0f).epsilon(1e-5));

    // On a real batch: exact OT crosses (almost) never, independent pairs cross often, and a
    // small epsilon crosses far less than a large one.
    const Points x0 = normal_points(64, rng), x1 = moons_points(64, rng);
    std::vector<int> identity(64);
    std::iota(identity.begin(), identity.end(), 0);
    const int64_t independent = count_crossings(x0, x1, identity);
    const int64_t exact = count_crossings(x0, x1, partner_rows(CouplingKind::MinibatchOT, {}, x0, x1, rng));
    CouplingOptions sharp, blurry;
    sharp.ot_reg = 0.005f;
    blurry.ot_reg = 20.0f;
    const int64_t sharp_x = count_crossings(x0, x1, partner_rows(CouplingKind::Sinkhorn, sharp, x0, x1, rng));
    const int64_t blurry_x = count_crossings(x0, x1, partner_rows(CouplingKind::Sinkhorn, blurry, x0, x1, rng));
    MESSAGE("crossings of 64 pairs: independent " << independent << ", sinkhorn eps 20 " << blurry_x
                                                  << ", eps 0.005 " << sharp_x << ", exact OT " << exact);
    // Optimal pairs under squared cost never pass the same point at the same time (cyclical
    // monotonicity); their segments may still cross at different times, rarely.
    CHECK(exact * 10 < independent);
    CHECK(independent > 100);
    CHECK(sharp_x < blurry_x / 4);
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
