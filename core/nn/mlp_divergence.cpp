// The exact divergence of v_theta(x, t): forward-mode tangents d/dx and d/dy through every layer.
//
// With z_l = a_{l-1} W_l + b_l and a_l = act(z_l), the tangents of a direction e (e_x or e_y) obey
//   dz_0 = e W_0 (the rows of W_0 for x and y: the time features do not depend on x),
//   dz_l = da_{l-1} W_l,   da_l = act'(z_l) * dz_l,   dv = da_last W_out,
// and div v = dv_x/dx + dv_y/dy is the x-output of the d/dx tangent plus the y-output of the d/dy
// tangent. A block keeps each point's value and tangents as three consecutive rows
// (a_i, da_x_i, da_y_i), so one GEMM per hidden layer multiplies all three by W_l (the weights are
// read once per block; the pass costs the GEMMs of three forward passes, the minimum for a value
// and two tangents), and its epilogue finishes each 6-row tile (two points) while it is in L1:
// the bias on the value row, the activation and its derivative (the training forward pass's
// kernel, so v matches that pass), the tangents scaled by it. Blocks of k_block points keep the
// two 3 x k_block x width buffers in L2; rows are split over the cores like Mlp::evaluate.
#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "core/base/parallel.h"
#include "core/nn/mlp.h"
#include "core/nn/mlp_kernels.h"

namespace fmp {
namespace {

constexpr std::size_t k_block = 64;                // points per block
constexpr std::size_t k_min_rows_per_worker = 64;  // below this a second thread costs more
constexpr int k_max_width = 512;

// Every third row of a block: the values, or one of the tangents.
using Rows3 = Eigen::Map<const MatrixRM, 0, Eigen::OuterStride<>>;
using CMapVec = Eigen::Map<const Eigen::VectorXf>;

struct DivergenceJob {
    const MlpConfig* config;
    const float* params;
    const float* bias0;  // the first layer's bias with the time features folded in
    const float* wl0;    // the output layer's weight columns, de-interleaved
    const float* wl1;
    const float* x;  // N x 2
    float* v;        // N x 2
    float* div;      // N
};

// The epilogue of hidden layer l: rows (z, dz_x, dz_y) of each point -> (a, da_x, da_y).
struct LayerEpilogue {
    Activation activation;
    const float* bias;
    float* c;  // the GEMM's output, 3 rows per point
    int width;

