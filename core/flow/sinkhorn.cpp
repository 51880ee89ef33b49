// Entropic optimal transport: stabilized Sinkhorn-Newton with epsilon scaling, and pair sampling.
#include "core/flow/sinkhorn.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace fmp {

namespace {

using Vec16f = float __attribute__((vector_size(64)));
using Vec16i = int __attribute__((vector_size(64)));
using Vec8f = float __attribute__((vector_size(32)));
using Vec8d = double __attribute__((vector_size(64)));
constexpr int k_lanes = 16;  // kernel rows and columns are padded to whole Vec16f

constexpr double k_inf = std::numeric_limits<double>::infinity();

// Epsilon scaling: stages at eps_target / k_eps_factor^s for s = S..0, the first at or above
// k_eps_start times the largest cost (there the first kernel is nearly within tolerance already).
// Each stage starts from the last one's potentials and stops at k_stage_tolerance. Measured at
// n = 256 (normal vs 8 gaussians / normal): a factor of 4 between stages needs the fewest passes
// at eps 0.01..0.05; stages at 0.3 would save a few passes there but let the plan's support drift
// at eps = 1e-3, where the last stage then crawls (5x to 15x the passes, worst with n != m).
constexpr int k_squarings = 2;
constexpr double k_eps_factor = 1.0 / (1 << k_squarings);
constexpr double k_eps_start = 1.0 / 16.0;
constexpr double k_stage_tolerance = 0.05;
// Scalings are absorbed into the potentials and the kernel once any leaves [1 / k_absorb,
// k_absorb]; a Newton step moves a log scaling by at most k_max_log_step. Together they keep u, v,
// u^2 and every product with a kernel entry inside float's normal range.
constexpr float k_absorb = 1e4f;
constexpr double k_max_log_step = 10.0;
// Kernel entries below this are set to 0. Low enough to keep everything within ~65 eps of its
// row's largest entry (rows sum to 1/n, so the largest is at least 1/(n m)): the support of the
// final plan can run through entries some 40 eps down at the start of a stage, and an entry that
// is 0 never receives mass. High enough that products with scalings in range (K v, u K) stay
// clear of denormals, which are slow. Squares of entries are taken of at least k_square_floor.
constexpr float k_flush = 1e-35f;
constexpr float k_square_floor = 1e-18f;
// Absorbing scalings multiplies them into the kernel, which keeps zeros zero; once the potentials
// have moved this far (in units of eps) since the kernel was last built from them, it is rebuilt
// instead, so entries that have come back into float's range are there again.
constexpr double k_max_drift = 30.0;
// Before the power of power_kernel: entries whose power would fall below float's normal range.
const float k_power_floor = static_cast<float>(std::pow(1e-36, 1.0 / (1 << k_squarings)));
// Newton: conjugate gradients stop once the linear model's residual is below k_forcing times the
// current error (or half the tolerance); the line search accepts a step that cuts the error by a
// fraction k_armijo of the step length.
constexpr double k_forcing = 0.1;
constexpr double k_armijo = 0.1;
constexpr int k_line_search_tries = 8;
// The Jacobi preconditioner's diagonal is floored at this fraction of the column sum: on a
// nearly sparse plan it vanishes for columns matched to a single row.
constexpr double k_diag_floor = 1e-3;
// Plain Sinkhorn iterations taken when the line search finds no acceptable Newton step: this many
// at first, doubling with each failure in a row up to k_fallback_max.
constexpr int k_fallback_sweeps = 5;
constexpr int k_fallback_max = 320;
// Conjugate-gradient iterations per Newton step, at most.
constexpr int k_cg_max = 60;

Vec16f load(const float* p) {
    Vec16f r;
    std::memcpy(&r, p, sizeof r);
    return r;
}
void store(float* p, Vec16f v) {
    std::memcpy(p, &v, sizeof v);
}
Vec16f splat(float x) {
    return Vec16f{} + x;
}

Vec8d load8(const double* p) {
    Vec8d r;
    std::memcpy(&r, p, sizeof r);
    return r;
}
void store8(double* p, Vec8d v) {
    std::memcpy(p, &v, sizeof v);
}

double hsum8(Vec8d v) {
    double s = 0.0;
    for (int k = 0; k < 8; ++k) s += v[k];
    return s;
}

double hmax8(Vec8d v) {
    double r = v[0];
    for (int k = 1; k < 8; ++k) r = v[k] > r ? v[k] : r;
    return r;
}

// sum_j a_j b_j over n (a multiple of 8), in two chains of vectors.
double dot(const double* a, const double* b, int n) {
    Vec8d s0 = Vec8d{}, s1 = Vec8d{};
    int j = 0;
    for (; j + 16 <= n; j += 16) {
        s0 += load8(a + j) * load8(b + j);
        s1 += load8(a + j + 8) * load8(b + j + 8);
    }
    if (j < n) s0 += load8(a + j) * load8(b + j);
    return hsum8(s0 + s1);
}

float hsum(Vec16f v) {
    float s = 0.0f;
    for (int k = 0; k < k_lanes; ++k) s += v[k];
    return s;
}

float hmax(Vec16f v) {
    float r = v[0];
    for (int k = 1; k < k_lanes; ++k) r = v[k] > r ? v[k] : r;
    return r;
}

// e^x, 16 lanes. x = k ln2 + r with |r| <= ln2 / 2 (ln2 split in two so k ln2 is exact enough),
// e^r by its Taylor series to r^7 (truncation below 1e-8 relative), 2^k through the exponent
// bits. Arguments below -87 (results under float's normal range) give exactly 0: the kernel has
// no denormals, which are slow and carry nothing the iterations could use.
Vec16f exp16(Vec16f x) {
    constexpr float log2e = 1.44269504088896341f;
    constexpr float ln2_hi = 0.693359375f;  // few mantissa bits: k * ln2_hi is exact
    constexpr float ln2_lo = static_cast<float>(0.6931471805599453 - 0.693359375);
    constexpr float round_magic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
    const Vec16f lo = splat(-87.0f), hi = splat(88.0f);
    const Vec16i under = x < lo;
    x = x < lo ? lo : x;
    x = x > hi ? hi : x;
    const Vec16f k = (x * log2e + round_magic) - round_magic;
    const Vec16f r = (x - k * ln2_hi) - k * ln2_lo;
    Vec16f p = splat(1.0f / 5040.0f);
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const Vec16i bits = (__builtin_convertvector(k, Vec16i) + 127) << 23;
    Vec16f scale;
    std::memcpy(&scale, &bits, sizeof scale);
    const Vec16f y = p * scale;
    return under ? splat(0.0f) : y;
}

// ln x for positive normal x, 16 lanes: x = 2^e m with m in [sqrt(1/2), sqrt(2)), then
// ln m = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.172, by its odd series to s^9 (truncation
// near 1e-9).
Vec16f log16(Vec16f x) {
    Vec16i bits;
    std::memcpy(&bits, &x, sizeof bits);
    Vec16i e = (bits >> 23) - 127;
    bits = (bits & 0x007fffff) | 0x3f800000;
    Vec16f m;
    std::memcpy(&m, &bits, sizeof m);
    const Vec16i big = m > 1.41421356f;
    m = big ? m * 0.5f : m;
    e = big ? e + 1 : e;
    const Vec16f s = (m - 1.0f) / (m + 1.0f);
    const Vec16f s2 = s * s;
    Vec16f p = splat(1.0f / 9.0f);
    p = p * s2 + 1.0f / 7.0f;
    p = p * s2 + 1.0f / 5.0f;
    p = p * s2 + 1.0f / 3.0f;
    p = p * s2 + 1.0f;
    return __builtin_convertvector(e, Vec16f) * 0.693147180559945f + 2.0f * s * p;
}

// 16 doubles to floats.
Vec16f narrow(Vec8d lo, Vec8d hi) {
    const Vec8f a = __builtin_convertvector(lo, Vec8f), b = __builtin_convertvector(hi, Vec8f);
    return __builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
}

// Lane r of the result is the sum of the lanes of acc[r]. Four rounds, each adding the two halves
// of every pair of vectors into one, so 16 sums cost 15 shuffles-and-adds, not 16 reductions.
Vec16f sum_rows(Vec16f acc[k_lanes]) {
    Vec16f s8[8], s4[4], s2[2];
    for (int k = 0; k < 8; ++k) {
        const Vec16f x = acc[2 * k], y = acc[2 * k + 1];
        s8[k] =
            __builtin_shufflevector(x, y, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
            __builtin_shufflevector(x, y, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30,
                                    31);
    }
    for (int k = 0; k < 4; ++k) {
        const Vec16f x = s8[2 * k], y = s8[2 * k + 1];
        s4[k] = __builtin_shufflevector(x, y, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26,
                                        27) +
                __builtin_shufflevector(x, y, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29,
                                        30, 31);
    }
    for (int k = 0; k < 2; ++k) {
        const Vec16f x = s4[2 * k], y = s4[2 * k + 1];
        s2[k] = __builtin_shufflevector(x, y, 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28,
                                        29) +
                __builtin_shufflevector(x, y, 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27,
                                        30, 31);
    }
    return __builtin_shufflevector(s2[0], s2[1], 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26,
                                   28, 30) +
           __builtin_shufflevector(s2[0], s2[1], 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27,
                                   29, 31);
}

// Lane r: row r of a block of 16 kernel rows (stride mp) dotted with x.
Vec16f block_dots(const float* kb, int mp, const float* x) {
    Vec16f acc[k_lanes];
    for (int r = 0; r < k_lanes; ++r) acc[r] = splat(0.0f);
    for (int j = 0; j < mp; j += k_lanes) {
        const Vec16f xj = load(x + j);
        for (int r = 0; r < k_lanes; ++r) acc[r] += load(kb + std::size_t(r) * mp + j) * xj;
    }
    return sum_rows(acc);
}

// w += sum_r s[r] K_r over a block of 16 rows, and with Squares also w2 += sum_r s2[r] K_r^2.
template <bool Squares>
void block_axpy(const float* kb, int mp, Vec16f s, Vec16f s2, float* w, float* w2) {
    alignas(64) float sv[k_lanes], sv2[k_lanes];
    store(sv, s);
    store(sv2, s2);
    for (int j = 0; j < mp; j += k_lanes) {
        Vec16f acc = load(w + j), acc2 = splat(0.0f);
        for (int r = 0; r < k_lanes; ++r) {
            const Vec16f k = load(kb + std::size_t(r) * mp + j);
            acc += sv[r] * k;
            if constexpr (Squares) {
                const Vec16f kf = k > k_square_floor ? k : splat(k_square_floor);
                acc2 += sv2[r] * (kf * kf);
            }
        }
        store(w + j, acc);
        if constexpr (Squares) store(w2 + j, load(w2 + j) + acc2);
    }
}

void check_points(const Points& p, const char* what) {
    if (p.rows() == 0) throw InputError(std::string("sinkhorn: the ") + what + " set is empty");
    if (!p.allFinite())
        throw InputError(std::string("sinkhorn: the ") + what +
                         " set contains a non-finite coordinate");
}

}  // namespace

void SinkhornSettings::validate() const {
    if (!(std::isfinite(epsilon) && epsilon > 0.0f))
        throw InputError("sinkhorn: epsilon must be a finite number > 0, got " +
                         std::to_string(epsilon));
    if (max_iterations < 1 || max_iterations > 1000000)
        throw InputError("sinkhorn: max_iterations must be in 1..1000000, got " +
                         std::to_string(max_iterations));
    if (!(tolerance > 0.0f && tolerance < 1.0f))
        throw InputError("sinkhorn: tolerance must be in (0, 1), got " + std::to_string(tolerance));
}

// The kernel K_ij = exp((f_i + g_j - C_ij) / eps) for the current g after an exact log-domain row
// update, f_i = eps log a_i - eps log sum_j exp((g_j - C_ij) / eps), evaluated around the row's
// largest term: every row keeps an entry of at least a_i / m however small eps is. The exponent
// is formed in float; its rounding, ulp(C) / eps, is the same as that of the float costs
// themselves. Returns the plan's marginal error (see finish_kernel).
double SinkhornSolver::rebuild_kernel(double eps) {
    const int n = m_n, mp = m_stride;
    // Clamped so that the largest term's 0 * (1 / eps) stays 0 for a denormal eps.
    const float inv_eps = static_cast<float>(std::min(1.0 / eps, 1e38));
    float* gs = m_vx.data();
    for (int j = 0; j < mp; ++j) gs[j] = static_cast<float>(m_g[j]);  // padding: -inf, K = 0
    std::fill(m_colsum.begin(), m_colsum.end(), 0.0f);
    std::fill(m_colsq.begin(), m_colsq.end(), 0.0f);
    for (int i = 0; i < n; ++i) {
        const float* c = m_cost.data() + std::size_t(i) * mp;
        float* k = m_kernel.data() + std::size_t(i) * mp;
        Vec16f mx16 = splat(-std::numeric_limits<float>::infinity());
        for (int j = 0; j < mp; j += k_lanes) {
            const Vec16f h = load(gs + j) - load(c + j);
            mx16 = h > mx16 ? h : mx16;
        }
        const float mx = hmax(mx16);
        Vec16f sum = splat(0.0f);
        for (int j = 0; j < mp; j += k_lanes) {
            const Vec16f e = exp16(((load(gs + j) - load(c + j)) - mx) * inv_eps);
            store(k + j, e);
            sum += e;
        }
        const double s = hsum(sum);
        scale_row(i, static_cast<float>(1.0 / (double(n) * s)));
    }
    m_drift = 0.0;
    return finish_kernel(eps);
}

// The next stage's kernel from the current plan, without exponentials: eps shrinks by exactly
// 4, and K' = exp((f + g - C) / (eps / 4)) = K^4 once the scalings are in the potentials. Each row
// is normalised to sum 1 before the power and to its target after it. (An entry under 1e-9 of its
// row's sum would give under 1e-36: 0 either way.)
double SinkhornSolver::power_kernel(double eps) {
    const int n = m_n, m = m_m, mp = m_stride;
    const double eps_next = eps * k_eps_factor;
    fold_scalings(eps);
    const float* v = m_v.data();
    std::fill(m_colsum.begin(), m_colsum.end(), 0.0f);
    std::fill(m_colsq.begin(), m_colsq.end(), 0.0f);
    for (int i = 0; i < n; ++i) {
        float* k = m_kernel.data() + std::size_t(i) * mp;
        // x = n P_ij: the rows are exact, so x sums to 1 and its largest is at least 1/m.
        const float nu = float(n) * m_u[i];
        Vec16f sum = splat(0.0f);
        for (int j = 0; j < mp; j += k_lanes) {
            Vec16f x = load(k + j) * load(v + j) * nu;
            x = x < k_power_floor ? splat(0.0f) : x;
            for (int q = 0; q < k_squarings; ++q) x = x * x;
            store(k + j, x);
            sum += x;
        }
        const double s = hsum(sum);
        scale_row(i, static_cast<float>(1.0 / (double(n) * s)));
    }
    std::fill(m_v.begin(), m_v.begin() + m, 1.0f);
    // Entries lost to drift (see absorb) are still some 35 eps below their row's largest: to the
    // 4th power they are far below float's range at the new eps, so the new kernel misses nothing.
    m_drift = 0.0;
    return finish_kernel(eps_next);
}

// Row i of the kernel times `scale` (so it sums to a_i), entries under k_flush set to 0, and its
// contributions added to the column sums and sums of squares (zeroed by the caller before row 0).
// Rows are then exact: u_i = 1.
void SinkhornSolver::scale_row(int i, float scale) {
    const int mp = m_stride;
    float* k = m_kernel.data() + std::size_t(i) * mp;
    float* colsum = m_colsum.data();
    float* colsq = m_colsq.data();
    for (int j = 0; j < mp; j += k_lanes) {
        Vec16f e = load(k + j) * scale;
        e = e < k_flush ? splat(0.0f) : e;
        store(k + j, e);
        store(colsum + j, load(colsum + j) + e);
        const Vec16f ef = e > k_square_floor ? e : splat(k_square_floor);
        store(colsq + j, load(colsq + j) + ef * ef);
    }
    m_u[i] = 1.0f;
}

// After a kernel build (rows exact, u = 1, v = 1): the column sums and the Hessian's diagonal from
// the sums scale_row left. Returns the plan's marginal error (the columns'; rows are exact).
double SinkhornSolver::finish_kernel(double eps) {
    const int n = m_n, m = m_m, mp = m_stride;
    const float* colsum = m_colsum.data();
    std::fill(m_v.begin(), m_v.end(), 1.0f);
    bool fixed = false;
    const double inv_eps = 1.0 / eps;
    for (int j = 0; j < m; ++j) {
        if (colsum[j] > 0.0f) continue;
        // Every entry of column j underflowed: g_j is far too low for this eps. The exact column
        // update against f gives the column its mass; the rows only gain some, and the row update
        // below rebalances them. The row potentials are not kept: each row's largest entry gives
        // its f_i = eps log K_ij + C_ij - g_j.
        if (!fixed) {
            m_f.resize(std::size_t(n));
            for (int i = 0; i < n; ++i) {
                const float* k = m_kernel.data() + std::size_t(i) * mp;
                const int top = int(std::max_element(k, k + m) - k);
                m_f[i] =
                    eps * std::log(double(k[top])) + m_cost[std::size_t(i) * mp + top] - m_g[top];
            }
        }
        double mx = -k_inf;
        for (int i = 0; i < n; ++i)
            mx = std::max(mx, m_f[i] - double(m_cost[std::size_t(i) * mp + j]));
        double s = 0.0;
        for (int i = 0; i < n; ++i)
            s += std::exp((m_f[i] - double(m_cost[std::size_t(i) * mp + j]) - mx) * inv_eps);
        m_g[j] = -mx - eps * std::log(double(m) * s);
        for (int i = 0; i < n; ++i) {
            const float e = static_cast<float>(
                std::exp((m_f[i] + m_g[j] - double(m_cost[std::size_t(i) * mp + j])) * inv_eps));
            m_kernel[std::size_t(i) * mp + j] = e < k_flush ? 0.0f : e;
        }
        fixed = true;
    }
    if (fixed) return update_rows();
    double err = 0.0;
    for (int j = 0; j < m; ++j) {
        m_col[j] = colsum[j];
        m_diag[j] = std::max(double(colsum[j]) - double(n) * m_colsq[j], k_diag_floor * colsum[j]);
        err = std::max(err, std::fabs(double(colsum[j]) * m - 1.0));
    }
    return err;
}

// g += eps log v: the column scalings move into the potentials (the row potentials are implied
// by the kernel, see finish_kernel). Returns the largest |log u_i| + |log v_j|: how far, in units
// of eps, any kernel entry moves when the scalings are absorbed.
double SinkhornSolver::fold_scalings(double eps) {
    const float e = static_cast<float>(eps);
    float most_u = 0.0f, most_v = 0.0f;
    for (int i = 0; i < m_rows_padded; i += k_lanes) {
        const Vec16f u = load(m_u.data() + i);
        const Vec16f lu = log16(u > 0.0f ? u : splat(1.0f));  // padding rows have u = 0
        for (int q = 0; q < k_lanes && i + q < m_n; ++q)
            most_u = std::max(most_u, std::fabs(lu[q]));
    }
    for (int j = 0; j < m_stride; j += k_lanes) {
        const Vec16f lv = log16(load(m_v.data() + j));
        for (int q = 0; q < k_lanes && j + q < m_m; ++q) {
            m_g[j + q] += e * lv[q];
            most_v = std::max(most_v, std::fabs(lv[q]));
        }
    }
    return double(most_u) + most_v;
}

// Moves the scalings into the potentials and the kernel, K <- diag(u) K diag(v), within a stage:
// the plan, its column sums and the Hessian's diagonal stay as they are (returns -1). After too
// much drift, rebuilds the kernel instead and returns the rebuilt plan's error.
double SinkhornSolver::absorb(double eps) {
    m_drift += fold_scalings(eps);
    if (m_drift > k_max_drift) return rebuild_kernel(eps);
    const int n = m_n, mp = m_stride;
    for (int i = 0; i < n; ++i) {
        float* k = m_kernel.data() + std::size_t(i) * mp;
        const float u = m_u[i];
        for (int j = 0; j < mp; j += k_lanes) {
            Vec16f e = load(k + j) * load(m_v.data() + j) * u;
            e = e < k_flush ? splat(0.0f) : e;
            store(k + j, e);
        }
        m_u[i] = 1.0f;
    }
    std::fill(m_v.begin(), m_v.end(), 1.0f);
    return -1.0;
}

// The exact row update u_i = a_i / (K v)_i, with the new plan's column sums c = v o K^T u and the
// Hessian's diagonal c_j - sum_i P_ij^2 / a_i, in one pass over K (each block of 16 rows is read
// twice while it sits in L1). Returns the plan's marginal error (the columns'; rows are exact).
double SinkhornSolver::update_rows() {
    const int n = m_n, m = m_m, mp = m_stride, np = m_rows_padded;
    float* w = m_colsum.data();
    float* w2 = m_colsq.data();
    std::fill(w, w + mp, 0.0f);
    std::fill(w2, w2 + mp, 0.0f);
    const float a = 1.0f / float(n);
    Vec16f lane = splat(0.0f);
    for (int r = 0; r < k_lanes; ++r) lane[r] = float(r);
    for (int i0 = 0; i0 < np; i0 += k_lanes) {
        const float* kb = m_kernel.data() + std::size_t(i0) * mp;
        Vec16f t = block_dots(kb, mp, m_v.data());
        // Padding rows (all zero) get u = 0. Every real row has an entry of at least a / m and
        // v >= e^-k_max_log_step / k_absorb, so t > 0; the floor only guards against inf.
        t = t > 1e-30f ? t : splat(1e-30f);
        const Vec16f u = lane + float(i0) < float(n) ? a / t : splat(0.0f);
        store(m_u.data() + i0, u);
        block_axpy<true>(kb, mp, u, u * u * float(n), w, w2);
    }
    double err = 0.0;
    for (int j = 0; j < m; ++j) {
        const double v = m_v[j], c = v * w[j];
        m_col[j] = c;
        m_diag[j] = std::max(c - v * v * w2[j], k_diag_floor * c);
        err = std::max(err, std::fabs(c * m - 1.0));
    }
    return err;
}

// y = H x for the Hessian of the semi-dual in g (in units of 1/eps, rows exact):
// H = diag(c) - P^T diag(1/a) P, with P x = u o K (v o x). One pass over K.
void SinkhornSolver::hessian_product(const double* x, double* y) {
    const int n = m_n, m = m_m, mp = m_stride, np = m_rows_padded;
    float* vx = m_vx.data();
    float* w = m_colsum.data();
    // x is scaled to a largest entry of 1 for the float pass (and y back): CG's directions can be
    // tiny, and their products with small kernel entries would be denormal.
    double xmax = 0.0;
    for (int j = 0; j < m; ++j) xmax = std::max(xmax, std::fabs(x[j]));
    if (!(xmax > 0.0)) {
        std::fill(y, y + mp, 0.0);
        return;
    }
    const double scale = 1.0 / xmax;
    for (int j = 0; j < mp; ++j) {
        vx[j] = j < m ? static_cast<float>(m_v[j] * x[j] * scale) : 0.0f;
        w[j] = 0.0f;
    }
    for (int i0 = 0; i0 < np; i0 += k_lanes) {
        const float* kb = m_kernel.data() + std::size_t(i0) * mp;
        const Vec16f u = load(m_u.data() + i0);
        const Vec16f s = u * u * block_dots(kb, mp, vx) * float(n);
        block_axpy<false>(kb, mp, s, s, w, nullptr);
    }
    for (int j = 0; j < m; ++j) y[j] = m_col[j] * x[j] - double(m_v[j]) * w[j] * xmax;
}

// One Newton step on g: conjugate gradients (Jacobi-preconditioned) for H d = b - c until the
// linear model's largest relative residual is below `stop`, then a backtracking line search on
// the marginal error along v <- v o exp(alpha d). H is singular along constants, which only
// rescale u against v and leave the plan alone, and the right-hand side sums to zero, so CG
// never needs the null space removed. Returns the new error, or -1 when no step was accepted
// (v and the plan are then as before).
double SinkhornSolver::newton_step(double err, double stop, int budget, int& used) {
    const int m = m_m, mp = m_stride;
    const double b = 1.0 / m;
    // CG's vectors, padded with zeros to whole Vec8d.
    double* r = m_cg.data();
    double* d = r + mp;
    double* p = d + mp;
    double* z = p + mp;
    double* hp = z + mp;
    double* inv_diag = hp + mp;
    std::fill(m_cg.begin(), m_cg.end(), 0.0);
    for (int j = 0; j < m; ++j) {
        r[j] = b - m_col[j];
        inv_diag[j] = 1.0 / m_diag[j];
        z[j] = r[j] * inv_diag[j];
        p[j] = z[j];
    }
    double rz = dot(r, z, mp);
    // CG may use all but the one pass the line search needs, and no more than k_cg_max: when
    // the Hessian is that ill-conditioned the plan's support still has to move, which the
    // quadratic model cannot see and the Sinkhorn fallback does better.
    for (int k = 0; k < k_cg_max && used < budget - 1; ++k) {
        hessian_product(p, hp);
        ++used;
        const double php = dot(p, hp, mp);
        if (!(php > 0.0) || !std::isfinite(php)) {
            // Float rounding made the curvature vanish: keep what CG has, or on the first
            // iteration the preconditioned gradient, and let the line search judge it.
            if (k == 0) std::copy(z, z + m, d);
            break;
        }
        const double alpha = rz / php;
        Vec8d worst = Vec8d{}, rz8 = Vec8d{};
        for (int j = 0; j < mp; j += 8) {
            const Vec8d rj = load8(r + j) - alpha * load8(hp + j), zj = rj * load8(inv_diag + j);
            store8(d + j, load8(d + j) + alpha * load8(p + j));
            store8(r + j, rj);
            store8(z + j, zj);
            const Vec8d a = rj < 0.0 ? -rj : rj;
            worst = a > worst ? a : worst;
            rz8 += rj * zj;
        }
        if (hmax8(worst) * m <= stop) break;
        const double rz_new = hsum8(rz8);
        const double beta = rz_new / rz;
        rz = rz_new;
        for (int j = 0; j < mp; j += 8) store8(p + j, load8(z + j) + beta * load8(p + j));
    }
    double step_max = 0.0;
    for (int j = 0; j < m; ++j) step_max = std::max(step_max, std::fabs(d[j]));
    const double full = step_max > k_max_log_step ? k_max_log_step / step_max : 1.0;
    double alpha = full;
    // The state a rejected step returns to: v, and what the last row update derived from it
    // (r and z are free now; d is the direction).
    std::copy(m_v.begin(), m_v.end(), m_v_saved.begin());
    std::copy(m_u.begin(), m_u.end(), m_u_saved.begin());
    std::copy(m_col.begin(), m_col.end(), r);
    std::copy(m_diag.begin(), m_diag.end(), z);
    for (int tries = 0; tries < k_line_search_tries && used < budget; ++tries, alpha *= 0.5) {
        for (int j = 0; j < mp; j += k_lanes) {
            const Vec16f step = narrow(load8(d + j) * alpha, load8(d + j + 8) * alpha);
            store(m_v.data() + j, load(m_v_saved.data() + j) * exp16(step));  // padding: d = 0
        }
        const double trial = update_rows();
        ++used;
        // Sufficient decrease relative to the (possibly clamped) full step: a clamped step along
        // a nearly flat direction changes nothing and must not count as progress.
        if (trial <= err * (1.0 - k_armijo * (alpha / full))) return trial;
    }
    std::copy(m_v_saved.begin(), m_v_saved.end(), m_v.begin());
    std::copy(m_u_saved.begin(), m_u_saved.end(), m_u.begin());
    std::copy(r, r + m, m_col.begin());
    std::copy(z, z + m, m_diag.begin());
    return -1.0;
}

// A plain Sinkhorn iteration: the exact column update, then the exact row update.
double SinkhornSolver::sinkhorn_step() {
    const double b = 1.0 / m_m;
    for (int j = 0; j < m_m; ++j)
        m_v[j] = static_cast<float>(m_v[j] * (b / std::max(m_col[j], 1e-30 * b)));
    return update_rows();
}

bool SinkhornSolver::scalings_in_range() const {
    float lo = std::numeric_limits<float>::infinity(), hi = 0.0f;
    for (int i = 0; i < m_n; ++i) {
        lo = std::min(lo, m_u[i]);
        hi = std::max(hi, m_u[i]);
    }
    for (int j = 0; j < m_m; ++j) {
        lo = std::min(lo, m_v[j]);
        hi = std::max(hi, m_v[j]);
    }
    return lo >= 1.0f / k_absorb && hi <= k_absorb;
}

// Writes the plan P_ij = u_i K_ij v_j and its cost; returns its marginal error, summed in double
// across rows (each row's float sum is good to about 1e-6).
double SinkhornSolver::materialize() {
    const int n = m_n, m = m_m, mp = m_stride;
    m_plan.resize(std::size_t(n) * m);
    // Column sums: in float over each block of 16 rows, then in double.
    double* col = m_cg.data();  // free between Newton steps; m_col must survive
    float* block = m_colsum.data();
    std::fill(col, col + mp, 0.0);
    double err = 0.0, cost = 0.0;
    for (int i = 0; i < n; ++i) {
        const float* k = m_kernel.data() + std::size_t(i) * mp;
        const float* c = m_cost.data() + std::size_t(i) * mp;
        float* p = m_plan.data() + std::size_t(i) * m;
        const float u = m_u[i];
        Vec16f rs = splat(0.0f), cs = rs;
        for (int j = 0; j < mp; j += k_lanes) {
            const Vec16f e = u * load(k + j) * load(m_v.data() + j);
            rs += e;
            cs += e * load(c + j);
            store(m_vx.data() + j, e);
            store(block + j, i % k_lanes == 0 ? e : load(block + j) + e);
        }
        std::memcpy(p, m_vx.data(), sizeof(float) * std::size_t(m));
        if (i % k_lanes == k_lanes - 1 || i == n - 1)
            for (int j = 0; j < mp; j += k_lanes) {
                const Vec16f e = load(block + j);
                store8(col + j,
                       load8(col + j) +
                           __builtin_convertvector(
                               __builtin_shufflevector(e, e, 0, 1, 2, 3, 4, 5, 6, 7), Vec8d));
                store8(col + j + 8,
                       load8(col + j + 8) +
                           __builtin_convertvector(
                               __builtin_shufflevector(e, e, 8, 9, 10, 11, 12, 13, 14, 15), Vec8d));
            }
        double row = 0.0, rc = 0.0;
        for (int q = 0; q < k_lanes; ++q) {
            row += rs[q];
            rc += cs[q];
        }
        err = std::max(err, std::fabs(row * n - 1.0));
        cost += rc;
    }
    for (int j = 0; j < m; ++j) err = std::max(err, std::fabs(col[j] * m - 1.0));
    m_report.transport_cost = cost;
    return err;
}

// Sinkhorn-Newton (Brauer, Clason, Lorenz, Wirth 2017) on the semi-dual in g: each step solves
// the Newton system by conjugate gradients, whose passes over K cost what Sinkhorn iterations do.
// Plain Sinkhorn (even overrelaxed) crawls at small eps, where clusters of the 8-gaussians target
// trade mass through entries of size exp(-gap / eps): those few slow modes take it thousands of
// iterations, and CG a handful. Plain Sinkhorn iterations remain the fallback where a Newton step
// fails. Stabilization as in Schmitzer (2019): the kernel is built around the log potentials and
// iterated with float scalings, which are absorbed before they leave a safe range; epsilon
// scaling from a large eps, each stage warm-started from the last. The reported iterations count
// passes over the n x m kernel (row updates and Hessian products); kernel builds not included.
const SinkhornReport& SinkhornSolver::solve(const Points& a, const Points& b,
                                            const SinkhornSettings& settings) {
    settings.validate();
    check_points(a, "source");
    check_points(b, "target");
    const int n = int(a.rows()), m = int(b.rows());
    const int mp = (m + k_lanes - 1) / k_lanes * k_lanes;
    const int np = (n + k_lanes - 1) / k_lanes * k_lanes;
    // Squared distances in float: the problem solved is the one for these costs (the kernel's
    // exponents, formed in float too, are as exact as the costs are). The largest sets the
    // schedule and must not overflow.
    m_cost.resize(std::size_t(n) * mp);
    m_bxy.resize(2 * std::size_t(mp));
    float* bx = m_bxy.data();
    float* by = bx + mp;
    for (int j = 0; j < mp; ++j) {
        // Padding columns repeat column 0 (their costs must not raise the maximum; K is 0 there).
        bx[j] = b(j < m ? j : 0, 0);
        by[j] = b(j < m ? j : 0, 1);
    }
    Vec16f cmax16 = splat(0.0f);
    for (int i = 0; i < n; ++i) {
        float* c = m_cost.data() + std::size_t(i) * mp;
        const float ax = a(i, 0), ay = a(i, 1);
        for (int j = 0; j < mp; j += k_lanes) {
            const Vec16f dx = ax - load(bx + j), dy = ay - load(by + j);
            const Vec16f cj = dx * dx + dy * dy;
            store(c + j, cj);
            cmax16 = cj > cmax16 ? cj : cmax16;
        }
    }
    const float cmax = hmax(cmax16);
    if (!std::isfinite(cmax))
        throw InputError("sinkhorn: coordinates too large (squared distances overflow float)");

    m_n = n;
    m_m = m;
    m_rows_padded = np;
    m_stride = mp;
    m_cdf_ready = false;
    // Kernel builds write every real row in full; padding rows must be (and stay) zero.
    m_kernel.resize(std::size_t(np) * mp);
    std::fill(m_kernel.begin() + std::ptrdiff_t(n) * mp, m_kernel.end(), 0.0f);
    m_u.assign(std::size_t(np), 0.0f);
    m_v.assign(std::size_t(mp), 1.0f);
    m_v_saved.resize(std::size_t(mp));
    m_u_saved.resize(std::size_t(np));
    m_colsum.resize(std::size_t(mp));
    m_colsq.resize(std::size_t(mp));
    m_vx.resize(std::size_t(mp));
    m_g.assign(std::size_t(mp), -k_inf);
    std::fill(m_g.begin(), m_g.begin() + m, 0.0);
    m_col.resize(std::size_t(m));
    m_diag.resize(std::size_t(m));
    m_cg.resize(6 * std::size_t(mp));

    const double eps_target = settings.epsilon;
    const double tol = settings.tolerance;
    const int budget = settings.max_iterations;
    // The schedule eps_target * 4^s: exact in binary, so the last stage is exactly the target.
    double eps = eps_target;
    while (eps < k_eps_start * cmax) eps /= k_eps_factor;
    // Intermediate stages may use half the budget; then the schedule jumps to the target, so the
    // returned plan is always the one for the requested epsilon.
    const int stage_budget = budget / 2;
    int used = 0;
    m_report = SinkhornReport{};
    double err = rebuild_kernel(eps);
    for (;;) {
        const bool last = eps <= eps_target;
        const int limit = last ? budget : stage_budget;
        const double stage_tol = last ? tol : std::max(tol, k_stage_tolerance);
        int fallback = k_fallback_sweeps;
        for (;;) {
            if (err <= stage_tol || used >= limit) {
                if (!last) break;
                const double final_err = materialize();
                // The iterations' float sums can be a hair optimistic; the written plan decides.
                if (final_err <= tol || used >= limit) {
                    m_report.marginal_error = final_err;
                    m_report.converged = final_err <= tol;
                    m_report.iterations = used;
                    return m_report;
                }
                err = std::max(err, final_err);
            }
            // Plain Sinkhorn when there is no room for a Newton step (CG, then its line search)
            // or after a failed one, twice as many after each failure in a row.
            int sweeps = limit - used < 3 ? 1 : 0;
            if (sweeps == 0) {
                const double stop = std::max(k_forcing * err, 0.5 * stage_tol);
                const double next = newton_step(err, stop, limit, used);
                if (next >= 0.0) {
                    err = next;
                    fallback = k_fallback_sweeps;
                } else {
                    sweeps = fallback;
                    fallback = std::min(2 * fallback, k_fallback_max);
                }
            }
            for (int k = 0; k < sweeps && used < limit && (k == 0 || err > stage_tol); ++k) {
                err = sinkhorn_step();
                ++used;
                if (!scalings_in_range()) {
                    const double rebuilt = absorb(eps);
                    if (rebuilt >= 0.0) err = rebuilt;
                }
            }
            if (!scalings_in_range()) {
                const double rebuilt = absorb(eps);
                if (rebuilt >= 0.0) err = rebuilt;
            }
        }
        // Next stage: the potentials carry over to the smaller eps. The regular step needs no
        // exponentials; a jump to the target (budget spent) rebuilds from the potentials.
        if (used < stage_budget) {
            err = power_kernel(eps);
            eps *= k_eps_factor;
        } else {
            fold_scalings(eps);
            eps = eps_target;
            err = rebuild_kernel(eps);
        }
    }
}

void SinkhornSolver::sample_pairs(int count, Rng& rng, std::vector<int>& rows,
                                  std::vector<int>& cols) {
    if (count < 0) throw InputError("sinkhorn: cannot draw a negative number of pairs");
    if (m_plan.empty()) throw InputError("sinkhorn: no plan to sample from (solve first)");
    const std::size_t size = m_plan.size();
    if (!m_cdf_ready) {
        m_cdf.resize(size);
        double s = 0.0;
        for (std::size_t k = 0; k < size; ++k) m_cdf[k] = s += m_plan[k];
        m_cdf_ready = true;
    }
    rows.resize(std::size_t(count));
    cols.resize(std::size_t(count));
    const double total = m_cdf.back();
    for (int k = 0; k < count; ++k) {
        // Two 24-bit draws make a 48-bit uniform: plan entries far below 2^-24 keep their odds.
        const double u =
            (double(rng.uniform()) + double(rng.uniform()) * (1.0 / 16777216.0)) * total;
        // The first entry whose cumulative sum exceeds u: entries of zero mass are never chosen.
        std::size_t idx =
            std::size_t(std::upper_bound(m_cdf.begin(), m_cdf.end(), u) - m_cdf.begin());
        idx = std::min(idx, size - 1);
        rows[std::size_t(k)] = int(idx / std::size_t(m_m));
        cols[std::size_t(k)] = int(idx % std::size_t(m_m));
    }
}

}  // namespace fmp
