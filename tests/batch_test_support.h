// A random explicit training batch for the engine tests (Engine::gradients, train_on_batch).
#pragma once
#include "core/base/rng.h"
#include "core/engine/engine.h"

namespace fmp::test {

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

}  // namespace fmp::test
