// The "View" panel: the canvas's layers, their legend and the "what you are seeing" line.
#include <imgui.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "app/gui/main_window.h"
#include "app/gui/theme.h"
#include "app/gui/widgets.h"

namespace fmp {

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
    else if (o.arrows && o.arrow_mode == ArrowMode::Guidance && m_class_net > 0) {
        char w[16];
        std::snprintf(w, sizeof w, "%.2f", static_cast<double>(m_settings.guidance));
        line = std::string("Guidance at t = ") + t + ": the class's field (its colour) and the "
               "unconditional one (slate); the guided field (rose) = slate + " + w +
               " × (class − slate). w > 1 pushes past the class's own arrow.";
    } else if (o.arrows && o.arrow_mode == ArrowMode::Exact)
        line = std::string("The exact marginal velocity u_t(x) at t = ") + t +
               ": the posterior-weighted average of the conditional velocities of all data points.";
    else if (o.arrows && o.arrow_mode == ArrowMode::Score)
        line = std::string("The score ∇log p_t(x) at t = ") + t +
               ", read off the learned velocity: it points to where the particles are denser.";
    else if (o.arrows && o.arrow_mode == ArrowMode::Difference)
        line = std::string("Error of the network at t = ") + t +
               ": v_θ(x,t) − u_t(x). It shrinks as training goes on.";
    else if (o.arrows)
        line = std::string("The learned velocity v_θ(x,t) at t = ") + t +
               " with the particles it moves.";
    else if (o.heatmap)
        line = std::string("The density p_t of the particles at t = ") + t + " (log scale).";
    else if (m_class_net > 0 && m_settings.follow_class == k_all_classes)
        line = std::string("Each particle follows its class's field (guidance w = ") +
               std::to_string(m_settings.guidance).substr(0, 4) + ") to t = " + t +
               ": one network, one flow per class, each colour to its own part of the target.";
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

    if (section("Particles", ImGuiTreeNodeFlags_DefaultOpen)) {
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
        ImGui::RadioButton("by class", &mode, 3);
        tip("Colour by the class each particle follows (a class-conditional network: Classes & "
            "guidance); the target's points take their class's colour too. Without classes: as by "
            "mode.");
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

    if (section("Velocity arrows", ImGuiTreeNodeFlags_DefaultOpen)) {
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
        ImGui::RadioButton("score ∇log p_t", &mode, 3);
        tip("The score ∇log p_t(x), derived from the learned velocity (Tweedie, for a standard "
            "normal source and the independent coupling): E[x0|x_t] = −σ_t ∇log p_t, and "
            "v = α̇·E[x1|x] + σ̇·E[x0|x] with x = α·E[x1|x] + σ·E[x0|x], so\n"
            "∇log p_t(x) = (α̇_t·x − α_t·v) / (σ_t·(α_t·σ̇_t − α̇_t·σ_t)).\n"
            "On condot: ∇log p_t(x) = −(x − t·v)/(1 − t). It points up the density; the SDE "
            "sampler adds (g²/2)·score to the drift. Singular at t = 1 (σ = 0): t is clamped "
            "to 0.99 there.");
        ImGui::SameLine();
        ImGui::RadioButton("guidance", &mode, 4);
        tip("Classifier-free guidance (a class-conditional network): three arrows from each grid "
            "point for the followed class y: slate v(x, t | ∅), the class's colour v(x, t | y), rose "
            "the guided v_w = v(x, t | ∅) + w·(v(x, t | y) − v(x, t | ∅)), on one linear scale. "
            "Without classes: the learned field.");
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

    if (section("Paths", ImGuiTreeNodeFlags_DefaultOpen)) {
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

    if (section("Density and markers", ImGuiTreeNodeFlags_DefaultOpen)) {
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

    m_instruments->draw_section(*this);

    if (section("Legend", ImGuiTreeNodeFlags_DefaultOpen)) {
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
            } else if (o.color == ColorMode::TargetMode || o.color == ColorMode::Class) {
                // A row of dots, one per class (or target mode), then what they are.
                const bool by_class = o.color == ColorMode::Class && m_class_net > 0;
                auto ref = m_worker->reference();
                const int count = by_class ? m_class_net : ref ? ref->modes.count : 1;
                ImDrawList* dl = ImGui::GetWindowDrawList();
                ImVec2 p = ImGui::GetCursorScreenPos();
                float h = ImGui::GetTextLineHeight();
                for (int i = 0; i < count; ++i)
                    dl->AddCircleFilled(ImVec2(p.x + h * 0.4f + i * h * 0.55f, p.y + h * 0.5f),
                                        h * 0.22f, by_class ? class_color(i) : mode_color(i));
                ImGui::Dummy(ImVec2(h * (0.4f + 0.55f * count), h));
                ImGui::SameLine();
                if (by_class)
                    ImGui::Text("particle: its class (0..%d)", count - 1);
                else
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
            } else if (o.arrow_mode == ArrowMode::Score) {
                swatch(palette::score, "score ∇log p_t (bright = strong)", true);
            } else if (o.arrow_mode == ArrowMode::Guidance && m_class_net > 0) {
                const ClassGuidance g = arrow_guidance();
                swatch(palette::unconditional, "v(x,t|∅) unconditional", true);
                swatch(class_color(g.cls), ("v(x,t|" + std::to_string(g.cls) + ") class " + std::to_string(g.cls)).c_str(), true);
                char buf[64];
                std::snprintf(buf, sizeof buf, "guided, w = %.2f", static_cast<double>(g.scale));
                swatch(palette::guided, buf, true);
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

}  // namespace fmp
