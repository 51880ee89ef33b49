// The instruments in the window under Xvfb: the lens draws its arrows and numbers, the error map
// and the likelihood cover the canvas with their heatmaps, the inverse map draws its path, and
// the FM-vs-CFM plot fills in.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "tests/image_test_support.h"
#include "tests/test_support.h"

namespace fs = std::filesystem;
using namespace fmp::test;

namespace {

// Training off and t fixed, no particles: only the grid, the target markers and the instrument.
Image shoot(const std::string& name, const std::string& script, const std::string& extra = "") {
    const fs::path p = scratch_png("gui_instruments", name);
    const CommandResult r = run_window(
        "--width 960 --height 640 --particles 2000 --steps 8 --frames 90 --no-train --time 0.5 "
        "--views grid,nopanels " +
        extra + " --script \"" + script + "\" --screenshot " + p.string());
    INFO(r.output);
    REQUIRE(r.code == 0);
    return load(p);
}

}  // namespace

TEST_CASE("the lens draws the exact average (gold) and the network (white) at its point") {
    const Image none = shoot("plain", "1:play=off");
    const Image lens = shoot("lens", "1:play=off;1:lens=0.5,0.5");
    // The gold of the exact marginal arrow and the amber conditional arrows appear; nothing
    // of that colour is there without the lens.
    const std::size_t gold = pixels_near(lens, 255, 209, 102, 25);
    CHECK(gold > 60);
    CHECK(pixels_near(none, 255, 209, 102, 25) < 10);
    CHECK(changed_pixels(none, lens) > 1000);
}

TEST_CASE("the error map and the likelihood cover the canvas with a heatmap") {
    const Image none = shoot("plain8", "1:play=off", "--target 8gaussians");
    const Image error = shoot("error", "1:play=off;1:errormap=raw", "--target 8gaussians");
    const Image like = shoot("likelihood", "1:play=off;1:likelihood=true", "--target 8gaussians");
    const std::size_t total = static_cast<std::size_t>(none.w) * none.h;
    // An untrained network is wrong almost everywhere: most of the canvas lights up.
    CHECK(changed_pixels(none, error) > total / 4);
    // The 8 gaussians' true density: bright blobs on a transparent floor, far less than all.
    const std::size_t lit = changed_pixels(none, like);
    CHECK(lit > total / 50);
    CHECK(lit < total / 2);
}

TEST_CASE("Shift+click's inverse map draws the path back to the source") {
    const Image none = shoot("plain_t", "1:play=off");
    const Image traced = shoot("trace", "1:play=off;1:trace=1.5,0.5");
    CHECK(pixels_near(traced, 190, 140, 255, 30) > 60);
    CHECK(pixels_near(none, 190, 140, 255, 30) < 10);
}

TEST_CASE("bad instrument script values are refused in one line") {
    const CommandResult r = run_window("--frames 2 --script \"1:lens=nowhere\"");
    CHECK(r.code == 2);
    CHECK(r.output.find("is not a point X,Y") != std::string::npos);
    const CommandResult e = run_window("--frames 2 --script \"1:errormap=loud\"");
    CHECK(e.code == 2);
}
