// The instruments' background computations for the window: the error map, the likelihood grid,
// the FM-vs-CFM losses and held-out NLL over training, and traced paths (the inverse map), on an
// engine of their own that follows the trainer's weights, so the frame never waits: a GL engine
// in a headless context of the worker's thread when the window trains on a GPU, else the CPU's.
#pragma once
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "app/gui/background_engine.h"
#include "app/render/flow_state.h"
#include "core/engine/engine.h"
#include "core/instruments/error_map.h"
#include "core/instruments/likelihood.h"
#include "core/instruments/loss_gap.h"

namespace fmp {

// One measurement of the losses over training.
struct LossGapSample {
    int64_t step = 0;
    LossGap losses;
    double nll = 0.0;  // held-out NLL of target samples (NaN when the source has no density)
    double kl = 0.0;   // KL(target || model) (NaN unless the target's density is known)
};

// A point traced backward from t=1 to 0 and forward again.
struct TracedPath {
    uint64_t id = 0;
    Eigen::Vector2f start{0, 0};  // the point at t = 1
    Points backward;              // from t = 1 down to t = 0
    Points forward;               // from that x0 back up to t = 1
    float round_trip = 0.0f;      // |forward end - start|
    LogDetPath log_det;           // log|det dx_t/dx_0| along it (empty without a density source)
};

// What the window wants computed now.
struct InstrumentWants {
    bool error_map = false;
    ErrorMapRequest error;
    bool likelihood = false;
    PlaneGrid likelihood_grid;
    bool losses = false;  // FM vs CFM + NLL over training
};

class InstrumentWorker {
  public:
    // gpu: compute on a GL engine in a headless GL context made on the worker's thread (the
    // window's context belongs to its own thread); the CPU engine if that context cannot be made.
    explicit InstrumentWorker(bool gpu = false);
    ~InstrumentWorker();
    InstrumentWorker(const InstrumentWorker&) = delete;
    InstrumentWorker& operator=(const InstrumentWorker&) = delete;

    // The model to follow (call on a new spec, network or training reset): rebuilds the engine and
    // clears the history; the weights follow with set_params.
    void set_model(const FlowSpec& spec, const MlpConfig& mlp);
    void set_params(std::shared_ptr<const std::vector<float>> params, uint64_t version,
                    int64_t step);
    void want(const InstrumentWants& wants);
    // Traces the point at t = 1 backward and forward (the inverse map).
    void trace(Eigen::Vector2f x1);

    std::shared_ptr<const ErrorMap> error_map() const;
    std::shared_ptr<const LikelihoodGrid> likelihood() const;
    std::shared_ptr<const TracedPath> traced() const;
    std::vector<LossGapSample> loss_history() const;
    std::shared_ptr<const EvaluationBatch> evaluation_batch() const;
    // Blocks until every wanted result exists for the wanted grids and t (any weights), no trace
    // is pending, or a computation failed; false on timeout. For screenshots of scripted runs.
    bool wait_until_ready(double timeout_seconds) const;
    // Empty when fine; else why the last computation failed (e.g. no known source density).
    std::string error() const;
    // Where the instruments are computed: "GPU: <renderer>" or "CPU" (with why, when the GPU was
    // asked for and could not be had); empty until the first model.
    std::string engine_label() const;

  private:
    void loop();

    mutable std::mutex m_mutex;
    std::condition_variable m_wake;
    std::thread m_thread;
    bool m_stop = false;

    // Shared state (under m_mutex).
    FlowSpec m_spec;
    MlpConfig m_mlp;
    uint64_t m_generation = 0;
    std::shared_ptr<const std::vector<float>> m_params;
    uint64_t m_params_version = 0;
    int64_t m_step = 0;
    InstrumentWants m_wants;
    std::optional<Eigen::Vector2f> m_trace_request;
    uint64_t m_trace_id = 0;
    std::shared_ptr<const ErrorMap> m_error_map;
    std::shared_ptr<const LikelihoodGrid> m_likelihood;
    std::shared_ptr<const TracedPath> m_traced;
    std::shared_ptr<const EvaluationBatch> m_batch;
    std::vector<LossGapSample> m_history;
    std::string m_error;
    std::string m_engine_label;

    // Worker-side state.
    const bool m_gpu;
    std::unique_ptr<BackgroundEngine> m_background;  // made by the first model
    Engine* m_engine = nullptr;  // m_background's
    uint64_t m_engine_version = 0;
    Points m_references;  // the exact field's points
    Points m_held_out;    // target samples for the NLL
};

}  // namespace fmp
