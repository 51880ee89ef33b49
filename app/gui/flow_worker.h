// The view's background computations: particle trajectories under the latest learned field, the
// arrow grid (learned, exact marginal) and the target's modes, each published as an immutable
// snapshot so drawing a frame never waits for them.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "app/render/flow_state.h"

namespace fmp {

class FlowWorker {
  public:
    FlowWorker();
    ~FlowWorker();
    FlowWorker(const FlowWorker&) = delete;
    FlowWorker& operator=(const FlowWorker&) = delete;

    // A new spec restarts the trajectory at once (solver or step changes re-integrate).
    void set_spec(const FlowSpec& spec);
    void set_params(std::shared_ptr<const std::vector<float>> params, const MlpConfig& mlp,
                    uint64_t version);
    void request_arrows(const ArrowRequest& request);

    std::shared_ptr<const Trajectory> trajectory() const;
    std::shared_ptr<const ArrowField> arrows() const;
    std::shared_ptr<const FlowReference> reference() const;
    uint64_t spec_id() const;  // the latest spec's (a reference for it has this spec_id)
    // True while a newer trajectory than the published one is being integrated.
    bool busy() const;
    // Seconds the last full trajectory took.
    double last_trajectory_seconds() const;
    // Blocks until a trajectory for the current spec and at least `params_version` is published
    // (tests and headless renders); false on timeout.
    bool wait_for_trajectory(uint64_t params_version, double timeout_seconds) const;

  private:
    void loop();

    mutable std::mutex m_mutex;
    mutable std::condition_variable m_wake, m_published;
    std::thread m_thread;
    bool m_stop = false;

    FlowSpec m_spec;
    uint64_t m_spec_id = 0;
    std::shared_ptr<const std::vector<float>> m_params;
    MlpConfig m_mlp;
    uint64_t m_params_version = 0;
    ArrowRequest m_arrow_request;
    bool m_arrows_wanted = false;

    std::shared_ptr<const Trajectory> m_trajectory;
    std::shared_ptr<const ArrowField> m_arrows;
    std::shared_ptr<const FlowReference> m_reference;
    bool m_busy = false;
    double m_last_seconds = 0.0;
};

}  // namespace fmp
