// The GUI's panels: flow-matching settings, training, loss plots, view layers with legend, the
// time bar and the status bar. Every control explains its concept in a tooltip.
#include <imgui.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "app/gui/main_window.h"
#include "app/gui/theme.h"

namespace fmp {
namespace {

// [SECTION] Small helpers

void tip(const char* text) {
    if (ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled)) {
        ImGui::BeginTooltip();
        ImGui::PushTextWrapPos(ImGui::GetFontSize() * 26.0f);
        ImGui::TextUnformatted(text);
        ImGui::PopTextWrapPos();
        ImGui::EndTooltip();
    }
}

void tip(const std::string& text) {
    tip(text.c_str());
}

bool combo(const char* label, int& index, const std::vector<std::string>& items,
           const std::vector<std::string>* labels = nullptr) {
    bool changed = false;
    const auto& shown = labels ? *labels : items;
    if (ImGui::BeginCombo(label, shown[index].c_str())) {
        for (int i = 0; i < static_cast<int>(items.size()); ++i) {
            bool selected = i == index;
            if (ImGui::Selectable(shown[i].c_str(), selected) && i != index) {
                index = i;
                changed = true;
            }
            if (selected) ImGui::SetItemDefaultFocus();
        }
        ImGui::EndCombo();
    }
    return changed;
}

void swatch(ImU32 color, const char* text, bool line = false) {
    ImDrawList* dl = ImGui::GetWindowDrawList();
    ImVec2 p = ImGui::GetCursorScreenPos();
    float h = ImGui::GetTextLineHeight();
    if (line)
        dl->AddLine(ImVec2(p.x, p.y + h * 0.5f), ImVec2(p.x + h * 1.4f, p.y + h * 0.5f), color,
                    2.5f);
    else
        dl->AddCircleFilled(ImVec2(p.x + h * 0.7f, p.y + h * 0.5f), h * 0.32f, color);
    ImGui::Dummy(ImVec2(h * 1.6f, h));
    ImGui::SameLine();
    ImGui::TextUnformatted(text);
}

std::string path_label(const std::string& name) {
    if (name == "condot") return "CondOT (straight lines)";
    if (name == "lipman-ot") return "Lipman OT (σ_min)";
    if (name == "vp") return "VP (diffusion, linear β)";
    if (name == "cosine") return "Cosine";
    if (name == "linear-vp") return "Linear VP";
    if (name == "polynomial") return "Polynomial (t²)";
    if (name == "ve") return "VE (variance exploding)";
    return name;
}

std::string with_commas(long long v) {
    std::string digits = std::to_string(v < 0 ? -v : v), out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
        out.push_back(digits[i]);
    }
    return v < 0 ? "-" + out : out;
}

const char* k_tip_target =
    "The data distribution p_1 the flow learns to produce. Training only ever sees samples x1 ~ "
    "p_1; "
    "the network never gets a formula for it.";
const char* k_tip_source =
    "The simple distribution p_0 every particle starts from (usually a standard normal). "
    "Sampling = draw x0 ~ p_0, then solve dx/dt = v_θ(x, t) from t = 0 to 1.";
const char* k_tip_path =
    "How a single source point x0 moves to a single data point x1: x_t = α_t·x1 + σ_t·x0. "
    "The network is trained to predict the velocity d/dt x_t of these conditional paths (the CFM "
    "loss); "
    "averaged over all pairs through x this is the marginal velocity u_t(x).";
const char* k_tip_coupling =
    "How training pairs x0 with x1. Independent: random pairs, so conditional paths cross and the "
    "learned "
    "marginal field averages them (curved sampling paths). Minibatch OT: each batch is re-paired "
    "by the optimal "
    "assignment minimising Σ|x0 − x1|², so paths barely cross and the flow gets straighter.";
const char* k_tip_solver =
    "The ODE solver that moves particles along v_θ: Euler x += h·v(x,t) (1 evaluation per step), "
    "midpoint and Heun "
    "(2, second order), RK4 (4, fourth order). Fewer steps with a straighter flow lose little "
    "accuracy.";
const char* k_tip_steps =
    "Solver steps from t = 0 to t = 1 (h = 1/steps). Changing it re-integrates every particle at "
    "once.";
const char* k_tip_width =
    "Units per hidden layer of the velocity network v_θ(x, y, t) → (vx, vy). Changing it restarts "
    "training.";
const char* k_tip_depth =
    "Hidden layers of v_θ. Deeper nets fit sharper fields but train slower. Changing it restarts "
    "training.";
const char* k_tip_activation =
    "The nonlinearity between layers (SiLU: x·sigmoid(x) is smooth, a good default for velocity "
    "fields).";
const char* k_tip_seed =
    "Seed for the initial weights, the training batches and the particles: same seed, same run.";
const char* k_tip_lr =
    "Adam's step size η: θ ← θ − η·m̂/(√v̂ + ε). Too large and the loss jumps; too small and "
    "learning crawls.";
const char* k_tip_batch =
    "Pairs (x0, x1, t) per training step. The CFM loss is the batch mean of |v_θ(x_t, t) − "
    "(d/dt)x_t|²; "
    "bigger batches give smoother gradients (and a better minibatch OT pairing).";
const char* k_tip_spf =
    "0: train as fast as the machine allows (on a worker thread, the UI never waits). "
    "N > 0: exactly N optimizer steps per displayed frame, to watch learning in slow motion.";
