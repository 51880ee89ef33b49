// The dark theme and the embedded UI font at the monitor's scale.
#include "app/gui/theme.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/base/resources.h"

namespace fmp {
namespace {

// Greek, arrows, maths and a few shapes on top of Latin-1: the tooltips write v_θ, α_t, σ_t, →.
// Modifier letters and combining marks (α̇, superscript indices), phonetic and Latin extended
// letters (ᵢ, ⱼ, Ẋ), dingbats (✓ ✗) and angle brackets (⟨ ⟩) for the lessons' formulas.
const ImWchar k_glyph_ranges[] = {0x0020, 0x00FF, 0x02B0, 0x036F, 0x0370, 0x03FF, 0x1D00, 0x1DBF,
                                  0x1E00, 0x1EFF, 0x2000, 0x206F, 0x2070, 0x209F, 0x2190, 0x21FF,
                                  0x2200, 0x22FF, 0x2500, 0x257F, 0x25A0, 0x25FF, 0x2700, 0x27EF,
                                  0x2C60, 0x2C7F, 0};

UiFonts g_fonts;

}  // namespace

const UiFonts& ui_fonts() { return g_fonts; }

void apply_gui_theme(float scale) {
    ImGuiIO& io = ImGui::GetIO();
    io.Fonts->Clear();
    UiFonts& f = g_fonts;
    f = UiFonts();
    if (auto font = embedded_file("font.ttf")) {
        auto bold = embedded_file("font_bold.ttf");
        // ImGui frees the buffer with its own allocator, so hand it a copy made by that allocator.
        auto add = [&](std::string_view bytes, float size, int oversample) {
            void* copy = ImGui::MemAlloc(bytes.size());
            std::memcpy(copy, bytes.data(), bytes.size());
            ImFontConfig config;
            config.OversampleH = oversample;
            config.OversampleV = oversample;
            return io.Fonts->AddFontFromMemoryTTF(copy, static_cast<int>(bytes.size()), std::round(size * scale),
                                                  &config, k_glyph_ranges);
        };
        f.regular = add(*font, 15.0f, 2);  // the first font is ImGui's default
        const std::string_view b = bold ? *bold : *font;
        f.bold = add(b, 15.0f, 2);
        f.heading = add(b, 19.0f, 1);
        // Presenter mode: narration readable from the back of a room.
        f.large = add(*font, 27.0f, 1);
        f.large_bold = add(b, 27.0f, 1);
        f.large_heading = add(b, 36.0f, 1);
    } else {
        f.regular = f.bold = f.heading = f.large = f.large_bold = f.large_heading = io.Fonts->AddFontDefault();
    }

    ImGuiStyle& style = ImGui::GetStyle();
    style = ImGuiStyle();
    ImGui::StyleColorsDark(&style);
    style.WindowRounding = 8.0f;
    style.ChildRounding = 6.0f;
    style.FrameRounding = 5.0f;
    style.PopupRounding = 6.0f;
    style.GrabRounding = 5.0f;
    style.ScrollbarRounding = 6.0f;
    style.TabRounding = 5.0f;
    style.WindowBorderSize = 1.0f;
    style.FrameBorderSize = 0.0f;
    style.WindowPadding = ImVec2(12, 10);
    style.FramePadding = ImVec2(8, 4);
    style.ItemSpacing = ImVec2(8, 6);
    style.ItemInnerSpacing = ImVec2(6, 4);
    style.GrabMinSize = 10.0f;
    style.ScrollbarSize = 12.0f;
    style.WindowTitleAlign = ImVec2(0.0f, 0.5f);
    ImVec4* c = style.Colors;
    auto rgb = [](int r, int g, int b, float a = 1.0f) {
        return ImVec4(r / 255.0f, g / 255.0f, b / 255.0f, a);
    };
    c[ImGuiCol_Text] = rgb(226, 230, 238);
    c[ImGuiCol_TextDisabled] = rgb(128, 136, 152);
    c[ImGuiCol_WindowBg] = rgb(24, 27, 34, 1.0f);  // opaque: the canvas is not drawn under panels
    c[ImGuiCol_ChildBg] = rgb(30, 34, 43, 0.6f);
    c[ImGuiCol_PopupBg] = rgb(28, 31, 40, 0.98f);
    c[ImGuiCol_Border] = rgb(255, 255, 255, 0.07f);
    c[ImGuiCol_FrameBg] = rgb(40, 45, 57);
    c[ImGuiCol_FrameBgHovered] = rgb(52, 59, 75);
    c[ImGuiCol_FrameBgActive] = rgb(60, 68, 88);
    c[ImGuiCol_TitleBg] = rgb(24, 27, 34, 0.94f);
    c[ImGuiCol_TitleBgActive] = rgb(30, 34, 44, 0.98f);
    c[ImGuiCol_TitleBgCollapsed] = rgb(24, 27, 34, 0.8f);
    c[ImGuiCol_MenuBarBg] = rgb(24, 27, 34);
    c[ImGuiCol_ScrollbarBg] = rgb(0, 0, 0, 0.0f);
    c[ImGuiCol_ScrollbarGrab] = rgb(70, 78, 96);
    c[ImGuiCol_CheckMark] = rgb(110, 168, 254);
    c[ImGuiCol_SliderGrab] = rgb(110, 168, 254);
    c[ImGuiCol_SliderGrabActive] = rgb(150, 192, 255);
    c[ImGuiCol_Button] = rgb(48, 55, 70);
    c[ImGuiCol_ButtonHovered] = rgb(64, 76, 100);
    c[ImGuiCol_ButtonActive] = rgb(80, 110, 170);
    c[ImGuiCol_Header] = rgb(48, 55, 70);
    c[ImGuiCol_HeaderHovered] = rgb(60, 70, 92);
    c[ImGuiCol_HeaderActive] = rgb(72, 90, 130);
    c[ImGuiCol_Separator] = rgb(255, 255, 255, 0.08f);
    c[ImGuiCol_ResizeGrip] = rgb(110, 168, 254, 0.15f);
    c[ImGuiCol_ResizeGripHovered] = rgb(110, 168, 254, 0.5f);
    c[ImGuiCol_Tab] = rgb(40, 45, 57);
    c[ImGuiCol_TabHovered] = rgb(64, 76, 100);
    c[ImGuiCol_TabActive] = rgb(58, 70, 96);
    c[ImGuiCol_PlotLines] = rgb(110, 168, 254);
    c[ImGuiCol_PlotHistogram] = rgb(120, 220, 200);
    c[ImGuiCol_TextSelectedBg] = rgb(110, 168, 254, 0.35f);
    style.ScaleAllSizes(scale);
}

}  // namespace fmp
