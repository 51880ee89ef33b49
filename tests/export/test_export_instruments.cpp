// The instruments in exports: scene.json's "instruments" (round trip, strict validation, the
// checks against the data) and `fmplay render` figures with the error map, the likelihood, the
// lens and their colour bars, inspected pixel by pixel.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include "app/export/export_settings.h"
#include "app/export/frame_overlay.h"
#include "core/base/types.h"
#include "core/data/dataset.h"
#include "tests/image_test_support.h"
#include "tests/test_support.h"
#include "tests/export_test_support.h"

namespace fs = std::filesystem;
using namespace fmp;
using namespace fmp::test;

namespace {

// A scratch folder of this process, removed at exit: other build folders may run this test at
// the same time, and a shared name would let one run wipe the other's files.
struct Scratch {
    fs::path dir;
    explicit Scratch(const std::string& name)
        : dir(fresh_dir(name + "_" + std::to_string(getpid()))) {}
    ~Scratch() {
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
};

int count_lines(const std::string& s) {
    int n = 0;
    for (char c : s) n += c == '\n';
    return n;
}

// One small 8gaussians model shared by the figures (training it once keeps the suite short).
const fs::path& model_file() {
    static const fs::path model = [] {
        static const Scratch scratch("instruments_model");
        const fs::path& d = scratch.dir;
        CommandResult r = run_fmplay(
            "train --target 8gaussians --source normal --steps 400 --width 32 --depth 2 "
            "--batch 256 --samples 200 --out '" +
            d.string() + "'");
        REQUIRE_MESSAGE(r.code == 0, r.output);
        return d / "model.json";
    }();
    return model;
}

// A 320x180 figure of the model at t with the targets only (no particles: their colours would
// blur what each test looks for) and the given extra flags, over a fixed view of the plane.
Image figure(const std::string& name, const std::string& flags, float t = 0.5f) {
    static const Scratch scratch("instruments_figures");
    const fs::path& d = scratch.dir;
    const fs::path scene = d / "view.json";
    if (!fs::exists(scene)) std::ofstream(scene) << R"({"view": {"center": [0, 0], "height": 8}})";
    const fs::path out = d / (name + ".png");
    CommandResult r = run_fmplay(
        "render --quiet --config '" + scene.string() + "' --model '" + model_file().string() +
        "' --width 320 --height 180 --particles 200 --views targets --time " + std::to_string(t) +
        " " + flags + " --out '" + out.string() + "'");
    REQUIRE_MESSAGE(r.code == 0, r.output);
    return load(out);
}

// Columns of the middle row of colour bar `index` whose pixel is the heatmap ramp's colour there.
int ramp_columns(const Image& img, int index) {
    const BarBox b = color_bar_box(img.w, img.h, index, false);
    const int y = (b.y0 + b.y1) / 2;
    int n = 0;
    for (int x = b.x0; x < b.x1; ++x) {
        const uint32_t c = heatmap_ramp(float(x - b.x0) / float(b.x1 - b.x0 - 1));
        const unsigned char* p = img.at(x, y);
        if (std::abs(p[0] - int(c & 0xff)) <= 2 && std::abs(p[1] - int((c >> 8) & 0xff)) <= 2 &&
            std::abs(p[2] - int((c >> 16) & 0xff)) <= 2)
            ++n;
    }
    return n;
}

// Pixel (x, y) of a figure over the view centred at 0 with height 8 (the frame's world point).
const unsigned char* at_world(const Image& img, float wx, float wy) {
    const float ppu = img.h / 8.0f;
    const int x = static_cast<int>(std::lround(img.w / 2.0f + wx * ppu));
    const int y = static_cast<int>(std::lround(img.h / 2.0f - wy * ppu));
    return img.at(x, y);
}

int brightness(const unsigned char* p) {
    return p[0] + p[1] + p[2];
}

}  // namespace

TEST_CASE("scene.json instruments: defaults off, every key round trips") {
    ExportSettings s;
    CHECK_FALSE(s.instruments.any());
    s.instruments.lens = Eigen::Vector2f(0.5f, -1.25f);
    s.instruments.lens_bandwidth = 0.3f;
    s.instruments.error_map = ErrorMapMode::Weighted;
    s.instruments.likelihood = LikelihoodMode::True;
    s.instruments.likelihood_steps = 16;
    s.instruments.trace = Eigen::Vector2f(2.0f, 0.1f);
    const std::string text = export_settings_to_json(s);
    const ExportSettings r = export_settings_from_json(text);
    REQUIRE(r.instruments.lens);
    CHECK(*r.instruments.lens == Eigen::Vector2f(0.5f, -1.25f));
    CHECK(r.instruments.lens_bandwidth == 0.3f);
    CHECK(r.instruments.error_map == ErrorMapMode::Weighted);
    CHECK(r.instruments.likelihood == LikelihoodMode::True);
    CHECK(r.instruments.likelihood_steps == 16);
    REQUIRE(r.instruments.trace);
    CHECK(*r.instruments.trace == Eigen::Vector2f(2.0f, 0.1f));
    CHECK(export_settings_to_json(r) == text);  // a fixed point

    // null turns a point off; the defaults write null.
    const ExportSettings off =
        export_settings_from_json(R"({"instruments": {"lens": null, "trace": null}})");
    CHECK_FALSE(off.instruments.any());
    CHECK(export_settings_to_json(ExportSettings()).find("\"lens\": null") != std::string::npos);
}

TEST_CASE("scene.json instruments: bad names, points and ranges name the key") {
    CHECK(error_of(R"({"instruments": {"error_map": "loud"}})").find("instruments.error_map") !=
          std::string::npos);
    CHECK(error_of(R"({"instruments": {"likelihood": "exact"}})").find("instruments.likelihood") !=
          std::string::npos);
    CHECK(error_of(R"({"instruments": {"lens": [1e7, 0]}})").find("instruments.lens") !=
          std::string::npos);
    CHECK(error_of(R"({"instruments": {"lens": [0, 1e300]}})").find("instruments.lens") !=
          std::string::npos);
    CHECK(error_of(R"({"instruments": {"lens": [1, 2, 3]}})").find("instruments.lens") !=
          std::string::npos);
    CHECK(error_of(R"({"instruments": {"lens": "here"}})").find("instruments.lens") !=
          std::string::npos);
    CHECK(error_of(R"({"instruments": {"trace": [0, -2e6]}})").find("instruments.trace") !=
          std::string::npos);
    CHECK(
        error_of(R"({"instruments": {"lens_bandwidth": 0}})").find("instruments.lens_bandwidth") !=
        std::string::npos);
    CHECK(error_of(R"({"instruments": {"likelihood_steps": 0}})")
              .find("instruments.likelihood_steps") != std::string::npos);
    CHECK(error_of(R"({"instruments": {"lense": [0, 0]}})").find("instruments.lense") !=
          std::string::npos);
    CHECK(error_of(R"({"instruments": {"lens": [1e6, -1e6], "error_map": "raw"}})") == "");
}

TEST_CASE("instruments the data cannot support are refused before anything starts") {
    const Dataset normal = make_dataset("normal"), moons = make_dataset("moons");
    Points corners(4, 2);
    corners << 0, 0, 1, 0, 0, 1, 1, 1;
    const Dataset drawn = Dataset::from_points(corners, "drawn");
    InstrumentSettings in;
    in.error_map = ErrorMapMode::Raw;
    CHECK_NOTHROW(check_instruments(in, normal, moons));
    CHECK_THROWS_AS(check_instruments(in, make_dataset("uniform"), moons), InputError);
    in = {};
    in.likelihood = LikelihoodMode::Model;
    CHECK_NOTHROW(check_instruments(in, make_dataset("8gaussians"), moons));
    CHECK_THROWS_AS(check_instruments(in, drawn, moons), InputError);
    in.likelihood = LikelihoodMode::True;
    CHECK_THROWS_AS(check_instruments(in, normal, moons), InputError);
    CHECK_NOTHROW(check_instruments(in, drawn, make_dataset("8gaussians")));

    // Through fmplay render: exit 2, one line naming the key, nothing written.
    const Scratch scratch("instruments_refused");
    const fs::path& d = scratch.dir;
    std::ofstream(d / "src.csv") << "0,0\n1,0\n0,1\n1,1\n0.5,0.5\n";
    std::ofstream(d / "drawn.json") << R"({"data": {"source": ")" + (d / "src.csv").string() +
                                           R"("}, "training": {"steps": 10}})";
    const std::string out =
        " --quiet --width 64 --height 48 --out '" + (d / "x.png").string() + "'";
    CommandResult r = run_fmplay("render --config '" + (d / "drawn.json").string() +
                                 "' --likelihood model" + out);
    CHECK(r.code == 2);
    CHECK(count_lines(r.output) == 1);
    CHECK(r.output.find("likelihood") != std::string::npos);
    r = run_fmplay("render --config '" + (d / "drawn.json").string() + "' --error-map raw" + out);
    CHECK(r.code == 2);
    CHECK(count_lines(r.output) == 1);
    CHECK(r.output.find("normal source") != std::string::npos);
    r = run_fmplay("render --steps 10 --likelihood true" + out);  // moons: no known density
    CHECK(r.code == 2);
    CHECK(count_lines(r.output) == 1);
    r = run_fmplay("render --steps 10 --error-map loud" + out);
    CHECK(r.code == 2);
    CHECK(count_lines(r.output) == 1);
    CHECK(r.output.find("raw") != std::string::npos);
    r = run_fmplay("render --steps 10 --lens=2e6,0" + out);
    CHECK(r.code == 2);
    CHECK(count_lines(r.output) == 1);
    r = run_fmplay("render --steps 10 --trace '1;2'" + out);
    CHECK(r.code == 2);
    CHECK(count_lines(r.output) == 1);
    std::ofstream(d / "bad.json") << R"({"instruments": {"likelihood": "exact"}})";
    r = run_fmplay("render --config '" + (d / "bad.json").string() + "'" + out);
    CHECK(r.code == 2);
    CHECK(count_lines(r.output) == 1);
    CHECK(r.output.find("instruments.likelihood") != std::string::npos);
    CHECK_FALSE(fs::exists(d / "x.png"));
}

