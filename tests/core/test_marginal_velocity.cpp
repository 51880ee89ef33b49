// The exact marginal velocity: against a double-precision sum, Monte Carlo, and one-point targets.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>

#include "core/base/rng.h"
#include "core/flow/marginal_velocity.h"

// GCC 12 reports -Wmaybe-uninitialized inside its AVX-512 intrinsics (GCC bug 105593) when
// Eigen's maxCoeff is inlined with -march=native; the warning is spurious.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

using namespace fmp;

namespace {

Points random_points(Rng& rng, int n, float scale) {
    Points p(n, 2);
    for (int i = 0; i < n; ++i) p(i, 0) = scale * rng.normal(), p(i, 1) = scale * rng.normal();
    return p;
}

// E[u_t(x | y) | x_t = x] straight from the definition, in double: posterior weights
// p_t(x | y_i) / sum_j p_t(x | y_j) (equal priors, equal normalisers) times the conditional
// velocity d_alpha y + d_sigma x0 with x0 = (x - alpha y) / sigma the source point that reaches x.
Eigen::Vector2d reference(const ProbabilityPath& path, const Points& y, float t, Eigen::Vector2d x,
                          std::vector<double>* weights = nullptr) {
    const PathCoefficients c = path.at(std::min(t, 1.0f - 1e-4f));
    const double a = c.alpha, s = c.sigma, da = c.d_alpha, ds = c.d_sigma;
    std::vector<double> logit(static_cast<std::size_t>(y.rows()));
    double m = -1e300;
    for (Eigen::Index i = 0; i < y.rows(); ++i) {
        const double dx = x.x() - a * y(i, 0), dy = x.y() - a * y(i, 1);
        logit[static_cast<std::size_t>(i)] = -(dx * dx + dy * dy) / (2 * s * s);
        m = std::max(m, logit[static_cast<std::size_t>(i)]);
    }
    double z = 0;
    for (double& l : logit) z += (l = std::exp(l - m));
    Eigen::Vector2d u(0, 0);
    for (Eigen::Index i = 0; i < y.rows(); ++i) {
        const double w = logit[static_cast<std::size_t>(i)] / z;
        const Eigen::Vector2d yi(y(i, 0), y(i, 1));
        const Eigen::Vector2d x0 = (x - a * yi) / s;
        u += w * (da * yi + ds * x0);
        if (weights) weights->push_back(w);
    }
    return u;
}

}  // namespace

TEST_CASE("marginal velocity equals the posterior-weighted conditional velocity (double reference)") {
    Rng rng(21);
    const Points y = random_points(rng, 60, 1.5f);
    const Points x = random_points(rng, 40, 1.5f);
    for (const auto& name : path_names()) {
        const ProbabilityPath path = make_path(name);
        CAPTURE(name);
        for (float t : {0.0f, 0.1f, 0.35f, 0.5f, 0.8f, 0.95f, 0.99f, 1.0f}) {
            CAPTURE(t);
            // Queries near where mass sits at this t, so the weights are not all on one point.
            Points q = x * path.at(t).sigma + path.at(t).alpha * y.topRows(40);
            Points u;
            marginal_velocity(path, y, t, q, u);
            REQUIRE(u.rows() == q.rows());
            const PathCoefficients c = path.at(std::min(t, 1.0f - 1e-4f));
            const double ratio = std::abs(c.d_sigma / c.sigma);
            for (Eigen::Index i = 0; i < q.rows(); ++i) {
                const Eigen::Vector2d r = reference(path, y, t, Eigen::Vector2d(q(i, 0), q(i, 1)));
                // Float rounding of x - alpha y (~1e-7 |x|) is amplified by |d_sigma / sigma|,
                // which reaches 1e4 at the clamped t = 1 - 1e-4.
                const double tol = 2e-4 * (1.0 + r.norm()) + 4e-7 * ratio * (1.0 + q.row(i).norm());
                CHECK(std::abs(u(i, 0) - r.x()) <= tol);
                CHECK(std::abs(u(i, 1) - r.y()) <= tol);
            }
        }
    }
}

TEST_CASE("marginal_velocity_at returns the same value and normalised posterior weights") {
    Rng rng(3);
    const Points y = random_points(rng, 25, 1.0f);
    const Points x = random_points(rng, 10, 0.8f);
    const ProbabilityPath path = make_path("cosine");
    const float t = 0.6f;
    Points u;
    marginal_velocity(path, y, t, x, u);
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
        VectorF w;
        Eigen::Vector2f v = marginal_velocity_at(path, y, t, Eigen::Vector2f(x(i, 0), x(i, 1)), &w);
        CHECK(v.x() == doctest::Approx(u(i, 0)).epsilon(1e-6));
        CHECK(v.y() == doctest::Approx(u(i, 1)).epsilon(1e-6));
        REQUIRE(w.size() == y.rows());
        CHECK(w.sum() == doctest::Approx(1.0).epsilon(1e-5));
        CHECK(w.minCoeff() >= 0.0f);
        std::vector<double> ref_w;
        reference(path, y, t, Eigen::Vector2d(x(i, 0), x(i, 1)), &ref_w);
        for (Eigen::Index j = 0; j < w.size(); ++j)
            CHECK(std::abs(w[j] - ref_w[static_cast<std::size_t>(j)]) <= 1e-5);
    }
    // Without weights requested it still works.
    Eigen::Vector2f v = marginal_velocity_at(path, y, t, Eigen::Vector2f(x(0, 0), x(0, 1)));
    CHECK(v.x() == doctest::Approx(u(0, 0)).epsilon(1e-6));
}

