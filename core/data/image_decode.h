// Untrusted pictures (PNG, JPEG, GIF, BMP) decoded to 8-bit (luminance, alpha) pixels, bounded
// before any pixel memory exists. One file per format: image_png.cpp, image_jpeg.cpp,
// image_gif.cpp, image_bmp.cpp; this header is what the rest of the core uses.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace fmp {

// Limits that keep a decode bounded on hostile input; the error messages quote them.
inline constexpr std::size_t k_max_image_file_bytes = 64u << 20;  // 64 MiB
inline constexpr int k_max_image_side = 8192;                     // pixels, either side
inline constexpr long long k_max_image_pixels = 40'000'000;       // 40 megapixels

// A decoded picture: w x h pixels of (luminance, alpha) bytes, row 0 the top. Luminance is
// stb_image's (77 r + 150 g + 29 b) / 256; opaque formats have alpha 255.
struct LumaAlpha {
    int w = 0, h = 0;
    std::vector<unsigned char> px;
};

// Decodes the bytes of a PNG, JPEG, GIF (its first frame) or BMP, picked by their signature;
// `name` is what messages call them. Throws InputError (one line naming `name`): empty, another
// format, over the caps (checked from the header, before decoding), truncated or corrupt.
LumaAlpha decode_image(std::string_view bytes, const std::string& name);

}  // namespace fmp
