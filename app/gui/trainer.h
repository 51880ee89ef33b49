// Drives an Engine's training for the GUI: on a worker thread (CPU engine) or in per-frame slices
// on the UI thread (GL engine), publishing parameter snapshots the view can evaluate at any time.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "core/engine/engine.h"

namespace fmp {

// What the view needs from training: the latest weights and the counters.
struct TrainingSnapshot {
    std::shared_ptr<const std::vector<float>> params;  // null before the first reset
    MlpConfig mlp;
    uint64_t params_version = 0;  // grows with every published snapshot
    uint64_t generation = 0;      // grows with every reset (new weights, datasets or path)
    int64_t step = 0;
    double steps_per_second = 0.0;
    double training_seconds = 0.0;  // time spent training since the last reset
    LossByTime loss_by_time{};
    // The engine's divergence guard: when `diverged`, training has stopped by itself and the
    // weights are back at health.restored_step until acknowledge_divergence().
    TrainHealth health;
};

class Trainer {
  public:
    // threaded: the engine lives on a worker thread (the CPU engine); otherwise the caller runs
    // pump() each frame on the thread that owns the engine's GL context.
    Trainer(std::unique_ptr<Engine> engine, bool threaded);
    ~Trainer();
    Trainer(const Trainer&) = delete;
    Trainer& operator=(const Trainer&) = delete;

    // All of these return at once; the worker applies them before its next slice.
    // With `initial`, training starts from those weights instead of the seed's (reflow's warm
    // start, switching between generations).
    // With `state`, training continues from that whole state instead (an opened session: the
    // weights, Adam's moments, the step and the batch stream).
    void reset(const TrainConfig& config, const Dataset& source, const Dataset& target,
               std::shared_ptr<const std::vector<float>> initial = nullptr,
               std::shared_ptr<const TrainingState> state = nullptr);
    // The engine's training state now (waits for the worker's current slice, at most ~30 s);
    // empty before the first reset or when the worker cannot answer.
    std::optional<TrainingState> training_state();
    // Swaps the datasets keeping the weights and the optimizer (drawing): training goes on.
    void set_datasets(const Dataset& source, const Dataset& target);
    void set_running(bool running);
    bool running() const { return m_running.load(); }
    void step_once(int steps = 1);
    void set_learning_rate(float lr);
    void set_batch_size(int batch);
    // The coupling and its options, the weights kept (Engine::set_coupling).
    void set_coupling(CouplingKind kind, const CouplingOptions& options);
    // Lets training go on after a divergence (applied after a learning rate set before it).
    void acknowledge_divergence();

    // Unthreaded mode: trains for about budget_ms (at least one step when running).
    void pump(double budget_ms);

    TrainingSnapshot snapshot() const;
    // The generation the last reset() asked for: snapshot().generation reaches it once the worker
    // has applied that reset (until then the snapshot still describes the old network).
    uint64_t requested_generation() const;
    // Losses recorded since the last call, oldest first.
    std::vector<LossRecord> take_losses();
    // Empty when fine; otherwise the message of the exception that stopped training.
    std::string error() const;

    Engine& engine() { return *m_engine; }  // unthreaded mode only (GL particles)
    std::string description() const { return m_description; }

  private:
    void worker_loop();
    // Applies pending commands and trains one slice; returns false if there was nothing to do.
    bool slice(double budget_ms);
    void publish(bool force);

    std::unique_ptr<Engine> m_engine;
    std::string m_description;
    bool m_threaded;
    std::thread m_thread;

    mutable std::mutex m_mutex;
    std::condition_variable m_wake;
    bool m_stop = false;
    std::atomic<bool> m_running{false};
    int m_single_steps = 0;
    struct ResetCommand {
        TrainConfig config;
        Dataset source, target;
        std::shared_ptr<const std::vector<float>> initial;
        std::shared_ptr<const TrainingState> state;
    };
    // A training_state() request and its answer (guarded by m_mutex).
    bool m_state_request = false;
    std::optional<TrainingState> m_state_reply;
    std::condition_variable m_state_ready;
    std::optional<ResetCommand> m_pending_reset;
    uint64_t m_requested_generation = 0;
    struct DatasetsCommand {
        Dataset source, target;
    };
    std::optional<DatasetsCommand> m_pending_datasets;
    std::optional<float> m_pending_lr;
    std::optional<int> m_pending_batch;
    std::optional<std::pair<CouplingKind, CouplingOptions>> m_pending_coupling;
    bool m_pending_acknowledge = false;
    TrainingSnapshot m_snapshot;
    std::vector<LossRecord> m_losses;
    std::string m_error;

    // Worker-side state (only touched by the thread that trains).
    bool m_has_model = false;
    int m_chunk = 4;
    double m_rate_ema = 0.0;
    double m_last_publish = 0.0;
    int64_t m_params_step = -1;  // the step of the weights published last
    double m_train_seconds = 0.0;
    int m_divergences_seen = 0;  // the engine's count when the last slice ended
};

}  // namespace fmp
