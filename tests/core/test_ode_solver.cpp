// ODE solvers: measured convergence orders on linear ODEs with known solutions, reversal, buffers,
// and dopri5's adaptive control (error vs tolerance, NFE, frame times, the guards).
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
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
    REQUIRE(solver_names().size() == 5);
    for (const auto& n : solver_names()) {
        auto kind = solver_kind_from_name(n);
        REQUIRE(kind);
        CHECK(solver_name(*kind) == n);
        CHECK(make_solver(n) == *kind);
    }
    CHECK(make_solver("RK4") == SolverKind::RK4);
    CHECK(make_solver("Midpoint") == SolverKind::Midpoint);
    CHECK(make_solver("DoPri5") == SolverKind::Dopri5);
    try {
        make_solver("rk45");
        FAIL("expected InputError");
    } catch (const InputError& e) {
        std::string msg = e.what();
        CHECK(msg.find("rk45") != std::string::npos);
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
    CHECK(solver_evaluations(SolverKind::Dopri5) == 6);
    CHECK(solver_order(SolverKind::Dopri5) == 5);
    for (SolverKind kind : k_all) CHECK_FALSE(solver_is_adaptive(kind));
    CHECK(solver_is_adaptive(SolverKind::Dopri5));
    // The tableaus are consistent: rows of a sum to c, b and b_star sum to 1.
    for (const auto& n : solver_names()) {
        CAPTURE(n);
        const ButcherTableau& tab = solver_tableau(make_solver(n));
        double sb = 0, sbs = 0;
        for (int s = 0; s < tab.stages; ++s) {
            double row = 0;
            for (float a : tab.a[std::size_t(s)]) row += a;
            CHECK(row == doctest::Approx(tab.c[std::size_t(s)]).epsilon(1e-6));
            sb += tab.b[std::size_t(s)];
            if (!tab.b_star.empty()) sbs += tab.b_star[std::size_t(s)];
        }
        CHECK(sb == doctest::Approx(1.0).epsilon(1e-6));
        if (!tab.b_star.empty()) CHECK(sbs == doctest::Approx(1.0).epsilon(1e-6));
    }
    // FSAL: dopri5's last row of a is b.
    const ButcherTableau& dp = solver_tableau(SolverKind::Dopri5);
    CHECK(dp.fsal);
    for (std::size_t j = 0; j < dp.a.back().size(); ++j) CHECK(dp.a.back()[j] == dp.b[j]);
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

// ---- dopri5

namespace {

double dopri5_fixed_rotation_error(int steps, float t_a, float t_b) {
    Points x0 = start_points(), x = x0;
    integrate_fixed_steps(rotation_field, solver_tableau(SolverKind::Dopri5), x, t_a, t_b, steps);
    double err = 0;
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
        Eigen::Vector2d e = rotation_exact(Eigen::Vector2d(x0(i, 0), x0(i, 1)), double(t_b) - t_a);
        err = std::max(err, (Eigen::Vector2d(x(i, 0), x(i, 1)) - e).norm());
    }
    return err;
}

// The adaptive solve's max error against the closed form, and its stats.
struct AdaptiveRun {
    double error = 0;
    IntegrationStats stats;
};

AdaptiveRun adaptive_rotation(float tol, float t_a, float t_b) {
    Points x0 = start_points(), x = x0;
    AdaptiveRun run;
    run.stats = integrate_particles(rotation_field, {SolverKind::Dopri5, 1, tol}, x, t_a, t_b);
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
        Eigen::Vector2d e = rotation_exact(Eigen::Vector2d(x0(i, 0), x0(i, 1)), double(t_b) - t_a);
        run.error = std::max(run.error, (Eigen::Vector2d(x(i, 0), x(i, 1)) - e).norm());
    }
    return run;
}

