// Counter-based standard normals keyed on (seed, step, index): core/base/counter_noise.h in GLSL.
// Every function computes the same bits as its C++ namesake, so the GL and CPU engines' SDE
// samplers draw the same noise; change both together.

// PCG hash (Jarzynski & Olano 2020).
uint counter_pcg(uint v) {
    uint state = v * 747796405u + 2891336453u;
    uint word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

// A uniform in [0, 1) from the top 24 bits of the advanced state.
float counter_uniform01(inout uint state) {
    state = counter_pcg(state);
    return float(state >> 8) * (1.0 / 16777216.0);
}

// seed = (low word, high word) of the 64-bit seed.
uint counter_noise_state(uvec2 seed, uint step, uint index) {
    return counter_pcg(counter_pcg(counter_pcg(seed.x ^ counter_pcg(seed.y)) + step) + index);
}

// Two standard normals by Box-Muller; u1 in (0, 1] keeps the logarithm finite.
vec2 counter_normals(uvec2 seed, uint step, uint index) {
    uint state = counter_noise_state(seed, step, index);
    float u1 = 1.0 - counter_uniform01(state);
    float u2 = counter_uniform01(state);
    float r = sqrt(-2.0 * log(u1));
    float a = 6.28318530717958648 * u2;
    return r * vec2(cos(a), sin(a));
}
