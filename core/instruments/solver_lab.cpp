// The solver lab: every solver at every evaluation budget, through the Engine interface, scored
// by sliced W2 to the target.
#include "core/instruments/solver_lab.h"

#include <cmath>
#include <string>

#include "core/base/rng.h"
#include "core/metrics/metrics.h"

namespace fmp {
namespace {

// The (solver, steps, tolerance) of every run, in table order.
struct Plan {
    SolverKind solver;
    int steps;
    float tolerance;
};

std::vector<Plan> plan_runs(const SolverLabSettings& s) {
    std::vector<Plan> plan;
    for (const std::string& name : solver_names()) {
        const SolverKind kind = make_solver(name);
        if (solver_is_adaptive(kind)) {
            for (float tol : s.tolerances) plan.push_back({kind, 1, tol});
            continue;
        }
        const int per_step = solver_evaluations(kind);
        for (int nfe : s.nfe)
            if (nfe % per_step == 0 && nfe / per_step >= 1)
                plan.push_back({kind, nfe / per_step, 0});
    }
    return plan;
}

}  // namespace

void SolverLabSettings::validate() const {
    if (particles < 1 || particles > 100000)
        throw InputError("solver lab: particles must be in 1..100000 (got " +
                         std::to_string(particles) + ")");
    for (int n : nfe)
        if (n < 1 || n > 4096)
            throw InputError("solver lab: an NFE budget must be in 1..4096 (got " +
                             std::to_string(n) + ")");
    for (float tol : tolerances) validate_tolerance(tol);
    if (projections < 1 || projections > 65536)
        throw InputError("solver lab: projections must be in 1..65536 (got " +
                         std::to_string(projections) + ")");
}

int solver_lab_run_count(const SolverLabSettings& settings) {
    return static_cast<int>(plan_runs(settings).size());
}

std::vector<SolverLabRun> run_solver_lab(Engine& engine, const Dataset& source,
                                         const Points& target_reference,
                                         const SolverLabSettings& settings,
                                         const std::function<bool(int, int)>& progress) {
    settings.validate();
    if (target_reference.rows() < 1)
        throw InputError("solver lab: the target reference has no points");
    const std::vector<Plan> plan = plan_runs(settings);
    Rng rng(settings.seed, 0x51ab);
    // One draw for every run, so runs differ only by their solver and budget.
    const Points x0 = initial_particles(engine.config().path, source, settings.particles, rng);
    std::vector<SolverLabRun> runs;
    runs.reserve(plan.size());
    for (const Plan& p : plan) {
        SolverLabRun run;
        run.solver = p.solver;
        run.tolerance = p.tolerance;
        engine.set_particles(x0);
        IntegrationSettings is{p.solver, p.steps,
                               p.tolerance > 0 ? p.tolerance : k_default_tolerance};
        const IntegrationStats stats = engine.integrate_particles(0.0f, 1.0f, is);
        run.steps = stats.accepted;
        run.nfe = stats.evaluations;
        engine.read_particles(run.samples);
        // A diverged sample set (NaN) has no distance; it shows as infinitely far.
        run.sliced_w2 = run.samples.allFinite()
                            ? sliced_wasserstein2(run.samples, target_reference,
                                                  settings.projections, settings.projection_seed)
                            : INFINITY;
        runs.push_back(std::move(run));
        if (progress && !progress(static_cast<int>(runs.size()), static_cast<int>(plan.size())))
            break;
    }
    return runs;
}

}  // namespace fmp
