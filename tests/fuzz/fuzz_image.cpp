// Fuzz target: picture imports (image_bytes_to_points) for every format; the corpus decides which
// decoder runs (PNG, JPEG, GIF, BMP are sniffed from the bytes). Built once per format corpus.
#include "core/data/point_import.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    return fmp::fuzz::check_loader(data, size, [](std::string_view bytes) {
        fmp::ImageImportOptions opt;
        opt.points = 64;  // the decoder is what is tested, not the sampler
        fmp::Points p = fmp::image_bytes_to_points(bytes, opt, "fuzz image");
        if (p.rows() != opt.points || !p.allFinite()) std::abort();
    });
}
