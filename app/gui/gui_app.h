// The interactive window's entry: runs it until it is closed, and what a run did (for tests).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "app/gui/gui_options.h"

namespace fmp {

// What a run did, for tests and the frame-time report.
struct GuiRunStats {
    int frames = 0;
    double median_frame_ms = 0.0;
    double p95_frame_ms = 0.0;
    int64_t training_steps = 0;  // at the end of the run
    std::string engine;          // the engine's description
    int particles = 0;
    std::size_t drawn_target_points = 0;  // the drawn sets' sizes at the end
    std::size_t drawn_source_points = 0;
    int dataset_swaps = 0;      // drawn/imported sets handed to training with the weights kept
    int training_resets = 0;    // fresh weights since the start (the first one counts)
    int divergences = 0;        // runs the engine stopped and rolled back (NaN or inf)
    bool training_paused = false;
    float learning_rate = 0.0f;  // at the end of the run
};

// Opens the window and runs until it is closed (or `frames` frames); returns the exit code.
int run_gui(const GuiOptions& options);
// The same, also reporting what happened (stats may be null).
int run_gui(const GuiOptions& options, GuiRunStats* stats);

}  // namespace fmp
