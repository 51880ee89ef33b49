// The MLP's CPU passes: batch-major GEMMs with fused bias + activation, rows split over cores.
//
// Training (forward with a context, then backward) gives each worker thread a contiguous block
// of rows and walks it in L2-sized chunks through every layer; backward writes the worker's own
// partial dL/dtheta (worker 0 straight into the output, the others into
// MlpContext::worker_grads), summed at the end. The forward pass stores the activation's
// derivative next to its value, so backward is activation-agnostic and recomputes no exp.
// Inference walks chunks of rows with two ping-pong buffers per thread.
//
// The GEMMs are register-tiled AVX-512 kernels reading the row-major weights unpacked (with
// K and N of 128, packing is most of what a general GEMM spends here); the activation runs on
// each block of 6 output rows while it is in L1. Without AVX-512, or for widths that are not a
// multiple of 16, Eigen does the products. Measured on the 2-core AVX-512 target (CPU time, one
// thread, width 128, 3 layers): ~0.37 ms per B=256 training step, ~6.7 ms at B=4096, ~42 ms per
// 100k-point inference, 2-4x a single-thread PyTorch/OpenBLAS step under the same load.
//
// GCC 12 flags the undefined-vector idiom inside the AVX-512 intrinsics that Eigen's GEMM packing
// inlines as -Wmaybe-uninitialized; silenced for the headers only (the state is per location).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>
#if defined(__AVX512F__)
#include <immintrin.h>
#define FMP_MLP_AVX512 1
#endif
#pragma GCC diagnostic pop
#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/base/parallel.h"
#include "core/nn/mlp.h"
#include "core/nn/mlp_kernels.h"

namespace fmp {
namespace {

using MapRM = Eigen::Map<MatrixRM>;
using CMapRM = Eigen::Map<const MatrixRM>;
using MapPts = Eigen::Map<Points>;

constexpr int kMaxWidth = 512;
constexpr std::size_t kMinRowsPerWorker = 32;  // below this a second thread costs more than it saves
constexpr std::size_t kInferChunk = 256;
constexpr std::size_t kTrainChunk = 256;       // rows per inference chunk: 2 x 256 x W floats in L2

// ---- [SECTION] elementwise math, written branch-free so GCC vectorises the loops that use it

// e^x - 1 and e^x by Cody-Waite range reduction, x = n ln2 + r with |r| <= ln2/2, and Cephes'
// minimax polynomial e^r - 1 = r + r^2 P(r) (~1 ulp on the reduced range, ~2e-7 relative overall).
// x is clamped so the result stays a normal float. Returning e^r - 1 and 2^n separately keeps
// expm1 accurate near 0 (n = 0 there), which SELU needs.
struct ExpParts {
    float em1_r;  // e^r - 1
    float scale;  // 2^n
};
inline ExpParts exp_parts(float x) {
    x = std::min(std::max(x, -87.0f), 88.0f);
    // Adding 1.5 * 2^23 rounds x/ln2 to the nearest integer, which then sits in the low mantissa.
    const float shifted = std::fma(x, 1.44269504088896341f, 12582912.0f);
    const float n = shifted - 12582912.0f;
    const int32_t ni = std::bit_cast<int32_t>(shifted) - 0x4B400000;
    // std::fma because ISO mode (-std=c++20) turns off GCC's automatic contraction.
    float r = std::fma(n, -0.693359375f, x);
    r = std::fma(n, 2.12194440e-4f, r);
    float p = 1.9875691500e-4f;
    p = std::fma(p, r, 1.3981999507e-3f);
    p = std::fma(p, r, 8.3334519073e-3f);
    p = std::fma(p, r, 4.1665795894e-2f);
    p = std::fma(p, r, 1.6666665459e-1f);
    p = std::fma(p, r, 5.0000001201e-1f);
    return {std::fma(p * r, r, r), std::bit_cast<float>((ni + 127) << 23)};
}

inline float fast_exp(float x) {
    ExpParts e = exp_parts(x);
    return std::fma(e.scale, e.em1_r, e.scale);
}

inline float fast_expm1(float x) {
    ExpParts e = exp_parts(x);
    return std::fma(e.scale, e.em1_r, e.scale - 1.0f);
}

#ifdef FMP_MLP_AVX512
// The same exp, step for step (bit-identical results), on 16 lanes: GCC's auto-vectorised clamp
// goes through mask registers and general-purpose bit logic.
inline __m512 fast_exp_v(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(88.0f));
    const __m512 shifted =
        _mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), _mm512_set1_ps(12582912.0f));
    const __m512 n = _mm512_sub_ps(shifted, _mm512_set1_ps(12582912.0f));
    const __m512i ni =
        _mm512_sub_epi32(_mm512_castps_si512(shifted), _mm512_set1_epi32(0x4B400000));
    __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(-0.693359375f), x);
    r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    const __m512 em1 = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r);
    const __m512 scale =
        _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(ni, _mm512_set1_epi32(127)), 23));
    return _mm512_fmadd_ps(scale, em1, scale);
}

