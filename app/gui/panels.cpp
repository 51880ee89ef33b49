// The window's layout: the side panels' frames, the time bar, the status bar and the axis
// labels on the canvas. Every control explains its concept in a tooltip.
#include <imgui.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "app/gui/main_window.h"
#include "app/gui/theme.h"
#include "app/gui/widgets.h"

namespace fmp {
namespace {

const char* k_tip_solver =
    "The ODE solver that moves particles along v_θ: Euler x += h·v(x,t) (1 evaluation per step), "
    "midpoint and Heun "
    "(2, second order), RK4 (4, fourth order). Fewer steps with a straighter flow lose little "
    "accuracy.\n\ndopri5 (Dormand–Prince 5(4)) chooses its own steps: 6 evaluations per step give "
    "an embedded 4th/5th-order pair, and their difference estimates the step's error err (RMS "
    "over all particles of e / (tol·(1 + |x|))). A step is accepted when err ≤ 1 and the next "
    "is h_new = h·min(5, max(0.2, 0.9·err^(-1/5))); between the frames at t = k/steps it "
    "takes as many steps as the field needs.";
const char* k_tip_tolerance =
    "dopri5's tolerance (rtol = atol = tol, 1e-6 … 0.1): each step's estimated error must stay "
    "below tol·(1 + |x|). Ten times smaller costs about 10^(1/5) ≈ 1.6 times more steps.";
const char* k_tip_steps =
    "Solver steps from t = 0 to t = 1 (h = 1/steps). Changing it re-integrates every particle at "
    "once.";

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
    m_solver_lab->draw_window(*this);
    m_sde->draw_window(*this);
    m_cnf_race->draw_window(*this);
    m_coupling_plan->draw_window(*this);
    m_reflow->draw_window(*this);

    const float bar_h =
        ImGui::GetFrameHeightWithSpacing() * 2.0f + ImGui::GetStyle().WindowPadding.y * 2.0f;
    const float gap = 10.0f * s;
    ImGui::SetNextWindowPos(ImVec2(left + gap, H - status_h - bar_h - gap), ImGuiCond_Always);
    ImGui::SetNextWindowSize(ImVec2(std::max(200.0f, W - left - right - 2 * gap), bar_h),
                             ImGuiCond_Always);
    if (ImGui::Begin("##time", nullptr,
                     ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_NoMove |
                         ImGuiWindowFlags_NoSavedSettings)) {
        draw_time_bar();
        const ImVec2 p = ImGui::GetWindowPos(), size = ImGui::GetWindowSize();
        m_lessons->outline_if_highlighted("Time bar", p, ImVec2(p.x + size.x, p.y + size.y));
    }
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
    ImGui::SetNextItemWidth(96 * s);
    if (ImGui::Combo("##mode", &mode, modes, 3)) m_play_mode = static_cast<PlayMode>(mode);
    tip("once: stop at t = 1; loop: jump back to 0; ping-pong: run back and forth.");
    ImGui::SameLine();
    ImGui::SetNextItemWidth(112 * s);
    ImGui::SliderFloat("##speed", &m_speed, 0.05f, 1.0f, "speed %.2f/s",
                       ImGuiSliderFlags_Logarithmic);
    tip("How fast t advances, in units of t per second (0.25: one sweep in 4 seconds).");
    ImGui::SameLine();
    ImGui::TextDisabled("│");
    ImGui::SameLine();
    ImGui::SetNextItemWidth(92 * s);
    ImGui::BeginDisabled(m_settings.sde);
    if (combo("##solver", m_settings.solver, solver_names())) update_spec();
    ImGui::EndDisabled();
    tip(k_tip_solver);
    ImGui::SameLine();
    ImGui::SetNextItemWidth(88 * s);
    ImGui::SliderInt("##steps", &m_settings.solver_steps, 1, 200, "%d steps",
                     ImGuiSliderFlags_Logarithmic);
    if (ImGui::IsItemDeactivatedAfterEdit()) update_spec();
    tip(k_tip_steps);
    ImGui::SameLine();
    const SolverKind solver = *solver_kind_from_name(solver_names()[m_settings.solver]);
    if (solver_is_adaptive(solver) && m_spec.sde_gamma == 0.0f) {
        ImGui::SetNextItemWidth(92 * s);
        ImGui::SliderFloat("##tolerance", &m_settings.solver_tolerance, k_min_tolerance,
                           k_max_tolerance, "tol %.0e", ImGuiSliderFlags_Logarithmic);
        if (ImGui::IsItemDeactivatedAfterEdit()) update_spec();
        tip(k_tip_tolerance);
        ImGui::SameLine();
        // What the last integration actually used: the GPU's build, else the view worker's.
        auto traj = m_worker->trajectory();
        const int64_t used = m_gpu_particles ? m_gpu_particles->last_evaluations()
                             : traj          ? traj->stats.evaluations
                                             : 0;
        const std::string& error = m_gpu_particles ? m_gpu_particles->last_error()
                                   : traj          ? traj->error
                                                   : std::string();
        if (!error.empty()) {
            ImGui::TextColored(ImVec4(1.0f, 0.42f, 0.40f, 1.0f), "gave up");
            tip(error);
        } else {
            ImGui::TextDisabled(used > 0 ? "%lld evals" : "– evals", static_cast<long long>(used));
            tip("Network evaluations per particle the last integration used (NFE), summed over the "
                "frames: dopri5 decides it from the tolerance and the field.");
        }
    } else if (m_spec.sde_gamma > 0.0f) {
        ImGui::TextDisabled("%d evals", m_settings.solver_steps * k_sde_substeps);
        tip("The SDE takes 8 Euler–Maruyama steps per frame (the solver choice is unused).");
    } else {
        int nfe = m_settings.solver_steps * solver_evaluations(solver);
        ImGui::TextDisabled("%d evals", nfe);
        tip("Network evaluations per particle for a full sweep: steps × evaluations per step.");
    }
    ImGui::SameLine();
    m_solver_lab->draw_toggle(*this);
    ImGui::SameLine();
    ImGui::TextDisabled("│");
    ImGui::SameLine();
    m_sde->draw_controls(*this);
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
        // A failed import's message is red, like its copy in the Data panel; so is a divergence.
        bool failed = (!m_draw->error().empty() && m_message == m_draw->error()) ||
                      (!m_divergence_status.empty() && m_message == m_divergence_status);
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
