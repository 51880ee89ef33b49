// `fmplay likelihood`: the model's log density log p_1 of given points, for held-out evaluation.
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "app/cli/commands.h"
#include "app/run/engine_choice.h"
#include "core/base/file_io.h"
#include "core/data/point_io.h"
#include "core/instruments/likelihood.h"
#include "core/nn/model_file.h"

namespace fmp {
namespace {

struct LikelihoodCommandOptions {
    std::string model;
    std::string points;
    std::string out;
    int steps = 32;
    std::string solver = "rk4";
    std::string engine = "auto";
};

// "x,y,log_p" then one row per point in the input's order; log_p in nats, "-inf" where the
// point's path starts outside the support of a bounded source (uniform, checkerboard).
std::string likelihood_csv(const Points& x, const VectorF& log_p) {
    std::string s = "x,y,log_p\n";
    s.reserve(s.size() + static_cast<std::size_t>(x.rows()) * 40);
    char line[96];
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
        const int len =
            std::snprintf(line, sizeof line, "%.9g,%.9g,%.9g\n", x(i, 0), x(i, 1), log_p[i]);
        s.append(line, static_cast<std::size_t>(len));
    }
    return s;
}

// The mean in double; -inf as soon as one term is (a point outside a bounded support).
double mean(const VectorF& v) {
    return v.cast<double>().mean();
}

void refuse_input_as_output(const LikelihoodCommandOptions& o) {
    for (const auto& [flag, in] :
         {std::pair{"--model", &o.model}, std::pair{"--points", &o.points}})
        if (same_file(o.out, *in))
            throw InputError("--out " + quote_for_message(o.out, 200) + " is the " + flag +
                             " input; write the log densities to another file");
}

int run_likelihood(const LikelihoodCommandOptions& o) {
    if (o.out.empty()) throw InputError("--out must name a file");
    refuse_input_as_output(o);
    LikelihoodSettings settings;
    settings.solver = make_solver(o.solver);
    settings.steps = o.steps;
    settings.validate();
    ModelFile m = load_model(o.model);
    const Points x = load_points_csv(o.points);
    EngineHandle h = make_headless_engine(o.engine);
    TrainConfig config;
    config.mlp = m.mlp;
    config.path = m.path;
    h.engine->reset(config, m.source, m.target);
    h.engine->set_params(m.params);
    VectorF log_p;
    // Throws the one-line InputError when the model's source has no known density.
    log_likelihood(*h.engine, m.path, m.source, x, settings, log_p);
    // -inf is an answer (a path that starts outside a bounded source's support); NaN or +inf is
    // an overflow.
    for (Eigen::Index i = 0; i < log_p.size(); ++i)
        if (std::isnan(log_p[i]) || log_p[i] == INFINITY)
            throw InputError("the log density of point " + std::to_string(i + 1) +
                             " is not finite: the model's velocity field overflows along its "
                             "path (an unstable training run)");
    write_file_atomic(o.out, likelihood_csv(x, log_p));

    std::printf("log p of %lld points (%s, %d steps, %s): mean %.4f nats",
                static_cast<long long>(x.rows()), solver_name(settings.solver).c_str(),
                settings.steps, h.engine->description().c_str(), mean(log_p));
    if (m.target.has_density()) {
        // KL(p_target || p_model) = E_target[log p_target - log p_model]: an estimate only when
        // the points are samples of the target.
        VectorF truth;
        m.target.log_density(x, truth);
        std::printf(
            "; target %s: mean true log p %.4f, KL estimate %.4f nats (if the points are "
            "target samples)",
            one_line_message(m.target.name(), 100).c_str(), mean(truth), mean(truth) - mean(log_p));
    }
    std::printf("\nwrote %s\n", one_line_message(o.out, 400).c_str());
    return 0;
}

}  // namespace

Command add_likelihood_command(CLI::App& app) {
    auto o = std::make_shared<LikelihoodCommandOptions>();
    CLI::App* sub = app.add_subcommand(
        "likelihood",
        "Write the model's log density log p_1(x) of each point (nats), by the instantaneous "
        "change of variables: each point is carried from t=1 back to t=0 with the exact "
        "divergence of the velocity integrated beside it, log p_1(x) = log p_0(x_0) - "
        "int_0^1 div v dt. Needs a model whose source has a known density (normal, uniform, "
        "8gaussians, checkerboard).");
    sub->add_option("--model", o->model, "model file written by `fmplay train`")->required();
    sub->add_option("--points", o->points, "CSV of points (x,y per line, optional header)")
        ->required();
    sub->add_option("--out", o->out,
                    "output CSV: header x,y,log_p, then one row per point in the input's order "
                    "(log_p in nats; -inf outside a bounded source's support)")
        ->required();
    sub->add_option("--steps", o->steps, "ODE steps from t=1 back to t=0 (1..4096)")
        ->capture_default_str();
    // The divergence is integrated beside the points with a fixed-step solver only.
    std::vector<std::string> fixed_step;
    for (const std::string& name : solver_names())
        if (!solver_is_adaptive(make_solver(name))) fixed_step.push_back(name);
    sub->add_option("--solver", o->solver, "ODE solver: " + join_names(fixed_step))
        ->capture_default_str();
    sub->add_option("--engine", o->engine, "engine: auto, cpu, gl")->capture_default_str();
    return {sub, [o] { return run_likelihood(*o); }};
}

}  // namespace fmp
