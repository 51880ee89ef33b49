// Network helpers for the tests that sweep widths, depths, activations and time encodings: a
// configuration in one call, and the relative error the engine agreement checks use.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>

#include "core/nn/mlp.h"

namespace fmp::test {

inline MlpConfig mlp_config(int width, int depth, Activation act,
                            TimeEncoding enc = TimeEncoding::Raw, int k = 3) {
    MlpConfig c;
    c.width = width;
    c.depth = depth;
    c.activation = act;
    c.time_encoding = enc;
    c.fourier_frequencies = k;
    return c;
}

// max |a - b| / max(max |b|, floor): an engine's result relative to the reference's scale
// (infinite when a value is not finite).
inline float rel_err(const float* a, const float* b, std::size_t n, float floor) {
    float diff = 0.0f, scale = floor;
    for (std::size_t i = 0; i < n; ++i) {
        if (!std::isfinite(a[i])) return INFINITY;
        diff = std::max(diff, std::abs(a[i] - b[i]));
        scale = std::max(scale, std::abs(b[i]));
    }
    return diff / scale;
}

}  // namespace fmp::test
