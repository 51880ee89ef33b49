// Classes and classifier-free guidance in the window: the conditioning switch, the class the
// particles follow, the guidance scale, and the spread of the guided samples around their class.
#include "app/gui/classes_panel.h"

#include <imgui.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>

#include "app/gui/main_window.h"
#include "app/gui/widgets.h"
#include "app/render/palette.h"
#include "core/base/parallel.h"
#include "core/base/rng.h"

namespace fmp {
namespace {

// Nearest distance from (x, y) to the reference points of class `cls`, and to those of any other.
void nearest_by_class(const FlowReference& ref, float x, float y, int cls, float& own, float& other) {
    float own2 = INFINITY, other2 = INFINITY;
    for (Eigen::Index j = 0; j < ref.target.rows(); ++j) {
        const float dx = ref.target(j, 0) - x, dy = ref.target(j, 1) - y;
        const float d2 = dx * dx + dy * dy;
        if (ref.target_classes[static_cast<std::size_t>(j)] == cls)
            own2 = std::min(own2, d2);
        else
            other2 = std::min(other2, d2);
    }
    own = std::sqrt(own2);
    other = std::sqrt(other2);
}

float number(const std::string& key, const std::string& value) {
    char* end = nullptr;
    const float v = std::strtof(value.c_str(), &end);
    if (value.empty() || *end != '\0' || !std::isfinite(v))
        throw InputError("--script " + key + "=" + quote_for_message(value) + " is not a number");
    return v;
}


const char* k_tip_conditioning =
    "Class-conditional flow matching: the network gets the class y as an input, v_θ(x, t, y), and "
    "regresses the conditional velocity of pairs (x0, x1) with x1 drawn from class y: one flow per "
    "class in one network (the class enters as a one-hot, a learned embedding added in the first "
    "layer). During training y is replaced by the null class ∅ with probability p_uncond, so the "
    "same network also learns the unconditional field v_θ(x, t, ∅) of the whole target: what "
    "classifier-free guidance needs. Changing it restarts training.";

const char* k_tip_guidance =
    "Classifier-free guidance (Ho & Salimans 2022): v_w(x, t | y) = v(x, t | ∅) + w·(v(x, t | y) − "
    "v(x, t | ∅)).\nw = 1 is the class's own field, w = 0 the unconditional one; w > 1 extrapolates "
    "away from the other classes: samples become more typical of y but less diverse, and for large "
    "w they overshoot past the class's support (the distance below grows). In score terms: "
    "∇log p(x|y) + (w − 1)·∇log p(y|x), an implicit classifier raised to the power w.";

}  // namespace

ClassSpread measure_class_spread(const Trajectory& traj, const FlowReference& ref, int max_particles) {
    ClassSpread out;
    if (traj.frames.empty() || traj.classes.empty() ||
        static_cast<Eigen::Index>(ref.target_classes.size()) != ref.target.rows() || ref.target.rows() == 0)
        return out;
    // Each class's support radius: the 99th percentile of its points' nearest-other distances.
    std::vector<float> radius(k_max_classes, 0.0f);
    for (int k = 0; k < k_max_classes; ++k) {
        std::vector<Eigen::Index> rows;
        for (Eigen::Index j = 0; j < ref.target.rows(); ++j)
            if (ref.target_classes[static_cast<std::size_t>(j)] == k) rows.push_back(j);
        if (rows.size() < 2) continue;
        std::vector<float> nn(rows.size(), INFINITY);
        for (std::size_t a = 0; a < rows.size(); ++a)
            for (std::size_t b = a + 1; b < rows.size(); ++b) {
                const float d = (ref.target.row(rows[a]) - ref.target.row(rows[b])).norm();
                nn[a] = std::min(nn[a], d);
                nn[b] = std::min(nn[b], d);
            }
        const std::size_t q = static_cast<std::size_t>(0.99 * static_cast<double>(nn.size() - 1));
        std::nth_element(nn.begin(), nn.begin() + static_cast<std::ptrdiff_t>(q), nn.end());
        radius[static_cast<std::size_t>(k)] = nn[q];
    }
    const Points& last = traj.frames.back();
    const Eigen::Index n = last.rows();
    // The subsample: rows k * P mod n for a prime P that does not divide n, so it mixes every
    // class (an even stride would see only some classes: particle i follows class i mod K).
    const Eigen::Index m = std::min<Eigen::Index>(n, std::max(1, max_particles));
    const Eigen::Index prime = n % 1000003 != 0 ? 1000003 : 999983;
    std::vector<Eigen::Index> picked(static_cast<std::size_t>(m));
    for (Eigen::Index k = 0; k < m; ++k)
        picked[static_cast<std::size_t>(k)] = static_cast<Eigen::Index>((static_cast<int64_t>(k) * prime) % n);
    double sum = 0.0;
    int count = 0, elsewhere = 0, outside = 0;
    for (const Eigen::Index i : picked) {
        const int cls = traj.classes[static_cast<std::size_t>(i)];
        if (cls < 0 || cls >= k_max_classes) continue;
        const float x = last(i, 0), y = last(i, 1);
        if (!std::isfinite(x) || !std::isfinite(y)) continue;
        float own = 0.0f, other = 0.0f;
        nearest_by_class(ref, x, y, cls, own, other);
        if (!std::isfinite(own)) continue;  // the reference has no point of that class
        sum += own;
        elsewhere += other < own ? 1 : 0;
        outside += own > radius[static_cast<std::size_t>(cls)] ? 1 : 0;
        ++count;
    }
    if (count == 0) return out;
    // The shift and spread of each class's samples against the class's reference points.
    std::vector<Eigen::Vector2d> data_mean(k_max_classes, Eigen::Vector2d::Zero()), mean = data_mean;
    std::vector<double> data_ss(k_max_classes, 0.0), ss(k_max_classes, 0.0);
    std::vector<int> data_n(k_max_classes, 0), nk(k_max_classes, 0);
    for (Eigen::Index j = 0; j < ref.target.rows(); ++j) {
        const int k = ref.target_classes[static_cast<std::size_t>(j)];
        data_mean[k] += ref.target.row(j).transpose().cast<double>();
        ++data_n[k];
    }
    for (const Eigen::Index i : picked) {
        const int k = traj.classes[static_cast<std::size_t>(i)];
        if (k < 0 || k >= k_max_classes || !last.row(i).allFinite()) continue;
        mean[k] += last.row(i).transpose().cast<double>();
        ++nk[k];
    }
    for (int k = 0; k < k_max_classes; ++k) {
        if (data_n[k]) data_mean[k] /= data_n[k];
        if (nk[k]) mean[k] /= nk[k];
    }
    for (Eigen::Index j = 0; j < ref.target.rows(); ++j) {
        const int k = ref.target_classes[static_cast<std::size_t>(j)];
        data_ss[k] += (ref.target.row(j).transpose().cast<double>() - data_mean[k]).squaredNorm();
    }
    for (const Eigen::Index i : picked) {
        const int k = traj.classes[static_cast<std::size_t>(i)];
        if (k < 0 || k >= k_max_classes || !last.row(i).allFinite()) continue;
        ss[k] += (last.row(i).transpose().cast<double>() - mean[k]).squaredNorm();
    }
    double shift = 0.0, spread = 0.0;
    int classes = 0;
    for (int k = 0; k < k_max_classes; ++k) {
        if (nk[k] < 2 || data_n[k] < 2) continue;
        const double rms = std::sqrt(data_ss[k] / data_n[k]);
        if (!(rms > 0.0)) continue;
        shift += (mean[k] - data_mean[k]).norm() / rms;
        spread += std::sqrt(ss[k] / nk[k]) / rms;
        ++classes;
    }
    if (classes > 0) {
        out.shift = static_cast<float>(shift / classes);
        out.spread = static_cast<float>(spread / classes);
    }
    out.own = static_cast<float>(sum / count);
    out.elsewhere = static_cast<float>(elsewhere) / static_cast<float>(count);
    out.outside = static_cast<float>(outside) / static_cast<float>(count);
    out.particles = count;
    return out;
}

const std::vector<float>& guidance_sweep_scales() {
    static const std::vector<float> w = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f, 8.0f};
    return w;
}

