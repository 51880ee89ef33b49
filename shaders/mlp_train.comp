#version 430
// One fused CFM training pass: each workgroup samples (or reads) TILE batch rows, carries them
// forward through every layer, computes the loss, and back through every layer, accumulating its
// partial parameter gradients in its own slice of the partials buffer (no atomics; a group
// handles tiles g, g + groups, ... so the partials stay bounded for any batch). reduce_adam.comp
// then sums the slices and updates the weights. Hidden-layer GEMMs are register-tiled as in
// mlp_tile.glsl; backprop reads the transposed weight copy so its loads coalesce too.
layout(local_size_x = WG) in;

#include "mlp_layout.glsl"

// The group's scratch slice: saved pre-activations z_l (l < DEPTH) of the current tile, then
// the spilled activations if they do not fit in shared memory.
#define SCRATCH_PER_GROUP (uint(DEPTH * TILE * WIDTH) + (SHARED_ACTS != 0 ? 0u : uint(2 * TILE * MAXD)))
#define PRE_BASE (gl_WorkGroupID.x * SCRATCH_PER_GROUP)
#define ACT_BASE (PRE_BASE + uint(DEPTH * TILE * WIDTH))
#define PRE_AT(l, r, j) g_scratch[PRE_BASE + ((uint(l) * uint(TILE) + (r)) * uint(WIDTH) + (j))]
#define SAVE_PRE(l, r, j, z) PRE_AT(l, r, j) = (z)

#include "mlp_tile.glsl"

layout(std430, binding = 1) readonly buffer ParamsT { float params_t[]; };  // W^T per layer
layout(std430, binding = 2) buffer Partials { float partials[]; };          // groups x PCOUNT
// The source and target points, then (with CLASSES) each target point's class as (class, 0).
layout(std430, binding = 4) readonly buffer Pools { vec2 pools[]; };
// x0 | x1 | t | [noise] | [class per row (CLASSES)]
layout(std430, binding = 5) readonly buffer BatchData { float batch[]; };
layout(std430, binding = 6) buffer GroupStats { float stats[]; };           // groups x 21, then dL/dx
// The loss ring; word HEALTH, after it, is the divergence flag reduce_adam.comp raises.
layout(std430, binding = 7) readonly buffer Health { uint health[]; };
const uint HEALTH = uint(RING) * 22u;

uniform int u_want_dx;         // write dL/dx after the group stats
uniform int u_guard;           // 1: a training step, which a diverged run skips
uniform uint u_dx_offset;
#include "path_coefficients.glsl"
#include "batch_row.glsl"

shared vec2 s_u[TILE];       // the regression target per row
shared vec2 s_dv[TILE];      // dL/dv per row
shared float s_loss[TILE];   // |v - u|^2 per row (0 for rows past the batch)

// Loads (or samples) row r of the tile: s_in = x_t, s_tin = t, s_u = the regression target,
// s_cls = the class (CLASSES).
void load_row(uint r, uint i) {
#if CLASSES
    s_cls[r] = uint(CLASSES);
#endif
    if (i >= u_batch) {
        s_in[r] = vec2(0.0); s_tin[r] = 0.0; s_u[r] = vec2(0.0);
        return;
    }
    BatchRow row = batch_row(i);
    s_in[r] = row.xt;
    s_tin[r] = row.t;
    s_u[r] = row.u;
#if CLASSES
    s_cls[r] = row.cls;
#endif
}

// Columns k .. k + 3 of row r of buffer b (k a multiple of 4); zeros when k >= K. Columns
// k + 1 .. k + 3 may lie past K: their products land in outputs that are never written.
vec4 act4_from(int b, uint r, uint k, uint K) {
#if SHARED_ACTS
    return k < K ? ACT4_AT(b, r, k) : vec4(0.0);
#else
    return vec4(ACT_AT(b, r, min(k, K - 1u)), ACT_AT(b, r, min(k + 1u, K - 1u)),
                ACT_AT(b, r, min(k + 2u, K - 1u)), ACT_AT(b, r, min(k + 3u, K - 1u)));
#endif
}

