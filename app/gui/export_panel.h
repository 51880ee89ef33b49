// The window's Export section: video/GIF/PNG-frames export and PNG figures of the current view,
// with progress, ETA and Cancel while the window keeps running.
#pragma once
#include <memory>
#include <string>

#include "app/export/export_job.h"
#include "app/export/side_by_side_export.h"
#include "app/export/export_settings.h"

namespace fmp {

class GuiApp;

// State of the Export section, kept by the window; draw() is its only entry. Frames are rendered
// on the window's GL thread a few at a time (ExportJob::pump with a small time budget per UI
// frame) and encoded on the job's own thread, so the UI stays responsive during an export.
class ExportPanel {
  public:
    ExportPanel();
    ~ExportPanel();  // cancels an unfinished export (needs the window's GL context current)
    ExportPanel(const ExportPanel&) = delete;
    ExportPanel& operator=(const ExportPanel&) = delete;

    // Draws the "Export" header and its contents inside the current ImGui window, and advances a
    // running export. Call once per UI frame on the GL thread (also while the header is closed).
    void draw(GuiApp& app);
    bool busy() const { return m_job != nullptr || m_side != nullptr; }
    // Runs the export in progress to its end on this thread (scripts: export_wait).
    void wait();
    // What the Export and Save figure buttons do, to a given file (scripted runs: --script
    // export=FILE, figure=FILE); errors show in the panel as they would after a click.
    void export_to(GuiApp& app, const std::string& out);
    void figure_to(GuiApp& app, const std::string& out);
    // The panel's last status line ("Saved …", an error), for the --report.
    const std::string& message() const { return m_message; }
    // The window's state as export settings: data, network, training, particles, view, layers
    // (also a saved session's settings).
    ExportSettings settings_from_window(const GuiApp& app) const;

  private:
    ExportModel model_from_window(const GuiApp& app) const;
    void start(GuiApp& app);
    void save_figure(GuiApp& app);
    void pump();
    void stop(const std::string& message, bool error);

    ExportSettings m_settings;   // video, overlays, mode; the rest comes from the window
    char m_out[512] = "fmplay-export.mp4";
    char m_config[512] = "scene.json";
    char m_figure[512] = "fmplay-figure.png";
    char m_title[256] = "";
    int m_format = 0;            // 0 mp4, 1 gif, 2 png frames
    int m_resolution = 0;        // 0 720p, 1 1080p, 2 square, 3 custom
    bool m_window_layers = true; // draw what the window shows
    bool m_window_view = false;  // the window's view instead of fitting the data
    std::unique_ptr<FrameSink> m_sink;
    std::unique_ptr<ExportJob> m_job;
    std::unique_ptr<SideBySideExport> m_side;  // side by side on: both halves in one clip
    std::string m_message;
    bool m_message_error = false;
};

}  // namespace fmp
