// Training batches sampled and coupled on the CPU: the stream both engines draw from.
#include "core/engine/batch_sampler.h"

#include <algorithm>

namespace fmp {

namespace {

// The one place batches are coupled, so a deferred coupling is next()'s to the bit. A group that
// is the whole batch is coupled in place; others through a copy, as Coupler works on whole
// matrices (a group's result depends on its rows only).
void couple_groups(Coupler& coupler, Rng& rng, Batch& batch, const std::vector<RowGroup>& groups,
                   Points& group_x0, Points& group_x1) {
    const auto b = static_cast<int>(batch.x0.rows());
    for (const RowGroup& g : groups) {
        if (g.begin == 0 && g.end == b) {
            coupler.couple(batch.x0, batch.x1, rng);
            continue;
        }
        const int n = g.end - g.begin;
        group_x0 = batch.x0.middleRows(g.begin, n);
        group_x1 = batch.x1.middleRows(g.begin, n);
        coupler.couple(group_x0, group_x1, rng);
        batch.x0.middleRows(g.begin, n) = group_x0;
        batch.x1.middleRows(g.begin, n) = group_x1;
    }
}

}  // namespace

bool coupling_can_defer(CouplingKind kind) { return kind == CouplingKind::MinibatchOT; }

void BatchSampler::reset(const TrainConfig& config, uint64_t seed, uint64_t stream) {
    m_coupler = Coupler(config.coupling, config.coupling_options);
    m_rng.reseed(seed, stream);
}

void BatchSampler::set_coupling(CouplingKind kind, const CouplingOptions& options) {
    m_coupler = Coupler(kind, options);
}

void BatchSampler::next(const TrainConfig& config, const Dataset& source, const Dataset& target,
                        Batch& batch) {
    draw(config, source, target, batch, nullptr);
}

// The order of RNG draws defines the run for a seed: source, target (with classes), times, the
// coupling, the dropout, the bridge noise. Deferring the coupling keeps that order because only
// the entropic couplings draw, and those are deferred only when left to the GPU, which draws
// their pairs itself (leave_entropic_plans); the dropout reads the classes, which the class sort
// has already put in their final order.
void BatchSampler::draw(const TrainConfig& config, const Dataset& source, const Dataset& target,
                        Batch& batch, std::vector<RowGroup>* deferred) {
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
    m_groups.assign(1, RowGroup{0, b});
    if (labelled && coupling_solves_plan(config.coupling)) sort_by_class(batch);
    const CouplingKind kind = m_coupler.kind();
    const bool entropic = kind == CouplingKind::Sinkhorn || kind == CouplingKind::SchrodingerBridge;
    if (deferred && (coupling_can_defer(kind) || (m_leave_entropic && entropic))) {
        deferred->assign(m_groups.begin(), m_groups.end());
    } else {
        couple_groups(m_coupler, m_rng, batch, m_groups, m_group_x0, m_group_x1);
        if (deferred) deferred->clear();
    }
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
// untrained elsewhere. So the rows are put in class order and each class's rows become a group
// coupled on its own.
void BatchSampler::sort_by_class(Batch& batch) {
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
    batch.x0.swap(m_group_x0);
    batch.x1.swap(m_group_x1);
    batch.classes.swap(sorted);
    m_groups.clear();
    for (int begin = 0; begin < b;) {
        int end = begin + 1;
        while (end < b && batch.classes[static_cast<std::size_t>(end)] == batch.classes[static_cast<std::size_t>(begin)])
            ++end;
        m_groups.push_back(RowGroup{begin, end});
        begin = end;
    }
}

DeferredCoupler::DeferredCoupler(CouplingKind kind, const CouplingOptions& options) : m_coupler(kind, options) {}

void DeferredCoupler::couple(Batch& batch, const std::vector<RowGroup>& groups) {
    couple_groups(m_coupler, m_unused, batch, groups, m_group_x0, m_group_x1);
}

}  // namespace fmp
