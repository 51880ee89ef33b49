// The FM vs CNF race window under Xvfb: a race draws both NLL curves in their colours, pauses the
// live training and gives it back; a source the CNF cannot take shows its error and keeps going.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "tests/image_test_support.h"
#include "tests/test_support.h"

namespace fs = std::filesystem;
using namespace fmp::test;

namespace {

struct Shot {
    Image image;
    std::string output;
};

Shot shoot(const std::string& name, const std::string& script, const std::string& extra = "",
           const std::string& source = "normal") {
    const fs::path p = scratch_png("gui_cnf_race", name);
    const CommandResult r = run_window(
        "--width 1200 --height 860 --engine cpu --particles 1000 --steps 8 --frames 10 --report "
        "--target 8gaussians --views grid --source " +
        source + " " + extra + " --script \"" + script + "\" --screenshot " + p.string());
    INFO(r.output);
    REQUIRE(r.code == 0);
    return {load(p), r.output};
}

// The race's colours (cnf_race_panel.cpp): flow matching sky blue, the CNF orange.
std::size_t fm_pixels(const Image& img) {
    return pixels_near(img, 86, 204, 242, 20);
}
std::size_t cnf_pixels(const Image& img) {
    return pixels_near(img, 255, 150, 80, 20);
}

}  // namespace

TEST_CASE("a race plots flow matching's and the CNF's NLL curves and gives the training back") {
    const Shot open = shoot("open", "1:play=off;2:cnfrace=open", "--no-train");
    const Shot raced =
        shoot("raced", "1:play=off;2:cnfrace_seconds=1.5;3:cnfrace=start;4:cnfrace=wait");
    CAPTURE(fm_pixels(open.image));
    CAPTURE(fm_pixels(raced.image));
    CAPTURE(cnf_pixels(open.image));
    CAPTURE(cnf_pixels(raced.image));
    CHECK(fm_pixels(raced.image) > fm_pixels(open.image) + 300);
    CHECK(cnf_pixels(raced.image) > cnf_pixels(open.image) + 300);
    CHECK(changed_pixels(open.image, raced.image) > 20000);
    // Training was on before the race, paused during it, and runs again after it.
    CHECK(raced.output.find("training paused: no") != std::string::npos);
}

TEST_CASE("a source the CNF cannot take is a message in the window, the training kept") {
    const Shot shot = shoot("moons", "1:play=off;2:cnfrace=start;3:cnfrace=wait", "", "moons");
    CHECK(shot.output.find("training paused: no") != std::string::npos);
    // The error line is drawn in the panels' red.
    CHECK(pixels_near(shot.image, 255, 107, 102, 30) > 40);
    const CommandResult bad = run_window("--frames 1 --script \"1:cnfrace=go\"");
    CHECK(bad.code == 2);
    const CommandResult seconds = run_window("--frames 1 --script \"1:cnfrace_seconds=1e9\"");
    CHECK(seconds.code == 2);
    CHECK(seconds.output.find("cnfrace_seconds") != std::string::npos);
}
