// `fmplay bench`: training steps/s, particle-steps/s, likelihood grid time and GFLOP/s for each engine
// (see BENCHMARKS.md).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <sstream>

#include "app/cli/commands.h"
#include "app/run/engine_choice.h"
#include "core/base/parallel.h"
#include "core/engine/gl/gl_context.h"
#include "core/engine/gl/gl_engine.h"
#include "core/flow/sinkhorn.h"
#include "core/instruments/cnf_training.h"
#include "core/instruments/error_map.h"
#include "core/instruments/posterior_lens.h"
#include "core/instruments/reflow.h"

namespace fmp {
namespace {

struct BenchOptions {
    std::string engines = "auto";  // auto: cpu, plus gl when a hardware GPU is found
    std::string widths = "64,128,256";
    std::string batches = "256,1024,4096";
    std::string particles = "10000,100000,1000000";
    int depth = 3;
    double seconds = 1.0;  // per row
    int threads = 0;
    bool json = false;
    std::string skip;  // train,infer,ot,likelihood,instruments,reflow,sinkhorn
    double cnf_seconds = 0;  // > 0: flow matching for this long vs a maximum-likelihood CNF
};

std::vector<int> parse_ints(const std::string& s, const char* what) {
    std::vector<int> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ',')) {
        try {
            std::size_t used = 0;
            int v = std::stoi(item, &used);
            if (used != item.size() || v <= 0) throw std::invalid_argument(item);
            out.push_back(v);
        } catch (const std::exception&) {
            throw InputError(std::string(what) + ": '" + item + "' is not a positive integer");
        }
    }
    if (out.empty()) throw InputError(std::string(what) + " is empty");
    return out;
}

// Linear-layer FLOPs of one forward pass per sample (2 x multiply-adds), the baseline's model.
double forward_flops(const MlpConfig& c) {
    double macs = double(c.input_dim()) * c.width + double(c.depth - 1) * c.width * c.width +
                  double(c.width) * MlpConfig::output_dim;
    return 2.0 * macs;
}

// Runs fn(n) with growing n until one call takes about `seconds`; returns calls per second.
template <class F>
double rate_of(F&& fn, double seconds) {
    using clock = std::chrono::steady_clock;
    fn(2);  // warm-up: buffers, shader compilation
    long n = 1;
    for (;;) {
        auto t0 = clock::now();
        fn(n);
        double dt = std::chrono::duration<double>(clock::now() - t0).count();
        if (dt > seconds * 0.25 || n > (1L << 24)) {
            // One more timed run sized to `seconds`; report the faster of the two.
            long m = std::max(1L, long(n * seconds / std::max(dt, 1e-9)));
            auto t1 = clock::now();
            fn(m);
            double dt2 = std::chrono::duration<double>(clock::now() - t1).count();
            return std::max(n / dt, m / dt2);
        }
        n *= 4;
    }
}

struct Row {
    std::string engine, workload;
    int width = 0, batch = 0, n = 0;
    double rate = 0, gflops = 0;
    double iterations = 0;  // sinkhorn: iterations per solve
};

