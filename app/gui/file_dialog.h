// Choosing a file to open or save: the desktop's own dialog (zenity) when there is one, else an
// in-app browser drawn with ImGui.
#pragma once
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace fmp {

// One entry of a folder as the in-app browser lists it.
struct FolderEntry {
    std::string name;
    bool directory = false;
};
// The folder's subfolders, then its files ending in `extension` (all files when it is empty),
// each group sorted by name; hidden entries (a leading dot) left out. Empty when the folder cannot
// be read.
std::vector<FolderEntry> list_folder(const std::string& folder, const std::string& extension);

class FileDialog {
  public:
    enum class Mode { Open, Save };
    ~FileDialog();

    // Starts choosing (nothing when one is already open). The desktop's dialog runs on a thread
    // of its own, so the window keeps drawing; without one (or with FMPLAY_FILE_DIALOG=builtin)
    // the in-app browser opens.
    void start(Mode mode, const std::string& title, const std::string& start_path, const std::string& extension);
    // Call every frame: draws the in-app browser while it is open, and returns the chosen path
    // once it is chosen (nothing while choosing, after a cancel, or when idle).
    std::optional<std::string> poll();
    bool active() const { return m_native_running || m_builtin_open; }
    // zenity on the PATH and a display to show it on.
    static bool native_available();

  private:
    void draw_builtin();

    Mode m_mode = Mode::Open;
    std::string m_title, m_extension;
    // The desktop's dialog, on a thread that owns a share of its answer: a window closed while
    // zenity is still open leaves the thread to finish on its own.
    struct NativeAnswer {
        std::atomic<bool> done{false};
        std::string path;  // written before done
    };
    std::thread m_thread;
    std::shared_ptr<NativeAnswer> m_answer;
    bool m_native_running = false;
    // The in-app browser.
    bool m_builtin_open = false, m_builtin_popup_pending = false;
    std::string m_folder;
    char m_name[256] = "";
    std::vector<FolderEntry> m_entries;
    std::optional<std::string> m_builtin_result;
};

}  // namespace fmp
