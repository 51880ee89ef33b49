// The "Coupling plan" window: coupling_plan / partner_rows / count_crossings on a small batch of
// the current data, drawn as two matrices and, on the canvas, as segments.
#include "app/gui/coupling_plan_panel.h"

#include <imgui.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "app/gui/main_window.h"
#include "app/gui/widgets.h"

namespace fmp {
namespace {

// Segments on the canvas: pairs that cross another in red, the rest in teal.
const uint32_t k_crossing_rgba = pack_rgba(1.0f, 0.36f, 0.36f, 0.85f);
const uint32_t k_clear_rgba = pack_rgba(0.30f, 0.85f, 0.78f, 0.85f);

const char* k_tip_window =
    "A coupling is a joint distribution π(x0, x1) with the source and target as marginals; on a "
    "batch of n points each, a plan matrix P (rows x0_i, columns x1_j, entries summing to 1). "
    "Left: the exact OT plan, a permutation (n ones out of n²). Right: the coupling being trained: "
    "independent spreads 1/n² everywhere, Sinkhorn's P = argmin ⟨P, C⟩ − ε H(P) blurs the "
    "permutation by ε. Both sets are sorted by x so that a plan that keeps order sits near the "
    "diagonal. Crossings: how many of the straight conditional paths x0_i → x1_j (j drawn from row "
    "i) cross another — what the marginal field has to average over.";

Points sorted_by_x(const Points& p) {
    std::vector<Eigen::Index> order(static_cast<std::size_t>(p.rows()));
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(),
              [&](Eigen::Index a, Eigen::Index b) { return p(a, 0) < p(b, 0); });
    Points out(p.rows(), 2);
    for (Eigen::Index i = 0; i < p.rows(); ++i)
        out.row(i) = p.row(order[static_cast<std::size_t>(i)]);
    return out;
}

}  // namespace

const std::vector<std::string>& CouplingPlanPanel::script_keys() {
    static const std::vector<std::string> keys = {"plan", "plan_pairs", "plan_canvas"};
    return keys;
}

void CouplingPlanPanel::check_script(const std::string& key, const std::string& value) {
    if (key == "plan" && value != "open" && value != "close")
        throw InputError("--script plan= takes open or close");
    if (key == "plan_pairs" && value != "16" && value != "32" && value != "64")
        throw InputError("--script plan_pairs= takes 16, 32 or 64");
    if (key == "plan_canvas" && value != "on" && value != "off")
        throw InputError("--script plan_canvas= takes on or off");
}

bool CouplingPlanPanel::apply_script(GuiApp&, const std::string& key, const std::string& value) {
    if (key != "plan" && key != "plan_pairs" && key != "plan_canvas") return false;
    check_script(key, value);
    if (key == "plan") m_open = value == "open";
    if (key == "plan_pairs") m_pairs = std::stoi(value);
    if (key == "plan_canvas") m_on_canvas = value == "on";
    return true;
}

void CouplingPlanPanel::draw_toggle(GuiApp&) {
    if (ImGui::SmallButton(m_open ? "coupling plan ▾" : "coupling plan ▸")) m_open = !m_open;
    tip("Opens the plan of a small batch: exact OT beside the current coupling, with the pairs as "
        "segments on the canvas and how many of them cross.");
}

void CouplingPlanPanel::refresh(GuiApp& app) {
    const FlowSpec& spec = app.m_spec;
    char key[256];
    std::snprintf(key, sizeof key, "%s|%s|%d|%g|%g|%d|%d", spec.source.name().c_str(),
                  spec.target.name().c_str(), static_cast<int>(spec.coupling),
                  double(spec.coupling_options.ot_reg), double(spec.coupling_options.sb_sigma),
                  m_pairs, m_draw);
    // Drawn sets keep their name while they change: their size is part of the key.
    const std::string full =
        std::string(key) + "|" +
        std::to_string(spec.source.kind() == DatasetKind::PointSet ? spec.source.points().rows()
                                                                   : 0) +
        "|" +
        std::to_string(spec.target.kind() == DatasetKind::PointSet ? spec.target.points().rows()
                                                                   : 0);
    if (full == m_key) return;
    m_key = full;
    m_error.clear();
    try {
        Rng rng(static_cast<uint64_t>(1000 + m_draw), 77);
        m_x0 = sorted_by_x(spec.source.sample(m_pairs, rng) * spec.path.source_scale());
        m_x1 = sorted_by_x(spec.target.sample(m_pairs, rng));
        const CouplingKind kinds[2] = {
            CouplingKind::MinibatchOT,
            spec.coupling == CouplingKind::Paired ? CouplingKind::Independent : spec.coupling};
        for (int k = 0; k < 2; ++k) {
            m_plan[k] = coupling_plan(kinds[k], spec.coupling_options, m_x0, m_x1);
            Rng pick(static_cast<uint64_t>(7 + m_draw), 3);
            m_partner[k] = partner_rows(kinds[k], spec.coupling_options, m_x0, m_x1, pick);
            m_crossings[k] = count_crossings(m_x0, m_x1, m_partner[k], k == 1 ? &m_segment_crossings : nullptr);
            double cost = 0.0;
            const auto n = static_cast<std::size_t>(m_pairs);
            for (std::size_t i = 0; i < n; ++i)
                for (std::size_t j = 0; j < n; ++j)
                    cost += double(m_plan[k][i * n + j]) *
                            (m_x0.row(Eigen::Index(i)) - m_x1.row(Eigen::Index(j))).squaredNorm();
            m_cost[k] = cost;
        }
        static const char* names[] = {"independent", "minibatch OT", "Sinkhorn",
                                      "Schrödinger bridge", "independent"};
        m_title = names[static_cast<int>(kinds[1])];
        if (kinds[1] == CouplingKind::Sinkhorn || kinds[1] == CouplingKind::SchrodingerBridge) {
            char buf[64];
            std::snprintf(buf, sizeof buf, " (ε = %.3g)",
                          double(Coupler::epsilon_of(kinds[1], spec.coupling_options)));
            m_title += buf;
        }
    } catch (const std::exception& e) {
        m_error = one_line_message(e.what(), 200);
        for (auto& p : m_plan) p.clear();
    }
}

