#version 430
// Euler–Maruyama on the particles in place (Engine::integrate_particles_sde): the SDE sampler of
// core/flow/sde_sampler.h with counter-based noise, all steps of a call in one dispatch.
// As mlp_field.comp, a workgroup carries a tile of TILE particles through every step with the
// tiled forward pass; invocation r < TILE owns particle r's state. Each step's time and
// coefficients come from the host (sde_step_coefficients), so the drift is the CPU's in its
// floats, and the noise is counter_normals(seed, step, particle), the CPU engine's draw.
layout(local_size_x = WG) in;

#include "mlp_layout.glsl"
#define ACT_BASE (gl_WorkGroupID.x * uint(2 * TILE * MAXD))
#include "mlp_tile.glsl"
#include "path_coefficients.glsl"
#include "counter_noise.glsl"

layout(std430, binding = 1) buffer Points { vec2 points[]; };
// Per step of the call: (t, drift_x, drift_v, noise) of SdeStepCoefficients.
layout(std430, binding = 4) readonly buffer SdeSteps { vec4 sde_steps[]; };

uniform uint u_count;       // particles
uniform float u_h;          // the step
uniform int u_first;        // the entry of sde_steps this dispatch starts at
uniform int u_steps;        // steps in this dispatch
uniform uvec2 u_seed;       // the noise seed (low word, high word)
uniform uint u_first_step;  // the noise step of entry 0 (unsigned wrap-around, as on the CPU)

void main() {
    uint lid = gl_LocalInvocationIndex;
    uint tiles = (u_count + uint(TILE) - 1u) / uint(TILE);
    for (uint tile = gl_WorkGroupID.x; tile < tiles; tile += gl_NumWorkGroups.x) {
        uint i = tile * uint(TILE) + lid;
        bool owner = lid < uint(TILE);
        bool valid = owner && i < u_count;
        vec2 x = valid ? points[i] : vec2(0.0);
        for (int step = 0; step < u_steps; ++step) {
            int k = u_first + step;
            vec4 c = sde_steps[k];
            if (owner) { s_in[lid] = x; s_tin[lid] = c.x; }
            SYNC();
            field_forward_tile(tile * uint(TILE));
            if (owner) {
                vec2 v = prediction_to_velocity(s_out[lid], x, c.x);
                // x += h (drift_v v + drift_x x) + noise n: the order of sde_step's operations.
                v = c.z * v + c.y * x;
                x += u_h * v;
                if (c.w > 0.0) x += c.w * counter_normals(u_seed, u_first_step + uint(k), i);
            }
        }
        if (valid) points[i] = x;
        SYNC();
    }
}
