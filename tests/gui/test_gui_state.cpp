// The GUI under scripted changes of path, coupling, solver and target keeps running and training.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <regex>
#include <string>

#include "tests/test_support.h"

using namespace fmp::test;

TEST_CASE("switching path, coupling, solver and target while training keeps the app running") {
    // Each reset (path, coupling, target) starts the step count over, so a positive count at the
    // end means training went on after the last switch.
    const std::string script =
        "10:path=vp;25:coupling=ot;40:solver=rk4;50:steps=6;60:views=particles,arrows,paths,trails,"
        "heatmap;"
        "70:target=8gaussians;80:path=cosine;90:solver=euler;100:views=particles,exact,conditional";
    CommandResult r =
        run_window("--width 900 --height 600 --particles 4000 --frames 160 --report --script '" +
                   script + "'");
    INFO(r.output);
    REQUIRE(r.code == 0);
    CHECK(report_value(r.output, "frames") == 160);
    CHECK(report_value(r.output, "training steps") > 0);
}

TEST_CASE("training stays paused with --no-train and runs without it") {
    CommandResult paused =
        run_window("--width 640 --height 480 --particles 2000 --frames 20 --report --no-train");
    INFO(paused.output);
    REQUIRE(paused.code == 0);
    CHECK(report_value(paused.output, "training steps") == 0);
    CommandResult live = run_window("--width 640 --height 480 --particles 2000 --frames 20 --report");
    INFO(live.output);
    REQUIRE(live.code == 0);
    CHECK(report_value(live.output, "training steps") > 0);
}

TEST_CASE("a bad script key is an input error") {
    CommandResult r = run_window("--frames 5 --script '2:colour=red'");
    CHECK(r.code == 2);
    CHECK(r.output.find("colour") != std::string::npos);
}
