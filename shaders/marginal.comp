#version 430
// The exact marginal velocity of an empirical target for a normal source (marginal_velocity.h):
// a softmax-weighted mean of conditional velocities, accumulated with an online log-sum-exp,
// and with u_want_density the mixture's log density from the same sum (marginal_log_density).
// Targets stream through shared memory in chunks of WG points.
layout(local_size_x = WG) in;

layout(std430, binding = 0) readonly buffer Targets { vec2 targets[]; };
layout(std430, binding = 1) readonly buffer Points { vec2 points[]; };
layout(std430, binding = 2) writeonly buffer Velocities { vec2 velocities[]; };
layout(std430, binding = 3) writeonly buffer LogDensities { float log_densities[]; };

uniform uint u_count;         // points
uniform uint u_target_count;  // targets
uniform float u_alpha;        // path coefficients at the (clamped) time, from the CPU
uniform float u_sigma;
uniform float u_d_alpha;
uniform float u_d_sigma;
uniform int u_want_density;

shared vec2 s_targets[WG];

void main() {
    float inv_two_var = 0.5 / (u_sigma * u_sigma);
    float ratio = u_d_sigma / u_sigma;
    // Grid-stride over blocks of WG points so any count fits the dispatch limit; every
    // invocation of a group runs the same rounds, as the shared-memory staging needs.
    uint stride = gl_NumWorkGroups.x * uint(WG);
    for (uint block = gl_WorkGroupID.x * uint(WG); block < u_count; block += stride) {
        uint i = block + gl_LocalInvocationIndex;
        vec2 x = i < u_count ? points[i] : vec2(0.0);
        float m = -3.0e38, s = 0.0;
        vec2 acc = vec2(0.0);
        for (uint base = 0u; base < u_target_count; base += uint(WG)) {
            uint j = base + gl_LocalInvocationIndex;
            s_targets[gl_LocalInvocationIndex] = j < u_target_count ? targets[j] : vec2(0.0);
            barrier();
            uint n = min(uint(WG), u_target_count - base);
            for (uint q = 0u; q < n; ++q) {
                vec2 y = s_targets[q];
                vec2 d = x - u_alpha * y;
                float logit = -dot(d, d) * inv_two_var;
                vec2 u = ratio * d + u_d_alpha * y;
                if (logit > m) {
                    float scale = exp(m - logit);
                    s = s * scale + 1.0;
                    acc = acc * scale + u;
                    m = logit;
                } else {
                    float w = exp(logit - m);
                    s += w;
                    acc += w * u;
                }
            }
            barrier();
        }
        if (i < u_count) velocities[i] = acc / s;
        // log (1/n) sum_j exp(logit_j) / (2 pi sigma^2); 1 / (2 pi sigma^2) = inv_two_var / pi.
        if (i < u_count && u_want_density != 0)
            log_densities[i] = m + log(s / float(u_target_count)) + log(inv_two_var) - 1.1447298858494002;
    }
}
