// Immutable compute buffers and the fenced, persistently mapped upload and read-back rings.
#include "core/engine/gl/gl_buffers.h"

#include <glad/gl.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace fmp {
namespace {

constexpr GLuint64 k_wait_ns = GLuint64(60) * 1000000000ull;

void wait_fence(GLsync sync) {
    GLenum r = glClientWaitSync(sync, GL_SYNC_FLUSH_COMMANDS_BIT, k_wait_ns);
    if (r == GL_WAIT_FAILED || r == GL_TIMEOUT_EXPIRED)
        throw std::runtime_error("the GPU did not finish a queued copy within 60 s");
}

std::size_t grown(std::size_t need, std::size_t have) {
    std::size_t n = std::max<std::size_t>(have, 256);
    while (n < need) n *= 2;
    return n;
}

// A persistently mapped buffer for the host to read (read = true) or write.
unsigned create_mapped(std::size_t bytes, bool read, void** mapped) {
    unsigned id = 0;
    glGenBuffers(1, &id);
    glBindBuffer(GL_COPY_WRITE_BUFFER, id);
    const GLbitfield access =
        (read ? GL_MAP_READ_BIT : GL_MAP_WRITE_BIT) | GL_MAP_PERSISTENT_BIT | GL_MAP_COHERENT_BIT;
    // Client storage for read-backs: the GPU writes host memory once, the host reads it cached.
    glBufferStorage(GL_COPY_WRITE_BUFFER, static_cast<GLsizeiptr>(bytes), nullptr,
                    access | (read ? GL_CLIENT_STORAGE_BIT : 0));
    *mapped = glMapBufferRange(GL_COPY_WRITE_BUFFER, 0, static_cast<GLsizeiptr>(bytes), access);
    glBindBuffer(GL_COPY_WRITE_BUFFER, 0);
    if (!*mapped) throw std::runtime_error("the driver could not map a transfer buffer persistently");
    return id;
}

void delete_mapped(unsigned id) {
    if (!id || !glad_glDeleteBuffers) return;
    glBindBuffer(GL_COPY_WRITE_BUFFER, id);
    glUnmapBuffer(GL_COPY_WRITE_BUFFER);
    glBindBuffer(GL_COPY_WRITE_BUFFER, 0);
    glDeleteBuffers(1, &id);
}

void copy_buffer(unsigned from, std::size_t from_offset, unsigned to, std::size_t to_offset,
                 std::size_t bytes) {
    glBindBuffer(GL_COPY_READ_BUFFER, from);
    glBindBuffer(GL_COPY_WRITE_BUFFER, to);
    glCopyBufferSubData(GL_COPY_READ_BUFFER, GL_COPY_WRITE_BUFFER, static_cast<GLintptr>(from_offset),
                        static_cast<GLintptr>(to_offset), static_cast<GLsizeiptr>(bytes));
    glBindBuffer(GL_COPY_READ_BUFFER, 0);
    glBindBuffer(GL_COPY_WRITE_BUFFER, 0);
}

}  // namespace

bool gl_has_buffer_storage() {
    return GLAD_GL_ARB_buffer_storage && glad_glBufferStorage && glad_glMapBufferRange;
}

// ---- GlBuffer
GlBuffer::~GlBuffer() {
    if (m_id && glad_glDeleteBuffers) glDeleteBuffers(1, &m_id);
}

void GlBuffer::reserve(std::size_t bytes) {
    bytes = std::max<std::size_t>(bytes, 16);
    if (m_id && bytes <= m_bytes) return;
    if (m_id) glDeleteBuffers(1, &m_id);
    glGenBuffers(1, &m_id);
    glBindBuffer(GL_SHADER_STORAGE_BUFFER, m_id);
    if (gl_has_buffer_storage())
        glBufferStorage(GL_SHADER_STORAGE_BUFFER, static_cast<GLsizeiptr>(bytes), nullptr,
                        GL_DYNAMIC_STORAGE_BIT);
    else
        glBufferData(GL_SHADER_STORAGE_BUFFER, static_cast<GLsizeiptr>(bytes), nullptr, GL_DYNAMIC_COPY);
    m_bytes = bytes;
    if (m_counters) ++m_counters->allocations;
}