const char* k_tip_loss =
    "The conditional flow matching loss E|v_θ(x_t, t) − (α'_t·x1 + σ'_t·x0)|² per step (faint) and "
    "smoothed "
    "(bright), log scale. It does not go to zero: the conditional target is noisy, only its mean "
    "is learnable.";
const char* k_tip_loss_t =
    "The same loss split by the time t of the training samples (10 bins). Near t = 0 every x_t "
    "could lead to "
    "many x1, so the regression target is most uncertain there.";

}  // namespace

// ---------------------------------------------------------------------------------------------
// [SECTION] Layout

void GuiApp::draw_panels() {
    ImGuiIO& io = ImGui::GetIO();
    const float W = io.DisplaySize.x, H = io.DisplaySize.y;
    const float s = m_scale;
    const float status_h = ImGui::GetFrameHeight() + 8.0f * s;
    const ImGuiWindowFlags side = ImGuiWindowFlags_NoMove | ImGuiWindowFlags_NoCollapse;

    ImGui::SetNextWindowPos(ImVec2(0, 0), ImGuiCond_Always);
    ImGui::SetNextWindowSize(ImVec2(340 * s, H - status_h), ImGuiCond_FirstUseEver);
    ImGui::SetNextWindowSizeConstraints(ImVec2(260 * s, H - status_h),
                                        ImVec2(std::max(260 * s, W * 0.45f), H - status_h));
    float left = 0, right = 0;
    if (ImGui::Begin("Flow matching", nullptr, side)) draw_settings_panel();
    left = ImGui::GetWindowSize().x;
    ImGui::End();

    float right_w = m_right_w > 0 ? m_right_w / io.DisplayFramebufferScale.x : 300 * s;
    ImGui::SetNextWindowPos(ImVec2(W - right_w, 0), ImGuiCond_Always);
    ImGui::SetNextWindowSize(ImVec2(300 * s, H - status_h), ImGuiCond_FirstUseEver);
    ImGui::SetNextWindowSizeConstraints(ImVec2(240 * s, H - status_h),
                                        ImVec2(std::max(240 * s, W * 0.4f), H - status_h));
    if (ImGui::Begin("View", nullptr, side)) draw_view_panel();
    right = ImGui::GetWindowSize().x;
    ImGui::End();

    const float bar_h =
        ImGui::GetFrameHeightWithSpacing() * 2.0f + ImGui::GetStyle().WindowPadding.y * 2.0f;
    const float gap = 10.0f * s;
    ImGui::SetNextWindowPos(ImVec2(left + gap, H - status_h - bar_h - gap), ImGuiCond_Always);
    ImGui::SetNextWindowSize(ImVec2(std::max(200.0f, W - left - right - 2 * gap), bar_h),
                             ImGuiCond_Always);
    if (ImGui::Begin("##time", nullptr,
                     ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_NoMove |
                         ImGuiWindowFlags_NoSavedSettings))
        draw_time_bar();
    ImGui::End();

    ImGui::SetNextWindowPos(ImVec2(0, H - status_h), ImGuiCond_Always);
    ImGui::SetNextWindowSize(ImVec2(W, status_h), ImGuiCond_Always);
    ImGui::PushStyleVar(ImGuiStyleVar_WindowRounding, 0.0f);
    ImGui::PushStyleVar(ImGuiStyleVar_WindowPadding, ImVec2(10 * s, 4 * s));
    if (ImGui::Begin("##status", nullptr,
                     ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_NoMove |
                         ImGuiWindowFlags_NoSavedSettings))
        draw_status_bar();
    ImGui::End();
    ImGui::PopStyleVar(2);

    m_left_w = left * io.DisplayFramebufferScale.x;
    m_right_w = right * io.DisplayFramebufferScale.x;
    m_bottom_h = (status_h + bar_h + gap) * io.DisplayFramebufferScale.y;
}

// ---------------------------------------------------------------------------------------------
// [SECTION] Settings and training

