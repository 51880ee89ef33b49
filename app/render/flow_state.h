// The flow's state a picture is drawn from: the particles' trajectories, the arrow grid (learned
// and exact marginal velocity) and the reference samples, with the functions that compute them.
// The window's view worker and exports both use these, so both show the same particles.
#pragma once
#include <Eigen/Geometry>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "app/render/mode_map.h"
#include "core/data/dataset.h"
#include "core/flow/coupling.h"
#include "core/flow/ode_solver.h"
#include "core/flow/probability_path.h"
#include "core/nn/mlp.h"

namespace fmp {

// Everything that decides which particles are integrated and how.
struct FlowSpec {
    Dataset source;
    Dataset target;
    ProbabilityPath path;
    CouplingKind coupling = CouplingKind::Independent;
    CouplingOptions coupling_options;
    SolverKind solver = SolverKind::Midpoint;
    int steps = 20;  // frames at t = k / steps (dopri5 integrates between them adaptively)
    float tolerance = k_default_tolerance;  // dopri5 only
    int particles = 20000;
    uint64_t seed = 1;
    // > 0: the particles follow the SDE of sde_sampler.h with g(t) = sde_gamma sigma_t instead of
    // the ODE (Euler–Maruyama, k_sde_substeps steps per frame; solver and tolerance unused).
    float sde_gamma = 0.0f;
    // Class-conditional networks (ignored without classes): the class the particles follow,
    // k_unconditional (the null class's field), a class 0..K-1, or k_all_classes (particle i
    // follows class i mod K); and the guidance scale w of classifier-free guidance,
    // v = v(x|null) + w (v(x|k) - v(x|null)) (ClassGuidance; 1 is the class's own field).
    int follow_class = -2;
    float guidance = 1.0f;
};
inline constexpr int k_unconditional = -1;
inline constexpr int k_all_classes = -2;
// "all" (k_all_classes), "none" (k_unconditional) or a class "0".."7"; throws InputError
// "<what> must be all, none or a class 0..7 (got '...')" otherwise.
int parse_follow_class(const std::string& text, const std::string& what);
// The inverse: "all", "none" or the class number.
std::string follow_class_name(int follow);
inline constexpr int k_sde_substeps = 8;
// The noise of frame k's Euler–Maruyama steps for particle rows [row, ...): one stream per frame
// and row block, so the CPU worker's blocks and a whole-trajectory integration draw alike.
inline constexpr int k_sde_block_rows = 4096;

// The particles' source samples (unscaled): the same for a spec and seed on the CPU and GPU
// paths, and the first n of a larger draw equal a smaller draw for the analytic datasets.
Points particle_starts(const FlowSpec& spec, int n);

// The classes k_all_classes cycles through: those of 0..classes-1 the target has points of (a
// drawn set painted in classes 0 and 3 has no class 1 or 2 to flow to).
std::vector<int> followed_classes(const FlowSpec& spec, int classes);
// The class particle `row` follows under the spec, for a network with `classes` classes (0: none);
// -1 for the null class (unconditional) and for networks without classes. `cycle` is
// followed_classes(spec, classes).
int particle_class(const FlowSpec& spec, const std::vector<int>& cycle, int classes, Eigen::Index row);
// The field particles [first_row, first_row + rows) move in: the learned velocity, each row's
// class (particle_class) guided at spec.guidance. Keeps a reference to mlp.
VelocityFn particle_velocity(const Mlp& mlp, const FlowSpec& spec, Eigen::Index first_row);

// One frame interval (frame k -> k + 1) of the SDE for a block of particle rows starting at `row`
// (a multiple of k_sde_block_rows): k_sde_substeps Euler–Maruyama steps with that block's noise.
void sde_frame(const VelocityFn& v, const FlowSpec& spec, Points& block, int frame, Eigen::Index row,
               Points& scratch);

// Particles integrated from t=0 to t=1: frames[k] holds them at t = k / steps.
struct Trajectory {
    uint64_t spec_id = 0;
    uint64_t params_version = 0;
    Points x0;  // the source samples (unscaled: the path multiplies sigma_t)
    std::vector<Points> frames;
    std::vector<uint8_t> mode;  // target mode each particle ends in
    std::vector<int8_t> classes;  // the class each particle followed (-1 null; empty: no classes)
    IntegrationStats stats;     // what integrating it cost (NFE)
    std::string error;          // why the solver gave up (dopri5), or empty
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
    bool score = false;  // also grad log p_t from the learned velocity (needs learned)
    // The class and guidance scale of the learned arrows (class-conditional networks), and with
    // guidance_parts also the class's own field and the null class's beside the guided one.
    ClassGuidance guidance;
    bool guidance_parts = false;
    bool operator==(const ArrowRequest& o) const {
        return t == o.t && box.min() == o.box.min() && box.max() == o.box.max() && nx == o.nx &&
               ny == o.ny && learned == o.learned && exact == o.exact && score == o.score &&
               guidance.cls == o.guidance.cls && guidance.scale == o.guidance.scale &&
               guidance_parts == o.guidance_parts;
    }
};

struct ArrowField {
    ArrowRequest request;
    uint64_t params_version = 0;
    Points base;     // nx*ny grid points
    Points learned;  // v_theta(x, t) (empty unless requested)
    Points exact;    // u_t(x), the exact marginal (empty unless requested)
    Points score;    // grad log p_t(x) from v_theta (score_from_velocity; empty unless requested)
    Points conditional;    // v(x | class), w = 1 (guidance_parts with a class; else empty)
    Points unconditional;  // v(x | null) (likewise)
};

// Static reference samples for a spec: what the markers show and what the exact field uses.
struct FlowReference {
    uint64_t spec_id = 0;
    Points target;  // 2048 samples of the target
    std::vector<int8_t> target_classes;  // their classes (empty when the target has none)
    Points source;  // as many source samples, scaled like the particles at t=0
    ModeMap modes;
};

// The reference samples of a spec (the same for a spec and seed everywhere) and its target modes.
std::shared_ptr<FlowReference> make_reference(const FlowSpec& spec, uint64_t spec_id = 0);

// Labels every particle with the target mode its last frame lies in (0 without a mode map).
void label_modes(Trajectory& trajectory, const ModeMap* modes);
// Records the class each particle followed (particle_class; nothing without classes).
void label_classes(Trajectory& trajectory, const FlowSpec& spec, int classes);

// The spec's particles integrated from t=0 to t=1 under `mlp` in one call, modes labelled.
std::shared_ptr<Trajectory> integrate_trajectory(const FlowSpec& spec, const Mlp& mlp,
                                                 const FlowReference& reference);

// The arrow grid of a request: v_theta from `mlp` (skipped when null) and the exact marginal
// u_t toward the reference target samples, as the request asks.
ArrowField compute_arrows(const ArrowRequest& request, const Mlp* mlp, const ProbabilityPath& path,
                          const FlowReference& reference);

}  // namespace fmp
