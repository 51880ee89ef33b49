// Cell centres of a regular grid over a box.
#include "core/instruments/plane_grid.h"

#include <cmath>
#include <string>

namespace fmp {

void PlaneGrid::validate() const {
    if (nx < 2 || ny < 2 || nx > 1024 || ny > 1024)
        throw InputError("a grid must have 2..1024 cells a side (got " + std::to_string(nx) +
                         " x " + std::to_string(ny) + ")");
    const Eigen::Vector2f size = box.sizes();
    if (!(size.x() > 0.0f && size.y() > 0.0f && std::isfinite(size.x()) && std::isfinite(size.y())))
        throw InputError("a grid's box must have a positive finite size");
}

Eigen::Vector2f PlaneGrid::cell_centre(int ix, int iy) const {
    const Eigen::Vector2f size = box.sizes();
    return box.min() + Eigen::Vector2f((ix + 0.5f) * size.x() / nx, (iy + 0.5f) * size.y() / ny);
}

Points PlaneGrid::centres() const {
    Points g(cells(), 2);
    for (int iy = 0; iy < ny; ++iy)
        for (int ix = 0; ix < nx; ++ix) g.row(iy * nx + ix) = cell_centre(ix, iy).transpose();
    return g;
}

}  // namespace fmp
