// The SDE sampler against the ODE: the same marginals at t = 0.5 and 1 for any diffusion, and
// not without the score correction; gamma = 0 is the Euler ODE.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "core/base/rng.h"
#include "core/data/dataset.h"
#include "core/flow/prediction.h"
#include "core/flow/sde_sampler.h"
#include "core/metrics/metrics.h"

using namespace fmp;

namespace {

// 8 gaussians (radius 2.5, sd 0.3) from a normal source: the marginal velocity is known in closed
// form (each component is a normal target, weighted by its posterior), and so is the score.
struct ExactField {
    ProbabilityPath path;
    std::vector<Eigen::RowVector2f> means;
    float s = 0.3f;
    explicit ExactField(PathKind kind) : path(kind) {
        for (int k = 0; k < 8; ++k)
            means.emplace_back(2.5f * std::cos(k * 0.7853982f), 2.5f * std::sin(k * 0.7853982f));
    }
    // v = sum_k w_k(x) (d_alpha E[x1|x,k] + d_sigma E[x0|x,k]); score = sum_k w_k (-(x - alpha m_k) / var).
    void eval(const Points& x, float t, Points& v, Points* score) const {
        const PathCoefficients c = path.at(t);
        const float var = c.alpha * c.alpha * s * s + c.sigma * c.sigma;
        v.setZero(x.rows(), 2);
        if (score) score->setZero(x.rows(), 2);
        for (Eigen::Index i = 0; i < x.rows(); ++i) {
            double w[8], top = -1e300, sum = 0;
            for (int k = 0; k < 8; ++k) {
                w[k] = -(x.row(i) - c.alpha * means[k]).squaredNorm() / (2.0 * var);
                top = std::max(top, w[k]);
            }
            for (double& wk : w) sum += (wk = std::exp(wk - top));
            for (int k = 0; k < 8; ++k) {
                const Eigen::RowVector2f d = x.row(i) - c.alpha * means[k];
                const Eigen::RowVector2f e1 = means[k] + c.alpha * s * s / var * d, e0 = c.sigma / var * d;
                const float wk = static_cast<float>(w[k] / sum);
                v.row(i) += wk * (c.d_alpha * e1 + c.d_sigma * e0);
                if (score) score->row(i) -= wk / var * d;
            }
        }
    }
    VelocityFn fn() const {
        return [this](const Points& x, float t, Points& v) { eval(x, t, v, nullptr); };
    }
};

Points starts(int n, uint64_t seed) {
    Rng rng(seed, 3);
    return Dataset(DatasetKind::Normal).sample(n, rng);
}

}  // namespace

TEST_CASE("the SDE's marginals at t = 0.5 and 1 match the ODE's, within sampling noise") {
    for (PathKind kind : {PathKind::CondOT, PathKind::Cosine}) {
        ExactField field(kind);
        CAPTURE(field.path.name());
        const int n = 3000;
        for (float t_end : {0.5f, 1.0f}) {
            CAPTURE(t_end);
            // Three ODE draws: their mutual distances are the sampling floor.
            std::vector<Points> ode;
            for (uint64_t seed : {1, 2, 3}) {
                ode.push_back(starts(n, seed));
                integrate_particles(field.fn(), SolverKind::RK4, ode.back(), 0.0f, t_end, 40);
            }
            const double floor = (sliced_wasserstein2(ode[0], ode[1], 128, 5) +
                                  sliced_wasserstein2(ode[0], ode[2], 128, 5) +
                                  sliced_wasserstein2(ode[1], ode[2], 128, 5)) / 3.0;
            auto distance_to_ode = [&](const Points& p) {
                double sum = 0.0;
                for (const Points& o : ode) sum += sliced_wasserstein2(p, o, 128, 5);
                return sum / 3.0;
            };
            const Points& ode_a = ode[0];
            for (float gamma : {1.0f, 2.5f}) {
                CAPTURE(gamma);
                Points sde = starts(n, 4);
                Rng noise(77, 1);
                integrate_sde(field.fn(), field.path, SdeSettings{gamma, 200}, sde, 0.0f, t_end, noise);
                const double d = distance_to_ode(sde);
                MESSAGE(field.path.name() << " t=" << t_end << " gamma=" << gamma << ": SW2(SDE, ODE) "
                                          << d << ", floor " << floor);
                CHECK(d < 1.3 * floor + 0.01);
            }
            // Without the score correction the noise spreads the particles: the marginals differ.
            Points plain = starts(n, 4);
            Rng noise(77, 1);
            const float gamma = 2.5f;
            const int steps = 200;
            const float h = t_end / steps;
            Points v;
            for (int k = 0; k < steps; ++k) {
                const float t = k * h;
                field.fn()(plain, t, v);
                const float g = sde_diffusion(field.path, gamma, t);
                plain += h * v;
                for (Eigen::Index i = 0; i < plain.rows(); ++i)
                    plain(i, 0) += g * std::sqrt(h) * noise.normal(), plain(i, 1) += g * std::sqrt(h) * noise.normal();
            }
            const double wrong = distance_to_ode(plain);
            (void)ode_a;
            MESSAGE("without the score term: " << wrong);
            CHECK(wrong > 2.5 * floor);
        }
    }
}

