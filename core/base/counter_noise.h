// Counter-based standard normals keyed on (seed, step, index), computed alike on the CPU and in GLSL.
#pragma once
#include <cmath>
#include <cstdint>

#include <Eigen/Core>

namespace fmp {

// Why counter-based: the GL engine draws each particle's noise in its own invocation, in no
// order, so a sequential stream (Rng) cannot be shared with the CPU engine. A hash of the counter
// needs no state, and shaders/counter_noise.glsl computes the very same bits, so both engines'
// SDE samplers move every particle by the same noise (up to the last ulp of log and cos).

// PCG hash (Jarzynski & Olano 2020, "Hash Functions for GPU Rendering"): one 32-bit word to
// another, well mixed.
inline uint32_t pcg_hash(uint32_t v) {
    const uint32_t state = v * 747796405u + 2891336453u;
    const uint32_t word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

// Advances the state and returns a uniform in [0, 1) from its top 24 bits (exact in float).
inline float pcg_uniform01(uint32_t& state) {
    state = pcg_hash(state);
    return static_cast<float>(state >> 8) * (1.0f / 16777216.0f);
}

// The hash state of (seed, step, index): both halves of the seed, then the step, then the index.
inline uint32_t counter_noise_state(uint64_t seed, uint32_t step, uint32_t index) {
    const uint32_t lo = static_cast<uint32_t>(seed), hi = static_cast<uint32_t>(seed >> 32);
    return pcg_hash(pcg_hash(pcg_hash(lo ^ pcg_hash(hi)) + step) + index);
}

// Two independent standard normals for (seed, step, index) by Box-Muller. u1 = 1 - uniform lies
// in (0, 1], so the logarithm is always finite.
inline Eigen::Vector2f counter_normals(uint64_t seed, uint32_t step, uint32_t index) {
    uint32_t state = counter_noise_state(seed, step, index);
    const float u1 = 1.0f - pcg_uniform01(state);
    const float u2 = pcg_uniform01(state);
    const float r = std::sqrt(-2.0f * std::log(u1));
    const float a = 6.28318530717958648f * u2;
    return Eigen::Vector2f(r * std::cos(a), r * std::sin(a));
}

}  // namespace fmp
