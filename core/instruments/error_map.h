// The error map: where the learned field departs from the exact marginal field, on a grid at
// one t, raw or weighted by the marginal density p_t.
#pragma once
#include <Eigen/Geometry>

#include "core/engine/engine.h"

namespace fmp {

struct ErrorMapRequest {
    Eigen::AlignedBox2f box{Eigen::Vector2f(-4, -4), Eigen::Vector2f(4, 4)};
    int nx = 128;  // 2..1024
    int ny = 128;
    float t = 0.5f;
    void validate() const;  // throws InputError
};

struct ErrorMap {
    ErrorMapRequest request;
    // Row-major from the bottom row (y = box.min.y) up: cell (ix, iy) at iy * nx + ix, sampled
    // at the cell centre.
    VectorF error;        // |v_theta(x, t) - u_t(x)|^2
    VectorF log_density;  // log p_t(x) of the exact marginal (the mixture the field is exact for)
    // sum_cells p_t e / sum_cells p_t: the FM loss at this t restricted to the box.
    double weighted_mean = 0.0;
    float max_error = 0.0f;
    Eigen::Vector2f cell_centre(int ix, int iy) const;
};

// v_theta from the engine, u_t and p_t from the points the exact field is computed for
// (marginal_reference_points of the target: the engine's own eval_marginal set). Normal source.
ErrorMap compute_error_map(Engine& engine, const ProbabilityPath& path, const Points& references,
                           const ErrorMapRequest& request);

}  // namespace fmp
