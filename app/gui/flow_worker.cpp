// The view worker: integrates the particles in small blocks between arrow-grid requests, so a
// new t or zoom gets fresh arrows within one block even while a trajectory is being computed.
#include "app/gui/flow_worker.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>

#include "app/gui/trainer.h"
#include "core/flow/marginal_velocity.h"
#include "core/base/rng.h"

namespace fmp {
namespace {

// Rows integrated per slice: ~5-15 ms on two cores for a 3x128 network with a 2-stage solver.
constexpr int k_block_rows = 4096;
constexpr int k_max_modes = 12;
// Reference samples of the target for the markers, the modes and the exact marginal field.
constexpr int k_reference_points = 2048;

double now_seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

}  // namespace

Points particle_starts(const FlowSpec& spec, int n) {
    Rng rng(spec.seed * 104729 + 5, 11);
    return spec.source.sample(n, rng);
}

// ---------------------------------------------------------------------------------------------
// [SECTION] Target modes

int ModeMap::mode_of(float x, float y) const {
    if (n <= 0) return 0;
    Eigen::Vector2f size = box.sizes();
    int cx = static_cast<int>((x - box.min().x()) / size.x() * n);
    int cy = static_cast<int>((y - box.min().y()) / size.y() * n);
    cx = std::clamp(cx, 0, n - 1);
    cy = std::clamp(cy, 0, n - 1);
    return label[static_cast<std::size_t>(cy) * n + cx];
}

ModeMap ModeMap::build(const Points& sample) {
    ModeMap map;
    if (sample.rows() == 0) return map;
    // Robust bounds: ignore the outermost 0.5% so one far sample does not shrink every cell.
    auto quantile = [&](int col, double q) {
        std::vector<float> v(static_cast<std::size_t>(sample.rows()));
        for (Eigen::Index i = 0; i < sample.rows(); ++i)
            v[i] = sample(i, col);  // rows are x,y pairs
        std::size_t k = static_cast<std::size_t>(q * (v.size() - 1));
        std::nth_element(v.begin(), v.begin() + k, v.end());
        return v[k];
    };
    Eigen::Vector2f lo(quantile(0, 0.005), quantile(1, 0.005)),
        hi(quantile(0, 0.995), quantile(1, 0.995));
    Eigen::Vector2f pad = (hi - lo).cwiseMax(1e-3f) * 0.06f;
    lo -= pad;
    hi += pad;
    // Square cells so modes separated by the same gap are treated the same along x and y.
    float side = std::max(hi.x() - lo.x(), hi.y() - lo.y());
    Eigen::Vector2f c = 0.5f * (lo + hi);
    map.box = Eigen::AlignedBox2f(c - Eigen::Vector2f::Constant(side / 2),
                                  c + Eigen::Vector2f::Constant(side / 2));
    map.n = 40;
    const int n = map.n;
    std::vector<int> counts(static_cast<std::size_t>(n) * n, 0);
    for (Eigen::Index i = 0; i < sample.rows(); ++i) {
        int cx = static_cast<int>((sample(i, 0) - map.box.min().x()) / side * n);
        int cy = static_cast<int>((sample(i, 1) - map.box.min().y()) / side * n);
        if (cx < 0 || cy < 0 || cx >= n || cy >= n) continue;
        counts[static_cast<std::size_t>(cy) * n + cx]++;
    }
    // Connected components of occupied cells (4-neighbours: checkerboard squares that only touch
    // at corners stay apart).
    std::vector<int> comp(counts.size(), -1);
    std::vector<int> comp_size;
    for (std::size_t start = 0; start < counts.size(); ++start) {
        if (counts[start] == 0 || comp[start] >= 0) continue;
        int id = static_cast<int>(comp_size.size());
        int total = 0;
        std::vector<std::size_t> stack{start};
        comp[start] = id;
        while (!stack.empty()) {
            std::size_t cell = stack.back();
            stack.pop_back();
            total += counts[cell];
            int cx = static_cast<int>(cell % n), cy = static_cast<int>(cell / n);
            const int dx[4] = {1, -1, 0, 0}, dy[4] = {0, 0, 1, -1};
            for (int k = 0; k < 4; ++k) {
                int x = cx + dx[k], y = cy + dy[k];
                if (x < 0 || y < 0 || x >= n || y >= n) continue;
                std::size_t nb = static_cast<std::size_t>(y) * n + x;
                if (counts[nb] > 0 && comp[nb] < 0) {
                    comp[nb] = id;
                    stack.push_back(nb);
                }
            }
        }
        comp_size.push_back(total);
    }
    // Keep the components holding at least 2% of the sample (stray tail samples are not modes),
    // the largest first, at most k_max_modes.
    std::vector<int> order(comp_size.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
    std::sort(order.begin(), order.end(),
              [&](int a, int b) { return comp_size[a] > comp_size[b]; });
    std::vector<int> remap(comp_size.size(), -1);
    int kept = 0;
    for (int id : order) {
        if (kept >= k_max_modes || comp_size[id] < 0.02 * sample.rows()) break;
        remap[id] = kept++;
    }
    if (kept == 0) kept = 1, remap[order[0]] = 0;
    map.count = kept;
    // Multi-source BFS: every other cell takes the label of the nearest kept mode.
    map.label.assign(counts.size(), 255);
    std::deque<std::size_t> queue;
    for (std::size_t cell = 0; cell < counts.size(); ++cell)
        if (comp[cell] >= 0 && remap[comp[cell]] >= 0) {
            map.label[cell] = static_cast<uint8_t>(remap[comp[cell]]);
            queue.push_back(cell);
        }
    while (!queue.empty()) {
        std::size_t cell = queue.front();
        queue.pop_front();
        int cx = static_cast<int>(cell % n), cy = static_cast<int>(cell / n);
        for (int dy = -1; dy <= 1; ++dy)
            for (int dx = -1; dx <= 1; ++dx) {
                int x = cx + dx, y = cy + dy;
                if (x < 0 || y < 0 || x >= n || y >= n) continue;
                std::size_t nb = static_cast<std::size_t>(y) * n + x;
                if (map.label[nb] == 255) {
                    map.label[nb] = map.label[cell];
                    queue.push_back(nb);
                }
            }
    }
    return map;
}

// ---------------------------------------------------------------------------------------------
// [SECTION] Trajectory

void Trajectory::positions_at(float t, std::vector<float>& xy) const {
    xy.resize(static_cast<std::size_t>(x0.rows()) * 2);
    if (frames.empty()) return;
    float k = std::clamp(t, 0.0f, 1.0f) * steps();
    int i0 = std::min(static_cast<int>(k), std::max(0, steps() - 1));
    int i1 = std::min(i0 + 1, steps());
    float f = std::clamp(k - i0, 0.0f, 1.0f);
    const float* a = frames[i0].data();
    const float* b = frames[i1].data();
    for (std::size_t j = 0; j < xy.size(); ++j) xy[j] = a[j] + f * (b[j] - a[j]);
}

Eigen::Vector2f Trajectory::position_at(int i, float t) const {
    float k = std::clamp(t, 0.0f, 1.0f) * steps();
    int i0 = std::min(static_cast<int>(k), std::max(0, steps() - 1));
    int i1 = std::min(i0 + 1, steps());
    float f = std::clamp(k - i0, 0.0f, 1.0f);
    Eigen::Vector2f a = frames[i0].row(i).transpose(), b = frames[i1].row(i).transpose();
    return a + f * (b - a);
}

// ---------------------------------------------------------------------------------------------
// [SECTION] FlowWorker

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
    double work_start = 0.0;
    Points block, x1;

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
            auto ref = std::make_shared<FlowReference>();
            ref->spec_id = id;
            Rng rng(spec.seed * 7919 + 17, 3);
            ref->target = spec.target.sample(k_reference_points, rng);
            ref->source = spec.source.sample(k_reference_points, rng) * spec.path.source_scale();
            ref->modes = ModeMap::build(ref->target);
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
            auto field = std::make_shared<ArrowField>();
            field->request = m_arrow_request;
            field->params_version = m_params_version;
            auto params = m_params;
            MlpConfig config = m_mlp;
            auto ref = m_reference;
            ProbabilityPath path = m_spec.path;
            lock.unlock();
            const ArrowRequest& r = field->request;
            int nx = std::max(1, r.nx), ny = std::max(1, r.ny);
            field->base.resize(static_cast<Eigen::Index>(nx) * ny, 2);
            Eigen::Vector2f size = r.box.sizes();
            for (int j = 0; j < ny; ++j)
                for (int i = 0; i < nx; ++i) {
                    Eigen::Index row = static_cast<Eigen::Index>(j) * nx + i;
                    field->base(row, 0) = r.box.min().x() + (i + 0.5f) * size.x() / nx;
                    field->base(row, 1) = r.box.min().y() + (j + 0.5f) * size.y() / ny;
                }
            Mlp mlp;
            if (r.learned && make_mlp(config, *params, mlp))
                mlp.evaluate(field->base, r.t, field->learned);
            if (r.exact) marginal_velocity(path, ref->target, r.t, field->base, field->exact);
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
        VelocityFn v = [&work_mlp](const Points& x, float t, Points& out) {
            work_mlp.evaluate(x, t, out);
        };
        integrate_particles(v, work_spec.solver, block, t_a, t_b, 1);
        work->frames[work_step + 1].middleRows(work_row, len) = block;
        work_row += len;
        bool finished = false;
        if (work_row >= rows) {
            work_row = 0;
            if (++work_step >= steps) finished = true;
        }
        if (finished) {
            // m_reference is written only by this thread, so reading it unlocked here is safe.
            auto ref = m_reference;
            work->mode.resize(static_cast<std::size_t>(rows));
            const Points& last = work->frames.back();
            for (Eigen::Index i = 0; i < rows; ++i)
                work->mode[i] =
                    ref ? static_cast<uint8_t>(ref->modes.mode_of(last(i, 0), last(i, 1))) : 0;
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
