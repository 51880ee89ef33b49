// The scene renderer: GL programs for sprites, capsules and the heatmap, and the grid builder.
#include "app/render/scene_renderer.h"

#include <glad/gl.h>

#include <algorithm>
#include <functional>
#include <cmath>
#include <sstream>
#include <stdexcept>

#include "app/render/png_writer.h"
#include "core/base/resources.h"
#include "core/engine/gl/gl_shader.h"

namespace fmp {

// ---------------------------------------------------------------------------------------------
// [SECTION] View2D

Eigen::Vector2f View2D::world_to_pixel(const Eigen::Vector2f& w) const {
    Eigen::Vector2f d = (w - center) * pixels_per_unit;
    return {0.5f * width + d.x(), 0.5f * height - d.y()};
}

Eigen::Vector2f View2D::pixel_to_world(const Eigen::Vector2f& p) const {
    return center + Eigen::Vector2f(p.x() - 0.5f * width, 0.5f * height - p.y()) / pixels_per_unit;
}

Eigen::AlignedBox2f View2D::visible_box() const {
    Eigen::Vector2f half(0.5f * width / pixels_per_unit, 0.5f * height / pixels_per_unit);
    return {center - half, center + half};
}

void View2D::fit(const Eigen::AlignedBox2f& box, float margin) {
    if (box.isEmpty()) return;
    Eigen::Vector2f size = box.sizes().cwiseMax(1e-3f);
    center = box.center();
    float usable_w = std::max(1.0f, width * (1.0f - 2.0f * margin));
    float usable_h = std::max(1.0f, height * (1.0f - 2.0f * margin));
    pixels_per_unit = std::clamp(std::min(usable_w / size.x(), usable_h / size.y()),
                                 k_min_pixels_per_unit, k_max_pixels_per_unit);
}

void View2D::zoom_at(const Eigen::Vector2f& p, float factor) {
    Eigen::Vector2f before = pixel_to_world(p);
    pixels_per_unit = std::clamp(pixels_per_unit * factor, k_min_pixels_per_unit, k_max_pixels_per_unit);
    Eigen::Vector2f after = pixel_to_world(p);
    center += before - after;
}

int for_each_line(float lo, float hi, float step, const std::function<void(float)>& fn) {
    if (!(std::isfinite(lo) && std::isfinite(hi) && std::isfinite(step) && step > 0.0f) || hi < lo)
        return 0;
    // Counted by index in double: far from the origin `x += step` in float stops changing x, and a
    // view much wider than the spacing would ask for billions of lines.
    double first = std::ceil(static_cast<double>(lo) / step);
    double last = std::floor(static_cast<double>(hi) / step);
    if (last < first || last - first + 1 > k_max_grid_lines) return 0;
    int n = 0;
    for (double i = first; i <= last; i += 1.0, ++n) fn(static_cast<float>(i * step));
    return n;
}

float grid_spacing(float pixels_per_unit, float min_px) {
    float raw = min_px / std::max(pixels_per_unit, 1e-6f);
    float p10 = std::pow(10.0f, std::floor(std::log10(raw)));
    for (float m : {1.0f, 2.0f, 5.0f, 10.0f})
        if (m * p10 >= raw) return m * p10;
    return 10.0f * p10;
}

void SegmentLayer::add_arrow(const Eigen::Vector2f& base, const Eigen::Vector2f& vec,
                             uint32_t color, float width_px, float head_px, float pixels_per_unit) {
    Eigen::Vector2f tip = base + vec;
    // The shaft fades toward its base so the eye reads the direction even where heads overlap.
    float alpha = static_cast<float>(color >> 24) / 255.0f;
    add(base, tip, with_alpha(color, 0.35f * alpha), color, width_px);
    float len_px = vec.norm() * pixels_per_unit;
    if (len_px < 1e-3f) return;
    // The head shrinks with short arrows so a still field does not become a carpet of chevrons.
    float head = std::min(head_px, 0.45f * len_px) / pixels_per_unit;
    Eigen::Vector2f dir = vec.normalized();
    Eigen::Vector2f normal(-dir.y(), dir.x());
    add(tip, tip - dir * head + normal * head * 0.55f, color, color, width_px);
    add(tip, tip - dir * head - normal * head * 0.55f, color, color, width_px);
}

// ---------------------------------------------------------------------------------------------
// [SECTION] GL helpers

namespace {

GLuint compile_shader(GLenum type, const std::string& name) {
    auto text = embedded_file(name);
    if (!text) throw std::runtime_error("missing embedded shader " + name);
    return compile_shader_stage(type, std::string(*text), name);
}

GLuint link_program(const std::string& vert, const std::string& frag) {
    return link_shader_program({compile_shader(GL_VERTEX_SHADER, vert), compile_shader(GL_FRAGMENT_SHADER, frag)},
                               vert + " + " + frag);
}

// A GL buffer that grows (never shrinks) and is refilled each frame.
struct StreamBuffer {
    GLuint id = 0;
    std::size_t capacity = 0;
    void upload(const void* data, std::size_t bytes) {
        if (!id) glGenBuffers(1, &id);
        glBindBuffer(GL_ARRAY_BUFFER, id);
        if (bytes > capacity) {
            capacity = std::max<std::size_t>(bytes, capacity * 3 / 2);
            glBufferData(GL_ARRAY_BUFFER, static_cast<GLsizeiptr>(capacity), nullptr,
                         GL_STREAM_DRAW);
        }
        if (bytes) glBufferSubData(GL_ARRAY_BUFFER, 0, static_cast<GLsizeiptr>(bytes), data);
    }
    ~StreamBuffer() {
        if (id) glDeleteBuffers(1, &id);
    }
};

void set_view_uniforms(GLuint program, const View2D& view) {
    glUniform2f(glGetUniformLocation(program, "u_center"), view.center.x(), view.center.y());
    glUniform1f(glGetUniformLocation(program, "u_ppu"), view.pixels_per_unit);
    glUniform2f(glGetUniformLocation(program, "u_viewport"), static_cast<float>(view.width),
                static_cast<float>(view.height));
}

void set_blend(bool additive) {
    glEnable(GL_BLEND);
    glBlendEquation(GL_FUNC_ADD);
    if (additive)
        glBlendFuncSeparate(GL_SRC_ALPHA, GL_ONE, GL_ONE, GL_ONE);
    else
        glBlendFuncSeparate(GL_SRC_ALPHA, GL_ONE_MINUS_SRC_ALPHA, GL_ONE, GL_ONE_MINUS_SRC_ALPHA);
}

float channel(uint32_t rgba, int i) {
    return static_cast<float>((rgba >> (8 * i)) & 0xffu) / 255.0f;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// [SECTION] SceneRenderer

struct SceneRenderer::Impl {
    GLuint points_program = 0, segments_program = 0, heatmap_program = 0;
    GLuint points_vao = 0, segments_vao = 0, heatmap_vao = 0;
    StreamBuffer point_xy, point_rgba, segment_data;
    GLuint heat_texture = 0;
    std::vector<Segment> grid_segments;

    Impl() {
        points_program = link_program("scene_points.vert", "scene_points.frag");
        segments_program = link_program("scene_segments.vert", "scene_segments.frag");
        heatmap_program = link_program("scene_heatmap.vert", "scene_heatmap.frag");
        glGenVertexArrays(1, &points_vao);
        glGenVertexArrays(1, &segments_vao);
        glGenVertexArrays(1, &heatmap_vao);
        glGenTextures(1, &heat_texture);
        glBindTexture(GL_TEXTURE_2D, heat_texture);
        glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_LINEAR);
        glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_LINEAR);
        glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_S, GL_CLAMP_TO_EDGE);
        glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_T, GL_CLAMP_TO_EDGE);
        glBindTexture(GL_TEXTURE_2D, 0);
    }
    ~Impl() {
        glDeleteProgram(points_program);
        glDeleteProgram(segments_program);
        glDeleteProgram(heatmap_program);
        glDeleteVertexArrays(1, &points_vao);
        glDeleteVertexArrays(1, &segments_vao);
        glDeleteVertexArrays(1, &heatmap_vao);
        glDeleteTextures(1, &heat_texture);
    }

    void draw_points(const PointLayer& layer, const View2D& view) {
        int n = layer.count();
        if (n <= 0) return;
        glUseProgram(points_program);
        set_view_uniforms(points_program, view);
        glUniform1f(glGetUniformLocation(points_program, "u_size_px"), layer.size_px);
        glUniform1f(glGetUniformLocation(points_program, "u_softness"), layer.softness);
        glBindVertexArray(points_vao);
        const GLsizeiptr point_bytes = 2 * sizeof(float);
        if (layer.gl_buffer) {
            glBindBuffer(GL_ARRAY_BUFFER, layer.gl_buffer);
            glEnableVertexAttribArray(2);
            glVertexAttribPointer(2, 2, GL_FLOAT, GL_FALSE, 0,
                                  reinterpret_cast<void*>(point_bytes * layer.gl_offset_b));
            glVertexAttribDivisor(2, 1);
        } else {
            point_xy.upload(layer.xy.data(), layer.xy.size() * sizeof(float));
            glDisableVertexAttribArray(2);
            glVertexAttrib2f(2, 0.0f, 0.0f);
        }
        glUniform1f(glGetUniformLocation(points_program, "u_mix"), layer.gl_buffer ? layer.gl_mix : 0.0f);
        glEnableVertexAttribArray(0);
        glVertexAttribPointer(0, 2, GL_FLOAT, GL_FALSE, 0,
                              reinterpret_cast<void*>(layer.gl_buffer ? point_bytes * layer.gl_offset_a : 0));
        glVertexAttribDivisor(0, 1);
        if (layer.gl_buffer && layer.gl_colors) {
            glBindBuffer(GL_ARRAY_BUFFER, layer.gl_colors);
            glEnableVertexAttribArray(1);
            glVertexAttribPointer(1, 4, GL_UNSIGNED_BYTE, GL_TRUE, 0, nullptr);
            glVertexAttribDivisor(1, 1);
        } else if (static_cast<int>(layer.rgba.size()) >= n) {
            point_rgba.upload(layer.rgba.data(), static_cast<std::size_t>(n) * 4);
            glEnableVertexAttribArray(1);
            glVertexAttribPointer(1, 4, GL_UNSIGNED_BYTE, GL_TRUE, 0, nullptr);
            glVertexAttribDivisor(1, 1);
        } else {
            glDisableVertexAttribArray(1);
            glVertexAttrib4f(1, channel(layer.color, 0), channel(layer.color, 1),
                             channel(layer.color, 2), channel(layer.color, 3));
        }
        set_blend(layer.additive);
        glDrawArraysInstanced(GL_TRIANGLE_STRIP, 0, 4, n);
        glBindVertexArray(0);
    }

    void draw_segments(const std::vector<Segment>& segments, bool additive, const View2D& view) {
        if (segments.empty()) return;
        glUseProgram(segments_program);
        set_view_uniforms(segments_program, view);
        glBindVertexArray(segments_vao);
        segment_data.upload(segments.data(), segments.size() * sizeof(Segment));
        const GLsizei stride = sizeof(Segment);
        glEnableVertexAttribArray(0);
        glVertexAttribPointer(0, 4, GL_FLOAT, GL_FALSE, stride,
                              reinterpret_cast<void*>(offsetof(Segment, ax)));
        glEnableVertexAttribArray(1);
        glVertexAttribPointer(1, 4, GL_UNSIGNED_BYTE, GL_TRUE, stride,
                              reinterpret_cast<void*>(offsetof(Segment, ca)));
        glEnableVertexAttribArray(2);
        glVertexAttribPointer(2, 4, GL_UNSIGNED_BYTE, GL_TRUE, stride,
                              reinterpret_cast<void*>(offsetof(Segment, cb)));
        glEnableVertexAttribArray(3);
        glVertexAttribPointer(3, 1, GL_FLOAT, GL_FALSE, stride,
                              reinterpret_cast<void*>(offsetof(Segment, width_px)));
        for (GLuint i = 0; i < 4; ++i) glVertexAttribDivisor(i, 1);
        set_blend(additive);
        glDrawArraysInstanced(GL_TRIANGLE_STRIP, 0, 4, static_cast<GLsizei>(segments.size()));
        glBindVertexArray(0);
    }

    void draw_heatmap(const HeatmapLayer& layer, const View2D& view) {
        if (layer.width <= 0 || layer.height <= 0 ||
            layer.values.size() < static_cast<std::size_t>(layer.width) * layer.height)
            return;
        glBindTexture(GL_TEXTURE_2D, heat_texture);
        glPixelStorei(GL_UNPACK_ALIGNMENT, 4);
        glTexImage2D(GL_TEXTURE_2D, 0, GL_R32F, layer.width, layer.height, 0, GL_RED, GL_FLOAT,
                     layer.values.data());
        glUseProgram(heatmap_program);
        set_view_uniforms(heatmap_program, view);
        glUniform4f(glGetUniformLocation(heatmap_program, "u_box"), layer.box.min().x(),
                    layer.box.min().y(), layer.box.max().x(), layer.box.max().y());
        glUniform1f(glGetUniformLocation(heatmap_program, "u_opacity"), layer.opacity);
        glActiveTexture(GL_TEXTURE0);
        glUniform1i(glGetUniformLocation(heatmap_program, "u_values"), 0);
        glBindVertexArray(heatmap_vao);
        set_blend(false);
        glDrawArrays(GL_TRIANGLE_STRIP, 0, 4);
        glBindVertexArray(0);
        glBindTexture(GL_TEXTURE_2D, 0);
    }

    void build_grid(const Scene& scene, const View2D& view) {
        grid_segments.clear();
        Eigen::AlignedBox2f box = view.visible_box();
        float s = scene.ui_scale;
        float minor = grid_spacing(view.pixels_per_unit, 28.0f * s);
        float major = grid_spacing(view.pixels_per_unit, 140.0f * s);
        const uint32_t c_minor = pack_rgba(1, 1, 1, 0.035f), c_major = pack_rgba(1, 1, 1, 0.085f);
        const uint32_t c_axis = pack_rgba(0.75f, 0.8f, 0.9f, 0.32f);
        auto is_multiple = [](float v, float step) {
            float q = v / step;
            return std::abs(q - std::round(q)) < 1e-3f;
        };
        if (scene.grid) {
            for_each_line(box.min().x(), box.max().x(), minor, [&](float x) {
                bool maj = is_multiple(x, major);
                uint32_t c = maj ? c_major : c_minor;
                grid_segments.push_back(
                    {x, box.min().y(), x, box.max().y(), c, c, (maj ? 1.2f : 1.0f) * s});
            });
            for_each_line(box.min().y(), box.max().y(), minor, [&](float y) {
                bool maj = is_multiple(y, major);
                uint32_t c = maj ? c_major : c_minor;
                grid_segments.push_back(
                    {box.min().x(), y, box.max().x(), y, c, c, (maj ? 1.2f : 1.0f) * s});
            });
        }
        if (scene.axes) {
            grid_segments.push_back({box.min().x(), 0, box.max().x(), 0, c_axis, c_axis, 1.4f * s});
            grid_segments.push_back({0, box.min().y(), 0, box.max().y(), c_axis, c_axis, 1.4f * s});
            // Ticks at the major grid lines.
            float tick = 4.0f * s / view.pixels_per_unit;
            for_each_line(box.min().x(), box.max().x(), major, [&](float x) {
                grid_segments.push_back({x, -tick, x, tick, c_axis, c_axis, 1.2f * s});
            });
            for_each_line(box.min().y(), box.max().y(), major, [&](float y) {
                grid_segments.push_back({-tick, y, tick, y, c_axis, c_axis, 1.2f * s});
            });
        }
    }
};

