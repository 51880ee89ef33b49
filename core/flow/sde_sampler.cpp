// Euler–Maruyama with the score-corrected drift v + g^2/2 grad log p_t, g(t) = gamma sigma_t.
#include "core/flow/sde_sampler.h"

#include <cmath>
#include <string>

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

void sde_step(const VelocityFn& velocity, const ProbabilityPath& path, float gamma, Points& x,
              float t, float h, Rng& rng, Points& v) {
    velocity(x, t, v);
    const float g = sde_diffusion(path, gamma, t);
    if (g > 0.0f) {
        // drift = v + g^2/2 (c x + d v), the score being c x + d v.
        const AffineMap score = score_from_velocity(path, t);
        const float k = 0.5f * g * g;
        v = (1.0f + k * score.b) * v + (k * score.a) * x;
    }
    x += h * v;
    if (g > 0.0f) {
        const float s = g * std::sqrt(h);
        for (Eigen::Index i = 0; i < x.rows(); ++i) {
            x(i, 0) += s * rng.normal();
            x(i, 1) += s * rng.normal();
        }
    }
}

int64_t integrate_sde(const VelocityFn& velocity, const ProbabilityPath& path,
                      const SdeSettings& settings, Points& x, float t_a, float t_b, Rng& rng,
                      std::vector<Points>* frames) {
    settings.validate();
    if (!(t_b > t_a)) throw InputError("the SDE sampler runs forward in time (t_b > t_a)");
    const float h = (t_b - t_a) / static_cast<float>(settings.steps);
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
