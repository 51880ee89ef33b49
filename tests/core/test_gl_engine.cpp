// The GL compute engine against the CPU reference: forward, gradients, Adam, training, solvers,
// fields. Runs on whatever EGL finds (llvmpipe in CI), so the networks and batches are small.
#include <doctest/doctest.h>
#include <glad/gl.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <cstdio>
#include <string>
#include <vector>

#include "core/base/counter_noise.h"
#include "core/base/rng.h"
#include "core/engine/batch_sampler.h"
#include "core/engine/engine.h"
#include "core/engine/gl/gl_context.h"
#include "core/engine/gl/gl_engine.h"
#include "core/flow/marginal_velocity.h"
#include "core/flow/ode_solver.h"
#include "core/instruments/error_map.h"
#include "core/nn/mlp.h"
#include "core/nn/optimizer.h"
#include "tests/batch_test_support.h"
#include "tests/mlp_test_support.h"
#include "tests/class_test_support.h"
#include "tests/gl_test_support.h"

using namespace fmp;
using namespace fmp::test;
using fmp::test::check_no_gl_messages;
using fmp::test::make_gl_current;

namespace {

using fmp::test::rel_err;  // the pointer form, beside the overloads below

float rel_err(const std::vector<float>& a, const std::vector<float>& b, float floor = 1e-6f) {
    REQUIRE(a.size() == b.size());
    return rel_err(a.data(), b.data(), a.size(), floor);
}
float rel_err(const Points& a, const Points& b, float floor = 1e-6f) {
    REQUIRE(a.rows() == b.rows());
    return rel_err(a.data(), b.data(), std::size_t(a.size()), floor);
}

// Both engines carry x from t = 0 to 1 in 8 steps of `solver`; the relative difference.
float solve_error(Engine& gl, Engine& cpu, const Points& x, SolverKind solver) {
    gl.set_particles(x);
    cpu.set_particles(x);
    gl.integrate_particles(0.0f, 1.0f, solver, 8);
    cpu.integrate_particles(0.0f, 1.0f, solver, 8);
    Points a, b;
    gl.read_particles(a);
    cpu.read_particles(b);
    return rel_err(a, b, 1e-2f);
}

TrainConfig train_config(const MlpConfig& mlp, int batch = 64) {
    TrainConfig c;
    c.mlp = mlp;
    c.batch = batch;
    c.seed = 5;
    return c;
}

Points random_points(int n, Rng& rng, float scale = 2.0f) {
    Points x(n, 2);
    for (int i = 0; i < n; ++i) x.row(i) << scale * rng.normal(), scale * rng.normal();
    return x;
}

// The CPU reference of Engine::gradients for a batch.
float cpu_gradients(const Mlp& mlp, const ProbabilityPath& path, const Batch& batch,
                    std::vector<float>& grads, Points* dL_dx) {
    Points xt, ut, v, dL_dv;
    path.sample_xt_and_target(batch.x0, batch.x1, batch.t, xt, ut);
    MlpContext ctx;
    mlp.forward(xt, batch.t, v, &ctx);
    float loss = cfm_loss(v, ut, &dL_dv);
    mlp.backward(ctx, dL_dv, grads, dL_dx);
    return loss;
}

const Dataset k_source(DatasetKind::Normal);
const Dataset k_target(DatasetKind::Moons);

}  // namespace

TEST_CASE("GL forward, loss, parameter and input gradients match the CPU MLP") {
    make_gl_current("GL engine tests");
    struct Case {
        const char* name;
        MlpConfig mlp;
        int batch;
    };
    const Case cases[] = {
        {"silu raw w32 d2", mlp_config(32, 2, Activation::SiLU), 70},
        {"gelu fourier w32 d3", mlp_config(32, 3, Activation::GELU, TimeEncoding::Fourier, 3), 70},
        {"tanh raw w24 d1", mlp_config(24, 1, Activation::Tanh), 33},
        {"selu fourier w40 d2", mlp_config(40, 2, Activation::SELU, TimeEncoding::Fourier, 2), 64},
        {"relu raw w32 d2", mlp_config(32, 2, Activation::ReLU), 50},
        // Too wide for 32 rows in llvmpipe's 32 KiB of shared memory: tiles of 16 rows.
        {"silu raw w128 d1 (16-row tiles)", mlp_config(128, 1, Activation::SiLU), 40},
        // Too wide for shared memory on llvmpipe even at 16 rows: the activations spill to the
        // (coherent) scratch buffer.
        {"silu raw w240 d2 (spilled)", mlp_config(240, 2, Activation::SiLU), 40},
        // From width 256 the per-layer GEMM pipeline (test_gl_wide.cpp has more).
        {"silu raw w256 d2 (per-layer GEMMs)", mlp_config(256, 2, Activation::SiLU), 40},
    };
    Rng rng(11);
    for (const Case& c : cases) {
        CAPTURE(c.name);
        TrainConfig config = train_config(c.mlp, c.batch);
        auto engine = make_gl_engine();
        engine->reset(config, k_source, k_target);
        Mlp cpu(c.mlp, config.seed);
        CHECK(rel_err(engine->params(), cpu.params()) == 0.0f);

        // Forward on arbitrary points.
        Points x = random_points(101, rng);
        for (float t : {0.0f, 0.37f, 1.0f}) {
            Points v_gl, v_cpu;
            engine->eval_velocity(x, t, v_gl);
            VectorF tt = VectorF::Constant(x.rows(), t);
            cpu.forward(x, tt, v_cpu);
            CHECK(rel_err(v_gl, v_cpu) < 2e-5f);
        }

        // Loss, dL/dtheta and dL/dx of an explicit batch.
        Batch batch = random_batch(c.batch, rng);
        std::vector<float> g_gl, g_cpu;
        Points dx_gl, dx_cpu;
        float loss_gl = engine->gradients(batch, g_gl, &dx_gl);
        float loss_cpu = cpu_gradients(cpu, config.path, batch, g_cpu, &dx_cpu);
        CHECK(std::abs(loss_gl - loss_cpu) / loss_cpu < 2e-5f);
        CHECK(rel_err(g_gl, g_cpu) < 1e-4f);
        CHECK(rel_err(dx_gl, dx_cpu) < 1e-4f);
        CHECK(engine->step_count() == 0);
        check_no_gl_messages();
    }
}

TEST_CASE("GL training targets follow every probability path") {
    make_gl_current("GL engine tests");
    Rng rng(12);
    MlpConfig mlp = mlp_config(32, 2, Activation::SiLU);
    // One engine: reset() keeps the compiled shaders when only the path changes.
    auto engine = make_gl_engine();
    for (PathKind kind : {PathKind::CondOT, PathKind::LipmanOT, PathKind::VP, PathKind::Cosine,
                          PathKind::LinearVP, PathKind::Polynomial, PathKind::VE}) {
        CAPTURE(path_name(kind));
        TrainConfig config = train_config(mlp, 48);
        config.path = ProbabilityPath(kind);
        engine->reset(config, k_source, k_target);
        Mlp cpu(mlp, config.seed);
        Batch batch = random_batch(48, rng, 0.02f, 0.98f);
        std::vector<float> g_gl, g_cpu;
        float loss_gl = engine->gradients(batch, g_gl, nullptr);
        float loss_cpu = cpu_gradients(cpu, config.path, batch, g_cpu, nullptr);
        CHECK(std::abs(loss_gl - loss_cpu) / loss_cpu < 1e-4f);
        CHECK(rel_err(g_gl, g_cpu) < 2e-4f);
    }
    check_no_gl_messages();
}

