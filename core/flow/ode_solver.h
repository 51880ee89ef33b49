// ODE solvers for dx/dt = v(x, t), forward or backward: fixed-step Euler, midpoint, Heun, RK4 and
// the adaptive Dormand-Prince 5(4) pair (dopri5) with its step-size controller.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/base/types.h"

namespace fmp {

enum class SolverKind { Euler, Midpoint, Heun, RK4, Dopri5 };

// Velocity at time t for every row of x, written to v (same shape). Called with whole batches.
using VelocityFn = std::function<void(const Points& x, float t, Points& v)>;

// Velocity evaluations per step: 1, 2, 2, 4, and 6 for dopri5. Dopri5's count is per attempted
// step (accepted or rejected) after the first: its 7th stage is evaluated at the step's end point
// and is the next step's 1st ("first same as last", FSAL), so an adaptive solve costs
// 1 + 6 x attempts and a fixed-step use of its tableau (integrate_fixed_steps) 6 x steps. How
// many steps an adaptive solve takes is known only afterwards: IntegrationStats::evaluations.
int solver_evaluations(SolverKind kind);
// Order of accuracy (1, 2, 2, 4, 5).
int solver_order(SolverKind kind);
// True for the solvers that choose their own steps (dopri5).
bool solver_is_adaptive(SolverKind kind);

// Dopri5's tolerance: rtol = atol = tol. Valid range [k_min_tolerance, k_max_tolerance]: below
// 1e-6 the error estimate drowns in float32 rounding (particles are floats), above 0.1 the
// "error" is no longer small and the controller's asymptotics do not hold.
inline constexpr float k_default_tolerance = 1e-4f;
inline constexpr float k_min_tolerance = 1e-6f;
inline constexpr float k_max_tolerance = 1e-1f;
void validate_tolerance(float tolerance);  // throws InputError outside the range (or NaN)
// An adaptive solve gives up with InputError after this many attempted steps, or when its step
// falls below k_min_step_fraction x |t_b - t_a|: a stiff field (or a NaN) ends with a message,
// never a hang.
inline constexpr int k_max_adaptive_steps = 10000;
inline constexpr double k_min_step_fraction = 1e-6;

// How to integrate: the solver, its steps and (dopri5) its tolerance.
//  - fixed-step solvers: `steps` equal steps from t_a to t_b.
//  - dopri5 with a trajectory: `steps` frames at t_a + (t_b - t_a) k / steps; each frame interval
//    is integrated adaptively and the steps are cut so that every frame lands exactly on its time.
//  - dopri5 without a trajectory: `steps` only sets the first step guess (t_b - t_a) / steps.
struct IntegrationSettings {
    SolverKind kind = SolverKind::RK4;
    int steps = 20;                         // >= 1
    float tolerance = k_default_tolerance;  // dopri5 only
};

// What an integration cost. evaluations (NFE) counts calls of the field on the whole batch.
struct IntegrationStats {
    int64_t evaluations = 0;
    int accepted = 0;  // steps taken
    int rejected = 0;  // dopri5: steps retried with a smaller h
};

// An explicit Runge-Kutta method as its Butcher tableau: stage i evaluates the field at
// t + c[i] dt, x + dt sum_j a[i][j] k_j (j < i); the step is x + dt sum_i b[i] k_i.
// An embedded pair (dopri5) also has b_star, a lower-order step from the same stages: the
// difference dt sum_i (b[i] - b_star[i]) k_i estimates the local error. With `fsal` the last
// stage's row of a equals b, so it evaluates the field at the step's end point, which is the
// next step's first stage; it serves only the error estimate and is skipped in fixed steps.
struct ButcherTableau {
    int stages = 1;
    std::vector<std::vector<float>> a;  // stages rows, row i has i entries
    std::vector<float> b;
    std::vector<float> c;
    std::vector<float> b_star;  // empty for a method without an error estimate
    bool fsal = false;
};
// The tableau of a solver. Dopri5's: 7 stages, b of order 5, b_star of order 4, FSAL.
const ButcherTableau& solver_tableau(SolverKind kind);

// Integrates x from t_a to t_b (t_b < t_a integrates backward, data to source) as `settings`
// says (see IntegrationSettings). x is updated in place. If `trajectory` is given it receives
// steps+1 snapshots at t_a + (t_b - t_a) k / steps. Throws InputError for steps < 1, a tolerance
// out of range, or an adaptive solve that gives up (see k_max_adaptive_steps).
IntegrationStats integrate_particles(const VelocityFn& v, const IntegrationSettings& settings,
                                     Points& x, float t_a, float t_b,
                                     std::vector<Points>* trajectory = nullptr);
// The same with dopri5 at k_default_tolerance.
IntegrationStats integrate_particles(const VelocityFn& v, SolverKind kind, Points& x, float t_a,
                                     float t_b, int steps,
                                     std::vector<Points>* trajectory = nullptr);
// `steps` equal steps of any tableau (dopri5's: its 5th-order formula without error control).
IntegrationStats integrate_fixed_steps(const VelocityFn& v, const ButcherTableau& tableau,
                                       Points& x, float t_a, float t_b, int steps,
                                       std::vector<Points>* trajectory = nullptr);

// The step-size control of an embedded pair, apart from where its stages are computed, so the
// CPU (host memory) and the GL engine (GPU buffers) take exactly the same steps. An
// implementation holds the state x, its stages k_i and a candidate end point.
class EmbeddedPairSteps {
  public:
    virtual ~EmbeddedPairSteps() = default;
    // k_1 = v(x, t): once at the start (FSAL supplies it afterwards).
    virtual void first_stage(float t) = 0;
    // Stages 2..7 of a step of size h from (x, t), given k_1; keeps the candidate
    //   x_new = x + h sum b_i k_i  and returns Hairer's error norm over the whole batch:
    //   err = sqrt( mean over particles i and coordinates d of (e_id / sc_id)^2 ),
    //   e = h sum (b_i - b_star_i) k_i,  sc = tol (1 + max(|x_id|, |x_new_id|))  (rtol = atol = tol).
    virtual double try_step(float t, float h, float tolerance) = 0;
    // x = x_new, k_1 = k_7 (FSAL).
    virtual void accept() = 0;
};

// Drives `pair` from t_a to t_b with dopri5's controller: a step is accepted when err <= 1, and
// the next step is h_new = h min(5, max(0.2, 0.9 err^(-1/5))) (never larger right after a
// rejection). The first step is (t_b - t_a) / steps. With `frames`, steps are cut to land
// exactly on the `steps` frame times t_a + (t_b - t_a) k / steps and on_frame(k) (when set) runs
// once x is at frame k (1..steps). Throws InputError when it gives up.
IntegrationStats drive_embedded_pair(EmbeddedPairSteps& pair, float t_a, float t_b, int steps,
                                     float tolerance, bool frames,
                                     const std::function<void(int frame)>& on_frame = {});

// Names: "euler", "midpoint", "heun", "rk4", "dopri5".
const std::vector<std::string>& solver_names();
std::string solver_name(SolverKind kind);
std::optional<SolverKind> solver_kind_from_name(const std::string& name);
SolverKind make_solver(const std::string& name);  // throws InputError

}  // namespace fmp
