// Text overlays on exported frames: glyphs from the embedded font, blended with a soft shadow.
#include "app/export/frame_overlay.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

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

}  // namespace fmp
