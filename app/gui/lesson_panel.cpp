// Lessons in the window: the list, the step's scene and actions, the narration and its question,
// presenter mode, and progress kept in lesson_progress.txt beside the layout file.
#include "app/gui/lesson_panel.h"

#include <GLFW/glfw3.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <thread>

#include "app/gui/main_window.h"
#include "app/gui/narration_view.h"
#include "app/gui/theme.h"
#include "app/gui/widgets.h"
#include "core/base/clock.h"
#include "core/base/file_io.h"

namespace fmp {
namespace {

constexpr ImU32 k_highlight = IM_COL32(255, 190, 70, 255);
constexpr ImU32 k_right = IM_COL32(120, 220, 150, 255);
constexpr ImU32 k_wrong = IM_COL32(255, 130, 120, 255);

bool contains(const std::vector<std::string>& v, const char* s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

// A pulsing amber frame around a highlighted control.
void outline(ImVec2 min, ImVec2 max) {
    const float pulse = 0.6f + 0.4f * std::sin(static_cast<float>(ImGui::GetTime()) * 4.0f);
    ImU32 c = (k_highlight & 0x00FFFFFFu) | (static_cast<ImU32>(255 * pulse) << 24);
    ImGui::GetForegroundDrawList()->AddRect(ImVec2(min.x - 2, min.y - 2), ImVec2(max.x + 2, max.y + 2), c, 5.0f, 0,
                                            2.5f);
}

int64_t parse_count(const std::string& value, const char* key) {
    char* end = nullptr;
    const double v = std::strtod(value.c_str(), &end);
    if (value.empty() || *end != '\0' || !std::isfinite(v) || v < 0 || v > 1e7)
        throw InputError(std::string("--script ") + key + "=" + quote_for_message(value) + " is not a count");
    return static_cast<int64_t>(v);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// [SECTION] Lessons and progress

void LessonPanel::set_settings_dir(const std::string& dir) {
    m_settings_dir = dir;
    m_progress_file = dir.empty() ? std::string() : (std::filesystem::path(dir) / "lesson_progress.txt").string();
    m_progress_loaded = false;
}

void LessonPanel::set_user_dir(const std::string& dir) {
    m_user_dir = dir;
    m_loaded = false;
}

void LessonPanel::load_list() {
    if (m_loaded) return;
    m_loaded = true;
    m_errors.clear();
    m_lessons = available_lessons(m_user_dir.empty() ? default_user_lesson_dir() : m_user_dir, &m_errors);
    m_pick = std::clamp(m_pick, 0, std::max(0, static_cast<int>(m_lessons.size()) - 1));
}

void LessonPanel::load_progress() {
    if (m_progress_loaded) return;
    m_progress_loaded = true;
    m_progress.clear();
    if (m_progress_file.empty() || !std::filesystem::exists(m_progress_file)) return;
    try {
        std::istringstream in(read_file(m_progress_file, 1 << 20));
        std::string name;
        int step = 0, done = 0;
        while (in >> name >> step >> done)
            if (step >= 0 && step < 1000) m_progress[name] = {step, done != 0};
    } catch (const InputError&) {
        // A damaged progress file only loses the bookmarks.
    }
}

void LessonPanel::save_progress() {
    if (m_progress_file.empty() || !active()) return;
    load_progress();
    const Lesson& l = m_lessons[m_lesson];
    auto& p = m_progress[l.name];
    p.first = m_step;
    p.second = p.second || m_step + 1 == static_cast<int>(l.steps.size());
    std::string text;
    for (const auto& [name, q] : m_progress) text += name + " " + std::to_string(q.first) + " " + (q.second ? "1" : "0") + "\n";
    try {
        std::filesystem::create_directories(std::filesystem::path(m_progress_file).parent_path());
        write_file_atomic(m_progress_file, text);
    } catch (const std::exception& e) {
        m_error = std::string("progress not saved: ") + e.what();
    }
}

void LessonPanel::open(GuiApp& app, const std::string& name, bool resume) {
    m_loaded = false;
    load_list();
    int found = -1;
    if (name.size() > 3 && name.compare(name.size() - 3, 3, ".md") == 0) {
        Lesson l = load_lesson_file(name);
        l.origin = name;
        auto it = std::find_if(m_lessons.begin(), m_lessons.end(), [&](const Lesson& x) { return x.name == l.name; });
        if (it != m_lessons.end()) *it = std::move(l), found = static_cast<int>(it - m_lessons.begin());
        else m_lessons.push_back(std::move(l)), found = static_cast<int>(m_lessons.size()) - 1;
    } else {
        std::vector<std::string> names;
        for (std::size_t i = 0; i < m_lessons.size(); ++i) {
            if (m_lessons[i].name == name) found = static_cast<int>(i);
            names.push_back(m_lessons[i].name);
        }
        if (found < 0) throw InputError("no lesson " + quote_for_message(name) + "; lessons: " + join_names(names));
    }
    // Every action is checked before the lesson opens: a step cannot fail halfway for a typo.
    const Lesson& l = m_lessons[found];
    for (std::size_t i = 0; i < l.steps.size(); ++i)
        for (const auto& [key, value] : l.steps[i].actions) {
            try {
                if (key == "wait") {
                    (void)parse_count(value, "wait");
                    continue;
                }
                GuiApp::check_script_item(key, value);
            } catch (const InputError& e) {
                throw InputError(l.name + ", step " + std::to_string(i + 1) + ": action " + key + "=" +
                                 quote_for_message(value) + ": " + e.what());
            }
        }
    m_pick = found;
    m_lesson = found;
    m_refit = true;
    m_intro = parse_narration(l.introduction);
    load_progress();
    int start = 0;
    if (resume) {
        auto it = m_progress.find(l.name);
        if (it != m_progress.end() && !it->second.second) start = std::min(it->second.first, static_cast<int>(l.steps.size()) - 1);
    }
    go_to(app, start);
}

void LessonPanel::close(GuiApp& app) {
    if (m_presenter) app.m_panels = m_panels_before;
    m_presenter = false;
    m_lesson = -1;
    m_queue.clear();
    m_wait_steps = 0;
}

const LessonStep* LessonPanel::step() const {
    if (!active()) return nullptr;
    return &m_lessons[m_lesson].steps[m_step];
}

// ---------------------------------------------------------------------------------------------
// [SECTION] Steps

void LessonPanel::go_to(GuiApp& app, int index) {
    const Lesson& l = m_lessons[m_lesson];
    m_step = std::clamp(index, 0, static_cast<int>(l.steps.size()) - 1);
    const LessonStep& s = l.steps[m_step];
    m_queue.clear();
    m_wait_until = 0.0;
    m_choice = -1;
    m_committed = false;
    m_error.clear();
    m_narration = parse_narration(s.narration);
    m_prompt = s.question ? parse_narration(s.question->prompt) : std::vector<NarrationBlock>{};
    m_explain = s.question ? parse_narration(s.question->explain) : std::vector<NarrationBlock>{};
    // Every step sets up its own canvas: a comparison shows only when the step's actions ask.
    if (app.m_compare->on() || app.m_compare->overrides().any()) {
        app.m_compare->set_overrides(app, CompareOverrides());
        app.m_compare->set_on(app, false);
    }
    const uint64_t generation = app.m_trainer->snapshot().generation;
    try {
        const bool fresh = app.show_scene(s.scene, "lesson " + l.name + ", step " + std::to_string(m_step + 1) + ":");
        m_min_generation = fresh ? generation + 1 : generation;
    } catch (const InputError& e) {
        m_error = one_line_message(e.what());
        return;
    }
    if (s.t) app.m_t = *s.t;
    app.m_playing = s.play;
    m_wait_steps = s.train_steps;
    for (const auto& a : s.actions) m_queue.push_back(a);
    m_to_open.clear();
    for (const auto& h : s.highlight) m_to_open.insert(h);
    m_focus = true;
    save_progress();
}

void LessonPanel::update(GuiApp& app) {
    if (!active()) return;
    const TrainingSnapshot snap = app.m_trainer->snapshot();
    if (m_wait_steps > 0) {
        if (snap.generation < m_min_generation || snap.step < m_wait_steps) {
            if (!app.m_training && !app.m_divergence_open && app.m_trainer->error().empty()) {
                app.m_training = true;
                app.m_trainer->set_running(app.m_steps_per_frame == 0);
            }
            return;
        }
        m_wait_steps = 0;
    }
    while (!m_queue.empty()) {
        const auto [key, value] = m_queue.front();
        if (key == "wait") {
            if (m_wait_until == 0.0) m_wait_until = now_seconds() + static_cast<double>(parse_count(value, "wait"));
            if (now_seconds() < m_wait_until) return;
            m_wait_until = 0.0;
            m_queue.pop_front();
            continue;
        }
        if (key == "compare" && value == "wait") {
            // B catches up with A in the background; the lesson goes on once it has.
            if (!app.m_compare->on()) app.m_compare->set_on(app, true);
            if (app.m_compare->b_step(app) < snap.step) return;
            m_queue.pop_front();
            continue;
        }
        if (key == "train_until") {
            // Waits without holding the window: the class watches training get there.
            if (snap.generation < app.m_trainer->requested_generation() ||
                snap.step < parse_count(value, "train_until")) {
                if (!app.m_training) app.m_training = true, app.m_trainer->set_running(app.m_steps_per_frame == 0);
                return;
            }
            m_queue.pop_front();
            continue;
        }
        m_queue.pop_front();
        run_action(app, key, value);
    }
}

void LessonPanel::run_action(GuiApp& app, const std::string& key, const std::string& value) {
    try {
        app.apply_setting(key, value);
        ++m_actions_run;
    } catch (const std::exception& e) {
        ++m_action_errors;
        m_error = key + "=" + value + ": " + one_line_message(e.what(), 200);
    }
}

void LessonPanel::run_now(GuiApp& app) {
    if (m_wait_steps > 0) {
        // The blocking form of the wait (the script key train_until): for tests and scripts.
        for (int i = 0; i < 12000 && app.m_trainer->snapshot().generation < m_min_generation; ++i) {
            if (app.m_gl_engine) app.m_trainer->pump(20.0);
            else std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        app.apply_setting("train_until", std::to_string(m_wait_steps));
        if (app.m_trainer->snapshot().step < m_wait_steps) {
            ++m_action_errors;
            m_error = "training did not reach step " + std::to_string(m_wait_steps);
        }
        m_wait_steps = 0;
    }
    while (!m_queue.empty()) {
        const auto [key, value] = m_queue.front();
        m_queue.pop_front();
        if (key != "wait") run_action(app, key, value);
    }
}

void LessonPanel::finish(GuiApp& app) {
    if (!active()) return;
    const int n = static_cast<int>(m_lessons[m_lesson].steps.size());
    for (;;) {
        run_now(app);
        if (const LessonStep* s = step(); s && s->question) commit_answer(s->question->answer);
        if (m_step + 1 >= n) break;
        go_to(app, m_step + 1);
        if (!m_error.empty()) ++m_action_errors;
    }
    save_progress();
}

void LessonPanel::commit_answer(int choice) {
    const LessonStep* s = step();
    if (!s || !s->question || m_committed || choice < 0 || choice >= static_cast<int>(s->question->choices.size()))
        return;
    m_choice = choice;
    m_committed = true;
    ++m_answers;
    if (choice == s->question->answer) ++m_right_answers;
}

// ---------------------------------------------------------------------------------------------
// [SECTION] Sections the step points at

bool LessonPanel::section(const char* label, ImGuiTreeNodeFlags flags) {
    const LessonStep* s = step();
    if (s && contains(s->hide, label)) return false;
    const bool lit = s && contains(s->highlight, label);
    if (lit && m_to_open.erase(label) > 0) ImGui::SetNextItemOpen(true, ImGuiCond_Always);
    const bool open = ImGui::CollapsingHeader(label, flags);
    if (lit) outline(ImGui::GetItemRectMin(), ImGui::GetItemRectMax());
    return open;
}

void LessonPanel::outline_if_highlighted(const char* name, ImVec2 min, ImVec2 max) {
    const LessonStep* s = step();
    if (s && contains(s->highlight, name)) outline(min, max);
}

// ---------------------------------------------------------------------------------------------
// [SECTION] Drawing

void LessonPanel::draw_section(GuiApp& app) {
    load_list();
    if (m_lessons.empty()) {
        ImGui::TextDisabled("No lessons found.");
        return;
    }
    std::vector<std::string> labels;
    load_progress();
    for (const Lesson& l : m_lessons) {
        std::string label = std::to_string(&l - m_lessons.data() + 1) + ". " + l.title;
        auto it = m_progress.find(l.name);
        if (it != m_progress.end()) label += it->second.second ? "  ✓" : "  (step " + std::to_string(it->second.first + 1) + ")";
        labels.push_back(label);
    }
    std::vector<std::string> names;
    for (const Lesson& l : m_lessons) names.push_back(l.name);
    ImGui::SetNextItemWidth(-1);
    combo("##lesson", m_pick, names, &labels);
    tip("A lesson walks through one idea of flow matching: each step sets up the canvas, explains what to "
        "look at, and may ask you to predict what happens before it shows you. ✓: finished; (step k): where "
        "you left it.");
    const Lesson& pick = m_lessons[m_pick];
    if (!pick.summary.empty()) ImGui::TextWrapped("%s", pick.summary.c_str());
    ImGui::TextDisabled("%zu steps%s", pick.steps.size(), pick.origin == "bundled" ? "" : " · your own");
    if (ImGui::Button(active() && m_lesson == m_pick ? "Restart" : "Open lesson")) {
        try {
            open(app, pick.name, !(active() && m_lesson == m_pick));
        } catch (const InputError& e) {
            m_error = one_line_message(e.what());
        }
    }
    tip("Opens the lesson where you left it (Restart: from its first step). Page Down / Page Up step "
        "through it; F5 presents it.");
    ImGui::SameLine();
    if (ImGui::Button("Reload")) m_loaded = false;
    ImGui::SameLine();
    if (ImGui::Button("Gallery…")) app.m_start->open(app);
    tip("The start screen: every lesson and example scene as a picture, and the last session to continue.");
    tip(std::string("Reads the lessons again: the bundled ones and your own *.md files in ") +
        (m_user_dir.empty() ? default_user_lesson_dir() : m_user_dir) + " (format: docs/lesson_format.md).");
    for (const LessonError& e : m_errors)
        ImGui::TextColored(ImVec4(1.0f, 0.5f, 0.47f, 1.0f), "%s", one_line_message(e.message, 160).c_str());
    if (!active() && !m_error.empty()) ImGui::TextColored(ImVec4(1.0f, 0.5f, 0.47f, 1.0f), "%s", m_error.c_str());
}

void LessonPanel::draw_body(GuiApp& app, bool large) {
    const Lesson& l = m_lessons[m_lesson];
    const LessonStep& s = l.steps[m_step];
    const UiFonts& f = ui_fonts();
    const int n = static_cast<int>(l.steps.size());
    ImGui::PushFont(large ? f.large : f.regular);
    ImGui::TextDisabled("%s · step %d of %d", l.title.c_str(), m_step + 1, n);
    ImGui::PopFont();
    ImGui::PushFont(large ? f.large_heading : f.heading);
    ImGui::TextWrapped("%s", s.title.c_str());
    ImGui::PopFont();
    ImGui::Spacing();
    if (m_step == 0 && !m_intro.empty()) draw_narration(m_intro, large);
    draw_narration(m_narration, large);

    if (s.question) {
        ImGui::Separator();
        ImGui::PushFont(large ? f.large_bold : f.bold);
        ImGui::TextUnformatted("Predict, then reveal");
        ImGui::PopFont();
        draw_narration(m_prompt, large);
        ImGui::PushFont(large ? f.large : f.regular);
        for (int c = 0; c < static_cast<int>(s.question->choices.size()); ++c) {
            ImGui::PushID(c);
            if (m_committed && c == s.question->answer) ImGui::PushStyleColor(ImGuiCol_Text, k_right);
            else if (m_committed && c == m_choice) ImGui::PushStyleColor(ImGuiCol_Text, k_wrong);
            else ImGui::PushStyleColor(ImGuiCol_Text, ImGui::GetColorU32(ImGuiCol_Text));
            // The label wraps (RadioButton's does not): long answers stay readable.
            if (ImGui::RadioButton("##choice", m_choice == c) && !m_committed) m_choice = c;
            ImGui::SameLine();
            ImGui::TextWrapped("%s", s.question->choices[c].c_str());
            if (ImGui::IsItemClicked() && !m_committed) m_choice = c;
            ImGui::PopStyleColor();
            ImGui::PopID();
        }
        if (!m_committed) {
            ImGui::BeginDisabled(m_choice < 0);
            if (ImGui::Button("Commit my answer")) commit_answer(m_choice);
            ImGui::EndDisabled();
            tip("Decide first: the answer and why show only after you commit.");
        } else {
            const bool right = m_choice == s.question->answer;
            ImGui::PushStyleColor(ImGuiCol_Text, right ? k_right : k_wrong);
            ImGui::TextWrapped("%s", right ? "✓ Right." : ("✗ Not quite: it is “" + s.question->choices[s.question->answer] + "”.").c_str());
            ImGui::PopStyleColor();
        }
        ImGui::PopFont();
        if (m_committed) draw_narration(m_explain, large);
    }

}

void LessonPanel::draw_controls(GuiApp& app, bool large) {
    const UiFonts& f = ui_fonts();
    const int n = static_cast<int>(m_lessons[m_lesson].steps.size());
    ImGui::Separator();
    ImGui::PushFont(large ? f.large : f.regular);
    if (m_wait_steps > 0) {
        const TrainingSnapshot snap = app.m_trainer->snapshot();
        ImGui::TextDisabled("Training to step %s … (%s)", with_commas(m_wait_steps).c_str(), with_commas(snap.step).c_str());
    } else if (!m_queue.empty()) {
        ImGui::TextDisabled("Setting up: %s=%s", m_queue.front().first.c_str(), m_queue.front().second.c_str());
    }
    if (!m_error.empty()) ImGui::TextColored(ImVec4(1.0f, 0.5f, 0.47f, 1.0f), "%s", m_error.c_str());
    ImGui::BeginDisabled(m_step == 0);
    if (ImGui::Button("◀ Previous")) go_to(app, m_step - 1);
    ImGui::EndDisabled();
    tip("The step before (Page Up).");
    ImGui::SameLine();
    if (ImGui::Button("Reset this step")) go_to(app, m_step);
    tip("Sets the step up again: its settings, view and t, and runs its actions again (the network is kept when "
        "its training is the same).");
    ImGui::SameLine();
    ImGui::BeginDisabled(m_step + 1 >= n);
    if (ImGui::Button("Next ▶")) go_to(app, m_step + 1);
    ImGui::EndDisabled();
    tip("The next step (Page Down).");
    ImGui::PopFont();
}

void LessonPanel::draw_window(GuiApp& app) {
    if (!active()) return;
    struct Refit {  // after the window is laid out, so the view fits beside it
        LessonPanel& p;
        GuiApp& app;
        ~Refit() {
            if (p.m_refit && p.active()) app.fit_view(), p.m_refit = false;
        }
    } refit{*this, app};
    const ImGuiIO& io = ImGui::GetIO();
    const float s = app.m_scale;
    const Lesson& l = m_lessons[m_lesson];
    if (m_presenter) {
        // The narration on the right, large; the canvas beside it.
        const float w = std::round(std::clamp(io.DisplaySize.x * 0.36f, 320.0f * s, 900.0f * s));
        m_presenter_w = w * io.DisplayFramebufferScale.x;
        ImGui::SetNextWindowPos(ImVec2(io.DisplaySize.x - w, 0), ImGuiCond_Always);
        ImGui::SetNextWindowSize(ImVec2(w, io.DisplaySize.y), ImGuiCond_Always);
        if (ImGui::Begin("##presenter", nullptr,
                         ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_NoMove | ImGuiWindowFlags_NoSavedSettings)) {
            // The narration scrolls; the controls stay at the bottom.
            const float line = ui_fonts().large->FontSize + ImGui::GetStyle().FramePadding.y * 2 +
                               ImGui::GetStyle().ItemSpacing.y;
            const float footer = line * 3.2f + ui_fonts().regular->FontSize;
            ImGui::BeginChild("##narration", ImVec2(0, -footer), false);
            draw_body(app, true);
            ImGui::EndChild();
            draw_controls(app, true);
            ImGui::PushFont(ui_fonts().large);
            if (ImGui::Button(app.m_playing ? "▮▮" : "▶")) app.m_playing = !app.m_playing;
            ImGui::SameLine();
            ImGui::SetNextItemWidth(-1);
            if (ImGui::SliderFloat("##pt", &app.m_t, 0.0f, 1.0f, "t = %.2f")) app.m_playing = false;
            ImGui::PopFont();
            ImGui::TextDisabled("→ / Page Down next · ← / Page Up back · Esc leaves presenter mode");
        }
        ImGui::End();
        return;
    }
    m_presenter_w = 0.0f;
    const float left = app.m_panels ? app.m_left_w / io.DisplayFramebufferScale.x : 0.0f;
    ImGui::SetNextWindowPos(ImVec2(left + 12 * s, 12 * s), ImGuiCond_Appearing);
    // A fixed width and the height of what the step says (up to most of the window, then it scrolls).
    ImGui::SetNextWindowSize(ImVec2(std::round(400 * s), 0), ImGuiCond_Always);
    ImGui::SetNextWindowSizeConstraints(ImVec2(0, 0), ImVec2(1e6f, io.DisplaySize.y * 0.82f));
    bool open = true;
    const std::string title = "Lesson: " + l.title + "###lesson";
    if (m_focus) ImGui::SetNextWindowFocus();  // above the windows the step's actions opened
    m_focus = false;
    if (ImGui::Begin(title.c_str(), &open, 0)) {
        // The step list: jump anywhere.
        std::vector<std::string> names, labels;
        for (std::size_t i = 0; i < l.steps.size(); ++i) {
            names.push_back(std::to_string(i));
            labels.push_back(std::to_string(i + 1) + ". " + l.steps[i].title);
        }
        int pick = m_step;
        ImGui::SetNextItemWidth(ImGui::GetContentRegionAvail().x - 120 * s);
        if (combo("##steps", pick, names, &labels)) go_to(app, pick);
        tip("Every step of the lesson: pick one to jump to it (its settings come with it).");
        ImGui::SameLine();
        if (ImGui::Button("Present (F5)")) {
            m_presenter = true;
            m_panels_before = app.m_panels;
            app.m_panels = false;
            m_refit = true;
        }
        tip("Presenter mode: large narration, every panel hidden, the canvas beside it; → / ← or a clicker's "
            "Page Down / Page Up step; Esc returns.");
        draw_body(app, false);
        draw_controls(app, false);
        // Only a window near the canvas's left edge pushes the fitted view aside.
        const ImVec2 p = ImGui::GetWindowPos(), size = ImGui::GetWindowSize();
        m_window_right = p.x < left + io.DisplaySize.x * 0.25f ? (p.x + size.x) * io.DisplayFramebufferScale.x : 0.0f;
    }
    ImGui::End();
    if (!open) close(app);
}

bool LessonPanel::handle_keys(GuiApp& app) {
    if (!active()) return false;
    const ImGuiIO& io = ImGui::GetIO();
    if (io.WantTextInput) return false;
    const int n = static_cast<int>(m_lessons[m_lesson].steps.size());
    bool took = false;
    const bool next = ImGui::IsKeyPressed(GLFW_KEY_PAGE_DOWN, false) || (m_presenter && ImGui::IsKeyPressed(GLFW_KEY_RIGHT, false));
    const bool back = ImGui::IsKeyPressed(GLFW_KEY_PAGE_UP, false) || (m_presenter && ImGui::IsKeyPressed(GLFW_KEY_LEFT, false));
    if (next && m_step + 1 < n) go_to(app, m_step + 1);
    if (back && m_step > 0) go_to(app, m_step - 1);
    took = m_presenter;  // in presenter mode the arrows step, they do not scrub t
    if (ImGui::IsKeyPressed(GLFW_KEY_F5, false)) {
        m_presenter = !m_presenter;
        if (m_presenter) m_panels_before = app.m_panels, app.m_panels = false;
        else app.m_panels = m_panels_before;
        m_refit = true;
    }
    if (m_presenter && ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_Escape), false)) {
        m_presenter = false;
        app.m_panels = m_panels_before;
        m_refit = true;
    }
    return took;
}

// ---------------------------------------------------------------------------------------------
// [SECTION] Scripts and report

const std::vector<std::string>& LessonPanel::script_keys() {
    static const std::vector<std::string> keys = {"lesson",         "lesson_step", "lesson_answer", "lesson_finish",
                                                  "presenter",      "lesson_progress", "lessons_dir"};
    return keys;
}

void LessonPanel::check_script(const std::string& key, const std::string& value) {
    if (key == "lesson_step" && value != "next" && value != "prev" && value != "reset" && value != "last") {
        const int64_t k = parse_count(value, "lesson_step");
        if (k < 1) throw InputError("--script lesson_step takes next, prev, reset, last or a step 1..");
    }
    if (key == "lesson_answer") (void)parse_count(value, "lesson_answer");
    if (key == "lesson_finish" && value != "wait") throw InputError("--script lesson_finish takes wait");
    if (key == "presenter" && value != "on" && value != "off") throw InputError("--script presenter takes on or off");
    if (key == "lesson" && value.empty()) throw InputError("--script lesson takes a lesson's name or close");
}

bool LessonPanel::apply_script(GuiApp& app, const std::string& key, const std::string& value) {
    if (name_index(script_keys(), key) < 0) return false;
    if (key == "lessons_dir") {
        set_user_dir(value);
    } else if (key == "lesson_progress") {
        m_progress_file = value;
        m_progress_loaded = false;
    } else if (key == "lesson") {
        if (value == "close") close(app);
        else open(app, value);
    } else if (!active()) {
        throw InputError("--script " + key + ": no lesson is open");
    } else if (key == "lesson_step") {
        const int n = static_cast<int>(m_lessons[m_lesson].steps.size());
        if (value == "next") go_to(app, std::min(m_step + 1, n - 1));
        else if (value == "prev") go_to(app, std::max(m_step - 1, 0));
        else if (value == "reset") go_to(app, m_step);
        else if (value == "last") go_to(app, n - 1);
        else go_to(app, static_cast<int>(parse_count(value, "lesson_step")) - 1);
    } else if (key == "lesson_answer") {
        commit_answer(static_cast<int>(parse_count(value, "lesson_answer")));
    } else if (key == "lesson_finish") {
        finish(app);
    } else if (key == "presenter") {
        const bool on = value == "on";
        if (on != m_presenter) {
            m_presenter = on;
            if (on) m_panels_before = app.m_panels, app.m_panels = false;
            else app.m_panels = m_panels_before;
            m_refit = true;
        }
    }
    return true;
}

void LessonPanel::print_report() const {
    if (!active()) return;
    const Lesson& l = m_lessons[m_lesson];
    std::printf("lesson: %s\nlesson step: %d/%zu\nlesson actions run: %d\nlesson action errors: %d\n"
                "lesson answers: %d (%d right)\npresenter: %s\n",
                l.name.c_str(), m_step + 1, l.steps.size(), m_actions_run, m_action_errors, m_answers,
                m_right_answers, m_presenter ? "on" : "off");
    if (!m_error.empty()) std::printf("lesson error: %s\n", m_error.c_str());
}

}  // namespace fmp
