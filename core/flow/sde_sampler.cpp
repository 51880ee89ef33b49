// Euler–Maruyama with the score-corrected drift v + g^2/2 grad log p_t, g(t) = gamma sigma_t.
#include "core/flow/sde_sampler.h"

#include <cmath>
#include <string>

#include "core/base/counter_noise.h"
#include "core/flow/prediction.h"

namespace fmp {

void SdeSettings::validate() const {
    if (!(gamma >= 0.0f && gamma <= k_max_sde_gamma))
        throw InputError("the SDE's gamma must be in [0, " + std::to_string(static_cast<int>(k_max_sde_gamma)) +
                         "] (g(t) = gamma sigma_t)");
    if (steps < 1 || steps > 100000) throw InputError("the SDE needs 1..100000 steps");
}

float sde_diffusion(const ProbabilityPath& path, float gamma, float t) {
    return gamma * path.at(t).sigma;
}

SdeStepCoefficients sde_step_coefficients(const ProbabilityPath& path, float gamma, float t, float h) {
    SdeStepCoefficients c;
    const float g = sde_diffusion(path, gamma, t);
    if (!(g > 0.0f)) return c;
    // drift = v + g^2/2 (c x + d v), the score being c x + d v.
    const AffineMap score = score_from_velocity(path, t);
    const float k = 0.5f * g * g;
    c.drift_v = 1.0f + k * score.b;
    c.drift_x = k * score.a;
    c.noise = g * std::sqrt(h);
    c.diffuses = true;
    return c;
}

namespace {

// The deterministic part of one Euler–Maruyama step, x += h drift; returns the step's
// coefficients for the noise that follows.
SdeStepCoefficients drift_step(const VelocityFn& velocity, const ProbabilityPath& path, float gamma, Points& x,
                               float t, float h, Points& v) {
    velocity(x, t, v);
    const SdeStepCoefficients c = sde_step_coefficients(path, gamma, t, h);
    if (c.diffuses) v = c.drift_v * v + c.drift_x * x;
    x += h * v;
    return c;
}

}  // namespace

void sde_step(const VelocityFn& velocity, const ProbabilityPath& path, float gamma, Points& x,
              float t, float h, Rng& rng, Points& v) {
    const SdeStepCoefficients c = drift_step(velocity, path, gamma, x, t, h, v);
    if (c.diffuses) {
        for (Eigen::Index i = 0; i < x.rows(); ++i) {
            x(i, 0) += c.noise * rng.normal();
            x(i, 1) += c.noise * rng.normal();
        }
    }
}

float sde_step_size(const SdeSettings& settings, float t_a, float t_b) {
    settings.validate();
    if (!(t_b > t_a)) throw InputError("the SDE sampler runs forward in time (t_b > t_a)");
    return (t_b - t_a) / static_cast<float>(settings.steps);
}

int64_t integrate_sde_counter(const VelocityFn& velocity, const ProbabilityPath& path,
                              const SdeSettings& settings, Points& x, float t_a, float t_b,
                              uint64_t seed, uint32_t first_step) {
    const float h = sde_step_size(settings, t_a, t_b);
    Points v;
    for (int k = 0; k < settings.steps; ++k) {
        const float t = t_a + static_cast<float>(k) * h;
        const SdeStepCoefficients c = drift_step(velocity, path, settings.gamma, x, t, h, v);
        if (!c.diffuses) continue;
        // Unsigned wrap-around, as in the shader.
        const uint32_t step = first_step + static_cast<uint32_t>(k);
        for (Eigen::Index i = 0; i < x.rows(); ++i)
            x.row(i) += c.noise * counter_normals(seed, step, static_cast<uint32_t>(i)).transpose();
    }
    return settings.steps;
}

int64_t integrate_sde(const VelocityFn& velocity, const ProbabilityPath& path,
                      const SdeSettings& settings, Points& x, float t_a, float t_b, Rng& rng,
                      std::vector<Points>* frames) {
    const float h = sde_step_size(settings, t_a, t_b);
    if (frames) {
        frames->clear();
        frames->push_back(x);
    }
    Points scratch;
    for (int k = 0; k < settings.steps; ++k) {
        sde_step(velocity, path, settings.gamma, x, t_a + static_cast<float>(k) * h, h, rng, scratch);
        if (frames) frames->push_back(x);
    }
    return settings.steps;
}

}  // namespace fmp
