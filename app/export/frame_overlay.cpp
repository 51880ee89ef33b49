// Text overlays on exported frames: glyphs from the embedded font, blended with a soft shadow.
#include "app/export/frame_overlay.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "app/render/palette.h"
#include "app/render/scene_renderer.h"
#include "core/base/resources.h"

namespace fmp {
namespace {

// UTF-8 to code points; invalid bytes become U+FFFD.
std::vector<int> decode(const std::string& s) {
    std::vector<int> out;
    for (std::size_t i = 0; i < s.size();) {
        auto b = static_cast<unsigned char>(s[i]);
        int len = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
        if (len == 0 || i + len > s.size()) {
            out.push_back(0xfffd);
            ++i;
            continue;
        }
        int cp = len == 1 ? b : b & (0x7f >> len);
        for (int k = 1; k < len; ++k)
            cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
        out.push_back(cp);
        i += len;
    }
    return out;
}

}  // namespace

TextPainter::TextPainter() {
    auto font = embedded_file("font.ttf");
    if (!font) throw std::runtime_error("the embedded font.ttf is missing");
    m_data.assign(font->begin(), font->end());
    const auto* bytes = reinterpret_cast<const unsigned char*>(m_data.data());
    if (!stbtt_InitFont(&m_font, bytes, stbtt_GetFontOffsetForIndex(bytes, 0)))
        throw std::runtime_error("cannot read the embedded font.ttf");
}

float TextPainter::width(const std::string& text, float px) {
    float scale = stbtt_ScaleForPixelHeight(&m_font, px), x = 0;
    int prev = 0;
    for (int cp : decode(text)) {
        int advance = 0, lsb = 0;
        stbtt_GetCodepointHMetrics(&m_font, cp, &advance, &lsb);
        if (prev) x += scale * stbtt_GetCodepointKernAdvance(&m_font, prev, cp);
        x += scale * advance;
        prev = cp;
    }
    return x;
}

void TextPainter::draw(std::vector<uint8_t>& rgba, int w, int h, float x, float y,
                       const std::string& text, float px, uint32_t color) {
    float scale = stbtt_ScaleForPixelHeight(&m_font, px);
    int ascent = 0, descent = 0, gap = 0;
    stbtt_GetFontVMetrics(&m_font, &ascent, &descent, &gap);
    const float baseline = y + ascent * scale;
    const float shadow = std::max(1.0f, px / 14.0f);
    for (int pass = 0; pass < 2; ++pass) {
        float pen = x;
        int prev = 0;
        uint32_t c = pass == 0 ? pack_rgba(0, 0, 0, 0.75f) : color;
        float off = pass == 0 ? shadow : 0.0f;
        for (int cp : decode(text)) {
            if (prev) pen += scale * stbtt_GetCodepointKernAdvance(&m_font, prev, cp);
            const Glyph& g = glyph(cp, px);
            blend(rgba, w, h, static_cast<int>(std::lround(pen + off)) + g.xoff,
                  static_cast<int>(std::lround(baseline + off)) + g.yoff, g, c);
            pen += g.advance;
            prev = cp;
        }
    }
}

const TextPainter::Glyph& TextPainter::glyph(int cp, float px) {
    auto key = std::make_pair(cp, static_cast<int>(std::lround(px * 4)));
    auto it = m_glyphs.find(key);
    if (it != m_glyphs.end()) return it->second;
    Glyph g;
    float scale = stbtt_ScaleForPixelHeight(&m_font, px);
    int advance = 0, lsb = 0;
    stbtt_GetCodepointHMetrics(&m_font, cp, &advance, &lsb);
    g.advance = advance * scale;
    unsigned char* bits =
        stbtt_GetCodepointBitmap(&m_font, scale, scale, cp, &g.w, &g.h, &g.xoff, &g.yoff);
    if (bits) {
        g.alpha.assign(bits, bits + static_cast<std::size_t>(g.w) * g.h);
        stbtt_FreeBitmap(bits, nullptr);
    }
    return m_glyphs.emplace(key, std::move(g)).first->second;
}

void TextPainter::blend(std::vector<uint8_t>& rgba, int w, int h, int x0, int y0, const Glyph& g,
                        uint32_t c) {
    const float cr = c & 0xff, cg = (c >> 8) & 0xff, cb = (c >> 16) & 0xff,
                ca = ((c >> 24) & 0xff) / 255.0f;
    for (int y = 0; y < g.h; ++y) {
        int py = y0 + y;
        if (py < 0 || py >= h) continue;
        for (int x = 0; x < g.w; ++x) {
            int px = x0 + x;
            if (px < 0 || px >= w) continue;
            float a = g.alpha[static_cast<std::size_t>(y) * g.w + x] / 255.0f * ca;
            if (a <= 0) continue;
            uint8_t* p = &rgba[(static_cast<std::size_t>(py) * w + px) * 4];
            p[0] = static_cast<uint8_t>(p[0] + (cr - p[0]) * a + 0.5f);
            p[1] = static_cast<uint8_t>(p[1] + (cg - p[1]) * a + 0.5f);
            p[2] = static_cast<uint8_t>(p[2] + (cb - p[2]) * a + 0.5f);
        }
    }
}

void draw_frame_overlays(TextPainter& text, std::vector<uint8_t>& out, int w, int h,
                         const ExportSettings& s, const std::string& path_line, float t,
                         int64_t step) {
    const float u = std::max(0.5f, h / 720.0f);
    const float margin = 22.0f * u;
    float y = margin;
    if (!s.title.empty()) {
        text.draw(out, w, h, margin, y, s.title, 34.0f * u, pack_rgba(1, 1, 1, 1));
        y += 44.0f * u;
    }
    if (s.show_path)
        text.draw(out, w, h, margin, y, path_line, 20.0f * u, pack_rgba(0.75f, 0.79f, 0.88f, 1));
    const float small = 24.0f * u;
    if (s.show_t) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "t = %.2f", t);
        text.draw(out, w, h, margin, h - margin - small * 1.2f, buf, small, pack_rgba(1, 1, 1, 1));
    }
    if (s.mode == ExportMode::Timelapse) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "training step %lld", static_cast<long long>(step));
        text.draw(out, w, h, w - margin - text.width(buf, small), h - margin - small * 1.2f, buf,
                  small, pack_rgba(1, 1, 1, 1));
    }
}

