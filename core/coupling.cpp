// Minibatch couplings: the exact Jonker-Volgenant assignment solver and the batch re-ordering.
#include "core/coupling.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

namespace fmp {

namespace {

constexpr double k_inf = std::numeric_limits<double>::infinity();
// Auction schedule, relative to the largest cost: first eps, shrink factor per phase, last eps.
constexpr float k_eps_start = 0.05f;
constexpr float k_eps_factor = 0.2f;
constexpr float k_eps_final = 1e-5f;
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

BestTwo best_two(const float* row, const float* v, int n) {
    constexpr float inf = std::numeric_limits<float>::infinity();
    Vec8f m1 = {inf, inf, inf, inf, inf, inf, inf, inf};
    Vec8f m2 = m1;
    Vec8i idx = {0, 0, 0, 0, 0, 0, 0, 0};
    Vec8i jv = {0, 1, 2, 3, 4, 5, 6, 7};
    int j = 0;
    for (; j + 8 <= n; j += 8) {
        Vec8f c, p;
        std::memcpy(&c, row + j, sizeof c);
        std::memcpy(&p, v + j, sizeof p);
        const Vec8f t = c - p;
        const Vec8i lt = t < m1;
        const Vec8f lo2 = t < m2 ? t : m2;
        m2 = lt ? m1 : lo2;
        m1 = lt ? t : m1;
        idx = lt ? jv : idx;
        jv += 8;
    }
    float r1 = inf, r2 = inf;
    int j1 = 0;
    auto push = [&](float t, float t2, int jj) {
        if (t < r1) {
            r2 = std::min(r1, t2);
            r1 = t;
            j1 = jj;
        } else {
            r2 = std::min(r2, t);
        }
    };
    for (int k = 0; k < 8; ++k) push(m1[k], m2[k], idx[k]);
    for (; j < n; ++j) push(row[j] - v[j], inf, j);
    return {r1, r2, j1};
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
    const std::size_t nn = static_cast<std::size_t>(n);
    // Resizing keeps capacity, so after the first call at the largest size nothing allocates.
    m_cost.resize(nn * nn);
    m_v.resize(nn);
    m_dist.resize(nn);
    m_row_of_col.resize(nn);
    m_col_of_row.resize(nn);
    m_pred.resize(nn);
    m_cols.resize(nn);
    m_free.resize(nn);
    m_bx.resize(nn);
    m_vf.resize(nn);
    m_u.resize(nn);
    m_by.resize(nn);

    // Costs in float (exactly reproducible for every scan); potentials and distances in double.
    for (int j = 0; j < n; ++j) {
        m_bx[j] = b(j, 0);
        m_by[j] = b(j, 1);
    }
    const float* bx = m_bx.data();
    const float* by = m_by.data();
    for (int i = 0; i < n; ++i) {
        const float ax = a(i, 0), ay = a(i, 1);
        float* row = m_cost.data() + static_cast<std::size_t>(i) * nn;
        for (int j = 0; j < n; ++j) {
            const float dx = ax - bx[j], dy = ay - by[j];
            row[j] = dx * dx + dy * dy;
        }
    }

    const float* C = m_cost.data();
    double* v = m_v.data();
    double* d = m_dist.data();
    int* x = m_col_of_row.data();
    int* y = m_row_of_col.data();
    int* pred = m_pred.data();
    int* cols = m_cols.data();
    int* free_rows = m_free.data();
    auto cost_row = [&](int i) { return C + static_cast<std::size_t>(i) * nn; };

    // Warm start: an epsilon-scaling auction (Bertsekas) gives an assignment and column
    // potentials within n * eps of the optimal dual. On 2D geometric costs this is far cheaper
    // than growing the matching by shortest paths from scratch, whose searches then span most
    // columns. It is only a heuristic, so it runs in float with branch-free (vectorisable) scans;
    // column minima are the starting potentials.
    float* vf = m_vf.data();
    float max_cost = 0.0f;
    for (int j = 0; j < n; ++j) vf[j] = std::numeric_limits<float>::infinity();
    for (int i = 0; i < n; ++i) {
        const float* row = cost_row(i);
        for (int j = 0; j < n; ++j) {
            vf[j] = row[j] < vf[j] ? row[j] : vf[j];
            max_cost = row[j] > max_cost ? row[j] : max_cost;
        }
    }
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
                const BestTwo bt = best_two(cost_row(i), vf, n);
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
    for (int j = 0; j < n; ++j) v[j] = vf[j];

    // Exactness repair: the auction leaves each row within eps of its best reduced cost u(i).
    // A row off its minimum by delta is put back on it by raising its column's potential by
    // delta, when no other row would then see that column below its own minimum; otherwise the
    // row is unassigned. Afterwards every assigned row satisfies complementary slackness exactly,
    // which is all the shortest augmenting path phase needs to end with an optimal matching.
    double* u = m_u.data();
    for (int i = 0; i < n; ++i) {
        const float* row = cost_row(i);
        double rmin = k_inf;
        for (int k = 0; k < n; ++k) {
            const double t = row[k] - v[k];
            rmin = t < rmin ? t : rmin;
        }
        u[i] = rmin;
    }
    int num_free = 0;
    for (int i = 0; i < n; ++i) {
        const int j = x[i];
        if (j >= 0) {
            const double delta = (cost_row(i)[j] - v[j]) - u[i];
            if (delta <= 0.0) continue;
            double slack = k_inf;
            for (int k = 0; k < n; ++k) {
                if (k == i || x[k] < 0) continue;
                slack = std::min(slack, cost_row(k)[j] - v[j] - u[k]);
            }
            if (slack >= delta) {
                v[j] += delta;
                continue;
            }
            x[i] = -1;
            y[j] = -1;
        }
        free_rows[num_free++] = i;
    }

    // Shortest augmenting paths for the rows still free. cols is partitioned into
    // [0, low): scanned, [low, up): at the current minimum distance, [up, n): not reached yet.
    for (int f = 0; f < num_free; ++f) {
        const int start = free_rows[f];
        {
            const float* row = cost_row(start);
            for (int j = 0; j < n; ++j) {
                d[j] = row[j] - v[j];
                pred[j] = start;
                cols[j] = j;
            }
        }
        int low = 0, up = 0, end_col = -1;
        double mn = 0.0;
        while (end_col < 0) {
            if (low == up) {
                mn = d[cols[low]];
                up = low + 1;
                for (int k = low + 1; k < n; ++k) {
                    const int j = cols[k];
                    const double h = d[j];
                    if (h <= mn) {
                        if (h < mn) {
                            up = low;
                            mn = h;
                        }
                        cols[k] = cols[up];
                        cols[up++] = j;
                    }
                }
                for (int k = low; k < up; ++k)
                    if (y[cols[k]] < 0) {
                        end_col = cols[k];
                        break;
                    }
                if (end_col >= 0) break;
            }
            const int j1 = cols[low++];
            const int i = y[j1];
            const float* row = cost_row(i);
            const double h = row[j1] - v[j1] - mn;
            for (int k = up; k < n; ++k) {
                const int j = cols[k];
                const double red = row[j] - v[j] - h;
                if (red < d[j]) {
                    d[j] = red;
                    pred[j] = i;
                    // <= rather than ==: rounding may put a tie a hair below the minimum.
                    if (red <= mn) {
                        if (y[j] < 0) {
                            end_col = j;
                            break;
                        }
                        cols[k] = cols[up];
                        cols[up++] = j;
                    }
                }
            }
        }
        // Scanned columns move their potentials by how much closer they were than the minimum;
        // this keeps every reduced cost non-negative and the new path tight.
        for (int k = 0; k < low; ++k) {
            const int j = cols[k];
            v[j] += d[j] - mn;
        }
        for (int j = end_col;;) {
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

void Coupler::couple(Points& x0, const Points& x1) {
    if (x0.rows() != x1.rows())
        throw InputError("coupling needs batches of equal size, got " + std::to_string(x0.rows()) +
                         " and " + std::to_string(x1.rows()));
    if (m_kind == CouplingKind::Independent) return;
    const std::vector<int>& perm = m_solver.solve(x0, x1);
    m_scratch.resize(x0.rows(), 2);
    for (Eigen::Index i = 0; i < x0.rows(); ++i) m_scratch.row(perm[static_cast<std::size_t>(i)]) = x0.row(i);
    x0 = m_scratch;  // same size: copies without allocating
}

const std::vector<std::string>& coupling_names() {
    static const std::vector<std::string> names = {"independent", "ot"};
    return names;
}

std::string coupling_name(CouplingKind kind) {
    switch (kind) {
        case CouplingKind::Independent: return "independent";
        case CouplingKind::MinibatchOT: return "ot";
    }
    return "independent";
}

std::optional<CouplingKind> coupling_kind_from_name(const std::string& name) {
    if (name == "independent") return CouplingKind::Independent;
    if (name == "ot" || name == "minibatch-ot") return CouplingKind::MinibatchOT;
    return std::nullopt;
}

CouplingKind make_coupling(const std::string& name) {
    if (auto kind = coupling_kind_from_name(name)) return *kind;
    throw InputError("unknown coupling '" + name + "'; valid: " + join_names(coupling_names()));
}

}  // namespace fmp