void GuiApp::draw_settings_panel() {
    const float s = m_scale;
    UiSettings& st = m_settings;
    ImGui::PushItemWidth(-ImGui::GetFontSize() * 6.5f);

    if (ImGui::CollapsingHeader("Data", ImGuiTreeNodeFlags_DefaultOpen)) {
        // The analytic datasets plus the drawn set of each side.
        std::vector<std::string> names = dataset_names();
        names.push_back(DrawPanel::custom_label());
        auto describe = [&](int index, DrawWhich which) {
            if (index == DrawPanel::custom_index())
                return "Your own point set (" + with_commas(static_cast<long long>(
                                                    m_draw->count(which))) +
                       " points), drawn on the canvas or imported below; sampled uniformly.";
            return dataset_description(*dataset_kind_from_name(dataset_names()[index]));
        };
        if (combo("target p₁", st.target, names)) reset_training();
        tip(std::string(k_tip_target) + "\n\n" + describe(st.target, DrawWhich::Target));
        if (combo("source p₀", st.source, names)) reset_training();
        tip(std::string(k_tip_source) + "\n\n" + describe(st.source, DrawWhich::Source));
        m_draw->panel(*this);
    }

    if (ImGui::CollapsingHeader("Probability path", ImGuiTreeNodeFlags_DefaultOpen)) {
        std::vector<std::string> labels;
        for (const auto& n : path_names()) labels.push_back(path_label(n));
        if (combo("path", st.path, path_names(), &labels)) reset_training();
        tip(std::string(k_tip_path) + "\n\nThis path: " + m_path.formula());
        ImGui::PushStyleColor(ImGuiCol_Text, ImGui::GetStyleColorVec4(ImGuiCol_TextDisabled));
        ImGui::PushTextWrapPos(0.0f);
        ImGui::TextUnformatted(m_path.formula().c_str());
        ImGui::PopTextWrapPos();
        ImGui::PopStyleColor();
        // α_t and σ_t over t with the current t marked.
        ImVec2 p = ImGui::GetCursorScreenPos();
        float w = ImGui::GetContentRegionAvail().x, h = 78.0f * s;
        ImDrawList* dl = ImGui::GetWindowDrawList();
        dl->AddRectFilled(p, ImVec2(p.x + w, p.y + h), IM_COL32(16, 18, 24, 255), 5.0f * s);
        const int n = 64;
        float top = 1.0f;
        for (int i = 0; i <= n; ++i) {
            PathCoefficients c = m_path.at(static_cast<float>(i) / n);
            top = std::max({top, c.alpha, c.sigma});
        }
        auto to_px = [&](float t, float v) {
            return ImVec2(p.x + 6 * s + t * (w - 12 * s), p.y + h - 6 * s - v / top * (h - 12 * s));
        };
        ImVec2 a_pts[n + 1], s_pts[n + 1];
        for (int i = 0; i <= n; ++i) {
            float t = static_cast<float>(i) / n;
            PathCoefficients c = m_path.at(t);
            a_pts[i] = to_px(t, c.alpha);
            s_pts[i] = to_px(t, c.sigma);
        }
        dl->AddPolyline(a_pts, n + 1, palette::alpha_curve, 0, 2.0f * s);
        dl->AddPolyline(s_pts, n + 1, palette::sigma_curve, 0, 2.0f * s);
        ImVec2 m0 = to_px(m_t, 0), m1 = to_px(m_t, top);
        dl->AddLine(m0, m1, IM_COL32(255, 255, 255, 70), 1.0f * s);
        PathCoefficients now = m_path.at(m_t);
        dl->AddCircleFilled(to_px(m_t, now.alpha), 3.5f * s, palette::alpha_curve);
        dl->AddCircleFilled(to_px(m_t, now.sigma), 3.5f * s, palette::sigma_curve);
        ImGui::Dummy(ImVec2(w, h));
        tip("α_t (amber) scales the data point x1, σ_t (blue) the source point x0: x_t = α_t·x1 + "
            "σ_t·x0. "
            "The white line is the current t.");
        char buf[96];
        std::snprintf(buf, sizeof(buf), "α_t = %.3f", now.alpha);
        ImGui::TextColored(ImGui::ColorConvertU32ToFloat4(palette::alpha_curve), "%s", buf);
        ImGui::SameLine(w * 0.5f);
        std::snprintf(buf, sizeof(buf), "σ_t = %.3f", now.sigma);
        ImGui::TextColored(ImGui::ColorConvertU32ToFloat4(palette::sigma_curve), "%s", buf);
    }

    if (ImGui::CollapsingHeader("Coupling", ImGuiTreeNodeFlags_DefaultOpen)) {
        for (int i = 0; i < static_cast<int>(coupling_names().size()); ++i) {
            const std::string& name = coupling_names()[i];
            std::string label = name == "ot" ? "minibatch OT" : name;
            if (ImGui::RadioButton(label.c_str(), st.coupling == i) && st.coupling != i) {
                st.coupling = i;
                reset_training();
            }
            tip(k_tip_coupling);
            if (i + 1 < static_cast<int>(coupling_names().size())) ImGui::SameLine();
        }
    }

    if (ImGui::CollapsingHeader("Training", ImGuiTreeNodeFlags_DefaultOpen)) {
        float bw = (ImGui::GetContentRegionAvail().x - 2 * ImGui::GetStyle().ItemSpacing.x) / 3.0f;
        if (m_training) {
            ImGui::PushStyleColor(ImGuiCol_Button, IM_COL32(40, 90, 80, 255));
            if (ImGui::Button("▮▮ Pause", ImVec2(bw, 0)))
                m_training = false, m_trainer->set_running(false);
            ImGui::PopStyleColor();
        } else {
            ImGui::PushStyleColor(ImGuiCol_Button, IM_COL32(50, 80, 140, 255));
            if (ImGui::Button("▶ Train", ImVec2(bw, 0)))
                m_training = true, m_trainer->set_running(m_steps_per_frame == 0);
            ImGui::PopStyleColor();
        }
        tip("Start or pause training (key T). Training runs while everything animates; the view "
            "always uses the "
            "newest weights.");
        ImGui::SameLine();
        if (ImGui::Button("Step", ImVec2(bw, 0))) m_trainer->step_once(1);
        tip("One optimizer step on one batch: sample x0, x1, t, build x_t, regress v_θ(x_t, t) on "
            "the conditional "
            "velocity, update θ.");
        ImGui::SameLine();
        if (ImGui::Button("Reset", ImVec2(bw, 0))) reset_training();
        tip("Fresh random weights (from the seed) and a fresh optimizer (key R).");
        float lr = st.lr;
        if (ImGui::SliderFloat("learning rate", &lr, 1e-4f, 1e-2f, "%.1e",
                               ImGuiSliderFlags_Logarithmic)) {
            st.lr = lr;
            m_trainer->set_learning_rate(lr);
        }
        tip(k_tip_lr);
        static const std::vector<std::string> batches = {"64",   "128",  "256", "512",
                                                         "1024", "2048", "4096"};
        int bi = static_cast<int>(
            std::find(batches.begin(), batches.end(), std::to_string(st.batch)) - batches.begin());
        if (bi >= static_cast<int>(batches.size())) bi = 2;
        if (combo("batch", bi, batches))
            st.batch = std::stoi(batches[bi]), m_trainer->set_batch_size(st.batch);
        tip(k_tip_batch);
        if (ImGui::SliderInt("steps/frame", &m_steps_per_frame, 0, 50,
                             m_steps_per_frame == 0 ? "max" : "%d"))
            m_trainer->set_running(m_training && m_steps_per_frame == 0);
        tip(k_tip_spf);
        ImGui::Text("step %s", with_commas(m_snapshot.step).c_str());
        ImGui::SameLine(ImGui::GetContentRegionAvail().x * 0.5f);
        ImGui::TextDisabled("%.0f steps/s · %.0f s", m_training ? m_snapshot.steps_per_second : 0.0,
                            m_snapshot.training_seconds);
    }

    if (ImGui::CollapsingHeader("Loss", ImGuiTreeNodeFlags_DefaultOpen)) {
        ImVec2 p = ImGui::GetCursorScreenPos();
        float w = ImGui::GetContentRegionAvail().x, h = 96.0f * s;
        ImDrawList* dl = ImGui::GetWindowDrawList();
        dl->AddRectFilled(p, ImVec2(p.x + w, p.y + h), IM_COL32(16, 18, 24, 255), 5.0f * s);
        const std::size_t n = m_loss_raw.size();
        if (n >= 2) {
            int cols = std::max(2, static_cast<int>(w / (1.5f * s)));
            int buckets =
                static_cast<int>(std::min<std::size_t>(n, static_cast<std::size_t>(cols)));
            std::vector<float> raw(buckets), smooth(buckets);
            for (int b = 0; b < buckets; ++b) {
                std::size_t a = n * b / buckets, e = std::max(a + 1, n * (b + 1) / buckets);
                double sum = 0;
                for (std::size_t i = a; i < e; ++i) sum += m_loss_raw[i];
                raw[b] = static_cast<float>(sum / (e - a));
                smooth[b] = m_loss_smooth[e - 1];
            }
            float lo = 1e30f, hi = -1e30f;
            for (int b = 0; b < buckets; ++b) {
                lo = std::min(lo, std::log10(std::max(raw[b], 1e-8f)));
                hi = std::max(hi, std::log10(std::max(raw[b], 1e-8f)));
            }
            if (hi - lo < 0.2f) hi = lo + 0.2f;
            auto to_px = [&](int b, float v) {
                float y = (std::log10(std::max(v, 1e-8f)) - lo) / (hi - lo);
                return ImVec2(p.x + 4 * s + (w - 8 * s) * b / std::max(1, buckets - 1),
                              p.y + h - 4 * s - y * (h - 8 * s));
            };
            std::vector<ImVec2> pr(buckets), ps(buckets);
            for (int b = 0; b < buckets; ++b) pr[b] = to_px(b, raw[b]), ps[b] = to_px(b, smooth[b]);
            dl->AddPolyline(pr.data(), buckets, palette::loss_raw, 0, 1.0f * s);
            dl->AddPolyline(ps.data(), buckets, palette::loss_smooth, 0, 2.0f * s);
            char buf[64];
            std::snprintf(buf, sizeof(buf), "%.3f", m_loss_smooth.back());
            dl->AddText(ImVec2(p.x + w - ImGui::CalcTextSize(buf).x - 6 * s, p.y + 4 * s),
                        IM_COL32(200, 205, 215, 255), buf);
            std::snprintf(buf, sizeof(buf), "%.2g", std::pow(10.0f, hi));
            dl->AddText(ImVec2(p.x + 6 * s, p.y + 4 * s), IM_COL32(130, 138, 152, 255), buf);
        } else {
            const char* text = "waiting for the first steps…";
            ImVec2 ts = ImGui::CalcTextSize(text);
            dl->AddText(ImVec2(p.x + (w - ts.x) / 2, p.y + (h - ts.y) / 2),
                        IM_COL32(130, 138, 152, 255), text);
        }
        ImGui::Dummy(ImVec2(w, h));
        tip(k_tip_loss);

        // Loss by t: 10 bars.
        p = ImGui::GetCursorScreenPos();
        h = 54.0f * s;
        dl->AddRectFilled(p, ImVec2(p.x + w, p.y + h), IM_COL32(16, 18, 24, 255), 5.0f * s);
        float top = 1e-6f;
        for (float v : m_snapshot.loss_by_time) top = std::max(top, std::isfinite(v) ? v : 0.0f);
        float bw = (w - 8 * s) / k_loss_time_bins;
        for (int b = 0; b < k_loss_time_bins; ++b) {
            float v = m_snapshot.loss_by_time[b];
            if (!std::isfinite(v) || v <= 0) continue;
            float bh = (h - 18 * s) * v / top;
            bool current = m_t >= b / 10.0f && m_t < (b + 1) / 10.0f + (b == 9 ? 0.01f : 0.0f);
            ImU32 c = current ? IM_COL32(150, 230, 210, 255) : IM_COL32(90, 150, 140, 255);
            dl->AddRectFilled(ImVec2(p.x + 4 * s + b * bw + 1.5f * s, p.y + h - 14 * s - bh),
                              ImVec2(p.x + 4 * s + (b + 1) * bw - 1.5f * s, p.y + h - 14 * s), c,
                              2.0f * s);
        }
        dl->AddText(ImGui::GetFont(), ImGui::GetFontSize() * 0.8f,
                    ImVec2(p.x + 5 * s, p.y + h - 13 * s), IM_COL32(130, 138, 152, 255), "t=0");
        dl->AddText(ImGui::GetFont(), ImGui::GetFontSize() * 0.8f,
                    ImVec2(p.x + w - 28 * s, p.y + h - 13 * s), IM_COL32(130, 138, 152, 255),
                    "t=1");
        dl->AddText(ImGui::GetFont(), ImGui::GetFontSize() * 0.8f,
                    ImVec2(p.x + w * 0.5f - 30 * s, p.y + h - 13 * s), IM_COL32(130, 138, 152, 255),
                    "loss by t");
        ImGui::Dummy(ImVec2(w, h));
        tip(k_tip_loss_t);
    }
    if (ImGui::CollapsingHeader("Network")) {
        static const std::vector<std::string> widths = {"32", "64", "128", "256", "512"};
        int wi = std::max(
            0, static_cast<int>(std::find(widths.begin(), widths.end(), std::to_string(st.width)) -
                                widths.begin()));
        if (wi >= static_cast<int>(widths.size())) wi = 2;
        if (combo("width", wi, widths)) st.width = std::stoi(widths[wi]), reset_training();
        tip(k_tip_width);
        ImGui::SliderInt("depth", &st.depth, 1, 6);
        if (ImGui::IsItemDeactivatedAfterEdit()) reset_training();
        tip(k_tip_depth);
        if (combo("activation", st.activation, activation_names())) reset_training();
        tip(k_tip_activation);
        ImGui::InputInt("seed", &st.seed);
        st.seed = std::max(0, st.seed);
        if (ImGui::IsItemDeactivatedAfterEdit()) reset_training(), update_spec();
        tip(k_tip_seed);
        MlpConfig cfg;
        cfg.width = st.width;
        cfg.depth = st.depth;
        ImGui::TextDisabled("%s parameters",
                            with_commas(static_cast<long long>(cfg.parameter_count())).c_str());
    }

    std::string err = m_trainer->error();
    if (!err.empty())
        ImGui::TextColored(ImVec4(1.0f, 0.45f, 0.45f, 1.0f), "training stopped: %s", err.c_str());
    ImGui::PopItemWidth();
}

