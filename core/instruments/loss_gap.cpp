// Measures the CFM and FM losses of a network on one fixed batch.
#include "core/instruments/loss_gap.h"

#include <string>

#include "core/base/rng.h"
#include "core/flow/marginal_velocity.h"

namespace fmp {

int EvaluationBatch::points() const {
    int n = 0;
    for (const Points& p : xt) n += static_cast<int>(p.rows());
    return n;
}

EvaluationBatch make_evaluation_batch(const ProbabilityPath& path, const Points& targets,
                                      int groups_per_bin, int points_per_group, uint64_t seed) {
    if (targets.rows() == 0) throw InputError("evaluation batch: the target has no points");
    if (groups_per_bin < 1 || groups_per_bin > 64 || points_per_group < 1 ||
        points_per_group > 65536)
        throw InputError(
            "evaluation batch: groups per bin must be in 1..64 and points per group in 1..65536");
    EvaluationBatch b;
    Rng rng(seed, 23);
    const int groups = k_loss_time_bins * groups_per_bin;
    std::vector<double> gap_sum(k_loss_time_bins, 0.0);
    std::vector<int> gap_count(k_loss_time_bins, 0);
    double total = 0.0;
    for (int g = 0; g < groups; ++g) {
        const int bin = g / groups_per_bin;
        const float t = (static_cast<float>(bin) +
                         (static_cast<float>(g % groups_per_bin) + 0.5f) / groups_per_bin) /
                        k_loss_time_bins;
        const PathCoefficients c = path.at(t);
        // A standard normal x0: every path here carries the source's scale in sigma_t (VE) or
        // has sigma_0 = 1, as in training.
        Points z(points_per_group, 2), x1(points_per_group, 2);
        for (int i = 0; i < points_per_group; ++i) {
            z(i, 0) = rng.normal();
            z(i, 1) = rng.normal();
            x1.row(i) = targets.row(
                static_cast<Eigen::Index>(rng.below(static_cast<uint32_t>(targets.rows()))));
        }
        Points xt = c.alpha * x1 + c.sigma * z;
        Points uc = c.d_alpha * x1 + c.d_sigma * z;
        Points um;
        marginal_velocity(path, targets, t, xt, um);
        const double gap = (uc - um).rowwise().squaredNorm().cast<double>().sum();
        gap_sum[static_cast<std::size_t>(bin)] += gap;
        gap_count[static_cast<std::size_t>(bin)] += points_per_group;
        total += gap;
        b.times.push_back(t);
        b.bin.push_back(bin);
        b.xt.push_back(std::move(xt));
        b.u_cond.push_back(std::move(uc));
        b.u_marg.push_back(std::move(um));
    }
    b.expected_gap = total / b.points();
    for (int k = 0; k < k_loss_time_bins; ++k)
        b.expected_gap_by_t[static_cast<std::size_t>(k)] = static_cast<float>(
            gap_sum[static_cast<std::size_t>(k)] / gap_count[static_cast<std::size_t>(k)]);
    return b;
}

LossGap measure_loss_gap(Engine& engine, const EvaluationBatch& batch) {
    LossGap out;
    std::vector<double> cfm(k_loss_time_bins, 0.0), fm(k_loss_time_bins, 0.0);
    std::vector<int> count(k_loss_time_bins, 0);
    Points v;
    for (std::size_t g = 0; g < batch.xt.size(); ++g) {
        engine.eval_velocity(batch.xt[g], batch.times[g], v);
        const double c = (v - batch.u_cond[g]).rowwise().squaredNorm().cast<double>().sum();
        const double f = (v - batch.u_marg[g]).rowwise().squaredNorm().cast<double>().sum();
        const auto k = static_cast<std::size_t>(batch.bin[g]);
        cfm[k] += c;
        fm[k] += f;
        count[k] += static_cast<int>(v.rows());
        out.cfm += c;
        out.fm += f;
    }
    const double n = batch.points();
    out.cfm /= n;
    out.fm /= n;
    out.gap = out.cfm - out.fm;
    for (std::size_t k = 0; k < static_cast<std::size_t>(k_loss_time_bins); ++k) {
        if (count[k] == 0) continue;
        out.cfm_by_t[k] = static_cast<float>(cfm[k] / count[k]);
        out.fm_by_t[k] = static_cast<float>(fm[k] / count[k]);
        out.gap_by_t[k] = out.cfm_by_t[k] - out.fm_by_t[k];
    }
    return out;
}

}  // namespace fmp
