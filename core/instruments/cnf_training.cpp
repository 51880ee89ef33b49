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

void CnfRaceSettings::validate() const {
    if (!(fm_seconds > 0 && fm_seconds <= 600) || !(cnf_seconds > 0 && cnf_seconds <= 600))
        throw InputError("race budgets must be in (0, 600] seconds");
    if (held_out < 1 || held_out > 65536) throw InputError("held-out points must be in 1..65536");
    if (!(first_mark > 0 && first_mark <= 600) || !(mark_growth > 1 && mark_growth <= 100))
        throw InputError("race marks need a first mark in (0, 600] s and a growth in (1, 100]");
}

namespace {

// Trains by `step` (which returns the steps it took) until `budget` seconds of training, marking
// the NLL on the schedule; `done` stops it early after a mark. Returns false when the observer
// cancelled.
template <class Step, class Measure, class Done>
bool run_with_marks(double budget, const CnfRaceSettings& race, std::vector<NllMark>& marks,
                    double& step_ms, Step&& step, Measure&& measure, Done&& done,
                    const std::function<bool()>& notify) {
    using Clock = std::chrono::steady_clock;
    double trained = 0.0, next = race.first_mark;
    int64_t steps = 0;
    marks.push_back({0.0, 0, measure()});
    if (!notify()) return false;
    while (trained < budget) {
        const auto start = Clock::now();
        steps += step();
        trained += std::chrono::duration<double>(Clock::now() - start).count();
        if (trained >= next || trained >= budget) {
            while (next <= trained) next *= race.mark_growth;
            marks.push_back({trained, steps, measure()});
            step_ms = 1e3 * trained / static_cast<double>(std::max<int64_t>(steps, 1));
            if (!notify()) return false;
            if (done(marks.back().nll)) break;
        }
    }
    return true;
}

}  // namespace

CnfRace race_cnf_with_fm(const MlpConfig& window_mlp, const ProbabilityPath& path,
                         const Dataset& source, const Dataset& target, const CnfRaceSettings& race,
                         const CnfSettings& settings, const CnfRaceObserver& observer) {
    // Both sides learn the velocity: the race is about the loss, not the parametrization.
    MlpConfig mlp = window_mlp;
    mlp.prediction = Prediction::Velocity;
    mlp.classes = 0;
    race.validate();
    settings.validate();
    CnfRace out;
    TrainConfig config;
    config.mlp = mlp;
    config.path = path;
    config.batch = settings.batch;
    config.optimizer = settings.optimizer;
    config.seed = settings.seed;
    // Built first so that a source it cannot take is refused before any training.
    CnfTrainer cnf(mlp, path, source, target, settings);
    Rng rng(settings.seed + 101, 9);
    const Points held = target.sample(race.held_out, rng);
    const LikelihoodSettings eval;
    auto evaluator = make_cpu_engine();
    evaluator->reset(config, source, target);
    out.target_entropy = std::numeric_limits<double>::quiet_NaN();
    auto notify = [&] { return !observer || observer(out); };

    auto fm = make_cpu_engine();
    fm->reset(config, source, target);
    auto measure_fm = [&] {
        const DensityFit fit = density_fit(*fm, path, source, target, held, eval);
        out.target_entropy = fit.target_entropy;
        return fit.nll;
    };
    auto fm_step = [&] {
        fm->train(20);
        return int64_t{20};
    };
    auto never = [](double) { return false; };
    if (!run_with_marks(race.fm_seconds, race, out.fm, out.fm_step_ms, fm_step, measure_fm, never,
                        notify)) {
        out.cancelled = true;
        return out;
    }
    const double fm_last = out.fm.back().nll;
    auto measure_cnf = [&] {
        evaluator->set_params(cnf.mlp().params());
        return density_fit(*evaluator, path, source, target, held, eval).nll;
    };
    auto cnf_step = [&] {
        cnf.step();
        return int64_t{1};
    };
    auto reached = [&](double nll) {
        if (nll <= fm_last) out.cnf_reached = true;
        return race.cnf_stops_at_fm && out.cnf_reached;
    };
    if (!run_with_marks(race.cnf_seconds, race, out.cnf, out.cnf_step_ms, cnf_step, measure_cnf,
                        reached, notify))
        out.cancelled = true;
    return out;
}

CnfComparison compare_cnf_with_fm(const MlpConfig& mlp, const Dataset& source, const Dataset& target,
                                  double fm_seconds, double cnf_budget_seconds,
                                  const CnfSettings& settings) {
    CnfRaceSettings race;
    race.fm_seconds = fm_seconds;
    race.cnf_seconds = cnf_budget_seconds;
    race.cnf_stops_at_fm = true;
    race.first_mark = 0.5;
    race.mark_growth = 1.25;
    const CnfRace r = race_cnf_with_fm(mlp, ProbabilityPath(), source, target, race, settings);
    CnfComparison out;
    out.fm_seconds = r.fm.back().seconds;
    out.fm_steps = r.fm.back().steps;
    out.fm_steps_per_second = 1e3 / std::max(r.fm_step_ms, 1e-12);
    out.fm_nll = r.fm.back().nll;
    out.target_entropy = r.target_entropy;
    out.cnf_seconds = r.cnf.back().seconds;
    out.cnf_steps = r.cnf.back().steps;
    out.cnf_steps_per_second = 1e3 / std::max(r.cnf_step_ms, 1e-12);
    out.cnf_nll = r.cnf.back().nll;
    out.cnf_reached = r.cnf_reached;
    return out;
}

}  // namespace fmp
