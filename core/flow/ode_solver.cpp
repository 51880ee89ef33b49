// Runge-Kutta integration of particle batches (fixed steps over a tableau, or dopri5's adaptive
// steps), with scratch reused across steps.
#include "core/flow/ode_solver.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>

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
        case SolverKind::Dopri5: return 6;
    }
    return 1;
}

int solver_order(SolverKind kind) {
    switch (kind) {
        case SolverKind::Euler: return 1;
        case SolverKind::Midpoint: return 2;
        case SolverKind::Heun: return 2;
        case SolverKind::RK4: return 4;
        case SolverKind::Dopri5: return 5;
    }
    return 1;
}

bool solver_is_adaptive(SolverKind kind) { return kind == SolverKind::Dopri5; }

void validate_tolerance(float tolerance) {
    if (!(tolerance >= k_min_tolerance && tolerance <= k_max_tolerance)) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "tolerance must be in [%g, %g] (got %g)",
                      double(k_min_tolerance), double(k_max_tolerance), double(tolerance));
        throw InputError(buf);
    }
}

const ButcherTableau& solver_tableau(SolverKind kind) {
    static const ButcherTableau euler{1, {{}}, {1.0f}, {0.0f}, {}, false};
    static const ButcherTableau midpoint{2, {{}, {0.5f}}, {0.0f, 1.0f}, {0.0f, 0.5f}, {}, false};
    static const ButcherTableau heun{2, {{}, {1.0f}}, {0.5f, 0.5f}, {0.0f, 1.0f}, {}, false};
    static const ButcherTableau rk4{4,
                                    {{}, {0.5f}, {0.0f, 0.5f}, {0.0f, 0.0f, 1.0f}},
                                    {1.0f / 6, 1.0f / 3, 1.0f / 3, 1.0f / 6},
                                    {0.0f, 0.5f, 0.5f, 1.0f},
                                    {},
                                    false};
    // Dormand & Prince (1980), as in Hairer, Norsett & Wanner, Solving ODEs I, table 5.2.
    static const ButcherTableau dopri5{
        7,
        {{},
         {1.0f / 5},
         {3.0f / 40, 9.0f / 40},
         {44.0f / 45, -56.0f / 15, 32.0f / 9},
         {19372.0f / 6561, -25360.0f / 2187, 64448.0f / 6561, -212.0f / 729},
         {9017.0f / 3168, -355.0f / 33, 46732.0f / 5247, 49.0f / 176, -5103.0f / 18656},
         {35.0f / 384, 0.0f, 500.0f / 1113, 125.0f / 192, -2187.0f / 6784, 11.0f / 84}},
        {35.0f / 384, 0.0f, 500.0f / 1113, 125.0f / 192, -2187.0f / 6784, 11.0f / 84, 0.0f},
        {0.0f, 1.0f / 5, 3.0f / 10, 4.0f / 5, 8.0f / 9, 1.0f, 1.0f},
        {5179.0f / 57600, 0.0f, 7571.0f / 16695, 393.0f / 640, -92097.0f / 339200, 187.0f / 2100,
         1.0f / 40},
        true};
    switch (kind) {
        case SolverKind::Euler: return euler;
        case SolverKind::Midpoint: return midpoint;
        case SolverKind::Heun: return heun;
        case SolverKind::RK4: return rk4;
        case SolverKind::Dopri5: return dopri5;
    }
    return euler;
}

namespace {

void check_steps(int steps) {
    if (steps < 1)
        throw InputError("integration needs at least 1 step (got " + std::to_string(steps) + ")");
}

// The stages of an FSAL embedded pair (dopri5) on host memory: the reference the GL engine's GPU
// stages are tested against.
class HostPairSteps final : public EmbeddedPairSteps {
  public:
    HostPairSteps(const VelocityFn& v, const ButcherTableau& tab, Points& x)
        : m_v(v), m_tab(tab), m_x(x) {
        const Eigen::Index n = x.rows();
        // Pre-sized, so a velocity function that writes in place never reallocates.
        m_k.assign(static_cast<std::size_t>(tab.stages), Points(n, 2));
        m_stage.resize(n, 2);
        m_new.resize(n, 2);
        m_err.resize(n, 2);
        for (int s = 0; s < tab.stages; ++s)
            m_e.push_back(tab.b[std::size_t(s)] - tab.b_star[std::size_t(s)]);
    }

