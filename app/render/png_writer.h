// PNG output for screenshots and exported frames: written under a temporary name, then renamed.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace fmp {

// Writes w x h RGBA8 pixels (top row first) to `path` as a PNG. The file appears under its final
// name only when complete (temp file + rename), so a crash never leaves a truncated image.
// Throws std::runtime_error with the path on failure.
void write_png_atomic(const std::string& path, int w, int h, const std::vector<uint8_t>& rgba);

// Flips rows in place: glReadPixels returns the bottom row first.
void flip_rows(std::vector<uint8_t>& rgba, int w, int h);

}  // namespace fmp
