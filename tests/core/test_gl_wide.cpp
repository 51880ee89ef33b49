// The GL engine's wide-network pipeline (width >= 256: per-layer GEMMs over the whole batch)
// against the CPU engine: losses, gradients, dL/dx, Adam steps, GPU-sampled training, the guard.
#include <doctest/doctest.h>

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "core/base/rng.h"
#include "core/engine/engine.h"
#include "core/engine/gl/gl_engine.h"
#include "tests/gl_test_support.h"
#include "tests/batch_test_support.h"
#include "tests/mlp_test_support.h"

using namespace fmp;
using namespace fmp::test;

namespace {

float rel(const std::vector<float>& a, const std::vector<float>& b) {
    REQUIRE(a.size() == b.size());
    return rel_err(a.data(), b.data(), a.size(), 1e-6f);
}
float rel(const Points& a, const Points& b) {
    REQUIRE(a.rows() == b.rows());
    return rel_err(a.data(), b.data(), std::size_t(a.size()), 1e-6f);
}

// Every class, and the null class both as -1 and as K.
Batch class_batch(int b, Rng& rng, int classes) {
    Batch batch = random_batch(b, rng);
    if (classes > 0)
        for (int i = 0; i < b; ++i) batch.classes.push_back(i % (classes + 2) - 1);
    return batch;
}

TrainConfig wide_config(int width, int depth, TimeEncoding enc, int classes, int batch) {
    TrainConfig c;
    c.mlp = mlp_config(width, depth, Activation::SiLU, enc, 3);
    c.mlp.classes = classes;
    c.batch = batch;
    c.seed = 9;
    return c;
}

const Dataset k_source(DatasetKind::Normal);
const Dataset k_target(DatasetKind::EightGaussians);

}  // namespace

TEST_CASE("GL wide pipeline: loss, gradients and dL/dx match the CPU engine over many blocks and slices") {
    make_gl_current("GL wide pipeline tests");
    Rng rng(3);
    struct Case {
        std::string name;
        TrainConfig config;
        int rows;
    };
    // 600 rows: five 128-row GEMM blocks (the last partial), three weight-gradient slices of
    // 200; 1100 rows: five slices. Widths past a multiple of 64 leave partial column blocks.
    const Case cases[] = {
        {"w256 d3 raw", wide_config(256, 3, TimeEncoding::Raw, 0, 600), 600},
        {"w256 d2 fourier, 3 classes", wide_config(256, 2, TimeEncoding::Fourier, 3, 600), 600},
        {"w300 d1 raw", wide_config(300, 1, TimeEncoding::Raw, 0, 1100), 1100},
    };
    auto gl = make_gl_engine();
    auto cpu = make_cpu_engine();
    for (const Case& c : cases) {
        CAPTURE(c.name);
        gl->reset(c.config, k_source, k_target);
        cpu->reset(c.config, k_source, k_target);
        std::optional<GlGridReport> report = gl_grid_report(*gl, c.rows);
        REQUIRE(report.has_value());
        CHECK(report->wide_layers);
        CHECK(report->grid.groups == (c.rows + 255) / 256);
        const Batch batch = class_batch(c.rows, rng, c.config.mlp.classes);
        std::vector<float> g_gl, g_cpu;
        Points dx_gl, dx_cpu;
        const float loss_gl = gl->gradients(batch, g_gl, &dx_gl);
        const float loss_cpu = cpu->gradients(batch, g_cpu, &dx_cpu);
        MESSAGE(c.name << ": loss rel " << std::abs(loss_gl - loss_cpu) / loss_cpu << ", grads rel "
                       << rel(g_gl, g_cpu) << ", dL/dx rel " << rel(dx_gl, dx_cpu));
        CHECK(std::abs(loss_gl - loss_cpu) / loss_cpu < 2e-5f);
        CHECK(rel(g_gl, g_cpu) < 1e-4f);
        CHECK(rel(dx_gl, dx_cpu) < 1e-4f);
        CHECK(gl->step_count() == 0);
        check_no_gl_messages();
    }
}

TEST_CASE("GL wide pipeline: Adam steps on given batches track the CPU engine; sampled training learns") {
    make_gl_current("GL wide pipeline tests");
    Rng rng(5);
    TrainConfig config = wide_config(256, 2, TimeEncoding::Raw, 0, 300);
    auto gl = make_gl_engine();
    auto cpu = make_cpu_engine();
    gl->reset(config, k_source, k_target);
    cpu->reset(config, k_source, k_target);
    for (int step = 0; step < 4; ++step) {
        const Batch batch = random_batch(300, rng);
        const float a = gl->train_on_batch(batch);
        const float b = cpu->train_on_batch(batch);
        CHECK(std::abs(a - b) / b < 1e-4f);
    }
    CHECK(gl->step_count() == 4);
    CHECK(rel(gl->params(), cpu->params()) < 1e-4f);

    // GPU-sampled batches: the losses come back through the ring and fall.
    config.batch = 512;
    config.optimizer.lr = 3e-3f;
    gl->reset(config, k_source, k_target);
    gl->train(120);
    std::vector<LossRecord> losses = gl->take_losses();
    gl->health(true);
    for (const LossRecord& r : gl->take_losses()) losses.push_back(r);
    REQUIRE(losses.size() == 120);
    double first = 0, last = 0;
    for (int i = 0; i < 10; ++i) first += losses[static_cast<std::size_t>(i)].loss;
    for (int i = 110; i < 120; ++i) last += losses[static_cast<std::size_t>(i)].loss;
    MESSAGE("wide sampled training: mean loss of steps 1-10 " << first / 10 << ", 111-120 " << last / 10);
    CHECK(last < 0.8 * first);
    const LossByTime by_t = gl->loss_by_time();
    for (float v : by_t) CHECK(std::isfinite(v));
    check_no_gl_messages();
}

TEST_CASE("GL wide pipeline: a diverging step is caught on the GPU and rolled back") {
    make_gl_current("GL wide pipeline tests");
    TrainConfig config = wide_config(256, 2, TimeEncoding::Raw, 0, 256);
    auto gl = make_gl_engine();
    gl->reset(config, k_source, k_target);
    gl->train(5);
    gl->health(true);
    const std::vector<float> good = gl->params();
    // Weights so large that the forward pass overflows: the loss is not finite.
    std::vector<float> huge = good;
    for (float& w : huge) w = 1e18f;
    gl->set_params(huge);
    gl->train(3);
    const TrainHealth h = gl->health(true);
    CHECK(h.diverged);
    CHECK(h.cause == DivergenceCause::LossNotFinite);
    for (const LossRecord& r : gl->take_losses()) CHECK(std::isfinite(r.loss));
    // Rolled back to the state set_params made the rollback point.
    CHECK(gl->params() == huge);
    check_no_gl_messages();
}
