// The likelihood's engine part: the MLP's exact divergence against finite differences, the
// augmented (x, l) integrator against closed-form flows, and the GL engine against the CPU one.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "core/base/parallel.h"
#include "core/base/rng.h"
#include "core/engine/engine.h"
#include "core/engine/gl/gl_engine.h"
#include "core/flow/divergence_integration.h"
#include "core/flow/ode_solver.h"
#include "core/nn/mlp.h"
#include "tests/mlp_test_support.h"
#include "tests/gl_test_support.h"

using namespace fmp;
using namespace fmp::test;
using fmp::test::check_no_gl_messages;
using fmp::test::make_gl_current;

namespace {

const Activation k_activations[] = {Activation::SiLU, Activation::SELU, Activation::Tanh,
                                    Activation::ReLU, Activation::GELU};
const SolverKind k_fixed_solvers[] = {SolverKind::Euler, SolverKind::Midpoint, SolverKind::Heun,
                                      SolverKind::RK4};

Points random_points(int n, Rng& rng, float scale = 1.5f) {
    Points x(n, 2);
    for (int i = 0; i < n; ++i) x.row(i) << scale * rng.normal(), scale * rng.normal();
    return x;
}

using fmp::test::rel_err;  // the pointer form, beside the overloads below

float rel_err(const Points& a, const Points& b, float floor = 1e-6f) {
    REQUIRE(a.rows() == b.rows());
    return rel_err(a.data(), b.data(), std::size_t(a.size()), floor);
}
float rel_err(const VectorF& a, const VectorF& b, float floor = 1e-6f) {
    REQUIRE(a.size() == b.size());
    return rel_err(a.data(), b.data(), std::size_t(a.size()), floor);
}

double act_ref(Activation a, double z) {
    switch (a) {
        case Activation::SiLU:
            return z / (1.0 + std::exp(-z));
        case Activation::SELU: {
            const double l = 1.0507009873554804934, al = 1.6732632423543772848;
            return z > 0 ? l * z : l * al * std::expm1(z);
        }
        case Activation::Tanh:
            return std::tanh(z);
        case Activation::ReLU:
            return z > 0 ? z : 0.0;
        case Activation::GELU: {
            const double c = std::sqrt(2.0 / 3.14159265358979323846);
            return z / (1.0 + std::exp(-2.0 * c * (z + 0.044715 * z * z * z)));
        }
    }
    return 0.0;
}

// One sample through the network in double, straight from the documented layout; `signs`
// receives the sign of every pre-activation (a finite difference that flips one straddles a kink
// of ReLU, or of SELU's derivative, and says nothing about the derivative there).
std::array<double, 2> reference_forward(const MlpConfig& c, const std::vector<float>& p, double x,
                                        double y, double t, std::vector<bool>* signs = nullptr) {
    std::vector<double> h = {x, y, t};
    if (c.time_encoding == TimeEncoding::Fourier)
        for (int k = 1; k <= c.fourier_frequencies; ++k) {
            h.push_back(std::sin(3.14159265358979323846 * k * t));
            h.push_back(std::cos(3.14159265358979323846 * k * t));
        }
    if (signs) signs->clear();
    auto layers = mlp_layout(c);
    for (std::size_t l = 0; l < layers.size(); ++l) {
        const LayerLayout& L = layers[l];
        std::vector<double> out(L.out);
        for (int j = 0; j < L.out; ++j) {
            double s = p[L.b_offset + j];
            for (int i = 0; i < L.in; ++i) s += h[i] * p[L.w_offset + i * L.out + j];
            const bool hidden = l + 1 < layers.size();
            if (hidden && signs) signs->push_back(s > 0.0);
            out[j] = hidden ? act_ref(c.activation, s) : s;
        }
        h = out;
    }
    return {h[0], h[1]};
}

// v(x, t) = A x + b with A = [[a, -w], [w, a]]: div v = 2a, and the flow is a spiral,
//   x(t) = R(w s) e^(a s) (x0 + A^-1 b) - A^-1 b,  s = t - t_a,
// so the divergence integral is exactly 2a (t_b - t_a).
struct LinearField {
    double a = 0.4, w = 1.3, b0 = 0.3, b1 = -0.2;

