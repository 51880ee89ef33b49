// ODE solvers: measured convergence orders on linear ODEs with known solutions, reversal, buffers.
#include <doctest/doctest.h>

#include <cmath>
#include <set>
#include <string>

#include "core/flow/ode_solver.h"

// GCC 12 reports -Wmaybe-uninitialized inside its AVX-512 intrinsics (GCC bug 105593) when
// Eigen's maxCoeff is inlined with -march=native; the warning is spurious.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

using namespace fmp;

namespace {

const SolverKind k_all[] = {SolverKind::Euler, SolverKind::Midpoint, SolverKind::Heun, SolverKind::RK4};

// dx/dt = A x with A = [[-0.5, -3], [3, -0.5]]: a decaying rotation, x(t) = e^{-t/2} R(3t) x(0).
void rotation_field(const Points& x, float, Points& v) {
    v.resize(x.rows(), 2);
    v.col(0) = -0.5f * x.col(0) - 3.0f * x.col(1);
    v.col(1) = 3.0f * x.col(0) - 0.5f * x.col(1);
}

Eigen::Vector2d rotation_exact(Eigen::Vector2d x0, double t) {
    const double c = std::cos(3 * t), s = std::sin(3 * t), e = std::exp(-0.5 * t);
    return e * Eigen::Vector2d(c * x0.x() - s * x0.y(), s * x0.x() + c * x0.y());
}

// dx/dt = 3 (t - x) (time dependent, so wrong stage times show up):
// x(t) = t - 1/3 + (x(0) + 1/3) e^{-3t}. The rate 3 keeps RK4's error far above float rounding.
void relax_field(const Points& x, float t, Points& v) { v = (3.0f * (t - x.array())).matrix(); }

double relax_exact(double x0, double t) { return t - 1.0 / 3 + (x0 + 1.0 / 3) * std::exp(-3 * t); }

Points start_points() {
    Points x(3, 2);
    x << 1.0f, 0.0f, -0.5f, 0.8f, 0.3f, -1.2f;
    return x;
}

double rotation_error(SolverKind kind, int steps, float t_a, float t_b) {
    Points x0 = start_points(), x = x0;
    integrate_particles(rotation_field, kind, x, t_a, t_b, steps);
    double err = 0;
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
        // The exact flow from t_a to t_b is the same map with elapsed time t_b - t_a.
        Eigen::Vector2d e = rotation_exact(Eigen::Vector2d(x0(i, 0), x0(i, 1)), double(t_b) - t_a);
        err = std::max(err, (Eigen::Vector2d(x(i, 0), x(i, 1)) - e).norm());
    }
    return err;
}

double relax_error(SolverKind kind, int steps, bool backward) {
    Points x0 = start_points(), x;
    double err = 0;
    if (!backward) {
        x = x0;
        integrate_particles(relax_field, kind, x, 0.0f, 1.0f, steps);
        for (Eigen::Index i = 0; i < x.size(); ++i)
            err = std::max(err, std::abs(x.data()[i] - relax_exact(x0.data()[i], 1.0)));
    } else {
        // Start on the exact solution at t=1 and integrate back to t=0.
        x.resize(x0.rows(), 2);
        for (Eigen::Index i = 0; i < x.size(); ++i)
            x.data()[i] = static_cast<float>(relax_exact(x0.data()[i], 1.0));
        integrate_particles(relax_field, kind, x, 1.0f, 0.0f, steps);
        for (Eigen::Index i = 0; i < x.size(); ++i) err = std::max(err, std::abs(x.data()[i] - double(x0.data()[i])));
    }
    return err;
}

// Coarse enough that errors sit far above float rounding, fine enough to be asymptotic.
int base_steps(SolverKind kind) { return kind == SolverKind::RK4 ? 8 : kind == SolverKind::Euler ? 64 : 32; }

}  // namespace

