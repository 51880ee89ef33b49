// The MLP: names, layout, init, encoding, forward vs a naive double reference, backward vs
// central finite differences, evaluate vs forward, and thread-count independence.
#include <doctest/doctest.h>

// GCC 12 flags the undefined-vector idiom in the AVX-512 intrinsics that Eigen inlines as
// -Wmaybe-uninitialized; silenced for the headers only (the state is per location).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>
#pragma GCC diagnostic pop
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <new>
#include <vector>

#include "core/base/parallel.h"
#include "core/base/rng.h"
#include "core/nn/mlp.h"
#include "tests/mlp_test_support.h"

using namespace fmp;
using namespace fmp::test;

// Counts every operator new in this executable (a standard replacement), so a test can assert
// that a warmed-up training step allocates nothing.
namespace {
std::atomic<long> g_allocations{0};
}
void* operator new(std::size_t n) {
    ++g_allocations;
    if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

const Activation kActivations[] = {Activation::SiLU, Activation::SELU, Activation::Tanh,
                                   Activation::ReLU, Activation::GELU};

double act_ref(Activation a, double z) {
    switch (a) {
        case Activation::SiLU: return z / (1.0 + std::exp(-z));
        case Activation::SELU: {
            const double l = 1.0507009873554804934, al = 1.6732632423543772848;
            return z > 0 ? l * z : l * al * std::expm1(z);
        }
        case Activation::Tanh: return std::tanh(z);
        case Activation::ReLU: return z > 0 ? z : 0.0;
        case Activation::GELU: {
            // 0.5 z (1 + tanh(u)) written as z / (1 + e^(-2u)): 1 + tanh(u) cancels for u << 0.
            const double c = std::sqrt(2.0 / 3.14159265358979323846);
            return z / (1.0 + std::exp(-2.0 * c * (z + 0.044715 * z * z * z)));
        }
    }
    return 0.0;
}

double act_deriv_ref(Activation a, double z) {
    switch (a) {
        case Activation::SiLU: {
            double s = 1.0 / (1.0 + std::exp(-z));
            return s * (1.0 + z * (1.0 - s));
        }
        case Activation::SELU: {
            const double l = 1.0507009873554804934, al = 1.6732632423543772848;
            return z > 0 ? l : l * al * std::exp(z);
        }
        case Activation::Tanh: {
            double y = std::tanh(z);
            return 1.0 - y * y;
        }
        case Activation::ReLU: return z > 0 ? 1.0 : 0.0;
        case Activation::GELU: {
            const double c = std::sqrt(2.0 / 3.14159265358979323846);
            double u = c * (z + 0.044715 * z * z * z);
            double th = std::tanh(u);
            return 0.5 * (1.0 + th) + 0.5 * z * (1.0 - th * th) * c * (1.0 + 3.0 * 0.044715 * z * z);
        }
    }
    return 0.0;
}

// One sample through the network in double, straight from the documented layout.
std::array<double, 2> reference_forward(const MlpConfig& c, const std::vector<float>& p, double x,
                                        double y, double t) {
    std::vector<double> h = {x, y, t};
    if (c.time_encoding == TimeEncoding::Fourier)
        for (int k = 1; k <= c.fourier_frequencies; ++k) {
            h.push_back(std::sin(3.14159265358979323846 * k * t));
            h.push_back(std::cos(3.14159265358979323846 * k * t));
        }
    auto layers = mlp_layout(c);
    for (std::size_t l = 0; l < layers.size(); ++l) {
        const LayerLayout& L = layers[l];
        std::vector<double> out(L.out);
        for (int j = 0; j < L.out; ++j) {
            double s = p[L.b_offset + j];
            for (int i = 0; i < L.in; ++i) s += h[i] * p[L.w_offset + i * L.out + j];
            out[j] = l + 1 < layers.size() ? act_ref(c.activation, s) : s;
        }
        h = out;
    }
    return {h[0], h[1]};
}

struct Batch {
    Points x;
    VectorF t;
};

Batch random_batch(int n, uint64_t seed) {
    Rng rng(seed);
    Batch b;
    b.x.resize(n, 2);
    b.t.resize(n);
    for (int i = 0; i < n; ++i) {
        b.x(i, 0) = 1.5f * rng.normal();
        b.x(i, 1) = 1.5f * rng.normal();
        b.t(i) = rng.uniform();
    }
    return b;
}

double weighted_sum(const Points& v, const Points& w) {
    double s = 0.0;
    for (Eigen::Index i = 0; i < v.rows(); ++i)
        s += static_cast<double>(v(i, 0)) * w(i, 0) + static_cast<double>(v(i, 1)) * w(i, 1);
    return s;
}

// The sign pattern of every pre-activation: a finite difference that flips one straddles a kink
// of ReLU (or of SELU's derivative) and says nothing about the gradient there.
std::vector<bool> signs(const MlpContext& ctx) {
    std::vector<bool> s;
    for (const MatrixRM& m : ctx.pre)
        for (Eigen::Index i = 0; i < ctx.batch; ++i)
            for (Eigen::Index j = 0; j < m.cols(); ++j) s.push_back(m(i, j) > 0.0f);
    return s;
}

bool close(double analytic, double numeric, double rel, double abs_tol) {
    return std::fabs(analytic - numeric) <= rel * std::max(std::fabs(analytic), std::fabs(numeric)) + abs_tol;
}

struct ThreadCountGuard {
    int saved = thread_count();
    ~ThreadCountGuard() { set_thread_count(saved); }
};

}  // namespace

