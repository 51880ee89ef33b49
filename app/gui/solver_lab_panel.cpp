// The "Solver lab" window: a background run of run_solver_lab on a copy of the weights, drawn as
// a grid of sample thumbnails (solvers x NFE) and a sliced-W2 vs NFE plot.
#include "app/gui/solver_lab_panel.h"

#include <imgui.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "app/gui/main_window.h"
#include "app/gui/widgets.h"
#include "core/base/clock.h"
#include "core/base/parallel.h"
#include "core/base/rng.h"
#include "core/metrics/metrics.h"

namespace fmp {
namespace {

// The grid's columns: NFE 1, 2, 4, ..., 64.
constexpr int k_columns = 7;
// Samples drawn per thumbnail (all are measured; a few hundred dots show the shape).
constexpr int k_thumbnail_points = 600;

const char* k_tip_window =
    "Every solver turns the same learned field v_θ into samples. Each thumbnail integrates the "
    "same "
    "source draw from t = 0 to 1 with a budget of NFE network evaluations per particle; the plot "
    "measures each against the target by sliced W2 (256 random directions, the same for every "
    "run). Higher-order solvers reach the same quality with fewer evaluations; a straighter flow "
    "(OT coupling, rectified) needs fewer steps for every solver.";
const char* k_tip_compute =
    "Runs Euler, midpoint, Heun and RK4 at NFE 1, 2, 4, …, 64 (steps = NFE / evaluations per "
    "step; skipped when that is not a whole step) and dopri5 at tolerances 1e-1 … 1e-4 (it "
    "picks its own steps and reports the NFE it used), on a copy of the current weights in the "
    "background: training goes on.";
const char* k_tip_plot =
    "Sliced W2 to the target (lower is better) against evaluations per particle, log scale. "
    "Euler's error falls like 1/NFE, RK4's like 1/NFE⁴ until the model's own error (the floor "
    "the curves flatten at) dominates; the dashed line is the distance between two samples of "
    "the target itself, what a perfect model would get.";

ImU32 solver_color(SolverKind kind) {
    switch (kind) {
        case SolverKind::Euler:
            return IM_COL32(255, 107, 107, 255);
        case SolverKind::Midpoint:
            return IM_COL32(255, 190, 80, 255);
        case SolverKind::Heun:
            return IM_COL32(140, 220, 110, 255);
        case SolverKind::RK4:
            return IM_COL32(86, 204, 242, 255);
        case SolverKind::Dopri5:
            return IM_COL32(200, 140, 255, 255);
    }
    return IM_COL32(220, 220, 220, 255);
}

// The column of an NFE: the nearest power of two on a log scale, or -1 beyond the grid.
int column_of(int64_t nfe) {
    if (nfe < 1) return -1;
    const int c = static_cast<int>(std::lround(std::log2(double(nfe))));
    return c >= 0 && c < k_columns ? c : -1;
}

}  // namespace

SolverLabPanel::~SolverLabPanel() {
    m_cancel = true;
    join();
}

void SolverLabPanel::join() {
    if (m_thread.joinable()) m_thread.join();
}

const std::vector<std::string>& SolverLabPanel::script_keys() {
    static const std::vector<std::string> keys = {"solverlab"};
    return keys;
}

bool SolverLabPanel::apply_script(GuiApp& app, const std::string& key, const std::string& value) {
    if (key != "solverlab") return false;
    if (value == "open") {
        m_open = true;
    } else if (value == "close") {
        m_open = false;
    } else if (value == "compute") {
        m_open = true;
        // Scripts start it once the first weights exist; before that it waits here.
        for (int i = 0; i < 400 && !start(app); ++i) {
            app.sync_with_workers();
            std::this_thread::sleep_for(std::chrono::milliseconds(25));
        }
    } else if (value == "wait") {
        join();
    } else {
        throw InputError("--script solverlab= takes open, close, compute or wait");
    }
    return true;
}

bool SolverLabPanel::start(GuiApp& app) {
    if (m_running) return true;
    const TrainingSnapshot& snap = app.m_snapshot;
    auto reference = app.m_worker->reference();
    if (!snap.params || !reference || snap.mlp.parameter_count() != snap.params->size())
        return false;
    join();
    TrainConfig config = app.train_config();
    config.mlp = snap.mlp;
    config.path = app.m_spec.path;
    const Dataset source = app.m_spec.source, target = app.m_spec.target;
    auto params = snap.params;  // the weights of this moment, immutable
    const int64_t step = snap.step;
    const SolverLabSettings settings = m_settings;
    m_cancel = false;
    m_done = 0;
    m_total = solver_lab_run_count(settings);
    m_running = true;
    m_started = now_seconds();
    m_thread = std::thread([this, config, source, target, params, step, settings, reference] {
        // Background work yields the cores to the window (and to training) first.
        lower_thread_priority();
        auto result = std::make_shared<Result>();
        result->step = step;
        result->reference = reference->target;
        try {
            auto engine = make_cpu_engine();
            engine->reset(config, source, target);
            engine->set_params(*params);
            result->runs =
                run_solver_lab(*engine, source, result->reference, settings, [this](int done, int) {
                    m_done = done;
                    return !m_cancel.load();
                });
            Rng rng(settings.seed + 1, 0x51ac);
            result->floor =
                sliced_wasserstein2(target.sample(settings.particles, rng), result->reference,
                                    settings.projections, settings.projection_seed);
        } catch (const std::exception& e) {
            result->error = one_line_message(e.what(), 300);
        }
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            m_result = result;
            m_seconds = now_seconds() - m_started;
        }
        m_running = false;
    });
    return true;
}

