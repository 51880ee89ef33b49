// Where lessons come from: the bundled set embedded at build time and a folder of the user's own.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>

#include "app/lesson/lesson.h"
#include "core/base/resources.h"

namespace fmp {

std::string default_user_lesson_dir() {
    if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x) return (std::filesystem::path(x) / "fmplay" / "lessons").string();
    if (const char* h = std::getenv("HOME"); h && *h)
        return (std::filesystem::path(h) / ".config" / "fmplay" / "lessons").string();
    return "";
}

std::vector<Lesson> available_lessons(const std::string& user_dir, std::vector<LessonError>* errors) {
    std::map<std::string, Lesson> by_name;
    for (const std::string& file : embedded_file_names()) {
        if (file.rfind("lessons/", 0) != 0) continue;
        try {
            Lesson l = parse_lesson(std::string(*embedded_file(file)), file);
            l.origin = "bundled";
            by_name[l.name] = std::move(l);
        } catch (const InputError& e) {
            if (errors) errors->push_back({file, e.what()});
        }
    }
    std::error_code ec;
    if (!user_dir.empty() && std::filesystem::is_directory(user_dir, ec)) {
        std::vector<std::filesystem::path> files;
        for (const auto& entry : std::filesystem::directory_iterator(user_dir, ec))
            if (entry.path().extension() == ".md" && entry.is_regular_file(ec)) files.push_back(entry.path());
        std::sort(files.begin(), files.end());
        for (const auto& path : files) {
            try {
                Lesson l = load_lesson_file(path.string());
                l.origin = path.string();
                by_name[l.name] = std::move(l);
            } catch (const InputError& e) {
                if (errors) errors->push_back({path.string(), e.what()});
            }
        }
    }
    std::vector<Lesson> out;
    for (auto& [name, l] : by_name) out.push_back(std::move(l));
    std::stable_sort(out.begin(), out.end(), [](const Lesson& a, const Lesson& b) { return a.order < b.order; });
    return out;
}

Lesson find_lesson(const std::string& name_or_file, const std::string& user_dir) {
    if (name_or_file.size() > 3 && name_or_file.compare(name_or_file.size() - 3, 3, ".md") == 0) {
        Lesson l = load_lesson_file(name_or_file);
        l.origin = name_or_file;
        return l;
    }
    std::vector<Lesson> all = available_lessons(user_dir);
    std::vector<std::string> names;
    for (Lesson& l : all) {
        if (l.name == name_or_file) return std::move(l);
        names.push_back(l.name);
    }
    throw InputError("no lesson " + quote_for_message(name_or_file) + "; lessons: " + join_names(names));
}

}  // namespace fmp