void print_row(const Row& r, bool json) {
    if (json && r.workload == "sinkhorn") {
        std::printf("{\"engine\": \"%s\", \"workload\": \"sinkhorn\", \"width\": %d, \"batch\": %d, "
                    "\"rate\": %.6g, \"gflops\": %.4g, \"ms\": %.4g, \"iterations\": %.4g}\n",
                    r.engine.c_str(), r.width, r.batch, r.rate, r.gflops, 1000.0 / r.rate, r.iterations);
    } else if (json && r.workload == "reflow") {
        std::printf("{\"engine\": \"%s\", \"workload\": \"reflow\", \"width\": %d, \"n\": %d, "
                    "\"rate\": %.6g, \"gflops\": %.4g, \"ms\": %.4g}\n",
                    r.engine.c_str(), r.width, r.n, r.rate, r.gflops, 1000.0 / r.rate);
    } else if (json) {
        std::printf("{\"engine\": \"%s\", \"workload\": \"%s\", \"width\": %d, \"%s\": %d, "
                    "\"rate\": %.6g, \"gflops\": %.4g}\n",
                    r.engine.c_str(), r.workload.c_str(), r.width, r.n ? "n" : "batch",
                    r.n ? r.n : r.batch, r.rate, r.gflops);
    } else if (r.workload == "lens") {
        std::printf("%-4s %-14s N=%-8d %14.3f ms/probe (the lens at one point, 2048 data points)\n",
                    r.engine.c_str(), r.workload.c_str(), r.n, 1000.0 / r.rate);
    } else if (r.workload == "error-map") {
        std::printf("%-4s %-14s W=%-4d N=%-8d %14.1f ms/map (128x128 against 2048 data points)\n",
                    r.engine.c_str(), r.workload.c_str(), r.width, r.n, 1000.0 / r.rate);
    } else if (r.workload == "sinkhorn") {
        std::printf("%-4s %-14s B=%-8d %14.3f ms/solve (eps 0.05, normal vs 8 gaussians, %.0f iterations)\n",
                    r.engine.c_str(), r.workload.c_str(), r.batch, 1000.0 / r.rate, r.iterations);
    } else if (r.workload == "reflow") {
        std::printf("%-4s %-14s W=%-4d N=%-8d %14.1f ms/pair set (rk4, 16 steps) %8.1f GFLOP/s\n",
                    r.engine.c_str(), r.workload.c_str(), r.width, r.n, 1000.0 / r.rate, r.gflops);
    } else if (r.workload == "likelihood") {
        std::printf("%-4s %-14s W=%-4d N=%-8d %14.1f ms/grid (128x128, 32 RK4 steps) %8.1f GFLOP/s\n",
                    r.engine.c_str(), r.workload.c_str(), r.width, r.n, 1000.0 / r.rate, r.gflops);
    } else if (r.n) {
        std::printf("%-4s %-14s W=%-4d N=%-8d %14.4g particle-steps/s %8.1f GFLOP/s\n", r.engine.c_str(),
                    r.workload.c_str(), r.width, r.n, r.rate, r.gflops);
    } else {
        std::printf("%-4s %-14s W=%-4d B=%-8d %14.1f steps/s          %8.1f GFLOP/s\n", r.engine.c_str(),
                    r.workload.c_str(), r.width, r.batch, r.rate, r.gflops);
    }
    std::fflush(stdout);
}

// The grid a GL engine chose for the row just measured: the SM count and the occupancy, which
// decide how much of a GPU a training step can use.
void print_grid(const Engine& e, int width, int batch, bool json) {
    std::optional<GlGridReport> report = gl_grid_report(e, batch);
    if (!report) return;
    const TrainGrid& g = report->grid;
    if (json) {
        std::printf("{\"engine\": \"gl\", \"workload\": \"grid\", \"width\": %d, \"batch\": %d, "
                    "\"pipeline\": \"%s\", \"sm_count\": %d, \"groups\": %d, \"groups_per_sm\": %d, "
                    "\"occupancy\": %.4g}\n",
                    width, batch, report->wide_layers ? "layers" : "fused", report->gpu.sm_count, g.groups,
                    g.groups_per_sm, g.occupancy);
        return;
    }
    if (report->wide_layers)
        std::printf("#    grid: per-layer GEMMs over the batch in blocks of %d rows x 64 columns, groups of %d, "
                    "%d x %d outputs per invocation; %s\n",
                    report->train_tile, report->train_wg, report->train_rm, report->train_rn, g.reason.c_str());
    else if (g.groups_per_sm > 0)
        std::printf("#    grid: %d groups of %d on %d SMs, %d per SM, occupancy %.0f%% (%s)\n", g.groups,
                    report->train_wg, report->gpu.sm_count, g.groups_per_sm, 100.0 * g.occupancy,
                    g.reason.c_str());
    else
        std::printf("#    grid: %d groups of %d (%s)\n", g.groups, report->train_wg, g.reason.c_str());
    if (report->wide_layers)
        std::printf("#    tiles: fields %d rows%s, weight panels of %d rows\n", report->field_tile,
                    report->field_in_place ? " in place" : "", report->stage_rows);
    else
        std::printf("#    tiles: training %d rows of %d x %d outputs per invocation, fields %d rows%s, weight "
                    "panels of %d rows\n",
                    report->train_tile, report->train_rm, report->train_rn, report->field_tile,
                    report->field_in_place ? " in place" : "", report->stage_rows);
}