TEST_CASE("gamma = 0 is the Euler ODE; the diffusion fades with sigma_t; bad settings are refused") {
    ExactField field(PathKind::CondOT);
    Points a = starts(200, 4), b = a;
    Rng rng(1);
    CHECK(integrate_sde(field.fn(), field.path, SdeSettings{0.0f, 30}, a, 0.0f, 1.0f, rng) == 30);
    integrate_particles(field.fn(), SolverKind::Euler, b, 0.0f, 1.0f, 30);
    CHECK((a - b).cwiseAbs().maxCoeff() < 1e-4f);
    CHECK(sde_diffusion(field.path, 2.0f, 0.0f) == doctest::Approx(2.0f));
    CHECK(sde_diffusion(field.path, 2.0f, 0.75f) == doctest::Approx(0.5f));
    CHECK(sde_diffusion(field.path, 2.0f, 1.0f) == doctest::Approx(0.0f));
    std::vector<Points> frames;
    Points x = starts(10, 5);
    integrate_sde(field.fn(), field.path, SdeSettings{1.0f, 8}, x, 0.0f, 1.0f, rng, &frames);
    CHECK(frames.size() == 9);
    CHECK((frames.back() - x).cwiseAbs().maxCoeff() == 0.0f);
    CHECK_THROWS_AS(integrate_sde(field.fn(), field.path, SdeSettings{-1.0f, 8}, x, 0.0f, 1.0f, rng), InputError);
    CHECK_THROWS_AS(integrate_sde(field.fn(), field.path, SdeSettings{1.0f, 0}, x, 0.0f, 1.0f, rng), InputError);
    CHECK_THROWS_AS(integrate_sde(field.fn(), field.path, SdeSettings{1.0f, 8}, x, 1.0f, 0.0f, rng), InputError);
    const SdeSettings nan_gamma{std::nanf(""), 8};
    CHECK_THROWS_AS(nan_gamma.validate(), InputError);
}

TEST_CASE("the score read off the velocity is the mixture's closed-form score") {
    for (PathKind kind : {PathKind::CondOT, PathKind::VP, PathKind::VE}) {
        ExactField field(kind);
        CAPTURE(field.path.name());
        Points x = starts(300, 9) * 2.0f;
        for (float t : {0.1f, 0.5f, 0.9f}) {
            CAPTURE(t);
            Points v, exact, score;
            field.eval(x, t, v, &exact);
            score_from_velocity(field.path, x, t, v, score);
            CHECK((score - exact).cwiseAbs().maxCoeff() <= 2e-3f * (1.0f + exact.cwiseAbs().maxCoeff()));
        }
    }
}
