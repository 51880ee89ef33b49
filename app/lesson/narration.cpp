// Markdown narration to styled blocks through md4c's callbacks.
#include "app/lesson/narration.h"

#include <md4c.h>

namespace fmp {
namespace {

struct Builder {
    std::vector<NarrationBlock> blocks;
    int list_depth = 0;
    std::vector<int> ordered_next;  // per open list: the next number, or 0 for a bullet list
    int quote_depth = 0;
    bool in_item = false;        // inside a list item whose first paragraph is not done
    bool item_has_text = false;  // the current item's block has received text
    int strong = 0, emphasis = 0, code = 0;
    bool open = false;  // a block is receiving text

    void start(NarrationBlockKind kind, int level, std::string bullet = "") {
        NarrationBlock b;
        b.kind = kind;
        b.level = level;
        b.bullet = std::move(bullet);
        blocks.push_back(std::move(b));
        open = true;
    }
    void add_text(const std::string& text) {
        if (!open) start(quote_depth > 0 ? NarrationBlockKind::Quote : NarrationBlockKind::Paragraph, 0);
        auto& spans = blocks.back().spans;
        const bool s = strong > 0, e = emphasis > 0, c = code > 0;
        if (!spans.empty() && spans.back().strong == s && spans.back().emphasis == e && spans.back().code == c)
            spans.back().text += text;
        else
            spans.push_back({text, s, e, c});
        item_has_text = true;
    }
};

int enter_block(MD_BLOCKTYPE type, void* detail, void* user) {
    auto& b = *static_cast<Builder*>(user);
    switch (type) {
        case MD_BLOCK_UL:
            ++b.list_depth, b.ordered_next.push_back(0);
            break;
        case MD_BLOCK_OL:
            ++b.list_depth, b.ordered_next.push_back(static_cast<int>(static_cast<MD_BLOCK_OL_DETAIL*>(detail)->start));
            break;
        case MD_BLOCK_LI: {
            std::string bullet = "•";
            if (!b.ordered_next.empty() && b.ordered_next.back() > 0) bullet = std::to_string(b.ordered_next.back()++) + ".";
            b.start(NarrationBlockKind::ListItem, b.list_depth, bullet);
            b.in_item = true;
            b.item_has_text = false;
            break;
        }
        case MD_BLOCK_QUOTE:
            ++b.quote_depth;
            break;
        case MD_BLOCK_H:
            b.start(NarrationBlockKind::Heading, static_cast<int>(static_cast<MD_BLOCK_H_DETAIL*>(detail)->level));
            break;
        case MD_BLOCK_CODE:
            b.start(NarrationBlockKind::Code, 0);
            ++b.code;
            break;
        case MD_BLOCK_HR:
            b.start(NarrationBlockKind::Rule, 0);
            b.open = false;
            break;
        case MD_BLOCK_P:
            if (b.list_depth > 0) {
                // A loose list's paragraphs: the first joins its item, later ones continue it.
                if (b.in_item && !b.item_has_text) break;
                b.start(NarrationBlockKind::ListItem, b.list_depth, "");
            } else {
                b.start(b.quote_depth > 0 ? NarrationBlockKind::Quote : NarrationBlockKind::Paragraph, 0);
            }
            break;
        default:
            break;
    }
    return 0;
}

int leave_block(MD_BLOCKTYPE type, void*, void* user) {
    auto& b = *static_cast<Builder*>(user);
    switch (type) {
        case MD_BLOCK_UL:
        case MD_BLOCK_OL:
            --b.list_depth, b.ordered_next.pop_back();
            b.open = false;
            break;
        case MD_BLOCK_LI:
            b.in_item = false;
            b.open = false;
            break;
        case MD_BLOCK_QUOTE:
            --b.quote_depth;
            b.open = false;
            break;
        case MD_BLOCK_CODE:
            --b.code;
            if (!b.blocks.empty() && !b.blocks.back().spans.empty()) {
                std::string& t = b.blocks.back().spans.back().text;
                while (!t.empty() && t.back() == '\n') t.pop_back();
            }
            b.open = false;
            break;
        case MD_BLOCK_H:
        case MD_BLOCK_P:
            if (b.list_depth == 0) b.open = false;
            break;
        default:
            break;
    }
    return 0;
}

int enter_span(MD_SPANTYPE type, void*, void* user) {
    auto& b = *static_cast<Builder*>(user);
    if (type == MD_SPAN_STRONG) ++b.strong;
    if (type == MD_SPAN_EM) ++b.emphasis;
    if (type == MD_SPAN_CODE) ++b.code;
    return 0;
}

int leave_span(MD_SPANTYPE type, void*, void* user) {
    auto& b = *static_cast<Builder*>(user);
    if (type == MD_SPAN_STRONG) --b.strong;
    if (type == MD_SPAN_EM) --b.emphasis;
    if (type == MD_SPAN_CODE) --b.code;
    return 0;
}

std::string entity_text(const std::string& e) {
    if (e == "&amp;") return "&";
    if (e == "&lt;") return "<";
    if (e == "&gt;") return ">";
    if (e == "&quot;") return "\"";
    if (e == "&nbsp;") return "\xc2\xa0";
    return e;
}

int text(MD_TEXTTYPE type, const MD_CHAR* data, MD_SIZE size, void* user) {
    auto& b = *static_cast<Builder*>(user);
    const std::string s(data, size);
    switch (type) {
        case MD_TEXT_SOFTBR:
            b.add_text(" ");
            break;
        case MD_TEXT_BR:
            b.add_text("\n");
            break;
        case MD_TEXT_ENTITY:
            b.add_text(entity_text(s));
            break;
        case MD_TEXT_NULLCHAR:
            b.add_text("\xef\xbf\xbd");
            break;
        default:
            b.add_text(s);
            break;
    }
    return 0;
}

}  // namespace

std::vector<NarrationBlock> parse_narration(const std::string& markdown) {
    Builder b;
    MD_PARSER parser{};
    parser.abi_version = 0;
    parser.flags = MD_FLAG_NOHTML | MD_FLAG_STRIKETHROUGH;
    parser.enter_block = enter_block;
    parser.leave_block = leave_block;
    parser.enter_span = enter_span;
    parser.leave_span = leave_span;
    parser.text = text;
    if (md_parse(markdown.data(), static_cast<MD_SIZE>(markdown.size()), &parser, &b) != 0) {
        NarrationBlock plain;
        plain.spans.push_back({markdown});
        return {plain};
    }
    std::vector<NarrationBlock> out;
    for (auto& block : b.blocks)
        if (!block.spans.empty() || block.kind == NarrationBlockKind::Rule) out.push_back(std::move(block));
    return out;
}

std::string narration_plain_text(const std::vector<NarrationBlock>& blocks) {
    std::string out;
    for (const auto& block : blocks) {
        if (block.kind == NarrationBlockKind::ListItem) out += std::string(2 * (block.level - 1), ' ') + block.bullet + (block.bullet.empty() ? "  " : " ");
        if (block.kind == NarrationBlockKind::Heading) out += std::string(block.level, '#') + " ";
        if (block.kind == NarrationBlockKind::Quote) out += "> ";
        if (block.kind == NarrationBlockKind::Rule) out += "---";
        for (const auto& span : block.spans) out += span.text;
        out += "\n";
    }
    return out;
}

}  // namespace fmp