// dL/dW_l += A^T G and dL/db_l += colsum(G) for hidden layer l, A in buffer ab, G in buffer gb.
// Invocation (tx, ty) owns KM consecutive inputs k = k0 + KM*ty + i (read four at a time) and
// outputs j = tx + TX*c: KM x RN products per pair of reads.
void hidden_weight_grad(int l, int ab, int gb, uint pbase, bool first) {
    uint tx = gl_LocalInvocationIndex % uint(TX);
    uint ty = gl_LocalInvocationIndex / uint(TX);
    uint K = layer_in(l);
    uint wo = w_off(l);
    for (uint k0 = 0u; k0 < K; k0 += uint(TY * KM)) {
        uint kb = k0 + ty * uint(KM);
        for (uint j0 = 0u; j0 < DYN(WIDTH); j0 += uint(TX * RN)) {
            float acc[KM][RN];
            for (int i = 0; i < KM; ++i)
                for (int c = 0; c < RN; ++c) acc[i][c] = 0.0;
            for (uint r = 0u; r < DYN(TILE); ++r) {
                float g[RN];
                for (int c = 0; c < RN; ++c) {
                    uint j = min(j0 + tx + uint(TX * c), uint(WIDTH) - 1u);
                    g[c] = ACT_AT(gb, r, j);
                }
                for (int q = 0; q < KM / 4; ++q) {
                    vec4 a = act4_from(ab, r, kb + uint(4 * q), K);
                    for (int e = 0; e < 4; ++e)
                        for (int c = 0; c < RN; ++c) acc[4 * q + e][c] = fma(a[e], g[c], acc[4 * q + e][c]);
                }
            }
            for (int i = 0; i < KM; ++i) {
                uint k = kb + uint(i);
                for (int c = 0; c < RN; ++c) {
                    uint j = j0 + tx + uint(TX * c);
                    if (k < K && j < uint(WIDTH)) {
                        uint idx = pbase + wo + k * uint(WIDTH) + j;
                        partials[idx] = first ? acc[i][c] : partials[idx] + acc[i][c];
                    }
                }
            }
        }
    }
    uint bo = b_off(l);
    for (uint j = gl_LocalInvocationIndex; j < uint(WIDTH); j += uint(WG)) {
        float s = 0.0;
        for (uint r = 0u; r < DYN(TILE); ++r) s += ACT_AT(gb, r, j);
        uint idx = pbase + bo + j;
        partials[idx] = first ? s : partials[idx] + s;
    }
}

// Buffer ab <- (G W_l^T) * act'(z_{l-1}) for hidden layer l >= 1, G in buffer gb.
void hidden_backprop(int l, int gb, int ab) {
    uint tx = gl_LocalInvocationIndex % uint(TX);
    uint ty = gl_LocalInvocationIndex / uint(TX);
    uint wo = w_off(l);  // W_l^T is out x in row-major at the same offset in params_t
    for (uint k0 = 0u; k0 < DYN(WIDTH); k0 += uint(TX * RN)) {
        float acc[RM][RN];
        for (int i = 0; i < RM; ++i)
            for (int c = 0; c < RN; ++c) acc[i][c] = 0.0;
#if STAGE_KP
        for (uint j0 = 0u; j0 < DYN(WIDTH); j0 += uint(STAGE_KP)) {
            STAGE_PANEL(params_t, wo, uint(WIDTH), uint(WIDTH), j0, k0)
            SYNC();
            panel_fma(gb, j0, min(uint(STAGE_KP), uint(WIDTH) - j0), tx, ty, acc);
            SYNC();
        }
#else
        for (uint j = 0u; j < DYN(WIDTH); ++j) {
            float w[RN];
            for (int c = 0; c < RN; ++c) {
                uint k = k0 + tx + uint(TX * c);
                w[c] = k < uint(WIDTH) ? params_t[wo + j * uint(WIDTH) + k] : 0.0;
            }
            for (int i = 0; i < RM; ++i) {
                float g = ACT_AT(gb, ty + uint(TY * i), j);
                for (int c = 0; c < RN; ++c) acc[i][c] = fma(g, w[c], acc[i][c]);
            }
        }
#endif
        for (int i = 0; i < RM; ++i) {
            uint r = ty + uint(TY * i);
            for (int c = 0; c < RN; ++c) {
                uint k = k0 + tx + uint(TX * c);
                if (k < uint(WIDTH)) ACT_AT(ab, r, k) = acc[i][c] * act_grad(PRE_AT(l - 1, r, k));
            }
        }
    }
}