void SolverLabPanel::draw_toggle(GuiApp&) {
    if (ImGui::SmallButton(m_open ? "lab ▾" : "lab ▸")) m_open = !m_open;
    tip("Solver lab: samples and their distance to the target for every solver at NFE 1 … 64.");
}

void SolverLabPanel::draw_window(GuiApp& app) {
    if (!m_open) return;
    const float s = app.m_scale;
    ImGuiIO& io = ImGui::GetIO();
    const ImVec2 size(std::min(720.0f * s, io.DisplaySize.x - 20.0f * s),
                      std::min(820.0f * s, io.DisplaySize.y - 20.0f * s));
    ImGui::SetNextWindowSize(size, ImGuiCond_FirstUseEver);
    ImGui::SetNextWindowPos(ImVec2(io.DisplaySize.x * 0.5f, io.DisplaySize.y * 0.5f),
                            ImGuiCond_FirstUseEver, ImVec2(0.5f, 0.5f));
    if (!ImGui::Begin("Solver lab", &m_open, ImGuiWindowFlags_NoCollapse)) {
        ImGui::End();
        return;
    }
    if (ImGui::IsWindowHovered() && (io.MouseDelta.x != 0.0f || io.MouseDelta.y != 0.0f))
        m_mouse_moved = true;
    const bool running = m_running;
    ImGui::BeginDisabled(running);
    if (ImGui::Button(running ? "Computing…" : "Compute")) start(app);
    ImGui::EndDisabled();
    tip(k_tip_compute);
    ImGui::SameLine();
    std::shared_ptr<const Result> result;
    double seconds = 0.0;
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        result = m_result;
        seconds = m_seconds;
    }
    if (running) {
        const int total = std::max(1, m_total.load());
        char label[64];
        std::snprintf(label, sizeof label, "%d / %d runs", m_done.load(), total);
        ImGui::ProgressBar(float(m_done.load()) / total, ImVec2(200 * s, 0), label);
        ImGui::SameLine();
        if (ImGui::SmallButton("cancel")) m_cancel = true;
    } else if (result && result->error.empty()) {
        ImGui::TextDisabled("weights of step %s · %d samples per run · %.1f s",
                            with_commas(result->step).c_str(), m_settings.particles, seconds);
    } else if (result) {
        ImGui::TextColored(ImVec4(1.0f, 0.42f, 0.40f, 1.0f), "%s", result->error.c_str());
    } else {
        ImGui::TextDisabled("press Compute to sample the current model with every solver");
    }
    ImGui::SameLine();
    ImGui::TextDisabled("(?)");
    tip(k_tip_window);
    ImGui::Separator();
    if (result && !result->runs.empty()) {
        draw_grid_and_plot(*result, s);
    } else {
        ImGui::Dummy(ImVec2(0, 8 * s));
        ImGui::TextWrapped(
            "Rows: solvers. Columns: network evaluations per particle (NFE). Each cell shows the "
            "samples at t = 1; below, their sliced W2 to the target against NFE.");
    }
    ImGui::End();
}

