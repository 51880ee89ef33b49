// The window's instruments worker on a GL engine of its own (a headless context made on its thread)
// against the same worker on the CPU engine: the error map, the likelihood grid and the losses.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "app/gui/instrument_worker.h"
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