// ---------------------------------------------------------------------------------------------
// [SECTION] View layers, legend, "what you are seeing"

std::string GuiApp::seeing_line() const {
    const SceneOptions& o = m_scene_options;
    char t[16];
    std::snprintf(t, sizeof(t), "%.2f", m_t);
    std::string line;
    if (o.paths && o.path_mode == PathMode::Both)
        line =
            "Blue: the learned ODE dx/dt = v_θ(x,t) from x0. Amber: the conditional path "
            "ψ_t(x0|x1) from the "
            "same x0 to the x1 it was paired with. Amber paths cross; blue ones never do.";
    else if (o.paths && o.path_mode == PathMode::Conditional)
        line =
            "Conditional paths ψ_t(x0|x1) = α_t·x1 + σ_t·x0: what each training pair teaches. They "
            "cross each other.";
    else if (o.paths)
        line =
            "Marginal paths: solutions of dx/dt = v_θ(x,t) from x0. Two of them never cross: the "
            "field has one "
            "velocity per point.";
    else if (o.arrows && o.arrow_mode == ArrowMode::Exact)
        line = std::string("The exact marginal velocity u_t(x) at t = ") + t +
               ": the posterior-weighted average of the conditional velocities of all data points.";
    else if (o.arrows && o.arrow_mode == ArrowMode::Difference)
        line = std::string("Error of the network at t = ") + t +
               ": v_θ(x,t) − u_t(x). It shrinks as training goes on.";
    else if (o.arrows)
        line = std::string("The learned velocity v_θ(x,t) at t = ") + t +
               " with the particles it moves.";
    else if (o.heatmap)
        line = std::string("The density p_t of the particles at t = ") + t + " (log scale).";
    else
        line = std::string("Particles: samples x0 ~ p₀ carried by the learned field to t = ") + t +
               ". At t = 1 they should look like the target.";
    return line;
}

