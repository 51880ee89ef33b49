// A network configuration in one call, for the tests that sweep widths, depths, activations and
// time encodings.
#pragma once
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

}  // namespace fmp::test
