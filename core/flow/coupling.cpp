// Minibatch couplings: the exact Jonker-Volgenant assignment solver and the batch re-ordering.
#include "core/flow/coupling.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <cstring>
#include <limits>
#include <utility>

namespace fmp {

namespace {

constexpr double k_inf = std::numeric_limits<double>::infinity();
// Auction schedule, relative to the largest cost: first eps, shrink factor per phase, last eps.
// Measured at n = 256 (normal vs moons / 8 gaussians / checkerboard): stopping at 3e-4 leaves
// about 110 rows to the exact phase, which is cheaper than the extra phases a finer eps needs.
constexpr float k_eps_start = 0.01f;
constexpr float k_eps_factor = 0.1f;
constexpr float k_eps_final = 3e-4f;
constexpr long k_bid_budget = 200;

// The smallest and second smallest of row[j] - v[j] and where the smallest is, in one pass.
// GCC/Clang vector extensions: eight lanes each keep their own two smallest, branch-free, which
// is several times faster than the scalar loop (auto-vectorisation does not manage this one).
using Vec8f = float __attribute__((vector_size(32)));
using Vec8i = int __attribute__((vector_size(32)));

struct BestTwo {
    float r1, r2;
    int j1;
};

// n must be a multiple of 32 (padded). Four independent sets of lanes break the dependency
// chain through the running minima, which otherwise bounds the loop by compare latency.
BestTwo best_two(const float* row, const float* v, int n) {
    constexpr float inf = std::numeric_limits<float>::infinity();
    constexpr int U = 4;
    Vec8f m1[U], m2[U];
    Vec8i idx[U], jv[U];
    for (int u = 0; u < U; ++u) {
        m1[u] = Vec8f{inf, inf, inf, inf, inf, inf, inf, inf};
        m2[u] = m1[u];
        idx[u] = Vec8i{0, 0, 0, 0, 0, 0, 0, 0};
        jv[u] = Vec8i{0, 1, 2, 3, 4, 5, 6, 7} + 8 * u;
    }
    for (int j = 0; j < n; j += 8 * U) {
        for (int u = 0; u < U; ++u) {
            Vec8f c, p;
            std::memcpy(&c, row + j + 8 * u, sizeof c);
            std::memcpy(&p, v + j + 8 * u, sizeof p);
            const Vec8f t = c - p;
            const Vec8i lt = t < m1[u];
            const Vec8f lo2 = t < m2[u] ? t : m2[u];
            m2[u] = lt ? m1[u] : lo2;
            m1[u] = lt ? t : m1[u];
            idx[u] = lt ? jv[u] : idx[u];
            jv[u] += 8 * U;
        }
    }
    // Merge the sets of lanes with vector operations, then the last eight lanes branch-free.
    for (int u = 1; u < U; ++u) {
        const Vec8i lt = m1[u] < m1[0];
        m2[0] = lt ? (m1[0] < m2[u] ? m1[0] : m2[u]) : (m1[u] < m2[0] ? m1[u] : m2[0]);
        idx[0] = lt ? idx[u] : idx[0];
        m1[0] = lt ? m1[u] : m1[0];
    }
    // Then lanes k and k ^ s for s = 4, 2, 1: a three-level tree instead of an eight-step chain.
    // Ties keep the first operand, so the result is deterministic.
    Vec8f a1 = m1[0], a2 = m2[0];
    Vec8i ai = idx[0];
    auto fold = [&](Vec8f b1, Vec8f b2, Vec8i bi) {
        const Vec8i lt = b1 < a1;
        a2 = lt ? (a1 < b2 ? a1 : b2) : (b1 < a2 ? b1 : a2);
        ai = lt ? bi : ai;
        a1 = lt ? b1 : a1;
    };
#define FMP_FOLD(...)                                                                              \
    fold(__builtin_shufflevector(a1, a1, __VA_ARGS__), __builtin_shufflevector(a2, a2, __VA_ARGS__), \
         __builtin_shufflevector(ai, ai, __VA_ARGS__))
    FMP_FOLD(4, 5, 6, 7, 0, 1, 2, 3);
    FMP_FOLD(2, 3, 0, 1, 6, 7, 4, 5);
    FMP_FOLD(1, 0, 3, 2, 5, 4, 7, 6);
#undef FMP_FOLD
    return {a1[0], a2[0], ai[0]};
}

// Double-precision passes over a padded float cost row, eight columns at a time.
using Vec8d = double __attribute__((vector_size(64)));
using Vec8l = long long __attribute__((vector_size(64)));
constexpr int k_lanes = 32;  // padding unit: four vectors of eight

Vec8d load_cost8(const float* p) {
    Vec8f c;
    std::memcpy(&c, p, sizeof c);
    return __builtin_convertvector(c, Vec8d);
}

Vec8d load8(const double* p) {
    Vec8d r;
    std::memcpy(&r, p, sizeof r);
    return r;
}

double hmin(Vec8d m) {
    double r = m[0];
    for (int k = 1; k < 8; ++k) r = m[k] < r ? m[k] : r;
    return r;
}

// min_j row[j] - v[j].
double min_reduced(const float* row, const double* v, int np) {
    Vec8d m = load_cost8(row) - load8(v);
    for (int j = 8; j < np; j += 8) {
        const Vec8d t = load_cost8(row + j) - load8(v + j);
        m = t < m ? t : m;
    }
    return hmin(m);
}

// Per column j, the two smallest row[j] - u over the rows seen so far and the row of the first.
void col_two_min(const float* row, double u, double* m1, double* m2, int* arg, int i, int np) {
    for (int j = 0; j < np; ++j) {
        const double t = row[j] - u;
        const bool lt = t < m1[j];
        const double lo2 = t < m2[j] ? t : m2[j];
        m2[j] = lt ? m1[j] : lo2;
        arg[j] = lt ? i : arg[j];
        m1[j] = lt ? t : m1[j];
    }
}

struct Relaxed {
    double d;
    int j;
};

// One Dijkstra step of the JV augmentation: relaxes every column with row i's reduced costs
// row[j] - v[j] - h (recording i as predecessor where that is shorter) and returns the column
// with the smallest distance. Branch-free over all columns; scanned ones are inert (see solve).
Relaxed relax_argmin(const float* row, const double* v, double h, double* d, int* pred, int i, int np) {
    constexpr int U = 4;
    Vec8d best[U];
    Vec8i bidx[U], jv[U];
    const Vec8i iv = {i, i, i, i, i, i, i, i};
    for (int u = 0; u < U; ++u) {
        best[u] = Vec8d{k_inf, k_inf, k_inf, k_inf, k_inf, k_inf, k_inf, k_inf};
        bidx[u] = Vec8i{0, 0, 0, 0, 0, 0, 0, 0};
        jv[u] = Vec8i{0, 1, 2, 3, 4, 5, 6, 7} + 8 * u;
    }
    for (int j0 = 0; j0 < np; j0 += 8 * U) {
        for (int u = 0; u < U; ++u) {
            const int j = j0 + 8 * u;
            const Vec8d red = load_cost8(row + j) - load8(v + j) - h;
            Vec8d dj = load8(d + j);
            const Vec8l lt = red < dj;
            dj = lt ? red : dj;
            std::memcpy(d + j, &dj, sizeof dj);
            Vec8i pj;
            std::memcpy(&pj, pred + j, sizeof pj);
            pj = __builtin_convertvector(lt, Vec8i) ? iv : pj;
            std::memcpy(pred + j, &pj, sizeof pj);
            const Vec8l lb = dj < best[u];
            best[u] = lb ? dj : best[u];
            bidx[u] = __builtin_convertvector(lb, Vec8i) ? jv[u] : bidx[u];
            jv[u] += 8 * U;
        }
    }
    for (int u = 1; u < U; ++u) {
        const Vec8l lt = best[u] < best[0];
        bidx[0] = __builtin_convertvector(lt, Vec8i) ? bidx[u] : bidx[0];
        best[0] = lt ? best[u] : best[0];
    }
    // Lanes k and k ^ s for s = 4, 2, 1, as in best_two (ties keep the first operand).
    Vec8d bd = best[0];
    Vec8i bj = bidx[0];
    auto fold = [&](Vec8d cd, Vec8i cj) {
        const Vec8l lt = cd < bd;
        bj = __builtin_convertvector(lt, Vec8i) ? cj : bj;
        bd = lt ? cd : bd;
    };
#define FMP_FOLD(...) fold(__builtin_shufflevector(bd, bd, __VA_ARGS__), __builtin_shufflevector(bj, bj, __VA_ARGS__))
    FMP_FOLD(4, 5, 6, 7, 0, 1, 2, 3);
    FMP_FOLD(2, 3, 0, 1, 6, 7, 4, 5);
    FMP_FOLD(1, 0, 3, 2, 5, 4, 7, 6);
#undef FMP_FOLD
    return {bd[0], bj[0]};
}

void check_finite(const Points& p, const char* what) {
    if (!p.allFinite()) throw InputError(std::string(what) + " contains a non-finite coordinate");
}

}  // namespace

// Three phases. (1) An epsilon-scaling auction in float finds a near-optimal assignment and column
// potentials v cheaply. (2) A repair pass makes the potentials satisfy the Jonker-Volgenant
// invariant exactly (in double): every assigned row sits on a column minimising its reduced cost
// c(i,j) - v(j); rows that cannot be kept so are unassigned. (3) Each free row is added by a
// Dijkstra-like shortest augmenting path on reduced costs (the JV augmentation), which keeps the
// invariant, so the final complete matching is exactly optimal whatever the auction produced.
const std::vector<int>& AssignmentSolver::solve(const Points& a, const Points& b) {
    if (a.rows() != b.rows())
        throw InputError("optimal assignment needs equal-size sets, got " + std::to_string(a.rows()) +
                         " and " + std::to_string(b.rows()));
    check_finite(a, "assignment source set");
    check_finite(b, "assignment target set");
    const int n = static_cast<int>(a.rows());
    m_perm.resize(static_cast<std::size_t>(n));
    if (n == 0) return m_perm;
    if (n == 1) {
        m_perm[0] = 0;
        return m_perm;
    }
    // Rows of the cost matrix and the per-column arrays are padded to whole vectors; padding
    // columns have potential -inf, so their reduced cost is +inf and no scan ever picks them.
    const int np = (n + k_lanes - 1) / k_lanes * k_lanes;
    const std::size_t nn = static_cast<std::size_t>(n), stride = static_cast<std::size_t>(np);
    // Resizing keeps capacity, so after the first call at the largest size nothing allocates.
    m_cost.resize(nn * stride);
    m_v.resize(stride);
    m_dist.resize(stride);
    m_row_of_col.resize(nn);
    m_col_of_row.resize(nn);
    m_pred.resize(stride);
    m_cols.resize(nn);
    m_free.resize(nn);
    m_bx.resize(stride);
    m_vf.resize(stride);
    m_u.resize(nn);
    m_by.resize(stride);
    m_col_max.resize(stride);
    m_scan_d.resize(nn);
    m_scan_v.resize(nn);
    m_col_min.resize(2 * stride);
    m_col_arg.resize(stride);

    // Costs in float (exactly reproducible for every scan); potentials and distances in double.
    // One vectorised pass writes the cost rows and the per-column minima (the auction's starting
    // potentials) and maxima (for the eps scale). Padding columns get some finite cost here,
    // reset to 0 below; their potential is -inf anyway.
    for (int j = 0; j < np; ++j) {
        m_bx[j] = j < n ? b(j, 0) : 0.0f;
        m_by[j] = j < n ? b(j, 1) : 0.0f;
    }
    const float* bx = m_bx.data();
    const float* by = m_by.data();
    float* vf = m_vf.data();
    float* col_max = m_col_max.data();
    constexpr float f_inf = std::numeric_limits<float>::infinity();
    for (int j = 0; j < np; ++j) {
        vf[j] = f_inf;
        col_max[j] = 0.0f;
    }
    for (int i = 0; i < n; ++i) {
        const float ax = a(i, 0), ay = a(i, 1);
        const Vec8f vax = {ax, ax, ax, ax, ax, ax, ax, ax}, vay = {ay, ay, ay, ay, ay, ay, ay, ay};
        float* row = m_cost.data() + static_cast<std::size_t>(i) * stride;
        for (int j = 0; j < np; j += 8) {
            Vec8f px, py, lo, hi;
            std::memcpy(&px, bx + j, sizeof px);
            std::memcpy(&py, by + j, sizeof py);
            std::memcpy(&lo, vf + j, sizeof lo);
            std::memcpy(&hi, col_max + j, sizeof hi);
            const Vec8f dx = vax - px, dy = vay - py;
            const Vec8f c = dx * dx + dy * dy;
            std::memcpy(row + j, &c, sizeof c);
            lo = c < lo ? c : lo;
            hi = c > hi ? c : hi;
            std::memcpy(vf + j, &lo, sizeof lo);
            std::memcpy(col_max + j, &hi, sizeof hi);
        }
        for (int j = n; j < np; ++j) row[j] = 0.0f;
    }
    float max_cost = 0.0f;
    for (int j = 0; j < n; ++j) max_cost = col_max[j] > max_cost ? col_max[j] : max_cost;

    const float* C = m_cost.data();
    double* v = m_v.data();
    double* d = m_dist.data();
    int* x = m_col_of_row.data();
    int* y = m_row_of_col.data();
    int* pred = m_pred.data();
    int* cols = m_cols.data();
    int* free_rows = m_free.data();
    auto cost_row = [&](int i) { return C + static_cast<std::size_t>(i) * stride; };

    // Warm start: an epsilon-scaling auction (Bertsekas) gives an assignment and column
    // potentials within n * eps of the optimal dual. On 2D geometric costs this is far cheaper
    // than growing the matching by shortest paths from scratch, whose searches then span most
    // columns. It is only a heuristic, so it runs in float with branch-free (vectorisable) scans;
    // column minima are the starting potentials.
    for (int j = n; j < np; ++j) vf[j] = -std::numeric_limits<float>::infinity();
    for (int i = 0; i < n; ++i) {
        x[i] = -1;
        y[i] = -1;
    }
    if (!std::isfinite(max_cost))
        throw InputError("assignment: coordinates too large (squared distances overflow float)");
    if (max_cost > 0.0f) {
        const float eps_final = max_cost * k_eps_final;
        float eps = max_cost * k_eps_start;
        long budget = k_bid_budget * long(n);  // bounds price wars; the exact phase finishes anyway
        for (bool last = false; !last && budget > 0;) {
            last = eps <= eps_final;
            for (int i = 0; i < n; ++i) {
                x[i] = -1;
                y[i] = -1;
                free_rows[i] = n - 1 - i;
            }
            int num_free = n;
            while (num_free > 0 && --budget > 0) {
                const int i = free_rows[--num_free];
                const BestTwo bt = best_two(cost_row(i), vf, np);
                const int j1 = bt.j1;
                const float r1 = bt.r1, r2 = bt.r2;
                vf[j1] -= (r2 - r1) + eps;
                const int i0 = y[j1];
                y[j1] = i;
                x[i] = j1;
                if (i0 >= 0) {
                    x[i0] = -1;
                    free_rows[num_free++] = i0;
                }
            }
            eps = std::max(eps * k_eps_factor, eps_final);
        }
    }
    for (int j = 0; j < np; ++j) v[j] = vf[j];

    // Exactness repair: the auction leaves each row within eps of its best reduced cost u(i).
    // A row off its minimum by delta is put back on it by raising its column's potential by
    // delta, when no other row would then see that column below its own minimum; otherwise the
    // row is unassigned. Afterwards every assigned row satisfies complementary slackness exactly,
    // which is all the shortest augmenting path phase needs to end with an optimal matching.
    // The slack of column j is min over other rows k of c(k,j) - v(j) - u(k); the two smallest
    // c(k,j) - u(k) per column, from one row-major pass, give it for every owner at once. Rows
    // that end up unassigned still count there, which can only unassign more rows, never break
    // the invariant.
    double* u = m_u.data();
    double* cm1 = m_col_min.data();
    double* cm2 = cm1 + stride;
    int* cmi = m_col_arg.data();
    for (int j = 0; j < np; ++j) {
        cm1[j] = k_inf;
        cm2[j] = k_inf;
    }
    for (int i = 0; i < n; ++i) {
        const float* row = cost_row(i);
        u[i] = min_reduced(row, v, np);
        if (x[i] < 0) continue;
        col_two_min(row, u[i], cm1, cm2, cmi, i, np);
    }
    int num_free = 0;
    for (int i = 0; i < n; ++i) {
        const int j = x[i];
        if (j >= 0) {
            const double delta = (cost_row(i)[j] - v[j]) - u[i];
            if (delta <= 0.0) continue;
            const double slack = (cmi[j] == i ? cm2[j] : cm1[j]) - v[j];
            if (slack >= delta) {
                v[j] += delta;
                continue;
            }
            x[i] = -1;
            y[j] = -1;
        }
        free_rows[num_free++] = i;
    }

    // Shortest augmenting paths for the rows still free: Dijkstra over columns with dense,
    // vectorised relax-and-argmin passes. A scanned column leaves the search by getting potential
    // -inf (its reduced costs become +inf, so it is never relaxed again) and distance +inf (so
    // it is never the minimum again); its true distance and potential wait in the scan lists.
    double* scan_d = m_scan_d.data();
    double* scan_v = m_scan_v.data();
    for (int f = 0; f < num_free; ++f) {
        const int start = free_rows[f];
        for (int j = 0; j < np; ++j) d[j] = k_inf;
        Relaxed r = relax_argmin(cost_row(start), v, 0.0, d, pred, start, np);
        double mn = r.d;
        int num_scanned = 0;
        while (y[r.j] >= 0) {
            const int j1 = r.j;
            // Rounding can put a column a hair below the level already reached; it joins it.
            mn = std::max(mn, r.d);
            cols[num_scanned] = j1;
            scan_d[num_scanned] = d[j1];
            scan_v[num_scanned++] = v[j1];
            const int i = y[j1];
            const double h = cost_row(i)[j1] - v[j1] - mn;
            v[j1] = -k_inf;
            d[j1] = k_inf;
            r = relax_argmin(cost_row(i), v, h, d, pred, i, np);
        }
        mn = std::max(mn, r.d);
        // Scanned columns move their potentials by how much closer they were than the minimum;
        // this keeps every reduced cost non-negative and the new path tight.
        for (int k = 0; k < num_scanned; ++k) v[cols[k]] = scan_v[k] + (scan_d[k] - mn);
        for (int j = r.j;;) {
            const int i = pred[j];
            y[j] = i;
            std::swap(j, x[i]);
            if (i == start) break;
        }
    }

    for (int i = 0; i < n; ++i) m_perm[static_cast<std::size_t>(i)] = x[i];
    return m_perm;
}

std::vector<int> optimal_assignment(const Points& a, const Points& b) {
    AssignmentSolver solver;
    return solver.solve(a, b);
}

void CouplingOptions::validate() const {
    if (ot_batch != 0 && (ot_batch < 2 || ot_batch > 65536))
        throw InputError("the OT batch must be 0 (the whole batch) or 2..65536 (got " +
                         std::to_string(ot_batch) + ")");
    if (!(ot_reg >= 1e-4f && ot_reg <= 100.0f))
        throw InputError("the entropic regularization (--ot-reg) must be in [1e-4, 100]");
    if (!(sb_sigma >= 1e-3f && sb_sigma <= 10.0f))
        throw InputError("the Schroedinger-bridge sigma (--sb-sigma) must be in [0.001, 10]");
}

bool coupling_solves_plan(CouplingKind kind) {
    return kind == CouplingKind::MinibatchOT || kind == CouplingKind::Sinkhorn ||
           kind == CouplingKind::SchrodingerBridge;
}

float bridge_scale(float sigma, float t) { return sigma * std::sqrt(std::max(t * (1.0f - t), 0.0f)); }

float bridge_scale_rate(float sigma, float t) {
    const float tc = std::clamp(t, 1e-4f, 1.0f - 1e-4f);
    return sigma * (1.0f - 2.0f * tc) / (2.0f * std::sqrt(tc * (1.0f - tc)));
}

void add_bridge_noise(float sigma, const VectorF& t, const Points& eps, Points& xt, Points& ut) {
    if (eps.rows() != t.size() || xt.rows() != t.size() || ut.rows() != t.size())
        throw InputError("bridge noise needs one row per batch row");
    for (Eigen::Index i = 0; i < t.size(); ++i) {
        xt.row(i) += bridge_scale(sigma, t[i]) * eps.row(i);
        ut.row(i) += bridge_scale_rate(sigma, t[i]) * eps.row(i);
    }
}

Coupler::Coupler(CouplingKind kind, CouplingOptions options) : m_kind(kind), m_options(options) {
    options.validate();
}

float Coupler::epsilon_of(CouplingKind kind, const CouplingOptions& options) {
    if (kind == CouplingKind::Sinkhorn) return options.ot_reg;
    if (kind == CouplingKind::SchrodingerBridge) return 2.0f * options.sb_sigma * options.sb_sigma;
    return 0.0f;
}

void Coupler::couple(Points& x0, Points& x1, Rng& rng) {
    if (x0.rows() != x1.rows())
        throw InputError("coupling needs batches of equal size, got " + std::to_string(x0.rows()) +
                         " and " + std::to_string(x1.rows()));
    if (!coupling_solves_plan(m_kind)) return;
    const Eigen::Index b = x0.rows();
    const Eigen::Index chunk = m_options.ot_batch > 0 ? m_options.ot_batch : b;
    for (Eigen::Index begin = 0; begin < b; begin += chunk)
        couple_rows(x0, x1, begin, std::min(chunk, b - begin), &rng);
}

void Coupler::couple(Points& x0, const Points& x1) {
    if (m_kind == CouplingKind::Sinkhorn || m_kind == CouplingKind::SchrodingerBridge)
        throw std::logic_error("entropic couplings resample both sides: use couple(x0, x1, rng)");
    Points x1_copy = x1;  // only permuted couplings get here: x1 stays as it is
    Rng unused;
    couple(x0, x1_copy, unused);
}

void Coupler::couple_rows(Points& x0, Points& x1, Eigen::Index begin, Eigen::Index n, Rng* rng) {
    if (n < 2) return;
    const bool whole = begin == 0 && n == x0.rows();
    if (m_kind == CouplingKind::MinibatchOT) {
        m_a = x0.middleRows(begin, n);
        if (!whole) m_b = x1.middleRows(begin, n);
        const std::vector<int>& perm = m_solver.solve(m_a, whole ? x1 : m_b);
        m_scratch.resize(n, 2);
        for (Eigen::Index i = 0; i < n; ++i) m_scratch.row(perm[static_cast<std::size_t>(i)]) = m_a.row(i);
        x0.middleRows(begin, n) = m_scratch;
        return;
    }
    // Entropic: n pairs (i, j) drawn from the plan of this sub-batch.
    m_a = x0.middleRows(begin, n);
    m_b = x1.middleRows(begin, n);
    SinkhornSettings settings;
    settings.epsilon = epsilon_of(m_kind, m_options);
    m_sinkhorn.solve(m_a, m_b, settings);
    m_sinkhorn.sample_pairs(static_cast<int>(n), *rng, m_rows, m_cols);
    for (Eigen::Index k = 0; k < n; ++k) {
        x0.row(begin + k) = m_a.row(m_rows[static_cast<std::size_t>(k)]);
        x1.row(begin + k) = m_b.row(m_cols[static_cast<std::size_t>(k)]);
    }
}

std::vector<int> partner_rows(CouplingKind kind, const CouplingOptions& options, const Points& a,
                              const Points& b, Rng& rng) {
    if (a.rows() != b.rows()) throw InputError("partner_rows needs two sets of equal size");
    const int n = static_cast<int>(a.rows());
    std::vector<int> partner(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) partner[static_cast<std::size_t>(i)] = i;
    if (n < 2) return partner;
    if (kind == CouplingKind::MinibatchOT) return optimal_assignment(a, b);
    if (kind != CouplingKind::Sinkhorn && kind != CouplingKind::SchrodingerBridge) return partner;
    SinkhornSolver solver;
    SinkhornSettings settings;
    settings.epsilon = Coupler::epsilon_of(kind, options);
    solver.solve(a, b, settings);
    const std::vector<float>& plan = solver.plan();
    for (int i = 0; i < n; ++i) {
        const float* row = plan.data() + static_cast<std::size_t>(i) * static_cast<std::size_t>(n);
        double total = 0.0;
        for (int j = 0; j < n; ++j) total += row[j];
        double u = rng.uniform() * total, acc = 0.0;
        int pick = n - 1;
        for (int j = 0; j < n; ++j) {
            acc += row[j];
            if (u < acc) {
                pick = j;
                break;
            }
        }
        partner[static_cast<std::size_t>(i)] = pick;
    }
    return partner;
}

std::vector<float> coupling_plan(CouplingKind kind, const CouplingOptions& options, const Points& a,
                                 const Points& b) {
    if (a.rows() != b.rows() || a.rows() < 1) throw InputError("coupling_plan needs two non-empty sets of equal size");
    const auto n = static_cast<std::size_t>(a.rows());
    std::vector<float> plan(n * n, 0.0f);
    const float inv = 1.0f / static_cast<float>(n);
    switch (kind) {
        case CouplingKind::Independent:
            std::fill(plan.begin(), plan.end(), inv * inv);
            break;
        case CouplingKind::Paired:
            for (std::size_t i = 0; i < n; ++i) plan[i * n + i] = inv;
            break;
        case CouplingKind::MinibatchOT: {
            const std::vector<int> perm = optimal_assignment(a, b);
            for (std::size_t i = 0; i < n; ++i) plan[i * n + static_cast<std::size_t>(perm[i])] = inv;
            break;
        }
        case CouplingKind::Sinkhorn:
        case CouplingKind::SchrodingerBridge: {
            SinkhornSolver solver;
            SinkhornSettings settings;
            settings.epsilon = Coupler::epsilon_of(kind, options);
            solver.solve(a, b, settings);
            plan = solver.plan();
            break;
        }
    }
    return plan;
}

namespace {

double orient(const Eigen::Vector2d& p, const Eigen::Vector2d& q, const Eigen::Vector2d& r) {
    return (q.x() - p.x()) * (r.y() - p.y()) - (q.y() - p.y()) * (r.x() - p.x());
}

}  // namespace

int64_t count_crossings(const Points& a, const Points& b, const std::vector<int>& partner,
                        std::vector<int>* per_segment) {
    const auto n = static_cast<std::size_t>(a.rows());
    if (partner.size() != n) throw InputError("count_crossings needs one partner per row");
    if (per_segment) per_segment->assign(n, 0);
    std::vector<Eigen::Vector2d> p(n), q(n);
    for (std::size_t i = 0; i < n; ++i) {
        const int j = partner[i];
        if (j < 0 || j >= b.rows()) throw InputError("count_crossings: a partner out of range");
        p[i] = a.row(static_cast<Eigen::Index>(i)).cast<double>().transpose();
        q[i] = b.row(j).cast<double>().transpose();
    }
    int64_t crossings = 0;
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t k = i + 1; k < n; ++k) {
            // Proper intersection: each segment's ends strictly on opposite sides of the other.
            const double d1 = orient(p[i], q[i], p[k]), d2 = orient(p[i], q[i], q[k]);
            const double d3 = orient(p[k], q[k], p[i]), d4 = orient(p[k], q[k], q[i]);
            if (((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0))) {
                ++crossings;
                if (per_segment) ++(*per_segment)[i], ++(*per_segment)[k];
            }
        }
    return crossings;
}