#endif

inline float sigmoid(float z) { return 1.0f / (1.0f + fast_exp(-z)); }

struct SiLU {
    static float f(float z) { return z / (1.0f + fast_exp(-z)); }
    static float fd(float z, float& d) {
        float s = sigmoid(z);
        d = s * (1.0f + z * (1.0f - s));
        return z * s;
    }
#ifdef FMP_MLP_AVX512
    static __m512 fv(__m512 z) {
        const __m512 one = _mm512_set1_ps(1.0f);
        return _mm512_div_ps(z, _mm512_add_ps(one, fast_exp_v(_mm512_sub_ps(_mm512_setzero_ps(), z))));
    }
    static __m512 fdv(__m512 z, __m512& d) {
        const __m512 one = _mm512_set1_ps(1.0f);
        const __m512 s =
            _mm512_div_ps(one, _mm512_add_ps(one, fast_exp_v(_mm512_sub_ps(_mm512_setzero_ps(), z))));
        d = _mm512_mul_ps(s, _mm512_add_ps(one, _mm512_mul_ps(z, _mm512_sub_ps(one, s))));
        return _mm512_mul_ps(z, s);
    }
#endif
};

struct SELU {
    static constexpr float kLambda = 1.0507009873554804934f;
    static constexpr float kLambdaAlpha = 1.0507009873554804934f * 1.6732632423543772848f;
    static float f(float z) {
        float em1 = fast_expm1(std::min(z, 0.0f));
        return z > 0.0f ? kLambda * z : kLambdaAlpha * em1;
    }
    static float fd(float z, float& d) {
        float em1 = fast_expm1(std::min(z, 0.0f));
        d = z > 0.0f ? kLambda : kLambdaAlpha * (em1 + 1.0f);
        return z > 0.0f ? kLambda * z : kLambdaAlpha * em1;
    }
};

struct Tanh {
    static float f(float z) {
        float a = std::fabs(z);
        float e = fast_exp(-2.0f * a);
        float large = (1.0f - e) / (1.0f + e);
        // Near 0 the quotient cancels; the odd Taylor series keeps full relative precision.
        float a2 = a * a;
        float small = a * (1.0f + a2 * (-1.0f / 3.0f + a2 * (2.0f / 15.0f + a2 * (-17.0f / 315.0f))));
        float r = a < 0.125f ? small : large;
        return z < 0.0f ? -r : r;
    }
    static float fd(float z, float& d) {
        float y = f(z);
        d = 1.0f - y * y;
        return y;
    }
};

struct ReLU {
    static float f(float z) { return z > 0.0f ? z : 0.0f; }
    static float fd(float z, float& d) {
        d = z > 0.0f ? 1.0f : 0.0f;
        return z > 0.0f ? z : 0.0f;
    }
};

// GELU, tanh approximation: 0.5 z (1 + tanh(u)) = z sigmoid(2u), u = sqrt(2/pi)(z + 0.044715 z^3).
struct GELU {
    static constexpr float k1 = 1.5957691216057308f;          // 2 sqrt(2/pi)
    static constexpr float k3 = 1.5957691216057308f * 0.044715f;
    static float f(float z) { return z / (1.0f + fast_exp(-z * (k1 + k3 * z * z))); }
    static float fd(float z, float& d) {
        float z2 = z * z;
        float s = sigmoid(z * (k1 + k3 * z2));
        d = s + z * s * (1.0f - s) * (k1 + 3.0f * k3 * z2);
        return z * s;
    }
#ifdef FMP_MLP_AVX512
    // u = z (k1 + k3 z^2), rounded exactly as the scalar form (no contraction there either).
    static __m512 arg(__m512 z, __m512 z2) {
        return _mm512_mul_ps(z, _mm512_add_ps(_mm512_set1_ps(k1), _mm512_mul_ps(_mm512_set1_ps(k3), z2)));
    }
    static __m512 fv(__m512 z) {
        const __m512 u = arg(z, _mm512_mul_ps(z, z));
        return _mm512_div_ps(z, _mm512_add_ps(_mm512_set1_ps(1.0f),
                                              fast_exp_v(_mm512_sub_ps(_mm512_setzero_ps(), u))));
    }
    static __m512 fdv(__m512 z, __m512& d) {
        const __m512 one = _mm512_set1_ps(1.0f);
        const __m512 z2 = _mm512_mul_ps(z, z);
        const __m512 s = _mm512_div_ps(
            one, _mm512_add_ps(one, fast_exp_v(_mm512_sub_ps(_mm512_setzero_ps(), arg(z, z2)))));
        const __m512 slope = _mm512_add_ps(_mm512_set1_ps(k1),
                                           _mm512_mul_ps(_mm512_set1_ps(3.0f * k3), z2));
        d = _mm512_add_ps(
            s, _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(z, s), _mm512_sub_ps(one, s)), slope));
        return _mm512_mul_ps(z, s);
    }
