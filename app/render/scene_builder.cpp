// Scene building: particles, trails, paths, arrows, heatmap and markers from the flow's state.
#include "app/render/scene_builder.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "app/render/palette.h"
#include "core/base/rng.h"
#include "core/base/types.h"

namespace fmp {

const std::vector<std::string>& view_names() {
    static const std::vector<std::string> names = {
        "particles", "arrows", "paths", "trails",     "heatmap",  "targets",
        "sources",   "grid",   "exact", "difference", "marginal", "conditional",
        "bystart",   "bymode", "plain", "glow",       "panels",   "nopanels", "score",
        "byclass",   "guidance"};
    return names;
}

void apply_views(const std::string& list, SceneOptions& o, bool* panels) {
    o.particles = o.arrows = o.paths = o.trails = o.heatmap = o.targets = o.sources = o.grid =
        false;
    std::stringstream in(list);
    std::string name;
    while (std::getline(in, name, ',')) {
        name.erase(0, name.find_first_not_of(" \t"));
        name.erase(name.find_last_not_of(" \t") + 1);
        if (name.empty()) continue;
        if (name == "particles")
            o.particles = true;
        else if (name == "arrows")
            o.arrows = true;
        else if (name == "paths")
            o.paths = true;
        else if (name == "trails")
            o.trails = true;
        else if (name == "heatmap")
            o.heatmap = true;
        else if (name == "targets")
            o.targets = true;
        else if (name == "sources")
            o.sources = true;
        else if (name == "grid")
            o.grid = true;
        else if (name == "exact")
            o.arrows = true, o.arrow_mode = ArrowMode::Exact;
        else if (name == "difference")
            o.arrows = true, o.arrow_mode = ArrowMode::Difference;
        else if (name == "score")
            o.arrows = true, o.arrow_mode = ArrowMode::Score;
        else if (name == "guidance")
            o.arrows = true, o.arrow_mode = ArrowMode::Guidance;
        else if (name == "byclass")
            o.color = ColorMode::Class;
        else if (name == "marginal")
            o.paths = true, o.path_mode = PathMode::Marginal;
        else if (name == "conditional")
            o.paths = true, o.path_mode = PathMode::Conditional;
        else if (name == "bystart")
            o.color = ColorMode::Source;
        else if (name == "bymode")
            o.color = ColorMode::TargetMode;
        else if (name == "plain")
            o.color = ColorMode::Single;
        else if (name == "glow")
            o.additive = true;
        else if (name == "panels" || name == "nopanels") {
            if (panels) *panels = name == "panels";
        } else {
            throw InputError("unknown view '" + name +
                             "'; valid views: " + join_names(view_names()));
        }
    }
}

ConditionalPairs make_conditional_pairs(const Trajectory& trajectory, const FlowSpec& spec,
                                        int count) {
    ConditionalPairs pairs;
    pairs.spec_id = trajectory.spec_id;
    int n = static_cast<int>(std::min<Eigen::Index>(count, trajectory.x0.rows()));
    if (n <= 0) return pairs;
    pairs.x0 = trajectory.x0.topRows(n);
    Rng rng(spec.seed * 31 + 7, 5);
    Points x1 = spec.target.sample(n, rng);
    // The pairing the trainer's coupling makes: x0[i] goes to x1[partner[i]] (exact OT: the
    // assignment; entropic: a draw from row i of the plan).
    const std::vector<int> partner = partner_rows(spec.coupling, spec.coupling_options, pairs.x0, x1, rng);
    pairs.x1.resize(n, 2);
    for (int i = 0; i < n; ++i) pairs.x1.row(i) = x1.row(partner[static_cast<std::size_t>(i)]);
    return pairs;
}

ArrowRequest arrow_request_for(const View2D& view, const SceneOptions& o, float t) {
    ArrowRequest r;
    r.t = t;
    // Three arrows per grid point need more room than one.
    float spacing_px = std::max(8.0f, o.arrow_spacing * o.ui_scale) *
                       (o.arrow_mode == ArrowMode::Guidance ? 1.8f : 1.0f);
    float spacing = spacing_px / view.pixels_per_unit;
    // Snap the grid to multiples of the spacing so panning does not make the arrows swim.
    Eigen::AlignedBox2f box = view.visible_box();
    float x0 = std::floor(box.min().x() / spacing) * spacing,
          y0 = std::floor(box.min().y() / spacing) * spacing;
    r.nx = std::clamp(static_cast<int>(std::ceil((box.max().x() - x0) / spacing)), 1, 200);
    r.ny = std::clamp(static_cast<int>(std::ceil((box.max().y() - y0) / spacing)), 1, 200);
    r.box = Eigen::AlignedBox2f(Eigen::Vector2f(x0, y0),
                                Eigen::Vector2f(x0 + r.nx * spacing, y0 + r.ny * spacing));
    r.learned = o.arrow_mode != ArrowMode::Exact;
    r.exact = o.arrow_mode == ArrowMode::Exact || o.arrow_mode == ArrowMode::Difference;
    r.score = o.arrow_mode == ArrowMode::Score;
    r.guidance_parts = o.arrow_mode == ArrowMode::Guidance;
    return r;
}

ClassGuidance arrow_guidance_for(const FlowSpec& spec, int classes, const SceneOptions& o) {
    if (classes <= 0) return {};
    int cls = spec.follow_class;
    if (cls == k_all_classes)
        cls = o.arrow_mode == ArrowMode::Guidance ? followed_classes(spec, classes).front() : k_unconditional;
    if (cls >= classes) cls = k_unconditional;
    return ClassGuidance{cls, spec.guidance};
}

Eigen::AlignedBox2f data_box(const FlowReference& reference, bool include_source) {
    Eigen::AlignedBox2f box;  // empty
    auto add = [&](const Points& p) {
        if (p.rows() == 0) return;
        Eigen::Vector2f lo, hi;
        for (int c = 0; c < 2; ++c) {
            std::vector<float> v(static_cast<std::size_t>(p.rows()));
            for (Eigen::Index i = 0; i < p.rows(); ++i) v[i] = p(i, c);  // rows are x,y pairs
            std::sort(v.begin(), v.end());
            lo[c] = v[static_cast<std::size_t>(0.01 * (v.size() - 1))];
            hi[c] = v[static_cast<std::size_t>(0.99 * (v.size() - 1))];
        }
        box.extend(lo);
        box.extend(hi);
    };
    add(reference.target);
    if (include_source) add(reference.source);
    if (box.isEmpty()) box = Eigen::AlignedBox2f(Eigen::Vector2f(-3, -3), Eigen::Vector2f(3, 3));
    return box;
}

namespace {

void add_points(Scene& scene, const Points& p, uint32_t color, float size_px, float softness) {
    PointLayer layer;
    layer.xy.assign(p.data(), p.data() + p.size());
    layer.color = color;
    layer.size_px = size_px;
    layer.softness = softness;
    scene.layers.emplace_back(std::move(layer));
}

void build_heatmap(const std::vector<float>& xy, const View2D& view, float ui_scale, Scene& scene) {
    HeatmapLayer heat;
    heat.box = view.visible_box();
    float cell_px = 7.0f * ui_scale;
    heat.width = std::clamp(static_cast<int>(view.width / cell_px), 8, 320);
    heat.height = std::clamp(static_cast<int>(view.height / cell_px), 8, 320);
    std::vector<float> counts(static_cast<std::size_t>(heat.width) * heat.height, 0.0f);
    Eigen::Vector2f lo = heat.box.min(), size = heat.box.sizes();
    for (std::size_t i = 0; i + 1 < xy.size(); i += 2) {
        int cx = static_cast<int>((xy[i] - lo.x()) / size.x() * heat.width);
        int cy = static_cast<int>((xy[i + 1] - lo.y()) / size.y() * heat.height);
        if (cx < 0 || cy < 0 || cx >= heat.width || cy >= heat.height) continue;
        counts[static_cast<std::size_t>(cy) * heat.width + cx] += 1.0f;
    }
    // Two passes of a [1 2 1] blur: a histogram of a few ten thousand points is speckled.
    std::vector<float> tmp(counts.size());
    for (int pass = 0; pass < 2; ++pass) {
        for (int y = 0; y < heat.height; ++y)
            for (int x = 0; x < heat.width; ++x) {
                float l = counts[y * heat.width + std::max(0, x - 1)],
                      r = counts[y * heat.width + std::min(heat.width - 1, x + 1)];
                tmp[y * heat.width + x] = 0.25f * l + 0.5f * counts[y * heat.width + x] + 0.25f * r;
            }
        for (int y = 0; y < heat.height; ++y)
            for (int x = 0; x < heat.width; ++x) {
                float d = tmp[std::max(0, y - 1) * heat.width + x],
                      u = tmp[std::min(heat.height - 1, y + 1) * heat.width + x];
                counts[y * heat.width + x] = 0.25f * d + 0.5f * tmp[y * heat.width + x] + 0.25f * u;
            }
    }
    float peak = *std::max_element(counts.begin(), counts.end());
    float norm = 1.0f / std::log1p(std::max(peak, 1e-6f) * 8.0f);
    heat.values.resize(counts.size());
    // Log scale: log(1 + 8c) / log(1 + 8 max), so sparse tails stay visible next to dense modes.
    for (std::size_t i = 0; i < counts.size(); ++i)
        heat.values[i] = std::log1p(counts[i] * 8.0f) * norm;
    heat.opacity = 0.9f;
    scene.layers.emplace_back(std::move(heat));
}

}  // namespace

void build_scene(const SceneInputs& in, const SceneOptions& o, const View2D& view, Scene& scene) {
    scene.layers.clear();
    scene.grid = o.grid;
    scene.axes = o.grid;
    scene.ui_scale = o.ui_scale;
    const float s = o.ui_scale;
    const Trajectory* traj =
        in.trajectory && !in.trajectory->frames.empty() ? in.trajectory : nullptr;
    const float t = in.t;

    // Particles drawn from GL buffers need no CPU positions or colours of their own: those are
    // made only for the layers that still read them (the heatmap, the trails).
    const bool cpu_particles = o.particles && !in.gpu_particles;
    std::vector<float> xy;
    if (traj && (cpu_particles || o.heatmap)) traj->positions_at(t, xy);

    // Per-particle colours (also used by trails).
    std::vector<uint32_t> colors;
    if (traj && o.color != ColorMode::Single && (cpu_particles || o.trails)) {
        const Eigen::Index n = traj->x0.rows();
        colors.resize(static_cast<std::size_t>(n));
        const float a = o.point_alpha;
        if (o.color == ColorMode::Source) {
            for (Eigen::Index i = 0; i < n; ++i)
                colors[i] = fade(position_color(traj->x0(i, 0), traj->x0(i, 1), 2.2f), a);
        } else if (o.color == ColorMode::Class && static_cast<Eigen::Index>(traj->classes.size()) == n) {
            for (Eigen::Index i = 0; i < n; ++i) colors[i] = fade(class_color(traj->classes[i]), a);
        } else {
            for (Eigen::Index i = 0; i < n; ++i)
                colors[i] = fade(
                    mode_color(i < static_cast<Eigen::Index>(traj->mode.size()) ? traj->mode[i]
                                                                                : 0),
                    a);
        }
    }
    auto color_of = [&](int i, float alpha) {
        uint32_t base = colors.empty() ? fade(palette::particle, 1.0f) : colors[i];
        return with_alpha(base, alpha);
    };

    if (o.heatmap && traj) build_heatmap(xy, view, s, scene);
    if (o.sources && in.reference)
        add_points(scene, in.reference->source, fade(palette::source, 0.22f), 2.4f * s, 0.2f);
    if (o.targets && in.reference) {
        const FlowReference& ref = *in.reference;
        add_points(scene, ref.target, fade(palette::target, 0.3f), 2.6f * s, 0.2f);
        if (o.color == ColorMode::Class &&
            static_cast<Eigen::Index>(ref.target_classes.size()) == ref.target.rows()) {
            // Each class's points in its colour, so a particle's colour says where it belongs.
            PointLayer& layer = std::get<PointLayer>(scene.layers.back());
            layer.rgba.resize(ref.target_classes.size());
            for (std::size_t i = 0; i < ref.target_classes.size(); ++i)
                layer.rgba[i] = fade(class_color(ref.target_classes[i]), 0.45f);
        }
    }

    if (o.trails && traj && traj->x0.rows() > 0) {
        SegmentLayer trails;
        const int n = static_cast<int>(traj->x0.rows());
        const int count = std::min(o.trail_count, n);
        const int stride = std::max(1, n / std::max(1, count));
        const int samples = 8;
        float t0 = std::max(0.0f, t - o.trail_length);
        for (int i = 0; i < n; i += stride) {
            Eigen::Vector2f prev = traj->position_at(i, t0);
            for (int k = 1; k <= samples; ++k) {
                float tk = t0 + (t - t0) * k / samples;
                Eigen::Vector2f cur = traj->position_at(i, tk);
                float fa = 0.55f * (k - 1) / samples, fb = 0.55f * k / samples;
                trails.add(prev, cur, color_of(i, fa), color_of(i, fb), 1.3f * s);
                prev = cur;
            }
        }
        scene.layers.emplace_back(std::move(trails));
    }

    if (o.particles && in.gpu_particles) {
        PointLayer particles = *in.gpu_particles;
        particles.color = fade(palette::particle, o.point_alpha);
        particles.size_px = o.point_size * s;
        particles.softness = 0.55f;
        particles.additive = o.additive;
        scene.layers.emplace_back(std::move(particles));
    } else if (o.particles && traj) {
        PointLayer particles;
        particles.xy = std::move(xy);
        particles.rgba = std::move(colors);
        particles.color = fade(palette::particle, o.point_alpha);
        particles.size_px = o.point_size * s;
        particles.softness = 0.55f;
        particles.additive = o.additive;
        scene.layers.emplace_back(std::move(particles));
    }

    // Paths: the learned (marginal) ODE trajectory and the conditional path psi_t(x0|x1) from
    // the same x0, the travelled part bright and the rest faint.
    PointLayer movers;
    movers.size_px = 6.5f * s;
    movers.softness = 0.15f;
    if (o.paths && traj && in.path) {
        SegmentLayer lines;
        const bool show_cond =
            o.path_mode != PathMode::Marginal && in.pairs && in.pairs->x0.rows() > 0;
        const bool show_marg = o.path_mode != PathMode::Conditional;
        const int count = static_cast<int>(std::min<Eigen::Index>(o.path_count, traj->x0.rows()));
        const float w = 1.4f * s;
        if (show_cond) {
            const uint32_t past = fade(palette::conditional, 0.75f),
                           future = fade(palette::conditional, 0.2f);
            const int samples = 48;
            int m = static_cast<int>(std::min<Eigen::Index>(count, in.pairs->x0.rows()));
            for (int i = 0; i < m; ++i) {
                Eigen::Vector2f x0 = in.pairs->x0.row(i).transpose(),
                                x1 = in.pairs->x1.row(i).transpose();
                auto psi = [&](float tt) {
                    PathCoefficients c = in.path->at(tt);
                    return Eigen::Vector2f(c.alpha * x1 + c.sigma * x0);
                };
                Eigen::Vector2f prev = psi(0.0f);
                for (int k = 1; k <= samples; ++k) {
                    float tk = static_cast<float>(k) / samples;
                    Eigen::Vector2f cur = psi(tk);
                    uint32_t c = tk <= t + 1e-6f ? past : future;
                    lines.add(prev, cur, c, c, w);
                    prev = cur;
                }
                Eigen::Vector2f p = psi(t);
                movers.xy.push_back(p.x());
                movers.xy.push_back(p.y());
                movers.rgba.push_back(fade(palette::conditional, 1.0f));
            }
        }
        if (show_marg) {
            const uint32_t past = fade(palette::marginal, 0.8f),
                           future = fade(palette::marginal, 0.22f);
            const int steps = traj->steps();
            for (int i = 0; i < count; ++i) {
                for (int k = 0; k < steps; ++k) {
                    Eigen::Vector2f a = traj->frames[k].row(i).transpose(),
                                    b = traj->frames[k + 1].row(i).transpose();
                    uint32_t c = static_cast<float>(k + 1) / steps <= t + 1e-6f ? past : future;
                    lines.add(a, b, c, c, w);
                }
                Eigen::Vector2f p = traj->position_at(i, t);
                movers.xy.push_back(p.x());
                movers.xy.push_back(p.y());
                movers.rgba.push_back(fade(palette::marginal, 1.0f));
            }
        }
        scene.layers.emplace_back(std::move(lines));
    }

    if (o.arrows && in.arrows && in.arrows->base.rows() > 0) {
        const ArrowField& f = *in.arrows;
        SegmentLayer arrows;
        Points v;
        if (o.arrow_mode == ArrowMode::Learned)
            v = f.learned;
        else if (o.arrow_mode == ArrowMode::Exact)
            v = f.exact;
        else if (o.arrow_mode == ArrowMode::Score)
            v = f.score;
        else if (o.arrow_mode == ArrowMode::Guidance)
            v = f.learned;
        else if (f.learned.rows() == f.exact.rows())
            v = f.learned - f.exact;
        const bool parts = o.arrow_mode == ArrowMode::Guidance &&
                           f.conditional.rows() == f.base.rows() &&
                           f.unconditional.rows() == f.base.rows() && f.learned.rows() == f.base.rows();
        if (parts) {
            // Three arrows from each grid point, on one linear scale so that the guided arrow is
            // visibly the null one plus w times their difference: slate v(x|null), the class's
            // colour v(x|k), rose the guided v_w.
            const float spacing = f.request.box.sizes().x() / std::max(1, f.request.nx);
            std::vector<float> sp(static_cast<std::size_t>(f.conditional.rows()));
            for (Eigen::Index i = 0; i < f.conditional.rows(); ++i) sp[i] = f.conditional.row(i).norm();
            const std::size_t k = static_cast<std::size_t>(0.95 * (sp.size() - 1));
            std::nth_element(sp.begin(), sp.begin() + k, sp.end());
            const float unit = 0.55f * spacing * o.arrow_scale / std::max(sp[k], 1e-6f);
            const float cap = 1.8f * spacing * o.arrow_scale;
            // The guided arrow first, so the two short ones stay visible on top of it.
            const uint32_t colors[3] = {fade(palette::guided, 0.9f),
                                        fade(palette::unconditional, 0.95f),
                                        fade(class_color(f.request.guidance.cls), 1.0f)};
            const Points* fields[3] = {&f.learned, &f.unconditional, &f.conditional};
            for (Eigen::Index i = 0; i < f.base.rows(); ++i) {
                const Eigen::Vector2f base = f.base.row(i).transpose();
                for (int q = 0; q < 3; ++q) {
                    Eigen::Vector2f vec = fields[q]->row(i).transpose() * unit;
                    if (vec.norm() > cap) vec *= cap / vec.norm();
                    arrows.add_arrow(base, vec, colors[q], (q == 0 ? 1.8f : 1.5f) * s, 5.5f * s,
                                     view.pixels_per_unit);
                }
            }
        } else if (v.rows() == f.base.rows()) {
            float spacing = f.request.box.sizes().x() / std::max(1, f.request.nx);
            // Speeds relative to the 95th percentile of the field shown (for the difference: of the
            // learned field, so the error visibly shrinks as training goes on). That speed gets an
            // arrow of 0.9 grid cells and the top colour, at every t and zoom.
            auto p95 = [](const Points& field) {
                std::vector<float> sp(static_cast<std::size_t>(field.rows()));
                for (Eigen::Index i = 0; i < field.rows(); ++i) sp[i] = field.row(i).norm();
                if (sp.empty()) return 1.0f;
                std::size_t k = static_cast<std::size_t>(0.95 * (sp.size() - 1));
                std::nth_element(sp.begin(), sp.begin() + k, sp.end());
                return std::max(sp[k], 1e-6f);
            };
            std::vector<float> speeds(static_cast<std::size_t>(v.rows()));
            for (Eigen::Index i = 0; i < v.rows(); ++i) speeds[i] = v.row(i).norm();
            float ref = o.arrow_mode == ArrowMode::Difference ? p95(f.learned) : p95(v);
            // Length grows with the square root of the speed: far from the data the field is fast
            // (it scales with the distance to travel), and a linear scale would shrink the arrows
            // where the interesting structure is to dots.
            const float cell = 0.9f * spacing * o.arrow_scale;
            for (Eigen::Index i = 0; i < v.rows(); ++i) {
                float rel = speeds[i] / ref;
                Eigen::Vector2f dir = speeds[i] > 0
                                          ? Eigen::Vector2f(v.row(i).transpose() / speeds[i])
                                          : Eigen::Vector2f(0, 0);
                Eigen::Vector2f vec = dir * (cell * std::min(std::sqrt(rel), 1.6f));
                uint32_t c =
                    o.arrow_mode == ArrowMode::Difference
                        ? fade(palette::difference, std::clamp(0.25f + rel, 0.25f, 1.0f))
                    : o.arrow_mode == ArrowMode::Score
                        ? fade(palette::score, std::clamp(0.35f + 0.65f * std::sqrt(rel), 0.35f, 1.0f))
                        : fade(speed_color(std::sqrt(rel)), 0.9f);
                Eigen::Vector2f base =
                    f.base.row(i).transpose() - 0.5f * vec;  // centred on the grid point
                arrows.add_arrow(base, vec, c, 1.5f * s, 6.0f * s, view.pixels_per_unit);
            }
        }
        scene.layers.emplace_back(std::move(arrows));
    }
    if (!movers.xy.empty()) scene.layers.emplace_back(std::move(movers));
}

}  // namespace fmp
