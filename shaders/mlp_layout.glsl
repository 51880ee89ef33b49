// The MLP's parameter layout and activations, shared by every shader that evaluates the network.
// Needs IN_DIM, WIDTH, DEPTH, ACT (0 SiLU, 1 SELU, 2 tanh, 3 ReLU, 4 GELU) and FOURIER_K defines.
// The layout is core/mlp.h's: per layer W (in x out, row-major) then b.

uint layer_in(int l) { return l == 0 ? uint(IN_DIM) : uint(WIDTH); }
uint layer_out(int l) { return l == DEPTH ? 2u : uint(WIDTH); }
uint w_off(int l) {
    return l == 0 ? 0u : uint(IN_DIM * WIDTH + WIDTH) + uint(l - 1) * uint(WIDTH * WIDTH + WIDTH);
}
uint b_off(int l) { return w_off(l) + layer_in(l) * layer_out(l); }

const float k_selu_lambda = 1.0507009873554805;
const float k_selu_alpha = 1.6732632423543772;

// erf by Abramowitz & Stegun 7.1.26 refined: GLSL has no erf; |error| < 1.5e-7.
float erf_approx(float x) {
    float s = sign(x);
    float a = abs(x);
    float t = 1.0 / (1.0 + 0.3275911 * a);
    float y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t +
                     0.254829592) * t * exp(-a * a);
    return s * y;
}

float act(float z) {
#if ACT == 0
    return z / (1.0 + exp(-z));
#elif ACT == 1
    return z > 0.0 ? k_selu_lambda * z : k_selu_lambda * k_selu_alpha * (exp(z) - 1.0);
#elif ACT == 2
    return tanh(clamp(z, -15.0, 15.0));
#elif ACT == 3
    return max(z, 0.0);
#else
    return 0.5 * z * (1.0 + erf_approx(z * 0.70710678118654752));
#endif
}

float act_grad(float z) {
#if ACT == 0
    float s = 1.0 / (1.0 + exp(-z));
    return s * (1.0 + z * (1.0 - s));
#elif ACT == 1
    return z > 0.0 ? k_selu_lambda : k_selu_lambda * k_selu_alpha * exp(z);
#elif ACT == 2
    float y = tanh(clamp(z, -15.0, 15.0));
    return 1.0 - y * y;
#elif ACT == 3
    return z > 0.0 ? 1.0 : 0.0;
#else
    const float inv_sqrt_2pi = 0.3989422804014327;
    return 0.5 * (1.0 + erf_approx(z * 0.70710678118654752)) + z * inv_sqrt_2pi * exp(-0.5 * z * z);
#endif
}

// Input feature c of (x, t): x, y, t, then the Fourier features of t.
float input_feature(uint c, vec2 x, float t) {
    if (c == 0u) return x.x;
    if (c == 1u) return x.y;
    if (c == 2u) return t;
    uint q = c - 3u;
    float w = 3.14159265358979324 * float(q / 2u + 1u);
    return (q % 2u) == 0u ? sin(w * t) : cos(w * t);
}
