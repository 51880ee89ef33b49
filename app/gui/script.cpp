// Scripted settings changes (--script "FRAME:KEY=VALUE;..."): how tests and demos drive the
// window frame by frame through the same paths as its controls.
#include <algorithm>
#include <chrono>
#include <thread>
#include <cstdlib>
#include <sstream>

#include "app/gui/main_window.h"

namespace fmp {

namespace {

float number_value(const std::string& key, const std::string& value) {
    char* end = nullptr;
    float v = std::strtof(value.c_str(), &end);
    if (value.empty() || *end != '\0')
        throw InputError("--script " + key + "=" + quote_for_message(value) + " is not a number");
    return v;
}

}  // namespace

void GuiApp::check_script_item(const std::string& key, const std::string& value) {
    static const std::vector<std::string> keys = [] {
        std::vector<std::string> k = {"target", "source", "path",  "coupling", "solver",
                                      "steps",  "views",  "time",  "train",    "play",
                                      "lr",     "width",  "depth", "continue",
                                      "batch",  "reset",  "export", "figure", "train_until", "step",
                                      "export_wait"};
        for (const auto& d : DrawPanel::script_keys()) k.push_back(d);
        for (const auto& d : InstrumentsPanel::script_keys()) k.push_back(d);
        for (const auto& d : SolverLabPanel::script_keys()) k.push_back(d);
        for (const auto& d : CnfRacePanel::script_keys()) k.push_back(d);
        for (const auto& d : CouplingPlanPanel::script_keys()) k.push_back(d);
        for (const auto& d : ReflowPanel::script_keys()) k.push_back(d);
        for (const auto& d : SdePanel::script_keys()) k.push_back(d);
        for (const auto& d : ClassesPanel::script_keys()) k.push_back(d);
        for (const auto& d : SessionPanel::script_keys()) k.push_back(d);
        for (const auto& d : LessonPanel::script_keys()) k.push_back(d);
        for (const auto& d : StartScreen::script_keys()) k.push_back(d);
        for (const auto& d : CompareView::script_keys()) k.push_back(d);
        for (const char* d : {"ot_reg", "sb_sigma", "ot_batch", "prediction"}) k.push_back(d);
        k.push_back("tolerance");
        return k;
    }();
    if (name_index(keys, key) < 0)
        throw InputError("unknown --script key '" + key + "'; valid keys: " + join_names(keys));
    // Values that would stop the window mid-run are checked now, before it opens.
    if (key == "lr") validate_learning_rate(number_value(key, value));
    if (name_index(InstrumentsPanel::script_keys(), key) >= 0)
        InstrumentsPanel::check_script(key, value);
    if (name_index(CnfRacePanel::script_keys(), key) >= 0) CnfRacePanel::check_script(key, value);
    if (name_index(CouplingPlanPanel::script_keys(), key) >= 0) CouplingPlanPanel::check_script(key, value);
    if (name_index(ReflowPanel::script_keys(), key) >= 0) ReflowPanel::check_script(key, value);
    if (name_index(SdePanel::script_keys(), key) >= 0) SdePanel::check_script(key, value);
    if (name_index(ClassesPanel::script_keys(), key) >= 0) ClassesPanel::check_script(key, value);
    if (name_index(LessonPanel::script_keys(), key) >= 0) LessonPanel::check_script(key, value);
    if (name_index(StartScreen::script_keys(), key) >= 0) StartScreen::check_script(key, value);
    if (name_index(CompareView::script_keys(), key) >= 0) CompareView::check_script(key, value);
    if (key == "ot_reg" || key == "sb_sigma" || key == "ot_batch") {
        CouplingOptions c;
        if (key == "ot_reg") c.ot_reg = static_cast<float>(number_value(key, value));
        if (key == "sb_sigma") c.sb_sigma = static_cast<float>(number_value(key, value));
        if (key == "ot_batch") c.ot_batch = static_cast<int>(number_value(key, value));
        c.validate();
    }
    if (key == "coupling" && name_index(coupling_names(), value) < 0)
        throw InputError("--script coupling=" + quote_for_message(value) +
                         ": valid: " + join_names(coupling_names()));
    if (key == "prediction") (void)make_prediction(value);
    if (key == "paint_class") {
        const float k = number_value(key, value);
        if (k < 0 || k >= k_max_classes || k != static_cast<float>(static_cast<int>(k)))
            throw InputError("--script paint_class must be a class 0.." + std::to_string(k_max_classes - 1));
    }
    if (key == "tolerance") validate_tolerance(number_value(key, value));
    if (key == "step") {
        const float n = number_value(key, value);
        if (n < 1 || n > 1e6f) throw InputError("--script step must be a step count 1..1000000");
    }
    if (key == "train_until") {
        const float n = number_value(key, value);
        if (n < 0 || n > 1e7f) throw InputError("--script train_until must be a step count 0..10000000");
    }
    if (key == "batch") validate_batch_size(static_cast<int>(number_value(key, value)));
    if (key == "width" || key == "depth") {
        MlpConfig c;
        (key == "width" ? c.width : c.depth) = static_cast<int>(number_value(key, value));
        c.validate();
    }
}

void GuiApp::parse_script(const std::string& text) {
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, ';')) {
        auto colon = item.find(':');
        auto eq = item.find('=');
        if (colon == std::string::npos || eq == std::string::npos || eq < colon)
            throw InputError("bad --script item '" + item + "'; expected FRAME:KEY=VALUE");
        check_script_item(item.substr(colon + 1, eq - colon - 1), item.substr(eq + 1));
        m_script.emplace_back(std::atoi(item.substr(0, colon).c_str()), item.substr(colon + 1));
    }
}