ClassesPanel::~ClassesPanel() { join(); }

void ClassesPanel::join() {
    if (m_thread.joinable()) m_thread.join();
}

std::vector<ClassSpread> ClassesPanel::sweep() const {
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_sweep;
}

bool ClassesPanel::start_sweep(GuiApp& app) {
    if (m_running) return true;
    const TrainingSnapshot& snap = app.m_snapshot;
    auto reference = app.m_worker->reference();
    if (!snap.params || snap.mlp.classes <= 0 || !reference || snap.mlp.parameter_count() != snap.params->size())
        return false;
    join();
    FlowSpec spec = app.m_spec;
    spec.particles = 1200;
    spec.sde_gamma = 0.0f;  // the ODE: the spread of the guided flow itself
    if (spec.follow_class == k_unconditional) spec.follow_class = k_all_classes;
    const MlpConfig config = snap.mlp;
    auto params = snap.params;
    const ClassSpread floor = m_data;
    m_sweep_step = snap.step;
    m_running = true;
    m_thread = std::thread([this, spec, config, params, reference, floor] {
        lower_thread_priority();
        Mlp mlp(config, 1);
        mlp.set_params(*params);
        std::vector<ClassSpread> out;
        for (float w : guidance_sweep_scales()) {
            FlowSpec at = spec;
            at.guidance = w;
            auto traj = integrate_trajectory(at, mlp, *reference);
            ClassSpread sp = measure_class_spread(*traj, *reference);
            sp.data_own = floor.own;
            sp.data_outside = floor.outside;
            out.push_back(sp);
        }
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            m_sweep = std::move(out);
        }
        m_running = false;
    });
    return true;
}