#endif
};

template <class F>
decltype(auto) with_activation(Activation a, F&& fn) {
    switch (a) {
        case Activation::SELU: return fn(SELU{});
        case Activation::Tanh: return fn(Tanh{});
        case Activation::ReLU: return fn(ReLU{});
        case Activation::GELU: return fn(GELU{});
        case Activation::SiLU: break;
    }
    return fn(SiLU{});
}

// ---- [SECTION] the GEMM: C (M x N, row-major) = bias + A (M x K) B (K x N, row-major)

// A is addressed with two strides so one routine serves X W (A = X, rows contiguous) and the
// weight gradient X^T G (A = X^T, columns contiguous).
struct GemmA {
    const float* p;
    std::ptrdiff_t row_stride;
    std::ptrdiff_t k_stride;
};

#ifdef FMP_MLP_AVX512
// An MR x (16 NV) register tile, accumulated over K with the A values broadcast from memory.
// B rows are read straight from the row-major weights: no packing, which at these sizes (K and
// N of 128) is what costs Eigen's general GEMM its time.
template <int MR, int NV>
void gemm_tile(GemmA a, const float* B, std::ptrdiff_t ldb, int K, float* C, std::ptrdiff_t ldc,
               const float* bias, bool accumulate) {
    __m512 acc[MR][NV];
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v)
            acc[r][v] = accumulate ? _mm512_loadu_ps(C + r * ldc + 16 * v)
                        : bias     ? _mm512_loadu_ps(bias + 16 * v)
                                   : _mm512_setzero_ps();
    const float* ap = a.p;
    for (int k = 0; k < K; ++k, ap += a.k_stride, B += ldb) {
        __m512 b[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) b[v] = _mm512_loadu_ps(B + 16 * v);
#pragma GCC unroll 8
        for (int r = 0; r < MR; ++r) {
            const __m512 x = _mm512_set1_ps(ap[r * a.row_stride]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(x, b[v], acc[r][v]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) _mm512_storeu_ps(C + r * ldc + 16 * v, acc[r][v]);
}

using GemmTileFn = void (*)(GemmA, const float*, std::ptrdiff_t, int, float*, std::ptrdiff_t,
                            const float*, bool);
constexpr int kTileRows = 6;  // 6 x 4 accumulators + 4 B vectors + 1 broadcast fit 32 registers

template <int MR>
constexpr std::array<GemmTileFn, 4> tiles_for_rows() {
    return {gemm_tile<MR, 1>, gemm_tile<MR, 2>, gemm_tile<MR, 3>, gemm_tile<MR, 4>};
}
constexpr std::array<std::array<GemmTileFn, 4>, kTileRows> kTiles = {
    tiles_for_rows<1>(), tiles_for_rows<2>(), tiles_for_rows<3>(),
    tiles_for_rows<4>(), tiles_for_rows<5>(), tiles_for_rows<6>()};
#endif

struct NoEpilogue {
    void operator()(std::size_t, std::size_t) const {}
};

// C = A B (+ bias per column), or C += A B with `accumulate`. epilogue(first_row, rows) runs on
// each finished block of rows while it is still in L1 (the activation, fused).
template <class Epilogue = NoEpilogue>
void gemm(std::size_t M, int N, int K, GemmA a, const float* B, std::ptrdiff_t ldb, float* C,
          std::ptrdiff_t ldc, const float* bias, bool accumulate, Epilogue&& epilogue = {}) {
#ifdef FMP_MLP_AVX512
    if (N % 16 == 0) {
        for (std::size_t r0 = 0; r0 < M; r0 += kTileRows) {
            const int mr = static_cast<int>(std::min<std::size_t>(kTileRows, M - r0));
            GemmA ar{a.p + static_cast<std::ptrdiff_t>(r0) * a.row_stride, a.row_stride, a.k_stride};
            float* cr = C + static_cast<std::ptrdiff_t>(r0) * ldc;
            for (int c0 = 0; c0 < N; c0 += 64) {
                const int nv = std::min(4, (N - c0) / 16);
                GemmA ac{ar.p, ar.row_stride, ar.k_stride};
                kTiles[mr - 1][nv - 1](ac, B + c0, ldb, K, cr + c0, ldc, bias ? bias + c0 : nullptr,
                                       accumulate);
            }
            epilogue(r0, static_cast<std::size_t>(mr));
        }
        return;
    }
#endif
    using Strided = Eigen::Map<const MatrixRM, 0, Eigen::OuterStride<>>;
    Eigen::Map<MatrixRM, 0, Eigen::OuterStride<>> c(C, static_cast<Eigen::Index>(M), N,
                                                    Eigen::OuterStride<>(ldc));
    Strided b(B, K, N, Eigen::OuterStride<>(ldb));
    auto product = [&](const auto& lhs) {
        if (accumulate) {
            c.noalias() += lhs * b;
        } else {
            c.noalias() = lhs * b;
            if (bias) c.rowwise() += Eigen::Map<const Eigen::RowVectorXf>(bias, N);
        }
    };
    if (a.k_stride == 1)
        product(Strided(a.p, static_cast<Eigen::Index>(M), K, Eigen::OuterStride<>(a.row_stride)));
    else
        product(Strided(a.p, K, static_cast<Eigen::Index>(M), Eigen::OuterStride<>(a.k_stride))
                    .transpose());
    epilogue(0, M);
}

// ---- [SECTION] fused kernels over row blocks (row-major, `w` columns)

// buf <- act(buf), in place (the GEMM has added the bias).
template <class A>
void act_inplace(float* __restrict buf, std::size_t count) {
    std::size_t i = 0;
#ifdef FMP_MLP_AVX512
    if constexpr (requires(__m512 z) { A::fv(z); })
        for (; i + 16 <= count; i += 16) _mm512_storeu_ps(buf + i, A::fv(_mm512_loadu_ps(buf + i)));
#endif
    for (; i < count; ++i) buf[i] = A::f(buf[i]);
}

// post <- act(pre); deriv <- act'(pre).
template <class A>
void act_train(const float* __restrict pre, std::size_t count, float* __restrict post,
               float* __restrict deriv) {
    std::size_t i = 0;
#ifdef FMP_MLP_AVX512
    if constexpr (requires(__m512 z, __m512& d) { A::fdv(z, d); })
        for (; i + 16 <= count; i += 16) {
            __m512 d;
            _mm512_storeu_ps(post + i, A::fdv(_mm512_loadu_ps(pre + i), d));
            _mm512_storeu_ps(deriv + i, d);
        }
#endif
    for (; i < count; ++i) {
        float d;
        post[i] = A::fd(pre[i], d);
        deriv[i] = d;
    }
}

// A first layer with K (2 or 3) inputs as K rank-1 updates fused with the activation: a GEMM
// with depth 3 would spend its time packing. `in` holds K features per row at `stride`.
template <class A, int K, bool kTrain>
void small_first_layer(const float* __restrict in, int stride, std::size_t rows,
                       const float* __restrict W, const float* __restrict b, int w,
                       float* __restrict pre, float* __restrict post, float* __restrict deriv) {
    const float* w0 = W;
    const float* w1 = W + w;
    const float* w2 = W + 2 * w;
    for (std::size_t i = 0; i < rows; ++i) {
        const float a0 = in[i * stride], a1 = in[i * stride + 1];
        const float a2 = K == 3 ? in[i * stride + 2] : 0.0f;
        float* yr = post + i * w;
        if constexpr (kTrain) {
            float* zr = pre + i * w;
            float* dr = deriv + i * w;
            for (int j = 0; j < w; ++j) {
                float z = std::fma(a1, w1[j], std::fma(a0, w0[j], b[j]));
                if constexpr (K == 3) z = std::fma(a2, w2[j], z);
                float d;
                yr[j] = A::fd(z, d);
                zr[j] = z;
                dr[j] = d;
            }
        } else {
            for (int j = 0; j < w; ++j) {
                float z = std::fma(a1, w1[j], std::fma(a0, w0[j], b[j]));
                if constexpr (K == 3) z = std::fma(a2, w2[j], z);
                yr[j] = A::f(z);
            }
        }
    }
}

// db <- column sums of g (rows x w), or db += them.
void column_sums(const float* __restrict g, std::size_t rows, int w, float* __restrict db,
                 bool overwrite) {
    if (overwrite)
        for (int j = 0; j < w; ++j) db[j] = 0.0f;
    for (std::size_t i = 0; i < rows; ++i) {
        const float* gr = g + i * w;
        for (int j = 0; j < w; ++j) db[j] += gr[j];
    }
}

void multiply_inplace(float* __restrict g, const float* __restrict d, std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) g[i] *= d[i];
}

// ---- [SECTION] the layer table without allocating

struct Net {
    const MlpConfig* config = nullptr;
    const float* params = nullptr;
    int depth = 0;
    int width = 0;
    int in_dim = 0;
    std::array<LayerLayout, 7> layers{};
    // The output layer's two weight columns, de-interleaved so rows can be dotted with them.
    std::array<float, kMaxWidth> wl0{}, wl1{};

    const float* W(int l) const { return params + layers[l].w_offset; }
    const float* b(int l) const { return params + layers[l].b_offset; }
};

Net make_net(const MlpConfig& config, const std::vector<float>& params) {
    if (params.size() != config.parameter_count() || params.empty())
        throw InputError("MLP has " + std::to_string(params.size()) + " parameters, its config needs " +
                         std::to_string(config.parameter_count()));
    Net net;
    net.config = &config;
    net.params = params.data();
    net.depth = config.depth;
    net.width = config.width;
    net.in_dim = config.input_dim();
    for (int l = 0; l <= net.depth; ++l) net.layers[l] = mlp_layer_layout(config, l);
    const float* WL = net.W(net.depth);
    for (int j = 0; j < net.width; ++j) {
        net.wl0[j] = WL[2 * j];
        net.wl1[j] = WL[2 * j + 1];
    }
    return net;
}

// v = h W + b for the 2-unit output layer: two dot products per row (a GEMM with N = 2 spends
// its time packing).
void output_layer(const Net& net, const float* h, std::size_t rows, float* v) {
    const int w = net.width;
    const float b0 = net.b(net.depth)[0], b1 = net.b(net.depth)[1];
    const float* wl0 = net.wl0.data();
    const float* wl1 = net.wl1.data();
#ifdef FMP_MLP_AVX512
    if (w % 16 == 0) {
        for (std::size_t i = 0; i < rows; ++i) {
            const float* hr = h + i * w;
            __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
            for (int j = 0; j < w; j += 16) {
                const __m512 x = _mm512_loadu_ps(hr + j);
                a0 = _mm512_fmadd_ps(x, _mm512_loadu_ps(wl0 + j), a0);
                a1 = _mm512_fmadd_ps(x, _mm512_loadu_ps(wl1 + j), a1);
            }
            v[2 * i] = _mm512_reduce_add_ps(a0) + b0;
            v[2 * i + 1] = _mm512_reduce_add_ps(a1) + b1;
        }
        return;
    }
#endif
    for (std::size_t i = 0; i < rows; ++i) {
        const float* hr = h + i * w;
        float s0 = b0, s1 = b1;
        for (int j = 0; j < w; ++j) {
            s0 += hr[j] * wl0[j];
            s1 += hr[j] * wl1[j];
        }
        v[2 * i] = s0;
        v[2 * i + 1] = s1;
    }
}

// ---- [SECTION] training forward / backward over one worker's rows

struct TrainForwardJob {
    const Net* net;
    const Points* x;
    const VectorF* t;
    Points* v;
    MlpContext* ctx;
    const int* classes;  // per row, or null (the null class)
};

// One worker's rows, in chunks of kTrainChunk so each chunk's activations stay in L2 between
// layers (and Eigen's GEMM packing buffers stay on the stack instead of the heap).
template <class A>
void forward_train_rows(const TrainForwardJob& job, std::size_t r0, std::size_t r1) {
    const Net& net = *job.net;
    MlpContext& ctx = *job.ctx;
    const MlpConfig& config = *net.config;
    const int w = net.width, in_dim = net.in_dim;

    for (std::size_t c0 = r0; c0 < r1; c0 += kTrainChunk) {
        const std::size_t n = std::min(kTrainChunk, r1 - c0);
        float* in = ctx.input.data() + c0 * in_dim;
        for (std::size_t i = 0; i < n; ++i) {
            const auto r = static_cast<Eigen::Index>(c0 + i);
            encode_input_row(config, (*job.x)(r, 0), (*job.x)(r, 1), (*job.t)(r), in + i * in_dim,
                             job.classes ? job.classes[r] : -1);
        }
        auto pre = [&](int l) { return ctx.pre[l].data() + c0 * w; };
        auto post = [&](int l) { return ctx.post[l].data() + c0 * w; };
        auto deriv = [&](int l) { return ctx.deriv[l].data() + c0 * w; };

        if (in_dim == 3) {
            small_first_layer<A, 3, true>(in, 3, n, net.W(0), net.b(0), w, pre(0), post(0), deriv(0));
        } else {
            gemm(n, w, in_dim, {in, in_dim, 1}, net.W(0), w, pre(0), w, net.b(0), false,
                 [&](std::size_t i0, std::size_t rows) {
                     act_train<A>(pre(0) + i0 * w, rows * w, post(0) + i0 * w, deriv(0) + i0 * w);
                 });
        }
        for (int l = 1; l < net.depth; ++l) {
            gemm(n, w, w, {post(l - 1), w, 1}, net.W(l), w, pre(l), w, net.b(l), false,
                 [&](std::size_t i0, std::size_t rows) {
                     act_train<A>(pre(l) + i0 * w, rows * w, post(l) + i0 * w, deriv(l) + i0 * w);
                 });
        }
        output_layer(net, post(net.depth - 1), n, job.v->data() + 2 * c0);
    }
}

struct BackwardJob {
    const Net* net;
    const MlpContext* ctx;
    const Points* dL_dv;
    const float* wt;  // W^T (out x in, row-major) of hidden layers 1..depth-1, w x w each
    float* grads0;    // worker 0's output; workers k > 0 use ctx->worker_grads[k - 1]
    Points* dL_dx;
    std::atomic<int> last_worker{0};
};

void backward_rows(BackwardJob& job, std::size_t r0, std::size_t r1, int worker) {
    const Net& net = *job.net;
    const MlpContext& ctx = *job.ctx;
    const int w = net.width, depth = net.depth, in_dim = net.in_dim;
    float* g = worker == 0 ? job.grads0 : ctx.worker_grads[worker - 1].data();
    const LayerLayout* L = net.layers.data();

    // The output layer's dW (w x 2, interleaved in the parameters) and db accumulate here.
    std::array<float, kMaxWidth> acc0, acc1;
    const float* wl0 = net.wl0.data();
    const float* wl1 = net.wl1.data();
    for (int j = 0; j < w; ++j) {
        acc0[j] = 0.0f;
        acc1[j] = 0.0f;
    }
    float sum0 = 0.0f, sum1 = 0.0f;

    for (std::size_t c0 = r0; c0 < r1; c0 += kTrainChunk) {
        const std::size_t n = std::min(kTrainChunk, r1 - c0);
        const bool first = c0 == r0;
        auto post = [&](int l) { return ctx.post[l].data() + c0 * w; };
        auto deriv = [&](int l) { return ctx.deriv[l].data() + c0 * w; };
        auto grad = [&](int l) { return ctx.grad[l].data() + c0 * w; };

        // Output layer in one pass over the rows: dW += h^T g, db += g, and dL/dpre of the last
        // hidden layer = (g W^T) * act', a rank-2 update.
        {
            const float* gv = job.dL_dv->data() + 2 * c0;
            const float* h = post(depth - 1);
            const float* dh = deriv(depth - 1);
            float* gh = grad(depth - 1);
            for (std::size_t i = 0; i < n; ++i) {
                const float g0 = gv[2 * i], g1 = gv[2 * i + 1];
                sum0 += g0;
                sum1 += g1;
                const float* hr = h + i * w;
                const float* dr = dh + i * w;
                float* gr = gh + i * w;
                for (int j = 0; j < w; ++j) {
                    acc0[j] += hr[j] * g0;
                    acc1[j] += hr[j] * g1;
                    gr[j] = (g0 * wl0[j] + g1 * wl1[j]) * dr[j];
                }
            }
        }
        for (int l = depth - 1; l >= 0; --l) {
            const float* in = l == 0 ? ctx.input.data() + c0 * in_dim : post(l - 1);
            const int in_l = l == 0 ? in_dim : w;
            // dW (+)= X^T G: A = X^T is read down X's columns.
            gemm(static_cast<std::size_t>(in_l), w, static_cast<int>(n), {in, 1, in_l}, grad(l), w,
                 g + L[l].w_offset, w, nullptr, !first);
            column_sums(grad(l), n, w, g + L[l].b_offset, first);
            if (l > 0) {
                gemm(n, w, w, {grad(l), w, 1}, job.wt + (l - 1) * w * w, w, grad(l - 1), w, nullptr,
                     false, [&](std::size_t i0, std::size_t rows) {
                         multiply_inplace(grad(l - 1) + i0 * w, deriv(l - 1) + i0 * w, rows * w);
                     });
            }
        }
        if (job.dL_dx) {
            // Only the spatial inputs (the first two rows of W0) matter for dL/dx.
            MapPts(job.dL_dx->data() + 2 * c0, n, 2).noalias() =
                CMapRM(grad(0), n, w) * CMapRM(net.W(0), 2, w).transpose();
        }
    }
    float* dWL = g + L[depth].w_offset;
    for (int j = 0; j < w; ++j) {
        dWL[2 * j] = acc0[j];
        dWL[2 * j + 1] = acc1[j];
    }
    g[L[depth].b_offset] = sum0;
    g[L[depth].b_offset + 1] = sum1;

    int seen = job.last_worker.load();
    while (worker > seen && !job.last_worker.compare_exchange_weak(seen, worker)) {
    }
}

void ensure_rows(MatrixRM& m, Eigen::Index rows, Eigen::Index cols) {
    if (m.rows() < rows || m.cols() != cols) m.resize(std::max(rows, m.rows()), cols);
}

// ---- [SECTION] inference in chunks

struct InferScratch {
    std::vector<float> a, b, in;
};

struct InferJob {
    const Net* net;
    const float* x;        // N x 2
    const float* t;        // N times, or null: then bias0 already holds the time's contribution
    const float* bias0;    // first-layer bias (with the constant time features folded in if t is null)
    float* v;              // N x 2
    const int* classes = nullptr;  // with t: each row's class (null: the null class)
};

template <class A>
void infer_rows(const InferJob& job, std::size_t r0, std::size_t r1) {
    static thread_local InferScratch scratch;
    const Net& net = *job.net;
    const int w = net.width, in_dim = net.in_dim;
    const std::size_t cap = kInferChunk * static_cast<std::size_t>(w);
    if (scratch.a.size() < cap) {
        scratch.a.resize(cap);
        scratch.b.resize(cap);
    }
    if (job.t && scratch.in.size() < kInferChunk * static_cast<std::size_t>(in_dim))
        scratch.in.resize(kInferChunk * static_cast<std::size_t>(in_dim));

    for (std::size_t c0 = r0; c0 < r1; c0 += kInferChunk) {
        const std::size_t n = std::min(kInferChunk, r1 - c0);
        float* h = scratch.a.data();
        float* h2 = scratch.b.data();
        if (!job.t) {
            small_first_layer<A, 2, false>(job.x + 2 * c0, 2, n, net.W(0), job.bias0, w, nullptr, h,
                                           nullptr);
        } else {
            float* in = scratch.in.data();
            for (std::size_t i = 0; i < n; ++i)
                encode_input_row(*net.config, job.x[2 * (c0 + i)], job.x[2 * (c0 + i) + 1],
                                 job.t[c0 + i], in + i * in_dim,
                                 job.classes ? job.classes[c0 + i] : -1);
            if (in_dim == 3) {
                small_first_layer<A, 3, false>(in, 3, n, net.W(0), job.bias0, w, nullptr, h, nullptr);
            } else {
                gemm(n, w, in_dim, {in, in_dim, 1}, net.W(0), w, h, w, job.bias0, false,
                     [&](std::size_t i0, std::size_t rows) { act_inplace<A>(h + i0 * w, rows * w); });
            }
        }
        for (int l = 1; l < net.depth; ++l) {
            gemm(n, w, w, {h, w, 1}, net.W(l), w, h2, w, net.b(l), false,
                 [&](std::size_t i0, std::size_t rows) { act_inplace<A>(h2 + i0 * w, rows * w); });
            std::swap(h, h2);
        }
        output_layer(net, h, n, job.v + 2 * c0);
    }
}

void run_inference(const InferJob& job, Activation activation, std::size_t rows) {
    with_activation(activation, [&](auto act) {
        using A = decltype(act);
        parallel_for(
            rows, [&job](std::size_t r0, std::size_t r1, int) { infer_rows<A>(job, r0, r1); },
            kInferChunk / 2);
    });
}

}  // namespace

