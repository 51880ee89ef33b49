// Maximum-likelihood CNF training: the reverse pass through the divergence against finite
// differences, the discretized NLL's gradient likewise, and training that lowers the NLL.
#include <doctest/doctest.h>

#include <cmath>

#include "core/base/rng.h"
#include "core/instruments/cnf_training.h"
#include "tests/mlp_test_support.h"

#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

using namespace fmp;
using namespace fmp::test;

namespace {

Points random_points(Rng& rng, int n) {
    Points x(n, 2);
    for (int i = 0; i < n; ++i) x(i, 0) = 1.5f * rng.normal(), x(i, 1) = 1.5f * rng.normal();
    return x;
}

// L = sum_i alpha_i . v_i + beta_i div_i in double, from the forward pass.
double probe_loss(const Mlp& m, const Points& x, float t, const Points& alpha, const VectorF& beta) {
    Points v;
    VectorF div;
    m.evaluate_divergence(x, t, v, div);
    return (v.cast<double>().cwiseProduct(alpha.cast<double>())).sum() +
           div.cast<double>().dot(beta.cast<double>());
}

}  // namespace

TEST_CASE("the gradient through v and div v matches central differences (weights and inputs)") {
    for (Activation a : {Activation::SiLU, Activation::Tanh, Activation::GELU, Activation::SELU}) {
        for (TimeEncoding e : {TimeEncoding::Raw, TimeEncoding::Fourier}) {
            CAPTURE(activation_name(a));
            CAPTURE(time_encoding_name(e));
            Mlp m(mlp_config(24, 2, a, e, 2), 5);
            Rng rng(7);
            const Points x = random_points(rng, 6);
            Points alpha = random_points(rng, 6);
            VectorF beta(6);
            for (int i = 0; i < 6; ++i) beta[i] = rng.normal();
            const float t = 0.4f;
            std::vector<float> grad(m.config().parameter_count(), 0.0f);
            Points g_x, v;
            VectorF div;
            m.divergence_backward(x, t, alpha, beta, grad, g_x, &v, &div);
            Points v_ref;
            VectorF div_ref;
            m.evaluate_divergence(x, t, v_ref, div_ref);
            CHECK((v - v_ref).cwiseAbs().maxCoeff() < 1e-4f);
            CHECK((div - div_ref).cwiseAbs().maxCoeff() < 1e-4f);
            const double scale = Eigen::Map<const VectorF>(grad.data(), static_cast<Eigen::Index>(grad.size())).cwiseAbs().maxCoeff();
            // A spread of weights over every layer, biases included.
            for (std::size_t p = 3; p < grad.size(); p += grad.size() / 23) {
                Mlp plus = m, minus = m;
                const float hstep = 2e-3f;
                plus.params()[p] += hstep;
                minus.params()[p] -= hstep;
                const double fd = (probe_loss(plus, x, t, alpha, beta) - probe_loss(minus, x, t, alpha, beta)) / (2 * hstep);
                CAPTURE(p);
                CHECK(std::abs(fd - grad[p]) < 2e-2 * scale + 1e-3);
            }
            for (int i = 0; i < 6; ++i)
                for (int d = 0; d < 2; ++d) {
                    Points xp = x, xm = x;
                    xp(i, d) += 2e-3f;
                    xm(i, d) -= 2e-3f;
                    const double fd = (probe_loss(m, xp, t, alpha, beta) - probe_loss(m, xm, t, alpha, beta)) / 4e-3;
                    CHECK(std::abs(fd - g_x(i, d)) < 2e-2 * (1 + std::abs(fd)));
                }
        }
    }
}

TEST_CASE("the discretized NLL's gradient matches central differences through all ODE steps") {
    const MlpConfig mc = mlp_config(16, 2, Activation::Tanh);
    CnfSettings s;
    s.ode_steps = 6;
    const CnfTrainer cnf(mc, ProbabilityPath(), Dataset(DatasetKind::Normal),
                         Dataset(DatasetKind::EightGaussians), s);
    Rng rng(3);
    const Points x = random_points(rng, 16);
    std::vector<float> grad;
    cnf.loss_and_gradient(x, grad);
    std::vector<float> scratch;
    for (std::size_t p = 1; p < grad.size(); p += grad.size() / 17) {
        CnfTrainer plus = cnf, minus = cnf;
        const_cast<Mlp&>(plus.mlp()).params()[p] += 2e-3f;
        const_cast<Mlp&>(minus.mlp()).params()[p] -= 2e-3f;
        const double fd = (double(plus.loss_and_gradient(x, scratch)) - minus.loss_and_gradient(x, scratch)) / 4e-3;
        CAPTURE(p);
        CHECK(std::abs(fd - grad[p]) < 3e-2 * (1 + std::abs(fd)));
    }
}