TEST_CASE("names round-trip and unknown names list the choices") {
    for (Activation a : kActivations) CHECK(make_activation(activation_name(a)) == a);
    CHECK(activation_names().size() == 5);
    CHECK_FALSE(activation_from_name("swish").has_value());
    CHECK(make_time_encoding("fourier") == TimeEncoding::Fourier);
    CHECK(time_encoding_name(TimeEncoding::Raw) == "raw");
    try {
        make_activation("swish");
        FAIL("expected InputError");
    } catch (const InputError& e) {
        CHECK(std::string(e.what()).find("silu, selu, tanh, relu, gelu") != std::string::npos);
    }
    CHECK_THROWS_AS(make_time_encoding("sinusoid"), InputError);
}

TEST_CASE("config validation, input dimension, parameter count and layout agree") {
    MlpConfig c;
    CHECK_NOTHROW(c.validate());
    CHECK(c.input_dim() == 3);
    c.time_encoding = TimeEncoding::Fourier;
    c.fourier_frequencies = 5;
    CHECK(c.input_dim() == 13);
    for (int d : {0, 7}) {
        MlpConfig b = c;
        b.depth = d;
        CHECK_THROWS_WITH_AS(b.validate(), doctest::Contains("1..6"), InputError);
    }
    for (int w : {15, 513}) {
        MlpConfig b = c;
        b.width = w;
        CHECK_THROWS_WITH_AS(b.validate(), doctest::Contains("16..512"), InputError);
    }
    for (int k : {0, 33}) {
        MlpConfig b = c;
        b.fourier_frequencies = k;
        CHECK_THROWS_WITH_AS(b.validate(), doctest::Contains("1..32"), InputError);
    }
    for (int depth = 1; depth <= 6; ++depth) {
        MlpConfig b = mlp_config(48, depth, Activation::SiLU, TimeEncoding::Fourier, 4);
        auto layers = mlp_layout(b);
        REQUIRE(layers.size() == static_cast<std::size_t>(depth + 1));
        std::size_t offset = 0;
        for (const auto& L : layers) {
            CHECK(L.w_offset == offset);
            CHECK(L.b_offset == offset + static_cast<std::size_t>(L.in) * L.out);
            offset = L.b_offset + L.out;
        }
        CHECK(layers.front().in == 11);
        CHECK(layers.back().out == 2);
        CHECK(offset == b.parameter_count());
    }
    // 3 -> 128 -> 128 -> 128 -> 2
    CHECK(MlpConfig{}.parameter_count() == 3 * 128 + 128 + 2 * (128 * 128 + 128) + 128 * 2 + 2);
}

