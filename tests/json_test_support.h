// Reading the JSON files the commands write (model.json, summary.json, scene.json) in tests.
#pragma once
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace fmp::test {

inline nlohmann::json read_json(const std::filesystem::path& p) {
    std::ifstream f(p);
    REQUIRE_MESSAGE(f.good(), "cannot read " << p);
    return nlohmann::json::parse(f);
}

}  // namespace fmp::test
