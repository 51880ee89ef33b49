// Headless training with progress reporting, sample generation and evaluation.
#include "app/run/training_run.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

#include "core/metrics/metrics.h"

namespace fmp {

namespace {

// "1e+30" -> "1e30", "0.1" stays: numbers as a user would type them in a flag.
std::string number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    std::string s = buf;
    auto e = s.find("e+");
    if (e != std::string::npos) s.erase(e + 1, 1);
    return s;
}

float max_abs_coordinate(const Dataset& d) {
    Rng rng(17, 5);
    Points x = d.sample(4096, rng);
    float m = 0.0f;
    for (Eigen::Index i = 0; i < x.size(); ++i) {
        float a = std::abs(x.data()[i]);
        m = std::isfinite(a) ? std::max(m, a) : INFINITY;
    }
    return m;
}

}  // namespace

DivergenceDiagnosis diagnose_divergence(const TrainConfig& config, const Dataset& source,
                                        const Dataset& target) {
    DivergenceDiagnosis d;
    d.source_extent = max_abs_coordinate(source) * config.path.source_scale();
    d.target_extent = max_abs_coordinate(target);
    const OptimizerConfig& o = config.optimizer;
    if (o.kind == OptimizerKind::AdamW && double(o.lr) * o.weight_decay >= 1.0)
        d.suspect = DivergenceSuspect::WeightDecay;
    else if (std::max(d.source_extent, d.target_extent) > 1000.0f)
        d.suspect = DivergenceSuspect::DataScale;
    else
        d.suspect = DivergenceSuspect::LearningRate;
    return d;
}

std::string divergence_message(const TrainHealth& h, const TrainConfig& config,
                               const DivergenceDiagnosis& d) {
    const OptimizerConfig& o = config.optimizer;
    std::string what = "training diverged at step " + std::to_string(h.step) + " (" +
                       divergence_cause_name(h.cause) + "): ";
    switch (d.suspect) {
        case DivergenceSuspect::WeightDecay:
            return what + "the weight decay " + number(o.weight_decay) + " is far too large for lr " +
                   number(o.lr) + " (AdamW multiplies the weights by 1 - lr*wd = " +
                   number(1.0 - double(o.lr) * o.weight_decay) +
                   " each step); use --weight-decay well below 1/lr = " + number(1.0 / o.lr) +
                   ", e.g. 0.01";
        case DivergenceSuspect::DataScale: {
            bool target = d.target_extent >= d.source_extent;
            return what + "the " + (target ? "target" : "source") + " data reaches |x| = " +
                   number(target ? d.target_extent : d.source_extent) +
                   " (in 4096 samples); rescale it to a few units";
        }
        case DivergenceSuspect::LearningRate:
            break;
    }
    return what + "the learning rate " + number(o.lr) + " is too high for this " +
           std::to_string(config.mlp.depth) + " x " + std::to_string(config.mlp.width) +
           " network; try --lr " + number(o.lr / 10.0);
}

void throw_if_diverged(Engine& engine, const TrainSetup& setup, bool wait) {
    TrainHealth h = engine.health(wait);
    if (!h.diverged) return;
    throw InputError(divergence_message(
        h, setup.config, diagnose_divergence(setup.config, setup.source, setup.target)));
}

