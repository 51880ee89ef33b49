// The file dialog: zenity on a thread when the desktop has it, the in-app folder browser otherwise.
#include "app/gui/file_dialog.h"

#include <imgui.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "app/gui/widgets.h"

namespace fmp {
namespace {

namespace fs = std::filesystem;

// A shell word: single quotes, with each ' written as '\''.
std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) {
        if (c == '\'')
            out += "'\\''";
        else
            out += c;
    }
    out += '\'';
    return out;
}

bool on_path(const char* program) {
    const char* path = std::getenv("PATH");
    if (!path) return false;
    std::string dirs = path;
    std::size_t start = 0;
    while (start <= dirs.size()) {
        const std::size_t end = std::min(dirs.find(':', start), dirs.size());
        const fs::path candidate = fs::path(dirs.substr(start, end - start)) / program;
        std::error_code ec;
        if (end > start && fs::is_regular_file(candidate, ec)) return true;
        start = end + 1;
    }
    return false;
}

}  // namespace

std::vector<FolderEntry> list_folder(const std::string& folder, const std::string& extension) {
    std::vector<FolderEntry> dirs, files;
    std::error_code ec;
    for (auto it = fs::directory_iterator(folder, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::directory_iterator(); it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (name.empty() || name[0] == '.') continue;
        std::error_code type_ec;
        if (it->is_directory(type_ec)) {
            dirs.push_back({name, true});
        } else if (extension.empty() ||
                   (name.size() > extension.size() &&
                    name.compare(name.size() - extension.size(), extension.size(), extension) == 0)) {
            files.push_back({name, false});
        }
    }
    auto by_name = [](const FolderEntry& a, const FolderEntry& b) { return a.name < b.name; };
    std::sort(dirs.begin(), dirs.end(), by_name);
    std::sort(files.begin(), files.end(), by_name);
    dirs.insert(dirs.end(), files.begin(), files.end());
    return dirs;
}

bool FileDialog::native_available() {
    const char* choice = std::getenv("FMPLAY_FILE_DIALOG");
    if (choice && std::string(choice) == "builtin") return false;
    const char* display = std::getenv("DISPLAY");
    const char* wayland = std::getenv("WAYLAND_DISPLAY");
    if (!(display && *display) && !(wayland && *wayland)) return false;
    return on_path("zenity");
}

FileDialog::~FileDialog() {
    if (!m_thread.joinable()) return;
    if (m_answer && m_answer->done)
        m_thread.join();
    else
        m_thread.detach();  // zenity still open: it ends with the display, its answer unread
}

void FileDialog::start(Mode mode, const std::string& title, const std::string& start_path,
                       const std::string& extension) {
    if (active()) return;
    m_mode = mode;
    m_title = title;
    m_extension = extension;
    const fs::path start = fs::absolute(start_path.empty() ? fs::path(".") : fs::path(start_path));
    if (native_available()) {
        if (m_thread.joinable()) m_thread.join();
        std::string command = "zenity --file-selection --title=" + shell_quote(title) +
                              " --filename=" + shell_quote(start.string()) +
                              (mode == Mode::Save ? " --save --confirm-overwrite" : "") +
                              (extension.empty() ? "" : " --file-filter=" + shell_quote("*" + extension)) +
                              " 2>/dev/null";
        m_answer = std::make_shared<NativeAnswer>();
        m_native_running = true;
        m_thread = std::thread([answer = m_answer, command] {
            std::string out;
            if (FILE* p = popen(command.c_str(), "r")) {
                char buf[4096];
                while (std::fgets(buf, sizeof buf, p)) out += buf;
                // A cancel exits non-zero with nothing printed.
                if (pclose(p) != 0) out.clear();
            }
            while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
            answer->path = out;
            answer->done = true;
        });
        return;
    }
    std::error_code ec;
    m_folder = fs::is_directory(start, ec) ? start.string() : start.parent_path().string();
    const std::string name = fs::is_directory(start, ec) ? std::string() : start.filename().string();
    std::snprintf(m_name, sizeof m_name, "%s", name.c_str());
    m_entries = list_folder(m_folder, m_extension);
    m_builtin_open = true;
    m_builtin_popup_pending = true;
    m_builtin_result.reset();
}

std::optional<std::string> FileDialog::poll() {
    if (m_native_running && m_answer && m_answer->done) {
        m_native_running = false;
        if (m_thread.joinable()) m_thread.join();
        if (!m_answer->path.empty()) return m_answer->path;
        return std::nullopt;
    }
    if (m_builtin_open) draw_builtin();
    if (m_builtin_result) {
        std::optional<std::string> out;
        out.swap(m_builtin_result);
        return out;
    }
    return std::nullopt;
}

void FileDialog::draw_builtin() {
    const char* id = "Choose a file##fmplay_file_dialog";
    if (m_builtin_popup_pending) {
        ImGui::OpenPopup(id);
        m_builtin_popup_pending = false;
    }
    const ImGuiViewport* vp = ImGui::GetMainViewport();
    ImGui::SetNextWindowPos(ImVec2(vp->Pos.x + vp->Size.x * 0.5f, vp->Pos.y + vp->Size.y * 0.5f), ImGuiCond_Appearing,
                            ImVec2(0.5f, 0.5f));
    ImGui::SetNextWindowSize(ImVec2(vp->Size.x * 0.45f, vp->Size.y * 0.6f), ImGuiCond_Appearing);
    if (!ImGui::BeginPopupModal(id, nullptr, ImGuiWindowFlags_NoSavedSettings)) {
        m_builtin_open = false;
        return;
    }
    ImGui::TextUnformatted(m_title.c_str());
    ImGui::TextDisabled("%s", m_folder.c_str());
    if (ImGui::Button("Up")) {
        m_folder = fs::path(m_folder).parent_path().string();
        m_entries = list_folder(m_folder, m_extension);
    }
    ImGui::SameLine();
    if (ImGui::Button("Home")) {
        const char* home = std::getenv("HOME");
        if (home) m_folder = home, m_entries = list_folder(m_folder, m_extension);
    }
    const float footer = ImGui::GetFrameHeightWithSpacing() * 2.2f;
    ImGui::BeginChild("entries", ImVec2(0, -footer), true);
    std::string enter;
    for (const FolderEntry& e : m_entries) {
        const std::string label = e.directory ? e.name + "/" : e.name;
        if (ImGui::Selectable(label.c_str(), !e.directory && e.name == m_name,
                              ImGuiSelectableFlags_AllowDoubleClick)) {
            if (e.directory) {
                enter = e.name;
            } else {
                std::snprintf(m_name, sizeof m_name, "%s", e.name.c_str());
                if (ImGui::IsMouseDoubleClicked(0)) m_builtin_result = (fs::path(m_folder) / m_name).string();
            }
        }
    }
    if (m_entries.empty()) ImGui::TextDisabled("no %s files here", m_extension.c_str());
    ImGui::EndChild();
    if (!enter.empty()) {
        m_folder = (fs::path(m_folder) / enter).string();
        m_entries = list_folder(m_folder, m_extension);
    }
    ImGui::SetNextItemWidth(-ImGui::GetFontSize() * 12.0f);
    const bool typed = ImGui::InputText("##name", m_name, sizeof m_name, ImGuiInputTextFlags_EnterReturnsTrue);
    ImGui::SameLine();
    const bool ok = ImGui::Button(m_mode == Mode::Save ? "Save" : "Open") || typed;
    ImGui::SameLine();
    const bool cancel =
        ImGui::Button("Cancel") || ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_Escape), false);
    if (ok && m_name[0] != '\0') {
        std::string name = m_name;
        // A name typed without the extension gets it when saving.
        if (m_mode == Mode::Save && !m_extension.empty() &&
            (name.size() < m_extension.size() ||
             name.compare(name.size() - m_extension.size(), m_extension.size(), m_extension) != 0))
            name += m_extension;
        m_builtin_result = (fs::path(m_folder) / name).string();
    }
    if (m_builtin_result || cancel) {
        m_builtin_open = false;
        ImGui::CloseCurrentPopup();
    }
    ImGui::EndPopup();
}

}  // namespace fmp
