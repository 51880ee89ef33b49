// The "Flow matching" panel: data, probability path (with α_t and σ_t), coupling, network,
// optimizer and training, and the loss plots. Every control explains its concept in a tooltip.
#include <imgui.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "app/gui/main_window.h"
#include "app/gui/theme.h"
#include "app/gui/widgets.h"
#include "core/base/clock.h"

namespace fmp {
namespace {

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
    "How training pairs x0 with x1 in each batch. Any joint π(x0, x1) with the right marginals "
    "gives a valid flow; the pairing decides how straight its paths are. Changing it keeps the "
    "weights: the flow re-bends live.";
const char* k_coupling_labels[] = {"independent", "minibatch OT", "Sinkhorn", "Schrödinger bridge"};
const char* k_coupling_tips[] = {
    "I-CFM: x0 and x1 drawn independently, π = p0 ⊗ p1. Conditional paths cross, and the learned "
    "marginal field averages them: curved sampling paths.",
    "OT-CFM: each batch re-paired by the exact optimal assignment, min_σ Σ|x0_i − x1_σ(i)|². Paths "
    "barely cross; the flow approaches the OT map and straightens.",
    "Entropic OT: pairs drawn from the Sinkhorn plan P = argmin ⟨P, C⟩ − ε H(P), C_ij = |x0_i − "
    "x1_j|². ε → 0 gives exact OT, ε → ∞ the independent coupling.",
    "SB-CFM (Tong et al.): pairs from the entropic plan with ε = 2σ², and Brownian-bridge noise on "
    "each path: x_t = (1−t)x0 + t x1 + σ√(t(1−t)) z, u_t = x1 − x0 + σ(1−2t)/(2√(t(1−t))) z. Its "
    "marginals are those of the Schrödinger bridge between p0 and p1."};
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
// [SECTION] Settings and training

void GuiApp::draw_coupling_section() {
    UiSettings& st = m_settings;
    bool changed = false;
    for (int i = 0; i < static_cast<int>(coupling_names().size()); ++i) {
        const bool blocked = st.prediction != 0 && coupling_names()[i] == "sb";
        ImGui::BeginDisabled(blocked);
        if (ImGui::RadioButton(k_coupling_labels[i], st.coupling == i) && st.coupling != i)
            st.coupling = i, changed = true;
        ImGui::EndDisabled();
        tip(std::string(k_coupling_tips[i]) + "\n\n" + k_tip_coupling);
        if (i % 2 == 0) ImGui::SameLine(ImGui::GetContentRegionAvail().x * 0.5f);
    }
    const CouplingKind kind = *coupling_kind_from_name(coupling_names()[st.coupling]);
    const float label_w = ImGui::GetContentRegionAvail().x * 0.62f;
    if (kind == CouplingKind::Sinkhorn) {
        ImGui::SetNextItemWidth(label_w);
        ImGui::SliderFloat("ε (entropy)", &st.ot_reg, 1e-3f, 10.0f, "%.3g",
                           ImGuiSliderFlags_Logarithmic | ImGuiSliderFlags_AlwaysClamp);
        changed |= ImGui::IsItemDeactivatedAfterEdit();
        tip("The entropic regularization ε of the Sinkhorn plan, in squared-distance units: small ε "
            "pairs like exact OT, large ε blurs the plan toward independent pairs.");
    } else if (kind == CouplingKind::SchrodingerBridge) {
        ImGui::SetNextItemWidth(label_w);
        ImGui::SliderFloat("σ (bridge)", &st.sb_sigma, 0.02f, 2.0f, "%.3g",
                           ImGuiSliderFlags_Logarithmic | ImGuiSliderFlags_AlwaysClamp);
        changed |= ImGui::IsItemDeactivatedAfterEdit();
        tip("The Brownian bridge's noise σ: paths wiggle by σ√(t(1−t)) around the straight line, "
            "and the plan uses ε = 2σ². σ → 0 is OT-CFM.");
        ImGui::TextDisabled("plan ε = 2σ² = %.3g", 2.0 * st.sb_sigma * st.sb_sigma);
    }
    if (coupling_solves_plan(kind)) {
        static const int k_sizes[] = {0, 16, 32, 64, 128, 256, 512, 1024};
        int current = 0;
        for (int i = 0; i < 8; ++i)
            if (k_sizes[i] == st.ot_batch) current = i;
        char preview[32];
        std::snprintf(preview, sizeof preview, st.ot_batch ? "%d rows" : "whole batch", st.ot_batch);
        ImGui::SetNextItemWidth(label_w);
        if (ImGui::BeginCombo("OT batch", preview)) {
            for (int i = 0; i < 8; ++i) {
                char item[32];
                std::snprintf(item, sizeof item, k_sizes[i] ? "%d rows" : "whole batch", k_sizes[i]);
                if (ImGui::Selectable(item, i == current) && i != current)
                    st.ot_batch = k_sizes[i], changed = true;
            }
            ImGui::EndCombo();
        }
        tip("The plan is solved on sub-batches of this many rows: smaller is cheaper (exact OT grows "
            "like n³) but pairs only within each sub-batch, so the coupling is less optimal.");
    }
    m_coupling_plan->draw_toggle(*this);
    m_reflow->draw_toggle(*this);
    if (m_reflow->active())
        ImGui::TextColored(ImVec4(0.55f, 0.85f, 0.78f, 1.0f), "training a reflow generation on pairs");
    if (changed) apply_coupling();
}

void GuiApp::draw_prediction_section() {
    static const char* labels[] = {"velocity", "data x₁", "noise ε"};
    static const char* tips[] = {
        "v_θ ≈ E[u_t | x_t]: the CFM loss |v_θ(x_t, t) − (α̇_t·x1 + σ̇_t·x0)|². Sampling uses it "
        "as it is.",
        "A denoiser: f_θ ≈ E[x1 | x_t], loss |f_θ(x_t, t) − x1|². Sampling converts it: "
        "v = (σ̇_t/σ_t)·x + (α̇_t − σ̇_t·α_t/σ_t)·f, on condot v = (f − x)/(1 − t). Singular where "
        "σ_t = 0 (t = 1): the coefficients are taken at t ≤ 0.99 there.",
        "ε-prediction (as in DDPM): f_θ ≈ E[x0 | x_t], loss |f_θ(x_t, t) − x0|². Sampling "
        "converts it: v = (α̇_t/α_t)·x + (σ̇_t − α̇_t·σ_t/α_t)·f, on condot v = (x − f)/t. Singular "
        "where α_t = 0 (t = 0): the coefficients are taken at t ≥ 0.01 there."};
    int pick = m_settings.prediction;
    const bool sb = coupling_names()[m_settings.coupling] == "sb";
    for (int i = 0; i < 3; ++i) {
        if (i) ImGui::SameLine();
        ImGui::BeginDisabled(sb && i != 0);
        ImGui::RadioButton(labels[i], &pick, i);
        ImGui::EndDisabled();
        tip(std::string(tips[i]) +
            "\n\nAll three learn the same flow: x = α·E[x1|x] + σ·E[x0|x] and v = α̇·E[x1|x] + "
            "σ̇·E[x0|x], so each is an affine function of the others. They differ in how the error "
            "is weighted over t, and where the conversion blows up. Changing it restarts training." +
            (sb && i != 0 ? "\n\nNot with the Schrödinger bridge: its bridge noise is not part "
                            "of x = α·x1 + σ·x0, so the conversion would not hold."
                          : ""));
    }
    if (pick != m_settings.prediction) apply_prediction(pick);
    ImGui::PushStyleColor(ImGuiCol_Text, ImGui::GetStyleColorVec4(ImGuiCol_TextDisabled));
    ImGui::PushTextWrapPos(0.0f);
    ImGui::TextUnformatted(prediction_formula(static_cast<Prediction>(m_settings.prediction)).c_str());
    ImGui::PopTextWrapPos();
    ImGui::PopStyleColor();
    draw_prediction_gain();
}

void GuiApp::draw_prediction_gain() {
    // |b(t)| of v = a x + b f for data and noise prediction on the current path, log scale: how
    // much an error in the prediction grows in the velocity (1 for velocity prediction).
    const float s = m_scale;
    ImVec2 p = ImGui::GetCursorScreenPos();
    const float w = ImGui::GetContentRegionAvail().x, h = 70.0f * s;
    ImDrawList* dl = ImGui::GetWindowDrawList();
    dl->AddRectFilled(p, ImVec2(p.x + w, p.y + h), IM_COL32(16, 18, 24, 255), 5.0f * s);
    const float lo = -1.0f, hi = 3.0f;  // log10 |b| from 0.1 to 1000
    auto to_px = [&](float t, float gain) {
        const float l = std::clamp(std::log10(std::max(gain, 1e-6f)), lo, hi);
        return ImVec2(p.x + 6 * s + t * (w - 12 * s), p.y + h - 6 * s - (l - lo) / (hi - lo) * (h - 12 * s));
    };
    // The gain 1 of velocity prediction as a faint reference line.
    dl->AddLine(to_px(0.0f, 1.0f), to_px(1.0f, 1.0f), IM_COL32(255, 255, 255, 50), 1.0f * s);
    const int n = 96;
    const ImU32 colors[2] = {ui_color::alpha_curve, ui_color::sigma_curve};  // data amber, noise blue
    for (int k = 0; k < 2; ++k) {
        const Prediction pred = k == 0 ? Prediction::Data : Prediction::Noise;
        ImVec2 pts[n + 1];
        for (int i = 0; i <= n; ++i) {
            const float t = static_cast<float>(i) / n;
            pts[i] = to_px(t, std::abs(velocity_from_prediction(m_path, pred, t).b));
        }
        const bool chosen = m_settings.prediction == static_cast<int>(pred);
        dl->AddPolyline(pts, n + 1, chosen ? colors[k] : (colors[k] & 0x60FFFFFFu), 0,
                        (chosen ? 2.0f : 1.2f) * s);
    }
    dl->AddLine(ImVec2(to_px(m_t, 1.0f).x, p.y + 4 * s), ImVec2(to_px(m_t, 1.0f).x, p.y + h - 4 * s),
                IM_COL32(255, 255, 255, 70), 1.0f * s);
    ImGui::Dummy(ImVec2(w, h));
    tip("How much an error in the network's output grows in the velocity: |b(t)| of v = a·x + b·f, "
        "log scale (0.1 … 1000; the faint line is 1, velocity prediction). Amber: data x₁, which "
        "blows up like 1/σ_t toward t = 1; blue: noise ε, like 1/α_t toward t = 0. The flat ends "
        "are the clamp (coefficients taken 0.01 from the singular end). Where the gain is large, "
        "the loss by t shows that prediction's error weighed less than the velocity needs.");
    const float b_now = std::abs(velocity_from_prediction(m_path, static_cast<Prediction>(m_settings.prediction), m_t).b);
    ImGui::TextDisabled("error gain at t = %.2f: ×%.3g", static_cast<double>(m_t), static_cast<double>(b_now));
}

void GuiApp::apply_prediction(int prediction) {
    if (prediction == m_settings.prediction) return;
    if (prediction != 0 && coupling_names()[m_settings.coupling] == "sb") {
        m_message = "prediction " + prediction_names()[static_cast<std::size_t>(prediction)] +
                    " is not possible with the Schrödinger bridge coupling (velocity only)";
        m_message_until = now_seconds() + 10.0;
        return;
    }
    m_settings.prediction = prediction;
    reset_training();
}

void GuiApp::apply_coupling() {
    if (m_settings.prediction != 0 && coupling_names()[m_settings.coupling] == "sb") {
        m_settings.coupling = name_index(coupling_names(), coupling_name(m_spec.coupling));
        m_message = "the Schrödinger bridge trains velocity prediction only: switch the "
                    "prediction to velocity first";
        m_message_until = now_seconds() + 10.0;
        return;
    }
    // A reflow generation trains on pairs: another coupling means going back to the data.
    if (m_reflow->active()) {
        reset_training();
        return;
    }
    const TrainConfig config = train_config();
    m_spec.coupling = config.coupling;
    m_spec.coupling_options = config.coupling_options;
    m_trainer->set_coupling(config.coupling, config.coupling_options);
    update_spec();
}

void GuiApp::draw_settings_panel() {
    const float s = m_scale;
    UiSettings& st = m_settings;
    ImGui::PushItemWidth(-ImGui::GetFontSize() * 6.5f);

    if (ImGui::CollapsingHeader("Lessons", m_lessons->active() ? 0 : ImGuiTreeNodeFlags_DefaultOpen))
        m_lessons->draw_section(*this);
    if (section("Session")) m_session->draw_section(*this);
    if (section("Side by side")) m_compare->draw_section(*this);

    if (section("Data", ImGuiTreeNodeFlags_DefaultOpen)) {
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

    if (section("Probability path", ImGuiTreeNodeFlags_DefaultOpen)) {
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
        dl->AddPolyline(a_pts, n + 1, ui_color::alpha_curve, 0, 2.0f * s);
        dl->AddPolyline(s_pts, n + 1, ui_color::sigma_curve, 0, 2.0f * s);
        ImVec2 m0 = to_px(m_t, 0), m1 = to_px(m_t, top);
        dl->AddLine(m0, m1, IM_COL32(255, 255, 255, 70), 1.0f * s);
        PathCoefficients now = m_path.at(m_t);
        dl->AddCircleFilled(to_px(m_t, now.alpha), 3.5f * s, ui_color::alpha_curve);
        dl->AddCircleFilled(to_px(m_t, now.sigma), 3.5f * s, ui_color::sigma_curve);
        ImGui::Dummy(ImVec2(w, h));
        tip("α_t (amber) scales the data point x1, σ_t (blue) the source point x0: x_t = α_t·x1 + "
            "σ_t·x0. "
            "The white line is the current t.");
        char buf[96];
        std::snprintf(buf, sizeof(buf), "α_t = %.3f", now.alpha);
        ImGui::TextColored(ImGui::ColorConvertU32ToFloat4(ui_color::alpha_curve), "%s", buf);
        ImGui::SameLine(w * 0.5f);
        std::snprintf(buf, sizeof(buf), "σ_t = %.3f", now.sigma);
        ImGui::TextColored(ImGui::ColorConvertU32ToFloat4(ui_color::sigma_curve), "%s", buf);
    }

    if (section("Coupling", ImGuiTreeNodeFlags_DefaultOpen)) draw_coupling_section();

    if (section("What the network predicts")) draw_prediction_section();

    if (m_settings.classes) ImGui::SetNextItemOpen(true, ImGuiCond_Once);
    if (section("Classes & guidance")) m_classes->draw_section(*this);

    if (section("Training", ImGuiTreeNodeFlags_DefaultOpen)) {
        if (m_divergence_open) {
            // The guard stopped a diverging run: say what happened and offer the usual remedy.
            ImGui::PushStyleColor(ImGuiCol_Text, ImVec4(1.0f, 0.42f, 0.40f, 1.0f));
            ImGui::PushTextWrapPos(0.0f);
            ImGui::TextUnformatted(m_divergence_text.c_str());
            ImGui::PopTextWrapPos();
            ImGui::PopStyleColor();
            char label[64];
            std::snprintf(label, sizeof(label), "Continue with lr = %g", st.lr / 10.0f);
            ImGui::PushStyleColor(ImGuiCol_Button, IM_COL32(140, 60, 55, 255));
            if (ImGui::Button(label, ImVec2(-FLT_MIN, 0))) resume_after_divergence(true);
            ImGui::PopStyleColor();
            tip("Lowers the learning rate tenfold and trains on from the restored weights. A step "
                "of size η moves every weight by about η (Adam normalises the gradient), so a rate "
                "that is too large overshoots, and the errors grow until they overflow.");
        }
        float bw = (ImGui::GetContentRegionAvail().x - 2 * ImGui::GetStyle().ItemSpacing.x) / 3.0f;
        if (m_training) {
            ImGui::PushStyleColor(ImGuiCol_Button, IM_COL32(40, 90, 80, 255));
            if (ImGui::Button("▮▮ Pause", ImVec2(bw, 0)))
                m_training = false, m_trainer->set_running(false);
            ImGui::PopStyleColor();
        } else {
            ImGui::PushStyleColor(ImGuiCol_Button, IM_COL32(50, 80, 140, 255));
            if (ImGui::Button("▶ Train", ImVec2(bw, 0))) {
                if (m_divergence_open)
                    resume_after_divergence(false);  // the same rate: the user's call
                else
                    m_training = true, m_trainer->set_running(m_steps_per_frame == 0);
            }
            ImGui::PopStyleColor();
        }
        tip("Start or pause training (key T). Training runs while everything animates; the view "
            "always uses the "
            "newest weights.");
        ImGui::SameLine();
        if (ImGui::Button("Step", ImVec2(bw, 0))) {
            if (m_divergence_open) m_trainer->acknowledge_divergence(), m_divergence_open = false;
            m_trainer->step_once(1);
        }
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

    if (section("Loss", ImGuiTreeNodeFlags_DefaultOpen)) {
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
            dl->AddPolyline(pr.data(), buckets, ui_color::loss_raw, 0, 1.0f * s);
            dl->AddPolyline(ps.data(), buckets, ui_color::loss_smooth, 0, 2.0f * s);
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
        m_instruments->draw_losses(*this);
    }
    if (section("Network")) {
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

}  // namespace fmp
