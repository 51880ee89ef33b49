#version 430
// Evaluates v_theta on points (u_mode 0) or integrates particles in place through all steps of
// an ODE solve (u_mode 1). A workgroup carries a tile of TILE points through every stage of
// every step, so a whole frame of integration is one dispatch and the network runs as tiled
// GEMMs with activations in shared memory; invocation r < TILE owns point r's solver state.
layout(local_size_x = WG) in;

#include "mlp_layout.glsl"
#define ACT_BASE (gl_WorkGroupID.x * uint(2 * TILE * MAXD))
#include "mlp_tile.glsl"
#include "path_coefficients.glsl"

layout(std430, binding = 1) buffer Points { vec2 points[]; };
layout(std430, binding = 2) writeonly buffer Velocities { vec2 velocities[]; };

uniform int u_mode;       // 0: velocities = v(points, u_t); 1: integrate points
uniform uint u_count;     // number of points
uniform float u_t;        // mode 0: the time; mode 1: the start time
uniform float u_h;        // mode 1: the step (negative integrates backward)
uniform int u_steps;      // mode 1: steps in this dispatch
uniform int u_solver;     // 0 Euler, 1 midpoint, 2 Heun, 3 RK4

void main() {
    uint lid = gl_LocalInvocationIndex;
    uint tiles = (u_count + uint(TILE) - 1u) / uint(TILE);

    // Butcher tableaux of the explicit solvers: stage s evaluates at x + a[s] h k_{s-1}, time
    // t + c[s] h; the step adds h sum_s b[s] k_s.
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
        uint i = tile * uint(TILE) + lid;
        bool owner = lid < uint(TILE);
        bool valid = owner && i < u_count;
        vec2 x = valid ? points[i] : vec2(0.0);
        if (u_mode == 0) {
            if (owner) { s_in[lid] = x; s_tin[lid] = u_t; }
            SYNC();
            field_forward_tile(tile * uint(TILE));
            if (valid) velocities[i] = prediction_to_velocity(s_out[lid], x, u_t);
            SYNC();
            continue;
        }
        for (int step = 0; step < u_steps; ++step) {
            float t = u_t + float(step) * u_h;
            vec2 k = vec2(0.0), sum = vec2(0.0);
            for (int s = 0; s < stages; ++s) {
                if (owner) { s_in[lid] = x + a[s] * u_h * k; s_tin[lid] = t + c[s] * u_h; }
                SYNC();
                field_forward_tile(tile * uint(TILE));
                if (owner) { k = prediction_to_velocity(s_out[lid], s_in[lid], s_tin[lid]); sum += b[s] * k; }
            }
            x += u_h * sum;
        }
        if (valid) points[i] = x;
        SYNC();
    }
}
