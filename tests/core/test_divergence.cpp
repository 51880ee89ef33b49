// The divergence guard: both engines stop at the first non-finite loss or parameter, roll back to
// the last good snapshot bit for bit, report no NaN, and agree with each other on the step.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "core/base/parallel.h"
#include "core/base/rng.h"
#include "core/engine/engine.h"
#include "core/engine/gl/gl_context.h"
#include "core/engine/gl/gl_engine.h"
#include "core/nn/mlp.h"
#include "core/nn/optimizer.h"
#include "tests/gl_test_support.h"
#include "tests/batch_test_support.h"
#include "tests/mlp_test_support.h"

// Counts heap allocations so a test can show a guarded training step allocates nothing.
static std::atomic<long> g_allocations{0};
void* operator new(std::size_t n) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

using namespace fmp;
using fmp::test::check_no_gl_messages;
using fmp::test::make_gl_current;
using fmp::test::random_batch;

namespace {

struct ThreadCountGuard {
    int saved = thread_count();
    ~ThreadCountGuard() { set_thread_count(saved); }
};

TrainConfig config(int width, int depth, float lr, int batch = 64) {
    TrainConfig c;
    c.mlp.width = width;
    c.mlp.depth = depth;
    c.optimizer.lr = lr;
    c.batch = batch;
    c.seed = 3;
    return c;
}

// A config whose first update multiplies every weight by 1 - lr wd = -1e27: the loss of step 2
// overflows, whatever the batch.
TrainConfig huge_weight_decay(int width = 32, int depth = 2) {
    TrainConfig c = config(width, depth, 1e-3f);
    c.optimizer.kind = OptimizerKind::AdamW;
    c.optimizer.weight_decay = 1e30f;
    return c;
}


bool all_finite(const std::vector<float>& v) {
    for (float x : v)
        if (!std::isfinite(x)) return false;
    return true;
}

bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * 4) == 0;
}

void check_losses_clean(Engine& e, int64_t up_to) {
    for (const LossRecord& r : e.take_losses()) {
        CHECK(std::isfinite(r.loss));
        CHECK(r.step <= up_to);
    }
}

const Dataset k_source(DatasetKind::Normal);
const Dataset k_target(DatasetKind::Moons);

// Reset, train, and the report of a run that diverges at step 2 of one train() call.
void check_weight_decay_run(Engine& e, CouplingKind coupling) {
    TrainConfig c = huge_weight_decay();
    c.coupling = coupling;
    e.reset(c, k_source, k_target);
    const std::vector<float> initial = e.params();
    e.train(10);
    TrainHealth h = e.health(true);
    REQUIRE(h.diverged);
    CHECK(h.cause == DivergenceCause::LossNotFinite);
    CHECK(h.step == 2);
    CHECK(!std::isfinite(h.loss));
    // Step 2's loss came from the weights of step 1: the last good state is step 0.
    CHECK(h.restored_step == 0);
    CHECK(h.divergences == 1);
    CHECK(e.step_count() == 0);
    CHECK(bitwise_equal(e.params(), initial));
    check_losses_clean(e, 0);

    // Stopped: nothing trains until the divergence is acknowledged.
    e.train(5);
    CHECK(e.health(true).diverged);
    CHECK(e.step_count() == 0);
    CHECK(bitwise_equal(e.params(), initial));
    CHECK(std::isnan(e.train_on_batch([] {
        Rng rng(1);
        return random_batch(16, rng);
    }())));
    CHECK(e.step_count() == 0);

    e.acknowledge_divergence();
    CHECK(!e.health().diverged);
    e.train(1);
    CHECK(e.health(true).divergences == 1);
    CHECK(e.step_count() == 1);
    CHECK(all_finite(e.params()));
    e.train(3);  // step 2 overflows again
    h = e.health(true);
    CHECK(h.diverged);
    CHECK(h.step == 2);
    CHECK(h.divergences == 2);
    CHECK(bitwise_equal(e.params(), initial));

    e.reset(c, k_source, k_target);
    CHECK(!e.health().diverged);
    CHECK(e.health().divergences == 0);
}

// Trains on the same batches, one train_on_batch() call each, recording the weights before
// each call (each call snapshots first), until the engine diverges.
struct BatchRun {
    std::vector<std::vector<float>> params_at;  // index: step
    TrainHealth health;
};
BatchRun run_batches(Engine& e, const TrainConfig& c, int max_steps, int batch) {
    BatchRun r;
    e.reset(c, k_source, k_target);
    Rng rng(11);
    for (int s = 0; s < max_steps; ++s) {
        r.params_at.push_back(e.params());
        e.train_on_batch(random_batch(batch, rng));
        r.health = e.health(true);
        if (r.health.diverged) break;
    }
    return r;
}

