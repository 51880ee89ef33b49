// The model's log density log p_1(x) by the instantaneous change of variables, and the log-det
// of the flow map along one path.
#pragma once
#include <functional>
#include <vector>

#include "core/data/dataset.h"
#include "core/engine/engine.h"
#include "core/instruments/plane_grid.h"

namespace fmp {

// How the backward ODE is solved (fixed-step; 32 RK4 steps is the default of the window).
struct LikelihoodSettings {
    SolverKind solver = SolverKind::RK4;
    int steps = 32;         // 1..4096
    void validate() const;  // throws InputError
};

// Whether the likelihood is defined for this source: its density must be known in closed form.
bool likelihood_available(const Dataset& source);

// Integrates the augmented ODE (x, l) with dl/dt = div v from t_a to t_b (Engine's
// integrate_with_divergence, or a closed-form field through core/flow/divergence_integration.h).
using DivergenceIntegrator = std::function<void(Points& x, VectorF& div_integral, float t_a,
                                                float t_b, SolverKind solver, int steps)>;
// The integrator of an engine's learned field.
DivergenceIntegrator engine_integrator(Engine& engine);

// log p_1(x) in nats for every row of x under the engine's learned flow: each point is carried
// from t = 1 back to t = 0 with the divergence integrated beside it,
//   log p_1(x) = log p_0(x_0) - int_0^1 div v_theta(x_t, t) dt,
// where p_0 is the source scaled like the particles (sigma_0 = path.source_scale(); for VP the
// tiny alpha_0 is dropped, as for the particles). x0 (if given) receives the source points.
// Throws InputError when the source density is not known.
void log_likelihood(Engine& engine, const ProbabilityPath& path, const Dataset& source,
                    const Points& x, const LikelihoodSettings& settings, VectorF& log_p,
                    Points* x0 = nullptr);
// The same for any field.
void log_likelihood(const DivergenceIntegrator& integrate, const ProbabilityPath& path,
                    const Dataset& source, const Points& x, const LikelihoodSettings& settings,
                    VectorF& log_p, Points* x0 = nullptr);

// log p_1 of the learned model on every cell of a grid, and the target's true log density beside
// it when it is known (empty otherwise).
struct LikelihoodGrid {
    PlaneGrid grid;
    VectorF log_p;       // the model's, per cell
    VectorF true_log_p;  // the target's (-inf off its support), or empty
};
LikelihoodGrid likelihood_grid(Engine& engine, const ProbabilityPath& path, const Dataset& source,
                               const Dataset& target, const PlaneGrid& grid,
                               const LikelihoodSettings& settings);

// The source's log density at integration-start points (scaled by sigma_0).
void source_log_density(const ProbabilityPath& path, const Dataset& source, const Points& x0,
                        VectorF& log_p);

// The log-det of the flow map from t = 0 to t along the path that ends at x1 at t = 1:
// log|det d x_t / d x_0| = int_0^t div v_theta(x_s, s) ds, at t = k / steps for k = 0..steps,
// with the path's points. Found with one backward pass (see likelihood.cpp).
struct LogDetPath {
    std::vector<float> t;
    std::vector<float> log_det;
    Points x;  // the path's point at each t
};
LogDetPath log_det_along_path(const DivergenceIntegrator& integrate, Eigen::Vector2f x1,
                              const LikelihoodSettings& settings);

// Held-out evaluation of a model against a target of known density: the mean negative
// log-likelihood of target samples and KL(p_target || p_model) = E_target[log p - log p_model].
struct DensityFit {
    double nll = 0.0;             // nats per point, -mean log p_model(x)
    double target_entropy = 0.0;  // -mean log p_target(x) (NaN when the target has no density)
    double kl = 0.0;              // NaN when the target has no density
    int points = 0;
};
DensityFit density_fit(Engine& engine, const ProbabilityPath& path, const Dataset& source,
                       const Dataset& target, const Points& held_out,
                       const LikelihoodSettings& settings);

}  // namespace fmp
