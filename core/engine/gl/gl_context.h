// OpenGL contexts without a window: EGL (device or surfaceless platform) for servers and CI.
#pragma once
#include <memory>
#include <string>

namespace fmp {

// Loads OpenGL entry points through glad for the current context (any context: GLFW's or EGL's).
// get_proc is the platform's loader (glfwGetProcAddress, eglGetProcAddress). Returns false if the
// context is older than 4.3 core.
bool load_gl_functions(void* (*get_proc)(const char*));

// The current context's GL_RENDERER / GL_VERSION strings.
std::string gl_renderer_string();
std::string gl_version_string();
// True for Mesa's software rasterizers (llvmpipe, softpipe, swrast): far slower than the CPU
// engine for training, so "auto" picks the CPU engine there.
bool gl_renderer_is_software(const std::string& renderer);

// What a strict log (tests) makes of a GL_KHR_debug message: errors, undefined or deprecated
// behaviour and performance warnings that name a misuse (a read-back that migrates a buffer to
// host memory, a stall, a recompile) are failures; informational driver messages (NVIDIA's
// "Buffer detailed info", shader statistics, anything of notification severity) are not, so
// the same tests pass on NVIDIA and on llvmpipe. type and severity are the GL enums.
bool gl_debug_message_is_failure(unsigned type, unsigned severity, const std::string& text);

// Installs a GL_KHR_debug callback that records errors (and, if `fail_on_any`, every message
// gl_debug_message_is_failure calls one); returns the messages recorded since the last call.
void install_gl_debug_log(bool fail_on_any);
std::string take_gl_debug_log();

// A headless OpenGL 4.3 core context through EGL: tries EGL_PLATFORM_DEVICE (a real GPU), then
// EGL_MESA_platform_surfaceless (llvmpipe), then the default display with a pbuffer.
class HeadlessGlContext {
public:
    // nullptr with *error set if no platform gives a 4.3 core context.
    static std::unique_ptr<HeadlessGlContext> create(std::string* error);
    ~HeadlessGlContext();
    void make_current();
    void release_current();
    std::string renderer() const { return m_renderer; }

private:
    HeadlessGlContext() = default;
    void* m_display = nullptr;
    void* m_context = nullptr;
    void* m_surface = nullptr;
    std::string m_renderer;
};

// A second EGL context on the display of the current one, for another thread to draw with: a
// software rasterizer draws on the thread that issues the calls, so two contexts render two
// frames at once. Made on the current thread, then made current on the other one.
class SiblingGlContext {
public:
    // nullptr unless the current context is an EGL one (the headless command, not the window).
    static std::unique_ptr<SiblingGlContext> create_beside_current();
    // Release it on its thread first; never terminates the display (the current context's too).
    ~SiblingGlContext();
    bool make_current();
    void release_current();

private:
    SiblingGlContext() = default;
    void* m_display = nullptr;
    void* m_context = nullptr;
    void* m_surface = nullptr;
};

}  // namespace fmp
