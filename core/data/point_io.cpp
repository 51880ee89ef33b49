// Point-set CSV parsing and saving.
#include "core/data/point_io.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <vector>

namespace fmp {
namespace {

// A real x,y line is a few dozen characters; anything far longer is garbage (or a file that is
// not a point list), and refusing it keeps error messages and the work per line bounded.
constexpr std::size_t k_max_line_chars = 4096;

bool is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
    return s;
}

// Echoes user text inside a one-line message.
std::string quoted(std::string_view s) {
    return quote_for_message(s, 32);
}

enum class FieldStatus { Number, NotANumber, NaN, Infinite, OutOfRange };

// Parses one whole field as a float. Doubles first, so values such as 1e-50 round to zero instead
// of being refused as float underflow; from_chars is locale-independent and fast.
FieldStatus parse_field(std::string_view f, float& value) {
    if (f.size() >= 2 && f.front() == '"' && f.back() == '"') f = f.substr(1, f.size() - 2);
    // from_chars refuses a leading '+', which spreadsheets sometimes write.
    if (f.size() >= 2 && f[0] == '+' && f[1] != '-' && f[1] != '+') f.remove_prefix(1);
    if (f.empty()) return FieldStatus::NotANumber;
    double d = 0.0;
    auto [ptr, ec] = std::from_chars(f.data(), f.data() + f.size(), d);
    if (ptr != f.data() + f.size()) return FieldStatus::NotANumber;
    if (ec == std::errc::result_out_of_range) return FieldStatus::OutOfRange;
    if (ec != std::errc()) return FieldStatus::NotANumber;
    if (std::isnan(d)) return FieldStatus::NaN;
    if (std::isinf(d)) return FieldStatus::Infinite;
    // Halfway between FLT_MAX and 2^128: anything from here on would round to infinity, while
    // FLT_MAX printed with 9 digits (3.40282347e+38, just above it) must still load.
    if (std::fabs(d) >= 0x1.ffffffp127) return FieldStatus::OutOfRange;
    value = static_cast<float>(d);
    return FieldStatus::Number;
}

// Splits a trimmed line into fields: a comma, or a run of spaces/tabs, separates two fields, and
// whitespace around a comma is part of the separator. Returns the number of fields (counting past
// `max_fields` but storing only that many).
std::size_t split_fields(std::string_view line, std::string_view* fields, std::size_t max_fields) {
    std::size_t count = 0;
    std::size_t i = 0;
    const std::size_t n = line.size();
    while (true) {
        std::size_t start = i;
        while (i < n && line[i] != ',' && !is_blank(line[i])) ++i;
        if (count < max_fields) fields[count] = line.substr(start, i - start);
        ++count;
        while (i < n && is_blank(line[i])) ++i;
        if (i >= n) break;
        if (line[i] == ',') {
            ++i;
            while (i < n && is_blank(line[i])) ++i;
            // A trailing comma leaves one empty last field, which the caller refuses.
            if (i >= n) {
                if (count < max_fields) fields[count] = std::string_view();
                ++count;
                break;
            }
        }
    }
    return count;
}

[[noreturn]] void csv_fail(const std::string& source, std::size_t line, const std::string& what) {
    throw InputError(one_line_message(source, 200) + " line " + std::to_string(line) + ": " + what);
}

}  // namespace

std::string coordinate_range_error(const std::string& what) {
    return what + " is outside the range of coordinates (|x|, |y| <= 1e6); rescale the data "
                  "(the built-in datasets span about [-4, 4])";
}

namespace {

// The class column: digits only, 0 .. k_max_class.
bool parse_class(std::string_view field, uint8_t& out) {
    constexpr int k_max_class = 7;
    if (field.empty() || field.size() > 3) return false;
    int v = 0;
    for (char ch : field) {
        if (ch < '0' || ch > '9') return false;
        v = v * 10 + (ch - '0');
    }
    if (v > k_max_class) return false;
    out = static_cast<uint8_t>(v);
    return true;
}

// Both parsers: x,y per line, and with `classes` an optional third column of classes.
Points parse_csv(std::string_view text, const std::string& source_name, std::vector<uint8_t>* classes);

}  // namespace

Points parse_points_csv(std::string_view text, const std::string& source_name) {
    return parse_csv(text, source_name, nullptr);
}

LabelledPoints parse_labelled_points_csv(std::string_view text, const std::string& source_name) {
    LabelledPoints out;
    out.points = parse_csv(text, source_name, &out.classes);
    return out;
}

LabelledPoints load_labelled_points_csv(const std::string& path) {
    return parse_labelled_points_csv(read_file(path, k_max_csv_bytes), path);
}

namespace {

Points parse_csv(std::string_view text, const std::string& source_name, std::vector<uint8_t>* classes) {
    // A UTF-8 byte order mark, as spreadsheet programs write, is not part of the first field.
    if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);

    // Every point takes at least one line, so the newline count bounds the allocation.
    std::size_t line_estimate =
        static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
    std::vector<float> xy;
    xy.reserve(2 * std::min(line_estimate, k_max_points));

