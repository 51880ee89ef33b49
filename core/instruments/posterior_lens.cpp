// The posterior lens: posterior weights, conditional velocities and their spread at one point.
#include "core/instruments/posterior_lens.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/flow/marginal_velocity.h"

namespace fmp {

void LensSettings::validate() const {
    if (!(bandwidth > 0.0f && bandwidth <= 10.0f))
        throw InputError("lens bandwidth must be in (0, 10] (got " + std::to_string(bandwidth) +
                         ")");
    if (source_samples < 1 || source_samples > 4096)
        throw InputError("lens source samples must be in 1..4096 (got " +
                         std::to_string(source_samples) + ")");
}

void PosteriorLens::set_learned(Eigen::Vector2f v) {
    learned = v;
    error = (v - marginal).norm();
}

namespace {

void finish(PosteriorLens& lens) {
    lens.effective_count = 1.0f / std::max(lens.weights.squaredNorm(), 1e-30f);
}

void exact_lens(const ProbabilityPath& path, PosteriorLens& lens) {
    const float tc = std::clamp(lens.t, 0.0f, 1.0f - 1e-4f);
    const PathCoefficients c = path.at(tc);
    lens.marginal = marginal_velocity_at(path, lens.targets, lens.t, lens.x, &lens.weights);
    const float ds_over_s = c.d_sigma / c.sigma;
    const Eigen::Index n = lens.targets.rows();
    lens.conditional.resize(n, 2);
    double spread = 0.0;
    for (Eigen::Index i = 0; i < n; ++i) {
        const Eigen::Vector2f y = lens.targets.row(i).transpose();
        const Eigen::Vector2f u = ds_over_s * (lens.x - c.alpha * y) + c.d_alpha * y;
        lens.conditional.row(i) = u.transpose();
        spread += lens.weights[i] * (u - lens.marginal).squaredNorm();
    }
    lens.posterior_variance = static_cast<float>(spread);
}

void pairwise_lens(const ProbabilityPath& path, const Points& sources, const LensSettings& s,
                   PosteriorLens& lens) {
    const float tc = std::clamp(lens.t, 0.0f, 1.0f - 1e-4f);
    const PathCoefficients c = path.at(tc);
    const Eigen::Index n = lens.targets.rows();
    const Eigen::Index m = std::min<Eigen::Index>(sources.rows(), s.source_samples);
    if (m == 0) throw InputError("posterior lens: the source has no points");
    lens.approximate = true;
    lens.bandwidth = s.bandwidth;
    const float inv_two_h2 = 0.5f / (s.bandwidth * s.bandwidth);
    // The x0-part of each pair's point and velocity, shared by every target point.
    const Eigen::ArrayXf sx = c.sigma * sources.col(0).head(m).array();
    const Eigen::ArrayXf sy = c.sigma * sources.col(1).head(m).array();
    const Eigen::ArrayXf ux = c.d_sigma * sources.col(0).head(m).array();
    const Eigen::ArrayXf uy = c.d_sigma * sources.col(1).head(m).array();
    // Pass 1: the smallest squared distance (the log-sum-exp shift) over all pairs.
    Eigen::ArrayXf d(m);
    std::vector<float> row_min(static_cast<std::size_t>(n));
    float dmin = std::numeric_limits<float>::infinity();
    for (Eigen::Index i = 0; i < n; ++i) {
        const float rx = lens.x.x() - c.alpha * lens.targets(i, 0);
        const float ry = lens.x.y() - c.alpha * lens.targets(i, 1);
        d = (rx - sx).square() + (ry - sy).square();
        row_min[static_cast<std::size_t>(i)] = d.minCoeff();
        dmin = std::min(dmin, row_min[static_cast<std::size_t>(i)]);
    }
    // Pass 2: per target point its summed weight and the weighted mean of its pairs' velocities;
    // rows too far to matter (weight < e^-30 of the nearest) are skipped.
    lens.weights.setZero(n);
    lens.conditional.resize(n, 2);
    Eigen::ArrayXf w(m);
    double total = 0.0, mx = 0.0, my = 0.0, second = 0.0;
    for (Eigen::Index i = 0; i < n; ++i) {
        const float y0 = lens.targets(i, 0), y1 = lens.targets(i, 1);
        const float rx = lens.x.x() - c.alpha * y0, ry = lens.x.y() - c.alpha * y1;
        const float base_x = c.d_alpha * y0, base_y = c.d_alpha * y1;
        if ((row_min[static_cast<std::size_t>(i)] - dmin) * inv_two_h2 > 30.0f) {
            lens.conditional.row(i) << base_x + ux.mean(), base_y + uy.mean();
            continue;
        }
        w = ((dmin - ((rx - sx).square() + (ry - sy).square())) * inv_two_h2).exp();
        const double wi = w.sum();
        const double cx = base_x * wi + (w * ux).sum();
        const double cy = base_y * wi + (w * uy).sum();
        // sum_j w_ij |u_ij|^2, for the spread around the marginal below.
        second += ((base_x + ux).square() * w + (base_y + uy).square() * w).sum();
        lens.weights[i] = static_cast<float>(wi);
        lens.conditional.row(i) << static_cast<float>(cx / wi), static_cast<float>(cy / wi);
        total += wi;
        mx += cx;
        my += cy;
    }
    lens.weights /= static_cast<float>(total);
    lens.marginal = Eigen::Vector2f(static_cast<float>(mx / total), static_cast<float>(my / total));
    // sum w |u - mean|^2 = E|u|^2 - |mean|^2 (in double: the terms are of similar size).
    lens.posterior_variance = static_cast<float>(
        std::max(0.0, second / total - (mx / total) * (mx / total) - (my / total) * (my / total)));
}

}  // namespace

PosteriorLens posterior_lens(const ProbabilityPath& path, const Points& targets,
                             const Points* sources, Eigen::Vector2f x, float t,
                             const LensSettings& settings) {
    settings.validate();
    if (targets.rows() == 0) throw InputError("posterior lens: the target has no points");
    PosteriorLens lens;
    lens.x = x;
    lens.t = t;
    lens.targets = targets;
    if (sources)
        pairwise_lens(path, *sources, settings, lens);
    else
        exact_lens(path, lens);
    finish(lens);
    return lens;
}

}  // namespace fmp