int run_bench(const BenchOptions& o) {
    std::vector<int> widths = parse_ints(o.widths, "--widths");
    std::vector<int> batches = parse_ints(o.batches, "--batches");
    std::vector<int> particles = parse_ints(o.particles, "--particles");
    if (o.depth < 1 || o.depth > 6) throw InputError("--depth must be in 1..6");
    if (!(o.seconds > 0 && o.seconds <= 60)) throw InputError("--seconds must be in (0, 60]");
    if (o.threads < 0 || o.threads > 256) throw InputError("--threads must be in 0..256");
    if (o.threads > 0) set_thread_count(o.threads);
    std::vector<std::string> engines;
    if (o.engines == "auto") {
        engines.push_back("cpu");
        std::string err;
        auto ctx = HeadlessGlContext::create(&err);
        if (ctx && !gl_renderer_is_software(ctx->renderer())) engines.push_back("gl");
        else if (!o.json)
            std::printf("# gl engine skipped: %s\n", ctx ? ("software renderer " + ctx->renderer()).c_str()
                                                       : err.c_str());
    } else {
        std::stringstream ss(o.engines);
        std::string e;
        while (std::getline(ss, e, ','))
            if (e == "cpu" || e == "gl") engines.push_back(e);
            else throw InputError("unknown engine '" + e + "' in --engines: choose cpu, gl or auto");
    }
    bool skip_train = o.skip.find("train") != std::string::npos;
    bool skip_infer = o.skip.find("infer") != std::string::npos;
    bool skip_ot = o.skip.find("ot") != std::string::npos;
    bool skip_likelihood = o.skip.find("likelihood") != std::string::npos;
    bool skip_instruments = o.skip.find("instruments") != std::string::npos;
    bool skip_reflow = o.skip.find("reflow") != std::string::npos;
    bool skip_sinkhorn = o.skip.find("sinkhorn") != std::string::npos;

    Dataset source(DatasetKind::Normal), target(DatasetKind::EightGaussians);
    for (const std::string& name : engines) {
        EngineHandle h = make_headless_engine(name);
        Engine& e = *h.engine;
        if (!o.json) std::printf("# engine %s: %s\n", name.c_str(), e.description().c_str());
        if (!o.json && e.kind() == EngineKind::Gl) {
            e.reset(TrainConfig{}, source, target);
            if (auto report = gl_grid_report(e, 256))
                std::printf("# gpu: %s\n", describe_gpu_shape(report->gpu).c_str());
        }
        auto config_for = [&](int width, int batch, CouplingKind coupling) {
            TrainConfig c;
            c.mlp.width = width;
            c.mlp.depth = o.depth;
            c.mlp.activation = Activation::SiLU;
            c.batch = batch;
            c.coupling = coupling;
            return c;
        };
        auto train_rate = [&](const TrainConfig& c) {
            e.reset(c, source, target);
            return rate_of([&](long n) {
                e.train(static_cast<int>(n));
                e.take_losses();
                (void)e.params();  // forces the GL engine to finish its queued steps
            }, o.seconds);
        };
        if (!skip_train)
            for (int w : widths)
                for (int b : batches) {
                    TrainConfig c = config_for(w, b, CouplingKind::Independent);
                    double r = train_rate(c);
                    print_row({name, "train", w, b, 0, r, r * b * 3.0 * forward_flops(c.mlp) / 1e9}, o.json);
                    print_grid(e, w, b, o.json);
                }
        if (!skip_ot) {
            // The couplings' cost per step, each beside independent pairing in the same run.
            for (CouplingKind k : {CouplingKind::Independent, CouplingKind::MinibatchOT, CouplingKind::Sinkhorn,
                                   CouplingKind::SchrodingerBridge}) {
                TrainConfig c = config_for(128, 256, k);
                double r = train_rate(c);
                const std::string row = k == CouplingKind::Independent ? "train-indep" : "train-" + coupling_name(k);
                print_row({name, row, 128, 256, 0, r, r * 256 * 3.0 * forward_flops(c.mlp) / 1e9}, o.json);
            }
        }
        if (!skip_sinkhorn && e.kind() == EngineKind::Gl) {
            // The plan below on the GPU (sinkhorn_pairs.comp: one workgroup, its pairs drawn, the
            // plan read back), so a solve's latency. Training pairs the batches of several steps
            // in one dispatch, a workgroup per plan, so its throughput is many times this.
            e.reset(config_for(128, 256, CouplingKind::Sinkhorn), source, target);
            Rng rng(5);
            const Points a = source.sample(256, rng), b = target.sample(256, rng);
            SinkhornSettings settings;
            settings.epsilon = 0.05f;
            long solves = 0, sweeps = 0;
            double r = rate_of([&](long count) {
                for (long i = 0; i < count; ++i, ++solves) sweeps += gl_sinkhorn_check(e, a, b, settings, 1, 0)->sweeps;
            }, o.seconds);
            print_row({name, "sinkhorn", 0, 256, 0, r, 0, double(sweeps) / double(std::max(1L, solves))}, o.json);
        }
        if (!skip_infer)
            for (int n : particles) {
                TrainConfig c = config_for(128, 256, CouplingKind::Independent);
                e.reset(c, source, target);
                Rng rng(1);
                e.set_particles(source.sample(n, rng));
                float t = 0.0f;
                double r = rate_of([&](long steps) {
                    for (long s = 0; s < steps; ++s) {
                        e.integrate_particles(t, t + 1.0f / 64, SolverKind::Euler, 1);
                        t = t + 1.0f / 64 >= 1.0f ? 0.0f : t + 1.0f / 64;
                    }
                    Points sink;
                    if (e.kind() == EngineKind::Gl) e.read_particles(sink);  // wait for the GPU
                }, o.seconds);
                print_row({name, "euler-step", 128, 0, n, r * n, r * n * forward_flops(c.mlp) / 1e9}, o.json);
            }
        if (!skip_likelihood) {
            // The likelihood heatmap's cost: a 128 x 128 grid integrated from t = 1 to 0 with its
            // divergence, 32 RK4 steps (128 evaluations of v and div v; one evaluation is three
            // forward passes' GEMMs: the values and two tangents). rate = grids per second.
            TrainConfig c = config_for(128, 256, CouplingKind::Independent);
            e.reset(c, source, target);
            constexpr int k_side = 128, k_steps = 32;
            Points grid(k_side * k_side, 2);
            for (int i = 0; i < k_side * k_side; ++i)
                grid.row(i) << -4.0f + 8.0f * (i % k_side + 0.5f) / k_side,
                    -4.0f + 8.0f * (i / k_side + 0.5f) / k_side;
            double r = rate_of([&](long grids) {
                for (long g = 0; g < grids; ++g) {
                    Points x = grid;
                    VectorF l;
                    e.integrate_with_divergence(x, l, 1.0f, 0.0f, SolverKind::RK4, k_steps);
                }
            }, o.seconds);
            const double evals = double(grid.rows()) * k_steps * solver_evaluations(SolverKind::RK4);
            print_row({name, "likelihood", 128, 0, int(grid.rows()), r, r * evals * 3.0 * forward_flops(c.mlp) / 1e9},
                      o.json);
        }
        if (!skip_instruments) {
            // The window's instruments at their sizes: the lens is computed on the UI thread every
            // frame (its budget: 2 ms), the error map on a worker (its budget: 100 ms).
            TrainConfig c = config_for(128, 256, CouplingKind::Independent);
            e.reset(c, source, target);
            const Points refs = marginal_reference_points(target, 2048);
            if (name == "cpu") {
                Rng rng(3);
                double r = rate_of([&](long probes) {
                    for (long i = 0; i < probes; ++i) {
                        const Eigen::Vector2f x(3.0f * rng.normal(), 3.0f * rng.normal());
                        const PosteriorLens lens = posterior_lens(c.path, refs, nullptr, x, rng.uniform());
                        (void)lens;
                    }
                }, o.seconds);
                print_row({name, "lens", 0, 0, int(refs.rows()), r, 0}, o.json);
            }
            ErrorMapRequest req;
            req.t = 0.5f;
            double r = rate_of([&](long maps) {
                for (long i = 0; i < maps; ++i) (void)compute_error_map(e, c.path, refs, req);
            }, o.seconds);
            print_row({name, "error-map", 128, 0, req.grid.cells(), r, 0}, o.json);
        }
        if (!skip_reflow) {
            // One reflow generation's pairs (`fmplay train --reflow-from` defaults): 10,000 source
            // points through 16 RK4 steps (64 evaluations). rate = pair sets per second.
            TrainConfig c = config_for(128, 256, CouplingKind::Independent);
            e.reset(c, source, target);
            constexpr int k_pairs = 10000;
            double r = rate_of([&](long sets) {
                for (long i = 0; i < sets; ++i)
                    (void)generate_reflow_pairs(e, c.path, source, k_pairs,
                                                {SolverKind::RK4, 16}, 1);
            }, o.seconds);
            const double evals = double(k_pairs) * 16 * solver_evaluations(SolverKind::RK4);
            print_row({name, "reflow", 128, 0, k_pairs, r, r * evals * forward_flops(c.mlp) / 1e9},
                      o.json);
        }
    }
    if (!skip_sinkhorn) {
        // The entropic coupling's plan (`--coupling sinkhorn` at its default ot_reg) on the CPU,
        // whatever the engine: one 256 x 256 solve, normal vs 8 gaussians, eps 0.05, on batches
        // drawn beforehand. rate = solves per second.
        constexpr int k_batch = 256, k_sets = 32;
        Rng rng(5);
        std::vector<Points> xs, ys;
        for (int i = 0; i < k_sets; ++i) {
            xs.push_back(source.sample(k_batch, rng));
            ys.push_back(target.sample(k_batch, rng));
        }
        SinkhornSolver solver;
        SinkhornSettings settings;
        settings.epsilon = 0.05f;
        long solves = 0, iterations = 0;
        double r = rate_of([&](long count) {
            for (long i = 0; i < count; ++i, ++solves)
                iterations += solver.solve(xs[solves % k_sets], ys[solves % k_sets], settings).iterations;
        }, o.seconds);
        print_row({"cpu", "sinkhorn", 0, k_batch, 0, r, 0, double(iterations) / double(solves)}, o.json);
    }
    if (o.cnf_seconds > 0) {
        // Simulation-free training against simulation: the same 3 x 128 network on 8 gaussians.
        if (!(o.cnf_seconds <= 600)) throw InputError("--cnf-seconds must be in (0, 600]");
        MlpConfig mlp;
        mlp.depth = o.depth;
        const CnfComparison c = compare_cnf_with_fm(mlp, source, target, o.cnf_seconds, 10 * o.cnf_seconds);
        if (o.json) {
            std::printf("{\"engine\": \"cpu\", \"workload\": \"cnf-vs-fm\", \"width\": 128, \"batch\": 256, "
                        "\"rate\": 0, \"gflops\": 0, \"fm_seconds\": %.3f, \"fm_steps\": %lld, "
                        "\"fm_steps_per_second\": %.4g, \"fm_nll\": %.4f, \"cnf_steps_per_second\": %.4g, "
                        "\"cnf_steps\": %lld, \"cnf_seconds\": %.3f, \"cnf_nll\": %.4f, \"cnf_reached\": %s}\n",
                        c.fm_seconds, static_cast<long long>(c.fm_steps), c.fm_steps_per_second, c.fm_nll,
                        c.cnf_steps_per_second, static_cast<long long>(c.cnf_steps), c.cnf_seconds, c.cnf_nll,
                        c.cnf_reached ? "true" : "false");
        } else {
            std::printf("cpu  cnf-vs-fm      W=128  FM %lld steps in %.1f s (%.0f steps/s) -> held-out NLL %.3f "
                        "(target entropy %.3f)\n",
                        static_cast<long long>(c.fm_steps), c.fm_seconds, c.fm_steps_per_second, c.fm_nll,
                        c.target_entropy);
            std::printf("cpu  cnf-vs-fm      W=128  CNF by maximum likelihood (%d Euler steps, exact "
                        "divergence): %.1f steps/s, %.0fx the cost of an FM step; %s %.1f s of training (%.1fx "
                        "FM's time), %lld steps, NLL %.3f\n",
                        CnfSettings{}.ode_steps, c.cnf_steps_per_second,
                        c.fm_steps_per_second / std::max(c.cnf_steps_per_second, 1e-9),
                        c.cnf_reached ? "reached FM's NLL after" : "did NOT reach FM's NLL in", c.cnf_seconds,
                        c.cnf_seconds / c.fm_seconds, static_cast<long long>(c.cnf_steps), c.cnf_nll);
        }
    }
    return 0;
}

}  // namespace

