// A lesson's Markdown narration as blocks of styled spans (parsed by md4c), for the window to lay out.
#pragma once
#include <string>
#include <vector>

namespace fmp {

struct NarrationSpan {
    std::string text;
    bool strong = false;    // **bold**
    bool emphasis = false;  // *emphasis*
    bool code = false;      // `code`
};

enum class NarrationBlockKind { Paragraph, Heading, ListItem, Quote, Code, Rule };

struct NarrationBlock {
    NarrationBlockKind kind = NarrationBlockKind::Paragraph;
    int level = 0;       // a heading's level (1..6); a list item's depth (1 = top)
    std::string bullet;  // a list item's marker: "•" or "3."; "" for its later paragraphs
    std::vector<NarrationSpan> spans;
};

// Headings, paragraphs, (nested, ordered) lists, quotes, code blocks, rules; bold, emphasis,
// inline code; raw HTML is kept as text. Never fails: anything md4c cannot read stays plain.
std::vector<NarrationBlock> parse_narration(const std::string& markdown);
// The blocks' text, one block a line (tests, and the exported notes).
std::string narration_plain_text(const std::vector<NarrationBlock>& blocks);

}  // namespace fmp
