// The "Rectified flow" window: generate_reflow_pairs and measure_straightness on a copy of the
// weights in the background; the trainer restarts on the pairs (Paired coupling) when they come.
#include "app/gui/reflow_panel.h"

#include <imgui.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "app/gui/background_engine.h"
#include "app/gui/main_window.h"
#include "app/gui/widgets.h"
#include "core/base/clock.h"
#include "core/base/parallel.h"

namespace fmp {
namespace {

constexpr int k_measure_points = 1000;
constexpr int k_shown_paths = 48;
constexpr int k_path_steps = 24;

const char* k_tip_reflow =
    "Rectified flow (Liu et al.): integrate the current model, X₁ = ODE_θ(X₀), and train the next "
    "model on the pairs (X₀, X₁) with straight interpolations x_t = (1−t)X₀ + tX₁. The pairs come "
    "from a flow, so they never cross: the new flow's paths are straighter and need fewer solver "
    "steps, with the same marginals.";
const char* k_tip_straightness =
    "S = ∫₀¹ E‖(X₁ − X₀) − Ẋ_t‖² dt on 1,000 paths (64 midpoint steps): zero for straight paths "
    "at constant speed. NPE = |PE − W2²(p₀,p₁)| / W2²: how far the path energy is above the least "
    "any transport needs. W2 @1/2/4: exact W2 to 1,000 target points of samples made with 1, 2, 4 "
    "Euler steps — a straight flow is as good in one step as in four.";

ImU32 path_color(int i, int n) {
    const float h = static_cast<float>(i) / static_cast<float>(std::max(1, n));
    float r, g, b;
    ImGui::ColorConvertHSVtoRGB(0.55f + 0.45f * h, 0.65f, 0.95f, r, g, b);
    return ImGui::GetColorU32(ImVec4(r, g, b, 0.85f));
}

}  // namespace

ReflowPanel::~ReflowPanel() {
    if (m_thread.joinable()) m_thread.join();
}

void ReflowPanel::on_reset() {
    m_current = 0;
    m_live_pairs.reset();
    m_history.clear();
    m_live_figures = Generation{};
}

const std::vector<std::string>& ReflowPanel::script_keys() {
    static const std::vector<std::string> keys = {"reflow", "reflow_pairs", "reflow_init",
                                                  "reflow_use"};
    return keys;
}

void ReflowPanel::check_script(const std::string& key, const std::string& value) {
    if (key == "reflow" && name_index({"open", "close", "run", "wait", "measure"}, value) < 0)
        throw InputError("--script reflow= takes open, close, run, wait or measure");
    if (key == "reflow_pairs") {
        char* end = nullptr;
        const long v = std::strtol(value.c_str(), &end, 10);
        if (end == value.c_str() || *end || v < 100 || v > 100000)
            throw InputError("--script reflow_pairs= takes 100..100000");
    }
    if (key == "reflow_init" && value != "warm" && value != "fresh")
        throw InputError("--script reflow_init= takes warm or fresh");
    if (key == "reflow_use") {
        char* end = nullptr;
        const long v = std::strtol(value.c_str(), &end, 10);
        if (end == value.c_str() || *end || v < 0 || v > 1000)
            throw InputError("--script reflow_use= takes a generation k");
    }
}

bool ReflowPanel::apply_script(GuiApp& app, const std::string& key, const std::string& value) {
    if (name_index(script_keys(), key) < 0) return false;
    check_script(key, value);
    if (key == "reflow_pairs") {
        m_pairs = std::atoi(value.c_str());
    } else if (key == "reflow_init") {
        m_warm = value == "warm";
    } else if (key == "reflow_use") {
        const int k = std::atoi(value.c_str());
        for (std::size_t i = 0; i < m_history.size(); ++i)
            if (m_history[i].k == k) use_generation(app, static_cast<int>(i));
    } else if (value == "open") {
        m_open = true;
    } else if (value == "close") {
        m_open = false;
    } else if (value == "wait") {
        if (m_thread.joinable()) m_thread.join();
        finish_job(app);
    } else {
        m_open = true;
        // Scripts may ask before the first weights exist: wait for them here.
        for (int i = 0; i < 400 && !app.m_snapshot.params; ++i) {
            app.sync_with_workers();
            std::this_thread::sleep_for(std::chrono::milliseconds(25));
        }
        start_job(app, value == "run");
    }
    return true;
}

void ReflowPanel::start_job(GuiApp& app, bool reflow) {
    if (m_running) return;
    const TrainingSnapshot& snap = app.m_snapshot;
    if (!snap.params || snap.mlp.parameter_count() != snap.params->size()) {
        m_status = "no trained weights yet";
        return;
    }
    if (reflow && snap.mlp.classes > 0) {
        // As fmplay train --reflow-from: a pair (x0, x1) carries no class to train on.
        m_status = "reflow needs an unconditional network: turn off \"Condition on the class\" first";
        return;
    }
    if (m_thread.joinable()) m_thread.join();
    TrainConfig config = app.train_config();
    config.mlp = snap.mlp;
    const FlowSpec spec = app.m_spec;
    auto params = snap.params;
    const int64_t steps = snap.step;
    const int k = m_current;
    const int n = m_pairs;
    const uint64_t seed = static_cast<uint64_t>(app.m_settings.seed);
    const IntegrationSettings integration{spec.solver, spec.steps, spec.tolerance};
    const bool gpu = app.background_gpu();
    m_running = true;
    m_status = reflow ? "integrating the pairs…" : "measuring…";
    m_thread = std::thread([this, config, spec, params, steps, k, n, seed, integration, reflow, gpu] {
        lower_thread_priority();
        auto job = std::make_unique<Job>();
        job->reflow = reflow;
        const auto start = std::chrono::steady_clock::now();
        try {
            // On the GPU when the window trains there: the pairs are n integrations of the field.
            BackgroundEngine background(gpu);
            Engine* engine = &background.engine();
            TrainConfig c = config;
            c.coupling = CouplingKind::Independent;  // only the field is evaluated here
            engine->reset(c, spec.source, spec.target);
            engine->set_params(*params);
            Generation& g = job->measured;
            g.k = k;
            g.params = params;
            g.steps = steps;
            if (reflow)
                job->pairs = std::make_shared<const ReflowPairs>(generate_reflow_pairs(
                    *engine, spec.path, spec.source, n, integration, seed + 31));
            g.figures = measure_straightness(*engine, spec.path, spec.source, spec.target,
                                             k_measure_points, seed + 9);
            g.measured = true;
            // The same source points for every generation, so their paths can be compared.
            Rng rng(seed + 77, 5);
            Points x = initial_particles(spec.path, spec.source, k_shown_paths, rng);
            VelocityFn v = [&engine](const Points& p, float t, Points& out) {
                engine->eval_velocity(p, t, out);
            };
            integrate_particles(v, SolverKind::Midpoint, x, 0.0f, 1.0f, k_path_steps, &g.paths);
        } catch (const std::exception& e) {
            job->error = one_line_message(e.what(), 300);
        }
        job->seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            m_done = std::move(job);
        }
        m_running = false;
    });
}

