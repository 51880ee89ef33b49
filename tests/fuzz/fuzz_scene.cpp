// Fuzz target: export settings (scene.json), as `fmplay render --config` and the Export panel read
// them.
#include "app/export/export_settings.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    return fmp::fuzz::check_loader(data, size, [](std::string_view text) {
        fmp::ExportSettings s = fmp::export_settings_from_json(std::string(text), "fuzz.json");
        // What was accepted must be valid and must survive a round trip.
        s.validate();
        (void)fmp::export_settings_from_json(fmp::export_settings_to_json(s), "round trip");
    });
}