TEST_CASE(
    "figures: the error map covers the frame, the likelihood lights bounded blobs, the lens is "
    "gold") {
    const Image plain = figure("plain", "");
    const Image error = figure("error", "--error-map raw");
    const Image likelihood = figure("likelihood", "--likelihood true");
    const Image lens = figure("lens", "--lens=1.2,0.8 --trace=0,-2.5");
    const std::size_t frame = static_cast<std::size_t>(plain.w) * plain.h;

    // The error map is drawn over a large part of the frame.
    CHECK(changed_pixels(plain, error) > frame / 4);

    // The true density of 8gaussians: bright at the eight centres (radius 2.5), dark between them
    // and at the origin, and nowhere near the whole frame.
    for (int k = 0; k < 8; ++k) {
        const float a = k * 3.14159265f / 4;
        CHECK(brightness(at_world(likelihood, 2.5f * std::cos(a), 2.5f * std::sin(a))) > 3 * 120);
    }
    CHECK(brightness(at_world(likelihood, 0, 0)) < 3 * 60);
    CHECK(brightness(at_world(likelihood, -3.3f, 2.0f)) < 3 * 60);
    const std::size_t lit = coloured_pixels(likelihood);
    CHECK(lit > frame / 50);
    CHECK(lit < frame / 3);

    // Each heatmap has its colour bar, with exactly the heatmap's ramp, that the plain frame lacks.
    const int bar_w =
        color_bar_box(plain.w, plain.h, 0, false).x1 - color_bar_box(plain.w, plain.h, 0, false).x0;
    CHECK(ramp_columns(error, 0) > bar_w * 9 / 10);
    CHECK(ramp_columns(likelihood, 0) > bar_w * 9 / 10);
    CHECK(ramp_columns(plain, 0) < bar_w / 10);
    const Image both = figure("both", "--error-map weighted --likelihood true");
    CHECK(ramp_columns(both, 0) > bar_w * 9 / 10);
    CHECK(ramp_columns(both, 1) > bar_w * 9 / 10);

    // The lens's bold exact arrow is gold (palette::exact), which the plain figure has none of;
    // its numbers are text beside it; the traced path is violet.
    CHECK(pixels_near(lens, 255, 209, 102, 12) > 20);
    CHECK(pixels_near(plain, 255, 209, 102, 12) == 0);
    CHECK(pixels_near(lens, 190, 140, 255, 20) > 20);
    CHECK(pixels_near(plain, 190, 140, 255, 20) == 0);
}