void ReflowPanel::finish_job(GuiApp& app) {
    std::unique_ptr<Job> job;
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        job = std::move(m_done);
    }
    if (!job) return;
    if (m_thread.joinable() && !m_running) m_thread.join();
    if (!job->error.empty()) {
        m_status = job->error;
        return;
    }
    if (!job->reflow) {
        m_live_figures = std::move(job->measured);
        char buf[96];
        std::snprintf(buf, sizeof buf, "measured in %.1f s", job->seconds);
        m_status = buf;
        return;
    }
    // Freeze generation k (replacing any later ones from an earlier branch) and train k + 1.
    Generation frozen = std::move(job->measured);
    frozen.pairs = m_live_pairs;  // what generation k trained on (none for k = 0: the data)
    m_history.resize(static_cast<std::size_t>(frozen.k));
    m_history.push_back(std::move(frozen));
    m_current = m_history.back().k + 1;
    m_live_pairs = job->pairs;
    m_live_figures = Generation{};
    TrainConfig config = app.train_config();
    config.coupling = CouplingKind::Paired;
    auto initial = m_warm ? m_history.back().params : nullptr;
    app.m_trainer->reset(config, Dataset::from_points(job->pairs->x0, "reflow x0"),
                         Dataset::from_points(job->pairs->x1, "reflow x1"), initial);
    app.m_trainer->set_running(app.m_training && app.m_steps_per_frame == 0);
    app.m_loss_raw.clear();
    app.m_loss_smooth.clear();
    app.m_loss_first_step = 0;
    app.m_sent_params_version = 0;
    char buf[128];
    std::snprintf(buf, sizeof buf, "training k = %d on %d pairs (%s start); pairs in %.1f s",
                  m_current, static_cast<int>(job->pairs->x0.rows()), m_warm ? "warm" : "fresh",
                  job->seconds);
    m_status = buf;
}

