// `fmplay eval`: the 2D benchmark table of Tong et al. (tasks x methods x seeds) as CSV and
// Markdown.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "app/cli/commands.h"
#include "app/run/engine_choice.h"
#include "app/run/eval_run.h"
#include "core/base/file_io.h"

namespace fmp {
namespace {

struct EvalCommandOptions {
    std::string tasks;    // comma-separated; empty: the paper's four
    std::string methods;  // comma-separated; empty: all four
    int seeds = 3;
    uint64_t first_seed = 1;
    EvalSettings settings;
    std::string out = "eval";
    std::string engine = "cpu";
    bool quiet = false;
};

std::vector<std::string> split_commas(const std::string& s,
                                      const std::vector<std::string>& fallback) {
    if (s.empty()) return fallback;
    std::vector<std::string> out;
    std::stringstream in(s);
    std::string item;
    while (std::getline(in, item, ','))
        if (!item.empty()) out.push_back(item);
    if (out.empty()) throw InputError("an empty list: name at least one");
    return out;
}

int run_eval(const EvalCommandOptions& o) {
    o.settings.validate();
    if (o.seeds < 1 || o.seeds > 100) throw InputError("--seeds must be in 1..100");
    std::vector<EvalTask> tasks;
    for (const std::string& t : split_commas(o.tasks, default_eval_tasks()))
        tasks.push_back(make_eval_task(t));
    std::vector<EvalMethod> methods;
    for (const std::string& m : split_commas(o.methods, eval_method_names()))
        methods.push_back(make_eval_method(m));
    if (o.out.empty()) throw InputError("--out must name a directory");
    std::error_code ec;
    std::filesystem::create_directories(o.out, ec);
    if (ec || !std::filesystem::is_directory(o.out))
        throw InputError("--out " + quote_for_message(o.out) +
                         " is not a directory that can be made");
    EngineHandle h = make_headless_engine(o.engine);
    const EvalSettings& s = o.settings;
    const int cells = static_cast<int>(tasks.size() * methods.size()) * o.seeds;
    std::vector<EvalRow> rows;
    int done = 0;
    for (const EvalTask& task : tasks)
        for (EvalMethod method : methods)
            for (int k = 0; k < o.seeds; ++k) {
                const uint64_t seed = o.first_seed + static_cast<uint64_t>(k);
                if (!o.quiet)
                    std::fprintf(stderr, "[%d/%d] %s, %s, seed %llu ...", done + 1, cells,
                                 task.name.c_str(), eval_method_label(method).c_str(),
                                 static_cast<unsigned long long>(seed));
                rows.push_back(run_eval_cell(*h.engine, task, method, seed, s));
                ++done;
                if (!o.quiet)
                    std::fprintf(stderr, " W2 %.3f, NPE %.3f, S %.3f, %.1f s\n", rows.back().w2,
                                 rows.back().npe, rows.back().straightness,
                                 rows.back().train_seconds);
            }
    char date[32];
    const std::time_t now = std::time(nullptr);
    std::strftime(date, sizeof date, "%Y-%m-%d", std::gmtime(&now));
    char preamble[1024];
    std::snprintf(
        preamble, sizeof preamble,
        "# fmplay eval (%s, %s)\n\n"
        "Protocol after Tong et al., \"Improving and generalizing flow-based generative models "
        "with minibatch optimal transport\" (TMLR 2024), 2D experiments: %d training steps per "
        "model (reflow: %d more on %d pairs made by rk4 with 16 steps, warm-started), batch %d, "
        "%d x %d SiLU MLP, Adam lr %g, SB-CFM sigma %g; W2 is the exact 2-Wasserstein distance "
        "between %d Euler samples (%d steps) and %d held-out target points; NPE and straightness "
        "from 64 midpoint steps; NLL (nats) of the held-out points by the exact divergence (32 "
        "RK4 steps), only where the source density is known. Mean ± sd over %d seed(s) "
        "(from %llu). Dataset definitions: docs/EVAL.md.\n",
        date, h.engine->description().c_str(), s.steps, s.steps, s.reflow_pairs, s.batch, s.depth,
        s.width, double(s.lr), double(s.sb_sigma), s.points, s.euler_steps, s.points, o.seeds,
        static_cast<unsigned long long>(o.first_seed));
    const std::string dir = o.out;
    write_file_atomic(dir + "/eval.csv", eval_csv(rows));
    write_file_atomic(dir + "/eval.md", eval_markdown(rows, preamble));
    std::printf("%s", eval_markdown(rows, "").c_str());
    std::printf("wrote %s/eval.csv and %s/eval.md\n", one_line_message(dir, 400).c_str(),
                one_line_message(dir, 400).c_str());
    return 0;
}

}  // namespace

Command add_eval_command(CLI::App& app) {
    auto o = std::make_shared<EvalCommandOptions>();
    CLI::App* sub = app.add_subcommand(
        "eval",
        "Reproduce the 2D benchmark table of Tong et al. (TMLR 2024): train every method on every "
        "task for several seeds and write eval.csv and eval.md (W2, NPE, straightness, NLL, time) "
        "to --out. docs/EVAL.md defines the datasets.");
    sub->add_option("--tasks", o->tasks,
                    "comma-separated SOURCE-TARGET pairs of built-in datasets (default: "
                    "normal-8gaussians,moons-8gaussians,normal-moons,normal-scurve)");
    sub->add_option("--methods", o->methods,
                    "comma-separated: icfm, otcfm, sbcfm, reflow (default: all)");
    sub->add_option("--seeds", o->seeds, "seeds per cell (1..100)")->capture_default_str();
    sub->add_option("--first-seed", o->first_seed, "the first seed")->capture_default_str();
    sub->add_option("--steps", o->settings.steps, "training steps per model")
        ->capture_default_str();
    sub->add_option("--batch", o->settings.batch, "batch size")->capture_default_str();
    sub->add_option("--width", o->settings.width, "hidden units per layer")->capture_default_str();
    sub->add_option("--depth", o->settings.depth, "hidden layers")->capture_default_str();
    sub->add_option("--lr", o->settings.lr, "Adam learning rate")->capture_default_str();
    sub->add_option("--sb-sigma", o->settings.sb_sigma, "SB-CFM's bridge noise sigma")
        ->capture_default_str();
    sub->add_option("--points", o->settings.points, "held-out points for every measure")
        ->capture_default_str();
    sub->add_option("--euler-steps", o->settings.euler_steps, "Euler steps of the W2 samples")
        ->capture_default_str();
    sub->add_option("--reflow-pairs", o->settings.reflow_pairs,
                    "pairs the reflow generation trains on")
        ->capture_default_str();
    sub->add_option("--out", o->out, "output directory")->capture_default_str();
    sub->add_option("--engine", o->engine, "engine: auto, cpu, gl")->capture_default_str();
    sub->add_flag("--quiet", o->quiet, "no progress lines");
    return {sub, [o] { return run_eval(*o); }};
}

}  // namespace fmp