    void eval(const Points& x, float, Points& v, VectorF& div) const {
        v.resize(x.rows(), 2);
        div.resize(x.rows());
        for (Eigen::Index i = 0; i < x.rows(); ++i) {
            v(i, 0) = float(a * x(i, 0) - w * x(i, 1) + b0);
            v(i, 1) = float(w * x(i, 0) + a * x(i, 1) + b1);
            div[i] = float(2.0 * a);
        }
    }
    std::array<double, 2> flow(double x0, double y0, double s) const {
        // A^-1 b for A = [[a, -w], [w, a]]: A^-1 = [[a, w], [-w, a]] / (a^2 + w^2).
        const double det = a * a + w * w;
        const double p0 = (a * b0 + w * b1) / det, p1 = (-w * b0 + a * b1) / det;
        const double u0 = x0 + p0, u1 = y0 + p1;
        const double e = std::exp(a * s), c = std::cos(w * s), sn = std::sin(w * s);
        return {e * (c * u0 - sn * u1) - p0, e * (sn * u0 + c * u1) - p1};
    }
};

// v = (x^2, 0), div v = 2x: the divergence changes along the path, so it must be evaluated at
// each stage's point. x(t) = x0 / (1 - x0 s), l = -2 ln(1 - x0 s), s = t - t_a.
void quadratic_field(const Points& x, float, Points& v, VectorF& div) {
    v.resize(x.rows(), 2);
    div.resize(x.rows());
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
        v(i, 0) = x(i, 0) * x(i, 0);
        v(i, 1) = 0.0f;
        div[i] = 2.0f * x(i, 0);
    }
}

const Dataset k_source(DatasetKind::Normal);
const Dataset k_target(DatasetKind::Moons);

TrainConfig train_config(const MlpConfig& mlp) {
    TrainConfig c;
    c.mlp = mlp;
    c.batch = 64;
    c.seed = 9;
    return c;
}

}  // namespace

TEST_CASE("the exact divergence matches double-precision central differences of the network") {
    // A double reference network differentiated numerically (h = 1e-4: truncation ~1e-8,
    // rounding ~1e-12) against the float forward-mode pass: what is left is the float pass's own
    // rounding, so the tolerance can be tight. Widths 32 and 128 run the AVX-512 GEMM, 24 Eigen's.
    Rng rng(21);
    const Points x = random_points(40, rng);
    int compared = 0, skipped = 0;
    for (Activation act : k_activations)
        for (TimeEncoding enc : {TimeEncoding::Raw, TimeEncoding::Fourier})
            for (auto [width, depth] : {std::pair{32, 3}, std::pair{24, 2}, std::pair{128, 1}}) {
                const MlpConfig config = mlp_config(width, depth, act, enc, 4);
                CAPTURE(activation_name(act));
                CAPTURE(time_encoding_name(enc));
                CAPTURE(width);
                CAPTURE(depth);
                const Mlp mlp(config, 3);
                for (float t : {0.0f, 0.3f, 0.85f, 1.0f}) {
                    CAPTURE(t);
                    Points v, v_eval;
                    VectorF div;
                    mlp.evaluate_divergence(x, t, v, div);
                    mlp.evaluate(x, t, v_eval);
                    CHECK(rel_err(v, v_eval) < 1e-5f);
                    const double h = 1e-4;
                    std::vector<double> ref(std::size_t(x.rows()));
                    std::vector<bool> kept(std::size_t(x.rows()), true);
                    double scale = 1e-3;
                    for (Eigen::Index i = 0; i < x.rows(); ++i) {
                        const double px = x(i, 0), py = x(i, 1);
                        std::vector<bool> s0, s1, s2, s3, s4;
                        const auto c = reference_forward(config, mlp.params(), px, py, t, &s0);
                        const auto xp = reference_forward(config, mlp.params(), px + h, py, t, &s1);
                        const auto xm = reference_forward(config, mlp.params(), px - h, py, t, &s2);
                        const auto yp = reference_forward(config, mlp.params(), px, py + h, t, &s3);
                        const auto ym = reference_forward(config, mlp.params(), px, py - h, t, &s4);
                        CHECK(std::abs(c[0] - v(i, 0)) <= 1e-5 * (1.0 + std::abs(c[0])));
                        ref[std::size_t(i)] = (xp[0] - xm[0]) / (2 * h) + (yp[1] - ym[1]) / (2 * h);
                        kept[std::size_t(i)] = s1 == s0 && s2 == s0 && s3 == s0 && s4 == s0;
                        scale = std::max(scale, std::abs(ref[std::size_t(i)]));
                    }
                    for (Eigen::Index i = 0; i < x.rows(); ++i) {
                        if (!kept[std::size_t(i)]) {
                            ++skipped;
                            continue;
                        }
                        ++compared;
                        CHECK(std::abs(div[i] - ref[std::size_t(i)]) <= 1e-5 * scale);
                    }
                }
            }
    // Only the piecewise activations can straddle a kink, and only rarely at h = 1e-4.
    CHECK(skipped * 100 <= compared);
}

