// The window's flags, registered on the top-level command line.
#include "app/gui/gui_options.h"

#include <CLI/CLI.hpp>

#include "app/render/scene_builder.h"
#include "core/data/dataset.h"
#include "core/flow/coupling.h"
#include "core/flow/ode_solver.h"
#include "core/flow/prediction.h"
#include "core/flow/probability_path.h"

namespace fmp {

void add_gui_options(CLI::App& app, GuiOptions& o) {
    app.add_option(
           "--target", o.target,
           "Target dataset (what the flow learns to make): a name such as moons, or a CSV file")
        ->capture_default_str();
    app.add_option("--source", o.source, "Source dataset (what the flow starts from)")
        ->capture_default_str();
    app.add_option("--path", o.path, "Probability path: " + join_names(path_names()))
        ->capture_default_str();
    app.add_option("--coupling", o.coupling, "Coupling: " + join_names(coupling_names()))
        ->capture_default_str();
    app.add_option("--prediction", o.prediction,
                   "What the network predicts: " + join_names(prediction_names()) +
                       " (converted to the velocity along the path for sampling)")
        ->capture_default_str();
    app.add_option("--solver", o.solver,
                   "ODE solver for the particles: " + join_names(solver_names()))
        ->capture_default_str();
    app.add_option("--steps", o.solver_steps,
                   "Solver steps from t=0 to t=1 (dopri5: the frames it lands on exactly)")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000));
    app.add_option("--tolerance", o.solver_tolerance,
                   "dopri5's error tolerance (rtol = atol, 1e-6..0.1): a step is accepted when "
                   "its error estimate is within tol x (1 + |x|)")
        ->capture_default_str();
    app.add_option("--engine", o.engine,
                   "Training engine: auto, cpu, gl (auto: GPU unless the renderer is software)")
        ->capture_default_str();
    app.add_option("--particles", o.particles, "Particles shown (0: 20k on the CPU, 100k on a GPU)")
        ->check(CLI::Range(0, 4000000));
    app.add_option("--seed", o.seed, "Random seed for weights, batches and particles")
        ->capture_default_str();
    app.add_option("--views", o.views,
                   "Comma list of the views shown, the others hidden: " + join_names(view_names()));
    app.add_option("--frames", o.frames, "Render this many frames, then exit (tests, benchmarks)")
        ->check(CLI::Range(0, 10000000));
    app.add_option("--screenshot", o.screenshot, "With --frames: save the last frame as this PNG");
    app.add_flag("--report", o.report,
                 "With --frames: print the median and 95th-percentile frame time");
    app.add_option("--seconds", o.seconds, "Stop after this many seconds (soak runs; with --frames, whichever comes first)")
        ->check(CLI::Range(0.0, 1e7));
    app.add_option("--report-every", o.report_every,
                   "Print a 'soak:' line every this many seconds: frames, median and p95 frame time, "
                   "resident memory, heap in use, training steps")
        ->check(CLI::Range(0.0, 1e7));
    app.add_option("--width", o.width, "Window width (screen units)")->check(CLI::Range(0, 16384));
    app.add_option("--height", o.height, "Window height (screen units)")
        ->check(CLI::Range(0, 16384));
    app.add_option("--time", o.time, "Start paused at this t in [0, 1]")
        ->check(CLI::Range(0.0, 1.0));
    app.add_flag("--no-train", o.no_train, "Start with training paused");
    app.add_option("--session", o.session,
                   "Open this session (.fmplay, saved with Ctrl+S): datasets, settings, the network and its "
                   "optimizer state, the loss history and the view, to go on where it was saved");
    app.add_option("--lesson", o.lesson,
                   "Open this lesson at start (a name from fmplay lesson --list, or a lesson file NAME.md)");
    app.add_option("--lessons", o.lessons,
                   "The folder of your own lessons (*.md, docs/lesson_format.md; default ~/.config/fmplay/lessons)");
    app.add_option(
        "--script", o.script,
        "Settings changes at given frames, 'FRAME:KEY=VALUE;...' (keys: target, source, path, "
        "coupling, solver, steps, tolerance, views, time, train, play, lr, batch, width, depth, continue, reset, "
        "export=FILE, export_wait=1 (runs it to the end), figure=FILE, train_until=STEPS (waits until training has taken that many steps), step=N (exactly N more steps, training paused); target=drawn selects the drawn set; "
        "drawing: import_text=WORD, import_image=FILE, import_csv=FILE, export_csv=FILE, "
        "draw=x0,y0,x1,y1, erase=x0,y0,x1,y1, undo, redo, clear, draw_which=target|source, "
        "drawmode=on|off; solverlab=open|close|compute|wait; "
        "cnfrace=open|close|start|wait|cancel, cnfrace_seconds=S; coupling options: ot_reg=EPS, "
        "sb_sigma=S, ot_batch=N; prediction=velocity|data|noise; sde=on|off, sde_gamma=G, odesde=open|close|compute|wait; classes: classes=on|off, p_uncond=P, follow=all|none|K, guidance=W, guidance_sweep=run|wait, paint_class=K (the drawing brush); sessions: session_save=FILE, session_open=FILE, session_dialog=open|save, autosave=DIR,SECONDS; plan=open|close, plan_pairs=16|32|64, plan_canvas=on|off; reflow=open|close|run|wait|measure, "
        "reflow_pairs=N, reflow_init=warm|fresh, reflow_use=K; instruments: lens=X,Y|off, "
        "errormap=off|raw|weighted, likelihood=off|model|true, trace=X,Y, fmcfm=on|off; lessons: lesson=NAME|close, "
        "lesson_step=next|prev|reset|last|K, lesson_answer=K, lesson_finish=wait (every step run to the end), "
        "presenter=on|off, lesson_progress=FILE, lessons_dir=DIR; side by side: compare=on|off|wait (B trains as long as A), compare_path|compare_coupling|compare_prediction|compare_solver=NAME|same, compare_steps=N; "
        "the start screen: start=open|close|wait, "
        "start_pick=NAME)");
}

}  // namespace fmp
