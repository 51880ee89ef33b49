// `fmplay train` and `fmplay sample`: headless training to a model file, and sampling from one.
#include <CLI/CLI.hpp>
#include <chrono>
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
#include "core/flow/sde_sampler.h"
#include "core/instruments/reflow.h"
#include "core/metrics/metrics.h"

namespace fmp {
namespace {

struct TrainCommandOptions {
    TrainOptions train;
    std::string out = "run";
    std::string engine = "auto";
    int samples = 2000;
    std::string solver = "midpoint";
    int solver_steps = 50;
    float tolerance = k_default_tolerance;  // dopri5 only
    bool quiet = false;
    // Reflow: train on the pairs this model's flow makes instead of on the data.
    std::string reflow_from;
    int reflow_pairs = 10000;
    std::string reflow_solver = "rk4";
    int reflow_steps = 16;
    std::string reflow_init = "warm";  // warm: from the parent's weights; fresh: from --seed
};

// What a reflow run started from, for the summary.
struct ReflowFigures {
    int generation = 0;  // the new model's reflow (the parent's + 1)
    int pairs = 0;
    double seconds = 0.0;  // generating the pairs
};

// How straight the generated paths are: their kinetic energy against the least any flow from the
// source to the target can have, W2^2 (straight lines along the optimal transport map).
struct PathEnergyFigures {
    double energy = 0.0;      // PE = E[int_0^1 |v_theta(x_t, t)|^2 dt] over the samples' paths
    double w2_squared = 0.0;  // W2^2 between source and target samples of --samples points each
    double npe = 0.0;         // |PE - W2^2| / W2^2 (NaN when W2^2 = 0)
    int64_t evaluations = 0;  // the solver's NFE for the samples
};

std::string summary_json(const TrainSetup& setup, const TrainResult& r, const SampleQuality& q,
                         const PathEnergyFigures& pe, const FlowStraightness& fs,
                         const ReflowFigures* reflow, const std::string& engine,
                         const TrainCommandOptions& o) {
    // Through the JSON library: names are user text (file names, text: imports) and may hold
    // quotes, backslashes or any length.
    nlohmann::ordered_json j;
    j["target"] = setup.target.name();
    j["source"] = setup.source.name();
    j["path"] = setup.config.path.name();
    j["coupling"] = coupling_name(setup.config.coupling);
    j["prediction"] = prediction_name(setup.config.mlp.prediction);
    if (setup.config.mlp.classes > 0) {
        j["classes"] = setup.config.mlp.classes;
        j["p_uncond"] = setup.config.p_uncond;
    }
    if (coupling_solves_plan(setup.config.coupling)) {
        j["ot_batch"] = setup.config.coupling_options.ot_batch;
        if (setup.config.coupling == CouplingKind::Sinkhorn) j["ot_reg"] = setup.config.coupling_options.ot_reg;
        if (setup.config.coupling == CouplingKind::SchrodingerBridge)
            j["sb_sigma"] = setup.config.coupling_options.sb_sigma;
    }
    if (reflow) {
        j["reflow"] = reflow->generation;
        j["reflow_from"] = o.reflow_from;
        j["reflow_pairs"] = reflow->pairs;
        j["reflow_solver"] = o.reflow_solver;
        j["reflow_steps"] = o.reflow_steps;
        j["reflow_init"] = o.reflow_init;
        j["reflow_pairs_seconds"] = reflow->seconds;
    }
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
    if (solver_is_adaptive(make_solver(o.solver))) j["solver_tolerance"] = o.tolerance;
    j["solver_evaluations"] = pe.evaluations;
    j["w2_to_held_out_target"] = q.w2;
    j["w2_between_two_target_samples"] = q.w2_floor;
    j["sliced_w2"] = q.sliced_w2;
    // MMD^2 needs two samples on each side; with one it is not defined.
    j["mmd2"] = std::isfinite(q.mmd2) ? nlohmann::ordered_json(q.mmd2) : nlohmann::ordered_json();
    j["path_energy"] = pe.energy;
    j["w2_squared_source_to_target"] = pe.w2_squared;
    // NPE divides by W2^2: not defined when the source and target samples coincide.
    j["npe"] = std::isfinite(pe.npe) ? nlohmann::ordered_json(pe.npe) : nlohmann::ordered_json();
    // measure_straightness (core/instruments/reflow.h): its own 64 midpoint steps, so runs with
    // different --solver settings compare.
    j["straightness"] = fs.straightness;
    j["w2_euler_1"] = fs.w2_euler[0];
    j["w2_euler_2"] = fs.w2_euler[1];
    j["w2_euler_4"] = fs.w2_euler[2];
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

// --tolerance of train and sample.
const char* const k_tolerance_help =
    "dopri5's error tolerance (rtol = atol, 1e-6..0.1): a step is accepted when its estimated "
    "error (4th vs 5th order) is within tol x (1 + |x|); smaller costs more evaluations. "
    "Ignored by the fixed-step solvers";

void validate_tolerance_flag(float tolerance) {
    try {
        validate_tolerance(tolerance);
    } catch (const InputError& e) {
        throw InputError(std::string("--tolerance: ") + e.what());
    }
}

// "20 steps" for a fixed-step solver, "tolerance 0.0001" for dopri5.
std::string solver_setting_text(SolverKind solver, int steps, float tolerance) {
    char buf[64];
    if (solver_is_adaptive(solver))
        std::snprintf(buf, sizeof buf, "tolerance %g", double(tolerance));
    else
        std::snprintf(buf, sizeof buf, "%d steps", steps);
    return buf;
}

// What a run writes; its --out directory holds these and nothing else.
const std::vector<std::string> k_run_files = {"model.json", "samples.csv", "loss.csv", "summary.json"};

// "0.001" as a flag would hold it.
std::string flag_number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

// A reflow run's network, path and datasets are its parent's: a flag given with another value
// would be silently ignored, so it is refused. The coupling flags are refused outright (the pairs
// are trained on as they are).
void refuse_reflow_overrides(const CLI::App& sub, const TrainOptions& t, const ModelFile& parent) {
    auto given = [&](const char* flag) { return sub.count(flag) > 0; };
    auto refuse = [](const std::string& flag, const std::string& value, const std::string& mine) {
        throw InputError(flag + " " + value + " disagrees with the --reflow-from model's " + mine +
                         ": a reflow keeps its parent's network, path and datasets (leave the "
                         "flag out)");
    };
    if (given("--width") && t.width != parent.mlp.width)
        refuse("--width", std::to_string(t.width), std::to_string(parent.mlp.width));
    if (given("--depth") && t.depth != parent.mlp.depth)
        refuse("--depth", std::to_string(t.depth), std::to_string(parent.mlp.depth));
    if (given("--activation") && make_activation(t.activation) != parent.mlp.activation)
        refuse("--activation", t.activation, activation_name(parent.mlp.activation));
    if (given("--time-encoding") && make_time_encoding(t.time_encoding) != parent.mlp.time_encoding)
        refuse("--time-encoding", t.time_encoding, time_encoding_name(parent.mlp.time_encoding));
    if (given("--prediction") && make_prediction(t.prediction) != parent.mlp.prediction)
        refuse("--prediction", t.prediction, prediction_name(parent.mlp.prediction));
    if (given("--path") && make_path(t.path).kind() != parent.path.kind())
        refuse("--path", t.path, parent.path.name());
    if (given("--sigma-min") && t.sigma_min != parent.path.params().sigma_min)
        refuse("--sigma-min", flag_number(t.sigma_min),
               flag_number(parent.path.params().sigma_min));
    if (given("--poly-n") && t.poly_n != parent.path.params().poly_n)
        refuse("--poly-n", flag_number(t.poly_n), flag_number(parent.path.params().poly_n));
    if (given("--source") && t.source != parent.source.name())
        refuse("--source", quote_for_message(t.source, 200),
               quote_for_message(parent.source.name(), 200));
    if (given("--target") && t.target != parent.target.name())
        refuse("--target", quote_for_message(t.target, 200),
               quote_for_message(parent.target.name(), 200));
    for (const char* flag : {"--coupling", "--ot-batch", "--ot-reg", "--sb-sigma", "--classes", "--p-uncond"})
        if (given(flag))
            throw InputError(std::string(flag) +
                             " does not apply to a reflow run: it trains on its pairs as they are "
                             "(coupling paired)");
}

int run_train(const TrainCommandOptions& o, const CLI::App& sub) {
    const bool reflow = !o.reflow_from.empty();
    ModelFile parent;
    TrainOptions train_flags = o.train;
    SolverKind reflow_solver = SolverKind::RK4;
    if (reflow) {
        try {
            parent = load_model(o.reflow_from);
        } catch (const InputError& e) {
            throw InputError(std::string("--reflow-from: ") + e.what());
        }
        refuse_reflow_overrides(sub, o.train, parent);
        if (parent.mlp.classes > 0)
            throw InputError("--reflow-from: a class-conditional model cannot be reflowed yet (its pairs "
                             "would need their classes)");
        if (o.reflow_pairs < 1 || o.reflow_pairs > k_max_reflow_pairs)
            throw InputError("--reflow-pairs must be in 1.." + std::to_string(k_max_reflow_pairs) +
                             " (got " + std::to_string(o.reflow_pairs) + ")");
        reflow_solver = make_solver(o.reflow_solver);
        if (o.reflow_steps < 1 || o.reflow_steps > 10000)
            throw InputError("--reflow-steps must be in 1..10000");
        if (o.reflow_init != "warm" && o.reflow_init != "fresh")
            throw InputError("--reflow-init must be warm or fresh (got " +
                             quote_for_message(o.reflow_init, 40) + ")");
        // The datasets are the parent's, so the flags' names are not resolved (a point set's label
        // may name a file that is gone).
        train_flags.source = "normal";
        train_flags.target = "normal";
    }
    TrainSetup setup = resolve_train_flags(train_flags);
    if (reflow) {
        setup.config.mlp = parent.mlp;
        setup.config.path = parent.path;
        setup.config.coupling = CouplingKind::Paired;
        setup.config.coupling_options = CouplingOptions{};
        // The run's evaluation (samples, W2, path energy, straightness) and the model file use the
        // parent's datasets; only training sees the pairs.
        setup.source = parent.source;
        setup.target = parent.target;
    }
    SolverKind solver = make_solver(o.solver);
    if (o.samples < 1 || o.samples > 5000) throw InputError("--samples must be in 1..5000");
    if (o.solver_steps < 1 || o.solver_steps > 10000) throw InputError("--solver-steps must be in 1..10000");
    validate_tolerance_flag(o.tolerance);
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
    ReflowFigures reflow_figures;
    TrainResult r;
    if (reflow) {
        // The parent's flow makes the pairs (sampling: its coupling plays no part).
        TrainConfig parent_config = setup.config;
        parent_config.coupling = CouplingKind::Independent;
        h.engine->reset(parent_config, parent.source, parent.target);
        h.engine->set_params(parent.params);
        const auto t0 = std::chrono::steady_clock::now();
        const ReflowPairs pairs = generate_reflow_pairs(
            *h.engine, parent.path, parent.source, o.reflow_pairs,
            IntegrationSettings{reflow_solver, o.reflow_steps, o.tolerance}, o.train.seed + 5);
        reflow_figures.seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        reflow_figures.pairs = o.reflow_pairs;
        reflow_figures.generation = parent.reflow + 1;
        std::fprintf(stderr, "reflow %d: %d pairs from %s (%s, %s) in %.2f s, %s start\n",
                     reflow_figures.generation, o.reflow_pairs,
                     one_line_message(o.reflow_from, 200).c_str(), o.reflow_solver.c_str(),
                     solver_setting_text(reflow_solver, o.reflow_steps, o.tolerance).c_str(),
                     reflow_figures.seconds, o.reflow_init.c_str());
        TrainSetup pair_setup = setup;
        pair_setup.source = Dataset::from_points(pairs.x0, "reflow x0");
        pair_setup.target = Dataset::from_points(pairs.x1, "reflow x1");
        r = train_with_progress(*h.engine, pair_setup, o.train.steps, o.quiet,
                                o.reflow_init == "warm" ? &parent.params : nullptr);
        r.model.source = parent.source;
        r.model.target = parent.target;
        r.model.reflow = reflow_figures.generation;
    } else {
        r = train_with_progress(*h.engine, setup, o.train.steps, o.quiet);
    }
    // The samples' paths are followed one solver step at a time (the source draw is the one
    // generate_samples makes for this seed) and their energy summed over the steps as
    // |x_{k+1} - x_k|^2 / dt: the energy of the piecewise-linear paths through the solver's points,
    // which converges to E[int |v_theta|^2 dt] from below as the steps get finer (metrics.h).
    Rng source_rng(o.train.seed + 1, 3);
    const Points x0 = initial_particles(setup.config.path, setup.source, o.samples, source_rng);
    PathEnergyFigures pe;
    Points previous;
    float t_previous = 0.0f;
    IntegrationStats nfe;
    Points samples = follow_paths(*h.engine, x0, solver, o.solver_steps,
                                  [&](int step, float t, const Points& x) {
                                      if (step > 0)
                                          pe.energy += path_energy({previous, x}, t_previous, t);
                                      previous = x;
                                      t_previous = t;
                                  },
                                  o.tolerance, &nfe);
    pe.evaluations = nfe.evaluations;
    SampleQuality q = evaluate_samples(samples, setup.target, o.train.seed + 2);
    // W2^2(p0, p1) from the same source points (scaled like the particles: p0 is where the flow
    // starts) and a fresh target sample of the same size. Both are empirical, so for a few
    // thousand points it sits a little above the true W2^2.
    Rng target_rng(o.train.seed + 3, 13);
    const double w2 = wasserstein2(x0, setup.target.sample(o.samples, target_rng));
    pe.w2_squared = w2 * w2;
    pe.npe = normalized_path_energy(pe.energy, pe.w2_squared);
    const FlowStraightness fs = measure_straightness(*h.engine, setup.config.path, setup.source,
                                                     setup.target, o.samples, o.train.seed + 4);

    save_model(out.file("model.json"), r.model);
    save_points_csv(out.file("samples.csv"), samples);
    write_file_atomic(out.file("loss.csv"), losses_csv(r.losses));
    write_file_atomic(out.file("summary.json"),
                      summary_json(setup, r, q, pe, fs, reflow ? &reflow_figures : nullptr,
                                   h.engine->description(), o));
    out.commit();
    std::printf("trained %d steps in %.1f s (%.0f steps/s), final loss %.4f\n", o.train.steps,
                r.seconds, r.steps_per_second, r.smoothed_loss);
    std::printf("W2 to held-out target: %.4f (two target samples of %d points differ by %.4f)\n", q.w2,
                o.samples, q.w2_floor);
    std::printf("path energy %.4f, W2^2(source, target) %.4f, NPE %.4f\n", pe.energy, pe.w2_squared,
                pe.npe);
    std::printf("straightness %.4g (0: straight paths), W2 with 1/2/4 Euler steps %.4f/%.4f/%.4f\n",
                fs.straightness, fs.w2_euler[0], fs.w2_euler[1], fs.w2_euler[2]);
    if (reflow)
        std::printf("reflow %d: trained on %d pairs of %s, generated in %.2f s\n",
                    reflow_figures.generation, reflow_figures.pairs,
                    one_line_message(o.reflow_from, 400).c_str(), reflow_figures.seconds);
    std::printf("wrote %s/{%s, %s, %s, %s}\n", one_line_message(o.out, 400).c_str(), k_run_files[0].c_str(),
                k_run_files[1].c_str(), k_run_files[2].c_str(), k_run_files[3].c_str());
    return 0;
}

struct SampleCommandOptions {
    std::string model;
    int n = 10000;
    std::string solver = "midpoint";
    int steps = 20;
    float tolerance = k_default_tolerance;  // dopri5 only
    std::string out = "samples.csv";
    uint64_t seed = 1;
    std::string engine = "auto";
    std::string from;          // source points to integrate instead of sampling the source
    std::string trajectories;  // every step of every path
    float sde_gamma = 0.0f;    // > 0: Euler–Maruyama on the SDE with g(t) = gamma sigma_t
    int cls = -1;              // a class-conditional model's class (-1: unconditional)
    float guidance = 1.0f;     // classifier-free guidance scale w
};

// A trajectory file holds particles x (steps + 1) rows; beyond this it would be gigabytes.
constexpr long long k_max_trajectory_rows = 5'000'000;

// "particle,step,t,x,y", then the frames in time order (step 0 first), each with its particles in
// their order: one row per particle per step.
void append_frame(std::string& csv, int step, float t, const Points& x) {
    char line[128];
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
        const int len = std::snprintf(line, sizeof line, "%lld,%d,%.9g,%.9g,%.9g\n",
                                      static_cast<long long>(i), step, t, x(i, 0), x(i, 1));
        csv.append(line, static_cast<std::size_t>(len));
    }
}

// An output that is also an input would destroy it; two outputs in one file would mix them.
void refuse_same_file(const std::string& out_flag, const std::string& out,
                      const std::string& other_flag, const std::string& other,
                      bool other_is_input) {
    if (out.empty() || other.empty() || !same_file(out, other)) return;
    throw InputError(
        out_flag + " " + quote_for_message(out, 200) + " is the " + other_flag +
        (other_is_input ? " input; write to another file" : " output too; name two files"));
}

int run_sample(const SampleCommandOptions& o) {
    if (same_file(o.model, o.out))
        throw InputError("--out " + quote_for_message(o.out, 200) +
                         " is the --model input; write the samples to another file");
    refuse_same_file("--out", o.out, "--from", o.from, true);
    refuse_same_file("--trajectories", o.trajectories, "--model", o.model, true);
    refuse_same_file("--trajectories", o.trajectories, "--from", o.from, true);
    refuse_same_file("--trajectories", o.trajectories, "--out", o.out, false);
    SolverKind solver = make_solver(o.solver);
    if (o.n < 1 || o.n > static_cast<int>(k_max_points))
        throw InputError("--n must be in 1.." + std::to_string(k_max_points));
    if (o.steps < 1 || o.steps > 10000) throw InputError("--steps must be in 1..10000");
    validate_tolerance_flag(o.tolerance);
    ModelFile m = load_model(o.model);
    // Given source points are x_0 of the ODE as they are: not scaled by the path's sigma_0 (VE),
    // which only applies to points drawn from the model's source dataset.
    Points x0;
    if (!o.from.empty()) x0 = load_points_csv(o.from);
    const long long n = o.from.empty() ? o.n : static_cast<long long>(x0.rows());
    if (!o.trajectories.empty() && n * (o.steps + 1) > k_max_trajectory_rows)
        throw InputError("--trajectories would hold " + std::to_string(n) + " paths x " +
                         std::to_string(o.steps + 1) + " steps; at most " +
                         std::to_string(k_max_trajectory_rows) +
                         " rows: use fewer points or --steps");
    EngineHandle h = make_headless_engine(o.engine);
    TrainSetup setup;
    setup.config.mlp = m.mlp;
    setup.config.path = m.path;
    h.engine->reset(setup.config, m.source, m.target);  // sampling: the coupling plays no part
    h.engine->set_params(m.params);
    if (o.cls >= 0 && m.mlp.classes == 0)
        throw InputError("--class: this model has no classes (train it with --classes)");
    h.engine->set_guidance(ClassGuidance{o.cls, o.guidance});
    Points x;
    IntegrationStats stats;
    const SdeSettings sde{o.sde_gamma, o.steps};
    sde.validate();
    if (o.sde_gamma > 0.0f) {
        // The score comes from the velocity by Tweedie's formula, which needs the normal source.
        if (m.source.kind() != DatasetKind::Normal)
            throw InputError("--sde-gamma needs a model with the normal source (the score is read off "
                             "the velocity by Tweedie's formula); this one starts from " +
                             quote_for_message(m.source.name(), 80));
        if (m.coupling != CouplingKind::Independent)
            std::fprintf(stderr, "note: the model was trained with the %s coupling; the score from its "
                                 "velocity assumes the independent one, so the SDE's marginals "
                                 "can differ from the ODE's\n",
                         coupling_name(m.coupling).c_str());
        if (o.from.empty()) {
            Rng rng(o.seed, 3);  // the draw generate_samples makes for this seed
            x0 = initial_particles(m.path, m.source, o.n, rng);
        }
        x = x0;
        Rng noise(o.seed, 11);
        Engine& engine = *h.engine;
        VelocityFn v = [&engine](const Points& p, float t, Points& out) { engine.eval_velocity(p, t, out); };
        std::vector<Points> frames;
        stats.evaluations = integrate_sde(v, m.path, sde, x, 0.0f, 1.0f, noise,
                                          o.trajectories.empty() ? nullptr : &frames);
        if (!x.allFinite()) throw InputError("the SDE's samples are not finite: lower --sde-gamma or raise --steps");
        if (!o.trajectories.empty()) {
            std::string csv = "particle,step,t,x,y\n";
            csv.reserve(static_cast<std::size_t>(n * (o.steps + 1) * 48));
            for (int k = 0; k <= o.steps; ++k)
                append_frame(csv, k, static_cast<float>(k) / static_cast<float>(o.steps), frames[k]);
            write_file_atomic(o.trajectories, csv);
        }
        save_points_csv(o.out, x);
        std::printf("wrote %lld samples (SDE: Euler–Maruyama, %d steps, g(t) = %g sigma_t, %lld "
                    "evaluations, %s) to %s\n",
                    n, o.steps, static_cast<double>(o.sde_gamma), static_cast<long long>(stats.evaluations),
                    h.engine->description().c_str(), one_line_message(o.out, 400).c_str());
        if (!o.trajectories.empty())
            std::printf("wrote %lld paths of %d steps to %s\n", n, o.steps,
                        one_line_message(o.trajectories, 400).c_str());
        return 0;
    }
    if (o.from.empty() && o.trajectories.empty()) {
        x = generate_samples(*h.engine, m.path, m.source, o.n, solver, o.steps, o.seed,
                             o.tolerance, &stats);
    } else {
        if (o.from.empty()) {
            Rng rng(o.seed, 3);  // the draw generate_samples makes for this seed
            x0 = initial_particles(m.path, m.source, o.n, rng);
        }
        // One step per engine call, so every frame can be recorded; the last frame is --out.
        std::string csv = "particle,step,t,x,y\n";
        if (!o.trajectories.empty()) csv.reserve(static_cast<std::size_t>(n * (o.steps + 1) * 48));
        x = follow_paths(
            *h.engine, x0, solver, o.steps,
            [&](int step, float t, const Points& p) {
                if (!o.trajectories.empty()) append_frame(csv, step, t, p);
            },
            o.tolerance, &stats);
        if (!o.trajectories.empty()) write_file_atomic(o.trajectories, csv);
    }
    save_points_csv(o.out, x);
    std::printf("wrote %lld samples (%s, %s, %lld evaluations, %s) to %s\n", n,
                solver_name(solver).c_str(), solver_setting_text(solver, o.steps, o.tolerance).c_str(),
                static_cast<long long>(stats.evaluations), h.engine->description().c_str(),
                one_line_message(o.out, 400).c_str());
    if (!o.trajectories.empty())
        std::printf("wrote %lld paths of %d steps to %s\n", n, o.steps,
                    one_line_message(o.trajectories, 400).c_str());
    return 0;
}

}  // namespace

Command add_train_command(CLI::App& app) {
    auto o = std::make_shared<TrainCommandOptions>();
    CLI::App* sub = app.add_subcommand(
        "train",
        "Train a velocity network with conditional flow matching and write model.json, "
        "samples.csv, loss.csv and summary.json (W2 against held-out target points, the path "
        "energy of the samples' paths and its NPE, the straightness and W2 with 1, 2 and 4 Euler "
        "steps) to --out. With --reflow-from, train on the pairs a trained model's flow makes "
        "(rectified flow) instead of on the data.");
    add_train_flags(*sub, o->train);
    sub->add_option("--out", o->out, "output directory")->capture_default_str();
    sub->add_option("--engine", o->engine, "engine: auto, cpu, gl")->capture_default_str();
    sub->add_option("--samples", o->samples, "generated samples written and evaluated (1..5000)")
        ->capture_default_str();
    sub->add_option("--solver", o->solver, "ODE solver for the samples: " + join_names(solver_names()))
        ->capture_default_str();
    sub->add_option("--solver-steps", o->solver_steps,
                    "ODE steps for the samples (dopri5: the frames their paths are followed at, "
                    "each integrated adaptively)")
        ->capture_default_str();
    sub->add_option("--tolerance", o->tolerance, k_tolerance_help)->capture_default_str();
    sub->add_flag("--quiet", o->quiet, "no progress line");
    CLI::Option* from = sub->add_option(
        "--reflow-from", o->reflow_from,
        "reflow (rectified flow, Liu et al.): integrate this model's flow from --reflow-pairs "
        "source points and train on the pairs (x0, x1) it makes (coupling paired) instead of on "
        "the data. The network (--width, --depth, --activation, --time-encoding), the path "
        "(--path, --sigma-min, --poly-n) and the datasets (--source, --target: the samples and "
        "the evaluation use them) are the model's; one of these flags given with another value "
        "is an error, and so are the coupling flags. The new model.json has reflow = the "
        "model's + 1");
    sub->add_option("--reflow-pairs", o->reflow_pairs, "reflow: pairs generated (1..1000000)")
        ->capture_default_str()
        ->needs(from);
    sub->add_option("--reflow-solver", o->reflow_solver,
                    "reflow: ODE solver of the pairs: " + join_names(solver_names()) +
                        " (dopri5 at --tolerance)")
        ->capture_default_str()
        ->needs(from);
    sub->add_option("--reflow-steps", o->reflow_steps, "reflow: ODE steps of the pairs (1..10000)")
        ->capture_default_str()
        ->needs(from);
    sub->add_option("--reflow-init", o->reflow_init,
                    "reflow: warm (start from the model's weights) or fresh (new weights from "
                    "--seed)")
        ->capture_default_str()
        ->needs(from);
    return {sub, [o, sub] { return run_train(*o, *sub); }};
}

Command add_sample_command(CLI::App& app) {
    auto o = std::make_shared<SampleCommandOptions>();
    CLI::App* sub = app.add_subcommand(
        "sample", "Generate samples from a trained model by integrating its ODE from t=0 to t=1.");
    sub->add_option("--model", o->model, "model file written by `fmplay train`")->required();
    CLI::Option* n = sub->add_option("--n", o->n, "number of samples")->capture_default_str();
    sub->add_option("--solver", o->solver, "ODE solver: " + join_names(solver_names()))->capture_default_str();
    sub->add_option("--steps", o->steps,
                    "ODE steps (dopri5: frames of --trajectories; without them only the first "
                    "step guess 1/steps)")
        ->capture_default_str();
    sub->add_option("--tolerance", o->tolerance, k_tolerance_help)->capture_default_str();
    sub->add_option("--out", o->out, "output CSV (x,y per line)")->capture_default_str();
    CLI::Option* seed =
        sub->add_option("--seed", o->seed, "seed of the source samples")->capture_default_str();
    sub->add_option("--engine", o->engine, "engine: auto, cpu, gl")->capture_default_str();
    sub->add_option("--from", o->from,
                    "CSV of source points (x,y per line) to integrate instead of sampling the "
                    "source: they are x_0 at t=0 as given (not rescaled, also for the VE path), "
                    "and --out keeps their order; replaces --n and --seed")
        ->excludes(n)
        ->excludes(seed);
    sub->add_option("--trajectories", o->trajectories,
                    "also write every step of every path to this CSV: header particle,step,t,x,y, "
                    "then one row per particle per step (step 0..steps at t = step/steps, in time "
                    "order; particle = row of --from or of --out)");
    sub->add_option("--class", o->cls,
                    "a class-conditional model's class to sample (0..classes-1; -1: the "
                    "unconditional field, the null class)")
        ->capture_default_str();
    sub->add_option("--guidance", o->guidance,
                    "classifier-free guidance scale w (0..10): v = v(x, t | null) + w (v(x, t | "
                    "class) - v(x, t | null)); 1 is the conditional field, > 1 pushes past it")
        ->capture_default_str();
    sub->add_option("--sde-gamma", o->sde_gamma,
                    "sample with the SDE dX = [v + g^2/2 grad log p_t] dt + g dW instead of the ODE "
                    "(Euler–Maruyama, --steps steps, --solver ignored), g(t) = GAMMA sigma_t, the "
                    "score read off the velocity (normal source): the same marginals for every "
                    "GAMMA in 0..5; 0 is the ODE")
        ->capture_default_str();
    return {sub, [o] { return run_sample(*o); }};
}

}  // namespace fmp
