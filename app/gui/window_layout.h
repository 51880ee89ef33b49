// Where the window's layout is kept (imgui.ini under ~/.config/fmplay) and the OS window's size,
// which is saved in the same file.
#pragma once
#include <string>

namespace fmp {

class GlWindow;

// $XDG_CONFIG_HOME/fmplay/imgui.ini or ~/.config/fmplay/imgui.ini (the folder is created), or
// "imgui.ini" in the working directory when neither can be used.
std::string layout_ini_path();

// Saves the OS window's size in imgui.ini ("[fmplay][Window]") with the panel layout and, when
// `restore`, gives the window the saved size when the file is read. Needs an ImGui context.
void install_window_size_setting(GlWindow* window, bool restore);
// Before the window goes: the size is no longer read from it.
void forget_window_size_setting();

}  // namespace fmp
