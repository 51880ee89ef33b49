// The instruments' worker thread: follows the trainer's weights on its own engine (GL or CPU) and
// recomputes what the window shows, each instrument at its own pace.
#include "app/gui/instrument_worker.h"

#include <cmath>
#include <limits>

#include "core/base/clock.h"
#include "core/base/parallel.h"
#include "core/base/rng.h"

namespace fmp {
namespace {

// Seconds between recomputations while the weights keep changing (training): the losses are
// cheap, a 128x128 likelihood grid takes most of a second on two cores.
constexpr double k_losses_every = 0.5;
constexpr double k_error_every = 0.25;
constexpr double k_likelihood_every = 2.0;
constexpr int k_held_out = 512;
constexpr std::size_t k_max_history = 2000;

bool same_grid(const PlaneGrid& a, const PlaneGrid& b) {
    return a.nx == b.nx && a.ny == b.ny && a.box.min() == b.box.min() && a.box.max() == b.box.max();
}

}  // namespace

InstrumentWorker::InstrumentWorker(bool gpu) : m_gpu(gpu) {
    m_thread = std::thread([this] { loop(); });
}

InstrumentWorker::~InstrumentWorker() {
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_stop = true;
    }
    m_wake.notify_all();
    m_thread.join();
}

void InstrumentWorker::set_model(const FlowSpec& spec, const MlpConfig& mlp) {
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_spec = spec;
        m_mlp = mlp;
        m_generation++;
        m_params.reset();
        m_history.clear();
        m_error_map.reset();
        m_likelihood.reset();
        m_traced.reset();
        m_batch.reset();
        m_error.clear();
    }
    m_wake.notify_all();
}

void InstrumentWorker::set_params(std::shared_ptr<const std::vector<float>> params,
                                  uint64_t version, int64_t step) {
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_params = std::move(params);
        m_params_version = version;
        m_step = step;
    }
    m_wake.notify_all();
}

void InstrumentWorker::want(const InstrumentWants& wants) {
    std::lock_guard<std::mutex> lock(m_mutex);
    m_wants = wants;
}

void InstrumentWorker::trace(Eigen::Vector2f x1) {
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_trace_request = x1;
    }
    m_wake.notify_all();
}

