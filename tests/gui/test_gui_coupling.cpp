// The coupling switches under Xvfb: the plan window shows exact OT beside the current coupling
// (blurred by Sinkhorn's epsilon), the pairs cross on the canvas under independent pairing and
// hardly under OT, and bad coupling values are input errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "tests/image_test_support.h"
#include "tests/test_support.h"

namespace fs = std::filesystem;
using namespace fmp::test;

namespace {

Image shoot(const std::string& name, const std::string& script) {
    const fs::path p = scratch_png("gui_coupling", name);
    const CommandResult r = run_window(
        "--width 1200 --height 860 --engine cpu --particles 500 --steps 8 --frames 8 --no-train "
        "--target 8gaussians --views grid --script \"1:play=off;" +
        script + "\" --screenshot " + p.string());
    INFO(r.output);
    REQUIRE(r.code == 0);
    return load(p);
}

// The plan's cells (coupling_plan_panel.cpp: amber, dimmer for smaller entries) and the canvas
// segments: red where they cross, teal where not.
std::size_t plan_cells(const Image& img) {
    std::size_t n = 0;
    for (int y = 0; y < img.h; ++y)
        for (int x = 0; x < img.w; ++x) {
            const unsigned char* p = img.at(x, y);
            // Amber: red well above blue, green between, and brighter than the dark background.
            n += p[0] > 60 && p[0] > p[2] + 40 && p[1] > p[2] + 15 && p[1] < p[0];
        }
    return n;
}
std::size_t red_segments(const Image& img) {
    return pixels_near(img, 255, 92, 92, 30);
}
std::size_t teal_segments(const Image& img) {
    return pixels_near(img, 77, 217, 199, 30);
}

}  // namespace

TEST_CASE("the plan window: exact OT beside the coupling, entropic plans blurred, crossings") {
    const Image ot = shoot("ot", "2:coupling=ot;3:plan=open;4:plan_pairs=32");
    const Image sinkhorn =
        shoot("sinkhorn", "2:coupling=sinkhorn;3:ot_reg=2;4:plan=open;5:plan_pairs=32");
    const Image independent =
        shoot("independent", "2:coupling=independent;3:plan=open;4:plan_pairs=32");
    CAPTURE(plan_cells(ot));
    CAPTURE(plan_cells(sinkhorn));
    CAPTURE(plan_cells(independent));
    // Two permutations (32 cells each) vs a permutation and a blurred plan vs a flat one.
    CHECK(plan_cells(ot) > 500);
    CHECK(plan_cells(sinkhorn) > plan_cells(ot) * 3 / 2);
    CHECK(plan_cells(independent) > plan_cells(sinkhorn));
    // Independent pairs cross on the canvas (mostly red); OT pairs rarely do (mostly teal).
    auto red_share = [](const Image& img) {
        const double red = double(red_segments(img)), teal = double(teal_segments(img));
        return red / std::max(1.0, red + teal);
    };
    CAPTURE(red_share(ot));
    CAPTURE(red_share(independent));
    CHECK(red_segments(independent) + teal_segments(independent) > 600);
    CHECK(red_share(independent) > 0.45);
    CHECK(red_share(ot) < 0.25);
    CHECK(red_share(independent) > 3 * red_share(ot));
}

TEST_CASE("coupling values from the script and the command line are checked") {
    for (const char* bad : {"1:ot_reg=-1", "1:ot_reg=abc", "1:sb_sigma=100", "1:ot_batch=1",
                            "1:plan_pairs=7", "1:plan=maybe", "1:coupling=paired"}) {
        CAPTURE(bad);
        const CommandResult r = run_window(std::string("--frames 1 --script \"") + bad + "\"");
        CHECK(r.code == 2);
    }
    const CommandResult r = run_window("--frames 1 --coupling paired");
    CHECK(r.code == 2);
    CHECK(r.output.find("reflow") != std::string::npos);
}
