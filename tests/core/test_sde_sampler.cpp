// The SDE sampler against the ODE: the same marginals at t = 0.5 and 1 for any diffusion, and
// not without the score correction; gamma = 0 is the Euler ODE; the counter-based noise and the
// sampler that draws it (what the engines run) give the closed-form marginals of a normal target.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "core/base/counter_noise.h"
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

TEST_CASE("counter normals are standard, independent across components, steps, particles and seeds") {
    const int n = 200000;
    double sum[2] = {0, 0}, sq[2] = {0, 0}, cross = 0, lag = 0, tail = 0;
    Eigen::Vector2f prev(0, 0);
    for (int i = 0; i < n; ++i) {
        // Half the draws vary the step, half the particle, so both counters are exercised.
        const uint32_t step = static_cast<uint32_t>(i % 2 == 0 ? i : 7);
        const uint32_t index = static_cast<uint32_t>(i % 2 == 0 ? 3 : i);
        const Eigen::Vector2f z = counter_normals(0x123456789abcdefULL, step, index);
        REQUIRE(std::isfinite(z.x()));
        REQUIRE(std::isfinite(z.y()));
        for (int c = 0; c < 2; ++c) sum[c] += z[c], sq[c] += double(z[c]) * z[c];
        cross += double(z.x()) * z.y();
        lag += double(z.x()) * prev.x();
        tail += std::abs(z.x()) > 1.959964f;
        prev = z;
    }
    // Standard errors: mean 1/sqrt(n) = 0.0022, variance sqrt(2/n) = 0.0032; 5 sigma bounds.
    for (int c = 0; c < 2; ++c) {
        CHECK(std::abs(sum[c] / n) < 0.012);
        CHECK(std::abs(sq[c] / n - 1.0) < 0.016);
    }
    CHECK(std::abs(cross / n) < 0.012);
    CHECK(std::abs(lag / n) < 0.012);
    CHECK(std::abs(tail / n - 0.05) < 0.0025);  // the Gaussian's 5 % beyond 1.96
    // A pure function of its counters; each counter and both halves of the seed change the draw.
    const Eigen::Vector2f a = counter_normals(5, 10, 20);
    CHECK(a == counter_normals(5, 10, 20));
    CHECK(a != counter_normals(5, 11, 20));
    CHECK(a != counter_normals(5, 10, 21));
    CHECK(a != counter_normals(6, 10, 20));
    CHECK(a != counter_normals(5 + (uint64_t(1) << 32), 10, 20));
}

namespace {

// A normal target N(m, s^2 I) from a standard normal source: the marginal velocity is linear in x,
// v = d_alpha E[x1 | x] + d_sigma E[x0 | x], and p_t = N(alpha m, (alpha^2 s^2 + sigma^2) I).
struct NormalTarget {
    ProbabilityPath path;
    Eigen::RowVector2f m{1.0f, -0.5f};
    float s = 0.5f;
    VelocityFn fn() const {
        return [this](const Points& x, float t, Points& v) {
            const PathCoefficients c = path.at(t);
            const float var = c.alpha * c.alpha * s * s + c.sigma * c.sigma;
            v.resize(x.rows(), 2);
            for (Eigen::Index i = 0; i < x.rows(); ++i) {
                const Eigen::RowVector2f d = x.row(i) - c.alpha * m;
                v.row(i) = c.d_alpha * (m + c.alpha * s * s / var * d) + c.d_sigma * c.sigma / var * d;
            }
        };
    }
};

}  // namespace

