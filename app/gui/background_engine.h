// An engine for one of the window's background threads: a GL engine in a headless context of that thread on a GPU, else the CPU engine.
#pragma once
#include <memory>
#include <string>

#include "core/engine/engine.h"
#include "core/engine/gl/gl_context.h"

namespace fmp {

// The window's GL context belongs to its own thread, so a background job that wants the GPU (the
// instruments, reflow pairs) makes a headless context of its own, current on the job's thread
// for the engine's life. Make, use and destroy it on one thread.
class BackgroundEngine {
  public:
    // gpu: try the GPU first; the CPU engine if no context or GL engine can be had (label() says
    // why).
    explicit BackgroundEngine(bool gpu);
    ~BackgroundEngine();  // the engine first, then its context
    BackgroundEngine(const BackgroundEngine&) = delete;
    BackgroundEngine& operator=(const BackgroundEngine&) = delete;

    Engine& engine() { return *m_engine; }
    bool on_gpu() const { return m_context != nullptr; }
    // "GPU: <renderer>", "CPU", or "CPU (no GPU context: <why>)".
    const std::string& label() const { return m_label; }

  private:
    std::unique_ptr<HeadlessGlContext> m_context;
    std::unique_ptr<Engine> m_engine;
    std::string m_label;
};

}  // namespace fmp
