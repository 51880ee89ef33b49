#version 430
// v_theta and its exact divergence by forward-mode differentiation: on points (u_mode 0), or
// integrating the augmented ODE dx/dt = v, dl/dt = div v in place through all steps of a
// fixed-step solve (u_mode 1), so a likelihood grid is one dispatch and one readback.
//
// A workgroup carries PT points through every stage of every step. Its tile has TILE = 3 PT rows:
// [0, PT) the activations a, [PT, 2 PT) their tangents d/dx, [2 PT, 3 PT) d/dy; each hidden
// layer multiplies all three by the same weights (one register-tiled GEMM, as in mlp_tile.glsl):
//   z = a W + b,  a' = act(z),  da' = act'(z) * (da W).
// With PT a multiple of TY, invocation (tx, ty) owns value row r = ty + TY i (i < RMP) and both
// of its tangent rows (r + PT, r + 2 PT: accumulators i + RMP and i + 2 RMP), so act'(z) scales
// the tangents in registers. The time features do not depend on x: the tangents of the first
// layer's z are W_0's rows for x and y. div v = da_x . W_out[:, x] + da_y . W_out[:, y].
// Needs PT and OUT_SPLIT besides the defines of mlp_layout.glsl and mlp_tile.glsl (TILE = 3 PT,
// RM = TILE / TY).
layout(local_size_x = WG) in;

#include "mlp_layout.glsl"
#define ACT_BASE (gl_WorkGroupID.x * uint(2 * TILE * MAXD))
#include "mlp_tile.glsl"
#include "path_coefficients.glsl"

layout(std430, binding = 1) buffer Points { vec2 points[]; };
layout(std430, binding = 2) writeonly buffer Velocities { vec2 velocities[]; };
layout(std430, binding = 4) buffer Divergences { float divs[]; };

uniform int u_mode;    // 0: velocities, divs = v, div v at (points, u_t); 1: integrate points, divs
uniform uint u_count;  // number of points
uniform float u_t;     // mode 0: the time; mode 1: the start time
uniform float u_h;     // mode 1: the step (negative integrates backward)
uniform int u_steps;   // mode 1: steps in this dispatch
uniform int u_solver;  // 0 Euler, 1 midpoint, 2 Heun, 3 RK4
uniform int u_first;   // mode 1: 1 starts l at 0, 0 continues from divs (a later dispatch)

#define RMP (PT / TY)  // value rows per invocation

shared float s_div[PT];  // the divergence per point

// Stores a' = act(z) and the scaled tangents of a TX*RN-column chunk into buffer bo.
void store_chunk(int bo, uint j0, uint tx, uint ty, float acc[RM][RN]) {
    for (int i = 0; i < RMP; ++i) {
        uint r = ty + uint(TY * i);
        for (int c = 0; c < RN; ++c) {
            uint j = j0 + tx + uint(TX * c);
            if (j < uint(WIDTH)) {
                float z = acc[i][c];
                float d = act_grad(z);
                ACT_AT(bo, r, j) = act(z);
                ACT_AT(bo, r + uint(PT), j) = d * acc[i + RMP][c];
                ACT_AT(bo, r + uint(2 * PT), j) = d * acc[i + 2 * RMP][c];
            }
        }
    }
}

// The first layer from the input features in buffer 0's value rows into buffer 1.
void input_layer() {
    uint tx = gl_LocalInvocationIndex % uint(TX);
    uint ty = gl_LocalInvocationIndex / uint(TX);
    uint bias_off = b_off(0);
    for (uint j0 = 0u; j0 < DYN(WIDTH); j0 += uint(TX * RN)) {
        float acc[RM][RN];
        for (int c = 0; c < RN; ++c) {
            uint j = j0 + tx + uint(TX * c);
            bool in_range = j < uint(WIDTH);
            float bias = in_range ? params[bias_off + j] : 0.0;
            float dx = in_range ? params[j] : 0.0;               // W_0[0][j]: dz/dx
            float dy = in_range ? params[uint(WIDTH) + j] : 0.0;  // W_0[1][j]: dz/dy
            for (int i = 0; i < RMP; ++i) {
                acc[i][c] = bias;
                acc[i + RMP][c] = dx;
                acc[i + 2 * RMP][c] = dy;
            }
        }
        for (uint k = 0u; k < DYN(IN_DIM); ++k) {
            float w[RN];
            for (int c = 0; c < RN; ++c) {
                uint j = j0 + tx + uint(TX * c);
                w[c] = j < uint(WIDTH) ? params[k * uint(WIDTH) + j] : 0.0;
            }
            for (int i = 0; i < RMP; ++i) {
                float a = ACT_AT(0, ty + uint(TY * i), k);
                for (int c = 0; c < RN; ++c) acc[i][c] = fma(a, w[c], acc[i][c]);
            }
        }
        store_chunk(1, j0, tx, ty, acc);
    }
    SYNC();
}

