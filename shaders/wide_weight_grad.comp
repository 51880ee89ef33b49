#version 430
// The wide-network pipeline's weight gradient of hidden layer u_layer, split over the batch:
// slice s (workgroup z) writes sum over its rows of G_l^T [h_l, 1] into its own gradient slice
// (dW_l and, from the ones column, db_l), which reduce_adam.comp adds in slice order with Adam.
layout(local_size_x = 256) in;

#include "mlp_layout.glsl"
#include "wide_layers.glsl"

layout(std430, binding = 3) readonly buffer Grads { float g[]; };
layout(std430, binding = 4) writeonly buffer Partials { float partials[]; };  // slices x PCOUNT
uniform uint u_g_in;         // G_l's half of the gradient buffer
uniform uint u_slice_rows;   // batch rows per slice

// A = G_l^T (m: output column j, k: batch row), stored with consecutive j adjacent.
float gemm_a(uint m, uint k) { return m < uint(WIDTH) ? g[u_g_in + k * uint(WIDTH) + m] : 0.0; }
// B = [h_l, 1] (k: batch row, n: input column <= K).
float gemm_b(uint k, uint n) { return n <= layer_in(u_layer) ? layer_input(u_layer, k, n) : 0.0; }
#define GEMM_A_K_FASTEST 0
#include "gemm_tile.glsl"

void main() {
    if (skipped()) return;
    uint slice = gl_WorkGroupID.z;
    uint r0 = slice * u_slice_rows, r1 = min(r0 + u_slice_rows, u_rows);
    uint m0 = gl_WorkGroupID.x * GEMM_BM, n0 = gl_WorkGroupID.y * GEMM_BN;
    vec4 acc[8];
    gemm_block(m0, n0, r0, r1, acc);
    uint tx = gl_LocalInvocationIndex % 16u, ty = gl_LocalInvocationIndex / 16u;
    uint base = slice * uint(PCOUNT) + w_off(u_layer);
    for (int i = 0; i < 8; ++i) {
        uint j = m0 + 8u * ty + uint(i);
        for (int c = 0; c < 4; ++c) {
            uint k = n0 + 4u * tx + uint(c);
            if (j < uint(WIDTH) && k <= layer_in(u_layer)) partials[base + k * uint(WIDTH) + j] = acc[i][c];
        }
    }
}
