// scene.json read strictly: every malformed or out-of-range value is one InputError naming the key.
#include <doctest/doctest.h>

#include <string>

#include "app/export/export_settings.h"
#include "tests/export_test_support.h"
#include "core/base/types.h"

using fmp::export_settings_from_json;
using fmp::InputError;
using namespace fmp::test;


TEST_CASE("numbers no double or float holds are input errors, not crashes or exit 1") {
    CHECK(error_of(R"({"video": {"fps": 1e999}})").find("scene.json") == 0);
    CHECK(error_of(R"({"video": {"fps": -1e999}})") != "");
    CHECK(error_of(R"({"view": {"center": [0, 0], "height": 1e300}})").find("view.height") !=
          std::string::npos);
    CHECK(error_of(R"({"layers": {"point_size": 1e300}})").find("layers.point_size") !=
          std::string::npos);
    CHECK(error_of(R"({"training": {"seed": -1}})").find("training.seed") != std::string::npos);
    CHECK(error_of(R"({"training": {"batch": 4294967297}})").find("training.batch") !=
          std::string::npos);
}

TEST_CASE("training.steps 0 needs a model file, and the message names the key") {
    std::string msg = error_of(R"({"training": {"steps": 0}})");
    CHECK(msg.find("training.steps") != std::string::npos);
    CHECK(msg.find("--steps") == std::string::npos);
    CHECK(error_of(R"({"training": {"steps": 0}, "model": "run/model.json"})") == "");
}

TEST_CASE("the view keeps to the coordinate range") {
    CHECK(error_of(R"({"view": {"center": [1e7, 0], "height": 6}})").find("view.center") !=
          std::string::npos);
    CHECK(error_of(R"({"view": {"center": [1e6, -1e6], "height": 2e6}})") == "");
}

TEST_CASE("keys and values echoed in errors are sanitised") {
    std::string msg = error_of("{\"\\u001b[31mred\": 1}");
    CHECK(msg.find("unknown key") != std::string::npos);
    CHECK(msg.find('\x1b') == std::string::npos);
    msg = error_of("{\"mode\": \"" + std::string(50000, 'z') + "\"}");
    CHECK(msg.find("mode") != std::string::npos);
    CHECK(msg.size() < 300);
}

TEST_CASE("particles.solver takes dopri5 and particles.tolerance round-trips and is range-checked") {
    fmp::ExportSettings s =
        export_settings_from_json(R"({"particles": {"solver": "dopri5", "tolerance": 1e-5}})");
    CHECK(s.solver == "dopri5");
    CHECK(s.solver_tolerance == doctest::Approx(1e-5));
    fmp::ExportSettings back = export_settings_from_json(fmp::export_settings_to_json(s));
    CHECK(back.solver_tolerance == doctest::Approx(1e-5));
    CHECK(error_of(R"({"particles": {"tolerance": 0}})").find("particles.tolerance") !=
          std::string::npos);
    CHECK(error_of(R"({"particles": {"tolerance": 0.5}})").find("particles.tolerance") !=
          std::string::npos);
}
