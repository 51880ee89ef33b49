// Export settings ("scene.json"): what to train or load, what to draw, and how to time the clip.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "app/export/frame_sink.h"
#include "app/render/scene_builder.h"
#include "app/run/train_options.h"
#include "core/data/dataset.h"

namespace fmp {

enum class ExportMode {
    Sweep,      // the trained flow from t0 to t1
    Timelapse,  // the flow as the network learns: training in chunks, one snapshot per chunk
};
enum class Easing { Linear, EaseInOut, EaseOut };
enum class TimelapseShow {
    Samples,  // each snapshot shown at t = t1 (the model's samples as training goes on)
    Sweep,    // each snapshot sweeps t0 -> t1
};
enum class ErrorMapMode { Off, Raw, Weighted };  // |v - u|^2, or weighted by p_t
enum class LikelihoodMode { Off, Model, True };  // the model's log p_1, or the target's own

// The instruments drawn over every frame ("instruments" in scene.json), each at that frame's t;
// all off by default. Their layers are app/render/instrument_layers' (the window's).
struct InstrumentSettings {
    std::optional<Eigen::Vector2f> lens;   // the posterior lens at this point (null: none)
    float lens_bandwidth = 0.15f;          // its pairwise kernel for a non-normal source, (0, 10]
    ErrorMapMode error_map = ErrorMapMode::Off;
    LikelihoodMode likelihood = LikelihoodMode::Off;
    int likelihood_steps = 32;             // RK4 steps of the backward ODE, 1..4096
    std::optional<Eigen::Vector2f> trace;  // a point at t = 1 carried back to t = 0 (null: none)
    bool any() const {
        return lens || trace || error_map != ErrorMapMode::Off || likelihood != LikelihoodMode::Off;
    }
};

struct ExportSettings {
    // ---- what is trained (or loaded): datasets, path, coupling, network, training
    TrainOptions train;              // target moons, source normal, condot, 128x3 silu, 3000 steps
    std::string model;               // a model file (fmplay train) to load instead of training
    std::string engine = "auto";     // training engine: auto, cpu, gl

    // ---- the particles
    int particles = 20000;           // 1..2M
    std::string solver = "midpoint";
    int solver_steps = 20;           // ODE steps from t=0 to t=1 (1..1000); dopri5: frames
    float solver_tolerance = 1e-4f;  // dopri5's tolerance (1e-6..0.1), "particles.tolerance"
    float sde_gamma = 0.0f;          // > 0: the SDE sampler, g(t) = gamma sigma_t (0..5), "particles.sde_gamma"
    // A class-conditional network (network.classes, or a model file's): the class the particles
    // follow ("all", "none" or a class; parse_follow_class) and the guidance scale w (0..10).
    std::string follow = "all";
    float guidance = 1.0f;

    // ---- the view: "fit" frames the data (target and source); otherwise centre and height
    bool fit = true;
    float center_x = 0.0f, center_y = 0.0f;
    float view_height = 6.0f;        // world units from the bottom to the top edge of the frame

    // ---- layers: what the window's View panel sets (app/render/scene_builder.h); ui_scale 0 = auto
    // (the frame height / 720, at least 0.5, so a 1080p export looks like a 720p one, only sharper)
    SceneOptions layers;

    // ---- video
    VideoSettings video;             // size, fps, crf, x264 preset (superfast), GIF dithering
    double duration = 5.0;           // seconds of the whole clip, holds included (0.1..600)
    Easing easing = Easing::EaseInOut;
    float t0 = 0.0f, t1 = 1.0f;      // the t range swept (t1 < t0 sweeps backward)
    double hold_start = 0.5;         // seconds resting at t0 before the sweep
    double hold_end = 0.5;           // seconds resting at t1 after it
    bool ping_pong = false;          // sweep t0 -> t1, rest, then back to t0 (the clip loops)
    float figure_t = 1.0f;           // the t of a single PNG figure

    // ---- overlays, drawn onto the frames
    bool show_t = true;              // "t = 0.42" in the lower left
    std::string title;               // a title in the upper left (empty: none)
    bool show_path = true;           // "condot path, independent coupling" under the title

    // ---- mode
    ExportMode mode = ExportMode::Sweep;
    int snapshots = 30;              // timelapse: snapshots over the training steps (2..1000)
    TimelapseShow timelapse_show = TimelapseShow::Samples;

    // ---- the instruments (lens, error map, likelihood, inverse map), drawn under/over the layers
    InstrumentSettings instruments;

    ExportSettings();  // the default scene: moons from a normal, arrows off, a 5 s 720p sweep
    // Throws InputError (one line naming the field) for any out-of-range value or unknown name.
    void validate() const;
    // The number of frames of a clip: round(duration * fps), at least 1.
    int frame_count() const;
    // The scene options with ui_scale resolved for the export's size.
    SceneOptions resolved_layers() const;
};

// JSON text of every field (so a saved file documents the defaults too).
std::string export_settings_to_json(const ExportSettings& s);
// Every key optional (missing: the default). Throws InputError (one line naming the field, e.g.
// "scene.json: video.fps must be in 1..120") for malformed JSON, unknown keys or bad values.
ExportSettings export_settings_from_json(const std::string& text, const std::string& source_name = "scene.json");
void save_export_settings(const std::string& path, const ExportSettings& s);  // atomic
ExportSettings load_export_settings(const std::string& path);

// The comma list of the shown layers in --views form ("particles,targets,grid").
std::string views_string(const SceneOptions& o);

// Resolution presets: "720p" 1280x720, "1080p" 1920x1080, "square" 1080x1080, or "WxH".
// Throws InputError naming the presets.
void apply_resolution(const std::string& preset, VideoSettings& v);
const std::vector<std::string>& resolution_preset_names();

const std::vector<std::string>& error_map_mode_names();   // "off", "raw", "weighted"
const std::vector<std::string>& likelihood_mode_names();  // "off", "model", "true"
// What the instruments need of the data, checked before an export starts (InputError, one line
// naming the key): the error map the exact field (a normal source), the model's likelihood a
// source of known density, the true one a target of known density.
void check_instruments(const InstrumentSettings& instruments, const Dataset& source,
                       const Dataset& target);

const std::vector<std::string>& easing_names();  // "linear", "ease-in-out", "ease-out"
std::string easing_name(Easing e);
Easing make_easing(const std::string& name);     // throws InputError
float apply_easing(Easing e, float u);           // u in [0, 1] -> [0, 1], monotone, fixed ends

// Where frame k of n is in the clip: the t shown and, for a timelapse, the snapshot.
struct FrameTime {
    float t = 0.0f;
    int snapshot = 0;  // 0..snapshots-1 (always 0 for a sweep)
};
FrameTime frame_time(const ExportSettings& s, int k, int n);

}  // namespace fmp
