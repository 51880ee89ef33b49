// Helpers for the export tests: the one-line error a scene.json text gets.
#pragma once
#include <string>

#include "app/export/export_settings.h"

namespace fmp::test {

// The message export_settings_from_json throws for `json` ("" when it is accepted).
inline std::string error_of(const std::string& json) {
    try {
        (void)export_settings_from_json(json, "scene.json");
    } catch (const InputError& e) {
        return e.what();
    }
    return "";
}

}  // namespace fmp::test