TEST_CASE("initialisation is deterministic per seed and bounded by 1/sqrt(fan_in)") {
    MlpConfig c = mlp_config(64, 3, Activation::SiLU, TimeEncoding::Fourier, 4);
    Mlp a(c, 7), b(c, 7), other(c, 8);
    CHECK(a.params() == b.params());
    CHECK(a.params() != other.params());
    for (const auto& L : mlp_layout(c)) {
        double bound = 1.0 / std::sqrt(static_cast<double>(L.in));
        double lo = 0, hi = 0, mean = 0;
        std::size_t end = L.b_offset + L.out;
        for (std::size_t i = L.w_offset; i < end; ++i) {
            lo = std::min<double>(lo, a.params()[i]);
            hi = std::max<double>(hi, a.params()[i]);
            mean += a.params()[i];
        }
        mean /= static_cast<double>(end - L.w_offset);
        CHECK(-lo <= bound);
        CHECK(hi <= bound);
        CHECK(-lo > 0.8 * bound);  // the whole range is used
        CHECK(hi > 0.8 * bound);
        CHECK(std::fabs(mean) < 0.2 * bound);
    }
    Mlp m(c, 1);
    CHECK_THROWS_AS(m.set_params(std::vector<float>(10)), InputError);
}

TEST_CASE("Fourier encoding is (x, y, t, sin(pi k t), cos(pi k t)) interleaved") {
    MlpConfig c = mlp_config(16, 2, Activation::SiLU, TimeEncoding::Fourier, 32);
    Batch b = random_batch(9, 3);
    MatrixRM in;
    encode_inputs(c, b.x, b.t, in);
    REQUIRE(in.rows() == 9);
    REQUIRE(in.cols() == 67);
    for (int i = 0; i < 9; ++i) {
        CHECK(in(i, 0) == b.x(i, 0));
        CHECK(in(i, 1) == b.x(i, 1));
        CHECK(in(i, 2) == b.t(i));
        for (int k = 1; k <= 32; ++k) {
            double a = 3.14159265358979323846 * k * static_cast<double>(b.t(i));
            CHECK(std::fabs(in(i, 1 + 2 * k) - std::sin(a)) < 1e-6);
            CHECK(std::fabs(in(i, 2 + 2 * k) - std::cos(a)) < 1e-6);
        }
    }
    VectorF short_t(3);
    CHECK_THROWS_AS(encode_inputs(c, b.x, short_t, in), InputError);
}

TEST_CASE("activations and their derivatives match libm in double") {
    std::vector<float> z;
    for (int i = -4000; i <= 4000; ++i) z.push_back(static_cast<float>(i) * 0.005f);  // [-20, 20]
    for (float extreme : {-200.0f, -90.0f, -87.5f, -30.0f, 30.0f, 88.5f, 90.0f, 200.0f})
        z.push_back(extreme);
    for (float tiny : {1e-30f, -1e-30f, 1e-6f, -1e-6f, 0.0f}) z.push_back(tiny);
    std::vector<float> y(z.size()), d(z.size());
    for (Activation a : kActivations) {
        CAPTURE(activation_name(a));
        activation_forward(a, z.data(), y.data(), z.size());
        activation_derivative(a, z.data(), d.data(), z.size());
        double worst_y = 0, worst_d = 0;
        for (std::size_t i = 0; i < z.size(); ++i) {
            double ry = act_ref(a, z[i]), rd = act_deriv_ref(a, z[i]);
            REQUIRE(std::isfinite(y[i]));
            REQUIRE(std::isfinite(d[i]));
            if (std::fabs(ry) > 1e-12) worst_y = std::max(worst_y, std::fabs(y[i] - ry) / std::fabs(ry));
            // Relative where the value is not tiny, absolute (1e-6 of a unit slope) otherwise.
            worst_d = std::max(worst_d, std::fabs(d[i] - rd) / std::max(std::fabs(rd), 1.0));
            // Relative, but values below 1e-12 only need to be that small: where sigmoid's argument
            // is ~-60 (GELU at z ~ -9) its float rounding alone moves e^u by 6e-6 relative.
            CHECK_MESSAGE(std::fabs(y[i] - ry) <= 2e-6 * std::fabs(ry) + 1e-12, "z = ", z[i]);
            CHECK_MESSAGE(std::fabs(d[i] - rd) <= 2e-6 * std::max(std::fabs(rd), 1.0), "z = ", z[i]);
        }
        MESSAGE(activation_name(a), ": worst relative error ", worst_y, " value, ", worst_d, " slope");
    }
}

