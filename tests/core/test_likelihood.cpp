// The likelihood by the change of variables against closed forms: normal -> normal under CondOT
// (the exact field is linear, log p_1 and the log-det are known), the source's scaled density,
// and the held-out fit of a trained model.
#include <doctest/doctest.h>

#include <cmath>

#include "core/base/rng.h"
#include "core/flow/divergence_integration.h"
#include "core/instruments/likelihood.h"

#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

using namespace fmp;

namespace {

// N(0, I) -> N(m, s^2 I) with the independent coupling under CondOT: p_t = N(t m, sig_t^2 I) with
// sig_t^2 = (1-t)^2 + t^2 s^2, and the exact marginal field is affine,
// u_t(x) = m + (sig_t'/sig_t)(x - t m) with sig_t' = (t s^2 - (1 - t)) / sig_t, div = 2
// sig_t'/sig_t.
struct NormalToNormal {
    Eigen::Vector2f m{1.5f, -0.5f};
    float s = 0.5f;
    double sig(double t) const { return std::sqrt((1 - t) * (1 - t) + t * t * s * s); }
    double rate(double t) const {
        const double g = sig(t);
        return (t * s * s - (1 - t)) / (g * g);
    }
    void field(const Points& x, float t, Points& v, VectorF& div) const {
        const float r = static_cast<float>(rate(t));
        v.resize(x.rows(), 2);
        div.resize(x.rows());
        for (Eigen::Index i = 0; i < x.rows(); ++i) {
            v.row(i) = m.transpose() + r * (x.row(i) - t * m.transpose());
            div[i] = 2 * r;
        }
    }
    DivergenceIntegrator integrator() const {
        return [this](Points& x, VectorF& l, float ta, float tb, SolverKind k, int steps) {
            integrate_with_divergence(
                [this](const Points& p, float t, Points& v, VectorF& d) { field(p, t, v, d); }, k,
                x, l, ta, tb, steps);
        };
    }
    double log_p1(Eigen::Vector2f x) const {
        return -std::log(2 * M_PI * s * s) - 0.5 * (x - m).squaredNorm() / (s * s);
    }
};

}  // namespace

TEST_CASE("normal to normal: the computed log p_1 is the closed form to 1e-3") {
    const NormalToNormal f;
    Rng rng(4);
    Points x(200, 2);
    for (Eigen::Index i = 0; i < x.rows(); ++i)
        x.row(i) << f.m.x() + 1.5f * f.s * rng.normal(), f.m.y() + 1.5f * f.s * rng.normal();
    VectorF lp;
    Points x0;
    log_likelihood(f.integrator(), ProbabilityPath(PathKind::CondOT), Dataset(DatasetKind::Normal),
                   x, LikelihoodSettings{}, lp, &x0);
    double worst = 0;
    for (Eigen::Index i = 0; i < x.rows(); ++i)
        worst = std::max(worst, std::abs(lp[i] - f.log_p1(x.row(i).transpose())));
    MESSAGE("largest |log p - closed form| over 200 points, 32 RK4 steps: " << worst);
    CHECK(worst < 1e-3);
    // The source points are the inverse map of the affine flow: x0 = (x - m) / s.
    CHECK((x0.row(3) - (x.row(3) - f.m.transpose()) / f.s).norm() < 1e-3f);
    // One Euler step is a poor solver of the same ODE: the check above can fail.
    LikelihoodSettings euler{SolverKind::Euler, 1};
    log_likelihood(f.integrator(), ProbabilityPath(PathKind::CondOT), Dataset(DatasetKind::Normal),
                   x, euler, lp);
    CHECK(std::abs(lp[0] - f.log_p1(x.row(0).transpose())) > 1e-2);
}

TEST_CASE("the log-det along a path accumulates 2 log sig_t for the normal-to-normal flow") {
    const NormalToNormal f;
    const LogDetPath path =
        log_det_along_path(f.integrator(), Eigen::Vector2f(1.0f, 0.2f), LikelihoodSettings{});
    REQUIRE(path.t.size() == 33);
    CHECK(path.log_det.front() == 0.0f);
    for (std::size_t k = 0; k < path.t.size(); k += 4)
        CHECK(path.log_det[k] ==
              doctest::Approx(2 * std::log(f.sig(path.t[k]))).epsilon(1e-3).scale(1));
    // The path ends at the point and starts at its source point.
    CHECK((path.x.row(32).transpose() - Eigen::Vector2f(1.0f, 0.2f)).norm() < 1e-6f);
    CHECK((path.x.row(0).transpose() - (Eigen::Vector2f(1.0f, 0.2f) - f.m) / f.s).norm() < 1e-3f);
}

TEST_CASE("the source density is scaled with the path's sigma_0 (VE) and must be known") {
    const ProbabilityPath ve(PathKind::VE);
    const float s0 = ve.source_scale();
    Points x(1, 2);
    x << 0.3f * s0, -0.2f * s0;
    VectorF lp;
    source_log_density(ve, Dataset(DatasetKind::Normal), x, lp);
    CHECK(lp[0] == doctest::Approx(-std::log(2 * M_PI) - 0.5 * (0.09 + 0.04) - 2 * std::log(s0))
                       .epsilon(1e-5));
    CHECK_FALSE(likelihood_available(Dataset(DatasetKind::Moons)));
    const NormalToNormal f;
    CHECK_THROWS_AS(log_likelihood(f.integrator(), ProbabilityPath(), Dataset(DatasetKind::Moons),
                                   x, LikelihoodSettings{}, lp),
                    InputError);
    CHECK_THROWS_AS(log_likelihood(f.integrator(), ProbabilityPath(), Dataset(DatasetKind::Normal),
                                   x, LikelihoodSettings{SolverKind::RK4, 0}, lp),
                    InputError);
}

TEST_CASE("a trained model's held-out fit: NLL above the target's entropy, KL = their difference") {
    auto engine = make_cpu_engine();
    TrainConfig config;
    config.mlp.width = 64;
    config.optimizer.lr = 2e-3f;
    const Dataset source(DatasetKind::Normal), target(DatasetKind::EightGaussians);
    engine->reset(config, source, target);
    Rng rng(12, 3);
    const Points held = target.sample(256, rng);
    const DensityFit before =
        density_fit(*engine, config.path, source, target, held, LikelihoodSettings{});
    engine->train(1500);
    const DensityFit after =
        density_fit(*engine, config.path, source, target, held, LikelihoodSettings{});
    MESSAGE("8 gaussians NLL untrained " << before.nll << ", after 1500 steps " << after.nll
                                         << ", target entropy " << after.target_entropy);
    CHECK(after.nll < before.nll - 0.5);
    CHECK(after.kl == doctest::Approx(after.nll - after.target_entropy));
    CHECK(after.kl > -0.1);  // KL >= 0 up to the Monte Carlo error of 256 points
    CHECK(std::isfinite(after.target_entropy));
}