TEST_CASE("GL Adam/AdamW updates and a short training run match the CPU step for step") {
    make_gl_current("GL engine tests");
    auto engine = make_gl_engine();
    for (OptimizerKind opt : {OptimizerKind::Adam, OptimizerKind::AdamW}) {
        CAPTURE(optimizer_name(opt));
        MlpConfig mlp = mlp_config(32, 2, Activation::SiLU, TimeEncoding::Fourier, 2);
        TrainConfig config = train_config(mlp, 64);
        config.optimizer.kind = opt;
        config.optimizer.lr = 3e-3f;
        config.optimizer.weight_decay = opt == OptimizerKind::AdamW ? 0.05f : 0.0f;
        engine->reset(config, k_source, k_target);
        Mlp cpu(mlp, config.seed);
        AdamOptimizer adam(config.optimizer, cpu.params().size());
        Rng rng(13);
        std::vector<float> grads;
        std::vector<float> losses_gl, losses_cpu;
        for (int step = 0; step < 15; ++step) {
            Batch batch = random_batch(64, rng);
            losses_gl.push_back(engine->train_on_batch(batch));
            losses_cpu.push_back(cpu_gradients(cpu, config.path, batch, grads, nullptr));
            adam.step(cpu.params(), grads);
            if (step == 0) CHECK(rel_err(engine->params(), cpu.params()) < 1e-5f);
        }
        CHECK(engine->step_count() == 15);
        CHECK(rel_err(losses_gl, losses_cpu) < 1e-3f);
        CHECK(rel_err(engine->params(), cpu.params()) < 1e-3f);
        glFinish();
        auto records = engine->take_losses();
        REQUIRE(records.size() == 15);
        for (int i = 0; i < 15; ++i) {
            CHECK(records[i].step == i + 1);
            CHECK(records[i].loss == doctest::Approx(losses_gl[i]).epsilon(1e-6));
        }
        check_no_gl_messages();
    }
}

TEST_CASE("GL training state: restored into a fresh engine, the run continues; it moves to the CPU engine") {
    make_gl_current("GL engine tests");
    auto a = make_gl_engine(), b = make_gl_engine();
    for (CouplingKind coupling : {CouplingKind::Independent, CouplingKind::MinibatchOT}) {
        CAPTURE(coupling_name(coupling));
        TrainConfig config = train_config(mlp_config(32, 2, Activation::SiLU), 64);
        config.coupling = coupling;
        a->reset(config, k_source, k_target);
        a->train(20);
        const TrainingState saved = a->training_state();
        CHECK(saved.step == 20);
        a->train(20);
        const std::vector<float> after_a = a->params();
        b->reset(config, k_source, k_target);
        b->train(3);
        b->set_training_state(saved);
        CHECK(b->step_count() == 20);
        const TrainingState back = b->training_state();
        CHECK(back.params == saved.params);
        CHECK(back.adam_m == saved.adam_m);
        CHECK(back.adam_v == saved.adam_v);
        b->train(20);
        // The GPU draws its batches from (seed, step) and the plan couplings' from the restored
        // stream: the same 20 steps.
        CHECK(rel_err(b->params(), after_a) < 1e-6f);
        CHECK(b->take_losses().size() == 20);
        // The state is the engines' common currency: the CPU engine continues from it too.
        auto cpu = make_cpu_engine();
        cpu->reset(config, k_source, k_target);
        cpu->set_training_state(saved);
        CHECK(cpu->params() == saved.params);
        CHECK(cpu->step_count() == 20);
        TrainingState bad = saved;
        bad.adam_v.resize(3);
        CHECK_THROWS_AS(b->set_training_state(bad), InputError);
    }
    check_no_gl_messages();
}

TEST_CASE("GL particle integration matches the CPU solvers") {
    make_gl_current("GL engine tests");
    MlpConfig mlp = mlp_config(32, 3, Activation::GELU, TimeEncoding::Fourier, 3);
    TrainConfig config = train_config(mlp);
    auto engine = make_gl_engine();
    engine->reset(config, k_source, k_target);
    Mlp cpu(mlp, config.seed);
    Rng rng(14);
    Points x0 = random_points(1500, rng, 1.0f);
    VelocityFn v = [&cpu](const Points& x, float t, Points& out) {
        VectorF tt = VectorF::Constant(x.rows(), t);
        cpu.forward(x, tt, out);
    };
    for (SolverKind solver :
         {SolverKind::Euler, SolverKind::Midpoint, SolverKind::Heun, SolverKind::RK4}) {
        CAPTURE(solver_name(solver));
        for (auto [ta, tb] : {std::pair{0.0f, 1.0f}, std::pair{1.0f, 0.25f}}) {
            engine->set_particles(x0);
            CHECK(engine->particle_count() == 1500);
            engine->integrate_particles(ta, tb, solver, 6);
            Points gl_x, cpu_x = x0;
            engine->read_particles(gl_x);
            fmp::integrate_particles(v, solver, cpu_x, ta, tb, 6);
            CHECK(rel_err(gl_x, cpu_x) < 1e-4f);
        }
    }
    CHECK(gl_particle_buffer(*engine) != 0);
    check_no_gl_messages();
}

TEST_CASE("GL field kernels in place (64-, 32- and 16-row tiles, one and two column chunks) match the CPU") {
    // Widths that make the engine pick each layout of mlp_field.comp on llvmpipe's 32 KiB of
    // shared memory (64 rows at W32, 32 at W128, 16 with two 128-column chunks at W256), with
    // every layer's weights staged in panels.
    make_gl_current("GL engine tests");
    for (int width : {32, 128, 256}) {
        CAPTURE(width);
        MlpConfig mlp = mlp_config(width, 2, Activation::SiLU);
        TrainConfig config = train_config(mlp);
        auto engine = make_gl_engine();
        engine->reset(config, k_source, k_target);
        std::optional<GlGridReport> report = gl_grid_report(*engine, 64);
        REQUIRE(report.has_value());
        CHECK(report->field_in_place);
        CHECK(report->stage_rows > 0);
        MESSAGE("W" << width << ": field tile " << report->field_tile << ", training tile "
                    << report->train_tile << ", panels of " << report->stage_rows << " rows");
        Mlp cpu(mlp, config.seed);
        Rng rng{static_cast<uint64_t>(width)};
        Points x0 = random_points(333, rng, 1.0f);  // not a multiple of any tile
        VelocityFn v = [&cpu](const Points& x, float t, Points& out) {
            VectorF tt = VectorF::Constant(x.rows(), t);
            cpu.forward(x, tt, out);
        };
        for (SolverKind solver : {SolverKind::Euler, SolverKind::RK4}) {
            engine->set_particles(x0);
            engine->integrate_particles(0.0f, 1.0f, solver, 3);
            Points gl_x, cpu_x = x0;
            engine->read_particles(gl_x);
            fmp::integrate_particles(v, solver, cpu_x, 0.0f, 1.0f, 3);
            CHECK(rel_err(gl_x, cpu_x) < 1e-4f);
        }
        Points gv, cv;
        engine->eval_velocity(x0, 0.3f, gv);
        cv.resize(x0.rows(), 2);
        cpu.forward(x0, VectorF::Constant(x0.rows(), 0.3f), cv);
        CHECK(rel_err(gv, cv) < 1e-4f);
    }
    check_no_gl_messages();
}

