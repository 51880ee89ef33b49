// The GUI under Xvfb: its screenshots show particles, and toggling a view changes the picture.
#include <doctest/doctest.h>
#include <stb/stb_image.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

namespace fs = std::filesystem;

#include "tests/image_test_support.h"
#include "tests/test_support.h"

using namespace fmp::test;

namespace {

fs::path temp_png(const std::string& name) {
    fs::path dir = fs::temp_directory_path() / "fmplay_test_gui";
    fs::create_directories(dir);
    fs::path p = dir / (name + ".png");
    fs::remove(p);
    return p;
}

const std::string k_common = "--width 960 --height 640 --particles 6000 --steps 12 ";

}  // namespace

TEST_CASE("the default window shows particles, panels and training") {
    fs::path shot = temp_png("default");
    CommandResult r = run_window(k_common + "--frames 30 --screenshot " + shot.string() + " --report");
    INFO(r.output);
    REQUIRE(r.code == 0);
    REQUIRE(fs::exists(shot));
    Image img = load(shot);
    CHECK(img.w == 960);
    CHECK(img.h == 640);
    std::size_t colours = 0;
    double variance = 0;
    stats(img, 0, 0, img.w, img.h, colours, variance);
    // Panels, text, plots and thousands of coloured particles: far from blank or uniform.
    CHECK(colours > 400);
    CHECK(variance > 100.0);
    CHECK(coloured_pixels(img) > 2000);
    CHECK(r.output.find("median frame") != std::string::npos);
    CHECK(r.output.find("training steps") != std::string::npos);
}

TEST_CASE("toggling views changes the picture") {
    // Training paused and t fixed: the picture depends only on the views shown.
    const std::string base = k_common + "--frames 8 --no-train --time 1 ";
    fs::path empty = temp_png("grid_only"), particles = temp_png("particles"),
             heat = temp_png("heatmap");
    fs::path arrows = temp_png("arrows");
    REQUIRE(run_window(base + "--views grid,nopanels --screenshot " + empty.string()).code == 0);
    REQUIRE(run_window(base + "--views grid,particles,nopanels --screenshot " + particles.string())
                .code == 0);
    REQUIRE(run_window(base + "--views grid,heatmap,nopanels --screenshot " + heat.string()).code ==
            0);
    REQUIRE(
        run_window(base + "--views grid,arrows,nopanels --screenshot " + arrows.string()).code ==
        0);
    Image a = load(empty), b = load(particles), c = load(heat), d = load(arrows);
    const std::size_t total = static_cast<std::size_t>(a.w) * a.h;

    std::size_t colours = 0;
    double variance = 0;
    stats(a, 0, 0, a.w, a.h, colours, variance);
    CHECK(colours < 150);  // background, grid lines and axis labels only
    CHECK(coloured_pixels(a) == 0);

    // Particles cover a visible share of the canvas in colour.
    CHECK(changed_pixels(a, b) > total / 50);
    CHECK(coloured_pixels(b) > total / 100);
    // The density heatmap covers a larger, smoother area than the particles themselves.
    CHECK(changed_pixels(a, c) > total / 30);
    CHECK(changed_pixels(b, c) > total / 50);
    // Arrows draw over the whole canvas, not only where particles are.
    CHECK(changed_pixels(a, d) > total / 100);
}

TEST_CASE("bad GUI input is a one-line error naming the choices") {
    CommandResult r = run_window("--frames 1 --path nope");
    CHECK(r.code == 2);
    CHECK(r.output.find("condot") != std::string::npos);
    r = run_window("--frames 1 --views particles,sparkles");
    CHECK(r.code == 2);
    CHECK(r.output.find("heatmap") != std::string::npos);
}

TEST_CASE("with the GL engine the particles are integrated and drawn on the GPU") {
    // llvmpipe runs the compute shaders slowly, so few particles and steps.
    const std::string base = "--width 960 --height 640 --engine gl --particles 1500 --steps 4 "
                             "--frames 6 --no-train --time 1 --report ";
    fs::path empty = temp_png("gl_grid_only"), particles = temp_png("gl_particles");
    CommandResult r0 = run_window(base + "--views grid,nopanels --screenshot " + empty.string());
    CommandResult r1 = run_window(base + "--views grid,particles,nopanels --screenshot " +
                                  particles.string());
    INFO(r1.output);
    REQUIRE(r0.code == 0);
    REQUIRE(r1.code == 0);
    CHECK(r1.output.find("gpu particles: 1500") != std::string::npos);
    CHECK(r1.output.find("particles drawn by: the GPU") != std::string::npos);
    Image a = load(empty), b = load(particles);
    // 1500 sprites coloured by where they started, drawn from the GPU trajectory buffers.
    CHECK(coloured_pixels(a) < 50);
    CHECK(coloured_pixels(b) > 1500);
    CHECK(changed_pixels(a, b) > 3000);

    // The SDE sampler's particles are integrated on the GPU too, with their noise: the picture
    // differs from the ODE's.
    fs::path sde = temp_png("gl_particles_sde");
    CommandResult r2 = run_window("--width 960 --height 640 --engine gl --particles 1500 --steps 4 --frames 16 "
                                  "--no-train --time 1 --report --views grid,particles,nopanels --script "
                                  "\"1:sde=on\" --screenshot " + sde.string());
    INFO(r2.output);
    REQUIRE(r2.code == 0);
    CHECK(r2.output.find("particles drawn by: the GPU") != std::string::npos);
    Image c = load(sde);
    CHECK(coloured_pixels(c) > 1500);
    CHECK(changed_pixels(b, c) > 500);
}
