// The "FM vs CNF" window: one background race_cnf_with_fm on the window's data and network
// settings, the live training paused meanwhile so both sides get the same cores.
#include "app/gui/cnf_race_panel.h"

#include <imgui.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "app/gui/main_window.h"
#include "app/gui/widgets.h"
#include "core/base/types.h"

namespace fmp {
namespace {

const ImU32 k_fm_color = IM_COL32(86, 204, 242, 255);
const ImU32 k_cnf_color = IM_COL32(255, 150, 80, 255);
const ImU32 k_text_dim = IM_COL32(150, 158, 172, 255);

const char* k_tip_window =
    "Why simulation-free training matters. Both sides train a fresh copy of the same network "
    "(same width, depth, activation, seed, batch and learning rate) on the same data for the "
    "same number of seconds.\n\n"
    "Flow matching regresses v_θ(x_t, t) onto u_t(x_t | x₁) at random t: one network call per "
    "sample, no ODE.\n\n"
    "The continuous normalizing flow maximizes the likelihood directly: for each data point x it "
    "integrates the ODE back to t = 0 (32 Euler steps), adds up the divergence,\n"
    "  −log p₁(x) = −log p₀(z₀) + ∫₀¹ div v_θ(z_t, t) dt,\n"
    "and backpropagates through every step. Each step is exact but costs 32 divergence "
    "evaluations and their reverse pass.\n\n"
    "Both are scored the same way: the held-out NLL of 1,024 target points (exact divergence, 32 "
    "RK4 steps). Evaluation time is not counted.";
const char* k_tip_plot =
    "Held-out negative log-likelihood (nats per point, lower is better) against seconds of "
    "training. The dashed line is the target's own entropy −E log p_data(x), the best any model "
    "can reach (shown for targets of known density).";

}  // namespace

CnfRacePanel::~CnfRacePanel() {
    m_cancel = true;
    join();
}

void CnfRacePanel::join() {
    if (m_thread.joinable()) m_thread.join();
}

const std::vector<std::string>& CnfRacePanel::script_keys() {
    static const std::vector<std::string> keys = {"cnfrace", "cnfrace_seconds"};
    return keys;
}

void CnfRacePanel::check_script(const std::string& key, const std::string& value) {
    if (key == "cnfrace_seconds") {
        char* end = nullptr;
        const double v = std::strtod(value.c_str(), &end);
        if (end == value.c_str() || *end != '\0' || !(v >= 0.5 && v <= 120))
            throw InputError("--script cnfrace_seconds= takes seconds in 0.5..120");
    } else if (key == "cnfrace" &&
               name_index({"open", "close", "start", "wait", "cancel"}, value) < 0) {
        throw InputError("--script cnfrace= takes open, close, start, wait or cancel");
    }
}

bool CnfRacePanel::apply_script(GuiApp& app, const std::string& key, const std::string& value) {
    if (key != "cnfrace" && key != "cnfrace_seconds") return false;
    check_script(key, value);
    if (key == "cnfrace_seconds")
        m_seconds = std::strtof(value.c_str(), nullptr);
    else if (value == "open")
        m_open = true;
    else if (value == "close")
        m_open = false;
    else if (value == "start")
        m_open = true, start(app);
    else if (value == "wait")
        join(), finish(app);
    else
        m_cancel = true;
    return true;
}

void CnfRacePanel::start(GuiApp& app) {
    if (m_running) return;
    join();
    finish(app);
    const TrainConfig config = app.train_config();
    const Dataset source = app.m_spec.source, target = app.m_spec.target;
    CnfSettings cnf;
    cnf.batch = config.batch;
    cnf.optimizer = config.optimizer;
    cnf.seed = config.seed;
    CnfRaceSettings race;
    race.fm_seconds = race.cnf_seconds = m_seconds;
    auto first = std::make_shared<State>();
    first->budget = m_seconds;
    char data[256];
    std::snprintf(data, sizeof data, "%s from %s · %d × %d %s · batch %d · lr %g",
                  target.name().c_str(), source.name().c_str(), config.mlp.depth, config.mlp.width,
                  activation_names()[app.m_settings.activation].c_str(), config.batch,
                  double(config.optimizer.lr));
    first->data = data;
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_state = first;
    }
    // The live training yields the cores for the race and comes back after it.
    m_resume_training = app.m_training;
    app.m_training = false;
    app.m_trainer->set_running(false);
    m_cancel = false;
    m_running = true;
    m_joined = false;
    const MlpConfig mlp = config.mlp;
    const ProbabilityPath path = config.path;
    const std::string label = first->data;
    const double budget = m_seconds;
    m_thread = std::thread([this, mlp, path, source, target, race, cnf, label, budget] {
        auto publish = [&](const CnfRace& r, bool finished, const std::string& error) {
            auto state = std::make_shared<State>();
            state->race = r;
            state->data = label;
            state->budget = budget;
            state->finished = finished;
            state->error = error;
            std::lock_guard<std::mutex> lock(m_mutex);
            m_state = state;
        };
        CnfRace last;
        try {
            last = race_cnf_with_fm(mlp, path, source, target, race, cnf, [&](const CnfRace& r) {
                publish(r, false, "");
                return !m_cancel.load();
            });
            publish(last, true, "");
        } catch (const std::exception& e) {
            publish(last, true, one_line_message(e.what(), 300));
        }
        m_running = false;
    });
}

