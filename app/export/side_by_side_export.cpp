// Side-by-side clips: two stills per frame, composed, encoded.
#include "app/export/side_by_side_export.h"

#include <chrono>
#include <cstring>

namespace fmp {

namespace {

// Two half frames (top row first) side by side, with a thin divider between them.
void compose(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b, int half, int height,
             std::vector<uint8_t>& frame) {
    frame.resize(static_cast<std::size_t>(2 * half) * height * 4);
    const std::size_t row = static_cast<std::size_t>(half) * 4;
    for (int y = 0; y < height; ++y) {
        std::memcpy(frame.data() + y * 2 * row, a.data() + y * row, row);
        std::memcpy(frame.data() + y * 2 * row + row, b.data() + y * row, row);
        for (int x = half - 1; x <= half; ++x) {
            uint8_t* p = frame.data() + (static_cast<std::size_t>(y) * 2 * half + x) * 4;
            p[0] = p[1] = p[2] = 150;
            p[3] = 255;
        }
    }
}

// The settings of one half: a's clip, size and view; each its own flow and title.
ExportSettings half_settings(const ExportSettings& own, const ExportSettings& a, int half) {
    ExportSettings s = own;
    s.video = a.video;
    s.video.width = half;
    s.mode = ExportMode::Sweep;
    s.fit = a.fit;
    s.center_x = a.center_x;
    s.center_y = a.center_y;
    s.view_height = a.view_height;
    s.figure_t = a.figure_t;
    s.validate();
    return s;
}

}  // namespace

SideBySideExport::SideBySideExport(const ExportSettings& a, const ExportSettings& b, const std::string& out_path,
                                   std::optional<ExportModel> model_a, std::optional<ExportModel> model_b,
                                   SceneRenderer* renderer)
    : m_a(a), m_b(b) {
    m_half = std::max(2, (a.video.width / 2) & ~1);
    m_height = a.video.height;
    m_a = half_settings(a, a, m_half);
    m_b = half_settings(b, a, m_half);
    VideoSettings full = a.video;
    full.width = 2 * m_half;
    m_sink = FrameSink::open(out_path, full);
    m_total = m_a.frame_count();
    m_job_a = std::make_unique<ExportJob>(m_a, nullptr, std::move(model_a), nullptr, false, renderer);
    m_job_b = std::make_unique<ExportJob>(m_b, nullptr, std::move(model_b), nullptr, false, renderer);
}

SideBySideExport::~SideBySideExport() {
    if (!m_done) cancel();
}

const std::string& SideBySideExport::path() const { return m_sink->path(); }

void SideBySideExport::cancel() {
    m_job_a.reset();
    m_job_b.reset();
    if (m_sink) m_sink->cancel();
    m_done = true;
}


void render_side_by_side_figure(const ExportSettings& a, const ExportSettings& b, const std::string& out_path,
                                std::optional<ExportModel> model_a, std::optional<ExportModel> model_b) {
    const int half = std::max(2, (a.video.width / 2) & ~1);
    const ExportSettings sa = half_settings(a, a, half), sb = half_settings(b, a, half);
    ExportJob ja(sa, nullptr, std::move(model_a)), jb(sb, nullptr, std::move(model_b));
    std::vector<uint8_t> frame;
    compose(ja.render_still(a.figure_t), jb.render_still(a.figure_t), half, a.video.height, frame);
    write_image(out_path, frame.data(), 2 * half, a.video.height, 2 * half * 4, true);
}

bool SideBySideExport::pump(double budget_ms) {
    if (m_done) return true;
    const auto start = std::chrono::steady_clock::now();
    std::vector<uint8_t> frame;
    do {
        const float t = frame_time(m_a, m_frame, m_total).t;
        compose(m_job_a->render_still(t), m_job_b->render_still(t), m_half, m_height, frame);
        m_sink->add_frame(frame.data(), 2 * m_half * 4, true);
        ++m_frame;
    } while (m_frame < m_total &&
             std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() < budget_ms);
    if (m_frame >= m_total) {
        m_job_a.reset();
        m_job_b.reset();
        m_sink->finish();
        m_done = true;
    }
    return m_done;
}

}  // namespace fmp
