// The 2D scene renderer shared by the window, screenshots and video export: layers of soft point
// sprites, anti-aliased segments and a density heatmap, drawn into the current framebuffer or an
// offscreen one of any size.
#pragma once
#include <Eigen/Core>
#include <Eigen/Geometry>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace fmp {

// Colours are packed RGBA8 with red in the lowest byte (the byte order r,g,b,a in memory).
constexpr uint32_t pack_rgba(float r, float g, float b, float a = 1.0f) {
    auto c = [](float v) {
        v = v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
        return static_cast<uint32_t>(v * 255.0f + 0.5f);
    };
    return c(r) | (c(g) << 8) | (c(b) << 16) | (c(a) << 24);
}
constexpr uint32_t with_alpha(uint32_t rgba, float a) {
    return (rgba & 0x00ffffffu) | (pack_rgba(0, 0, 0, a) & 0xff000000u);
}

// Where the camera looks: world point at the centre of the target and the zoom; the world's y
// axis points up. width/height are the target's size in pixels.
// The zoom range: from the whole coordinate range (2e6 units) in ~200 pixels to 1e5 pixels a unit.
inline constexpr float k_min_pixels_per_unit = 1e-4f;
inline constexpr float k_max_pixels_per_unit = 1e5f;

struct View2D {
    Eigen::Vector2f center{0.0f, 0.0f};
    float pixels_per_unit = 100.0f;
    int width = 1;
    int height = 1;

    // Pixel coordinates with the origin at the top-left corner and y down (mouse coordinates).
    Eigen::Vector2f world_to_pixel(const Eigen::Vector2f& w) const;
    Eigen::Vector2f pixel_to_world(const Eigen::Vector2f& p) const;
    Eigen::AlignedBox2f visible_box() const;
    // Centres `box` and zooms so it fills the target with a margin (fraction of the size).
    void fit(const Eigen::AlignedBox2f& box, float margin = 0.08f);
    // Zooms by `factor` keeping the world point under pixel `p` fixed.
    void zoom_at(const Eigen::Vector2f& p, float factor);
};

// Soft round sprites, one per point. Positions come from `xy` (x,y pairs) or, for the GPU engine,
// straight from a GL buffer of vec2: gl_count points at gl_offset_a mixed toward as many at
// gl_offset_b by gl_mix (two stored trajectory slices around t); colours then from gl_colors
// (packed RGBA per point) when set.
struct PointLayer {
    std::vector<float> xy;
    unsigned gl_buffer = 0;
    int gl_count = 0;
    int gl_offset_a = 0, gl_offset_b = 0;  // in points
    float gl_mix = 0.0f;
    unsigned gl_colors = 0;
    std::vector<uint32_t> rgba;  // one colour per point; empty: `color` for all
    uint32_t color = pack_rgba(1, 1, 1, 1);
    float size_px = 3.0f;   // diameter
    float softness = 0.6f;  // 0: hard disc, 1: a gaussian-like blob
    bool additive = false;  // additive blending (glow where points pile up)
    int count() const { return gl_buffer ? gl_count : static_cast<int>(xy.size() / 2); }
};

// A line segment from a to b (world units) with a colour at each end and a width in pixels.
// Segments are drawn as capsules, so polylines made of them join smoothly.
struct Segment {
    float ax, ay, bx, by;
    uint32_t ca, cb;
    float width_px;
};

struct SegmentLayer {
    std::vector<Segment> segments;
    bool additive = false;
    void add(const Eigen::Vector2f& a, const Eigen::Vector2f& b, uint32_t ca, uint32_t cb,
             float width_px) {
        segments.push_back({a.x(), a.y(), b.x(), b.y(), ca, cb, width_px});
    }
    // An arrow from `base` along `vec` with a V head of `head_px` pixels (needs the zoom).
    void add_arrow(const Eigen::Vector2f& base, const Eigen::Vector2f& vec, uint32_t color,
                   float width_px, float head_px, float pixels_per_unit);
};

// A scalar field on a regular grid over `box` (values in [0, 1], row 0 at the bottom), shown
// through a colour map; values near 0 are transparent.
struct HeatmapLayer {
    int width = 0;
    int height = 0;
    std::vector<float> values;
    Eigen::AlignedBox2f box;
    float opacity = 0.85f;
};

using SceneLayer = std::variant<PointLayer, SegmentLayer, HeatmapLayer>;

struct Scene {
    uint32_t background = pack_rgba(0.075f, 0.082f, 0.102f, 1.0f);
    bool grid = true;
    bool axes = true;
    float ui_scale = 1.0f;  // scales grid line widths and spacing (HiDPI, exports)
    // Pixels outside this rectangle (x, y from the bottom-left, width, height) keep the background:
    // the window skips what its opaque panels cover. Width 0: draw everywhere.
    int clip[4] = {0, 0, 0, 0};
    // false: only the clip rectangle is cleared, so a second view can be drawn beside a first
    // (side by side); true: the whole framebuffer.
    bool clear_outside_clip = true;
    std::vector<SceneLayer> layers;  // drawn in order, after the grid
};

// The grid spacing used for a view (1, 2 or 5 times a power of ten, at least ~min_px apart).
float grid_spacing(float pixels_per_unit, float min_px);
// Calls fn(v) for every multiple v of step in [lo, hi] and returns how many; none (0) when there
// would be more than k_max_grid_lines, or the range is not finite.
inline constexpr double k_max_grid_lines = 4096;
int for_each_line(float lo, float hi, float step, const std::function<void(float)>& fn);

// An RGBA8 framebuffer object of a given size (exports, screenshots at any resolution).
class OffscreenTarget {
  public:
    OffscreenTarget(int width, int height);  // needs a current GL context
    ~OffscreenTarget();
    OffscreenTarget(const OffscreenTarget&) = delete;
    OffscreenTarget& operator=(const OffscreenTarget&) = delete;
    int width() const { return m_width; }
    int height() const { return m_height; }
    void bind();  // binds it as the draw framebuffer (unbind: bind 0)
    // The pixels, top row first, RGBA8.
    std::vector<uint8_t> read_rgba() const;

  private:
    int m_width, m_height;
    unsigned m_fbo = 0, m_color = 0;
};

// Reads the currently bound framebuffer's colour (top row first).
std::vector<uint8_t> read_framebuffer_rgba(int width, int height);

// Needs a current OpenGL 4.3 core context for its whole life (created and destroyed with it).
class SceneRenderer {
  public:
    SceneRenderer();  // compiles the shaders; throws std::runtime_error with the log
    ~SceneRenderer();
    SceneRenderer(const SceneRenderer&) = delete;
    SceneRenderer& operator=(const SceneRenderer&) = delete;

    // Clears and draws the scene into the bound framebuffer, viewport (0, 0, view.width,
    // view.height).
    void render(const Scene& scene, const View2D& view);

  private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

}  // namespace fmp