const std::vector<std::string>& coupling_names() {
    static const std::vector<std::string> names = {"independent", "ot", "sinkhorn", "sb"};
    return names;
}

std::string coupling_name(CouplingKind kind) {
    switch (kind) {
        case CouplingKind::Independent: return "independent";
        case CouplingKind::MinibatchOT: return "ot";
        case CouplingKind::Sinkhorn: return "sinkhorn";
        case CouplingKind::SchrodingerBridge: return "sb";
        case CouplingKind::Paired: return "paired";
    }
    return "independent";
}

std::optional<CouplingKind> coupling_kind_from_name(const std::string& name) {
    if (name == "independent") return CouplingKind::Independent;
    if (name == "ot" || name == "minibatch-ot") return CouplingKind::MinibatchOT;
    if (name == "sinkhorn" || name == "entropic-ot") return CouplingKind::Sinkhorn;
    if (name == "sb" || name == "schrodinger-bridge") return CouplingKind::SchrodingerBridge;
    if (name == "paired") return CouplingKind::Paired;
    return std::nullopt;
}

CouplingKind make_coupling(const std::string& name) {
    if (auto kind = coupling_kind_from_name(name)) return *kind;
    throw InputError("unknown coupling " + quote_for_message(name) + "; valid: " + join_names(coupling_names()));
}

}  // namespace fmp
