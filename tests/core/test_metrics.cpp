// Tests for the point-set distances (exact W2, sliced W2, MMD) and the path energy.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>

#include "core/base/rng.h"
#include "core/metrics/metrics.h"

using namespace fmp;

namespace {

Points normal_points(int n, Rng& rng, float cx = 0.0f, float cy = 0.0f) {
    Points p(n, 2);
    for (int i = 0; i < n; ++i) {
        p(i, 0) = cx + rng.normal();
        p(i, 1) = cy + rng.normal();
    }
    return p;
}

Points translated(const Points& p, float dx, float dy) {
    Points q = p;
    q.col(0).array() += dx;
    q.col(1).array() += dy;
    return q;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

TEST_CASE("wasserstein2 closed forms") {
    Rng rng(1);
    const Points a = normal_points(300, rng);
    SUBCASE("a set against itself is 0") { CHECK(wasserstein2(a, a) == doctest::Approx(0.0).scale(1.0)); }
    SUBCASE("a set against its translate by d is |d|") {
        CHECK(wasserstein2(a, translated(a, 0.3f, -0.4f)) == doctest::Approx(0.5).epsilon(1e-5));
        CHECK(wasserstein2(a, translated(a, 3.0f, 4.0f)) == doctest::Approx(5.0).epsilon(1e-5));
    }
    SUBCASE("translate with unequal sizes: the set repeated twice has the same measure") {
        Points twice(600, 2);
        twice << translated(a, 1.0f, 0.0f), translated(a, 1.0f, 0.0f);
        CHECK(wasserstein2(a, twice) == doctest::Approx(1.0).epsilon(1e-5));
    }
    SUBCASE("single points") {
        Points p(1, 2), q(1, 2);
        p << 1.0f, 2.0f;
        q << 4.0f, 6.0f;
        CHECK(wasserstein2(p, q) == doctest::Approx(5.0));
    }
    SUBCASE("{0} against {-1, 1} is 1") {
        Points p = Points::Zero(1, 2);
        Points q(2, 2);
        q << -1.0f, 0.0f, 1.0f, 0.0f;
        CHECK(wasserstein2(p, q) == doctest::Approx(1.0));
        CHECK(wasserstein2(q, p) == doctest::Approx(1.0));
    }
    SUBCASE("two points against three on a line, by hand") {
        // Masses 1/2 at 0 and 3; 1/3 at 0, 1, 3. Optimal: 0 -> 0 (1/3), 0 -> 1 (1/6), 3 -> 3
        // (1/3), 3 -> 1 (1/6): cost 1/6 * 1 + 1/6 * 4 = 5/6.
        Points p(2, 2), q(3, 2);
        p << 0, 0, 3, 0;
        q << 0, 0, 1, 0, 3, 0;
        CHECK(wasserstein2(p, q) == doctest::Approx(std::sqrt(5.0 / 6.0)));
    }
    SUBCASE("bad sizes are rejected") {
        CHECK_THROWS_AS(wasserstein2(Points(0, 2), a), InputError);
        CHECK_THROWS_AS(wasserstein2(a, Points::Zero(5001, 2)), InputError);
    }
}

TEST_CASE("wasserstein2 at 2000 points runs in seconds") {
    Rng rng(2);
    const Points a = normal_points(2000, rng);
    const Points b = normal_points(2000, rng, 1.0f, 0.0f);
    const Points c = normal_points(1500, rng, 1.0f, 0.0f);
    auto t0 = std::chrono::steady_clock::now();
    const double equal = wasserstein2(a, b);
    MESSAGE("W2 2000 vs 2000: " << seconds_since(t0) << " s");
    t0 = std::chrono::steady_clock::now();
    const double unequal = wasserstein2(a, c);
    MESSAGE("W2 2000 vs 1500: " << seconds_since(t0) << " s");
    // Both compare N(0, I) with N((1, 0), I) samples: W2 = 1 plus sampling error.
    CHECK(equal == doctest::Approx(1.0).epsilon(0.25));
    CHECK(unequal == doctest::Approx(1.0).epsilon(0.25));
    CHECK(wasserstein2(a, translated(a, 0.6f, 0.8f)) == doctest::Approx(1.0).epsilon(1e-5));
}

TEST_CASE("sliced_wasserstein2") {
    Rng rng(3);
    const Points a = normal_points(500, rng);
    SUBCASE("a translate by d: SW2^2 = E[(d.u)^2] = |d|^2 / 2 in 2D") {
        // The per-direction value (d.u)^2 = |d|^2 cos^2(theta) has standard deviation
        // |d|^2 / (2 sqrt(2)), so 4096 directions give SW2^2 within about 1.1% (1 sigma).
        const double sw = sliced_wasserstein2(a, translated(a, 3.0f, 4.0f), 4096, 7);
        CHECK(sw * sw == doctest::Approx(12.5).epsilon(0.05));
    }
    SUBCASE("identical sets give 0 and results are deterministic for the seed") {
        CHECK(sliced_wasserstein2(a, a) == doctest::Approx(0.0).scale(1.0));
        const Points b = normal_points(400, rng, 1.0f, 0.0f);
        CHECK(sliced_wasserstein2(a, b, 64, 9) == sliced_wasserstein2(a, b, 64, 9));
    }
    SUBCASE("unequal sizes: quantiles are matched") {
        Points twice(1000, 2);
        twice << translated(a, 3.0f, 4.0f), translated(a, 3.0f, 4.0f);
        const double sw_unequal = sliced_wasserstein2(a, twice, 512, 5);
        const double sw_equal = sliced_wasserstein2(a, translated(a, 3.0f, 4.0f), 512, 5);
        CHECK(sw_unequal == doctest::Approx(sw_equal).epsilon(0.01));
        Points p = Points::Zero(1, 2);
        Points q(2, 2);
        q << -1.0f, 0.0f, 1.0f, 0.0f;
        // In every direction the projected {0} against {-c, c}: quantiles 1/4, 3/4 give c^2,
        // and E[cos^2] = 1/2.
        const double s = sliced_wasserstein2(p, q, 8192, 2);
        CHECK(s * s == doctest::Approx(0.5).epsilon(0.03));
    }
    CHECK_THROWS_AS(sliced_wasserstein2(a, a, 0), InputError);
}

TEST_CASE("mmd2") {
    Rng rng(4);
    const Points a = normal_points(400, rng);
    const Points same = normal_points(400, rng);
    const Points far = normal_points(400, rng, 4.0f, 0.0f);
    const double small = mmd2(a, same);
    const double large = mmd2(a, far);
    CHECK(std::abs(small) < 0.01);
    CHECK(large > 0.3);
    CHECK(mmd2(a, far, 1.0) > 0.5);
    // Unbiased: the estimate for identical distributions is near zero, possibly negative.
    CHECK(std::abs(mmd2(a, same, 0.5)) < 0.01);
    // Hand case: two points at distance 1 each, with sigma = 1:
    // k_aa = k_bb = exp(-1/2), cross terms exp(-r^2/2) for r^2 in {4, 9, 1, 4} (a = {0,1},
    // b = {2,3}) -> MMD^2 = 2 e^{-1/2} - (2 e^{-2} + e^{-4.5} + e^{-0.5}) / 2.
    Points p(2, 2), q(2, 2);
    p << 0, 0, 1, 0;
    q << 2, 0, 3, 0;
    const double expected =
        2.0 * std::exp(-0.5) - (2.0 * std::exp(-2.0) + std::exp(-4.5) + std::exp(-0.5)) / 2.0;
    CHECK(mmd2(p, q, 1.0) == doctest::Approx(expected));
    CHECK_THROWS_AS(mmd2(Points::Zero(1, 2), q), InputError);
}

TEST_CASE("path_energy") {
    Rng rng(5);
    const Points x0 = normal_points(200, rng);
    const Points x1 = normal_points(200, rng, 2.0f, -1.0f);
    const int steps = 20;
    std::vector<Points> straight, curved;
    for (int k = 0; k <= steps; ++k) {
        const float t = float(k) / steps;
        straight.push_back((1.0f - t) * x0 + t * x1);
        // Same end points, a sideways bulge sin(pi t) perpendicular to the displacement.
        Points c = straight.back();
        const float bulge = 0.5f * std::sin(3.14159265f * t);
        for (int i = 0; i < c.rows(); ++i) {
            const float dx = x1(i, 0) - x0(i, 0), dy = x1(i, 1) - x0(i, 1);
            c(i, 0) += -dy * bulge;
            c(i, 1) += dx * bulge;
        }
        curved.push_back(c);
    }
    const double mean_sq = (x1 - x0).rowwise().squaredNorm().cast<double>().mean();
    const double e_straight = path_energy(straight);
    CHECK(e_straight == doctest::Approx(mean_sq).epsilon(1e-5));
    CHECK(path_energy(curved) > e_straight * 1.2);
    // A non-constant speed along the straight line also costs more.
    std::vector<Points> uneven;
    for (int k = 0; k <= steps; ++k) {
        const float t = float(k) / steps;
        uneven.push_back((1.0f - t * t) * x0 + t * t * x1);
    }
    CHECK(path_energy(uneven) > e_straight * 1.1);
    CHECK_THROWS_AS(path_energy({x0}), InputError);
    CHECK_THROWS_AS(path_energy({x0, Points::Zero(3, 2)}), InputError);
}

TEST_CASE("path_energy over [t_a, t_b] against closed forms of its estimator") {
    Rng rng(9);
    const Points x0 = normal_points(100, rng);
    const Points d = normal_points(100, rng, 1.0f, -0.5f);  // each particle's displacement
    const double mean_sq = d.rowwise().squaredNorm().cast<double>().mean();
    const int n = 16;
    // Straight at constant speed over [0.25, 0.75]: v = d / 0.5, PE = mean |d|^2 / 0.5.
    std::vector<Points> straight, accelerating;
    for (int k = 0; k <= n; ++k) {
        const float s = float(k) / n;
        straight.push_back(x0 + s * d);
        accelerating.push_back(x0 + (s * s) * d);
    }
    CHECK(path_energy(straight, 0.25f, 0.75f) == doctest::Approx(mean_sq / 0.5).epsilon(1e-5));
    // x_t = x0 + t^2 d on [0, 1]: int |2 t d|^2 dt = 4/3 |d|^2; the frames' estimate is
    // sum_k ((k+1)^2 - k^2)^2 / n^4 * n |d|^2 = (4/3 - 1/(3 n^2)) |d|^2, just below it.
    const double expected = mean_sq * (4.0 / 3.0 - 1.0 / (3.0 * n * n));
    CHECK(path_energy(accelerating, 0.0f, 1.0f) == doctest::Approx(expected).epsilon(1e-5));
    CHECK(path_energy(accelerating) == doctest::Approx(expected).epsilon(1e-5));
    // Energies of consecutive intervals add up (how a run sums it step by step).
    double summed = 0.0;
    for (int k = 0; k < n; ++k)
        summed += path_energy({accelerating[k], accelerating[k + 1]}, float(k) / n,
                              float(k + 1) / n);
    CHECK(summed == doctest::Approx(expected).epsilon(1e-4));
    CHECK_THROWS_AS(path_energy(straight, 0.5f, 0.5f), InputError);
    CHECK_THROWS_AS(path_energy(straight, 1.0f, 0.0f), InputError);
    CHECK_THROWS_AS(path_energy(straight, 0.0f, NAN), InputError);
}

TEST_CASE("normalized path energy: 0 for the straight OT flow, the bulge's extra energy otherwise") {
    // N(0, I) -> N(m, I): the OT map is x + m, W2^2 = |m|^2. On samples x1 = x0 + m the identity
    // pairing is optimal too (sum |x_i - x_s(i) - m|^2 = sum |x_i - x_s(i)|^2 + n |m|^2 for every
    // permutation s), so the empirical W2^2 is |m|^2 exactly.
    Rng rng(11);
    const Points x0 = normal_points(300, rng);
    const float mx = 2.0f, my = -1.0f;
    const Points x1 = translated(x0, mx, my);
    const double m_sq = mx * mx + my * my;
    const double w2 = wasserstein2(x0, x1);
    REQUIRE(w2 * w2 == doctest::Approx(m_sq).epsilon(1e-5));
    // Straight translation at constant speed, and the same ends with a sideways bulge
    // b sin(pi t) e (e perpendicular to m). Over n steps the bulge adds exactly
    // n * b^2 * sum_k (sin(pi (k+1)/n) - sin(pi k/n))^2 = 2 n^2 b^2 sin^2(pi / 2n)
    // (-> pi^2 b^2 / 2, the integral of |pi b cos(pi t)|^2); the cross term vanishes (e . m = 0).
    const int n = 20;
    const float b = 0.5f;
    const float ex = 1.0f / std::sqrt(5.0f), ey = 2.0f / std::sqrt(5.0f);
    std::vector<Points> straight, bulged;
    for (int k = 0; k <= n; ++k) {
        const float t = float(k) / n;
        straight.push_back(translated(x0, t * mx, t * my));
        const float s = b * std::sin(3.14159265358979f * t);
        bulged.push_back(translated(x0, t * mx + s * ex, t * my + s * ey));
    }
    const double pe_straight = path_energy(straight, 0.0f, 1.0f);
    CHECK(pe_straight == doctest::Approx(m_sq).epsilon(1e-5));
    CHECK(normalized_path_energy(pe_straight, w2 * w2) < 1e-4);
    const double extra = 2.0 * n * n * b * b * std::pow(std::sin(3.141592653589793 / (2 * n)), 2);
    const double pe_bulged = path_energy(bulged, 0.0f, 1.0f);
    CHECK(pe_bulged == doctest::Approx(m_sq + extra).epsilon(1e-4));
    CHECK(normalized_path_energy(pe_bulged, w2 * w2) == doctest::Approx(extra / m_sq).epsilon(1e-3));
    // Below W2^2 counts as far as above (the absolute value), and p0 = p1 has no NPE.
    CHECK(normalized_path_energy(2.5, 5.0) == doctest::Approx(0.5));
    CHECK(normalized_path_energy(7.5, 5.0) == doctest::Approx(0.5));
    CHECK(std::isnan(normalized_path_energy(1.0, 0.0)));
}

TEST_CASE("straightness: 0 for straight constant-speed paths, a quarter circle's closed form") {
    // Straight lines at constant speed in exactly representable steps (multiples of 1/4 from
    // integers): every chord velocity equals X_K - X_0 to the last bit, so S is 0 exactly.
    const int frames = 9;
    std::vector<Points> straight;
    for (int k = 0; k < frames; ++k) {
        Points p(50, 2);
        for (int i = 0; i < 50; ++i) {
            p(i, 0) = float(i - 25) + 0.5f * float(k);
            p(i, 1) = float(3 - i) - 0.25f * float(i % 7) * float(k);
        }
        straight.push_back(p);
    }
    CHECK(straightness(straight) == 0.0);

    // A quarter circle of radius r at constant angular speed theta = pi/2, X_t = r (cos theta t,
    // sin theta t): S = int |D - X'_t|^2 dt = |X'|^2 - |D|^2 (the chord velocities average to D)
    // = r^2 theta^2 - 2 r^2 (1 - cos theta). Over K frames the chords give K^2 |c|^2 - |D|^2 with
    // |c| = 2 r sin(theta / 2K), which is within 1e-6 of the integral for K = 1000. Each particle
    // i runs on its own circle (radius 1 + i/10; centred at 0, so the float frames stay small).
    const double theta = 3.141592653589793 / 2.0;
    const int K = 1000, n = 8;
    std::vector<Points> arc;
    double expected = 0.0;
    for (int i = 0; i < n; ++i) {
        const double r = 1.0 + 0.1 * i;
        expected += (r * r * theta * theta - 2.0 * r * r * (1.0 - std::cos(theta))) / n;
    }
    for (int k = 0; k <= K; ++k) {
        Points p(n, 2);
        const double a = theta * double(k) / K;
        for (int i = 0; i < n; ++i) {
            const double r = 1.0 + 0.1 * i;
            p(i, 0) = float(r * std::cos(a));
            p(i, 1) = float(r * std::sin(a));
        }
        arc.push_back(p);
    }
    MESSAGE("quarter circles: S = " << straightness(arc) << ", closed form " << expected);
    CHECK(std::abs(straightness(arc) - expected) < 1e-3);
    // S is the path energy less E|X_1 - X_0|^2.
    double d2 = 0.0;
    for (int i = 0; i < n; ++i)
        d2 += (arc.back().row(i) - arc.front().row(i)).cast<double>().squaredNorm() / n;
    CHECK(straightness(arc) == doctest::Approx(path_energy(arc) - d2).epsilon(1e-4));

    // A straight line at uneven speed is not straight in this sense: x_t = t^2 d gives
    // int |d - 2 t d|^2 dt = |d|^2 / 3 (K frames: (1/3 - 1/(3 K^2)) |d|^2).
    std::vector<Points> uneven;
    for (int k = 0; k <= 10; ++k) {
        Points p(1, 2);
        const float s = float(k * k) / 100.0f;
        p << 3.0f * s, 4.0f * s;
        uneven.push_back(p);
    }
    CHECK(straightness(uneven) == doctest::Approx(25.0 * (1.0 / 3.0 - 1.0 / 300.0)).epsilon(1e-5));

    CHECK_THROWS_AS(straightness({}), InputError);
    CHECK_THROWS_AS(straightness({straight[0]}), InputError);
    CHECK_THROWS_AS(straightness({straight[0], Points::Zero(3, 2)}), InputError);
    CHECK_THROWS_AS(straightness({Points(0, 2), Points(0, 2)}), InputError);
}
