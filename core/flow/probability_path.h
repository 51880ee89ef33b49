// Gaussian probability paths as schedulers: x_t = alpha_t * x1 + sigma_t * x0, t=0 source, t=1 data.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "core/base/types.h"

namespace fmp {

enum class PathKind {
    CondOT,      // alpha = t, sigma = 1 - t (rectified flow / I-CFM)
    LipmanOT,    // alpha = t, sigma = 1 - (1 - sigma_min) t
    VP,          // variance preserving, linear beta from beta_min to beta_max (score-SDE VP)
    Cosine,      // alpha = sin(pi t / 2), sigma = cos(pi t / 2)
    LinearVP,    // alpha = t, sigma = sqrt(1 - t^2)
    Polynomial,  // alpha = t^n, sigma = 1 - t^n
    VE,          // variance exploding: alpha = 1, sigma = sigma_min (sigma_max/sigma_min)^(1-t)
};

// alpha_t, sigma_t and their time derivatives at one t.
struct PathCoefficients {
    float alpha = 0.0f;
    float sigma = 1.0f;
    float d_alpha = 1.0f;
    float d_sigma = -1.0f;
};

struct PathParams {
    float sigma_min = 1e-3f;  // LipmanOT: width of the path at t=1; VE: sigma at t=1
    float beta_min = 0.1f;    // VP
    float beta_max = 20.0f;   // VP
    float poly_n = 2.0f;      // Polynomial exponent
    float ve_sigma_max = 8.0f;  // VE: sigma at t=0 (the prior's scale)
};

class ProbabilityPath {
public:
    ProbabilityPath() = default;
    explicit ProbabilityPath(PathKind kind, PathParams params = {}) : m_kind(kind), m_params(params) {}

    PathKind kind() const { return m_kind; }
    const PathParams& params() const { return m_params; }
    std::string name() const;

    PathCoefficients at(float t) const;

    // psi_t(x0 | x1) = alpha_t x1 + sigma_t x0: the conditional flow.
    void sample_xt(const Points& x0, const Points& x1, const VectorF& t, Points& xt) const;
    // d/dt psi_t(x0 | x1) = d_alpha x1 + d_sigma x0: the regression target of the CFM loss.
    void conditional_velocity(const Points& x0, const Points& x1, const VectorF& t, Points& ut) const;
    // Both at once (the training hot path).
    void sample_xt_and_target(const Points& x0, const Points& x1, const VectorF& t, Points& xt,
                              Points& ut) const;

    // The scale a source sample is multiplied by to start integrating at t=0 (sigma_0); for VE it
    // is ve_sigma_max, for the others 1. Exact when alpha_0 = 0; VP's alpha_0 ~ 7e-3 is dropped.
    float source_scale() const { return at(0.0f).sigma; }
    // A one-line formula for tooltips ("x_t = (1-t)*x0 + t*x1; target velocity x1 - x0").
    std::string formula() const;

    // The same schedule: kind and every parameter equal.
    bool operator==(const ProbabilityPath& other) const {
        const PathParams &a = m_params, &b = other.m_params;
        return m_kind == other.m_kind && a.sigma_min == b.sigma_min && a.beta_min == b.beta_min &&
               a.beta_max == b.beta_max && a.poly_n == b.poly_n && a.ve_sigma_max == b.ve_sigma_max;
    }
    bool operator!=(const ProbabilityPath& other) const { return !(*this == other); }

private:
    PathKind m_kind = PathKind::CondOT;
    PathParams m_params;
};

// Names: "condot", "lipman-ot", "vp", "cosine", "linear-vp", "polynomial", "ve".
const std::vector<std::string>& path_names();
std::string path_name(PathKind kind);
std::optional<PathKind> path_kind_from_name(const std::string& name);
// Throws InputError listing the valid names.
ProbabilityPath make_path(const std::string& name, PathParams params = {});

}  // namespace fmp
