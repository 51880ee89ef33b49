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

const ButcherTableau& solver_tableau(SolverKind kind) {
    static const ButcherTableau euler{1, {{}}, {1.0f}, {0.0f}};
    static const ButcherTableau midpoint{2, {{}, {0.5f}}, {0.0f, 1.0f}, {0.0f, 0.5f}};
    static const ButcherTableau heun{2, {{}, {1.0f}}, {0.5f, 0.5f}, {0.0f, 1.0f}};
    static const ButcherTableau rk4{4,
                                    {{}, {0.5f}, {0.0f, 0.5f}, {0.0f, 0.0f, 1.0f}},
                                    {1.0f / 6, 1.0f / 3, 1.0f / 3, 1.0f / 6},
                                    {0.0f, 0.5f, 0.5f, 1.0f}};
    switch (kind) {
        case SolverKind::Euler: return euler;
        case SolverKind::Midpoint: return midpoint;
        case SolverKind::Heun: return heun;
        case SolverKind::RK4: return rk4;
    }
    return euler;
}

void integrate_particles(const VelocityFn& v, SolverKind kind, Points& x, float t_a, float t_b,
                         int steps, std::vector<Points>* trajectory) {
    if (steps < 1) throw InputError("integration needs at least 1 step (got " + std::to_string(steps) + ")");
    const ButcherTableau& tab = solver_tableau(kind);
    const Eigen::Index n = x.rows();
    // Pre-sized so a velocity function that writes in place never reallocates; the buffers live
    // for the whole integration, so the only allocations happen here.
    std::vector<Points> k(static_cast<std::size_t>(tab.stages), Points(n, 2));
    Points stage(n, 2);

    if (trajectory) {
        trajectory->resize(static_cast<std::size_t>(steps) + 1);
        (*trajectory)[0] = x;
    }
    const float span = t_b - t_a;
    const float dt = span / static_cast<float>(steps);  // negative when integrating backward
    for (int i = 0; i < steps; ++i) {
        // Times from the step index rather than accumulated, so t lands exactly on t_b.
        const float t = t_a + span * (static_cast<float>(i) / static_cast<float>(steps));
        for (int s = 0; s < tab.stages; ++s) {
            const auto& row = tab.a[static_cast<std::size_t>(s)];
            if (s == 0) {
                v(x, t, k[0]);
                continue;
            }
            stage = x;
            for (std::size_t j = 0; j < row.size(); ++j)
                if (row[j] != 0.0f) stage += (dt * row[j]) * k[j];
            v(stage, t + tab.c[static_cast<std::size_t>(s)] * dt, k[static_cast<std::size_t>(s)]);
        }
        for (int s = 0; s < tab.stages; ++s)
            if (tab.b[static_cast<std::size_t>(s)] != 0.0f) x += (dt * tab.b[static_cast<std::size_t>(s)]) * k[static_cast<std::size_t>(s)];
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
