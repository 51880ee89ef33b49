// Adam / AdamW: a vectorised update over the flat parameters, moments and gradients.
#include "core/nn/optimizer.h"

// GCC 12 flags the undefined-vector idiom in the AVX-512 intrinsics that Eigen inlines as
// -Wmaybe-uninitialized; silenced for the headers only (the state is per location).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>
#pragma GCC diagnostic pop
#include <algorithm>
#include <atomic>
#include <cmath>

#include "core/base/parallel.h"
#include "core/base/types.h"

namespace fmp {
namespace {

// Large networks (depth 6 x width 512 is ~1.3M parameters) split the update over the cores;
// small ones stay on one thread, where the pool's wake-up would cost more than the work.
constexpr std::size_t kMinParamsPerWorker = 1 << 16;

void check_config(const OptimizerConfig& c) {
    if (!(c.lr >= 0.0f) || !std::isfinite(c.lr))
        throw InputError("learning rate must be a finite value >= 0");
    if (!(c.beta1 >= 0.0f && c.beta1 < 1.0f) || !(c.beta2 >= 0.0f && c.beta2 < 1.0f))
        throw InputError("Adam betas must be in [0, 1)");
    if (!(c.eps > 0.0f)) throw InputError("Adam eps must be > 0");
    if (!(c.weight_decay >= 0.0f) || !std::isfinite(c.weight_decay))
        throw InputError("weight decay must be a finite value >= 0");
}

}  // namespace

AdamOptimizer::AdamOptimizer(const OptimizerConfig& config, std::size_t parameter_count)
    : m_config(config) {
    check_config(config);
    reset(parameter_count);
}

void AdamOptimizer::reset(std::size_t parameter_count) {
    m_m.assign(parameter_count, 0.0f);
    m_v.assign(parameter_count, 0.0f);
    m_step = 0;
}

void AdamOptimizer::restore(const std::vector<float>& m, const std::vector<float>& v, int64_t step) {
    if (m.size() != m_m.size() || v.size() != m_v.size())
        throw InputError("optimizer holds state for " + std::to_string(m_m.size()) +
                         " parameters, got moments for " + std::to_string(m.size()));
    std::copy(m.begin(), m.end(), m_m.begin());
    std::copy(v.begin(), v.end(), m_v.begin());
    m_step = step;
}

bool AdamOptimizer::step(std::vector<float>& params, const std::vector<float>& grads) {
    if (params.size() != m_m.size() || grads.size() != m_m.size())
        throw InputError("optimizer holds state for " + std::to_string(m_m.size()) +
                         " parameters, got " + std::to_string(params.size()) + " parameters and " +
                         std::to_string(grads.size()) + " gradients");
    ++m_step;
    const OptimizerConfig& c = m_config;
    // Bias corrections in double: beta2^t for t in the tens of thousands needs the precision.
    const double bc1 = 1.0 - std::pow(static_cast<double>(c.beta1), static_cast<double>(m_step));
    const double bc2 = 1.0 - std::pow(static_cast<double>(c.beta2), static_cast<double>(m_step));
    // theta -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps), PyTorch's arrangement.
    const float step_size = static_cast<float>(c.lr / bc1);
    const float inv_sqrt_bc2 = static_cast<float>(1.0 / std::sqrt(bc2));
    struct Update {
        float* p;
        const float* g;
        float* m;
        float* v;
        float b1, b2, eps, keep, step_size, inv_sqrt_bc2;
        std::atomic<bool>* non_finite;
    } u{params.data(), grads.data(), m_m.data(), m_v.data(), c.beta1, c.beta2, c.eps,
        c.kind == OptimizerKind::AdamW ? 1.0f - c.lr * c.weight_decay : 1.0f, step_size,
        inv_sqrt_bc2, nullptr};
    std::atomic<bool> non_finite{false};
    u.non_finite = &non_finite;
    // Captured by one reference so std::function stores it without allocating. Eigen's array
    // expressions vectorise the sqrt (a plain loop does not without -fno-math-errno); blocks of
    // 2048 keep the three passes in L1.
    parallel_for(
        params.size(),
        [&u](std::size_t begin, std::size_t end, int) {
            using Arr = Eigen::Map<Eigen::ArrayXf>;
            // 0 * x is 0 for a finite x and NaN for NaN or inf, and it vectorises (Eigen's
            // isFinite() does not), so the divergence check rides on the block still in L1. The
            // second moment counts too: once g^2 overflows it stays inf and freezes the weight
            // (and Eigen's fast sqrt(inf) is NaN).
            float probe = 0.0f;
            for (std::size_t b0 = begin; b0 < end; b0 += 2048) {
                const auto n = static_cast<Eigen::Index>(std::min<std::size_t>(2048, end - b0));
                Arr p(u.p + b0, n), m(u.m + b0, n), v(u.v + b0, n);
                Eigen::Map<const Eigen::ArrayXf> g(u.g + b0, n);
                m = u.b1 * m + (1.0f - u.b1) * g;
                v = u.b2 * v + (1.0f - u.b2) * g.square();
                p = u.keep * p - u.step_size * m / (v.sqrt() * u.inv_sqrt_bc2 + u.eps);
                probe += (p * 0.0f + v * 0.0f).sum();
            }
            if (probe != 0.0f) u.non_finite->store(true, std::memory_order_relaxed);
        },
        kMinParamsPerWorker);
    return !non_finite.load(std::memory_order_relaxed);
}

const std::vector<std::string>& optimizer_names() {
    static const std::vector<std::string> names = {"adam", "adamw"};
    return names;
}

std::string optimizer_name(OptimizerKind kind) {
    return optimizer_names()[static_cast<std::size_t>(kind)];
}

OptimizerKind make_optimizer_kind(const std::string& name) {
    const auto& names = optimizer_names();
    for (std::size_t i = 0; i < names.size(); ++i)
        if (names[i] == name) return static_cast<OptimizerKind>(i);
    throw InputError("unknown optimizer " + quote_for_message(name) + " (valid: " + join_names(names) + ")");
}

}  // namespace fmp
