// GPU particles for the GL engine: trajectory slices integrated by the engine's compute shader,
// copied buffer to buffer, and drawn by the scene renderer straight from those buffers.
#include "app/render/gpu_particles.h"

#include <glad/gl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "app/render/palette.h"
#include "core/base/clock.h"
#include "core/engine/gl/gl_engine.h"

namespace fmp {
namespace {

constexpr std::size_t k_max_trajectory_bytes = std::size_t(512) << 20;  // per buffer

GLsizeiptr slice_bytes(int count) { return static_cast<GLsizeiptr>(count) * 2 * sizeof(float); }

}  // namespace

int gpu_trajectory_slices(int particles, int steps, int max_slices) {
    const int count = std::max(1, particles);
    steps = std::max(1, steps);
    max_slices = std::max(1, max_slices);
    const std::size_t fit = k_max_trajectory_bytes / static_cast<std::size_t>(slice_bytes(count));
    return std::clamp(static_cast<int>(std::min<std::size_t>(fit, static_cast<std::size_t>(max_slices) + 1)) - 1, 1,
                      std::min(steps, max_slices));
}

GpuParticles::~GpuParticles() { release(); }

void GpuParticles::release() {
    unsigned buffers[3] = {m_front, m_back, m_colors};
    for (unsigned b : buffers)
        if (b) glDeleteBuffers(1, &b);
    m_front = m_back = m_colors = 0;
    m_allocated = false;
    m_front_ready = false;
    m_building = false;
}

void GpuParticles::set_spec(const FlowSpec& spec, int max_slices) {
    m_spec = spec;
    m_has_spec = true;
    m_count = std::max(1, spec.particles);
    m_x0 = particle_starts(spec, m_count);
    m_slices = gpu_trajectory_slices(m_count, spec.steps, max_slices);
    m_allocated = false;  // buffers are (re)made on the GL thread in update() or build()
    m_front_ready = false;
    m_building = false;
    m_color_build = ~uint64_t(0);
}

// Slice j holds the particles after solver step floor(j * steps / slices).
float GpuParticles::slice_time(int j) const {
    const int steps = std::max(1, m_spec.steps);
    return static_cast<float>(static_cast<long long>(j) * steps / m_slices) / steps;
}

void GpuParticles::allocate(Engine& engine) {
    release();
    const GLsizeiptr bytes = slice_bytes(m_count) * (m_slices + 1);
    Points start = m_x0 * m_spec.path.source_scale();
    GLuint ids[3];
    glGenBuffers(3, ids);
    m_front = ids[0];
    m_back = ids[1];
    m_colors = ids[2];
    // Slice 0 of both buffers holds the start; builds restart the engine's particles from it.
    for (GLuint b : {m_front, m_back}) {
        glBindBuffer(GL_COPY_WRITE_BUFFER, b);
        glBufferData(GL_COPY_WRITE_BUFFER, bytes, nullptr, GL_DYNAMIC_COPY);
        glBufferSubData(GL_COPY_WRITE_BUFFER, 0, slice_bytes(m_count), start.data());
    }
    glBindBuffer(GL_COPY_WRITE_BUFFER, 0);
    engine.set_particles(start);
    m_allocated = true;
}

void GpuParticles::update(Engine& engine, uint64_t params_version, double budget_ms) {
    if (!m_has_spec || params_version == 0) return;
    if (!m_allocated) allocate(engine);
    if (!m_building) {
        if (m_front_ready && params_version == m_front_version) return;
        // The count before the buffer: resizing the engine's particles gives them a new buffer
        // (immutable storage), and another user of the engine (the solver lab, reflow) may have.
        if (engine.particle_count() != m_count) engine.set_particles(m_x0 * m_spec.path.source_scale());
    }
    const unsigned engine_buffer = gl_particle_buffer(engine);
    if (!engine_buffer) return;
    if (!m_building) start_build(engine_buffer, params_version);
    integrate_slices(engine, engine_buffer, now_seconds() + budget_ms * 1e-3);
}

bool GpuParticles::build(Engine& engine) {
    if (!m_has_spec || engine.kind() != EngineKind::Gl) return false;
    if (!m_allocated) allocate(engine);
    // The count before the buffer, as in update().
    if (engine.particle_count() != m_count) engine.set_particles(m_x0 * m_spec.path.source_scale());
    const unsigned engine_buffer = gl_particle_buffer(engine);
    if (!engine_buffer) return false;
    start_build(engine_buffer, m_front_version + 1);
    while (!integrate_slices(engine, engine_buffer, std::numeric_limits<double>::infinity())) {
    }
    return true;
}

void GpuParticles::start_build(unsigned engine_buffer, uint64_t params_version) {
    glBindBuffer(GL_COPY_READ_BUFFER, m_back);
    glBindBuffer(GL_COPY_WRITE_BUFFER, engine_buffer);
    glCopyBufferSubData(GL_COPY_READ_BUFFER, GL_COPY_WRITE_BUFFER, 0, 0, slice_bytes(m_count));
    m_building = true;
    m_build_version = params_version;
    m_next_slice = 0;
    m_build_start = now_seconds();
    m_build_evaluations = 0;
    m_build_error.clear();
}

namespace {

// While slices integrate: a class-conditional network's particles follow the classes the spec
// asks for (one class, or every class in turn: particle_velocity's choice), at its guidance
// scale; the engine's own guidance (the window's arrows) comes back afterwards.
class ParticleClassScope {
  public:
    ParticleClassScope(Engine& engine, const FlowSpec& spec, int classes)
        : m_engine(engine), m_saved(engine.guidance()), m_active(classes > 0) {
        if (!m_active) return;
        const std::vector<int> cycle = followed_classes(spec, classes);
        if (spec.follow_class == k_all_classes) {
            engine.set_guidance(ClassGuidance{-1, spec.guidance});
            engine.set_particle_classes(cycle);
        } else {
            engine.set_guidance(ClassGuidance{particle_class(spec, cycle, classes, 0), spec.guidance});
        }
    }
    ~ParticleClassScope() {
        if (!m_active) return;
        m_engine.set_particle_classes({});
        m_engine.set_guidance(m_saved);
    }
    ParticleClassScope(const ParticleClassScope&) = delete;
    ParticleClassScope& operator=(const ParticleClassScope&) = delete;

