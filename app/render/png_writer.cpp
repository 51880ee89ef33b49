// PNG files for screenshots and frames through stb_image_write (compiled in Debian's libstb),
// written atomically.
#include "app/render/png_writer.h"

#include <stb/stb_image_write.h>

#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <system_error>

#include "core/base/file_io.h"

namespace fmp {

void write_png_atomic(const std::string& path, int w, int h, const std::vector<uint8_t>& rgba) {
    if (w <= 0 || h <= 0 || rgba.size() < static_cast<std::size_t>(w) * h * 4)
        throw std::runtime_error("write_png_atomic: bad image size for " + path);
    std::string tmp = temporary_sibling(path);
    if (!stbi_write_png(tmp.c_str(), w, h, 4, rgba.data(), w * 4)) {
        std::remove(tmp.c_str());
        throw std::runtime_error("cannot write PNG " + path);
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
        std::remove(tmp.c_str());
        throw std::runtime_error("cannot write PNG " + path + ": " + ec.message());
    }
}

void flip_rows(std::vector<uint8_t>& rgba, int w, int h) {
    std::size_t row = static_cast<std::size_t>(w) * 4;
    std::vector<uint8_t> tmp(row);
    for (int y = 0; y < h / 2; ++y) {
        uint8_t* a = rgba.data() + row * y;
        uint8_t* b = rgba.data() + row * (h - 1 - y);
        std::copy(a, a + row, tmp.data());
        std::copy(b, b + row, a);
        std::copy(tmp.data(), tmp.data() + row, b);
    }
}

}  // namespace fmp
