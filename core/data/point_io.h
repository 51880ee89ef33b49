// Point-set CSV files (x,y per line, optional header) and atomic file writing.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

#include "core/base/types.h"

namespace fmp {

// Limits that keep loading bounded on hostile input.
inline constexpr std::size_t k_max_csv_bytes = 256u << 20;   // 256 MiB
inline constexpr std::size_t k_max_points = 2'000'000;       // per point set

// Parses CSV text: one point per line, x and y separated by a comma, spaces or a tab; an optional
// first header line of non-numbers; blank lines and lines starting with '#' skipped.
// Throws InputError (one line, with the line number) on text, NaN, inf, one column, more than
// k_max_points points, or no points at all.
Points parse_points_csv(std::string_view text, const std::string& source_name = "input");
// Reads a file (at most k_max_csv_bytes) and parses it. Throws InputError.
Points load_points_csv(const std::string& path);
// "x,y\n" then one "%.9g,%.9g" row per point, written atomically.
void save_points_csv(const std::string& path, const Points& points);

// Writes `data` to path.tmp-XXXX in the same directory, fsyncs, then renames over `path`, so a
// reader never sees a half-written file. Throws InputError if the directory is not writable.
void write_file_atomic(const std::string& path, std::string_view data);
// Reads a whole file up to max_bytes. Throws InputError if missing, unreadable or too large.
std::string read_file(const std::string& path, std::size_t max_bytes);

}  // namespace fmp
