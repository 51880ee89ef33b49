// Laying out narration word by word: ImGui wraps one font per call, the narration mixes several.
#include "app/gui/narration_view.h"

#include <imgui.h>

#include <algorithm>
#include <string>

#include "app/gui/theme.h"

namespace fmp {
namespace {

constexpr ImU32 k_text = IM_COL32(226, 230, 238, 255);
constexpr ImU32 k_emphasis = IM_COL32(255, 196, 120, 255);
constexpr ImU32 k_code_text = IM_COL32(170, 225, 255, 255);
constexpr ImU32 k_code_back = IM_COL32(255, 255, 255, 22);
constexpr ImU32 k_quote = IM_COL32(178, 186, 204, 255);
constexpr ImU32 k_quote_bar = IM_COL32(110, 168, 254, 200);
constexpr ImU32 k_rule = IM_COL32(255, 255, 255, 50);

struct Style {
    ImFont* font;
    ImU32 color;
    bool code;
};

Style span_style(const NarrationBlock& block, const NarrationSpan& span, bool large) {
    const UiFonts& f = ui_fonts();
    if (block.kind == NarrationBlockKind::Heading && block.level <= 2) return {large ? f.large_heading : f.heading, k_text, false};
    if (block.kind == NarrationBlockKind::Heading) return {large ? f.large_bold : f.bold, k_text, false};
    ImFont* font = span.strong ? (large ? f.large_bold : f.bold) : (large ? f.large : f.regular);
    ImU32 color = block.kind == NarrationBlockKind::Quote ? k_quote : k_text;
    if (span.emphasis) color = k_emphasis;
    if (span.code || block.kind == NarrationBlockKind::Code) color = k_code_text;
    return {font, color, span.code && block.kind != NarrationBlockKind::Code};
}

// Lays out one block's spans from `origin` within `width`; returns its height. Draws when list is set.
float layout_block(const NarrationBlock& block, bool large, ImVec2 origin, float width, ImDrawList* list) {
    float x = 0, y = 0, line_h = 0;
    const float base_h = (large ? ui_fonts().large : ui_fonts().regular)->FontSize;
    line_h = base_h;
    auto new_line = [&] {
        y += line_h * 1.18f;
        x = 0;
        line_h = base_h;
    };
    for (const NarrationSpan& span : block.spans) {
        const Style st = span_style(block, span, large);
        const float size = st.font->FontSize;
        line_h = std::max(line_h, size);
        const std::string& s = span.text;
        std::size_t i = 0;
        while (i < s.size()) {
            if (s[i] == '\n') {
                new_line();
                ++i;
                continue;
            }
            // A word and the spaces after it.
            std::size_t j = i;
            while (j < s.size() && s[j] != ' ' && s[j] != '\n') ++j;
            std::size_t k = j;
            while (k < s.size() && s[k] == ' ') ++k;
            const char* b = s.data() + i;
            const float word_w = st.font->CalcTextSizeA(size, 1e9f, 0.0f, b, s.data() + j).x;
            const float full_w = st.font->CalcTextSizeA(size, 1e9f, 0.0f, b, s.data() + k).x;
            if (x > 0 && x + word_w > width && block.kind != NarrationBlockKind::Code) {
                new_line();
                line_h = std::max(line_h, size);
            }
            if (list) {
                const ImVec2 p(origin.x + x, origin.y + y + (line_h - size));
                if (st.code) list->AddRectFilled(ImVec2(p.x - 2, p.y), ImVec2(p.x + word_w + 2, p.y + size), k_code_back, 3.0f);
                list->AddText(st.font, size, p, st.color, b, s.data() + j);
            }
            x += full_w;
            i = k;
        }
    }
    return y + line_h;
}

}  // namespace

void draw_narration(const std::vector<NarrationBlock>& blocks, bool large) {
    ImDrawList* list = ImGui::GetWindowDrawList();
    const float em = (large ? ui_fonts().large : ui_fonts().regular)->FontSize;
    for (std::size_t n = 0; n < blocks.size(); ++n) {
        const NarrationBlock& block = blocks[n];
        const ImVec2 start = ImGui::GetCursorScreenPos();
        const float avail = std::max(40.0f, ImGui::GetContentRegionAvail().x);
        float indent = 0;
        if (block.kind == NarrationBlockKind::ListItem) indent = em * (0.4f + 1.3f * static_cast<float>(block.level));
        if (block.kind == NarrationBlockKind::Quote || block.kind == NarrationBlockKind::Code) indent = em * 0.8f;
        if (block.kind == NarrationBlockKind::Rule) {
            list->AddLine(ImVec2(start.x, start.y + em * 0.5f), ImVec2(start.x + avail, start.y + em * 0.5f), k_rule);
            ImGui::Dummy(ImVec2(avail, em));
            continue;
        }
        const ImVec2 origin(start.x + indent, start.y);
        const float h = layout_block(block, large, origin, avail - indent, nullptr);
        if (block.kind == NarrationBlockKind::Code)
            list->AddRectFilled(ImVec2(start.x, start.y - 3), ImVec2(start.x + avail, start.y + h + 3), k_code_back, 4.0f);
        if (block.kind == NarrationBlockKind::Quote)
            list->AddRectFilled(ImVec2(start.x + 2, start.y), ImVec2(start.x + 5, start.y + h), k_quote_bar);
        if (block.kind == NarrationBlockKind::ListItem && !block.bullet.empty()) {
            ImFont* f = large ? ui_fonts().large : ui_fonts().regular;
            const float bw = f->CalcTextSizeA(f->FontSize, 1e9f, 0.0f, block.bullet.c_str()).x;
            list->AddText(f, f->FontSize, ImVec2(origin.x - bw - em * 0.4f, origin.y), k_emphasis, block.bullet.c_str());
        }
        layout_block(block, large, origin, avail - indent, list);
        ImGui::Dummy(ImVec2(avail, h));
        const bool next_item = n + 1 < blocks.size() && blocks[n + 1].kind == NarrationBlockKind::ListItem &&
                               block.kind == NarrationBlockKind::ListItem;
        ImGui::Dummy(ImVec2(1, next_item ? em * 0.12f : em * 0.45f));
    }
}

}  // namespace fmp
