// Files embedded in the binary at build time (shaders/*, the UI font), looked up by file name.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fmp {

// The bytes of an embedded file such as "train_step.comp" or "font.ttf"; nullopt if unknown.
std::optional<std::string_view> embedded_file(std::string_view name);
std::vector<std::string> embedded_file_names();

}  // namespace fmp
