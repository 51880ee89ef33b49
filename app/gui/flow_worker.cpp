// The view worker: integrates the particles in small blocks between arrow-grid requests, so a
// new t or zoom gets fresh arrows within one block even while a trajectory is being computed.
#include "app/gui/flow_worker.h"

#include <algorithm>
#include <chrono>

#include "core/base/clock.h"
#include "core/base/parallel.h"

namespace fmp {
namespace {

// Rows integrated per slice: ~5-15 ms on two cores for a 3x128 network with a 2-stage solver.
// The SDE's noise streams are per block of this size (flow_state.h).
constexpr int k_block_rows = k_sde_block_rows;

}  // namespace

FlowWorker::FlowWorker() {
    m_thread = std::thread([this] { loop(); });
}

FlowWorker::~FlowWorker() {
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_stop = true;
    }
    m_wake.notify_all();
    m_thread.join();
}

void FlowWorker::set_spec(const FlowSpec& spec) {
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_spec = spec;
        m_spec_id++;
    }
    m_wake.notify_all();
}

uint64_t FlowWorker::spec_id() const {
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_spec_id;
}

void FlowWorker::set_params(std::shared_ptr<const std::vector<float>> params, const MlpConfig& mlp,
                            uint64_t version) {
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_params = std::move(params);
        m_mlp = mlp;
        m_params_version = version;
    }
    m_wake.notify_all();
}

void FlowWorker::request_arrows(const ArrowRequest& request) {
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_arrow_request = request;
        m_arrows_wanted = request.learned || request.exact;
    }
    m_wake.notify_all();
}

std::shared_ptr<const Trajectory> FlowWorker::trajectory() const {
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_trajectory;
}
std::shared_ptr<const ArrowField> FlowWorker::arrows() const {
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_arrows;
}
std::shared_ptr<const FlowReference> FlowWorker::reference() const {
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_reference;
}
bool FlowWorker::busy() const {
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_busy;
}
double FlowWorker::last_trajectory_seconds() const {
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_last_seconds;
}

bool FlowWorker::wait_for_trajectory(uint64_t params_version, double timeout_seconds) const {
    std::unique_lock<std::mutex> lock(m_mutex);
    return m_published.wait_for(lock, std::chrono::duration<double>(timeout_seconds), [&] {
        return m_trajectory && m_trajectory->spec_id == m_spec_id &&
               m_trajectory->params_version >= params_version;
    });
}

