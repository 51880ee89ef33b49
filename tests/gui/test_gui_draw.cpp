// The GUI's draw mode and imports, scripted under Xvfb: imports and strokes replace the dataset
// while training goes on with its weights, and bad files leave the dataset alone.
#include <doctest/doctest.h>
#include <stb/stb_image.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

namespace fs = std::filesystem;

#include "tests/test_support.h"

using namespace fmp::test;

namespace {

fs::path temp_file(const std::string& name) {
    fs::path dir = fs::temp_directory_path() / "fmplay_test_gui_draw";
    fs::create_directories(dir);
    fs::path p = dir / name;
    fs::remove(p);
    return p;
}

std::vector<unsigned char> load_rgb(const fs::path& path, int& w, int& h) {
    int n = 0;
    unsigned char* data = stbi_load(path.string().c_str(), &w, &h, &n, 3);
    REQUIRE_MESSAGE(data != nullptr, "cannot read " << path);
    std::vector<unsigned char> out(data, data + static_cast<std::size_t>(w) * h * 3);
    stbi_image_free(data);
    return out;
}

const std::string k_common =
    "--width 900 --height 600 --particles 3000 --steps 8 --views particles,targets --report ";

}  // namespace

TEST_CASE("a typed word becomes the target while training goes on with its weights") {
    fs::path moons = temp_file("moons.png"), flow = temp_file("flow.png");
    fs::path csv = temp_file("flow.csv");
    CommandResult a = run_window(k_common + "--frames 40 --screenshot " + moons.string());
    INFO(a.output);
    REQUIRE(a.code == 0);
    CommandResult b = run_window(k_common + "--frames 40 --screenshot " + flow.string() +
                          " --script '12:import_text=FLOW;38:export_csv=" + csv.string() + "'");
    INFO(b.output);
    REQUIRE(b.code == 0);
    // The import is one hand-over with the weights kept: one reset (the start), one swap, and the
    // step count kept growing past the step at which the set was swapped in.
    CHECK(report_value(b.output, "dataset swaps") == 1);
    CHECK(report_value(b.output, "training resets") == 1);
    CHECK(report_value(b.output, "drawn target points") == 20000);
    CHECK(report_value(b.output, "training steps") > 0);
    // The exported CSV holds the imported word: a header and 20000 rows.
    REQUIRE(fs::exists(csv));
    std::FILE* f = std::fopen(csv.string().c_str(), "r");
    REQUIRE(f != nullptr);
    int lines = 0;
    for (int c; (c = std::fgetc(f)) != EOF;) lines += c == '\n';
    std::fclose(f);
    CHECK(lines == 20001);
    // The canvas looks different from the moons run.
    int wa = 0, ha = 0, wb = 0, hb = 0;
    auto pa = load_rgb(moons, wa, ha), pb = load_rgb(flow, wb, hb);
    REQUIRE(wa == wb);
    REQUIRE(ha == hb);
    std::size_t changed = 0;
    for (std::size_t i = 0; i < pa.size(); i += 3)
        changed += std::abs(pa[i] - pb[i]) + std::abs(pa[i + 1] - pb[i + 1]) +
                       std::abs(pa[i + 2] - pb[i + 2]) >
                   40;
    CHECK(changed > static_cast<std::size_t>(wa * ha) / 100);
}

TEST_CASE("scripted strokes add points, erase and undo remove them, and bad files change nothing") {
    fs::path shot = temp_file("draw.png");
    const std::string bad_image = std::string(FMP_TEST_DATA_DIR) + "/import/truncated.png";
    const std::string bad_csv = std::string(FMP_TEST_DATA_DIR) + "/bad_nan.csv";
    // Two strokes, an undo of the second, a bad image, a missing image and a malformed CSV: the
    // drawn set is the first stroke's, and training runs on it to the end.
    CommandResult r = run_window(k_common + "--frames 36 --screenshot " + shot.string() +
                          " --script '4:drawmode=on;6:draw=-2,0,2,0;10:draw=0,-2,0,2;14:undo=1;"
                          "18:import_image=" +
                          bad_image + ";20:import_image=/nonexistent/cat.png;22:import_csv=" +
                          bad_csv + "'");
    INFO(r.output);
    REQUIRE(r.code == 0);
    long long drawn = report_value(r.output, "drawn target points");
    // One stroke of length 4 with r = 0.25 at density 1500: a dab of 1500·π·0.0625 ≈ 295 points
    // plus 1500·2·0.25·4 = 3000 along the way.
    CHECK(drawn > 3000);
    CHECK(drawn < 3600);
    CHECK(report_value(r.output, "training resets") == 1);
    CHECK(report_value(r.output, "dataset swaps") >= 2);
    CHECK(report_value(r.output, "training steps") > 0);

    // The same strokes without the undo keep both.
    CommandResult both = run_window(k_common + "--frames 16 --script '6:draw=-2,0,2,0;10:draw=0,-2,0,2'");
    INFO(both.output);
    REQUIRE(both.code == 0);
    long long two = report_value(both.output, "drawn target points");
    CHECK(two > drawn + 3000);
    // An eraser stroke across the middle removes some, not all.
    CommandResult erased = run_window(
        k_common + "--frames 16 --script '6:draw=-2,0,2,0;10:erase=0,-1,0,1'");
    INFO(erased.output);
    REQUIRE(erased.code == 0);
    long long left = report_value(erased.output, "drawn target points");
    CHECK(left > 2000);
    CHECK(left < drawn);
}

TEST_CASE("a drawn source with an analytic target trains without a reset") {
    CommandResult r = run_window(k_common +
                          "--frames 24 --script '4:draw_which=source;6:draw=-2,-2,2,2;8:draw=-2,2,2,-2'");
    INFO(r.output);
    REQUIRE(r.code == 0);
    CHECK(report_value(r.output, "drawn source points") > 5000);
    CHECK(report_value(r.output, "drawn target points") == 0);
    CHECK(report_value(r.output, "training resets") == 1);
}
