// The flow and the integral of its divergence as one augmented ODE (the instantaneous change of
// variables): the engine-independent integrator, over the particle solvers' Butcher tableaux.
#pragma once
#include <functional>

#include "core/base/types.h"
#include "core/flow/ode_solver.h"

namespace fmp {

// The velocity v(x, t) and its divergence div[i] = dv_x/dx + dv_y/dy at every row of x, at one
// time t; v and div are resized to x's rows. Called with whole batches.
using VelocityDivergenceFn = std::function<void(const Points& x, float t, Points& v, VectorF& div)>;

// Integrates, for every row of x, the augmented ODE
//   dx/dt = v(x, t),   dl/dt = div v(x, t),   l(t_a) = 0
// from t_a to t_b in `steps` equal steps of a fixed-step solver (the same tableau, stage times
// and step times as integrate_particles). x ends at x(t_b), div_integral[i] = l_i(t_b). l does
// not feed back into v, so each stage evaluates f once on the stage's x and l only accumulates
// the b-weighted divergences. Throws InputError for steps < 1 and for an adaptive solver (the
// likelihood uses fixed steps: both engines then take exactly the same steps).
void integrate_with_divergence(const VelocityDivergenceFn& f, SolverKind kind, Points& x,
                               VectorF& div_integral, float t_a, float t_b, int steps);

// Throws InputError unless `kind` is a fixed-step solver and steps >= 1: the checks of
// integrate_with_divergence, for engines that integrate elsewhere (the GL engine).
void validate_divergence_integration(SolverKind kind, int steps);

}  // namespace fmp
