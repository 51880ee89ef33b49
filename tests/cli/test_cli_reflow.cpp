// `fmplay train --reflow-from`: a reflow generation end to end, its model and summary, bad inputs.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/json_test_support.h"
#include "tests/test_support.h"

using namespace fmp::test;
namespace fs = std::filesystem;

namespace {

const std::string k_small = " --width 32 --samples 300 --engine cpu --quiet";

CommandResult train(const std::string& args, const fs::path& out) {
    return run_fmplay("train" + args + " --out " + quoted(out));
}

}  // namespace

TEST_CASE("train --reflow-from trains generation k + 1 on its parent's pairs") {
    const fs::path d = fresh_dir("cli_reflow");
    CommandResult r0 = train(" --target 8gaussians --steps 400" + k_small, d / "k0");
    INFO(r0.output);
    REQUIRE(r0.code == 0);
    CHECK(r0.output.find("straightness") != std::string::npos);
    const nlohmann::json s0 = read_json(d / "k0" / "summary.json");
    CHECK(read_json(d / "k0" / "model.json")["reflow"] == 0);
    // Every run reports the straightness and the few-step W2s; only reflow runs the reflow keys.
    for (const char* key : {"straightness", "w2_euler_1", "w2_euler_2", "w2_euler_4"})
        CHECK_MESSAGE(s0[key].is_number(), key);
    CHECK_FALSE(s0.contains("reflow"));

    CommandResult r1 =
        train(" --reflow-from " + quoted(d / "k0" / "model.json") +
                  " --steps 400 --reflow-pairs 3000 --samples 300 --engine cpu --quiet",
              d / "k1");
    INFO(r1.output);
    REQUIRE(r1.code == 0);
    CHECK(r1.output.find("straightness") != std::string::npos);
    CHECK(r1.output.find("reflow 1") != std::string::npos);
    // The model records its parent's network, path and original datasets, so it samples like any
    // model; its coupling is paired and its generation 1.
    const nlohmann::json m1 = read_json(d / "k1" / "model.json");
    CHECK(m1["reflow"] == 1);
    CHECK(m1["coupling"] == "paired");
    CHECK(m1["source"]["name"] == "normal");
    CHECK(m1["target"]["name"] == "8gaussians");
    CHECK_FALSE(m1["source"].contains("points"));
    CHECK(m1["mlp"]["width"] == 32);
    const nlohmann::json s1 = read_json(d / "k1" / "summary.json");
    CHECK(s1["reflow"] == 1);
    CHECK(s1["reflow_pairs"] == 3000);
    CHECK(s1["reflow_pairs_seconds"].get<double>() >= 0.0);
    CHECK(s1["coupling"] == "paired");
    // The evaluation is against the original source and target, not the pair sets.
    CHECK(s1["source"] == "normal");
    CHECK(s1["target"] == "8gaussians");
    CHECK(s1["width"] == 32);
    MESSAGE("straightness k=0 " << s0["straightness"] << ", k=1 " << s1["straightness"]
                                << "; W2 with 1 Euler step " << s0["w2_euler_1"] << " -> "
                                << s1["w2_euler_1"]);
    CHECK(s1["straightness"].get<double>() < s0["straightness"].get<double>());
    CHECK(s1["w2_euler_1"].get<double>() < s0["w2_euler_1"].get<double>());

    CommandResult s = run_fmplay("sample --engine cpu --n 200 --model " +
                                 quoted(d / "k1" / "model.json") + " --out " + quoted(d / "k1_samples.csv"));
    INFO(s.output);
    CHECK(s.code == 0);
    CHECK(fs::exists(d / "k1_samples.csv"));

    // Generation 2 from generation 1, from fresh weights, with flags that agree with the model.
    CommandResult r2 = train(" --reflow-from " + quoted(d / "k1" / "model.json") +
                                 " --reflow-init fresh --reflow-solver euler --reflow-steps 4"
                                 " --width 32 --target 8gaussians --steps 50 --reflow-pairs 500"
                                 " --samples 100 --engine cpu --quiet",
                             d / "k2");
    INFO(r2.output);
    REQUIRE(r2.code == 0);
    CHECK(read_json(d / "k2" / "model.json")["reflow"] == 2);
    const nlohmann::json s2 = read_json(d / "k2" / "summary.json");
    CHECK(s2["reflow_init"] == "fresh");
    CHECK(s2["reflow_solver"] == "euler");
}

TEST_CASE("train --reflow-from: bad inputs are one-line errors, exit 2") {
    const fs::path d = fresh_dir("cli_reflow_bad");
    CommandResult r0 =
        train(" --target moons --steps 20 --width 16 --depth 1 --samples 50 --engine cpu --quiet",
              d / "k0");
    INFO(r0.output);
    REQUIRE(r0.code == 0);
    const std::string model = " --reflow-from " + quoted(d / "k0" / "model.json");
    const std::string tail = " --steps 5 --samples 20 --engine cpu --quiet --out " + quoted(d / "bad");

    check_one_error(run_fmplay("train --reflow-from " + quoted(d / "missing.json") + tail),
                    "--reflow-from");
    {
        std::ofstream f(d / "not_a_model.json");
        f << "{\"format\": \"something else\"}\n";
    }
    check_one_error(run_fmplay("train --reflow-from " + quoted(d / "not_a_model.json") + tail),
                    "--reflow-from");
    check_one_error(run_fmplay("train --reflow-from " + quoted(d / "k0" / "samples.csv") + tail),
                    "--reflow-from");
    check_one_error(run_fmplay("train" + model + " --reflow-pairs 0" + tail), "--reflow-pairs");
    check_one_error(run_fmplay("train" + model + " --reflow-pairs 1000001" + tail),
                    "--reflow-pairs");
    check_one_error(run_fmplay("train" + model + " --reflow-steps 0" + tail), "--reflow-steps");
    check_one_error(run_fmplay("train" + model + " --reflow-solver leapfrog" + tail), "leapfrog");
    check_one_error(run_fmplay("train" + model + " --reflow-init lukewarm" + tail),
                    "--reflow-init");
    // The network, path and datasets are the parent's: another value is refused, not ignored.
    check_one_error(run_fmplay("train" + model + " --width 64" + tail), "--width");
    check_one_error(run_fmplay("train" + model + " --depth 3" + tail), "--depth");
    check_one_error(run_fmplay("train" + model + " --path ve" + tail), "--path");
    check_one_error(run_fmplay("train" + model + " --target 8gaussians" + tail), "--target");
    check_one_error(run_fmplay("train" + model + " --coupling ot" + tail), "--coupling");
    // The reflow flags need --reflow-from.
    check_one_error(run_fmplay("train --reflow-pairs 100" + tail), "--reflow-from");
    CHECK_FALSE(fs::exists(d / "bad"));

    CommandResult help = run_fmplay("train --help");
    for (const char* flag :
         {"--reflow-from", "--reflow-pairs", "--reflow-solver", "--reflow-steps", "--reflow-init"})
        CHECK_MESSAGE(help.output.find(flag) != std::string::npos, flag);
}