TEST_CASE("GL dopri5 (host controller, GPU stages) matches the CPU engine") {
    make_gl_current("GL engine tests");
    MlpConfig mlp = mlp_config(32, 3, Activation::SiLU, TimeEncoding::Fourier, 3);
    TrainConfig config = train_config(mlp);
    auto engine = make_gl_engine();
    engine->reset(config, k_source, k_target);
    auto cpu = make_cpu_engine();
    cpu->reset(config, k_source, k_target);
    cpu->set_params(engine->params());
    Rng rng(16);
    Points x0 = random_points(1000, rng, 1.0f);
    for (float tol : {1e-3f, 1e-5f}) {
        for (auto [ta, tb] : {std::pair{0.0f, 1.0f}, std::pair{1.0f, 0.25f}}) {
            CAPTURE(tol);
            CAPTURE(ta);
            engine->set_particles(x0);
            cpu->set_particles(x0);
            const IntegrationSettings s{SolverKind::Dopri5, 4, tol};
            IntegrationStats gl_stats = engine->integrate_particles(ta, tb, s);
            IntegrationStats cpu_stats = cpu->integrate_particles(ta, tb, s);
            Points gl_x, cpu_x;
            engine->read_particles(gl_x);
            cpu->read_particles(cpu_x);
            CAPTURE(gl_stats.evaluations);
            CAPTURE(cpu_stats.evaluations);
            // The same controller on nearly the same error sums: the same steps, or one more or
            // less where an error lands within rounding of 1.
            CHECK(gl_stats.evaluations > 1);
            CHECK(std::abs(gl_stats.evaluations - cpu_stats.evaluations) <= 12);
            // Both solutions are within a few tolerances of the true flow, so of each other.
            CHECK(rel_err(gl_x, cpu_x, 1.0f) < 10.0f * tol);
        }
    }
    // Tolerance and step checks are the CPU's.
    CHECK_THROWS_AS(engine->integrate_particles(0, 1, {SolverKind::Dopri5, 4, 0.0f}), InputError);
    CHECK_THROWS_AS(engine->integrate_particles(0, 1, {SolverKind::Dopri5, 0, 1e-4f}), InputError);
    check_no_gl_messages();
}

TEST_CASE("GL exact marginal field matches marginal_velocity") {
    make_gl_current("GL engine tests");
    Rng rng(15);
    Points targets = random_points(700, rng, 1.5f);
    Dataset target = Dataset::from_points(targets, "test");
    Points x = random_points(300, rng, 2.0f);
    auto engine = make_gl_engine();
    for (PathKind kind : {PathKind::CondOT, PathKind::VP, PathKind::VE}) {
        CAPTURE(path_name(kind));
        TrainConfig config = train_config(mlp_config(32, 2, Activation::SiLU));
        config.path = ProbabilityPath(kind);
        engine->reset(config, k_source, target);
        for (float t : {0.0f, 0.5f, 0.95f, 1.0f}) {
            CAPTURE(t);
            Points u_gl, u_cpu;
            engine->eval_marginal(x, t, u_gl);
            marginal_velocity(config.path, marginal_reference_points(target), t, x, u_cpu);
            CHECK(rel_err(u_gl, u_cpu, 1e-3f) < 1e-3f);
        }
    }
    // Any references with their density (the error map's field), and the whole error map, against
    // the CPU engine: here a path the engine was not reset with, and references of its own.
    auto cpu = make_cpu_engine();
    TrainConfig config = train_config(mlp_config(32, 2, Activation::SiLU));
    engine->reset(config, k_source, target);
    cpu->reset(config, k_source, target);
    cpu->set_params(engine->params());
    const ProbabilityPath vp(PathKind::VP);
    const Points refs = random_points(333, rng, 1.0f);
    for (float t : {0.1f, 0.6f, 0.99f}) {
        CAPTURE(t);
        Points u_gl, u_cpu;
        VectorF p_gl, p_cpu;
        engine->eval_marginal_field(vp, refs, t, x, u_gl, p_gl);
        cpu->eval_marginal_field(vp, refs, t, x, u_cpu, p_cpu);
        CHECK(rel_err(u_gl, u_cpu, 1e-3f) < 1e-3f);
        REQUIRE(p_gl.size() == x.rows());
        CHECK((p_gl - p_cpu).cwiseAbs().maxCoeff() < 2e-4f * (1.0f + p_cpu.cwiseAbs().maxCoeff()));
        CHECK(p_cpu.maxCoeff() - p_cpu.minCoeff() > 1.0f);  // the densities really differ
        ErrorMapRequest req;
        req.t = t;
        req.grid.nx = req.grid.ny = 24;
        const ErrorMap m_gl = compute_error_map(*engine, vp, refs, req);
        const ErrorMap m_cpu = compute_error_map(*cpu, vp, refs, req);
        CHECK(m_gl.weighted_mean == doctest::Approx(m_cpu.weighted_mean).epsilon(1e-3));
        CHECK(m_gl.max_error == doctest::Approx(m_cpu.max_error).epsilon(1e-3));
    }
    Points u;
    VectorF p;
    CHECK_THROWS_AS(engine->eval_marginal_field(vp, Points(0, 2), 0.5f, x, u, p), InputError);
    check_no_gl_messages();
}

TEST_CASE("GL batches sampled on the GPU draw from the datasets and uniform times") {
    make_gl_current("GL engine tests");
    TrainConfig config = train_config(mlp_config(32, 2, Activation::SiLU), 300);
    auto engine = make_gl_engine();
    std::vector<float> zeros(config.mlp.parameter_count(), 0.0f);
    // Single-point datasets and v = 0: every row's loss is |x1 - x0|^2 whatever t is.
    Points a(1, 2), b(1, 2);
    a << 1.0f, 2.0f;
    b << -3.0f, 0.5f;
    engine->reset(config, Dataset::from_points(a, "a"), Dataset::from_points(b, "b"));
    engine->set_params(zeros);
    engine->train(1);
    glFinish();
    auto losses = engine->take_losses();
    REQUIRE(losses.size() == 1);
    CHECK(losses[0].loss == doctest::Approx(18.25f).epsilon(1e-5));

    // A normal source into the origin: the target velocity is -x0, so the loss estimates
    // E|x0|^2 = 2 (standard error 2/sqrt(B)); each time bin likewise.
    Points origin = Points::Zero(1, 2);
    config.batch = 4096;
    engine->reset(config, k_source, Dataset::from_points(origin, "origin"));
    engine->set_params(zeros);
    engine->train(1);
    glFinish();
    losses = engine->take_losses();
    REQUIRE(losses.size() == 1);
    CHECK(losses[0].loss == doctest::Approx(2.0f).epsilon(0.1));
    for (float bin : engine->loss_by_time()) CHECK(bin == doctest::Approx(2.0f).epsilon(0.3));
    check_no_gl_messages();
}

