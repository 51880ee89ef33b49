// Entropic optimal transport between two point sets: Sinkhorn's plan and sampling pairs from it.
#pragma once
#include <vector>

#include "core/base/rng.h"
#include "core/base/types.h"

namespace fmp {

struct SinkhornSettings {
    // The entropic regularization, in units of the cost (squared distance, not normalized):
    // the plan minimizes <P, C> - epsilon H(P). Any epsilon > 0 (down to 1e-4 and below) is
    // stable: the iterations run in the log domain.
    float epsilon = 0.05f;
    int max_iterations = 2000;
    // Stop once every row and column sum is within this of its target, relative (1/n, 1/m).
    float tolerance = 1e-4f;
    void validate() const;  // throws InputError
};

struct SinkhornReport {
    int iterations = 0;  // passes over the n x m kernel, each about one Sinkhorn iteration's work
    double marginal_error = 0.0;  // max relative row/column sum error of the returned plan
    bool converged = false;       // marginal_error <= tolerance
    double transport_cost = 0.0;  // <P, C>
};

// Keeps its buffers between calls (no allocation per training step once warm).
class SinkhornSolver {
public:
    // The plan P between a (n rows) and b (m rows), uniform weights 1/n and 1/m, cost
    // C_ij = |a_i - b_j|^2. Throws InputError for empty or non-finite inputs.
    const SinkhornReport& solve(const Points& a, const Points& b, const SinkhornSettings& settings);
    // The last plan, row-major n x m; entries sum to 1.
    const std::vector<float>& plan() const { return m_plan; }
    int rows() const { return m_n; }
    int cols() const { return m_m; }
    // Draws `count` pairs (i, j) with probability P_ij, independently (with replacement), as
    // torchcfm's OTPlanSampler does.
    void sample_pairs(int count, Rng& rng, std::vector<int>& rows, std::vector<int>& cols);

private:
    double rebuild_kernel(double eps);
    double power_kernel(double eps);
    void scale_row(int i, float scale);
    double finish_kernel(double eps);
    double fold_scalings(double eps);
    double absorb(double eps);
    double update_rows();
    void hessian_product(const double* x, double* y);
    double newton_step(double err, double stop, int budget, int& used);
    double sinkhorn_step();
    bool scalings_in_range() const;
    double materialize();

    int m_n = 0, m_m = 0;
    int m_rows_padded = 0, m_stride = 0;  // n and m rounded up to whole vectors
    double m_drift = 0.0;  // how far the potentials moved since the kernel was built from them
    std::vector<float> m_plan;
    SinkhornReport m_report;
    std::vector<double> m_cdf;  // cumulative plan for sampling, built by the first draw
    bool m_cdf_ready = false;
    // Scratch for the iterations. The plan is diag(u) K diag(v) with the kernel
    // K_ij = exp((f_i + g_j - C_ij) / eps); the column potentials g are kept (in double), the row
    // potentials f only computed when needed. Kernel and scalings in float.
    std::vector<float> m_cost, m_bxy, m_kernel, m_u, m_v, m_u_saved, m_v_saved, m_colsum, m_colsq,
        m_vx;
    std::vector<double> m_g, m_f, m_col, m_diag, m_cg;
};

}  // namespace fmp
