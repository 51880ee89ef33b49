// A background thread's engine: a headless GL context made current on the thread and a GL engine in it, or the CPU engine.
#include "app/gui/background_engine.h"

#include <stdexcept>

#include "core/engine/gl/gl_engine.h"

namespace fmp {

BackgroundEngine::BackgroundEngine(bool gpu) {
    if (gpu) {
        try {
            std::string error;
            m_context = HeadlessGlContext::create(&error);
            if (!m_context) throw std::runtime_error(error);
            m_context->make_current();
            m_engine = make_gl_engine();
            m_label = "GPU: " + m_context->renderer();
            return;
        } catch (const std::exception& e) {
            m_engine.reset();
            m_context.reset();
            m_label = std::string("CPU (no GPU context: ") + e.what() + ")";
        }
    }
    m_engine = make_cpu_engine();
    if (m_label.empty()) m_label = "CPU";
}

BackgroundEngine::~BackgroundEngine() {
    m_engine.reset();
    m_context.reset();
}

}  // namespace fmp