void GuiApp::draw_view_panel() {
    const float s = m_scale;
    SceneOptions& o = m_scene_options;
    ImGui::PushStyleColor(ImGuiCol_ChildBg, IM_COL32(34, 40, 54, 200));
    ImGui::BeginChild("seeing", ImVec2(0, ImGui::GetTextLineHeightWithSpacing() * 7.0f), true,
                      ImGuiWindowFlags_NoScrollbar);
    ImGui::PushTextWrapPos(0.0f);
    ImGui::TextColored(ImVec4(0.62f, 0.76f, 1.0f, 1.0f), "What you are seeing");
    ImGui::TextUnformatted(seeing_line().c_str());
    ImGui::PopTextWrapPos();
    ImGui::EndChild();
    ImGui::PopStyleColor();
    ImGui::PushItemWidth(-ImGui::GetFontSize() * 6.0f);

    if (ImGui::CollapsingHeader("Particles", ImGuiTreeNodeFlags_DefaultOpen)) {
        ImGui::Checkbox("show particles", &o.particles);
        tip("Samples x0 ~ p₀ moved by the learned ODE dx/dt = v_θ(x, t) to the current t. At t = 1 "
            "they are the "
            "model's samples of the target.");
        int mode = static_cast<int>(o.color);
        ImGui::RadioButton("by start", &mode, 0);
        tip("Colour by where each particle started (hue = angle of x0, saturation = radius): shows "
            "how the flow "
            "rearranges the source.");
        ImGui::SameLine();
        ImGui::RadioButton("by mode", &mode, 1);
        tip("Colour by the target mode (connected part of the data) each particle ends in: shows "
            "which region of "
            "the source feeds which mode.");
        ImGui::SameLine();
        ImGui::RadioButton("plain", &mode, 2);
        o.color = static_cast<ColorMode>(mode);
        int count = m_settings.particles;
        ImGui::SliderInt("count", &count, 1000, m_gl_engine ? 1000000 : 100000, "%d",
                         ImGuiSliderFlags_Logarithmic);
        if (count != m_settings.particles) m_settings.particles = count;
        if (ImGui::IsItemDeactivatedAfterEdit()) update_spec();
        tip("How many particles are integrated and drawn. More particles show the density better; "
            "on the CPU each "
            "refresh of the trajectories costs proportionally more.");
        ImGui::SliderFloat("size", &o.point_size, 1.0f, 8.0f, "%.1f px");
        ImGui::SliderFloat("opacity", &o.point_alpha, 0.05f, 1.0f, "%.2f");
        ImGui::Checkbox("additive glow", &o.additive);
        tip("Additive blending: where particles pile up the colour gets brighter, like a density.");
        ImGui::SameLine();
        ImGui::Checkbox("trails", &o.trails);
        tip("Short tails behind a subset of particles: the last 0.12 of time of their motion.");
    }

    if (ImGui::CollapsingHeader("Velocity arrows", ImGuiTreeNodeFlags_DefaultOpen)) {
        ImGui::Checkbox("show arrows", &o.arrows);
        tip("The velocity field on a grid at the current t: direction of motion, length ∝ √speed, "
            "colour = speed.");
        int mode = static_cast<int>(o.arrow_mode);
        ImGui::RadioButton("learned", &mode, 0);
        tip("v_θ(x, t): what the network predicts. This field moves the particles.");
        ImGui::SameLine();
        ImGui::RadioButton("exact", &mode, 1);
        tip("u_t(x) = Σ_i w_i(x)·u_t(x|y_i): the exact marginal velocity of the data (for a normal "
            "source), with "
            "w_i the posterior that x_t came from data point y_i. The network's regression target "
            "in expectation "
            "(for the independent coupling; minibatch OT learns a straighter field than this).");
        ImGui::SameLine();
        ImGui::RadioButton("difference", &mode, 2);
        tip("v_θ(x, t) − u_t(x): where the network is still wrong. Watch it shrink while "
            "training.");
        o.arrow_mode = static_cast<ArrowMode>(mode);
        ImGui::SliderFloat("spacing", &o.arrow_spacing, 18.0f, 90.0f, "%.0f px");
        tip("Distance between arrows on screen (smaller = denser grid).");
        ImGui::SliderFloat("length", &o.arrow_scale, 0.2f, 4.0f, "%.2f×",
                           ImGuiSliderFlags_Logarithmic);
        tip("Arrow length × this factor. Length grows with √speed (capped) so slow regions stay "
            "readable; the "
            "95th-percentile speed gets 0.9 grid cells (for the difference: that of the learned "
            "field, so the error "
            "shrinks visibly). The colour shows the speed itself.");
    }

    if (ImGui::CollapsingHeader("Paths", ImGuiTreeNodeFlags_DefaultOpen)) {
        ImGui::Checkbox("show paths", &o.paths);
        tip("Trajectories from t = 0 to 1 for a few particles, the part already travelled bright.");
        int mode = static_cast<int>(o.path_mode);
        ImGui::RadioButton("marginal", &mode, 0);
        tip("Solutions of the learned ODE dx/dt = v_θ(x, t). They never cross (one velocity per "
            "point and time).");
        ImGui::SameLine();
        ImGui::RadioButton("conditional", &mode, 1);
        tip("ψ_t(x0|x1) = α_t·x1 + σ_t·x0 for pairs (x0, x1) drawn as in training (with the chosen "
            "coupling). "
            "Straight lines for CondOT, curves for VP. They cross: that is why the marginal field "
            "must average them.");
        ImGui::SameLine();
        ImGui::RadioButton("both", &mode, 2);
        tip("Both from the same x0: the conditional path heads for its paired x1, the learned path "
            "for where the "
            "averaged field takes it.");
        o.path_mode = static_cast<PathMode>(mode);
        ImGui::SliderInt("paths", &o.path_count, 8, 512, "%d", ImGuiSliderFlags_Logarithmic);
    }

    if (ImGui::CollapsingHeader("Density and markers", ImGuiTreeNodeFlags_DefaultOpen)) {
        ImGui::Checkbox("density p_t", &o.heatmap);
        tip("A histogram of the particles at t, blurred, on a log colour scale: log(1 + count). It "
            "approximates the "
            "marginal density p_t(x) of the flow.");
        ImGui::SameLine();
        ImGui::Checkbox("grid", &o.grid);
        ImGui::Checkbox("target points", &o.targets);
        tip("Faint white dots: samples of the target p₁ (what t = 1 should look like).");
        ImGui::SameLine();
        ImGui::Checkbox("source points", &o.sources);
        tip("Faint grey dots: samples of the source p₀ (where t = 0 starts).");
        if (ImGui::Button("Fit view (F)")) fit_view();
        tip("Zoom and centre on the data. Drag to pan, mouse wheel to zoom around the cursor.");
    }

    if (ImGui::CollapsingHeader("Legend", ImGuiTreeNodeFlags_DefaultOpen)) {
        if (o.particles) {
            if (o.color == ColorMode::Source) {
                ImDrawList* dl = ImGui::GetWindowDrawList();
                ImVec2 p = ImGui::GetCursorScreenPos();
                float h = ImGui::GetTextLineHeight();
                for (int i = 0; i < 24; ++i) {
                    float a = 6.2831853f * i / 24.0f;
                    dl->AddCircleFilled(ImVec2(p.x + h * 0.7f + std::cos(a) * h * 0.45f,
                                               p.y + h * 0.5f + std::sin(a) * h * 0.45f),
                                        1.8f * s, position_color(std::cos(a), -std::sin(a), 1.0f));
                }
                ImGui::Dummy(ImVec2(h * 1.6f, h));
                ImGui::SameLine();
                ImGui::TextUnformatted("particle: colour of its start x0");
            } else if (o.color == ColorMode::TargetMode) {
                auto ref = m_worker->reference();
                int count = ref ? ref->modes.count : 1;
                ImDrawList* dl = ImGui::GetWindowDrawList();
                ImVec2 p = ImGui::GetCursorScreenPos();
                float h = ImGui::GetTextLineHeight();
                for (int i = 0; i < count; ++i)
                    dl->AddCircleFilled(ImVec2(p.x + h * 0.4f + i * h * 0.55f, p.y + h * 0.5f),
                                        h * 0.22f, mode_color(i));
                ImGui::Dummy(ImVec2(h * (0.4f + 0.55f * count), h));
                ImGui::SameLine();
                ImGui::Text("particle: target mode (%d)", count);
            } else {
                swatch(palette::particle, "particle");
            }
        }
        if (o.paths && o.path_mode != PathMode::Conditional)
            swatch(palette::marginal, "learned (marginal) path", true);
        if (o.paths && o.path_mode != PathMode::Marginal)
            swatch(palette::conditional, "conditional path ψ_t(x0|x1)", true);
        if (o.arrows) {
            if (o.arrow_mode == ArrowMode::Difference) {
                swatch(palette::difference, "v_θ − u_t (error)", true);
            } else {
                ImDrawList* dl = ImGui::GetWindowDrawList();
                ImVec2 p = ImGui::GetCursorScreenPos();
                float h = ImGui::GetTextLineHeight(), w = h * 3.0f;
                for (int i = 0; i < 16; ++i)
                    dl->AddRectFilled(ImVec2(p.x + w * i / 16, p.y + h * 0.3f),
                                      ImVec2(p.x + w * (i + 1) / 16, p.y + h * 0.7f),
                                      speed_color(i / 15.0f));
                ImGui::Dummy(ImVec2(w, h));
                ImGui::SameLine();
                ImGui::TextUnformatted(o.arrow_mode == ArrowMode::Exact
                                           ? "exact u_t speed: slow → fast"
                                           : "learned v_θ speed: slow → fast");
            }
        }
        if (o.heatmap) {
            ImDrawList* dl = ImGui::GetWindowDrawList();
            ImVec2 p = ImGui::GetCursorScreenPos();
            float h = ImGui::GetTextLineHeight(), w = h * 3.0f;
            const ImU32 ramp[5] = {IM_COL32(26, 13, 64, 255), IM_COL32(107, 26, 128, 255),
                                   IM_COL32(204, 61, 107, 255), IM_COL32(250, 140, 56, 255),
                                   IM_COL32(252, 237, 158, 255)};
            for (int i = 0; i < 4; ++i)
                dl->AddRectFilledMultiColor(ImVec2(p.x + w * i / 4, p.y + h * 0.3f),
                                            ImVec2(p.x + w * (i + 1) / 4, p.y + h * 0.7f), ramp[i],
                                            ramp[i + 1], ramp[i + 1], ramp[i]);
            ImGui::Dummy(ImVec2(w, h));
            ImGui::SameLine();
            ImGui::TextUnformatted("density (log): low → high");
        }
        if (o.targets) swatch(IM_COL32(200, 200, 200, 255), "target samples");
        if (o.sources) swatch(palette::source, "source samples");
    }
    m_export->draw(*this);
    ImGui::PopItemWidth();
}