TEST_CASE("the exact divergence matches float central differences of Mlp::evaluate") {
    // The float pass itself, differenced with h = 1e-2: truncation h^2 |v'''| and rounding
    // eps |v| / h both stay near 1e-4 of the divergence's scale, so 1e-2 is an honest bound. The
    // piecewise activations (ReLU, SELU's derivative) are covered by the double test above.
    Rng rng(22);
    const Points x = random_points(64, rng);
    const float h = 1e-2f;
    for (Activation act : {Activation::SiLU, Activation::Tanh, Activation::GELU})
        for (TimeEncoding enc : {TimeEncoding::Raw, TimeEncoding::Fourier}) {
            CAPTURE(activation_name(act));
            CAPTURE(time_encoding_name(enc));
            const Mlp mlp(mlp_config(64, 3, act, enc, 5), 4);
            for (float t : {0.1f, 0.5f, 0.95f}) {
                CAPTURE(t);
                Points v, vp, vm, up, um;
                VectorF div;
                mlp.evaluate_divergence(x, t, v, div);
                Points dx = Points::Zero(x.rows(), 2), dy = Points::Zero(x.rows(), 2);
                dx.col(0).setConstant(h);
                dy.col(1).setConstant(h);
                mlp.evaluate(x + dx, t, vp);
                mlp.evaluate(x - dx, t, vm);
                mlp.evaluate(x + dy, t, up);
                mlp.evaluate(x - dy, t, um);
                VectorF fd = (vp.col(0) - vm.col(0) + up.col(1) - um.col(1)) / (2 * h);
                CHECK(rel_err(div, fd, 1e-3f) < 1e-2f);
            }
        }
}

TEST_CASE("the divergence pass splits over threads and blocks without changing a value") {
    // 1000 rows: several blocks per worker; one thread against all of them.
    Rng rng(23);
    const Points x = random_points(1000, rng);
    const Mlp mlp(mlp_config(128, 3, Activation::SiLU, TimeEncoding::Fourier, 8), 5);
    const int saved = thread_count();
    Points v1, v2;
    VectorF d1, d2;
    set_thread_count(1);
    mlp.evaluate_divergence(x, 0.4f, v1, d1);
    set_thread_count(saved);
    mlp.evaluate_divergence(x, 0.4f, v2, d2);
    CHECK((v1.array() == v2.array()).all());
    CHECK((d1.array() == d2.array()).all());
    // And an empty batch.
    Points v0;
    VectorF d0;
    mlp.evaluate_divergence(Points(0, 2), 0.4f, v0, d0);
    CHECK(v0.rows() == 0);
    CHECK(d0.size() == 0);
}

