// scene.json: the export settings as JSON (every key optional, unknown keys rejected) and the clip's timing.
#include "app/export/export_settings.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "core/data/dataset.h"
#include "core/data/point_io.h"
#include "core/flow/prediction.h"
#include "core/flow/sde_sampler.h"
#include "core/flow/coupling.h"
#include "core/flow/ode_solver.h"
#include "core/flow/probability_path.h"
#include "core/nn/mlp.h"
#include "core/nn/optimizer.h"

namespace fmp {

using nlohmann::json;

// ---------------------------------------------------------------------------------------------
// [SECTION] Names and timing

const std::vector<std::string>& easing_names() {
    static const std::vector<std::string> names = {"linear", "ease-in-out", "ease-out"};
    return names;
}

std::string easing_name(Easing e) { return easing_names()[static_cast<int>(e)]; }

Easing make_easing(const std::string& name) {
    const auto& names = easing_names();
    auto it = std::find(names.begin(), names.end(), name);
    if (it == names.end()) throw InputError("unknown easing '" + name + "'; valid: " + join_names(names));
    return static_cast<Easing>(it - names.begin());
}

float apply_easing(Easing e, float u) {
    u = std::clamp(u, 0.0f, 1.0f);
    switch (e) {
        case Easing::Linear: return u;
        case Easing::EaseInOut: return u * u * (3.0f - 2.0f * u);  // smoothstep: zero speed at both ends
        case Easing::EaseOut: return 1.0f - (1.0f - u) * (1.0f - u);
    }
    return u;
}

const std::vector<std::string>& error_map_mode_names() {
    static const std::vector<std::string> names = {"off", "raw", "weighted"};
    return names;
}

const std::vector<std::string>& likelihood_mode_names() {
    static const std::vector<std::string> names = {"off", "model", "true"};
    return names;
}

void check_instruments(const InstrumentSettings& in, const Dataset& source, const Dataset& target) {
    // The exact marginal field (and so the error map) is the posterior mean for a normal source.
    if (in.error_map != ErrorMapMode::Off && source.kind() != DatasetKind::Normal)
        throw InputError("instruments.error_map needs the exact field: a normal source (the source is " +
                         quote_for_message(source.name()) + ")");
    if (in.likelihood == LikelihoodMode::Model && !source.has_density())
        throw InputError("instruments.likelihood \"model\" needs a source of known density (normal, uniform, "
                         "8gaussians, checkerboard; the source is " + quote_for_message(source.name()) + ")");
    if (in.likelihood == LikelihoodMode::True && !target.has_density())
        throw InputError("instruments.likelihood \"true\" needs a target of known density (normal, uniform, "
                         "8gaussians, checkerboard; the target is " + quote_for_message(target.name()) + ")");
}

const std::vector<std::string>& resolution_preset_names() {
    static const std::vector<std::string> names = {"720p", "1080p", "square"};
    return names;
}

void apply_resolution(const std::string& preset, VideoSettings& v) {
    if (preset == "720p" || preset == "1280x720") v.width = 1280, v.height = 720;
    else if (preset == "1080p" || preset == "1920x1080") v.width = 1920, v.height = 1080;
    else if (preset == "square" || preset == "1080x1080") v.width = 1080, v.height = 1080;
    else {
        int w = 0, h = 0;
        char tail = 0;
        if (std::sscanf(preset.c_str(), "%dx%d%c", &w, &h, &tail) != 2 || w < 2 || h < 2 || w > 8192 || h > 8192)
            throw InputError("unknown resolution '" + preset + "'; valid: 720p, 1080p, square or WxH (2..8192)");
        v.width = w, v.height = h;
    }
}

ExportSettings::ExportSettings() {
    // The window's network and the window's default layers, so an export looks like the app.
    train.width = 128;
    train.depth = 3;
    train.steps = 3000;
    video.width = 1280;
    video.height = 720;
    video.fps = 30;
    // Exports encode beside a software rasterizer on few cores: superfast costs ~35% less CPU than
    // veryfast for ~1.5x the file size at the same crf (a 5 s 720p clip: ~5 MB).
    video.mp4_preset = "superfast";
    layers.ui_scale = 0.0f;
}

int ExportSettings::frame_count() const { return std::max(1, static_cast<int>(std::lround(duration * video.fps))); }

SceneOptions ExportSettings::resolved_layers() const {
    SceneOptions o = layers;
    if (o.ui_scale <= 0.0f) o.ui_scale = std::max(0.5f, video.height / 720.0f);
    return o;
}

FrameTime frame_time(const ExportSettings& s, int k, int n) {
    FrameTime ft;
    const int snaps = s.mode == ExportMode::Timelapse ? std::max(1, s.snapshots) : 1;
    auto fps = static_cast<double>(s.video.fps);
    int hs = static_cast<int>(std::lround(s.hold_start * fps)), he = static_cast<int>(std::lround(s.hold_end * fps));
    // Short clips keep at least two moving frames: the holds give way first.
    while (hs + he > std::max(0, n - 2) && (hs > 0 || he > 0)) (hs >= he ? hs : he)--;
    const int m = n - hs - he;  // moving frames
    auto t_at = [&](float u) { return s.t0 + (s.t1 - s.t0) * apply_easing(s.easing, u); };
    auto frac = [](int j, int len) { return len > 1 ? static_cast<float>(j) / (len - 1) : 1.0f; };

    if (s.mode == ExportMode::Timelapse) {
        // The holds show the first and the last snapshot; the moving frames step through them.
        int j = std::clamp(k - hs, 0, std::max(0, m - 1));
        ft.snapshot = k < hs ? 0 : (k >= hs + m ? snaps - 1 : std::min(snaps - 1, j * snaps / std::max(1, m)));
        if (s.timelapse_show == TimelapseShow::Samples) {
            ft.t = s.t1;
        } else {
            // Each snapshot gets its share of the moving frames and sweeps t0 -> t1 in it.
            int first = (ft.snapshot * m + snaps - 1) / snaps, last = ((ft.snapshot + 1) * m + snaps - 1) / snaps;
            ft.t = k < hs ? s.t0 : (k >= hs + m ? s.t1 : t_at(frac(j - first, last - first)));
        }
        return ft;
    }
    if (!s.ping_pong) {
        ft.t = k < hs ? s.t0 : (k >= hs + m ? s.t1 : t_at(frac(k - hs, m)));
        return ft;
    }
    // Ping-pong: rest at t0, forward, rest at t1, back (ending just at t0, where the loop rests).
    const int forward = (m + 1) / 2, back = m - forward;
    int j = k - hs;
    if (k < hs) ft.t = s.t0;
    else if (j < forward) ft.t = t_at(frac(j, forward));
    else if (j < forward + he) ft.t = s.t1;
    else ft.t = t_at(1.0f - static_cast<float>(j - forward - he + 1) / std::max(1, back));
    return ft;
}

// ---------------------------------------------------------------------------------------------
// [SECTION] Validation

void ExportSettings::validate() const {
    auto range = [](bool ok, const std::string& what) {
        if (!ok) throw InputError(what);
    };
    range(train.steps >= 0 && train.steps <= 10'000'000, "training.steps must be in 0..10000000");
    range(train.steps >= 1 || !model.empty(), "training.steps must be at least 1 when no model file is given");
    range(train.batch >= 1 && train.batch <= 65536, "training.batch must be in 1..65536");
    range(std::isfinite(train.lr) && train.lr > 0.0f && train.lr < 1.0f, "training.lr must be in (0, 1)");
    range(train.width >= 16 && train.width <= 512, "network.width must be in 16..512");
    range(train.depth >= 1 && train.depth <= 6, "network.depth must be in 1..6");
    (void)make_activation(train.activation);
    (void)make_path(train.path);
    (void)make_coupling(train.coupling);
    (void)make_prediction(train.prediction);
    CouplingOptions co;
    co.ot_batch = train.ot_batch;
    co.ot_reg = train.ot_reg;
    co.sb_sigma = train.sb_sigma;
    co.validate();
    range(engine == "auto" || engine == "cpu" || engine == "gl", "engine must be one of auto, cpu, gl");
    range(particles >= 1 && particles <= 2'000'000, "particles.count must be in 1..2000000");
    (void)make_solver(solver);
    range(solver_steps >= 1 && solver_steps <= 1000, "particles.steps must be in 1..1000");
    range(solver_tolerance >= k_min_tolerance && solver_tolerance <= k_max_tolerance,
          "particles.tolerance must be in 1e-6..0.1");
    range(sde_gamma >= 0.0f && sde_gamma <= k_max_sde_gamma, "particles.sde_gamma must be in 0..5");
    (void)parse_follow_class(follow, "particles.follow");
    range(std::isfinite(guidance) && guidance >= 0.0f && guidance <= k_max_guidance,
          "particles.guidance must be in 0..10");
    range(std::isfinite(train.p_uncond) && train.p_uncond >= 0.0f && train.p_uncond <= 1.0f,
          "network.p_uncond must be in 0..1");
    range(std::isfinite(center_x) && std::isfinite(center_y) && std::fabs(center_x) <= k_max_coordinate &&
              std::fabs(center_y) <= k_max_coordinate,
          "view.center must be within the coordinate range |x|, |y| <= 1e6");
    range(std::isfinite(view_height) && view_height > 1e-4f && view_height <= 2 * k_max_coordinate,
          "view.height must be in (0.0001, 2e6]");
    range(video.width >= 2 && video.width <= 8192 && video.height >= 2 && video.height <= 8192,
          "video.width and video.height must be in 2..8192");
    range(video.fps >= 1 && video.fps <= 120, "video.fps must be in 1..120");
    range(video.crf >= 0 && video.crf <= 51, "video.crf must be in 0..51");
    range(std::isfinite(duration) && duration >= 0.05 && duration <= 600, "video.duration must be in 0.05..600 seconds");
    range(std::isfinite(t0) && std::isfinite(t1) && t0 >= 0 && t0 <= 1 && t1 >= 0 && t1 <= 1,
          "video.t0 and video.t1 must be in [0, 1]");
    range(std::isfinite(figure_t) && figure_t >= 0 && figure_t <= 1, "figure_t must be in [0, 1]");
    range(std::isfinite(hold_start) && std::isfinite(hold_end) && hold_start >= 0 && hold_end >= 0 &&
              hold_start + hold_end <= duration,
          "video.hold_start and video.hold_end must be >= 0 and together at most video.duration");
    range(snapshots >= 2 && snapshots <= 1000, "timelapse.snapshots must be in 2..1000");
    range(mode != ExportMode::Timelapse || model.empty(), "a timelapse trains from scratch: leave model empty");
    range(mode != ExportMode::Timelapse || train.steps >= 1, "a timelapse needs training.steps >= 1");
    range(title.size() <= 200, "overlays.title must be at most 200 characters");
    const SceneOptions& o = layers;
    range(o.point_size > 0 && o.point_size <= 64, "layers.point_size must be in (0, 64]");
    range(o.point_alpha > 0 && o.point_alpha <= 1, "layers.point_alpha must be in (0, 1]");
    range(o.arrow_spacing >= 8 && o.arrow_spacing <= 400, "layers.arrow_spacing must be in 8..400");
    range(o.arrow_scale > 0 && o.arrow_scale <= 10, "layers.arrow_scale must be in (0, 10]");
    range(o.trail_length > 0 && o.trail_length <= 1, "layers.trail_length must be in (0, 1]");
    range(o.trail_count >= 1 && o.trail_count <= 100000, "layers.trail_count must be in 1..100000");
    range(o.path_count >= 1 && o.path_count <= 2000, "layers.path_count must be in 1..2000");
    range(o.ui_scale >= 0 && o.ui_scale <= 16, "layers.scale must be in 0..16 (0: by the frame height)");
    const InstrumentSettings& in = instruments;
    auto on_plane = [](const std::optional<Eigen::Vector2f>& p) {
        return !p || (p->allFinite() && p->cwiseAbs().maxCoeff() <= k_max_coordinate);
    };
    range(on_plane(in.lens), "instruments.lens must be within the coordinate range |x|, |y| <= 1e6");
    range(std::isfinite(in.lens_bandwidth) && in.lens_bandwidth > 0 && in.lens_bandwidth <= 10,
          "instruments.lens_bandwidth must be in (0, 10]");
    range(in.likelihood_steps >= 1 && in.likelihood_steps <= 4096, "instruments.likelihood_steps must be in 1..4096");
    range(on_plane(in.trace), "instruments.trace must be within the coordinate range |x|, |y| <= 1e6");
}

// ---------------------------------------------------------------------------------------------
// [SECTION] JSON

namespace {

// In the order of ColorMode and ArrowMode.
const std::vector<std::string> k_color_names = {"source", "mode", "single", "class"};
const std::vector<std::string> k_arrow_names = {"learned", "exact", "difference", "score", "guidance"};
const std::vector<std::string> k_pathmode_names = {"marginal", "conditional", "both"};
const std::vector<std::string> k_mode_names = {"sweep", "timelapse"};
const std::vector<std::string> k_show_names = {"samples", "sweep"};

// Walks one JSON object: every key read is marked, and finish() rejects the rest, so a typo in
// scene.json is an error rather than a silently ignored setting.
class ObjectReader {
  public:
    ObjectReader(const json& j, std::string prefix) : m_j(j), m_prefix(std::move(prefix)) {
        if (!j.is_object()) throw InputError(where("") + " must be a JSON object");
    }
    std::string where(const std::string& key) const {
        return m_prefix.empty() ? key : (key.empty() ? m_prefix : m_prefix + "." + key);
    }
    const json* find(const std::string& key) {
        m_known.insert(key);
        auto it = m_j.find(key);
        return it == m_j.end() ? nullptr : &*it;
    }
    void get(const std::string& key, bool& out) {
        if (const json* v = find(key)) {
            if (!v->is_boolean()) throw InputError(where(key) + " must be true or false");
            out = v->get<bool>();
        }
    }
    template <class T>
    void number(const std::string& key, T& out) {
        if (const json* v = find(key)) {
            if (!v->is_number()) throw InputError(where(key) + " must be a number");
            double d = v->get<double>();
            if (!std::isfinite(d)) throw InputError(where(key) + " must be finite");
            // Range first: converting a double beyond the target type is undefined behaviour.
            if constexpr (std::is_integral_v<T>) {
                if (d != std::floor(d) || d < -2e9 || d > 2e9) throw InputError(where(key) + " must be an integer");
                if (std::is_unsigned_v<T> && d < 0) throw InputError(where(key) + " must not be negative");
            } else {
                if (std::fabs(d) > std::numeric_limits<float>::max())
                    throw InputError(where(key) + " is beyond the 32-bit float range");
            }
            out = static_cast<T>(d);
        }
    }
    void text(const std::string& key, std::string& out) {
        if (const json* v = find(key)) {
            if (!v->is_string()) throw InputError(where(key) + " must be a string");
            out = v->get<std::string>();
        }
    }
    // A name from a list; the index goes to `out`.
    void choice(const std::string& key, const std::vector<std::string>& names, int& out) {
        std::string s;
        if (!find(key)) return;
        text(key, s);
        auto it = std::find(names.begin(), names.end(), s);
        if (it == names.end())
            throw InputError(where(key) + ": unknown value " + quote_for_message(s) + "; valid: " + join_names(names));
        out = static_cast<int>(it - names.begin());
    }
    // Checks a name with a maker that throws InputError, prefixing the field.
    void named(const std::string& key, std::string& out, const std::function<void(const std::string&)>& check) {
        std::string s = out;
        text(key, s);
        try {
            check(s);
        } catch (const InputError& e) {
            throw InputError(where(key) + ": " + e.what());
        }
        out = s;
    }
    // null (out reset) or [x, y], each within the coordinate range.
    void point_or_null(const std::string& key, std::optional<Eigen::Vector2f>& out) {
        const json* v = find(key);
        if (!v) return;
        if (v->is_null()) {
            out.reset();
            return;
        }
        if (!v->is_array() || v->size() != 2 || !(*v)[0].is_number() || !(*v)[1].is_number())
            throw InputError(where(key) + " must be null or [x, y]");
        const double x = (*v)[0].get<double>(), y = (*v)[1].get<double>();
        // Range first: a double beyond the float range does not convert.
        if (!std::isfinite(x) || !std::isfinite(y) || std::fabs(x) > k_max_coordinate || std::fabs(y) > k_max_coordinate)
            throw InputError(where(key) + " must be within the coordinate range |x|, |y| <= 1e6");
        out = Eigen::Vector2f(static_cast<float>(x), static_cast<float>(y));
    }
    void finish() const {
        for (auto it = m_j.begin(); it != m_j.end(); ++it)
            if (!m_known.count(it.key())) throw InputError("unknown key " + quote_for_message(where(it.key())));
    }

