// Fuzz target: text imports (text_to_points), as --target text:WORDS and the GUI's text import.
#include "core/data/point_import.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    return fmp::fuzz::check_loader(data, size, [](std::string_view text) {
        fmp::TextImportOptions opt;
        opt.points = 64;
        opt.pixel_height = 24;  // small glyphs: thousands of inputs a second
        fmp::Points p = fmp::text_to_points(std::string(text), opt);
        if (p.rows() != opt.points || !p.allFinite()) std::abort();
    });
}
