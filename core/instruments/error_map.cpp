// The squared error of the learned field against the exact marginal field on a grid.
#include "core/instruments/error_map.h"

#include <cmath>

namespace fmp {

ErrorMap compute_error_map(Engine& engine, const ProbabilityPath& path, const Points& references,
                           const ErrorMapRequest& request) {
    request.grid.validate();
    ErrorMap map;
    map.request = request;
    const int n = request.grid.cells();
    const Points grid = request.grid.centres();
    Points v, u;
    engine.eval_velocity(grid, request.t, v);
    // The exact field too on the engine: with the GL engine the whole map is computed on the GPU.
    engine.eval_marginal_field(path, references, request.t, grid, u, map.log_density);
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