    void first_stage(float t) override { m_v(m_x, t, m_k[0]); }

    double try_step(float t, float h, float tol) override {
        for (int s = 1; s < m_tab.stages; ++s) {
            const auto& row = m_tab.a[static_cast<std::size_t>(s)];
            m_stage = m_x;
            for (std::size_t j = 0; j < row.size(); ++j)
                if (row[j] != 0.0f) m_stage += (h * row[j]) * m_k[j];
            // FSAL: the last row of a is b, so the last stage's input is the candidate itself.
            if (s == m_tab.stages - 1) m_new = m_stage;
            m_v(m_stage, t + m_tab.c[static_cast<std::size_t>(s)] * h,
                m_k[static_cast<std::size_t>(s)]);
        }
        m_err.setZero();
        for (int s = 0; s < m_tab.stages; ++s)
            if (m_e[std::size_t(s)] != 0.0f) m_err += (h * m_e[std::size_t(s)]) * m_k[std::size_t(s)];
        const Eigen::Index n = m_x.rows();
        if (n == 0) return 0.0;
        // sc = tol (1 + max(|x|, |x_new|)); the sum in double so 10^5 particles lose nothing.
        auto scaled = m_err.array() / (tol * (1.0f + m_x.array().abs().max(m_new.array().abs())));
        const double sum = scaled.square().cast<double>().sum();
        return std::sqrt(sum / (2.0 * double(n)));
    }

    void accept() override {
        m_x = m_new;
        std::swap(m_k.front(), m_k.back());  // swaps the buffers, copies nothing
    }

  private:
    const VelocityFn& m_v;
    const ButcherTableau& m_tab;
    Points& m_x;
    std::vector<Points> m_k;
    Points m_stage, m_new, m_err;
    std::vector<float> m_e;  // b - b_star
};

}  // namespace

IntegrationStats drive_embedded_pair(EmbeddedPairSteps& pair, float t_a, float t_b, int steps,
                                     float tolerance, bool with_frames,
                                     const std::function<void(int frame)>& on_frame) {
    check_steps(steps);
    validate_tolerance(tolerance);
    const int frames = with_frames ? steps : 1;
    IntegrationStats stats;
    // Times in double: frame times land exactly, and a step far below float resolution of t
    // cannot stall the loop.
    const double span = double(t_b) - double(t_a);
    if (span == 0.0) {
        if (on_frame)
            for (int f = 1; f <= frames; ++f) on_frame(f);
        return stats;
    }
    const double dir = span > 0 ? 1.0 : -1.0;
    const double h_min = k_min_step_fraction * std::abs(span);
    double h = std::abs(span) / steps;  // the first guess
    double t = t_a;
    bool just_rejected = false;
    pair.first_stage(t_a);
    stats.evaluations = 1;
    auto give_up = [&](const char* why) {
        char buf[320];
        std::snprintf(buf, sizeof buf,
                      "dopri5 gave up at t = %.6g after %d steps: %s (tolerance %g); the field is "
                      "too stiff for an explicit solver at this tolerance: raise the tolerance or "
                      "use a fixed-step solver",
                      t, stats.accepted + stats.rejected, why, double(tolerance));
        throw InputError(buf);
    };
    for (int f = 1; f <= frames; ++f) {
        const double t_end = f == frames ? double(t_b) : double(t_a) + span * f / frames;
        while (dir * (t_end - t) > 0.0) {
            if (stats.accepted + stats.rejected >= k_max_adaptive_steps)
                give_up("too many steps");
            const double left = std::abs(t_end - t);
            const bool last = h >= left;  // cut to land exactly on the frame
            const double h_try = last ? left : h;
            const double err =
                pair.try_step(static_cast<float>(t), static_cast<float>(dir * h_try), tolerance);
            stats.evaluations += 6;
            if (std::isfinite(err) && err <= 1.0) {
                pair.accept();
                t = last ? t_end : t + dir * h_try;
                ++stats.accepted;
                // err^(-1/5): the embedded solution is 4th order, so err ~ h^5.
                double factor = err > 0.0 ? std::clamp(0.9 * std::pow(err, -0.2), 0.2, 5.0) : 5.0;
                if (just_rejected) factor = std::min(factor, 1.0);
                // A step cut short by a frame says nothing against the longer step proposed.
                h = last ? std::max(h, h_try * factor) : h_try * factor;
                just_rejected = false;
            } else {
                ++stats.rejected;
                const double factor =
                    std::isfinite(err) ? std::clamp(0.9 * std::pow(err, -0.2), 0.2, 1.0) : 0.2;
                h = h_try * factor;
                just_rejected = true;
                if (h < h_min) give_up(std::isfinite(err) ? "the step fell below 1e-6 of the span"
                                                          : "the field returned NaN or inf");
            }
        }
        if (on_frame) on_frame(f);
    }
    return stats;
}

