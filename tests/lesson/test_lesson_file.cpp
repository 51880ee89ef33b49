// Lesson files: the parser (steps, presets that add up, questions, strict errors), the narration's
// Markdown blocks, the bundled set and a user's folder, and the export of every step.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "app/lesson/lesson_export.h"
#include "app/lesson/narration.h"
#include "tests/image_test_support.h"
#include "tests/test_support.h"

namespace fs = std::filesystem;
using namespace fmp;
using namespace fmp::test;

namespace {

const char* k_lesson = R"(# Two steps

```lesson
{"name": "two-steps", "order": 3, "summary": "A test.", "base": {"data": {"target": "8gaussians"}}}
```

An *introduction*.

## First step

```step
{"preset": {"data": {"path": "vp"}, "particles": {"count": 1234}}, "t": 0.25, "train_steps": 300,
 "actions": ["lens=0.5,0.25", "wait=2"], "highlight": ["Time bar", "Coupling"],
 "question": {"prompt": "Which?", "choices": ["a", "b", "c"], "answer": 2, "explain": "Because."}}
```

Narration with **bold**.

```
## not a step: inside a code block
```

## Second step

```step
{"preset": {"layers": {"arrows": true}, "particles": {"count": null}}, "play": true, "hide": ["Loss"]}
```

More.
)";

std::string with(const std::string& from, const std::string& to) {
    std::string s = k_lesson;
    const auto at = s.find(from);
    REQUIRE(at != std::string::npos);
    return s.replace(at, from.size(), to);
}