// ---------------------------------------------------------------------------------------------
// [SECTION] Time bar, status bar, axis labels

void GuiApp::draw_time_bar() {
    const float s = m_scale;
    float bw = ImGui::GetFrameHeight() * 2.2f;
    if (ImGui::Button(m_playing ? "▮▮" : "▶", ImVec2(bw, 0))) m_playing = !m_playing;
    tip("Play or pause the sweep of t (Space). ←/→ step t by 0.01.");
    ImGui::SameLine();
    ImGui::SetNextItemWidth(ImGui::GetContentRegionAvail().x);
    if (ImGui::SliderFloat("##t", &m_t, 0.0f, 1.0f, "t = %.3f")) m_playing = false;
    tip("Time along the flow: t = 0 is the source p₀, t = 1 the data p₁. Particles at t are the "
        "solution of "
        "dx/dt = v_θ(x, t) started at x0 ~ p₀.");

    static const char* modes[] = {"once", "loop", "ping-pong"};
    int mode = static_cast<int>(m_play_mode);
    ImGui::SetNextItemWidth(110 * s);
    if (ImGui::Combo("##mode", &mode, modes, 3)) m_play_mode = static_cast<PlayMode>(mode);
    tip("once: stop at t = 1; loop: jump back to 0; ping-pong: run back and forth.");
    ImGui::SameLine();
    ImGui::SetNextItemWidth(130 * s);
    ImGui::SliderFloat("##speed", &m_speed, 0.05f, 1.0f, "speed %.2f/s",
                       ImGuiSliderFlags_Logarithmic);
    tip("How fast t advances, in units of t per second (0.25: one sweep in 4 seconds).");
    ImGui::SameLine();
    ImGui::TextDisabled("│");
    ImGui::SameLine();
    ImGui::SetNextItemWidth(100 * s);
    if (combo("##solver", m_settings.solver, solver_names())) update_spec();
    tip(k_tip_solver);
    ImGui::SameLine();
    ImGui::SetNextItemWidth(120 * s);
    ImGui::SliderInt("##steps", &m_settings.solver_steps, 1, 200, "%d steps",
                     ImGuiSliderFlags_Logarithmic);
    if (ImGui::IsItemDeactivatedAfterEdit()) update_spec();
    tip(k_tip_steps);
    ImGui::SameLine();
    int nfe = m_settings.solver_steps *
              solver_evaluations(*solver_kind_from_name(solver_names()[m_settings.solver]));
    ImGui::TextDisabled("%d evals", nfe);
    tip("Network evaluations per particle for a full sweep: steps × evaluations per step.");
    if (m_worker->busy()) {
        ImGui::SameLine();
        ImGui::TextDisabled("· integrating…");
        tip("Particles are re-integrated in the background with the newest weights; the picture "
            "updates when "
            "they are done.");
    }
}

