// The GUI's look: a calm dark theme, the embedded font at the monitor's scale, the UI's own colours.
#pragma once
#include <imgui.h>

#include "app/render/palette.h"

namespace fmp {

// The view palette (app/render/palette.h) goes to ImGui unchanged: the same packed bits.
static_assert(IM_COL32(1, 2, 3, 4) == rgba8(1, 2, 3, 4), "ImGui packs colours as RGBA8, red lowest");

// Applies the dark theme and loads the embedded DejaVu Sans, both scaled by `scale` (HiDPI).
void apply_gui_theme(float scale);

// The fonts apply_gui_theme loads (DejaVu Sans and Sans Bold): the UI's, and the narration's
// in normal and presenter sizes.
struct UiFonts {
    ImFont* regular = nullptr;
    ImFont* bold = nullptr;
    ImFont* heading = nullptr;
    ImFont* large = nullptr;
    ImFont* large_bold = nullptr;
    ImFont* large_heading = nullptr;
};
const UiFonts& ui_fonts();

// Colours of the panels' own plots and accents (the canvas's colours are in palette::).
namespace ui_color {
constexpr ImU32 accent = IM_COL32(110, 168, 254, 255);  // UI accent
constexpr ImU32 loss_raw = IM_COL32(110, 168, 254, 90);
constexpr ImU32 loss_smooth = IM_COL32(120, 220, 200, 255);
constexpr ImU32 alpha_curve = IM_COL32(255, 159, 67, 255);
constexpr ImU32 sigma_curve = IM_COL32(86, 204, 242, 255);
}  // namespace ui_color

}  // namespace fmp
