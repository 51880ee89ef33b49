// Training batches sampled and coupled on the CPU: the stream both engines draw from.
#include "core/engine/batch_sampler.h"

#include <algorithm>

namespace fmp {

void BatchSampler::reset(const TrainConfig& config, uint64_t seed, uint64_t stream) {
    m_coupler = Coupler(config.coupling, config.coupling_options);
    m_rng.reseed(seed, stream);
}

void BatchSampler::set_coupling(CouplingKind kind, const CouplingOptions& options) {
    m_coupler = Coupler(kind, options);
}

// The order of RNG draws defines the run for a seed: source, target (with classes), times, the
// coupling, the dropout, the bridge noise.
void BatchSampler::next(const TrainConfig& config, const Dataset& source, const Dataset& target,
                        Batch& batch) {
    const int b = config.batch;
    batch.x0.resize(b, 2);
    batch.x1.resize(b, 2);
    batch.t.resize(b);
    if (config.coupling == CouplingKind::Paired) {
        // One index for both sides: the pair stays a pair.
        const Points& src = source.points();
        const Points& tgt = target.points();
        for (int i = 0; i < b; ++i) {
            const auto j = static_cast<Eigen::Index>(m_rng.below(static_cast<uint32_t>(src.rows())));
            batch.x0.row(i) = src.row(j);
            batch.x1.row(i) = tgt.row(j);
        }
    } else {
        source.sample_into(batch.x0, m_rng);
        const int classes = config.mlp.classes;
        if (classes > 0) {
            batch.classes.resize(static_cast<std::size_t>(b));
            target.sample_into(batch.x1, m_rng, batch.classes.data());
        } else {
            target.sample_into(batch.x1, m_rng);
        }
    }
    for (int i = 0; i < b; ++i) batch.t[i] = m_rng.uniform();
    const bool labelled = config.mlp.classes > 0 && config.coupling != CouplingKind::Paired;
    if (labelled && coupling_solves_plan(config.coupling))
        couple_within_classes(batch);
    else
        m_coupler.couple(batch.x0, batch.x1, m_rng);
    if (labelled) {
        // Classifier-free guidance's dropout: the null class teaches the unconditional field.
        for (int& c : batch.classes)
            if (m_rng.uniform() < config.p_uncond) c = config.mlp.classes;
    } else {
        batch.classes.clear();
    }
    if (config.coupling == CouplingKind::SchrodingerBridge) {
        batch.noise.resize(b, 2);
        for (int i = 0; i < b; ++i) batch.noise(i, 0) = m_rng.normal(), batch.noise(i, 1) = m_rng.normal();
    } else {
        batch.noise.resize(0, 2);
    }
}

// A class-conditional field transports the source to each class's points: a plan over the
// whole batch would send class k only the source points near it, and its field would be
// untrained elsewhere. So the rows are grouped by class and each group coupled on its own.
void BatchSampler::couple_within_classes(Batch& batch) {
    const int b = static_cast<int>(batch.t.size());
    m_order.resize(static_cast<std::size_t>(b));
    for (int i = 0; i < b; ++i) m_order[static_cast<std::size_t>(i)] = i;
    std::stable_sort(m_order.begin(), m_order.end(), [&](int i, int j) {
        return batch.classes[static_cast<std::size_t>(i)] < batch.classes[static_cast<std::size_t>(j)];
    });
    m_group_x0.resize(b, 2);
    m_group_x1.resize(b, 2);
    std::vector<int>& sorted = m_sorted_classes;
    sorted.resize(static_cast<std::size_t>(b));
    for (int k = 0; k < b; ++k) {
        const int i = m_order[static_cast<std::size_t>(k)];
        m_group_x0.row(k) = batch.x0.row(i);
        m_group_x1.row(k) = batch.x1.row(i);
        sorted[static_cast<std::size_t>(k)] = batch.classes[static_cast<std::size_t>(i)];
    }
    for (int begin = 0; begin < b;) {
        int end = begin + 1;
        while (end < b && sorted[static_cast<std::size_t>(end)] == sorted[static_cast<std::size_t>(begin)]) ++end;
        Points x0 = m_group_x0.middleRows(begin, end - begin), x1 = m_group_x1.middleRows(begin, end - begin);
        m_coupler.couple(x0, x1, m_rng);
        batch.x0.middleRows(begin, end - begin) = x0;
        batch.x1.middleRows(begin, end - begin) = x1;
        begin = end;
    }
    batch.classes.swap(sorted);
}

}  // namespace fmp
