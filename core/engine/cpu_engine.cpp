// The CPU engine: CFM training and particle integration with Eigen on both cores.
#include <algorithm>
#include <cmath>
#include <string>

#include "core/base/parallel.h"
#include "core/engine/batch_pipeline.h"
#include "core/engine/engine.h"
#include "core/flow/divergence_integration.h"
#include "core/flow/marginal_velocity.h"

namespace fmp {
namespace {

std::string cpu_description() {
    std::string isa = "SSE2";
#if defined(__AVX512F__)
    isa = "AVX-512";
#elif defined(__AVX2__)
    isa = "AVX2";
#elif defined(__AVX__)
    isa = "AVX";
#endif
    return "CPU (" + std::to_string(thread_count()) + " threads, " + isa + ")";
}

class CpuEngine final : public Engine {
public:
    EngineKind kind() const override { return EngineKind::Cpu; }
    std::string description() const override { return cpu_description(); }

    void reset(const TrainConfig& config, const Dataset& source, const Dataset& target) override {
        config.validate();
        m_config = config;
        m_mlp = Mlp(config.mlp, config.seed);
        m_optimizer = AdamOptimizer(config.optimizer, m_mlp.params().size());
        m_pipeline.reset(config, source, target, config.seed, 1);
        m_guidance = ClassGuidance{};
        m_particle_classes.clear();
        m_step = 0;
        m_losses.clear();
        // Steps append here until take_losses(); room for a GUI slice keeps steps allocation-free.
        m_losses.reserve(8192);
        m_loss_by_time.fill(std::nanf(""));
        keep_datasets(source, target);
        m_health = TrainHealth{};
        for (Snapshot& snap : m_snapshots) {
            snap.params.assign(m_mlp.params().size(), 0.0f);
            snap.m.assign(m_mlp.params().size(), 0.0f);
            snap.v.assign(m_mlp.params().size(), 0.0f);
            snap.step = -1;
        }
        m_next_slot = 0;
        take_snapshot(true);
    }

    void set_datasets(const Dataset& source, const Dataset& target) override {
        check_paired(m_config, source, target);
        m_pipeline.set_data(source, target);
        keep_datasets(source, target);
    }

    // The sets the fields and couplings read (the pipeline keeps its own for the batches).
    void keep_datasets(const Dataset& source, const Dataset& target) {
        m_source = source;
        m_target = target;
        m_marginal_points = marginal_reference_points(target);
    }

    void set_learning_rate(float lr) override {
        validate_learning_rate(lr);
        m_config.optimizer.lr = lr;
        m_optimizer.set_learning_rate(lr);
    }

    void set_batch_size(int batch) override {
        validate_batch_size(batch);
        m_config.batch = batch;
        m_pipeline.set_config(m_config);
    }

    void set_coupling(CouplingKind kind, const CouplingOptions& options) override {
        m_config = with_coupling(m_config, kind, options, m_source, m_target);
        m_pipeline.set_coupling(kind, options);
    }

    const TrainConfig& config() const override { return m_config; }

    void set_guidance(const ClassGuidance& guidance) override {
        guidance.validate(m_config.mlp);
        m_guidance = guidance;
    }
    ClassGuidance guidance() const override { return m_guidance; }
    void set_particle_classes(const std::vector<int>& cycle) override {
        validate_particle_classes(cycle, m_config.mlp);
        m_particle_classes = cycle;
    }
    // What moves the particles: guidance()'s field, or each particle its class's in turn.
    VelocityFn particle_field() const {
        const Mlp& mlp = m_mlp;
        const ClassGuidance g = m_guidance;
        if (m_particle_classes.empty())
            return [&mlp, g](const Points& x, float t, Points& out) { mlp.evaluate(x, t, out, g); };
        const std::vector<int> cycle = m_particle_classes;
        return [&mlp, cycle, g](const Points& x, float t, Points& out) {
            mlp.evaluate_class_cycle(x, t, out, cycle, g.scale);
        };
    }

    void train(int steps) override {
        if (m_health.diverged || steps < 1) return;
        take_snapshot(false);
        // Plan couplings are solved ahead on the pipeline's threads while this one trains.
        for (int s = 0; s < steps && !m_health.diverged; ++s) step_on(m_pipeline.next());
    }

    // A diverged engine takes no step and returns NaN.
    float train_on_batch(const Batch& batch) override {
        if (m_health.diverged) return std::nanf("");
        take_snapshot(false);
        return step_on(batch);
    }

    float gradients(const Batch& batch, std::vector<float>& dL_dparams, Points* dL_dx) override {
        float loss = forward_loss(batch);
        m_mlp.backward(m_ctx, m_dL_dv, dL_dparams, dL_dx);
        return loss;
    }

    int64_t step_count() const override { return m_step; }