// The error parse_lesson gives (empty: none).
std::string error_of(const std::string& text) {
    try {
        (void)parse_lesson(text, "t.md");
    } catch (const InputError& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("a lesson's steps: presets add up, train_steps carries over, code blocks stay narration") {
    const Lesson l = parse_lesson(k_lesson, "t.md");
    CHECK(l.name == "two-steps");
    CHECK(l.title == "Two steps");
    CHECK(l.order == 3);
    CHECK(l.summary == "A test.");
    CHECK(l.introduction == "An *introduction*.");
    REQUIRE(l.steps.size() == 2);
    const LessonStep& a = l.steps[0];
    CHECK(a.title == "First step");
    CHECK(a.scene.train.target == "8gaussians");  // the base
    CHECK(a.scene.train.path == "vp");
    CHECK(a.scene.particles == 1234);
    CHECK(a.scene.train.lr == doctest::Approx(0.002));  // the window's rate, not scene.json's
    CHECK(a.train_steps == 300);
    CHECK(a.scene.train.steps == 300);
    REQUIRE(a.t);
    CHECK(*a.t == doctest::Approx(0.25));
    CHECK(a.scene.figure_t == doctest::Approx(0.25));
    CHECK_FALSE(a.play);
    REQUIRE(a.actions.size() == 2);
    CHECK(a.actions[0].first == "lens");
    CHECK(a.actions[0].second == "0.5,0.25");
    CHECK(a.highlight == std::vector<std::string>{"Time bar", "Coupling"});
    REQUIRE(a.question);
    CHECK(a.question->choices.size() == 3);
    CHECK(a.question->answer == 2);
    CHECK(a.narration.find("## not a step") != std::string::npos);
    const LessonStep& b = l.steps[1];
    CHECK(b.scene.train.path == "vp");         // step 1's preset holds
    CHECK(b.scene.layers.arrows);
    CHECK(b.scene.particles == ExportSettings().particles);  // null: back to the default
    CHECK(b.train_steps == 300);               // carried over
    CHECK(b.play);
    CHECK_FALSE(b.t);
    CHECK(b.hide == std::vector<std::string>{"Loss"});
    CHECK_FALSE(b.question);
    CHECK(step_file_stem(0, a.title) == "01-first-step");
    CHECK(step_file_stem(11, "α_t and σ_t: paths!") == "12-t-and-t-paths");
}

TEST_CASE("a malformed lesson is refused with one line naming the step and the field") {
    struct Case {
        std::string text, expect;
    };
    const Case cases[] = {
        {with("\"name\": \"two-steps\", ", ""), "no name"},
        {with("two-steps", "Two Steps"), "must be 1-40 characters"},
        {with("\"play\": true", "\"plays\": true"), "step 2 'Second step': unknown step key 'plays'"},
        {with("\"Coupling\"]", "\"Couplings\"]"), "is not a section"},
        {with("\"answer\": 2", "\"answer\": 3"), "question.answer must be the index"},
        {with("\"choices\": [\"a\", \"b\", \"c\"]", "\"choices\": [\"a\"]"), "2 to 6 answers"},
        {with("\"path\": \"vp\"", "\"path\": \"zigzag\""), "step 1 'First step'"},
        {with("\"count\": 1234", "\"count\": -5"), "particles"},
        {with("\"t\": 0.25", "\"t\": 1.5"), "t must be a number in 0..1"},
        {with("\"lens=0.5,0.25\"", "\"lens\""), "is not \"KEY=VALUE\""},
        {with("\"wait=2\"", "\"wait=2;reset=1\""), "is not \"KEY=VALUE\""},
        {with("\"train_steps\": 300", "\"train_steps\": -1"), "train_steps must be"},
        {with("{\"preset\": {\"layers\"", "{\"preset\": [\"layers\""), "not valid JSON"},
        {with("# Two steps", "Two steps"), "no title"},
        {"# T\n\n```lesson\n{\"name\": \"x\"}\n```\n\nno steps\n", "no steps"},
        {"# T\n\n## A\n\ntext\n", "no ```lesson block"},
        {with("More.\n", "More.\n```\nopen fence\n"), "not closed"},
        {std::string("# T\0x", 5), "not a text file"},
    };
    for (const Case& c : cases) {
        const std::string e = error_of(c.text);
        INFO(c.expect);
        CHECK(e.find(c.expect) != std::string::npos);
        CHECK(e.find('\n') == std::string::npos);
        CHECK(e.rfind("t.md", 0) == 0);
    }
}

TEST_CASE("narration: headings, emphasis, code, nested and ordered lists, quotes") {
    const auto blocks = parse_narration(
        "### Look\n\nThe **marginal** field *u*ₜ and `code`.\n\n- one\n- two\n  1. inner\n  2. more\n\n> quoted\n\n---\n");
    const std::string text = narration_plain_text(blocks);
    CHECK(text == "### Look\nThe marginal field uₜ and code.\n• one\n• two\n  1. inner\n  2. more\n> quoted\n---\n");
    REQUIRE(blocks.size() >= 2);
    CHECK(blocks[0].kind == NarrationBlockKind::Heading);
    CHECK(blocks[0].level == 3);
    const auto& spans = blocks[1].spans;
    REQUIRE(spans.size() == 7);  // "The ", "marginal", " field ", "u", "ₜ and ", "code", "."
    CHECK(spans[1].text == "marginal");
    CHECK(spans[1].strong);
    CHECK(spans[3].text == "u");
    CHECK(spans[3].emphasis);
    CHECK_FALSE(spans[4].emphasis);
    CHECK(spans[5].text == "code");
    CHECK(spans[5].code);
    CHECK(spans[6].text == ".");
    CHECK(blocks[4].level == 2);  // "inner" is nested
    // Raw HTML is text, never markup.
    CHECK(narration_plain_text(parse_narration("a <b>x</b>")) == "a <b>x</b>\n");
}

TEST_CASE("the bundled lessons all read, at least ten, each with questions; a user's folder adds and replaces") {
    std::vector<LessonError> errors;
    const fs::path dir = fresh_dir("lesson_user");
    std::vector<Lesson> all = available_lessons((dir / "missing").string(), &errors);
    for (const auto& e : errors) FAIL_CHECK(e.origin << ": " << e.message);
    REQUIRE(all.size() >= 10);
    std::set<std::string> names;
    int questions = 0;
    for (const Lesson& l : all) {
        CHECK(l.origin == "bundled");
        CHECK(names.insert(l.name).second);
        CHECK(l.steps.size() >= 3);
        for (const LessonStep& s : l.steps) questions += s.question ? 1 : 0;
    }
    CHECK(questions >= 20);
    // A user's lesson of a bundled name replaces it; a broken one is reported, not fatal.
    const std::string first = all.front().name;
    std::ofstream(dir / "mine.md") << with("two-steps", first);
    std::ofstream(dir / "broken.md") << "# Broken\n\n## A step\n";
    errors.clear();
    all = available_lessons(dir.string(), &errors);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].message.find("broken.md") != std::string::npos);
    const Lesson found = find_lesson(first, dir.string());
    CHECK(found.title == "Two steps");
    CHECK(found.origin == (dir / "mine.md").string());
    try {
        (void)find_lesson("no-such-lesson", dir.string());
        FAIL("no error");
    } catch (const InputError& e) {
        CHECK(std::string(e.what()).find(first) != std::string::npos);
    }
}