AdaptiveRun adaptive_relax(float tol, bool backward) {
    Points x0 = start_points(), x;
    AdaptiveRun run;
    if (!backward) {
        x = x0;
        run.stats = integrate_particles(relax_field, {SolverKind::Dopri5, 1, tol}, x, 0.0f, 1.0f);
        for (Eigen::Index i = 0; i < x.size(); ++i)
            run.error = std::max(run.error, std::abs(x.data()[i] - relax_exact(x0.data()[i], 1.0)));
    } else {
        x.resize(x0.rows(), 2);
        for (Eigen::Index i = 0; i < x.size(); ++i)
            x.data()[i] = static_cast<float>(relax_exact(x0.data()[i], 1.0));
        run.stats = integrate_particles(relax_field, {SolverKind::Dopri5, 1, tol}, x, 1.0f, 0.0f);
        for (Eigen::Index i = 0; i < x.size(); ++i)
            run.error = std::max(run.error, std::abs(x.data()[i] - double(x0.data()[i])));
    }
    return run;
}

}  // namespace

TEST_CASE("dopri5 at fixed steps converges at order 5, forward and backward") {
    for (auto [t_a, t_b] : {std::pair{0.0f, 1.0f}, std::pair{1.0f, 0.0f}}) {
        const double e1 = dopri5_fixed_rotation_error(6, t_a, t_b);
        const double e2 = dopri5_fixed_rotation_error(12, t_a, t_b);
        CAPTURE(e1);
        CAPTURE(e2);
        CHECK(std::abs(std::log2(e1 / e2) - 5.0) <= 0.3);
    }
    // A fixed step skips the FSAL stage: 6 evaluations, the 7th only estimates the error.
    int calls = 0;
    VelocityFn v = [&](const Points& x, float t, Points& out) {
        ++calls;
        rotation_field(x, t, out);
    };
    Points x = start_points();
    IntegrationStats st = integrate_fixed_steps(v, solver_tableau(SolverKind::Dopri5), x, 0, 1, 3);
    CHECK(calls == 18);
    CHECK(st.evaluations == 18);
}

TEST_CASE("dopri5 adaptive: the error falls with the tolerance, stays within 10 tol, NFE grows") {
    const float tols[] = {1e-2f, 1e-3f, 1e-4f, 1e-5f, 1e-6f};
    // The tolerance bounds each step's local error; the global error is their sum carried along by
    // the flow, so it stays within a small multiple of tol where the flow does not expand.
    auto check_sweep = [&](auto run_at, double bound = 10.0) {
        double last_error = 1e9;
        int64_t last_nfe = 0;
        for (float tol : tols) {
            CAPTURE(tol);
            AdaptiveRun r = run_at(tol);
            CAPTURE(r.error);
            CAPTURE(r.stats.evaluations);
            CHECK(r.error <= bound * tol);
            // Falls until float rounding (about 1e-6 here) takes over.
            CHECK(r.error <= std::max(last_error, 2e-6));
            CHECK(r.stats.evaluations >= last_nfe);
            CHECK(r.stats.evaluations == 1 + 6 * (r.stats.accepted + r.stats.rejected));
            last_error = r.error;
            last_nfe = r.stats.evaluations;
        }
        // Over four decades of tolerance the cost must grow, by about 10^(4/5) = 6x.
        MESSAGE("NFE at tol 1e-2: " << run_at(1e-2f).stats.evaluations
                                    << ", at 1e-6: " << run_at(1e-6f).stats.evaluations);
        CHECK(run_at(1e-6f).stats.evaluations >= 2.5 * run_at(1e-2f).stats.evaluations);
    };
    SUBCASE("decaying rotation, forward") {
        check_sweep([](float tol) { return adaptive_rotation(tol, 0.0f, 1.0f); });
    }
    SUBCASE("decaying rotation, backward") {
        check_sweep([](float tol) { return adaptive_rotation(tol, 1.0f, 0.0f); });
    }
    SUBCASE("time-dependent relaxation, forward") {
        check_sweep([](float tol) { return adaptive_relax(tol, false); });
    }
    SUBCASE("time-dependent relaxation, backward") {
        // Backward, this flow expands distances by e^3 = 20 over the span, and local errors with
        // them.
        check_sweep([](float tol) { return adaptive_relax(tol, true); }, 10.0 * std::exp(3.0));
    }
    SUBCASE("nonlinear: dx/dt = x^2") {
        check_sweep([](float tol) {
            auto square = [](const Points& x, float, Points& v) { v = x.cwiseProduct(x); };
            Points x(1, 2);
            x << 0.7f, -0.8f;
            AdaptiveRun r;
            r.stats = integrate_particles(square, {SolverKind::Dopri5, 1, tol}, x, 0.0f, 1.0f);
            r.error = std::max(std::abs(x(0, 0) - 0.7 / 0.3), std::abs(x(0, 1) - (-0.8 / 1.8)));
            return r;
        });
    }
}

