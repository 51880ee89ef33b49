// Helpers for the shared types.
#include "core/base/types.h"

#include <algorithm>
#include <cstdint>

namespace fmp {

std::string join_names(const std::vector<std::string>& names) {
    std::string s;
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (i) s += ", ";
        s += names[i];
    }
    return s;
}

int name_index(const std::vector<std::string>& names, const std::string& name) {
    auto it = std::find(names.begin(), names.end(), name);
    return it == names.end() ? -1 : static_cast<int>(it - names.begin());
}

namespace {

// Appends the UTF-8 sequence at s[i] if it is a well-formed printable character (no C0/C1
// control, no overlong form or surrogate); returns its length, or 0 for a bad or control byte.
std::size_t printable_utf8(std::string_view s, std::size_t i) {
    auto b = static_cast<unsigned char>(s[i]);
    if (b >= 0x20 && b < 0x7f) return 1;
    int len = (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > s.size()) return 0;
    uint32_t cp = b & (0x7f >> len);
    for (int k = 1; k < len; ++k) {
        auto c = static_cast<unsigned char>(s[i + k]);
        if ((c & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (c & 0x3f);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    if (cp < 0xa0) return 0;  // C1 controls
    return static_cast<std::size_t>(len);
}

// Printable characters of s (controls as '?' or, for line breaks, `newline`), at most max_chars.
std::string printable(std::string_view s, std::size_t max_chars, char newline) {
    std::string out;
    std::size_t chars = 0, i = 0;
    for (; i < s.size() && chars < max_chars; ++chars) {
        std::size_t len = printable_utf8(s, i);
        if (len > 0) {
            out.append(s.substr(i, len));
            i += len;
        } else {
            out += (s[i] == '\n' || s[i] == '\r' || s[i] == '\t') ? newline : '?';
            ++i;
        }
    }
    if (i < s.size()) out += "...";
    return out;
}

}  // namespace

std::string quote_for_message(std::string_view text, std::size_t max_chars) {
    std::string out = "'";
    out += printable(text, max_chars, '?');
    out += '\'';
    return out;
}

std::string one_line_message(std::string_view message, std::size_t max_chars) {
    return printable(message, max_chars, ' ');
}

}  // namespace fmp
