// `fmplay demo`: the headless first run — trains on moons, then draws a figure and a short video
// with the window's renderer (offscreen, EGL) and writes them with the samples and model to out/.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "app/cli/commands.h"
#include "app/cli/train_flags.h"
#include "app/export/export_job.h"
#include "app/export/export_settings.h"
#include "app/export/frame_sink.h"
#include "app/render/scene_builder.h"
#include "app/run/engine_choice.h"
#include "app/run/training_run.h"
#include "core/data/point_io.h"
#include "core/engine/gl/gl_context.h"

namespace fmp {
namespace {

struct DemoOptions {
    TrainOptions train;
    std::string out = "out";
    std::string engine = "auto";
    int samples = 2000;
    bool video = true;
};

int run_demo(const DemoOptions& o) {
    TrainSetup setup = resolve_train_flags(o.train);
    if (std::filesystem::exists(o.out) && !std::filesystem::is_directory(o.out))
        throw InputError("--out " + quote_for_message(o.out, 200) + " exists and is not a directory");
    EngineHandle h = make_headless_engine(o.engine);
    std::printf("fmplay demo (no window): training %s -> %s on %s\n", setup.source.name().c_str(),
                setup.target.name().c_str(), h.engine->description().c_str());
    std::fflush(stdout);
    TrainResult r = train_with_progress(*h.engine, setup, o.train.steps);
    Points samples = generate_samples(*h.engine, setup.config.path, setup.source, o.samples,
                                      SolverKind::Midpoint, 50, o.train.seed + 1);
    SampleQuality q = evaluate_samples(samples, setup.target, o.train.seed + 2);

    std::error_code ec;
    std::filesystem::create_directories(o.out, ec);
    if (ec) throw InputError("cannot create output directory " + quote_for_message(o.out, 200) + ": " + ec.message());
    namespace fs = std::filesystem;
    auto file = [&](const char* name) { return fs::absolute(fs::path(o.out) / name).string(); };
    const std::string model = file("demo_model.json"), csv = file("demo_samples.csv");
    const std::string png = file("demo_flow.png"), mp4 = file("demo_flow.mp4");
    save_model(model, r.model);
    save_points_csv(csv, samples);

    // The figure and the clip: the trained model drawn as the window draws it.
    std::string error;
    std::unique_ptr<HeadlessGlContext> gl =
        h.context ? nullptr : HeadlessGlContext::create(&error);
    if (h.context) h.context->make_current();
    else if (gl) gl->make_current();
    else throw std::runtime_error("no OpenGL 4.3 context to draw the figure with: " + error);
    ExportSettings s;
    s.train = o.train;
    s.model = model;
    s.particles = 20000;
    apply_views("particles,paths,marginal,targets,grid", s.layers);
    s.title = "fmplay demo: " + std::to_string(o.train.steps) + " training steps";
    s.figure_t = 1.0f;
    render_figure(s, png);
    if (o.video) {
        s.video.width = 960;
        s.video.height = 540;
        s.duration = 4.0;
        apply_views("particles,trails,targets,grid", s.layers);
        auto sink = FrameSink::open(mp4, s.video);
        run_export(s, *sink, {}, nullptr);
    }
    std::printf("trained %d steps in %.1f s; W2 to held-out target %.3f (two target samples: %.3f)\n",
                o.train.steps, r.seconds, q.w2, q.w2_floor);
    std::printf("wrote:\n  %s   (samples at t=1 coloured by where they started, learned paths)\n", png.c_str());
    if (o.video) std::printf("  %s   (a 4 s sweep from t=0 to t=1)\n", mp4.c_str());
    std::printf("  %s   (the samples as x,y CSV)\n  %s   (the model: fmplay sample --model ...)\n",
                csv.c_str(), model.c_str());
    return 0;
}

}  // namespace

Command add_demo_command(CLI::App& app) {
    auto o = std::make_shared<DemoOptions>();
    // About five seconds on two cores: enough for the two crescents to separate cleanly.
    o->train.steps = 5000;
    o->train.width = 128;
    o->train.lr = 2e-3f;
    CLI::App* sub = app.add_subcommand(
        "demo",
        "Headless demo: train on moons from a normal, then write a figure (PNG), a short video (MP4), "
        "the samples (CSV) and the model to --out.");
    add_train_flags(*sub, o->train);
    sub->add_option("--out", o->out, "output directory")->capture_default_str();
    sub->add_option("--engine", o->engine, "engine: auto, cpu, gl")->capture_default_str();
    sub->add_flag("!--no-video", o->video, "skip the MP4");
    return {sub, [o] { return run_demo(*o); }};
}

}  // namespace fmp
