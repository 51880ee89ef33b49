// Class helpers for the tests of class-conditional flows on the 8 gaussians.
#pragma once
#include <cmath>

namespace fmp::test {

// The 8 gaussians' mode nearest to (x, y): radius 2.5, mode k at angle k pi / 4, which is also
// its class.
inline int nearest_mode(float x, float y) {
    int best = 0;
    float d = 1e30f;
    for (int k = 0; k < 8; ++k) {
        const float a = static_cast<float>(k) * 0.78539816f;
        const float dx = x - 2.5f * std::cos(a), dy = y - 2.5f * std::sin(a);
        if (dx * dx + dy * dy < d) d = dx * dx + dy * dy, best = k;
    }
    return best;
}

}  // namespace fmp::test
