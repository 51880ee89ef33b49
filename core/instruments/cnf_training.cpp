// Maximum-likelihood training of a CNF through its discretized ODE, and its race against FM.
#include "core/instruments/cnf_training.h"

#include <chrono>
#include <cmath>
#include <limits>
#include <string>

#include "core/base/parallel.h"
#include "core/engine/engine.h"
#include "core/instruments/likelihood.h"

namespace fmp {

void CnfSettings::validate() const {
    if (ode_steps < 1 || ode_steps > 256)
        throw InputError("CNF ODE steps must be in 1..256 (got " + std::to_string(ode_steps) + ")");
    validate_batch_size(batch);
    validate_learning_rate(optimizer.lr);
}

CnfTrainer::CnfTrainer(const MlpConfig& mlp, const ProbabilityPath& path, const Dataset& source,
                       const Dataset& target, const CnfSettings& settings)
    : m_mlp(mlp, settings.seed),
      m_scale(path.source_scale()),
      m_target(target),
      m_settings(settings),
      m_adam(settings.optimizer, mlp.parameter_count()),
      m_rng(settings.seed, 41) {
    settings.validate();
    if (source.kind() != DatasetKind::Normal)
        throw InputError("maximum-likelihood CNF training here needs a normal source (got " +
                         quote_for_message(source.name()) + ")");
}

float CnfTrainer::loss_and_gradient(const Points& x, std::vector<float>& grad) const {
    const int K = m_settings.ode_steps;
    const float h = 1.0f / static_cast<float>(K);
    const Eigen::Index B = x.rows();
    // Forward: z_K = x down to z_0, keeping every state, and the divergence sum.
    std::vector<Points> zs(static_cast<std::size_t>(K) + 1);
    zs[static_cast<std::size_t>(K)] = x;
    VectorF div_sum = VectorF::Zero(B), div;
    Points v;
    for (int k = K; k >= 1; --k) {
        const Points& z = zs[static_cast<std::size_t>(k)];
        m_mlp.evaluate_divergence(z, static_cast<float>(k) * h, v, div);
        zs[static_cast<std::size_t>(k) - 1] = z - h * v;
        div_sum += h * div;
    }
    const Points& z0 = zs[0];
    const double s2 = double(m_scale) * m_scale;
    const double log_norm = std::log(2.0 * 3.14159265358979323846 * s2);
    double nll = 0.0;
    for (Eigen::Index i = 0; i < B; ++i) nll += 0.5 * z0.row(i).squaredNorm() / s2 + log_norm + div_sum[i];
    nll /= static_cast<double>(B);
    // Backward: dL/dz_0 = z_0 / (s^2 B), then through each step z_{k-1} = z_k - h v(z_k):
    // dL/dz_k = dL/dz_{k-1} + J_v^T (-h dL/dz_{k-1}) + grad_z div (h / B).
    // The rows are independent: each core takes a block of them with a gradient of its own.
    const std::size_t P = m_mlp.config().parameter_count();
    std::vector<std::vector<float>> partial(static_cast<std::size_t>(thread_count()),
                                            std::vector<float>(P, 0.0f));
    const Points g0 = z0 / static_cast<float>(s2 * static_cast<double>(B));
    parallel_for(
        static_cast<std::size_t>(B),
        [&](std::size_t begin, std::size_t end, int worker) {
            const auto r0 = static_cast<Eigen::Index>(begin), n = static_cast<Eigen::Index>(end - begin);
            Points g = g0.middleRows(r0, n), g_x;
            const VectorF g_div = VectorF::Constant(n, h / static_cast<float>(B));
            for (int k = 1; k <= K; ++k) {
                const Points g_v = -h * g;
                const Points z = zs[static_cast<std::size_t>(k)].middleRows(r0, n);
                m_mlp.divergence_backward(z, static_cast<float>(k) * h, g_v, g_div,
                                          partial[static_cast<std::size_t>(worker)], g_x);
                g += g_x;
            }
        },
        16);
    grad.assign(P, 0.0f);
    for (const auto& part : partial)
        for (std::size_t i = 0; i < P; ++i) grad[i] += part[i];
    return static_cast<float>(nll);
}

float CnfTrainer::step() {
    const Points x = m_target.sample(m_settings.batch, m_rng);
    const float nll = loss_and_gradient(x, m_grad);
    m_adam.step(m_mlp.params(), m_grad);
    ++m_steps;
    return nll;
}

CnfComparison compare_cnf_with_fm(const MlpConfig& mlp, const Dataset& source, const Dataset& target,
                                  double fm_seconds, double cnf_budget_seconds,
                                  const CnfSettings& settings) {
    using Clock = std::chrono::steady_clock;
    CnfComparison out;
    TrainConfig config;
    config.mlp = mlp;
    config.batch = settings.batch;
    config.optimizer = settings.optimizer;
    config.seed = settings.seed;
    auto fm = make_cpu_engine();
    fm->reset(config, source, target);
    Rng rng(settings.seed + 101, 9);
    const Points held = target.sample(1024, rng);
    const LikelihoodSettings eval;
    auto t0 = Clock::now();
    while (std::chrono::duration<double>(Clock::now() - t0).count() < fm_seconds) fm->train(50);
    out.fm_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    out.fm_steps = fm->step_count();
    out.fm_steps_per_second = static_cast<double>(out.fm_steps) / out.fm_seconds;
    const DensityFit fm_fit = density_fit(*fm, config.path, source, target, held, eval);
    out.fm_nll = fm_fit.nll;
    out.target_entropy = fm_fit.target_entropy;

    CnfTrainer cnf(mlp, config.path, source, target, settings);
    auto evaluator = make_cpu_engine();
    evaluator->reset(config, source, target);
    double trained = 0.0, next_eval = 0.5;
    out.cnf_nll = std::numeric_limits<double>::infinity();
    while (trained < cnf_budget_seconds) {
        auto s = Clock::now();
        cnf.step();
        trained += std::chrono::duration<double>(Clock::now() - s).count();
        if (trained >= next_eval || trained >= cnf_budget_seconds) {
            next_eval = trained * 1.25 + 0.5;  // evaluations ~20% apart in time
            evaluator->set_params(cnf.mlp().params());
            out.cnf_nll = density_fit(*evaluator, config.path, source, target, held, eval).nll;
            if (out.cnf_nll <= out.fm_nll) {
                out.cnf_reached = true;
                break;
            }
        }
    }
    out.cnf_seconds = trained;
    out.cnf_steps = cnf.steps();
    out.cnf_steps_per_second = static_cast<double>(cnf.steps()) / std::max(trained, 1e-9);
    return out;
}

}  // namespace fmp
