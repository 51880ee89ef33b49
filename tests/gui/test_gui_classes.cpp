// Classes and classifier-free guidance in the window under Xvfb: class-conditional training on a
// labelled target, particles that reach their own class and overshoot under strong guidance,
// by-class colours, the guidance arrows, a target painted in class colours, and bad values.
#include <doctest/doctest.h>

#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "app/gui/classes_panel.h"
#include "app/render/flow_state.h"
#include "app/render/palette.h"
#include "core/base/file_io.h"
#include "tests/image_test_support.h"
#include "tests/test_support.h"

namespace fs = std::filesystem;
using namespace fmp::test;

namespace {

CommandResult run(const std::string& name, const std::string& args, const std::string& script,
                  fs::path* png = nullptr) {
    const fs::path p = scratch_png("gui_classes", name);
    if (png) *png = p;
    return run_window("--width 1200 --height 860 --engine cpu --report " + args + " --script \"" + script +
                      "\" --screenshot " + p.string());
}

struct Spread {
    double outside = -1, data_outside = -1, elsewhere = -1;
};

// The report's "class spread: outside X, data outside Y, elsewhere Z, ...".
Spread spread_of(const std::string& output) {
    std::smatch m;
    const std::regex re("class spread: outside ([0-9.]+), data outside ([0-9.]+), elsewhere ([0-9.]+)");
    Spread s;
    if (std::regex_search(output, m, re)) s = {std::stod(m[1]), std::stod(m[2]), std::stod(m[3])};
    return s;
}

// The report's "guidance sweep: w W outside X ..." lines, in order.
std::vector<double> sweep_outside(const std::string& output) {
    std::vector<double> out;
    const std::regex re("guidance sweep: w [0-9.]+ outside ([0-9.]+)");
    for (auto it = std::sregex_iterator(output.begin(), output.end(), re); it != std::sregex_iterator(); ++it)
        out.push_back(std::stod((*it)[1]));
    return out;
}

std::size_t near_color(const Image& img, uint32_t c, int tolerance = 24) {
    return pixels_near(img, int(c & 0xff), int((c >> 8) & 0xff), int((c >> 16) & 0xff), tolerance);
}

}  // namespace

TEST_CASE("each class's particles reach their own moon; strong guidance overshoots its support") {
    // 2500 training steps, however busy the machine, then training stops so the last trajectory
    // uses the final weights; t = 1 shows the samples. Moons: guidance pushes each moon away from
    // the other.
    const std::string common = "--target moons --particles 4000 --frames 40";
    const std::string trained = "1:classes=on;1:time=1;1:play=off;2:train_until=2500;2:train=off";
    const CommandResult w1 = run("w1", common, trained);
    INFO(w1.output);
    REQUIRE(w1.code == 0);
    CHECK(report_value(w1.output, "classes") == 2);
    CHECK(report_value(w1.output, "training steps") >= 2500);
    const Spread a = spread_of(w1.output);
    REQUIRE(a.outside >= 0);
    // About 2 % of the target's own samples lie outside its support radius; the model's few more,
    // and almost none nearer the other moon.
    CHECK(a.outside < a.data_outside + 0.12);
    CHECK(a.elsewhere < 0.05);

    const CommandResult w6 = run("w6", common,
                                 trained + ";1:guidance=6;3:guidance_sweep=wait");
    INFO(w6.output);
    REQUIRE(w6.code == 0);
    CHECK(w6.output.find("guidance: 6") != std::string::npos);
    const Spread b = spread_of(w6.output);
    REQUIRE(b.outside >= 0);
    CHECK(b.elsewhere < 0.05);  // still the right moon
    // The sweep over w = 0 .. 8 with the same weights: the unconditional field (w = 0) lands on
    // either moon, w = 1 on its own, and the overshoot grows with w beyond it.
    const std::vector<double> outside = sweep_outside(w6.output);
    REQUIRE(outside.size() == 9);
    CHECK(outside[0] > outside[2]);
    CHECK(outside[8] > outside[2] + 0.3);
    CHECK(outside[6] >= outside[4]);
    // The live particles at w = 6 against w = 1 with the same weights: pushed past the support.
    CHECK(b.outside > outside[2] + 0.1);
}

