// The view's background computations: particle trajectories under the latest learned field, the
// arrow grid (learned, exact marginal) and the target's modes, each published as an immutable
// snapshot so drawing a frame never waits for them.
#pragma once
#include <Eigen/Geometry>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/flow/coupling.h"
#include "core/data/dataset.h"
#include "core/nn/mlp.h"
#include "core/flow/ode_solver.h"
#include "core/flow/probability_path.h"

namespace fmp {

// Everything that decides which particles are integrated and how.
struct FlowSpec {
    Dataset source;
    Dataset target;
    ProbabilityPath path;
    CouplingKind coupling = CouplingKind::Independent;
    SolverKind solver = SolverKind::Midpoint;
    int steps = 20;
    int particles = 20000;
    uint64_t seed = 1;
};

// The particles' source samples (unscaled): the same for a spec and seed on the CPU and GPU
// paths, and the first n of a larger draw equal a smaller draw for the analytic datasets.
Points particle_starts(const FlowSpec& spec, int n);

// The target split into its connected modes on a grid (moons: 2, 8gaussians: 8), with every
// cell labelled by its nearest mode so any point gets a mode.
struct ModeMap {
    Eigen::AlignedBox2f box;
    int n = 0;                   // grid is n x n cells over box
    std::vector<uint8_t> label;  // n*n, row-major from the bottom
    int count = 0;               // number of modes (<= 12)
    int mode_of(float x, float y) const;
    static ModeMap build(const Points& target_sample);
};

// Particles integrated from t=0 to t=1: frames[k] holds them at t = k / steps.
struct Trajectory {
    uint64_t spec_id = 0;
    uint64_t params_version = 0;
    Points x0;  // the source samples (unscaled: the path multiplies sigma_t)
    std::vector<Points> frames;
    std::vector<uint8_t> mode;  // target mode each particle ends in
    int steps() const { return static_cast<int>(frames.size()) - 1; }
    // Positions at time t (linear between frames), written as x,y pairs.
    void positions_at(float t, std::vector<float>& xy) const;
    Eigen::Vector2f position_at(int i, float t) const;
};

struct ArrowRequest {
    float t = 0.0f;
    Eigen::AlignedBox2f box{Eigen::Vector2f(-1, -1), Eigen::Vector2f(1, 1)};
    int nx = 24;
    int ny = 16;
    bool learned = true;
    bool exact = false;
    bool operator==(const ArrowRequest& o) const {
        return t == o.t && box.min() == o.box.min() && box.max() == o.box.max() && nx == o.nx &&
               ny == o.ny && learned == o.learned && exact == o.exact;
    }
};

struct ArrowField {
    ArrowRequest request;
    uint64_t params_version = 0;
    Points base;     // nx*ny grid points
    Points learned;  // v_theta(x, t) (empty unless requested)
    Points exact;    // u_t(x), the exact marginal (empty unless requested)
};

// Static reference samples for a spec: what the markers show and what the exact field uses.
struct FlowReference {
    uint64_t spec_id = 0;
    Points target;  // 2048 samples of the target
    Points source;  // as many source samples, scaled like the particles at t=0
    ModeMap modes;
};

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
