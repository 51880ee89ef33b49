// The GUI's training driver: commands in, parameter snapshots and losses out, never blocking the
// UI.
#include "app/gui/trainer.h"

#include <algorithm>
#include <chrono>

#include "core/base/clock.h"
#include "core/base/parallel.h"

namespace fmp {
namespace {

// Snapshots are published this often while training: fast enough that the arrows follow the
// learning smoothly, rare enough that copying the weights costs nothing.
constexpr double k_publish_interval = 0.05;

}  // namespace

Trainer::Trainer(std::unique_ptr<Engine> engine, bool threaded)
    : m_engine(std::move(engine)), m_threaded(threaded) {
    m_description = m_engine->description();
    if (m_threaded) m_thread = std::thread([this] { worker_loop(); });
}

Trainer::~Trainer() {
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_stop = true;
    }
    m_wake.notify_all();
    if (m_thread.joinable()) m_thread.join();
}

void Trainer::reset(const TrainConfig& config, const Dataset& source, const Dataset& target,
                    std::shared_ptr<const std::vector<float>> initial,
                    std::shared_ptr<const TrainingState> state) {
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_pending_reset = ResetCommand{config, source, target, std::move(initial), std::move(state)};
        // Several resets before the worker wakes are applied as one: the generation it reaches.
        m_requested_generation = m_snapshot.generation + 1;
        m_pending_datasets.reset();
        m_pending_lr.reset();
        m_pending_batch.reset();
        m_pending_acknowledge = false;  // a reset clears the divergence itself
    }
    m_wake.notify_all();
}

void Trainer::set_datasets(const Dataset& source, const Dataset& target) {
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        // A reset not yet applied takes the new sets itself (fresh weights either way).
        if (m_pending_reset) {
            m_pending_reset->source = source;
            m_pending_reset->target = target;
        } else {
            m_pending_datasets = DatasetsCommand{source, target};
        }
    }
    m_wake.notify_all();
}

void Trainer::set_running(bool running) {
    m_running.store(running);
    m_wake.notify_all();
}

void Trainer::step_once(int steps) {
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        // A worker slower than the frame rate must not build an ever-growing backlog.
        m_single_steps = std::min(m_single_steps + std::max(0, steps), std::max(4 * steps, 1));
    }
    m_wake.notify_all();
}

void Trainer::set_learning_rate(float lr) {
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_pending_lr = lr;
    }
    m_wake.notify_all();
}

void Trainer::acknowledge_divergence() {
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_pending_acknowledge = true;
    }
    m_wake.notify_all();
}

void Trainer::set_batch_size(int batch) {
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_pending_batch = batch;
    }
    m_wake.notify_all();
}

void Trainer::set_coupling(CouplingKind kind, const CouplingOptions& options) {
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_pending_coupling = std::make_pair(kind, options);
    }
    m_wake.notify_all();
}

TrainingSnapshot Trainer::snapshot() const {
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_snapshot;
}

uint64_t Trainer::requested_generation() const {
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_requested_generation;
}

std::vector<LossRecord> Trainer::take_losses() {
    std::lock_guard<std::mutex> lock(m_mutex);
    std::vector<LossRecord> out;
    out.swap(m_losses);
    return out;
}

std::string Trainer::error() const {
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_error;
}

std::optional<TrainingState> Trainer::training_state() {
    if (!m_threaded) {
        // The caller owns the engine (and its GL context): apply what is pending, then ask.
        slice(0.0);
        if (!m_has_model) return std::nullopt;
        return m_engine->training_state();
    }
    std::unique_lock<std::mutex> lock(m_mutex);
    m_state_request = true;
    m_state_reply.reset();
    m_wake.notify_all();
    m_state_ready.wait_for(lock, std::chrono::seconds(30), [this] { return !m_state_request || !m_error.empty(); });
    m_state_request = false;
    std::optional<TrainingState> out;
    out.swap(m_state_reply);
    return out;
}

void Trainer::pump(double budget_ms) {
    if (m_threaded) return;
    slice(budget_ms);
}

void Trainer::worker_loop() {
    lower_thread_priority();
    for (;;) {
        {
            std::unique_lock<std::mutex> lock(m_mutex);
            m_wake.wait(lock, [this] {
                return m_stop || m_pending_reset || m_pending_datasets || m_pending_lr || m_pending_batch || m_pending_coupling ||
                       m_state_request ||
                       m_pending_acknowledge || m_single_steps > 0 ||
                       (m_running.load() && m_has_model && m_error.empty() &&
                        !m_snapshot.health.diverged);  // a diverged engine would not train
            });
            if (m_stop) return;
        }
        // Slices of ~10 ms keep commands (reset, pause) responsive and snapshots fresh.
        slice(10.0);
    }
}

