// What the network predicts: the conversions between velocity, data and noise predictions and the
// score against closed forms, and the three parametrizations learning the same normal-to-normal flow.
#include <doctest/doctest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/base/rng.h"
#include "core/engine/engine.h"
#include "core/flow/prediction.h"
#include "core/nn/model_file.h"

using namespace fmp;

namespace {

const PathKind k_paths[] = {PathKind::CondOT, PathKind::LipmanOT, PathKind::VP, PathKind::Cosine,
                            PathKind::LinearVP, PathKind::Polynomial, PathKind::VE};

Points random_points(int n, Rng& rng, float scale) {
    Points x(n, 2);
    for (int i = 0; i < n; ++i) x.row(i) << scale * rng.normal(), scale * rng.normal();
    return x;
}

float max_abs(const Points& a) { return a.cwiseAbs().maxCoeff(); }

// The target N(mu, s^2 I) from a normal source along `path`: x = alpha x1 + sigma x0 is normal
// with mean alpha mu and variance alpha^2 s^2 + sigma^2, so the posterior means are linear in x:
// E[x1|x] = mu + alpha s^2 / var (x - alpha mu), E[x0|x] = sigma / var (x - alpha mu).
struct NormalTarget {
    Eigen::RowVector2f mu{1.0f, -0.5f};
    float s = 0.5f;
    void posterior(const ProbabilityPath& path, float t, const Points& x, Points& e1, Points& e0) const {
        const PathCoefficients c = path.at(t);
        const float var = c.alpha * c.alpha * s * s + c.sigma * c.sigma;
        Points centred = x.rowwise() - c.alpha * mu;
        e1 = (c.alpha * s * s / var * centred).rowwise() + mu;
        e0 = c.sigma / var * centred;
    }
    void velocity(const ProbabilityPath& path, float t, const Points& x, Points& v) const {
        Points e1, e0;
        posterior(path, t, x, e1, e0);
        const PathCoefficients c = path.at(t);
        v = c.d_alpha * e1 + c.d_sigma * e0;
    }
};

}  // namespace

TEST_CASE("each prediction of the true pair converts to the conditional velocity on every path") {
    Rng rng(3);
    for (PathKind kind : k_paths) {
        const ProbabilityPath path(kind);
        CAPTURE(path.name());
        for (float t : {0.05f, 0.3f, 0.6f, 0.9f}) {
            CAPTURE(t);
            Points x0 = random_points(64, rng, 1.0f), x1 = random_points(64, rng, 2.0f);
            VectorF tt = VectorF::Constant(64, t);
            Points xt, ut;
            path.sample_xt_and_target(x0, x1, tt, xt, ut);
            for (Prediction p : {Prediction::Velocity, Prediction::Data, Prediction::Noise}) {
                CAPTURE(prediction_name(p));
                const Points& f = prediction_target(p, x0, x1, ut);
                const AffineMap m = velocity_from_prediction(path, p, t);
                Points v = m.a * xt + m.b * f;
                CHECK(max_abs(v - ut) <= 2e-4f * (1.0f + max_abs(ut)));
            }
            // Round trips through every pair of predictions.
            for (Prediction from : {Prediction::Velocity, Prediction::Data, Prediction::Noise})
                for (Prediction to : {Prediction::Velocity, Prediction::Data, Prediction::Noise}) {
                    const Points& f = prediction_target(from, x0, x1, ut);
                    Points g, back;
                    convert_prediction(path, from, to, xt, t, f, g);
                    CHECK(max_abs(g - prediction_target(to, x0, x1, ut)) <=
                          3e-4f * (1.0f + max_abs(g)));
                    convert_prediction(path, to, from, xt, t, g, back);
                    CHECK(max_abs(back - f) <= 3e-4f * (1.0f + max_abs(f)));
                }
        }
    }
}