TEST_CASE("the class spread samples every class, and counts what lies outside each class's support") {
    // Two classes on the reference; particles alternate classes (i mod 2), class 0's on its own
    // points, class 1's far from everything: half of them are outside.
    fmp::FlowReference ref;
    ref.target.resize(400, 2);
    for (int j = 0; j < 400; ++j) {
        ref.target.row(j) << (j % 2 ? 3.0f : -3.0f) + 0.01f * static_cast<float>(j % 17), 0.02f * static_cast<float>(j % 13);
        ref.target_classes.push_back(static_cast<int8_t>(j % 2));
    }
    fmp::Trajectory traj;
    traj.frames.assign(1, fmp::Points(4000, 2));
    for (int i = 0; i < 4000; ++i) {
        const int k = i % 2;
        traj.classes.push_back(static_cast<int8_t>(k));
        if (k == 0)
            traj.frames[0].row(i) = ref.target.row(2 * (i % 200));
        else
            traj.frames[0].row(i) << 3.0f, 40.0f;
    }
    const fmp::ClassSpread sp = fmp::measure_class_spread(traj, ref, 2000);
    CHECK(sp.particles == 2000);
    CHECK(sp.outside == doctest::Approx(0.5).epsilon(0.02));
    CHECK(sp.elsewhere == doctest::Approx(0.0));
}

TEST_CASE("by class: eight colours of particles; the guidance arrows draw rose, slate and the class") {
    fs::path png;
    const CommandResult r = run("colours", "--target 8gaussians --particles 8000 --frames 40",
                                "1:classes=on;1:time=1;1:play=off;1:views=particles,byclass,nopanels;2:train_until=300;2:train=off",
                                &png);
    INFO(r.output);
    REQUIRE(r.code == 0);
    const Image img = load(png);
    for (int k = 0; k < 8; ++k) {
        INFO("class " << k);
        CHECK(near_color(img, fmp::class_color(k), 12) > 150);
    }
    fs::path arrows_png;
    const CommandResult g =
        run("guidance", "--target 8gaussians --particles 2000 --frames 40",
            "1:classes=on;1:time=0.5;1:play=off;1:follow=1;1:guidance=3;1:views=guidance,nopanels;"
            "2:train_until=300;2:train=off",
            &arrows_png);
    INFO(g.output);
    REQUIRE(g.code == 0);
    const Image arrows = load(arrows_png);
    CHECK(near_color(arrows, fmp::palette::guided) > 2000);
    CHECK(near_color(arrows, fmp::palette::unconditional, 16) > 300);
    CHECK(near_color(arrows, fmp::class_color(1), 16) > 300);
    // The plain learned arrows use none of the guided rose.
    const CommandResult plain = run("learned", "--target 8gaussians --particles 2000 --frames 40",
                                    "1:classes=on;1:time=0.5;1:play=off;1:views=arrows,nopanels;2:train_until=300;2:train=off",
                                    &arrows_png);
    REQUIRE(plain.code == 0);
    CHECK(near_color(load(arrows_png), fmp::palette::guided, 10) < 200);
}

TEST_CASE("a target painted in two class colours trains a two-class network and round-trips as CSV") {
    const fs::path dir = fresh_dir("gui_classes_drawn");
    const std::string csv = (dir / "painted.csv").string();
    const CommandResult r = run(
        "painted", "--particles 2000 --frames 60",
        "1:drawmode=on;1:paint_class=0;2:draw=-2,-1,-0.5,1.5;3:paint_class=1;4:draw=0.5,1.5,2,-1;5:classes=on;"
        "50:export_csv=" + csv);
    INFO(r.output);
    REQUIRE(r.code == 0);
    CHECK(report_value(r.output, "classes") == 2);
    const std::string text = fmp::read_file(csv, 1 << 22);
    CHECK(text.rfind("x,y,class\n", 0) == 0);
    CHECK(text.find(",1\n") != std::string::npos);
    CHECK(text.find(",0\n") != std::string::npos);
    // Imported again, the class column makes the same labelled target.
    const CommandResult back = run("imported", "--particles 2000 --frames 30", "1:import_csv=" + csv + ";2:classes=on");
    INFO(back.output);
    REQUIRE(back.code == 0);
    CHECK(report_value(back.output, "classes") == 2);
    // Without classes on a labelled target, the network is unconditional (no class lines).
    const CommandResult off = run("off", "--particles 2000 --frames 20", "1:import_csv=" + csv);
    CHECK(off.output.find("classes:") == std::string::npos);
}

TEST_CASE("bad class settings are refused in one line before the window opens") {
    check_one_error(run_window("--frames 5 --script \"1:follow=9\""), "follow");
    check_one_error(run_window("--frames 5 --script \"1:guidance=11\""), "guidance");
    check_one_error(run_window("--frames 5 --script \"1:classes=maybe\""), "classes");
    check_one_error(run_window("--frames 5 --script \"1:p_uncond=2\""), "p_uncond");
    check_one_error(run_window("--frames 5 --script \"1:paint_class=8\""), "paint_class");
}
