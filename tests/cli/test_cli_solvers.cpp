// The solvers on the command line: dopri5 with --tolerance in train and sample (summary.json
// records its tolerance and NFE), its trajectories land on the frame times, bad tolerances exit 2.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "core/data/point_io.h"
#include "tests/test_support.h"

using namespace fmp::test;
namespace fs = std::filesystem;

namespace {

std::string read(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

}  // namespace

TEST_CASE("train and sample take dopri5 and its tolerance") {
    const fs::path d = fresh_dir("cli_solvers");
    const std::string run = (d / "run").string();
    CommandResult r = run_fmplay(
        "train --target moons --steps 200 --batch 128 --width 32 --depth 2 --samples 300 "
        "--engine cpu --quiet --solver dopri5 --tolerance 1e-3 --solver-steps 10 --out " +
        run);
    INFO(r.output);
    REQUIRE(r.code == 0);
    const auto summary = nlohmann::json::parse(read(d / "run" / "summary.json"));
    CHECK(summary["solver"] == "dopri5");
    CHECK(summary["solver_tolerance"].get<double>() == doctest::Approx(1e-3));
    // At least one step of 6 evaluations per frame, plus the first.
    CHECK(summary["solver_evaluations"].get<long long>() >= 10 * 7);

    const std::string model = (d / "run" / "model.json").string();
    const std::string out = (d / "s.csv").string(), traj = (d / "t.csv").string();
    r = run_fmplay("sample --engine cpu --model " + model +
                   " --n 200 --solver dopri5 --tolerance 1e-4 --out " + out);
    INFO(r.output);
    REQUIRE(r.code == 0);
    CHECK(r.output.find("dopri5, tolerance 0.0001") != std::string::npos);
    CHECK(r.output.find("evaluations") != std::string::npos);
    CHECK(fmp::load_points_csv(out).rows() == 200);

    // With --trajectories the 4 frames sit at t = 0, 0.25, 0.5, 0.75, 1 exactly.
    r = run_fmplay("sample --engine cpu --model " + model +
                   " --n 20 --solver dopri5 --steps 4 --out " + out + " --trajectories " + traj);
    INFO(r.output);
    REQUIRE(r.code == 0);
    const std::string csv = read(traj);
    for (const char* t : {",0,0,", ",1,0.25,", ",2,0.5,", ",3,0.75,", ",4,1,"})
        CHECK(csv.find(t) != std::string::npos);

    // The help says what the tolerance means.
    r = run_fmplay("sample --help");
    CHECK(r.output.find("--tolerance") != std::string::npos);
    CHECK(r.output.find("dopri5") != std::string::npos);
}

TEST_CASE("a tolerance out of range is an input error that names the flag") {
    const fs::path d = fresh_dir("cli_solvers_bad");
    for (const char* tol : {"0", "-1", "0.5", "1e-9", "nan"}) {
        CAPTURE(tol);
        CommandResult r = run_fmplay(
            "train --steps 1 --engine cpu --quiet --solver dopri5 "
            "--tolerance " +
            std::string(tol) + " --out " + (d / "run").string());
        CHECK(r.code == 2);
        CHECK(r.output.find("--tolerance") != std::string::npos);
        CHECK_FALSE(fs::exists(d / "run"));
    }
}