TEST_CASE("GL training samples batches on the GPU and learns like the CPU engine") {
    make_gl_current("GL engine tests");
    TrainConfig config = train_config(mlp_config(32, 2, Activation::SiLU), 128);
    config.optimizer.lr = 1e-2f;
    auto gl = make_gl_engine();
    auto cpu = make_cpu_engine();
    gl->reset(config, k_source, k_target);
    cpu->reset(config, k_source, k_target);
    CHECK(gl->description().rfind("GPU: ", 0) == 0);
    constexpr int steps = 150;
    gl->train(steps);
    cpu->train(steps);
    CHECK(gl->step_count() == steps);
    glFinish();
    auto gl_losses = gl->take_losses();
    auto cpu_losses = cpu->take_losses();
    REQUIRE(gl_losses.size() == steps);
    REQUIRE(cpu_losses.size() == steps);
    auto mean = [](const std::vector<LossRecord>& r, int from, int to) {
        double s = 0.0;
        for (int i = from; i < to; ++i) s += r[i].loss;
        return s / (to - from);
    };
    for (int i = 0; i < steps; ++i) CHECK(gl_losses[i].step == i + 1);
    // Independent random batches, so the curves agree statistically: the same start (same
    // weights) and the same level after training.
    double gl_start = mean(gl_losses, 0, 5), cpu_start = mean(cpu_losses, 0, 5);
    double gl_end = mean(gl_losses, steps - 40, steps),
           cpu_end = mean(cpu_losses, steps - 40, steps);
    CHECK(gl_start == doctest::Approx(cpu_start).epsilon(0.25));
    CHECK(gl_end < 0.8 * gl_start);
    CHECK(gl_end == doctest::Approx(cpu_end).epsilon(0.25));
    LossByTime bins = gl->loss_by_time();
    for (float b : bins) CHECK(std::isfinite(b));
    // The loss near t = 1 (predicting the data) is larger than near t = 0 for moons from a normal.
    CHECK(std::isfinite(bins[0] + bins[9]));

    // The trained fields agree on a grid (same weights copied over).
    cpu->set_params(gl->params());
    Rng rng(16);
    Points x = random_points(200, rng);
    Points v_gl, v_cpu;
    gl->eval_velocity(x, 0.5f, v_gl);
    cpu->eval_velocity(x, 0.5f, v_cpu);
    CHECK(rel_err(v_gl, v_cpu) < 2e-5f);
    check_no_gl_messages();
}

TEST_CASE("GL minibatch-OT training, batch and learning-rate changes, parameter round trip") {
    make_gl_current("GL engine tests");
    TrainConfig config = train_config(mlp_config(32, 2, Activation::SiLU), 64);
    config.coupling = CouplingKind::MinibatchOT;
    auto engine = make_gl_engine();
    engine->reset(config, k_source, k_target);
    engine->train(4);
    engine->set_batch_size(100);
    engine->set_learning_rate(5e-4f);
    CHECK(engine->config().batch == 100);
    CHECK(engine->config().optimizer.lr == 5e-4f);
    engine->train(3);
    CHECK(engine->step_count() == 7);
    glFinish();
    auto losses = engine->take_losses();
    REQUIRE(losses.size() == 7);
    for (const auto& r : losses) CHECK(std::isfinite(r.loss));
    CHECK_THROWS_AS(engine->set_batch_size(0), InputError);

    std::vector<float> p = engine->params();
    for (float& w : p) w *= 0.5f;
    engine->set_params(p);
    CHECK(engine->params() == p);
    CHECK_THROWS_AS(engine->set_params(std::vector<float>(3)), InputError);
    // A fresh reset starts over from the seed's weights.
    engine->reset(config, k_source, k_target);
    CHECK(engine->step_count() == 0);
    CHECK(engine->params() == mlp_init_params(config.mlp, config.seed));
    check_no_gl_messages();
}

TEST_CASE("GL couplings: SB bridge noise, paired pools, entropic training, live coupling changes") {
    make_gl_current("GL engine tests");
    MlpConfig mlp = mlp_config(32, 2, Activation::SiLU);
    auto gl = make_gl_engine();
    auto cpu = make_cpu_engine();
    // The bridge noise of an explicit batch: the same loss and gradients as the CPU engine.
    TrainConfig config = train_config(mlp, 48);
    config.coupling = CouplingKind::SchrodingerBridge;
    config.coupling_options.sb_sigma = 0.4f;
    gl->reset(config, k_source, k_target);
    cpu->reset(config, k_source, k_target);
    Rng rng(31);
    Batch batch = random_batch(48, rng, 0.02f, 0.98f);
    std::vector<float> g_plain;
    const float plain = gl->gradients(batch, g_plain, nullptr);
    batch.noise = random_points(48, rng, 1.0f);
    std::vector<float> g_gl, g_cpu;
    const float loss_gl = gl->gradients(batch, g_gl, nullptr);
    const float loss_cpu = cpu->gradients(batch, g_cpu, nullptr);
    CHECK(std::abs(loss_gl - loss_cpu) / loss_cpu < 1e-4f);
    CHECK(rel_err(g_gl, g_cpu) < 2e-4f);
    CHECK(std::abs(loss_gl - plain) > 1e-3f);  // the noise is really applied
    // Sinkhorn and SB training on the GPU (pairs drawn on the GPU) stays finite and learns.
    for (CouplingKind kind : {CouplingKind::Sinkhorn, CouplingKind::SchrodingerBridge}) {
        CAPTURE(coupling_name(kind));
        TrainConfig c = train_config(mlp, 128);
        c.coupling = kind;
        // SB's bridge noise adds u-noise of up to 50 sigma near t = 0 and 1, which would hide
        // the learning in 60 steps' losses at the default sigma.
        c.coupling_options.sb_sigma = 0.2f;
        c.optimizer.lr = 1e-2f;
        gl->reset(c, k_source, k_target);
        gl->train(60);
        glFinish();
        auto losses = gl->take_losses();
        REQUIRE(losses.size() == 60);
        for (const auto& r : losses) CHECK(std::isfinite(r.loss));
        double first = 0, last = 0;
        for (int i = 0; i < 10; ++i) first += losses[i].loss, last += losses[50 + i].loss;
        CHECK(last < first);
    }
    // Paired pools: x1 = x0 + (3, 0) row by row, v = 0, so every sampled row's loss is 9.
    Points a = random_points(40, rng, 1.0f), b = a;
    b.col(0).array() += 3.0f;
    TrainConfig paired = train_config(mlp, 256);
    paired.coupling = CouplingKind::Paired;
    gl->reset(paired, Dataset::from_points(a, "x0"), Dataset::from_points(b, "x1"));
    gl->set_params(std::vector<float>(mlp.parameter_count(), 0.0f));
    gl->train(1);
    glFinish();
    auto losses = gl->take_losses();
    REQUIRE(losses.size() == 1);
    CHECK(losses[0].loss == doctest::Approx(9.0f).epsilon(1e-5));
    CHECK_THROWS_AS(gl->set_datasets(k_source, Dataset::from_points(b, "x1")), InputError);
    // Live coupling change: weights kept, config updated; a bad one refused.
    gl->reset(train_config(mlp, 64), k_source, k_target);
    gl->train(3);
    const std::vector<float> before = gl->params();
    gl->set_coupling(CouplingKind::MinibatchOT, {});
    CHECK(gl->params() == before);
    CHECK(gl->config().coupling == CouplingKind::MinibatchOT);
    CHECK_THROWS_AS(gl->set_coupling(CouplingKind::Paired, {}), InputError);
    CHECK(gl->config().coupling == CouplingKind::MinibatchOT);
    gl->train(2);
    CHECK(gl->step_count() == 5);
    check_no_gl_messages();
}

