// A small CPU rasterizer for headless figures: point clouds and polylines to an RGBA image.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/types.h"

namespace fmp {

struct Rgba {
    float r, g, b, a;
};

class ScatterPlot {
public:
    // Maps the data box [lo, hi]^2 (square, so the aspect is kept) onto a size x size image.
    ScatterPlot(int size, float lo, float hi);

    // Soft round dots, alpha-blended; colour per point or one colour.
    void points(const Points& p, Rgba colour, float radius_px);
    void points(const Points& p, const std::vector<Rgba>& colours, float radius_px);
    // An anti-aliased polyline through the rows of p.
    void polyline(const Points& p, Rgba colour, float width_px);
    void grid(float spacing, Rgba colour);

    int size() const { return m_size; }
    // 8-bit RGBA, row-major, top row first.
    std::vector<uint8_t> rgba8() const;
    void save_png(const std::string& path) const;  // atomic

private:
    void blend(int x, int y, Rgba c, float coverage);
    Eigen::Vector2f to_pixels(float x, float y) const;

    int m_size;
    float m_lo, m_hi;
    std::vector<float> m_rgb;  // linear-ish RGB, background pre-filled
};

// A colour that varies smoothly with a source position (hue by angle, lightness by radius), so
// where each particle came from stays visible after transport.
Rgba colour_by_position(float x, float y, float radius_scale = 3.0f);

}  // namespace fmp
