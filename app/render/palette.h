// The view's colours, shared by the scene builder (the canvas and exports) and the window's legend,
// so the legend always matches the picture.
#pragma once
#include <cstdint>

namespace fmp {

// Colours are packed RGBA8 with red in the lowest byte, as the renderer's pack_rgba (and the same
// bits as Dear ImGui's IM_COL32, so the window passes them to ImGui unchanged).
constexpr uint32_t rgba8(int r, int g, int b, int a = 255) {
    return static_cast<uint32_t>(r) | (static_cast<uint32_t>(g) << 8) |
           (static_cast<uint32_t>(b) << 16) | (static_cast<uint32_t>(a) << 24);
}

namespace palette {
constexpr uint32_t marginal = rgba8(86, 204, 242);     // learned (marginal) paths: sky blue
constexpr uint32_t conditional = rgba8(255, 159, 67);  // conditional paths: amber
constexpr uint32_t learned = rgba8(235, 238, 245);     // learned arrows
constexpr uint32_t exact = rgba8(255, 209, 102);       // exact marginal arrows: gold
constexpr uint32_t difference = rgba8(255, 92, 122);   // learned minus exact: rose
constexpr uint32_t target = rgba8(255, 255, 255);      // target markers (drawn faint)
constexpr uint32_t source = rgba8(150, 160, 190);      // source markers (drawn faint)
constexpr uint32_t particle = rgba8(120, 220, 200);    // single-colour particles: mint
constexpr uint32_t traced = rgba8(190, 140, 255);      // a traced path (the inverse map): violet
constexpr uint32_t score = rgba8(120, 255, 140);       // score arrows grad log p_t: green
constexpr uint32_t unconditional = rgba8(170, 176, 196);  // the null class's field: slate
constexpr uint32_t guided = rgba8(255, 92, 122);          // a guided field (w != 1): rose
}  // namespace palette

// Twelve categorical colours for target modes, distinct on a dark background.
uint32_t mode_color(int mode);
// The colour of class k (0..7; the first eight mode colours), everywhere a class is shown: the
// particles that follow it, the target's points, the drawing brush, the class buttons. k < 0 is
// the null class (palette::unconditional).
uint32_t class_color(int k);
// A smooth colour field over the plane: hue by angle, saturation by radius (the particles'
// "where did you start" colouring). `scale` is the radius that gets full saturation.
uint32_t position_color(float x, float y, float scale);
// Speed in [0, 1] -> a cool-to-warm ramp for arrows.
uint32_t speed_color(float s);

// `c` with its alpha multiplied by `alpha` (clamped to [0, 1]).
constexpr uint32_t fade(uint32_t c, float alpha) {
    float a = ((c >> 24) & 0xff) / 255.0f * alpha;
    a = a < 0 ? 0 : (a > 1 ? 1 : a);
    return (c & 0x00ffffffu) | (static_cast<uint32_t>(a * 255.0f + 0.5f) << 24);
}

}  // namespace fmp
