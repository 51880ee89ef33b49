// GPU buffers of the compute engine: immutable storage, and fenced persistently mapped rings for
// uploads and read-backs, so no hot path calls glGetBufferSubData or stalls on a buffer in use.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace fmp {

// What crossed between host and GPU, for tests and benchmarks: the hot paths (training steps,
// plan-coupled batches, losses) must show up only as ring uploads and ring reads.
struct GlTransferCounters {
    int64_t blocking_reads = 0;     // a result the caller needs now: copy, fence, wait
    int64_t ring_reads = 0;         // read from a mapped mirror after its fence signalled (no wait)
    int64_t ring_uploads = 0;       // written into a mapped upload slot
    int64_t upload_waits = 0;       // of those, slots the GPU still read when wanted again
    int64_t sub_data_uploads = 0;   // glBufferSubData (weights, field points: not per step)
    int64_t get_sub_data_reads = 0; // glGetBufferSubData: only without ARB_buffer_storage
    int64_t allocations = 0;        // buffer storage (re)created
};

// True when the context has immutable storage (GL 4.4 or ARB_buffer_storage): every NVIDIA,
// AMD and Mesa driver of the last decade. Without it the classes below fall back to
// glBufferData / glBufferSubData / glGetBufferSubData, correct but with the old stalls.
bool gl_has_buffer_storage();

// A compute buffer with immutable storage (written by glBufferSubData, never mapped): the driver
// keeps it in video memory. Growing replaces the buffer, so its id changes and contents are lost.
class GlBuffer {
  public:
    explicit GlBuffer(GlTransferCounters* counters = nullptr) : m_counters(counters) {}
    ~GlBuffer();
    GlBuffer(const GlBuffer&) = delete;
    GlBuffer& operator=(const GlBuffer&) = delete;

    unsigned id() const { return m_id; }
    std::size_t bytes() const { return m_bytes; }
    void reserve(std::size_t bytes);
    void upload(const void* data, std::size_t bytes, std::size_t offset = 0);
    void zero();
    void bind(int binding) const;
    // [offset, offset + bytes) only; offset a multiple of GL_SHADER_STORAGE_BUFFER_OFFSET_ALIGNMENT.
    void bind_range(int binding, std::size_t offset, std::size_t bytes) const;

  private:
    GlTransferCounters* m_counters;
    unsigned m_id = 0;
    std::size_t m_bytes = 0;
};

// Synchronous read-backs through a persistently mapped client-storage buffer: the GPU copies
// into it, a fence is waited for, the host copies out. The source buffer never migrates to host
// memory (NVIDIA's "copied/moved from VIDEO memory to HOST memory" warning).
class GlReadback {
  public:
    explicit GlReadback(GlTransferCounters* counters) : m_counters(counters) {}
    ~GlReadback();
    GlReadback(const GlReadback&) = delete;
    GlReadback& operator=(const GlReadback&) = delete;

    void read(const GlBuffer& source, void* out, std::size_t bytes, std::size_t offset = 0);

  private:
    void reserve(std::size_t bytes);
    GlTransferCounters* m_counters;
    unsigned m_id = 0;
    std::size_t m_bytes = 0;
    void* m_mapped = nullptr;
};

// A host-visible copy of ranges of a GPU buffer, same offsets: copies are queued on the GPU before
// a fence and read through the mapping once that fence has signalled, so reading never waits.
class GlMirror {
  public:
    explicit GlMirror(GlTransferCounters* counters) : m_counters(counters) {}
    ~GlMirror();
    GlMirror(const GlMirror&) = delete;
    GlMirror& operator=(const GlMirror&) = delete;

    // Storage for `bytes`; contents are lost when it grows. Call with no copy in flight.
    void reserve(std::size_t bytes);
    // Queues source[offset, offset + bytes) -> mirror[offset, ...), or a copy to `to` instead.
    void queue_copy(const GlBuffer& source, std::size_t offset, std::size_t bytes);
    void queue_copy_to(const GlBuffer& source, std::size_t offset, std::size_t bytes, std::size_t to);
    // The mirror's bytes at `offset`: valid for ranges whose copy's fence has signalled.
    const void* data(std::size_t offset) const;
    void count_read() {
        if (m_counters) ++m_counters->ring_reads;
    }

  private:
    GlTransferCounters* m_counters;
    unsigned m_id = 0;
    std::size_t m_bytes = 0;
    void* m_mapped = nullptr;
    std::vector<unsigned char> m_fallback;  // without buffer storage: glGetBufferSubData lands here
};

// Uploads through a few persistently mapped buffers used in turn; a slot is written again only
// after the fence placed behind the dispatches that read it has signalled, so the host fills the
// next batch while the GPU still trains on the previous ones (no glBufferSubData on a buffer a
// queued dispatch reads, which makes drivers stall or copy).
class GlUploadRing {
  public:
    GlUploadRing(int slots, GlTransferCounters* counters);
    ~GlUploadRing();
    GlUploadRing(const GlUploadRing&) = delete;
    GlUploadRing& operator=(const GlUploadRing&) = delete;

    // The next slot, at least `bytes` large and mapped for writing (waits only if the GPU still
    // reads it). Write through the pointer, then bind() and dispatch, then retire().
    void* acquire(std::size_t bytes);
    void bind(int binding) const;
    // Fences the slot acquired last: it is reused once the dispatches queued so far are done.
    void retire();

  private:
    struct Slot {
        unsigned id = 0;
        std::size_t bytes = 0;
        void* mapped = nullptr;
        void* fence = nullptr;
        std::vector<unsigned char> staging;  // without buffer storage: uploaded at bind()
    };
    void wait(Slot& slot);
    std::vector<Slot> m_slots;
    int m_current = -1;
    GlTransferCounters* m_counters;
};

}  // namespace fmp
