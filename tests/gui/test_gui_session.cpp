// Sessions in the window under Xvfb: saved and reopened in another process, the same weights and
// the same next steps; a drawn labelled target comes back; bad files change nothing.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <regex>
#include <string>

#include "app/gui/file_dialog.h"
#include "app/session/session_file.h"
#include "core/base/file_io.h"
#include "tests/test_support.h"

namespace fs = std::filesystem;
using namespace fmp::test;

namespace {

CommandResult run(const std::string& args, const std::string& script) {
    return run_window("--width 1000 --height 700 --engine cpu --particles 2000 --frames 12 --no-train --report " + args +
                      " --script \"" + script + "\"");
}

// The report's "weights checksum: X" (NaN when absent).
double checksum(const std::string& output) {
    std::smatch m;
    if (!std::regex_search(output, m, std::regex("weights checksum: ([-0-9.e+]+)"))) return std::nan("");
    return std::stod(m[1]);
}

}  // namespace

TEST_CASE("a saved session reopens in another process with its weights, settings and next steps") {
    const fs::path dir = fresh_dir("gui_session");
    const std::string file = (dir / "work.fmplay").string();
    // Save after 120 steps, then take 60 more in the same window.
    const CommandResult a =
        run("--target 8gaussians --coupling ot",
            "1:classes=on;1:guidance=2.5;1:follow=3;1:time=0.6;2:step=120;3:session_save=" + file + ";4:step=60");
    INFO(a.output);
    REQUIRE(a.code == 0);
    CHECK(report_value(a.output, "training steps") == 180);
    REQUIRE(fs::exists(file));
    // Reopened: step 120 and the saved settings; 60 more steps give the first window's weights.
    const CommandResult b = run("--session " + file, "2:step=60");
    INFO(b.output);
    REQUIRE(b.code == 0);
    CHECK(report_value(b.output, "training steps") == 180);
    CHECK(b.output.find("coupling: ot") != std::string::npos);
    CHECK(b.output.find("classes: 8") != std::string::npos);
    CHECK(b.output.find("follow: 3") != std::string::npos);
    CHECK(b.output.find("guidance: 2.5") != std::string::npos);
    const double ca = checksum(a.output), cb = checksum(b.output);
    REQUIRE(std::isfinite(ca));
    CHECK(std::fabs(ca - cb) <= 1e-5 * std::max(1.0, std::fabs(ca)));
    // Without the 60 steps, the reopened weights are the saved ones: a different checksum.
    const CommandResult c = run("--session " + file, "1:time=0.5");
    CHECK(report_value(c.output, "training steps") == 120);
    CHECK(std::fabs(checksum(c.output) - ca) > 1e-3);
}

TEST_CASE("a drawn, labelled target comes back from a session") {
    const fs::path dir = fresh_dir("gui_session_drawn");
    const std::string file = (dir / "drawn.fmplay").string();
    const CommandResult a = run("", "1:drawmode=on;1:paint_class=0;2:draw=-2,-1,-0.5,1.5;3:paint_class=1;"
                                    "4:draw=0.5,1.5,2,-1;5:classes=on;6:step=50;7:session_save=" + file);
    INFO(a.output);
    REQUIRE(a.code == 0);
    const long long drawn = report_value(a.output, "drawn target points");
    CHECK(drawn > 1000);
    const CommandResult b = run("--session " + file, "1:time=1");
    INFO(b.output);
    REQUIRE(b.code == 0);
    CHECK(report_value(b.output, "drawn target points") == drawn);
    CHECK(report_value(b.output, "classes") == 2);
    CHECK(report_value(b.output, "training steps") == 50);
}

TEST_CASE("bad session files: one line before the window opens, or nothing changed in it") {
    const fs::path dir = fresh_dir("gui_session_bad");
    const std::string truncated = (dir / "cut.fmplay").string();
    fmp::write_file_atomic(truncated, "{\"format\": \"fmplay-session\", \"version\": 1, \"scene\": {");
    check_one_error(run_window("--frames 3 --session " + truncated), "not valid JSON");
    const std::string future = (dir / "future.fmplay").string();
    fmp::write_file_atomic(future, "{\"format\": \"fmplay-session\", \"version\": 9}");
    check_one_error(run_window("--frames 3 --session " + future), "newer than this fmplay");
    check_one_error(run_window("--frames 3 --session " + (dir / "missing.fmplay").string()), "missing.fmplay");
    // Opened from the window: the state stays (the same training run goes on), one message.
    const CommandResult r = run("--target moons", "2:step=30;3:session_open=" + future + ";4:step=10");
    INFO(r.output);
    REQUIRE(r.code == 0);
    CHECK(report_value(r.output, "training steps") == 40);
    CHECK(report_value(r.output, "training resets") == 1);
}

TEST_CASE("the in-app file browser lists folders, then the sessions, and opens in the window") {
    const fs::path dir = fresh_dir("gui_session_browser");
    fs::create_directories(dir / "lessons");
    fs::create_directories(dir / ".cache");
    for (const char* name : {"b.fmplay", "a.fmplay", "notes.txt", ".hidden.fmplay", "fmplay"})
        fmp::write_file_atomic((dir / name).string(), "{}");
    const std::vector<fmp::FolderEntry> entries = fmp::list_folder(dir.string(), ".fmplay");
    REQUIRE(entries.size() == 3);
    CHECK(entries[0].name == "lessons");
    CHECK(entries[0].directory);
    CHECK(entries[1].name == "a.fmplay");
    CHECK(entries[2].name == "b.fmplay");
    CHECK_FALSE(entries[2].directory);
    CHECK(fmp::list_folder(dir.string(), "").size() == 5);  // every visible file and folder
    CHECK(fmp::list_folder((dir / "missing").string(), ".fmplay").empty());
    // The browser drawn in the window (never the desktop's dialog in a test run).
    setenv("FMPLAY_FILE_DIALOG", "builtin", 1);
    const CommandResult r = run_window("--width 900 --height 600 --engine cpu --particles 1000 --frames 6 --report "
                                       "--script \"2:session_dialog=open\"");
    INFO(r.output);
    CHECK(r.code == 0);
}

TEST_CASE("a kill -9 during the autosave leaves a session that opens") {
    const fs::path dir = fresh_dir("gui_session_kill");
    const char* display = std::getenv("DISPLAY");
    const std::string prefix = display && *display ? "" : "xvfb-run -a -s '-screen 0 1280x1024x24' ";
    // Autosaves every 20 ms while training; killed without warning at three moments.
    int opened = 0;
    for (const char* after : {"4", "5.1", "6.2"}) {
        const std::string cmd = prefix + "timeout -s KILL " + after + " " + fmp::test::fmplay_exe() +
                                " --width 800 --height 600 --engine cpu --particles 1000 --frames 1000000"
                                " --script \"1:autosave=" + dir.string() + ",0.02\" >/dev/null 2>&1";
        (void)std::system(cmd.c_str());
        const fs::path file = dir / "autosave.fmplay";
        if (!fs::exists(file)) continue;  // killed before the first save
        CAPTURE(after);
        CHECK_NOTHROW((void)fmp::load_session(file.string()));
        ++opened;
    }
    CHECK(opened >= 2);
}
