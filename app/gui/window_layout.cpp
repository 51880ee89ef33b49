// imgui.ini's location and the OS window's size saved beside the panel layout.
#include "app/gui/window_layout.h"

#include <imgui.h>
#include <imgui_internal.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "app/gui/gl_window.h"

namespace fmp {
namespace {

// The OS window's size is kept in imgui.ini next to the panel layout ("[fmplay][Window]").
struct SavedWindow {
    int width = 0, height = 0;
    GlWindow* window = nullptr;
    bool apply = false;
};
SavedWindow g_saved_window;

void* settings_open(ImGuiContext*, ImGuiSettingsHandler*, const char* name) {
    return std::string(name) == "Window" ? &g_saved_window : nullptr;
}
void settings_read_line(ImGuiContext*, ImGuiSettingsHandler*, void* entry, const char* line) {
    auto* saved = static_cast<SavedWindow*>(entry);
    int w = 0, h = 0;
    if (std::sscanf(line, "Size=%d,%d", &w, &h) == 2 && w >= 320 && h >= 240 && w <= 16384 &&
        h <= 16384) {
        saved->width = w;
        saved->height = h;
    }
}
void settings_apply(ImGuiContext*, ImGuiSettingsHandler*) {
    if (g_saved_window.apply && g_saved_window.window && g_saved_window.width > 0)
        g_saved_window.window->set_window_size(g_saved_window.width, g_saved_window.height);
}
void settings_write(ImGuiContext*, ImGuiSettingsHandler* handler, ImGuiTextBuffer* out) {
    if (!g_saved_window.window) return;
    int w = 0, h = 0;
    g_saved_window.window->window_size(w, h);
    out->appendf("[%s][Window]\nSize=%d,%d\n\n", handler->TypeName, w, h);
}

}  // namespace

// Where imgui.ini lives: $XDG_CONFIG_HOME/fmplay or ~/.config/fmplay (falls back to the cwd).
std::string layout_ini_path() {
    std::filesystem::path dir;
    if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg && *xdg)
        dir = std::filesystem::path(xdg) / "fmplay";
    else if (const char* home = std::getenv("HOME"); home && *home)
        dir = std::filesystem::path(home) / ".config" / "fmplay";
    else
        return "imgui.ini";
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    return ec ? std::string("imgui.ini") : (dir / "imgui.ini").string();
}

void install_window_size_setting(GlWindow* window, bool restore) {
    g_saved_window.window = window;
    g_saved_window.apply = restore;
    ImGuiSettingsHandler handler;
    handler.TypeName = "fmplay";
    handler.TypeHash = ImHashStr("fmplay");
    handler.ReadOpenFn = settings_open;
    handler.ReadLineFn = settings_read_line;
    handler.ApplyAllFn = settings_apply;
    handler.WriteAllFn = settings_write;
    ImGui::GetCurrentContext()->SettingsHandlers.push_back(handler);
}

void forget_window_size_setting() {
    g_saved_window.window = nullptr;
}

}  // namespace fmp