// The first bad step and its cause, from Mlp and AdamOptimizer alone (no guard).
std::pair<int64_t, DivergenceCause> reference_first_bad_step(const TrainConfig& c, int max_steps,
                                                             int batch) {
    Mlp mlp(c.mlp, c.seed);
    AdamOptimizer adam(c.optimizer, mlp.params().size());
    Rng rng(11);
    Points xt, ut, v, dv;
    MlpContext ctx;
    std::vector<float> grads;
    for (int s = 1; s <= max_steps; ++s) {
        Batch b = random_batch(batch, rng);
        c.path.sample_xt_and_target(b.x0, b.x1, b.t, xt, ut);
        mlp.forward(xt, b.t, v, &ctx);
        float loss = cfm_loss(v, ut, &dv);
        if (!std::isfinite(loss)) return {s, DivergenceCause::LossNotFinite};
        mlp.backward(ctx, dv, grads);
        if (!adam.step(mlp.params(), grads)) return {s, DivergenceCause::ParamsNotFinite};
    }
    return {-1, DivergenceCause::None};
}

}  // namespace

TEST_CASE("snapshot choice: the newest slot whose own step went well") {
    const int64_t both[2] = {64, 0};
    CHECK(rollback_slot(both, 70) == 0);
    CHECK(rollback_slot(both, 66) == 0);
    CHECK(rollback_slot(both, 65) == 1);  // step 65 started from 64's weights
    const int64_t swapped[2] = {128, 150};
    CHECK(rollback_slot(swapped, 155) == 1);
    CHECK(rollback_slot(swapped, 151) == 0);
    const int64_t only_reset[2] = {0, -1};
    CHECK(rollback_slot(only_reset, 1) == 0);  // nothing older
    CHECK(divergence_cause_name(DivergenceCause::LossNotFinite) == "loss not finite");
    CHECK(divergence_cause_name(DivergenceCause::ParamsNotFinite) == "parameters not finite");
}

TEST_CASE("CPU engine: a huge weight decay stops training at step 2 and rolls back to step 0") {
    ThreadCountGuard guard;
    set_thread_count(2);
    auto e = make_cpu_engine();
    check_weight_decay_run(*e, CouplingKind::Independent);
    // Minibatch OT trains on two threads (a batch is coupled while the last one trains): the
    // producer must stop with the trainer.
    check_weight_decay_run(*e, CouplingKind::MinibatchOT);
}

TEST_CASE("GL engine: a huge weight decay stops training at step 2 and rolls back to step 0") {
    make_gl_current("divergence tests");
    auto e = make_gl_engine();
    check_weight_decay_run(*e, CouplingKind::Independent);
    check_weight_decay_run(*e, CouplingKind::MinibatchOT);
    check_no_gl_messages();
}

TEST_CASE("an update that overflows a parameter is caught with a finite loss, on both engines") {
    make_gl_current("divergence tests");
    // keep = 1 - lr wd = -3e38: a weight above 1.13 in magnitude overflows, the others do not.
    TrainConfig c = config(16, 1, 1.0f);
    c.optimizer.kind = OptimizerKind::AdamW;
    c.optimizer.weight_decay = 3e38f;
    std::vector<float> start = mlp_init_params(c.mlp, c.seed);
    for (float& p : start) p = std::clamp(p, -1.0f, 1.0f);
    start.back() = 2.0f;  // an output bias
    auto cpu = make_cpu_engine();
    auto gl = make_gl_engine();
    for (Engine* e : {cpu.get(), gl.get()}) {
        INFO(engine_kind_name(e->kind()));
        e->reset(c, k_source, k_target);
        e->set_params(start);  // the rollback point from now on, not the initial weights
        e->train(4);
        TrainHealth h = e->health(true);
        REQUIRE(h.diverged);
        CHECK(h.cause == DivergenceCause::ParamsNotFinite);
        CHECK(h.step == 1);
        CHECK(std::isfinite(h.loss));
        CHECK(h.restored_step == 0);  // nothing older than the weights step 1 started from
        CHECK(e->step_count() == 0);
        CHECK(bitwise_equal(e->params(), start));
        check_losses_clean(*e, 0);
    }
    std::vector<float> bad = start;
    bad[0] = std::nanf("");
    CHECK_THROWS_AS(cpu->set_params(bad), InputError);
    CHECK_THROWS_AS(gl->set_params(bad), InputError);
    check_no_gl_messages();
}

