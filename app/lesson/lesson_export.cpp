// Rendering a lesson's steps to clips and figures with the export job, one training per network.
#include "app/lesson/lesson_export.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <cstdlib>
#include <map>
#include <optional>

#include "app/export/export_job.h"
#include "app/export/side_by_side_export.h"
#include "app/run/training_run.h"
#include "core/engine/engine.h"
#include "core/engine/gl/gl_context.h"

namespace fmp {
namespace {

// What decides the network a step shows: its data, network and training settings.
std::string training_key(const ExportSettings& s) {
    const nlohmann::json j = nlohmann::json::parse(export_settings_to_json(s));
    nlohmann::json key;
    for (const char* k : {"data", "network", "training", "model"})
        if (j.contains(k)) key[k] = j[k];
    return key.dump();
}

ExportModel train_model(const ExportSettings& s) {
    const TrainSetup setup = resolve_train_options(s.train);
    auto engine = make_cpu_engine();
    TrainResult r = train_with_progress(*engine, setup, s.train.steps, /*quiet=*/true);
    ExportModel m;
    m.mlp = r.model.mlp;
    m.params = r.model.params;
    m.step = r.model.steps_trained;
    return m;
}

// B's scene when the step's actions set up a side-by-side comparison (compare=on|wait and the
// compare_* keys, as the window reads them).
std::optional<ExportSettings> compared_scene(const LessonStep& step, const ExportSettings& a) {
    bool on = false;
    ExportSettings b = a;
    for (const auto& [key, value] : step.actions) {
        if (key == "compare") on = value != "off";
        const bool same = value == "same";
        if (key == "compare_path") b.train.path = same ? a.train.path : value;
        if (key == "compare_coupling") b.train.coupling = same ? a.train.coupling : value;
        if (key == "compare_prediction") b.train.prediction = same ? a.train.prediction : value;
        if (key == "compare_solver") b.solver = same ? a.solver : value;
        if (key == "compare_steps") b.solver_steps = std::atoi(value.c_str()) > 0 ? std::atoi(value.c_str()) : a.solver_steps;
    }
    if (!on) return std::nullopt;
    b.validate();
    return b;
}

}  // namespace

LessonExportResult export_lesson(const Lesson& lesson, const std::string& dir, const LessonExportOptions& o,
                                 const LessonExportLog& log) {
    namespace fs = std::filesystem;
    const fs::path folder(dir);
    std::error_code ec;
    if (!folder.parent_path().empty() && !fs::is_directory(folder.parent_path(), ec))
        throw InputError("cannot write lesson to " + quote_for_message(dir) + ": its parent folder does not exist");
    if (fs::exists(folder, ec) && !fs::is_directory(folder, ec))
        throw InputError("cannot write lesson to " + quote_for_message(dir) + ": it is a file");
    fs::create_directories(folder, ec);
    if (ec) throw InputError("cannot create " + quote_for_message(dir) + ": " + ec.message());

    // Every step's settings first, so a bad override stops before any work.
    std::vector<ExportSettings> scenes;
    for (const LessonStep& step : lesson.steps) {
        ExportSettings s = step.scene;
        if (o.width > 0) s.video.width = o.width;
        if (o.height > 0) s.video.height = o.height;
        if (o.fps > 0) s.video.fps = o.fps;
        if (o.duration > 0) {
            // A shorter clip keeps its rests in proportion (at most 40 % of it).
            s.duration = o.duration;
            const double holds = s.hold_start + s.hold_end;
            if (holds > 0.4 * s.duration) {
                s.hold_start *= 0.4 * s.duration / holds;
                s.hold_end *= 0.4 * s.duration / holds;
            }
        }
        if (o.particles > 0) s.particles = o.particles;
        s.mode = ExportMode::Sweep;
        s.engine = "cpu";
        s.validate();
        check_export_settings(s);
        scenes.push_back(std::move(s));
    }

    std::string error;
    auto context = HeadlessGlContext::create(&error);
    if (!context) throw std::runtime_error("no OpenGL 4.3 context to render with: " + error);
    context->make_current();

    LessonExportResult result;
    std::map<std::string, ExportModel> trained;
    const int n = static_cast<int>(lesson.steps.size());
    for (int i = 0; i < n; ++i) {
        const ExportSettings& s = scenes[i];
        const std::string tag = "step " + std::to_string(i + 1) + "/" + std::to_string(n);
        const std::string key = training_key(s);
        auto it = trained.find(key);
        if (it == trained.end()) {
            if (log) log(tag + ": training " + std::to_string(s.train.steps) + " steps (" + s.train.source + " -> " + s.train.target + ")");
            it = trained.emplace(key, train_model(s)).first;
            ++result.trainings;
        }
        const std::string stem = (folder / step_file_stem(i, lesson.steps[i].title)).string();
        if (std::optional<ExportSettings> b = compared_scene(lesson.steps[i], s)) {
            // The step compares two flows: both halves, B trained as its own network unless only
            // its solver differs.
            const std::string key_b = training_key(*b);
            auto jt = trained.find(key_b);
            if (jt == trained.end()) {
                if (log) log(tag + ": training B " + std::to_string(b->train.steps) + " steps");
                jt = trained.emplace(key_b, train_model(*b)).first;
                ++result.trainings;
            }
            ExportSettings a = s;
            if (a.title == lesson.steps[i].title) a.title = "A · " + a.title, b->title = "B";
            if (!o.figures_only) {
                if (log) log(tag + ": clip " + stem + ".mp4 (A | B)");
                SideBySideExport job(a, *b, stem + ".mp4", it->second, jt->second);
                while (!job.pump(1000.0)) {
                }
                result.clips.push_back(stem + ".mp4");
            }
            if (log) log(tag + ": figure " + stem + ".png (A | B)");
            render_side_by_side_figure(a, *b, stem + ".png", it->second, jt->second);
            result.figures.push_back(stem + ".png");
            continue;
        }
        if (!o.figures_only) {
            if (log) log(tag + ": clip " + stem + ".mp4");
            auto sink = FrameSink::open(stem + ".mp4", s.video);
            if (!run_export(s, *sink, {}, nullptr, it->second)) throw std::runtime_error("the export was cancelled");
            result.clips.push_back(stem + ".mp4");
        }
        if (log) log(tag + ": figure " + stem + ".png");
        render_figure(s, stem + ".png", it->second);
        result.figures.push_back(stem + ".png");
    }
    return result;
}

}  // namespace fmp
