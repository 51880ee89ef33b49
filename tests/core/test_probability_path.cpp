// Probability paths: boundary values, derivatives and conditional velocities by finite differences.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "core/base/rng.h"
#include "core/flow/probability_path.h"

// GCC 12 reports -Wmaybe-uninitialized inside its AVX-512 intrinsics (GCC bug 105593) when
// Eigen's maxCoeff is inlined with -march=native; the warning is spurious.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

using namespace fmp;

namespace {

std::vector<ProbabilityPath> all_paths() {
    std::vector<ProbabilityPath> paths;
    for (const auto& n : path_names()) paths.push_back(make_path(n));
    // Non-default parameters too, so the parameter plumbing is exercised.
    PathParams p;
    p.poly_n = 3.5f;
    paths.push_back(make_path("polynomial", p));
    p.sigma_min = 0.05f;
    paths.push_back(make_path("lipman-ot", p));
    p.beta_min = 0.5f, p.beta_max = 10.0f;
    paths.push_back(make_path("vp", p));
    p.sigma_min = 0.01f, p.ve_sigma_max = 4.0f;
    paths.push_back(make_path("ve", p));
    return paths;
}

Points random_points(Rng& rng, int n, float scale) {
    Points p(n, 2);
    for (int i = 0; i < n; ++i) p(i, 0) = scale * rng.normal(), p(i, 1) = scale * rng.normal();
    return p;
}

}  // namespace

TEST_CASE("path names round-trip, are case-insensitive, and unknown names list the choices") {
    REQUIRE(path_names().size() == 7);
    for (const auto& n : path_names()) {
        auto kind = path_kind_from_name(n);
        REQUIRE(kind);
        CHECK(path_name(*kind) == n);
        CHECK(make_path(n).name() == n);
        CHECK(make_path(n).formula().find("x_t") != std::string::npos);
    }
    CHECK(make_path("CondOT").kind() == PathKind::CondOT);
    CHECK(make_path("Linear-VP").kind() == PathKind::LinearVP);
    CHECK_FALSE(path_kind_from_name("ot"));
    try {
        make_path("diffusion");
        FAIL("expected InputError");
    } catch (const InputError& e) {
        std::string msg = e.what();
        CHECK(msg.find("diffusion") != std::string::npos);
        for (const auto& n : path_names()) CHECK(msg.find(n) != std::string::npos);
    }
}

TEST_CASE("parameters that break the path are rejected") {
    PathParams p;
    p.sigma_min = 0.0f;
    CHECK_THROWS_AS(make_path("lipman-ot", p), InputError);
    CHECK_THROWS_AS(make_path("ve", p), InputError);
    CHECK_NOTHROW(make_path("condot", p));  // CondOT does not use sigma_min
    p = {};
    p.poly_n = -1.0f;
    CHECK_THROWS_AS(make_path("polynomial", p), InputError);
    p = {};
    p.beta_max = 0.01f;
    CHECK_THROWS_AS(make_path("vp", p), InputError);
    p = {};
    p.ve_sigma_max = 1e-4f;
    CHECK_THROWS_AS(make_path("ve", p), InputError);
}

TEST_CASE("boundary values of every path") {
    const PathParams d;
    for (const auto& path : all_paths()) {
        CAPTURE(path.name());
        const PathParams& p = path.params();
        PathCoefficients c0 = path.at(0.0f), c1 = path.at(1.0f);
        switch (path.kind()) {
            case PathKind::CondOT:
            case PathKind::Cosine:
            case PathKind::LinearVP:
            case PathKind::Polynomial:
                CHECK(std::abs(c0.alpha) < 1e-6f);
                CHECK(c0.sigma == doctest::Approx(1.0).epsilon(1e-6));
                CHECK(c1.alpha == doctest::Approx(1.0).epsilon(1e-6));
                CHECK(std::abs(c1.sigma) < 1e-6f);
                CHECK(path.source_scale() == doctest::Approx(1.0).epsilon(1e-6));
                break;
            case PathKind::LipmanOT:
                CHECK(std::abs(c0.alpha) < 1e-6f);
                CHECK(c0.sigma == doctest::Approx(1.0).epsilon(1e-6));
                CHECK(c1.alpha == doctest::Approx(1.0).epsilon(1e-6));
                CHECK(c1.sigma == doctest::Approx(p.sigma_min).epsilon(1e-5));
                break;
            case PathKind::VP: {
                // alpha_0 = exp(-T(1)/2) is small but not zero (~e^-5 for the defaults).
                const double T1 = p.beta_min + 0.5 * (p.beta_max - p.beta_min);
                CHECK(c0.alpha == doctest::Approx(std::exp(-0.5 * T1)).epsilon(1e-5));
                if (p.beta_max == d.beta_max && p.beta_min == d.beta_min) {
                    CHECK(c0.alpha > 5e-3f);
                    CHECK(c0.alpha < 8e-3f);
                }
                CHECK(c0.sigma == doctest::Approx(std::sqrt(1.0 - std::exp(-T1))).epsilon(1e-6));
                CHECK(c1.alpha == doctest::Approx(1.0).epsilon(1e-6));
                CHECK(std::abs(c1.sigma) < 1e-6f);
                // Variance preserving everywhere.
                for (float t = 0.0f; t <= 1.0f; t += 0.05f) {
                    PathCoefficients c = path.at(t);
                    CHECK(c.alpha * c.alpha + c.sigma * c.sigma == doctest::Approx(1.0).epsilon(1e-5));
                }
                break;
            }
            case PathKind::VE:
                CHECK(c0.alpha == 1.0f);
                CHECK(c1.alpha == 1.0f);
                CHECK(c0.d_alpha == 0.0f);
                CHECK(c0.sigma == doctest::Approx(p.ve_sigma_max).epsilon(1e-5));
                CHECK(c1.sigma == doctest::Approx(p.sigma_min).epsilon(1e-5));
                CHECK(path.source_scale() == doctest::Approx(p.ve_sigma_max).epsilon(1e-5));
                break;
        }
        // Derivatives stay finite at both ends (VP and LinearVP clamp the singular d_sigma).
        for (const auto& c : {c0, c1}) {
            CHECK(std::isfinite(c.d_alpha));
            CHECK(std::isfinite(c.d_sigma));
        }
        // t a rounding error outside [0,1] is treated as the end point.
        PathCoefficients below = path.at(-1e-6f), above = path.at(1.0f + 1e-6f);
        CHECK(below.alpha == c0.alpha);
        CHECK(below.sigma == c0.sigma);
        CHECK(above.alpha == c1.alpha);
        CHECK(above.sigma == c1.sigma);
    }
}

