// The posterior lens: at one point x and time t, who pulls x and how hard. The exact marginal
// velocity is the posterior-weighted average of the conditional velocities toward the target
// points (the marginalization trick); the lens exposes every term of that average.
#pragma once
#include <optional>

#include "core/base/types.h"
#include "core/flow/probability_path.h"

namespace fmp {

struct LensSettings {
    // For a source that is not a standard normal the posterior over target points is not known
    // in closed form; it is then taken over pairs (x0_j, x1_i) with a Gaussian kernel of this
    // width around each pair's point alpha_t x1_i + sigma_t x0_j (an approximation).
    float bandwidth = 0.15f;   // data units, > 0
    int source_samples = 128;  // the x0_j used by that approximation (the first rows given)
    void validate() const;     // throws InputError
};

struct PosteriorLens {
    Eigen::Vector2f x{0, 0};
    float t = 0;
    bool approximate = false;        // the pairwise kernel posterior (non-normal source)
    float bandwidth = 0;             // its kernel width (0 when exact)
    Points targets;                  // the x1_i
    VectorF weights;                 // w_i(x), summing to 1
    Points conditional;              // u_t(x | x1_i) (approximate: averaged over the pairs of x1_i)
    Eigen::Vector2f marginal{0, 0};  // u_t(x) = sum_i w_i u_t(x | x1_i)
    // 1 / sum_i w_i^2: how many target points effectively contribute (n at t=0, 1 near t=1).
    float effective_count = 0;
    // sum w |u_t(x|.) - u_t(x)|^2: the spread of the conditional velocities around their mean,
    // the part of the CFM loss at x that no network can remove (the local floor of the loss).
    float posterior_variance = 0;
    // The network's v_theta(x, t) and |v_theta - u_t|, once set_learned() is called.
    std::optional<Eigen::Vector2f> learned;
    float error = 0;

    void set_learned(Eigen::Vector2f v);
};

// The lens at (x, t) for the target points `targets`. With `sources` null the source is a normal
// (scaled by the path's sigma, as for every path here) and the posterior is exact:
//   w_i(x) ∝ N(x; alpha_t x1_i, sigma_t^2 I),  u_t(x|x1_i) = (d_sigma/sigma)(x - alpha_t x1_i) +
//   d_alpha x1_i.
// With `sources` (samples of a drawn or other source, at t = 0 scale) the pairwise kernel
// posterior is used: w_ij ∝ exp(-|x - alpha_t x1_i - sigma_t x0_j|^2 / (2 h^2)),
// u_ij = d_alpha x1_i + d_sigma x0_j. t is clamped to [0, 1 - 1e-4] like the marginal field.
PosteriorLens posterior_lens(const ProbabilityPath& path, const Points& targets,
                             const Points* sources, Eigen::Vector2f x, float t,
                             const LensSettings& settings = {});

}  // namespace fmp
