// The stochastic sampler: Euler–Maruyama on the SDE with the learned velocity's marginals.
#pragma once
#include <cstdint>
#include <vector>

#include "core/base/rng.h"
#include "core/base/types.h"
#include "core/flow/ode_solver.h"
#include "core/flow/probability_path.h"

namespace fmp {

// For any diffusion g(t) >= 0 the SDE
//   dX = [v(X, t) + g(t)^2 / 2 * grad log p_t(X)] dt + g(t) dW
// has the same marginals p_t as the ODE dX = v dt: its Fokker–Planck equation is
// dp/dt = -div(p v) - g^2/2 div(p grad log p) + g^2/2 lap p = -div(p v), the continuity equation.
// The score comes from the velocity (score_from_velocity, prediction.h: a standard normal source).
// The diffusion is g(t) = gamma * sigma_t, so the noise fades as the path reaches the data (the
// score is singular where sigma = 0); gamma = 0 is the ODE (Euler).
inline constexpr float k_max_sde_gamma = 5.0f;
struct SdeSettings {
    float gamma = 1.0f;  // 0..k_max_sde_gamma
    int steps = 100;     // Euler–Maruyama steps over [t_a, t_b], 1..100000
    void validate() const;  // throws InputError
};

// g(t) = gamma * sigma_t.
float sde_diffusion(const ProbabilityPath& path, float gamma, float t);

// Integrates every row of x from t_a to t_b (forward in time only: t_a < t_b) with
// Euler–Maruyama, the noise drawn from rng (two normals per row per step, rows in order).
// frames, if given, receives x at each step boundary (steps + 1 entries). Returns the field
// evaluations (one per step). Throws InputError for bad settings or t_b <= t_a.
int64_t integrate_sde(const VelocityFn& velocity, const ProbabilityPath& path,
                      const SdeSettings& settings, Points& x, float t_a, float t_b, Rng& rng,
                      std::vector<Points>* frames = nullptr);

// One Euler–Maruyama step's coefficients at t with step h, from the formulas above:
//   x <- x + h (drift_v v + drift_x x) + noise n,   n ~ N(0, I),
// drift_v = 1 + g^2/2 d and drift_x = g^2/2 c (score = c x + d v), noise = g sqrt(h). Computed on
// the host for every engine, so the GL engine's steps use the CPU's very floats. g = 0: the ODE's
// Euler step (drift_v 1, drift_x 0, noise 0) and `diffuses` false (no noise is drawn).
struct SdeStepCoefficients {
    float drift_x = 0.0f;
    float drift_v = 1.0f;
    float noise = 0.0f;
    bool diffuses = false;
};
SdeStepCoefficients sde_step_coefficients(const ProbabilityPath& path, float gamma, float t, float h);

// The step h = (t_b - t_a) / settings.steps of an Euler–Maruyama integration, its steps at
// t_a + k h. Throws InputError for bad settings or t_b <= t_a (the sampler runs forward).
float sde_step_size(const SdeSettings& settings, float t_a, float t_b);

// Integrates as integrate_sde, but the noise of step k (0-based) for row i is
// counter_normals(seed, first_step + k, i) (core/base/counter_noise.h) instead of a stream: what
// Engine::integrate_particles_sde computes, the same in the CPU and GL engines. Steps are at
// t_a + k h, h = (t_b - t_a) / steps. Returns the field evaluations (one per step). Throws
// InputError for bad settings or t_b <= t_a.
int64_t integrate_sde_counter(const VelocityFn& velocity, const ProbabilityPath& path,
                              const SdeSettings& settings, Points& x, float t_a, float t_b,
                              uint64_t seed, uint32_t first_step);

// One Euler–Maruyama step of size h from t (what integrate_sde repeats; the GUI's block-wise
// worker calls it directly).
void sde_step(const VelocityFn& velocity, const ProbabilityPath& path, float gamma, Points& x,
              float t, float h, Rng& rng, Points& scratch);

}  // namespace fmp
