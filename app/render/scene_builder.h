// Turns the flow's state at time t (trajectories, arrows, reference samples) into renderer
// layers. Shared by the window and by exports, so both draw exactly the same picture.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "app/render/flow_state.h"
#include "app/render/scene_renderer.h"

namespace fmp {

// Class: the class each particle follows (class-conditional networks; else as TargetMode).
enum class ColorMode { Source, TargetMode, Single, Class };
// Score: grad log p_t(x) derived from the learned velocity (prediction.h; a normal source).
// Guidance: for the followed class, its own field v(x|k), the null class's v(x|null) and the guided
// v_w = v(x|null) + w (v(x|k) - v(x|null)), three arrows per grid point.
enum class ArrowMode { Learned, Exact, Difference, Score, Guidance };
enum class PathMode { Marginal, Conditional, Both };

// Which layers are shown and how; the names are what --views takes.
struct SceneOptions {
    bool particles = true;
    bool arrows = false;
    bool paths = false;
    bool trails = false;
    bool heatmap = false;
    bool targets = true;
    bool sources = false;
    bool grid = true;
    ColorMode color = ColorMode::Source;
    ArrowMode arrow_mode = ArrowMode::Learned;
    PathMode path_mode = PathMode::Both;
    int path_count = 48;      // paths drawn (the first particles)
    float point_size = 3.0f;  // pixels (before ui_scale)
    float point_alpha = 0.75f;
    bool additive = false;
    float arrow_spacing = 34.0f;  // pixels between arrows (before ui_scale)
    float arrow_scale = 1.0f;     // multiplies the arrow length (the p95 speed gets 0.9 cells)
    float trail_length = 0.12f;   // in t
    int trail_count = 1200;
    float ui_scale = 1.0f;
};

// Applies a --views list ("particles,arrows,paths,trails,heatmap,targets,sources,grid", plus
// "exact"/"difference" for the arrow field, "marginal"/"conditional" for the path mode,
// "bystart"/"bymode"/"plain"/"byclass" for the particle colours, "guidance" for the guidance arrows, "glow" for additive blending and
// "panels"/"nopanels"): the named layers are shown, the others hidden. Throws InputError on an
// unknown name.
void apply_views(const std::string& list, SceneOptions& options, bool* panels = nullptr);
const std::vector<std::string>& view_names();

// Conditional pairs for the path layer: the first particles' x0 with target samples x1 (paired
// by the coupling), so psi_t(x0|x1) = alpha_t x1 + sigma_t x0 can be drawn next to the learned
// trajectory from the same x0.
struct ConditionalPairs {
    uint64_t spec_id = 0;
    Points x0, x1;
};
ConditionalPairs make_conditional_pairs(const Trajectory& trajectory, const FlowSpec& spec,
                                        int count);

// Everything the builder reads; pointers may be null (the layer is then skipped).
struct SceneInputs {
    const Trajectory* trajectory = nullptr;
    const ArrowField* arrows = nullptr;
    const FlowReference* reference = nullptr;
    const ConditionalPairs* pairs = nullptr;
    const ProbabilityPath* path = nullptr;
    // The GPU engine's particles (positions and colours in GL buffers); when set they are drawn
    // instead of the trajectory's, which then only feeds trails, paths and the heatmap.
    const PointLayer* gpu_particles = nullptr;
    float t = 0.0f;
};

// Builds the layers into `scene` for `view`. `particle_xy` is scratch reused between frames.
void build_scene(const SceneInputs& in, const SceneOptions& options, const View2D& view,
                 Scene& scene);

// The arrow grid request that covers `view` at the options' spacing.
ArrowRequest arrow_request_for(const View2D& view, const SceneOptions& options, float t);
// The class and guidance of the learned arrows for a network with `classes` classes: the class
// the particles follow at spec.guidance; while they follow every class, the unconditional field,
// or for the guidance arrows the first class the target has. None without classes.
ClassGuidance arrow_guidance_for(const FlowSpec& spec, int classes, const SceneOptions& options);

// A box around the data: the reference target and source samples (1st-99th percentiles).
Eigen::AlignedBox2f data_box(const FlowReference& reference, bool include_source);

}  // namespace fmp