void GlBuffer::upload(const void* data, std::size_t bytes, std::size_t offset) {
    reserve(offset + bytes);
    if (bytes == 0) return;
    glBindBuffer(GL_SHADER_STORAGE_BUFFER, m_id);
    glBufferSubData(GL_SHADER_STORAGE_BUFFER, static_cast<GLintptr>(offset),
                    static_cast<GLsizeiptr>(bytes), data);
    if (m_counters) ++m_counters->sub_data_uploads;
}

void GlBuffer::zero() {
    reserve(m_bytes);
    glBindBuffer(GL_SHADER_STORAGE_BUFFER, m_id);
    const uint32_t zero = 0;
    glClearBufferData(GL_SHADER_STORAGE_BUFFER, GL_R32UI, GL_RED_INTEGER, GL_UNSIGNED_INT, &zero);
}

void GlBuffer::bind(int binding) const {
    glBindBufferBase(GL_SHADER_STORAGE_BUFFER, static_cast<GLuint>(binding), m_id);
}

void GlBuffer::bind_range(int binding, std::size_t offset, std::size_t bytes) const {
    glBindBufferRange(GL_SHADER_STORAGE_BUFFER, static_cast<GLuint>(binding), m_id,
                      static_cast<GLintptr>(offset), static_cast<GLsizeiptr>(bytes));
}

// ---- GlReadback
GlReadback::~GlReadback() {
    delete_mapped(m_id);
}

void GlReadback::reserve(std::size_t bytes) {
    if (m_id && bytes <= m_bytes) return;
    delete_mapped(m_id);
    m_bytes = grown(bytes, m_bytes);
    m_id = create_mapped(m_bytes, true, &m_mapped);
    if (m_counters) ++m_counters->allocations;
}

void GlReadback::read(const GlBuffer& source, void* out, std::size_t bytes, std::size_t offset) {
    if (bytes == 0) return;
    // Shader writes must land before a copy reads them.
    glMemoryBarrier(GL_BUFFER_UPDATE_BARRIER_BIT);
    if (!gl_has_buffer_storage()) {
        glBindBuffer(GL_SHADER_STORAGE_BUFFER, source.id());
        glGetBufferSubData(GL_SHADER_STORAGE_BUFFER, static_cast<GLintptr>(offset),
                           static_cast<GLsizeiptr>(bytes), out);
        if (m_counters) ++m_counters->get_sub_data_reads, ++m_counters->blocking_reads;
        return;
    }
    reserve(bytes);
    copy_buffer(source.id(), offset, m_id, 0, bytes);
    GLsync sync = glFenceSync(GL_SYNC_GPU_COMMANDS_COMPLETE, 0);
    wait_fence(sync);
    glDeleteSync(sync);
    std::memcpy(out, m_mapped, bytes);
    if (m_counters) ++m_counters->blocking_reads;
}

// ---- GlMirror
GlMirror::~GlMirror() {
    delete_mapped(m_id);
}

void GlMirror::reserve(std::size_t bytes) {
    if (bytes <= m_bytes && (m_id || !m_fallback.empty())) return;
    delete_mapped(m_id);
    m_id = 0;
    m_bytes = bytes;
    if (gl_has_buffer_storage()) {
        m_id = create_mapped(bytes, true, &m_mapped);
        std::memset(m_mapped, 0, bytes);
    } else {
        m_fallback.assign(bytes, 0);
    }
    if (m_counters) ++m_counters->allocations;
}

void GlMirror::queue_copy(const GlBuffer& source, std::size_t offset, std::size_t bytes) {
    queue_copy_to(source, offset, bytes, offset);
}

