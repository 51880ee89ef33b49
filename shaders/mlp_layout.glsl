// The MLP's parameter layout and activations, shared by every shader that evaluates the network.
// Needs IN_DIM, WIDTH, DEPTH, ACT (0 SiLU, 1 SELU, 2 tanh, 3 ReLU, 4 GELU) and CLASSES (0: none,
// else the network's K classes) defines; the Fourier features fill IN_DIM between t and the classes.
// The layout is core/nn/mlp.h's: per layer W (in x out, row-major) then b.

// Loop trip counts: constants let a GPU compiler unroll and pipeline; a software rasterizer
// (llvmpipe) that unrolls them compiles for many seconds, so there (DYNAMIC_LOOPS = 1) they are
// hidden behind a uniform that is always 0 (uniforms start at 0 after linking).
#if DYNAMIC_LOOPS
uniform uint u_zero;
#define DYN(n) (uint(n) + u_zero)
#else
#define DYN(n) uint(n)
#endif

uint layer_in(int l) { return l == 0 ? uint(IN_DIM) : uint(WIDTH); }
uint layer_out(int l) { return l == DEPTH ? 2u : uint(WIDTH); }
uint w_off(int l) {
    return l == 0 ? 0u : uint(IN_DIM * WIDTH + WIDTH) + uint(l - 1) * uint(WIDTH * WIDTH + WIDTH);
}
uint b_off(int l) { return w_off(l) + layer_in(l) * layer_out(l); }

const float k_selu_lambda = 1.0507009873554805;
const float k_selu_alpha = 1.6732632423543772;

// GELU uses the tanh approximation, as the CPU MLP does: 0.5 z (1 + tanh(u)) = z sigmoid(2u),
// u = sqrt(2/pi) (z + 0.044715 z^3).
const float k_gelu_1 = 1.5957691216057308;  // 2 sqrt(2/pi)
const float k_gelu_3 = 1.5957691216057308 * 0.044715;

float sigmoid(float z) { return 1.0 / (1.0 + exp(-z)); }

float act(float z) {
#if ACT == 0
    return z * sigmoid(z);
#elif ACT == 1
    return z > 0.0 ? k_selu_lambda * z : k_selu_lambda * k_selu_alpha * (exp(z) - 1.0);
#elif ACT == 2
    return tanh(clamp(z, -15.0, 15.0));
#elif ACT == 3
    return max(z, 0.0);
#else
    return z * sigmoid(z * (k_gelu_1 + k_gelu_3 * z * z));
#endif
}

float act_grad(float z) {
#if ACT == 0
    float s = sigmoid(z);
    return s * (1.0 + z * (1.0 - s));
#elif ACT == 1
    return z > 0.0 ? k_selu_lambda : k_selu_lambda * k_selu_alpha * exp(z);
#elif ACT == 2
    float y = tanh(clamp(z, -15.0, 15.0));
    return 1.0 - y * y;
#elif ACT == 3
    return z > 0.0 ? 1.0 : 0.0;
#else
    float z2 = z * z;
    float s = sigmoid(z * (k_gelu_1 + k_gelu_3 * z2));
    return s + z * s * (1.0 - s) * (k_gelu_1 + 3.0 * k_gelu_3 * z2);
#endif
}

// Input feature c of (x, t) and class cls: x, y, t, the Fourier features of t, then (with
// CLASSES) a one-hot of K + 1 entries whose last, cls = K, is the null class (encode_input_row).
float input_feature(uint c, vec2 x, float t, uint cls) {
    if (c == 0u) return x.x;
    if (c == 1u) return x.y;
    if (c == 2u) return t;
#if CLASSES
    const uint hot = uint(IN_DIM - CLASSES - 1);
    if (c >= hot) return c - hot == cls ? 1.0 : 0.0;
#endif
    uint q = c - 3u;
    float w = 3.14159265358979324 * float(q / 2u + 1u);
    return (q % 2u) == 0u ? sin(w * t) : cos(w * t);
}