TEST_CASE("solver names, evaluation counts and orders") {
    REQUIRE(solver_names().size() == 4);
    for (const auto& n : solver_names()) {
        auto kind = solver_kind_from_name(n);
        REQUIRE(kind);
        CHECK(solver_name(*kind) == n);
        CHECK(make_solver(n) == *kind);
    }
    CHECK(make_solver("RK4") == SolverKind::RK4);
    CHECK(make_solver("Midpoint") == SolverKind::Midpoint);
    try {
        make_solver("dopri5");
        FAIL("expected InputError");
    } catch (const InputError& e) {
        std::string msg = e.what();
        CHECK(msg.find("dopri5") != std::string::npos);
        for (const auto& n : solver_names()) CHECK(msg.find(n) != std::string::npos);
    }
    CHECK(solver_evaluations(SolverKind::Euler) == 1);
    CHECK(solver_evaluations(SolverKind::Midpoint) == 2);
    CHECK(solver_evaluations(SolverKind::Heun) == 2);
    CHECK(solver_evaluations(SolverKind::RK4) == 4);
    CHECK(solver_order(SolverKind::Euler) == 1);
    CHECK(solver_order(SolverKind::Midpoint) == 2);
    CHECK(solver_order(SolverKind::Heun) == 2);
    CHECK(solver_order(SolverKind::RK4) == 4);
}

TEST_CASE("measured convergence orders are 1, 2, 2, 4") {
    for (SolverKind kind : k_all) {
        CAPTURE(solver_name(kind));
        const int n = base_steps(kind);
        const double expected = solver_order(kind);
        {
            const double e1 = rotation_error(kind, n, 0.0f, 1.0f), e2 = rotation_error(kind, 2 * n, 0.0f, 1.0f);
            const double order = std::log2(e1 / e2);
            CAPTURE(e1);
            CAPTURE(e2);
            CHECK(std::abs(order - expected) <= 0.3);
        }
        {
            const double e1 = relax_error(kind, n, false), e2 = relax_error(kind, 2 * n, false);
            CAPTURE(e1);
            CAPTURE(e2);
            CHECK(std::abs(std::log2(e1 / e2) - expected) <= 0.3);
        }
        {
            // Backward (negative dt), with the time dependence, has the same order.
            const double e1 = relax_error(kind, n, true), e2 = relax_error(kind, 2 * n, true);
            CAPTURE(e1);
            CAPTURE(e2);
            CHECK(std::abs(std::log2(e1 / e2) - expected) <= 0.3);
        }
        {
            const double e1 = rotation_error(kind, n, 1.0f, 0.0f), e2 = rotation_error(kind, 2 * n, 1.0f, 0.0f);
            CHECK(std::abs(std::log2(e1 / e2) - expected) <= 0.3);
        }
    }
}

TEST_CASE("one step of each scheme is exactly its textbook formula (nonlinear, time dependent)") {
    // On affine fields midpoint and Heun coincide; this field tells them apart.
    auto f = [](double x, double t) { return std::sin(x) * (1 + t) + x * x * 0.3; };
    VelocityFn v = [&](const Points& x, float t, Points& out) {
        for (Eigen::Index i = 0; i < x.size(); ++i) out.data()[i] = static_cast<float>(f(x.data()[i], t));
    };
    const double x0 = 0.7, t = 0.25, h = -0.3;  // a backward step, so the sign of dt matters too
    const double k1 = f(x0, t);
    const double euler = x0 + h * k1;
    const double midpoint = x0 + h * f(x0 + h / 2 * k1, t + h / 2);
    const double heun = x0 + h / 2 * (k1 + f(x0 + h * k1, t + h));
    const double r2 = f(x0 + h / 2 * k1, t + h / 2), r3 = f(x0 + h / 2 * r2, t + h / 2), r4 = f(x0 + h * r3, t + h);
    const double rk4 = x0 + h / 6 * (k1 + 2 * r2 + 2 * r3 + r4);
    const double expected[] = {euler, midpoint, heun, rk4};
    CHECK(std::abs(midpoint - heun) > 1e-3);
    for (SolverKind kind : k_all) {
        CAPTURE(solver_name(kind));
        Points x(1, 2);
        x << float(x0), float(x0);
        integrate_particles(v, kind, x, float(t), float(t + h), 1);
        CHECK(x(0, 0) == doctest::Approx(expected[int(kind)]).epsilon(1e-5));
        CHECK(x(0, 1) == x(0, 0));
    }
}

