// Side-by-side clips: two stills per frame, composed, encoded.
#include "app/export/side_by_side_export.h"

#include <chrono>
#include <cstring>

namespace fmp {

SideBySideExport::SideBySideExport(const ExportSettings& a, const ExportSettings& b, const std::string& out_path,
                                   std::optional<ExportModel> model_a, std::optional<ExportModel> model_b,
                                   SceneRenderer* renderer)
    : m_a(a), m_b(b) {
    m_half = std::max(2, (a.video.width / 2) & ~1);
    m_height = a.video.height;
    for (ExportSettings* s : {&m_a, &m_b}) {
        s->video = a.video;
        s->video.width = m_half;
        s->mode = ExportMode::Sweep;
        s->fit = a.fit;
        s->center_x = a.center_x;
        s->center_y = a.center_y;
        s->view_height = a.view_height;
        s->validate();
    }
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

bool SideBySideExport::pump(double budget_ms) {
    if (m_done) return true;
    const auto start = std::chrono::steady_clock::now();
    std::vector<uint8_t> frame(static_cast<std::size_t>(2 * m_half) * m_height * 4);
    do {
        const float t = frame_time(m_a, m_frame, m_total).t;
        const std::vector<uint8_t> a = m_job_a->render_still(t);
        const std::vector<uint8_t> b = m_job_b->render_still(t);
        const std::size_t row = static_cast<std::size_t>(m_half) * 4;
        for (int y = 0; y < m_height; ++y) {
            std::memcpy(frame.data() + y * 2 * row, a.data() + y * row, row);
            std::memcpy(frame.data() + y * 2 * row + row, b.data() + y * row, row);
            // A thin divider between the halves.
            for (int x = m_half - 1; x <= m_half; ++x) {
                uint8_t* p = frame.data() + (static_cast<std::size_t>(y) * 2 * m_half + x) * 4;
                p[0] = p[1] = p[2] = 150;
                p[3] = 255;
            }
        }
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
