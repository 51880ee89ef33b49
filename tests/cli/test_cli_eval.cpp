// `fmplay eval`: a small table end to end (CSV rows, Markdown table, reflow straighter than
// I-CFM), and bad tasks, methods and sizes as input errors.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tests/test_support.h"

using namespace fmp::test;
namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path& p) {
    std::ifstream f(p);
    REQUIRE_MESSAGE(f.good(), "cannot read " << p);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

std::vector<std::string> split(const std::string& line, char sep) {
    std::vector<std::string> out;
    std::stringstream in(line);
    std::string cell;
    while (std::getline(in, cell, sep)) out.push_back(cell);
    if (!line.empty() && line.back() == sep) out.emplace_back();
    return out;
}

}  // namespace

TEST_CASE("eval writes one CSV row per model and a Markdown table; reflow straightens I-CFM") {
    const fs::path d = fresh_dir("cli_eval");
    const CommandResult r = run_fmplay(
        "eval --tasks normal-8gaussians,moons-8gaussians --methods icfm,reflow --seeds 2 --steps "
        "300 "
        "--points 200 --reflow-pairs 2000 --width 32 --quiet --out '" +
        (d / "out").string() + "'");
    INFO(r.output);
    REQUIRE(r.code == 0);
    const std::string csv = read_text(d / "out" / "eval.csv");
    std::stringstream in(csv);
    std::string line;
    std::getline(in, line);
    CHECK(line == "task,method,seed,w2,w2_floor,npe,straightness,nll,train_seconds");
    // (task, method, seed) -> straightness; every figure finite except NLL for the moons source.
    std::map<std::string, double> straightness;
    int rows = 0;
    while (std::getline(in, line)) {
        const std::vector<std::string> c = split(line, ',');
        REQUIRE(c.size() == 9);
        ++rows;
        for (int k : {3, 4, 5, 6, 8})
            CHECK(std::isfinite(std::stod(c[static_cast<std::size_t>(k)])));
        CHECK(std::stod(c[3]) > 0.0);
        if (c[0] == "moons-8gaussians")
            CHECK(c[7].empty());
        else
            CHECK(std::isfinite(std::stod(c[7])));
        straightness[c[0] + "/" + c[1] + "/" + c[2]] = std::stod(c[6]);
    }
    CHECK(rows == 2 * 2 * 2);
    for (const char* task : {"normal-8gaussians", "moons-8gaussians"})
        for (const char* seed : {"1", "2"}) {
            const std::string k = std::string(task) + "/";
            CAPTURE(k);
            CHECK(straightness[k + "reflow/" + seed] < 0.25 * straightness[k + "icfm/" + seed]);
        }
    const std::string md = read_text(d / "out" / "eval.md");
    CHECK(md.find("| task | method | seeds | W2") != std::string::npos);
    CHECK(md.find("| normal-8gaussians | I-CFM | 2 |") != std::string::npos);
    CHECK(md.find("Reflow k=1") != std::string::npos);
    CHECK(md.find(" ± ") != std::string::npos);
    CHECK(md.find("—") != std::string::npos);  // the moons source's NLL
    CHECK(md.find("Tong et al.") != std::string::npos);
}

TEST_CASE("eval refuses bad tasks, methods and sizes with one line") {
    const fs::path d = fresh_dir("cli_eval_bad");
    const std::string out = " --out '" + (d / "x").string() + "'";
    for (const char* bad : {"--tasks normal", "--tasks normal-nothing", "--tasks -moons",
                            "--methods dsm", "--seeds 0", "--points 1", "--steps 0", "--sb-sigma 0",
                            "--euler-steps 0", "--reflow-pairs 0", "--width 3"}) {
        CAPTURE(bad);
        const CommandResult r = run_fmplay(std::string("eval --quiet ") + bad + out);
        CHECK(r.code == 2);
        CHECK(lines(r.output) == 1);
    }
    CHECK_FALSE(fs::exists(d / "x" / "eval.csv"));
}