void main() {
    // Steps queued after a divergence cost nothing; the whole group leaves before any barrier.
    if (u_guard != 0 && health[HEALTH] != 0u) return;
    uint lid = gl_LocalInvocationIndex;
    uint group = gl_WorkGroupID.x;
    uint pbase = group * uint(PCOUNT);
    uint tiles = (u_batch + uint(TILE) - 1u) / uint(TILE);
    float inv_batch = 1.0 / float(u_batch);
    // Invocation q < 10 accumulates time bin q's loss sum and count; invocation 10 the total.
    float stat_sum = 0.0, stat_count = 0.0;
    bool first = true;

    for (uint tile = group; tile < tiles; tile += gl_NumWorkGroups.x) {
        if (lid < uint(TILE)) load_row(lid, tile * uint(TILE) + lid);
        SYNC();
        int hb = forward_tile();

        // The loss and dL/dv = 2 (v - u) / B.
        if (lid < uint(TILE)) {
            bool valid = tile * uint(TILE) + lid < u_batch;
            vec2 d = valid ? s_out[lid] - s_u[lid] : vec2(0.0);
            s_dv[lid] = 2.0 * inv_batch * d;
            s_loss[lid] = dot(d, d);
        }
        SYNC();
        if (lid <= 10u) {
            for (uint r = 0u; r < DYN(TILE); ++r) {
                if (tile * uint(TILE) + r >= u_batch) break;
                uint bin = min(uint(s_tin[r] * 10.0), 9u);
                if (lid == 10u || bin == lid) { stat_sum += s_loss[r]; stat_count += 1.0; }
            }
        }

        // Output layer: dW_out = h^T dv, db_out = colsum(dv).
        uint wo = w_off(DEPTH);
        for (uint e = lid; e < uint(WIDTH * 2 + 2); e += uint(WG)) {
            float s = 0.0;
            uint idx;
            if (e < uint(WIDTH * 2)) {
                uint k = e / 2u, o = e % 2u;
                for (uint r = 0u; r < DYN(TILE); ++r) s = fma(ACT_AT(hb, r, k), s_dv[r][o], s);
                idx = pbase + wo + e;
            } else {
                uint o = e - uint(WIDTH * 2);
                for (uint r = 0u; r < DYN(TILE); ++r) s += s_dv[r][o];
                idx = pbase + b_off(DEPTH) + o;
            }
            partials[idx] = first ? s : partials[idx] + s;
        }
        SYNC();
        // G_{DEPTH-1} = (dv W_out^T) * act'(z_{DEPTH-1}), in place of h. Every pass over the
        // saved pre-activations maps (row, column) to invocations as the forward GEMM did, so
        // each invocation reads only what it wrote (the scratch buffer needs no coherence).
        uint tx = lid % uint(TX), ty = lid / uint(TX);
        for (uint j0 = 0u; j0 < DYN(WIDTH); j0 += uint(TX * RN))
            for (int c = 0; c < RN; ++c) {
                uint k = j0 + tx + uint(TX * c);
                if (k >= uint(WIDTH)) continue;
                float w0 = params[wo + 2u * k], w1 = params[wo + 2u * k + 1u];
                for (int i = 0; i < RM; ++i) {
                    uint r = ty + uint(TY * i);
                    float d = s_dv[r].x * w0 + s_dv[r].y * w1;
                    ACT_AT(hb, r, k) = d * act_grad(PRE_AT(DEPTH - 1, r, k));
                }
            }
        SYNC();

        int gb = hb;
        for (int l = int(DYN(DEPTH)) - 1; l >= 0; --l) {
            int ab = 1 - gb;
            // The layer's input h_l: the encoded inputs, or act(z_{l-1}).
            if (l == 0) {
                encode_tile(ab);
            } else {
                for (uint j0 = 0u; j0 < DYN(WIDTH); j0 += uint(TX * RN))
                    for (int c = 0; c < RN; ++c) {
                        uint k = j0 + tx + uint(TX * c);
                        if (k >= uint(WIDTH)) continue;
                        for (int i = 0; i < RM; ++i) {
                            uint r = ty + uint(TY * i);
                            ACT_AT(ab, r, k) = act(PRE_AT(l - 1, r, k));
                        }
                    }
                SYNC();
            }
            hidden_weight_grad(l, ab, gb, pbase, first);
            SYNC();
            if (l == 0) break;
            hidden_backprop(l, gb, ab);
            SYNC();
            gb = ab;
        }
        // dL/dx: only the spatial inputs (the Fourier features depend on t alone).
        if (u_want_dx != 0) {
            for (uint e = lid; e < uint(TILE * 2); e += uint(WG)) {
                uint r = e / 2u, c = e % 2u;
                uint i = tile * uint(TILE) + r;
                float s = 0.0;
                for (uint j = 0u; j < DYN(WIDTH); ++j) s = fma(ACT_AT(gb, r, j), params[c * uint(WIDTH) + j], s);
                if (i < u_batch) stats[u_dx_offset + 2u * i + c] = s;
            }
        }
        SYNC();
        first = false;
    }
    if (lid < 10u) {
        stats[group * 21u + 1u + lid] = stat_sum;
        stats[group * 21u + 11u + lid] = stat_count;
    } else if (lid == 10u) {
        stats[group * 21u] = stat_sum * inv_batch;
    }
}
