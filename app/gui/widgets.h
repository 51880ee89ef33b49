// Small ImGui helpers the panels share: tooltips, combos over name lists, legend swatches, numbers.
#pragma once
#include <imgui.h>

#include <string>
#include <vector>

namespace fmp {

// A tooltip for the last item (also when it is disabled), wrapped at a readable width.
void tip(const char* text);
void tip(const std::string& text);

// A combo over `items` (shown as `labels` when given); true when the choice changed.
bool combo(const char* label, int& index, const std::vector<std::string>& items,
           const std::vector<std::string>* labels = nullptr);

// A legend entry: a dot (or a short line) of `color`, then the text.
void swatch(ImU32 color, const char* text, bool line = false);

// 1234567 -> "1,234,567".
std::string with_commas(long long v);

}  // namespace fmp
