// The exact marginal velocity of a point-set target: a softmax over targets per query, on all cores.
#include "core/flow/marginal_velocity.h"

#include <algorithm>
#include <cmath>

#include "core/base/parallel.h"

// GCC 12 reports -Wmaybe-uninitialized inside its own AVX-512 intrinsics (_mm512_undefined_ps,
// GCC bug 105593) when Eigen's packet min/exp are inlined here; the warning is spurious.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace fmp {
namespace {

// The targets laid out as separate x and y arrays (already scaled by alpha_t) so that every
// per-query pass is a contiguous Eigen array expression that vectorises, exp included.
struct Field {
    Eigen::ArrayXf ax, ay;  // alpha_t * y_i
    Eigen::ArrayXf yx, yy;  // y_i
    float inv_two_var = 0;  // 1 / (2 sigma_t^2)
    float ds_over_s = 0;    // d_sigma / sigma
    float d_alpha = 0;

    Field(const ProbabilityPath& path, const Points& targets, float t) {
        if (targets.rows() == 0) throw InputError("marginal velocity: the target has no points");
        const PathCoefficients c = path.at(std::clamp(t, 0.0f, 1.0f - 1e-4f));
        yx = targets.col(0).array();
        yy = targets.col(1).array();
        ax = c.alpha * yx;
        ay = c.alpha * yy;
        inv_two_var = 0.5f / (c.sigma * c.sigma);
        ds_over_s = c.d_sigma / c.sigma;
        d_alpha = c.d_alpha;
    }

    // u_t(x) = (d_sigma/sigma) E_w[x - alpha y] + d_alpha E_w[y]. The first mean is accumulated
    // from the differences themselves rather than as x - alpha E_w[y], which would cancel
    // catastrophically near t=1 where d_sigma/sigma ~ -1/(1-t). `w` is scratch of the target count
    // and holds the normalised posterior weights on return.
    Eigen::Vector2f eval(float px, float py, Eigen::ArrayXf& w) const {
        w = (ax - px).square() + (ay - py).square();
        // Shifting by the smallest distance is the log-sum-exp trick: the nearest target gets
        // weight exp(0) = 1, so the sum never underflows however small sigma_t is.
        const float dmin = w.minCoeff();
        w = ((dmin - w) * inv_two_var).exp();
        const float inv_sum = 1.0f / w.sum();
        const float mdx = (w * (px - ax)).sum() * inv_sum;
        const float mdy = (w * (py - ay)).sum() * inv_sum;
        const float myx = (w * yx).sum() * inv_sum;
        const float myy = (w * yy).sum() * inv_sum;
        w *= inv_sum;
        return {ds_over_s * mdx + d_alpha * myx, ds_over_s * mdy + d_alpha * myy};
    }

    // log (1/n) sum_i exp(-|x - alpha y_i|^2 / (2 sigma^2)) / (2 pi sigma^2), shifted like eval.
    float log_density(float px, float py, Eigen::ArrayXf& w) const {
        w = (ax - px).square() + (ay - py).square();
        const float dmin = w.minCoeff();
        const float sum = ((dmin - w) * inv_two_var).exp().sum();
        constexpr float log_pi = 1.1447298858494002f;
        // 1 / (2 pi sigma^2) = inv_two_var / pi.
        return -dmin * inv_two_var + std::log(sum / static_cast<float>(w.size())) +
               std::log(inv_two_var) - log_pi;
    }
};

// Calls fn(row, scratch) for every row of x on all cores; the scratch holds one float per target.
template <class Fn>
void for_each_query(const Points& targets, const Points& x, Fn&& fn) {
    parallel_for(
        static_cast<std::size_t>(x.rows()),
        [&](std::size_t begin, std::size_t end, int) {
            Eigen::ArrayXf w(targets.rows());
            for (std::size_t i = begin; i < end; ++i) fn(static_cast<Eigen::Index>(i), w);
        },
        8);
}

}  // namespace

void marginal_velocity(const ProbabilityPath& path, const Points& targets, float t, const Points& x,
                       Points& u) {
    const Field field(path, targets, t);
    if (u.rows() != x.rows()) u.resize(x.rows(), 2);
    for_each_query(targets, x, [&](Eigen::Index r, Eigen::ArrayXf& w) {
        const Eigen::Vector2f v = field.eval(x(r, 0), x(r, 1), w);
        u(r, 0) = v.x();
        u(r, 1) = v.y();
    });
}

Eigen::Vector2f marginal_velocity_at(const ProbabilityPath& path, const Points& targets, float t,
                                     Eigen::Vector2f x, VectorF* weights) {
    const Field field(path, targets, t);
    Eigen::ArrayXf w(targets.rows());
    const Eigen::Vector2f v = field.eval(x.x(), x.y(), w);
    if (weights) *weights = w.matrix();
    return v;
}

void marginal_log_density(const ProbabilityPath& path, const Points& targets, float t,
                          const Points& x, VectorF& log_p) {
    const Field field(path, targets, t);
    log_p.resize(x.rows());
    for_each_query(targets, x, [&](Eigen::Index r, Eigen::ArrayXf& w) {
        log_p[r] = field.log_density(x(r, 0), x(r, 1), w);
    });
}

}  // namespace fmp
