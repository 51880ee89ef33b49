// `fmplay train` and `fmplay sample`: headless training to a model file, and sampling from one.
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "app/cli/commands.h"
#include "app/cli/train_flags.h"
#include "app/run/engine_choice.h"
#include "app/run/training_run.h"
#include "core/base/file_io.h"
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
    // Through the JSON library: names are user text (file names, text: imports) and may hold
    // quotes, backslashes or any length.
    nlohmann::ordered_json j;
    j["target"] = setup.target.name();
    j["source"] = setup.source.name();
    j["path"] = setup.config.path.name();
    j["coupling"] = coupling_name(setup.config.coupling);
    j["engine"] = engine;
    j["steps"] = o.train.steps;
    j["batch"] = setup.config.batch;
    j["width"] = setup.config.mlp.width;
    j["depth"] = setup.config.mlp.depth;
    j["seconds"] = r.seconds;
    j["steps_per_second"] = r.steps_per_second;
    j["final_loss"] = r.smoothed_loss;
    j["samples"] = o.samples;
    j["solver"] = o.solver;
    j["solver_steps"] = o.solver_steps;
    j["w2_to_held_out_target"] = q.w2;
    j["w2_between_two_target_samples"] = q.w2_floor;
    j["sliced_w2"] = q.sliced_w2;
    // MMD^2 needs two samples on each side; with one it is not defined.
    j["mmd2"] = std::isfinite(q.mmd2) ? nlohmann::ordered_json(q.mmd2) : nlohmann::ordered_json();
    // Invalid UTF-8 in a name (a Latin-1 file name) becomes U+FFFD rather than an exception.
    return j.dump(1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
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

// What a run writes; its --out directory holds these and nothing else.
const std::vector<std::string> k_run_files = {"model.json", "samples.csv", "loss.csv", "summary.json"};

int run_train(const TrainCommandOptions& o) {
    TrainSetup setup = resolve_train_flags(o.train);
    SolverKind solver = make_solver(o.solver);
    if (o.samples < 1 || o.samples > 5000) throw InputError("--samples must be in 1..5000");
    if (o.solver_steps < 1 || o.solver_steps > 10000) throw InputError("--solver-steps must be in 1..10000");
    if (o.out.empty()) throw InputError("--out must name a directory");
    // The run is written into a hidden sibling of --out and swapped into place when complete: a
    // kill or an error leaves the previous run as it was, and concurrent runs never mix files.
    // The path is checked here, before training.
    EngineHandle h = make_headless_engine(o.engine);
    AtomicDirectory out(o.out, k_run_files);
    std::fprintf(stderr, "fmplay train: %s -> %s, path %s, coupling %s, %dx%d %s, batch %d on %s\n",
                 one_line_message(setup.source.name(), 200).c_str(),
                 one_line_message(setup.target.name(), 200).c_str(),
                 setup.config.path.name().c_str(), coupling_name(setup.config.coupling).c_str(),
                 setup.config.mlp.depth, setup.config.mlp.width,
                 activation_name(setup.config.mlp.activation).c_str(), setup.config.batch,
                 h.engine->description().c_str());
    TrainResult r = train_with_progress(*h.engine, setup, o.train.steps, o.quiet);
    Points samples = generate_samples(*h.engine, setup.config.path, setup.source, o.samples, solver,
                                      o.solver_steps, o.train.seed + 1);
    SampleQuality q = evaluate_samples(samples, setup.target, o.train.seed + 2);

    save_model(out.file("model.json"), r.model);
    save_points_csv(out.file("samples.csv"), samples);
    write_file_atomic(out.file("loss.csv"), losses_csv(r.losses));
    write_file_atomic(out.file("summary.json"), summary_json(setup, r, q, h.engine->description(), o));
    out.commit();
    std::printf("trained %d steps in %.1f s (%.0f steps/s), final loss %.4f\n", o.train.steps,
                r.seconds, r.steps_per_second, r.smoothed_loss);
    std::printf("W2 to held-out target: %.4f (two target samples of %d points differ by %.4f)\n", q.w2,
                o.samples, q.w2_floor);
    std::printf("wrote %s/{%s, %s, %s, %s}\n", one_line_message(o.out, 400).c_str(), k_run_files[0].c_str(),
                k_run_files[1].c_str(), k_run_files[2].c_str(), k_run_files[3].c_str());
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
    if (same_file(o.model, o.out))
        throw InputError("--out " + quote_for_message(o.out, 200) +
                         " is the --model input; write the samples to another file");
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
                o.steps, h.engine->description().c_str(), one_line_message(o.out, 400).c_str());
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
