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
    // The stream's position, and putting it back (a saved session continues the same batches).
    RngState rng_state() const { return m_rng.save(); }
    void set_rng_state(const RngState& state) { m_rng.restore(state); }

private:
    void couple_within_classes(Batch& batch);

    Rng m_rng{1};
    Coupler m_coupler;
    std::vector<int> m_order, m_sorted_classes;  // couple_within_classes' scratch
    Points m_group_x0, m_group_x1;
};

}  // namespace fmp