Command add_bench_command(CLI::App& app) {
    auto o = std::make_shared<BenchOptions>();
    CLI::App* sub = app.add_subcommand(
        "bench",
        "Measure training steps/s (widths x batches, 3 hidden layers, SiLU, 8 gaussians from a normal), "
        "particle-steps/s (one Euler step = one forward, W=128) and the implied GFLOP/s (linear layers, "
        "2 x MACs; training = 3 x forward) and the time of a 128x128 likelihood grid (32 RK4 steps with "
        "the exact divergence; 3 x forward per evaluation) for each engine; the posterior lens (one probe, 2048 data points), a 128x128 error map and one reflow "
        "generation's pairs (10,000 points, 16 RK4 steps), and one Sinkhorn plan (256 x 256, eps 0.05, on the CPU; with the GL engine also on the GPU).");
    sub->add_option("--engines", o->engines, "auto (cpu, plus gl on a hardware GPU), or a list: cpu,gl")
        ->capture_default_str();
    sub->add_option("--widths", o->widths, "comma list of widths")->capture_default_str();
    sub->add_option("--batches", o->batches, "comma list of batch sizes")->capture_default_str();
    sub->add_option("--particles", o->particles, "comma list of particle counts")->capture_default_str();
    sub->add_option("--depth", o->depth, "hidden layers")->capture_default_str();
    sub->add_option("--seconds", o->seconds, "time per row")->capture_default_str();
    sub->add_option("--threads", o->threads, "CPU threads (0: all cores)")->capture_default_str();
    sub->add_option("--cnf-seconds", o->cnf_seconds,
                    "also race flow matching (this many seconds) against the same network trained as a CNF by "
                    "maximum likelihood (up to 10x as long) on 8 gaussians, by held-out NLL (0: skip)")
        ->capture_default_str();
    sub->add_option("--skip", o->skip,
                    "comma list of rows to skip: train, ot, infer, likelihood, instruments, reflow, "
                    "sinkhorn");
    sub->add_flag("--json", o->json, "one JSON object per row");
    return {sub, [o] { return run_bench(*o); }};
}

}  // namespace fmp
