// The solver lab window under Xvfb: Compute fills its grid of thumbnails and its plot with the
// solvers' colours, and the time bar takes dopri5 with a tolerance.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "tests/image_test_support.h"
#include "tests/test_support.h"

namespace fs = std::filesystem;
using namespace fmp::test;

namespace {

// Training off, no particles on the canvas: the panels and the lab window only.
Image shoot(const std::string& name, const std::string& script, const std::string& extra = "") {
    const fs::path p = scratch_png("gui_solver_lab", name);
    const CommandResult r = run_window(
        "--width 1200 --height 860 --engine cpu --particles 2000 --steps 8 --frames 12 --no-train "
        "--time 0.5 --views grid " +
        extra + " --script \"" + script + "\" --screenshot " + p.string());
    INFO(r.output);
    REQUIRE(r.code == 0);
    return load(p);
}

}  // namespace

TEST_CASE("the solver lab draws a thumbnail grid and a curve per solver in the solvers' colours") {
    const Image open = shoot("open", "1:play=off;2:solverlab=open");
    const Image computed = shoot("computed", "1:play=off;2:solverlab=compute;3:solverlab=wait");
    // The solvers' colours (solver_lab_panel.cpp): Euler red, RK4 sky blue, dopri5 violet. The
    // window before Compute shows none of them; after it, hundreds of sample dots and a curve.
    struct Colour {
        const char* name;
        int r, g, b;
    };
    for (const Colour& c : {Colour{"euler", 255, 107, 107}, Colour{"rk4", 86, 204, 242},
                            Colour{"dopri5", 200, 140, 255}}) {
        CAPTURE(c.name);
        const std::size_t before = pixels_near(open, c.r, c.g, c.b, 24);
        const std::size_t after = pixels_near(computed, c.r, c.g, c.b, 24);
        CAPTURE(before);
        CAPTURE(after);
        CHECK(after > before + 300);
    }
    CHECK(changed_pixels(open, computed) > 20000);
}

TEST_CASE("the window takes dopri5 and a tolerance; a bad tolerance is an input error") {
    const Image img = shoot("dopri5", "1:play=off", "--solver dopri5 --tolerance 1e-3");
    CHECK(img.w == 1200);
    CommandResult r = run_window("--frames 1 --solver dopri5 --tolerance 0");
    CHECK(r.code == 2);
    CHECK(r.output.find("tolerance") != std::string::npos);
    r = run_window("--frames 1 --script \"1:tolerance=5\"");
    CHECK(r.code == 2);
}