void GuiApp::draw_status_bar() {
    char buf[512];
    double rate = m_training ? m_snapshot.steps_per_second : 0.0;
    // Long GPU names ("GPU: NVIDIA H100 80GB HBM3 (OpenGL 4.6 ...)") are cut; the tooltip has it
    // all.
    std::string engine =
        m_engine_label.size() > 44 ? m_engine_label.substr(0, 42) + "…" : m_engine_label;
    std::snprintf(
        buf, sizeof(buf),
        "%.0f fps   ·   %s   ·   %s steps/s   ·   step %s   ·   %s particles   ·   t = %.3f", m_fps,
        engine.c_str(), with_commas(static_cast<long long>(rate)).c_str(),
        with_commas(m_snapshot.step).c_str(), with_commas(m_settings.particles).c_str(), m_t);
    ImGui::TextUnformatted(buf);
    tip("Engine: " + m_engine_label +
        "\nKeys: Space play/pause · T train on/off · R reset · ←/→ scrub t · F fit view · H hide "
        "panels · S screenshot · D draw mode (E eraser, Ctrl+Z undo, Ctrl+Shift+Z redo)");
    if (!m_message.empty() && m_now < m_message_until) {
        ImGui::SameLine();
        // A failed import's message is red, like its copy in the Data panel.
        bool failed = !m_draw->error().empty() && m_message == m_draw->error();
        ImGui::TextColored(failed ? ImVec4(1.0f, 0.42f, 0.40f, 1.0f)
                                  : ImVec4(0.55f, 0.85f, 0.75f, 1.0f),
                           "   ·   %s", m_message.c_str());
    } else {
        ImGui::SameLine();
        ImGui::TextDisabled("   ·   H hides panels, S saves a screenshot");
    }
}

