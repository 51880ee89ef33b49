// Draws a lesson's narration blocks in the current ImGui window: wrapped text with bold, emphasis,
// code, headings, lists and quotes, at the UI's size or presenter mode's.
#pragma once
#include <vector>

#include "app/lesson/narration.h"

namespace fmp {

void draw_narration(const std::vector<NarrationBlock>& blocks, bool large);

}  // namespace fmp