  private:
    const json& m_j;
    std::string m_prefix;
    std::set<std::string> m_known;
};

template <class E>
void enum_choice(ObjectReader& r, const std::string& key, const std::vector<std::string>& names, E& out) {
    int i = static_cast<int>(out);
    r.choice(key, names, i);
    out = static_cast<E>(i);
}

void read_layers(const json& j, SceneOptions& o) {
    ObjectReader r(j, "layers");
    std::string views;
    if (r.find("views")) {
        r.text("views", views);
        try {
            apply_views(views, o);
        } catch (const InputError& e) {
            throw InputError(std::string("layers.views: ") + e.what());
        }
    }
    r.get("particles", o.particles);
    r.get("arrows", o.arrows);
    r.get("paths", o.paths);
    r.get("trails", o.trails);
    r.get("heatmap", o.heatmap);
    r.get("targets", o.targets);
    r.get("sources", o.sources);
    r.get("grid", o.grid);
    enum_choice(r, "color", k_color_names, o.color);
    enum_choice(r, "arrow_mode", k_arrow_names, o.arrow_mode);
    enum_choice(r, "path_mode", k_pathmode_names, o.path_mode);
    r.number("path_count", o.path_count);
    r.number("point_size", o.point_size);
    r.number("point_alpha", o.point_alpha);
    r.get("additive", o.additive);
    r.number("arrow_spacing", o.arrow_spacing);
    r.number("arrow_scale", o.arrow_scale);
    r.number("trail_length", o.trail_length);
    r.number("trail_count", o.trail_count);
    r.number("scale", o.ui_scale);
    r.finish();
}

}  // namespace

std::string views_string(const SceneOptions& o) {
    std::string s;
    auto add = [&](bool on, const char* name) {
        if (!on) return;
        if (!s.empty()) s += ',';
        s += name;
    };
    add(o.particles, "particles");
    add(o.arrows, "arrows");
    add(o.paths, "paths");
    add(o.trails, "trails");
    add(o.heatmap, "heatmap");
    add(o.targets, "targets");
    add(o.sources, "sources");
    add(o.grid, "grid");
    return s;
}

std::string export_settings_to_json(const ExportSettings& s) {
    const SceneOptions& o = s.layers;
    json j;
    j["format"] = "fmplay-export";
    j["version"] = 1;
    j["mode"] = k_mode_names[static_cast<int>(s.mode)];
    j["data"] = {{"target", s.train.target}, {"source", s.train.source}, {"path", s.train.path},
                 {"coupling", s.train.coupling}, {"ot_batch", s.train.ot_batch},
                 {"ot_reg", s.train.ot_reg}, {"sb_sigma", s.train.sb_sigma}};
    j["network"] = {{"width", s.train.width}, {"depth", s.train.depth}, {"activation", s.train.activation},
                    {"prediction", s.train.prediction}, {"classes", s.train.classes},
                    {"p_uncond", s.train.p_uncond}};
    j["training"] = {{"steps", s.train.steps}, {"lr", s.train.lr}, {"batch", s.train.batch},
                     {"seed", s.train.seed}, {"engine", s.engine}};
    j["model"] = s.model;
    j["particles"] = {{"count", s.particles},
                      {"solver", s.solver},
                      {"steps", s.solver_steps},
                      {"tolerance", s.solver_tolerance},
                      {"sde_gamma", s.sde_gamma},
                      {"follow", s.follow},
                      {"guidance", s.guidance}};
    if (s.fit) j["view"] = "fit";
    else j["view"] = {{"center", {s.center_x, s.center_y}}, {"height", s.view_height}};
    j["layers"] = {{"particles", o.particles},
                   {"arrows", o.arrows},
                   {"paths", o.paths},
                   {"trails", o.trails},
                   {"heatmap", o.heatmap},
                   {"targets", o.targets},
                   {"sources", o.sources},
                   {"grid", o.grid},
                   {"color", k_color_names[static_cast<int>(o.color)]},
                   {"arrow_mode", k_arrow_names[static_cast<int>(o.arrow_mode)]},
                   {"path_mode", k_pathmode_names[static_cast<int>(o.path_mode)]},
                   {"path_count", o.path_count},
                   {"point_size", o.point_size},
                   {"point_alpha", o.point_alpha},
                   {"additive", o.additive},
                   {"arrow_spacing", o.arrow_spacing},
                   {"arrow_scale", o.arrow_scale},
                   {"trail_length", o.trail_length},
                   {"trail_count", o.trail_count},
                   {"scale", o.ui_scale}};
    j["video"] = {{"width", s.video.width},       {"height", s.video.height},     {"fps", s.video.fps},
                  {"duration", s.duration},        {"easing", easing_name(s.easing)},
                  {"t0", s.t0},                    {"t1", s.t1},                   {"hold_start", s.hold_start},
                  {"hold_end", s.hold_end},        {"ping_pong", s.ping_pong},     {"crf", s.video.crf},
                  {"x264_preset", s.video.mp4_preset}, {"gif_dither", s.video.gif_dither}};
    j["figure_t"] = s.figure_t;
    j["overlays"] = {{"time", s.show_t}, {"title", s.title}, {"path", s.show_path}};
    j["timelapse"] = {{"snapshots", s.snapshots}, {"show", k_show_names[static_cast<int>(s.timelapse_show)]}};
    const InstrumentSettings& in = s.instruments;
    auto point = [](const std::optional<Eigen::Vector2f>& p) { return p ? json{p->x(), p->y()} : json(nullptr); };
    j["instruments"] = {{"lens", point(in.lens)},
                        {"lens_bandwidth", in.lens_bandwidth},
                        {"error_map", error_map_mode_names()[static_cast<int>(in.error_map)]},
                        {"likelihood", likelihood_mode_names()[static_cast<int>(in.likelihood)]},
                        {"likelihood_steps", in.likelihood_steps},
                        {"trace", point(in.trace)}};
    return j.dump(2) + "\n";
}

ExportSettings export_settings_from_json(const std::string& text, const std::string& source_name) {
    const std::string shown = one_line_message(source_name, 200);
    json j;
    try {
        j = json::parse(text);
    } catch (const json::parse_error& e) {
        throw InputError(shown + ": malformed JSON (byte " + std::to_string(e.byte) + ")");
    } catch (const json::exception& e) {
        // Also out_of_range (a number like 1e999 that no double holds): the file is bad input.
        throw InputError(shown + ": unreadable JSON (" + one_line_message(e.what(), 120) + ")");
    }
    ExportSettings s;
    try {
        ObjectReader r(j, "");
        if (const json* f = r.find("format"); f && *f != "fmplay-export")
            throw InputError("format must be \"fmplay-export\"");
        if (const json* v = r.find("version"); v && *v != 1) throw InputError("version must be 1");
        enum_choice(r, "mode", k_mode_names, s.mode);
        if (const json* d = r.find("data")) {
            ObjectReader dr(*d, "data");
            dr.named("target", s.train.target, [](const std::string& n) { (void)make_dataset(n); });
            dr.named("source", s.train.source, [](const std::string& n) { (void)make_dataset(n); });
            dr.named("path", s.train.path, [](const std::string& n) { (void)make_path(n); });
            dr.named("coupling", s.train.coupling, [](const std::string& n) { (void)make_coupling(n); });
            dr.number("ot_batch", s.train.ot_batch);
            dr.number("ot_reg", s.train.ot_reg);
            dr.number("sb_sigma", s.train.sb_sigma);
            dr.finish();
        }
        if (const json* n = r.find("network")) {
            ObjectReader nr(*n, "network");
            nr.number("width", s.train.width);
            nr.number("depth", s.train.depth);
            nr.named("activation", s.train.activation, [](const std::string& a) { (void)make_activation(a); });
            nr.named("prediction", s.train.prediction, [](const std::string& a) { (void)make_prediction(a); });
            nr.get("classes", s.train.classes);
            nr.number("p_uncond", s.train.p_uncond);
            nr.finish();
        }
        if (const json* t = r.find("training")) {
            ObjectReader tr(*t, "training");
            tr.number("steps", s.train.steps);
            tr.number("lr", s.train.lr);
            tr.number("batch", s.train.batch);
            tr.number("seed", s.train.seed);
            tr.text("engine", s.engine);
            tr.finish();
        }
        r.text("model", s.model);
        if (const json* p = r.find("particles")) {
            ObjectReader pr(*p, "particles");
            pr.number("count", s.particles);
            pr.named("solver", s.solver, [](const std::string& n) { (void)make_solver(n); });
            pr.number("steps", s.solver_steps);
            pr.number("tolerance", s.solver_tolerance);
            pr.number("sde_gamma", s.sde_gamma);
            pr.named("follow", s.follow, [](const std::string& f) { (void)parse_follow_class(f, "the class followed"); });
            pr.number("guidance", s.guidance);
            pr.finish();
        }
        if (const json* v = r.find("view")) {
            if (v->is_string()) {
                if (*v != "fit") throw InputError("view must be \"fit\" or {\"center\": [x, y], \"height\": h}");
                s.fit = true;
            } else {
                ObjectReader vr(*v, "view");
                s.fit = false;
                if (const json* c = vr.find("center")) {
                    if (!c->is_array() || c->size() != 2 || !(*c)[0].is_number() || !(*c)[1].is_number())
                        throw InputError("view.center must be [x, y]");
                    s.center_x = (*c)[0].get<float>();
                    s.center_y = (*c)[1].get<float>();
                }
                vr.number("height", s.view_height);
                vr.finish();
            }
        }
        if (const json* l = r.find("layers")) read_layers(*l, s.layers);
        if (const json* v = r.find("video")) {
            ObjectReader vr(*v, "video");
            if (vr.find("resolution")) {
                std::string res;
                vr.text("resolution", res);
                try {
                    apply_resolution(res, s.video);
                } catch (const InputError& e) {
                    throw InputError(std::string("video.resolution: ") + e.what());
                }
            }
            vr.number("width", s.video.width);
            vr.number("height", s.video.height);
            vr.number("fps", s.video.fps);
            vr.number("duration", s.duration);
            enum_choice(vr, "easing", easing_names(), s.easing);
            vr.number("t0", s.t0);
            vr.number("t1", s.t1);
            vr.number("hold_start", s.hold_start);
            vr.number("hold_end", s.hold_end);
            vr.get("ping_pong", s.ping_pong);
            vr.number("crf", s.video.crf);
            vr.named("x264_preset", s.video.mp4_preset, [](const std::string& p) {
                static const std::vector<std::string> presets = {"ultrafast", "superfast", "veryfast", "faster", "fast",
                                                                 "medium",    "slow",      "slower",   "veryslow"};
                if (std::find(presets.begin(), presets.end(), p) == presets.end())
                    throw InputError("unknown preset '" + p + "'; valid: " + join_names(presets));
            });
            vr.get("gif_dither", s.video.gif_dither);
            vr.finish();
        }
        r.number("figure_t", s.figure_t);
        if (const json* o = r.find("overlays")) {
            ObjectReader orr(*o, "overlays");
            orr.get("time", s.show_t);
            orr.text("title", s.title);
            orr.get("path", s.show_path);
            orr.finish();
        }
        if (const json* t = r.find("timelapse")) {
            ObjectReader tr(*t, "timelapse");
            tr.number("snapshots", s.snapshots);
            enum_choice(tr, "show", k_show_names, s.timelapse_show);
            tr.finish();
        }
        if (const json* in = r.find("instruments")) {
            ObjectReader ir(*in, "instruments");
            InstrumentSettings& is = s.instruments;
            ir.point_or_null("lens", is.lens);
            ir.number("lens_bandwidth", is.lens_bandwidth);
            enum_choice(ir, "error_map", error_map_mode_names(), is.error_map);
            enum_choice(ir, "likelihood", likelihood_mode_names(), is.likelihood);
            ir.number("likelihood_steps", is.likelihood_steps);
            ir.point_or_null("trace", is.trace);
            ir.finish();
        }
        r.finish();
        s.validate();
    } catch (const InputError& e) {
        throw InputError(shown + ": " + e.what());
    } catch (const json::exception& e) {
        throw InputError(shown + ": " + one_line_message(e.what(), 120));
    }
    return s;
}

void save_export_settings(const std::string& path, const ExportSettings& s) {
    s.validate();
    write_file_atomic(path, export_settings_to_json(s));
}

ExportSettings load_export_settings(const std::string& path) {
    return export_settings_from_json(read_file(path, 4u << 20), path);
}

}  // namespace fmp
