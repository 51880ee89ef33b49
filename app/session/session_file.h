// The session file (.fmplay): everything needed to reopen the window's work exactly.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "app/export/export_settings.h"
#include "core/engine/engine.h"
#include "core/nn/model_file.h"

namespace fmp {

// A drawn point set as the window's editor holds it (its classes: empty, or one per point).
struct DrawnSet {
    Points points = Points(0, 2);
    std::vector<uint8_t> classes;
};

// Format (docs/session_format.md): one JSON object
// { "format": "fmplay-session", "version": 1,
//   "scene": the window's settings as scene.json holds them (export_settings_to_json),
//   "model": the network and its data as a model file holds them (model_to_json), the drawn
//            sets in use included with their points,
//   "training": {"step", "adam_m", "adam_v", "batch_rng": {...}, "losses": [[step, loss], ...],
//                "running"},
//   "window": {"t", "playing", "camera": {"center": [x, y], "pixels_per_unit"},
//              "drawn": {"target": {...}, "source": {...}}, "target_drawn", "source_drawn",
//              "compare": {"on", "path", "coupling", "prediction", "solver", "steps"} (version 2)} }
struct Session {
    ExportSettings scene;   // data names, path, coupling, network, training, particles, layers, view, lens
    ModelFile model;        // the network's config, weights (model.params), path, coupling, datasets
    TrainingState training; // training.params is model.params (stored once)
    std::vector<LossRecord> losses;  // the loss history the window plots
    bool running = true;             // training was running
    // The window.
    float t = 0.0f;
    bool playing = true;
    float center_x = 0.0f, center_y = 0.0f, pixels_per_unit = 100.0f;
    DrawnSet drawn_target, drawn_source;  // the draw panel's sets (empty: none drawn)
    bool target_drawn = false, source_drawn = false;  // the drawn set is the side's dataset
    // Side by side (version 2): B's differences from A by name ("same": as A; steps 0: as A).
    // B's network is not stored: it trains again from fresh weights when the session opens.
    struct Compare {
        bool on = false;
        std::string path = "same", coupling = "same", prediction = "same", solver = "same";
        int steps = 0;
    } compare;
};

inline constexpr int k_session_version = 2;  // 2: window.compare (version 1 files still open)
inline constexpr std::size_t k_max_session_bytes = std::size_t(1) << 30;
inline constexpr std::size_t k_max_session_losses = 200000;

std::string session_to_json(const Session& session);
// Throws InputError (one line naming the field) for malformed JSON, another format, a version
// this fmplay does not read, or any invalid value; nothing is half-read.
Session session_from_json(const std::string& text, const std::string& source_name = "session");
void save_session(const std::string& path, const Session& session);  // atomic: temporary name + rename
Session load_session(const std::string& path);  // at most k_max_session_bytes

}  // namespace fmp