void ClassesPanel::draw_sweep(GuiApp& app) {
    const float s = app.m_scale;
    ImGui::BeginDisabled(m_running);
    if (ImGui::Button(m_running ? "Sweeping w…" : "Sweep w 0 → 8")) start_sweep(app);
    ImGui::EndDisabled();
    tip("Samples the current network at w = 0, 0.5, 1, 1.5, 2, 3, 4, 6, 8 (1200 particles each, the "
        "class setting above) and plots how far they land from their class's data: the overshoot "
        "past the support as w grows, and the share that lands nearer another class.");
    const std::vector<ClassSpread> sweep = this->sweep();
    if (sweep.empty()) return;
    ImGui::SameLine();
    ImGui::TextDisabled("at step %lld", static_cast<long long>(m_sweep_step));
    const std::vector<float>& ws = guidance_sweep_scales();
    const float top = 1.0f;  // both curves are shares, 0 .. 100 %
    ImVec2 p = ImGui::GetCursorScreenPos();
    const float width = ImGui::GetContentRegionAvail().x, height = 90.0f * s;
    ImDrawList* dl = ImGui::GetWindowDrawList();
    dl->AddRectFilled(p, ImVec2(p.x + width, p.y + height), IM_COL32(16, 18, 24, 255), 5.0f * s);
    const float pad = 8.0f * s;
    auto to_px = [&](float w, float v) {
        return ImVec2(p.x + pad + w / ws.back() * (width - 2 * pad), p.y + height - pad - v / top * (height - 2 * pad));
    };
    // The target's own share outside: what w = 1 should reach.
    if (std::isfinite(sweep.front().data_outside)) {
        const float f = sweep.front().data_outside;
        dl->AddLine(to_px(0.0f, f), to_px(ws.back(), f), IM_COL32(255, 255, 255, 90), 1.0f * s);
    }
    // w = 1 and the current w.
    dl->AddLine(to_px(1.0f, 0.0f), to_px(1.0f, top), IM_COL32(255, 255, 255, 40), 1.0f * s);
    dl->AddLine(to_px(app.m_settings.guidance, 0.0f), to_px(app.m_settings.guidance, top), IM_COL32(255, 92, 122, 120),
                1.0f * s);
    ImVec2 own[16], elsewhere[16];
    int n = 0;
    for (std::size_t i = 0; i < sweep.size() && i < ws.size(); ++i) {
        if (!std::isfinite(sweep[i].outside)) continue;
        own[n] = to_px(ws[i], sweep[i].outside);
        elsewhere[n] = to_px(ws[i], sweep[i].elsewhere);
        ++n;
    }
    dl->AddPolyline(own, n, palette::guided, 0, 2.0f * s);
    dl->AddPolyline(elsewhere, n, IM_COL32(170, 176, 196, 200), 0, 1.4f * s);
    for (int i = 0; i < n; ++i) dl->AddCircleFilled(own[i], 2.6f * s, palette::guided);
    ImGui::Dummy(ImVec2(width, height));
    tip("Against w (0 … 8), from 0 to 100 %: rose, the share of samples outside their class's "
        "support; slate, the share nearer another class (the wrong class). White line: the target's "
        "own samples outside the support (about 1 %). Guidance trades the slate for the rose: fewer "
        "wrong-class samples, more overshoot.");
    ImGui::TextDisabled("outside: w = 0 %.0f %%, w = 1 %.0f %%, w = 8 %.0f %%", 100.0 * double(sweep[0].outside),
                        100.0 * double(sweep[2].outside), 100.0 * double(sweep.back().outside));
}