TEST_CASE("forward matches a per-sample double reference") {
    for (Activation a : kActivations)
        for (TimeEncoding e : {TimeEncoding::Raw, TimeEncoding::Fourier})
            // Width 50 is not a multiple of the 16-float vector: the GEMM's general path.
            for (std::array<int, 3> dwb : {std::array<int, 3>{1, 16, 1}, {2, 32, 37},
                                          {4, 64, 70}, {3, 128, 129}, {2, 50, 300}}) {
                // Plain copies: clang 14 cannot capture structured bindings in CAPTURE's lambda.
                const int depth = dwb[0], width = dwb[1], batch = dwb[2];
                MlpConfig c = mlp_config(width, depth, a, e, 6);
                CAPTURE(activation_name(a));
                CAPTURE(time_encoding_name(e));
                CAPTURE(depth);
                CAPTURE(width);
                Mlp mlp(c, 11 + depth);
                Batch b = random_batch(batch, 5 + width);
                Points v_ctx, v_plain;
                MlpContext ctx;
                mlp.forward(b.x, b.t, v_ctx, &ctx);
                mlp.forward(b.x, b.t, v_plain);
                REQUIRE(v_ctx.rows() == batch);
                CHECK(ctx.batch == batch);
                for (int i = 0; i < batch; ++i) {
                    auto r = reference_forward(c, mlp.params(), b.x(i, 0), b.x(i, 1), b.t(i));
                    for (int k = 0; k < 2; ++k) {
                        CHECK(std::fabs(v_ctx(i, k) - r[k]) <= 2e-5 * (1.0 + std::fabs(r[k])));
                        CHECK(std::fabs(v_plain(i, k) - v_ctx(i, k)) <= 1e-6 * (1.0 + std::fabs(r[k])));
                    }
                }
            }
}