TEST_CASE("the clamp keeps the conversions finite at the singular ends, and only there") {
    const ProbabilityPath condot(PathKind::CondOT), ve(PathKind::VE), vp(PathKind::VP);
    // condot, data: sigma_1 = 0, so t = 1 uses the coefficients of t = 0.99: v = (f - x)/0.01.
    AffineMap at_one = velocity_from_prediction(condot, Prediction::Data, 1.0f);
    CHECK(at_one.a == doctest::Approx(-100.0f).epsilon(1e-4));
    CHECK(at_one.b == doctest::Approx(100.0f).epsilon(1e-4));
    CHECK(prediction_clamped_time(condot, Prediction::Data, 0.7f) == 0.7f);
    // condot, noise: alpha_0 = 0, so t = 0 uses t = 0.01: v = (x - f)/0.01.
    AffineMap at_zero = velocity_from_prediction(condot, Prediction::Noise, 0.0f);
    CHECK(at_zero.a == doctest::Approx(100.0f).epsilon(1e-4));
    CHECK(at_zero.b == doctest::Approx(-100.0f).epsilon(1e-4));
    // ve keeps alpha = 1 and sigma >= sigma_min: nothing is clamped.
    CHECK(prediction_clamped_time(ve, Prediction::Noise, 0.0f) == 0.0f);
    CHECK(prediction_clamped_time(ve, Prediction::Data, 1.0f) == 1.0f);
    // vp's alpha_0 ~ 7e-3 is small but positive, and d_alpha/alpha = beta/2 stays moderate.
    CHECK(prediction_clamped_time(vp, Prediction::Noise, 0.0f) == 0.0f);
    // ... but its d_sigma is infinite at t = 1, which the noise conversion multiplies.
    CHECK(prediction_clamped_time(vp, Prediction::Noise, 1.0f) == 1.0f - k_prediction_clamp);
    CHECK(prediction_clamped_time(vp, Prediction::Data, 1.0f) == 1.0f - k_prediction_clamp);
    for (PathKind kind : k_paths)
        for (Prediction p : {Prediction::Data, Prediction::Noise})
            for (float t : {0.0f, 1.0f}) {
                AffineMap m = velocity_from_prediction(ProbabilityPath(kind), p, t);
                CHECK(std::isfinite(m.a));
                CHECK(std::isfinite(m.b));
            }
    CHECK(make_prediction("epsilon") == Prediction::Noise);
    CHECK(make_prediction("x1") == Prediction::Data);
    CHECK_THROWS_AS(make_prediction("score"), InputError);
}

TEST_CASE("the score from the exact velocity is the closed-form score of a normal target") {
    Rng rng(4);
    NormalTarget target;
    for (PathKind kind : k_paths) {
        const ProbabilityPath path(kind);
        CAPTURE(path.name());
        for (float t : {0.1f, 0.5f, 0.9f}) {
            CAPTURE(t);
            Points x = random_points(50, rng, 1.5f), v, score;
            target.velocity(path, t, x, v);
            score_from_velocity(path, x, t, v, score);
            // p_t = N(alpha mu, (alpha^2 s^2 + sigma^2) I): grad log p_t = -(x - alpha mu) / var.
            const PathCoefficients c = path.at(t);
            const float var = c.alpha * c.alpha * target.s * target.s + c.sigma * c.sigma;
            Points exact = -(x.rowwise() - c.alpha * target.mu) / var;
            CHECK(max_abs(score - exact) <= 1e-3f * (1.0f + max_abs(exact)));
        }
    }
}

