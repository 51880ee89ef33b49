// Headless OpenGL through EGL (device or surfaceless platform), the glad loader and the debug log.
#include "core/engine/gl/gl_context.h"

#include <glad/egl.h>
#include <glad/gl.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <mutex>
#include <vector>

namespace fmp {

bool load_gl_functions(void* (*get_proc)(const char*)) {
    int version = gladLoadGL(reinterpret_cast<GLADloadfunc>(get_proc));
    if (version == 0) return false;
    return GLAD_VERSION_MAJOR(version) > 4 ||
           (GLAD_VERSION_MAJOR(version) == 4 && GLAD_VERSION_MINOR(version) >= 3);
}

static std::string gl_string(GLenum name) {
    if (!glad_glGetString) return {};
    const GLubyte* s = glGetString(name);
    return s ? reinterpret_cast<const char*>(s) : std::string();
}

std::string gl_renderer_string() {
    return gl_string(GL_RENDERER);
}
std::string gl_version_string() {
    return gl_string(GL_VERSION);
}

bool gl_renderer_is_software(const std::string& renderer) {
    std::string r = renderer;
    std::transform(r.begin(), r.end(), r.begin(), [](unsigned char c) { return std::tolower(c); });
    for (const char* name : {"llvmpipe", "softpipe", "swrast", "software rasterizer", "lavapipe"})
        if (r.find(name) != std::string::npos) return true;
    return false;
}

// ---- debug log: the callback may run on a driver thread, so the log is guarded.
namespace {
std::mutex g_log_mutex;
std::string g_log;
bool g_fail_on_any = false;

const char* severity_name(GLenum s) {
    switch (s) {
        case GL_DEBUG_SEVERITY_HIGH:
            return "high";
        case GL_DEBUG_SEVERITY_MEDIUM:
            return "medium";
        case GL_DEBUG_SEVERITY_LOW:
            return "low";
        default:
            return "notification";
    }
}

void GLAD_API_PTR debug_callback(GLenum source, GLenum type, GLuint id, GLenum severity,
                                 GLsizei length, const GLchar* message, const void*) {
    (void)source;
    std::string text =
        length >= 0 ? std::string(message, static_cast<size_t>(length)) : std::string(message);
    const bool record = type == GL_DEBUG_TYPE_ERROR ||
                        (g_fail_on_any && gl_debug_message_is_failure(type, severity, text));
    if (!record) return;
    char head[96];
    std::snprintf(head, sizeof head, "GL debug [%s, type 0x%x, id %u]: ", severity_name(severity),
                  type, id);
    std::lock_guard<std::mutex> lock(g_log_mutex);
    g_log += head + text + "\n";
}
}  // namespace

bool gl_debug_message_is_failure(unsigned type, unsigned severity, const std::string& text) {
    if (type == GL_DEBUG_TYPE_ERROR) return true;
    if (severity == GL_DEBUG_SEVERITY_NOTIFICATION) return false;
    switch (type) {
        case GL_DEBUG_TYPE_UNDEFINED_BEHAVIOR:
        case GL_DEBUG_TYPE_DEPRECATED_BEHAVIOR:
            return true;
        case GL_DEBUG_TYPE_PERFORMANCE: {
            if (severity == GL_DEBUG_SEVERITY_HIGH || severity == GL_DEBUG_SEVERITY_MEDIUM) return true;
            std::string t = text;
            std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return std::tolower(c); });
            for (const char* misuse : {"to host memory", "stall", "synchroniz", "recompil", "fallback"})
                if (t.find(misuse) != std::string::npos) return true;
            return false;
        }
        default:
            // Portability notes, markers and driver statistics inform; only a high one fails.
            return severity == GL_DEBUG_SEVERITY_HIGH;
    }
}

void install_gl_debug_log(bool fail_on_any) {
    g_fail_on_any = fail_on_any;
    if (!glad_glDebugMessageCallback) return;
    // Non-debug contexts still deliver messages once GL_DEBUG_OUTPUT is on (Mesa and NVIDIA);
    // synchronous output attributes each message to the call that caused it.
    glEnable(GL_DEBUG_OUTPUT);
    glEnable(GL_DEBUG_OUTPUT_SYNCHRONOUS);
    glDebugMessageCallback(debug_callback, nullptr);
    glDebugMessageControl(GL_DONT_CARE, GL_DONT_CARE, GL_DONT_CARE, 0, nullptr, GL_TRUE);
}

std::string take_gl_debug_log() {
    std::string out;
    {
        std::lock_guard<std::mutex> lock(g_log_mutex);
        out.swap(g_log);
    }
    // glGetError catches errors even where no callback is installed.
    if (glad_glGetError) {
        for (GLenum e = glGetError(); e != GL_NO_ERROR; e = glGetError()) {
            char line[64];
            std::snprintf(line, sizeof line, "glGetError: 0x%04x\n", e);
            out += line;
        }
    }
    return out;
}