TEST_CASE("backward matches central finite differences (parameters and inputs)") {
    ThreadCountGuard guard;
    set_thread_count(2);
    int case_index = 0;
    for (Activation a : kActivations)
        for (TimeEncoding e : {TimeEncoding::Raw, TimeEncoding::Fourier})
            for (std::array<int, 3> dwb : {std::array<int, 3>{1, 16, 1}, {2, 32, 37},
                                          {3, 16, 5}, {4, 64, 19}, {2, 16, 80}, {2, 50, 70}}) {
                const int depth = dwb[0], width = dwb[1], batch = dwb[2];
                ++case_index;
                MlpConfig c = mlp_config(width, depth, a, e, 3);
                CAPTURE(activation_name(a));
                CAPTURE(time_encoding_name(e));
                CAPTURE(depth);
                CAPTURE(width);
                CAPTURE(batch);
                Mlp mlp(c, 100 + case_index);
                Batch b = random_batch(batch, 200 + case_index);
                Rng rng(300 + case_index);
                Points wts(batch, 2);
                for (int i = 0; i < batch; ++i) wts.row(i) << rng.uniform(-1, 1), rng.uniform(-1, 1);

                MlpContext ctx;
                Points v, dx;
                std::vector<float> grads;
                mlp.forward(b.x, b.t, v, &ctx);
                mlp.backward(ctx, wts, grads, &dx);
                REQUIRE(grads.size() == c.parameter_count());
                REQUIRE(dx.rows() == batch);
                // Only ReLU and SELU have kinks; differences across them are skipped (and counted).
                const bool kinked = a == Activation::ReLU || a == Activation::SELU;
                const std::vector<bool> base_signs = signs(ctx);

                MlpContext probe;
                Points vp;
                auto loss_at = [&](const Points& x, std::vector<bool>* s) {
                    mlp.forward(x, b.t, vp, &probe);
                    if (s) *s = kinked ? signs(probe) : base_signs;
                    return weighted_sum(vp, wts);
                };
                // A smaller step for the kinked ones so fewer differences straddle a kink.
                const double eps = kinked ? 2e-3 : 1e-2;
                const double abs_tol = kinked ? 1e-3 : 2e-4;
                int checked = 0, skipped = 0;

                // Parameters: the first and last of every layer's W and b, plus a random subset.
                std::vector<std::size_t> idx;
                for (const auto& L : mlp_layout(c)) {
                    idx.push_back(L.w_offset);
                    idx.push_back(L.b_offset - 1);
                    idx.push_back(L.b_offset);
                    idx.push_back(L.b_offset + L.out - 1);
                }
                while (idx.size() < 50) idx.push_back(rng.below(static_cast<uint32_t>(c.parameter_count())));
                std::vector<bool> sp, sm;
                for (std::size_t k : idx) {
                    const float saved = mlp.params()[k];
                    mlp.params()[k] = saved + static_cast<float>(eps);
                    double lp = loss_at(b.x, &sp);
                    mlp.params()[k] = saved - static_cast<float>(eps);
                    double lm = loss_at(b.x, &sm);
                    mlp.params()[k] = saved;
                    if (sp != base_signs || sm != base_signs) {
                        ++skipped;
                        continue;
                    }
                    ++checked;
                    double fd = (lp - lm) / (2 * eps);
                    CHECK_MESSAGE(close(grads[k], fd, 1e-2, abs_tol), "param ", k, ": analytic ",
                                  grads[k], " numeric ", fd);
                }
                // Spatial inputs of a few rows.
                for (int i : {0, batch / 2, batch - 1}) {
                    for (int coord = 0; coord < 2; ++coord) {
                        Points xp = b.x, xm = b.x;
                        xp(i, coord) += static_cast<float>(eps);
                        xm(i, coord) -= static_cast<float>(eps);
                        double lp = loss_at(xp, &sp);
                        double lm = loss_at(xm, &sm);
                        if (sp != base_signs || sm != base_signs) {
                            ++skipped;
                            continue;
                        }
                        ++checked;
                        double fd = ((lp - lm) / (2 * eps));
                        CHECK_MESSAGE(close(dx(i, coord), fd, 1e-2, abs_tol), "dx row ", i, " coord ",
                                      coord, ": analytic ", dx(i, coord), " numeric ", fd);
                    }
                }
                CHECK(checked >= (checked + skipped) / 2);
                if (!kinked) CHECK(skipped == 0);
            }
}

TEST_CASE("evaluate equals forward with a constant t") {
    for (Activation a : {Activation::SiLU, Activation::GELU})
        for (TimeEncoding e : {TimeEncoding::Raw, TimeEncoding::Fourier}) {
            MlpConfig c = mlp_config(64, 3, a, e, 8);
            Mlp mlp(c, 21);
            for (int n : {1, 7, 1037}) {
                Batch b = random_batch(n, 17);
                b.t.setConstant(0.37f);
                Points v_fwd, v_eval;
                mlp.forward(b.x, b.t, v_fwd);
                mlp.evaluate(b.x, 0.37f, v_eval);
                REQUIRE(v_eval.rows() == n);
                CHECK((v_eval - v_fwd).cwiseAbs().maxCoeff() <= 1e-5f * (1.0f + v_fwd.cwiseAbs().maxCoeff()));
            }
        }
}

