// Text drawn onto exported frames (the title, the path and coupling, "t = 0.42", the training
// step): the embedded UI font rasterised by stb_truetype and blended onto the pixels.
#pragma once
#include <stb/stb_truetype.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "app/export/export_settings.h"

namespace fmp {

// Text in the embedded UI font, with a glyph cache (one per rendering thread).
class TextPainter {
  public:
    TextPainter();  // throws std::runtime_error if the embedded font is missing or unreadable

    // Width in pixels of `text` at a line height of px.
    float width(const std::string& text, float px);

    // Draws text with its top-left corner at (x, y) into a top-row-first RGBA8 image, with a soft
    // dark shadow so it reads on any layer below. `color` is packed RGBA8 (pack_rgba).
    void draw(std::vector<uint8_t>& rgba, int w, int h, float x, float y, const std::string& text,
              float px, uint32_t color);

  private:
    struct Glyph {
        int w = 0, h = 0, xoff = 0, yoff = 0;
        float advance = 0;
        std::vector<uint8_t> alpha;
    };
    const Glyph& glyph(int cp, float px);
    static void blend(std::vector<uint8_t>& rgba, int w, int h, int x0, int y0, const Glyph& g,
                      uint32_t c);

    std::string m_data;
    stbtt_fontinfo m_font{};
    std::map<std::pair<int, int>, Glyph> m_glyphs;
};

// The export's overlays on one w x h frame (top row first, RGBA8), sized for its height: the
// title and `path_line` at the top left, "t = ..." at the bottom left, and in a timelapse the
// training step at the bottom right.
void draw_frame_overlays(TextPainter& painter, std::vector<uint8_t>& rgba, int w, int h,
                         const ExportSettings& settings, const std::string& path_line, float t,
                         int64_t step);

}  // namespace fmp