void ClassesPanel::sync(GuiApp& app) {
    auto traj = app.m_worker->trajectory();
    auto ref = app.m_worker->reference();
    if (!traj || !ref) return;
    if (ref.get() != m_data_reference) {
        // The floor: fresh samples of the target, each measured against the reference points of
        // its own class, as the particles are.
        m_data_reference = ref.get();
        m_data = ClassSpread{};
        if (app.m_spec.target.class_count() >= 2 && !ref->target_classes.empty()) {
            Rng rng(static_cast<uint64_t>(app.m_settings.seed) * 613 + 29, 41);
            const int m = 1000;
            Trajectory data;
            data.frames.assign(1, Points(m, 2));
            std::vector<int> cls(static_cast<std::size_t>(m));
            app.m_spec.target.sample_into(data.frames[0], rng, cls.data());
            data.classes.assign(cls.begin(), cls.end());
            m_data = measure_class_spread(data, *ref, m);
        }
        m_spread_spec = ~uint64_t(0);
    }
    if (traj->spec_id == m_spread_spec && traj->params_version == m_spread_version) return;
    m_spread_spec = traj->spec_id;
    m_spread_version = traj->params_version;
    m_spread = measure_class_spread(*traj, *ref);
    m_spread.data_own = m_data.own;
    m_spread.data_outside = m_data.outside;
}

void ClassesPanel::set_conditioning(GuiApp& app, bool on) {
    if (app.m_settings.classes == on) return;
    app.m_settings.classes = on;
    // Colour the particles by the class they follow: the point of turning it on.
    if (on) app.m_scene_options.color = ColorMode::Class;
    app.reset_training();
}

void ClassesPanel::draw_section(GuiApp& app) {
    UiSettings& st = app.m_settings;
    const int target_classes = app.m_spec.target.class_count();
    const int net_classes = app.m_class_net;
    if (target_classes < 2) {
        ImGui::PushTextWrapPos(0.0f);
        ImGui::TextDisabled(
            "The target has no classes. Choose 8gaussians (a class per mode), moons (one per moon) "
            "or checkerboard (one per cell), paint the drawn target in class colours (Draw), or "
            "import a CSV with a third column x,y,class.");
        ImGui::PopTextWrapPos();
        bool on = st.classes;
        if (on && ImGui::Checkbox("condition on the class (when the target has classes)", &on))
            set_conditioning(app, on);
        return;
    }
    bool on = st.classes;
    char label[64];
    std::snprintf(label, sizeof label, "condition on the class (%d classes)", target_classes);
    if (ImGui::Checkbox(label, &on)) set_conditioning(app, on);
    tip(k_tip_conditioning);
    ImGui::BeginDisabled(!st.classes);
    float p = st.p_uncond;
    ImGui::SliderFloat("p_uncond", &p, 0.0f, 0.5f, "%.2f");
    if (p != st.p_uncond) st.p_uncond = p;
    if (ImGui::IsItemDeactivatedAfterEdit()) app.reset_training();
    tip("The probability that a training row's class is replaced by the null class ∅: the share "
        "of the batch that teaches the unconditional field v(x, t | ∅). 0 leaves guidance without "
        "an unconditional field to push away from; 0.1–0.2 is usual. Changing it restarts training.");
    ImGui::EndDisabled();
    if (net_classes <= 0) return;

    // Which field the particles follow.
    ImGui::TextUnformatted("particles follow");
    int follow = st.follow_class;
    ImGui::RadioButton("every class", &follow, k_all_classes);
    tip("Particle i follows class i mod K at the guidance below, coloured by its class: each "
        "class's share of the source flows to that class.");
    ImGui::SameLine();
    ImGui::RadioButton("unconditional ∅", &follow, k_unconditional);
    tip("Every particle follows the null class's field v(x, t | ∅): the flow of the whole target, "
        "learned from the p_uncond share of the batches. Guidance has no effect here.");
    const float h = ImGui::GetFrameHeight();
    bool first = true;
    for (int k : followed_classes(app.m_spec, net_classes)) {
        if (!first) ImGui::SameLine(0.0f, 3.0f * app.m_scale);
        first = false;
        ImGui::PushID(k);
        const bool chosen = follow == k;
        if (ImGui::ColorButton("##follow", ImGui::ColorConvertU32ToFloat4(class_color(k)), ImGuiColorEditFlags_NoTooltip, ImVec2(h, h)))
            follow = k;
        if (chosen)
            ImGui::GetWindowDrawList()->AddRect(ImGui::GetItemRectMin(), ImGui::GetItemRectMax(),
                                                IM_COL32(255, 255, 255, 255), 3.0f, 0, 2.0f * app.m_scale);
        ImGui::PopID();
        tip("Every particle follows class " + std::to_string(k) + ": v_w(x, t | " + std::to_string(k) +
            "). The guidance arrows show this class's field too.");
    }
    bool respec = follow != st.follow_class;
    st.follow_class = follow;
    float w = st.guidance;
    ImGui::SliderFloat("guidance w", &w, 0.0f, 8.0f, "%.2f");
    tip(k_tip_guidance);
    if (w != st.guidance) {
        st.guidance = w;
        respec = true;
    }
    if (respec) app.update_spec();
    if (ImGui::Button("Show guidance arrows")) {
        app.m_scene_options.arrows = true;
        app.m_scene_options.arrow_mode = ArrowMode::Guidance;
        if (st.follow_class < 0) {
            st.follow_class = followed_classes(app.m_spec, net_classes).front();
            app.update_spec();
        }
    }
    tip("Three arrows from each grid point for the followed class (it follows the first class if "
        "it followed every class): slate v(x, t | ∅), the class's colour v(x, t | y), rose the guided v_w. The rose "
        "arrow is the slate one plus w times the difference: with w > 1 it points past the class's "
        "own arrow, away from the other classes.");

    // The spread of the guided samples.
    const ClassSpread& sp = m_spread;
    if (sp.particles > 0) {
        ImGui::Text("outside their class's support: %.1f %%", 100.0 * static_cast<double>(sp.outside));
        if (std::isfinite(sp.data_outside))
            ImGui::TextDisabled("  the target's own samples: %.1f %%", 100.0 * static_cast<double>(sp.data_outside));
        tip("The share of particles at t = 1 farther from their class's points than the class's own "
            "points are from each other (2048 target samples; the support radius r_k is the 99th "
            "percentile of their nearest-neighbour distances, so about 1 % of fresh target samples "
            "fall outside too). A model at w = 1 should come close to the target's share; as w grows "
            "past 1 the samples overshoot the support and the share grows.");
        if (std::isfinite(sp.spread)) {
            ImGui::Text("spread ×%.2f, moved %.2f class radii", static_cast<double>(sp.spread),
                        static_cast<double>(sp.shift));
            tip("Per class, averaged: the samples' RMS spread about their mean, and how far their mean "
                "moved from the class's mean, both in units of the class's own RMS spread (the data: "
                "×1.00 and 0). Guidance narrows each class (less diversity) and pushes the classes "
                "apart.");
        }
        ImGui::Text("nearer another class: %.1f %%", 100.0 * static_cast<double>(sp.elsewhere));
        tip("The share of particles that end nearer to another class's points than to their own: "
            "samples of the wrong class. Guidance (w > 1) drives it down, at the cost of diversity.");
    } else if (st.follow_class == k_unconditional) {
        ImGui::TextDisabled("the unconditional field follows no class");
    }
    draw_sweep(app);
}

