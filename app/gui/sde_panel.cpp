// The ODE vs SDE window and the time bar's SDE switch: both samplers on the current weights.
#include "app/gui/sde_panel.h"

#include <imgui.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "app/gui/main_window.h"
#include "app/gui/widgets.h"
#include "app/render/flow_state.h"
#include "core/base/parallel.h"
#include "core/base/rng.h"
#include "core/flow/sde_sampler.h"
#include "core/metrics/metrics.h"

namespace fmp {
namespace {

constexpr int k_particles = 3000;
constexpr int k_frames = 40;
constexpr int k_bins = 56;
constexpr int k_paths = 14;

const char* k_tip_sde =
    "Sample with the SDE instead of the ODE: dX = [v_θ(X, t) + ½g(t)²·∇log p_t(X)] dt + g(t) dW, "
    "Euler–Maruyama. Its Fokker–Planck equation is the ODE's continuity equation "
    "∂p/∂t = −∇·(p v) for every g, because −∇·(p·½g²∇log p) + ½g²Δp = 0: the particles jitter "
    "but their density p_t is the same. The score ∇log p_t is read off the velocity (Tweedie, "
    "normal source): ∇log p_t = (α̇x − αv)/(σ(ασ̇ − α̇σ)). Here g(t) = γ·σ_t, so the noise fades "
    "as the path reaches the data, where the score is singular. This is how a diffusion model "
    "samples: flow matching and diffusion learn the same thing.";

// The log-density colour ramp of the main view's heatmap (dark violet to amber).
ImU32 heat(float v) {
    static const float stops[5][3] = {{26, 13, 64}, {107, 26, 128}, {204, 61, 107}, {250, 140, 56}, {252, 230, 120}};
    v = std::clamp(v, 0.0f, 1.0f) * 4.0f;
    const int i = std::min(3, static_cast<int>(v));
    const float f = v - static_cast<float>(i);
    auto mix = [&](int c) { return static_cast<int>(stops[i][c] + f * (stops[i + 1][c] - stops[i][c])); };
    return IM_COL32(mix(0), mix(1), mix(2), 255);
}

bool parse_gamma(const std::string& value, float& out) {
    char* end = nullptr;
    const float g = std::strtof(value.c_str(), &end);
    if (value.empty() || *end != '\0' || !(g >= 0.0f && g <= k_max_sde_gamma)) return false;
    out = g;
    return true;
}

}  // namespace

SdePanel::~SdePanel() { join(); }

void SdePanel::join() {
    if (m_thread.joinable()) m_thread.join();
}

const std::vector<std::string>& SdePanel::script_keys() {
    static const std::vector<std::string> keys = {"sde", "sde_gamma", "odesde"};
    return keys;
}

void SdePanel::check_script(const std::string& key, const std::string& value) {
    float g = 0.0f;
    if (key == "sde" && value != "on" && value != "off")
        throw InputError("--script sde= takes on or off");
    if (key == "sde_gamma" && !parse_gamma(value, g))
        throw InputError("--script sde_gamma=" + quote_for_message(value) + ": a number in 0..5");
    if (key == "odesde" && value != "open" && value != "close" && value != "compute" && value != "wait")
        throw InputError("--script odesde= takes open, close, compute or wait");
}

bool SdePanel::apply_script(GuiApp& app, const std::string& key, const std::string& value) {
    if (key == "sde") {
        app.m_settings.sde = value == "on";
        app.update_spec();
    } else if (key == "sde_gamma") {
        parse_gamma(value, app.m_settings.sde_gamma);
        app.update_spec();
    } else if (key == "odesde") {
        if (value == "open") m_open = true;
        else if (value == "close") m_open = false;
        else if (value == "compute") m_open = true, start(app);
        else {
            // wait: until a computation of the current gamma has finished (screenshots).
            m_open = true;
            if (!m_running && m_gamma_computed != app.m_settings.sde_gamma) start(app);
            join();
        }
    } else {
        return false;
    }
    return true;
}

bool SdePanel::start(GuiApp& app) {
    if (m_running) return true;
    const TrainingSnapshot& snap = app.m_snapshot;
    if (!snap.params || snap.mlp.parameter_count() != snap.params->size()) return false;
    join();
    auto result = std::make_shared<Result>();
    result->gamma = app.m_settings.sde_gamma;
    result->step = snap.step;
    const FlowSpec& spec = app.m_spec;
    if (spec.source.kind() != DatasetKind::Normal) {
        result->error = "the SDE needs the normal source: its score is read off the velocity by "
                        "Tweedie's formula, which holds for a standard normal p₀";
        std::lock_guard<std::mutex> lock(m_mutex);
        m_result = result;
        m_gamma_computed = result->gamma;
        return true;
    }
    if (spec.coupling != CouplingKind::Independent)
        result->caveat = "The " + coupling_name(spec.coupling) +
                         " coupling's field is not the independent coupling's marginal, so the "
                         "score read off it is not ∇log p_t: expect the two to differ.";
    TrainConfig config = app.train_config();
    config.mlp = snap.mlp;
    config.path = spec.path;
    config.mlp.path = spec.path;
    const Dataset source = spec.source, target = spec.target;
    auto params = snap.params;
    const uint64_t seed = spec.seed;
    m_gamma_computed = result->gamma;
    m_version_computed = snap.params_version;
    m_running = true;
    m_thread = std::thread([this, config, source, target, params, seed, result] {
        lower_thread_priority();
        try {
            auto engine = make_cpu_engine();
            engine->reset(config, source, target);
            engine->set_params(*params);
            Engine& e = *engine;
            VelocityFn v = [&e](const Points& p, float t, Points& out) { e.eval_velocity(p, t, out); };
            Rng draw(seed, 3), other(seed + 1, 3);
            const float scale = config.path.source_scale();
            Points x = source.sample(k_particles, draw) * scale;
            Points y = source.sample(k_particles, other) * scale;
            Points s = x;
            integrate_particles(v, SolverKind::RK4, x, 0.0f, 1.0f, k_frames, &result->ode);
            integrate_particles(v, SolverKind::RK4, y, 0.0f, 1.0f, k_frames, &result->ode_other);
            FlowSpec fs;
            fs.path = config.path;
            fs.steps = k_frames;
            fs.sde_gamma = result->gamma;
            fs.seed = seed;
            result->sde.push_back(s);
            Points scratch;
            for (int k = 0; k < k_frames; ++k) {
                sde_frame(v, fs, s, k, 0, scratch);
                result->sde.push_back(s);
            }
            for (int k = 0; k <= k_frames; ++k) {
                result->distance.push_back(sliced_wasserstein2(result->ode[k], result->sde[k], 64, 7));
                result->floor.push_back(sliced_wasserstein2(result->ode[k], result->ode_other[k], 64, 7));
            }
            if (!s.allFinite()) result->error = "the SDE's particles left the finite numbers: lower γ";
        } catch (const std::exception& ex) {
            result->error = one_line_message(ex.what(), 300);
        }
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            m_result = result;
        }
        m_running = false;
    });
    return true;
}