    // A copy, so m_losses keeps its capacity and the steps stay allocation-free.
    std::vector<LossRecord> take_losses() override {
        std::vector<LossRecord> out(m_losses.begin(), m_losses.end());
        m_losses.clear();
        return out;
    }

    LossByTime loss_by_time() const override { return m_loss_by_time; }

    TrainHealth health(bool) override { return m_health; }
    void acknowledge_divergence() override { m_health.diverged = false; }

    TrainingState training_state() override {
        TrainingState s;
        s.params = m_mlp.params();
        s.adam_m = m_optimizer.first_moment();
        s.adam_v = m_optimizer.second_moment();
        s.step = m_step;
        s.batch_rng = m_pipeline.rng_state();
        return s;
    }

    void set_training_state(const TrainingState& state) override {
        validate_training_state(state, m_mlp.params().size());
        m_mlp.set_params(state.params);
        m_optimizer.restore(state.adam_m, state.adam_v, state.step);
        m_step = state.step;
        m_pipeline.set_rng_state(state.batch_rng);
        m_losses.clear();
        m_health.diverged = false;
        for (Snapshot& snap : m_snapshots) snap.step = -1;
        take_snapshot(true);
    }

    std::vector<float> params() const override { return m_mlp.params(); }
    void set_params(const std::vector<float>& params) override {
        for (float p : params)
            if (!std::isfinite(p)) throw InputError("parameter vector has a non-finite entry");
        m_mlp.set_params(params);
        // The old snapshots hold other weights: a rollback must never bring them back.
        for (Snapshot& snap : m_snapshots) snap.step = -1;
        take_snapshot(true);
    }

    void set_particles(const Points& x) override { m_particles = x; }
    int particle_count() const override { return static_cast<int>(m_particles.rows()); }

    using Engine::integrate_particles;
    IntegrationStats integrate_particles(float t_a, float t_b,
                                         const IntegrationSettings& settings) override {
        return fmp::integrate_particles(particle_field(), settings, m_particles, t_a, t_b);
    }

    IntegrationStats integrate_particles_sde(float t_a, float t_b, const SdeSettings& settings, uint64_t seed,
                                             uint32_t first_step) override {
        IntegrationStats stats;
        stats.evaluations = integrate_sde_counter(particle_field(), m_config.path, settings, m_particles, t_a,
                                                  t_b, seed, first_step);
        stats.accepted = settings.steps;
        return stats;
    }

    void read_particles(Points& x) const override { x = m_particles; }

    void eval_velocity(const Points& x, float t, Points& v) override { m_mlp.evaluate(x, t, v, m_guidance); }

    void eval_velocity_divergence(const Points& x, float t, Points& v, VectorF& div) override {
        m_mlp.evaluate_divergence(x, t, v, div, m_guidance);
    }

    void integrate_with_divergence(Points& x, VectorF& div_integral, float t_a, float t_b,
                                   SolverKind solver, int steps) override {
        const Mlp& mlp = m_mlp;
        const ClassGuidance g = m_guidance;
        VelocityDivergenceFn f = [&mlp, g](const Points& p, float t, Points& v, VectorF& div) {
            mlp.evaluate_divergence(p, t, v, div, g);
        };
        fmp::integrate_with_divergence(f, solver, x, div_integral, t_a, t_b, steps);
    }

    void eval_marginal(const Points& x, float t, Points& v) override {
        marginal_velocity(m_config.path, m_marginal_points, t, x, v);
    }

    void eval_marginal_field(const ProbabilityPath& path, const Points& references, float t, const Points& x,
                             Points& v, VectorF& log_p) override {
        marginal_velocity(path, references, t, x, v);
        marginal_log_density(path, references, t, x, log_p);
    }

private:
    // Forward pass and CFM loss of a batch; leaves activations in m_ctx and dL/dv in m_dL_dv.
    float forward_loss(const Batch& batch) {
        m_config.path.sample_xt_and_target(batch.x0, batch.x1, batch.t, m_xt, m_ut);
        if (m_config.coupling == CouplingKind::SchrodingerBridge && batch.noise.rows() == batch.t.size())
            add_bridge_noise(m_config.coupling_options.sb_sigma, batch.t, batch.noise, m_xt, m_ut);
        const bool labelled = !batch.classes.empty() &&
                              static_cast<Eigen::Index>(batch.classes.size()) == batch.t.size();
        m_mlp.forward(m_xt, batch.t, m_v, &m_ctx, labelled ? batch.classes.data() : nullptr);
        // The regression target of what the network predicts: u_t, x1 or x0.
        m_target_of_batch = &prediction_target(m_config.mlp.prediction, batch.x0, batch.x1, m_ut);
        return cfm_loss(m_v, *m_target_of_batch, &m_dL_dv);
    }

