// Classes in exports: scene.json's network.classes, particles.follow and particles.guidance (round
// trip and checks), and fmplay render --classes drawing each class's particles in its colour.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "app/export/export_settings.h"
#include "app/render/palette.h"
#include "core/base/file_io.h"
#include "tests/export_test_support.h"
#include "tests/image_test_support.h"
#include "tests/test_support.h"

namespace fs = std::filesystem;
using namespace fmp::test;

namespace {

std::size_t near_class(const Image& img, int k) {
    const uint32_t c = fmp::class_color(k);
    return pixels_near(img, int(c & 0xff), int((c >> 8) & 0xff), int((c >> 16) & 0xff), 40);
}

}  // namespace

TEST_CASE("scene.json: classes, follow and guidance round-trip and are checked by key") {
    fmp::ExportSettings s = fmp::export_settings_from_json(
        R"({"network": {"classes": true, "p_uncond": 0.1}, "particles": {"follow": "3", "guidance": 2.5},
            "layers": {"color": "class", "arrow_mode": "guidance"}})");
    CHECK(s.train.classes);
    CHECK(s.train.p_uncond == doctest::Approx(0.1));
    CHECK(s.follow == "3");
    CHECK(s.guidance == doctest::Approx(2.5));
    CHECK(s.layers.color == fmp::ColorMode::Class);
    CHECK(s.layers.arrow_mode == fmp::ArrowMode::Guidance);
    const fmp::ExportSettings back = fmp::export_settings_from_json(fmp::export_settings_to_json(s));
    CHECK(back.train.classes);
    CHECK(back.follow == "3");
    CHECK(back.guidance == doctest::Approx(2.5));
    CHECK(back.layers.color == fmp::ColorMode::Class);
    CHECK(back.layers.arrow_mode == fmp::ArrowMode::Guidance);
    // The defaults: no classes, every class followed at w = 1.
    const fmp::ExportSettings d;
    CHECK_FALSE(d.train.classes);
    CHECK(d.follow == "all");
    CHECK(d.guidance == 1.0f);

    CHECK(error_of(R"({"particles": {"follow": "9"}})").find("particles.follow") != std::string::npos);
    CHECK(error_of(R"({"particles": {"follow": 2}})").find("particles.follow") != std::string::npos);
    CHECK(error_of(R"({"particles": {"guidance": 11}})").find("particles.guidance") != std::string::npos);
    CHECK(error_of(R"({"network": {"p_uncond": 1.5}})").find("network.p_uncond") != std::string::npos);
    CHECK(error_of(R"({"network": {"classes": 1}})").find("network.classes") != std::string::npos);
    CHECK(error_of(R"({"particles": {"follow": "none", "guidance": 0}})") == "");
}

TEST_CASE("fmplay render --classes: each class in its colour, or only the class followed") {
    const fs::path d = fresh_dir("render_classes");
    const std::string common = "render --classes --steps 1500 --engine cpu --width 480 --height 320 --particles 6000 "
                               "--quiet --time 1 --views particles,byclass ";
    CommandResult all = run_fmplay(common + "--out '" + (d / "all.png").string() + "'");
    REQUIRE_MESSAGE(all.code == 0, all.output);
    const Image both = load(d / "all.png");
    CHECK(near_class(both, 0) > 200);
    CHECK(near_class(both, 1) > 200);
    CommandResult one = run_fmplay(common + "--follow 1 --guidance 2 --out '" + (d / "one.png").string() + "'");
    REQUIRE_MESSAGE(one.code == 0, one.output);
    const Image moon = load(d / "one.png");
    CHECK(near_class(moon, 1) > 800);
    CHECK(near_class(moon, 0) < 50);

    // A target without classes, and bad values: one line, exit 2, nothing written.
    const fs::path scene = d / "scene.json";
    fmp::write_file_atomic(scene.string(), R"({"data": {"target": "swissroll"}})");
    check_one_error(run_fmplay("render --classes --config '" + scene.string() + "' --out '" +
                               (d / "none.png").string() + "'"),
                    "has no classes");
    check_one_error(run_fmplay("render --classes --follow 12 --out '" + (d / "bad.png").string() + "'"), "follow");
    CHECK_FALSE(fs::exists(d / "none.png"));
    CHECK_FALSE(fs::exists(d / "bad.png"));
}
