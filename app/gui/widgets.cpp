// The panels' shared ImGui helpers.
#include "app/gui/widgets.h"

namespace fmp {

void tip(const char* text) {
    if (ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled)) {
        ImGui::BeginTooltip();
        ImGui::PushTextWrapPos(ImGui::GetFontSize() * 26.0f);
        ImGui::TextUnformatted(text);
        ImGui::PopTextWrapPos();
        ImGui::EndTooltip();
    }
}

void tip(const std::string& text) {
    tip(text.c_str());
}

bool combo(const char* label, int& index, const std::vector<std::string>& items,
           const std::vector<std::string>* labels) {
    bool changed = false;
    const auto& shown = labels ? *labels : items;
    if (ImGui::BeginCombo(label, shown[index].c_str())) {
        for (int i = 0; i < static_cast<int>(items.size()); ++i) {
            bool selected = i == index;
            if (ImGui::Selectable(shown[i].c_str(), selected) && i != index) {
                index = i;
                changed = true;
            }
            if (selected) ImGui::SetItemDefaultFocus();
        }
        ImGui::EndCombo();
    }
    return changed;
}

void swatch(ImU32 color, const char* text, bool line) {
    ImDrawList* dl = ImGui::GetWindowDrawList();
    ImVec2 p = ImGui::GetCursorScreenPos();
    float h = ImGui::GetTextLineHeight();
    if (line)
        dl->AddLine(ImVec2(p.x, p.y + h * 0.5f), ImVec2(p.x + h * 1.4f, p.y + h * 0.5f), color,
                    2.5f);
    else
        dl->AddCircleFilled(ImVec2(p.x + h * 0.7f, p.y + h * 0.5f), h * 0.32f, color);
    ImGui::Dummy(ImVec2(h * 1.6f, h));
    ImGui::SameLine();
    ImGui::TextUnformatted(text);
}

std::string with_commas(long long v) {
    std::string digits = std::to_string(v < 0 ? -v : v), out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
        out.push_back(digits[i]);
    }
    return v < 0 ? "-" + out : out;
}

}  // namespace fmp
