// Draw mode and the import/export panel: strokes on the canvas edit a point set that becomes the
// target or source at once (weights kept), and the drawn sets persist next to imgui.ini.
#include "app/gui/draw_panel.h"

#define GLFW_INCLUDE_NONE
#include <GLFW/glfw3.h>
#include <imgui.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "app/gui/main_window.h"
#include "app/gui/widgets.h"
#include "app/render/palette.h"
#include "core/base/clock.h"
#include "core/data/point_io.h"

namespace fmp {
namespace {

// While a stroke is open the set is handed to training this often: the particles follow the
// brush without re-sampling the reference and restarting the trajectory on every mouse event.
constexpr double k_push_interval = 0.15;
constexpr double k_save_interval = 2.0;
constexpr std::size_t k_few_points = 50;
// Exports of an analytic dataset write this many samples.
constexpr int k_export_samples = 20000;

const char* side_name(DrawWhich w) {
    return w == DrawWhich::Target ? "target" : "source";
}

const ImVec4 k_red(1.0f, 0.42f, 0.40f, 1.0f);
const ImVec4 k_yellow(1.0f, 0.82f, 0.30f, 1.0f);
const ImVec4 k_green(0.55f, 0.85f, 0.75f, 1.0f);

}  // namespace

DrawPanel::DrawPanel() = default;

int DrawPanel::custom_index() {
    return static_cast<int>(dataset_names().size());
}

const std::vector<std::string>& DrawPanel::script_keys() {
    static const std::vector<std::string> keys = {
        "import_text", "import_image", "import_csv", "export_csv", "draw",    "erase",
        "undo",        "redo",         "clear",      "draw_which", "drawmode",   "paint_class"};
    return keys;
}

// ---------------------------------------------------------------------------------------------
// [SECTION] Datasets and persistence

bool DrawPanel::is_selected(const GuiApp& app, DrawWhich w) const {
    return (w == DrawWhich::Target ? app.m_settings.target : app.m_settings.source) ==
           custom_index();
}

bool DrawPanel::select_custom(GuiApp& app, DrawWhich w) {
    int& slot = w == DrawWhich::Target ? app.m_settings.target : app.m_settings.source;
    if (slot == custom_index()) return false;
    slot = custom_index();
    m_sent_rev[static_cast<int>(w)] = ~0ull;  // hand it over even if unchanged since last time
    return true;
}

Dataset DrawPanel::dataset(DrawWhich which, const Dataset& fallback) {
    const PointSetEditor& e = editor(which);
    m_sent_rev[static_cast<int>(which)] = e.revision();
    if (e.count() == 0) return fallback;
    return Dataset::from_points(e.points(), which == DrawWhich::Target ? "drawn target" : "drawn source",
                                labels(which));
}

DrawnSet DrawPanel::drawn(DrawWhich which) const {
    DrawnSet d;
    d.points = editor(which).points();
    d.classes = labels(which);
    return d;
}

void DrawPanel::restore(DrawWhich which, const DrawnSet& set) {
    editor(which).reset(set.points, set.classes);
    m_sent_rev[static_cast<int>(which)] = ~0ull;  // hand it over even if the revision matches
}

std::vector<uint8_t> DrawPanel::labels(DrawWhich w) const {
    const PointSetEditor& e = editor(w);
    return e.class_count() >= 2 ? e.classes() : std::vector<uint8_t>{};
}

void DrawPanel::push(GuiApp& app) {
    bool changed = false;
    for (DrawWhich w : {DrawWhich::Target, DrawWhich::Source}) {
        const int i = static_cast<int>(w);
        if (!is_selected(app, w) || editor(w).revision() == m_sent_rev[i]) continue;
        Dataset& slot = w == DrawWhich::Target ? app.m_spec.target : app.m_spec.source;
        // An empty drawing keeps training on the previous set rather than stopping it.
        if (editor(w).count() == 0) {
            m_sent_rev[i] = editor(w).revision();
            continue;
        }
        slot = dataset(w, slot);
        changed = true;
    }
    m_last_push = now_seconds();
    if (!changed) return;
    const int k = app.m_spec.target.class_count();
    const int want = app.m_settings.classes && k >= 2 ? k : 0;
    if (app.m_reflow->active() || want != app.m_class_net) {
        // Reflow pairs came from the old data, and a network's class input has a fixed size:
        // either way training starts over on the new sets.
        app.reset_training();
    } else {
        app.m_trainer->set_datasets(app.m_spec.source, app.m_spec.target);
        app.update_spec();
    }
    ++m_swaps;
    m_swap_step = app.m_snapshot.step;
}

std::string DrawPanel::file_for(DrawWhich w) const {
    return (std::filesystem::path(m_dir) / (std::string("drawn_") + side_name(w) + ".csv"))
        .string();
}

void DrawPanel::load_saved(GuiApp& app, bool& target_selected, bool& source_selected) {
    target_selected = source_selected = false;
    if (m_dir.empty()) return;
    std::string failed;
    for (DrawWhich w : {DrawWhich::Target, DrawWhich::Source}) {
        std::string file = file_for(w);
        std::error_code ec;
        if (!std::filesystem::exists(file, ec)) continue;
        try {
            LabelledPoints saved = load_labelled_points_csv(file);
            editor(w).reset(saved.points, saved.classes);
        } catch (const std::exception& e) {
            failed = std::string("ignored the saved drawing: ") + e.what();
        }
        m_saved_rev[static_cast<int>(w)] = editor(w).revision();
    }
    try {
        std::string sel = read_file((std::filesystem::path(m_dir) / "drawn.ini").string(), 4096);
        target_selected = sel.find("target=custom") != std::string::npos && m_target.count() > 0;
        source_selected = sel.find("source=custom") != std::string::npos && m_source.count() > 0;
    } catch (const std::exception&) {
        // No selection saved yet: the analytic defaults stay.
    }
    if (!failed.empty()) {
        app.m_message = failed;
        app.m_message_until = now_seconds() + 10.0;
    }
}

void DrawPanel::save(const GuiApp& app, bool force) {
    if (m_dir.empty()) return;
    try {
        for (DrawWhich w : {DrawWhich::Target, DrawWhich::Source}) {
            const int i = static_cast<int>(w);
            if (!force && editor(w).revision() == m_saved_rev[i]) continue;
            std::string file = file_for(w);
            if (editor(w).count() == 0) {
                std::error_code ec;
                std::filesystem::remove(file, ec);
            } else {
                save_points_csv(file, editor(w).points(), labels(w));
            }
            m_saved_rev[i] = editor(w).revision();
        }
        std::string sel = std::string("target=") +
                          (is_selected(app, DrawWhich::Target) ? "custom" : "analytic") +
                          "\nsource=" +
                          (is_selected(app, DrawWhich::Source) ? "custom" : "analytic") + "\n";
        write_file_atomic((std::filesystem::path(m_dir) / "drawn.ini").string(), sel);
    } catch (const std::exception&) {
        // A read-only settings directory must not disturb drawing; the next change tries again.
    }
    m_last_save = now_seconds();
}

std::string DrawPanel::spec_for_export(const GuiApp& app, DrawWhich which) {
    std::string dir = m_dir.empty() ? std::filesystem::temp_directory_path().string() : m_dir;
    std::string file =
        (std::filesystem::path(dir) / (std::string("drawn_") + side_name(which) + ".csv"))
            .string();
    try {
        if (editor(which).count() > 0) save_points_csv(file, editor(which).points(), labels(which));
    } catch (const std::exception&) {
    }
    (void)app;
    return file;
}

void DrawPanel::update(GuiApp& app) {
    const double now = now_seconds();
    bool stroking = m_target.in_stroke() || m_source.in_stroke();
    if (!stroking || now - m_last_push >= k_push_interval) push(app);
    if (!stroking && !m_dir.empty() && now - m_last_save >= k_save_interval &&
        (m_target.revision() != m_saved_rev[0] || m_source.revision() != m_saved_rev[1]))
        save(app, false);
}

// ---------------------------------------------------------------------------------------------
// [SECTION] Imports

void DrawPanel::fail(GuiApp& app, const std::string& message_in) {
    // A file's name or content may be in the message: one printable line, whatever it holds.
    const std::string message = one_line_message(message_in, 400);
    m_error = message;
    m_notice.clear();
    m_open_next = true;
    app.m_message = message;
    app.m_message_until = now_seconds() + 10.0;
}

void DrawPanel::import(GuiApp& app, const std::string& what, const Points& points,
                       const std::vector<uint8_t>& classes) {
    editor(m_which).replace(points, classes);
    select_custom(app, m_which);
    m_sent_rev[static_cast<int>(m_which)] = ~0ull;
    push(app);
    app.m_fit_pending = true;
    m_error.clear();
    m_open_next = true;
    m_notice = what + ": " + with_commas(points.rows()) + " points → " +
               side_name(m_which);
    app.m_message = m_notice;
    app.m_message_until = now_seconds() + 6.0;
}

void DrawPanel::do_import_image(GuiApp& app) {
    try {
        ImageImportOptions opt = m_image_opt;
        opt.seed = static_cast<uint64_t>(app.m_settings.seed);
        import(app, std::string("image ") + std::filesystem::path(m_image_path).filename().string(),
               image_to_points(m_image_path, opt));
    } catch (const std::exception& e) {
        fail(app, e.what());
    }
}

void DrawPanel::do_import_text(GuiApp& app) {
    try {
        TextImportOptions opt;
        opt.points = m_image_opt.points;
        opt.seed = static_cast<uint64_t>(app.m_settings.seed);
        import(app, std::string("text \"") + m_text + "\"", text_to_points(m_text, opt));
    } catch (const std::exception& e) {
        fail(app, e.what());
    }
}

void DrawPanel::do_import_csv(GuiApp& app) {
    try {
        // A third column paints each point in its class's colour (a labelled target).
        LabelledPoints csv = load_labelled_points_csv(m_csv_path);
        import(app, std::string("CSV ") + std::filesystem::path(m_csv_path).filename().string(),
               csv.points, csv.classes);
    } catch (const std::exception& e) {
        fail(app, e.what());
    }
}

void DrawPanel::do_export_csv(GuiApp& app) {
    try {
        // Classes go along as the third column, so a labelled set round-trips.
        Points points;
        std::vector<uint8_t> classes;
        if (is_selected(app, m_which) && editor(m_which).count() > 0) {
            points = editor(m_which).points();
            classes = labels(m_which);
        } else {
            const Dataset& d =
                m_which == DrawWhich::Target ? app.m_spec.target : app.m_spec.source;
            if (d.kind() == DatasetKind::PointSet) {
                points = d.points();
                classes = d.point_classes();
            } else {
                Rng rng(static_cast<uint64_t>(app.m_settings.seed));
                points.resize(k_export_samples, 2);
                std::vector<int> drawn(static_cast<std::size_t>(k_export_samples));
                d.sample_into(points, rng, drawn.data());
                if (d.class_count() >= 2) classes.assign(drawn.begin(), drawn.end());
            }
        }
        save_points_csv(m_export_path, points, classes);
        m_error.clear();
        m_notice = "Exported " + with_commas(points.rows()) + " " +
                   side_name(m_which) + " points to " + m_export_path;
        app.m_message = m_notice;
        app.m_message_until = now_seconds() + 6.0;
    } catch (const std::exception& e) {
        fail(app, e.what());
    }
}

// ---------------------------------------------------------------------------------------------
// [SECTION] Canvas input

float DrawPanel::world_radius(const GuiApp& app) const {
    float fb = ImGui::GetIO().DisplayFramebufferScale.x;
    return m_radius_px * app.m_scale * fb / std::max(1e-6f, app.m_view.pixels_per_unit);
}

bool DrawPanel::handle_input(GuiApp& app) {
    ImGuiIO& io = ImGui::GetIO();
    if (!io.WantTextInput && !io.WantCaptureKeyboard) {
        if (ImGui::IsKeyPressed(GLFW_KEY_D, false) && !io.KeyCtrl) {
            m_active = !m_active;
            app.m_message = m_active ? "Draw mode: drag to spray, right-drag to erase, D to leave"
                                     : "Draw mode off";
            app.m_message_until = now_seconds() + 4.0;
        }
        if (m_active && ImGui::IsKeyPressed(GLFW_KEY_E, false) && !io.KeyCtrl)
            m_eraser = !m_eraser;
    }
    if (!io.WantTextInput && io.KeyCtrl) {
        bool z = ImGui::IsKeyPressed(GLFW_KEY_Z, false), y = ImGui::IsKeyPressed(GLFW_KEY_Y, false);
        if (z && !io.KeyShift) editor(m_which).undo();
        if ((z && io.KeyShift) || y) editor(m_which).redo();
    }
    if (!m_active) return false;

    PointSetEditor& e = editor(m_which);
    float fx = io.DisplayFramebufferScale.x, fy = io.DisplayFramebufferScale.y;
    Eigen::Vector2f world =
        app.m_view.pixel_to_world(Eigen::Vector2f(io.MousePos.x * fx, io.MousePos.y * fy));
    if (m_stroke_button < 0 && !io.WantCaptureMouse) {
        for (int b : {0, 1}) {
            if (!ImGui::IsMouseClicked(b)) continue;
            m_stroke_button = b;
            m_stroke_erases = b == 1 || m_eraser;
            // Drawing onto a side switches it to the drawing (weights kept, training goes on).
            if (!m_stroke_erases) select_custom(app, m_which);
            e.begin_stroke();
            break;
        }
    }
    if (m_stroke_button >= 0) {
        if (std::isfinite(world.x()) && std::isfinite(world.y())) {
            if (m_stroke_erases)
                e.erase(world.x(), world.y(), world_radius(app));
            else
                e.spray(world.x(), world.y(), world_radius(app), m_density);
        }
        if (!ImGui::IsMouseDown(m_stroke_button)) {
            e.end_stroke();
            m_stroke_button = -1;
            push(app);
        }
    }
    // The canvas belongs to the brush: only the middle button pans here.
    return true;
}

void DrawPanel::synthetic_stroke(GuiApp& app, const std::string& value, bool erase) {
    float c[4] = {0, 0, 0, 0};
    if (std::sscanf(value.c_str(), "%f,%f,%f,%f", &c[0], &c[1], &c[2], &c[3]) != 4)
        throw InputError("a scripted stroke is x0,y0,x1,y1 in data units, not '" + value + "'");
    PointSetEditor& e = editor(m_which);
    if (!erase) select_custom(app, m_which);
    e.begin_stroke();
    const int events = 24;
    const float r = 0.25f;
    for (int k = 0; k <= events; ++k) {
        float a = static_cast<float>(k) / events;
        float x = c[0] + a * (c[2] - c[0]), y = c[1] + a * (c[3] - c[1]);
        if (erase)
            e.erase(x, y, r);
        else
            e.spray(x, y, r, m_density);
    }
    e.end_stroke();
    push(app);
}

bool DrawPanel::apply_script(GuiApp& app, const std::string& key, const std::string& value) {
    auto copy = [](char* dst, std::size_t n, const std::string& s) {
        std::snprintf(dst, n, "%s", s.c_str());
    };
    if (key == "import_text") {
        copy(m_text, sizeof m_text, value);
        do_import_text(app);
    } else if (key == "import_image") {
        copy(m_image_path, sizeof m_image_path, value);
        do_import_image(app);
    } else if (key == "import_csv") {
        copy(m_csv_path, sizeof m_csv_path, value);
        do_import_csv(app);
    } else if (key == "export_csv") {
        copy(m_export_path, sizeof m_export_path, value);
        do_export_csv(app);
    } else if (key == "draw" || key == "erase") {
        synthetic_stroke(app, value, key == "erase");
    } else if (key == "undo") {
        editor(m_which).undo();
    } else if (key == "redo") {
        editor(m_which).redo();
    } else if (key == "clear") {
        editor(m_which).clear();
    } else if (key == "draw_which") {
        if (value != "target" && value != "source")
            throw InputError("draw_which is target or source, not '" + value + "'");
        m_which = value == "target" ? DrawWhich::Target : DrawWhich::Source;
    } else if (key == "paint_class") {
        char* end = nullptr;
        const long k = std::strtol(value.c_str(), &end, 10);
        if (value.empty() || *end != '\0') throw InputError("paint_class is a class 0..7, not '" + value + "'");
        editor(m_which).set_paint_class(static_cast<int>(k));
    } else if (key == "drawmode") {
        m_active = value == "on" || value == "1";
    } else {
        return false;
    }
    return true;
}

// ---------------------------------------------------------------------------------------------
// [SECTION] Canvas drawing

void DrawPanel::add_layer(Scene& scene, float ui_scale) {
    m_layer_in_scene = false;
    if (!m_active) return;
    const PointSetEditor& e = editor(m_which);
    // A set painted in class colours shows them; otherwise one colour per side.
    const bool labelled = e.class_count() >= 2 || e.paint_class() != 0;
    if (m_layer_rev != e.revision() || m_layer_which != m_which || m_layer_labelled != labelled) {
        // Strokes that only add points extend the cached copy; anything else rebuilds it.
        std::size_t have = m_layer.xy.size() / 2;
        auto v = e.view();
        bool append = m_layer_which == m_which && m_layer_labelled == labelled && e.in_stroke() &&
                      !m_stroke_erases && e.count() >= have && have > 0;
        if (!append) m_layer.xy.clear(), m_layer.rgba.clear(), have = 0;
        m_layer.xy.reserve(e.count() * 2);
        for (std::size_t i = have; i < e.count(); ++i) {
            m_layer.xy.push_back(v(static_cast<Eigen::Index>(i), 0));
            m_layer.xy.push_back(v(static_cast<Eigen::Index>(i), 1));
            if (labelled) m_layer.rgba.push_back(fade(class_color(e.classes()[i]), 0.55f));
        }
        m_layer_rev = e.revision();
        m_layer_which = m_which;
        m_layer_labelled = labelled;
    }
    if (m_layer.xy.empty()) return;
    // Warm amber for the target, cool blue for the source: matches the panel's side colours.
    m_layer.color = m_which == DrawWhich::Target ? pack_rgba(1.0f, 0.78f, 0.35f, 0.4f)
                                                 : pack_rgba(0.45f, 0.70f, 1.0f, 0.4f);
    m_layer.size_px = 2.2f * ui_scale;
    m_layer.softness = 0.3f;
    m_layer.additive = false;
    scene.layers.emplace_back(std::move(m_layer));
    m_layer_in_scene = true;
}

void DrawPanel::take_layer(Scene& scene) {
    if (!m_layer_in_scene) return;
    m_layer = std::move(std::get<PointLayer>(scene.layers.back()));
    scene.layers.pop_back();
    m_layer_in_scene = false;
}

void DrawPanel::draw_overlay(GuiApp& app) {
    if (!m_active) return;
    ImGuiIO& io = ImGui::GetIO();
    if (io.WantCaptureMouse && m_stroke_button < 0) return;
    if (!ImGui::IsMousePosValid()) return;
    float r = m_radius_px * app.m_scale;
    bool erasing = m_eraser || m_stroke_button == 1;
    ImU32 col = erasing ? IM_COL32(255, 110, 100, 230)
                        : (m_which == DrawWhich::Target ? IM_COL32(255, 200, 90, 230)
                                                        : IM_COL32(115, 180, 255, 230));
    ImDrawList* dl = ImGui::GetForegroundDrawList();
    dl->AddCircle(io.MousePos, r + 1.0f, IM_COL32(0, 0, 0, 140), 48, 3.0f * app.m_scale);
    dl->AddCircle(io.MousePos, r, col, 48, 1.5f * app.m_scale);
    if (erasing) {
        float d = r * 0.35f;
        dl->AddLine(ImVec2(io.MousePos.x - d, io.MousePos.y - d),
                    ImVec2(io.MousePos.x + d, io.MousePos.y + d), col, 1.5f * app.m_scale);
        dl->AddLine(ImVec2(io.MousePos.x - d, io.MousePos.y + d),
                    ImVec2(io.MousePos.x + d, io.MousePos.y - d), col, 1.5f * app.m_scale);
    }
}

// ---------------------------------------------------------------------------------------------
// [SECTION] Panel

void DrawPanel::panel(GuiApp& app) {
    const float s = app.m_scale;
    ImGui::Spacing();
    ImGui::Separator();
    // Draw mode toggle and the side being edited.
    {
        bool on = m_active;
        if (on) ImGui::PushStyleColor(ImGuiCol_Button, IM_COL32(150, 100, 30, 255));
        if (ImGui::Button(on ? "Stop drawing" : "Draw", ImVec2(ImGui::GetFontSize() * 6.5f, 0)))
            m_active = !m_active;
        if (on) ImGui::PopStyleColor();
        tip("Draw mode (key D): drag on the canvas to spray points, right-drag to erase. The drawn "
            "set becomes the chosen distribution at once; training keeps its weights and goes on.");
        ImGui::SameLine();
        int which = static_cast<int>(m_which);
        if (ImGui::RadioButton("target", which == 0)) m_which = DrawWhich::Target;
        tip("Draw or import into the target p₁ (what the flow learns to produce).");
        ImGui::SameLine();
        if (ImGui::RadioButton("source", which == 1)) m_which = DrawWhich::Source;
        tip("Draw or import into the source p₀ (where particles start): with a drawn source, "
            "the flow transports one picture into another.");
    }
    PointSetEditor& e = editor(m_which);
    if (m_active) {
        if (ImGui::RadioButton("brush", !m_eraser)) m_eraser = false;
        tip("Left-drag sprays points in the circle; a fast and a slow stroke give the same "
            "density.");
        ImGui::SameLine();
        if (ImGui::RadioButton("eraser", m_eraser)) m_eraser = true;
        tip("Left-drag removes the points under the circle (key E toggles; right-drag always "
            "erases).");
        ImGui::SliderFloat("radius", &m_radius_px, 3.0f, 120.0f, "%.0f px",
                           ImGuiSliderFlags_Logarithmic);
        tip("Brush radius in screen pixels (the circle under the cursor); zoom in for fine "
            "detail.");
        ImGui::SliderFloat("density", &m_density, 50.0f, 20000.0f, "%.0f /unit²",
                           ImGuiSliderFlags_Logarithmic);
        tip("Points sprayed per unit of data area: a dab of radius r lays density·πr² points.");
        // The class the brush paints: a target drawn in two or more colours is labelled, and
        // a class-conditional flow (Classes & guidance) learns one field per colour.
        ImGui::TextUnformatted("class");
        PointSetEditor& painted = editor(m_which);
        const float h = ImGui::GetFrameHeight();
        for (int k = 0; k < k_max_classes; ++k) {
            ImGui::SameLine();
            const ImVec4 col = ImGui::ColorConvertU32ToFloat4(class_color(k));  // palette: IM_COL32 bits
            ImGui::PushID(k);
            const bool chosen = painted.paint_class() == k;
            if (ImGui::ColorButton("##class", col, ImGuiColorEditFlags_NoTooltip, ImVec2(h, h)))
                painted.set_paint_class(k);
            if (chosen)
            ImGui::GetWindowDrawList()->AddRect(ImGui::GetItemRectMin(), ImGui::GetItemRectMax(),
                                                IM_COL32(255, 255, 255, 255), 3.0f, 0, 2.0f * app.m_scale);
            ImGui::PopID();
            tip("Paint class " + std::to_string(k) + ". Points keep the class they were sprayed "
                "with; a set in two or more colours is a labelled target (8 classes at most), "
                "saved with a class column (x,y,class) like the CSVs fmplay train --classes reads.");
        }
        if (painted.class_count() >= 2)
            ImGui::TextDisabled("%d classes drawn", painted.class_count());
    }
    float bw = (ImGui::GetContentRegionAvail().x - 2 * ImGui::GetStyle().ItemSpacing.x) / 3.0f;
    ImGui::BeginDisabled(!e.can_undo());
    if (ImGui::Button("Undo", ImVec2(bw, 0))) e.undo();
    ImGui::EndDisabled();
    tip("Undo the last stroke or import (Ctrl+Z).");
    ImGui::SameLine();
    ImGui::BeginDisabled(!e.can_redo());
    if (ImGui::Button("Redo", ImVec2(bw, 0))) e.redo();
    ImGui::EndDisabled();
    tip("Redo what was undone (Ctrl+Shift+Z or Ctrl+Y).");
    ImGui::SameLine();
    ImGui::BeginDisabled(e.count() == 0);
    if (ImGui::Button("Clear", ImVec2(bw, 0))) e.clear();
    ImGui::EndDisabled();
    tip("Remove every drawn point of this side (undoable). An empty drawing keeps training on "
        "the previous set.");

    // Point count and the too-few warning.
    if (e.count() == 0) {
        ImGui::TextDisabled("no %s points drawn yet", side_name(m_which));
    } else if (e.count() < k_few_points) {
        ImGui::TextColored(k_yellow, "%s points: too few points to learn a distribution",
                           with_commas(e.count()).c_str());
    } else {
        ImGui::Text("%s %s points%s", with_commas(e.count()).c_str(), side_name(m_which),
                    e.full() ? " (limit reached)" : "");
    }
    if (e.count() > 0 && !is_selected(app, m_which)) {
        ImGui::SameLine();
        if (ImGui::SmallButton("use")) {
            select_custom(app, m_which);
            push(app);
        }
        tip("Make the drawn set the current distribution of this side.");
    }

    // Imports.
    // Folded at first so Training stays in view; an import (or its error) unfolds it.
    if (m_open_next) ImGui::SetNextItemOpen(true), m_open_next = false;
    if (ImGui::TreeNode("Import / export")) {
        const float load_w = ImGui::GetFontSize() * 4.0f;
        ImGui::PushItemWidth(ImGui::GetContentRegionAvail().x - load_w -
                             ImGui::GetStyle().ItemSpacing.x);
        ImGui::InputTextWithHint("##image", "image file (PNG, JPG, BMP)", m_image_path,
                                 sizeof m_image_path);
        tip("Path of a picture: darker pixels carry more probability mass; the image is fitted "
            "into the data box [-3, 3]² keeping its aspect ratio.");
        ImGui::SameLine();
        if (ImGui::Button("Load##image", ImVec2(load_w, 0))) do_import_image(app);
        tip("Sample the image into the chosen side (one undoable step).");
        ImGui::PopItemWidth();
        ImGui::Checkbox("invert", &m_image_opt.invert);
        tip("Light pixels carry the mass instead of dark ones (white drawings on black).");
        ImGui::SameLine();
        ImGui::Checkbox("alpha", &m_image_opt.use_alpha);
        tip("Use the alpha channel alone as the probability, whatever the colours.");
        ImGui::SliderFloat("threshold", &m_image_opt.threshold, 0.0f, 0.95f, "%.2f");
        tip("Pixels at or below this darkness carry no mass: removes a grey background.");
        ImGui::SliderFloat("contrast", &m_image_opt.contrast, 0.1f, 10.0f, "%.2f",
                           ImGuiSliderFlags_Logarithmic);
        tip("Mass = (darkness − threshold)^contrast: above 1 concentrates points in the darkest "
            "parts.");
        ImGui::SliderInt("points##image", &m_image_opt.points, 500, 200000, "%d",
                         ImGuiSliderFlags_Logarithmic);
        tip("How many points an image or text import samples.");

        ImGui::PushItemWidth(ImGui::GetContentRegionAvail().x - load_w -
                             ImGui::GetStyle().ItemSpacing.x);
        bool enter = ImGui::InputTextWithHint("##text", "a word, e.g. FLOW", m_text, sizeof m_text,
                                              ImGuiInputTextFlags_EnterReturnsTrue);
        tip("A word rendered with the UI's font; its ink becomes the density (up to 64 "
            "characters).");
        ImGui::SameLine();
        if (ImGui::Button("Make", ImVec2(load_w, 0)) || enter) do_import_text(app);
        tip("Turn the text into points for the chosen side (one undoable step).");
        ImGui::InputTextWithHint("##csv", "points.csv (x,y per line)", m_csv_path,
                                 sizeof m_csv_path);
        tip("A CSV of points: x and y per line, comma, space or tab separated, optional header; "
            "the format `fmplay train --target file.csv` reads.");
        ImGui::SameLine();
        if (ImGui::Button("Load##csv", ImVec2(load_w, 0))) do_import_csv(app);
        tip("Load the CSV into the chosen side (one undoable step).");
        ImGui::InputTextWithHint("##export", "export path", m_export_path, sizeof m_export_path);
        tip("Where Export writes the current points of the chosen side (written atomically).");
        ImGui::SameLine();
        if (ImGui::Button("Export", ImVec2(load_w, 0))) do_export_csv(app);
        tip("Write the chosen side's current point set as CSV (an analytic dataset is "
            "sampled: 20,000 points).");
        ImGui::PopItemWidth();
        ImGui::TreePop();
    }
    if (!m_error.empty()) {
        ImGui::PushTextWrapPos(0.0f);
        ImGui::TextColored(k_red, "%s", m_error.c_str());
        ImGui::PopTextWrapPos();
        if (ImGui::SmallButton("dismiss")) m_error.clear();
        tip("Hide this message; the current dataset was left unchanged.");
    } else if (!m_notice.empty()) {
        ImGui::PushTextWrapPos(0.0f);
        ImGui::TextColored(k_green, "%s", m_notice.c_str());
        ImGui::PopTextWrapPos();
    }
    (void)s;
}

}  // namespace fmp
