// Fuzz target: CSV point sets (parse_points_csv, and parse_labelled_points_csv with its class
// column), as --target file.csv and the GUI's import read them.
#include "core/data/point_io.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    fmp::fuzz::check_loader(data, size, [](std::string_view text) {
        fmp::Points p = fmp::parse_points_csv(text, "fuzz.csv");
        if (p.rows() == 0 || !p.allFinite() || p.cwiseAbs().maxCoeff() > fmp::k_max_coordinate)
            std::abort();
    });
    return fmp::fuzz::check_loader(data, size, [](std::string_view text) {
        fmp::LabelledPoints p = fmp::parse_labelled_points_csv(text, "fuzz.csv");
        if (p.points.rows() == 0 || !p.points.allFinite() ||
            p.points.cwiseAbs().maxCoeff() > fmp::k_max_coordinate)
            std::abort();
        if (!p.classes.empty() && p.classes.size() != static_cast<std::size_t>(p.points.rows())) std::abort();
        for (uint8_t c : p.classes)
            if (c > 7) std::abort();
    });
}
