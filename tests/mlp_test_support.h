// Network helpers for the tests that sweep widths, depths, activations and time encodings: a
// configuration in one call, a random explicit batch, and the relative error the engine
// agreement checks use.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>

#include "core/base/rng.h"
#include "core/engine/engine.h"
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

// b rows: x0 standard normal, x1 uniform on [-2, 2] x [-1, 1.5], t uniform on [t_lo, t_hi).
inline Batch random_batch(int b, Rng& rng, float t_lo = 0.0f, float t_hi = 1.0f) {
    Batch batch;
    batch.x0.resize(b, 2);
    batch.x1.resize(b, 2);
    batch.t.resize(b);
    for (int i = 0; i < b; ++i) {
        batch.x0.row(i) << rng.normal(), rng.normal();
        batch.x1.row(i) << rng.uniform(-2.0f, 2.0f), rng.uniform(-1.0f, 1.5f);
        batch.t[i] = rng.uniform(t_lo, t_hi);
    }
    return batch;
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
