// Adam and AdamW: updates against the closed form by hand, decay, state, names, and convergence.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "core/base/rng.h"
#include "core/nn/mlp.h"
#include "core/nn/optimizer.h"

using namespace fmp;

namespace {

// Adam in double, written from the paper's algorithm 1 (bias-corrected moments).
struct ReferenceAdam {
    double lr, b1, b2, eps, wd;
    bool decoupled;
    std::vector<double> m, v;
    int t = 0;
    void step(std::vector<double>& p, const std::vector<double>& g) {
        ++t;
        m.resize(p.size());
        v.resize(p.size());
        for (std::size_t i = 0; i < p.size(); ++i) {
            m[i] = b1 * m[i] + (1 - b1) * g[i];
            v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
            double mhat = m[i] / (1 - std::pow(b1, t));
            double vhat = v[i] / (1 - std::pow(b2, t));
            if (decoupled) p[i] -= lr * wd * p[i];
            p[i] -= lr * mhat / (std::sqrt(vhat) + eps);
        }
    }
};

}  // namespace

TEST_CASE("the first Adam step moves every parameter by lr * sign(g)") {
    OptimizerConfig c;
    c.lr = 0.01f;
    AdamOptimizer opt(c, 4);
    std::vector<float> p = {1.0f, -2.0f, 0.5f, 3.0f};
    std::vector<float> g = {0.3f, -4.0f, 1e-3f, 0.0f};
    opt.step(p, g);
    // mhat = g and vhat = g^2 after bias correction, so the step is lr * g / (|g| + eps).
    CHECK(p[0] == doctest::Approx(1.0 - 0.01).epsilon(1e-6));
    CHECK(p[1] == doctest::Approx(-2.0 + 0.01).epsilon(1e-6));
    CHECK(p[2] == doctest::Approx(0.5 - 0.01 * 1e-3 / (1e-3 + 1e-8)).epsilon(1e-6));
    CHECK(p[3] == 3.0f);
    CHECK(opt.step_count() == 1);
    CHECK(opt.first_moment()[1] == doctest::Approx(0.1 * -4.0));
    CHECK(opt.second_moment()[1] == doctest::Approx(0.001 * 16.0));
}

TEST_CASE("Adam and AdamW follow the bias-corrected closed form over many steps") {
    for (OptimizerKind kind : {OptimizerKind::Adam, OptimizerKind::AdamW}) {
        CAPTURE(optimizer_name(kind));
        OptimizerConfig c;
        c.kind = kind;
        c.lr = 3e-3f;
        c.beta1 = 0.8f;
        c.beta2 = 0.95f;
        c.eps = 1e-6f;
        c.weight_decay = 0.1f;
        const std::size_t n = 1000;
        AdamOptimizer opt(c, n);
        ReferenceAdam ref{c.lr, c.beta1, c.beta2, c.eps, c.weight_decay, kind == OptimizerKind::AdamW,
                          {}, {}};
        Rng rng(4);
        std::vector<float> p(n);
        std::vector<double> pd(n);
        for (std::size_t i = 0; i < n; ++i) pd[i] = p[i] = rng.uniform(-1, 1);
        for (int s = 0; s < 25; ++s) {
            std::vector<float> g(n);
            std::vector<double> gd(n);
            for (std::size_t i = 0; i < n; ++i) gd[i] = g[i] = rng.normal() * (i % 7 == 0 ? 1e-3f : 1.0f);
            opt.step(p, g);
            ref.step(pd, gd);
        }
        double worst = 0;
        for (std::size_t i = 0; i < n; ++i) worst = std::max(worst, std::fabs(p[i] - pd[i]));
        CHECK(worst < 2e-6);
        CHECK(opt.step_count() == 25);
    }
}

TEST_CASE("AdamW decays weights with zero gradient, Adam ignores weight decay") {
    OptimizerConfig c;
    c.lr = 0.1f;
    c.weight_decay = 0.5f;
    std::vector<float> zero(2, 0.0f);
    c.kind = OptimizerKind::Adam;
    AdamOptimizer adam(c, 2);
    std::vector<float> p = {2.0f, -1.0f};
    adam.step(p, zero);
    CHECK(p[0] == 2.0f);
    CHECK(p[1] == -1.0f);
    c.kind = OptimizerKind::AdamW;
    AdamOptimizer adamw(c, 2);
    for (int s = 0; s < 3; ++s) adamw.step(p, zero);
    CHECK(p[0] == doctest::Approx(2.0 * std::pow(1.0 - 0.05, 3)).epsilon(1e-6));
    CHECK(p[1] == doctest::Approx(-1.0 * std::pow(1.0 - 0.05, 3)).epsilon(1e-6));
}

TEST_CASE("reset clears the state; mismatched sizes and bad settings are rejected") {
    OptimizerConfig c;
    AdamOptimizer opt(c, 3);
    std::vector<float> p = {1, 2, 3}, g = {1, 1, 1};
    opt.step(p, g);
    opt.reset(5);
    CHECK(opt.step_count() == 0);
    CHECK(opt.first_moment() == std::vector<float>(5, 0.0f));
    CHECK(opt.second_moment() == std::vector<float>(5, 0.0f));
    CHECK_THROWS_AS(opt.step(p, g), InputError);
    std::vector<float> p5(5), g4(4);
    CHECK_THROWS_AS(opt.step(p5, g4), InputError);
    OptimizerConfig bad = c;
    bad.beta2 = 1.0f;
    CHECK_THROWS_AS(AdamOptimizer(bad, 3), InputError);
    bad = c;
    bad.eps = 0.0f;
    CHECK_THROWS_AS(AdamOptimizer(bad, 3), InputError);
    opt.set_learning_rate(0.5f);
    CHECK(opt.config().lr == 0.5f);
}

TEST_CASE("optimizer names") {
    CHECK(make_optimizer_kind("adam") == OptimizerKind::Adam);
    CHECK(make_optimizer_kind("adamw") == OptimizerKind::AdamW);
    CHECK(optimizer_name(OptimizerKind::AdamW) == "adamw");
    CHECK_THROWS_WITH_AS(make_optimizer_kind("sgd"), doctest::Contains("adam, adamw"), InputError);
}

TEST_CASE("Adam trains a small MLP on a smooth regression problem") {
    // Target field u(x, t) = (1 + t) * (-y, x), a rotation that speeds up with t.
    MlpConfig mc;
    mc.depth = 2;
    mc.width = 32;
    Mlp mlp(mc, 9);
    OptimizerConfig oc;
    oc.lr = 1e-2f;
    AdamOptimizer opt(oc, mc.parameter_count());
    Rng rng(12);
    const int n = 256;
    Points x(n, 2), u(n, 2), v, dv;
    VectorF t(n);
    for (int i = 0; i < n; ++i) {
        x.row(i) << rng.uniform(-1, 1), rng.uniform(-1, 1);
        t(i) = rng.uniform();
        u.row(i) << -(1 + t(i)) * x(i, 1), (1 + t(i)) * x(i, 0);
    }
    MlpContext ctx;
    std::vector<float> grads;
    mlp.forward(x, t, v);
    const float initial = cfm_loss(v, u);
    float loss = initial;
    for (int step = 0; step < 600; ++step) {
        mlp.forward(x, t, v, &ctx);
        loss = cfm_loss(v, u, &dv);
        mlp.backward(ctx, dv, grads);
        opt.step(mlp.params(), grads);
    }
    MESSAGE("loss ", initial, " -> ", loss);
    CHECK(loss < 0.01f * initial);
}
