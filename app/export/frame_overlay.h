// Text drawn onto exported frames (the title, the path and coupling, "t = 0.42", the training
// step): the embedded UI font rasterised by stb_truetype and blended onto the pixels.
#pragma once
#include <stb/stb_truetype.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "app/export/export_settings.h"
#include "app/render/instrument_layers.h"

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

// ---- the instruments' numbers

// The heatmap's colour ramp (shaders/scene_heatmap.frag's) at u in [0, 1], opaque packed RGBA8.
uint32_t heatmap_ramp(float u);

// The lens's numbers, drawn beside it as the window does.
struct LensReadout {
    Eigen::Vector2f pixel{0, 0};  // the lens point on the frame (origin top left, y down)
    float t = 0;
    float effective_count = 0;    // 1 / sum w_i^2: the points pulling
    std::optional<float> error;   // |v_theta - u_t|
    float posterior_variance = 0;
    float bandwidth = 0;          // > 0: the pairwise posterior's kernel width (an approximation)
    Eigen::Vector2f arrows{0, 0}; // where the lens's bold arrows point, in pixels: the numbers go
                                  // on the other side so they never cover them
};

// What the instruments add to a frame's pixels: a colour bar with its title and end values for
// each heatmap (bottom right, the first lowest) and the lens's readout.
struct InstrumentOverlay {
    std::vector<ColorScale> scales;
    std::optional<LensReadout> lens;
};

// The ramp's pixels of colour bar `index` (0: the lowest) on a w x h frame: columns x0..x1-1,
// rows y0..y1-1 (top row first). `timelapse`: the bars sit above the training step line.
struct BarBox {
    int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};
BarBox color_bar_box(int w, int h, int index, bool timelapse);

void draw_instrument_overlays(TextPainter& painter, std::vector<uint8_t>& rgba, int w, int h,
                              const InstrumentOverlay& overlay, bool timelapse);

}  // namespace fmp