TEST_CASE("d_alpha and d_sigma match central finite differences") {
    const float h = 1e-3f;
    for (const auto& path : all_paths()) {
        CAPTURE(path.name());
        CAPTURE(path.params().poly_n);
        for (int k = 1; k < 40; ++k) {
            const float t = 0.025f * static_cast<float>(k);
            CAPTURE(t);
            PathCoefficients c = path.at(t), cp = path.at(t + h), cm = path.at(t - h);
            const double fd_a = (static_cast<double>(cp.alpha) - cm.alpha) / (2.0 * h);
            const double fd_s = (static_cast<double>(cp.sigma) - cm.sigma) / (2.0 * h);
            CHECK(std::abs(fd_a - c.d_alpha) <= 2e-3 * std::max(1.0, std::abs(fd_a)));
            CHECK(std::abs(fd_s - c.d_sigma) <= 2e-3 * std::max(1.0, std::abs(fd_s)));
        }
    }
}

TEST_CASE("conditional velocity is the time derivative of the conditional flow") {
    Rng rng(11);
    const int n = 256;
    const float h = 1e-3f;
    for (const auto& path : all_paths()) {
        CAPTURE(path.name());
        Points x0 = random_points(rng, n, 1.0f), x1 = random_points(rng, n, 2.0f);
        VectorF t(n), tp(n), tm(n);
        for (int i = 0; i < n; ++i) {
            t[i] = rng.uniform(0.02f, 0.98f);
            tp[i] = t[i] + h;
            tm[i] = t[i] - h;
        }
        Points ut, xp, xm;
        path.conditional_velocity(x0, x1, t, ut);
        path.sample_xt(x0, x1, tp, xp);
        path.sample_xt(x0, x1, tm, xm);
        REQUIRE(ut.rows() == n);
        for (int i = 0; i < n; ++i) {
            for (int j = 0; j < 2; ++j) {
                const double fd = (static_cast<double>(xp(i, j)) - xm(i, j)) / (2.0 * h);
                CHECK(std::abs(fd - ut(i, j)) <= 5e-3 * std::max(1.0, std::abs(fd)));
            }
        }
        // x_t itself is alpha x1 + sigma x0 row by row.
        Points xt;
        path.sample_xt(x0, x1, t, xt);
        for (int i = 0; i < n; i += 17) {
            PathCoefficients c = path.at(t[i]);
            CHECK(xt(i, 0) == doctest::Approx(c.alpha * x1(i, 0) + c.sigma * x0(i, 0)).epsilon(1e-5));
            CHECK(xt(i, 1) == doctest::Approx(c.alpha * x1(i, 1) + c.sigma * x0(i, 1)).epsilon(1e-5));
        }
    }
}

TEST_CASE("sample_xt_and_target agrees with the separate calls and reuses the outputs") {
    Rng rng(5);
    const int n = 4096;
    for (const auto& path : all_paths()) {
        CAPTURE(path.name());
        Points x0 = random_points(rng, n, 1.0f), x1 = random_points(rng, n, 1.5f);
        VectorF t(n);
        for (int i = 0; i < n; ++i) t[i] = rng.uniform();
        Points xt, ut, xt2, ut2;
        path.sample_xt(x0, x1, t, xt);
        path.conditional_velocity(x0, x1, t, ut);
        path.sample_xt_and_target(x0, x1, t, xt2, ut2);
        CHECK((xt - xt2).cwiseAbs().maxCoeff() <= 1e-6f * std::max(1.0f, xt.cwiseAbs().maxCoeff()));
        CHECK((ut - ut2).cwiseAbs().maxCoeff() <= 1e-6f * std::max(1.0f, ut.cwiseAbs().maxCoeff()));
        const float* px = xt2.data();
        const float* pu = ut2.data();
        path.sample_xt_and_target(x0, x1, t, xt2, ut2);
        CHECK(xt2.data() == px);
        CHECK(ut2.data() == pu);
    }
    Points a(3, 2), b(4, 2), out;
    VectorF t(3);
    CHECK_THROWS(make_path("condot").sample_xt(a, b, t, out));
}

TEST_CASE("CondOT target is x1 - x0 exactly") {
    Rng rng(2);
    Points x0 = random_points(rng, 64, 1.0f), x1 = random_points(rng, 64, 1.0f);
    VectorF t(64);
    for (int i = 0; i < 64; ++i) t[i] = rng.uniform();
    Points ut;
    make_path("condot").conditional_velocity(x0, x1, t, ut);
    CHECK((ut - (x1 - x0)).cwiseAbs().maxCoeff() == 0.0f);
}