void SdePanel::draw_controls(GuiApp& app) {
    UiSettings& st = app.m_settings;
    const bool normal = app.m_spec.source.kind() == DatasetKind::Normal;
    ImGui::BeginDisabled(!normal);
    if (ImGui::Checkbox("SDE", &st.sde)) app.update_spec();
    ImGui::EndDisabled();
    tip(std::string(k_tip_sde) +
        (normal ? "" : "\n\nNeeds the normal source (the score comes from Tweedie's formula)."));
    if (st.sde) {
        ImGui::SameLine();
        ImGui::SetNextItemWidth(60.0f * app.m_scale);
        ImGui::SliderFloat("##gamma", &st.sde_gamma, 0.0f, k_max_sde_gamma, "γ %.2f");
        if (ImGui::IsItemDeactivatedAfterEdit()) app.update_spec();
        tip("The diffusion g(t) = γ·σ_t: 0 is the ODE; larger γ, noisier paths, the same "
            "marginals (up to the step size: Euler–Maruyama, 8 steps per frame).");
    }
    ImGui::SameLine();
    if (ImGui::SmallButton(m_open ? "vs ODE ▾" : "vs ODE ▸")) m_open = !m_open;
    tip("ODE vs SDE: the densities of both samplers side by side at the current t, with noisy "
        "paths and their sliced W2.");
}

