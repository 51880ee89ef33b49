// Side by side (A | B) under Xvfb: both halves train and render from the same source particles,
// B's differences show in its metrics (OT straighter, 3 Euler steps = 3 evaluations), and both
// halves export into one clip, from the window and from `fmplay render --compare`.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include "tests/image_test_support.h"
#include "tests/test_support.h"

namespace fs = std::filesystem;
using namespace fmp::test;

namespace {

CommandResult run(const std::string& args, const std::string& script) {
    return run_window("--width 1200 --height 760 --engine cpu --particles 4000 --frames 10 --report " + args +
                      " --script \"" + script + "\"");
}

// A lane's metric from "compare a metrics: loss L w2 W straightness S nfe N step K".
double metric(const std::string& output, char lane, const std::string& name) {
    std::smatch m;
    const std::regex re(std::string("compare ") + lane + " metrics:.* " + name + " ([-0-9.e+]+)");
    if (!std::regex_search(output, m, re)) return std::nan("");
    return std::stod(m[1]);
}

// Pixels of the plot's colours (not the grey background) in a region.
std::size_t coloured_in(const Image& img, int x0, int x1) {
    std::size_t n = 0;
    for (int y = img.h / 8; y < img.h * 7 / 10; ++y)
        for (int x = x0; x < x1; ++x) {
            const unsigned char* p = img.at(x, y);
            const int hi = std::max({p[0], p[1], p[2]}), lo = std::min({p[0], p[1], p[2]});
            n += hi - lo > 40 ? 1 : 0;
        }
    return n;
}

}  // namespace

TEST_CASE("side by side: both halves train and render from the same particles; OT is straighter") {
    const fs::path dir = fresh_dir("gui_compare");
    const fs::path shot = dir / "ab.png";
    const CommandResult r = run("--screenshot " + quoted(shot),
                                "1:compare=on;1:compare_coupling=ot;2:train_until=1500;3:compare=wait;4:time=0.6");
    INFO(r.output);
    REQUIRE(r.code == 0);
    CHECK(r.output.find("compare: on") != std::string::npos);
    CHECK(r.output.find("compare x0 difference: 0\n") != std::string::npos);  // identical noise
    CHECK(report_value(r.output, "compare b training steps") > 200);
    CHECK(r.output.find("compare b shares a's network: no") != std::string::npos);  // its own, on OT pairs
    const double sa = metric(r.output, 'a', "straightness"), sb = metric(r.output, 'b', "straightness");
    REQUIRE(std::isfinite(sa));
    REQUIRE(std::isfinite(sb));
    CHECK(sb >= 0.0);
    CHECK(sb < sa / 3);  // OT pairs: the learned paths are nearly straight
    CHECK(metric(r.output, 'b', "w2") < 1.0);
    // Both halves of the canvas (between the 340 px panels) show particles.
    const Image img = load(shot);
    const int left = img.w * 300 / 1200, right = img.w * 900 / 1200, mid = (left + right) / 2;
    CHECK(coloured_in(img, left, mid - 10) > 400);
    CHECK(coloured_in(img, mid + 10, right) > 400);
}

TEST_CASE("side by side: 3 Euler steps in B cost 3 evaluations against A's 40; bad values refused") {
    const CommandResult r =
        run("", "1:compare=on;1:compare_solver=euler;1:compare_steps=3;2:step=100;3:time=1");
    INFO(r.output);
    REQUIRE(r.code == 0);
    CHECK(r.output.find("compare b shares a's network: yes") != std::string::npos);  // the solver alone differs
    CHECK(metric(r.output, 'a', "nfe") == 40);
    CHECK(metric(r.output, 'b', "nfe") == 3);
    CHECK(r.output.find("compare b: condot path · independent coupling · euler 3 steps") != std::string::npos);
    const CommandResult bad = run("", "1:compare_coupling=nearest");
    check_one_error(bad, "compare_coupling");
}

TEST_CASE("both halves export into one clip, from the window and from render --compare") {
    const fs::path dir = fresh_dir("gui_compare_export");
    const std::string clip = (dir / "window_ab.mp4").string();
    const CommandResult w = run("", "1:compare=on;1:compare_path=vp;2:step=150;3:export=" + clip + ";3:export_wait=1");
    INFO(w.output);
    REQUIRE(w.code == 0);
    REQUIRE(fs::exists(clip));
    const CommandResult probe = run_command("ffprobe -v error -select_streams v:0 -show_entries stream=width,height "
                                            "-of csv=p=0 " + quoted(fs::path(clip)));
    CHECK(probe.output.find("1280,720") != std::string::npos);

    std::ofstream(dir / "b.json") << R"({"data": {"coupling": "ot"}, "particles": {"count": 1500}})";
    const std::string out = (dir / "cli_ab.mp4").string();
    const CommandResult c = run_fmplay("render --compare " + quoted(dir / "b.json") + " --out " + quoted(fs::path(out)) +
                                       " --steps 100 --particles 1500 --width 320 --height 180 --duration 0.5 --quiet");
    INFO(c.output);
    REQUIRE(c.code == 0);
    CHECK(c.output.find("A | B, 320x180") != std::string::npos);
    std::ofstream(dir / "bad.json") << R"({"data": {"coupling": "sideways"}})";
    check_one_error(run_fmplay("render --compare " + quoted(dir / "bad.json") + " --out " + quoted(dir / "x.mp4")),
                    "coupling");
}