TEST_CASE("maximum-likelihood training lowers the held-out NLL; a drawn source is refused") {
    const MlpConfig mc = mlp_config(32, 2, Activation::SiLU);
    CnfSettings s;
    s.ode_steps = 8;
    s.batch = 128;
    CnfTrainer cnf(mc, ProbabilityPath(), Dataset(DatasetKind::Normal), Dataset(DatasetKind::EightGaussians), s);
    double first = 0, last = 0;
    for (int i = 0; i < 200; ++i) {
        const float nll = cnf.step();
        if (i < 10) first += nll / 10;
        if (i >= 190) last += nll / 10;
    }
    MESSAGE("CNF batch NLL: first 10 steps " << first << ", last 10 of 200 " << last);
    CHECK(last < first - 0.5);
    CHECK_THROWS_AS(CnfTrainer(mc, ProbabilityPath(), Dataset(DatasetKind::Moons), Dataset(DatasetKind::Moons), s),
                    InputError);
}

TEST_CASE("the race: both sides start from the same network, marks grow in time, the observer can stop it") {
    const MlpConfig mc = mlp_config(16, 2, Activation::SiLU);
    CnfSettings s;
    s.ode_steps = 4;
    s.batch = 64;
    CnfRaceSettings race;
    race.fm_seconds = 0.4;
    race.cnf_seconds = 0.4;
    race.held_out = 256;
    race.first_mark = 0.05;
    const Dataset normal(DatasetKind::Normal), target(DatasetKind::EightGaussians);
    int calls = 0;
    const CnfRace r = race_cnf_with_fm(mc, ProbabilityPath(), normal, target, race, s, [&](const CnfRace&) {
        ++calls;
        return true;
    });
    REQUIRE(r.fm.size() >= 3);
    REQUIRE(r.cnf.size() >= 2);
    CHECK(calls == static_cast<int>(r.fm.size() + r.cnf.size()));
    CHECK(!r.cancelled);
    // The same seed gives both the same initial weights, so the same NLL before training.
    CHECK(r.fm[0].steps == 0);
    CHECK(r.cnf[0].steps == 0);
    CHECK(r.fm[0].nll == doctest::Approx(r.cnf[0].nll).epsilon(1e-9));
    for (const auto* marks : {&r.fm, &r.cnf}) {
        for (std::size_t i = 1; i < marks->size(); ++i) {
            CHECK((*marks)[i].seconds > (*marks)[i - 1].seconds);
            CHECK((*marks)[i].steps > (*marks)[i - 1].steps);
            CHECK(std::isfinite((*marks)[i].nll));
        }
        CHECK(marks->back().seconds >= 0.4);
    }
    // Flow matching learned something in its budget; the 8 gaussians' entropy is known.
    CHECK(r.fm.back().nll < r.fm[0].nll - 0.3);
    CHECK(std::isfinite(r.target_entropy));
    CHECK(r.fm_step_ms > 0);
    CHECK(r.cnf_step_ms > 0);

    // Stopped after three marks: flow matching's step-0 mark and two more, no CNF.
    calls = 0;
    const CnfRace stopped = race_cnf_with_fm(mc, ProbabilityPath(), normal, target, race, s,
                                             [&](const CnfRace&) { return ++calls < 3; });
    CHECK(stopped.cancelled);
    CHECK(stopped.fm.size() == 3);
    CHECK(stopped.cnf.empty());

    // A source the CNF cannot take is refused before anything trains.
    calls = 0;
    CHECK_THROWS_AS(race_cnf_with_fm(mc, ProbabilityPath(), Dataset(DatasetKind::Moons), target, race, s,
                                     [&](const CnfRace&) { return ++calls > 0; }),
                    InputError);
    CHECK(calls == 0);
    race.mark_growth = 1.0;
    CHECK_THROWS_AS(race_cnf_with_fm(mc, ProbabilityPath(), normal, target, race, s), InputError);
}
