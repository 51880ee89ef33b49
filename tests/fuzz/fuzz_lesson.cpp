// Fuzz target: lesson files (docs/lesson_format.md) and their narration, as the Lessons panel and
// `fmplay lesson` read a user's folder.
#include "app/lesson/lesson.h"
#include "app/lesson/narration.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    // Any text is narration: md4c must never fail on it.
    (void)fmp::parse_narration(std::string(reinterpret_cast<const char*>(data), size));
    return fmp::fuzz::check_loader(data, size, [](std::string_view text) {
        const fmp::Lesson l = fmp::parse_lesson(std::string(text), "fuzz.md");
        // What was accepted is whole: steps with valid scenes, questions with a right answer.
        for (const fmp::LessonStep& s : l.steps) {
            s.scene.validate();
            if (s.question && (s.question->answer < 0 || s.question->answer >= static_cast<int>(s.question->choices.size())))
                __builtin_trap();
            (void)fmp::narration_plain_text(fmp::parse_narration(s.narration));
        }
    });
}
