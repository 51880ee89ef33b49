// Point-set distances (exact W2, sliced W2, MMD); trajectories' energy and straightness.
#include "core/metrics/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <lemon/network_simplex.h>
#include <lemon/smart_graph.h>
#include <string>

#include "core/base/parallel.h"
#include "core/base/rng.h"
#include "core/flow/coupling.h"

namespace fmp {

namespace {

constexpr Eigen::Index k_max_w2_points = 5000;

void check_set(const Points& p, const char* what, Eigen::Index min_size) {
    if (p.rows() < min_size)
        throw InputError(std::string(what) + " needs at least " + std::to_string(min_size) +
                         " point(s), got " + std::to_string(p.rows()));
    if (!p.allFinite()) throw InputError(std::string(what) + ": a point has a non-finite coordinate");
}

double sq_dist(const Points& a, Eigen::Index i, const Points& b, Eigen::Index j) {
    const double dx = double(a(i, 0)) - double(b(j, 0));
    const double dy = double(a(i, 1)) - double(b(j, 1));
    return dx * dx + dy * dy;
}

// Unequal sizes: the transportation problem between n sources of mass 1/n and m sinks of mass
// 1/m. Scaling every mass by n*m makes supplies integral (m per source, n per sink), so the
// network simplex optimum is exact; costs stay in double.
double transport_w2_squared(const Points& a, const Points& b) {
    using Graph = lemon::SmartDigraph;
    const int n = static_cast<int>(a.rows());
    const int m = static_cast<int>(b.rows());
    Graph g;
    g.reserveNode(n + m);
    g.reserveArc(n * m);
    std::vector<Graph::Node> src(static_cast<std::size_t>(n)), dst(static_cast<std::size_t>(m));
    for (auto& s : src) s = g.addNode();
    for (auto& t : dst) t = g.addNode();
    Graph::ArcMap<double> cost(g);
    Graph::NodeMap<int64_t> supply(g);
    for (int i = 0; i < n; ++i) supply[src[i]] = m;
    for (int j = 0; j < m; ++j) supply[dst[j]] = -int64_t(n);
    for (int i = 0; i < n; ++i)
        for (int j = 0; j < m; ++j) cost[g.addArc(src[i], dst[j])] = sq_dist(a, i, b, j);
    lemon::NetworkSimplex<Graph, int64_t, double> simplex(g);
    simplex.costMap(cost).supplyMap(supply);
    if (simplex.run() != lemon::NetworkSimplex<Graph, int64_t, double>::OPTIMAL)
        throw InputError("wasserstein2: the transport problem has no optimal solution");
    return simplex.totalCost<double>() / (double(n) * double(m));
}

// Value at probability level t of the empirical quantile function of sorted samples, linearly
// interpolated between the sample midpoints (sample k sits at level (k + 0.5) / n).
double quantile(const std::vector<double>& sorted, double t) {
    const auto n = static_cast<double>(sorted.size());
    const double p = std::clamp(t * n - 0.5, 0.0, n - 1.0);
    const auto k = static_cast<std::size_t>(p);
    if (k + 1 >= sorted.size()) return sorted.back();
    const double w = p - double(k);
    return sorted[k] * (1.0 - w) + sorted[k + 1] * w;
}

// Sum over i in [0, n) of f(i), split over the thread pool (double partial sums per worker).
template <class F>
double parallel_sum(std::size_t n, F&& f) {
    std::vector<double> partial(static_cast<std::size_t>(thread_count()), 0.0);
    parallel_for(
        n,
        [&](std::size_t begin, std::size_t end, int worker) {
            double s = 0.0;
            for (std::size_t i = begin; i < end; ++i) s += f(i);
            partial[static_cast<std::size_t>(worker)] += s;
        },
        16);
    double s = 0.0;
    for (double p : partial) s += p;
    return s;
}

// Median pairwise distance of the pooled set, on an evenly strided subsample of at most 1000
// points (deterministic, and O(1e6) distances at most).
double median_distance(const Points& a, const Points& b) {
    const Eigen::Index total = a.rows() + b.rows();
    const Eigen::Index count = std::min<Eigen::Index>(total, 1000);
    std::vector<double> px(static_cast<std::size_t>(count)), py(static_cast<std::size_t>(count));
    for (Eigen::Index k = 0; k < count; ++k) {
        const Eigen::Index idx = k * total / count;
        const bool in_a = idx < a.rows();
        const Eigen::Index r = in_a ? idx : idx - a.rows();
        px[k] = in_a ? a(r, 0) : b(r, 0);
        py[k] = in_a ? a(r, 1) : b(r, 1);
    }
    std::vector<double> dist;
    dist.reserve(static_cast<std::size_t>(count * (count - 1) / 2));
    for (Eigen::Index i = 0; i < count; ++i)
        for (Eigen::Index j = i + 1; j < count; ++j)
            dist.push_back(std::hypot(px[i] - px[j], py[i] - py[j]));
    if (dist.empty()) return 0.0;
    auto mid = dist.begin() + static_cast<std::ptrdiff_t>(dist.size() / 2);
    std::nth_element(dist.begin(), mid, dist.end());
    return *mid;
}

}  // namespace

double wasserstein2(const Points& a, const Points& b) {
    check_set(a, "wasserstein2: first set", 1);
    check_set(b, "wasserstein2: second set", 1);
    if (a.rows() > k_max_w2_points || b.rows() > k_max_w2_points)
        throw InputError("wasserstein2: at most " + std::to_string(k_max_w2_points) +
                         " points per set, got " + std::to_string(a.rows()) + " and " +
                         std::to_string(b.rows()));
    if (a.rows() != b.rows()) return std::sqrt(std::max(0.0, transport_w2_squared(a, b)));
    AssignmentSolver solver;
    const std::vector<int>& perm = solver.solve(a, b);
    double total = 0.0;
    for (Eigen::Index i = 0; i < a.rows(); ++i) total += sq_dist(a, i, b, perm[static_cast<std::size_t>(i)]);
    return std::sqrt(total / double(a.rows()));
}

double sliced_wasserstein2(const Points& a, const Points& b, int projections, uint64_t seed) {
    check_set(a, "sliced_wasserstein2: first set", 1);
    check_set(b, "sliced_wasserstein2: second set", 1);
    if (projections < 1)
        throw InputError("sliced_wasserstein2: projections must be >= 1, got " + std::to_string(projections));
    const std::size_t n = static_cast<std::size_t>(a.rows());
    const std::size_t m = static_cast<std::size_t>(b.rows());
    const std::size_t grid = std::max(n, m);
    std::vector<double> pa(n), pb(m);
    Rng rng(seed);
    double total = 0.0;
    for (int p = 0; p < projections; ++p) {
        const double angle = 6.283185307179586 * double(rng.uniform());
        const double ux = std::cos(angle), uy = std::sin(angle);
        for (std::size_t i = 0; i < n; ++i) pa[i] = ux * a(Eigen::Index(i), 0) + uy * a(Eigen::Index(i), 1);
        for (std::size_t j = 0; j < m; ++j) pb[j] = ux * b(Eigen::Index(j), 0) + uy * b(Eigen::Index(j), 1);
        std::sort(pa.begin(), pa.end());
        std::sort(pb.begin(), pb.end());
        double s = 0.0;
        if (n == m) {
            for (std::size_t i = 0; i < n; ++i) s += (pa[i] - pb[i]) * (pa[i] - pb[i]);
        } else {
            for (std::size_t k = 0; k < grid; ++k) {
                const double t = (double(k) + 0.5) / double(grid);
                const double diff = quantile(pa, t) - quantile(pb, t);
                s += diff * diff;
            }
        }
        total += s / double(grid);
    }
    return std::sqrt(total / projections);
}

double mmd2(const Points& a, const Points& b, double bandwidth) {
    check_set(a, "mmd2: first set", 2);
    check_set(b, "mmd2: second set", 2);
    if (!std::isfinite(bandwidth)) throw InputError("mmd2: bandwidth must be finite");
    double sigma = bandwidth > 0.0 ? bandwidth : median_distance(a, b);
    if (!(sigma > 0.0)) sigma = 1.0;  // every pooled point identical: any bandwidth gives 0
    const double gamma = 1.0 / (2.0 * sigma * sigma);
    const std::size_t n = static_cast<std::size_t>(a.rows());
    const std::size_t m = static_cast<std::size_t>(b.rows());
    // Sums over i < j only; the symmetric half is the same by symmetry of the kernel.
    auto within = [&](const Points& p, std::size_t count) {
        return 2.0 * parallel_sum(count, [&](std::size_t i) {
            double s = 0.0;
            for (std::size_t j = i + 1; j < count; ++j)
                s += std::exp(-gamma * sq_dist(p, Eigen::Index(i), p, Eigen::Index(j)));
            return s;
        });
    };
    const double kaa = within(a, n);
    const double kbb = within(b, m);
    const double kab = parallel_sum(n, [&](std::size_t i) {
        double s = 0.0;
        for (std::size_t j = 0; j < m; ++j) s += std::exp(-gamma * sq_dist(a, Eigen::Index(i), b, Eigen::Index(j)));
        return s;
    });
    return kaa / (double(n) * double(n - 1)) + kbb / (double(m) * double(m - 1)) -
           2.0 * kab / (double(n) * double(m));
}

double path_energy(const std::vector<Points>& trajectory) {
    return path_energy(trajectory, 0.0f, 1.0f);
}

double path_energy(const std::vector<Points>& trajectory, float t_a, float t_b) {
    if (trajectory.size() < 2)
        throw InputError("path_energy needs at least 2 steps of a trajectory, got " +
                         std::to_string(trajectory.size()));
    if (!(t_b > t_a) || !std::isfinite(t_a) || !std::isfinite(t_b))
        throw InputError("path_energy needs finite times t_a < t_b, got " + std::to_string(t_a) +
                         " and " + std::to_string(t_b));
    const Eigen::Index n = trajectory.front().rows();
    if (n == 0) throw InputError("path_energy: the trajectory has no particles");
    for (const Points& p : trajectory)
        if (p.rows() != n)
            throw InputError("path_energy: every step needs the same number of particles (" +
                             std::to_string(n) + "), got " + std::to_string(p.rows()));
    const double steps = double(trajectory.size() - 1);
    double total = 0.0;
    for (std::size_t k = 0; k + 1 < trajectory.size(); ++k)
        for (Eigen::Index i = 0; i < n; ++i) total += sq_dist(trajectory[k + 1], i, trajectory[k], i);
    // Dividing each squared step by dt = (t_b - t_a) / steps.
    return total * steps / (double(t_b) - double(t_a)) / double(n);
}

double straightness(const std::vector<Points>& trajectory) {
    if (trajectory.size() < 2)
        throw InputError("straightness needs at least 2 frames of a trajectory, got " +
                         std::to_string(trajectory.size()));
    const Eigen::Index n = trajectory.front().rows();
    if (n == 0) throw InputError("straightness: the trajectory has no particles");
    for (const Points& p : trajectory)
        if (p.rows() != n)
            throw InputError("straightness: every frame needs the same number of particles (" +
                             std::to_string(n) + "), got " + std::to_string(p.rows()));
    // Term by term rather than as path energy minus |X_1 - X_0|^2: the difference of two nearly
    // equal sums would lose the small S of a nearly straight flow to rounding.
    const std::size_t steps = trajectory.size() - 1;
    const double K = double(steps);
    const Points& first = trajectory.front();
    const Points& last = trajectory.back();
    double total = 0.0;
    for (Eigen::Index i = 0; i < n; ++i) {
        const double dx = double(last(i, 0)) - double(first(i, 0));
        const double dy = double(last(i, 1)) - double(first(i, 1));
        for (std::size_t k = 0; k < steps; ++k) {
            const double vx = K * (double(trajectory[k + 1](i, 0)) - double(trajectory[k](i, 0)));
            const double vy = K * (double(trajectory[k + 1](i, 1)) - double(trajectory[k](i, 1)));
            total += (dx - vx) * (dx - vx) + (dy - vy) * (dy - vy);
        }
    }
    return total / K / double(n);
}

double normalized_path_energy(double path_energy, double w2_squared) {
    if (!(w2_squared > 0.0)) return std::numeric_limits<double>::quiet_NaN();
    return std::abs(path_energy - w2_squared) / w2_squared;
}

}  // namespace fmp
