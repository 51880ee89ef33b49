// The posterior lens: closed forms for one and two target points, the limits in t, consistency
// with the marginal field, and the pairwise approximation against the exact posterior.
#include <doctest/doctest.h>

#include <cmath>

#include "core/base/rng.h"
#include "core/flow/marginal_velocity.h"
#include "core/instruments/posterior_lens.h"

#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

using namespace fmp;

namespace {

Points normal_points(Rng& rng, int n, float scale = 1.0f, float shift = 0.0f) {
    Points p(n, 2);
    for (int i = 0; i < n; ++i)
        p(i, 0) = shift + scale * rng.normal(), p(i, 1) = scale * rng.normal();
    return p;
}

}  // namespace

TEST_CASE("one target point: all the weight, no spread, the conditional velocity itself") {
    const ProbabilityPath path(PathKind::CondOT);
    Points y(1, 2);
    y << 2.0f, -1.0f;
    const Eigen::Vector2f x(0.3f, 0.4f);
    const float t = 0.25f;
    const PosteriorLens lens = posterior_lens(path, y, nullptr, x, t);
    CHECK(lens.weights[0] == doctest::Approx(1.0f));
    CHECK(lens.effective_count == doctest::Approx(1.0f));
    CHECK(lens.posterior_variance == doctest::Approx(0.0f).epsilon(1e-6));
    // CondOT: u(x | y) = (y - x) / (1 - t).
    CHECK(lens.marginal.x() == doctest::Approx((2.0f - 0.3f) / 0.75f).epsilon(1e-5));
    CHECK(lens.marginal.y() == doctest::Approx((-1.0f - 0.4f) / 0.75f).epsilon(1e-5));
    CHECK_FALSE(lens.approximate);
}

TEST_CASE("two symmetric target points seen from the middle: equal weights, spread |u1-u2|^2/4") {
    const ProbabilityPath path(PathKind::CondOT);
    Points y(2, 2);
    y << -1.0f, 0.0f, 1.0f, 0.0f;
    const float t = 0.6f;
    const PosteriorLens lens = posterior_lens(path, y, nullptr, Eigen::Vector2f(0, 0.5f), t);
    CHECK(lens.weights[0] == doctest::Approx(0.5f));
    CHECK(lens.effective_count == doctest::Approx(2.0f));
    const Eigen::Vector2f u1 = lens.conditional.row(0), u2 = lens.conditional.row(1);
    CHECK(lens.posterior_variance == doctest::Approx((u1 - u2).squaredNorm() / 4).epsilon(1e-5));
    // (y_i - x) / (1 - t): x-components -1/0.4 and 1/0.4.
    CHECK(u1.x() == doctest::Approx(-2.5f));
    CHECK(u2.x() == doctest::Approx(2.5f));
    CHECK(lens.marginal.x() == doctest::Approx(0.0f).epsilon(1e-6));
}

TEST_CASE("the lens is the marginal field's average, term by term, for every path") {
    Rng rng(3);
    const Points y = normal_points(rng, 300, 1.5f);
    for (const std::string& name : path_names()) {
        CAPTURE(name);
        const ProbabilityPath path = make_path(name);
        for (float t : {0.05f, 0.5f, 0.9f}) {
            const Eigen::Vector2f x(0.4f, -0.7f);
            const PosteriorLens lens = posterior_lens(path, y, nullptr, x, t);
            const Eigen::Vector2f u = marginal_velocity_at(path, y, t, x);
            CHECK((lens.marginal - u).norm() <= 1e-4f * (1.0f + u.norm()));
            CHECK(lens.weights.sum() == doctest::Approx(1.0f).epsilon(1e-5));
            // sum_i w_i u_i rebuilt from the parts, and the spread as E|u_i|^2 - |E u_i|^2.
            const Eigen::Vector2f avg = (lens.conditional.transpose() * lens.weights);
            CHECK((avg - u).norm() <= 1e-3f * (1.0f + u.norm()));
            const double second = (lens.conditional.rowwise().squaredNorm().cast<double>().array() *
                                   lens.weights.cast<double>().array())
                                      .sum();
            CHECK(lens.posterior_variance ==
                  doctest::Approx(second - avg.cast<double>().squaredNorm()).epsilon(1e-3));
        }
    }
}

TEST_CASE("near t=0 every point contributes, near t=1 one dominates") {
    Rng rng(5);
    const Points y = normal_points(rng, 512, 2.0f);
    const ProbabilityPath path(PathKind::CondOT);
    const Eigen::Vector2f x = y.row(17).transpose() * 0.999f;
    const PosteriorLens early = posterior_lens(path, y, nullptr, x, 0.0f);
    const PosteriorLens late = posterior_lens(path, y, nullptr, x, 0.999f);
    CHECK(early.effective_count == doctest::Approx(512.0f).epsilon(1e-3));  // alpha_0 = 0
    CHECK(late.effective_count < 1.5f);
    CHECK(late.weights[17] > 0.8f);
    CHECK(late.posterior_variance < early.posterior_variance);
}

TEST_CASE("the pairwise lens approaches the exact one for a normal source and a small kernel") {
    Rng rng(9);
    const Points y = normal_points(rng, 64, 1.0f, 2.0f);
    const Points x0 = normal_points(rng, 4096);
    const ProbabilityPath path(PathKind::CondOT);
    LensSettings s;
    s.source_samples = 4096;
    s.bandwidth = 0.08f;
    const Eigen::Vector2f x(1.0f, 0.2f);
    const PosteriorLens exact = posterior_lens(path, y, nullptr, x, 0.5f);
    const PosteriorLens approx = posterior_lens(path, y, &x0, x, 0.5f, s);
    CHECK(approx.approximate);
    CHECK(approx.bandwidth == 0.08f);
    CHECK((approx.marginal - exact.marginal).norm() < 0.15f * exact.marginal.norm());
    CHECK(approx.weights.sum() == doctest::Approx(1.0f).epsilon(1e-4));
    // A kernel far too wide forgets where x is: the weights flatten toward the prior.
    s.bandwidth = 10.0f;
    const PosteriorLens blurred = posterior_lens(path, y, &x0, x, 0.5f, s);
    CHECK(blurred.effective_count > 0.9f * 64);
    CHECK(blurred.effective_count > 1.2f * exact.effective_count);
}

TEST_CASE("bad lens settings and empty targets are input errors") {
    const ProbabilityPath path;
    Points y(1, 2);
    y << 0, 0;
    LensSettings s;
    s.bandwidth = 0.0f;
    CHECK_THROWS_AS(posterior_lens(path, y, &y, {0, 0}, 0.5f, s), InputError);
    CHECK_THROWS_AS(posterior_lens(path, Points(0, 2), nullptr, {0, 0}, 0.5f), InputError);
    CHECK_THROWS_AS(posterior_lens(path, y, &y, {0, 0}, 0.5f, LensSettings{0.1f, 0}), InputError);
}
