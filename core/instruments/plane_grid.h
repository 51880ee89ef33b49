// A regular grid of cells over a box of the plane: where the error map and the likelihood are
// sampled, laid out as the renderer's heatmaps (row 0 at the bottom).
#pragma once
#include <Eigen/Geometry>

#include "core/base/types.h"

namespace fmp {

struct PlaneGrid {
    Eigen::AlignedBox2f box{Eigen::Vector2f(-4, -4), Eigen::Vector2f(4, 4)};
    int nx = 128;  // 2..1024
    int ny = 128;
    void validate() const;  // throws InputError
    int cells() const { return nx * ny; }
    // The centre of cell (ix, iy); cell (ix, iy) is entry iy * nx + ix of a grid's values.
    Eigen::Vector2f cell_centre(int ix, int iy) const;
    // Every cell centre, in that order.
    Points centres() const;
};

}  // namespace fmp