// ---------------------------------------------------------------------------------------------
// [SECTION] The instruments' colour bars and lens readout

namespace {

// The overlay unit: the frame height / 720 (at least 0.5), as for the text above.
float unit(int h) { return std::max(0.5f, h / 720.0f); }

// Blends colour c (packed RGBA8, its alpha the coverage) over a box with rounded corners of
// radius r, anti-aliased at the edge.
void fill_round_rect(std::vector<uint8_t>& rgba, int w, int h, float x0, float y0, float x1, float y1,
                     float r, uint32_t c) {
    const float cr = c & 0xff, cg = (c >> 8) & 0xff, cb = (c >> 16) & 0xff, ca = ((c >> 24) & 0xff) / 255.0f;
    const int ix0 = std::max(0, static_cast<int>(std::floor(x0))), ix1 = std::min(w, static_cast<int>(std::ceil(x1)));
    const int iy0 = std::max(0, static_cast<int>(std::floor(y0))), iy1 = std::min(h, static_cast<int>(std::ceil(y1)));
    for (int y = iy0; y < iy1; ++y)
        for (int x = ix0; x < ix1; ++x) {
            // Signed distance from the pixel centre to the rounded box.
            const float px = x + 0.5f, py = y + 0.5f;
            const float dx = std::max({x0 + r - px, px - (x1 - r), 0.0f});
            const float dy = std::max({y0 + r - py, py - (y1 - r), 0.0f});
            const float d = std::sqrt(dx * dx + dy * dy) - r;
            const float a = std::clamp(0.5f - d, 0.0f, 1.0f) * ca;
            if (a <= 0) continue;
            uint8_t* p = &rgba[(static_cast<std::size_t>(y) * w + x) * 4];
            p[0] = static_cast<uint8_t>(p[0] + (cr - p[0]) * a + 0.5f);
            p[1] = static_cast<uint8_t>(p[1] + (cg - p[1]) * a + 0.5f);
            p[2] = static_cast<uint8_t>(p[2] + (cb - p[2]) * a + 0.5f);
        }
}

// The window's panel background behind overlay numbers.
constexpr uint32_t k_panel = rgba8(16, 18, 24, 215);
constexpr uint32_t k_text = rgba8(215, 220, 230);
constexpr uint32_t k_text_dim = rgba8(150, 158, 172);

// Colour bar layout, in overlay units.
constexpr float k_bar_w = 220, k_bar_h = 11, k_pad = 7, k_title_px = 15, k_number_px = 14, k_bar_gap = 10;

float bar_pitch() { return k_pad * 2 + k_title_px * 1.2f + 3 + k_bar_h + 2 + k_number_px * 1.2f + k_bar_gap; }

// The bottom of the lowest bar's panel: above "t = ..." is left, the training step right.
float bars_bottom(int h, bool timelapse) {
    const float u = unit(h), margin = 22.0f * u;
    return h - margin - (timelapse ? 24.0f * 1.2f * u + 8.0f * u : 0.0f);
}

}  // namespace

uint32_t heatmap_ramp(float u) {
    static const float stops[5][3] = {
        {0.10f, 0.05f, 0.25f}, {0.42f, 0.10f, 0.50f}, {0.80f, 0.24f, 0.42f}, {0.98f, 0.55f, 0.22f}, {0.99f, 0.93f, 0.62f}};
    const float x = std::clamp(u, 0.0f, 1.0f) * 4.0f;
    const int i = std::min(static_cast<int>(x), 3);
    const float f = x - static_cast<float>(i);
    auto mix = [&](int c) { return stops[i][c] + (stops[i + 1][c] - stops[i][c]) * f; };
    return pack_rgba(mix(0), mix(1), mix(2), 1.0f);
}

