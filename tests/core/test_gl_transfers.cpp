// The GL engine's traffic with the host (mapped rings, no hidden syncs) and the grid it sizes
// to the GPU: counted on llvmpipe, the arithmetic checked for a GPU this machine does not have.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "core/engine/engine.h"
#include "core/engine/gl/gl_buffers.h"
#include "core/engine/gl/gl_engine.h"
#include "core/engine/gl/gpu_grid.h"
#include "tests/gl_test_support.h"
#include "tests/mlp_test_support.h"

using namespace fmp;
using namespace fmp::test;

namespace {

TrainConfig small_config(CouplingKind coupling) {
    TrainConfig c;
    c.mlp = mlp_config(32, 2, Activation::SiLU);
    c.batch = 64;
    c.seed = 11;
    c.coupling = coupling;
    return c;
}

const Dataset k_source(DatasetKind::Normal);
const Dataset k_target(DatasetKind::Moons);

GlTransferCounters operator-(GlTransferCounters a, const GlTransferCounters& b) {
    a.blocking_reads -= b.blocking_reads;
    a.ring_reads -= b.ring_reads;
    a.ring_uploads -= b.ring_uploads;
    a.upload_waits -= b.upload_waits;
    a.sub_data_uploads -= b.sub_data_uploads;
    a.get_sub_data_reads -= b.get_sub_data_reads;
    a.allocations -= b.allocations;
    return a;
}

// Trains `total` steps in calls of `chunk`, taking the losses after every call.
std::vector<LossRecord> train_in_chunks(Engine& engine, int total, int chunk) {
    std::vector<LossRecord> all;
    for (int done = 0; done < total; done += chunk) {
        engine.train(std::min(chunk, total - done));
        for (const LossRecord& r : engine.take_losses()) all.push_back(r);
    }
    engine.health(true);  // waits for the last fences, reads them from the mirror
    for (const LossRecord& r : engine.take_losses()) all.push_back(r);
    return all;
}

}  // namespace

TEST_CASE("GL training with an uploaded coupling moves batches and losses only through mapped rings") {
    make_gl_current("GL transfer tests");
    REQUIRE(gl_has_buffer_storage());  // Mesa and every current GPU driver have it
    auto engine = make_gl_engine();
    engine->reset(small_config(CouplingKind::MinibatchOT), k_source, k_target);
    engine->train(10);  // every upload slot allocated once
    engine->health(true);
    (void)engine->take_losses();
    const GlTransferCounters before = gl_transfer_counters(*engine);
    const std::vector<LossRecord> losses = train_in_chunks(*engine, 300, 50);
    const GlTransferCounters d = gl_transfer_counters(*engine) - before;
    // Every batch went into a mapped slot, every loss came from the mirror: nothing waited for
    // the GPU and nothing was written with glBufferSubData on the way.
    MESSAGE("300 OT steps: " << d.ring_uploads << " ring uploads (" << d.upload_waits << " waited), "
                              << d.sub_data_uploads << " glBufferSubData, " << d.blocking_reads
                              << " blocking reads, " << d.ring_reads << " mirror reads");
    CHECK(d.ring_uploads == 300);
    CHECK(d.sub_data_uploads == 0);
    CHECK(d.blocking_reads == 0);
    CHECK(d.ring_reads >= 6);
    CHECK(d.allocations == 0);
    CHECK(gl_transfer_counters(*engine).get_sub_data_reads == 0);
    REQUIRE(losses.size() == 300);
    for (std::size_t i = 0; i < losses.size(); ++i) {
        CHECK(losses[i].step == int64_t(i) + 11);
        CHECK(std::isfinite(losses[i].loss));
    }
    // A result the caller needs now is one counted blocking read, never glGetBufferSubData.
    (void)engine->params();
    CHECK((gl_transfer_counters(*engine) - before).blocking_reads == 1);
    CHECK(gl_transfer_counters(*engine).get_sub_data_reads == 0);
    check_no_gl_messages();
}

