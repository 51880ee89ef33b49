// The 2D benchmark's cells: training each method on each task and measuring it one fixed way.
#include "app/run/eval_run.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>

#include "app/run/training_run.h"
#include "core/instruments/likelihood.h"
#include "core/instruments/reflow.h"
#include "core/metrics/metrics.h"

namespace fmp {

namespace {

constexpr double k_nan = std::numeric_limits<double>::quiet_NaN();

}  // namespace

EvalTask make_eval_task(const std::string& name) {
    const auto dash = name.find('-');
    if (dash == std::string::npos || dash == 0 || dash + 1 == name.size())
        throw InputError("an eval task is SOURCE-TARGET, e.g. normal-8gaussians (got " +
                         quote_for_message(name) + ")");
    const auto source = dataset_kind_from_name(name.substr(0, dash));
    const auto target = dataset_kind_from_name(name.substr(dash + 1));
    if (!source || !target)
        throw InputError("eval task " + quote_for_message(name) +
                         ": both sides must be built-in datasets: " + join_names(dataset_names()));
    return {name, Dataset(*source), Dataset(*target)};
}

const std::vector<std::string>& default_eval_tasks() {
    static const std::vector<std::string> tasks = {"normal-8gaussians", "moons-8gaussians",
                                                   "normal-moons", "normal-scurve"};
    return tasks;
}

const std::vector<std::string>& eval_method_names() {
    static const std::vector<std::string> names = {"icfm", "otcfm", "sbcfm", "reflow"};
    return names;
}

EvalMethod make_eval_method(const std::string& name) {
    const int i = name_index(eval_method_names(), name);
    if (i < 0)
        throw InputError("unknown eval method " + quote_for_message(name) +
                         "; valid: " + join_names(eval_method_names()));
    return static_cast<EvalMethod>(i);
}

std::string eval_method_label(EvalMethod method) {
    switch (method) {
        case EvalMethod::ICfm:
            return "I-CFM";
        case EvalMethod::OtCfm:
            return "OT-CFM";
        case EvalMethod::SbCfm:
            return "SB-CFM";
        case EvalMethod::Reflow:
            return "Reflow k=1";
    }
    return "";
}

void EvalSettings::validate() const {
    if (steps < 1 || steps > 10'000'000) throw InputError("--steps must be in 1..10000000");
    validate_batch_size(batch);
    MlpConfig m;
    m.width = width;
    m.depth = depth;
    m.validate();
    validate_learning_rate(lr);
    CouplingOptions c;
    c.sb_sigma = sb_sigma;
    c.validate();
    if (points < 2 || points > k_max_straightness_points)
        throw InputError("--points must be in 2.." + std::to_string(k_max_straightness_points));
    if (euler_steps < 1 || euler_steps > 10000)
        throw InputError("--euler-steps must be in 1..10000");
    if (reflow_pairs < 1 || reflow_pairs > k_max_reflow_pairs)
        throw InputError("--reflow-pairs must be in 1.." + std::to_string(k_max_reflow_pairs));
}

EvalRow run_eval_cell(Engine& engine, const EvalTask& task, EvalMethod method, uint64_t seed,
                      const EvalSettings& s) {
    s.validate();
    TrainSetup setup;
    setup.config.mlp.width = s.width;
    setup.config.mlp.depth = s.depth;
    setup.config.mlp.activation = Activation::SiLU;
    setup.config.batch = s.batch;
    setup.config.optimizer.lr = s.lr;
    setup.config.seed = seed;
    setup.config.coupling = method == EvalMethod::OtCfm   ? CouplingKind::MinibatchOT
                            : method == EvalMethod::SbCfm ? CouplingKind::SchrodingerBridge
                                                          : CouplingKind::Independent;
    setup.config.coupling_options.sb_sigma = s.sb_sigma;
    setup.source = task.source;
    setup.target = task.target;
    const ProbabilityPath& path = setup.config.path;

    EvalRow row;
    row.task = task.name;
    row.method = method;
    row.seed = seed;
    TrainResult trained = train_with_progress(engine, setup, s.steps, /*quiet=*/true);
    row.train_seconds = trained.seconds;
    if (method == EvalMethod::Reflow) {
        const auto start = std::chrono::steady_clock::now();
        const std::vector<float> parent = engine.params();
        const ReflowPairs pairs = generate_reflow_pairs(
            engine, path, task.source, s.reflow_pairs,
            IntegrationSettings{SolverKind::RK4, 16, k_default_tolerance}, seed + 7);
        row.train_seconds +=
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        TrainSetup next = setup;
        next.config.coupling = CouplingKind::Paired;
        next.source = Dataset::from_points(pairs.x0, "reflow x0");
        next.target = Dataset::from_points(pairs.x1, "reflow x1");
        row.train_seconds += train_with_progress(engine, next, s.steps, true, &parent).seconds;
    }

    // Held-out target points, shared by every measure of this seed.
    Rng held_rng(seed + 1000, 21);
    const Points held = task.target.sample(s.points, held_rng);
    const Points other = task.target.sample(s.points, held_rng);
    const Points samples = generate_samples(engine, path, task.source, s.points, SolverKind::Euler,
                                            s.euler_steps, seed + 5);
    row.w2 = wasserstein2(samples, held);
    row.w2_floor = wasserstein2(other, held);
    const FlowStraightness straight =
        measure_straightness(engine, path, task.source, task.target, s.points, seed + 9);
    row.npe = straight.npe;
    row.straightness = straight.straightness;
    row.nll =
        likelihood_available(task.source)
            ? density_fit(engine, path, task.source, task.target, held, LikelihoodSettings{}).nll
            : k_nan;
    return row;
}

std::vector<EvalSummary> summarize_eval(const std::vector<EvalRow>& rows) {
    std::vector<EvalSummary> out;
    std::vector<std::vector<const EvalRow*>> groups;
    for (const EvalRow& r : rows) {
        std::size_t g = 0;
        while (g < out.size() && !(out[g].task == r.task && out[g].method == r.method)) ++g;
        if (g == out.size()) {
            out.push_back({r.task, r.method});
            groups.emplace_back();
        }
        groups[g].push_back(&r);
    }
    for (std::size_t g = 0; g < out.size(); ++g) {
        EvalSummary& s = out[g];
        s.seeds = static_cast<int>(groups[g].size());
        for (int c = 0; c < 6; ++c) {
            auto value = [c](const EvalRow& r) {
                const double v[6] = {r.w2,  r.npe,           r.straightness,
                                     r.nll, r.train_seconds, r.w2_floor};
                return v[c];
            };
            double sum = 0;
            for (const EvalRow* r : groups[g]) sum += value(*r);
            s.mean[c] = sum / s.seeds;
            double ss = 0;
            for (const EvalRow* r : groups[g])
                ss += (value(*r) - s.mean[c]) * (value(*r) - s.mean[c]);
            s.stdev[c] = s.seeds > 1 ? std::sqrt(ss / (s.seeds - 1)) : 0.0;
        }
    }
    return out;
}

namespace {

std::string number_or_empty(double v, const char* format) {
    if (!std::isfinite(v)) return "";
    char buf[48];
    std::snprintf(buf, sizeof buf, format, v);
    return buf;
}

std::string mean_sd(double mean, double sd, int seeds, const char* format) {
    if (!std::isfinite(mean)) return "—";
    std::string s = number_or_empty(mean, format);
    if (seeds > 1) s += " ± " + number_or_empty(sd, format);
    return s;
}

}  // namespace

std::string eval_csv(const std::vector<EvalRow>& rows) {
    std::string s = "task,method,seed,w2,w2_floor,npe,straightness,nll,train_seconds\n";
    for (const EvalRow& r : rows) {
        s += r.task + "," + eval_method_names()[static_cast<std::size_t>(r.method)] + "," +
             std::to_string(r.seed) + "," + number_or_empty(r.w2, "%.6g") + "," +
             number_or_empty(r.w2_floor, "%.6g") + "," + number_or_empty(r.npe, "%.6g") + "," +
             number_or_empty(r.straightness, "%.6g") + "," + number_or_empty(r.nll, "%.6g") + "," +
             number_or_empty(r.train_seconds, "%.4g") + "\n";
    }
    return s;
}

std::string eval_markdown(const std::vector<EvalRow>& rows, const std::string& preamble) {
    std::string s = preamble;
    if (!s.empty() && s.back() != '\n') s += "\n";
    s += "\n| task | method | seeds | W2 ↓ | NPE ↓ | straightness ↓ | NLL ↓ | train s |\n"
         "|---|---|---|---|---|---|---|---|\n";
    std::string last_task;
    for (const EvalSummary& e : summarize_eval(rows)) {
        s += "| " + (e.task == last_task ? std::string() : e.task) + " | " +
             eval_method_label(e.method) + " | " + std::to_string(e.seeds) + " | " +
             mean_sd(e.mean[0], e.stdev[0], e.seeds, "%.3f") + " | " +
             mean_sd(e.mean[1], e.stdev[1], e.seeds, "%.3f") + " | " +
             mean_sd(e.mean[2], e.stdev[2], e.seeds, "%.3g") + " | " +
             mean_sd(e.mean[3], e.stdev[3], e.seeds, "%.3f") + " | " +
             mean_sd(e.mean[4], e.stdev[4], e.seeds, "%.1f") + " |\n";
        last_task = e.task;
    }
    // The sampling floor per task: what W2 a perfect model would get with this many points.
    s += "\nW2 floor (two independent target samples of the same size):";
    std::string seen;
    for (const EvalSummary& e : summarize_eval(rows)) {
        if (seen.find("|" + e.task + "|") != std::string::npos) continue;
        seen += "|" + e.task + "|";
        s += " " + e.task + " " + number_or_empty(e.mean[5], "%.3f") + ";";
    }
    if (s.back() == ';') s.back() = '.';
    s += "\n";
    return s;
}

}  // namespace fmp
