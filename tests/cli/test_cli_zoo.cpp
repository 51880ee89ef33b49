// The zoo from the command line: `train --prediction`, `sample --sde-gamma`, `render --sde-gamma`
// end to end, and their bad inputs.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "core/data/point_io.h"
#include "core/data/dataset.h"
#include "core/metrics/metrics.h"
#include "tests/json_test_support.h"
#include "tests/test_support.h"

using namespace fmp;
using namespace fmp::test;
namespace fs = std::filesystem;

TEST_CASE("train --prediction data/noise learns 8 gaussians and records what the network predicts") {
    const fs::path d = fresh_dir("cli_zoo");
    for (const char* prediction : {"data", "noise"}) {
        CAPTURE(prediction);
        const fs::path out = d / prediction;
        const CommandResult r = run_fmplay(std::string("train --target 8gaussians --steps 3000 --width 64 --samples 800 "
                                                       "--engine cpu --quiet --prediction ") +
                                           prediction + " --out " + quoted(out));
        INFO(r.output);
        REQUIRE(r.code == 0);
        CHECK(read_json(out / "model.json")["mlp"]["prediction"] == prediction);
        const nlohmann::json summary = read_json(out / "summary.json");
        CHECK(summary["prediction"] == prediction);
        // The samples (converted velocity, midpoint) land on the modes: far below an untrained
        // network's W2 (about 2.5 for this target).
        CHECK(summary["w2_to_held_out_target"].get<double>() < 0.8);
    }
    // The SDE sampler from that model: its samples match the ODE's within a loose bound.
    const fs::path model = d / "data" / "model.json";
    const CommandResult ode = run_fmplay("sample --model " + quoted(model) + " --n 1500 --steps 100 --solver rk4 --engine cpu --out " + quoted(d / "ode.csv"));
    const CommandResult sde = run_fmplay("sample --model " + quoted(model) + " --n 1500 --steps 200 --sde-gamma 1.5 --engine cpu --out " +
                                         quoted(d / "sde.csv") + " --trajectories " + quoted(d / "sde_paths.csv"));
    INFO(sde.output);
    REQUIRE(ode.code == 0);
    REQUIRE(sde.code == 0);
    CHECK(sde.output.find("SDE: Euler–Maruyama, 200 steps") != std::string::npos);
    const Points a = load_points_csv((d / "ode.csv").string()), b = load_points_csv((d / "sde.csv").string());
    Rng rng(4);
    const Points target = Dataset(DatasetKind::EightGaussians).sample(1500, rng);
    const double sde_to_ode = sliced_wasserstein2(a, b, 128, 3);
    const double ode_to_target = sliced_wasserstein2(a, target, 128, 3);
    MESSAGE("SW2(SDE, ODE) " << sde_to_ode << ", SW2(ODE, target) " << ode_to_target);
    CHECK(sde_to_ode < 0.25);
    CHECK(fs::file_size(d / "sde_paths.csv") > 1500u * 201u * 10u);
}

TEST_CASE("the zoo's bad inputs are one-line errors") {
    const fs::path d = fresh_dir("cli_zoo_bad");
    check_one_error(run_fmplay("train --prediction score --steps 10 --out " + quoted(d / "a")), "prediction");
    check_one_error(run_fmplay("train --prediction data --coupling sb --steps 10 --engine cpu --out " + quoted(d / "b")),
                    "Schroedinger-bridge");
    // A moons-source model has no score from Tweedie's formula.
    const CommandResult m = run_fmplay("train --source moons --target 8gaussians --steps 20 --width 16 --samples 50 "
                                       "--engine cpu --quiet --out " + quoted(d / "moons"));
    REQUIRE(m.code == 0);
    check_one_error(run_fmplay("sample --model " + quoted(d / "moons" / "model.json") + " --sde-gamma 1 --out " + quoted(d / "s.csv")),
                    "normal source");
    const CommandResult n = run_fmplay("train --target moons --steps 20 --width 16 --samples 50 --engine cpu --quiet --out " +
                                       quoted(d / "normal"));
    REQUIRE(n.code == 0);
    check_one_error(run_fmplay("sample --model " + quoted(d / "normal" / "model.json") + " --sde-gamma 7 --out " + quoted(d / "s.csv")),
                    "gamma");
    check_one_error(run_fmplay("render --model " + quoted(d / "normal" / "model.json") + " --sde-gamma 9 --quiet --out " + quoted(d / "r.png")),
                    "sde_gamma");
    check_one_error(run_fmplay("render --model " + quoted(d / "moons" / "model.json") + " --sde-gamma 1 --quiet --out " + quoted(d / "r.png")),
                    "normal source");
}

TEST_CASE("train --classes and sample --class --guidance: class-conditional flows from the command line") {
    const fs::path d = fresh_dir("cli_zoo_classes");
    const CommandResult r = run_fmplay("train --target 8gaussians --classes --steps 3000 --width 64 --samples 300 "
                                       "--quiet --out " + quoted(d / "m"));
    INFO(r.output);
    REQUIRE(r.code == 0);
    // Both engines train classes: auto picks as for any network (the CPU engine on llvmpipe).
    CHECK((r.output.find("on CPU") != std::string::npos || r.output.find("on GPU: ") != std::string::npos));
    CHECK(read_json(d / "m" / "model.json")["mlp"]["classes"] == 8);
    CHECK(read_json(d / "m" / "summary.json")["classes"] == 8);
    const std::string model = quoted(d / "m" / "model.json");
    const CommandResult s = run_fmplay("sample --model " + model + " --class 2 --n 500 --steps 20 --solver rk4 --out " +
                                       quoted(d / "c2.csv"));
    INFO(s.output);
    REQUIRE(s.code == 0);
    const Points x = load_points_csv((d / "c2.csv").string());
    int near = 0;
    for (int i = 0; i < x.rows(); ++i) near += (x.row(i) - Eigen::RowVector2f(0.0f, 2.5f)).norm() < 1.0f;
    CHECK(near > 450);  // class 2 is the mode at angle pi/2
    CHECK(run_fmplay("sample --model " + model + " --class 2 --guidance 3 --n 50 --out " + quoted(d / "g.csv")).code == 0);
    check_one_error(run_fmplay("sample --model " + model + " --class 8 --out " + quoted(d / "x.csv")), "class 8");
    check_one_error(run_fmplay("sample --model " + model + " --class 1 --guidance 11 --out " + quoted(d / "x.csv")),
                    "guidance");
    check_one_error(run_fmplay("train --target spirals --classes --steps 5 --out " + quoted(d / "s")), "no classes");
    check_one_error(run_fmplay("train --reflow-from " + model + " --steps 5 --out " + quoted(d / "r")), "class-conditional");
    // A CSV with a class column trains with its classes.
    {
        std::ofstream f(d / "two.csv");
        f << "x,y,class\n";
        for (int i = 0; i < 200; ++i) f << (i % 2 ? 2.0 : -2.0) << "," << 0.01 * (i % 7) << "," << i % 2 << "\n";
    }
    const CommandResult c = run_fmplay("train --target " + quoted(d / "two.csv") + " --classes --steps 300 --width 32 "
                                       "--samples 100 --quiet --out " + quoted(d / "csv"));
    INFO(c.output);
    CHECK(c.code == 0);
    CHECK(read_json(d / "csv" / "model.json")["mlp"]["classes"] == 2);
}