TEST_CASE("velocity, data and noise networks learn the same normal-to-normal field") {
    // The target is a large sample of N(mu, s^2 I); each prediction trains its own network and
    // the converted velocity is compared with the closed form on the region the flow passes.
    NormalTarget target;
    Rng rng(8);
    Points pts(40000, 2);
    for (int i = 0; i < pts.rows(); ++i)
        pts.row(i) << target.mu.x() + target.s * rng.normal(), target.mu.y() + target.s * rng.normal();
    const Dataset source(DatasetKind::Normal);
    const Dataset data = Dataset::from_points(pts, "normal(mu, s)");
    for (Prediction p : {Prediction::Velocity, Prediction::Data, Prediction::Noise}) {
        CAPTURE(prediction_name(p));
        TrainConfig config;
        config.mlp.width = 64;
        config.mlp.depth = 3;
        config.mlp.prediction = p;
        config.mlp.path = config.path;
        config.batch = 256;
        config.optimizer.lr = 1e-3f;
        config.seed = 5;
        auto engine = make_cpu_engine();
        engine->reset(config, source, data);
        engine->train(12000);
        double sq = 0.0, ref = 0.0;
        int n = 0;
        for (float t : {0.25f, 0.5f, 0.75f}) {
            // Points where p_t has mass: the path's mean +- 2 standard deviations.
            const PathCoefficients c = config.path.at(t);
            const float sd = std::sqrt(c.alpha * c.alpha * target.s * target.s + c.sigma * c.sigma);
            Points x(121, 2);
            for (int i = 0; i < 11; ++i)
                for (int j = 0; j < 11; ++j)
                    x.row(i * 11 + j) << c.alpha * target.mu.x() + sd * (-1.5f + 0.3f * i),
                        c.alpha * target.mu.y() + sd * (-1.5f + 0.3f * j);
            Points v, exact;
            engine->eval_velocity(x, t, v);
            target.velocity(config.path, t, x, exact);
            sq += (v - exact).squaredNorm();
            ref += exact.squaredNorm();
            n += 121;
        }
        const double rms = std::sqrt(sq / n), scale = std::sqrt(ref / n);
        MESSAGE(prediction_name(p) << ": RMS error " << rms << " of an RMS speed " << scale);
        CHECK(rms < 0.1 * scale);
    }
}

TEST_CASE("model files keep the prediction; older files load as velocity; sb with data is refused") {
    ModelFile m;
    m.mlp.width = 16;
    m.mlp.depth = 1;
    m.mlp.prediction = Prediction::Noise;
    m.path = ProbabilityPath(PathKind::VP);
    m.mlp.path = m.path;
    m.source = Dataset(DatasetKind::Normal);
    m.target = Dataset(DatasetKind::Moons);
    m.params = mlp_init_params(m.mlp, 3);
    ModelFile back = model_from_json(model_to_json(m));
    CHECK(back.mlp.prediction == Prediction::Noise);
    CHECK(back.mlp.path == back.path);
    CHECK(back.path.kind() == PathKind::VP);
    std::string text = model_to_json(m);
    const std::string key = "\"prediction\": \"noise\"";
    REQUIRE(text.find(key) != std::string::npos);
    nlohmann::json old = nlohmann::json::parse(text);
    old["mlp"].erase("prediction");
    ModelFile legacy = model_from_json(old.dump());
    CHECK(legacy.mlp.prediction == Prediction::Velocity);
    std::string bad = text;
    bad.replace(bad.find(key), key.size(), "\"prediction\": \"score\"");
    CHECK_THROWS_AS(model_from_json(bad), InputError);
    m.mlp.prediction = Prediction::Data;
    m.coupling = CouplingKind::SchrodingerBridge;
    CHECK_THROWS_AS(model_from_json(model_to_json(m)), InputError);
    // And the training config refuses it too, as well as a network converting along another path.
    TrainConfig c;
    c.mlp.prediction = Prediction::Data;
    c.coupling = CouplingKind::SchrodingerBridge;
    CHECK_THROWS_AS(c.validate(), InputError);
    c.coupling = CouplingKind::Independent;
    c.path = ProbabilityPath(PathKind::Cosine);
    CHECK_THROWS(c.validate());
    c.mlp.path = c.path;
    CHECK_NOTHROW(c.validate());
}