SceneRenderer::SceneRenderer() : m_impl(std::make_unique<Impl>()) {}
SceneRenderer::~SceneRenderer() = default;

void SceneRenderer::render(const Scene& scene, const View2D& view) {
    glViewport(0, 0, view.width, view.height);
    glDisable(GL_DEPTH_TEST);
    glDisable(GL_CULL_FACE);
    glDisable(GL_SCISSOR_TEST);
    glClearColor(channel(scene.background, 0), channel(scene.background, 1),
                 channel(scene.background, 2), channel(scene.background, 3));
    const bool clipped = scene.clip[2] > 0 && scene.clip[3] > 0;
    if (!clipped || scene.clear_outside_clip) glClear(GL_COLOR_BUFFER_BIT);
    if (clipped) {
        // A software rasterizer drops scissored fragments before shading them.
        glEnable(GL_SCISSOR_TEST);
        glScissor(scene.clip[0], scene.clip[1], scene.clip[2], scene.clip[3]);
        if (!scene.clear_outside_clip) glClear(GL_COLOR_BUFFER_BIT);
    }
    // The heatmap goes under the grid so the grid stays readable over dense regions.
    std::size_t first = 0;
    for (; first < scene.layers.size() && std::holds_alternative<HeatmapLayer>(scene.layers[first]);
         ++first)
        m_impl->draw_heatmap(std::get<HeatmapLayer>(scene.layers[first]), view);
    m_impl->build_grid(scene, view);
    m_impl->draw_segments(m_impl->grid_segments, false, view);
    for (std::size_t i = first; i < scene.layers.size(); ++i) {
        const SceneLayer& layer = scene.layers[i];
        if (auto* p = std::get_if<PointLayer>(&layer))
            m_impl->draw_points(*p, view);
        else if (auto* s = std::get_if<SegmentLayer>(&layer))
            m_impl->draw_segments(s->segments, s->additive, view);
        else if (auto* h = std::get_if<HeatmapLayer>(&layer))
            m_impl->draw_heatmap(*h, view);
    }
    glUseProgram(0);
    glDisable(GL_BLEND);
    glDisable(GL_SCISSOR_TEST);
}

