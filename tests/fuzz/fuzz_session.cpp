// Fuzz target: session files (.fmplay, docs/session_format.md), as the window's Open, --session and
// `fmplay render --session` read them.
#include "app/session/session_file.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    return fmp::fuzz::check_loader(data, size, [](std::string_view text) {
        const fmp::Session s = fmp::session_from_json(std::string(text), "fuzz.fmplay");
        // What was accepted is whole: its scene valid, and it survives a round trip.
        s.scene.validate();
        if (s.training.params.size() != s.model.mlp.parameter_count()) __builtin_trap();
        (void)fmp::session_from_json(fmp::session_to_json(s), "round trip");
    });
}