void CouplingPlanPanel::add_layers(GuiApp& app, Scene& scene) {
    if (!m_open || !m_on_canvas) return;
    refresh(app);
    if (m_plan[1].empty()) return;
    const std::vector<int>& partner = m_partner[1];
    const int n = static_cast<int>(partner.size());
    SegmentLayer seg;
    for (int i = 0; i < n; ++i) {
        const Eigen::Vector2f a = m_x0.row(i).transpose();
        const Eigen::Vector2f b = m_x1.row(partner[static_cast<std::size_t>(i)]).transpose();
        const uint32_t c = m_segment_crossings[static_cast<std::size_t>(i)] > 0 ? k_crossing_rgba : k_clear_rgba;
        seg.add(a, b, c, c, 2.0f * app.m_scale);
    }
    scene.layers.emplace_back(std::move(seg));
}

void CouplingPlanPanel::draw_matrix(const std::vector<float>& plan, const char* title,
                                    int64_t crossings, double cost, float size, float s) const {
    ImGui::BeginGroup();
    ImGui::TextUnformatted(title);
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const ImVec2 p = ImGui::GetCursorScreenPos();
    dl->AddRectFilled(p, ImVec2(p.x + size, p.y + size), IM_COL32(16, 18, 24, 255), 3.0f * s);
    const int n = m_pairs;
    const float cell = size / static_cast<float>(n);
    float peak = 0.0f;
    for (float v : plan) peak = std::max(peak, v);
    for (int i = 0; i < n && !plan.empty(); ++i)
        for (int j = 0; j < n; ++j) {
            const float v = plan[static_cast<std::size_t>(i * n + j)] / std::max(peak, 1e-30f);
            if (v < 0.02f) continue;
            // Sqrt so that a blurred plan's tails stay visible next to a sharp one.
            const int a = static_cast<int>(255.0f * std::sqrt(v));
            dl->AddRectFilled(ImVec2(p.x + j * cell, p.y + i * cell),
                              ImVec2(p.x + (j + 1) * cell, p.y + (i + 1) * cell),
                              IM_COL32(255, 196, 90, a));
        }
    ImGui::Dummy(ImVec2(size, size));
    ImGui::Text("%lld crossings", static_cast<long long>(crossings));
    ImGui::TextDisabled("E|x0 − x1|² = %.3f", cost);
    ImGui::EndGroup();
}

void CouplingPlanPanel::draw_window(GuiApp& app) {
    if (!m_open) return;
    refresh(app);
    const float s = app.m_scale;
    ImGuiIO& io = ImGui::GetIO();
    // Compact, at the canvas's top-left corner (beside the settings panel), so the pairs it draws
    // on the canvas stay in view.
    ImGui::SetNextWindowSize(ImVec2(430.0f * s, 300.0f * s), ImGuiCond_FirstUseEver);
    ImGui::SetNextWindowPos(
        ImVec2(app.m_left_w / std::max(io.DisplayFramebufferScale.x, 1.0f) + 12.0f * s, 10.0f * s),
        ImGuiCond_FirstUseEver);
    if (!ImGui::Begin("Coupling plan", &m_open, ImGuiWindowFlags_NoCollapse)) {
        ImGui::End();
        return;
    }
    ImGui::SetNextItemWidth(110 * s);
    static const char* sizes[] = {"16 pairs", "32 pairs", "64 pairs"};
    int index = m_pairs == 16 ? 0 : m_pairs == 32 ? 1 : 2;
    if (ImGui::Combo("##pairs", &index, sizes, 3)) m_pairs = 16 << index;
    ImGui::SameLine();
    if (ImGui::Button("Resample")) ++m_draw;
    tip("Draws a new batch from the source and the target.");
    ImGui::SameLine();
    ImGui::Checkbox("pairs on canvas", &m_on_canvas);
    tip("Draws the current coupling's pairs x0_i → x1_j as segments: red where one crosses "
        "another, "
        "teal where it crosses none.");
    ImGui::SameLine();
    ImGui::TextDisabled("(?)");
    tip(k_tip_window);
    if (!m_error.empty()) {
        ImGui::TextColored(ImVec4(1.0f, 0.42f, 0.40f, 1.0f), "%s", m_error.c_str());
    } else if (!m_plan[0].empty()) {
        const float avail = ImGui::GetContentRegionAvail().x;
        const float size = std::clamp(
            (avail - 16 * s) * 0.5f, 80.0f * s,
            ImGui::GetContentRegionAvail().y - 3.5f * ImGui::GetTextLineHeightWithSpacing());
        draw_matrix(m_plan[0], "exact OT (permutation)", m_crossings[0], m_cost[0], size, s);
        ImGui::SameLine(0, 16 * s);
        draw_matrix(m_plan[1], m_title.c_str(), m_crossings[1], m_cost[1], size, s);
    }
    ImGui::End();
}

}  // namespace fmp
