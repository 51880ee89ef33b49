#version 430
// Sums the per-workgroup partial gradients of mlp_train.comp and either writes the gradient
// (u_update 0, for Engine::gradients) or takes one Adam/AdamW step (u_update 1), refreshing the
// transposed weight copy that backprop reads. Every workgroup sums the groups' loss statistics
// (the whole workgroup at once, in a fixed order, so every workgroup gets the same bits) and
// workgroup 0 appends them to the loss ring, so no step needs a readback. With SUBGROUP (the
// driver has GL_KHR_shader_subgroup arithmetic in compute shaders) each subgroup reduces whole
// statistics with subgroupAdd; without, 12 invocations per statistic add strided partial sums
// through shared memory.
//
// The divergence guard lives here too, so a bad step never reaches the weights: if the summed loss
// is NaN or inf no parameter is updated, and an update
// that would make a parameter or its second moment NaN or inf is not written. Either raises the
// flag at ring word HEALTH (then: step, cause 1 loss / 2 parameters, loss bits; then the two
// snapshot slots' tags), and while it is up every later update (and the training pass, and
// train_snapshot.comp) does nothing until the CPU rolls back.
// Extension directives before any other token, as drivers require.
#if SUBGROUP
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
layout(local_size_x = 256) in;

#include "mlp_layout.glsl"

layout(std430, binding = 0) buffer Params { float params[]; };
layout(std430, binding = 1) writeonly buffer ParamsT { float params_t[]; };
layout(std430, binding = 2) readonly buffer Partials { float partials[]; };
layout(std430, binding = 3) buffer Moments { float moments[]; };  // m | v
layout(std430, binding = 4) writeonly buffer Grads { float grads[]; };
layout(std430, binding = 5) buffer Ring { uint ring[]; };          // RING x 22 words, health
layout(std430, binding = 6) readonly buffer GroupStats { float stats[]; };
layout(std430, binding = 7) writeonly buffer StepStats { float step_stats[]; }; // 21 floats
const uint HEALTH = uint(RING) * 22u;  // the words after the loss ring

uniform uint u_groups;        // gradient slices
uniform uint u_stat_groups;   // loss-statistics groups (the fused pass: its groups; the wide one: per 32 rows)
uniform int u_update;
uniform int u_record;          // append this step's loss to the ring
uniform uint u_step;           // 1-based step number after this update
uniform float u_beta1, u_beta2, u_eps;
// The CPU AdamOptimizer's (and PyTorch's) arrangement: theta = keep theta -
// step_size m / (sqrt(v) inv_sqrt_bc2 + eps), step_size = lr / (1 - beta1^t),
// inv_sqrt_bc2 = 1 / sqrt(1 - beta2^t), keep = 1 - lr wd for AdamW (1 for Adam).
uniform float u_step_size, u_inv_sqrt_bc2, u_keep;

// NaN or inf, from the bits: immune to a compiler that assumes finite math.
bool not_finite(float x) { return (floatBitsToUint(x) & 0x7f800000u) == 0x7f800000u; }

void raise_flag(uint cause, float loss) {
    if (atomicCompSwap(ring[HEALTH], 0u, 1u) != 0u) return;  // the first report wins
    ring[HEALTH + 1u] = u_step;
    ring[HEALTH + 2u] = cause;
    ring[HEALTH + 3u] = floatBitsToUint(loss);
}

shared float s_stats[21];
shared uint s_flag;

// s_stats[q] = the sum over the training groups of their statistic q (21 words per group).
#if SUBGROUP
void sum_group_stats(uint lid) {
    for (uint q = gl_SubgroupID; q < 21u; q += gl_NumSubgroups) {
        float s = 0.0;
        for (uint g = gl_SubgroupInvocationID; g < u_stat_groups; g += gl_SubgroupSize) s += stats[g * 21u + q];
        s = subgroupAdd(s);
        if (subgroupElect()) s_stats[q] = s;
    }
}
#else
const uint k_lanes = 12u;  // 21 x 12 = 252 of the 256 invocations
shared float s_lane_sums[21 * 12];
void sum_group_stats(uint lid) {
    if (lid < 21u * k_lanes) {
        uint q = lid / k_lanes, lane = lid % k_lanes;
        float s = 0.0;
        for (uint g = lane; g < u_stat_groups; g += k_lanes) s += stats[g * 21u + q];
        s_lane_sums[lid] = s;
    }
    memoryBarrierShared();
    barrier();
    if (lid < 21u) {
        float s = 0.0;
        for (uint lane = 0u; lane < k_lanes; ++lane) s += s_lane_sums[lid * k_lanes + lane];
        s_stats[lid] = s;
    }
}
#endif

void main() {
    uint i = gl_GlobalInvocationID.x;
    uint lid = gl_LocalInvocationIndex;
    // One read of the flag per group, so the whole group leaves together (another group may
    // raise it while this one runs).
    if (lid == 0u) s_flag = u_update != 0 ? ring[HEALTH] : 0u;
    sum_group_stats(lid);
    memoryBarrierShared();
    barrier();
    if (s_flag != 0u) return;
    float loss = s_stats[0];
    bool bad_loss = u_update != 0 && not_finite(loss);
    if (gl_WorkGroupID.x == 0u && lid < 21u) {
        step_stats[lid] = s_stats[lid];
        if (u_record != 0 && !bad_loss) {
            uint slot = (u_step % uint(RING)) * 22u;
            if (lid == 0u) ring[slot] = u_step;
            ring[slot + 1u + lid] = floatBitsToUint(s_stats[lid]);
        }
        if (bad_loss && lid == 0u) raise_flag(1u, loss);
    }
    if (bad_loss || i >= uint(PCOUNT)) return;
    float g = 0.0;
    for (uint q = 0u; q < u_groups; ++q) g += partials[q * uint(PCOUNT) + i];
    if (u_update == 0) {
        grads[i] = g;
        return;
    }
    float m = u_beta1 * moments[i] + (1.0 - u_beta1) * g;
    float v = u_beta2 * moments[uint(PCOUNT) + i] + (1.0 - u_beta2) * g * g;
    float theta = u_keep * params[i] - u_step_size * m / (sqrt(v) * u_inv_sqrt_bc2 + u_eps);
    // An overflowed g^2 would stay inf in v and freeze the weight: as bad as a NaN weight.
    if (not_finite(theta) || not_finite(v)) {
        raise_flag(2u, loss);
        return;
    }
    moments[i] = m;
    moments[uint(PCOUNT) + i] = v;
    params[i] = theta;
    // The transposed copy: W_l^T (out x in) at the same offset; biases as they are.
    uint ti = i;
    for (int l = 0; l <= DEPTH; ++l) {
        uint wo = w_off(l);
        uint n = layer_in(l) * layer_out(l);
        if (i >= wo && i < wo + n) {
            uint k = (i - wo) / layer_out(l), j = (i - wo) % layer_out(l);
            ti = wo + j * layer_in(l) + k;
            break;
        }
    }
    params_t[ti] = theta;
}
