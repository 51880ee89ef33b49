// Model files: a saved model loads back exactly; hostile fields are refused before conversion and
// echoed safely.
#include <doctest/doctest.h>

#include <string>

#include "core/base/rng.h"
#include "core/nn/model_file.h"

using namespace fmp;

namespace {

ModelFile small_model() {
    ModelFile m;
    m.mlp.width = 16;
    m.mlp.depth = 1;
    m.path = make_path("condot");
    m.source = Dataset(DatasetKind::Normal);
    m.target = Dataset(DatasetKind::Moons);
    Mlp net(m.mlp, 3);
    m.params = net.params();
    m.steps_trained = 12;
    return m;
}

std::string error_of(const std::string& json) {
    try {
        (void)model_from_json(json, "m.json");
    } catch (const InputError& e) {
        return e.what();
    }
    return "";
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
    auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    return text.replace(at, from.size(), to);
}

}  // namespace

TEST_CASE("a model round-trips through its JSON exactly") {
    ModelFile m = small_model();
    ModelFile back = model_from_json(model_to_json(m), "m.json");
    CHECK(back.params == m.params);
    CHECK(back.mlp.width == 16);
    CHECK(back.steps_trained == 12);
}

TEST_CASE("integers beyond their type are refused, not truncated") {
    const std::string text = model_to_json(small_model());
    CHECK(error_of(replaced(text, "\"version\": 1", "\"version\": 4294967297")).find("version") !=
          std::string::npos);
    CHECK(error_of(replaced(text, "\"depth\": 1", "\"depth\": 4294967297")).find("depth") !=
          std::string::npos);
    CHECK(error_of(replaced(text, "\"depth\": 1", "\"depth\": -4294967295")).find("depth") !=
          std::string::npos);
    CHECK(
        error_of(replaced(text, "\"steps_trained\": 12", "\"steps_trained\": 18446744073709551615"))
            .find("steps_trained") != std::string::npos);
    CHECK(error_of(replaced(text, "\"depth\": 1", "\"depth\": 1.5")).find("integer") !=
          std::string::npos);
}

TEST_CASE("floats beyond float range and points beyond the coordinate range are refused") {
    const std::string text = model_to_json(small_model());
    CHECK(error_of(replaced(text, "\"sigma_min\": ", "\"sigma_min\": 1e300, \"x\": "))
              .find("sigma_min") != std::string::npos);
    const std::string drawn = replaced(text, "\"name\": \"normal\"",
                                       "\"name\": \"drawn\", \"points\": [[0, 0], [3e6, 1]]");
    CHECK(error_of(drawn).find("outside the range of coordinates") != std::string::npos);
    const std::string big_param = replaced(text, "\"params\": [", "\"params\": [1e300, ");
    CHECK(error_of(big_param) != "");
}

TEST_CASE("names from the file are echoed without control characters, and briefly") {
    const std::string text = model_to_json(small_model());
    const std::string evil = "\\u001b]2;owned\\u0007" + std::string(100000, 'n');
    std::string msg = error_of(replaced(text, "\"name\": \"moons\"", "\"name\": \"" + evil + "\""));
    CHECK(msg.find("unknown dataset") != std::string::npos);
    CHECK(msg.find('\x1b') == std::string::npos);
    CHECK(msg.find('\x07') == std::string::npos);
    CHECK(msg.size() < 400);
    msg = error_of(replaced(text, "\"silu\"", "\"\\u001b[31msilu\""));
    CHECK(msg.find("unknown activation") != std::string::npos);
    CHECK(msg.find('\x1b') == std::string::npos);
}
