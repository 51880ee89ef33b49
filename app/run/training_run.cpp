// Headless training with progress reporting, sample generation and evaluation.
#include "app/run/training_run.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "core/metrics/metrics.h"

namespace fmp {

TrainResult train_with_progress(Engine& engine, const TrainSetup& setup, int steps, bool quiet) {
    using clock = std::chrono::steady_clock;
    engine.reset(setup.config, setup.source, setup.target);
    TrainResult r;
    const bool tty = isatty(STDERR_FILENO);
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
        }
    }
    // The GL engine reads losses back asynchronously: collect the stragglers.
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
    m.source = setup.source;
    m.target = setup.target;
    m.steps_trained = engine.step_count();
    m.loss = r.smoothed_loss;
    m.params = engine.params();
    return r;
}

Points generate_samples(Engine& engine, const ProbabilityPath& path, const Dataset& source, int n,
                        SolverKind solver, int steps, uint64_t seed) {
    Rng rng(seed, 3);
    engine.set_particles(initial_particles(path, source, n, rng));
    engine.integrate_particles(0.0f, 1.0f, solver, steps);
    Points x;
    engine.read_particles(x);
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
    q.mmd2 = mmd2(samples, held_out);
    return q;
}

}  // namespace fmp
