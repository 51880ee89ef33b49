// The instantaneous change of variables on the engine's learned field.
#include "core/instruments/likelihood.h"

#include <cmath>
#include <limits>

namespace fmp {

void LikelihoodSettings::validate() const {
    if (steps < 1 || steps > 4096)
        throw InputError("likelihood steps must be in 1..4096 (got " + std::to_string(steps) + ")");
}

bool likelihood_available(const Dataset& source) {
    return source.has_density();
}

void source_log_density(const ProbabilityPath& path, const Dataset& source, const Points& x0,
                        VectorF& log_p) {
    const float scale = path.source_scale();
    if (scale == 1.0f) {
        source.log_density(x0, log_p);
        return;
    }
    // x0 = scale * z with z ~ source: p(x0) = p_z(x0 / scale) / scale^2 in 2D.
    Points z = x0 / scale;
    source.log_density(z, log_p);
    log_p.array() -= 2.0f * std::log(scale);
}

DivergenceIntegrator engine_integrator(Engine& engine) {
    return [&engine](Points& x, VectorF& l, float t_a, float t_b, SolverKind solver, int steps) {
        engine.integrate_with_divergence(x, l, t_a, t_b, solver, steps);
    };
}

void log_likelihood(Engine& engine, const ProbabilityPath& path, const Dataset& source,
                    const Points& x, const LikelihoodSettings& settings, VectorF& log_p,
                    Points* x0) {
    log_likelihood(engine_integrator(engine), path, source, x, settings, log_p, x0);
}

void log_likelihood(const DivergenceIntegrator& integrate, const ProbabilityPath& path,
                    const Dataset& source, const Points& x, const LikelihoodSettings& settings,
                    VectorF& log_p, Points* x0) {
    settings.validate();
    if (!likelihood_available(source))
        throw InputError(
            "the likelihood needs a source of known density (normal, uniform, "
            "8gaussians, checkerboard); the source is " +
            quote_for_message(source.name()));
    Points y = x;
    VectorF div_integral;
    // From t = 1 to 0 the accumulated l is int_1^0 div dt = -int_0^1 div dt.
    integrate(y, div_integral, 1.0f, 0.0f, settings.solver, settings.steps);
    source_log_density(path, source, y, log_p);
    log_p += div_integral;
    if (x0) *x0 = std::move(y);
}

LikelihoodGrid likelihood_grid(Engine& engine, const ProbabilityPath& path, const Dataset& source,
                               const Dataset& target, const PlaneGrid& grid,
                               const LikelihoodSettings& settings) {
    grid.validate();
    LikelihoodGrid out;
    out.grid = grid;
    const Points centres = grid.centres();
    log_likelihood(engine, path, source, centres, settings, out.log_p);
    if (target.has_density()) target.log_density(centres, out.true_log_p);
    return out;
}

LogDetPath log_det_along_path(const DivergenceIntegrator& integrate, Eigen::Vector2f x1,
                              const LikelihoodSettings& settings) {
    settings.validate();
    const int n = settings.steps;
    LogDetPath out;
    out.t.resize(n + 1);
    out.log_det.resize(n + 1);
    out.x.resize(n + 1, 2);
    // One backward pass in n one-step segments gives l_b(t) = int_1^t div ds at every t; then
    // int_0^t div ds = l_b(t) - l_b(0).
    Points y(1, 2);
    y.row(0) = x1.transpose();
    std::vector<double> l_b(n + 1, 0.0);
    out.x.row(n) = y.row(0);
    VectorF step_integral;
    for (int k = n; k > 0; --k) {
        const float ta = static_cast<float>(k) / n, tb = static_cast<float>(k - 1) / n;
        integrate(y, step_integral, ta, tb, settings.solver, 1);
        l_b[k - 1] = l_b[k] + step_integral[0];
        out.x.row(k - 1) = y.row(0);
    }
    for (int k = 0; k <= n; ++k) {
        out.t[k] = static_cast<float>(k) / n;
        out.log_det[k] = static_cast<float>(l_b[k] - l_b[0]);
    }
    return out;
}

DensityFit density_fit(Engine& engine, const ProbabilityPath& path, const Dataset& source,
                       const Dataset& target, const Points& held_out,
                       const LikelihoodSettings& settings) {
    DensityFit fit;
    fit.points = static_cast<int>(held_out.rows());
    if (held_out.rows() == 0) throw InputError("density fit: no held-out points");
    VectorF model;
    log_likelihood(engine, path, source, held_out, settings, model);
    fit.nll = -model.cast<double>().mean();
    const double nan = std::numeric_limits<double>::quiet_NaN();
    fit.target_entropy = nan;
    fit.kl = nan;
    if (target.has_density()) {
        VectorF truth;
        target.log_density(held_out, truth);
        fit.target_entropy = -truth.cast<double>().mean();
        fit.kl = fit.nll - fit.target_entropy;
    }
    return fit;
}

}  // namespace fmp
