// Samples and couples training batches on the CPU, for both engines (the GL engine's plan couplings).
#pragma once
#include <cstdint>
#include <vector>

#include "core/base/rng.h"
#include "core/base/types.h"
#include "core/data/dataset.h"
#include "core/engine/engine.h"
#include "core/flow/coupling.h"

namespace fmp {

// Rows [begin, end) of a batch, coupled on their own: the whole batch, or one class's rows.
struct RowGroup {
    int begin = 0;
    int end = 0;
};

// Whether a batch's coupling can be solved after the batch's later random draws, anywhere: true
// for the exact OT only, whose plan draws no random numbers. The entropic plans draw their pairs
// from the batch's stream, and Independent and Paired have nothing to solve.
bool coupling_can_defer(CouplingKind kind);

// One random stream and one Coupler. The order of its draws defines a run for a seed, so both
// engines share this code: the same classes, the same coupling within each class and the same
// dropout to the null class wherever a batch is sampled on the CPU. Reuses its buffers: after the
// first batch of a size, next() allocates nothing (the coupler aside).
class BatchSampler {
public:
    // Starts the stream over at (seed, stream) with config's coupling.
    void reset(const TrainConfig& config, uint64_t seed, uint64_t stream);
    // The coupling from the next batch on; the stream goes on.
    void set_coupling(CouplingKind kind, const CouplingOptions& options);
    // Samples config.batch rows from source and target (one index into both point sets for
    // Paired), their times, couples them, and for a class-conditional network fills
    // out.classes (each dropped to the null class with probability config.p_uncond; empty
    // otherwise) and for the Schroedinger bridge out.noise (empty otherwise).
    void next(const TrainConfig& config, const Dataset& source, const Dataset& target, Batch& out);
    // next() with the expensive part split off: where the coupling can be deferred
    // (coupling_can_defer), the batch is left uncoupled (sorted by class when each class is
    // coupled on its own) and *deferred receives the row groups still to be coupled; a
    // DeferredCoupler finishing them later, on any thread, gives next()'s batch bit for bit.
    // The stream moves on exactly as next() moves it. Otherwise (or with deferred null) this is
    // next(), and *deferred is cleared.
    void draw(const TrainConfig& config, const Dataset& source, const Dataset& target, Batch& out,
              std::vector<RowGroup>* deferred);
    // Whether draw() also leaves the entropic couplings (Sinkhorn, SB) to the caller: the GL
    // engine solves their plans and draws their pairs on the GPU, with counter-based random
    // numbers, so the stream then skips the pair draws (a different run from next()'s, as
    // deterministic). Off after construction; reset() keeps it.
    void leave_entropic_plans(bool on) { m_leave_entropic = on; }
    // The stream's position, and putting it back (a saved session continues the same batches).
    RngState rng_state() const { return m_rng.save(); }
    void set_rng_state(const RngState& state) { m_rng.restore(state); }

private:
    void sort_by_class(Batch& batch);

    Rng m_rng{1};
    Coupler m_coupler;
    std::vector<int> m_order, m_sorted_classes;  // sort_by_class' scratch
    Points m_group_x0, m_group_x1;
    std::vector<RowGroup> m_groups;
    bool m_leave_entropic = false;
};

// Finishes the batches BatchSampler::draw left uncoupled. One per thread: its Coupler's buffers
// are its own.
class DeferredCoupler {
public:
    explicit DeferredCoupler(CouplingKind kind = CouplingKind::Independent, const CouplingOptions& options = {});
    // Couples each group of batch's rows on its own, as the sampler's coupler would have.
    void couple(Batch& batch, const std::vector<RowGroup>& groups);

private:
    Coupler m_coupler;
    Rng m_unused;  // the deferrable couplings draw nothing from it
    Points m_group_x0, m_group_x1;
};

}  // namespace fmp