void GlMirror::queue_copy_to(const GlBuffer& source, std::size_t offset, std::size_t bytes, std::size_t to) {
    if (bytes == 0) return;
    if (to + bytes > m_bytes) throw std::logic_error("GlMirror: copy past the mirror's end");
    glMemoryBarrier(GL_BUFFER_UPDATE_BARRIER_BIT);
    if (!m_id) {
        glBindBuffer(GL_SHADER_STORAGE_BUFFER, source.id());
        glGetBufferSubData(GL_SHADER_STORAGE_BUFFER, static_cast<GLintptr>(offset),
                           static_cast<GLsizeiptr>(bytes), m_fallback.data() + to);
        if (m_counters) ++m_counters->get_sub_data_reads;
        return;
    }
    copy_buffer(source.id(), offset, m_id, to, bytes);
}

const void* GlMirror::data(std::size_t offset) const {
    return m_id ? static_cast<const unsigned char*>(m_mapped) + offset : m_fallback.data() + offset;
}

// ---- GlUploadRing
GlUploadRing::GlUploadRing(int slots, GlTransferCounters* counters)
    : m_slots(static_cast<std::size_t>(std::max(slots, 1))), m_counters(counters) {}

GlUploadRing::~GlUploadRing() {
    for (Slot& s : m_slots) {
        if (s.fence && glad_glDeleteSync) glDeleteSync(static_cast<GLsync>(s.fence));
        if (s.mapped) delete_mapped(s.id);
        else if (s.id && glad_glDeleteBuffers) glDeleteBuffers(1, &s.id);
    }
}

void GlUploadRing::wait(Slot& slot) {
    if (!slot.fence) return;
    GLsync sync = static_cast<GLsync>(slot.fence);
    if (glClientWaitSync(sync, 0, 0) != GL_ALREADY_SIGNALED) {
        if (m_counters) ++m_counters->upload_waits;
        wait_fence(sync);
    }
    glDeleteSync(sync);
    slot.fence = nullptr;
}

void* GlUploadRing::acquire(std::size_t bytes) {
    m_current = (m_current + 1) % static_cast<int>(m_slots.size());
    Slot& s = m_slots[static_cast<std::size_t>(m_current)];
    wait(s);
    if (bytes > s.bytes || !s.id) {
        const std::size_t size = grown(bytes, s.bytes);
        if (gl_has_buffer_storage()) {
            delete_mapped(s.id);
            s.id = create_mapped(size, false, &s.mapped);
        } else {
            if (s.id) glDeleteBuffers(1, &s.id);
            glGenBuffers(1, &s.id);
            glBindBuffer(GL_SHADER_STORAGE_BUFFER, s.id);
            glBufferData(GL_SHADER_STORAGE_BUFFER, static_cast<GLsizeiptr>(size), nullptr, GL_STREAM_DRAW);
            s.staging.resize(size);
        }
        s.bytes = size;
        if (m_counters) ++m_counters->allocations;
    }
    if (m_counters) ++m_counters->ring_uploads;
    return s.mapped ? s.mapped : s.staging.data();
}

void GlUploadRing::bind(int binding) const {
    if (m_current < 0) throw std::logic_error("GlUploadRing: bind before acquire");
    const Slot& s = m_slots[static_cast<std::size_t>(m_current)];
    if (!s.mapped) {
        glBindBuffer(GL_SHADER_STORAGE_BUFFER, s.id);
        glBufferSubData(GL_SHADER_STORAGE_BUFFER, 0, static_cast<GLsizeiptr>(s.staging.size()), s.staging.data());
    }
    glBindBufferBase(GL_SHADER_STORAGE_BUFFER, static_cast<GLuint>(binding), s.id);
}

void GlUploadRing::retire() {
    if (m_current < 0) return;
    Slot& s = m_slots[static_cast<std::size_t>(m_current)];
    if (s.fence) glDeleteSync(static_cast<GLsync>(s.fence));
    s.fence = glFenceSync(GL_SYNC_GPU_COMMANDS_COMPLETE, 0);
}

}  // namespace fmp
