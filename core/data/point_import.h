// Imports that turn a picture (PNG, JPEG, BMP, GIF) or a typed word into a 2D point set.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/base/types.h"
#include "core/data/image_decode.h"

namespace fmp {

// Limits that keep an import bounded on hostile input; the error messages quote them.
inline constexpr int k_max_import_points = 2'000'000;
inline constexpr int k_max_text_chars = 64;                          // code points

// How an image becomes a density. Each pixel gets a value v in [0, 1]:
//   use_alpha == false: v = a * (1 - Y)  (or a * Y with invert), Y the luminance and a the alpha
//     (1 for opaque formats). This is the pixel composited over a white page (a black one with
//     invert), so a transparent PNG works without any switch: transparent pixels carry no mass.
//   use_alpha == true:  v = a  (or 1 - a with invert): the alpha channel alone is the
//     probability, whatever the colours are.
// There is deliberately no automatic switch to alpha: compositing already gives transparent
// images the expected density, and an automatic rule would make the same picture behave
// differently depending on how it was saved.
// The mass of a pixel is max(0, v - threshold)^contrast; points are drawn in proportion to mass,
// uniformly within the pixel, and the image is fitted into the square [box_lo, box_hi]^2 keeping
// its aspect ratio, centred, with y up (row 0 of the image is the top).
struct ImageImportOptions {
    int points = 20000;        // 1..2'000'000
    bool invert = false;       // light pixels carry the mass instead of dark ones
    bool use_alpha = false;    // alpha alone as probability (see above)
    float threshold = 0.0f;    // values at or below this carry no mass, 0..1 (1 excluded)
    float contrast = 1.0f;     // mass exponent, 0.1..10
    float box_lo = -3.0f, box_hi = 3.0f;  // the square data box the image is fitted into
    uint64_t seed = 1;
};

// Reads an image file (at most k_max_image_file_bytes) and samples it. Throws InputError naming
// the file: not a PNG/JPEG/BMP/GIF, truncated or corrupt (with the decoder's reason: libpng,
// libjpeg-turbo, giflib, stb_image for BMP), larger than k_max_image_side or k_max_image_pixels
// (checked from the header before decoding), no mass to sample, or options out of range.
Points image_to_points(const std::string& path, const ImageImportOptions& opt);
// The same for image bytes already in memory; `name` is what error messages call them.
Points image_bytes_to_points(std::string_view bytes, const ImageImportOptions& opt,
                             const std::string& name);

// A word rendered with the UI font (DejaVu Sans, embedded in the binary) and sampled by glyph
// coverage. The rendering is cropped to its ink, then fitted into [box_lo, box_hi]^2 like an image.
struct TextImportOptions {
    int points = 20000;        // 1..2'000'000
    float box_lo = -3.0f, box_hi = 3.0f;
    uint64_t seed = 1;
    int pixel_height = 160;    // font size of the rasterisation, 8..512
};

// `text` is UTF-8, one line. Throws InputError for empty or whitespace-only text, more than
// k_max_text_chars code points, control characters, invalid UTF-8, or options out of range.
Points text_to_points(const std::string& text, const TextImportOptions& opt);

}  // namespace fmp
