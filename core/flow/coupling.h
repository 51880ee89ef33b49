// How each training batch pairs source samples x0 with target samples x1.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "core/base/types.h"

namespace fmp {

enum class CouplingKind {
    Independent,  // x0 and x1 drawn independently (I-CFM)
    MinibatchOT,  // x0 re-ordered by the exact optimal assignment for squared Euclidean cost
};

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

// Applies the coupling to a batch in place: for MinibatchOT, x0's rows are permuted so that row i
// of x0 is paired with row i of x1 optimally.
class Coupler {
public:
    explicit Coupler(CouplingKind kind = CouplingKind::Independent) : m_kind(kind) {}
    CouplingKind kind() const { return m_kind; }
    void couple(Points& x0, const Points& x1);

private:
    CouplingKind m_kind;
    AssignmentSolver m_solver;
    Points m_scratch;
};

// Names: "independent", "ot".
const std::vector<std::string>& coupling_names();
std::string coupling_name(CouplingKind kind);
std::optional<CouplingKind> coupling_kind_from_name(const std::string& name);
CouplingKind make_coupling(const std::string& name);  // throws InputError

}  // namespace fmp