void ReflowPanel::use_generation(GuiApp& app, int index) {
    if (index < 0 || index >= static_cast<int>(m_history.size()) || m_running) return;
    const Generation& g = m_history[static_cast<std::size_t>(index)];
    TrainConfig config = app.train_config();
    if (g.k == 0) {
        app.m_trainer->reset(config, app.m_spec.source, app.m_spec.target, g.params);
        m_live_pairs.reset();
    } else {
        config.coupling = CouplingKind::Paired;
        app.m_trainer->reset(config, Dataset::from_points(g.pairs->x0, "reflow x0"),
                             Dataset::from_points(g.pairs->x1, "reflow x1"), g.params);
        m_live_pairs = g.pairs;
    }
    app.m_trainer->set_running(app.m_training && app.m_steps_per_frame == 0);
    app.m_loss_raw.clear();
    app.m_loss_smooth.clear();
    app.m_sent_params_version = 0;
    m_current = g.k;
    m_live_figures = g;
    char buf[96];
    std::snprintf(buf, sizeof buf, "switched to k = %d (training goes on from its weights)", g.k);
    m_status = buf;
}

void ReflowPanel::draw_toggle(GuiApp&) {
    ImGui::SameLine();
    if (ImGui::SmallButton(m_open ? "reflow ▾" : "reflow ▸")) m_open = !m_open;
    tip(k_tip_reflow);
}

void ReflowPanel::draw_paths(const std::vector<Points>& frames, const char* title, float size,
                             float s) const {
    ImGui::BeginGroup();
    ImGui::TextUnformatted(title);
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const ImVec2 p = ImGui::GetCursorScreenPos();
    dl->AddRectFilled(p, ImVec2(p.x + size, p.y + size), IM_COL32(16, 18, 24, 255), 3.0f * s);
    if (!frames.empty()) {
        // One box for both panels would need both; each fits its own paths, squared.
        Eigen::Vector2f lo(INFINITY, INFINITY), hi(-INFINITY, -INFINITY);
        for (const Points& f : frames) {
            lo = lo.cwiseMin(f.colwise().minCoeff().transpose());
            hi = hi.cwiseMax(f.colwise().maxCoeff().transpose());
        }
        const Eigen::Vector2f mid = 0.5f * (lo + hi);
        const float half = 0.55f * std::max(hi.x() - lo.x(), hi.y() - lo.y()) + 1e-3f;
        auto px = [&](float x, float y) {
            return ImVec2(p.x + (x - mid.x() + half) / (2 * half) * size,
                          p.y + size - (y - mid.y() + half) / (2 * half) * size);
        };
        const int n = static_cast<int>(frames[0].rows());
        std::vector<ImVec2> pts(frames.size());
        for (int i = 0; i < n; ++i) {
            for (std::size_t k = 0; k < frames.size(); ++k)
                pts[k] = px(frames[k](i, 0), frames[k](i, 1));
            dl->AddPolyline(pts.data(), static_cast<int>(pts.size()), path_color(i, n), 0,
                            1.5f * s);
            dl->AddCircleFilled(pts.back(), 2.0f * s, path_color(i, n));
        }
    }
    ImGui::Dummy(ImVec2(size, size));
    ImGui::EndGroup();
}

