// Fixed-step ODE solvers for dx/dt = v(x, t): Euler, midpoint, Heun, RK4, forward or backward.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/base/types.h"

namespace fmp {

enum class SolverKind { Euler, Midpoint, Heun, RK4 };

// Velocity at time t for every row of x, written to v (same shape). Called with whole batches.
using VelocityFn = std::function<void(const Points& x, float t, Points& v)>;

// Number of velocity evaluations per step (1, 2, 2, 4).
int solver_evaluations(SolverKind kind);
// Order of accuracy (1, 2, 2, 4).
int solver_order(SolverKind kind);

// An explicit Runge-Kutta method as its Butcher tableau: stage i evaluates the field at
// t + c[i] dt, x + dt sum_j a[i][j] k_j (j < i); the step is x + dt sum_i b[i] k_i.
struct ButcherTableau {
    int stages = 1;
    std::vector<std::vector<float>> a;  // stages rows, row i has i entries
    std::vector<float> b;
    std::vector<float> c;
};
// The tableau of a fixed-step solver (Euler, midpoint, Heun, RK4).
const ButcherTableau& solver_tableau(SolverKind kind);

// Integrates x from t_a to t_b in `steps` equal steps (t_b < t_a integrates backward, data to
// source). x is updated in place. If `trajectory` is given it receives steps+1 snapshots.
void integrate_particles(const VelocityFn& v, SolverKind kind, Points& x, float t_a, float t_b,
                         int steps, std::vector<Points>* trajectory = nullptr);

// Names: "euler", "midpoint", "heun", "rk4".
const std::vector<std::string>& solver_names();
std::string solver_name(SolverKind kind);
std::optional<SolverKind> solver_kind_from_name(const std::string& name);
SolverKind make_solver(const std::string& name);  // throws InputError

}  // namespace fmp
