// Point-set CSV files (x,y per line, optional header). Whole-file reading and atomic writing live
// in core/base/file_io.h (included here for the loaders that use both).
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/file_io.h"
#include "core/base/types.h"

namespace fmp {

// Limits that keep loading bounded on hostile input.
inline constexpr std::size_t k_max_csv_bytes = 256u << 20;   // 256 MiB
inline constexpr std::size_t k_max_points = 2'000'000;       // per point set
// Coordinates beyond this are refused wherever points enter (CSV, drawings, model files, scenes):
// the app's data lives within a few units of the origin, and a float far beyond would make the
// view, its grid and training meaningless (1e20 + 1 == 1e20).
inline constexpr float k_max_coordinate = 1e6f;
// "... is outside the range of coordinates (|x|, |y| <= 1e6): rescale the data ..." for `what`.
std::string coordinate_range_error(const std::string& what);

// Parses CSV text: one point per line, x and y separated by a comma, spaces or a tab; an optional
// first header line of non-numbers; blank lines and lines starting with '#' skipped.
// Throws InputError (one line, with the line number) on text, NaN, inf, a coordinate beyond
// k_max_coordinate, one column, more than k_max_points points, or no points at all.
Points parse_points_csv(std::string_view text, const std::string& source_name = "input");
// Reads a file (at most k_max_csv_bytes) and parses it. Throws InputError.
Points load_points_csv(const std::string& path);

// Points with an optional third column: the class of each point, an integer 0..7 (every line
// has it or none does). classes is empty when the file has two columns.
struct LabelledPoints {
    Points points;
    std::vector<uint8_t> classes;
};
LabelledPoints parse_labelled_points_csv(std::string_view text, const std::string& source_name = "input");
LabelledPoints load_labelled_points_csv(const std::string& path);
// "x,y\n" then one "%.9g,%.9g" row per point, written atomically; with classes (one per point)
// "x,y,class" rows that load_labelled_points_csv reads back.
void save_points_csv(const std::string& path, const Points& points,
                     const std::vector<uint8_t>& classes = {});

}  // namespace fmp
