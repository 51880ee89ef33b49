// The squared error of the learned field against the exact marginal field on a grid.
#include "core/instruments/error_map.h"

#include <cmath>
#include <string>

#include "core/flow/marginal_velocity.h"

namespace fmp {

void ErrorMapRequest::validate() const {
    if (nx < 2 || ny < 2 || nx > 1024 || ny > 1024)
        throw InputError("error map grid must be 2..1024 cells a side (got " + std::to_string(nx) +
                         " x " + std::to_string(ny) + ")");
    const Eigen::Vector2f size = box.sizes();
    if (!(size.x() > 0.0f && size.y() > 0.0f && std::isfinite(size.x()) && std::isfinite(size.y())))
        throw InputError("error map box must have a positive finite size");
}

Eigen::Vector2f ErrorMap::cell_centre(int ix, int iy) const {
    const Eigen::Vector2f size = request.box.sizes();
    return request.box.min() +
           Eigen::Vector2f((ix + 0.5f) * size.x() / request.nx, (iy + 0.5f) * size.y() / request.ny);
}

ErrorMap compute_error_map(Engine& engine, const ProbabilityPath& path, const Points& references,
                           const ErrorMapRequest& request) {
    request.validate();
    ErrorMap map;
    map.request = request;
    const int n = request.nx * request.ny;
    Points grid(n, 2);
    for (int iy = 0; iy < request.ny; ++iy)
        for (int ix = 0; ix < request.nx; ++ix) grid.row(iy * request.nx + ix) = map.cell_centre(ix, iy).transpose();
    Points v, u;
    engine.eval_velocity(grid, request.t, v);
    marginal_velocity(path, references, request.t, grid, u);
    marginal_log_density(path, references, request.t, grid, map.log_density);
    map.error = (v - u).rowwise().squaredNorm();
    map.max_error = map.error.maxCoeff();
    // Weights relative to the densest cell, so the sum cannot underflow.
    const float top = map.log_density.maxCoeff();
    double num = 0.0, den = 0.0;
    for (int i = 0; i < n; ++i) {
        const double w = std::exp(double(map.log_density[i]) - top);
        num += w * map.error[i];
        den += w;
    }
    map.weighted_mean = den > 0.0 ? num / den : 0.0;
    return map;
}

}  // namespace fmp
