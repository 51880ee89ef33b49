// Fuzz target: model files (model_from_json), as `fmplay sample --model` and exports read them.
#include "core/nn/model_file.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    return fmp::fuzz::check_loader(data, size, [](std::string_view text) {
        fmp::ModelFile m = fmp::model_from_json(std::string(text), "fuzz.json");
        if (m.params.size() != m.mlp.parameter_count()) std::abort();
    });
}
