// The error map: where the learned field departs from the exact marginal field, on a grid at
// one t, raw or weighted by the marginal density p_t.
#pragma once
#include "core/engine/engine.h"
#include "core/instruments/plane_grid.h"

namespace fmp {

struct ErrorMapRequest {
    PlaneGrid grid;
    float t = 0.5f;
};

struct ErrorMap {
    ErrorMapRequest request;
    // One value per cell of request.grid, at its centre.
    VectorF error;        // |v_theta(x, t) - u_t(x)|^2
    VectorF log_density;  // log p_t(x) of the exact marginal (the mixture the field is exact for)
    // sum_cells p_t e / sum_cells p_t: the FM loss at this t restricted to the box.
    double weighted_mean = 0.0;
    float max_error = 0.0f;
};

// v_theta, u_t and p_t from the engine (Engine::eval_marginal_field: on the GPU with the GL
// engine), u_t and p_t for the points the exact field is computed for (marginal_reference_points
// of the target: the engine's own eval_marginal set). Normal source.
ErrorMap compute_error_map(Engine& engine, const ProbabilityPath& path, const Points& references,
                           const ErrorMapRequest& request);

}  // namespace fmp