void SolverLabPanel::draw_grid_and_plot(const Result& r, float s) {
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const float label_w = 78.0f * s;
    const float avail = ImGui::GetContentRegionAvail().x;
    const float pad = 3.0f * s;
    const float caption = ImGui::GetFontSize() * 0.85f;
    // The cells fill the width, leaving the plot at least 170 px (or 30%) of the height.
    const float avail_y = ImGui::GetContentRegionAvail().y;
    const float rows = static_cast<float>(solver_names().size());
    const float by_height = (avail_y - std::max(170.0f * s, 0.3f * avail_y) -
                             ImGui::GetTextLineHeightWithSpacing() - 8 * s) /
                                rows -
                            caption - 2 * pad;
    const float cell = std::clamp(std::min((avail - label_w) / k_columns, by_height + 2 * pad),
                                  40.0f * s, 96.0f * s);

    // One world box for every thumbnail: the target's, squared, with a margin.
    Eigen::Vector2f lo = r.reference.colwise().minCoeff().transpose(),
                    hi = r.reference.colwise().maxCoeff().transpose();
    const Eigen::Vector2f mid = 0.5f * (lo + hi);
    const float half = 0.5f * std::max(hi.x() - lo.x(), hi.y() - lo.y()) * 1.2f + 1e-3f;

    // Header: the NFE of each column.
    ImVec2 p = ImGui::GetCursorScreenPos();
    const ImU32 text_dim = IM_COL32(150, 158, 172, 255);
    dl->AddText(p, text_dim, "NFE");
    for (int c = 0; c < k_columns; ++c) {
        char buf[16];
        std::snprintf(buf, sizeof buf, "%d", 1 << c);
        const float tw = ImGui::CalcTextSize(buf).x;
        dl->AddText(ImVec2(p.x + label_w + c * cell + (cell - tw) / 2, p.y), text_dim, buf);
    }
    ImGui::Dummy(ImVec2(avail, ImGui::GetTextLineHeightWithSpacing()));

    const auto& names = solver_names();
    for (const std::string& name : names) {
        const SolverKind kind = make_solver(name);
        // The run in each column (dopri5: the first whose NFE rounds to it).
        const SolverLabRun* in_column[k_columns] = {};
        for (const SolverLabRun& run : r.runs) {
            if (run.solver != kind) continue;
            const int c = column_of(run.nfe);
            if (c >= 0 && !in_column[c] && (solver_is_adaptive(kind) || run.nfe == (1 << c)))
                in_column[c] = &run;
        }
        p = ImGui::GetCursorScreenPos();
        const float row_h = cell + caption + 2 * pad;
        dl->AddText(ImVec2(p.x, p.y + cell * 0.5f - ImGui::GetFontSize()), solver_color(kind),
                    name.c_str());
        if (solver_is_adaptive(kind)) {
            dl->AddText(ImGui::GetFont(), caption, ImVec2(p.x, p.y + cell * 0.5f + 1 * s), text_dim,
                        "adaptive");
            dl->AddText(ImGui::GetFont(), caption, ImVec2(p.x, p.y + cell * 0.5f + caption + 2 * s),
                        text_dim, "NFE: W2");
        } else {
            char buf[32];
            std::snprintf(buf, sizeof buf, "%d eval/step", solver_evaluations(kind));
            dl->AddText(ImGui::GetFont(), caption, ImVec2(p.x, p.y + cell * 0.5f + 1 * s), text_dim,
                        buf);
        }
        for (int c = 0; c < k_columns; ++c) {
            const ImVec2 a(p.x + label_w + c * cell + pad, p.y + pad);
            const ImVec2 b(a.x + cell - 2 * pad, a.y + cell - 2 * pad);
            dl->AddRectFilled(a, b, IM_COL32(16, 18, 24, 255), 4.0f * s);
            const SolverLabRun* run = in_column[c];
            if (!run) {
                dl->AddText(ImVec2((a.x + b.x) / 2 - 3 * s, (a.y + b.y) / 2 - caption / 2),
                            IM_COL32(70, 76, 88, 255), "–");
                continue;
            }
            const float w = b.x - a.x;
            auto to_px = [&](float x, float y) {
                return ImVec2(a.x + (x - mid.x() + half) / (2 * half) * w,
                              b.y - (y - mid.y() + half) / (2 * half) * w);
            };
            dl->PushClipRect(a, b, true);
            const int ref_step = std::max<int>(1, int(r.reference.rows()) / 300);
            for (Eigen::Index i = 0; i < r.reference.rows(); i += ref_step) {
                ImVec2 q = to_px(r.reference(i, 0), r.reference(i, 1));
                dl->AddRectFilled(ImVec2(q.x - 0.6f * s, q.y - 0.6f * s),
                                  ImVec2(q.x + 0.6f * s, q.y + 0.6f * s),
                                  IM_COL32(255, 255, 255, 40));
            }
            const ImU32 col = (solver_color(kind) & 0x00ffffffu) | (200u << 24);
            const Eigen::Index n = std::min<Eigen::Index>(run->samples.rows(), k_thumbnail_points);
            for (Eigen::Index i = 0; i < n; ++i) {
                ImVec2 q = to_px(run->samples(i, 0), run->samples(i, 1));
                dl->AddRectFilled(ImVec2(q.x - 0.8f * s, q.y - 0.8f * s),
                                  ImVec2(q.x + 0.8f * s, q.y + 0.8f * s), col);
            }
            dl->PopClipRect();
            char buf[32];
            if (solver_is_adaptive(kind))
                std::snprintf(buf, sizeof buf, "%lld: %.2f", static_cast<long long>(run->nfe),
                              run->sliced_w2);
            else
                std::snprintf(buf, sizeof buf, "%.2f", run->sliced_w2);
            const float tw = ImGui::CalcTextSize(buf).x * 0.85f;
            dl->AddText(ImGui::GetFont(), caption, ImVec2((a.x + b.x - tw) / 2, b.y + 1 * s),
                        IM_COL32(190, 196, 208, 255), buf);
            // Only after the mouse moved: a pointer parked over the window (Xvfb screenshots)
            // must not leave a tooltip in the picture.
            if (m_mouse_moved && ImGui::IsWindowHovered() && ImGui::IsMouseHoveringRect(a, b)) {
                ImGui::BeginTooltip();
                if (solver_is_adaptive(kind))
                    ImGui::Text(
                        "%s, tolerance %g: %d steps, NFE %lld\nsliced W2 to the target %.4f",
                        name.c_str(), double(run->tolerance), run->steps,
                        static_cast<long long>(run->nfe), run->sliced_w2);
                else
                    ImGui::Text(
                        "%s, %d steps × %d evaluations = NFE %lld\nsliced W2 to the target %.4f",
                        name.c_str(), run->steps, solver_evaluations(kind),
                        static_cast<long long>(run->nfe), run->sliced_w2);
                ImGui::EndTooltip();
            }
        }
        ImGui::Dummy(ImVec2(avail, row_h));
    }
    ImGui::Dummy(ImVec2(0, 4 * s));
    draw_plot(r, s);
}