// ---- [SECTION] public entry points

void activation_forward(Activation a, const float* z, float* y, std::size_t n) {
    with_activation(a, [&](auto act) {
        std::copy(z, z + n, y);
        act_inplace<decltype(act)>(y, n);
    });
}

void activation_derivative(Activation a, const float* z, float* dy_dz, std::size_t n) {
    // The same kernel as training, so the checked values are the ones backward uses.
    static thread_local std::vector<float> post;
    post.resize(n);
    with_activation(a, [&](auto act) { act_train<decltype(act)>(z, n, post.data(), dy_dz); });
}

void activation_forward_derivative(Activation a, const float* z, float* y, float* dy_dz,
                                   std::size_t n) {
    with_activation(a, [&](auto act) { act_train<decltype(act)>(z, n, y, dy_dz); });
}

void mlp_gemm(std::size_t M, int N, int K, const float* A, std::ptrdiff_t lda, const float* B,
              std::ptrdiff_t ldb, float* C, std::ptrdiff_t ldc, const float* bias,
              GemmEpilogue epilogue, void* context) {
    if (!epilogue) {
        gemm(M, N, K, {A, lda, 1}, B, ldb, C, ldc, bias, false);
        return;
    }
    gemm(M, N, K, {A, lda, 1}, B, ldb, C, ldc, bias, false,
         [&](std::size_t first, std::size_t rows) { epilogue(context, first, rows); });
}

