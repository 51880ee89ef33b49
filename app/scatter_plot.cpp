// CPU rasterizer for headless figures (the demo's PNG): soft dots and anti-aliased lines.
#include "app/scatter_plot.h"

#include <algorithm>
#include <cmath>

#include "core/point_io.h"

#include <stb/stb_image_write.h>

namespace fmp {

ScatterPlot::ScatterPlot(int size, float lo, float hi) : m_size(size), m_lo(lo), m_hi(hi) {
    m_rgb.resize(static_cast<std::size_t>(size) * size * 3);
    for (std::size_t i = 0; i < m_rgb.size(); i += 3) {
        m_rgb[i] = 0.071f;  // the app's dark canvas colour (#121620)
        m_rgb[i + 1] = 0.086f;
        m_rgb[i + 2] = 0.125f;
    }
}

Eigen::Vector2f ScatterPlot::to_pixels(float x, float y) const {
    float s = m_size / (m_hi - m_lo);
    return {(x - m_lo) * s, (m_hi - y) * s};
}

void ScatterPlot::blend(int x, int y, Rgba c, float coverage) {
    if (x < 0 || y < 0 || x >= m_size || y >= m_size) return;
    float a = std::clamp(c.a * coverage, 0.0f, 1.0f);
    float* p = &m_rgb[(static_cast<std::size_t>(y) * m_size + x) * 3];
    p[0] += (c.r - p[0]) * a;
    p[1] += (c.g - p[1]) * a;
    p[2] += (c.b - p[2]) * a;
}

void ScatterPlot::points(const Points& p, Rgba colour, float radius_px) {
    points(p, std::vector<Rgba>(p.rows(), colour), radius_px);
}

void ScatterPlot::points(const Points& p, const std::vector<Rgba>& colours, float radius_px) {
    const int reach = static_cast<int>(std::ceil(radius_px + 1.0f));
    for (Eigen::Index i = 0; i < p.rows(); ++i) {
        Eigen::Vector2f c = to_pixels(p(i, 0), p(i, 1));
        if (!std::isfinite(c.x()) || !std::isfinite(c.y())) continue;
        int cx = static_cast<int>(std::floor(c.x())), cy = static_cast<int>(std::floor(c.y()));
        for (int y = cy - reach; y <= cy + reach; ++y)
            for (int x = cx - reach; x <= cx + reach; ++x) {
                float dx = x + 0.5f - c.x(), dy = y + 0.5f - c.y();
                float d = std::sqrt(dx * dx + dy * dy);
                float cov = std::clamp(radius_px + 0.5f - d, 0.0f, 1.0f);
                if (cov > 0.0f) blend(x, y, colours[i], cov);
            }
    }
}

void ScatterPlot::polyline(const Points& p, Rgba colour, float width_px) {
    const float half = 0.5f * width_px;
    for (Eigen::Index i = 0; i + 1 < p.rows(); ++i) {
        Eigen::Vector2f a = to_pixels(p(i, 0), p(i, 1)), b = to_pixels(p(i + 1, 0), p(i + 1, 1));
        if (!a.allFinite() || !b.allFinite()) continue;
        int x0 = static_cast<int>(std::floor(std::min(a.x(), b.x()) - half - 1));
        int x1 = static_cast<int>(std::ceil(std::max(a.x(), b.x()) + half + 1));
        int y0 = static_cast<int>(std::floor(std::min(a.y(), b.y()) - half - 1));
        int y1 = static_cast<int>(std::ceil(std::max(a.y(), b.y()) + half + 1));
        x0 = std::max(x0, 0), y0 = std::max(y0, 0);
        x1 = std::min(x1, m_size - 1), y1 = std::min(y1, m_size - 1);
        Eigen::Vector2f ab = b - a;
        float len2 = std::max(ab.squaredNorm(), 1e-6f);
        for (int y = y0; y <= y1; ++y)
            for (int x = x0; x <= x1; ++x) {
                Eigen::Vector2f q(x + 0.5f, y + 0.5f);
                float s = std::clamp((q - a).dot(ab) / len2, 0.0f, 1.0f);
                float d = (q - (a + s * ab)).norm();
                float cov = std::clamp(half + 0.5f - d, 0.0f, 1.0f);
                // Joints are drawn by both segments; halve each so they do not darken.
                if (cov > 0.0f) blend(x, y, colour, (s == 0.0f || s == 1.0f) ? cov * 0.5f : cov);
            }
    }
}

void ScatterPlot::grid(float spacing, Rgba colour) {
    for (float v = std::ceil(m_lo / spacing) * spacing; v <= m_hi; v += spacing) {
        Points h(2, 2), w(2, 2);
        h << m_lo, v, m_hi, v;
        w << v, m_lo, v, m_hi;
        Rgba c = colour;
        if (std::fabs(v) < 1e-6f) c.a *= 2.0f;  // the axes a little stronger
        polyline(h, c, 1.0f);
        polyline(w, c, 1.0f);
    }
}

std::vector<uint8_t> ScatterPlot::rgba8() const {
    std::vector<uint8_t> out(static_cast<std::size_t>(m_size) * m_size * 4);
    for (std::size_t i = 0, n = static_cast<std::size_t>(m_size) * m_size; i < n; ++i) {
        for (int k = 0; k < 3; ++k)
            out[i * 4 + k] = static_cast<uint8_t>(std::clamp(m_rgb[i * 3 + k], 0.0f, 1.0f) * 255.0f + 0.5f);
        out[i * 4 + 3] = 255;
    }
    return out;
}

void ScatterPlot::save_png(const std::string& path) const {
    std::vector<uint8_t> rgba = rgba8();
    std::string png;
    stbi_write_png_to_func(
        [](void* ctx, void* data, int size) {
            static_cast<std::string*>(ctx)->append(static_cast<const char*>(data), size);
        },
        &png, m_size, m_size, 4, rgba.data(), m_size * 4);
    if (png.empty()) throw InputError("cannot encode PNG for " + path);
    write_file_atomic(path, png);
}

Rgba colour_by_position(float x, float y, float radius_scale) {
    // Hue from the angle, saturation from the radius: neighbours in the source share colours.
    float h = (std::atan2(y, x) / 6.2831853f) + 0.5f;
    float r = std::min(1.0f, std::sqrt(x * x + y * y) / radius_scale);
    float s = 0.35f + 0.6f * r, v = 0.95f;
    float hh = h * 6.0f;
    int i = static_cast<int>(std::floor(hh)) % 6;
    float f = hh - std::floor(hh);
    float p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
    float rgb[6][3] = {{v, t, p}, {q, v, p}, {p, v, t}, {p, q, v}, {t, p, v}, {v, p, q}};
    return {rgb[i][0], rgb[i][1], rgb[i][2], 0.85f};
}

}  // namespace fmp
