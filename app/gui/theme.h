// The GUI's look: a calm dark theme, the embedded font at the monitor's scale, shared colours.
#pragma once
#include <imgui.h>

#include <cstdint>

namespace fmp {

// Applies the dark theme and loads the embedded DejaVu Sans, both scaled by `scale` (HiDPI).
void apply_gui_theme(float scale);

// Colours used both by the canvas and by the legend, so the legend always matches the picture.
namespace palette {
constexpr ImU32 marginal = IM_COL32(86, 204, 242, 255);     // learned (marginal) paths: sky blue
constexpr ImU32 conditional = IM_COL32(255, 159, 67, 255);  // conditional paths: amber
constexpr ImU32 learned = IM_COL32(235, 238, 245, 255);     // learned arrows
constexpr ImU32 exact = IM_COL32(255, 209, 102, 255);       // exact marginal arrows: gold
constexpr ImU32 difference = IM_COL32(255, 92, 122, 255);   // learned minus exact: rose
constexpr ImU32 target = IM_COL32(255, 255, 255, 255);      // target markers (drawn faint)
constexpr ImU32 source = IM_COL32(150, 160, 190, 255);      // source markers (drawn faint)
constexpr ImU32 particle = IM_COL32(120, 220, 200, 255);    // single-colour particles: mint
constexpr ImU32 accent = IM_COL32(110, 168, 254, 255);      // UI accent
constexpr ImU32 loss_raw = IM_COL32(110, 168, 254, 90);
constexpr ImU32 loss_smooth = IM_COL32(120, 220, 200, 255);
constexpr ImU32 alpha_curve = IM_COL32(255, 159, 67, 255);
constexpr ImU32 sigma_curve = IM_COL32(86, 204, 242, 255);
}  // namespace palette

// Twelve categorical colours for target modes, distinct on a dark background.
ImU32 mode_color(int mode);
// A smooth colour field over the plane: hue by angle, saturation by radius (the particles'
// "where did you start" colouring). `scale` is the radius that gets full saturation.
ImU32 position_color(float x, float y, float scale);
// Speed in [0, 1] -> a cool-to-warm ramp for arrows.
ImU32 speed_color(float s);

// ImU32 (ImGui's ABGR) and the renderer's packed RGBA share the byte order r,g,b,a.
constexpr uint32_t to_rgba(ImU32 c, float alpha) {
    float a = ((c >> IM_COL32_A_SHIFT) & 0xff) / 255.0f * alpha;
    a = a < 0 ? 0 : (a > 1 ? 1 : a);
    return (c & 0x00ffffffu) | (static_cast<uint32_t>(a * 255.0f + 0.5f) << 24);
}

}  // namespace fmp
