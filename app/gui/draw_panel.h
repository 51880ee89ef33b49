// Custom distributions in the window: draw mode (brush, eraser, undo), imports (image, text,
// CSV), export, and the drawn target/source sets that persist next to imgui.ini.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "app/render/scene_renderer.h"
#include "app/session/session_file.h"
#include "core/data/brush.h"
#include "core/data/dataset.h"
#include "core/data/point_import.h"

namespace fmp {

class GuiApp;

enum class DrawWhich { Target = 0, Source = 1 };

// Owned by GuiApp (a friend, like ExportPanel). The window's dataset combos have one extra entry,
// custom_index(), which stands for the drawn set of that side.
class DrawPanel {
  public:
    DrawPanel();
    // The combo index of "custom (drawn)": right after the analytic datasets.
    static int custom_index();
    static const char* custom_label() { return "custom (drawn)"; }

    // Settings directory (where imgui.ini lives); empty disables persistence (test runs).
    void set_settings_dir(const std::string& dir) { m_dir = dir; }
    // Loads the saved sets; returns which sides were selected when the app last closed.
    void load_saved(GuiApp& app, bool& target_selected, bool& source_selected);
    // Writes the changed sets and the selection (atomically); force: even if nothing changed.
    void save(const GuiApp& app, bool force);

    // The dataset for a side: the drawn points, or `fallback` while the set is empty. Marks the
    // revision as handed over.
    Dataset dataset(DrawWhich which, const Dataset& fallback);
    std::size_t count(DrawWhich which) const { return editor(which).count(); }
    // A side's drawn set with its classes (a session), and putting one back (its history goes).
    DrawnSet drawn(DrawWhich which) const;
    void restore(DrawWhich which, const DrawnSet& set);
    // A dataset spec string for the CLI/exports: the saved CSV of the drawn set.
    std::string spec_for_export(const GuiApp& app, DrawWhich which);

    // The "Draw & import" part of the Data section.
    void panel(GuiApp& app);
    // Keys (D, Ctrl+Z, ...) and canvas strokes; returns true when it owns the mouse (no panning).
    bool handle_input(GuiApp& app);
    // Per frame: hands a changed set to the trainer and the flow worker (throttled in strokes)
    // and saves changed sets now and then.
    void update(GuiApp& app);
    // The edited set as markers (only rebuilt when it changed) and the brush circle.
    void add_layer(Scene& scene, float ui_scale);
    void take_layer(Scene& scene);
    void draw_overlay(GuiApp& app);

    // Scripted tests: import_text, import_image, import_csv, export_csv, draw, erase, undo, redo,
    // clear, draw_which, drawmode, paint_class (0..7). Returns false if the key is not one of these.
    bool apply_script(GuiApp& app, const std::string& key, const std::string& value);
    static const std::vector<std::string>& script_keys();

    bool active() const { return m_active; }
    const std::string& error() const { return m_error; }
    int swaps() const { return m_swaps; }           // datasets handed over with weights kept
    int64_t swap_step() const { return m_swap_step; }  // training step at the last hand-over

  private:
    PointSetEditor& editor(DrawWhich w) { return w == DrawWhich::Target ? m_target : m_source; }
    const PointSetEditor& editor(DrawWhich w) const {
        return w == DrawWhich::Target ? m_target : m_source;
    }
    // Makes the side's combo show the drawn set; true if it was not selected before.
    bool select_custom(GuiApp& app, DrawWhich w);
    bool is_selected(const GuiApp& app, DrawWhich w) const;
    // Hands the drawn set(s) to training and the particles now (weights kept).
    void push(GuiApp& app);
    void import(GuiApp& app, const std::string& what, const Points& points,
                const std::vector<uint8_t>& classes = {});
    // The side's classes when it uses two or more (a labelled set), else none.
    std::vector<uint8_t> labels(DrawWhich w) const;
    void fail(GuiApp& app, const std::string& message);
    void do_import_image(GuiApp& app);
    void do_import_text(GuiApp& app);
    void do_import_csv(GuiApp& app);
    void do_export_csv(GuiApp& app);
    void synthetic_stroke(GuiApp& app, const std::string& value, bool erase);
    float world_radius(const GuiApp& app) const;
    std::string file_for(DrawWhich w) const;

    PointSetEditor m_target{11}, m_source{12};
    uint64_t m_sent_rev[2] = {0, 0};   // revision last handed to training
    uint64_t m_saved_rev[2] = {0, 0};  // revision last written to disk
    double m_last_push = 0.0, m_last_save = 0.0;
    int m_swaps = 0;
    int64_t m_swap_step = -1;
    std::string m_dir;

    // Draw mode.
    bool m_active = false;
    DrawWhich m_which = DrawWhich::Target;
    bool m_eraser = false;
    float m_radius_px = 22.0f;  // brush radius in screen units
    float m_density = 1500.0f;  // points per unit of data area
    int m_stroke_button = -1;   // mouse button of the open stroke
    bool m_stroke_erases = false;

    // Marker layer cache.
    PointLayer m_layer;
    bool m_layer_in_scene = false;
    uint64_t m_layer_rev = ~0ull;
    DrawWhich m_layer_which = DrawWhich::Target;
    bool m_layer_labelled = false;

    // Import fields.
    char m_image_path[512] = "";
    char m_text[128] = "FLOW";
    char m_csv_path[512] = "";
    char m_export_path[512] = "points.csv";
    ImageImportOptions m_image_opt;
    bool m_open_next = false;  // unfold the import section on the next frame
    std::string m_error;   // the last failed import (red)
    std::string m_notice;  // the last successful one
};

}  // namespace fmp