TrainResult train_with_progress(Engine& engine, const TrainSetup& setup, int steps, bool quiet,
                                const std::vector<float>* initial_params) {
    using clock = std::chrono::steady_clock;
    engine.reset(setup.config, setup.source, setup.target);
    if (initial_params) engine.set_params(*initial_params);
    TrainResult r;
    const bool tty = isatty(STDERR_FILENO);
    bool open_line = false;  // a carriage-return progress line waits for its newline
    // Stops at the first divergence the engine reports, below a finished progress line.
    auto check = [&](bool wait) {
        if (!engine.health(wait).diverged) return;
        if (open_line) std::fprintf(stderr, "\n");
        throw_if_diverged(engine, setup);
    };
    auto start = clock::now();
    auto last_print = start;
    float last_loss = 0.0f;
    // Chunks keep the clock checks cheap; the GL engine also batches its dispatches per chunk.
    int chunk = std::clamp(steps / 200, 1, 50);
    int done = 0;
    while (done < steps) {
        int n = std::min(chunk, steps - done);
        engine.train(n);
        done += n;
        for (const LossRecord& l : engine.take_losses()) {
            r.losses.push_back(l);
            last_loss = l.loss;
        }
        check(false);
        auto now = clock::now();
        double since = std::chrono::duration<double>(now - last_print).count();
        if (!quiet && (since > 0.5 || done == steps)) {
            double elapsed = std::chrono::duration<double>(now - start).count();
            double rate = done / std::max(elapsed, 1e-9);
            double eta = (steps - done) / std::max(rate, 1e-9);
            std::fprintf(stderr, "%sstep %d/%d  loss %.4f  %.0f steps/s  ETA %.1fs%s",
                         tty ? "\r" : "", done, steps, last_loss, rate, eta, tty ? "   " : "\n");
            std::fflush(stderr);
            last_print = now;
            open_line = tty;
        }
    }
    // The GL engine reads losses back asynchronously: wait for the last steps' verdict, then
    // collect the stragglers.
    check(true);
    for (const LossRecord& l : engine.take_losses()) r.losses.push_back(l);
    if (!quiet && tty) std::fprintf(stderr, "\n");
    r.seconds = std::chrono::duration<double>(clock::now() - start).count();
    r.steps_per_second = steps / std::max(r.seconds, 1e-9);
    std::size_t tail = std::max<std::size_t>(1, r.losses.size() / 10);
    double sum = 0.0;
    for (std::size_t i = r.losses.size() - std::min(tail, r.losses.size()); i < r.losses.size(); ++i)
        sum += r.losses[i].loss;
    r.smoothed_loss = r.losses.empty() ? 0.0f : static_cast<float>(sum / std::min(tail, r.losses.size()));

    ModelFile& m = r.model;
    m.mlp = setup.config.mlp;
    m.path = setup.config.path;
    m.coupling = setup.config.coupling;
    m.coupling_options = setup.config.coupling_options;
    m.source = setup.source;
    m.target = setup.target;
    m.steps_trained = engine.step_count();
    m.loss = r.smoothed_loss;
    m.params = engine.params();
    return r;
}

namespace {

void check_samples_finite(const Points& x) {
    for (Eigen::Index i = 0; i < x.size(); ++i)
        if (!std::isfinite(x.data()[i]))
            throw InputError(
                "the flow's samples at t = 1 are not finite: the model's velocity field overflows "
                "(an unstable training run; train again with a lower learning rate)");
}

}  // namespace

Points generate_samples(Engine& engine, const ProbabilityPath& path, const Dataset& source, int n,
                        SolverKind solver, int steps, uint64_t seed, float tolerance,
                        IntegrationStats* stats) {
    Rng rng(seed, 3);
    engine.set_particles(initial_particles(path, source, n, rng));
    const IntegrationStats st =
        engine.integrate_particles(0.0f, 1.0f, IntegrationSettings{solver, steps, tolerance});
    if (stats) *stats = st;
    Points x;
    engine.read_particles(x);
    check_samples_finite(x);
    return x;
}

Points follow_paths(Engine& engine, const Points& x0, SolverKind solver, int steps,
                    const FrameFn& on_frame, float tolerance, IntegrationStats* stats) {
    engine.set_particles(x0);
    if (stats) *stats = IntegrationStats{};
    Points x = x0;
    on_frame(0, 0.0f, x);
    // Step k goes from k / steps to (k + 1) / steps: the same times a single call over [0, 1]
    // steps through, so the end points agree with generate_samples up to float rounding.
    for (int k = 0; k < steps; ++k) {
        const float t_a = static_cast<float>(k) / steps;
        const float t_b = k + 1 == steps ? 1.0f : static_cast<float>(k + 1) / steps;
        const IntegrationStats st =
            engine.integrate_particles(t_a, t_b, IntegrationSettings{solver, 1, tolerance});
        if (stats) {
            stats->evaluations += st.evaluations;
            stats->accepted += st.accepted;
            stats->rejected += st.rejected;
        }
        engine.read_particles(x);
        on_frame(k + 1, t_b, x);
    }
    check_samples_finite(x);
    return x;
}

SampleQuality evaluate_samples(const Points& samples, const Dataset& target, uint64_t seed) {
    const int n = static_cast<int>(samples.rows());
    Rng rng(seed, 11);
    Points held_out = target.sample(n, rng);
    Points second = target.sample(n, rng);
    SampleQuality q;
    q.w2 = wasserstein2(samples, held_out);
    q.w2_floor = wasserstein2(second, held_out);
    q.sliced_w2 = sliced_wasserstein2(samples, held_out, 256, seed);
    // The unbiased MMD^2 needs two points on each side: with one sample it is not defined.
    q.mmd2 = n >= 2 ? mmd2(samples, held_out) : std::numeric_limits<double>::quiet_NaN();
    return q;
}

}  // namespace fmp