bool Trainer::slice(double budget_ms) {
    std::optional<ResetCommand> reset;
    std::optional<DatasetsCommand> datasets;
    std::optional<float> lr;
    std::optional<std::pair<CouplingKind, CouplingOptions>> coupling;
    std::optional<int> batch;
    bool acknowledge = false;
    int single = 0;
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        reset.swap(m_pending_reset);
        datasets.swap(m_pending_datasets);
        lr.swap(m_pending_lr);
        batch.swap(m_pending_batch);
        coupling.swap(m_pending_coupling);
        std::swap(acknowledge, m_pending_acknowledge);
        single = m_single_steps;
        m_single_steps = 0;
    }
    try {
        if (reset) {
            m_engine->reset(reset->config, reset->source, reset->target);
            if (reset->state)
                m_engine->set_training_state(*reset->state);
            else if (reset->initial)
                m_engine->set_params(*reset->initial);
            m_engine->take_losses();
            m_has_model = true;
            m_divergences_seen = 0;
            m_chunk = 4;
            m_rate_ema = 0.0;
            m_train_seconds = 0.0;
            std::lock_guard<std::mutex> lock(m_mutex);
            m_losses.clear();
            m_snapshot.generation++;
            // The new generation's step at once: a reader that waits for a step count must not
            // see the old network's.
            m_snapshot.step = m_engine->step_count();
            m_snapshot.mlp = reset->config.mlp;
            m_snapshot.loss_by_time = {};
            m_snapshot.steps_per_second = 0.0;
            m_snapshot.health = TrainHealth{};
        }
        if (!m_has_model) {
            std::lock_guard<std::mutex> lock(m_mutex);
            if (m_state_request) m_state_request = false, m_state_ready.notify_all();  // nothing to give
            return reset.has_value();
        }
        if (datasets) m_engine->set_datasets(datasets->source, datasets->target);
        if (lr) m_engine->set_learning_rate(*lr);
        if (batch) m_engine->set_batch_size(*batch);
        if (coupling) m_engine->set_coupling(coupling->first, coupling->second);
        if (acknowledge) m_engine->acknowledge_divergence();
        bool state_wanted = false;
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            state_wanted = m_state_request && m_threaded;
        }
        if (state_wanted) {
            // Between steps, with every command before it applied: the state the window sees.
            TrainingState state = m_engine->training_state();
            std::lock_guard<std::mutex> lock(m_mutex);
            m_state_reply = std::move(state);
            m_state_request = false;
            m_state_ready.notify_all();
        }
        int steps = single;
        if (m_running.load()) steps += m_chunk;
        if (steps > 0 && !m_engine->health().diverged) {
            double start = now_seconds();
            m_engine->train(steps);
            double elapsed = std::max(1e-6, now_seconds() - start);
            m_train_seconds += elapsed;
            double rate = steps / elapsed;
            m_rate_ema = m_rate_ema == 0.0 ? rate : 0.8 * m_rate_ema + 0.2 * rate;
            // Adapt the chunk so one slice takes about budget_ms.
            double ideal = m_rate_ema * budget_ms * 1e-3;
            // A GL engine returns before the GPU is done, so its measured rate runs ahead of the
            // truth: cap its per-frame chunk so the queue never holds more than a frame's work.
            m_chunk = static_cast<int>(std::clamp(ideal, 1.0, m_threaded ? 4096.0 : 128.0));
        }
        // A divergence pauses training; the window shows it and offers a lower rate. The
        // rolled-back weights go out at once.
        const TrainHealth health = m_engine->health();
        const bool diverged_now = health.divergences > m_divergences_seen;
        m_divergences_seen = health.divergences;
        if (diverged_now) m_running.store(false);
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            m_snapshot.health = health;
        }
        publish(reset.has_value() || single > 0 || diverged_now || acknowledge);
        return true;
    } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_error = e.what();
        m_running.store(false);
        m_state_ready.notify_all();
        return false;
    }
}

void Trainer::publish(bool force) {
    double now = now_seconds();
    std::vector<LossRecord> losses = m_engine->take_losses();
    const int64_t step = m_engine->step_count();
    // While training runs the weights come without waiting for the GPU (a copy a few steps old,
    // Engine::recent_params); paused, or after a reset or rollback, they are brought up to the
    // step shown once.
    const bool behind = !m_running.load() && m_params_step != step;
    bool send_params = force || behind || now - m_last_publish >= k_publish_interval;
    std::shared_ptr<const std::vector<float>> params;
    LossByTime by_time{};
    if (send_params) {
        std::vector<float> weights;
        int64_t weights_step = step;
        if (force || behind)
            weights = m_engine->params();
        else if (!m_engine->recent_params(weights, weights_step))
            send_params = false;  // none has landed yet: the last published weights stay
        if (send_params) {
            params = std::make_shared<const std::vector<float>>(std::move(weights));
            m_params_step = weights_step;
            by_time = m_engine->loss_by_time();
            m_last_publish = now;
        }
    }
    std::lock_guard<std::mutex> lock(m_mutex);
    // Steps a rollback undid are not part of the history any more.
    while (!m_losses.empty() && m_losses.back().step > step) m_losses.pop_back();
    m_losses.insert(m_losses.end(), losses.begin(), losses.end());
    // A UI that stops reading (minimised) must not grow this without bound.
    if (m_losses.size() > 200000) m_losses.erase(m_losses.begin(), m_losses.begin() + 100000);
    m_snapshot.step = step;
    m_snapshot.steps_per_second = m_running.load() ? m_rate_ema : 0.0;
    m_snapshot.training_seconds = m_train_seconds;
    if (send_params) {
        m_snapshot.params = std::move(params);
        m_snapshot.params_version++;
        m_snapshot.loss_by_time = by_time;
    }
}

}  // namespace fmp
