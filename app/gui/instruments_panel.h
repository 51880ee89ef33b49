// The instruments in the window: the posterior lens, the error map, the likelihood, the inverse
// map with its log-det, and FM = CFM + constant over training. Each is a control in the View
// panel (with a tooltip stating its formula), a layer on the canvas and, where it has numbers, a
// plot; the heavy computations run on an InstrumentWorker.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "app/export/export_settings.h"
#include "app/gui/instrument_worker.h"
#include "app/render/instrument_layers.h"
#include "core/nn/mlp.h"

namespace fmp {

class GuiApp;

class InstrumentsPanel {
  public:
    InstrumentsPanel();
    // The instruments on a GL engine of the worker's own (the window trains on a GPU); call
    // before the first sync.
    void use_gpu(bool gpu);

    // Once a frame: follows the model and the weights, says what is wanted.
    void sync(GuiApp& app);
    // The canvas's mouse: in lens mode the left button places the lens (true: it is taken);
    // Shift + left click traces a point back to t = 0 (the inverse map).
    bool handle_input(GuiApp& app);
    // Scripted runs: waits for the worker's results, then takes them (before a screenshot).
    void settle(GuiApp& app, double timeout_seconds);
    // Heatmaps go under the particles, the lens and the traced path on top.
    void add_layers(GuiApp& app, Scene& scene);
    // Colour bars and the lens's numbers over the canvas.
    void draw_canvas_overlay(GuiApp& app);
    // The "Why it works" section of the View panel.
    void draw_section(GuiApp& app);
    // FM vs CFM over training, under the loss plots.
    void draw_losses(GuiApp& app);

    // The instruments shown now, for an export of the window's layers (the likelihood steps and
    // anything the window does not set are kept from `base`).
    InstrumentSettings export_settings(InstrumentSettings base) const;
    // The other way (an opened session): the lens, its bandwidth and the heatmaps; the traced
    // path is not restored (trace it again with Shift+click).
    void apply_settings(const InstrumentSettings& settings);

    // --script keys: lens=X,Y | lens=off, errormap=off|raw|weighted, likelihood=off|model|true,
    // trace=X,Y, fmcfm=on|off.
    static const std::vector<std::string>& script_keys();
    // Checks a value before the window opens (throws InputError).
    static void check_script(const std::string& key, const std::string& value);
    bool apply_script(GuiApp& app, const std::string& key, const std::string& value);

  private:
    void update_lens(GuiApp& app);
    void draw_color_bar(const ColorScale& scale, float x, float y, float w, float s);

    bool m_gpu = false;
    std::unique_ptr<InstrumentWorker> m_worker;
    // The model the worker follows (a change of any of these rebuilds it).
    uint64_t m_generation = ~uint64_t(0);
    const void* m_source_points = nullptr;
    const void* m_target_points = nullptr;
    int m_source_kind = -1, m_target_kind = -1, m_path_kind = -1;
    uint64_t m_params_version = 0;
    Mlp m_mlp;  // the latest weights, for the lens's v_theta at one point
    uint64_t m_mlp_version = 0;

    // The lens.
    bool m_lens_mode = false;
    std::optional<Eigen::Vector2f> m_lens_point;
    std::optional<PosteriorLens> m_lens;
    LensSettings m_lens_settings;
    // Layers and plots.
    int m_error_mode = 0;       // 0 off, 1 raw, 2 weighted by p_t
    int m_likelihood_mode = 0;  // 0 off, 1 the model's log p_1, 2 the target's true log p
    bool m_fm_cfm = true;
    bool m_show_trace = true;
    ColorScale m_error_scale, m_likelihood_scale;
    bool m_error_shown = false, m_likelihood_shown = false;
    std::string m_status;
};

}  // namespace fmp