TEST_CASE("GL data and noise predictions: targets, converted fields, solvers and divergence match the CPU") {
    make_gl_current("GL engine tests");
    Rng rng(31);
    auto gl = make_gl_engine();
    auto cpu = make_cpu_engine();
    for (PathKind kind : {PathKind::CondOT, PathKind::VP, PathKind::VE}) {
        for (Prediction prediction : {Prediction::Data, Prediction::Noise}) {
            CAPTURE(path_name(kind));
            CAPTURE(prediction_name(prediction));
            TrainConfig config = train_config(mlp_config(32, 2, Activation::SiLU), 48);
            config.path = ProbabilityPath(kind);
            config.mlp.prediction = prediction;
            config.mlp.path = config.path;
            gl->reset(config, k_source, k_target);
            cpu->reset(config, k_source, k_target);
            // The regression target is x1 or x0, not u_t.
            Batch batch = random_batch(48, rng, 0.02f, 0.98f);
            std::vector<float> g_gl, g_cpu;
            const float loss_gl = gl->gradients(batch, g_gl, nullptr);
            const float loss_cpu = cpu->gradients(batch, g_cpu, nullptr);
            CHECK(std::abs(loss_gl - loss_cpu) / loss_cpu < 1e-4f);
            CHECK(rel_err(g_gl, g_cpu) < 2e-4f);
            // The converted velocity, also at both ends where the clamp acts.
            Points x = random_points(300, rng, 1.5f);
            for (float t : {0.0f, 0.005f, 0.5f, 0.995f, 1.0f}) {
                CAPTURE(t);
                Points v_gl, v_cpu;
                gl->eval_velocity(x, t, v_gl);
                cpu->eval_velocity(x, t, v_cpu);
                CHECK(rel_err(v_gl, v_cpu, 1e-3f) < 2e-4f);
                Points vd_gl, vd_cpu;
                VectorF d_gl, d_cpu;
                gl->eval_velocity_divergence(x, t, vd_gl, d_gl);
                cpu->eval_velocity_divergence(x, t, vd_cpu, d_cpu);
                CHECK(rel_err(vd_gl, vd_cpu, 1e-3f) < 2e-4f);
                CHECK(rel_err(d_gl.data(), d_cpu.data(), std::size_t(d_gl.size()), 1e-2f) < 5e-4f);
            }
            // Fixed-step and adaptive solves through the whole interval.
            for (SolverKind solver : {SolverKind::RK4, SolverKind::Dopri5}) {
                CAPTURE(solver_name(solver));
                CHECK(solve_error(*gl, *cpu, x, solver) < 1.5e-3f);
            }
        }
    }
    check_no_gl_messages();
}

// ---- class-conditional networks and classifier-free guidance

namespace {

MlpConfig class_config(int classes, TimeEncoding enc = TimeEncoding::Raw,
                       Prediction prediction = Prediction::Velocity) {
    MlpConfig c = mlp_config(32, 2, Activation::SiLU, enc, 3);
    c.classes = classes;
    c.prediction = prediction;
    return c;
}

// Row i's class cycles through -1 (the null class by index), 0 .. K-1 and K (the null class).
std::vector<int> mixed_classes(int b, int classes) {
    std::vector<int> c(static_cast<std::size_t>(b));
    for (int i = 0; i < b; ++i) c[static_cast<std::size_t>(i)] = i % (classes + 2) - 1;
    return c;
}


}  // namespace

TEST_CASE("GL class-conditional loss and gradients match the CPU engine") {
    make_gl_current("GL engine tests");
    Rng rng(41);
    auto gl = make_gl_engine();
    auto cpu = make_cpu_engine();
    struct Case {
        std::string name;
        MlpConfig mlp;
    };
    const Case cases[] = {
        {"K3 raw velocity", class_config(3)},
        {"K3 fourier velocity", class_config(3, TimeEncoding::Fourier)},
        {"K3 fourier data prediction", class_config(3, TimeEncoding::Fourier, Prediction::Data)},
    };
    for (const Case& c : cases) {
        CAPTURE(c.name);
        TrainConfig config = train_config(c.mlp, 70);  // not a multiple of a tile
        gl->reset(config, k_source, Dataset(DatasetKind::EightGaussians));
        cpu->reset(config, k_source, Dataset(DatasetKind::EightGaussians));
        CHECK(rel_err(gl->params(), cpu->params()) == 0.0f);
        Batch batch = random_batch(70, rng, 0.02f, 0.98f);
        // With mixed classes, the null class both ways, and with none (every row the null class).
        for (bool labelled : {true, false}) {
            CAPTURE(labelled);
            batch.classes = labelled ? mixed_classes(70, 3) : std::vector<int>{};
            std::vector<float> g_gl, g_cpu;
            Points dx_gl, dx_cpu;
            const float loss_gl = gl->gradients(batch, g_gl, &dx_gl);
            const float loss_cpu = cpu->gradients(batch, g_cpu, &dx_cpu);
            MESSAGE(c.name << std::string(labelled ? " mixed" : " null") << ": loss rel "
                           << std::abs(loss_gl - loss_cpu) / loss_cpu << ", grads rel "
                           << rel_err(g_gl, g_cpu) << ", dL/dx rel " << rel_err(dx_gl, dx_cpu));
            CHECK(std::abs(loss_gl - loss_cpu) / loss_cpu < 1e-4f);
            CHECK(rel_err(g_gl, g_cpu) < 2e-4f);
            CHECK(rel_err(dx_gl, dx_cpu) < 2e-4f);
        }
        // The classes reach the gradient: the class rows of layer 0 (0 .. K-1) get one only from
        // labelled rows.
        const int hot = c.mlp.class_offset() * c.mlp.width;
        std::vector<float> g_null, g_mixed;
        batch.classes.clear();
        gl->gradients(batch, g_null, nullptr);
        batch.classes = mixed_classes(70, 3);
        gl->gradients(batch, g_mixed, nullptr);
        CHECK(g_null[static_cast<std::size_t>(hot)] == 0.0f);
        CHECK(std::abs(g_mixed[static_cast<std::size_t>(hot)]) > 1e-6f);
        // Three Adam steps on the same batches, step for step.
        for (int s = 0; s < 3; ++s) {
            Batch b = random_batch(70, rng, 0.02f, 0.98f);
            b.classes = mixed_classes(70, 3);
            const float l_gl = gl->train_on_batch(b), l_cpu = cpu->train_on_batch(b);
            CHECK(std::abs(l_gl - l_cpu) / l_cpu < 1e-4f);
        }
        CHECK(rel_err(gl->params(), cpu->params()) < 1e-4f);
    }
    check_no_gl_messages();
}