TEST_CASE("integrate_with_divergence on a linear field: exact divergence integral, flow orders") {
    const LinearField field;
    VelocityDivergenceFn f = [&field](const Points& x, float t, Points& v, VectorF& div) {
        field.eval(x, t, v, div);
    };
    Rng rng(24);
    const Points x0 = random_points(16, rng, 1.0f);
    for (SolverKind kind : k_fixed_solvers) {
        CAPTURE(solver_name(kind));
        for (auto [t_a, t_b] : {std::pair{0.0f, 1.0f}, std::pair{1.0f, 0.0f}}) {
            CAPTURE(t_a);
            // The error of x at N and 2N steps: their ratio is 2^order.
            const int n = kind == SolverKind::RK4 ? 4 : 16;
            double errs[2];
            for (int r = 0; r < 2; ++r) {
                Points x = x0;
                VectorF l;
                integrate_with_divergence(f, kind, x, l, t_a, t_b, n << r);
                REQUIRE(l.size() == x0.rows());
                double err = 0.0;
                for (Eigen::Index i = 0; i < x0.rows(); ++i) {
                    CHECK(l[i] == doctest::Approx(2.0 * field.a * (t_b - t_a)).epsilon(1e-5));
                    const auto exact = field.flow(x0(i, 0), x0(i, 1), t_b - t_a);
                    err =
                        std::max({err, std::abs(x(i, 0) - exact[0]), std::abs(x(i, 1) - exact[1])});
                }
                errs[r] = err;
                // The same steps as the particle integrator.
                Points xp = x0;
                VelocityFn vf = [&field](const Points& p, float t, Points& v) {
                    VectorF d;
                    field.eval(p, t, v, d);
                };
                integrate_particles(vf, kind, xp, t_a, t_b, n << r);
                CHECK(rel_err(x, xp) < 1e-6f);
            }
            const double order = std::log2(errs[0] / errs[1]);
            CHECK(order == doctest::Approx(solver_order(kind)).epsilon(0.15));
        }
    }
}

TEST_CASE("integrate_with_divergence with an x-dependent divergence: l = -2 ln(1 - x0 t)") {
    VelocityDivergenceFn f = quadratic_field;
    Points x0(9, 2);
    for (int i = 0; i < 9; ++i) x0.row(i) << -0.5f + 0.125f * i, 0.25f * i;
    for (SolverKind kind : k_fixed_solvers) {
        CAPTURE(solver_name(kind));
        for (auto [t_a, t_b] : {std::pair{0.0f, 1.0f}, std::pair{1.0f, 0.0f}}) {
            CAPTURE(t_a);
            const int n = kind == SolverKind::RK4 ? 4 : 16;
            double errs_x[2], errs_l[2];
            for (int r = 0; r < 2; ++r) {
                Points x = x0;
                VectorF l;
                integrate_with_divergence(f, kind, x, l, t_a, t_b, n << r);
                double ex = 0.0, el = 0.0;
                const double s = t_b - t_a;
                for (Eigen::Index i = 0; i < x0.rows(); ++i) {
                    const double a = x0(i, 0);
                    ex = std::max(ex, std::abs(x(i, 0) - a / (1.0 - a * s)));
                    el = std::max(el, std::abs(l[i] + 2.0 * std::log(1.0 - a * s)));
                    CHECK(x(i, 1) == x0(i, 1));
                }
                errs_x[r] = ex;
                errs_l[r] = el;
            }
            CHECK(std::log2(errs_x[0] / errs_x[1]) ==
                  doctest::Approx(solver_order(kind)).epsilon(0.15));
            CHECK(std::log2(errs_l[0] / errs_l[1]) ==
                  doctest::Approx(solver_order(kind)).epsilon(0.15));
            // And accurate in absolute terms at the finer resolution.
            CHECK(errs_l[1] < (kind == SolverKind::Euler ? 5e-2 : 1e-3));
        }
    }
}

TEST_CASE("the likelihood integration takes fixed steps only") {
    VelocityDivergenceFn f = quadratic_field;
    Points x = Points::Zero(3, 2);
    VectorF l;
    CHECK_THROWS_AS(integrate_with_divergence(f, SolverKind::Dopri5, x, l, 1.0f, 0.0f, 8),
                    InputError);
    CHECK_THROWS_AS(integrate_with_divergence(f, SolverKind::RK4, x, l, 1.0f, 0.0f, 0), InputError);
    auto cpu = make_cpu_engine();
    cpu->reset(train_config(mlp_config(32, 2, Activation::SiLU)), k_source, k_target);
    CHECK_THROWS_AS(cpu->integrate_with_divergence(x, l, 1.0f, 0.0f, SolverKind::Dopri5, 8),
                    InputError);
}

