// Two flows in one video (A | B): each half rendered by its own export job at the same t, the
// frames put side by side with a divider, then encoded; for the window's side-by-side view and
// `fmplay render --compare`.
#pragma once
#include <memory>
#include <optional>
#include <string>

#include "app/export/export_job.h"

namespace fmp {

class SideBySideExport {
  public:
    // `a` sets the clip (size, duration, fps, timing); b draws its own flow at the same moments.
    // Each half is a.video.width / 2 wide (even). Models: the lanes' weights (else each trains).
    // Throws InputError (one line) for bad settings or an output that cannot be written.
    SideBySideExport(const ExportSettings& a, const ExportSettings& b, const std::string& out_path,
                     std::optional<ExportModel> model_a = {}, std::optional<ExportModel> model_b = {},
                     SceneRenderer* renderer = nullptr);
    ~SideBySideExport();
    // Renders frames for about budget_ms (at least one); true once the file is complete.
    bool pump(double budget_ms);
    void cancel();
    int frames_done() const { return m_frame; }
    int total_frames() const { return m_total; }
    const std::string& path() const;

  private:
    ExportSettings m_a, m_b;
    std::unique_ptr<ExportJob> m_job_a, m_job_b;
    std::unique_ptr<FrameSink> m_sink;
    int m_half = 0, m_height = 0;
    int m_frame = 0, m_total = 0;
    bool m_done = false;
};

// One figure of both flows at a.figure_t (A left, B right, each half a.video.width / 2 wide),
// written atomically. Needs the GL context current.
void render_side_by_side_figure(const ExportSettings& a, const ExportSettings& b, const std::string& out_path,
                                std::optional<ExportModel> model_a = {}, std::optional<ExportModel> model_b = {});

}  // namespace fmp
