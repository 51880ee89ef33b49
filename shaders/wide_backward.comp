#version 430
// The wide-network pipeline's backward GEMM through hidden layer u_layer >= 1:
// G_{l-1} = (G_l W_l^T) * act'(z_{l-1}), read from the transposed weight copy so loads coalesce.
layout(local_size_x = 256) in;

#include "mlp_layout.glsl"
#include "wide_layers.glsl"

layout(std430, binding = 0) readonly buffer ParamsT { float params_t[]; };  // W_l^T: out x in
layout(std430, binding = 3) buffer Grads { float g[]; };  // two B x WIDTH halves, in turn
uniform uint u_g_in, u_g_out;                             // the halves' offsets

float gemm_a(uint m, uint k) { return m < u_rows ? g[u_g_in + m * uint(WIDTH) + k] : 0.0; }
float gemm_b(uint k, uint n) { return n < uint(WIDTH) ? params_t[w_off(u_layer) + k * uint(WIDTH) + n] : 0.0; }
#define GEMM_A_K_FASTEST 1
#include "gemm_tile.glsl"

void main() {
    if (skipped()) return;
    uint m0 = gl_WorkGroupID.x * GEMM_BM, n0 = gl_WorkGroupID.y * GEMM_BN;
    vec4 acc[8];
    gemm_block(m0, n0, 0u, uint(WIDTH), acc);
    uint tx = gl_LocalInvocationIndex % 16u, ty = gl_LocalInvocationIndex / 16u;
    for (int i = 0; i < 8; ++i) {
        uint r = m0 + 8u * ty + uint(i);
        for (int c = 0; c < 4; ++c) {
            uint n = n0 + 4u * tx + uint(c);
            if (r < u_rows && n < uint(WIDTH))
                g[u_g_out + r * uint(WIDTH) + n] = acc[i][c] * act_grad(z[z_index(u_layer - 1, r, n)]);
        }
    }
}