void CnfRacePanel::finish(GuiApp& app) {
    if (m_running || m_joined) return;
    join();
    m_joined = true;
    if (m_resume_training) {
        app.m_training = true;
        app.m_trainer->set_running(app.m_steps_per_frame == 0);
        m_resume_training = false;
    }
}

void CnfRacePanel::draw_window(GuiApp& app) {
    finish(app);
    if (!m_open) return;
    const float s = app.m_scale;
    ImGuiIO& io = ImGui::GetIO();
    ImGui::SetNextWindowSize(ImVec2(std::min(640.0f * s, io.DisplaySize.x - 20.0f * s),
                                    std::min(560.0f * s, io.DisplaySize.y - 20.0f * s)),
                             ImGuiCond_FirstUseEver);
    ImGui::SetNextWindowPos(ImVec2(io.DisplaySize.x * 0.5f, io.DisplaySize.y * 0.5f),
                            ImGuiCond_FirstUseEver, ImVec2(0.5f, 0.5f));
    if (!ImGui::Begin("Flow matching vs maximum-likelihood CNF", &m_open,
                      ImGuiWindowFlags_NoCollapse)) {
        ImGui::End();
        return;
    }
    if (ImGui::IsWindowHovered() && (io.MouseDelta.x != 0.0f || io.MouseDelta.y != 0.0f))
        m_mouse_moved = true;
    std::shared_ptr<const State> state;
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        state = m_state;
    }
    const bool running = m_running;
    ImGui::BeginDisabled(running);
    if (ImGui::Button(running ? "Racing…" : "Start race")) start(app);
    tip("Trains flow matching, then the CNF, each for the chosen seconds on the current data and "
        "network settings. The live training pauses meanwhile and resumes after.");
    ImGui::SameLine();
    ImGui::SetNextItemWidth(150 * s);
    ImGui::SliderFloat("seconds each", &m_seconds, 1.0f, 60.0f, "%.3g s");
    ImGui::EndDisabled();
    if (running) {
        ImGui::SameLine();
        if (ImGui::SmallButton("cancel")) m_cancel = true;
    }
    ImGui::SameLine();
    ImGui::TextDisabled("(?)");
    tip(k_tip_window);
    if (state && !state->data.empty()) ImGui::TextDisabled("%s", state->data.c_str());
    if (state && !state->error.empty())
        ImGui::TextColored(ImVec4(1.0f, 0.42f, 0.40f, 1.0f), "%s", state->error.c_str());
    ImGui::Separator();
    if (state && !state->race.fm.empty()) {
        draw_numbers(*state);
        draw_plot(*state, s);
    } else {
        ImGui::TextWrapped(
            "Start a race to train the same network both ways and watch the held-out NLL fall "
            "against wall-clock time. Flow matching never simulates the ODE while training; the "
            "CNF simulates it, with the divergence, at every step.");
    }
    ImGui::End();
}

void CnfRacePanel::draw_numbers(const State& st) {
    const CnfRace& r = st.race;
    const auto line = [](const char* name, ImU32 color, const std::vector<NllMark>& marks,
                         double step_ms, const char* how) {
        ImGui::PushStyleColor(ImGuiCol_Text, color);
        ImGui::TextUnformatted(name);
        ImGui::PopStyleColor();
        ImGui::SameLine();
        if (marks.empty()) {
            ImGui::TextDisabled("waiting");
        } else {
            const NllMark& m = marks.back();
            ImGui::Text("%s steps in %.1f s · %.3g ms a step · NLL %.3f",
                        with_commas(m.steps).c_str(), m.seconds, step_ms, m.nll);
        }
        tip(how);
    };
    line("flow matching ", k_fm_color, r.fm, r.fm_step_ms,
         "L_CFM(θ) = E‖v_θ(ψ_t(x₀|x₁), t) − u_t(ψ_t(x₀|x₁) | x₁)‖²: a regression, one network "
         "call per sample.");
    line("CNF (max. lik.)", k_cnf_color, r.cnf, r.cnf_step_ms,
         "−log p₁(x) = −log p₀(z₀) + Σ_k h div v_θ(z_k, t_k), z backward from x by 32 Euler steps, "
         "the gradient through all of them.");
    if (r.cnf.size() > 1 && r.fm_step_ms > 0) {
        ImGui::Text("One CNF step costs %.0f× a flow-matching step.", r.cnf_step_ms / r.fm_step_ms);
        if (st.finished && !r.cancelled) {
            if (r.cnf_reached)
                ImGui::TextUnformatted("The CNF reached flow matching's NLL.");
            else
                ImGui::Text("In %.3g s of training the CNF did not reach flow matching's NLL.",
                            st.budget);
        }
    }
    if (std::isfinite(r.target_entropy))
        ImGui::TextDisabled("the target's entropy (the best possible NLL): %.3f nats",
                            r.target_entropy);
}

