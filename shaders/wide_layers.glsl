// The wide-network pipeline's stored activations: the batch rows wide_rows.comp wrote and every
// hidden layer's pre-activations z_l, from which a layer's input h_l is recomputed where a GEMM
// reads it (h_0 = the encoded input features, h_l = act(z_{l-1})). Needs mlp_layout.glsl.

// Per batch row two vec4: (x_t, t, class), (regression target, dL/dv once wide_output.comp ran).
layout(std430, binding = 1) buffer Rows { vec4 rows[]; };
// z_l of every row, layer after layer: DEPTH x B x WIDTH.
layout(std430, binding = 2) buffer Pre { float z[]; };

uniform uint u_rows;  // B, the batch's rows
uniform int u_layer;  // the hidden layer a pass works on

uint z_index(int l, uint r, uint k) { return (uint(l) * u_rows + r) * uint(WIDTH) + k; }

// Layer l's input at row r, column k <= K = layer_in(l); column K is the ones column that
// multiplies the bias (stored right after W in mlp.h's layout).
float layer_input(int l, uint r, uint k) {
    if (k == layer_in(l)) return 1.0;
    if (l == 0) {
        vec4 a = rows[2u * r];
        return input_feature(k, a.xy, a.z, uint(a.w));
    }
    return act(z[z_index(l - 1, r, k)]);
}

// The divergence flag reduce_adam.comp raises (after the loss ring): a guarded pass of a
// diverged run does nothing.
layout(std430, binding = 7) readonly buffer Health { uint health[]; };
uniform int u_guard;
bool skipped() { return u_guard != 0 && health[uint(RING) * 22u] != 0u; }
