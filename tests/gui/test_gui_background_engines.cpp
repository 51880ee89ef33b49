// The window's background engines on the GPU (a headless context made on the job's thread) against
// the CPU engine: the instruments worker's error map, likelihood grid and losses, reflow pairs.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "app/gui/background_engine.h"
#include "app/gui/instrument_worker.h"
#include "core/instruments/reflow.h"
#include "core/nn/mlp.h"
#include "tests/mlp_test_support.h"

using namespace fmp;
using namespace fmp::test;

TEST_CASE("the instruments on the worker's own GL engine: the CPU engine's error map, likelihood and losses") {
    FlowSpec spec;
    spec.source = Dataset(DatasetKind::Normal);
    spec.target = Dataset(DatasetKind::EightGaussians);
    spec.path = ProbabilityPath(PathKind::CondOT);
    spec.seed = 3;
    const MlpConfig mlp = mlp_config(32, 2, Activation::SiLU);
    const auto params = std::make_shared<const std::vector<float>>(mlp_init_params(mlp, 7));
    InstrumentWants wants;
    wants.error_map = true;
    wants.error.t = 0.6f;
    wants.error.grid.nx = wants.error.grid.ny = 20;
    wants.likelihood = true;
    wants.likelihood_grid.nx = wants.likelihood_grid.ny = 10;
    wants.losses = true;

    InstrumentWorker cpu(false), gpu(true);
    for (InstrumentWorker* w : {&cpu, &gpu}) {
        w->set_model(spec, mlp);
        w->set_params(params, 1, 0);
        w->want(wants);
    }
    REQUIRE(cpu.wait_until_ready(300.0));
    REQUIRE(gpu.wait_until_ready(300.0));
    CHECK(cpu.error().empty());
    CHECK(gpu.error().empty());
    MESSAGE("instruments computed on: " << gpu.engine_label());
    CHECK(cpu.engine_label() == "CPU");
    CHECK(gpu.engine_label().rfind("GPU: ", 0) == 0);

    const auto map_cpu = cpu.error_map(), map_gpu = gpu.error_map();
    REQUIRE(map_cpu);
    REQUIRE(map_gpu);
    CHECK(map_gpu->weighted_mean == doctest::Approx(map_cpu->weighted_mean).epsilon(1e-3));
    CHECK(map_gpu->max_error == doctest::Approx(map_cpu->max_error).epsilon(1e-3));
    CHECK((map_gpu->log_density - map_cpu->log_density).cwiseAbs().maxCoeff() < 1e-2f);

    const auto lik_cpu = cpu.likelihood(), lik_gpu = gpu.likelihood();
    REQUIRE(lik_cpu);
    REQUIRE(lik_gpu);
    REQUIRE(lik_gpu->log_p.size() == 100);
    CHECK((lik_gpu->log_p - lik_cpu->log_p).cwiseAbs().maxCoeff() < 1e-2f);
    CHECK(lik_cpu->log_p.maxCoeff() - lik_cpu->log_p.minCoeff() > 1.0f);

    const auto losses_cpu = cpu.loss_history(), losses_gpu = gpu.loss_history();
    REQUIRE(!losses_cpu.empty());
    REQUIRE(!losses_gpu.empty());
    CHECK(losses_gpu[0].losses.cfm == doctest::Approx(losses_cpu[0].losses.cfm).epsilon(1e-3));
    CHECK(losses_gpu[0].losses.fm == doctest::Approx(losses_cpu[0].losses.fm).epsilon(1e-3));
    CHECK(losses_gpu[0].nll == doctest::Approx(losses_cpu[0].nll).epsilon(1e-3));
}

TEST_CASE("a background engine: the GPU in a context of the thread's own, else the CPU; reflow pairs alike") {
    FlowSpec spec;
    spec.source = Dataset(DatasetKind::Normal);
    spec.target = Dataset(DatasetKind::Moons);
    TrainConfig config;
    config.mlp = mlp_config(32, 2, Activation::SiLU);
    const std::vector<float> params = mlp_init_params(config.mlp, 5);
    ReflowPairs pairs[2];
    std::string labels[2];
    // Each on a thread of its own, as the window's jobs run: the context is made there.
    for (int gpu = 0; gpu < 2; ++gpu) {
        std::thread job([&, gpu] {
            BackgroundEngine background(gpu == 1);
            labels[gpu] = background.label();
            CHECK(background.on_gpu() == (gpu == 1));
            CHECK(background.engine().kind() == (gpu ? EngineKind::Gl : EngineKind::Cpu));
            background.engine().reset(config, spec.source, spec.target);
            background.engine().set_params(params);
            pairs[gpu] = generate_reflow_pairs(background.engine(), spec.path, spec.source, 300,
                                               IntegrationSettings{SolverKind::RK4, 16}, 9);
        });
        job.join();
    }
    MESSAGE("background engines: " << labels[0] << " | " << labels[1]);
    CHECK(labels[0] == "CPU");
    CHECK(labels[1].rfind("GPU: ", 0) == 0);
    REQUIRE(pairs[1].x1.rows() == 300);
    CHECK(pairs[1].x0 == pairs[0].x0);
    CHECK((pairs[1].x1 - pairs[0].x1).cwiseAbs().maxCoeff() < 1e-3f);
    CHECK((pairs[0].x1 - pairs[0].x0).cwiseAbs().maxCoeff() > 0.1f);  // the flow moved them
}
