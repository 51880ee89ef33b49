// Lessons in the window under Xvfb: every bundled lesson runs to its last step (its scenes, waits,
// actions and questions) and shows something; progress comes back in another run; presenter mode;
// a lesson the window cannot run is refused in one line.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include "app/lesson/lesson.h"
#include "tests/image_test_support.h"
#include "tests/test_support.h"

namespace fs = std::filesystem;
using namespace fmp;
using namespace fmp::test;

namespace {

CommandResult run(const std::string& args, const std::string& script) {
    return run_window("--width 1100 --height 760 --engine cpu --frames 8 --report " + args + " --script \"" + script +
                      "\"");
}

std::string report_line(const std::string& output, const std::string& key) {
    std::smatch m;
    if (!std::regex_search(output, m, std::regex(key + ": ([^\\n]*)"))) return "";
    return m[1];
}

}  // namespace

TEST_CASE("every bundled lesson runs to its last step in the window, and its last step shows the flow") {
    const std::vector<Lesson> lessons = available_lessons("");
    REQUIRE(lessons.size() >= 10);
    const fs::path dir = fresh_dir("gui_lessons");
    for (const Lesson& l : lessons) {
        CAPTURE(l.name);
        const fs::path shot = dir / (l.name + ".png");
        const CommandResult r = run("--lesson " + l.name + " --screenshot " + quoted(shot), "1:lesson_finish=wait");
        INFO(r.output);
        REQUIRE(r.code == 0);
        const std::string n = std::to_string(l.steps.size());
        CHECK(report_line(r.output, "lesson step") == n + "/" + n);
        CHECK(report_value(r.output, "lesson action errors") == 0);
        CHECK(report_line(r.output, "lesson error").empty());
        int questions = 0;
        for (const LessonStep& s : l.steps) questions += s.question ? 1 : 0;
        CHECK(report_line(r.output, "lesson answers") ==
              std::to_string(questions) + " (" + std::to_string(questions) + " right)");
        // Every step's training got as far as it asks (an unmet wait is an action error above):
        // here, at least the last step's, unless an action started a new network (reflow, a
        // prediction) that the later steps keep.
        bool resets = false;
        for (const LessonStep& s : l.steps)
            for (const auto& a : s.actions)
                resets = resets || a.first == "reflow" || a.first == "prediction" || a.first == "reset" ||
                         a.first == "classes";
        if (!resets) CHECK(report_value(r.output, "training steps") >= l.steps.back().train_steps);
        if (l.steps.back().scene.train.target.rfind("text:", 0) == 0)
            CHECK(report_value(r.output, "drawn target points") > 500);
        // Not blank: the canvas between the panels has the flow's colours.
        const Image img = load(shot);
        std::size_t colours = 0;
        double variance = 0;
        stats(img, img.w * 35 / 100, img.h / 10, img.w * 75 / 100, img.h * 8 / 10, colours, variance);
        CHECK(colours > 20);
        CHECK(coloured_pixels(img) > 1500);
    }
}

TEST_CASE("a lesson's progress comes back in the next run; presenter mode hides the panels") {
    const fs::path dir = fresh_dir("gui_lesson_progress");
    const std::string progress = (dir / "progress.txt").string();
    const std::string name = available_lessons("").front().name;
    const CommandResult a = run("", "1:lesson_progress=" + progress + ";2:lesson=" + name + ";3:lesson_step=3");
    INFO(a.output);
    REQUIRE(a.code == 0);
    CHECK(report_line(a.output, "lesson step").rfind("3/", 0) == 0);
    REQUIRE(fs::exists(progress));
    // Reopened: where it was left, in presenter mode.
    const fs::path normal = dir / "normal.png", presenter = dir / "presenter.png";
    const CommandResult b = run("--screenshot " + quoted(presenter),
                                "1:lesson_progress=" + progress + ";2:lesson=" + name + ";3:presenter=on");
    INFO(b.output);
    REQUIRE(b.code == 0);
    CHECK(report_line(b.output, "lesson step").rfind("3/", 0) == 0);
    CHECK(report_line(b.output, "presenter") == "on");
    const CommandResult c = run("--screenshot " + quoted(normal),
                                "1:lesson_progress=" + progress + ";2:lesson=" + name + ";3:lesson_step=prev");
    CHECK(report_line(c.output, "lesson step").rfind("2/", 0) == 0);
    // Presenter mode: no left panel (the canvas reaches the left edge) and the narration on the
    // right in a plain dark panel.
    const Image p = load(presenter), q = load(normal);
    REQUIRE(p.w == q.w);
    CHECK(changed_pixels(p, q) > static_cast<std::size_t>(p.w * p.h / 10));
}

TEST_CASE("a lesson the window cannot run is refused in one line; a broken file is listed, not opened") {
    const fs::path dir = fresh_dir("gui_lesson_bad");
    std::ofstream(dir / "bad.md") << "# Bad\n\n```lesson\n{\"name\": \"bad-action\"}\n```\n\n## One\n\n"
                                     "```step\n{\"actions\": [\"warp=9\"]}\n```\n\nText.\n";
    const CommandResult r = run("--lessons " + quoted(dir) + " --lesson bad-action", "1:time=0.5");
    CHECK(r.code == 2);
    check_one_error(r, "warp");
    const CommandResult unknown = run("--lesson no-such-lesson", "1:time=0.5");
    CHECK(unknown.code == 2);
    check_one_error(unknown, "no lesson 'no-such-lesson'");
    // A bad script value for a lesson key: before the window opens.
    const CommandResult step = run("", "1:lesson_step=zero");
    CHECK(step.code == 2);
}

TEST_CASE("the start screen renders a thumbnail for every lesson and scene, and opens what is picked") {
    const fs::path dir = fresh_dir("gui_start");
    const fs::path shot = dir / "start.png";
    const CommandResult r = run("--screenshot " + quoted(shot), "1:start=wait");
    INFO(r.output);
    REQUIRE(r.code == 0);
    const long long cards = report_value(r.output, "start cards");
    CHECK(cards >= static_cast<long long>(available_lessons("").size()) + 4);
    CHECK(report_value(r.output, "start thumbnails") == cards);
    CHECK(report_line(r.output, "start screen") == "open");
    CHECK(report_line(r.output, "start error").empty());
    const Image img = load(shot);
    CHECK(coloured_pixels(img) > 10000);  // the thumbnails' particles
    // An example scene: its data and coupling; a lesson: its first step.
    const CommandResult scene = run("", "1:start=open;2:start_pick=checkerboard-ot");
    INFO(scene.output);
    CHECK(report_line(scene.output, "start screen") == "closed");
    CHECK(report_line(scene.output, "coupling") == "ot");
    const CommandResult lesson = run("", "1:start=open;2:start_pick=" + available_lessons("").front().name);
    CHECK(report_line(lesson.output, "lesson step").rfind("1/", 0) == 0);
    CHECK(run("", "1:start_pick=nothing-here").code == 2);
}
