// Sessions in the window: save the work to a .fmplay file and open one (Ctrl+S / Ctrl+O, the
// Session section, --session, scripts), and an autosave that a crash cannot corrupt.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "app/gui/file_dialog.h"
#include "app/session/session_file.h"

namespace fmp {

class GuiApp;

class SessionPanel {
  public:
    // The Session section: the file, Save, Open, and what happened last.
    void draw_section(GuiApp& app);
    // Ctrl+S saves, Ctrl+O opens the file named in the section.
    void handle_keys(GuiApp& app);
    // Per frame: the autosave (every minute while the work changes) and restoring a
    // loss history once the trainer has taken an opened session.
    void update(GuiApp& app);

    // The window's work as a session (throws InputError before the first weights exist).
    Session capture(GuiApp& app);
    // Saves to `path`; false (and a message in the window) when it failed.
    bool save(GuiApp& app, const std::string& path);
    // Opens `path`; on any error the window keeps its state and shows one line.
    bool open(GuiApp& app, const std::string& path);
    // Puts a session into the window (throws InputError, before changing anything, when the
    // window cannot take it).
    void apply(GuiApp& app, const Session& session);

    // The autosave file in the settings directory (empty when there is none, e.g. test runs).
    void set_settings_dir(const std::string& dir) {
        m_dir = dir;
        m_recent_loaded = false;
    }
    std::string autosave_path() const;
    const std::string& path() const { return m_path_text; }

    // The files opened or saved lately, newest first (kept beside the autosave).
    const std::vector<std::string>& recent() const { return m_recent; }

    // --script keys: session_save=PATH, session_open=PATH, session_dialog=open|save (the file
    // dialog, for screenshots of the in-app browser), autosave=DIR,SECONDS (where and how often:
    // tests of a kill during the autosave).
    static const std::vector<std::string>& script_keys();
    bool apply_script(GuiApp& app, const std::string& key, const std::string& value);

  private:
    void remember(const std::string& path);  // a recent file
    void load_recent();

    FileDialog m_dialog;
    FileDialog::Mode m_dialog_mode = FileDialog::Mode::Open;
    std::vector<std::string> m_recent;
    bool m_recent_loaded = false;
    std::string m_path_text = "work.fmplay";
    char m_path[512] = "work.fmplay";
    std::string m_status;  // the last save or open, or why it failed
    bool m_status_error = false;
    std::string m_dir;
    double m_last_autosave = 0.0;
    double m_autosave_seconds = 60.0;  // a script may set another interval
    int64_t m_autosaved_step = -1;
    // An opened session's loss history, put back once the trainer has reset to it.
    std::vector<LossRecord> m_pending_losses;
    uint64_t m_pending_generation = 0;
    bool m_losses_pending = false;
};

}  // namespace fmp