TEST_CASE("GL guided fields, solvers and divergence match the CPU engine") {
    make_gl_current("GL engine tests");
    Rng rng(42);
    auto gl = make_gl_engine();
    auto cpu = make_cpu_engine();
    for (Prediction prediction : {Prediction::Velocity, Prediction::Data}) {
        CAPTURE(prediction_name(prediction));
        const MlpConfig mlp = class_config(3, TimeEncoding::Fourier, prediction);
        TrainConfig config = train_config(mlp);
        gl->reset(config, k_source, Dataset(DatasetKind::EightGaussians));
        cpu->reset(config, k_source, Dataset(DatasetKind::EightGaussians));
        // A stronger class embedding than the initialisation's, so the classes' fields differ.
        std::vector<float> p = cpu->params();
        for (int k = mlp.class_offset() * mlp.width; k < mlp.input_dim() * mlp.width; ++k)
            p[static_cast<std::size_t>(k)] *= 4.0f;
        gl->set_params(p);
        cpu->set_params(p);
        const Points x = random_points(300, rng, 1.5f);
        const ClassGuidance guidances[] = {{1, 3.0f}, {-1, 1.0f}, {2, 1.0f}, {0, 0.0f}};
        float worst_v = 0, worst_d = 0, worst_x = 0, worst_dopri = 0, worst_l = 0;
        for (const ClassGuidance& g : guidances) {
            CAPTURE(g.cls);
            CAPTURE(g.scale);
            gl->set_guidance(g);
            cpu->set_guidance(g);
            CHECK(gl->guidance().cls == g.cls);
            CHECK(gl->guidance().scale == g.scale);
            for (float t : {0.0f, 0.5f, 0.95f}) {
                CAPTURE(t);
                Points v_gl, v_cpu;
                gl->eval_velocity(x, t, v_gl);
                cpu->eval_velocity(x, t, v_cpu);
                const float ev = rel_err(v_gl, v_cpu, 1e-3f);
                CHECK(ev < 2e-4f);
                Points vd_gl, vd_cpu;
                VectorF d_gl, d_cpu;
                gl->eval_velocity_divergence(x, t, vd_gl, d_gl);
                cpu->eval_velocity_divergence(x, t, vd_cpu, d_cpu);
                const float evd = rel_err(vd_gl, vd_cpu, 1e-3f);
                const float ed = rel_err(d_gl.data(), d_cpu.data(), std::size_t(d_gl.size()), 1e-2f);
                CHECK(evd < 2e-4f);
                CHECK(ed < 5e-4f);
                worst_v = std::max({worst_v, ev, evd});
                worst_d = std::max(worst_d, ed);
            }
            for (SolverKind solver : {SolverKind::RK4, SolverKind::Dopri5}) {
                CAPTURE(solver_name(solver));
                const float e = solve_error(*gl, *cpu, x, solver);
                CHECK(e < 1.5e-3f);
                (solver == SolverKind::RK4 ? worst_x : worst_dopri) =
                    std::max(solver == SolverKind::RK4 ? worst_x : worst_dopri, e);
            }
            Points x_gl = x.topRows(37), x_cpu = x.topRows(37);
            VectorF l_gl, l_cpu;
            gl->integrate_with_divergence(x_gl, l_gl, 1.0f, 0.0f, SolverKind::RK4, 4);
            cpu->integrate_with_divergence(x_cpu, l_cpu, 1.0f, 0.0f, SolverKind::RK4, 4);
            const float el = rel_err(l_gl.data(), l_cpu.data(), std::size_t(l_gl.size()), 1e-3f);
            CHECK(rel_err(x_gl, x_cpu) < 1e-4f);
            CHECK(el < 1e-3f);
            worst_l = std::max(worst_l, el);
        }
        MESSAGE(prediction_name(prediction) << ": worst rel err v " << worst_v << ", div " << worst_d
                                            << ", RK4 " << worst_x << ", dopri5 " << worst_dopri
                                            << ", likelihood integral " << worst_l);
        // Guidance really changes the field: class 1 at w = 3 is not the unconditional field.
        Points v_guided, v_null;
        gl->set_guidance({1, 3.0f});
        gl->eval_velocity(x, 0.5f, v_guided);
        gl->set_guidance({-1, 1.0f});
        gl->eval_velocity(x, 0.5f, v_null);
        CHECK(rel_err(v_guided, v_null) > 1e-2f);
        // A reset forgets the guidance, as the CPU engine's does.
        gl->set_guidance({1, 3.0f});
        gl->reset(config, k_source, Dataset(DatasetKind::EightGaussians));
        CHECK(gl->guidance().cls == -1);
        CHECK(gl->guidance().scale == 1.0f);
    }
    check_no_gl_messages();
}

TEST_CASE("GL set_guidance refuses a class the network lacks and a scale out of range") {
    make_gl_current("GL engine tests");
    auto gl = make_gl_engine();
    gl->reset(train_config(class_config(3)), k_source, Dataset(DatasetKind::EightGaussians));
    CHECK_THROWS_AS(gl->set_guidance({3, 1.0f}), InputError);
    CHECK_THROWS_AS(gl->set_guidance({0, 11.0f}), InputError);
    CHECK_THROWS_AS(gl->set_guidance({0, -0.5f}), InputError);
    CHECK(gl->guidance().cls == -1);  // a refused setting changes nothing
    gl->set_guidance({2, 10.0f});
    CHECK(gl->guidance().cls == 2);
    gl->reset(train_config(mlp_config(32, 2, Activation::SiLU)), k_source, k_target);
    CHECK_THROWS_AS(gl->set_guidance({0, 1.0f}), InputError);  // no classes at all
    gl->set_guidance({-1, 1.0f});
    check_no_gl_messages();
}