void CnfRacePanel::draw_plot(const State& st, float s) const {
    const CnfRace& r = st.race;
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const ImVec2 p = ImGui::GetCursorScreenPos();
    const float w = ImGui::GetContentRegionAvail().x;
    const float h = std::max(160.0f * s, ImGui::GetContentRegionAvail().y - 4 * s);
    dl->AddRectFilled(p, ImVec2(p.x + w, p.y + h), IM_COL32(16, 18, 24, 255), 5.0f * s);
    double x_hi = st.budget, lo = INFINITY, hi = -INFINITY;
    for (const auto* marks : {&r.fm, &r.cnf})
        for (const NllMark& m : *marks) {
            x_hi = std::max(x_hi, m.seconds);
            if (std::isfinite(m.nll)) lo = std::min(lo, m.nll), hi = std::max(hi, m.nll);
        }
    if (std::isfinite(r.target_entropy)) lo = std::min(lo, r.target_entropy);
    if (!std::isfinite(lo)) lo = 0, hi = 1;
    const double pad = std::max(0.05 * (hi - lo), 0.02);
    lo -= pad, hi += pad;
    const float small = ImGui::GetFontSize() * 0.85f;
    const float left = 44 * s, right = 14 * s, top = small + 12 * s, bottom = 24 * s;
    const float pw = w - left - right, ph = h - top - bottom;
    auto to_px = [&](double sec, double nll) {
        return ImVec2(p.x + left + float(sec / x_hi) * pw,
                      p.y + top + ph - float((nll - lo) / (hi - lo)) * ph);
    };
    const ImU32 grid = IM_COL32(50, 56, 68, 255);
    // Round seconds on the axis: a 1, 2 or 5 times a power of ten step, at most ~6 ticks.
    double tick = std::pow(10.0, std::floor(std::log10(x_hi / 5)));
    if (x_hi / tick > 25)
        tick *= 5;
    else if (x_hi / tick > 10)
        tick *= 2;
    for (int k = 0; k * tick <= x_hi * 1.0001; ++k) {
        const double sec = k * tick;
        const ImVec2 a = to_px(sec, lo), b = to_px(sec, hi);
        dl->AddLine(a, b, grid, 1.0f);
        char buf[16];
        std::snprintf(buf, sizeof buf, "%g s", sec);
        dl->AddText(ImGui::GetFont(), small, ImVec2(a.x - 8 * s, a.y + 3 * s), k_text_dim, buf);
    }
    for (int k = 0; k <= 4; ++k) {
        const double v = lo + (hi - lo) * k / 4;
        const ImVec2 a = to_px(0, v), b = to_px(x_hi, v);
        dl->AddLine(a, b, grid, 1.0f);
        char buf[16];
        std::snprintf(buf, sizeof buf, "%.2f", v);
        dl->AddText(ImGui::GetFont(), small, ImVec2(p.x + 6 * s, a.y - small / 2), k_text_dim, buf);
    }
    if (std::isfinite(r.target_entropy)) {
        const ImVec2 a = to_px(0, r.target_entropy), b = to_px(x_hi, r.target_entropy);
        for (float x = a.x; x < b.x; x += 8 * s)
            dl->AddLine(ImVec2(x, a.y), ImVec2(std::min(x + 4 * s, b.x), a.y),
                        IM_COL32(200, 200, 210, 150), 1.5f * s);
        dl->AddText(ImGui::GetFont(), small, ImVec2(b.x - 150 * s, a.y - small - 2 * s), k_text_dim,
                    "target entropy");
    }
    dl->PushClipRect(p, ImVec2(p.x + w, p.y + h), true);
    for (const auto& [marks, color] :
         {std::pair{&r.fm, k_fm_color}, std::pair{&r.cnf, k_cnf_color}}) {
        std::vector<ImVec2> pts;
        for (const NllMark& m : *marks)
            if (std::isfinite(m.nll)) pts.push_back(to_px(m.seconds, m.nll));
        if (pts.size() >= 2) dl->AddPolyline(pts.data(), int(pts.size()), color, 0, 2.5f * s);
        for (const ImVec2& q : pts) dl->AddCircleFilled(q, 3.0f * s, color);
    }
    dl->PopClipRect();
    dl->AddText(ImGui::GetFont(), small, ImVec2(p.x + left, p.y + 4 * s), k_text_dim,
                "held-out NLL (nats, lower is better) against seconds of training");
    ImGui::Dummy(ImVec2(w, h));
    // Only after the pointer moved: one parked over the window (Xvfb screenshots) must not leave
    // a tooltip in the picture.
    if (m_mouse_moved) tip(k_tip_plot);
}

}  // namespace fmp