// Hidden layer l >= 1 from buffer bi to buffer bo: values and tangents through W_l together.
void hidden_layer(int l, int bi, int bo) {
    uint tx = gl_LocalInvocationIndex % uint(TX);
    uint ty = gl_LocalInvocationIndex / uint(TX);
    uint wo = w_off(l);
    uint bias_off = b_off(l);
    for (uint j0 = 0u; j0 < DYN(WIDTH); j0 += uint(TX * RN)) {
        float acc[RM][RN];
        for (int c = 0; c < RN; ++c) {
            uint j = j0 + tx + uint(TX * c);
            float bias = j < uint(WIDTH) ? params[bias_off + j] : 0.0;
            for (int i = 0; i < RM; ++i) acc[i][c] = i < RMP ? bias : 0.0;
        }
        for (uint k = 0u; k < DYN(WIDTH); ++k) {
            float w[RN];
            for (int c = 0; c < RN; ++c) {
                uint j = j0 + tx + uint(TX * c);
                w[c] = j < uint(WIDTH) ? params[wo + k * uint(WIDTH) + j] : 0.0;
            }
            for (int i = 0; i < RM; ++i) {
                float a = ACT_AT(bi, ty + uint(TY * i), k);
                for (int c = 0; c < RN; ++c) acc[i][c] = fma(a, w[c], acc[i][c]);
            }
        }
        store_chunk(bo, j0, tx, ty, acc);
    }
    SYNC();
}

// s_out = a W_out + b_out and s_div from buffer bi: 3 PT dot products (v_x, v_y, div per point),
// each split into OUT_SPLIT strided partial sums kept in the other buffer, then summed.
void output_layer(int bi) {
    int bp = 1 - bi;
    uint wo = w_off(DEPTH);
    uint lid = gl_LocalInvocationIndex;
    for (uint e = lid; e < uint(3 * PT * OUT_SPLIT); e += uint(WG)) {
        uint q = e / uint(OUT_SPLIT), part = e % uint(OUT_SPLIT);
        uint kind = q / uint(PT), r = q % uint(PT);
        float s = 0.0;
        if (kind < 2u) {
            for (uint k = part; k < DYN(WIDTH); k += uint(OUT_SPLIT))
                s = fma(ACT_AT(bi, r, k), params[wo + k * 2u + kind], s);
        } else {
            for (uint k = part; k < DYN(WIDTH); k += uint(OUT_SPLIT)) {
                s = fma(ACT_AT(bi, r + uint(PT), k), params[wo + k * 2u], s);
                s = fma(ACT_AT(bi, r + uint(2 * PT), k), params[wo + k * 2u + 1u], s);
            }
        }
        ACT_AT(bp, 0u, e) = s;
    }
    SYNC();
    if (lid < uint(3 * PT)) {
        uint kind = lid / uint(PT), r = lid % uint(PT);
        float s = kind < 2u ? params[b_off(DEPTH) + kind] : 0.0;
        for (uint p = 0u; p < uint(OUT_SPLIT); ++p) s += ACT_AT(bp, 0u, lid * uint(OUT_SPLIT) + p);
        if (kind < 2u)
            s_out[r][kind] = s;
        else
            s_div[r] = s;
    }
    SYNC();
    if (u_prediction != 0) {
        // The output is a prediction: v = a x + b f, div v = 2 a + b div f (prediction.h).
        if (lid < uint(PT)) {
            vec2 ab = prediction_affine(s_tin[lid]);
            s_out[lid] = ab.x * s_in[lid] + ab.y * s_out[lid];
            s_div[lid] = 2.0 * ab.x + ab.y * s_div[lid];
        }
        SYNC();
    }
}