const std::vector<std::string>& ClassesPanel::script_keys() {
    static const std::vector<std::string> keys = {"classes", "p_uncond", "follow", "guidance", "guidance_sweep"};
    return keys;
}

void ClassesPanel::check_script(const std::string& key, const std::string& value) {
    if (key == "classes" && value != "on" && value != "off")
        throw InputError("--script classes=" + quote_for_message(value) + ": on or off");
    if (key == "p_uncond") {
        const float p = number(key, value);
        if (p < 0.0f || p > 1.0f) throw InputError("--script p_uncond must be in 0..1");
    }
    if (key == "follow") (void)parse_follow_class(value, "--script follow");
    if (key == "guidance_sweep" && value != "run" && value != "wait")
        throw InputError("--script guidance_sweep= takes run or wait");
    if (key == "guidance") {
        const float w = number(key, value);
        if (w < 0.0f || w > k_max_guidance) throw InputError("--script guidance must be in 0..10");
    }
}

bool ClassesPanel::apply_script(GuiApp& app, const std::string& key, const std::string& value) {
    if (name_index(script_keys(), key) < 0) return false;
    check_script(key, value);
    UiSettings& st = app.m_settings;
    if (key == "classes") {
        set_conditioning(app, value == "on");
    } else if (key == "p_uncond") {
        st.p_uncond = number(key, value);
        app.reset_training();
    } else if (key == "follow") {
        st.follow_class = parse_follow_class(value, "--script follow");
        app.update_spec();
    } else if (key == "guidance") {
        st.guidance = number(key, value);
        app.update_spec();
    } else if (key == "guidance_sweep") {
        // Scripts may ask before the first weights exist: wait for them (as the reflow does).
        for (int i = 0; i < 400 && !start_sweep(app); ++i) {
            app.sync_with_workers();
            std::this_thread::sleep_for(std::chrono::milliseconds(25));
        }
        if (value == "wait") join();
    }
    return true;
}

}  // namespace fmp
