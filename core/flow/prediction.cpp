// The prediction kinds' conversions to the velocity and the score, with the clamp at singular ends.
#include "core/flow/prediction.h"

#include <algorithm>
#include <cctype>

namespace fmp {
namespace {

// The divisor of a conversion vanishes at that end of this path.
bool sigma_vanishes_at_one(const ProbabilityPath& path) { return path.at(1.0f).sigma < 1e-6f; }
bool alpha_vanishes_at_zero(const ProbabilityPath& path) { return std::abs(path.at(0.0f).alpha) < 1e-6f; }
// sigma_t = sqrt(1 - alpha_t^2) (vp, linear-vp) has an infinite slope at t = 1.
bool sigma_slope_infinite_at_one(const ProbabilityPath& path) {
    return path.kind() == PathKind::VP || path.kind() == PathKind::LinearVP;
}

void check_rows(const Points& x, const Points& f) {
    if (x.rows() != f.rows() || x.cols() != 2 || f.cols() != 2)
        throw InputError("prediction conversion: x and f must both be N x 2");
}

}  // namespace

float prediction_clamped_time(const ProbabilityPath& path, Prediction prediction, float t) {
    if (prediction == Prediction::Data && sigma_vanishes_at_one(path))
        return std::min(t, 1.0f - k_prediction_clamp);
    if (prediction == Prediction::Noise) {
        if (alpha_vanishes_at_zero(path)) t = std::max(t, k_prediction_clamp);
        if (sigma_slope_infinite_at_one(path)) t = std::min(t, 1.0f - k_prediction_clamp);
    }
    return t;
}

AffineMap velocity_from_prediction(const ProbabilityPath& path, Prediction prediction, float t) {
    if (prediction == Prediction::Velocity) return {0.0f, 1.0f};
    const PathCoefficients c = path.at(prediction_clamped_time(path, prediction, t));
    const double alpha = c.alpha, sigma = c.sigma, da = c.d_alpha, ds = c.d_sigma;
    if (prediction == Prediction::Data)
        return {static_cast<float>(ds / sigma), static_cast<float>(da - ds * alpha / sigma)};
    return {static_cast<float>(da / alpha), static_cast<float>(ds - da * sigma / alpha)};
}

const Points& prediction_target(Prediction prediction, const Points& x0, const Points& x1,
                                const Points& u) {
    switch (prediction) {
        case Prediction::Data: return x1;
        case Prediction::Noise: return x0;
        case Prediction::Velocity: break;
    }
    return u;
}

void convert_prediction(const ProbabilityPath& path, Prediction from, Prediction to, const Points& x,
                        float t, const Points& f, Points& out) {
    check_rows(x, f);
    // Through the velocity: v = a_from x + b_from f, then g = (v - a_to x) / b_to.
    const AffineMap in = velocity_from_prediction(path, from, t);
    const AffineMap back = velocity_from_prediction(path, to, t);
    out.resize(x.rows(), 2);
    out = ((in.a - back.a) * x + in.b * f) / back.b;
}

AffineMap score_from_velocity(const ProbabilityPath& path, float t) {
    if (sigma_vanishes_at_one(path)) t = std::min(t, 1.0f - k_prediction_clamp);
    const PathCoefficients c = path.at(t);
    const double denom = static_cast<double>(c.sigma) *
                         (static_cast<double>(c.alpha) * c.d_sigma - static_cast<double>(c.d_alpha) * c.sigma);
    return {static_cast<float>(c.d_alpha / denom), static_cast<float>(-c.alpha / denom)};
}

void score_from_velocity(const ProbabilityPath& path, const Points& x, float t, const Points& v,
                         Points& score) {
    check_rows(x, v);
    const AffineMap m = score_from_velocity(path, t);
    score.resize(x.rows(), 2);
    score = m.a * x + m.b * v;
}

const std::vector<std::string>& prediction_names() {
    static const std::vector<std::string> names = {"velocity", "data", "noise"};
    return names;
}

std::string prediction_name(Prediction prediction) {
    return prediction_names()[static_cast<std::size_t>(prediction)];
}

std::optional<Prediction> prediction_from_name(const std::string& name) {
    std::string key = name;
    for (char& ch : key) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (key == "x1") key = "data";
    if (key == "epsilon" || key == "eps" || key == "x0") key = "noise";
    const auto& names = prediction_names();
    for (std::size_t i = 0; i < names.size(); ++i)
        if (names[i] == key) return static_cast<Prediction>(i);
    return std::nullopt;
}

Prediction make_prediction(const std::string& name) {
    if (auto p = prediction_from_name(name)) return *p;
    throw InputError("unknown prediction " + quote_for_message(name) + " (valid: " +
                     join_names(prediction_names()) + ")");
}

std::string prediction_formula(Prediction prediction) {
    switch (prediction) {
        case Prediction::Data:
            return "data x1 (a denoiser): loss |f - x1|^2; v = (d_sigma/sigma) x + (d_alpha - d_sigma "
                   "alpha/sigma) f, on condot v = (f - x)/(1 - t); t <= 0.99 where sigma_1 = 0";
        case Prediction::Noise:
            return "noise x0 (epsilon): loss |f - x0|^2; v = (d_alpha/alpha) x + (d_sigma - d_alpha "
                   "sigma/alpha) f, on condot v = (x - f)/t; t >= 0.01 where alpha_0 = 0";
        case Prediction::Velocity: break;
    }
    return "velocity: loss |f - u_t|^2 with u_t = d_alpha x1 + d_sigma x0; v = f";
}

}  // namespace fmp
