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

// Width 512, depth 6 at lr 1 overflows within a few steps (the run). The engine rolls
// back; the window pauses, says so, and offers a tenfold lower rate. Training runs on its own
// thread, so the runs are long enough for the divergence to show up whatever the machine.
TEST_CASE("a diverging run pauses training, rolls back and offers a lower rate") {
    const std::string setup = "2:width=512;2:depth=6;2:lr=1";
    CommandResult r = run_window("--width 900 --height 600 --particles 2000 --frames 300 --report "
                                 "--script '" + setup + "'");
    INFO(r.output);
    REQUIRE(r.code == 0);  // a divergence is not an error of the app
    CHECK(report_value(r.output, "divergences") == 1);
    CHECK(r.output.find("training paused: yes") != std::string::npos);
    CHECK(r.output.find("learning rate: 1\n") != std::string::npos);
    // The rolled-back weights are from before the bad step: at most a couple of steps in.
    CHECK(report_value(r.output, "training steps") >= 0);
    CHECK(report_value(r.output, "training steps") <= 2);

    // "Continue with lr = 0.1", scripted: the rate drops tenfold and training goes on.
    CommandResult c = run_window("--width 900 --height 600 --particles 2000 --frames 300 --report "
                                 "--script '" + setup + ";3:continue=1'");
    INFO(c.output);
    REQUIRE(c.code == 0);
    CHECK(report_value(c.output, "divergences") == 1);
    CHECK(c.output.find("learning rate: 0.1\n") != std::string::npos);
    CHECK(c.output.find("training paused: no") != std::string::npos);
}

TEST_CASE("script values that would stop the window are input errors before it opens") {
    for (const char* item : {"2:lr=5", "2:lr=fast", "2:width=99999", "2:depth=0"}) {
        CommandResult r = run_window(std::string("--frames 5 --script '") + item + "'");
        INFO(item);
        INFO(r.output);
        CHECK(r.code == 2);
    }
}
