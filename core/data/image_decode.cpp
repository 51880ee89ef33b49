// Image decoding: the format is sniffed from the bytes, then its hardened decoder runs.
//
// Untrusted pictures are decoded by the hardened, continuously fuzzed libraries Debian ships
// (libpng, libjpeg-turbo, giflib), not by stb_image: Debian 12's stb (2022-09-08) does not check
// that a JPEG Huffman table's counts sum to at most 256 and writes kilobytes past its tables
// (even from stbi_info), and it inflates a PNG's whole zlib stream, so a small file that claims
// 64x64 pixels can make it allocate gigabytes. stb decodes BMP only, because Debian ships no
// hardened BMP library; its BMP reader is separate from the JPEG and PNG code and is guarded by
// header and truncation checks of our own (image_bmp.cpp).
// Every decoder reads the header first; the size caps are checked before any pixel memory
// exists, and that memory is then sized from the checked header, never from what the compressed
// data turns out to hold. Every format ends as 8-bit (luminance, alpha) pairs converted exactly as
// stb_image converted it, so a picture gives the same points it gave before.
#include "core/data/image_decode.h"

#include "core/data/image_decoders.h"

namespace fmp {
namespace {

enum class ImageFormat { Png, Jpeg, Bmp, Gif, Unknown };

// Sniffing the magic numbers picks the decoder, so random bytes never reach a guessing decoder
// (stb also tried TGA, whose header has no signature) and the accepted formats stay explicit.
ImageFormat sniff(std::string_view b) {
    auto starts = [&](std::string_view magic) { return b.substr(0, magic.size()) == magic; };
    if (starts(std::string_view("\x89PNG\r\n\x1a\n", 8))) return ImageFormat::Png;
    if (starts("\xFF\xD8\xFF")) return ImageFormat::Jpeg;
    if (starts("BM")) return ImageFormat::Bmp;
    if (starts("GIF87a") || starts("GIF89a")) return ImageFormat::Gif;
    return ImageFormat::Unknown;
}

}  // namespace

// Throws unless 1 <= w, h and the picture fits the caps; called with the header's numbers before
// anything pixel-sized is allocated.
void check_image_size(const std::string& name, long long w, long long h) {
    if (w <= 0 || h <= 0)
        throw InputError(name + " has no pixels (" + std::to_string(w) + "x" + std::to_string(h) +
                         ")");
    if (w > k_max_image_side || h > k_max_image_side || w * h > k_max_image_pixels)
        throw InputError(name + " is " + std::to_string(w) + "x" + std::to_string(h) +
                         " pixels; images are limited to 8192 pixels a side and 40 megapixels");
}

LumaAlpha blank_image(int w, int h) {
    LumaAlpha img;
    img.w = w, img.h = h;
    img.px.assign(static_cast<std::size_t>(w) * static_cast<std::size_t>(h) * 2, 0);
    return img;
}

std::string corrupt(const std::string& name, const char* format, const char* library,
                    const char* msg) {
    return name + " is a truncated or corrupt " + format + " (" + library + ": " +
           one_line_message(msg && *msg ? msg : "unknown error", 200) + ")";
}

// n pixels of `channels` 8-bit samples (grey, grey+alpha, RGB, RGBA) to (luminance, alpha) pairs,
// written `step` pixels apart (the column step of an Adam7 pass, else 1). stb's rules: opaque
// formats get alpha 255, colour becomes luma().
void to_luma_alpha(const unsigned char* in, int channels, int n, unsigned char* out, int step) {
    const std::size_t stride = static_cast<std::size_t>(step) * 2;
    for (int i = 0; i < n; ++i, in += channels, out += stride) {
        switch (channels) {
            case 1:
                out[0] = in[0], out[1] = 255;
                break;
            case 2:
                out[0] = in[0], out[1] = in[1];
                break;
            case 3:
                out[0] = luma(in[0], in[1], in[2]), out[1] = 255;
                break;
            default:
                out[0] = luma(in[0], in[1], in[2]), out[1] = in[3];
                break;
        }
    }
}

// The same for 16-bit samples (big-endian, as libpng delivers them). stb computed the luminance
// of 16-bit colour at 16 bits and then kept the high byte, which can differ by one from the
// luminance of the high bytes; grey and alpha are just their high bytes.
void to_luma_alpha16(const unsigned char* in, int channels, int n, unsigned char* out, int step) {
    const std::size_t stride = static_cast<std::size_t>(step) * 2;
    auto at = [&](int k) { return static_cast<unsigned>(in[2 * k] << 8 | in[2 * k + 1]); };
    for (int i = 0; i < n; ++i, in += 2 * channels, out += stride) {
        switch (channels) {
            case 1:
                out[0] = in[0], out[1] = 255;
                break;
            case 2:
                out[0] = in[0], out[1] = in[2];
                break;
            case 3:
                out[0] = static_cast<unsigned char>((at(0) * 77 + at(1) * 150 + at(2) * 29) >> 16);
                out[1] = 255;
                break;
            default:
                out[0] = static_cast<unsigned char>((at(0) * 77 + at(1) * 150 + at(2) * 29) >> 16);
                out[1] = in[6];
                break;
        }
    }
}

LumaAlpha decode_image(std::string_view bytes, const std::string& name) {
    if (bytes.size() > k_max_image_file_bytes)
        throw InputError(name + " is larger than the 64 MiB image limit");
    if (bytes.empty()) throw InputError(name + " is empty, not an image");
    switch (sniff(bytes)) {
        case ImageFormat::Png:
            return decode_png(bytes, name);
        case ImageFormat::Jpeg:
            return decode_jpeg(bytes, name);
        case ImageFormat::Gif:
            return decode_gif(bytes, name);
        case ImageFormat::Bmp:
            return decode_bmp(bytes, name);
        case ImageFormat::Unknown:
            break;
    }
    throw InputError(name + " is not a PNG, JPEG, BMP or GIF image");
}

}  // namespace fmp
