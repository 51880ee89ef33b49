#version 430
// One stage of an embedded Runge-Kutta pair (dopri5) on the particle buffer, for the host's
// step-size controller (drive_embedded_pair in core/flow/ode_solver.h). Stage s evaluates
//   k_s = v_theta(x + h sum_{j<s} a[s][j] k_j, t + c[s] h)
// for every particle; the last (FSAL) stage's input is the candidate x_new = x + h sum b_j k_j,
// which it keeps, and it sums the scaled error of the pair per workgroup:
//   e = h sum (b_j - b*_j) k_j,  sc = tol (1 + max(|x|, |x_new|)),  sum over the group of |e/sc|^2
// so the host reads back one float per workgroup, not the particles.
layout(local_size_x = WG) in;

#include "mlp_layout.glsl"
#define ACT_BASE (gl_WorkGroupID.x * uint(2 * TILE * MAXD))
#include "mlp_tile.glsl"
#include "path_coefficients.glsl"

layout(std430, binding = 1) readonly buffer Points { vec2 points[]; };
// Stage s of particle i at s * u_count + i.
layout(std430, binding = 2) buffer Stages { vec2 k[]; };
layout(std430, binding = 4) writeonly buffer Candidate { vec2 candidate[]; };
layout(std430, binding = 5) writeonly buffer ErrorSums { float error_sums[]; };

uniform uint u_count;  // particles
uniform int u_stage;   // s: 0 .. stages-1
uniform float u_t;     // the step's start time
uniform float u_h;     // the step (negative integrates backward)
uniform float u_a[8];  // row s of a (entries j < s)
uniform float u_c;     // c[s]
uniform int u_last;    // 1 for the FSAL stage: keep the candidate, sum the error
uniform float u_e[8];  // b - b*, per stage (u_last only)
uniform float u_tol;   // the tolerance (u_last only)

shared float s_err[TILE];

void main() {
    uint lid = gl_LocalInvocationIndex;
    uint tiles = (u_count + uint(TILE) - 1u) / uint(TILE);
    float group_sum = 0.0;  // invocation 0's is written
    for (uint tile = gl_WorkGroupID.x; tile < tiles; tile += gl_NumWorkGroups.x) {
        uint i = tile * uint(TILE) + lid;
        bool owner = lid < uint(TILE);
        bool valid = owner && i < u_count;
        vec2 x = valid ? points[i] : vec2(0.0);
        // The same order of additions as the CPU's stage, so both round alike.
        vec2 y = x;
        if (valid)
            for (int j = 0; j < u_stage; ++j) y += (u_h * u_a[j]) * k[uint(j) * u_count + i];
        if (owner) {
            s_in[lid] = y;
            s_tin[lid] = u_t + u_c * u_h;
        }
        SYNC();
        field_forward_tile(tile * uint(TILE));
        if (owner) s_err[lid] = 0.0;
        if (valid) {
            vec2 ks = prediction_to_velocity(s_out[lid], y, u_t + u_c * u_h);
            k[uint(u_stage) * u_count + i] = ks;
            if (u_last == 1) {
                candidate[i] = y;
                vec2 e = vec2(0.0);
                for (int j = 0; j < u_stage; ++j) e += (u_h * u_e[j]) * k[uint(j) * u_count + i];
                e += (u_h * u_e[u_stage]) * ks;
                vec2 r = e / (u_tol * (1.0 + max(abs(x), abs(y))));
                s_err[lid] = dot(r, r);
            }
        }
        SYNC();
        if (u_last == 1 && lid == 0u)
            for (int r = 0; r < TILE; ++r) group_sum += s_err[r];
        SYNC();
    }
    if (u_last == 1 && lid == 0u) error_sums[gl_WorkGroupID.x] = group_sum;
}