Mlp::Mlp(const MlpConfig& config, uint64_t seed)
    : m_config(config), m_params(mlp_init_params(config, seed)) {}

void Mlp::set_params(std::vector<float> params) {
    if (params.size() != m_config.parameter_count())
        throw InputError("MLP parameter vector has " + std::to_string(params.size()) +
                         " values, the network needs " +
                         std::to_string(m_config.parameter_count()));
    m_params = std::move(params);
}

void Mlp::forward(const Points& x, const VectorF& t, Points& v, MlpContext* ctx,
                  const int* classes) const {
    if (x.rows() != t.size())
        throw InputError("MLP forward: " + std::to_string(x.rows()) + " points but " +
                         std::to_string(t.size()) + " times");
    const Net net = make_net(m_config, m_params);
    const Eigen::Index B = x.rows();
    v.resize(B, 2);
    if (!ctx) {
        InferJob job{&net, x.data(), t.data(), net.b(0), v.data(), classes};
        run_inference(job, m_config.activation, static_cast<std::size_t>(B));
        return;
    }

    const int w = net.width, depth = net.depth;
    ensure_rows(ctx->input, B, net.in_dim);
    ctx->pre.resize(depth);
    ctx->post.resize(depth);
    ctx->deriv.resize(depth);
    ctx->grad.resize(depth);
    for (int l = 0; l < depth; ++l) {
        ensure_rows(ctx->pre[l], B, w);
        ensure_rows(ctx->post[l], B, w);
        ensure_rows(ctx->deriv[l], B, w);
        ensure_rows(ctx->grad[l], B, w);
    }
    ctx->batch = static_cast<int>(B);

    TrainForwardJob job{&net, &x, &t, &v, ctx, classes};
    with_activation(m_config.activation, [&](auto act) {
        using A = decltype(act);
        parallel_for(
            static_cast<std::size_t>(B),
            [&job](std::size_t r0, std::size_t r1, int) { forward_train_rows<A>(job, r0, r1); },
            kMinRowsPerWorker);
    });
}

