// How each training batch pairs source samples x0 with target samples x1.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "core/base/rng.h"
#include "core/base/types.h"
#include "core/flow/sinkhorn.h"

namespace fmp {

enum class CouplingKind {
    Independent,  // x0 and x1 drawn independently (I-CFM)
    MinibatchOT,  // x0 re-ordered by the exact optimal assignment for squared Euclidean cost
    Sinkhorn,     // pairs drawn from the entropic OT plan of the batch (epsilon = ot_reg)
    // Schroedinger-bridge CFM (Tong et al.): pairs from the entropic plan with epsilon =
    // 2 sb_sigma^2, and Brownian-bridge noise sb_sigma sqrt(t(1-t)) on the paths
    SchrodingerBridge,
    // x0 and x1 given together: row i of the source point set with row i of the target (the
    // pairs reflow generates); never offered as a choice, set by reflow
    Paired,
};

// The couplings' own settings (TrainConfig::coupling_options).
struct CouplingOptions {
    // Couplings that solve a plan (ot, sinkhorn, sb) solve it on sub-batches of this many rows
    // (the plan's cost grows as n^2..n^3); 0: the whole batch at once.
    int ot_batch = 0;
    float ot_reg = 0.05f;   // sinkhorn's epsilon, in squared-distance units (not normalized)
    float sb_sigma = 0.5f;  // sb's bridge noise; its plan uses epsilon = 2 sb_sigma^2
    void validate() const;  // throws InputError: ot_batch 0 or 2..65536, ot_reg in [1e-4, 100],
                            // sb_sigma in [1e-3, 10]
};

// True for the couplings that pair rows by solving a plan on each (sub-)batch.
bool coupling_solves_plan(CouplingKind kind);

// SB-CFM's bridge noise on top of the path's conditional sample, row by row:
//   x_t += s(t) eps,  u_t += s'(t) eps,  s(t) = sigma sqrt(t (1 - t)),
//   s'(t) = sigma (1 - 2t) / (2 sqrt(t (1 - t))),
// with t clamped to [1e-4, 1 - 1e-4] in s' (it grows like 1/sqrt(t) at the ends; the clamp caps
// |s'| at 50 sigma). eps holds standard normals, one row per batch row.
void add_bridge_noise(float sigma, const VectorF& t, const Points& eps, Points& xt, Points& ut);
float bridge_scale(float sigma, float t);       // s(t)
float bridge_scale_rate(float sigma, float t);  // s'(t), clamped as above

// Exact minimum-cost perfect matching of two equal-size sets under squared Euclidean cost.
// Returns perm with a[i] matched to b[perm[i]], minimising sum_i |a_i - b_perm[i]|^2.
// (Jonker-Volgenant shortest augmenting paths, O(n^3) worst case; exact, not greedy.)
std::vector<int> optimal_assignment(const Points& a, const Points& b);

// A reusable solver that keeps its buffers between calls (no allocation per training step).
class AssignmentSolver {
public:
    // Same contract as optimal_assignment().
    const std::vector<int>& solve(const Points& a, const Points& b);

private:
    std::vector<float> m_cost, m_bx, m_by, m_vf, m_col_max;
    std::vector<double> m_u, m_v, m_dist, m_scan_d, m_scan_v, m_col_min;
    std::vector<int> m_row_of_col, m_col_of_row, m_pred, m_cols, m_free, m_perm, m_col_arg;
};

// Applies the coupling to a batch in place, one sub-batch of options.ot_batch rows at a time:
// MinibatchOT permutes x0's rows so that row i of x0 is paired with row i of x1 optimally;
// Sinkhorn and SchrodingerBridge replace both by pairs drawn from the entropic plan (rows may
// repeat, as in torchcfm); Independent and Paired leave the batch as drawn.
class Coupler {
public:
    explicit Coupler(CouplingKind kind = CouplingKind::Independent, CouplingOptions options = {});
    CouplingKind kind() const { return m_kind; }
    const CouplingOptions& options() const { return m_options; }
    void couple(Points& x0, Points& x1, Rng& rng);
    // The same for the couplings that only permute x0 (Independent, MinibatchOT, Paired);
    // throws std::logic_error for the others.
    void couple(Points& x0, const Points& x1);
    // The entropic epsilon the kind uses (0 for the exact and trivial couplings).
    static float epsilon_of(CouplingKind kind, const CouplingOptions& options);

private:
    void couple_rows(Points& x0, Points& x1, Eigen::Index begin, Eigen::Index n, Rng* rng);

    CouplingKind m_kind;
    CouplingOptions m_options;
    AssignmentSolver m_solver;
    SinkhornSolver m_sinkhorn;
    Points m_a, m_b, m_scratch;
    std::vector<int> m_rows, m_cols;
};

// For drawing: the partner in b of each row of a under the coupling (a and b of equal size):
// the optimal assignment for MinibatchOT, one draw from row i of the entropic plan (P_ij / sum_j
// P_ij) for Sinkhorn and SchrodingerBridge, i itself for Independent and Paired. The whole set is
// one (sub-)batch, whatever options.ot_batch says.
std::vector<int> partner_rows(CouplingKind kind, const CouplingOptions& options, const Points& a,
                              const Points& b, Rng& rng);

// The coupling's plan between a and b (equal size n) as an n x n row-major matrix summing to 1:
// a permutation matrix / n for MinibatchOT, the Sinkhorn plan for the entropic couplings, the
// uniform 1 / n^2 for Independent (Paired: the identity / n).
std::vector<float> coupling_plan(CouplingKind kind, const CouplingOptions& options, const Points& a,
                                 const Points& b);

// How many of the segments a_i -> b_partner[i] cross another one (pairs of segments that
// intersect properly, counted once each): straight conditional paths that cross are what a
// coupling can untangle. per_segment (if given) receives how many others each segment crosses.
int64_t count_crossings(const Points& a, const Points& b, const std::vector<int>& partner,
                        std::vector<int>* per_segment = nullptr);

// The couplings a user picks: "independent", "ot", "sinkhorn", "sb" ("paired", which reflow sets,
// is also a name: coupling_name and make_coupling know it).
const std::vector<std::string>& coupling_names();
std::string coupling_name(CouplingKind kind);
std::optional<CouplingKind> coupling_kind_from_name(const std::string& name);
CouplingKind make_coupling(const std::string& name);  // throws InputError

}  // namespace fmp
