// `fmplay lesson`: list the lessons, check a lesson file, print one, or export its steps as clips and figures.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>

#include "app/cli/commands.h"
#include "app/lesson/lesson_export.h"
#include "app/lesson/narration.h"

namespace fmp {
namespace {

struct LessonOptions {
    std::string name;
    bool list = false;
    std::string check;
    std::string dir;  // the user's lessons (empty: the default folder)
    std::string export_dir;
    LessonExportOptions export_options;
    bool quiet = false;
};

int run_lesson(const LessonOptions& o) {
    const std::string user_dir = o.dir.empty() ? default_user_lesson_dir() : o.dir;
    if (!o.dir.empty() && !std::filesystem::is_directory(o.dir))
        throw InputError("--lessons " + quote_for_message(o.dir) + " is not a folder");
    if (!o.check.empty()) {
        const Lesson l = load_lesson_file(o.check);
        std::printf("%s: lesson %s, %zu steps, %s\n", o.check.c_str(), l.name.c_str(), l.steps.size(), l.title.c_str());
        return 0;
    }
    if (o.list) {
        std::vector<LessonError> errors;
        for (const Lesson& l : available_lessons(user_dir, &errors))
            std::printf("%-24s %s (%zu steps)%s\n", l.name.c_str(), l.title.c_str(), l.steps.size(),
                        l.origin == "bundled" ? "" : ("  [" + l.origin + "]").c_str());
        for (const LessonError& e : errors)
            std::fprintf(stderr, "fmplay lesson: skipped %s\n", one_line_message(e.message).c_str());
        return 0;
    }
    if (o.name.empty()) throw InputError("name a lesson (fmplay lesson --list shows them) or use --list / --check FILE");
    const Lesson lesson = find_lesson(o.name, user_dir);
    if (o.export_dir.empty()) {
        // The lesson as text: a script to read before class.
        std::printf("# %s\n\n", lesson.title.c_str());
        if (!lesson.introduction.empty())
            std::printf("%s\n", narration_plain_text(parse_narration(lesson.introduction)).c_str());
        for (std::size_t i = 0; i < lesson.steps.size(); ++i) {
            const LessonStep& s = lesson.steps[i];
            std::printf("## %zu. %s\n\n%s\n", i + 1, s.title.c_str(), narration_plain_text(parse_narration(s.narration)).c_str());
            if (s.question) {
                std::printf("Question: %s\n", narration_plain_text(parse_narration(s.question->prompt)).c_str());
                for (std::size_t c = 0; c < s.question->choices.size(); ++c)
                    std::printf("  %c) %s\n", static_cast<char>('a' + c), s.question->choices[c].c_str());
                std::printf("\n");
            }
        }
        return 0;
    }
    LessonExportLog log;
    if (!o.quiet) log = [](const std::string& line) { std::fprintf(stderr, "fmplay lesson: %s\n", line.c_str()); };
    const LessonExportResult r = export_lesson(lesson, o.export_dir, o.export_options, log);
    std::printf("wrote %zu clips and %zu figures of %s to %s (%d trainings)\n", r.clips.size(), r.figures.size(),
                lesson.name.c_str(), o.export_dir.c_str(), r.trainings);
    return 0;
}

}  // namespace

Command add_lesson_command(CLI::App& app) {
    auto o = std::make_shared<LessonOptions>();
    CLI::App* sub = app.add_subcommand(
        "lesson",
        "Lessons (docs/lesson_format.md): --list them, print one as text, or --export DIR its steps as MP4 clips and "
        "PNG figures for slides (no display needed).");
    sub->add_option("name", o->name, "a lesson's name (see --list) or a lesson file NAME.md");
    sub->add_flag("--list", o->list, "one lesson a line: its name, then its title");
    sub->add_option("--check", o->check, "read a lesson file and report its first error (exit 2) or its steps");
    sub->add_option("--lessons", o->dir, "the folder of your own lessons (default ~/.config/fmplay/lessons)");
    sub->add_option("--export", o->export_dir, "write DIR/NN-step.mp4 and DIR/NN-step.png for every step");
    sub->add_option("--width", o->export_options.width, "frame width (default: the lesson's, 1280)")->check(CLI::Range(16, 8192));
    sub->add_option("--height", o->export_options.height, "frame height (default 720)")->check(CLI::Range(16, 8192));
    sub->add_option("--fps", o->export_options.fps, "frames per second")->check(CLI::Range(1, 120));
    sub->add_option("--duration", o->export_options.duration, "seconds per clip")->check(CLI::Range(0.1, 600.0));
    sub->add_option("--particles", o->export_options.particles, "particles drawn")->check(CLI::Range(1, 2000000));
    sub->add_flag("--figures-only", o->export_options.figures_only, "PNG figures only, no clips");
    sub->add_flag("--quiet", o->quiet, "no progress lines");
    return {sub, [o] { return run_lesson(*o); }};
}

}  // namespace fmp
