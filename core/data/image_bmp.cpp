// BMP decoding with stb_image (Debian ships no hardened BMP library), behind our own header and
// truncation checks.
#include <stb/stb_image.h>

#include <cstdint>
#include <memory>

#include "core/data/image_decoders.h"

namespace fmp {
namespace {

uint32_t read_le(std::string_view b, std::size_t at, int n) {
    uint32_t v = 0;
    for (int i = n - 1; i >= 0; --i)
        v = (v << 8) | static_cast<unsigned char>(b[at + static_cast<std::size_t>(i)]);
    return v;
}

// stb_image reads past the end of a BMP as zeros, so a truncated BMP would "decode" as a black
// block. For the uncompressed layouts the pixel array's size is known from the header: check it.
// Returns an empty string when the file is long enough (or the layout is one stb refuses anyway).
std::string bmp_truncation(std::string_view b) {
    if (b.size() < 26) return "the header ends early";
    const uint32_t offset = read_le(b, 10, 4), header = read_le(b, 14, 4);
    int64_t w = 0, h = 0, bpp = 0, compression = 0;
    if (header == 12) {
        w = read_le(b, 18, 2), h = read_le(b, 20, 2), bpp = read_le(b, 24, 2);
    } else if (header >= 40 && b.size() >= 34) {
        w = static_cast<int32_t>(read_le(b, 18, 4));
        h = static_cast<int32_t>(read_le(b, 22, 4));
        bpp = read_le(b, 28, 2);
        compression = read_le(b, 30, 4);
    } else {
        return {};
    }
    const bool uncompressed = compression == 0 || compression == 3 || compression == 6;
    if (!uncompressed || w <= 0 || bpp <= 0 || bpp > 32) return {};
    const int64_t stride = (w * bpp + 31) / 32 * 4;
    const int64_t need = static_cast<int64_t>(offset) + stride * (h < 0 ? -h : h);
    if (static_cast<int64_t>(b.size()) < need)
        return "the pixel data ends early (" + std::to_string(b.size()) + " of " +
               std::to_string(need) + " bytes)";
    return {};
}

std::string stb_reason() {
    const char* r = stbi_failure_reason();
    return r ? std::string(r) : std::string("unknown error");
}

struct StbiFree {
    void operator()(unsigned char* p) const { stbi_image_free(p); }
};

}  // namespace

// stb picks a decoder by probing its formats in turn, and a file its BMP probe rejects would go
// on to the TGA, PSD, PIC and HDR probes. So the header is read here, only a header size stb's
// BMP reader takes (which it then commits to) is passed on, and no other stb decoder ever sees an
// imported file. The dimensions are read as stb reads them: 16 bits in the old 12-byte header,
// else 32 with a negative height meaning top-down rows.
LumaAlpha decode_bmp(std::string_view bytes, const std::string& name) {
    if (bytes.size() < 26) throw InputError(name + " is a truncated BMP: the header ends early");
    const uint32_t header = read_le(bytes, 14, 4);
    if (header != 12 && header != 40 && header != 56 && header != 108 && header != 124)
        throw InputError(name + " is a BMP of an unsupported kind (header size " +
                         std::to_string(header) + ")");
    const int64_t w =
        header == 12 ? read_le(bytes, 18, 2) : int64_t{static_cast<int32_t>(read_le(bytes, 18, 4))};
    const int64_t h =
        header == 12 ? read_le(bytes, 20, 2) : int64_t{static_cast<int32_t>(read_le(bytes, 22, 4))};
    check_image_size(name, w, h < 0 ? -h : h);
    std::string why = bmp_truncation(bytes);
    if (!why.empty()) throw InputError(name + " is a truncated BMP: " + why);
    const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
    const int len = static_cast<int>(bytes.size());

    // The app may flip textures on load globally; imports always read row 0 as the top.
    stbi_set_flip_vertically_on_load_thread(0);
    int lw = 0, lh = 0, lcomp = 0;
    // Two channels: stb converts to luminance + alpha (alpha 255 when opaque).
    std::unique_ptr<unsigned char, StbiFree> pixels(
        stbi_load_from_memory(data, len, &lw, &lh, &lcomp, 2));
    if (!pixels) throw InputError(name + " could not be decoded (" + stb_reason() + ")");
    if (lw != w || lh != (h < 0 ? -h : h))
        throw InputError(name + " is inconsistent: its header says " + std::to_string(w) + "x" +
                         std::to_string(h < 0 ? -h : h) + " but it decodes as " +
                         std::to_string(lw) + "x" + std::to_string(lh));
    LumaAlpha img;
    img.w = lw, img.h = lh;
    img.px.assign(pixels.get(),
                  pixels.get() + static_cast<std::size_t>(lw) * static_cast<std::size_t>(lh) * 2);
    return img;
}

}  // namespace fmp
