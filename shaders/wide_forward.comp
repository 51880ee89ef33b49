#version 430
// The wide-network pipeline's forward GEMM of hidden layer u_layer over the whole batch:
// z_l = [h_l, 1] [W_l; b_l], h_l recomputed from the stored rows or z_{l-1} as it is staged.
layout(local_size_x = 256) in;

#include "mlp_layout.glsl"
#include "wide_layers.glsl"

layout(std430, binding = 0) readonly buffer Params { float params[]; };

float gemm_a(uint m, uint k) { return m < u_rows ? layer_input(u_layer, m, k) : 0.0; }
// Rows 0 .. K - 1 are W_l, row K its bias: b_off(l) = w_off(l) + K x WIDTH.
float gemm_b(uint k, uint n) { return n < uint(WIDTH) ? params[w_off(u_layer) + k * uint(WIDTH) + n] : 0.0; }
#define GEMM_A_K_FASTEST 1
#include "gemm_tile.glsl"

void main() {
    if (skipped()) return;
    uint m0 = gl_WorkGroupID.x * GEMM_BM, n0 = gl_WorkGroupID.y * GEMM_BN;
    vec4 acc[8];
    gemm_block(m0, n0, 0u, layer_in(u_layer) + 1u, acc);
    uint tx = gl_LocalInvocationIndex % 16u, ty = gl_LocalInvocationIndex / 16u;
    for (int i = 0; i < 8; ++i) {
        uint r = m0 + 8u * ty + uint(i);
        for (int c = 0; c < 4; ++c) {
            uint n = n0 + 4u * tx + uint(c);
            if (r < u_rows && n < uint(WIDTH)) z[z_index(u_layer, r, n)] = acc[i][c];
        }
    }
}