void SdePanel::draw_canvas(const Result& r, const std::vector<Points>& frames, float t, bool noisy,
                           float size, const char* title) {
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const ImVec2 p = ImGui::GetCursorScreenPos();
    dl->AddRectFilled(p, ImVec2(p.x + size, p.y + size), IM_COL32(14, 16, 22, 255), 4.0f);
    if (frames.empty()) {
        ImGui::Dummy(ImVec2(size, size));
        return;
    }
    // One world box for both canvases: the ODE's particles over all frames.
    Eigen::Vector2f lo(1e30f, 1e30f), hi(-1e30f, -1e30f);
    for (const Points& f : r.ode) {
        lo = lo.cwiseMin(f.colwise().minCoeff().transpose());
        hi = hi.cwiseMax(f.colwise().maxCoeff().transpose());
    }
    const Eigen::Vector2f mid = 0.5f * (lo + hi);
    const float half = 0.5f * std::max(hi.x() - lo.x(), hi.y() - lo.y()) * 1.05f + 1e-3f;
    auto to_px = [&](float x, float y) {
        return ImVec2(p.x + (x - mid.x() + half) / (2 * half) * size,
                      p.y + (mid.y() + half - y) / (2 * half) * size);
    };
    const int k = std::clamp(static_cast<int>(std::lround(t * k_frames)), 0, k_frames);
    const Points& now = frames[static_cast<std::size_t>(k)];
    std::vector<float> bins(k_bins * k_bins, 0.0f);
    for (Eigen::Index i = 0; i < now.rows(); ++i) {
        const int bx = static_cast<int>((now(i, 0) - mid.x() + half) / (2 * half) * k_bins);
        const int by = static_cast<int>((mid.y() + half - now(i, 1)) / (2 * half) * k_bins);
        if (bx >= 0 && bx < k_bins && by >= 0 && by < k_bins) bins[by * k_bins + bx] += 1.0f;
    }
    const float top = std::max(1.0f, *std::max_element(bins.begin(), bins.end()));
    const float cell = size / k_bins;
    for (int by = 0; by < k_bins; ++by)
        for (int bx = 0; bx < k_bins; ++bx) {
            const float c = bins[by * k_bins + bx];
            if (c <= 0.0f) continue;
            const ImVec2 a(p.x + bx * cell, p.y + by * cell);
            dl->AddRectFilled(a, ImVec2(a.x + cell + 0.5f, a.y + cell + 0.5f),
                              heat(std::log1p(c) / std::log1p(top)));
        }
    // A few paths from the same starts up to t: smooth for the ODE, jittery for the SDE.
    const ImU32 line = noisy ? IM_COL32(120, 255, 140, 230) : IM_COL32(86, 204, 242, 230);
    for (int j = 0; j < k_paths && j < now.rows(); ++j) {
        std::vector<ImVec2> pts;
        for (int f = 0; f <= k; ++f) pts.push_back(to_px(frames[f](j, 0), frames[f](j, 1)));
        if (pts.size() >= 2) dl->AddPolyline(pts.data(), static_cast<int>(pts.size()), line, 0, 1.6f);
        dl->AddCircleFilled(pts.back(), 2.6f, line);
    }
    dl->AddText(ImVec2(p.x + 8, p.y + 6), IM_COL32(235, 238, 245, 255), title);
    ImGui::Dummy(ImVec2(size, size));
}

