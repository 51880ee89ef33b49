// Image and text imports: decode or rasterise to a grid of masses, then sample points from it.
#include "core/data/point_import.h"

#include <stb/stb_truetype.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

#include "core/base/resources.h"
#include "core/base/rng.h"
#include "core/data/image_decode.h"
#include "core/data/point_io.h"

namespace fmp {
namespace {

// [SECTION] Sampling a grid of pixel masses

// Fills out[0..w) with the masses of one row. Rows are produced on demand so a 40-megapixel
// image never needs a full-size float or CDF array: only the decoded bytes stay in memory.
using RowMass = std::function<void(int row, float* out)>;

// 53 random bits: the 24 bits of Rng::uniform would quantise the row CDF of a tall image.
double uniform_double(Rng& rng) {
    uint64_t hi = rng.next_u32() >> 5;  // 27 bits
    uint64_t lo = rng.next_u32() >> 6;  // 26 bits
    return static_cast<double>((hi << 26) | lo) * (1.0 / 9007199254740992.0);
}

// Index of the first prefix sum above `target`, never a zero-mass cell: ties and rounding at the
// top end fall back to the last cell that has mass.
std::size_t pick(const std::vector<double>& prefix, double target, std::size_t last_with_mass) {
    auto it = std::upper_bound(prefix.begin(), prefix.end(), target);
    if (it == prefix.end()) return last_with_mass;
    return static_cast<std::size_t>(it - prefix.begin());
}

// Draws n points with probability proportional to mass (a two-level draw: the row by the row
// totals, then the column within the row), jittered uniformly inside the pixel, and maps the
// w x h grid into the square [lo, hi]^2 keeping the aspect ratio, centred, y up. Returns an empty
// set when the grid has no mass (the caller words the error).
Points sample_grid(int w, int h, const RowMass& row_mass, int n, float lo, float hi,
                   uint64_t seed) {
    std::vector<float> row(static_cast<std::size_t>(w));
    std::vector<double> row_prefix(static_cast<std::size_t>(h));
    double total = 0.0;
    std::size_t last_row = 0;
    for (int r = 0; r < h; ++r) {
        row_mass(r, row.data());
        double s = 0.0;
        for (float m : row) s += m;
        if (s > 0.0) last_row = static_cast<std::size_t>(r);
        total += s;
        row_prefix[static_cast<std::size_t>(r)] = total;
    }
    if (!(total > 0.0) || !std::isfinite(total)) return Points();

    Rng rng(seed);
    std::vector<int> per_row(static_cast<std::size_t>(h), 0);
    for (int i = 0; i < n; ++i) ++per_row[pick(row_prefix, uniform_double(rng) * total, last_row)];

    const float scale = (hi - lo) / static_cast<float>(std::max(w, h));
    const float centre = 0.5f * (lo + hi);
    const float half_w = 0.5f * static_cast<float>(w), half_h = 0.5f * static_cast<float>(h);
    Points out(n, 2);
    Eigen::Index k = 0;
    std::vector<double> col_prefix(static_cast<std::size_t>(w));
    for (int r = 0; r < h; ++r) {
        int count = per_row[static_cast<std::size_t>(r)];
        if (count == 0) continue;
        row_mass(r, row.data());
        double s = 0.0;
        std::size_t last_col = 0;
        for (int c = 0; c < w; ++c) {
            if (row[static_cast<std::size_t>(c)] > 0.0f) last_col = static_cast<std::size_t>(c);
            s += row[static_cast<std::size_t>(c)];
            col_prefix[static_cast<std::size_t>(c)] = s;
        }
        for (int j = 0; j < count; ++j) {
            auto c = static_cast<float>(pick(col_prefix, uniform_double(rng) * s, last_col));
            float px = c + rng.uniform();
            float py = static_cast<float>(r) + rng.uniform();
            out(k, 0) = centre + (px - half_w) * scale;
            out(k, 1) = centre + (half_h - py) * scale;
            ++k;
        }
    }
    // Rows came out in scan order; shuffle so any prefix of the set is a fair sample too.
    for (Eigen::Index i = n - 1; i > 0; --i) {
        auto j = static_cast<Eigen::Index>(rng.below(static_cast<uint32_t>(i + 1)));
        out.row(i).swap(out.row(j));
    }
    return out;
}

void check_common(const char* what, int points, float box_lo, float box_hi) {
    if (points < 1 || points > k_max_import_points)
        throw InputError(std::string(what) + ": points must be 1..2000000 (got " +
                         std::to_string(points) + ")");
    if (!std::isfinite(box_lo) || !std::isfinite(box_hi) || !(box_lo < box_hi))
        throw InputError(std::string(what) +
                         ": the data box needs finite box_lo < box_hi (got " +
                         std::to_string(box_lo) + ", " + std::to_string(box_hi) + ")");
}

// Mass for every (grey, alpha) byte pair, so the per-pixel work is a table lookup, not a pow.
std::vector<float> mass_table(const ImageImportOptions& opt) {
    std::vector<float> lut(256 * 256);
    for (int a = 0; a < 256; ++a) {
        for (int g = 0; g < 256; ++g) {
            float af = static_cast<float>(a) / 255.0f, gf = static_cast<float>(g) / 255.0f;
            float v = opt.use_alpha ? (opt.invert ? 1.0f - af : af)
                                    : af * (opt.invert ? gf : 1.0f - gf);
            float m = v > opt.threshold ? std::pow(v - opt.threshold, opt.contrast) : 0.0f;
            lut[static_cast<std::size_t>(a) * 256 + static_cast<std::size_t>(g)] = m;
        }
    }
    return lut;
}

}  // namespace

Points image_bytes_to_points(std::string_view bytes, const ImageImportOptions& opt,
                             const std::string& name) {
    check_common("image import", opt.points, opt.box_lo, opt.box_hi);
    if (!(opt.threshold >= 0.0f && opt.threshold < 1.0f))
        throw InputError("image import: threshold must be in [0, 1) (got " +
                         std::to_string(opt.threshold) + ")");
    if (!(opt.contrast >= 0.1f && opt.contrast <= 10.0f))
        throw InputError("image import: contrast must be in 0.1..10 (got " +
                         std::to_string(opt.contrast) + ")");
    const LumaAlpha img = decode_image(bytes, name);
    const int w = img.w, h = img.h;
    const std::vector<float> lut = mass_table(opt);
    const unsigned char* px = img.px.data();
    RowMass row_mass = [&](int r, float* out) {
        const unsigned char* p = px + static_cast<std::size_t>(r) * static_cast<std::size_t>(w) * 2;
        for (int c = 0; c < w; ++c, p += 2)
            out[c] = lut[static_cast<std::size_t>(p[1]) * 256 + p[0]];
    };
    Points pts = sample_grid(w, h, row_mass, opt.points, opt.box_lo, opt.box_hi, opt.seed);
    if (pts.rows() == 0) {
        const char* hint = opt.use_alpha ? (opt.invert ? " (it is fully opaque)"
                                                       : " (it is fully transparent; try invert)")
                                         : (opt.invert ? " (try without invert)" : " (try invert)");
        throw InputError(name + " has no " + (opt.invert ? "light" : "dark") +
                         " pixels to sample above threshold " + std::to_string(opt.threshold) +
                         hint);
    }
    return pts;
}

Points image_to_points(const std::string& path, const ImageImportOptions& opt) {
    std::string bytes = read_file(path, k_max_image_file_bytes);
    return image_bytes_to_points(bytes, opt, path);
}

// [SECTION] Text

namespace {

// Strict UTF-8 (no overlongs, no surrogates); throws on malformed input.
std::vector<uint32_t> decode_utf8(const std::string& s) {
    std::vector<uint32_t> cps;
    const auto bad = [] { return InputError("text import: the text is not valid UTF-8"); };
    for (std::size_t i = 0; i < s.size();) {
        auto b0 = static_cast<unsigned char>(s[i]);
        int extra = 0;
        uint32_t cp = 0, min = 0;
        if (b0 < 0x80) {
            cp = b0;
        } else if ((b0 & 0xE0) == 0xC0) {
            extra = 1, cp = b0 & 0x1Fu, min = 0x80;
        } else if ((b0 & 0xF0) == 0xE0) {
            extra = 2, cp = b0 & 0x0Fu, min = 0x800;
        } else if ((b0 & 0xF8) == 0xF0) {
            extra = 3, cp = b0 & 0x07u, min = 0x10000;
        } else {
            throw bad();
        }
        if (i + static_cast<std::size_t>(extra) >= s.size() && extra > 0) throw bad();
        for (int k = 1; k <= extra; ++k) {
            auto b = static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]);
            if ((b & 0xC0) != 0x80) throw bad();
            cp = (cp << 6) | (b & 0x3Fu);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) throw bad();
        cps.push_back(cp);
        i += 1 + static_cast<std::size_t>(extra);
    }
    return cps;
}