TEST_CASE("dopri5 counts every evaluation, and the first step guess does not change the answer") {
    int calls = 0;
    std::set<const float*> out_buffers;
    VelocityFn v = [&](const Points& x, float t, Points& out) {
        ++calls;
        out_buffers.insert(out.data());
        CHECK(out.rows() == x.rows());
        rotation_field(x, t, out);
    };
    Points x = start_points();
    IntegrationStats st = integrate_particles(v, {SolverKind::Dopri5, 1, 1e-5f}, x, 0.0f, 1.0f);
    CHECK(st.evaluations == calls);
    CHECK(st.accepted >= 3);
    CHECK(out_buffers.size() <= 7);  // one buffer per stage for the whole solve
    // steps = 50 only makes the first guess smaller: the solve still meets the tolerance.
    Points y = start_points();
    IntegrationStats st50 = integrate_particles(rotation_field, {SolverKind::Dopri5, 50, 1e-5f},
                                                y, 0.0f, 1.0f);
    CHECK((x - y).cwiseAbs().maxCoeff() < 1e-4f);
    CHECK(st50.accepted < 50);  // the controller grew the step instead of taking 50
    // An empty batch and an empty span cost nothing.
    Points none(0, 2);
    CHECK(integrate_particles(v, {SolverKind::Dopri5, 4, 1e-4f}, none, 0.0f, 1.0f).evaluations ==
          0);
    Points z = start_points();
    CHECK(integrate_particles(rotation_field, {SolverKind::Dopri5, 4, 1e-4f}, z, 0.5f, 0.5f)
              .evaluations == 0);
    CHECK((z - start_points()).cwiseAbs().maxCoeff() == 0.0f);
}