void SdePanel::draw_window(GuiApp& app) {
    if (!m_open) return;
    const float s = app.m_scale;
    ImGuiIO& io = ImGui::GetIO();
    ImGui::SetNextWindowSize(ImVec2(std::min(760.0f * s, io.DisplaySize.x - 20 * s),
                                    std::min(560.0f * s, io.DisplaySize.y - 20 * s)),
                             ImGuiCond_FirstUseEver);
    ImGui::SetNextWindowPos(ImVec2(io.DisplaySize.x * 0.5f, io.DisplaySize.y * 0.5f), ImGuiCond_FirstUseEver,
                            ImVec2(0.5f, 0.5f));
    if (!ImGui::Begin("ODE vs SDE", &m_open, ImGuiWindowFlags_NoCollapse)) {
        ImGui::End();
        return;
    }
    // Computes on opening and whenever gamma changed; new weights wait for the button.
    if (!m_running && m_gamma_computed != app.m_settings.sde_gamma && !ImGui::IsMouseDown(0)) start(app);
    const bool running = m_running;
    ImGui::SetNextItemWidth(150 * s);
    ImGui::SliderFloat("γ", &app.m_settings.sde_gamma, 0.0f, k_max_sde_gamma, "%.2f");
    if (ImGui::IsItemDeactivatedAfterEdit()) app.update_spec();
    tip("g(t) = γ·σ_t. Move it and watch: the SDE's paths get noisier, its density stays the "
        "ODE's.");
    ImGui::SameLine();
    ImGui::BeginDisabled(running);
    if (ImGui::Button(running ? "Sampling…" : "Resample")) start(app);
    ImGui::EndDisabled();
    tip("Samples the current weights again (training moves on meanwhile).");
    std::shared_ptr<const Result> r;
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        r = m_result;
    }
    ImGui::SameLine();
    ImGui::TextDisabled("(?)");
    tip(k_tip_sde);
    if (!r) {
        ImGui::TextDisabled("sampling…");
        ImGui::End();
        return;
    }
    if (!r->error.empty()) {
        ImGui::TextColored(ImVec4(1.0f, 0.42f, 0.40f, 1.0f), "%s", r->error.c_str());
        ImGui::End();
        return;
    }
    const float avail = ImGui::GetContentRegionAvail().x;
    const float size = std::max(80.0f * s, std::min((avail - ImGui::GetStyle().ItemSpacing.x) * 0.5f,
                                                    ImGui::GetContentRegionAvail().y - 4.5f * ImGui::GetTextLineHeightWithSpacing()));
    const float t = app.m_t;
    draw_canvas(*r, r->ode, t, false, size, "ODE  dx = v dt");
    ImGui::SameLine();
    char title[96];
    std::snprintf(title, sizeof title, "SDE  γ = %.2f", static_cast<double>(r->gamma));
    draw_canvas(*r, r->sde, t, true, size, title);
    const int k = std::clamp(static_cast<int>(std::lround(t * k_frames)), 0, k_frames);
    const float g = sde_diffusion(app.m_spec.path, r->gamma, static_cast<float>(k) / k_frames);
    ImGui::Text("t = %.3f   sliced W2(ODE, SDE) = %.3f   floor (two ODE draws) = %.3f   g(t) = %.2f",
                static_cast<double>(k) / k_frames, r->distance[static_cast<std::size_t>(k)],
                r->floor[static_cast<std::size_t>(k)], static_cast<double>(g));
    tip("The sliced 2-Wasserstein distance between the two samplers' particles at this t, beside "
        "that between two independent ODE draws of the same size: equal marginals give a "
        "distance at that floor.");
    ImGui::TextDisabled("%d particles each, weights of step %s; the heatmaps are log densities, the "
                        "lines %d paths from the same starts",
                        k_particles, with_commas(r->step).c_str(), k_paths);
    if (!r->caveat.empty()) {
        ImGui::PushTextWrapPos(0.0f);
        ImGui::TextColored(ImVec4(1.0f, 0.78f, 0.35f, 1.0f), "%s", r->caveat.c_str());
        ImGui::PopTextWrapPos();
    }
    ImGui::End();
}

}  // namespace fmp
