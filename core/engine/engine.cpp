// Engine-independent pieces: config validation, names, particle initialisation.
#include "core/engine/engine.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace fmp {

void validate_batch_size(int batch) {
    if (batch < 1 || batch > 65536)
        throw InputError("batch size " + std::to_string(batch) + " is out of range: use 1..65536");
}

void validate_learning_rate(float lr) {
    if (!(lr > 0.0f) || !std::isfinite(lr) || lr > 1.0f)
        throw InputError("learning rate must be a number in (0, 1]");
}

void TrainConfig::validate() const {
    mlp.validate();
    validate_batch_size(batch);
    validate_learning_rate(optimizer.lr);
    coupling_options.validate();
    if (!(p_uncond >= 0.0f && p_uncond <= 1.0f))
        throw InputError("the class dropout p_uncond must be in 0..1");
    if (mlp.prediction != Prediction::Velocity) {
        // The bridge noise is not part of x_t = alpha x1 + sigma x0, so the conversions to the
        // velocity would not hold.
        if (coupling == CouplingKind::SchrodingerBridge)
            throw InputError("the Schroedinger-bridge coupling trains velocity prediction only (its "
                             "bridge noise breaks the " + prediction_name(mlp.prediction) +
                             " -> velocity conversion)");
        if (mlp.path != path)
            throw std::logic_error("TrainConfig: mlp.path must be the training path (" + path.name() +
                                   ") for " + prediction_name(mlp.prediction) + " prediction");
    }
    if (!(optimizer.weight_decay >= 0.0f) || !std::isfinite(optimizer.weight_decay))
        throw InputError("weight decay must be a finite number >= 0");
}

void check_paired(const TrainConfig& config, const Dataset& source, const Dataset& target) {
    if (config.coupling != CouplingKind::Paired) return;
    if (source.kind() != DatasetKind::PointSet || target.kind() != DatasetKind::PointSet ||
        source.points().rows() != target.points().rows() || source.points().rows() == 0)
        throw InputError("the paired coupling needs a source and a target point set of equal size "
                         "(row i of each is a pair)");
}

TrainConfig with_coupling(const TrainConfig& config, CouplingKind kind, const CouplingOptions& options,
                          const Dataset& source, const Dataset& target) {
    TrainConfig next = config;
    next.coupling = kind;
    next.coupling_options = options;
    next.validate();
    check_paired(next, source, target);
    return next;
}

std::string engine_kind_name(EngineKind kind) { return kind == EngineKind::Cpu ? "cpu" : "gl"; }

std::string divergence_cause_name(DivergenceCause cause) {
    switch (cause) {
        case DivergenceCause::LossNotFinite:
            return "loss not finite";
        case DivergenceCause::ParamsNotFinite:
            return "parameters not finite";
        case DivergenceCause::None:
            break;
    }
    return "";
}

int rollback_slot(const int64_t slot_steps[2], int64_t bad_step) {
    const int64_t limit = bad_step - 1;
    int best = -1, oldest = -1;
    for (int i = 0; i < 2; ++i) {
        if (slot_steps[i] < 0) continue;
        if (slot_steps[i] < limit && (best < 0 || slot_steps[i] > slot_steps[best])) best = i;
        if (oldest < 0 || slot_steps[i] < slot_steps[oldest]) oldest = i;
    }
    return best >= 0 ? best : std::max(oldest, 0);
}

void record_divergence(TrainHealth& health, DivergenceCause cause, int64_t bad_step,
                       int64_t restored_step, float loss) {
    health.diverged = true;
    health.cause = cause;
    health.step = bad_step;
    health.restored_step = restored_step;
    health.loss = loss;
    health.divergences++;
}

Points initial_particles(const ProbabilityPath& path, const Dataset& source, int n, Rng& rng) {
    Points x = source.sample(n, rng);
    float scale = path.source_scale();
    if (scale != 1.0f) x *= scale;
    return x;
}

Points marginal_reference_points(const Dataset& target, int max_points, uint64_t seed) {
    Rng rng(seed, 99);
    if (target.kind() == DatasetKind::PointSet) {
        const Points& p = target.points();
        if (p.rows() <= max_points) return p;
        // A deterministic subsample without replacement (partial Fisher-Yates over indices).
        std::vector<int> idx(p.rows());
        for (int i = 0; i < p.rows(); ++i) idx[i] = i;
        Points out(max_points, 2);
        for (int i = 0; i < max_points; ++i) {
            int j = i + static_cast<int>(rng.below(static_cast<uint32_t>(p.rows() - i)));
            std::swap(idx[i], idx[j]);
            out.row(i) = p.row(idx[i]);
        }
        return out;
    }
    return target.sample(max_points, rng);
}

void validate_particle_classes(const std::vector<int>& cycle, const MlpConfig& mlp) {
    if (cycle.empty()) return;
    if (mlp.classes <= 0) throw InputError("this network has no classes for its particles to follow");
    if (static_cast<int>(cycle.size()) > k_max_classes)
        throw InputError("the particles' class cycle has " + std::to_string(cycle.size()) + " entries (at most " +
                         std::to_string(k_max_classes) + ")");
    for (int cls : cycle) {
        if (cls < 0) throw InputError("the particles' class cycle holds " + std::to_string(cls) + ": classes only");
        ClassGuidance{cls, 1.0f}.validate(mlp);
    }
}

void validate_training_state(const TrainingState& state, std::size_t parameter_count) {
    auto check = [&](const std::vector<float>& v, const char* what, bool non_negative) {
        if (v.size() != parameter_count)
            throw InputError(std::string("training state: ") + what + " has " + std::to_string(v.size()) +
                             " entries; the network needs " + std::to_string(parameter_count));
        for (float x : v)
            if (!std::isfinite(x) || (non_negative && x < 0.0f))
                throw InputError(std::string("training state: ") + what +
                                 (non_negative ? " has a negative or non-finite entry" : " has a non-finite entry"));
    };
    check(state.params, "the weights", false);
    check(state.adam_m, "Adam's first moment", false);
    check(state.adam_v, "Adam's second moment", true);
    if (state.step < 0) throw InputError("training state: the step must be >= 0");
}

}  // namespace fmp
