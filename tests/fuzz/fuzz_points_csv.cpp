// Fuzz target: CSV point sets (parse_points_csv), as --target file.csv and the GUI's import read
// them.
#include "core/data/point_io.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    return fmp::fuzz::check_loader(data, size, [](std::string_view text) {
        fmp::Points p = fmp::parse_points_csv(text, "fuzz.csv");
        if (p.rows() == 0 || !p.allFinite() || p.cwiseAbs().maxCoeff() > fmp::k_max_coordinate)
            std::abort();
    });
}
