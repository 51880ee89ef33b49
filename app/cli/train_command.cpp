// `fmplay train` and `fmplay sample`: headless training to a model file, and sampling from one.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>

#include "app/cli/commands.h"
#include "app/cli/train_flags.h"
#include "app/run/engine_choice.h"
#include "app/run/training_run.h"
#include "core/data/point_io.h"

namespace fmp {
namespace {

struct TrainCommandOptions {
    TrainOptions train;
    std::string out = "run";
    std::string engine = "auto";
    int samples = 2000;
    std::string solver = "midpoint";
    int solver_steps = 50;
    bool quiet = false;
};

std::string summary_json(const TrainSetup& setup, const TrainResult& r, const SampleQuality& q,
                         const std::string& engine, const TrainCommandOptions& o) {
    char buf[2048];
    std::snprintf(buf, sizeof buf,
                  "{\n \"target\": \"%s\",\n \"source\": \"%s\",\n \"path\": \"%s\",\n"
                  " \"coupling\": \"%s\",\n \"engine\": \"%s\",\n \"steps\": %d,\n \"batch\": %d,\n"
                  " \"width\": %d,\n \"depth\": %d,\n \"seconds\": %.3f,\n \"steps_per_second\": %.1f,\n"
                  " \"final_loss\": %.6f,\n \"samples\": %d,\n \"solver\": \"%s\",\n \"solver_steps\": %d,\n"
                  " \"w2_to_held_out_target\": %.6f,\n \"w2_between_two_target_samples\": %.6f,\n"
                  " \"sliced_w2\": %.6f,\n \"mmd2\": %.6g\n}\n",
                  setup.target.name().c_str(), setup.source.name().c_str(),
                  setup.config.path.name().c_str(), coupling_name(setup.config.coupling).c_str(),
                  engine.c_str(), o.train.steps, setup.config.batch, setup.config.mlp.width,
                  setup.config.mlp.depth, r.seconds, r.steps_per_second, r.smoothed_loss, o.samples,
                  o.solver.c_str(), o.solver_steps, q.w2, q.w2_floor, q.sliced_w2, q.mmd2);
    return buf;
}

std::string losses_csv(const std::vector<LossRecord>& losses) {
    std::string s = "step,loss\n";
    char line[64];
    for (const LossRecord& l : losses) {
        std::snprintf(line, sizeof line, "%lld,%.7g\n", static_cast<long long>(l.step), l.loss);
        s += line;
    }
    return s;
}

// Creates the output directory only once everything has been validated and computed, so bad
// input leaves nothing behind.
void ensure_directory(const std::string& dir) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec || !std::filesystem::is_directory(dir))
        throw InputError("cannot create output directory '" + dir + "': " + ec.message());
}

int run_train(const TrainCommandOptions& o) {
    TrainSetup setup = resolve_train_options(o.train);
    SolverKind solver = make_solver(o.solver);
    if (o.samples < 1 || o.samples > 5000) throw InputError("--samples must be in 1..5000");
    if (o.solver_steps < 1 || o.solver_steps > 10000) throw InputError("--solver-steps must be in 1..10000");
    if (o.out.empty()) throw InputError("--out must name a directory");
    if (std::filesystem::exists(o.out) && !std::filesystem::is_directory(o.out))
        throw InputError("--out '" + o.out + "' exists and is not a directory");
    EngineHandle h = make_headless_engine(o.engine);
    std::fprintf(stderr, "fmplay train: %s -> %s, path %s, coupling %s, %dx%d %s, batch %d on %s\n",
                 setup.source.name().c_str(), setup.target.name().c_str(),
                 setup.config.path.name().c_str(), coupling_name(setup.config.coupling).c_str(),
                 setup.config.mlp.depth, setup.config.mlp.width,
                 activation_name(setup.config.mlp.activation).c_str(), setup.config.batch,
                 h.engine->description().c_str());
    TrainResult r = train_with_progress(*h.engine, setup, o.train.steps, o.quiet);
    Points samples = generate_samples(*h.engine, setup.config.path, setup.source, o.samples, solver,
                                      o.solver_steps, o.train.seed + 1);
    SampleQuality q = evaluate_samples(samples, setup.target, o.train.seed + 2);

    ensure_directory(o.out);
    namespace fs = std::filesystem;
    std::string model = (fs::path(o.out) / "model.json").string();
    std::string samples_csv = (fs::path(o.out) / "samples.csv").string();
    std::string summary = (fs::path(o.out) / "summary.json").string();
    std::string loss = (fs::path(o.out) / "loss.csv").string();
    save_model(model, r.model);
    save_points_csv(samples_csv, samples);
    write_file_atomic(loss, losses_csv(r.losses));
    write_file_atomic(summary, summary_json(setup, r, q, h.engine->description(), o));
    std::printf("trained %d steps in %.1f s (%.0f steps/s), final loss %.4f\n", o.train.steps,
                r.seconds, r.steps_per_second, r.smoothed_loss);
    std::printf("W2 to held-out target: %.4f (two target samples of %d points differ by %.4f)\n", q.w2,
                o.samples, q.w2_floor);
    std::printf("wrote %s, %s, %s, %s\n", model.c_str(), samples_csv.c_str(), loss.c_str(),
                summary.c_str());
    return 0;
}

