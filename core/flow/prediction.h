// What the network predicts (velocity, data x1, noise x0) and the conversions to the velocity and the score.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "core/base/types.h"
#include "core/flow/probability_path.h"

namespace fmp {

// With x_t = alpha_t x1 + sigma_t x0 and u = d_alpha x1 + d_sigma x0 (probability_path.h):
//   Velocity: f ~ E[u | x_t]                                   (the CFM loss)
//   Data:     f ~ E[x1 | x_t]  (a denoiser)                    loss |f - x1|^2
//   Noise:    f ~ E[x0 | x_t]  (epsilon-prediction)            loss |f - x0|^2
// Since x = alpha E[x1|x] + sigma E[x0|x] and v = d_alpha E[x1|x] + d_sigma E[x0|x], each is an
// affine function of the velocity (any coupling whose paths have no extra noise: not SB).
enum class Prediction { Velocity, Data, Noise };

// v = a x + b f: how a prediction f at (x, t) becomes the velocity.
//   Data:  a = d_sigma / sigma,  b = d_alpha - d_sigma alpha / sigma    (singular where sigma = 0)
//   Noise: a = d_alpha / alpha,  b = d_sigma - d_alpha sigma / alpha    (singular where alpha = 0)
// The stated clamp: on a path whose divisor vanishes at an end (sigma_1 = 0: condot, vp, cosine,
// linear-vp, polynomial; alpha_0 = 0: all but vp and ve) the coefficients are taken at t clamped
// k_prediction_clamp away from that end; so are the noise coefficients near t = 1 on vp and
// linear-vp, whose d_sigma is infinite there. Paths whose divisor stays positive are not clamped.
inline constexpr float k_prediction_clamp = 0.01f;
struct AffineMap {
    float a = 0.0f;  // multiplies x
    float b = 1.0f;  // multiplies the prediction (or the velocity, for the score)
};
AffineMap velocity_from_prediction(const ProbabilityPath& path, Prediction prediction, float t);
// The t the coefficients of `prediction` are evaluated at (t itself unless clamped).
float prediction_clamped_time(const ProbabilityPath& path, Prediction prediction, float t);

// The regression target of a prediction for a batch: u itself, x1 or x0.
const Points& prediction_target(Prediction prediction, const Points& x0, const Points& x1,
                                const Points& u);

// Converts f (a prediction of `from`) at (x, t) into the prediction of `to`, row by row.
void convert_prediction(const ProbabilityPath& path, Prediction from, Prediction to, const Points& x,
                        float t, const Points& f, Points& out);

// The score grad log p_t(x) from the velocity, for a standard normal source and independent
// coupling (Tweedie: E[x0 | x] = -sigma grad log p_t(x)):
//   score = (d_alpha x - alpha v) / (sigma (alpha d_sigma - d_alpha sigma))   = c x + d v
// singular where sigma = 0, so t is clamped to 1 - k_prediction_clamp on paths with sigma_1 = 0.
AffineMap score_from_velocity(const ProbabilityPath& path, float t);
void score_from_velocity(const ProbabilityPath& path, const Points& x, float t, const Points& v,
                         Points& score);

// Names: "velocity", "data", "noise".
const std::vector<std::string>& prediction_names();
std::string prediction_name(Prediction prediction);
std::optional<Prediction> prediction_from_name(const std::string& name);
Prediction make_prediction(const std::string& name);  // throws InputError listing the names
// One line for tooltips: the loss and the conversion ("data: loss |f - x1|^2, v = (f - x)/(1 - t)").
std::string prediction_formula(Prediction prediction);

}  // namespace fmp