// v and div v of the tile's points (s_in, s_tin) in class cls into s_out and s_div. The class
// one-hot does not depend on x, so the tangents start from W_0's x and y rows as without it.
void divergence_tile(uint cls) {
    for (uint e = gl_LocalInvocationIndex; e < uint(PT * IN_DIM); e += uint(WG)) {
        uint r = e / uint(IN_DIM), c = e % uint(IN_DIM);
        ACT_AT(0, r, c) = input_feature(c, s_in[r], s_tin[r], cls);
    }
    SYNC();
    input_layer();
    for (int l = 1; l < int(DYN(DEPTH)); ++l) hidden_layer(l, l % 2, (l + 1) % 2);
    output_layer(DEPTH % 2);
}

// The learned field's v and div v (u_class, u_guidance as in field_forward_tile): guided, two
// passes combined after output_layer's conversion, v_null + w (v_class - v_null) and div alike
// (the divergence is linear in the field), as Mlp::evaluate_divergence does.
void field_divergence_tile() {
#if CLASSES
    uint lid = gl_LocalInvocationIndex;
    bool owner = lid < uint(PT);
    if (u_class < uint(CLASSES) && u_guidance != 1.0) {
        divergence_tile(uint(CLASSES));
        // Each owner keeps its own point; the second pass writes s_out, s_div only after barriers.
        vec2 v_null = owner ? s_out[lid] : vec2(0.0);
        float div_null = owner ? s_div[lid] : 0.0;
        SYNC();
        divergence_tile(u_class);
        if (owner) {
            s_out[lid] = v_null + u_guidance * (s_out[lid] - v_null);
            s_div[lid] = div_null + u_guidance * (s_div[lid] - div_null);
        }
        SYNC();
        return;
    }
    divergence_tile(u_class);
#else
    divergence_tile(0u);
#endif
}

void main() {
    uint lid = gl_LocalInvocationIndex;
    uint tiles = (u_count + uint(PT) - 1u) / uint(PT);

    // The Butcher tableaux of mlp_field.comp: stage s evaluates at x + a[s] h k_{s-1}, time
    // t + c[s] h; the step adds h sum_s b[s] k_s, and l adds h sum_s b[s] div_s alike.
    int stages = u_solver == 0 ? 1 : (u_solver == 3 ? 4 : 2);
    float a[4], c[4], b[4];
    if (u_solver == 0) {
        a = float[4](0.0, 0.0, 0.0, 0.0); c = a; b = float[4](1.0, 0.0, 0.0, 0.0);
    } else if (u_solver == 1) {
        a = float[4](0.0, 0.5, 0.0, 0.0); c = a; b = float[4](0.0, 1.0, 0.0, 0.0);
    } else if (u_solver == 2) {
        a = float[4](0.0, 1.0, 0.0, 0.0); c = a; b = float[4](0.5, 0.5, 0.0, 0.0);
    } else {
        a = float[4](0.0, 0.5, 0.5, 1.0); c = a;
        b = float[4](1.0 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0);
    }

    for (uint tile = gl_WorkGroupID.x; tile < tiles; tile += gl_NumWorkGroups.x) {
        uint i = tile * uint(PT) + lid;
        bool owner = lid < uint(PT);
        bool valid = owner && i < u_count;
        vec2 x = valid ? points[i] : vec2(0.0);
        if (u_mode == 0) {
            if (owner) { s_in[lid] = x; s_tin[lid] = u_t; }
            SYNC();
            field_divergence_tile();
            if (valid) { velocities[i] = s_out[lid]; divs[i] = s_div[lid]; }
            SYNC();
            continue;
        }
        float l = valid && u_first == 0 ? divs[i] : 0.0;
        for (int step = 0; step < u_steps; ++step) {
            float t = u_t + float(step) * u_h;
            vec2 k = vec2(0.0), sum = vec2(0.0);
            float dsum = 0.0;
            for (int s = 0; s < stages; ++s) {
                if (owner) { s_in[lid] = x + a[s] * u_h * k; s_tin[lid] = t + c[s] * u_h; }
                SYNC();
                field_divergence_tile();
                if (owner) {
                    k = s_out[lid];
                    sum += b[s] * k;
                    dsum += b[s] * s_div[lid];
                }
            }
            x += u_h * sum;
            l += u_h * dsum;
        }
        if (valid) { points[i] = x; divs[i] = l; }
        SYNC();
    }
}