    // A non-finite loss skips the update (the GL engine does the same on the GPU); an update
    // that leaves a parameter non-finite is undone by the rollback.
    float step_on(const Batch& batch) {
        float loss = forward_loss(batch);
        if (!std::isfinite(loss)) {
            diverge(m_step + 1, DivergenceCause::LossNotFinite, loss);
            return loss;
        }
        m_mlp.backward(m_ctx, m_dL_dv, m_grads);
        const bool finite = m_optimizer.step(m_mlp.params(), m_grads);
        ++m_step;
        if (!finite) {
            diverge(m_step, DivergenceCause::ParamsNotFinite, loss);
            return loss;
        }
        m_losses.push_back({m_step, loss});
        if (m_losses.size() > 100000) m_losses.erase(m_losses.begin(), m_losses.begin() + 50000);
        record_loss_by_time(batch.t);
        if (m_step % k_snapshot_interval == 0) take_snapshot(false);
        return loss;
    }

    // Copies the weights and the moments into the older slot, unless the newer one already holds
    // this step. Copies into storage sized at reset: no allocation.
    void take_snapshot(bool force) {
        const Snapshot& newest = m_snapshots[1 - m_next_slot];
        if (!force && newest.step == m_step) return;
        Snapshot& snap = m_snapshots[m_next_slot];
        if (snap.params.size() != m_mlp.params().size()) return;  // before reset()
        std::copy(m_mlp.params().begin(), m_mlp.params().end(), snap.params.begin());
        std::copy(m_optimizer.first_moment().begin(), m_optimizer.first_moment().end(),
                  snap.m.begin());
        std::copy(m_optimizer.second_moment().begin(), m_optimizer.second_moment().end(),
                  snap.v.begin());
        snap.step = m_step;
        m_next_slot = 1 - m_next_slot;
    }

    // Rolls back to the last good snapshot and stops training until acknowledge_divergence().
    void diverge(int64_t bad_step, DivergenceCause cause, float loss) {
        const int64_t steps[2] = {m_snapshots[0].step, m_snapshots[1].step};
        const int slot = rollback_slot(steps, bad_step);
        const Snapshot& snap = m_snapshots[slot];
        std::copy(snap.params.begin(), snap.params.end(), m_mlp.params().begin());
        m_optimizer.restore(snap.m, snap.v, snap.step);
        m_step = snap.step;
        // The other slot may hold a state past the restored one; the next snapshot goes there.
        if (m_snapshots[1 - slot].step > m_step) m_snapshots[1 - slot].step = -1;
        m_next_slot = 1 - slot;
        while (!m_losses.empty() && m_losses.back().step > m_step) m_losses.pop_back();
        record_divergence(m_health, cause, bad_step, m_step, loss);
    }

    // dL/dv = 2 (v - u) / B, so the per-sample squared error is |dL/dv|^2 (B/2)^2.
    void record_loss_by_time(const VectorF& t) {
        std::array<double, k_loss_time_bins> sum{};
        std::array<int, k_loss_time_bins> count{};
        const int b = static_cast<int>(t.size());
        const Points& u = *m_target_of_batch;
        for (int i = 0; i < b; ++i) {
            int bin = std::clamp(static_cast<int>(t[i] * k_loss_time_bins), 0, k_loss_time_bins - 1);
            float ex = m_v(i, 0) - u(i, 0), ey = m_v(i, 1) - u(i, 1);
            sum[bin] += ex * ex + ey * ey;
            ++count[bin];
        }
        for (int k = 0; k < k_loss_time_bins; ++k) {
            if (!count[k]) continue;
            float mean = static_cast<float>(sum[k] / count[k]);
            float& slot = m_loss_by_time[k];
            // An exponential moving average over roughly the last 200 samples of the bin.
            float w = std::min(1.0f, count[k] / 200.0f);
            slot = std::isnan(slot) ? mean : (1.0f - w) * slot + w * mean;
        }
    }

    TrainConfig m_config;
    Dataset m_source, m_target;
    Points m_marginal_points;
    Mlp m_mlp;
    AdamOptimizer m_optimizer;
    BatchPipeline m_pipeline;  // the batches' stream: (seed, 1), plan couplings solved ahead
    ClassGuidance m_guidance;
    std::vector<int> m_particle_classes;  // set_particle_classes (empty: guidance() for all)
    int64_t m_step = 0;
    std::vector<LossRecord> m_losses;
    LossByTime m_loss_by_time{};

    struct Snapshot {
        std::vector<float> params, m, v;
        int64_t step = -1;  // -1: empty
    };
    Snapshot m_snapshots[2];
    int m_next_slot = 0;  // the slot the next snapshot overwrites (the older one)
    TrainHealth m_health;

    Points m_xt, m_ut, m_v, m_dL_dv;
    const Points* m_target_of_batch = &m_ut;  // the last forward_loss's regression target
    MlpContext m_ctx;
    std::vector<float> m_grads;
    Points m_particles;
};

}  // namespace

std::unique_ptr<Engine> make_cpu_engine() { return std::make_unique<CpuEngine>(); }

}  // namespace fmp
