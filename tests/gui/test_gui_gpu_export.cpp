// The window's Export section with the GL engine: a sweep's particles integrated and drawn on the
// GPU (a second GL engine holding the window's weights). 25,000 particles: more than the window's
// CPU view keeps (20,000), so its trajectory cannot be reused and the export integrates them.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "tests/test_support.h"

namespace fs = std::filesystem;
using namespace fmp::test;

TEST_CASE("the window's export with the GL engine draws its particles on the GPU; with the CPU engine it does not") {
    const fs::path dir = fresh_dir("gui_gpu_export");
    for (const char* engine : {"gl", "cpu"}) {
        CAPTURE(engine);
        const std::string clip = (dir / (std::string(engine) + ".mp4")).string();
        const CommandResult r = run_window(std::string("--width 900 --height 600 --engine ") + engine +
                                           " --particles 25000 --frames 6 --report --script \"1:solver=euler;1:steps=4;2:step=40;"
                                           "3:export=" + clip + ";3:export_wait=1\"");
        INFO(r.output);
        REQUIRE(r.code == 0);
        REQUIRE(fs::exists(clip));
        CHECK(r.output.find("export: Saved " + clip) != std::string::npos);
        const bool gpu = r.output.find("particles on the GPU") != std::string::npos;
        CHECK(gpu == (std::string(engine) == "gl"));
    }
}
