// The flow's state for drawing: particle starts, trajectories, reference samples, arrow grids.
#include "app/render/flow_state.h"

#include <algorithm>

#include "core/base/rng.h"
#include "core/flow/marginal_velocity.h"
#include "core/flow/prediction.h"
#include "core/flow/sde_sampler.h"

namespace fmp {
namespace {

// Reference samples of the target for the markers, the modes and the exact marginal field.
constexpr int k_reference_points = 2048;

}  // namespace

Points particle_starts(const FlowSpec& spec, int n) {
    Rng rng(spec.seed * 104729 + 5, 11);
    return spec.source.sample(n, rng);
}

std::shared_ptr<FlowReference> make_reference(const FlowSpec& spec, uint64_t spec_id) {
    auto ref = std::make_shared<FlowReference>();
    ref->spec_id = spec_id;
    Rng rng(spec.seed * 7919 + 17, 3);
    if (spec.target.class_count() >= 2) {
        // The same draws as sample(), with each point's class.
        ref->target.resize(k_reference_points, 2);
        std::vector<int> classes(static_cast<std::size_t>(k_reference_points));
        spec.target.sample_into(ref->target, rng, classes.data());
        ref->target_classes.assign(classes.begin(), classes.end());
    } else {
        ref->target = spec.target.sample(k_reference_points, rng);
    }
    ref->source = spec.source.sample(k_reference_points, rng) * spec.path.source_scale();
    ref->modes = ModeMap::build(ref->target);
    return ref;
}

void label_modes(Trajectory& trajectory, const ModeMap* modes) {
    const Points& last = trajectory.frames.back();
    trajectory.mode.resize(static_cast<std::size_t>(last.rows()));
    for (Eigen::Index i = 0; i < last.rows(); ++i)
        trajectory.mode[i] =
            modes ? static_cast<uint8_t>(modes->mode_of(last(i, 0), last(i, 1))) : 0;
}

int parse_follow_class(const std::string& text, const std::string& what) {
    if (text == "all") return k_all_classes;
    if (text == "none") return k_unconditional;
    if (text.size() == 1 && text[0] >= '0' && text[0] < '0' + k_max_classes) return text[0] - '0';
    throw InputError(what + " must be all, none or a class 0.." + std::to_string(k_max_classes - 1) + " (got " +
                     quote_for_message(text) + ")");
}

std::string follow_class_name(int follow) {
    return follow == k_all_classes ? "all" : follow < 0 ? "none" : std::to_string(follow);
}

void label_classes(Trajectory& trajectory, const FlowSpec& spec, int classes) {
    trajectory.classes.clear();
    if (classes <= 0) return;
    const Eigen::Index n = trajectory.x0.rows();
    trajectory.classes.resize(static_cast<std::size_t>(n));
    const std::vector<int> cycle = followed_classes(spec, classes);
    for (Eigen::Index i = 0; i < n; ++i)
        trajectory.classes[static_cast<std::size_t>(i)] =
            static_cast<int8_t>(particle_class(spec, cycle, classes, i));
}

std::vector<int> followed_classes(const FlowSpec& spec, int classes) {
    std::vector<int> cycle;
    if (classes <= 0) return cycle;
    for (int k = 0; k < classes; ++k)
        if (spec.target.has_class(k)) cycle.push_back(k);
    if (cycle.empty())
        for (int k = 0; k < classes; ++k) cycle.push_back(k);
    return cycle;
}

int particle_class(const FlowSpec& spec, const std::vector<int>& cycle, int classes, Eigen::Index row) {
    if (classes <= 0) return -1;
    if (spec.follow_class == k_all_classes && !cycle.empty())
        return cycle[static_cast<std::size_t>(row % static_cast<Eigen::Index>(cycle.size()))];
    return spec.follow_class >= 0 && spec.follow_class < classes ? spec.follow_class : -1;
}

VelocityFn particle_velocity(const Mlp& mlp, const FlowSpec& spec, Eigen::Index first_row) {
    const int classes = mlp.config().classes;
    const float w = spec.guidance;
    if (classes <= 0) return [&mlp](const Points& p, float t, Points& out) { mlp.evaluate(p, t, out); };
    const std::vector<int> cycle = followed_classes(spec, classes);
    if (spec.follow_class != k_all_classes) {
        const ClassGuidance g{particle_class(spec, cycle, classes, 0), w};
        return [&mlp, g](const Points& p, float t, Points& out) { mlp.evaluate(p, t, out, g); };
    }
    // Row i follows cycle[(first_row + i) mod C] (Mlp::evaluate_class_cycle).
    return [&mlp, cycle, w, first_row](const Points& p, float t, Points& out) {
        mlp.evaluate_class_cycle(p, t, out, cycle, w, first_row);
    };
}

std::shared_ptr<Trajectory> integrate_trajectory(const FlowSpec& spec, const Mlp& mlp,
                                                 const FlowReference& reference) {
    auto traj = std::make_shared<Trajectory>();
    traj->x0 = particle_starts(spec, std::max(1, spec.particles));
    Points x = traj->x0 * spec.path.source_scale();
    VelocityFn v = particle_velocity(mlp, spec, 0);
    label_classes(*traj, spec, mlp.config().classes);
    if (spec.sde_gamma > 0.0f) {
        const int steps = std::max(1, spec.steps);
        traj->frames.assign(static_cast<std::size_t>(steps) + 1, x);
        for (Eigen::Index row = 0; row < x.rows(); row += k_sde_block_rows) {
            const Eigen::Index len = std::min<Eigen::Index>(k_sde_block_rows, x.rows() - row);
            Points block = x.middleRows(row, len), scratch;
            v = particle_velocity(mlp, spec, row);
            for (int k = 0; k < steps; ++k) {
                sde_frame(v, spec, block, k, row, scratch);
                traj->frames[static_cast<std::size_t>(k) + 1].middleRows(row, len) = block;
            }
        }
        traj->stats.evaluations = int64_t(steps) * k_sde_substeps;
        traj->stats.accepted = steps * k_sde_substeps;
        label_modes(*traj, &reference.modes);
        return traj;
    }
    traj->stats = integrate_particles(
        v, IntegrationSettings{spec.solver, std::max(1, spec.steps), spec.tolerance}, x, 0.0f,
        1.0f, &traj->frames);
    label_modes(*traj, &reference.modes);
    return traj;
}

void sde_frame(const VelocityFn& v, const FlowSpec& spec, Points& block, int frame, Eigen::Index row,
               Points& scratch) {
    const int steps = std::max(1, spec.steps);
    const float h = 1.0f / static_cast<float>(steps * k_sde_substeps);
    Rng rng(spec.seed ^ 0x5de5de5dULL, static_cast<uint64_t>(frame) * 1000003ULL + static_cast<uint64_t>(row));
    for (int s = 0; s < k_sde_substeps; ++s) {
        const float t = static_cast<float>(frame * k_sde_substeps + s) * h;
        sde_step(v, spec.path, spec.sde_gamma, block, t, h, rng, scratch);
    }
}

ArrowField compute_arrows(const ArrowRequest& r, const Mlp* mlp, const ProbabilityPath& path,
                          const FlowReference& reference) {
    ArrowField f;
    f.request = r;
    int nx = std::max(1, r.nx), ny = std::max(1, r.ny);
    f.base.resize(static_cast<Eigen::Index>(nx) * ny, 2);
    Eigen::Vector2f size = r.box.sizes();
    for (int j = 0; j < ny; ++j)
        for (int i = 0; i < nx; ++i) {
            Eigen::Index row = static_cast<Eigen::Index>(j) * nx + i;
            f.base(row, 0) = r.box.min().x() + (i + 0.5f) * size.x() / nx;
            f.base(row, 1) = r.box.min().y() + (j + 0.5f) * size.y() / ny;
        }
    const bool classes = mlp && mlp->config().classes > 0;
    if (r.learned && mlp) mlp->evaluate(f.base, r.t, f.learned, classes ? r.guidance : ClassGuidance{});
    if (r.learned && r.guidance_parts && classes && r.guidance.cls >= 0) {
        mlp->evaluate(f.base, r.t, f.conditional, ClassGuidance{r.guidance.cls, 1.0f});
        mlp->evaluate(f.base, r.t, f.unconditional, ClassGuidance{});
    }
    if (r.exact) marginal_velocity(path, reference.target, r.t, f.base, f.exact);
    if (r.score && f.learned.rows() == f.base.rows())
        score_from_velocity(path, f.base, r.t, f.learned, f.score);
    return f;
}

void Trajectory::positions_at(float t, std::vector<float>& xy) const {
    xy.resize(static_cast<std::size_t>(x0.rows()) * 2);
    if (frames.empty()) return;
    float k = std::clamp(t, 0.0f, 1.0f) * steps();
    int i0 = std::min(static_cast<int>(k), std::max(0, steps() - 1));
    int i1 = std::min(i0 + 1, steps());
    float f = std::clamp(k - i0, 0.0f, 1.0f);
    const float* a = frames[i0].data();
    const float* b = frames[i1].data();
    for (std::size_t j = 0; j < xy.size(); ++j) xy[j] = a[j] + f * (b[j] - a[j]);
}

Eigen::Vector2f Trajectory::position_at(int i, float t) const {
    float k = std::clamp(t, 0.0f, 1.0f) * steps();
    int i0 = std::min(static_cast<int>(k), std::max(0, steps() - 1));
    int i1 = std::min(i0 + 1, steps());
    float f = std::clamp(k - i0, 0.0f, 1.0f);
    Eigen::Vector2f a = frames[i0].row(i).transpose(), b = frames[i1].row(i).transpose();
    return a + f * (b - a);
}

}  // namespace fmp