    bool seen_content = false;
    std::size_t columns = 0;  // set by the first data line: 2, or 3 with classes
    std::size_t line_no = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t eol = text.find('\n', pos);
        if (eol == std::string_view::npos) eol = text.size();
        std::string_view raw = text.substr(pos, eol - pos);
        pos = eol + 1;
        ++line_no;

        std::string_view line = trim(raw);
        if (line.empty() || line.front() == '#') continue;
        if (line.size() > k_max_line_chars)
            csv_fail(source_name, line_no,
                     "line is longer than " + std::to_string(k_max_line_chars) +
                         " characters (expected 2 numbers x,y per line)");

        constexpr std::size_t k_keep = 3;
        std::string_view fields[k_keep];
        std::size_t count = split_fields(line, fields, k_keep);
        float values[2] = {0.0f, 0.0f};
        FieldStatus status[k_keep];
        bool any_number = false;
        for (std::size_t f = 0; f < std::min(count, k_keep); ++f) {
            float v = 0.0f;
            status[f] = parse_field(fields[f], v);
            if (status[f] != FieldStatus::NotANumber) any_number = true;
            if (f < 2) values[f] = v;
        }

        bool first_content = !seen_content;
        seen_content = true;
        // The optional header: the first content line when none of its fields is a number.
        if (first_content && !any_number) continue;

        const std::size_t want = columns ? columns : (classes && count == 3 ? 3 : 2);
        if (count != want)
            csv_fail(source_name, line_no,
                     "found " + std::to_string(count) + (count == 1 ? " column" : " columns") +
                         " in " + quoted(line) + ", expected 2 numbers x,y" +
                         (classes ? (columns == 3 ? " and a class, as the lines before"
                                                  : " (and an optional class 0..7)")
                                  : ""));
        columns = want;
        if (want == 3) {
            uint8_t c = 0;
            if (!parse_class(fields[2], c))
                csv_fail(source_name, line_no,
                         quoted(fields[2]) + " is not a class (an integer 0..7 in the third column)");
            classes->push_back(c);
        }
        for (std::size_t f = 0; f < 2; ++f) {
            switch (status[f]) {
                case FieldStatus::Number:
                    break;
                case FieldStatus::NotANumber:
                    csv_fail(
                        source_name, line_no,
                        quoted(fields[f]) + " is not a number (expected 2 numbers x,y per line)");
                case FieldStatus::NaN:
                    csv_fail(source_name, line_no, "NaN is not allowed in " + quoted(line));
                case FieldStatus::Infinite:
                    csv_fail(source_name, line_no, "infinity is not allowed in " + quoted(line));
                case FieldStatus::OutOfRange:
                    csv_fail(source_name, line_no,
                             quoted(fields[f]) + " is out of the 32-bit float range");
            }
            if (!(std::fabs(values[f]) <= k_max_coordinate))
                csv_fail(source_name, line_no, coordinate_range_error(quoted(fields[f])));
        }
        if (xy.size() / 2 >= k_max_points)
            csv_fail(
                source_name, line_no,
                "more than " + std::to_string(k_max_points) + " points (the limit per point set)");
        xy.push_back(values[0]);
        xy.push_back(values[1]);
    }

    if (xy.empty()) {
        csv_fail(source_name, std::max<std::size_t>(line_no, 1),
                 seen_content ? "no points after the header (expected x,y lines)"
                              : "no points: the input is empty (expected x,y lines)");
    }
    Points points(static_cast<Eigen::Index>(xy.size() / 2), 2);
    std::copy(xy.begin(), xy.end(), points.data());
    return points;
}

}  // namespace

Points load_points_csv(const std::string& path) {
    return parse_points_csv(read_file(path, k_max_csv_bytes), path);
}

void save_points_csv(const std::string& path, const Points& points, const std::vector<uint8_t>& classes) {
    const bool labelled = !classes.empty();
    if (labelled && classes.size() != static_cast<std::size_t>(points.rows()))
        throw InputError("cannot write " + path + ": " + std::to_string(classes.size()) + " classes for " +
                         std::to_string(points.rows()) + " points");
    std::string text = labelled ? "x,y,class\n" : "x,y\n";
    text.reserve(text.size() + static_cast<std::size_t>(points.rows()) * 26);
    char buf[64];
    for (Eigen::Index i = 0; i < points.rows(); ++i) {
        float x = points(i, 0), y = points(i, 1);
        if (!std::isfinite(x) || !std::isfinite(y))
            throw InputError("cannot write " + path + ": point " + std::to_string(i) +
                             " is not finite");
        int len = labelled ? std::snprintf(buf, sizeof buf, "%.9g,%.9g,%d\n", static_cast<double>(x),
                                           static_cast<double>(y), int(classes[static_cast<std::size_t>(i)]))
                           : std::snprintf(buf, sizeof buf, "%.9g,%.9g\n", static_cast<double>(x),
                                           static_cast<double>(y));
        text.append(buf, static_cast<std::size_t>(len));
    }
    write_file_atomic(path, text);
}

}  // namespace fmp