BarBox color_bar_box(int w, int h, int index, bool timelapse) {
    const float u = unit(h), margin = 22.0f * u;
    const float bottom = bars_bottom(h, timelapse) - index * bar_pitch() * u;
    const float y1 = bottom - (k_pad + k_number_px * 1.2f + 2) * u;
    BarBox b;
    b.x1 = static_cast<int>(std::lround(w - margin - k_pad * u));
    b.x0 = static_cast<int>(std::lround(b.x1 - k_bar_w * u));
    b.y1 = static_cast<int>(std::lround(y1));
    b.y0 = static_cast<int>(std::lround(y1 - k_bar_h * u));
    return b;
}

void draw_instrument_overlays(TextPainter& text, std::vector<uint8_t>& out, int w, int h,
                              const InstrumentOverlay& overlay, bool timelapse) {
    const float u = unit(h);
    for (std::size_t i = 0; i < overlay.scales.size(); ++i) {
        const ColorScale& scale = overlay.scales[i];
        const BarBox b = color_bar_box(w, h, static_cast<int>(i), timelapse);
        const float title_y = b.y0 - (3 + k_title_px * 1.2f) * u;
        fill_round_rect(out, w, h, b.x0 - k_pad * u, title_y - k_pad * u, b.x1 + k_pad * u,
                        b.y1 + (2 + k_number_px * 1.2f + k_pad) * u, 5.0f * u, k_panel);
        text.draw(out, w, h, b.x0, title_y, scale.title, k_title_px * u, k_text);
        // The ramp, one column per pixel, exactly the heatmap shader's colours.
        for (int x = std::max(b.x0, 0); x < std::min(b.x1, w); ++x) {
            const uint32_t c = heatmap_ramp(b.x1 - b.x0 > 1 ? float(x - b.x0) / float(b.x1 - b.x0 - 1) : 0.0f);
            for (int y = std::max(b.y0, 0); y < std::min(b.y1, h); ++y) {
                uint8_t* p = &out[(static_cast<std::size_t>(y) * w + x) * 4];
                p[0] = c & 0xff, p[1] = (c >> 8) & 0xff, p[2] = (c >> 16) & 0xff;
            }
        }
        char lo[32], hi[32];
        std::snprintf(lo, sizeof lo, "%.3g", scale.lo);
        std::snprintf(hi, sizeof hi, "%.3g", scale.hi);
        const float ny = b.y1 + 2 * u;
        text.draw(out, w, h, b.x0, ny, lo, k_number_px * u, k_text_dim);
        text.draw(out, w, h, b.x1 - text.width(hi, k_number_px * u), ny, hi, k_number_px * u, k_text_dim);
    }
    if (overlay.lens) {
        const LensReadout& L = *overlay.lens;
        std::vector<std::string> lines;
        char buf[96];
        std::snprintf(buf, sizeof buf, "t = %.2f   points pulling: %.1f", L.t, L.effective_count);
        lines.emplace_back(buf);
        if (L.error) {
            std::snprintf(buf, sizeof buf, "|v_\u03b8 \u2212 u_t| = %.3g", *L.error);
            lines.emplace_back(buf);
        }
        std::snprintf(buf, sizeof buf, "posterior variance = %.3g", L.posterior_variance);
        lines.emplace_back(buf);
        if (L.bandwidth > 0) {
            std::snprintf(buf, sizeof buf, "pairwise posterior, h = %.2f", L.bandwidth);
            lines.emplace_back(buf);
        }
        const float px = 15.0f * u, line = px * 1.3f, pad = 7.0f * u;
        float tw = 0;
        for (const auto& l : lines) tw = std::max(tw, text.width(l, px));
        const float bw = tw + 2 * pad, bh = lines.size() * line + 2 * pad - (line - px * 1.15f);
        // Beside the point as in the window, on the side away from the arrows; flipped where the
        // frame ends.
        const bool left = L.arrows.x() > 0, above = L.arrows.y() > 0;
        const float right_x = L.pixel.x() + 18.0f * u, left_x = L.pixel.x() - 18.0f * u - bw;
        const float below_y = L.pixel.y() + 14.0f * u, above_y = L.pixel.y() - 14.0f * u - bh;
        float x = left ? left_x : right_x, y = above ? above_y : below_y;
        if (x + bw > w - 4 * u) x = left_x;
        if (x < 4 * u) x = right_x;
        if (y + bh > h - 4 * u) y = above_y;
        if (y < 4 * u) y = below_y;
        x = std::clamp(x, 4 * u, std::max(4 * u, w - 4 * u - bw));
        y = std::clamp(y, 4 * u, std::max(4 * u, h - 4 * u - bh));
        fill_round_rect(out, w, h, x, y, x + bw, y + bh, 5.0f * u, k_panel);
        for (std::size_t i = 0; i < lines.size(); ++i)
            text.draw(out, w, h, x + pad, y + pad + i * line, lines[i], px,
                      lines[i].rfind("|v_", 0) == 0 ? palette::learned : k_text);
    }
}

}  // namespace fmp