struct SampleCommandOptions {
    std::string model;
    int n = 10000;
    std::string solver = "midpoint";
    int steps = 20;
    std::string out = "samples.csv";
    uint64_t seed = 1;
    std::string engine = "auto";
};

int run_sample(const SampleCommandOptions& o) {
    SolverKind solver = make_solver(o.solver);
    if (o.n < 1 || o.n > static_cast<int>(k_max_points))
        throw InputError("--n must be in 1.." + std::to_string(k_max_points));
    if (o.steps < 1 || o.steps > 10000) throw InputError("--steps must be in 1..10000");
    ModelFile m = load_model(o.model);
    EngineHandle h = make_headless_engine(o.engine);
    TrainSetup setup;
    setup.config.mlp = m.mlp;
    setup.config.path = m.path;
    setup.config.coupling = m.coupling;
    h.engine->reset(setup.config, m.source, m.target);
    h.engine->set_params(m.params);
    Points x = generate_samples(*h.engine, m.path, m.source, o.n, solver, o.steps, o.seed);
    save_points_csv(o.out, x);
    std::printf("wrote %d samples (%s, %d steps, %s) to %s\n", o.n, solver_name(solver).c_str(),
                o.steps, h.engine->description().c_str(), o.out.c_str());
    return 0;
}

}  // namespace

Command add_train_command(CLI::App& app) {
    auto o = std::make_shared<TrainCommandOptions>();
    CLI::App* sub = app.add_subcommand(
        "train",
        "Train a velocity network with conditional flow matching and write model.json, "
        "samples.csv, loss.csv and summary.json (W2 against held-out target points) to --out.");
    add_train_flags(*sub, o->train);
    sub->add_option("--out", o->out, "output directory")->capture_default_str();
    sub->add_option("--engine", o->engine, "engine: auto, cpu, gl")->capture_default_str();
    sub->add_option("--samples", o->samples, "generated samples written and evaluated (1..5000)")
        ->capture_default_str();
    sub->add_option("--solver", o->solver, "ODE solver for the samples: " + join_names(solver_names()))
        ->capture_default_str();
    sub->add_option("--solver-steps", o->solver_steps, "ODE steps for the samples")->capture_default_str();
    sub->add_flag("--quiet", o->quiet, "no progress line");
    return {sub, [o] { return run_train(*o); }};
}

Command add_sample_command(CLI::App& app) {
    auto o = std::make_shared<SampleCommandOptions>();
    CLI::App* sub = app.add_subcommand(
        "sample", "Generate samples from a trained model by integrating its ODE from t=0 to t=1.");
    sub->add_option("--model", o->model, "model file written by `fmplay train`")->required();
    sub->add_option("--n", o->n, "number of samples")->capture_default_str();
    sub->add_option("--solver", o->solver, "ODE solver: " + join_names(solver_names()))->capture_default_str();
    sub->add_option("--steps", o->steps, "ODE steps")->capture_default_str();
    sub->add_option("--out", o->out, "output CSV (x,y per line)")->capture_default_str();
    sub->add_option("--seed", o->seed, "seed of the source samples")->capture_default_str();
    sub->add_option("--engine", o->engine, "engine: auto, cpu, gl")->capture_default_str();
    return {sub, [o] { return run_sample(*o); }};
}

}  // namespace fmp