TEST_CASE(
    "the CPU engine's likelihood methods are the MLP's divergence and the generic integrator") {
    auto cpu = make_cpu_engine();
    const MlpConfig config = mlp_config(64, 3, Activation::GELU, TimeEncoding::Fourier, 4);
    cpu->reset(train_config(config), k_source, k_target);
    Mlp mlp(config);
    mlp.set_params(cpu->params());
    Rng rng(25);
    const Points x = random_points(300, rng);
    Points v_e, v_m;
    VectorF d_e, d_m;
    cpu->eval_velocity_divergence(x, 0.6f, v_e, d_e);
    mlp.evaluate_divergence(x, 0.6f, v_m, d_m);
    CHECK((v_e.array() == v_m.array()).all());
    CHECK((d_e.array() == d_m.array()).all());

    Points xe = x, xm = x;
    VectorF le, lm;
    cpu->integrate_with_divergence(xe, le, 1.0f, 0.0f, SolverKind::RK4, 6);
    VelocityDivergenceFn f = [&mlp](const Points& p, float t, Points& v, VectorF& div) {
        mlp.evaluate_divergence(p, t, v, div);
    };
    integrate_with_divergence(f, SolverKind::RK4, xm, lm, 1.0f, 0.0f, 6);
    CHECK((xe.array() == xm.array()).all());
    CHECK((le.array() == lm.array()).all());
}

TEST_CASE("GL divergence and likelihood integration match the CPU engine") {
    make_gl_current("GL likelihood tests");
    struct Case {
        const char* name;
        MlpConfig mlp;
    };
    const Case cases[] = {
        {"silu raw w32 d3", mlp_config(32, 3, Activation::SiLU)},
        {"gelu fourier w24 d2", mlp_config(24, 2, Activation::GELU, TimeEncoding::Fourier, 3)},
        {"tanh raw w128 d2", mlp_config(128, 2, Activation::Tanh)},
        {"relu fourier w32 d2", mlp_config(32, 2, Activation::ReLU, TimeEncoding::Fourier, 2)},
        // Too wide for llvmpipe's 32 KiB of shared memory even at 8 points a tile: spilled.
        {"selu raw w256 d1 (spilled)", mlp_config(256, 1, Activation::SELU)},
    };
    Rng rng(26);
    for (const Case& c : cases) {
        const std::string name = c.name;
        CAPTURE(name);
        const TrainConfig config = train_config(c.mlp);
        auto cpu = make_cpu_engine();
        auto gl = make_gl_engine();
        cpu->reset(config, k_source, k_target);
        gl->reset(config, k_source, k_target);
        gl->set_params(cpu->params());

        const Points x = random_points(37, rng);  // not a multiple of a tile
        for (float t : {0.2f, 0.9f}) {
            Points v_gl, v_cpu;
            VectorF d_gl, d_cpu;
            gl->eval_velocity_divergence(x, t, v_gl, d_gl);
            cpu->eval_velocity_divergence(x, t, v_cpu, d_cpu);
            CHECK(rel_err(v_gl, v_cpu) < 1e-4f);
            CHECK(rel_err(d_gl, d_cpu) < 1e-4f);
        }
        for (auto [kind, steps, t_a, t_b] : {std::tuple{SolverKind::RK4, 3, 1.0f, 0.0f},
                                             std::tuple{SolverKind::Heun, 2, 0.0f, 1.0f},
                                             std::tuple{SolverKind::Midpoint, 2, 1.0f, 0.2f},
                                             std::tuple{SolverKind::Euler, 3, 0.1f, 0.9f}}) {
            CAPTURE(solver_name(kind));
            Points x_gl = x.topRows(21), x_cpu = x.topRows(21);
            VectorF l_gl, l_cpu;
            gl->integrate_with_divergence(x_gl, l_gl, t_a, t_b, kind, steps);
            cpu->integrate_with_divergence(x_cpu, l_cpu, t_a, t_b, kind, steps);
            CHECK(rel_err(x_gl, x_cpu) < 1e-4f);
            CHECK(rel_err(l_gl, l_cpu, 1e-3f) < 1e-3f);
        }
        check_no_gl_messages();
    }
    // The GL engine refuses what the CPU engine refuses.
    auto gl = make_gl_engine();
    gl->reset(train_config(mlp_config(32, 2, Activation::SiLU)), k_source, k_target);
    Points x = Points::Zero(4, 2);
    VectorF l;
    CHECK_THROWS_AS(gl->integrate_with_divergence(x, l, 1.0f, 0.0f, SolverKind::Dopri5, 4),
                    InputError);
    CHECK_THROWS_AS(gl->integrate_with_divergence(x, l, 1.0f, 0.0f, SolverKind::Euler, 0),
                    InputError);
    check_no_gl_messages();
}
