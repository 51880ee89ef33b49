// Builds the instruments' renderer layers: heatmaps with robust scales, lens arrows, traced paths.
#include "app/render/instrument_layers.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "app/render/palette.h"

namespace fmp {
namespace {

HeatmapLayer grid_layer(const PlaneGrid& grid) {
    HeatmapLayer heat;
    heat.box = grid.box;
    heat.width = grid.nx;
    heat.height = grid.ny;
    heat.values.assign(static_cast<std::size_t>(grid.cells()), 0.0f);
    heat.opacity = 0.9f;
    return heat;
}

float percentile(std::vector<float> v, float q) {
    if (v.empty()) return 0.0f;
    const auto k = static_cast<std::size_t>(q * static_cast<float>(v.size() - 1));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return v[k];
}

}  // namespace

HeatmapLayer error_map_layer(const ErrorMap& map, bool weighted, ColorScale* scale) {
    HeatmapLayer heat = grid_layer(map.request.grid);
    const Eigen::Index n = map.error.size();
    std::vector<float> value(static_cast<std::size_t>(n));
    const float top = n ? map.log_density.maxCoeff() : 0.0f;
    for (Eigen::Index i = 0; i < n; ++i)
        value[static_cast<std::size_t>(i)] =
            weighted ? map.error[i] * std::exp(map.log_density[i] - top) : map.error[i];
    const float hi = std::max(percentile(value, 0.99f), 1e-12f);
    for (std::size_t i = 0; i < value.size(); ++i) heat.values[i] = std::min(value[i] / hi, 1.0f);
    if (scale) *scale = {0.0f, hi, weighted ? "|v - u|^2 p_t / max p_t" : "|v - u|^2"};
    return heat;
}

HeatmapLayer log_density_layer(const LikelihoodGrid& grid, bool truth, float span,
                               ColorScale* scale) {
    HeatmapLayer heat = grid_layer(grid.grid);
    const VectorF& lp = truth ? grid.true_log_p : grid.log_p;
    float top = -std::numeric_limits<float>::infinity();
    for (Eigen::Index i = 0; i < lp.size(); ++i)
        if (std::isfinite(lp[i])) top = std::max(top, lp[i]);
    if (!std::isfinite(top)) top = 0.0f;
    const float lo = top - span;
    for (Eigen::Index i = 0; i < lp.size(); ++i) {
        const float v = std::isfinite(lp[i]) ? (lp[i] - lo) / span : 0.0f;
        heat.values[static_cast<std::size_t>(i)] = std::clamp(v, 0.0f, 1.0f);
    }
    if (scale) *scale = {lo, top, truth ? "true log p(x) (nats)" : "model log p_1(x) (nats)"};
    return heat;
}

void add_lens_layers(const PosteriorLens& lens, const View2D& view, float ui_scale, Scene& scene,
                     float bold_px) {
    const Eigen::Index n = lens.weights.size();
    if (n == 0) return;
    const float ppu = view.pixels_per_unit;
    float longest = lens.marginal.norm();
    if (lens.learned) longest = std::max(longest, lens.learned->norm());
    // World units per unit of velocity: the longer bold arrow gets bold_px pixels.
    const float k = longest > 1e-6f ? bold_px * ui_scale / (longest * ppu) : 1.0f / ppu;
    const float wmax = lens.weights.maxCoeff();

    // The heaviest points first, at most 300 of them (those below 2% of the top are invisible).
    std::vector<Eigen::Index> order(static_cast<std::size_t>(n));
    std::iota(order.begin(), order.end(), Eigen::Index(0));
    const std::size_t shown = std::min<std::size_t>(order.size(), 300);
    std::partial_sort(
        order.begin(), order.begin() + static_cast<std::ptrdiff_t>(shown), order.end(),
        [&](Eigen::Index a, Eigen::Index b) { return lens.weights[a] > lens.weights[b]; });

    PointLayer points;
    points.size_px = 7.0f * ui_scale;
    points.softness = 0.35f;
    SegmentLayer thin;
    for (std::size_t r = shown; r-- > 0;) {  // light ones first, heavy ones on top
        const Eigen::Index i = order[r];
        const float rel = lens.weights[i] / wmax;
        if (rel < 0.02f) continue;
        const float alpha =
            std::sqrt(rel);  // sqrt: a point with a quarter of the weight still shows
        const Eigen::Vector2f y = lens.targets.row(i).transpose();
        points.xy.push_back(y.x());
        points.xy.push_back(y.y());
        points.rgba.push_back(fade(palette::conditional, 0.25f + 0.75f * alpha));
        Eigen::Vector2f u = lens.conditional.row(i).transpose() * k;
        // Near t=1 a conditional velocity can be many times the mean: cap the drawn length.
        const float cap = 1.6f * bold_px * ui_scale / ppu;
        if (u.norm() > cap) u *= cap / u.norm();
        thin.add_arrow(lens.x, u, fade(palette::conditional, 0.5f * alpha), 1.0f * ui_scale,
                       6.0f * ui_scale, ppu);
    }
    scene.layers.emplace_back(std::move(points));
    scene.layers.emplace_back(std::move(thin));

    SegmentLayer bold;
    bold.add_arrow(lens.x, lens.marginal * k, palette::exact, 4.0f * ui_scale, 14.0f * ui_scale,
                   ppu);
    if (lens.learned)
        bold.add_arrow(lens.x, *lens.learned * k, palette::learned, 3.0f * ui_scale,
                       12.0f * ui_scale, ppu);
    // A ring around the lens point.
    const float r = 9.0f * ui_scale / ppu;
    for (int s = 0; s < 24; ++s) {
        const float a0 = 6.2831853f * s / 24, a1 = 6.2831853f * (s + 1) / 24;
        bold.add(lens.x + r * Eigen::Vector2f(std::cos(a0), std::sin(a0)),
                 lens.x + r * Eigen::Vector2f(std::cos(a1), std::sin(a1)), palette::learned,
                 palette::learned, 1.5f * ui_scale);
    }
    scene.layers.emplace_back(std::move(bold));
}

void add_traced_path(const Points& points, uint32_t color, const View2D& view, float ui_scale,
                     Scene& scene) {
    if (points.rows() == 0) return;
    SegmentLayer line;
    for (Eigen::Index i = 0; i + 1 < points.rows(); ++i)
        line.add(points.row(i).transpose(), points.row(i + 1).transpose(), color, color,
                 2.5f * ui_scale);
    const float r = 7.0f * ui_scale / view.pixels_per_unit;
    const Eigen::Vector2f start = points.row(0).transpose();
    for (int s = 0; s < 20; ++s) {
        const float a0 = 6.2831853f * s / 20, a1 = 6.2831853f * (s + 1) / 20;
        line.add(start + r * Eigen::Vector2f(std::cos(a0), std::sin(a0)),
                 start + r * Eigen::Vector2f(std::cos(a1), std::sin(a1)), color, color,
                 2.0f * ui_scale);
    }
    scene.layers.emplace_back(std::move(line));
    PointLayer end;
    end.size_px = 9.0f * ui_scale;
    end.softness = 0.2f;
    end.color = color;
    end.xy = {points(points.rows() - 1, 0), points(points.rows() - 1, 1)};
    scene.layers.emplace_back(std::move(end));
}

}  // namespace fmp