void Mlp::evaluate(const Points& x, float t, Points& v, const ClassGuidance& guidance) const {
    if (m_config.classes > 0 && guidance.cls >= 0 && guidance.scale != 1.0f) {
        // v_null + w (v_c - v_null); the prediction's conversion is affine, so it commutes.
        Points v_null;
        evaluate(x, t, v_null, ClassGuidance{-1, 1.0f});
        evaluate(x, t, v, ClassGuidance{guidance.cls, 1.0f});
        v = v_null + guidance.scale * (v - v_null);
        return;
    }
    const Net net = make_net(m_config, m_params);
    const int w = net.width, in_dim = net.in_dim;
    v.resize(x.rows(), 2);
    // With one t and one class for every row, those features are constant: fold them into the
    // first bias.
    std::array<float, 3 + 2 * 32 + k_max_classes_input> features;
    encode_input_row(m_config, 0.0f, 0.0f, t, features.data(), guidance.cls);
    std::array<float, kMaxWidth> bias0;
    const float* W0 = net.W(0);
    const float* b0 = net.b(0);
    for (int j = 0; j < w; ++j) {
        float s = b0[j];
        for (int c = 2; c < in_dim; ++c) s += features[c] * W0[c * w + j];
        bias0[j] = s;
    }
    InferJob job{&net, x.data(), nullptr, bias0.data(), v.data()};
    run_inference(job, m_config.activation, static_cast<std::size_t>(x.rows()));
    if (m_config.prediction != Prediction::Velocity) {
        const AffineMap m = velocity_from_prediction(m_config.path, m_config.prediction, t);
        v = m.a * x + m.b * v;
    }
}

