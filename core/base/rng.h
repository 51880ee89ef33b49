// Deterministic random numbers for a seed (PCG32), the same sequence on every machine.
#pragma once
#include <cmath>
#include <cstdint>

namespace fmp {

// Where a stream stands: restoring it continues the sequence exactly (saved sessions).
struct RngState {
    uint64_t state = 0;
    uint64_t inc = 1;
    float spare = 0.0f;
    bool has_spare = false;
};

class Rng {
public:
    explicit Rng(uint64_t seed = 1, uint64_t stream = 0) { reseed(seed, stream); }

    void reseed(uint64_t seed, uint64_t stream = 0) {
        m_state = 0;
        m_inc = (stream << 1u) | 1u;
        next_u32();
        m_state += seed;
        next_u32();
        m_has_spare = false;
    }

    uint32_t next_u32() {
        uint64_t old = m_state;
        m_state = old * 6364136223846793005ULL + m_inc;
        auto xorshifted = static_cast<uint32_t>(((old >> 18u) ^ old) >> 27u);
        auto rot = static_cast<uint32_t>(old >> 59u);
        return (xorshifted >> rot) | (xorshifted << ((-rot) & 31));
    }

    RngState save() const { return RngState{m_state, m_inc, m_spare, m_has_spare}; }
    // An increment must be odd (PCG's stream); a state that is not is refused by callers that
    // read one from a file (valid_rng_state).
    void restore(const RngState& s) {
        m_state = s.state;
        m_inc = s.inc | 1u;
        m_spare = s.spare;
        m_has_spare = s.has_spare;
    }

    // Uniform in [0, 1): 24 random bits so every value is exactly representable in float.
    float uniform() { return static_cast<float>(next_u32() >> 8) * (1.0f / 16777216.0f); }
    float uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }

    // Uniform integer in [0, n) (Lemire's multiply-shift; the tiny bias is irrelevant here).
    uint32_t below(uint32_t n) {
        return static_cast<uint32_t>((static_cast<uint64_t>(next_u32()) * n) >> 32);
    }

    // Standard normal by Box-Muller, caching the second value.
    float normal() {
        if (m_has_spare) {
            m_has_spare = false;
            return m_spare;
        }
        float u1 = 0.0f;
        while (u1 <= 1e-12f) u1 = uniform();
        float u2 = uniform();
        float r = std::sqrt(-2.0f * std::log(u1));
        float a = 6.28318530717958647692f * u2;
        m_spare = r * std::sin(a);
        m_has_spare = true;
        return r * std::cos(a);
    }

private:
    uint64_t m_state = 0;
    uint64_t m_inc = 1;
    float m_spare = 0.0f;
    bool m_has_spare = false;
};

}  // namespace fmp