void ReflowPanel::draw_window(GuiApp& app) {
    finish_job(app);
    if (!m_open) return;
    const float s = app.m_scale;
    ImGuiIO& io = ImGui::GetIO();
    ImGui::SetNextWindowSize(ImVec2(560.0f * s, 560.0f * s), ImGuiCond_FirstUseEver);
    ImGui::SetNextWindowPos(ImVec2(io.DisplaySize.x * 0.5f, io.DisplaySize.y * 0.45f),
                            ImGuiCond_FirstUseEver, ImVec2(0.5f, 0.5f));
    if (!ImGui::Begin("Rectified flow", &m_open, ImGuiWindowFlags_NoCollapse)) {
        ImGui::End();
        return;
    }
    const bool running = m_running;
    ImGui::BeginDisabled(running);
    char label[64];
    std::snprintf(label, sizeof label, "Reflow: train k = %d on k = %d's pairs", m_current + 1,
                  m_current);
    if (ImGui::Button(label)) start_job(app, true);
    tip(k_tip_reflow);
    ImGui::SameLine();
    if (ImGui::Button("Measure")) start_job(app, false);
    tip("Measures the generation training now: straightness, NPE and few-step W2.");
    ImGui::SetNextItemWidth(140 * s);
    ImGui::SliderInt("pairs", &m_pairs, 1000, 50000, "%d", ImGuiSliderFlags_Logarithmic);
    tip("How many source points are integrated (with the time bar's solver and steps) into pairs.");
    ImGui::SameLine();
    int warm = m_warm ? 1 : 0;
    ImGui::RadioButton("warm start", &warm, 1);
    ImGui::SameLine();
    ImGui::RadioButton("fresh", &warm, 0);
    m_warm = warm == 1;
    ImGui::EndDisabled();
    tip("Warm: generation k + 1 starts from k's weights (it only has to straighten). Fresh: new "
        "weights from the seed.");
    if (!m_status.empty()) ImGui::TextDisabled("%s", m_status.c_str());
    ImGui::Separator();
    // The table: one row per frozen generation, then the live one.
    if (ImGui::BeginTable("generations", 8,
                          ImGuiTableFlags_RowBg | ImGuiTableFlags_SizingStretchProp)) {
        for (const char* h : {"k", "steps", "S", "NPE", "W2 @1", "@2", "@4", ""})
            ImGui::TableSetupColumn(h);
        ImGui::TableHeadersRow();
        auto row = [&](const Generation& g, bool live, int index) {
            ImGui::TableNextRow();
            ImGui::TableNextColumn();
            ImGui::Text(live ? "%d (live)" : "%d", live ? m_current : g.k);
            ImGui::TableNextColumn();
            if (live)
                ImGui::TextUnformatted(with_commas(app.m_snapshot.step).c_str());
            else
                ImGui::TextUnformatted(with_commas(g.steps).c_str());
            const double v[5] = {g.figures.straightness, g.figures.npe, g.figures.w2_euler[0],
                                 g.figures.w2_euler[1], g.figures.w2_euler[2]};
            for (double x : v) {
                ImGui::TableNextColumn();
                if (g.measured)
                    ImGui::Text("%.3f", x);
                else
                    ImGui::TextDisabled("—");
                tip(k_tip_straightness);
            }
            ImGui::TableNextColumn();
            if (!live) {
                ImGui::PushID(index);
                ImGui::BeginDisabled(running);
                if (ImGui::SmallButton("use")) use_generation(app, index);
                ImGui::EndDisabled();
                tip("Go back to this generation: training goes on from its weights (on its own "
                    "data "
                    "or pairs).");
                ImGui::PopID();
            }
        };
        for (std::size_t i = 0; i < m_history.size(); ++i)
            row(m_history[i], false, static_cast<int>(i));
        row(m_live_figures, true, -1);
        ImGui::EndTable();
    }
    // Paths of the parent and of the live generation from the same source points.
    const float avail = ImGui::GetContentRegionAvail().x;
    const float size = std::clamp((avail - 12 * s) * 0.5f, 80.0f * s,
                                  std::max(80.0f * s, ImGui::GetContentRegionAvail().y -
                                                          ImGui::GetTextLineHeightWithSpacing()));
    if (!m_history.empty() || m_live_figures.measured) {
        static const std::vector<Points> none;
        const Generation* parent = m_history.empty() ? nullptr : &m_history.back();
        if (m_current > 0 && m_current - 1 < static_cast<int>(m_history.size()))
            parent = &m_history[static_cast<std::size_t>(m_current - 1)];
        char a[48], b[48];
        std::snprintf(a, sizeof a, "k = %d", parent ? parent->k : 0);
        std::snprintf(b, sizeof b,
                      m_live_figures.measured ? "k = %d (live)" : "k = %d (live: press Measure)",
                      m_current);
        draw_paths(parent ? parent->paths : none, a, size, s);
        ImGui::SameLine(0, 12 * s);
        draw_paths(m_live_figures.measured ? m_live_figures.paths : none, b, size, s);
    }
    ImGui::End();
}

}  // namespace fmp
