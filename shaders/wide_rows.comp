#version 430
// The wide-network pipeline's first pass: this step's batch rows (x_t, t, class, regression
// target), sampled on the GPU or read from the uploaded batch exactly as the fused pass does.
layout(local_size_x = 256) in;

#include "mlp_layout.glsl"

layout(std430, binding = 4) readonly buffer Pools { vec2 pools[]; };
layout(std430, binding = 5) readonly buffer BatchData { float batch[]; };
#include "path_coefficients.glsl"
#include "batch_row.glsl"
#include "wide_layers.glsl"

void main() {
    if (skipped()) return;
    uint i = gl_GlobalInvocationID.x;
    if (i >= u_batch) return;
    BatchRow r = batch_row(i);
    rows[2u * i] = vec4(r.xt, r.t, float(r.cls));
    rows[2u * i + 1u] = vec4(r.u, 0.0, 0.0);
}
