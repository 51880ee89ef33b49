// GIF decoding with giflib: the first frame only, with bounded extension and data blocks.
#include <gif_lib.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "core/data/image_decoders.h"

namespace fmp {
namespace {

// Only the first frame is read; before it, a file may hold this many extension records (comments,
// loop counts) of at most this many data blocks in all.
constexpr int k_max_gif_extensions = 1024;
constexpr int k_max_gif_extension_blocks = 1 << 16;

struct GifSource {
    const unsigned char* data;
    std::size_t size, pos;
};

int gif_read_bytes(GifFileType* gif, GifByteType* out, int n) {
    auto* src = static_cast<GifSource*>(gif->UserData);
    const std::size_t k = std::min(static_cast<std::size_t>(std::max(n, 0)), src->size - src->pos);
    std::memcpy(out, src->data + src->pos, k);
    src->pos += k;
    return static_cast<int>(k);  // short: giflib reports a read error
}

struct GifClose {
    void operator()(GifFileType* gif) const {
        int err = 0;
        DGifCloseFile(gif, &err);
    }
};

}  // namespace

// The first frame as stb drew it: on a canvas of the logical screen's size that starts
// transparent (luminance 0, alpha 0); the frame's transparent index and indices past its colour
// table leave the canvas as it is; when the screen names a background index above 0, the pixels
// outside the frame take that colour, opaque. (stb swapped red and blue in the background colour;
// this uses the colour as stored.)
LumaAlpha decode_gif(std::string_view bytes, const std::string& name) {
    GifSource src{reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), 0};
    int open_error = 0;
    std::unique_ptr<GifFileType, GifClose> gif(DGifOpen(&src, gif_read_bytes, &open_error));
    if (!gif) throw InputError(corrupt(name, "GIF", "giflib", GifErrorString(open_error)));
    GifFileType* g = gif.get();
    auto fail = [&]() {
        return InputError(corrupt(name, "GIF", "giflib", GifErrorString(g->Error)));
    };
    check_image_size(name, g->SWidth, g->SHeight);

    int transparent = -1;  // from the last graphic control extension before the frame
    int extensions = 0, blocks = 0;
    for (;;) {
        GifRecordType type = UNDEFINED_RECORD_TYPE;
        if (DGifGetRecordType(g, &type) == GIF_ERROR) throw fail();
        if (type == IMAGE_DESC_RECORD_TYPE) break;
        if (type == TERMINATE_RECORD_TYPE) throw InputError(name + " is a GIF without any frame");
        if (type != EXTENSION_RECORD_TYPE)
            throw InputError(name + " is a corrupt GIF (an unknown record before the first frame)");
        if (++extensions > k_max_gif_extensions)
            throw InputError(name + " is a GIF with more than " +
                             std::to_string(k_max_gif_extensions) +
                             " extension records before its first frame");
        int code = 0;
        GifByteType* block = nullptr;
        if (DGifGetExtension(g, &code, &block) == GIF_ERROR) throw fail();
        if (code == GRAPHICS_EXT_FUNC_CODE && block && block[0] == 4)
            transparent = (block[1] & 0x01) ? block[4] : -1;
        while (block) {
            if (++blocks > k_max_gif_extension_blocks)
                throw InputError(name + " is a GIF with more than " +
                                 std::to_string(k_max_gif_extension_blocks) +
                                 " extension blocks before its first frame");
            if (DGifGetExtensionNext(g, &block) == GIF_ERROR) throw fail();
        }
    }
    if (DGifGetImageDesc(g) == GIF_ERROR) throw fail();
    const GifImageDesc& d = g->Image;
    if (d.Left < 0 || d.Top < 0 || d.Width < 0 || d.Height < 0 ||
        static_cast<long long>(d.Left) + d.Width > g->SWidth ||
        static_cast<long long>(d.Top) + d.Height > g->SHeight)
        throw InputError(name + " is a corrupt GIF: its first frame lies outside the " +
                         std::to_string(g->SWidth) + "x" + std::to_string(g->SHeight) + " screen");
    const ColorMapObject* map = d.ColorMap ? d.ColorMap : g->SColorMap;
    if (!map || !map->Colors) throw InputError(name + " is a corrupt GIF: it has no colour table");

    // (luminance, alpha) per index; unlisted indices stay (0, 0), transparent.
    std::array<unsigned char, 512> palette{};
    for (int i = 0; i < std::min(map->ColorCount, 256); ++i) {
        const GifColorType& c = map->Colors[i];
        palette[static_cast<std::size_t>(i) * 2] = luma(c.Red, c.Green, c.Blue);
        palette[static_cast<std::size_t>(i) * 2 + 1] = 255;
    }
    if (transparent >= 0) {
        palette[static_cast<std::size_t>(transparent) * 2] = 0;
        palette[static_cast<std::size_t>(transparent) * 2 + 1] = 0;
    }

    LumaAlpha img = blank_image(g->SWidth, g->SHeight);
    const std::size_t sw = static_cast<std::size_t>(g->SWidth);
    if (g->SBackGroundColor > 0) {
        unsigned char bg = 0;
        const ColorMapObject* screen = g->SColorMap;
        if (screen && screen->Colors && g->SBackGroundColor < screen->ColorCount) {
            const GifColorType& c = screen->Colors[g->SBackGroundColor];
            bg = luma(c.Red, c.Green, c.Blue);
        }
        for (std::size_t y = 0; y < static_cast<std::size_t>(g->SHeight); ++y) {
            for (std::size_t x = 0; x < sw; ++x) {
                const bool inside = y >= static_cast<std::size_t>(d.Top) &&
                                    y < static_cast<std::size_t>(d.Top + d.Height) &&
                                    x >= static_cast<std::size_t>(d.Left) &&
                                    x < static_cast<std::size_t>(d.Left + d.Width);
                if (!inside) {
                    img.px[(y * sw + x) * 2] = bg;
                    img.px[(y * sw + x) * 2 + 1] = 255;
                }
            }
        }
    }
    if (d.Width == 0 || d.Height == 0) return img;
    std::vector<GifPixelType> line(static_cast<std::size_t>(d.Width));
    auto read_row = [&](int y) {
        if (DGifGetLine(g, line.data(), d.Width) == GIF_ERROR) throw fail();
        unsigned char* out =
            img.px.data() +
            ((static_cast<std::size_t>(d.Top + y)) * sw + static_cast<std::size_t>(d.Left)) * 2;
        for (int x = 0; x < d.Width; ++x, out += 2) {
            const std::size_t index = line[static_cast<std::size_t>(x)];
            if (palette[index * 2 + 1]) {  // transparent: the canvas shows through
                out[0] = palette[index * 2];
                out[1] = palette[index * 2 + 1];
            }
        }
    };
    if (d.Interlace) {
        // Rows arrive in four passes: every 8th from 0, every 8th from 4, every 4th from 2, odd.
        const int start[4] = {0, 4, 2, 1}, step[4] = {8, 8, 4, 2};
        for (int p = 0; p < 4; ++p)
            for (int y = start[p]; y < d.Height; y += step[p]) read_row(y);
    } else {
        for (int y = 0; y < d.Height; ++y) read_row(y);
    }
    return img;  // later frames are never read
}

}  // namespace fmp
