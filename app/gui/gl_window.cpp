// GLFW window creation, GL 4.3 core context and glad loading for the GUI.
#include "app/gui/gl_window.h"

#include <glad/gl.h>
// GLFW after glad, and without its own GL header: glad declares the GL functions.
#define GLFW_INCLUDE_NONE
#include <GLFW/glfw3.h>

#include <algorithm>
#include <stdexcept>

namespace fmp {
namespace {

std::string g_last_glfw_error;

void on_glfw_error(int code, const char* text) {
    g_last_glfw_error =
        std::string(text ? text : "") + " (GLFW error " + std::to_string(code) + ")";
}

}  // namespace

GlWindow::GlWindow(const GlWindowOptions& options) {
    glfwSetErrorCallback(on_glfw_error);
    if (!glfwInit())
        throw std::runtime_error("cannot open a window: " + (g_last_glfw_error.empty()
                                                                 ? std::string("no display")
                                                                 : g_last_glfw_error));
    glfwWindowHint(GLFW_CONTEXT_VERSION_MAJOR, 4);
    glfwWindowHint(GLFW_CONTEXT_VERSION_MINOR, 3);
    glfwWindowHint(GLFW_OPENGL_PROFILE, GLFW_OPENGL_CORE_PROFILE);
    glfwWindowHint(GLFW_OPENGL_FORWARD_COMPAT, GLFW_TRUE);
    glfwWindowHint(GLFW_VISIBLE, options.visible ? GLFW_TRUE : GLFW_FALSE);
    glfwWindowHint(GLFW_SCALE_TO_MONITOR, GLFW_TRUE);
    glfwWindowHint(GLFW_SAMPLES, 0);
    m_window =
        glfwCreateWindow(options.width, options.height, options.title.c_str(), nullptr, nullptr);
    if (!m_window) {
        std::string why = g_last_glfw_error;
        glfwTerminate();
        throw std::runtime_error("cannot create an OpenGL 4.3 core window: " + why);
    }
    glfwMakeContextCurrent(m_window);
    int version = gladLoadGL(reinterpret_cast<GLADloadfunc>(glfwGetProcAddress));
    if (version == 0 || GLAD_VERSION_MAJOR(version) * 10 + GLAD_VERSION_MINOR(version) < 43) {
        glfwDestroyWindow(m_window);
        glfwTerminate();
        throw std::runtime_error("OpenGL 4.3 core is required");
    }
    glfwSwapInterval(options.vsync ? 1 : 0);
    const char* r = reinterpret_cast<const char*>(glGetString(GL_RENDERER));
    m_renderer = r ? r : "unknown";
}

GlWindow::~GlWindow() {
    if (m_window) glfwDestroyWindow(m_window);
    glfwTerminate();
}

bool GlWindow::should_close() const {
    return glfwWindowShouldClose(m_window);
}
void GlWindow::request_close() {
    glfwSetWindowShouldClose(m_window, GLFW_TRUE);
}
void GlWindow::poll_events() {
    glfwPollEvents();
}
void GlWindow::swap_buffers() {
    glfwSwapBuffers(m_window);
}
void GlWindow::framebuffer_size(int& w, int& h) const {
    glfwGetFramebufferSize(m_window, &w, &h);
}
void GlWindow::window_size(int& w, int& h) const {
    glfwGetWindowSize(m_window, &w, &h);
}
void GlWindow::set_window_size(int w, int h) {
    glfwSetWindowSize(m_window, w, h);
}

float GlWindow::content_scale() const {
    float sx = 1.0f, sy = 1.0f;
    glfwGetWindowContentScale(m_window, &sx, &sy);
    return std::max(1.0f, std::max(sx, sy));
}

}  // namespace fmp