TEST_CASE("GL particles taking the classes in turn match the CPU engine (ODE, dopri5, SDE); fields ignore it") {
    make_gl_current("GL engine tests");
    Rng rng(71);
    auto gl = make_gl_engine();
    auto cpu = make_cpu_engine();
    const TrainConfig config = train_config(class_config(3, TimeEncoding::Fourier));
    for (Engine* e : {gl.get(), cpu.get()}) e->reset(config, k_source, Dataset(DatasetKind::EightGaussians));
    // Not a multiple of a tile or of the cycle, so the cycle crosses tiles at every phase.
    const Points x = random_points(203, rng, 1.0f);
    const std::vector<int> cycle = {2, 0, 1, 0};
    for (float w : {1.0f, 2.5f}) {
        CAPTURE(w);
        for (Engine* e : {gl.get(), cpu.get()}) {
            e->set_guidance({-1, w});
            e->set_particle_classes(cycle);
        }
        CHECK(solve_error(*gl, *cpu, x, SolverKind::RK4) < 2e-5f);
        CHECK(solve_error(*gl, *cpu, x, SolverKind::Dopri5) < 2e-5f);
        Points a, b;
        for (Engine* e : {gl.get(), cpu.get()}) {
            e->set_particles(x);
            e->integrate_particles_sde(0.0f, 0.9f, SdeSettings{1.0f, 10}, 17, 0);
        }
        gl->read_particles(a);
        cpu->read_particles(b);
        CHECK(rel_err(a, b, 1e-2f) < 2e-5f);
        // Particle i follows cycle[i mod 4]: the rows of one class equal that class's own field.
        Points v_row, v_cls;
        gl->set_particles(x);
        gl->integrate_particles(0.0f, 0.5f, SolverKind::Euler, 1);
        gl->read_particles(v_row);
        gl->set_particle_classes({});
        gl->set_guidance({2, w});
        gl->set_particles(x);
        gl->integrate_particles(0.0f, 0.5f, SolverKind::Euler, 1);
        gl->read_particles(v_cls);
        for (Eigen::Index i = 0; i < x.rows(); i += 4) CHECK((v_row.row(i) - v_cls.row(i)).norm() < 1e-5f);
        CHECK((v_row.row(1) - v_cls.row(1)).norm() > 1e-4f);  // row 1 follows class 0
        // The fields on given points follow guidance(), not the cycle.
        gl->set_guidance({-1, w});
        gl->set_particle_classes(cycle);
        Points f_gl, f_cpu;
        gl->eval_velocity(x, 0.3f, f_gl);
        cpu->set_particle_classes({});
        cpu->set_guidance({-1, w});
        cpu->eval_velocity(x, 0.3f, f_cpu);
        CHECK(rel_err(f_gl, f_cpu) < 2e-5f);
    }
    for (Engine* e : {gl.get(), cpu.get()}) {
        CHECK_THROWS_AS(e->set_particle_classes({0, 3}), InputError);   // the network has 0..2
        CHECK_THROWS_AS(e->set_particle_classes({-1, 0}), InputError);  // classes only
        CHECK_THROWS_AS(e->set_particle_classes(std::vector<int>(9, 0)), InputError);
        e->reset(config, k_source, Dataset(DatasetKind::EightGaussians));  // reset clears the cycle
    }
    CHECK(solve_error(*gl, *cpu, x, SolverKind::Euler) < 2e-5f);
    gl->reset(train_config(mlp_config(32, 2, Activation::SiLU)), k_source, k_target);
    CHECK_THROWS_AS(gl->set_particle_classes({0}), InputError);  // no classes at all
    gl->set_particle_classes({});
    check_no_gl_messages();
}

TEST_CASE("GL batches sampled on the GPU read each target point's class and drop it to the null class") {
    make_gl_current("GL engine tests");
    // A network that outputs v = (a_c, 0) for class c (a_0 = 1, a_1 = 2, the null class 0) and
    // ignores x and t: layer 0's class rows feed hidden unit 0 (ReLU), which is v_x. Source the
    // origin, target (1, 0) of class 0 and (2, 0) of class 1, so u = x1: a row with its own class
    // costs 0, a null row |x1|^2 (1 or 4). The loss is p_uncond * 2.5.
    MlpConfig mlp = mlp_config(16, 1, Activation::ReLU);
    mlp.classes = 2;
    std::vector<float> p(mlp.parameter_count(), 0.0f);
    p[static_cast<std::size_t>(mlp.class_offset() * mlp.width)] = 1.0f;
    p[static_cast<std::size_t>((mlp.class_offset() + 1) * mlp.width)] = 2.0f;
    p[mlp_layer_layout(mlp, 1).w_offset] = 1.0f;
    Points origin = Points::Zero(2, 2), ends(2, 2);
    ends << 1.0f, 0.0f, 2.0f, 0.0f;
    const Dataset source = Dataset::from_points(origin, "origin");
    const Dataset target = Dataset::from_points(ends, "ends", {0, 1});
    auto gl = make_gl_engine();
    for (float p_uncond : {0.0f, 0.5f, 1.0f}) {
        CAPTURE(p_uncond);
        TrainConfig config = train_config(mlp, 4096);
        config.p_uncond = p_uncond;
        config.optimizer.lr = 1e-9f;
        gl->reset(config, source, target);
        gl->set_params(p);
        gl->train(1);
        glFinish();
        const auto losses = gl->take_losses();
        REQUIRE(losses.size() == 1);
        // Per row 0, 1 or 4: a standard error under 0.03 at B = 4096.
        CHECK(losses[0].loss == doctest::Approx(2.5f * p_uncond).epsilon(0.05).scale(1e-3));
    }
    // Paired rows carry no class (as the CPU's BatchSampler): every row is null.
    TrainConfig paired = train_config(mlp, 4096);
    paired.coupling = CouplingKind::Paired;
    paired.p_uncond = 0.0f;
    gl->reset(paired, source, target);
    gl->set_params(p);
    gl->train(1);
    glFinish();
    const auto losses = gl->take_losses();
    REQUIRE(losses.size() == 1);
    CHECK(losses[0].loss == doctest::Approx(2.5f).epsilon(0.05));
    check_no_gl_messages();
}

TEST_CASE("GL plan couplings with classes take the CPU engine's BatchSampler batches") {
    make_gl_current("GL engine tests");
    // The GL engine's exact OT draws from a BatchSampler on stream (seed, 0x6f74): the same
    // batch here (grouped by class, coupled within each, dropout to the null class) gives the
    // first step's loss on the CPU engine. (The entropic couplings draw from that stream too but
    // pair on the GPU: test_gl_sinkhorn.)
    const Dataset target(DatasetKind::EightGaussians);
    for (CouplingKind kind : {CouplingKind::MinibatchOT}) {
        CAPTURE(coupling_name(kind));
        TrainConfig config = train_config(class_config(8), 96);
        config.coupling = kind;
        config.p_uncond = 0.3f;
        BatchSampler sampler;
        sampler.reset(config, config.seed, 0x6f74);
        Batch batch;
        sampler.next(config, k_source, target, batch);
        REQUIRE(batch.classes.size() == 96);
        // Grouped by class before the dropout: the rows that kept their class are in order.
        std::vector<int> kept;
        for (int c : batch.classes)
            if (c < 8) kept.push_back(c);
        CHECK(std::is_sorted(kept.begin(), kept.end()));
        CHECK(std::count(batch.classes.begin(), batch.classes.end(), 8) > 10);  // dropped rows
        auto gl = make_gl_engine();
        auto cpu = make_cpu_engine();
        gl->reset(config, k_source, target);
        cpu->reset(config, k_source, target);
        std::vector<float> g;
        const float expected = cpu->gradients(batch, g, nullptr);
        gl->train(1);
        glFinish();
        const auto losses = gl->take_losses();
        REQUIRE(losses.size() == 1);
        CHECK(std::abs(losses[0].loss - expected) / expected < 1e-4f);
    }
    check_no_gl_messages();
}