TEST_CASE("GL losses read through the mirror are the same whether taken every step or across the ring's wrap") {
    make_gl_current("GL transfer tests");
    // 1100 steps wrap the 1024-entry loss ring; one engine is read after every few steps, the
    // other once at the end (forcing the engine to drain the ring before it would overwrite).
    const int steps = 1100;
    auto a = make_gl_engine();
    auto b = make_gl_engine();
    TrainConfig config = small_config(CouplingKind::Independent);
    config.batch = 32;
    a->reset(config, k_source, k_target);
    b->reset(config, k_source, k_target);
    const std::vector<LossRecord> la = train_in_chunks(*a, steps, 7);
    const std::vector<LossRecord> lb = train_in_chunks(*b, steps, steps);
    REQUIRE(la.size() == std::size_t(steps));
    REQUIRE(lb.size() == std::size_t(steps));
    int same = 0;
    for (int i = 0; i < steps; ++i) {
        CHECK(la[std::size_t(i)].step == i + 1);
        CHECK(lb[std::size_t(i)].step == i + 1);
        same += la[std::size_t(i)].loss == lb[std::size_t(i)].loss;
    }
    CHECK(same == steps);
    CHECK(a->params() == b->params());
    check_no_gl_messages();
}

TEST_CASE("the training grid fills an H200's SMs and keeps the old rule where the SM count is unknown") {
    GpuShape h200;
    h200.sm_count = 132;
    h200.warps_per_sm = 64;
    h200.warp_size = 32;
    h200.max_shared_bytes = 48 * 1024;
    h200.sm_shared_bytes = sm_shared_bytes_for("NVIDIA H200/PCIe/SSE2");
    CHECK(h200.sm_shared_bytes == 228 * 1024);
    CHECK(sm_shared_bytes_for("llvmpipe (LLVM 15.0.6, 256 bits)") == 64 * 1024);
    CHECK(sm_shared_bytes_for("NVIDIA GeForce RTX 4090/PCIe/SSE2") == 100 * 1024);
    const std::size_t budget = std::size_t(64) << 20;

    // W256, B16384: tile 32 with 32 x (2 x 256 + 10) floats of activations = 66.9 KB per group,
    // so 3 groups per SM by shared memory (8 by warp slots): 396 resident groups loop over 512
    // tiles; occupancy 24 of 64 warps.
    const std::size_t p256 = mlp_config(256, 3, Activation::SiLU).parameter_count();
    const std::size_t shared256 = std::size_t(32) * (2 * 256 + 10) * 4 + 64;
    TrainGrid g = choose_train_grid(h200, 16384, 32, 256, p256, shared256, budget);
    CHECK(g.groups_per_sm == 3);
    CHECK(g.groups == 396);
    CHECK(g.occupancy == doctest::Approx(24.0 / 64.0));
    CHECK(g.partial_floats == 396 * p256);
    CHECK(g.reason.find("shared memory") != std::string::npos);

    // W64, B256: 8 tiles, one per group (the grid never exceeds the tiles).
    TrainGrid small = choose_train_grid(h200, 256, 32, 256, 4610, std::size_t(32) * 138 * 4 + 64, budget);
    CHECK(small.groups == 8);
    CHECK(small.groups_per_sm == 8);

    // W128, B16384 as the engine builds it: 32-row tiles of 8 x 4 outputs per invocation on
    // four warps (WG 128), 32 x (2 x 128 + 10) floats of activations, 128 of output partial sums
    // and a 16 x 128 weight panel = 41.8 KiB: 5 groups per SM by shared memory (16 by warp
    // slots), 20 of 64 warps; 660 resident groups cover the 512 tiles in one wave.
    const std::size_t p128 = mlp_config(128, 3, Activation::SiLU).parameter_count();
    const std::size_t shared128 = std::size_t(32) * (2 * 128 + 10) * 4 + 128 * 4 + 16 * 128 * 4 + 64;
    TrainGrid g128 = choose_train_grid(h200, 16384, 32, 128, p128, shared128, budget);
    CHECK(g128.groups_per_sm == 5);
    CHECK(g128.occupancy == doctest::Approx(20.0 / 64.0));
    CHECK(g128.groups == 512);

    // A gradient-slice budget smaller than the grid bounds it.
    TrainGrid tight = choose_train_grid(h200, 16384, 32, 256, p256, shared256, 100 * p256);
    CHECK(tight.groups == 100);
    CHECK(tight.reason.find("memory") != std::string::npos);

    // No SM count (Mesa, AMD): as many groups as tiles up to the budget, as before.
    GpuShape unknown;
    TrainGrid u = choose_train_grid(unknown, 16384, 32, 256, p256, shared256, std::size_t(16) << 20);
    CHECK(u.groups == int((std::size_t(16) << 20) / p256));
    CHECK(u.groups_per_sm == 0);
    CHECK(u.occupancy == 0.0);
    CHECK(describe_gpu_shape(h200).find("132 SMs x 64 warps of 32") == 0);
    // Subgroup reductions only with arithmetic in the compute stage.
    CHECK_FALSE(gpu_subgroup_reductions(h200));
    CHECK(describe_gpu_shape(h200).find("no KHR subgroups") != std::string::npos);
    h200.subgroup_size = 32;
    h200.subgroup_arithmetic = true;
    CHECK_FALSE(gpu_subgroup_reductions(h200));
    h200.subgroup_compute = true;
    CHECK(gpu_subgroup_reductions(h200));
    CHECK(describe_gpu_shape(h200).find("subgroups of 32 (reductions use subgroupAdd)") != std::string::npos);
    CHECK(describe_gpu_shape(unknown).find("SM count not reported") == 0);
}

