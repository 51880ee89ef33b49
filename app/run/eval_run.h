// The standard 2D benchmark of Tong et al. (TMLR 2024): tasks x methods x seeds, each trained
// and measured the same way (exact W2, NPE, straightness, NLL, training time).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/data/dataset.h"
#include "core/engine/engine.h"

namespace fmp {

// A task: source -> target, both analytic datasets ("normal-8gaussians", "moons-8gaussians",
// "normal-moons", "normal-scurve" are the paper's four).
struct EvalTask {
    std::string name;  // "normal-8gaussians"
    Dataset source, target;
};
// "A-B" with A and B dataset names; throws InputError for anything else.
EvalTask make_eval_task(const std::string& name);
const std::vector<std::string>& default_eval_tasks();

// The methods: I-CFM (independent), OT-CFM (exact minibatch OT), SB-CFM (entropic plan with
// epsilon = 2 sigma^2 and bridge noise), and reflow (I-CFM, then one rectified-flow generation
// trained on its pairs, warm-started, for as many steps again).
enum class EvalMethod { ICfm, OtCfm, SbCfm, Reflow };
const std::vector<std::string>& eval_method_names();   // "icfm", "otcfm", "sbcfm", "reflow"
EvalMethod make_eval_method(const std::string& name);  // throws InputError
std::string eval_method_label(EvalMethod method);      // "I-CFM", "OT-CFM", "SB-CFM", "Reflow k=1"

struct EvalSettings {
    int steps = 20000;  // training steps (reflow: this many for each generation)
    int batch = 256;
    int width = 64, depth = 3;  // SiLU MLP
    float lr = 1e-3f;
    float sb_sigma = 0.5f;
    int points = 1000;         // held-out target points for W2, NPE, straightness, NLL
    int euler_steps = 100;     // the samples W2 is measured on
    int reflow_pairs = 10000;  // rk4, 16 steps
    void validate() const;     // throws InputError
};

// One trained model's figures.
struct EvalRow {
    std::string task;
    EvalMethod method = EvalMethod::ICfm;
    uint64_t seed = 1;
    double w2 = 0;             // exact W2: Euler samples vs held-out target points
    double w2_floor = 0;       // two target samples of that size: the sampling floor
    double npe = 0;            // |PE - W2^2(p0, p1)| / W2^2 (path energy of 64 midpoint steps)
    double straightness = 0;   // int E|(X1 - X0) - dX/dt|^2 dt
    double nll = 0;            // held-out NLL in nats (NaN when the source has no known density)
    double train_seconds = 0;  // training (and, for reflow, pair generation) wall time
};

// Trains and measures one (task, method, seed) on `engine`.
EvalRow run_eval_cell(Engine& engine, const EvalTask& task, EvalMethod method, uint64_t seed,
                      const EvalSettings& settings);

// Mean and standard deviation (n - 1) over seeds, per (task, method) in first-seen order.
struct EvalSummary {
    std::string task;
    EvalMethod method;
    int seeds = 0;
    double mean[6] = {}, stdev[6] = {};  // w2, npe, straightness, nll, train_seconds, w2_floor
};
std::vector<EvalSummary> summarize_eval(const std::vector<EvalRow>& rows);

// eval.csv: one line per row; eval.md: the table (mean ± sd per column) under `preamble`.
std::string eval_csv(const std::vector<EvalRow>& rows);
std::string eval_markdown(const std::vector<EvalRow>& rows, const std::string& preamble);

}  // namespace fmp