void SolverLabPanel::draw_plot(const Result& r, float s) {
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const ImVec2 p = ImGui::GetCursorScreenPos();
    const float w = ImGui::GetContentRegionAvail().x;
    const float h = std::max(150.0f * s, ImGui::GetContentRegionAvail().y - 4 * s);
    dl->AddRectFilled(p, ImVec2(p.x + w, p.y + h), IM_COL32(16, 18, 24, 255), 5.0f * s);
    // Axes: log2 NFE from 1 to the largest used; sliced W2 linear from 0.
    int64_t max_nfe = 64;
    double max_w = r.floor;
    for (const SolverLabRun& run : r.runs) {
        max_nfe = std::max(max_nfe, run.nfe);
        if (std::isfinite(run.sliced_w2)) max_w = std::max(max_w, run.sliced_w2);
    }
    max_w = std::max(max_w * 1.08, 1e-3);
    const double x_hi = std::ceil(std::log2(double(max_nfe)));
    const float small = ImGui::GetFontSize() * 0.85f;
    const float left = 44 * s, right = 130 * s, top = small + 14 * s, bottom = 24 * s;
    const float pw = w - left - right, ph = h - top - bottom;
    auto to_px = [&](double nfe, double v) {
        return ImVec2(p.x + left + float(std::log2(nfe) / x_hi) * pw,
                      p.y + top + ph - float(v / max_w) * ph);
    };
    const ImU32 grid = IM_COL32(50, 56, 68, 255), text_dim = IM_COL32(150, 158, 172, 255);
    for (int k = 0; k <= int(x_hi); ++k) {
        const ImVec2 a = to_px(std::ldexp(1.0, k), 0), b = to_px(std::ldexp(1.0, k), max_w);
        dl->AddLine(a, b, grid, 1.0f);
        char buf[16];
        std::snprintf(buf, sizeof buf, "%d", 1 << k);
        dl->AddText(ImGui::GetFont(), small, ImVec2(a.x - 4 * s, a.y + 3 * s), text_dim, buf);
    }
    for (int k = 0; k <= 4; ++k) {
        const double v = max_w * k / 4;
        const ImVec2 a = to_px(1, v), b = to_px(std::ldexp(1.0, int(x_hi)), v);
        dl->AddLine(a, b, grid, 1.0f);
        char buf[16];
        std::snprintf(buf, sizeof buf, "%.2f", v);
        dl->AddText(ImGui::GetFont(), small, ImVec2(p.x + 6 * s, a.y - small / 2), text_dim, buf);
    }
    dl->AddText(ImGui::GetFont(), small, ImVec2(p.x + left + pw - 36 * s, p.y + h - small - 2 * s),
                text_dim, "NFE");
    // The floor: two target samples.
    {
        const ImVec2 a = to_px(1, r.floor), b = to_px(std::ldexp(1.0, int(x_hi)), r.floor);
        for (float x = a.x; x < b.x; x += 8 * s)
            dl->AddLine(ImVec2(x, a.y), ImVec2(std::min(x + 4 * s, b.x), a.y),
                        IM_COL32(200, 200, 210, 150), 1.5f * s);
    }
    // One curve per solver, and the legend on the right.
    float ly = p.y + top;
    const float lx = p.x + w - right + 12 * s;
    for (const std::string& name : solver_names()) {
        const SolverKind kind = make_solver(name);
        std::vector<ImVec2> pts;
        for (const SolverLabRun& run : r.runs)
            if (run.solver == kind && std::isfinite(run.sliced_w2))
                pts.push_back(to_px(double(run.nfe), std::min(run.sliced_w2, max_w)));
        std::sort(pts.begin(), pts.end(),
                  [](const ImVec2& a, const ImVec2& b) { return a.x < b.x; });
        const ImU32 col = solver_color(kind);
        dl->PushClipRect(p, ImVec2(p.x + w - right, p.y + h), true);
        if (pts.size() >= 2) dl->AddPolyline(pts.data(), int(pts.size()), col, 0, 2.0f * s);
        for (const ImVec2& q : pts) dl->AddCircleFilled(q, 3.0f * s, col);
        dl->PopClipRect();
        dl->AddLine(ImVec2(lx, ly + small * 0.55f), ImVec2(lx + 18 * s, ly + small * 0.55f), col,
                    2.5f * s);
        dl->AddText(ImVec2(lx + 24 * s, ly), IM_COL32(210, 214, 222, 255), name.c_str());
        ly += ImGui::GetTextLineHeightWithSpacing();
    }
    for (float x = lx; x < lx + 18 * s; x += 8 * s)
        dl->AddLine(ImVec2(x, ly + small * 0.55f),
                    ImVec2(std::min(x + 4 * s, lx + 18 * s), ly + small * 0.55f),
                    IM_COL32(200, 200, 210, 150), 1.5f * s);
    dl->AddText(ImVec2(lx + 24 * s, ly), IM_COL32(210, 214, 222, 255), "target floor");
    // The title sits in its own strip above the curves, which may start at the top.
    dl->AddText(ImGui::GetFont(), small, ImVec2(p.x + left, p.y + 4 * s), text_dim,
                "sliced W2 to the target (lower is better)");
    ImGui::Dummy(ImVec2(w, h));
    tip(k_tip_plot);
}

}  // namespace fmp
