// Reading lesson files: the title, the JSON header and steps, the narration between them, and the
// scene each step shows (the presets merged up to it).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "app/lesson/lesson.h"
#include "core/base/file_io.h"

namespace fmp {
namespace {

using nlohmann::json;

// Where an error is: "flow-basics.md, step 3 'Noise at t = 0': ".
struct Where {
    std::string source;
    int step = 0;  // 0: the header
    std::string title;
    std::string prefix() const {
        if (step == 0) return source + ": ";
        return source + ", step " + std::to_string(step) + " " + quote_for_message(title) + ": ";
    }
};

json parse_json_block(const std::string& text, const Where& at, const char* what) {
    try {
        json j = json::parse(text);
        if (!j.is_object()) throw InputError(at.prefix() + "the " + what + " block must be a JSON object");
        return j;
    } catch (const json::exception& e) {
        throw InputError(at.prefix() + "the " + what + " block is not valid JSON (" +
                         one_line_message(e.what(), 160) + ")");
    }
}

void check_keys(const json& j, const std::vector<std::string>& allowed, const Where& at, const char* what) {
    for (const auto& [key, value] : j.items())
        if (name_index(allowed, key) < 0)
            throw InputError(at.prefix() + "unknown " + what + " key " + quote_for_message(key) +
                             " (valid: " + join_names(allowed) + ")");
}

std::string string_field(const json& j, const char* key, const Where& at, std::size_t max_chars) {
    const json& v = j.at(key);
    if (!v.is_string()) throw InputError(at.prefix() + key + " must be a string");
    std::string s = v.get<std::string>();
    if (s.size() > max_chars)
        throw InputError(at.prefix() + key + " is longer than " + std::to_string(max_chars) + " characters");
    return s;
}

std::vector<std::string> sections_field(const json& j, const char* key, const Where& at) {
    std::vector<std::string> out;
    const json& v = j.at(key);
    if (!v.is_array()) throw InputError(at.prefix() + key + " must be a list of section names");
    for (const json& e : v) {
        if (!e.is_string() || name_index(lesson_section_names(), e.get<std::string>()) < 0)
            throw InputError(at.prefix() + key + ": " + quote_for_message(e.dump()) +
                             " is not a section (valid: " + join_names(lesson_section_names()) + ")");
        out.push_back(e.get<std::string>());
    }
    return out;
}

LessonQuestion parse_question(const json& j, const Where& at) {
    if (!j.is_object()) throw InputError(at.prefix() + "question must be an object");
    check_keys(j, {"prompt", "choices", "answer", "explain"}, at, "question");
    for (const char* k : {"prompt", "choices", "answer"})
        if (!j.contains(k)) throw InputError(at.prefix() + "question." + k + " is missing");
    LessonQuestion q;
    q.prompt = string_field(j, "prompt", at, 2000);
    if (j.contains("explain")) q.explain = string_field(j, "explain", at, 4000);
    const json& c = j.at("choices");
    if (!c.is_array() || c.size() < 2 || c.size() > 6)
        throw InputError(at.prefix() + "question.choices must be a list of 2 to 6 answers");
    for (const json& e : c) {
        if (!e.is_string() || e.get<std::string>().empty() || e.get<std::string>().size() > 300)
            throw InputError(at.prefix() + "question.choices must be non-empty strings of at most 300 characters");
        q.choices.push_back(e.get<std::string>());
    }
    const json& a = j.at("answer");
    if (!a.is_number_integer() || a.get<int64_t>() < 0 || a.get<int64_t>() >= static_cast<int64_t>(q.choices.size()))
        throw InputError(at.prefix() + "question.answer must be the index of one of its " +
                         std::to_string(q.choices.size()) + " choices (0-based)");
    q.answer = a.get<int>();
    return q;
}

// One "## " section of the file: its title, the step block (if any) and the narration.
struct RawStep {
    std::string title;
    std::string block;  // the ```step JSON ("" when none)
    bool has_block = false;
    std::string narration;
};

std::string trim(const std::string& s) {
    const auto b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return "";
    const auto e = s.find_last_not_of(" \t\r\n");
    return s.substr(b, e - b + 1);
}

bool valid_name(const std::string& s) {
    if (s.empty() || s.size() > 40) return false;
    return std::all_of(s.begin(), s.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

}  // namespace

const std::vector<std::string>& lesson_section_names() {
    static const std::vector<std::string> names = {
        "Session", "Data",     "Probability path", "Coupling",          "What the network predicts",
        "Classes & guidance", "Training", "Loss", "Network", "Particles", "Velocity arrows",
        "Paths",   "Density and markers", "Why it works", "Legend", "Export", "Time bar", "Side by side"};
    return names;
}

Lesson parse_lesson(const std::string& text, const std::string& source_name) {
    Where at{source_name, 0, ""};
    if (text.find('\0') != std::string::npos) throw InputError(at.prefix() + "not a text file");
    Lesson lesson;
    std::string header;
    bool has_header = false;
    std::string intro;
    std::vector<RawStep> raw;

    // Splits the lines into the title, the header, the introduction and the steps. Fences are
    // tracked so that a "## " inside a code block stays narration.
    std::istringstream in(text);
    std::string line;
    std::string fence;       // the open fence's info ("lesson", "step" or other) while inside one
    bool in_fence = false;
    std::string block;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        std::string* narration = raw.empty() ? &intro : &raw.back().narration;
        const std::string t = trim(line);
        if (in_fence) {
            if (t.rfind("```", 0) == 0 && trim(t.substr(3)).empty()) {
                in_fence = false;
                if (fence == "lesson") {
                    if (has_header) throw InputError(at.prefix() + "more than one lesson block");
                    if (!raw.empty()) throw InputError(at.prefix() + "the lesson block must come before the first step");
                    header = block, has_header = true;
                } else if (fence == "step") {
                    if (raw.empty()) throw InputError(at.prefix() + "a step block before the first \"## \" step heading");
                    if (raw.back().has_block)
                        throw InputError(at.prefix() + "step " + std::to_string(raw.size()) + " has two step blocks");
                    raw.back().block = block, raw.back().has_block = true;
                } else {
                    *narration += line + "\n";
                }
                continue;
            }
            if (fence == "lesson" || fence == "step") block += line + "\n";
            else *narration += line + "\n";
            continue;
        }
        if (t.rfind("```", 0) == 0) {
            in_fence = true;
            fence = trim(t.substr(3));
            block.clear();
            if (fence != "lesson" && fence != "step") *narration += line + "\n";
            continue;
        }
        if (line.rfind("# ", 0) == 0 && lesson.title.empty() && raw.empty()) {
            lesson.title = trim(line.substr(2));
            continue;
        }
        if (line.rfind("## ", 0) == 0) {
            RawStep s;
            s.title = trim(line.substr(3));
            if (s.title.empty()) throw InputError(at.prefix() + "step " + std::to_string(raw.size() + 1) + " has no title");
            raw.push_back(std::move(s));
            continue;
        }
        *narration += line + "\n";
    }
    if (in_fence) throw InputError(at.prefix() + "a ``` block is not closed");
    if (lesson.title.empty()) throw InputError(at.prefix() + "no title (a first line \"# Title\")");
    if (lesson.title.size() > 120) throw InputError(at.prefix() + "the title is longer than 120 characters");
    if (!has_header) throw InputError(at.prefix() + "no ```lesson block with the lesson's name");
    if (raw.empty()) throw InputError(at.prefix() + "no steps (each starts with a \"## \" heading)");
    if (raw.size() > 100) throw InputError(at.prefix() + "more than 100 steps");

    const json h = parse_json_block(header, at, "lesson");
    check_keys(h, {"name", "order", "summary", "base"}, at, "lesson");
    if (!h.contains("name")) throw InputError(at.prefix() + "the lesson block has no name");
    lesson.name = string_field(h, "name", at, 40);
    if (!valid_name(lesson.name))
        throw InputError(at.prefix() + "name " + quote_for_message(lesson.name) +
                         " must be 1-40 characters of a-z, 0-9 and -");
    if (h.contains("order")) {
        if (!h["order"].is_number_integer() || std::abs(h["order"].get<int64_t>()) > 1000000)
            throw InputError(at.prefix() + "order must be an integer");
        lesson.order = h["order"].get<int>();
    }
    if (h.contains("summary")) lesson.summary = string_field(h, "summary", at, 300);
    lesson.introduction = trim(intro);

    // The scene every step starts from: scene.json's defaults with the window's learning rate,
    // then the lesson's base.
    json scene = json::object();
    scene["training"] = {{"lr", 0.002}};
    if (h.contains("base")) {
        if (!h["base"].is_object()) throw InputError(at.prefix() + "base must be a partial scene.json object");
        scene.merge_patch(h["base"]);
    }
    try {
        (void)export_settings_from_json(scene.dump(), at.prefix() + "base");
    } catch (const InputError& e) {
        throw InputError(one_line_message(e.what()));
    }

    int64_t train_steps = 1500;
    for (std::size_t i = 0; i < raw.size(); ++i) {
        at.step = static_cast<int>(i) + 1;
        at.title = raw[i].title;
        LessonStep step;
        step.title = raw[i].title;
        if (step.title.size() > 120) throw InputError(at.prefix() + "the title is longer than 120 characters");
        step.narration = trim(raw[i].narration);
        json j = raw[i].has_block ? parse_json_block(raw[i].block, at, "step") : json::object();
        check_keys(j, {"preset", "t", "play", "train_steps", "actions", "highlight", "hide", "question"}, at, "step");
        step.preset_json = "{}";
        if (j.contains("preset")) {
            if (!j["preset"].is_object()) throw InputError(at.prefix() + "preset must be a partial scene.json object");
            scene.merge_patch(j["preset"]);
            step.preset_json = j["preset"].dump();
        }
        if (j.contains("t")) {
            const json& v = j["t"];
            if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0 || v.get<double>() > 1)
                throw InputError(at.prefix() + "t must be a number in 0..1");
            step.t = v.get<float>();
        }
        if (j.contains("play")) {
            if (!j["play"].is_boolean()) throw InputError(at.prefix() + "play must be true or false");
            step.play = j["play"].get<bool>();
        }
        if (j.contains("train_steps")) {
            const json& v = j["train_steps"];
            if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > 1000000)
                throw InputError(at.prefix() + "train_steps must be a step count 0..1000000");
            train_steps = v.get<int64_t>();
        }
        step.train_steps = train_steps;
        if (j.contains("actions")) {
            if (!j["actions"].is_array()) throw InputError(at.prefix() + "actions must be a list of \"KEY=VALUE\" strings");
            for (const json& a : j["actions"]) {
                const std::string s = a.is_string() ? a.get<std::string>() : std::string();
                const auto eq = s.find('=');
                if (!a.is_string() || eq == std::string::npos || eq == 0 || s.find(';') != std::string::npos)
                    throw InputError(at.prefix() + "action " + quote_for_message(a.dump()) + " is not \"KEY=VALUE\"");
                step.actions.emplace_back(s.substr(0, eq), s.substr(eq + 1));
            }
        }
        if (j.contains("highlight")) step.highlight = sections_field(j, "highlight", at);
        if (j.contains("hide")) step.hide = sections_field(j, "hide", at);
        if (j.contains("question")) step.question = parse_question(j["question"], at);
        try {
            step.scene = export_settings_from_json(scene.dump(), at.prefix() + "preset");
        } catch (const InputError& e) {
            throw InputError(one_line_message(e.what()));
        }
        step.scene.train.steps = static_cast<int>(std::max<int64_t>(1, step.train_steps));  // an export trains at least one step
        if (step.t) step.scene.figure_t = *step.t;
        step.scene.title = step.title;
        lesson.steps.push_back(std::move(step));
    }
    return lesson;
}

Lesson load_lesson_file(const std::string& path) {
    return parse_lesson(read_file(path, std::size_t(1) << 20), path);
}

std::string step_file_stem(int index, const std::string& title) {
    char number[16];
    std::snprintf(number, sizeof number, "%02d", index + 1);
    std::string stem = number;
    bool dash = true;
    for (unsigned char c : title) {
        if (std::isalnum(c) && c < 128) {
            if (dash) stem += '-';
            stem += static_cast<char>(std::tolower(c));
            dash = false;
        } else {
            dash = true;
        }
        if (stem.size() > 60) break;
    }
    return stem;
}

}  // namespace fmp
