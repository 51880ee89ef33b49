// A headless training run with a progress line, and the evaluation that follows it.
#pragma once
#include <functional>
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
// A divergence (the engine's guard) stops it at once: InputError with divergence_message().
// With initial_params the run starts from those weights instead of fresh ones from the seed (a
// warm start: reflow trains generation k + 1 from generation k's weights).
TrainResult train_with_progress(Engine& engine, const TrainSetup& setup, int steps,
                                bool quiet = false,
                                const std::vector<float>* initial_params = nullptr);

// What most likely made a run diverge, judged from its settings: an AdamW weight decay with
// lr * wd >= 1 (each step multiplies the weights by 1 - lr * wd <= 0), data far larger than a few
// units (max |coordinate| of a sample above 1000), else the learning rate.
enum class DivergenceSuspect { LearningRate, WeightDecay, DataScale };
struct DivergenceDiagnosis {
    DivergenceSuspect suspect = DivergenceSuspect::LearningRate;
    float source_extent = 0.0f;  // max |coordinate| over a fixed sample of each set
    float target_extent = 0.0f;
};
DivergenceDiagnosis diagnose_divergence(const TrainConfig& config, const Dataset& source,
                                        const Dataset& target);
// One line for the CLI: the step, the cause, and what to change, as flags.
std::string divergence_message(const TrainHealth& health, const TrainConfig& config,
                               const DivergenceDiagnosis& diagnosis);
// Throws InputError(divergence_message(...)) if the engine's guard stopped training (for loops
// that call Engine::train themselves, such as an export's).
void throw_if_diverged(Engine& engine, const TrainSetup& setup, bool wait = false);

// n samples at t=1: source samples (times the path's source scale) integrated with the engine.
// Throws InputError if a sample is not finite (the learned field overflows). `tolerance` is
// dopri5's (there `steps` only sets the first step guess); stats (if given) receives the NFE.
Points generate_samples(Engine& engine, const ProbabilityPath& path, const Dataset& source, int n,
                        SolverKind solver, int steps, uint64_t seed,
                        float tolerance = k_default_tolerance, IntegrationStats* stats = nullptr);

// Integrates x0 from t = 0 to t = 1 in `steps` solver steps, one engine call per step, and hands
// every frame to on_frame (step k = 0..steps at t = k / steps, the particles in x0's order) before
// the next step is taken, so a caller can stream the paths or sum over them without keeping them.
// Returns the particles at t = 1. Throws InputError if they are not finite (as generate_samples).
// Dopri5 integrates each frame interval adaptively at `tolerance`; stats (if given) receives the
// NFE summed over the frames.
using FrameFn = std::function<void(int step, float t, const Points& x)>;
Points follow_paths(Engine& engine, const Points& x0, SolverKind solver, int steps,
                    const FrameFn& on_frame, float tolerance = k_default_tolerance,
                    IntegrationStats* stats = nullptr);

// Quality figures of generated samples against held-out target samples of the same size.
struct SampleQuality {
    double w2 = 0.0;         // exact W2 to held-out target samples
    double w2_floor = 0.0;   // W2 between two independent target samples: what a perfect model gets
    double sliced_w2 = 0.0;
    double mmd2 = 0.0;       // NaN for a single sample (not defined)
};
SampleQuality evaluate_samples(const Points& samples, const Dataset& target, uint64_t seed);

}  // namespace fmp
