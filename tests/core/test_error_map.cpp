// The error map and the densities behind it: the marginal density integrates to one and is the
// source's at t=0, the map is |v - u|^2 cell by cell, the weighted mean is the p_t average.
#include <doctest/doctest.h>

#include <cmath>

#include "core/engine/engine.h"
#include "core/flow/marginal_velocity.h"
#include "core/instruments/error_map.h"

#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

using namespace fmp;

namespace {

PlaneGrid square(float half, int n) {
    PlaneGrid g;
    g.box = Eigen::AlignedBox2f(Eigen::Vector2f(-half, -half), Eigen::Vector2f(half, half));
    g.nx = g.ny = n;
    return g;
}

}  // namespace

TEST_CASE("the marginal density p_t integrates to one and is the source's density at t=0") {
    const Points refs = marginal_reference_points(Dataset(DatasetKind::Moons), 256);
    const ProbabilityPath path(PathKind::CondOT);
    const Points g = square(7, 200).centres();
    const double cell_area = (14.0 / 200) * (14.0 / 200);
    for (float t : {0.0f, 0.5f, 0.9f}) {
        VectorF lp;
        marginal_log_density(path, refs, t, g, lp);
        CHECK(lp.array().exp().cast<double>().sum() * cell_area ==
              doctest::Approx(1.0).epsilon(2e-3));
    }
    VectorF lp0, normal;
    marginal_log_density(path, refs, 0.0f, g, lp0);
    Dataset(DatasetKind::Normal).log_density(g, normal);
    CHECK((lp0 - normal).cwiseAbs().maxCoeff() < 1e-4f);
}

TEST_CASE("the error map is |v_theta - u_t|^2 per cell with the p_t-weighted mean") {
    auto engine = make_cpu_engine();
    TrainConfig config;
    config.mlp.width = 32;
    const Dataset target(DatasetKind::EightGaussians);
    engine->reset(config, Dataset(DatasetKind::Normal), target);
    const Points refs = marginal_reference_points(target, 256);
    const ProbabilityPath path(PathKind::CondOT);
    ErrorMapRequest req;
    req.grid.nx = 24;
    req.grid.ny = 16;
    req.t = 0.7f;
    const ErrorMap map = compute_error_map(*engine, path, refs, req);
    const Points g = req.grid.centres();
    Points v, u;
    engine->eval_velocity(g, req.t, v);
    marginal_velocity(path, refs, req.t, g, u);
    VectorF lp;
    marginal_log_density(path, refs, req.t, g, lp);
    double num = 0, den = 0;
    for (Eigen::Index i = 0; i < g.rows(); ++i) {
        const double e = (v.row(i) - u.row(i)).squaredNorm();
        CHECK(map.error[i] == doctest::Approx(e).epsilon(1e-5));
        num += std::exp(double(lp[i])) * e;
        den += std::exp(double(lp[i]));
    }
    CHECK(map.weighted_mean == doctest::Approx(num / den).epsilon(1e-4));
    CHECK(map.max_error == doctest::Approx(map.error.maxCoeff()));
    // Cells run from the bottom-left corner, row by row.
    CHECK(req.grid.cell_centre(0, 0).x() == doctest::Approx(-4 + 8.0f / 48));
    CHECK(req.grid.cell_centre(0, 1).y() == doctest::Approx(-4 + 8.0f * 1.5f / 16));
    CHECK(g.row(24).y() == doctest::Approx(-4 + 8.0f * 1.5f / 16));
    req.grid.nx = 1;
    CHECK_THROWS_AS(compute_error_map(*engine, path, refs, req), InputError);
}

TEST_CASE("closed-form densities of the analytic datasets integrate to one") {
    const Points g = square(6, 600).centres();
    const double area = (12.0 / 600) * (12.0 / 600);
    for (DatasetKind k : {DatasetKind::Normal, DatasetKind::Uniform, DatasetKind::EightGaussians,
                          DatasetKind::Checkerboard}) {
        const Dataset d(k);
        CAPTURE(d.name());
        REQUIRE(d.has_density());
        VectorF lp;
        d.log_density(g, lp);
        CHECK(lp.array().exp().cast<double>().sum() * area == doctest::Approx(1.0).epsilon(5e-3));
    }
    // Values: the checkerboard's filled cells hold 1/8 each; 8 gaussians at a centre.
    Points p(3, 2);
    p << -1.5f, -1.5f, -0.5f, -1.5f, 2.5f, 0.0f;
    VectorF lp;
    Dataset(DatasetKind::Checkerboard).log_density(p, lp);
    CHECK(lp[0] == doctest::Approx(std::log(1.0 / 8)));
    CHECK(std::isinf(lp[1]));
    Dataset(DatasetKind::EightGaussians).log_density(p, lp);
    CHECK(lp[2] == doctest::Approx(std::log(1.0 / (8 * 2 * M_PI * 0.04))).epsilon(1e-3));
    CHECK_FALSE(Dataset(DatasetKind::Moons).has_density());
    CHECK_THROWS_AS(Dataset(DatasetKind::Moons).log_density(p, lp), InputError);
}