// ---- EGL
namespace {

struct EglAttempt {
    EGLDisplay display = EGL_NO_DISPLAY;
    std::string platform;
};

// Creates a 4.3 core context on an initialised display: surfaceless if the display allows it,
// else with a 1x1 pbuffer. Returns false with the reason.
bool create_on_display(EGLDisplay display, bool pbuffer, EGLContext& context, EGLSurface& surface,
                       std::string& why) {
    if (!eglBindAPI(EGL_OPENGL_API)) {
        why = "eglBindAPI(EGL_OPENGL_API) failed";
        return false;
    }
    const EGLint config_attribs[] = {EGL_SURFACE_TYPE,
                                     pbuffer ? EGL_PBUFFER_BIT : 0,
                                     EGL_RENDERABLE_TYPE,
                                     EGL_OPENGL_BIT,
                                     EGL_RED_SIZE,
                                     8,
                                     EGL_GREEN_SIZE,
                                     8,
                                     EGL_BLUE_SIZE,
                                     8,
                                     EGL_NONE};
    EGLConfig config = nullptr;
    EGLint count = 0;
    if (!eglChooseConfig(display, config_attribs, &config, 1, &count) || count < 1) {
        // Surfaceless displays may offer configs only without a colour buffer.
        const EGLint bare[] = {EGL_RENDERABLE_TYPE, EGL_OPENGL_BIT, EGL_NONE};
        if (pbuffer || !eglChooseConfig(display, bare, &config, 1, &count) || count < 1) {
            why = "no EGL config with OpenGL";
            return false;
        }
    }
    const EGLint context_attribs[] = {EGL_CONTEXT_MAJOR_VERSION,
                                      4,
                                      EGL_CONTEXT_MINOR_VERSION,
                                      3,
                                      EGL_CONTEXT_OPENGL_PROFILE_MASK,
                                      EGL_CONTEXT_OPENGL_CORE_PROFILE_BIT,
                                      EGL_NONE};
    context = eglCreateContext(display, config, EGL_NO_CONTEXT, context_attribs);
    if (context == EGL_NO_CONTEXT) {
        why = "eglCreateContext(4.3 core) failed";
        return false;
    }
    surface = EGL_NO_SURFACE;
    if (pbuffer) {
        const EGLint pb[] = {EGL_WIDTH, 1, EGL_HEIGHT, 1, EGL_NONE};
        surface = eglCreatePbufferSurface(display, config, pb);
        if (surface == EGL_NO_SURFACE) {
            eglDestroyContext(display, context);
            why = "eglCreatePbufferSurface failed";
            return false;
        }
    }
    if (!eglMakeCurrent(display, surface, surface, context)) {
        if (surface != EGL_NO_SURFACE) eglDestroySurface(display, surface);
        eglDestroyContext(display, context);
        why = "eglMakeCurrent failed";
        return false;
    }
    return true;
}

}  // namespace

std::unique_ptr<HeadlessGlContext> HeadlessGlContext::create(std::string* error) {
    std::string log;
    auto fail = [&](const std::string& why) {
        if (error) *error = "no OpenGL 4.3 core context through EGL: " + why;
        return nullptr;
    };
    // Without a display glad loads only EGL 1.x core and the client extensions.
    if (!gladLoaderLoadEGL(EGL_NO_DISPLAY)) return fail("libEGL could not be loaded");

    std::vector<EglAttempt> attempts;
    if (GLAD_EGL_EXT_platform_device && eglQueryDevicesEXT && eglGetPlatformDisplayEXT) {
        EGLDeviceEXT devices[16];
        EGLint n = 0;
        if (eglQueryDevicesEXT(16, devices, &n)) {
            for (EGLint i = 0; i < n; ++i) {
                EGLDisplay d =
                    eglGetPlatformDisplayEXT(EGL_PLATFORM_DEVICE_EXT, devices[i], nullptr);
                if (d != EGL_NO_DISPLAY) attempts.push_back({d, "EGL device " + std::to_string(i)});
            }
        }
    }
    if (GLAD_EGL_MESA_platform_surfaceless && eglGetPlatformDisplayEXT) {
        EGLDisplay d =
            eglGetPlatformDisplayEXT(EGL_PLATFORM_SURFACELESS_MESA, EGL_DEFAULT_DISPLAY, nullptr);
        if (d != EGL_NO_DISPLAY) attempts.push_back({d, "EGL surfaceless"});
    }
    {
        EGLDisplay d = eglGetDisplay(EGL_DEFAULT_DISPLAY);
        if (d != EGL_NO_DISPLAY) attempts.push_back({d, "EGL default display"});
    }
    if (attempts.empty())
        return fail("no EGL display (no device, surfaceless or default platform)");

    // A software device (Mesa lists llvmpipe as an EGL device too) is kept only as a fallback
    // while a later platform may still give a hardware GPU.
    std::unique_ptr<HeadlessGlContext> software;
    for (const EglAttempt& a : attempts) {
        EGLint major = 0, minor = 0;
        if (!eglInitialize(a.display, &major, &minor)) {
            log += a.platform + ": eglInitialize failed; ";
            continue;
        }
        // Reload with the display: the display extensions and EGL 1.5 entry points.
        gladLoaderLoadEGL(a.display);
        const char* ext = eglQueryString(a.display, EGL_EXTENSIONS);
        bool surfaceless =
            ext && std::string(ext).find("EGL_KHR_surfaceless_context") != std::string::npos;
        EGLContext context = EGL_NO_CONTEXT;
        EGLSurface surface = EGL_NO_SURFACE;
        std::string why;
        bool ok = (surfaceless && create_on_display(a.display, false, context, surface, why)) ||
                  create_on_display(a.display, true, context, surface, why);
        if (!ok) {
            log += a.platform + ": " + why + "; ";
            eglTerminate(a.display);
            continue;
        }
        if (!load_gl_functions(reinterpret_cast<void* (*)(const char*)>(eglGetProcAddress))) {
            log += a.platform + ": the context is older than OpenGL 4.3; ";
            eglMakeCurrent(a.display, EGL_NO_SURFACE, EGL_NO_SURFACE, EGL_NO_CONTEXT);
            if (surface != EGL_NO_SURFACE) eglDestroySurface(a.display, surface);
            eglDestroyContext(a.display, context);
            eglTerminate(a.display);
            continue;
        }
        std::unique_ptr<HeadlessGlContext> ctx(new HeadlessGlContext());
        ctx->m_display = a.display;
        ctx->m_context = context;
        ctx->m_surface = surface;
        ctx->m_renderer = gl_renderer_string() + " (" + a.platform + ")";
        if (!gl_renderer_is_software(ctx->m_renderer)) return ctx;
        if (!software)
            software = std::move(ctx);
        else
            ctx.reset();
    }
    if (software) {
        // Later attempts replaced the GL entry points and the current context: restore both.
        software->make_current();
        load_gl_functions(reinterpret_cast<void* (*)(const char*)>(eglGetProcAddress));
        return software;
    }
    return fail(log);
}

