// The rectified-flow window under Xvfb: a reflow trains generation 1 on pairs, its measured
// straightness is far below generation 0's, switching back works, and bad values exit 2.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "tests/image_test_support.h"
#include "tests/test_support.h"

namespace fs = std::filesystem;
using namespace fmp::test;

namespace {

double report_double(const std::string& output, const std::string& key) {
    const auto at = output.find(key + ": ");
    REQUIRE_MESSAGE(at != std::string::npos, "no '" << key << "' in the report");
    return std::stod(output.substr(at + key.size() + 2));
}

CommandResult run(const std::string& name, const std::string& script) {
    const fs::path p = scratch_png("gui_reflow", name);
    return run_window(
        "--width 1200 --height 860 --engine cpu --particles 1000 --steps 8 --frames 150 --report "
        "--target 8gaussians --script \"1:play=off;" +
        script + "\" --screenshot " + p.string());
}

}  // namespace

TEST_CASE("reflow trains generation 1 on pairs and straightens the flow") {
    // Generation 0 trained for a while, measured; then reflowed, generation 1 trained, measured.
    const CommandResult k0 = run("k0", "100:reflow=measure;101:reflow=wait");
    INFO(k0.output);
    REQUIRE(k0.code == 0);
    CHECK(report_value(k0.output, "reflow generation") == 0);
    const double s0 = report_double(k0.output, "live straightness");
    const CommandResult k1 =
        run("k1", "60:reflow=run;61:reflow=wait;140:reflow=measure;141:reflow=wait");
    INFO(k1.output);
    REQUIRE(k1.code == 0);
    CHECK(report_value(k1.output, "reflow generation") == 1);
    const double s1 = report_double(k1.output, "live straightness");
    MESSAGE("straightness: generation 0 " << s0 << ", generation 1 " << s1);
    CHECK(s1 < 0.2 * s0);
    // The reflow restarted training once (on the pairs), after the first reset.
    CHECK(report_value(k1.output, "training resets") == 2);
    // Going back to generation 0, and a coupling change leaving reflow: generation 0 again.
    const CommandResult back = run("back", "60:reflow=run;61:reflow=wait;80:reflow_use=0");
    REQUIRE(back.code == 0);
    CHECK(report_value(back.output, "reflow generation") == 0);
    const CommandResult left = run("left", "60:reflow=run;61:reflow=wait;80:coupling=ot");
    REQUIRE(left.code == 0);
    CHECK(report_value(left.output, "reflow generation") == 0);
}

TEST_CASE("reflow script values are checked before the window opens") {
    for (const char* bad : {"1:reflow=go", "1:reflow_pairs=5", "1:reflow_pairs=x",
                            "1:reflow_init=hot", "1:reflow_use=-1"}) {
        CAPTURE(bad);
        const CommandResult r = run_window(std::string("--frames 1 --script \"") + bad + "\"");
        CHECK(r.code == 2);
    }
}
