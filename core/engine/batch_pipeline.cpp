// The batch pipeline: producer threads that sample and couple training batches ahead of the trainer.
#include "core/engine/batch_pipeline.h"

#include <algorithm>
#include <utility>

#include "core/base/parallel.h"

namespace fmp {

BatchPipeline::BatchPipeline(int depth, int workers) {
    // One core stays the trainer's.
    m_workers = workers > 0 ? workers : std::max(1, std::min(4, thread_count() - 1));
    m_depth = depth > 0 ? depth : 2 * m_workers + 2;
    m_slots.resize(static_cast<std::size_t>(m_depth));
    m_rng_next = m_sampler.rng_state();
}

BatchPipeline::~BatchPipeline() { stop(); }

void BatchPipeline::reset(const TrainConfig& config, const Dataset& source, const Dataset& target,
                          uint64_t seed, uint64_t stream) {
    config.validate();
    check_paired(config, source, target);
    flush();
    m_config = config;
    m_source = source;
    m_target = target;
    m_sampler.reset(config, seed, stream);
    m_rng_next = m_sampler.rng_state();
    m_handed_out = 0;
    m_waits = 0;
    std::lock_guard<std::mutex> lock(m_mutex);
    m_peak_solving = 0;
}

void BatchPipeline::set_coupling(CouplingKind kind, const CouplingOptions& options) {
    TrainConfig config = with_coupling(m_config, kind, options, m_source, m_target);
    flush();
    m_sampler.set_coupling(kind, options);
    m_config = std::move(config);
}

void BatchPipeline::set_config(const TrainConfig& config) {
    config.validate();
    check_paired(config, m_source, m_target);
    flush();
    m_sampler.set_coupling(config.coupling, config.coupling_options);
    m_config = config;
}

void BatchPipeline::set_data(const Dataset& source, const Dataset& target) {
    check_paired(m_config, source, target);
    flush();
    m_source = source;
    m_target = target;
}

void BatchPipeline::set_rng_state(const RngState& state) {
    flush();
    m_sampler.set_rng_state(state);
    m_rng_next = m_sampler.rng_state();
}

void BatchPipeline::flush() {
    stop();
    for (Slot& slot : m_slots) {
        slot.state = SlotState::Free;
        slot.error = nullptr;
    }
    m_next_draw = 0;
    m_next_out = 0;
    m_drawing = false;
    m_failed = false;
    m_solving = 0;
    // The producers drew past the batches handed out; those draws are undone.
    m_sampler.set_rng_state(m_rng_next);
}

void BatchPipeline::leave_entropic_plans(bool on) {
    flush();
    m_sampler.leave_entropic_plans(on);
    m_leave_entropic = on;
}

const Batch& BatchPipeline::next() {
    const CouplingKind kind = m_config.coupling;
    const bool left = m_leave_entropic && (kind == CouplingKind::Sinkhorn || kind == CouplingKind::SchrodingerBridge);
    if (!coupling_solves_plan(kind) || left) {
        // Nothing to solve here: a hand-off to another thread would cost more than the draws.
        m_sampler.draw(m_config, m_source, m_target, m_current, &m_groups);
        m_rng_next = m_sampler.rng_state();
        ++m_handed_out;
        return m_current;
    }
    m_groups.clear();
    if (m_threads.empty()) start();
    std::unique_lock<std::mutex> lock(m_mutex);
    auto ready = [this] { return m_next_out < m_next_draw && slot_of(m_next_out).state == SlotState::Ready; };
    if (!ready()) {
        ++m_waits;
        m_ready.wait(lock, ready);
    }
    Slot& slot = slot_of(m_next_out);
    if (slot.error) {
        const std::exception_ptr error = slot.error;
        lock.unlock();
        flush();
        std::rethrow_exception(error);
    }
    // A swap, not a copy: the slot keeps the old batch's buffers for the next one it receives.
    std::swap(m_current, slot.batch);
    m_rng_next = slot.rng_after;
    slot.state = SlotState::Free;
    ++m_next_out;
    lock.unlock();
    m_work.notify_all();
    ++m_handed_out;
    return m_current;
}

int BatchPipeline::ready() const {
    std::lock_guard<std::mutex> lock(m_mutex);
    int n = 0;
    for (const Slot& slot : m_slots) n += slot.state == SlotState::Ready;
    return n;
}

int BatchPipeline::peak_parallel_solves() const {
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_peak_solving;
}

void BatchPipeline::start() {
    // Only the deferred solves can run side by side; any other coupling is one sequential stream.
    const int threads = coupling_can_defer(m_config.coupling) ? m_workers : 1;
    m_stop = false;
    try {
        for (int i = 0; i < threads; ++i) m_threads.emplace_back([this] { produce(); });
    } catch (...) {
        stop();
        throw;
    }
}

void BatchPipeline::stop() {
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_stop = true;
    }
    m_work.notify_all();
    for (std::thread& thread : m_threads) thread.join();
    m_threads.clear();
    m_stop = false;
}

// Each producer solves the oldest batch waiting for its coupling if there is one (the trainer
// waits for the oldest first), and otherwise draws the next batch when a slot is free and no one
// else is drawing: the draws stay in order on the one sampler, the solves spread over the workers.
void BatchPipeline::produce() {
    DeferredCoupler coupler(m_config.coupling, m_config.coupling_options);
    std::unique_lock<std::mutex> lock(m_mutex);
    while (!m_stop) {
        Slot* job = nullptr;
        for (int64_t s = m_next_out; s < m_next_draw && !job; ++s)
            if (slot_of(s).state == SlotState::Drawn) job = &slot_of(s);
        if (job) {
            job->state = SlotState::Solving;
            m_peak_solving = std::max(m_peak_solving, ++m_solving);
            lock.unlock();
            try {
                coupler.couple(job->batch, job->groups);
            } catch (...) {
                job->error = std::current_exception();
            }
            lock.lock();
            --m_solving;
            job->state = SlotState::Ready;
            m_ready.notify_one();
            continue;
        }
        if (!m_drawing && !m_failed && m_next_draw - m_next_out < m_depth) {
            Slot& slot = slot_of(m_next_draw);
            slot.state = SlotState::Drawing;
            m_drawing = true;
            lock.unlock();
            std::exception_ptr error;
            try {
                m_sampler.draw(m_config, m_source, m_target, slot.batch, &slot.groups);
            } catch (...) {
                error = std::current_exception();
            }
            const RngState after = m_sampler.rng_state();
            lock.lock();
            m_drawing = false;
            slot.rng_after = after;
            slot.error = error;
            ++m_next_draw;
            if (error) m_failed = true;
            slot.state = error || slot.groups.empty() ? SlotState::Ready : SlotState::Drawn;
            if (slot.state == SlotState::Ready) m_ready.notify_one();
            // A batch to solve, and the sampler free for the next draw.
            m_work.notify_all();
            continue;
        }
        m_work.wait(lock);
    }
}

}  // namespace fmp