std::shared_ptr<const ErrorMap> InstrumentWorker::error_map() const {
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_error_map;
}
std::shared_ptr<const LikelihoodGrid> InstrumentWorker::likelihood() const {
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_likelihood;
}
std::shared_ptr<const TracedPath> InstrumentWorker::traced() const {
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_traced;
}
std::vector<LossGapSample> InstrumentWorker::loss_history() const {
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_history;
}
std::shared_ptr<const EvaluationBatch> InstrumentWorker::evaluation_batch() const {
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_batch;
}
bool InstrumentWorker::wait_until_ready(double timeout_seconds) const {
    const double end = now_seconds() + timeout_seconds;
    for (;;) {
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            const bool error_ok =
                !m_wants.error_map || (m_error_map && m_error_map->request.t == m_wants.error.t &&
                                       same_grid(m_error_map->request.grid, m_wants.error.grid));
            const bool likelihood_ok =
                !m_wants.likelihood ||
                (m_likelihood && same_grid(m_likelihood->grid, m_wants.likelihood_grid));
            const bool trace_ok = !m_trace_request && (m_trace_id == 0 || m_traced);
            const bool losses_ok = !m_wants.losses || !m_history.empty() || !m_params;
            if (!m_error.empty() || (error_ok && likelihood_ok && trace_ok && losses_ok))
                return true;
        }
        if (now_seconds() > end) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

std::string InstrumentWorker::error() const {
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_error;
}

std::string InstrumentWorker::engine_label() const {
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_engine_label;
}

void InstrumentWorker::loop() {
    lower_thread_priority();
    double last_losses = -1e9, last_error = -1e9, last_likelihood = -1e9;
    uint64_t losses_version = 0, error_version = 0, likelihood_version = 0;
    ErrorMapRequest error_request;
    PlaneGrid likelihood_request;
    uint64_t seen_generation = 0;
    for (;;) {
        FlowSpec spec;
        MlpConfig mlp;
        uint64_t generation, version;
        int64_t step;
        std::shared_ptr<const std::vector<float>> params;
        InstrumentWants wants;
        std::optional<Eigen::Vector2f> trace;
        uint64_t trace_id = 0;
        {
            std::unique_lock<std::mutex> lock(m_mutex);
            m_wake.wait_for(lock, std::chrono::milliseconds(100));
            if (m_stop) break;
            spec = m_spec;
            mlp = m_mlp;
            generation = m_generation;
            params = m_params;
            version = m_params_version;
            step = m_step;
            wants = m_wants;
            // A trace waits for the first weights: taken before them, it would be dropped and a
            // scripted screenshot would wait for it in vain.
            if (params) {
                trace = m_trace_request;
                m_trace_request.reset();
                if (trace) trace_id = ++m_trace_id;
            }
        }
        if (!params) continue;
        std::string failure;
        try {
            if (generation != seen_generation || !m_engine) {
                seen_generation = generation;
                TrainConfig config;
                config.path = spec.path;
                config.mlp = mlp;
                config.seed = spec.seed;
                // One engine (and context) for the worker's life; each model resets it, and the
                // GL engine keeps its programs while the network's shape stays.
                if (!m_background) {
                    m_background = std::make_unique<BackgroundEngine>(m_gpu);
                    m_engine = &m_background->engine();
                    std::lock_guard<std::mutex> lock(m_mutex);
                    m_engine_label = m_background->label();
                }
                m_engine->reset(config, spec.source, spec.target);
                m_engine_version = 0;
                m_references = marginal_reference_points(spec.target);
                Rng rng(spec.seed + 31, 5);
                m_held_out = spec.target.sample(k_held_out, rng);
                std::shared_ptr<const EvaluationBatch> batch;
                if (spec.source.kind() == DatasetKind::Normal)
                    batch = std::make_shared<const EvaluationBatch>(
                        make_evaluation_batch(spec.path, m_references));
                std::lock_guard<std::mutex> lock(m_mutex);
                m_batch = batch;
                losses_version = error_version = likelihood_version = 0;
            }
            if (version != m_engine_version) {
                m_engine->set_params(*params);
                m_engine_version = version;
            }
        } catch (const std::exception& e) {
            std::lock_guard<std::mutex> lock(m_mutex);
            m_error = e.what();
            continue;
        }
        const bool normal_source = spec.source.kind() == DatasetKind::Normal;
        const bool density_source = likelihood_available(spec.source);
        const LikelihoodSettings settings;
        try {
            if (trace) {
                auto path = std::make_shared<TracedPath>();
                path->id = trace_id;
                path->start = *trace;
                Points x(1, 2);
                x.row(0) = trace->transpose();
                const int steps = 64;
                auto velocity = [&](const Points& p, float t, Points& v) {
                    m_engine->eval_velocity(p, t, v);
                };
                std::vector<Points> back, fwd;
                integrate_particles(velocity, SolverKind::RK4, x, 1.0f, 0.0f, steps, &back);
                integrate_particles(velocity, SolverKind::RK4, x, 0.0f, 1.0f, steps, &fwd);
                path->backward.resize(steps + 1, 2);
                path->forward.resize(steps + 1, 2);
                for (int k = 0; k <= steps; ++k) {
                    path->backward.row(k) = back[static_cast<std::size_t>(k)].row(0);
                    path->forward.row(k) = fwd[static_cast<std::size_t>(k)].row(0);
                }
                path->round_trip = (x.row(0).transpose() - *trace).norm();
                if (density_source)
                    path->log_det =
                        log_det_along_path(engine_integrator(*m_engine), *trace, settings);
                std::lock_guard<std::mutex> lock(m_mutex);
                m_traced = path;
            }
            const double now = now_seconds();
            std::shared_ptr<const EvaluationBatch> batch;
            {
                std::lock_guard<std::mutex> lock(m_mutex);
                batch = m_batch;
            }
            if (wants.losses && version != losses_version && now - last_losses >= k_losses_every) {
                LossGapSample sample;
                sample.step = step;
                const double nan = std::numeric_limits<double>::quiet_NaN();
                if (batch) sample.losses = measure_loss_gap(*m_engine, *batch);
                sample.nll = sample.kl = nan;
                if (density_source) {
                    const DensityFit fit = density_fit(*m_engine, spec.path, spec.source,
                                                       spec.target, m_held_out, settings);
                    sample.nll = fit.nll;
                    sample.kl = fit.kl;
                }
                losses_version = version;
                last_losses = now;
                std::lock_guard<std::mutex> lock(m_mutex);
                if (!m_history.empty() && m_history.back().step > sample.step) m_history.clear();
                m_history.push_back(sample);
                if (m_history.size() > k_max_history) {
                    // Keep every other old sample: the whole run stays in view.
                    std::vector<LossGapSample> thinned;
                    for (std::size_t i = 0; i < m_history.size(); i += 2)
                        thinned.push_back(m_history[i]);
                    m_history.swap(thinned);
                }
            }
            if (wants.error_map && normal_source &&
                (version != error_version || wants.error.t != error_request.t ||
                 !same_grid(wants.error.grid, error_request.grid)) &&
                now - last_error >= k_error_every) {
                auto map = std::make_shared<const ErrorMap>(
                    compute_error_map(*m_engine, spec.path, m_references, wants.error));
                error_version = version;
                error_request = wants.error;
                last_error = now_seconds();
                std::lock_guard<std::mutex> lock(m_mutex);
                m_error_map = map;
            }
            if (wants.likelihood && density_source &&
                (version != likelihood_version ||
                 !same_grid(wants.likelihood_grid, likelihood_request)) &&
                now - last_likelihood >= k_likelihood_every) {
                auto grid = std::make_shared<const LikelihoodGrid>(
                    likelihood_grid(*m_engine, spec.path, spec.source, spec.target,
                                    wants.likelihood_grid, settings));
                likelihood_version = version;
                likelihood_request = wants.likelihood_grid;
                last_likelihood = now_seconds();
                std::lock_guard<std::mutex> lock(m_mutex);
                m_likelihood = grid;
            }
            if (wants.error_map && !normal_source)
                failure = "The error map needs the exact field: a normal source.";
            else if ((wants.likelihood || trace) && !density_source)
                failure =
                    "The likelihood needs a source of known density (normal, uniform, 8gaussians, "
                    "checkerboard).";
        } catch (const std::exception& e) {
            failure = e.what();
        }
        std::lock_guard<std::mutex> lock(m_mutex);
        m_error = failure;
    }
    // The GL engine's objects go with its context, on the thread where it is current.
    m_engine = nullptr;
    m_background.reset();
}

}  // namespace fmp