bool is_space(uint32_t cp) {
    return cp == 0x20 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200B) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000 ||
           cp == 0xFEFF;
}

// A glyph's coverage bitmap from stb_truetype, freed with the matching allocator.
struct GlyphBitmap {
    unsigned char* pixels = nullptr;
    int w = 0, h = 0, xoff = 0, yoff = 0;
    int x = 0;  // the pen's integer position
    GlyphBitmap() = default;
    GlyphBitmap(const GlyphBitmap&) = delete;
    GlyphBitmap& operator=(const GlyphBitmap&) = delete;
    GlyphBitmap(GlyphBitmap&& o) noexcept { *this = std::move(o); }
    GlyphBitmap& operator=(GlyphBitmap&& o) noexcept {
        std::swap(pixels, o.pixels);
        w = o.w, h = o.h, xoff = o.xoff, yoff = o.yoff, x = o.x;
        return *this;
    }
    ~GlyphBitmap() {
        if (pixels) stbtt_FreeBitmap(pixels, nullptr);
    }
};

}  // namespace

Points text_to_points(const std::string& text, const TextImportOptions& opt) {
    check_common("text import", opt.points, opt.box_lo, opt.box_hi);
    if (opt.pixel_height < 8 || opt.pixel_height > 512)
        throw InputError("text import: pixel_height must be 8..512 (got " +
                         std::to_string(opt.pixel_height) + ")");
    if (text.size() > static_cast<std::size_t>(k_max_text_chars) * 4)
        throw InputError("text import: the text is longer than 64 characters");
    const std::vector<uint32_t> cps = decode_utf8(text);
    if (cps.size() > static_cast<std::size_t>(k_max_text_chars))
        throw InputError("text import: the text is longer than 64 characters (" +
                         std::to_string(cps.size()) + ")");
    bool blank = true;
    for (uint32_t cp : cps) {
        if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0))
            throw InputError("text import: the text must be one line without control characters");
        if (!is_space(cp)) blank = false;
    }
    if (blank) throw InputError("text import: the text is empty; type a word such as FLOW");

    std::optional<std::string_view> font_bytes = embedded_file("font.ttf");
    if (!font_bytes) throw std::runtime_error("the UI font is not embedded in this build");
    const auto* fdata = reinterpret_cast<const unsigned char*>(font_bytes->data());
    stbtt_fontinfo font;
    if (!stbtt_InitFont(&font, fdata, stbtt_GetFontOffsetForIndex(fdata, 0)))
        throw std::runtime_error("the embedded UI font could not be parsed");

    const float scale = stbtt_ScaleForPixelHeight(&font, static_cast<float>(opt.pixel_height));
    // Lay out on one baseline with advances and kerning; each glyph is rendered at its subpixel
    // offset so spacing does not drift by rounding.
    std::vector<GlyphBitmap> glyphs;
    float pen = 0.0f;
    int min_x = 0, max_x = 0, min_y = 0, max_y = 0;
    bool any = false;
    for (std::size_t i = 0; i < cps.size(); ++i) {
        int g = stbtt_FindGlyphIndex(&font, static_cast<int>(cps[i]));
        int advance = 0, lsb = 0;
        stbtt_GetGlyphHMetrics(&font, g, &advance, &lsb);
        GlyphBitmap gb;
        gb.x = static_cast<int>(std::floor(pen));
        float shift = pen - static_cast<float>(gb.x);
        gb.pixels = stbtt_GetGlyphBitmapSubpixel(&font, scale, scale, shift, 0.0f, g, &gb.w, &gb.h,
                                                  &gb.xoff, &gb.yoff);
        if (gb.pixels && gb.w > 0 && gb.h > 0) {
            int x0 = gb.x + gb.xoff, y0 = gb.yoff;
            if (!any) min_x = x0, max_x = x0 + gb.w, min_y = y0, max_y = y0 + gb.h;
            min_x = std::min(min_x, x0), max_x = std::max(max_x, x0 + gb.w);
            min_y = std::min(min_y, y0), max_y = std::max(max_y, y0 + gb.h);
            any = true;
            glyphs.push_back(std::move(gb));
        }
        pen += static_cast<float>(advance) * scale;
        if (i + 1 < cps.size()) {
            int next = stbtt_FindGlyphIndex(&font, static_cast<int>(cps[i + 1]));
            pen += static_cast<float>(stbtt_GetGlyphKernAdvance(&font, g, next)) * scale;
        }
    }
    const std::string quoted = "text \"" + text + "\"";
    if (!any) throw InputError(quoted + " renders no visible glyphs with the UI font");

    const int w = max_x - min_x, h = max_y - min_y;
    if (static_cast<long long>(w) * h > k_max_image_pixels)
        throw InputError(quoted + " renders larger than 40 megapixels; lower pixel_height");
    // Glyph boxes overlap where letters kern together, so coverage is combined with max rather
    // than copied (a later glyph's empty corner must not erase an earlier stroke).
    std::vector<unsigned char> canvas(static_cast<std::size_t>(w) * static_cast<std::size_t>(h), 0);
    for (const GlyphBitmap& gb : glyphs) {
        for (int y = 0; y < gb.h; ++y) {
            unsigned char* dst = canvas.data() +
                                 static_cast<std::size_t>(gb.yoff + y - min_y) * static_cast<std::size_t>(w) +
                                 static_cast<std::size_t>(gb.x + gb.xoff - min_x);
            const unsigned char* src = gb.pixels + static_cast<std::size_t>(y) * static_cast<std::size_t>(gb.w);
            for (int x = 0; x < gb.w; ++x) dst[x] = std::max(dst[x], src[x]);
        }
    }
    // Crop to the ink: glyph boxes carry empty margins, and the word should fill the box width.
    int cx0 = w, cx1 = -1, cy0 = h, cy1 = -1;
    for (int y = 0; y < h; ++y) {
        for (int x = 0; x < w; ++x) {
            if (canvas[static_cast<std::size_t>(y) * static_cast<std::size_t>(w) + static_cast<std::size_t>(x)]) {
                cx0 = std::min(cx0, x), cx1 = std::max(cx1, x);
                cy0 = std::min(cy0, y), cy1 = std::max(cy1, y);
            }
        }
    }
    if (cx1 < 0) throw InputError(quoted + " renders no visible glyphs with the UI font");
    const int cw = cx1 - cx0 + 1, ch = cy1 - cy0 + 1;
    RowMass row_mass = [&](int r, float* out) {
        const unsigned char* p = canvas.data() +
                                 static_cast<std::size_t>(r + cy0) * static_cast<std::size_t>(w) +
                                 static_cast<std::size_t>(cx0);
        for (int c = 0; c < cw; ++c) out[c] = static_cast<float>(p[c]) * (1.0f / 255.0f);
    };
    Points pts = sample_grid(cw, ch, row_mass, opt.points, opt.box_lo, opt.box_hi, opt.seed);
    if (pts.rows() == 0) throw InputError(quoted + " renders no visible glyphs with the UI font");
    return pts;
}

}  // namespace fmp
