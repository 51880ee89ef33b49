// The instruments as renderer layers: the error map and the likelihood as heatmaps with their
// colour scales, the posterior lens as arrows and highlighted target points, and a traced path
// (the inverse map). Shared by the window and exports, like the scene builder.
#pragma once
#include <string>

#include "app/render/scene_renderer.h"
#include "core/instruments/error_map.h"
#include "core/instruments/likelihood.h"
#include "core/instruments/posterior_lens.h"

namespace fmp {

// What a heatmap's colours mean: value lo at the bottom of the ramp, hi at the top.
struct ColorScale {
    float lo = 0.0f;
    float hi = 1.0f;
    std::string title;  // "|v - u|^2", "log p_1(x) (nats)"
};

// |v_theta - u_t|^2 per cell, or weighted by p_t(x) / max p_t (where the model's error matters:
// the FM loss is its p_t average). The top of the scale is the 99th percentile of the cells, so
// one far corner does not wash out the rest.
HeatmapLayer error_map_layer(const ErrorMap& map, bool weighted, ColorScale* scale = nullptr);

// A log density grid (the model's, or the target's true one when `truth`), from its maximum down
// `span` nats (lower values transparent).
HeatmapLayer log_density_layer(const LikelihoodGrid& grid, bool truth, float span = 10.0f,
                               ColorScale* scale = nullptr);

// The lens at its point: thin arrows u_t(x|x1_i) whose opacity is the posterior weight, the
// target points that carry weight highlighted, and two bold arrows: the exact u_t(x) (gold)
// and the network's v_theta(x, t) (white). Arrows share one scale (the longer bold arrow gets
// `bold_px` pixels).
void add_lens_layers(const PosteriorLens& lens, const View2D& view, float ui_scale, Scene& scene,
                     float bold_px = 90.0f);

// A traced path (a polyline through `points`) with a ring at its start and a dot at its end.
void add_traced_path(const Points& points, uint32_t color, const View2D& view, float ui_scale,
                     Scene& scene);

}  // namespace fmp