void GuiApp::draw_axis_labels() {
    if (!m_scene_options.grid) return;
    ImGuiIO& io = ImGui::GetIO();
    ImDrawList* dl = ImGui::GetBackgroundDrawList();
    float fx = io.DisplayFramebufferScale.x, fy = io.DisplayFramebufferScale.y;
    float major = grid_spacing(m_view.pixels_per_unit, 140.0f * m_scale);
    Eigen::AlignedBox2f box = m_view.visible_box();
    const ImU32 color = IM_COL32(160, 170, 190, 130);
    float size = ImGui::GetFontSize() * 0.8f;
    // Labels sit along the axes, or along the canvas edge when an axis is off screen.
    Eigen::Vector2f origin = m_view.world_to_pixel(Eigen::Vector2f(0, 0));
    float left = m_panels ? m_left_w : 0.0f,
          bottom_limit = m_view.height - (m_panels ? m_bottom_h : 0.0f);
    float label_y = std::clamp(origin.y() + 4.0f * m_scale, 4.0f, bottom_limit - 20.0f * m_scale);
    float label_x =
        std::clamp(origin.x() + 5.0f * m_scale, left + 4.0f, m_view.width - 40.0f * m_scale);
    char buf[32];
    for (float x = std::ceil(box.min().x() / major) * major; x <= box.max().x(); x += major) {
        if (std::abs(x) < major * 1e-3f) continue;
        Eigen::Vector2f p = m_view.world_to_pixel(Eigen::Vector2f(x, 0));
        if (p.x() < left + 10) continue;
        std::snprintf(buf, sizeof(buf), "%g", std::round(x / major) * major);
        dl->AddText(ImGui::GetFont(), size, ImVec2((p.x() + 3) / fx, label_y / fy), color, buf);
    }
    for (float y = std::ceil(box.min().y() / major) * major; y <= box.max().y(); y += major) {
        if (std::abs(y) < major * 1e-3f) continue;
        Eigen::Vector2f p = m_view.world_to_pixel(Eigen::Vector2f(0, y));
        if (p.y() > bottom_limit - 10) continue;
        std::snprintf(buf, sizeof(buf), "%g", std::round(y / major) * major);
        dl->AddText(ImGui::GetFont(), size, ImVec2(label_x / fx, (p.y() - size - 1) / fy), color,
                    buf);
    }
}

}  // namespace fmp
