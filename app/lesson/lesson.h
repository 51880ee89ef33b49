// Lessons (docs/lesson_format.md): a Markdown file of steps, each a narration, a scene preset,
// actions for the window, the sections it points at and an optional question.
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "app/export/export_settings.h"

namespace fmp {

// "Predict, then reveal": the learner commits to a choice before the answer shows.
struct LessonQuestion {
    std::string prompt;                // Markdown
    std::vector<std::string> choices;  // 2..6
    int answer = 0;                    // the index of the right choice
    std::string explain;               // Markdown, shown after the learner commits
};

struct LessonStep {
    std::string title;
    std::string narration;  // Markdown
    // The scene this step shows: the lesson's base and every preset up to this step, merged.
    ExportSettings scene;
    std::string preset_json;  // this step's own preset as written ("{}" when none)
    std::optional<float> t;   // the t it opens at (paused unless play)
    bool play = false;
    int64_t train_steps = 1500;  // the network has trained at least this many steps
    std::vector<std::pair<std::string, std::string>> actions;  // --script KEY=VALUE items, in order
    std::vector<std::string> highlight, hide;                    // section names
    std::optional<LessonQuestion> question;
};

struct Lesson {
    std::string name;     // [a-z0-9-]{1,40}
    std::string title;
    std::string summary;  // one line
    int order = 1000;
    std::string introduction;  // Markdown before the first step
    std::string origin;        // "bundled" or the file it was read from
    std::vector<LessonStep> steps;  // at least one
};

// Reads a lesson. Throws InputError (one line naming the source, the step and the field) for
// anything docs/lesson_format.md does not allow; nothing is half-read.
Lesson parse_lesson(const std::string& text, const std::string& source_name);
Lesson load_lesson_file(const std::string& path);  // at most 1 MiB

// The sections a step may highlight or hide (the window's section headers, and "Time bar").
const std::vector<std::string>& lesson_section_names();

// A lesson that could not be read: the file and its one-line error.
struct LessonError {
    std::string origin;
    std::string message;
};

// The bundled lessons (assets/lessons, embedded) and the *.md files of `user_dir` (skipped when
// empty or missing); a user's lesson replaces the bundled one of its name. Sorted by order, then
// name. Files that fail to read are left out and reported in `errors` (when not null).
std::vector<Lesson> available_lessons(const std::string& user_dir, std::vector<LessonError>* errors = nullptr);
// The default folder of the user's own lessons: $XDG_CONFIG_HOME/fmplay/lessons or
// ~/.config/fmplay/lessons ("" when neither is known).
std::string default_user_lesson_dir();
// A lesson by name among available_lessons(user_dir), or a file path ending in .md. Throws
// InputError naming the lessons there are.
Lesson find_lesson(const std::string& name_or_file, const std::string& user_dir);

// A file-name form of a step: "03-noise-at-t-0".
std::string step_file_stem(int index, const std::string& title);

}  // namespace fmp
