// The solver lab: samples of the learned flow from every solver at a range of evaluation budgets
// (NFE), and their sliced-W2 distance to the target, to show what each evaluation buys.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "core/data/dataset.h"
#include "core/engine/engine.h"
#include "core/flow/ode_solver.h"

namespace fmp {

struct SolverLabSettings {
    int particles = 1000;  // samples per run, 1..100000
    uint64_t seed = 1;     // the source draw, the same for every run
    // The fixed-step solvers run at these NFE: steps = NFE / evaluations per step when that is a
    // whole number >= 1 (RK4 at NFE 2 is skipped).
    std::vector<int> nfe = {1, 2, 4, 8, 16, 32, 64};
    // Dopri5 chooses its own steps: it runs once per tolerance (from one first step over the whole
    // span) and reports the NFE it used.
    std::vector<float> tolerances = {1e-1f, 3e-2f, 1e-2f, 3e-3f, 1e-3f, 1e-4f};
    // Sliced W2 with this many random directions (fixed seed: every run is measured along the
    // same directions, so differences between runs are not projection noise).
    int projections = 256;
    uint64_t projection_seed = 1;
    void validate() const;  // throws InputError
};

// One run: a solver at one budget, its samples at t = 1 and their distance to the target.
struct SolverLabRun {
    SolverKind solver = SolverKind::Euler;
    int steps = 1;           // fixed steps, or dopri5's accepted steps
    float tolerance = 0.0f;  // dopri5 only
    int64_t nfe = 0;         // field evaluations actually used
    Points samples;
    double sliced_w2 = 0.0;  // to the target reference points
};

// Runs every solver (solver_names() order, dopri5 last) through the Engine interface:
// set_particles(initial_particles(path, source, particles, Rng(seed))), integrate_particles from
// t = 0 to 1, read_particles, and the sliced W2 to `target_reference`. The engine's particles are
// replaced. `progress(done, total)` is called after each run; returning false stops early (the
// runs so far are returned). Throws InputError for bad settings or an empty reference.
std::vector<SolverLabRun> run_solver_lab(
    Engine& engine, const Dataset& source, const Points& target_reference,
    const SolverLabSettings& settings,
    const std::function<bool(int done, int total)>& progress = {});

// The number of runs run_solver_lab makes for these settings.
int solver_lab_run_count(const SolverLabSettings& settings);

}  // namespace fmp
