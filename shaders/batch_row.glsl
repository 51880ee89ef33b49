// One row of a training batch, sampled on the GPU or read from an uploaded batch: x_t, t, the
// regression target and the class. Shared by the fused training pass and the wide-network
// pipeline (wide_rows.comp), so both train on the same rows. The including shader declares the
// `pools` (source points, target points, then the target points' classes) and `batch`
// (x0 | x1 | t | [noise] | [class per row]) buffers and includes path_coefficients.glsl.

uniform uint u_batch;          // B
uniform int u_sampled;         // 1: sample rows on the GPU; 0: read the explicit batch
uniform uvec2 u_seed;          // the run's seed (low, high)
uniform uint u_step;           // the step being taken (decorrelates the batches)
uniform int u_source_normal;   // 1: the source is N(0, I), sampled by Box-Muller
uniform int u_paired;          // 1: x0 and x1 share one index into equal-size pools (reflow pairs)
uniform float u_bridge_sigma;  // > 0: the explicit batch carries SB bridge noise (coupling.h)
uniform uint u_source_offset, u_source_count, u_target_offset, u_target_count;
#if CLASSES
uniform uint u_class_offset;   // where the target points' classes start in the pools
uniform uint u_batch_classes;  // where the explicit batch's classes start
uniform float u_p_uncond;      // a sampled row drops to the null class with this probability
#endif

// The rows' random numbers: one PCG-hash stream per (seed, step, row), counter_noise.glsl's.
#include "counter_noise.glsl"

struct BatchRow {
    vec2 xt;    // x_t = alpha_t x1 + sigma_t x0 (+ the bridge noise)
    float t;
    vec2 u;     // what the network regresses on: u_t, x1 or x0 (prediction.h)
    uint cls;   // the class input (CLASSES: the null class when dropped or unlabelled)
};

// Row i < u_batch of this step's batch.
BatchRow batch_row(uint i) {
    BatchRow row;
#if CLASSES
    row.cls = uint(CLASSES);
#else
    row.cls = 0u;
#endif
    vec2 x0, x1;
    float t;
    if (u_sampled != 0) {
        uint rng = counter_noise_state(u_seed, u_step, i);
        t = counter_uniform01(rng);
        if (u_source_normal != 0) {
            float u1 = max(counter_uniform01(rng), 1e-12);
            float u2 = counter_uniform01(rng);
            float rad = sqrt(-2.0 * log(u1));
            x0 = rad * vec2(cos(6.28318530717958648 * u2), sin(6.28318530717958648 * u2));
        } else if (u_paired != 0) {
            uint j = min(uint(counter_uniform01(rng) * float(u_source_count)), u_source_count - 1u);
            x0 = pools[u_source_offset + j];
            x1 = pools[u_target_offset + j];
        } else {
            x0 = pools[u_source_offset + min(uint(counter_uniform01(rng) * float(u_source_count)), u_source_count - 1u)];
        }
        if (u_paired == 0 || u_source_normal != 0) {
            uint j = min(uint(counter_uniform01(rng) * float(u_target_count)), u_target_count - 1u);
            x1 = pools[u_target_offset + j];
#if CLASSES
            // The target point's class, dropped to the null class as the CPU's BatchSampler does
            // (classifier-free guidance's dropout). Paired rows keep the null class, as there.
            row.cls = counter_uniform01(rng) < u_p_uncond ? uint(CLASSES) : uint(pools[u_class_offset + j].x);
#endif
        }
    } else {
        x0 = vec2(batch[2u * i], batch[2u * i + 1u]);
        x1 = vec2(batch[2u * (u_batch + i)], batch[2u * (u_batch + i) + 1u]);
        t = batch[4u * u_batch + i];
#if CLASSES
        row.cls = uint(batch[u_batch_classes + i]);  // as given: the host sampled the dropout
#endif
    }
    vec4 p = path_coefficients(t);
    row.xt = p.x * x1 + p.y * x0;
    row.t = t;
    row.u = u_prediction == 1 ? x1 : (u_prediction == 2 ? x0 : p.z * x1 + p.w * x0);
    if (u_bridge_sigma > 0.0 && u_sampled == 0) {
        // SB-CFM: x_t += s(t) eps, u += s'(t) eps, s = sigma sqrt(t(1-t)) (add_bridge_noise).
        vec2 eps = vec2(batch[5u * u_batch + 2u * i], batch[5u * u_batch + 2u * i + 1u]);
        float tc = clamp(t, 1e-4, 1.0 - 1e-4);
        row.xt += u_bridge_sigma * sqrt(max(t * (1.0 - t), 0.0)) * eps;
        row.u += u_bridge_sigma * (1.0 - 2.0 * tc) / (2.0 * sqrt(tc * (1.0 - tc))) * eps;
    }
    return row;
}