// ---------------------------------------------------------------------------------------------
// [SECTION] Offscreen targets and read-back

OffscreenTarget::OffscreenTarget(int width, int height) : m_width(width), m_height(height) {
    if (width <= 0 || height <= 0 || width > 16384 || height > 16384)
        throw std::runtime_error("offscreen size " + std::to_string(width) + "x" +
                                 std::to_string(height) + " out of range 1..16384");
    glGenTextures(1, &m_color);
    glBindTexture(GL_TEXTURE_2D, m_color);
    glTexStorage2D(GL_TEXTURE_2D, 1, GL_RGBA8, width, height);
    glBindTexture(GL_TEXTURE_2D, 0);
    glGenFramebuffers(1, &m_fbo);
    glBindFramebuffer(GL_FRAMEBUFFER, m_fbo);
    glFramebufferTexture2D(GL_FRAMEBUFFER, GL_COLOR_ATTACHMENT0, GL_TEXTURE_2D, m_color, 0);
    GLenum status = glCheckFramebufferStatus(GL_FRAMEBUFFER);
    glBindFramebuffer(GL_FRAMEBUFFER, 0);
    if (status != GL_FRAMEBUFFER_COMPLETE) {
        glDeleteFramebuffers(1, &m_fbo);
        glDeleteTextures(1, &m_color);
        throw std::runtime_error("offscreen framebuffer incomplete");
    }
}

OffscreenTarget::~OffscreenTarget() {
    glDeleteFramebuffers(1, &m_fbo);
    glDeleteTextures(1, &m_color);
}

void OffscreenTarget::bind() {
    glBindFramebuffer(GL_FRAMEBUFFER, m_fbo);
}

std::vector<uint8_t> OffscreenTarget::read_rgba() const {
    GLint previous = 0;
    glGetIntegerv(GL_READ_FRAMEBUFFER_BINDING, &previous);
    glBindFramebuffer(GL_READ_FRAMEBUFFER, m_fbo);
    std::vector<uint8_t> pixels = read_framebuffer_rgba(m_width, m_height);
    glBindFramebuffer(GL_READ_FRAMEBUFFER, static_cast<GLuint>(previous));
    return pixels;
}

std::vector<uint8_t> read_framebuffer_rgba(int width, int height) {
    std::vector<uint8_t> pixels(static_cast<std::size_t>(width) * height * 4);
    glPixelStorei(GL_PACK_ALIGNMENT, 1);
    glReadPixels(0, 0, width, height, GL_RGBA, GL_UNSIGNED_BYTE, pixels.data());
    flip_rows(pixels, width, height);
    return pixels;
}

}  // namespace fmp