void GuiApp::apply_setting(const std::string& key, const std::string& value) {
    if (m_draw->apply_script(*this, key, value)) return;
    if (m_instruments->apply_script(*this, key, value)) return;
    if (m_solver_lab->apply_script(*this, key, value)) return;
    if (m_cnf_race->apply_script(*this, key, value)) return;
    if (m_coupling_plan->apply_script(*this, key, value)) return;
    if (m_reflow->apply_script(*this, key, value)) return;
    if (m_sde->apply_script(*this, key, value)) return;
    if (m_classes->apply_script(*this, key, value)) return;
    if (m_session->apply_script(*this, key, value)) return;
    if (m_lessons->apply_script(*this, key, value)) return;
    if (m_start->apply_script(*this, key, value)) return;
    if (m_compare->apply_script(*this, key, value)) return;
    auto pick = [&](const std::vector<std::string>& names, int& slot) {
        int i = name_index(names, value);
        if (&names == &dataset_names() && (value == "drawn" || value == "custom"))
            i = DrawPanel::custom_index();
        if (i < 0)
            throw InputError("unknown " + key + " '" + value + "'; valid: " + join_names(names));
        slot = i;
    };
    if (key == "target")
        pick(dataset_names(), m_settings.target), reset_training();
    else if (key == "source")
        pick(dataset_names(), m_settings.source), reset_training();
    else if (key == "path")
        pick(path_names(), m_settings.path), reset_training();
    else if (key == "coupling")
        pick(coupling_names(), m_settings.coupling), apply_coupling();
    else if (key == "ot_reg")
        m_settings.ot_reg = std::strtof(value.c_str(), nullptr), apply_coupling();
    else if (key == "sb_sigma")
        m_settings.sb_sigma = std::strtof(value.c_str(), nullptr), apply_coupling();
    else if (key == "ot_batch")
        m_settings.ot_batch = std::atoi(value.c_str()), apply_coupling();
    else if (key == "prediction")
        apply_prediction(static_cast<int>(make_prediction(value)));
    else if (key == "solver")
        pick(solver_names(), m_settings.solver), update_spec();
    else if (key == "steps")
        m_settings.solver_steps = std::clamp(std::atoi(value.c_str()), 1, 1000), update_spec();
    else if (key == "tolerance")
        m_settings.solver_tolerance =
            std::clamp(std::strtof(value.c_str(), nullptr), k_min_tolerance, k_max_tolerance),
        update_spec();
    else if (key == "views")
        apply_views(value, m_scene_options, &m_panels);
    else if (key == "time")
        m_t = std::clamp(static_cast<float>(std::atof(value.c_str())), 0.0f, 1.0f),
        m_playing = false;
    else if (key == "train_until") {
        // Blocks the script until training has taken this many steps: tests that need a trained
        // network however fast (or busy) the machine is. Gives up after five minutes.
        const int64_t n = static_cast<int64_t>(std::atof(value.c_str()));
        m_training = true;
        m_trainer->set_running(m_steps_per_frame == 0);
        // A reset asked for but not applied yet (a setting earlier in the script) would let
        // the old network's step count pass the wait.
        auto waiting = [&] {
            const TrainingSnapshot snap = m_trainer->snapshot();
            return (snap.generation < m_trainer->requested_generation() || snap.step < n) &&
                   m_trainer->error().empty();
        };
        for (int i = 0; i < 12000 && waiting(); ++i) {
            if (m_gl_engine) m_trainer->pump(20.0);
            else std::this_thread::sleep_for(std::chrono::milliseconds(25));
        }
    } else if (key == "step") {
        // Exactly N more training steps with free training paused (as the Step button), waited
        // for: tests that compare runs step for step.
        const int n = std::atoi(value.c_str());
        m_training = false;
        m_trainer->set_running(false);
        for (int i = 0; i < 12000 && m_trainer->snapshot().generation < m_trainer->requested_generation() &&
                        m_trainer->error().empty();
             ++i) {
            if (m_gl_engine) m_trainer->pump(20.0);
            else std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        for (int done = 0; done < n;) {
            const int chunk = std::min(n - done, 64);
            const int64_t until = m_trainer->snapshot().step + chunk;
            m_trainer->step_once(chunk);
            for (int i = 0; i < 12000 && m_trainer->snapshot().step < until && m_trainer->error().empty(); ++i) {
                if (m_gl_engine) m_trainer->pump(20.0);
                else std::this_thread::sleep_for(std::chrono::milliseconds(5));
            }
            done += chunk;
        }
    } else if (key == "train" && (value == "on" || value == "1") && m_divergence_open)
        resume_after_divergence(false);
    else if (key == "train")
        m_training = value == "on" || value == "1",
        m_trainer->set_running(m_training && m_steps_per_frame == 0);
    else if (key == "lr")
        m_settings.lr = std::strtof(value.c_str(), nullptr),
        m_trainer->set_learning_rate(m_settings.lr);
    else if (key == "width")
        m_settings.width = std::atoi(value.c_str()), reset_training();
    else if (key == "depth")
        m_settings.depth = std::atoi(value.c_str()), reset_training();
    else if (key == "continue") {
        // The "Continue with lr = lr/10" button. Training runs on another thread, so a script
        // cannot know the frame a divergence shows up in: before one, this answers the next.
        if (m_divergence_open)
            resume_after_divergence(true);
        else
            m_continue_armed = true;
    } else if (key == "play")
        m_playing = value == "on" || value == "1";
    else if (key == "batch")
        m_settings.batch = std::atoi(value.c_str()), m_trainer->set_batch_size(m_settings.batch);
    else if (key == "reset")
        reset_training();
    else if (key == "export")
        m_export->export_to(*this, value);
    else if (key == "export_wait")
        m_export->wait();
    else if (key == "figure")
        m_export->figure_to(*this, value);
    else
        throw InputError("unknown --script key '" + key + "'");
}

void GuiApp::apply_script(int frame) {
    for (const auto& [at, item] : m_script) {
        if (at != frame) continue;
        auto eq = item.find('=');
        apply_setting(item.substr(0, eq), item.substr(eq + 1));
    }
}

}  // namespace fmp