TEST_CASE("dopri5 trajectories land exactly on the frame times") {
    const int frames = 7;
    const float t_a = 0.2f, t_b = 0.9f;
    VelocityFn v = relax_field;
    Points x0 = start_points(), x = x0;
    std::vector<Points> traj;
    IntegrationStats st =
        integrate_particles(v, {SolverKind::Dopri5, frames, 1e-6f}, x, t_a, t_b, &traj);
    REQUIRE(traj.size() == std::size_t(frames + 1));
    CHECK((traj.front() - x0).cwiseAbs().maxCoeff() == 0.0f);
    CHECK((traj.back() - x).cwiseAbs().maxCoeff() == 0.0f);
    CHECK(st.accepted >= frames);  // at least one step per frame
    // Each frame is the exact solution at its time t_k = t_a + (t_b - t_a) k / frames.
    for (int k = 0; k <= frames; ++k) {
        CAPTURE(k);
        const double tk = double(t_a) + (double(t_b) - t_a) * k / frames;
        for (Eigen::Index i = 0; i < x.size(); ++i) {
            // relax_exact is from 0; shift: x(t) = t - 1/3 + (x(t_a) - t_a + 1/3) e^{-3(t - t_a)}.
            const double xa = x0.data()[i];
            const double exact = tk - 1.0 / 3 + (xa - t_a + 1.0 / 3) * std::exp(-3 * (tk - t_a));
            CHECK(std::abs(traj[std::size_t(k)].data()[i] - exact) < 1e-5);
        }
    }
    // A constant field: every step is exact, so the controller grows h fivefold per step and only
    // the cuts at the frames keep the particles at x = elapsed time there.
    auto unit = [](const Points& p, float, Points& out) {
        out.resize(p.rows(), 2);
        out.setOnes();
    };
    Points y = Points::Zero(2, 2);
    IntegrationStats su = integrate_particles(unit, {SolverKind::Dopri5, 10, 1e-4f}, y, 1.0f, 0.0f, &traj);
    CHECK(su.accepted == 10);  // one step per frame, none longer
    for (int k = 0; k <= 10; ++k) CHECK(traj[std::size_t(k)](0, 0) == doctest::Approx(-0.1 * k).epsilon(1e-6));
    // Without a trajectory the same field takes one step: steps only sets the first guess.
    Points w = Points::Zero(2, 2);
    su = integrate_particles(unit, {SolverKind::Dopri5, 10, 1e-4f}, w, 1.0f, 0.0f);
    CHECK(su.accepted <= 3);
    CHECK(w(0, 0) == doctest::Approx(-1.0).epsilon(1e-6));
}

TEST_CASE("dopri5 gives up with InputError on a stiff field or NaN instead of hanging") {
    auto give_up_message = [](auto field) {
        Points x = start_points();
        try {
            integrate_particles(field, {SolverKind::Dopri5, 1, 1e-4f}, x, 0.0f, 1.0f);
        } catch (const InputError& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    // dx/dt = -5e4 x: stability alone limits an explicit step to about 7e-5, so the solve would
    // need 15000 steps; it stops at k_max_adaptive_steps.
    std::string msg = give_up_message([](const Points& x, float, Points& v) { v = -5e4f * x; });
    CAPTURE(msg);
    CHECK(msg.find("dopri5") != std::string::npos);
    CHECK(msg.find("too many steps") != std::string::npos);
    // dx/dt = -1e8 x: the step must shrink below 1e-6 of the span.
    msg = give_up_message([](const Points& x, float, Points& v) { v = -1e8f * x; });
    CHECK(msg.find("the step fell below") != std::string::npos);
    // A field that turns NaN past t = 0.5: the step shrinks to the minimum, then it stops.
    auto broken = [](const Points& p, float t, Points& v) {
        v.resize(p.rows(), 2);
        v.setConstant(t > 0.5f ? std::numeric_limits<float>::quiet_NaN() : 1.0f);
    };
    msg = give_up_message(broken);
    CHECK(msg.find("NaN") != std::string::npos);
}

TEST_CASE("dopri5 rejects a tolerance out of range") {
    Points x = start_points();
    for (float tol : {0.0f, -1e-4f, 1e-7f, 0.5f, std::numeric_limits<float>::quiet_NaN(),
                      std::numeric_limits<float>::infinity()}) {
        CAPTURE(tol);
        CHECK_THROWS_AS(integrate_particles(rotation_field, {SolverKind::Dopri5, 4, tol}, x, 0, 1),
                        InputError);
        CHECK_THROWS_AS(validate_tolerance(tol), InputError);
    }
    CHECK_NOTHROW(validate_tolerance(k_min_tolerance));
    CHECK_NOTHROW(validate_tolerance(k_max_tolerance));
    CHECK_NOTHROW(validate_tolerance(k_default_tolerance));
    // Fixed-step solvers ignore the tolerance.
    CHECK_NOTHROW(integrate_particles(rotation_field, {SolverKind::RK4, 4, 0.0f}, x, 0, 1));
    CHECK_THROWS_AS(integrate_particles(rotation_field, {SolverKind::Dopri5, 0, 1e-4f}, x, 0, 1),
                    InputError);
}