void Mlp::backward(const MlpContext& ctx, const Points& dL_dv, std::vector<float>& dL_dparams,
                   Points* dL_dx) const {
    const Net net = make_net(m_config, m_params);
    const Eigen::Index B = ctx.batch;
    if (dL_dv.rows() != B)
        throw InputError("MLP backward: dL/dv has " + std::to_string(dL_dv.rows()) +
                         " rows, the saved forward pass " + std::to_string(B));
    if (static_cast<int>(ctx.pre.size()) != net.depth || ctx.input.cols() != net.in_dim ||
        (net.depth > 0 && ctx.pre[0].cols() != net.width))
        throw InputError("MLP backward: the context was saved by a network of another shape");
    const std::size_t P = m_config.parameter_count();
    dL_dparams.resize(P);
    if (dL_dx) dL_dx->resize(B, 2);
    if (B == 0) {
        std::fill(dL_dparams.begin(), dL_dparams.end(), 0.0f);
        return;
    }

    const int threads = thread_count();
    if (static_cast<int>(ctx.worker_grads.size()) < threads - 1) ctx.worker_grads.resize(threads - 1);
    for (int k = 0; k < threads - 1; ++k)
        if (ctx.worker_grads[k].size() != P) ctx.worker_grads[k].resize(P);

    // W^T of the hidden layers, so dL/dX = G W^T runs through the same row-major GEMM.
    static thread_local std::vector<float> wt;
    const int w = net.width;
    const std::size_t square = static_cast<std::size_t>(w) * w;
    if (wt.size() < square * (net.depth - 1)) wt.resize(square * (net.depth - 1));
    for (int l = 1; l < net.depth; ++l)
        MapRM(wt.data() + (l - 1) * square, w, w) = CMapRM(net.W(l), w, w).transpose();

    BackwardJob job{&net, &ctx, &dL_dv, wt.data(), dL_dparams.data(), dL_dx};
    parallel_for(
        static_cast<std::size_t>(B),
        [&job](std::size_t r0, std::size_t r1, int worker) { backward_rows(job, r0, r1, worker); },
        kMinRowsPerWorker);

    const int last = job.last_worker.load();
    float* out = dL_dparams.data();
    for (int k = 1; k <= last; ++k) {
        const float* part = ctx.worker_grads[k - 1].data();
        for (std::size_t i = 0; i < P; ++i) out[i] += part[i];
    }
}

}  // namespace fmp