void FlowWorker::loop() {
    lower_thread_priority();
    // Worker-side state: the trajectory being integrated and the network it uses.
    std::shared_ptr<Trajectory> work;
    Mlp work_mlp;
    FlowSpec work_spec;
    uint64_t reference_spec = 0;
    int work_step = 0, work_row = 0;
    // The frame's NFE: the most any block of it needed (dopri5 adapts per block; the fixed-step
    // solvers need the same for all).
    int64_t frame_nfe = 0;
    double work_start = 0.0;
    Points block, x1, sde_scratch;

    auto make_mlp = [](const MlpConfig& config, const std::vector<float>& params, Mlp& out) {
        if (config.parameter_count() != params.size()) return false;
        out = Mlp(config, 1);
        out.set_params(params);
        return true;
    };

    std::unique_lock<std::mutex> lock(m_mutex);
    while (!m_stop) {
        // 1. A new spec: new reference samples and particles, and the trajectory starts over.
        if (reference_spec != m_spec_id) {
            FlowSpec spec = m_spec;
            uint64_t id = m_spec_id;
            lock.unlock();
            auto ref = make_reference(spec, id);
            lock.lock();
            m_reference = ref;
            reference_spec = id;
            work.reset();
            continue;
        }
        bool have_params = m_params && m_mlp.parameter_count() == m_params->size();
        bool arrows_due = have_params && m_arrows_wanted && m_reference &&
                          (!m_arrows || !(m_arrows->request == m_arrow_request) ||
                           m_arrows->params_version != m_params_version);
        bool trajectory_due =
            have_params && (work || !m_trajectory || m_trajectory->spec_id != m_spec_id ||
                            m_trajectory->params_version != m_params_version);
        m_busy = trajectory_due;
        if (!arrows_due && !trajectory_due) {
            m_wake.wait(lock);
            continue;
        }
        // 2. Arrows first: they must follow the time slider and the zoom without lag.
        if (arrows_due) {
            ArrowRequest request = m_arrow_request;
            uint64_t version = m_params_version;
            auto params = m_params;
            MlpConfig config = m_mlp;
            auto ref = m_reference;
            ProbabilityPath path = m_spec.path;
            lock.unlock();
            Mlp mlp;
            bool have_mlp = request.learned && make_mlp(config, *params, mlp);
            auto field = std::make_shared<ArrowField>(
                compute_arrows(request, have_mlp ? &mlp : nullptr, path, *ref));
            field->params_version = version;
            lock.lock();
            m_arrows = field;
            continue;
        }
        // 3. One block of one solver step of the trajectory.
        if (!work) {
            work_spec = m_spec;
            if (!make_mlp(m_mlp, *m_params, work_mlp)) {
                m_wake.wait(lock);
                continue;
            }
            work = std::make_shared<Trajectory>();
            work->spec_id = m_spec_id;
            work->params_version = m_params_version;
            lock.unlock();
            work->x0 = particle_starts(work_spec, std::max(1, work_spec.particles));
            work->frames.assign(static_cast<std::size_t>(std::max(1, work_spec.steps)) + 1,
                                Points());
            for (auto& f : work->frames) f.resize(work->x0.rows(), 2);
            work->frames[0] = work->x0 * work_spec.path.source_scale();
            work_step = 0;
            work_row = 0;
            frame_nfe = 0;
            work_start = now_seconds();
            lock.lock();
            continue;
        }
        lock.unlock();
        const int steps = work->steps();
        const Eigen::Index rows = work->x0.rows();
        int len = static_cast<int>(std::min<Eigen::Index>(k_block_rows, rows - work_row));
        float t_a = static_cast<float>(work_step) / steps,
              t_b = static_cast<float>(work_step + 1) / steps;
        block = work->frames[work_step].middleRows(work_row, len);
        // Each row's class and guidance (class-conditional networks), else the learned velocity.
        VelocityFn v = particle_velocity(work_mlp, work_spec, work_row);
        // One frame interval per call: dopri5 lands on the frame time and adapts within it. When
        // it gives up (a stiff field) the block stays where it stopped and the view says why.
        try {
            if (work_spec.sde_gamma > 0.0f) {
                sde_frame(v, work_spec, block, work_step, work_row, sde_scratch);
                frame_nfe = k_sde_substeps;
            } else {
                const IntegrationStats st = integrate_particles(
                    v, IntegrationSettings{work_spec.solver, 1, work_spec.tolerance}, block, t_a, t_b);
                frame_nfe = std::max(frame_nfe, st.evaluations);
            }
        } catch (const InputError& e) {
            work->error = e.what();
        }
        work->frames[work_step + 1].middleRows(work_row, len) = block;
        work_row += len;
        bool finished = false;
        if (work_row >= rows) {
            work->stats.evaluations += frame_nfe;
            frame_nfe = 0;
            work_row = 0;
            if (++work_step >= steps) finished = true;
        }
        if (finished) {
            // m_reference is written only by this thread, so reading it unlocked here is safe.
            auto ref = m_reference;
            label_modes(*work, ref ? &ref->modes : nullptr);
            label_classes(*work, work_spec, work_mlp.config().classes);
        }
        lock.lock();
        if (finished) {
            if (work->spec_id == m_spec_id) {
                m_trajectory = work;
                m_last_seconds = now_seconds() - work_start;
                m_published.notify_all();
            }
            work.reset();
        } else if (work->spec_id != m_spec_id) {
            work.reset();  // the spec changed mid-way: start over with it
        }
    }
}

}  // namespace fmp
