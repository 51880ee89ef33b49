// Gaussian path schedules (alpha_t, sigma_t and derivatives) and the batched CFM sampling loops.
#include "core/flow/probability_path.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace fmp {
namespace {

constexpr double k_pi = 3.14159265358979323846;
// sigma_t -> 0 at t = 1 for VP and LinearVP makes d_sigma ~ 1/sqrt(1-t) blow up; the derivative
// is evaluated at most this close to 1 so it stays finite (the value itself is exact).
constexpr double k_singular_clamp = 1.0 - 1e-6;

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string fmt(float v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", static_cast<double>(v));
    return buf;
}

void check_shapes(const Points& x0, const Points& x1, const VectorF& t) {
    if (x0.rows() != x1.rows() || t.size() != x0.rows())
        throw std::invalid_argument("probability path: x0, x1 and t must have the same number of rows");
}

template <class Out>
void resize_like(Out& out, Eigen::Index rows) {
    if (out.rows() != rows) out.resize(rows, 2);
}

// One loop for every path: the affine paths (alpha, sigma linear in t) are inlined so the training
// hot path vectorises; the others pay one schedule evaluation per row, which is small next to the
// network's forward pass.
template <class Body>
void for_each_row(const ProbabilityPath& path, const VectorF& t, Body&& body) {
    const Eigen::Index n = t.size();
    switch (path.kind()) {
        case PathKind::CondOT:
            for (Eigen::Index i = 0; i < n; ++i) body(i, t[i], 1.0f - t[i], 1.0f, -1.0f);
            return;
        case PathKind::LipmanOT: {
            const float k = 1.0f - path.params().sigma_min;
            for (Eigen::Index i = 0; i < n; ++i) body(i, t[i], 1.0f - k * t[i], 1.0f, -k);
            return;
        }
        default:
            for (Eigen::Index i = 0; i < n; ++i) {
                PathCoefficients c = path.at(t[i]);
                body(i, c.alpha, c.sigma, c.d_alpha, c.d_sigma);
            }
    }
}

}  // namespace

const std::vector<std::string>& path_names() {
    static const std::vector<std::string> names = {"condot", "lipman-ot", "vp",  "cosine",
                                                   "linear-vp", "polynomial", "ve"};
    return names;
}

std::string path_name(PathKind kind) { return path_names()[static_cast<std::size_t>(kind)]; }

std::optional<PathKind> path_kind_from_name(const std::string& name) {
    const std::string key = lower(name);
    const auto& names = path_names();
    for (std::size_t i = 0; i < names.size(); ++i)
        if (names[i] == key) return static_cast<PathKind>(i);
    return std::nullopt;
}

ProbabilityPath make_path(const std::string& name, PathParams params) {
    auto kind = path_kind_from_name(name);
    if (!kind)
        throw InputError("unknown path " + quote_for_message(name) + " (valid: " + join_names(path_names()) + ")");
    // Parameters that would make sigma_t vanish inside (0,1) or the schedule non-monotone.
    switch (*kind) {
        case PathKind::LipmanOT:
            if (!(params.sigma_min > 0.0f && params.sigma_min < 1.0f))
                throw InputError("lipman-ot: sigma_min must be in (0, 1)");
            break;
        case PathKind::VP:
            if (!(params.beta_min > 0.0f && params.beta_max >= params.beta_min))
                throw InputError("vp: need 0 < beta_min <= beta_max");
            break;
        case PathKind::Polynomial:
            if (!(params.poly_n > 0.0f && params.poly_n <= 100.0f))
                throw InputError("polynomial: poly_n must be in (0, 100]");
            break;
        case PathKind::VE:
            if (!(params.sigma_min > 0.0f && params.ve_sigma_max > params.sigma_min))
                throw InputError("ve: need 0 < sigma_min < ve_sigma_max");
            break;
        default:
            break;
    }
    return ProbabilityPath(*kind, params);
}

// The plain key, so name() round-trips through make_path; parameters are saved separately.
std::string ProbabilityPath::name() const { return path_name(m_kind); }