TEST_CASE("width 512, depth 6 at lr 1: both engines stop at the first bad step of the same batches") {
    make_gl_current("divergence tests");
    const int batch = 64, max_steps = 40;
    TrainConfig c = config(512, 6, 1.0f, batch);
    const auto [expected, cause] = reference_first_bad_step(c, max_steps, batch);
    std::printf("W512 d6 lr 1: first bad step %lld (%s)\n", static_cast<long long>(expected),
                divergence_cause_name(cause).c_str());
    REQUIRE(expected > 0);
    auto cpu = make_cpu_engine();
    auto gl = make_gl_engine();
    BatchRun a = run_batches(*cpu, c, max_steps, batch);
    BatchRun b = run_batches(*gl, c, max_steps, batch);
    for (auto* r : {&a, &b}) {
        REQUIRE(r->health.diverged);
        CHECK(r->health.cause == cause);
        CHECK(r->health.step == expected);
        // Every call snapshots first, so the state before the bad step's weights is one call back.
        CHECK(r->health.restored_step == std::max<int64_t>(0, expected - 2));
    }
    CHECK(cpu->step_count() == a.health.restored_step);
    CHECK(gl->step_count() == b.health.restored_step);
    std::vector<float> pc = cpu->params(), pg = gl->params();
    CHECK(all_finite(pc));
    CHECK(all_finite(pg));
    CHECK(bitwise_equal(pc, a.params_at[a.health.restored_step]));
    CHECK(bitwise_equal(pg, b.params_at[b.health.restored_step]));
    check_losses_clean(*cpu, a.health.restored_step);
    check_losses_clean(*gl, b.health.restored_step);
    // Lowered rate, acknowledged: training goes on from the restored state.
    for (Engine* e : {cpu.get(), gl.get()}) {
        e->set_learning_rate(1e-4f);
        e->acknowledge_divergence();
        e->train(2);
        CHECK(e->health(true).divergences == 1);
        CHECK(e->step_count() == a.health.restored_step + 2);
        CHECK(all_finite(e->params()));
    }
    check_no_gl_messages();
}

TEST_CASE("long runs roll back to the newest good snapshot and agree on the step") {
    make_gl_current("divergence tests");
    // AdamW's keep = 1 - lr wd is 0.9 at lr 1e-6 (the weights shrink), then -999 once the rate
    // goes up: the weights grow a thousandfold per step and the loss overflows a few steps later.
    TrainConfig c = config(32, 2, 1e-6f);
    c.optimizer.kind = OptimizerKind::AdamW;
    c.optimizer.weight_decay = 1e5f;
    auto cpu = make_cpu_engine();
    auto gl = make_gl_engine();
    int64_t bad_step[2] = {0, 0};
    for (Engine* e : {cpu.get(), gl.get()}) {
        INFO(engine_kind_name(e->kind()));
        e->reset(c, k_source, k_target);
        e->train(150);  // snapshots at 0, 64, 128
        CHECK(!e->health(true).diverged);
        e->set_learning_rate(1e-2f);
        e->train(300);  // snapshots at 150, then 192 (skipped on the GPU if it is past the bad step)
        TrainHealth h = e->health(true);
        bad_step[e == gl.get()] = h.step;
        REQUIRE(h.diverged);
        std::printf("%s: diverged at %lld (%s), restored %lld\n",
                    engine_kind_name(e->kind()).c_str(), static_cast<long long>(h.step),
                    divergence_cause_name(h.cause).c_str(),
                    static_cast<long long>(h.restored_step));
        CHECK(h.step > 151);
        CHECK(h.step < 192);
        CHECK(h.restored_step == 150);
        CHECK(e->step_count() == 150);
        CHECK(all_finite(e->params()));
        check_losses_clean(*e, h.restored_step);
    }
    CHECK(bad_step[0] == bad_step[1]);
    check_no_gl_messages();
}

TEST_CASE("a warmed-up guarded CPU training step allocates nothing") {
    ThreadCountGuard guard;
    set_thread_count(2);
    auto e = make_cpu_engine();
    TrainConfig c = config(64, 3, 1e-3f, 256);
    e->reset(c, k_source, k_target);
    e->train(2);
    e->train(2);
    (void)e->take_losses();
    const long before = g_allocations.load();
    e->train(200);  // crosses snapshot steps 64, 128 and 192, and snapshots at its start
    e->train(1);
    CHECK(g_allocations.load() == before);
    CHECK(!e->health().diverged);
    CHECK(e->step_count() == 205);
}
