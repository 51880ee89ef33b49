// Fixed-step Runge-Kutta integration of (x, l) with dl/dt = div v, scratch reused across steps.
#include "core/flow/divergence_integration.h"

#include <string>
#include <vector>

namespace fmp {

void validate_divergence_integration(SolverKind kind, int steps) {
    if (solver_is_adaptive(kind))
        throw InputError(
            "the likelihood integrates with a fixed-step solver (euler, midpoint, "
            "heun or rk4), not " +
            solver_name(kind));
    if (steps < 1)
        throw InputError("integration needs at least 1 step (got " + std::to_string(steps) + ")");
}

void integrate_with_divergence(const VelocityDivergenceFn& f, SolverKind kind, Points& x,
                               VectorF& div_integral, float t_a, float t_b, int steps) {
    validate_divergence_integration(kind, steps);
    const ButcherTableau& tab = solver_tableau(kind);
    const Eigen::Index n = x.rows();
    const auto stages = static_cast<std::size_t>(tab.stages);
    // Allocated once for the whole integration; f resizes nothing that already has its shape.
    std::vector<Points> k(stages, Points(n, 2));
    std::vector<VectorF> kd(stages, VectorF(n));
    Points stage(n, 2);
    div_integral.setZero(n);

    const float span = t_b - t_a;
    const float dt = span / static_cast<float>(steps);  // negative when integrating backward
    for (int i = 0; i < steps; ++i) {
        // Times from the step index rather than accumulated, so t lands exactly on t_b.
        const float t = t_a + span * (static_cast<float>(i) / static_cast<float>(steps));
        for (std::size_t s = 0; s < stages; ++s) {
            if (s == 0) {
                f(x, t, k[0], kd[0]);
                continue;
            }
            const std::vector<float>& row = tab.a[s];
            stage = x;
            for (std::size_t j = 0; j < row.size(); ++j)
                if (row[j] != 0.0f) stage += (dt * row[j]) * k[j];
            f(stage, t + tab.c[s] * dt, k[s], kd[s]);
        }
        for (std::size_t s = 0; s < stages; ++s) {
            const float b = tab.b[s];
            if (b == 0.0f) continue;
            x += (dt * b) * k[s];
            div_integral += (dt * b) * kd[s];
        }
    }
}

}  // namespace fmp
