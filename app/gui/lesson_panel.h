// The Lessons panel: pick a lesson, step through it (narration, the step's scene and actions, a
// question to answer before the reveal), presenter mode, and progress kept between runs.
#pragma once
#include <imgui.h>

#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "app/lesson/lesson.h"
#include "app/lesson/narration.h"

namespace fmp {

class GuiApp;

class LessonPanel {
  public:
    // Where progress is kept (lesson_progress.txt) and the user's own lessons (--lessons).
    void set_settings_dir(const std::string& dir);
    void set_user_dir(const std::string& dir);

    // Opens a lesson (by name, or a .md file) at the step it was left at (or its first). Throws
    // InputError naming the lessons there are, or the lesson's error (an action the window refuses).
    void open(GuiApp& app, const std::string& name, bool resume = true);
    void close(GuiApp& app);
    bool active() const { return m_lesson >= 0; }
    bool presenter() const { return active() && m_presenter; }

    void draw_section(GuiApp& app);  // "Lessons" in the left panel: the list and Open
    void draw_window(GuiApp& app);   // the lesson's window (narration, steps, question)
    void update(GuiApp& app);        // each frame: the current step's actions and waits
    // Page Down / Page Up (and → / ← in presenter mode) step; F5 presenter mode; Escape leaves it.
    // True when it took the arrow keys this frame.
    bool handle_keys(GuiApp& app);

    // A section header (ImGui::CollapsingHeader) that the current step may hide or highlight.
    bool section(const char* label, ImGuiTreeNodeFlags flags);
    // Outlines the last item when the step highlights `name` (the time bar's frame).
    void outline_if_highlighted(const char* name, ImVec2 min, ImVec2 max);
    // Framebuffer pixels of the right edge the presenter narration covers (the canvas fits beside it).
    float presenter_width_px() const { return presenter() ? m_presenter_w : 0.0f; }
    // Framebuffer x of the lesson window's right edge while it floats over the canvas's left side
    // (the view fits beside it), else 0.
    float window_right_px() const { return active() && !m_presenter ? m_window_right : 0.0f; }

    void print_report() const;  // lesson lines of --report

    static const std::vector<std::string>& script_keys();
    static void check_script(const std::string& key, const std::string& value);
    bool apply_script(GuiApp& app, const std::string& key, const std::string& value);

    void load_list();  // the bundled lessons and the user's (once; Reload reads them again)
    const std::vector<Lesson>& lessons() const { return m_lessons; }

  private:
    const LessonStep* step() const;
    void go_to(GuiApp& app, int index);
    void run_now(GuiApp& app);      // the step's waits and actions at once (scripts, tests)
    void run_action(GuiApp& app, const std::string& key, const std::string& value);  // counted, errors kept
    void finish(GuiApp& app);       // every remaining step, each run at once, answered right
    void commit_answer(int choice);
    void load_progress();
    void save_progress();
    void draw_body(GuiApp& app, bool large);      // the step's title, narration and question
    void draw_controls(GuiApp& app, bool large);  // progress, errors, Previous / Reset / Next

    std::string m_settings_dir, m_user_dir, m_progress_file;
    bool m_loaded = false;
    std::vector<Lesson> m_lessons;
    std::vector<LessonError> m_errors;
    int m_pick = 0;
    int m_lesson = -1;  // into m_lessons
    int m_step = 0;
    // The step's parsed narration (and its question's).
    std::vector<NarrationBlock> m_narration, m_intro, m_prompt, m_explain;
    // What the step still runs: training up to m_wait_steps (from generation m_min_generation on),
    // then the actions in order.
    int64_t m_wait_steps = 0;
    uint64_t m_min_generation = 0;
    std::deque<std::pair<std::string, std::string>> m_queue;
    double m_wait_until = 0.0;
    std::set<std::string> m_to_open;  // highlighted sections to open once
    int m_choice = -1;
    bool m_committed = false;
    bool m_presenter = false;
    bool m_panels_before = true;
    float m_presenter_w = 0.0f;
    float m_window_right = 0.0f;
    bool m_refit = false;
    bool m_focus = false;  // bring the window to the front once (a step just opened)  // fit the view once the window is laid out
    std::string m_error;
    // progress: lesson name -> (step reached, finished)
    std::map<std::string, std::pair<int, bool>> m_progress;
    bool m_progress_loaded = false;
    // For the report.
    int m_actions_run = 0, m_action_errors = 0, m_answers = 0, m_right_answers = 0;
};

}  // namespace fmp
