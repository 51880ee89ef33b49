// A headless training run with a progress line, and the evaluation that follows it.
#pragma once
#include <string>
#include <vector>

#include "app/run/train_options.h"
#include "core/engine/engine.h"
#include "core/nn/model_file.h"

namespace fmp {

struct TrainResult {
    ModelFile model;
    std::vector<LossRecord> losses;
    double seconds = 0.0;
    double steps_per_second = 0.0;
    float smoothed_loss = 0.0f;  // mean of the last 10% of steps
};

// Resets the engine to the setup and trains `steps` steps, printing "step, loss, steps/s, ETA"
// to stderr about twice a second (a carriage-return line on a terminal, plain lines otherwise).
TrainResult train_with_progress(Engine& engine, const TrainSetup& setup, int steps, bool quiet = false);

// n samples at t=1: source samples (times the path's source scale) integrated with the engine.
Points generate_samples(Engine& engine, const ProbabilityPath& path, const Dataset& source, int n,
                        SolverKind solver, int steps, uint64_t seed);

// Quality figures of generated samples against held-out target samples of the same size.
struct SampleQuality {
    double w2 = 0.0;         // exact W2 to held-out target samples
    double w2_floor = 0.0;   // W2 between two independent target samples: what a perfect model gets
    double sliced_w2 = 0.0;
    double mmd2 = 0.0;
};
SampleQuality evaluate_samples(const Points& samples, const Dataset& target, uint64_t seed);

}  // namespace fmp
