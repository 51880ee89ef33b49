// The target split into its modes on a grid (moons: 2, 8gaussians: 8), for colouring particles
// by the mode they end in.
#pragma once
#include <Eigen/Geometry>
#include <cstdint>
#include <vector>

#include "core/base/types.h"

namespace fmp {

// Every cell of the grid is labelled by its nearest mode, so any point gets a mode.
struct ModeMap {
    Eigen::AlignedBox2f box;
    int n = 0;                   // grid is n x n cells over box
    std::vector<uint8_t> label;  // n*n, row-major from the bottom
    int count = 0;               // number of modes (<= 12)
    int mode_of(float x, float y) const;
    static ModeMap build(const Points& target_sample);
};

}  // namespace fmp
