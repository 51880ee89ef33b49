// Classes and classifier-free guidance in the window: the conditioning switch, the class the
// particles follow, the guidance scale, and the spread of the guided samples around their class.
#include "app/gui/classes_panel.h"

#include <imgui.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "app/gui/main_window.h"
#include "app/gui/widgets.h"
#include "app/render/palette.h"
#include "core/base/rng.h"

namespace fmp {
namespace {

ImVec4 to_vec4(uint32_t c) {
    return ImVec4(float(c & 0xff) / 255.0f, float((c >> 8) & 0xff) / 255.0f,
                  float((c >> 16) & 0xff) / 255.0f, float((c >> 24) & 0xff) / 255.0f);
}

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
    const Points& last = traj.frames.back();
    const Eigen::Index n = last.rows();
    const Eigen::Index stride = std::max<Eigen::Index>(1, n / std::max(1, max_particles));
    double sum = 0.0;
    int count = 0, elsewhere = 0;
    for (Eigen::Index i = 0; i < n; i += stride) {
        const int cls = traj.classes[static_cast<std::size_t>(i)];
        if (cls < 0) continue;
        const float x = last(i, 0), y = last(i, 1);
        if (!std::isfinite(x) || !std::isfinite(y)) continue;
        float own = 0.0f, other = 0.0f;
        nearest_by_class(ref, x, y, cls, own, other);
        if (!std::isfinite(own)) continue;  // the reference has no point of that class
        sum += own;
        elsewhere += other < own ? 1 : 0;
        ++count;
    }
    if (count == 0) return out;
    out.own = static_cast<float>(sum / count);
    out.elsewhere = static_cast<float>(elsewhere) / static_cast<float>(count);
    out.particles = count;
    return out;
}

void ClassesPanel::sync(GuiApp& app) {
    auto traj = app.m_worker->trajectory();
    auto ref = app.m_worker->reference();
    if (!traj || !ref) return;
    if (ref.get() != m_data_reference) {
        // The floor: fresh samples of the target, each measured against the reference points of
        // its own class, as the particles are.
        m_data_reference = ref.get();
        m_data_own = std::numeric_limits<float>::quiet_NaN();
        if (app.m_spec.target.class_count() >= 2 && !ref->target_classes.empty()) {
            Rng rng(static_cast<uint64_t>(app.m_settings.seed) * 613 + 29, 41);
            const int m = 1000;
            Trajectory data;
            data.frames.assign(1, Points(m, 2));
            std::vector<int> cls(static_cast<std::size_t>(m));
            app.m_spec.target.sample_into(data.frames[0], rng, cls.data());
            data.classes.assign(cls.begin(), cls.end());
            m_data_own = measure_class_spread(data, *ref, m).own;
        }
        m_spread_spec = ~uint64_t(0);
    }
    if (traj->spec_id == m_spread_spec && traj->params_version == m_spread_version) return;
    m_spread_spec = traj->spec_id;
    m_spread_version = traj->params_version;
    m_spread = measure_class_spread(*traj, *ref);
    m_spread.data_own = m_data_own;
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
        if (ImGui::ColorButton("##follow", to_vec4(class_color(k)), ImGuiColorEditFlags_NoTooltip, ImVec2(h, h)))
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
        ImGui::Text("distance to own class's data: %.3f", static_cast<double>(sp.own));
        if (std::isfinite(sp.data_own))
            ImGui::TextDisabled("  the target's own samples: %.3f", static_cast<double>(sp.data_own));
        tip("Mean distance from each particle at t = 1 to the nearest target point of the class it "
            "followed (2048 target samples). Fresh samples of the target give the value in "
            "brackets: a model at w = 1 should come close to it. As w grows past 1 the samples "
            "overshoot the class's support and the distance grows.");
        ImGui::Text("nearer another class: %.1f %%", 100.0 * static_cast<double>(sp.elsewhere));
        tip("The share of particles that end nearer to another class's points than to their own: "
            "samples of the wrong class. Guidance (w > 1) drives it down, at the cost of diversity.");
    } else if (st.follow_class == k_unconditional) {
        ImGui::TextDisabled("the unconditional field follows no class");
    }
}

const std::vector<std::string>& ClassesPanel::script_keys() {
    static const std::vector<std::string> keys = {"classes", "p_uncond", "follow", "guidance"};
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
    }
    return true;
}

}  // namespace fmp
