// The GLFW window with its OpenGL 4.3 core context (the GUI's; exports use an EGL context).
#pragma once
#include <string>

struct GLFWwindow;

namespace fmp {

struct GlWindowOptions {
    int width = 1600;  // in screen coordinates, before the content scale
    int height = 960;
    std::string title = "fmplay";
    bool visible = true;
    bool vsync = true;
};

// Owns glfwInit/glfwTerminate for its lifetime (one window per process).
class GlWindow {
  public:
    // Throws std::runtime_error when there is no display or no 4.3 core context.
    explicit GlWindow(const GlWindowOptions& options);
    ~GlWindow();
    GlWindow(const GlWindow&) = delete;
    GlWindow& operator=(const GlWindow&) = delete;

    GLFWwindow* handle() const { return m_window; }
    bool should_close() const;
    void request_close();
    void poll_events();
    void swap_buffers();
    void framebuffer_size(int& w, int& h) const;
    void window_size(int& w, int& h) const;
    void set_window_size(int w, int h);
    // The monitor's content scale (HiDPI factor), at least 1.
    float content_scale() const;
    const std::string& renderer() const { return m_renderer; }

  private:
    GLFWwindow* m_window = nullptr;
    std::string m_renderer;
};

}  // namespace fmp
