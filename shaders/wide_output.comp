#version 430
// The wide-network pipeline's output layer. u_mode 0: per 32 rows, v = h_D W_out + b_out, the
// loss statistics (as the fused pass writes them), dL/dv = 2 (v - u) / B into the rows, and
// G_{D-1} = (dL/dv W_out^T) * act'(z_{D-1}). u_mode 1: per batch slice, the output layer's
// gradient slice. u_mode 2: dL/dx of each row from G_0.
layout(local_size_x = 256) in;

#include "mlp_layout.glsl"
#include "wide_layers.glsl"

layout(std430, binding = 0) readonly buffer Params { float params[]; };
layout(std430, binding = 3) buffer Grads { float g[]; };
layout(std430, binding = 4) writeonly buffer Partials { float partials[]; };
layout(std430, binding = 6) writeonly buffer GroupStats { float stats[]; };  // per 32 rows x 21, then dL/dx
uniform int u_mode;
uniform uint u_g_out;        // mode 0: where G_{D-1} goes; mode 2: where G_0 is
uniform uint u_slice_rows;   // mode 1
uniform uint u_dx_offset;    // mode 2

const uint ROWS = 32u;
const uint PARTS = 256u / ROWS / 2u;  // partial sums per output dot product
shared float s_part[ROWS * 2u * PARTS];
shared vec2 s_dv[ROWS];
shared float s_loss[ROWS];
shared float s_t[ROWS];

float h_last(uint r, uint k) { return act(z[z_index(DEPTH - 1, r, k)]); }

void output_rows() {
    uint lid = gl_LocalInvocationIndex;
    uint r0 = gl_WorkGroupID.x * ROWS;
    uint wo = w_off(DEPTH), bo = b_off(DEPTH);
    {
        uint q = lid / (2u * PARTS), o = (lid / PARTS) % 2u, part = lid % PARTS;
        uint r = r0 + q;
        float v = 0.0;
        if (r < u_rows)
            for (uint k = part; k < DYN(WIDTH); k += PARTS) v = fma(h_last(r, k), params[wo + 2u * k + o], v);
        s_part[lid] = v;
    }
    memoryBarrierShared();
    barrier();
    float inv_batch = 1.0 / float(u_rows);
    if (lid < ROWS) {
        uint r = r0 + lid;
        vec2 v = vec2(params[bo], params[bo + 1u]);
        for (uint part = 0u; part < PARTS; ++part) {
            v.x += s_part[(lid * 2u) * PARTS + part];
            v.y += s_part[(lid * 2u + 1u) * PARTS + part];
        }
        bool valid = r < u_rows;
        vec2 d = valid ? v - rows[2u * r + 1u].xy : vec2(0.0);
        s_dv[lid] = 2.0 * inv_batch * d;
        s_loss[lid] = dot(d, d);
        s_t[lid] = valid ? rows[2u * r].z : 0.0;
        if (valid) rows[2u * r + 1u].zw = s_dv[lid];
    }
    memoryBarrierShared();
    barrier();
    // Invocation q < 10 sums time bin q's loss and count, invocation 10 the total (the fused
    // pass's layout: reduce_adam.comp adds the groups' statistics).
    if (lid <= 10u) {
        float sum = 0.0, count = 0.0;
        for (uint q = 0u; q < ROWS; ++q) {
            if (r0 + q >= u_rows) break;
            uint bin = min(uint(s_t[q] * 10.0), 9u);
            if (lid == 10u || bin == lid) { sum += s_loss[q]; count += 1.0; }
        }
        uint base = gl_WorkGroupID.x * 21u;
        if (lid < 10u) {
            stats[base + 1u + lid] = sum;
            stats[base + 11u + lid] = count;
        } else {
            stats[base] = sum * inv_batch;
        }
    }
    for (uint e = lid; e < ROWS * uint(WIDTH); e += 256u) {
        uint q = e / uint(WIDTH), k = e % uint(WIDTH);
        uint r = r0 + q;
        if (r >= u_rows) continue;
        float d = s_dv[q].x * params[wo + 2u * k] + s_dv[q].y * params[wo + 2u * k + 1u];
        g[u_g_out + r * uint(WIDTH) + k] = d * act_grad(z[z_index(DEPTH - 1, r, k)]);
    }
}

void output_gradient_slice() {
    uint slice = gl_WorkGroupID.x;
    uint r0 = slice * u_slice_rows, r1 = min(r0 + u_slice_rows, u_rows);
    uint base = slice * uint(PCOUNT) + w_off(DEPTH);
    // dW_out (WIDTH x 2) then db_out (2): contiguous in mlp.h's layout.
    for (uint e = gl_LocalInvocationIndex; e < uint(WIDTH * 2 + 2); e += 256u) {
        float s = 0.0;
        if (e < uint(WIDTH * 2)) {
            uint k = e / 2u, o = e % 2u;
            for (uint r = r0; r < r1; ++r) s = fma(h_last(r, k), rows[2u * r + 1u][2u + o], s);
        } else {
            uint o = e - uint(WIDTH * 2);
            for (uint r = r0; r < r1; ++r) s += rows[2u * r + 1u][2u + o];
        }
        partials[base + e] = s;
    }
}

void input_gradient() {
    uint r = gl_GlobalInvocationID.x;
    if (r >= u_rows) return;
    // Only the spatial inputs (the Fourier features depend on t alone): rows 0 and 1 of W_0.
    for (uint c = 0u; c < 2u; ++c) {
        float s = 0.0;
        for (uint j = 0u; j < DYN(WIDTH); ++j) s = fma(g[u_g_out + r * uint(WIDTH) + j], params[c * uint(WIDTH) + j], s);
        stats[u_dx_offset + 2u * r + c] = s;
    }
}

void main() {
    if (skipped()) return;
    if (u_mode == 0)
        output_rows();
    else if (u_mode == 1)
        output_gradient_slice();
    else
        input_gradient();
}