TEST_CASE("GL class-conditional training: each class samples its own mode; OT within classes learns") {
    make_gl_current("GL engine tests");
    const Dataset source(DatasetKind::Normal), target(DatasetKind::EightGaussians);
    TrainConfig config;
    // test_classes.cpp's CPU run at a size llvmpipe trains in seconds (it needs far fewer steps
    // than 5000 to separate the classes).
    config.mlp = mlp_config(32, 2, Activation::SiLU);
    config.mlp.classes = 8;
    config.optimizer.lr = 2e-3f;
    config.batch = 256;
    config.seed = 3;
    auto gl = make_gl_engine();
    gl->reset(config, source, target);
    gl->train(1500);
    CHECK(!gl->health(true).diverged);
    auto sample = [&](ClassGuidance g) {
        gl->set_guidance(g);
        Rng rng(11);
        gl->set_particles(source.sample(1000, rng));
        gl->integrate_particles(0.0f, 1.0f, SolverKind::RK4, 10);
        Points x;
        gl->read_particles(x);
        return x;
    };
    for (int k : {0, 3, 6}) {
        const Points x = sample({k, 1.0f});
        int hits = 0;
        for (int i = 0; i < x.rows(); ++i) hits += nearest_mode(x(i, 0), x(i, 1)) == k;
        MESSAGE("GL class " << k << ": " << hits << " of 1000 at its mode");
        CHECK(hits >= 800);
    }
    // The null class (the unconditional field) covers every mode.
    const Points all = sample({-1, 1.0f});
    std::vector<int> per_mode(8, 0);
    for (int i = 0; i < all.rows(); ++i) ++per_mode[static_cast<std::size_t>(nearest_mode(all(i, 0), all(i, 1)))];
    for (int m = 0; m < 8; ++m) CHECK(per_mode[static_cast<std::size_t>(m)] > 50);

    // Minibatch OT within classes (batches from the CPU's sampler, uploaded with their classes).
    config.coupling = CouplingKind::MinibatchOT;
    config.optimizer.lr = 1e-2f;
    gl->reset(config, source, target);
    gl->train(150);
    glFinish();
    const auto losses = gl->take_losses();
    REQUIRE(losses.size() == 150);
    double first = 0, last = 0;
    for (int i = 0; i < 20; ++i) first += losses[i].loss, last += losses[130 + i].loss;
    MESSAGE("GL OT within classes: mean loss of steps 1-20 " << first / 20 << ", 131-150 " << last / 20);
    CHECK(last < 0.8 * first);
    check_no_gl_messages();
}

TEST_CASE("GL SDE noise: the shader's counter normals are core/base/counter_noise.h's") {
    // A network whose output is zero (all weights zero, velocity prediction) and particles at the
    // origin: the drift vanishes, so one Euler–Maruyama step leaves x_i = noise * n_i exactly,
    // n_i the shader's draw for (seed, step, i).
    make_gl_current("GL engine tests");
    MlpConfig mlp = mlp_config(32, 2, Activation::SiLU);
    TrainConfig config = train_config(mlp);
    auto gl = make_gl_engine();
    gl->reset(config, k_source, k_target);
    gl->set_params(std::vector<float>(mlp.parameter_count(), 0.0f));
    const int n = 5000;
    const uint64_t seed = 0xfedcba9876543210ULL;  // both halves of the seed reach the hash
    const uint32_t step = 0xfffffff0u;
    gl->set_particles(Points::Zero(n, 2));
    const float t = 0.25f, h = 0.5f;
    gl->integrate_particles_sde(t, t + h, SdeSettings{2.0f, 1}, seed, step);
    Points x;
    gl->read_particles(x);
    const SdeStepCoefficients c = sde_step_coefficients(config.path, 2.0f, t, h);
    REQUIRE(c.noise > 0.0f);
    float worst = 0.0f;
    for (int i = 0; i < n; ++i) {
        const Eigen::Vector2f z = counter_normals(seed, step, static_cast<uint32_t>(i));
        worst = std::max(worst, (x.row(i).transpose() / c.noise - z).cwiseAbs().maxCoeff());
    }
    MESSAGE("GLSL vs C++ counter normals: worst |difference| " << worst);
    CHECK(worst < 1e-4f);
    check_no_gl_messages();
}

TEST_CASE("GL SDE sampler matches the CPU engine particle for particle (paths, predictions, guidance)") {
    make_gl_current("GL engine tests");
    Rng rng(61);
    const Points x0 = random_points(1500, rng, 1.0f);
    auto gl = make_gl_engine();
    auto cpu = make_cpu_engine();
    auto check_case = [&](const std::string& what, float gamma) {
        CAPTURE(what);
        // In two slices as GpuParticles integrates: the second continues the noise at step 12.
        for (Engine* e : {gl.get(), cpu.get()}) {
            e->set_particles(x0);
            CHECK(e->integrate_particles_sde(0.0f, 0.4f, SdeSettings{gamma, 12}, 99, 0).evaluations == 12);
            e->integrate_particles_sde(0.4f, 1.0f, SdeSettings{gamma, 18}, 99, 12);
        }
        Points a, b;
        gl->read_particles(a);
        cpu->read_particles(b);
        const float e = rel_err(a, b, 1e-2f);
        MESSAGE(what << ": rel err " << e);
        CHECK(e < 2e-4f);
        return b;
    };
    for (PathKind kind : {PathKind::CondOT, PathKind::VP}) {
        for (Prediction prediction : {Prediction::Velocity, Prediction::Data}) {
            MlpConfig mlp = mlp_config(32, 2, Activation::GELU, TimeEncoding::Fourier, 3);
            mlp.prediction = prediction;
            mlp.path = ProbabilityPath(kind);
            TrainConfig config = train_config(mlp);
            config.path = mlp.path;
            gl->reset(config, k_source, k_target);
            cpu->reset(config, k_source, k_target);
            const Points noisy = check_case(config.path.name() + ", " + prediction_name(prediction), 1.5f);
            // gamma = 0 is the Euler ODE, in both engines.
            const Points ode = check_case(config.path.name() + ", gamma 0", 0.0f);
            Points euler;
            cpu->set_particles(x0);
            cpu->integrate_particles(0.0f, 0.4f, SolverKind::Euler, 12);
            cpu->integrate_particles(0.4f, 1.0f, SolverKind::Euler, 18);
            cpu->read_particles(euler);
            CHECK(rel_err(ode, euler, 1e-2f) < 1e-5f);
            // The noise really moves the particles.
            CHECK(rel_err(noisy, ode, 1e-2f) > 1e-2f);
        }
    }
    // A guided class-conditional field: the kernel runs the tile twice per step.
    const MlpConfig mlp = class_config(3, TimeEncoding::Fourier);
    TrainConfig config = train_config(mlp);
    gl->reset(config, k_source, Dataset(DatasetKind::EightGaussians));
    cpu->reset(config, k_source, Dataset(DatasetKind::EightGaussians));
    for (Engine* e : {gl.get(), cpu.get()}) e->set_guidance({1, 2.5f});
    check_case("class 1 at w = 2.5", 1.0f);
    // Bad settings are refused before anything moves.
    Points before, after;
    gl->set_particles(x0);
    gl->read_particles(before);
    CHECK_THROWS_AS(gl->integrate_particles_sde(0.0f, 1.0f, SdeSettings{6.0f, 10}, 1, 0), InputError);
    CHECK_THROWS_AS(gl->integrate_particles_sde(0.0f, 1.0f, SdeSettings{1.0f, 0}, 1, 0), InputError);
    CHECK_THROWS_AS(gl->integrate_particles_sde(1.0f, 0.0f, SdeSettings{1.0f, 10}, 1, 0), InputError);
    CHECK_THROWS_AS(cpu->integrate_particles_sde(1.0f, 0.0f, SdeSettings{1.0f, 10}, 1, 0), InputError);
    gl->read_particles(after);
    CHECK(rel_err(after, before) == 0.0f);
    check_no_gl_messages();
}
