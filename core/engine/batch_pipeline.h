// Training batches sampled and coupled ahead of the trainer on producer threads: a BatchSampler's stream, bit for bit.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "core/base/rng.h"
#include "core/data/dataset.h"
#include "core/engine/batch_sampler.h"
#include "core/engine/engine.h"
#include "core/flow/coupling.h"

namespace fmp {

// The exact OT assignment (about 0.4 ms at batch 256) costs more than a training step on a GPU,
// and the coupling does not depend on the weights, so batches can be solved ahead. Producer
// threads fill a ring of `depth` batches; next() hands them out in order. The k-th batch, and the
// stream's state after it, are those of a BatchSampler reset with the same (config, seed,
// stream) and given the same changes at the same batch: for the exact OT the random draws stay
// sequential (one producer at a time) while the solves of different batches run on several
// workers; the couplings that draw random numbers have one producer running next() ahead.
//
// The members are for one thread (the trainer's); the producers run only between the first
// next() after a reset or flush and the next flush, so a pipeline never asked for a batch costs
// nothing. Every setter flushes: the batches drawn but not handed out are dropped and the stream
// continues from the first of them, exactly where a sequential sampler would stand.
class BatchPipeline {
public:
    // 0: choose. workers: min(4, threads - 1), at least 1; depth: 2 workers + 2.
    explicit BatchPipeline(int depth = 0, int workers = 0);
    ~BatchPipeline();
    BatchPipeline(const BatchPipeline&) = delete;
    BatchPipeline& operator=(const BatchPipeline&) = delete;

    // Starts the stream over at (seed, stream) as BatchSampler::reset does, on copies of the
    // config and the datasets, and zeroes the counters. Throws InputError for an invalid config
    // or for Paired without pair sets (nothing changes then).
    void reset(const TrainConfig& config, const Dataset& source, const Dataset& target, uint64_t seed,
               uint64_t stream);
    // The coupling from the next batch not yet handed out. Throws InputError as with_coupling.
    void set_coupling(CouplingKind kind, const CouplingOptions& options);
    // Batch size, p_uncond, coupling, ... from the next batch not yet handed out; the stream goes
    // on. Throws InputError for an invalid config or for Paired without pair sets.
    void set_config(const TrainConfig& config);
    // The datasets from the next batch not yet handed out. Throws InputError for Paired without
    // pair sets.
    void set_data(const Dataset& source, const Dataset& target);

    // The next batch in order, waiting for it if it is not ready yet. Couplings without a plan
    // to solve (independent, paired) are drawn right here, on the caller's thread. Valid until next() is
    // called again (the other members leave it alone). An exception thrown while producing it
    // (a dataset that cannot be sampled, points the solver refuses) is rethrown here; the
    // pipeline is flushed then, and the stream stands before the failed batch.
    const Batch& next();
    // The entropic couplings (Sinkhorn, SB) left uncoupled for the GL engine to pair on the GPU
    // (BatchSampler::leave_entropic_plans): next() then draws their batches on the caller's
    // thread, as for Independent, and groups() says which rows each plan pairs. Flushes.
    void leave_entropic_plans(bool on);
    bool leaves_entropic_plans() const { return m_leave_entropic; }
    // The row groups the last batch next() handed out still needs coupled (empty: it is coupled).
    const std::vector<RowGroup>& groups() const { return m_groups; }

    // Where a sequential sampler would stand after the batches handed out so far (sessions save
    // this), and continuing from such a state.
    RngState rng_state() const { return m_rng_next; }
    void set_rng_state(const RngState& state);

    // Stops the producers and drops the batches not handed out; rng_state() stays.
    void flush();

    const TrainConfig& config() const { return m_config; }
    int depth() const { return m_depth; }
    // The producer threads of an exact OT stream; the other couplings run one.
    int workers() const { return m_workers; }
    // Since the last reset: batches handed out, and calls of next() that had to wait for theirs.
    int64_t handed_out() const { return m_handed_out; }
    int64_t waits() const { return m_waits; }
    // Batches ready in the ring now.
    int ready() const;
    // Since the last reset: the most deferred solves that were in progress at once (more than
    // one: the solves of different batches ran in parallel).
    int peak_parallel_solves() const;

private:
    enum class SlotState { Free, Drawing, Drawn, Solving, Ready };
    struct Slot {
        Batch batch;
        std::vector<RowGroup> groups;  // still to be coupled while Drawn
        RngState rng_after;            // the stream after this batch
        std::exception_ptr error;
        SlotState state = SlotState::Free;
    };

    void start();
    void stop();
    void produce();
    Slot& slot_of(int64_t sequence) { return m_slots[static_cast<std::size_t>(sequence % m_depth)]; }

    int m_depth = 1;
    int m_workers = 1;

    // Written only while no producer runs; the producers read them.
    TrainConfig m_config;
    Dataset m_source, m_target;

    // The trainer's side.
    BatchSampler m_sampler;  // used by the one producer drawing (m_drawing) while they run
    RngState m_rng_next;     // the stream before the first batch not handed out
    Batch m_current;         // the batch next() handed out last
    std::vector<RowGroup> m_groups;  // its rows still to be coupled (entropic plans left to the GPU)
    bool m_leave_entropic = false;
    int64_t m_handed_out = 0, m_waits = 0;
    std::vector<std::thread> m_threads;

    // Shared with the producers, under m_mutex. Sequence numbers count from the last flush.
    mutable std::mutex m_mutex;
    std::condition_variable m_work;   // producers: a slot freed, a batch drawn, stop
    std::condition_variable m_ready;  // the trainer: a batch became ready
    std::vector<Slot> m_slots;
    int64_t m_next_draw = 0;  // the next batch to draw
    int64_t m_next_out = 0;   // the next batch to hand out
    bool m_drawing = false;   // a producer is drawing (the sampler is in use)
    bool m_failed = false;    // a draw threw: the stream past it is undefined, so no more draws
    bool m_stop = false;
    int m_solving = 0, m_peak_solving = 0;
};

}  // namespace fmp