HeadlessGlContext::~HeadlessGlContext() {
    if (!m_display) return;
    eglMakeCurrent(m_display, EGL_NO_SURFACE, EGL_NO_SURFACE, EGL_NO_CONTEXT);
    if (m_surface) eglDestroySurface(m_display, m_surface);
    if (m_context) eglDestroyContext(m_display, m_context);
    eglTerminate(m_display);
}

void HeadlessGlContext::make_current() {
    eglBindAPI(EGL_OPENGL_API);
    EGLSurface s = m_surface ? m_surface : EGL_NO_SURFACE;
    eglMakeCurrent(m_display, s, s, m_context);
}

void HeadlessGlContext::release_current() {
    eglMakeCurrent(m_display, EGL_NO_SURFACE, EGL_NO_SURFACE, EGL_NO_CONTEXT);
}

std::unique_ptr<SiblingGlContext> SiblingGlContext::create_beside_current() {
    if (!eglGetCurrentContext || eglGetCurrentContext() == EGL_NO_CONTEXT) return nullptr;
    std::unique_ptr<SiblingGlContext> s(new SiblingGlContext());
    EGLDisplay display = eglGetCurrentDisplay();
    s->m_display = display;
    EGLint config_id = 0, count = 0;
    if (!eglQueryContext(display, eglGetCurrentContext(), EGL_CONFIG_ID, &config_id)) return nullptr;
    const EGLint by_id[] = {EGL_CONFIG_ID, config_id, EGL_NONE};
    EGLConfig config = nullptr;
    if (!eglChooseConfig(display, by_id, &config, 1, &count) || count < 1) return nullptr;
    const EGLint attribs[] = {EGL_CONTEXT_MAJOR_VERSION, 4, EGL_CONTEXT_MINOR_VERSION, 3,
                              EGL_CONTEXT_OPENGL_PROFILE_MASK, EGL_CONTEXT_OPENGL_CORE_PROFILE_BIT,
                              EGL_NONE};
    EGLContext context = eglCreateContext(display, config, EGL_NO_CONTEXT, attribs);
    if (context == EGL_NO_CONTEXT) return nullptr;
    s->m_context = context;
    if (eglGetCurrentSurface(EGL_DRAW) != EGL_NO_SURFACE) {
        const EGLint pb[] = {EGL_WIDTH, 1, EGL_HEIGHT, 1, EGL_NONE};
        EGLSurface surface = eglCreatePbufferSurface(display, config, pb);
        if (surface == EGL_NO_SURFACE) return nullptr;
        s->m_surface = surface;
    }
    return s;
}

SiblingGlContext::~SiblingGlContext() {
    if (m_surface) eglDestroySurface(m_display, m_surface);
    if (m_context) eglDestroyContext(m_display, m_context);
}

bool SiblingGlContext::make_current() {
    eglBindAPI(EGL_OPENGL_API);  // per thread
    EGLSurface s = m_surface ? m_surface : EGL_NO_SURFACE;
    return eglMakeCurrent(m_display, s, s, m_context);
}

void SiblingGlContext::release_current() {
    eglMakeCurrent(m_display, EGL_NO_SURFACE, EGL_NO_SURFACE, EGL_NO_CONTEXT);
}

}  // namespace fmp