TEST_CASE("results do not depend on the thread count") {
    ThreadCountGuard guard;
    MlpConfig c = mlp_config(128, 3, Activation::SiLU, TimeEncoding::Raw);
    Mlp mlp(c, 5);
    Batch b = random_batch(300, 9);
    Batch big = random_batch(5000, 10);
    Points target(300, 2);
    target.setConstant(0.25f);

    auto run = [&](int threads, Points& v, std::vector<float>& grads, Points& dx, Points& ev) {
        set_thread_count(threads);
        MlpContext ctx;
        Points dv;
        mlp.forward(b.x, b.t, v, &ctx);
        cfm_loss(v, target, &dv);
        mlp.backward(ctx, dv, grads, &dx);
        mlp.evaluate(big.x, 0.5f, ev);
    };
    Points v1, v2, dx1, dx2, e1, e2;
    std::vector<float> g1, g2;
    run(1, v1, g1, dx1, e1);
    run(2, v2, g2, dx2, e2);
    CHECK((v1 - v2).cwiseAbs().maxCoeff() <= 1e-6f);
    CHECK((dx1 - dx2).cwiseAbs().maxCoeff() <= 1e-6f);
    CHECK((e1 - e2).cwiseAbs().maxCoeff() <= 1e-6f);
    float gmax = 0, diff = 0;
    for (std::size_t i = 0; i < g1.size(); ++i) {
        gmax = std::max(gmax, std::fabs(g1[i]));
        diff = std::max(diff, std::fabs(g1[i] - g2[i]));
    }
    CHECK(diff <= 1e-5f * gmax);
}

TEST_CASE("a context is reused across batch sizes without stale rows leaking in") {
    MlpConfig c = mlp_config(32, 2, Activation::Tanh, TimeEncoding::Fourier, 2);
    Mlp mlp(c, 3);
    Batch big = random_batch(150, 1), small = random_batch(40, 2);
    Points ones_big(150, 2), ones_small(40, 2);
    ones_big.setOnes();
    ones_small.setOnes();
    MlpContext reused, fresh;
    Points v, v_fresh;
    std::vector<float> g, g_fresh;
    mlp.forward(big.x, big.t, v, &reused);
    mlp.backward(reused, ones_big, g);
    mlp.forward(small.x, small.t, v, &reused);
    mlp.backward(reused, ones_small, g);
    CHECK(reused.batch == 40);
    CHECK(reused.pre[0].rows() >= 150);  // kept its capacity
    mlp.forward(small.x, small.t, v_fresh, &fresh);
    mlp.backward(fresh, ones_small, g_fresh);
    CHECK(v == v_fresh);
    CHECK(g == g_fresh);
    CHECK_THROWS_AS(mlp.backward(reused, ones_big, g), InputError);
    Mlp other(mlp_config(32, 3, Activation::Tanh, TimeEncoding::Fourier, 2), 3);
    CHECK_THROWS_AS(other.backward(reused, ones_small, g), InputError);
}

TEST_CASE("cfm_loss is the batch mean of squared distances, gradient 2 (v - u) / B") {
    Points v(3, 2), u(3, 2), g;
    v << 1, 2, 3, 4, -1, 0.5f;
    u << 0, 0, 3, 5, 1, 0.5f;
    // (1 + 4) + (0 + 1) + (4 + 0) = 10, over 3 rows
    CHECK(cfm_loss(v, u, &g) == doctest::Approx(10.0 / 3.0));
    Points expect(3, 2);
    expect << 2, 4, 0, -2, -4, 0;
    CHECK((g - expect / 3.0f).cwiseAbs().maxCoeff() < 1e-7f);
    CHECK(cfm_loss(v, u) == doctest::Approx(10.0 / 3.0));
    Points shorter(2, 2);
    CHECK_THROWS_AS(cfm_loss(v, shorter), InputError);
}

TEST_CASE("a warmed-up training step and evaluate allocate nothing") {
    ThreadCountGuard guard;
    set_thread_count(2);
    for (TimeEncoding e : {TimeEncoding::Raw, TimeEncoding::Fourier}) {
        MlpConfig c = mlp_config(64, 3, Activation::SiLU, e, 4);
        Mlp mlp(c, 2);
        Batch b = random_batch(700, 4);
        Points target = Points::Constant(700, 2, 0.5f), v, dv, dx, ev;
        MlpContext ctx;
        std::vector<float> grads;
        auto step = [&] {
            mlp.forward(b.x, b.t, v, &ctx);
            cfm_loss(v, target, &dv);
            mlp.backward(ctx, dv, grads, &dx);
            mlp.evaluate(b.x, 0.25f, ev);
            mlp.forward(b.x, b.t, ev);
        };
        step();
        step();
        const long before = g_allocations.load();
        for (int i = 0; i < 5; ++i) step();
        CHECK(g_allocations.load() == before);
    }
}
