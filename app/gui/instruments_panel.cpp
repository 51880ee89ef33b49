// The instruments' controls, canvas layers, overlays and plots (see instruments_panel.h).
#include "app/gui/instruments_panel.h"

#include <GLFW/glfw3.h>
#include <imgui.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "app/gui/main_window.h"
#include "app/gui/theme.h"
#include "app/gui/widgets.h"
#include "app/render/palette.h"
#include "core/base/clock.h"

namespace fmp {
namespace {

constexpr ImU32 k_plot_bg = IM_COL32(16, 18, 24, 255);
constexpr ImU32 k_text_dim = IM_COL32(130, 138, 152, 255);
constexpr ImU32 k_cfm = IM_COL32(120, 220, 200, 255);  // the loss we train: the loss plot's mint
constexpr ImU32 k_fm = IM_COL32(255, 209, 102, 255);   // against the exact field: gold
constexpr ImU32 k_gap = IM_COL32(255, 92, 122, 255);   // their difference: rose
constexpr ImU32 k_trace = palette::traced;

const char* k_tip_lens =
    "Posterior lens (L): click or drag on the canvas to probe a point x at the current t.\n"
    "Thin amber arrows: the conditional velocities u_t(x|x1_i) toward each data point x1_i, their "
    "opacity the posterior weight w_i(x) ∝ p_t(x|x1_i) = N(x; α_t·x1_i, σ_t²I). Gold: their "
    "weighted average u_t(x) = Σ_i w_i·u_t(x|x1_i), the exact marginal velocity (the "
    "marginalization trick). White: the network's v_θ(x,t), which regresses onto it.\n"
    "Scrub t: near t = 0 every point contributes; near t = 1 one dominates.";
const char* k_tip_error =
    "Error map: |v_θ(x,t) − u_t(x)|² on a grid at the current t, u_t the exact marginal field "
    "(normal source). 'weighted' multiplies by p_t(x)/max p_t: the FM loss at t is the p_t "
    "average of this map, so the weighted map shows where the loss comes from.";
const char* k_tip_likelihood =
    "Likelihood: log p₁(x) of the model by the instantaneous change of variables: carry x from "
    "t = 1 back to t = 0 with dx/dt = v_θ, and log p₁(x) = log p₀(x₀) − ∫₀¹ ∇·v_θ(x_t,t) dt "
    "(the divergence is the exact trace of the 2×2 Jacobian; 32 RK4 steps). 'true' shows the "
    "target's own log density when it is known in closed form.";
const char* k_tip_fm_cfm =
    "On one fixed batch: the CFM loss E|v_θ − u_t(x|x1)|² (what we train, mint), the FM loss "
    "E|v_θ − u_t(x)|² against the exact marginal field (gold) and their difference (rose). The "
    "theory: FM = CFM − E|u_t(x|x1) − u_t(x)|², a constant that does not depend on θ, so both "
    "losses have the same gradient. The rose line stays flat (grey dashes: the constant computed "
    "from the batch) while the other two fall. FM is the error the network can still remove; the "
    "CFM loss never goes below the constant.";
const char* k_tip_trace =
    "Inverse map: Shift + click a point at t = 1. It is carried back to t = 0 by the learned ODE "
    "(violet) and forward again; the flow is invertible, so the round trip returns to the point "
    "(the error is the solver's). Below: log|det ∂x_t/∂x₀| = ∫₀ᵗ ∇·v_θ ds along the path: how much "
    "the flow stretches (> 0) or squeezes (< 0) volume around it.";

// Polyline plot helper: values against x in [0, 1] inside the rect.
void plot_line(ImDrawList* dl, ImVec2 p, float w, float h, const std::vector<float>& v, float lo,
               float hi, ImU32 color, float thickness, float s) {
    if (v.size() < 2) return;
    std::vector<ImVec2> pts(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) {
        const float y = std::clamp((v[i] - lo) / std::max(hi - lo, 1e-12f), 0.0f, 1.0f);
        pts[i] = ImVec2(p.x + 4 * s + (w - 8 * s) * i / float(v.size() - 1),
                        p.y + h - 4 * s - y * (h - 8 * s));
    }
    dl->AddPolyline(pts.data(), static_cast<int>(pts.size()), color, 0, thickness);
}

const char* fmt(char* buf, std::size_t n, const char* f, double v) {
    std::snprintf(buf, n, f, v);
    return buf;
}

Eigen::Vector2f parse_point(const std::string& key, const std::string& value) {
    const auto comma = value.find(',');
    char* e1 = nullptr;
    char* e2 = nullptr;
    const float x = std::strtof(value.c_str(), &e1);
    const float y = comma == std::string::npos ? 0.0f : std::strtof(value.c_str() + comma + 1, &e2);
    if (comma == std::string::npos || e1 != value.c_str() + comma || !e2 || *e2 != '\0' ||
        !std::isfinite(x) || !std::isfinite(y))
        throw InputError("--script " + key + "=" + quote_for_message(value) +
                         " is not a point X,Y");
    return {x, y};
}

}  // namespace

InstrumentsPanel::InstrumentsPanel() : m_worker(std::make_unique<InstrumentWorker>()) {}

void InstrumentsPanel::use_gpu(bool gpu) {
    if (gpu == m_gpu) return;
    m_gpu = gpu;
    m_worker = std::make_unique<InstrumentWorker>(gpu);
}

const std::vector<std::string>& InstrumentsPanel::script_keys() {
    static const std::vector<std::string> keys = {"lens", "errormap", "likelihood", "trace",
                                                  "fmcfm"};
    return keys;
}

InstrumentSettings InstrumentsPanel::export_settings(InstrumentSettings base) const {
    base.lens = m_lens_point;
    base.lens_bandwidth = m_lens_settings.bandwidth;
    base.error_map = static_cast<ErrorMapMode>(m_error_mode);
    base.likelihood = static_cast<LikelihoodMode>(m_likelihood_mode);
    base.trace.reset();
    if (m_show_trace)
        if (auto traced = m_worker->traced()) base.trace = traced->start;
    return base;
}

void InstrumentsPanel::apply_settings(const InstrumentSettings& s) {
    m_lens_point = s.lens;
    m_lens_mode = s.lens.has_value();
    m_lens_settings.bandwidth = s.lens_bandwidth;
    m_error_mode = static_cast<int>(s.error_map);
    m_likelihood_mode = static_cast<int>(s.likelihood);
}

void InstrumentsPanel::check_script(const std::string& key, const std::string& value) {
    if ((key == "lens" && value != "off") || key == "trace") parse_point(key, value);
    if (key == "errormap" && name_index({"off", "raw", "weighted"}, value) < 0)
        throw InputError("--script errormap= takes off, raw or weighted");
    if (key == "likelihood" && name_index({"off", "model", "true"}, value) < 0)
        throw InputError("--script likelihood= takes off, model or true");
}

bool InstrumentsPanel::apply_script(GuiApp&, const std::string& key, const std::string& value) {
    if (key == "lens") {
        if (value == "off") {
            m_lens_mode = false;
            m_lens_point.reset();
        } else {
            m_lens_mode = true;
            m_lens_point = parse_point(key, value);
        }
    } else if (key == "errormap") {
        const int i = name_index({"off", "raw", "weighted"}, value);
        if (i < 0) throw InputError("--script errormap= takes off, raw or weighted");
        m_error_mode = i;
    } else if (key == "likelihood") {
        const int i = name_index({"off", "model", "true"}, value);
        if (i < 0) throw InputError("--script likelihood= takes off, model or true");
        m_likelihood_mode = i;
    } else if (key == "trace") {
        m_worker->trace(parse_point(key, value));
    } else if (key == "fmcfm") {
        m_fm_cfm = value == "on" || value == "1";
    } else {
        return false;
    }
    return true;
}

void InstrumentsPanel::sync(GuiApp& app) {
    const TrainingSnapshot& snap = app.m_snapshot;
    const FlowSpec& spec = app.m_spec;
    const void* sp =
        spec.source.kind() == DatasetKind::PointSet ? spec.source.points().data() : nullptr;
    const void* tp =
        spec.target.kind() == DatasetKind::PointSet ? spec.target.points().data() : nullptr;
    if (snap.params &&
        (snap.generation != m_generation || sp != m_source_points || tp != m_target_points ||
         static_cast<int>(spec.source.kind()) != m_source_kind ||
         static_cast<int>(spec.target.kind()) != m_target_kind ||
         static_cast<int>(spec.path.kind()) != m_path_kind)) {
        m_generation = snap.generation;
        m_source_points = sp;
        m_target_points = tp;
        m_source_kind = static_cast<int>(spec.source.kind());
        m_target_kind = static_cast<int>(spec.target.kind());
        m_path_kind = static_cast<int>(spec.path.kind());
        m_worker->set_model(spec, snap.mlp);
        m_params_version = 0;
    }
    if (snap.params && snap.params_version != m_params_version) {
        m_worker->set_params(snap.params, snap.params_version, snap.step);
        m_params_version = snap.params_version;
    }
    if (snap.params && snap.params_version != m_mlp_version) {
        try {
            if (m_mlp.config().width != snap.mlp.width || m_mlp.config().depth != snap.mlp.depth ||
                m_mlp.config().activation != snap.mlp.activation ||
                m_mlp.config().time_encoding != snap.mlp.time_encoding ||
                m_mlp.params().size() != snap.params->size())
                m_mlp = Mlp(snap.mlp);
            m_mlp.set_params(*snap.params);
            m_mlp_version = snap.params_version;
        } catch (const std::exception&) {
            // A snapshot of another shape arrives with the next generation; keep the last one.
        }
    }
    // The grids cover the visible canvas at about 128 cells across.
    InstrumentWants w;
    const Eigen::AlignedBox2f box = app.m_view.visible_box();
    const float aspect = box.sizes().y() / std::max(box.sizes().x(), 1e-6f);
    PlaneGrid grid;
    grid.box = box;
    grid.nx = 128;
    grid.ny = std::clamp(static_cast<int>(std::lround(128 * aspect)), 8, 256);
    w.error_map = m_error_mode != 0;
    w.error = {grid, app.m_t};
    w.likelihood = m_likelihood_mode != 0;
    w.likelihood_grid = grid;
    w.losses = m_fm_cfm;
    m_worker->want(w);
    m_status = m_worker->error();
    update_lens(app);
}

void InstrumentsPanel::settle(GuiApp& app, double timeout_seconds) {
    m_worker->wait_until_ready(timeout_seconds);
    m_status = m_worker->error();
    update_lens(app);
}

void InstrumentsPanel::update_lens(GuiApp& app) {
    m_lens.reset();
    if (!m_lens_point) return;
    auto ref = app.m_worker->reference();
    if (!ref || ref->target.rows() == 0) return;
    try {
        const bool exact = app.m_spec.source.kind() == DatasetKind::Normal;
        PosteriorLens lens = posterior_lens(app.m_path, ref->target, exact ? nullptr : &ref->source,
                                            *m_lens_point, app.m_t, m_lens_settings);
        if (!m_mlp.params().empty()) {
            Points x(1, 2), v;
            x.row(0) = m_lens_point->transpose();
            m_mlp.evaluate(x, app.m_t, v);
            lens.set_learned(v.row(0).transpose());
        }
        m_lens = std::move(lens);
    } catch (const std::exception& e) {
        m_status = e.what();
    }
}

bool InstrumentsPanel::handle_input(GuiApp& app) {
    ImGuiIO& io = ImGui::GetIO();
    if (!io.WantTextInput && !io.WantCaptureKeyboard && ImGui::IsKeyPressed(GLFW_KEY_L, false) &&
        !io.KeyCtrl) {
        m_lens_mode = !m_lens_mode;
        if (!m_lens_mode) m_lens_point.reset();
        app.m_message = m_lens_mode
                            ? "Lens: click or drag on the canvas to probe a point; L to leave"
                            : "Lens off";
        app.m_message_until = now_seconds() + 4.0;
    }
    if (io.WantCaptureMouse) return m_lens_mode && ImGui::IsMouseDown(0);
    const float fx = io.DisplayFramebufferScale.x, fy = io.DisplayFramebufferScale.y;
    const Eigen::Vector2f world =
        app.m_view.pixel_to_world(Eigen::Vector2f(io.MousePos.x * fx, io.MousePos.y * fy));
    if (io.KeyShift && ImGui::IsMouseClicked(0)) {
        m_worker->trace(world);
        m_show_trace = true;
        return true;
    }
    if (!m_lens_mode) return false;
    if (ImGui::IsMouseDown(0)) {
        m_lens_point = world;
        return true;
    }
    return false;
}

void InstrumentsPanel::add_layers(GuiApp& app, Scene& scene) {
    std::vector<SceneLayer> under;
    m_error_shown = m_likelihood_shown = false;
    if (m_error_mode) {
        if (auto map = m_worker->error_map()) {
            under.emplace_back(error_map_layer(*map, m_error_mode == 2, &m_error_scale));
            m_error_shown = true;
        }
    }
    if (m_likelihood_mode) {
        auto grid = m_worker->likelihood();
        const bool truth = m_likelihood_mode == 2;
        if (grid && (!truth || grid->true_log_p.size() > 0)) {
            under.emplace_back(log_density_layer(*grid, truth, 10.0f, &m_likelihood_scale));
            m_likelihood_shown = true;
        }
    }
    scene.layers.insert(scene.layers.begin(), std::make_move_iterator(under.begin()),
                        std::make_move_iterator(under.end()));
    if (m_show_trace)
        if (auto traced = m_worker->traced()) {
            add_traced_path(traced->backward, k_trace, app.m_view, app.m_scale, scene);
        }
    if (m_lens) add_lens_layers(*m_lens, app.m_view, app.m_scale, scene);
}

void InstrumentsPanel::draw_color_bar(const ColorScale& scale, float x, float y, float w, float s) {
    ImDrawList* dl = ImGui::GetForegroundDrawList();
    const float h = 10.0f * s;
    const ImU32 ramp[5] = {IM_COL32(26, 13, 64, 255), IM_COL32(107, 26, 128, 255),
                           IM_COL32(204, 61, 107, 255), IM_COL32(250, 140, 56, 255),
                           IM_COL32(252, 237, 158, 255)};
    const float th = ImGui::GetTextLineHeight();
    dl->AddRectFilled(ImVec2(x - 6 * s, y - th - 6 * s), ImVec2(x + w + 6 * s, y + h + th + 6 * s),
                      IM_COL32(16, 18, 24, 215), 5.0f * s);
    dl->AddText(ImVec2(x, y - th - 2 * s), IM_COL32(215, 220, 230, 255), scale.title.c_str());
    for (int i = 0; i < 4; ++i)
        dl->AddRectFilledMultiColor(ImVec2(x + w * i / 4, y), ImVec2(x + w * (i + 1) / 4, y + h),
                                    ramp[i], ramp[i + 1], ramp[i + 1], ramp[i]);
    char lo[32], hi[32];
    std::snprintf(lo, sizeof lo, "%.3g", scale.lo);
    std::snprintf(hi, sizeof hi, "%.3g", scale.hi);
    dl->AddText(ImVec2(x, y + h + 1 * s), k_text_dim, lo);
    dl->AddText(ImVec2(x + w - ImGui::CalcTextSize(hi).x, y + h + 1 * s), k_text_dim, hi);
}

void InstrumentsPanel::draw_canvas_overlay(GuiApp& app) {
    const ImGuiIO& io = ImGui::GetIO();
    const float s = app.m_scale;
    const float fx = io.DisplayFramebufferScale.x > 0 ? io.DisplayFramebufferScale.x : 1.0f;
    const float right = (app.m_view.width - (app.m_panels ? app.m_right_w : 0.0f)) / fx;
    const float bottom = (app.m_view.height - (app.m_panels ? app.m_bottom_h : 0.0f)) / fx;
    const float bar_w = 200.0f * s;
    float y = bottom - 40.0f * s;
    if (m_error_shown) {
        draw_color_bar(m_error_scale, right - bar_w - 24 * s, y, bar_w, s);
        y -= 56.0f * s;
    }
    if (m_likelihood_shown) draw_color_bar(m_likelihood_scale, right - bar_w - 24 * s, y, bar_w, s);
    if (m_lens) {
        const PosteriorLens& L = *m_lens;
        const Eigen::Vector2f px = app.m_view.world_to_pixel(L.x) / fx;
        char lines[4][96];
        std::snprintf(lines[0], sizeof lines[0], "t = %.2f   points pulling: %.1f", L.t,
                      L.effective_count);
        std::snprintf(lines[1], sizeof lines[1], "|v_θ − u_t| = %.3g", L.learned ? L.error : NAN);
        std::snprintf(lines[2], sizeof lines[2], "posterior variance = %.3g", L.posterior_variance);
        if (L.approximate)
            std::snprintf(lines[3], sizeof lines[3], "pairwise posterior, h = %.2f", L.bandwidth);
        else
            lines[3][0] = '\0';
        ImDrawList* dl = ImGui::GetForegroundDrawList();
        const float th = ImGui::GetTextLineHeightWithSpacing();
        const int n = L.approximate ? 4 : 3;
        float wmax = 0;
        for (int i = 0; i < n; ++i) wmax = std::max(wmax, ImGui::CalcTextSize(lines[i]).x);
        const ImVec2 o(px.x() + 18 * s, px.y() + 14 * s);
        dl->AddRectFilled(ImVec2(o.x - 6 * s, o.y - 4 * s),
                          ImVec2(o.x + wmax + 6 * s, o.y + n * th + 2 * s),
                          IM_COL32(16, 18, 24, 215), 5.0f * s);
        for (int i = 0; i < n; ++i)
            dl->AddText(ImVec2(o.x, o.y + i * th),
                        i == 1 ? palette::learned : IM_COL32(215, 220, 230, 255), lines[i]);
    }
}

void InstrumentsPanel::draw_section(GuiApp& app) {
    const float s = app.m_scale;
    if (!app.section("Why it works", ImGuiTreeNodeFlags_DefaultOpen)) return;
    char buf[160];
    // The lens.
    if (ImGui::Checkbox("posterior lens (L)", &m_lens_mode) && !m_lens_mode) m_lens_point.reset();
    tip(k_tip_lens);
    if (m_lens_mode && !m_lens_point)
        ImGui::TextColored(ImVec4(0.6f, 0.65f, 0.72f, 1), "click the canvas");
    if (m_lens) {
        const PosteriorLens& L = *m_lens;
        ImGui::Text("x = (%.2f, %.2f), t = %.2f", L.x.x(), L.x.y(), L.t);
        ImGui::Text("points pulling 1/Σw² = %.1f", L.effective_count);
        tip("The effective number of data points whose conditional velocities are averaged at x: "
            "1/Σ_i w_i². All of them at t = 0, one near t = 1.");
        ImGui::Text("posterior variance = %.3g", L.posterior_variance);
        tip("Σ_i w_i·|u_t(x|x1_i) − u_t(x)|²: how much the conditional velocities disagree at x. "
            "No network can fit all of them, so this is the local floor of the CFM loss.");
        if (L.learned) {
            ImGui::Text("|v_θ − u_t| = %.3g", L.error);
            tip("How far the network's velocity is from the exact average at x.");
        }
        swatch(palette::exact, "u_t(x): the weighted average", true);
        swatch(palette::learned, "v_θ(x,t): the network", true);
        swatch(palette::conditional, "u_t(x|x1_i), opacity = weight", true);
        if (L.approximate) {
            ImGui::SliderFloat("bandwidth h", &m_lens_settings.bandwidth, 0.02f, 1.0f, "%.2f",
                               ImGuiSliderFlags_Logarithmic);
            tip("The source is not a standard normal, so p_t(x|x1_i) has no closed form: the lens "
                "uses pairs (x0_j, x1_i) of source and data samples with a Gaussian kernel of "
                "width "
                "h around α_t·x1_i + σ_t·x0_j. An approximation: small h is sharper but noisier.");
        }
    }
    ImGui::Separator();
    // The error map.
    ImGui::TextUnformatted("error map");
    tip(k_tip_error);
    ImGui::SameLine();
    ImGui::RadioButton("off##err", &m_error_mode, 0);
    ImGui::SameLine();
    ImGui::RadioButton("|v−u|²", &m_error_mode, 1);
    tip(k_tip_error);
    ImGui::SameLine();
    ImGui::RadioButton("× p_t", &m_error_mode, 2);
    tip(k_tip_error);
    if (m_error_mode)
        if (auto map = m_worker->error_map()) {
            ImGui::Text("p_t-weighted mean at t = %.2f: %.3g", map->request.t, map->weighted_mean);
            tip("Σ p_t(x)·|v_θ − u_t|² / Σ p_t(x) over the visible cells: the FM loss at this t.");
        }
    // The error by t (the FM loss per t bin).
    auto history = m_worker->loss_history();
    if (m_error_mode && !history.empty()) {
        const LossByTime& fm = history.back().losses.fm_by_t;
        ImVec2 p = ImGui::GetCursorScreenPos();
        const float w = ImGui::GetContentRegionAvail().x, h = 46.0f * s;
        ImDrawList* dl = ImGui::GetWindowDrawList();
        dl->AddRectFilled(p, ImVec2(p.x + w, p.y + h), k_plot_bg, 5.0f * s);
        float top = 1e-9f;
        for (float v : fm) top = std::max(top, v);
        const float bw = (w - 8 * s) / k_loss_time_bins;
        for (int b = 0; b < k_loss_time_bins; ++b) {
            const float bh = (h - 16 * s) * fm[b] / top;
            dl->AddRectFilled(ImVec2(p.x + 4 * s + b * bw + 1.5f * s, p.y + h - 12 * s - bh),
                              ImVec2(p.x + 4 * s + (b + 1) * bw - 1.5f * s, p.y + h - 12 * s), k_fm,
                              2.0f * s);
        }
        dl->AddText(ImGui::GetFont(), ImGui::GetFontSize() * 0.8f,
                    ImVec2(p.x + 5 * s, p.y + h - 12 * s), k_text_dim,
                    "error by t (p_t-weighted), t = 0 → 1");
        ImGui::Dummy(ImVec2(w, h));
        tip("E_{x~p_t}|v_θ(x,t) − u_t(x)|² per t bin on the fixed evaluation batch: where in time "
            "the network is still wrong.");
    }
    ImGui::Separator();
    // The likelihood.
    ImGui::TextUnformatted("log p₁(x)");
    tip(k_tip_likelihood);
    ImGui::SameLine();
    ImGui::RadioButton("off##lik", &m_likelihood_mode, 0);
    ImGui::SameLine();
    ImGui::RadioButton("model", &m_likelihood_mode, 1);
    tip(k_tip_likelihood);
    if (app.m_spec.target.has_density()) {
        ImGui::SameLine();
        ImGui::RadioButton("true", &m_likelihood_mode, 2);
        tip("The target's own log density (known in closed form for normal, uniform, 8 gaussians, "
            "checkerboard): compare it with the model's.");
    } else if (m_likelihood_mode == 2) {
        m_likelihood_mode = 1;
    }
    if (!history.empty() && std::isfinite(history.back().nll)) {
        const LossGapSample& last = history.back();
        if (std::isfinite(last.kl))
            ImGui::Text("held-out NLL %.3f nats, KL ≈ %.3f", last.nll, last.kl);
        else
            ImGui::Text("held-out NLL %.3f nats", last.nll);
        tip("−mean log p₁(x) of 512 held-out target samples under the model, and (for a target of "
            "known density) KL(p_data‖p_model) = E[log p_data − log p_model] ≥ 0.");
        std::vector<float> nll;
        for (const auto& h : history) nll.push_back(static_cast<float>(h.nll));
        ImVec2 p = ImGui::GetCursorScreenPos();
        const float w = ImGui::GetContentRegionAvail().x, h = 40.0f * s;
        ImDrawList* dl = ImGui::GetWindowDrawList();
        dl->AddRectFilled(p, ImVec2(p.x + w, p.y + h), k_plot_bg, 5.0f * s);
        float lo = *std::min_element(nll.begin(), nll.end()),
              hi = *std::max_element(nll.begin(), nll.end());
        const double entropy = last.nll - last.kl;
        if (std::isfinite(entropy)) {
            lo = std::min(lo, static_cast<float>(entropy));
            const float y =
                p.y + h - 4 * s -
                (static_cast<float>(entropy) - lo) / std::max(hi - lo, 1e-6f) * (h - 8 * s);
            dl->AddLine(ImVec2(p.x + 4 * s, y), ImVec2(p.x + w - 4 * s, y),
                        IM_COL32(160, 160, 170, 160), 1.0f * s);
        }
        plot_line(dl, p, w, h, nll, lo, hi + 1e-6f, k_trace, 2.0f * s, s);
        dl->AddText(ImGui::GetFont(), ImGui::GetFontSize() * 0.8f, ImVec2(p.x + 5 * s, p.y + 2 * s),
                    k_text_dim, "NLL over training (grey: the target's entropy)");
        ImGui::Dummy(ImVec2(w, h));
    }
    if (ImGui::SmallButton(app.m_cnf_race->open() ? "FM vs CNF race ▾" : "FM vs CNF race ▸"))
        app.m_cnf_race->toggle();
    tip("Train the same network by flow matching and as a CNF by maximum likelihood (simulating "
        "the ODE with its divergence at every step) for the same seconds, and compare their "
        "held-out NLL over time: simulation-free training is the point of the method.");
    ImGui::Separator();
    // The inverse map.
    ImGui::Checkbox("inverse map (Shift+click)", &m_show_trace);
    tip(k_tip_trace);
    if (auto traced = m_worker->traced(); traced && m_show_trace) {
        const Eigen::Vector2f x0 = traced->backward.row(traced->backward.rows() - 1).transpose();
        ImGui::Text("x₁ (%.2f, %.2f) ← x₀ (%.2f, %.2f)", traced->start.x(), traced->start.y(),
                    x0.x(), x0.y());
        ImGui::Text("round trip error %s", fmt(buf, sizeof buf, "%.2e", traced->round_trip));
        tip("|forward(backward(x₁)) − x₁| with 64 RK4 steps each way: the flow map is a "
            "diffeomorphism, so it returns to the point up to the solver's error.");
        const LogDetPath& ld = traced->log_det;
        if (!ld.log_det.empty()) {
            ImVec2 p = ImGui::GetCursorScreenPos();
            const float w = ImGui::GetContentRegionAvail().x, h = 48.0f * s;
            ImDrawList* dl = ImGui::GetWindowDrawList();
            dl->AddRectFilled(p, ImVec2(p.x + w, p.y + h), k_plot_bg, 5.0f * s);
            float lo = std::min(0.0f, *std::min_element(ld.log_det.begin(), ld.log_det.end()));
            float hi = std::max(0.0f, *std::max_element(ld.log_det.begin(), ld.log_det.end()));
            if (hi - lo < 1e-3f) hi = lo + 1e-3f;
            const float y0 = p.y + h - 4 * s - (0 - lo) / (hi - lo) * (h - 8 * s);
            dl->AddLine(ImVec2(p.x + 4 * s, y0), ImVec2(p.x + w - 4 * s, y0),
                        IM_COL32(90, 95, 110, 255), 1.0f);
            plot_line(dl, p, w, h, ld.log_det, lo, hi, k_trace, 2.0f * s, s);
            std::snprintf(buf, sizeof buf, "log|det| from t=0 to 1: %.2f", ld.log_det.back());
            dl->AddText(ImGui::GetFont(), ImGui::GetFontSize() * 0.8f,
                        ImVec2(p.x + 5 * s, p.y + 2 * s), k_text_dim, buf);
            ImGui::Dummy(ImVec2(w, h));
            tip(k_tip_trace);
        }
    }
    if (!m_status.empty()) {
        ImGui::PushTextWrapPos(0.0f);
        ImGui::TextColored(ImVec4(1.0f, 0.55f, 0.45f, 1.0f), "%s", m_status.c_str());
        ImGui::PopTextWrapPos();
    }
    if (m_gpu) {
        const std::string label = m_worker->engine_label();
        if (!label.empty()) {
            ImGui::PushTextWrapPos(0.0f);
            ImGui::TextDisabled("computed on the %s", label.c_str());
            ImGui::PopTextWrapPos();
        }
    }
}

void InstrumentsPanel::draw_losses(GuiApp& app) {
    const float s = app.m_scale;
    ImGui::Checkbox("FM = CFM + constant", &m_fm_cfm);
    tip(k_tip_fm_cfm);
    if (!m_fm_cfm) return;
    const auto history = m_worker->loss_history();
    auto batch = m_worker->evaluation_batch();
    ImVec2 p = ImGui::GetCursorScreenPos();
    const float w = ImGui::GetContentRegionAvail().x, h = 96.0f * s;
    ImDrawList* dl = ImGui::GetWindowDrawList();
    dl->AddRectFilled(p, ImVec2(p.x + w, p.y + h), k_plot_bg, 5.0f * s);
    if (!batch) {
        const char* text = "needs a normal source (the exact field)";
        ImVec2 ts = ImGui::CalcTextSize(text);
        dl->AddText(ImVec2(p.x + (w - ts.x) / 2, p.y + (h - ts.y) / 2), k_text_dim, text);
    } else if (history.size() < 2) {
        const char* text = "measuring…";
        ImVec2 ts = ImGui::CalcTextSize(text);
        dl->AddText(ImVec2(p.x + (w - ts.x) / 2, p.y + (h - ts.y) / 2), k_text_dim, text);
    } else {
        std::vector<float> cfm, fm, gap;
        float hi = static_cast<float>(batch->expected_gap);
        for (const auto& x : history) {
            cfm.push_back(static_cast<float>(x.losses.cfm));
            fm.push_back(static_cast<float>(x.losses.fm));
            gap.push_back(static_cast<float>(x.losses.gap));
            hi = std::max({hi, cfm.back(), fm.back(), gap.back()});
        }
        hi *= 1.05f;
        const float yc =
            p.y + h - 4 * s - static_cast<float>(batch->expected_gap) / hi * (h - 8 * s);
        for (float x = p.x + 4 * s; x < p.x + w - 4 * s; x += 8 * s)
            dl->AddLine(ImVec2(x, yc), ImVec2(std::min(x + 4 * s, p.x + w - 4 * s), yc),
                        IM_COL32(170, 170, 180, 200), 1.0f * s);
        plot_line(dl, p, w, h, cfm, 0.0f, hi, k_cfm, 2.0f * s, s);
        plot_line(dl, p, w, h, fm, 0.0f, hi, k_fm, 2.0f * s, s);
        plot_line(dl, p, w, h, gap, 0.0f, hi, k_gap, 2.0f * s, s);
        char buf[96];
        const LossGapSample& last = history.back();
        std::snprintf(buf, sizeof buf, "CFM %.3f  FM %.3f  gap %.3f", last.losses.cfm,
                      last.losses.fm, last.losses.gap);
        dl->AddText(ImVec2(p.x + 6 * s, p.y + 4 * s), IM_COL32(200, 205, 215, 255), buf);
    }
    ImGui::Dummy(ImVec2(w, h));
    tip(k_tip_fm_cfm);
    swatch(k_cfm, "CFM (trained)", true);
    ImGui::SameLine();
    swatch(k_fm, "FM (exact field)", true);
    // The third entry on its own line: the left panel is too narrow for all three.
    swatch(k_gap, "CFM − FM: flat on the constant (dashes)", true);
    // Per t bin: the gap of each bin against its constant.
    if (batch && !history.empty()) {
        const LossGap& g = history.back().losses;
        p = ImGui::GetCursorScreenPos();
        const float hb = 50.0f * s;
        dl->AddRectFilled(p, ImVec2(p.x + w, p.y + hb), k_plot_bg, 5.0f * s);
        float top = 1e-9f;
        for (int b = 0; b < k_loss_time_bins; ++b)
            top = std::max({top, g.cfm_by_t[b], batch->expected_gap_by_t[b]});
        const float bw = (w - 8 * s) / k_loss_time_bins;
        for (int b = 0; b < k_loss_time_bins; ++b) {
            const float x0 = p.x + 4 * s + b * bw;
            auto bar = [&](float v, float a, float z, ImU32 c) {
                const float bh = (hb - 16 * s) * std::max(v, 0.0f) / top;
                dl->AddRectFilled(ImVec2(x0 + a * bw, p.y + hb - 12 * s - bh),
                                  ImVec2(x0 + z * bw, p.y + hb - 12 * s), c, 1.5f * s);
            };
            bar(g.cfm_by_t[b], 0.08f, 0.36f, k_cfm);
            bar(g.fm_by_t[b], 0.36f, 0.64f, k_fm);
            bar(g.gap_by_t[b], 0.64f, 0.92f, k_gap);
            const float yc = p.y + hb - 12 * s - (hb - 16 * s) * batch->expected_gap_by_t[b] / top;
            dl->AddLine(ImVec2(x0 + 0.6f * bw, yc), ImVec2(x0 + 0.96f * bw, yc),
                        IM_COL32(230, 230, 235, 255), 1.5f * s);
        }
        dl->AddText(ImGui::GetFont(), ImGui::GetFontSize() * 0.8f,
                    ImVec2(p.x + 5 * s, p.y + hb - 12 * s), k_text_dim,
                    "per t bin: CFM, FM, gap (white: its constant)");
        ImGui::Dummy(ImVec2(w, hb));
        tip("The same split by t: in every bin the gap (rose) sits on its own constant (white "
            "tick), "
            "E|u_t(x|x1) − u_t(x)|² at that t, whatever the network.");
    }
}

}  // namespace fmp