    static void run(void* self, std::size_t first, std::size_t rows) {
        const auto& e = *static_cast<const LayerEpilogue*>(self);
        const std::size_t w = static_cast<std::size_t>(e.width);
        alignas(64) std::array<float, k_max_width> z, d;
        for (std::size_t r = first; r < first + rows; r += 3) {
            float* a = e.c + r * w;
            float* tx = a + w;
            float* ty = a + 2 * w;
            for (std::size_t j = 0; j < w; ++j) z[j] = a[j] + e.bias[j];
            activation_forward_derivative(e.activation, z.data(), a, d.data(), w);
            for (std::size_t j = 0; j < w; ++j) {
                tx[j] *= d[j];
                ty[j] *= d[j];
            }
        }
    }
};

struct DivergenceScratch {
    std::vector<float> s, z;  // 3 rows per point: the layer's input, the GEMM's output
    Eigen::VectorXf out0, out1, tan0, tan1;
};

void divergence_rows(const DivergenceJob& job, std::size_t r0, std::size_t r1) {
    static thread_local DivergenceScratch scratch;
    const MlpConfig& config = *job.config;
    const int w = config.width, depth = config.depth;
    const std::size_t wz = static_cast<std::size_t>(w);
    if (scratch.s.size() < 3 * k_block * wz) {
        scratch.s.resize(3 * k_block * wz);
        scratch.z.resize(3 * k_block * wz);
    }
    const LayerLayout first = mlp_layer_layout(config, 0);
    const float* w0x = job.params + first.w_offset;  // dz_0 / dx: W_0's row for x
    const float* w0y = w0x + w;                      // dz_0 / dy
    const float* bias0 = job.bias0;
    const LayerLayout last = mlp_layer_layout(config, depth);
    const float bl0 = job.params[last.b_offset], bl1 = job.params[last.b_offset + 1];
    const CMapVec wl0(job.wl0, w), wl1(job.wl1, w);
    alignas(64) std::array<float, k_max_width> z, d;

    for (std::size_t c0 = r0; c0 < r1; c0 += k_block) {
        const std::size_t n = std::min(k_block, r1 - c0);
        float* s = scratch.s.data();
        float* out = scratch.z.data();

        // Layer 0: z = x W_0[x] + y W_0[y] + bias0 (the fma order of Mlp::evaluate), and the
        // tangents act'(z) W_0[x], act'(z) W_0[y].
        const float* xr = job.x + 2 * c0;
        for (std::size_t i = 0; i < n; ++i) {
            const float x0 = xr[2 * i], x1 = xr[2 * i + 1];
            for (int j = 0; j < w; ++j) z[j] = std::fma(x1, w0y[j], std::fma(x0, w0x[j], bias0[j]));
            float* a = s + 3 * i * wz;
            activation_forward_derivative(config.activation, z.data(), a, d.data(), wz);
            float* tx = a + wz;
            float* ty = a + 2 * wz;
            for (int j = 0; j < w; ++j) {
                tx[j] = d[j] * w0x[j];
                ty[j] = d[j] * w0y[j];
            }
        }

        // Hidden layers: all 3n rows through W_l in one GEMM, finished tile by tile.
        for (int l = 1; l < depth; ++l) {
            const LayerLayout layer = mlp_layer_layout(config, l);
            LayerEpilogue epilogue{config.activation, job.params + layer.b_offset, out, w};
            mlp_gemm(3 * n, w, w, s, w, job.params + layer.w_offset, w, out, w, nullptr,
                     &LayerEpilogue::run, &epilogue);
            std::swap(s, out);
        }

        // Output: v = a W_out + b_out; div = da_x . W_out[:, x] + da_y . W_out[:, y].
        const auto rows = static_cast<Eigen::Index>(n);
        const Eigen::OuterStride<> stride(3 * w);
        scratch.out0.noalias() = Rows3(s, rows, w, stride) * wl0;
        scratch.out1.noalias() = Rows3(s, rows, w, stride) * wl1;
        scratch.tan0.noalias() = Rows3(s + wz, rows, w, stride) * wl0;
        scratch.tan1.noalias() = Rows3(s + 2 * wz, rows, w, stride) * wl1;
        float* v = job.v + 2 * c0;
        float* div = job.div + c0;
        for (std::size_t i = 0; i < n; ++i) {
            const auto r = static_cast<Eigen::Index>(i);
            v[2 * i] = scratch.out0[r] + bl0;
            v[2 * i + 1] = scratch.out1[r] + bl1;
            div[i] = scratch.tan0[r] + scratch.tan1[r];
        }
    }
}

}  // namespace

void Mlp::evaluate_divergence(const Points& x, float t, Points& v, VectorF& div,
                              const ClassGuidance& guidance) const {
    if (m_config.classes > 0 && guidance.cls >= 0 && guidance.scale != 1.0f) {
        // Guidance is linear in the two fields, so it is in their divergences too.
        Points v_null;
        VectorF div_null;
        evaluate_divergence(x, t, v_null, div_null, ClassGuidance{-1, 1.0f});
        evaluate_divergence(x, t, v, div, ClassGuidance{guidance.cls, 1.0f});
        v = v_null + guidance.scale * (v - v_null);
        div = div_null + guidance.scale * (div - div_null);
        return;
    }
    if (m_params.size() != m_config.parameter_count())
        throw InputError("MLP has " + std::to_string(m_params.size()) +
                         " parameters, its config needs " +
                         std::to_string(m_config.parameter_count()));
    const int w = m_config.width, in_dim = m_config.input_dim();
    v.resize(x.rows(), 2);
    div.resize(x.rows());
    if (x.rows() == 0) return;

    // One t for every row: the time features are constant, folded into the first bias (as in
    // Mlp::evaluate), and they contribute nothing to the tangents.
    std::array<float, 3 + 2 * 32 + k_max_classes_input> features;
    encode_input_row(m_config, 0.0f, 0.0f, t, features.data(), guidance.cls);
    const LayerLayout first = mlp_layer_layout(m_config, 0);
    const float* W0 = m_params.data() + first.w_offset;
    const float* b0 = m_params.data() + first.b_offset;
    std::array<float, k_max_width> bias0, wl0, wl1;
    for (int j = 0; j < w; ++j) {
        float s = b0[j];
        for (int c = 2; c < in_dim; ++c) s += features[c] * W0[c * w + j];
        bias0[j] = s;
    }
    const LayerLayout last = mlp_layer_layout(m_config, m_config.depth);
    for (int j = 0; j < w; ++j) {
        wl0[j] = m_params[last.w_offset + 2 * j];
        wl1[j] = m_params[last.w_offset + 2 * j + 1];
    }

    DivergenceJob job{&m_config,  m_params.data(), bias0.data(), wl0.data(),
                      wl1.data(), x.data(),        v.data(),     div.data()};
    parallel_for(
        static_cast<std::size_t>(x.rows()),
        [&job](std::size_t r0, std::size_t r1, int) { divergence_rows(job, r0, r1); },
        k_min_rows_per_worker);
    if (m_config.prediction != Prediction::Velocity) {
        // v = a x + b f: div v = 2 a + b div f.
        const AffineMap m = velocity_from_prediction(m_config.path, m_config.prediction, t);
        v = m.a * x + m.b * v;
        div = (m.b * div.array() + 2.0f * m.a).matrix();
    }
}

}  // namespace fmp
