// A lesson as slides: every step rendered as a short clip (MP4) and a figure (PNG), no display.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "app/lesson/lesson.h"

namespace fmp {

struct LessonExportOptions {
    // Overrides of every step's scene (0: as the lesson says).
    int width = 0, height = 0, fps = 0, particles = 0;
    double duration = 0.0;
    bool figures_only = false;  // PNGs only (no clips)
};

// What was written: one clip and one figure per step, in step order.
struct LessonExportResult {
    std::vector<std::string> clips, figures;
    int trainings = 0;  // distinct networks trained (steps with the same training share one)
};

// Progress lines ("step 2/5: training 1500 steps", ...) for the CLI.
using LessonExportLog = std::function<void(const std::string&)>;

// Writes DIR/NN-title.mp4 and DIR/NN-title.png for each step (DIR is created if missing; its
// parent must exist). Trains each distinct network once on the CPU engine and renders with a
// headless GL context. Throws InputError (one line) for bad overrides or an unwritable folder;
// files appear under their final names only when complete.
LessonExportResult export_lesson(const Lesson& lesson, const std::string& dir, const LessonExportOptions& options,
                                 const LessonExportLog& log = {});

}  // namespace fmp