TEST_CASE("a lesson exports one clip and one figure per step, training once per network") {
    Lesson l = parse_lesson(with("\"train_steps\": 300", "\"train_steps\": 60"), "t.md");
    const fs::path dir = fresh_dir("lesson_export") / "slides";
    LessonExportOptions o;
    o.width = 192;
    o.height = 108;
    o.fps = 8;
    o.duration = 0.5;
    o.particles = 600;
    const LessonExportResult r = export_lesson(l, dir.string(), o);
    CHECK(r.trainings == 1);  // step 2 only changes the view
    REQUIRE(r.clips.size() == 2);
    REQUIRE(r.figures.size() == 2);
    CHECK(r.clips[0] == (dir / "01-first-step.mp4").string());
    for (const auto& c : r.clips) CHECK(fs::file_size(c) > 1000);
    const Image fig = load(r.figures[1]);
    CHECK(fig.w == 192);
    CHECK(coloured_pixels(fig) > 200);
    // A step that compares two flows exports both halves; B differing by its solver alone shares
    // A's network, B on another path trains its own.
    Lesson ab = parse_lesson(with("\"hide\": [\"Loss\"]", "\"hide\": [\"Loss\"], \"actions\": [\"compare=on\", "
                                  "\"compare_solver=euler\", \"compare_steps=2\"]"),
                             "ab.md");
    ab.steps[0].scene.train.steps = ab.steps[1].scene.train.steps = 60;
    const LessonExportResult rab = export_lesson(ab, (dir.parent_path() / "ab").string(), o);
    CHECK(rab.trainings == 1);
    const Image both = load(rab.figures[1]);
    CHECK(both.w == 192);
    std::size_t left = 0, right = 0;
    for (int y = 0; y < both.h; ++y)
        for (int x = 0; x < both.w; ++x) {
            const unsigned char* p = both.at(x, y);
            const bool coloured = std::max({p[0], p[1], p[2]}) - std::min({p[0], p[1], p[2]}) > 40;
            (x < 96 ? left : right) += coloured ? 1 : 0;
        }
    CHECK(left > 100);
    CHECK(right > 100);
    Lesson other = parse_lesson(with("\"hide\": [\"Loss\"]", "\"hide\": [\"Loss\"], \"actions\": [\"compare=on\", "
                                     "\"compare_path=condot\"]"),
                                "other.md");
    other.steps[0].scene.train.steps = other.steps[1].scene.train.steps = 60;
    o.figures_only = true;
    CHECK(export_lesson(other, (dir.parent_path() / "other").string(), o).trainings == 2);  // vp and condot
    // A folder that cannot be made: one line, nothing written.
    CHECK_THROWS_AS(export_lesson(l, (dir / "01-first-step.png" / "x").string(), o), InputError);
}