TEST_CASE("the counter-noise SDE gives a normal target's closed-form marginals; slices draw as one call") {
    for (PathKind kind : {PathKind::CondOT, PathKind::VP}) {
        NormalTarget target{ProbabilityPath(kind)};
        CAPTURE(target.path.name());
        const int n = 20000;
        for (float t_end : {0.5f, 1.0f}) {
            CAPTURE(t_end);
            Points x = starts(n, 9) * target.path.source_scale();
            CHECK(integrate_sde_counter(target.fn(), target.path, SdeSettings{2.0f, 200}, x, 0.0f, t_end, 31, 0) == 200);
            const PathCoefficients c = target.path.at(t_end);
            const double var = double(c.alpha) * c.alpha * target.s * target.s + double(c.sigma) * c.sigma;
            const Eigen::RowVector2d mean = x.cast<double>().colwise().mean();
            const Eigen::RowVector2d spread =
                (x.cast<double>().rowwise() - mean).array().square().colwise().mean();
            MESSAGE(target.path.name() << " t=" << t_end << ": mean " << mean << " (exact "
                                       << (c.alpha * target.m) << "), variance " << spread
                                       << " (exact " << var << ")");
            for (int d = 0; d < 2; ++d) {
                // Sampling error ~ sqrt(var / n) for the mean, var sqrt(2 / n) for the variance;
                // Euler–Maruyama's bias at 200 steps is below both.
                CHECK(std::abs(mean[d] - c.alpha * target.m[d]) < 5.0 * std::sqrt(var / n) + 0.005);
                CHECK(std::abs(spread[d] / var - 1.0) < 5.0 * std::sqrt(2.0 / n) + 0.01);
            }
        }
        // Two slices, the second starting at global step 100, equal one call of 200 steps (up to
        // the rounding of the step times); a slice that restarts the noise at step 0 does not.
        const Points x0 = starts(500, 12);
        Points whole = x0, sliced = x0, restarted = x0;
        const SdeSettings half{1.5f, 100};
        integrate_sde_counter(target.fn(), target.path, SdeSettings{1.5f, 200}, whole, 0.0f, 1.0f, 4, 0);
        integrate_sde_counter(target.fn(), target.path, half, sliced, 0.0f, 0.5f, 4, 0);
        integrate_sde_counter(target.fn(), target.path, half, sliced, 0.5f, 1.0f, 4, 100);
        integrate_sde_counter(target.fn(), target.path, half, restarted, 0.0f, 0.5f, 4, 0);
        integrate_sde_counter(target.fn(), target.path, half, restarted, 0.5f, 1.0f, 4, 0);
        CHECK((whole - sliced).cwiseAbs().maxCoeff() < 1e-4f);
        CHECK((whole - restarted).cwiseAbs().maxCoeff() > 0.1f);
    }
}

TEST_CASE("the counter-noise SDE: sde_step's drift, gamma = 0 is Euler, bad settings are refused") {
    ExactField field(PathKind::Cosine);
    // One step from the same points: the drift part equals sde_step's (its noise is the stream's,
    // so compare the two after subtracting each one's noise: h = 0.01 with the known coefficients).
    const Points x0 = starts(300, 6);
    const float t = 0.3f, h = 0.01f, gamma = 1.2f;
    Points a = x0, b = x0, v;
    integrate_sde_counter(field.fn(), field.path, SdeSettings{gamma, 1}, a, t, t + h, 17, 40);
    Rng rng(3);
    Rng replay = rng;
    sde_step(field.fn(), field.path, gamma, b, t, h, rng, v);
    const SdeStepCoefficients c = sde_step_coefficients(field.path, gamma, t, h);
    REQUIRE(c.diffuses);
    CHECK(c.noise == doctest::Approx(sde_diffusion(field.path, gamma, t) * std::sqrt(h)));
    for (Eigen::Index i = 0; i < x0.rows(); ++i) {
        const Eigen::RowVector2f drift_a = a.row(i) - c.noise * counter_normals(17, 40, uint32_t(i)).transpose();
        Eigen::RowVector2f drift_b = b.row(i);
        drift_b.x() -= c.noise * replay.normal();
        drift_b.y() -= c.noise * replay.normal();
        REQUIRE((drift_a - drift_b).cwiseAbs().maxCoeff() < 1e-5f);
    }
    // gamma = 0: the Euler ODE, no noise at all.
    Points e = x0, ode = x0;
    integrate_sde_counter(field.fn(), field.path, SdeSettings{0.0f, 30}, e, 0.0f, 1.0f, 1, 0);
    integrate_particles(field.fn(), SolverKind::Euler, ode, 0.0f, 1.0f, 30);
    CHECK((e - ode).cwiseAbs().maxCoeff() < 1e-4f);
    Points x = x0;
    CHECK_THROWS_AS(integrate_sde_counter(field.fn(), field.path, SdeSettings{-1.0f, 8}, x, 0.0f, 1.0f, 1, 0), InputError);
    CHECK_THROWS_AS(integrate_sde_counter(field.fn(), field.path, SdeSettings{6.0f, 8}, x, 0.0f, 1.0f, 1, 0), InputError);
    CHECK_THROWS_AS(integrate_sde_counter(field.fn(), field.path, SdeSettings{1.0f, 0}, x, 0.0f, 1.0f, 1, 0), InputError);
    CHECK_THROWS_AS(integrate_sde_counter(field.fn(), field.path, SdeSettings{1.0f, 8}, x, 0.5f, 0.5f, 1, 0), InputError);
    CHECK((x - x0).cwiseAbs().maxCoeff() == 0.0f);  // a refused call moves nothing
}
