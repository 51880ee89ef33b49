// The zoo's switches under Xvfb: what the network predicts (and its refusal beside the
// Schroedinger bridge), the score arrows, the SDE particles and the ODE vs SDE window.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "tests/image_test_support.h"
#include "tests/test_support.h"

namespace fs = std::filesystem;
using namespace fmp::test;

namespace {

CommandResult run(const std::string& name, const std::string& args, const std::string& script,
                  fs::path* png = nullptr) {
    const fs::path p = scratch_png("gui_zoo", name);
    if (png) *png = p;
    return run_window("--width 1200 --height 860 --engine cpu --particles 2000 --frames 40 --report " + args +
                      " --script \"" + script + "\" --screenshot " + p.string());
}

Image shoot(const std::string& name, const std::string& args, const std::string& script) {
    fs::path p;
    const CommandResult r = run(name, args, script, &p);
    INFO(r.output);
    REQUIRE(r.code == 0);
    return load(p);
}

// The score arrows' green (palette::score) and the SDE paths' green in the window.
std::size_t green(const Image& img) { return pixels_near(img, 120, 255, 140, 40); }

}  // namespace

TEST_CASE("the prediction switch retrains, is reported, and is refused with the bridge") {
    const CommandResult data = run("data", "--target 8gaussians", "1:prediction=data");
    INFO(data.output);
    REQUIRE(data.code == 0);
    CHECK(data.output.find("prediction: data") != std::string::npos);
    CHECK(report_value(data.output, "training resets") == 2);
    CHECK(report_value(data.output, "training steps") > 0);
    // The bridge's noise breaks the conversion: the coupling stays (the status bar says why).
    const CommandResult sb = run("data_sb", "--target 8gaussians --prediction noise", "2:coupling=sb");
    INFO(sb.output);
    REQUIRE(sb.code == 0);
    CHECK(sb.output.find("prediction: noise") != std::string::npos);
    CHECK(sb.output.find("coupling: independent") != std::string::npos);
    // And the other way round: the bridge keeps the velocity.
    const CommandResult back = run("sb_data", "--target 8gaussians --coupling sb", "2:prediction=data");
    INFO(back.output);
    CHECK(back.output.find("prediction: velocity") != std::string::npos);
    CHECK(back.output.find("coupling: sb") != std::string::npos);
}

TEST_CASE("score arrows are drawn green, learned arrows are not") {
    const Image learned = shoot("arrows", "--views arrows --no-train", "1:time=0.5");
    const Image score = shoot("score", "--views score --no-train", "1:time=0.5");
    CHECK(green(learned) < 50);
    CHECK(green(score) > 400);
}

TEST_CASE("the SDE moves the particles differently, and its window shows both samplers") {
    const Image ode = shoot("ode", "--views particles,paths --no-train", "1:time=0.6");
    const Image sde = shoot("sde", "--views particles,paths --no-train", "1:time=0.6;1:sde=on;1:sde_gamma=2");
    CHECK(changed_pixels(ode, sde) > 2000);
    fs::path p;
    const CommandResult r = run("window", "--views grid --no-train", "1:time=0.6;1:sde_gamma=2;2:odesde=wait", &p);
    INFO(r.output);
    REQUIRE(r.code == 0);
    CHECK(r.output.find("sde gamma: 0") != std::string::npos);  // the window alone keeps the ODE view
    const Image window = load(p);
    CHECK(green(window) > 300);                              // the SDE's noisy paths
    CHECK(pixels_near(window, 86, 204, 242, 30) > 300);      // the ODE's paths
    CHECK(pixels_near(window, 250, 140, 56, 40) > 100);      // the heatmaps' warm cells
}

TEST_CASE("bad zoo values are refused in one line") {
    check_one_error(run_window("--frames 2 --script \"1:prediction=score\""), "prediction");
    check_one_error(run_window("--frames 2 --script \"1:sde_gamma=9\""), "sde_gamma");
    check_one_error(run_window("--frames 2 --script \"1:odesde=maybe\""), "odesde");
    check_one_error(run_window("--frames 2 --script \"1:sde=yes\""), "sde=");
    check_one_error(run_window("--frames 2 --prediction data --coupling sb"), "--coupling sb");
    check_one_error(run_window("--frames 2 --prediction epsilonish"), "prediction");
}