TEST_CASE("with one target the marginal velocity is the conditional velocity") {
    Rng rng(8);
    Points y(1, 2);
    y << 0.7f, -1.2f;
    for (const auto& name : path_names()) {
        const ProbabilityPath path = make_path(name);
        CAPTURE(name);
        for (float t : {0.05f, 0.3f, 0.6f, 0.9f}) {
            // x = psi_t(x0 | y), so the flow through x has velocity d_alpha y + d_sigma x0.
            Points x0 = random_points(rng, 32, 1.0f), x1 = y.replicate(32, 1), xt, ut, u;
            VectorF tv = VectorF::Constant(32, t);
            path.sample_xt(x0, x1, tv, xt);
            path.conditional_velocity(x0, x1, tv, ut);
            marginal_velocity(path, y, t, xt, u);
            CHECK((u - ut).cwiseAbs().maxCoeff() <= 1e-4f * (1.0f + ut.cwiseAbs().maxCoeff()));
        }
    }
}

TEST_CASE("marginal velocity matches a Monte Carlo average of conditional velocities near x") {
    // E[u | x_t in a small ball around x], estimated from samples of (x0, y) -> (x_t, u_t(x_t|y)).
    Points y(3, 2);
    y << -1.0f, 0.0f, 1.0f, 0.2f, 0.0f, 1.3f;
    const ProbabilityPath path = make_path("condot");
    const float t = 0.5f;
    const int n = 2000000;
    Rng rng(99);
    Points x0(n, 2), x1(n, 2), xt, ut;
    for (int i = 0; i < n; ++i) {
        x0(i, 0) = rng.normal(), x0(i, 1) = rng.normal();
        x1.row(i) = y.row(rng.below(3));
    }
    path.sample_xt_and_target(x0, x1, VectorF::Constant(n, t), xt, ut);

    Points q(4, 2);
    q << -0.3f, 0.0f, 0.3f, 0.1f, 0.0f, 0.5f, 0.05f, 0.25f;  // between the targets: mixed posteriors
    Points u;
    marginal_velocity(path, y, t, q, u);
    const float r = 0.06f;
    for (Eigen::Index k = 0; k < q.rows(); ++k) {
        double sx = 0, sy = 0;
        int count = 0;
        for (int i = 0; i < n; ++i) {
            const float dx = xt(i, 0) - q(k, 0), dy = xt(i, 1) - q(k, 1);
            if (dx * dx + dy * dy < r * r) sx += ut(i, 0), sy += ut(i, 1), ++count;
        }
        CAPTURE(k);
        REQUIRE(count > 1000);
        CHECK(std::abs(sx / count - u(k, 0)) < 0.06);
        CHECK(std::abs(sy / count - u(k, 1)) < 0.06);
    }
}

TEST_CASE("t is clamped below 1 and the field stays finite") {
    Rng rng(4);
    const Points y = random_points(rng, 20, 1.0f);
    const Points x = random_points(rng, 20, 1.0f);
    for (const auto& name : path_names()) {
        CAPTURE(name);
        const ProbabilityPath path = make_path(name);
        Points u1, u2, u0, um;
        marginal_velocity(path, y, 1.0f, x, u1);
        marginal_velocity(path, y, 1.0f - 1e-4f, x, u2);
        marginal_velocity(path, y, 0.0f, x, u0);
        marginal_velocity(path, y, -0.5f, x, um);
        CHECK(u1.allFinite());
        CHECK(u0.allFinite());
        CHECK((u1 - u2).cwiseAbs().maxCoeff() == 0.0f);
        CHECK((u0 - um).cwiseAbs().maxCoeff() == 0.0f);
    }
    Points empty(0, 2), u;
    CHECK_THROWS_AS(marginal_velocity(make_path("condot"), empty, 0.5f, x, u), InputError);
}

TEST_CASE("marginal velocity of 1024 queries x 2048 targets is fast") {
    Rng rng(6);
    const Points y = random_points(rng, 2048, 1.0f);
    const Points x = random_points(rng, 1024, 1.0f);
    const ProbabilityPath path = make_path("condot");
    Points u;
    marginal_velocity(path, y, 0.5f, x, u);  // warm up the pool
    const int reps = 10;
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) marginal_velocity(path, y, 0.1f * static_cast<float>(i), x, u);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / reps;
    MESSAGE("marginal_velocity 1024 x 2048: " << ms << " ms");
    CHECK(u.allFinite());
    // Generous: the machine is shared with parallel builds; the design target is a few ms.
    CHECK(ms < 100.0);
}