PathCoefficients ProbabilityPath::at(float t_in) const {
    // The solvers may step a rounding error past the ends; fractional powers and square roots
    // must not see t outside [0, 1].
    const double t = std::clamp(static_cast<double>(t_in), 0.0, 1.0);
    const PathParams& p = m_params;
    double a = 0, s = 1, da = 1, ds = -1;
    switch (m_kind) {
        case PathKind::CondOT:
            a = t, s = 1 - t, da = 1, ds = -1;
            break;
        case PathKind::LipmanOT:
            ds = -(1 - static_cast<double>(p.sigma_min));
            a = t, s = 1 + ds * t, da = 1;
            break;
        case PathKind::VP: {
            // Song et al.'s VP SDE run backward in FM time (Lipman et al. 2022, eq. 19):
            // alpha_t = exp(-T(1-t)/2), T(s) = beta_min s + (beta_max - beta_min) s^2 / 2.
            // alpha_0 = exp(-T(1)/2) ~ e^-5 ~ 7e-3 for the defaults, so the t=0 marginal is only
            // approximately the standard normal.
            auto T = [&](double u) { return p.beta_min * u + 0.5 * (p.beta_max - p.beta_min) * u * u; };
            auto dT = [&](double u) { return p.beta_min + (static_cast<double>(p.beta_max) - p.beta_min) * u; };
            const double u = 1 - t;
            a = std::exp(-0.5 * T(u));
            s = std::sqrt(-std::expm1(-T(u)));  // 1 - alpha^2 without cancellation near t=1
            da = 0.5 * dT(u) * a;               // d/dt = -d/du
            const double uc = 1 - std::min(t, k_singular_clamp);
            const double ac = std::exp(-0.5 * T(uc));
            ds = -ac * (0.5 * dT(uc) * ac) / std::sqrt(-std::expm1(-T(uc)));
            break;
        }
        case PathKind::Cosine: {
            const double h = 0.5 * k_pi;
            a = std::sin(h * t), s = std::cos(h * t), da = h * std::cos(h * t), ds = -h * std::sin(h * t);
            break;
        }
        case PathKind::LinearVP: {
            a = t, s = std::sqrt((1 - t) * (1 + t)), da = 1;
            const double tc = std::min(t, k_singular_clamp);
            ds = -tc / std::sqrt((1 - tc) * (1 + tc));
            break;
        }
        case PathKind::Polynomial: {
            const double n = p.poly_n;
            a = std::pow(t, n);
            s = 1 - a;
            // n < 1 has an infinite slope at t=0; evaluate it a hair inside, as for VP at t=1.
            da = n * std::pow(std::max(t, 1e-6), n - 1);
            ds = -da;
            break;
        }
        case PathKind::VE: {
            // sigma_t = sigma_min (sigma_max/sigma_min)^(1-t): the t=0 marginal is the data blurred
            // by N(0, ve_sigma_max^2), approximately N(0, ve_sigma_max^2) itself, so the source is
            // the standard normal scaled by source_scale() = ve_sigma_max.
            const double lr = std::log(static_cast<double>(p.ve_sigma_max) / p.sigma_min);
            a = 1, da = 0;
            s = p.sigma_min * std::exp(lr * (1 - t));
            ds = -lr * s;
            break;
        }
    }
    return {static_cast<float>(a), static_cast<float>(s), static_cast<float>(da),
            static_cast<float>(ds)};
}

void ProbabilityPath::sample_xt(const Points& x0, const Points& x1, const VectorF& t,
                                Points& xt) const {
    check_shapes(x0, x1, t);
    resize_like(xt, x0.rows());
    for_each_row(*this, t, [&](Eigen::Index i, float a, float s, float, float) {
        xt(i, 0) = a * x1(i, 0) + s * x0(i, 0);
        xt(i, 1) = a * x1(i, 1) + s * x0(i, 1);
    });
}

void ProbabilityPath::conditional_velocity(const Points& x0, const Points& x1, const VectorF& t,
                                           Points& ut) const {
    check_shapes(x0, x1, t);
    resize_like(ut, x0.rows());
    for_each_row(*this, t, [&](Eigen::Index i, float, float, float da, float ds) {
        ut(i, 0) = da * x1(i, 0) + ds * x0(i, 0);
        ut(i, 1) = da * x1(i, 1) + ds * x0(i, 1);
    });
}

void ProbabilityPath::sample_xt_and_target(const Points& x0, const Points& x1, const VectorF& t,
                                           Points& xt, Points& ut) const {
    check_shapes(x0, x1, t);
    resize_like(xt, x0.rows());
    resize_like(ut, x0.rows());
    for_each_row(*this, t, [&](Eigen::Index i, float a, float s, float da, float ds) {
        const float x0x = x0(i, 0), x0y = x0(i, 1), x1x = x1(i, 0), x1y = x1(i, 1);
        xt(i, 0) = a * x1x + s * x0x;
        xt(i, 1) = a * x1y + s * x0y;
        ut(i, 0) = da * x1x + ds * x0x;
        ut(i, 1) = da * x1y + ds * x0y;
    });
}

std::string ProbabilityPath::formula() const {
    const PathParams& p = m_params;
    switch (m_kind) {
        case PathKind::CondOT:
            return "x_t = (1-t)*x0 + t*x1; target velocity u = x1 - x0";
        case PathKind::LipmanOT:
            return "x_t = (1-(1-s)*t)*x0 + t*x1, s = sigma_min = " + fmt(p.sigma_min) +
                   "; target velocity u = x1 - (1-s)*x0";
        case PathKind::VP:
            return "x_t = a_t*x1 + sqrt(1-a_t^2)*x0, a_t = exp(-T(1-t)/2), T(s) = " + fmt(p.beta_min) +
                   "*s + " + fmt(0.5f * (p.beta_max - p.beta_min)) +
                   "*s^2; target velocity u = a_t'*x1 + sigma_t'*x0 (a_0 ~ " + fmt(at(0.0f).alpha) + ")";
        case PathKind::Cosine:
            return "x_t = cos(pi*t/2)*x0 + sin(pi*t/2)*x1; target velocity u = (pi/2)*(cos(pi*t/2)*x1 - "
                   "sin(pi*t/2)*x0)";
        case PathKind::LinearVP:
            return "x_t = sqrt(1-t^2)*x0 + t*x1; target velocity u = x1 - t/sqrt(1-t^2)*x0";
        case PathKind::Polynomial:
            return "x_t = (1-t^n)*x0 + t^n*x1, n = " + fmt(p.poly_n) +
                   "; target velocity u = n*t^(n-1)*(x1 - x0)";
        case PathKind::VE:
            return "x_t = x1 + s_t*x0, s_t = " + fmt(p.sigma_min) + "*(" + fmt(p.ve_sigma_max) + "/" +
                   fmt(p.sigma_min) + ")^(1-t); target velocity u = -ln(" + fmt(p.ve_sigma_max) + "/" +
                   fmt(p.sigma_min) + ")*s_t*x0 (x0 ~ N(0,1), so x_0 ~ N(x1, " + fmt(p.ve_sigma_max) +
                   "^2))";
    }
    return {};
}

}  // namespace fmp