TEST_CASE("a GL engine reports the GPU it found and the grid it launches") {
    make_gl_current("GL transfer tests");
    auto engine = make_gl_engine();
    TrainConfig config = small_config(CouplingKind::Independent);
    config.batch = 1000;
    engine->reset(config, k_source, k_target);
    std::optional<GlGridReport> report = gl_grid_report(*engine, 1000);
    REQUIRE(report.has_value());
    CHECK(report->gpu.max_shared_bytes >= 32768);
    CHECK(report->grid.groups >= 1);
    CHECK(report->grid.groups <= (1000 + 31) / 32);
    CHECK(report->grid.partial_floats == std::size_t(report->grid.groups) * config.mlp.parameter_count());
    // llvmpipe reports no SM count: the grid is the tile count (32 tiles of 32 rows here).
    if (report->gpu.sm_count == 0) CHECK(report->grid.groups == 32);
    auto cpu = make_cpu_engine();
    CHECK_FALSE(gl_grid_report(*cpu, 1000).has_value());
    check_no_gl_messages();
}

TEST_CASE("GL recent_params: weights a few steps old without waiting, never an earlier network's") {
    make_gl_current("GL transfer tests");
    auto engine = make_gl_engine();
    TrainConfig config = small_config(CouplingKind::Independent);
    engine->reset(config, k_source, k_target);
    engine->train(20);
    std::vector<float> w;
    int64_t step = -1;
    const GlTransferCounters before = gl_transfer_counters(*engine);
    CHECK_FALSE(engine->recent_params(w, step));  // the first call only asks for a copy
    engine->health(true);                          // its fence came after the steps: now done
    engine->train(30);                             // more steps queued behind the copy
    REQUIRE(engine->recent_params(w, step));
    CHECK(step == 20);
    CHECK((gl_transfer_counters(*engine) - before).blocking_reads == 0);
    // The weights of step 20: the same run stopped there gives them.
    auto twin = make_gl_engine();
    twin->reset(config, k_source, k_target);
    twin->train(20);
    CHECK(w == twin->params());
    // A copy in flight when the weights are replaced is dropped: the next call asks again.
    std::vector<float> replaced = engine->params();
    for (float& x : replaced) x *= 0.5f;
    engine->set_params(replaced);
    CHECK_FALSE(engine->recent_params(w, step));
    (void)engine->params();  // waits for everything queued
    REQUIRE(engine->recent_params(w, step));
    CHECK(w == replaced);
    CHECK(step == 50);
    // The CPU engine's are the current ones.
    auto cpu = make_cpu_engine();
    cpu->reset(config, k_source, k_target);
    cpu->train(3);
    REQUIRE(cpu->recent_params(w, step));
    CHECK(step == 3);
    CHECK(w == cpu->params());
    check_no_gl_messages();
}
