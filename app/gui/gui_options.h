// The window's command-line options (also the --frames/--screenshot/--report test flags).
#pragma once
#include <cstdint>
#include <string>

namespace CLI {
class App;
}

namespace fmp {

struct GuiOptions {
    std::string target = "moons";
    std::string source = "normal";
    std::string path = "condot";
    std::string coupling = "independent";
    std::string prediction = "velocity";  // what the network predicts: velocity, data, noise
    std::string solver = "midpoint";
    int solver_steps = 20;
    float solver_tolerance = 1e-4f;  // dopri5's
    std::string engine = "auto";  // auto | cpu | gl
    int particles = 0;            // 0: 20k on the CPU engine, 100k on a GPU
    int frames = 0;               // > 0: render this many frames, then exit (tests, reports)
    std::string screenshot;       // with frames: PNG written after the last frame
    bool report = false;          // with frames: print median / p95 frame times
    double seconds = 0.0;         // > 0: also stop after this long (soak runs)
    double report_every = 0.0;    // > 0: a "soak:" line with frame times and memory this often
    uint64_t seed = 1;
    std::string views;  // comma list to preset the views shown (see --help)
    int width = 0;      // window size in screen units; 0: the saved size or 1600x960
    int height = 0;
    float time = -1.0f;     // >= 0: start paused at this t (screenshots of one moment)
    bool no_train = false;  // start with training paused
    std::string script;     // "FRAME:KEY=VALUE;..." settings changes at given frames (tests)
    std::string session;    // a .fmplay session to open at start
    std::string lesson;     // a lesson to open at start (a name or a .md file)
    std::string lessons;    // the folder of the user's own lessons (empty: ~/.config/fmplay/lessons)
};

// Registers the GUI's flags on the top-level app (they apply when no subcommand is given).
void add_gui_options(CLI::App& app, GuiOptions& options);

}  // namespace fmp