TEST_CASE("orders hold on a nonlinear ODE: dx/dt = x^2, x(t) = x0 / (1 - x0 t)") {
    // x0 = 0.7 puts the blow-up at t = 1.43, so RK4's error at 8 steps stays well above float rounding.
    auto square = [](const Points& x, float, Points& v) { v = x.cwiseProduct(x); };
    for (SolverKind kind : k_all) {
        CAPTURE(solver_name(kind));
        auto err = [&](int steps) {
            Points x(1, 2);
            x << 0.7f, -0.8f;
            integrate_particles(square, kind, x, 0.0f, 1.0f, steps);
            return std::max(std::abs(x(0, 0) - 0.7 / 0.3), std::abs(x(0, 1) - (-0.8 / 1.8)));
        };
        const int n = base_steps(kind);
        const double e1 = err(n), e2 = err(2 * n);
        CAPTURE(e1);
        CAPTURE(e2);
        CHECK(std::abs(std::log2(e1 / e2) - solver_order(kind)) <= 0.3);
    }
}

TEST_CASE("backward integration inverts forward integration") {
    for (SolverKind kind : k_all) {
        CAPTURE(solver_name(kind));
        auto round_trip = [&](int steps) {
            Points x0 = start_points(), x = x0;
            integrate_particles(rotation_field, kind, x, 0.0f, 1.0f, steps);
            integrate_particles(rotation_field, kind, x, 1.0f, 0.0f, steps);
            return double((x - x0).cwiseAbs().maxCoeff());
        };
        const int n = base_steps(kind);
        const double e1 = round_trip(n), e2 = round_trip(2 * n);
        CAPTURE(e1);
        CAPTURE(e2);
        // The round trip error is a solver error, so it shrinks at the solver's order ...
        CHECK(e2 < e1);
        CHECK(std::log2(e1 / e2) >= solver_order(kind) - 0.3);
        // ... and at a practical step count RK4 returns to where it started.
        if (kind == SolverKind::RK4) CHECK(round_trip(100) < 1e-5);
    }
}

TEST_CASE("trajectory snapshots, stage times and buffer reuse") {
    for (SolverKind kind : k_all) {
        CAPTURE(solver_name(kind));
        const int steps = 5;
        std::vector<float> times;
        std::set<const float*> out_buffers;
        VelocityFn v = [&](const Points& x, float t, Points& out) {
            times.push_back(t);
            out_buffers.insert(out.data());
            CHECK(out.rows() == x.rows());  // pre-sized, so writing in place never reallocates
            rotation_field(x, t, out);
        };
        Points x = start_points();
        std::vector<Points> traj;
        integrate_particles(v, kind, x, 0.2f, 0.7f, steps, &traj);
        REQUIRE(traj.size() == steps + 1);
        CHECK((traj.front() - start_points()).cwiseAbs().maxCoeff() == 0.0f);
        CHECK((traj.back() - x).cwiseAbs().maxCoeff() == 0.0f);
        REQUIRE(times.size() == std::size_t(steps * solver_evaluations(kind)));
        CHECK(times.front() == doctest::Approx(0.2));
        // The last stage of every method but Euler and midpoint evaluates at the step's end.
        const float last = (kind == SolverKind::Heun || kind == SolverKind::RK4) ? 0.7f
                           : kind == SolverKind::Midpoint                         ? 0.65f
                                                                                  : 0.6f;
        CHECK(times.back() == doctest::Approx(last).epsilon(1e-5));
        // One scratch buffer per stage for the whole integration, not one per step.
        CHECK(out_buffers.size() == std::size_t(solver_evaluations(kind)));
        // Each snapshot matches a separate integration to that step.
        Points y = start_points();
        integrate_particles(rotation_field, kind, y, 0.2f, 0.2f + 0.1f * 3, 3);
        CHECK((traj[3] - y).cwiseAbs().maxCoeff() <= 1e-6f);
    }
    Points x = start_points();
    CHECK_THROWS_AS(integrate_particles(rotation_field, SolverKind::Euler, x, 0.0f, 1.0f, 0), InputError);
}
