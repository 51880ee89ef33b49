// What the per-format image decoders share (image_decode.cpp, image_png.cpp, image_jpeg.cpp,
// image_gif.cpp, image_bmp.cpp): their entry points, the size check and the pixel conversions.
#pragma once
#include <string>
#include <string_view>

#include "core/base/types.h"
#include "core/data/image_decode.h"

namespace fmp {

LumaAlpha decode_png(std::string_view bytes, const std::string& name);
LumaAlpha decode_jpeg(std::string_view bytes, const std::string& name);
LumaAlpha decode_gif(std::string_view bytes, const std::string& name);
LumaAlpha decode_bmp(std::string_view bytes, const std::string& name);

// Throws unless 1 <= w, h and the picture fits the caps; called with the header's numbers before
// anything pixel-sized is allocated.
void check_image_size(const std::string& name, long long w, long long h);
// A w x h picture of zeros (transparent black), to be filled row by row.
LumaAlpha blank_image(int w, int h);
// "<name> is a truncated or corrupt <format> (<library>: <msg>)", one line.
std::string corrupt(const std::string& name, const char* format, const char* library,
                    const char* msg);

// stb_image's luminance of an RGB pixel, (77 r + 150 g + 29 b) / 256 rounded down.
inline unsigned char luma(unsigned r, unsigned g, unsigned b) {
    return static_cast<unsigned char>((r * 77 + g * 150 + b * 29) >> 8);
}

// n pixels of `channels` 8-bit samples (grey, grey+alpha, RGB, RGBA) to (luminance, alpha) pairs,
// written `step` pixels apart (the column step of an Adam7 pass, else 1). stb's rules: opaque
// formats get alpha 255, colour becomes luma().
void to_luma_alpha(const unsigned char* in, int channels, int n, unsigned char* out, int step);
// The same for 16-bit samples (big-endian, as libpng delivers them). stb computed the luminance
// of 16-bit colour at 16 bits and then kept the high byte, which can differ by one from the
// luminance of the high bytes; grey and alpha are just their high bytes.
void to_luma_alpha16(const unsigned char* in, int channels, int n, unsigned char* out, int step);

}  // namespace fmp