  private:
    Engine& m_engine;
    ClassGuidance m_saved;
    bool m_active;
};

}  // namespace

bool GpuParticles::integrate_slices(Engine& engine, unsigned engine_buffer, double deadline) {
    const int steps = std::max(1, m_spec.steps);
    m_classes = engine.config().mlp.classes;
    ParticleClassScope classes(engine, m_spec, m_classes);
    do {
        const int j = m_next_slice;
        const int s0 = static_cast<int>(static_cast<long long>(j) * steps / m_slices),
                  s1 = static_cast<int>(static_cast<long long>(j + 1) * steps / m_slices);
        if (s1 > s0 && m_spec.sde_gamma > 0.0f) {
            // The SDE as the CPU path steps it (k_sde_substeps Euler–Maruyama steps per solver
            // step), its noise counter-based: keyed on the global step, so every slicing of a
            // trajectory draws the same noise. The CPU path's Rng streams draw other normals of
            // the same law (the seed below is theirs, for symmetry, not for equality).
            const SdeSettings settings{m_spec.sde_gamma, (s1 - s0) * k_sde_substeps};
            m_build_evaluations +=
                engine.integrate_particles_sde(slice_time(j), slice_time(j + 1), settings,
                                               m_spec.seed ^ 0x5de5de5dULL,
                                               static_cast<uint32_t>(s0) * k_sde_substeps)
                    .evaluations;
        } else if (s1 > s0) {
            const IntegrationSettings settings{m_spec.solver, s1 - s0, m_spec.tolerance};
            try {
                m_build_evaluations +=
                    engine.integrate_particles(slice_time(j), slice_time(j + 1), settings).evaluations;
            } catch (const InputError& e) {
                m_build_error = e.what();  // dopri5 gave up: this slice stays where it stopped
            }
        }
        glBindBuffer(GL_COPY_READ_BUFFER, engine_buffer);
        glBindBuffer(GL_COPY_WRITE_BUFFER, m_back);
        glCopyBufferSubData(GL_COPY_READ_BUFFER, GL_COPY_WRITE_BUFFER, 0,
                            slice_bytes(m_count) * (j + 1), slice_bytes(m_count));
        // Waiting here is what makes the budget real: the GPU's work is otherwise invisible.
        glFinish();
        ++m_next_slice;
    } while (m_next_slice < m_slices && now_seconds() < deadline);
    glBindBuffer(GL_COPY_READ_BUFFER, 0);
    glBindBuffer(GL_COPY_WRITE_BUFFER, 0);
    if (m_next_slice < m_slices) return false;
    std::swap(m_front, m_back);
    m_front_ready = true;
    m_front_version = m_build_version;
    ++m_front_build;
    m_building = false;
    m_last_build_seconds = now_seconds() - m_build_start;
    m_last_evaluations = m_build_evaluations;
    m_last_error = m_build_error;
    return true;
}

std::shared_ptr<Trajectory> GpuParticles::read_trajectory(int rows, const FlowReference& reference) const {
    if (!m_front_ready) return nullptr;
    rows = std::clamp(rows, 0, m_count);
    auto traj = std::make_shared<Trajectory>();
    traj->x0 = m_x0.topRows(rows);
    traj->frames.assign(static_cast<std::size_t>(m_slices) + 1, Points(rows, 2));
    glBindBuffer(GL_COPY_READ_BUFFER, m_front);
    for (int j = 0; j <= m_slices && rows > 0; ++j)
        glGetBufferSubData(GL_COPY_READ_BUFFER, slice_bytes(m_count) * j, slice_bytes(rows),
                           traj->frames[static_cast<std::size_t>(j)].data());
    glBindBuffer(GL_COPY_READ_BUFFER, 0);
    traj->stats.evaluations = m_last_evaluations;
    traj->error = m_last_error;
    label_modes(*traj, &reference.modes);
    label_classes(*traj, m_spec, m_classes);
    return traj;
}

void GpuParticles::upload_colors(ColorMode mode, float alpha, const FlowReference* reference) {
    // By class: each particle's followed class (label_classes' choice); without classes the
    // colours fall back to the modes, as in the scene builder.
    const bool by_class = mode == ColorMode::Class && m_classes > 0;
    const bool by_mode = !by_class && (mode == ColorMode::TargetMode || mode == ColorMode::Class);
    // Colours by start never change for a spec; colours by mode follow each build.
    if (mode == m_color_mode && alpha == m_color_alpha &&
        (!by_mode || m_color_build == m_front_build) && m_color_build != ~uint64_t(0))
        return;
    std::vector<uint32_t> rgba(static_cast<std::size_t>(m_count));
    if (by_class) {
        const std::vector<int> cycle = followed_classes(m_spec, m_classes);
        for (int i = 0; i < m_count; ++i)
            rgba[i] = fade(class_color(particle_class(m_spec, cycle, m_classes, i)), alpha);
    } else if (by_mode) {
        Points end(m_count, 2);
        glBindBuffer(GL_COPY_READ_BUFFER, m_front);
        glGetBufferSubData(GL_COPY_READ_BUFFER, slice_bytes(m_count) * m_slices, slice_bytes(m_count),
                           end.data());
        glBindBuffer(GL_COPY_READ_BUFFER, 0);
        for (int i = 0; i < m_count; ++i)
            rgba[i] = fade(mode_color(reference ? reference->modes.mode_of(end(i, 0), end(i, 1)) : 0),
                              alpha);
    } else {
        for (int i = 0; i < m_count; ++i)
            rgba[i] = fade(position_color(m_x0(i, 0), m_x0(i, 1), 2.2f), alpha);
    }
    glBindBuffer(GL_ARRAY_BUFFER, m_colors);
    glBufferData(GL_ARRAY_BUFFER, static_cast<GLsizeiptr>(rgba.size() * 4), rgba.data(), GL_STATIC_DRAW);
    glBindBuffer(GL_ARRAY_BUFFER, 0);
    m_color_mode = mode;
    m_color_alpha = alpha;
    m_color_build = m_front_build;
}

bool GpuParticles::fill_layer(float t, ColorMode mode, float alpha, const FlowReference* reference,
                              PointLayer& layer) {
    if (!m_front_ready) return false;
    t = std::clamp(t, 0.0f, 1.0f);
    int j = 0;
    while (j + 1 < m_slices && slice_time(j + 1) <= t) ++j;
    const float ta = slice_time(j), tb = slice_time(j + 1);
    layer.xy.clear();
    layer.gl_buffer = m_front;
    layer.gl_count = m_count;
    layer.gl_offset_a = m_count * j;
    layer.gl_offset_b = m_count * (j + 1);
    layer.gl_mix = tb > ta ? std::clamp((t - ta) / (tb - ta), 0.0f, 1.0f) : 0.0f;
    layer.rgba.clear();
    if (mode == ColorMode::Single ||
        ((mode == ColorMode::TargetMode || mode == ColorMode::Class) && !reference)) {
        layer.gl_colors = 0;
    } else {
        upload_colors(mode, alpha, reference);
        layer.gl_colors = m_colors;
    }
    return true;
}

}  // namespace fmp
