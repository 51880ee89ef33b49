// Fixed-step Runge-Kutta integration of particle batches, with scratch reused across steps.
#include "core/flow/ode_solver.h"

#include <cctype>

namespace fmp {
namespace {

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

}  // namespace

int solver_evaluations(SolverKind kind) {
    switch (kind) {
        case SolverKind::Euler: return 1;
        case SolverKind::Midpoint: return 2;
        case SolverKind::Heun: return 2;
        case SolverKind::RK4: return 4;
    }
    return 1;
}

int solver_order(SolverKind kind) {
    switch (kind) {
        case SolverKind::Euler: return 1;
        case SolverKind::Midpoint: return 2;
        case SolverKind::Heun: return 2;
        case SolverKind::RK4: return 4;
    }
    return 1;
}

void integrate_particles(const VelocityFn& v, SolverKind kind, Points& x, float t_a, float t_b,
                         int steps, std::vector<Points>* trajectory) {
    if (steps < 1) throw InputError("integration needs at least 1 step (got " + std::to_string(steps) + ")");
    const Eigen::Index n = x.rows();
    // Pre-sized so a velocity function that writes in place never reallocates; the buffers live
    // for the whole integration, so the only allocations happen here.
    Points k1(n, 2), k2, k3, k4, tmp;
    if (kind != SolverKind::Euler) k2.resize(n, 2), tmp.resize(n, 2);
    if (kind == SolverKind::RK4) k3.resize(n, 2), k4.resize(n, 2);

    if (trajectory) {
        trajectory->resize(static_cast<std::size_t>(steps) + 1);
        (*trajectory)[0] = x;
    }
    const float span = t_b - t_a;
    const float dt = span / static_cast<float>(steps);  // negative when integrating backward
    for (int i = 0; i < steps; ++i) {
        // Times from the step index rather than accumulated, so t lands exactly on t_b.
        const float t = t_a + span * (static_cast<float>(i) / static_cast<float>(steps));
        switch (kind) {
            case SolverKind::Euler:
                v(x, t, k1);
                x += dt * k1;
                break;
            case SolverKind::Midpoint:
                v(x, t, k1);
                tmp = x + (0.5f * dt) * k1;
                v(tmp, t + 0.5f * dt, k2);
                x += dt * k2;
                break;
            case SolverKind::Heun:
                v(x, t, k1);
                tmp = x + dt * k1;
                v(tmp, t + dt, k2);
                x += (0.5f * dt) * (k1 + k2);
                break;
            case SolverKind::RK4:
                v(x, t, k1);
                tmp = x + (0.5f * dt) * k1;
                v(tmp, t + 0.5f * dt, k2);
                tmp = x + (0.5f * dt) * k2;
                v(tmp, t + 0.5f * dt, k3);
                tmp = x + dt * k3;
                v(tmp, t + dt, k4);
                x += (dt / 6.0f) * (k1 + 2.0f * k2 + 2.0f * k3 + k4);
                break;
        }
        if (trajectory) (*trajectory)[static_cast<std::size_t>(i) + 1] = x;
    }
}

const std::vector<std::string>& solver_names() {
    static const std::vector<std::string> names = {"euler", "midpoint", "heun", "rk4"};
    return names;
}

std::string solver_name(SolverKind kind) { return solver_names()[static_cast<std::size_t>(kind)]; }

std::optional<SolverKind> solver_kind_from_name(const std::string& name) {
    const std::string key = lower(name);
    const auto& names = solver_names();
    for (std::size_t i = 0; i < names.size(); ++i)
        if (names[i] == key) return static_cast<SolverKind>(i);
    return std::nullopt;
}

SolverKind make_solver(const std::string& name) {
    auto kind = solver_kind_from_name(name);
    if (!kind)
        throw InputError("unknown solver " + quote_for_message(name) + " (valid: " + join_names(solver_names()) + ")");
    return *kind;
}

}  // namespace fmp