IntegrationStats integrate_fixed_steps(const VelocityFn& v, const ButcherTableau& tab, Points& x,
                                       float t_a, float t_b, int steps,
                                       std::vector<Points>* trajectory) {
    check_steps(steps);
    // An FSAL pair's last stage only estimates the error: a fixed step does not need it.
    const int stages = tab.fsal ? tab.stages - 1 : tab.stages;
    const Eigen::Index n = x.rows();
    // Pre-sized so a velocity function that writes in place never reallocates; the buffers live
    // for the whole integration, so the only allocations happen here.
    std::vector<Points> k(static_cast<std::size_t>(stages), Points(n, 2));
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
        for (int s = 0; s < stages; ++s) {
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
        for (int s = 0; s < stages; ++s)
            if (tab.b[static_cast<std::size_t>(s)] != 0.0f) x += (dt * tab.b[static_cast<std::size_t>(s)]) * k[static_cast<std::size_t>(s)];
        if (trajectory) (*trajectory)[static_cast<std::size_t>(i) + 1] = x;
    }
    IntegrationStats stats;
    stats.evaluations = int64_t(steps) * stages;
    stats.accepted = steps;
    return stats;
}

IntegrationStats integrate_particles(const VelocityFn& v, const IntegrationSettings& settings,
                                     Points& x, float t_a, float t_b,
                                     std::vector<Points>* trajectory) {
    const ButcherTableau& tab = solver_tableau(settings.kind);
    if (!solver_is_adaptive(settings.kind))
        return integrate_fixed_steps(v, tab, x, t_a, t_b, settings.steps, trajectory);
    check_steps(settings.steps);
    validate_tolerance(settings.tolerance);
    if (trajectory) {
        trajectory->resize(static_cast<std::size_t>(settings.steps) + 1);
        (*trajectory)[0] = x;
    }
    std::function<void(int)> on_frame;
    if (trajectory) on_frame = [&](int f) { (*trajectory)[static_cast<std::size_t>(f)] = x; };
    if (x.rows() == 0) {
        if (on_frame)
            for (int f = 1; f <= settings.steps; ++f) on_frame(f);
        return {};
    }
    HostPairSteps pair(v, tab, x);
    return drive_embedded_pair(pair, t_a, t_b, settings.steps, settings.tolerance,
                               trajectory != nullptr, on_frame);
}

IntegrationStats integrate_particles(const VelocityFn& v, SolverKind kind, Points& x, float t_a,
                                     float t_b, int steps, std::vector<Points>* trajectory) {
    return integrate_particles(v, IntegrationSettings{kind, steps, k_default_tolerance}, x, t_a,
                               t_b, trajectory);
}

const std::vector<std::string>& solver_names() {
    static const std::vector<std::string> names = {"euler", "midpoint", "heun", "rk4", "dopri5"};
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
