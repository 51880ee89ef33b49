// Hostile and careless command lines: outputs that are inputs, pipes as files, odd names in the
// summary, parser errors, and the run directory written as a whole (kill -9, concurrent runs).
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "core/nn/model_file.h"
#include "tests/test_support.h"

using namespace fmp::test;
namespace fs = std::filesystem;

namespace {

const std::string k_quick = " --steps 30 --width 16 --depth 1 --samples 50 --engine cpu --quiet";

std::string slurp(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
}


}  // namespace

TEST_CASE("an output that is one of the inputs is refused and the input survives") {
    fs::path d = fresh_dir("cli_in_out");
    REQUIRE(run_fmplay("train" + k_quick + " --out " + quoted(d / "run")).code == 0);
    const fs::path model = d / "run" / "model.json";
    const std::string before = slurp(model);
    check_one_error(run_fmplay("sample --engine cpu --model " + quoted(model) + " --out " + quoted(model)),
                    "--model");
    check_one_error(run_fmplay("sample --engine cpu --model " + quoted(model) + " --out " +
                               quoted(d / "run" / ".." / "run" / "model.json")),
                    "--model");
    fs::create_symlink(model, d / "link.json");
    check_one_error(
        run_fmplay("sample --engine cpu --model " + quoted(d / "link.json") + " --out " + quoted(model)),
        "--model");
    CHECK(slurp(model) == before);

    REQUIRE(run_fmplay("render --save-config " + quoted(d / "scene.json")).code == 0);
    const std::string scene = slurp(d / "scene.json");
    check_one_error(
        run_fmplay("render --save-config " + quoted(d / "x.json") + " --out " + quoted(d / "x.json")),
        "same file");
    check_one_error(run_fmplay("render --config " + quoted(d / "scene.json") + " --save-config " +
                               quoted(d / "scene.json") + " --out " + quoted(d / "scene.json")),
                    "--config");
    check_one_error(run_fmplay("render --model " + quoted(model) + " --out " + quoted(model)), "--model");
    CHECK(slurp(d / "scene.json") == scene);
    CHECK(slurp(model) == before);
    CHECK(!fs::exists(d / "x.json"));
}

TEST_CASE("a pipe given as a file is refused at once instead of waiting for a writer") {
    fs::path d = fresh_dir("cli_fifo");
    REQUIRE(::mkfifo((d / "points.csv").c_str(), 0644) == 0);
    REQUIRE(::mkfifo((d / "model.json").c_str(), 0644) == 0);
    auto start = std::chrono::steady_clock::now();
    check_one_error(
        run_fmplay("train --target " + quoted(d / "points.csv") + k_quick + " --out " + quoted(d / "run")),
        "not a regular file");
    check_one_error(run_fmplay("sample --engine cpu --model " + quoted(d / "model.json") + " --out " +
                               quoted(d / "s.csv")),
                    "not a regular file");
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(20));
    CHECK(!fs::exists(d / "run"));
}

TEST_CASE("summary.json is valid JSON whatever the names hold") {
    fs::path d = fresh_dir("cli_names");
    const fs::path odd = d / "a\"b\\c.csv";
    std::ofstream(odd) << "0,0\n1,1\n-1,1\n1,-1\n";
    REQUIRE(run_fmplay("train --target " + quoted(odd) + " --source 'text:say \"hi\"'" + k_quick +
                       " --out " + quoted(d / "run"))
                .code == 0);
    auto j = nlohmann::json::parse(slurp(d / "run" / "summary.json"));
    CHECK(j["target"] == odd.string());
    CHECK(j["source"] == "text:say \"hi\"");
    CHECK(j["steps"] == 30);
    CHECK(j["w2_to_held_out_target"].get<double>() >= 0.0);
}

TEST_CASE("--samples 1, the low end of its range, trains and writes its run") {
    fs::path d = fresh_dir("cli_one_sample");
    CommandResult r =
        run_fmplay("train --steps 20 --width 16 --depth 1 --samples 1 --engine cpu --quiet --out " +
                   quoted(d / "run"));
    INFO(r.output);
    REQUIRE(r.code == 0);
    auto j = nlohmann::json::parse(slurp(d / "run" / "summary.json"));
    CHECK(j["samples"] == 1);
    CHECK(j["mmd2"].is_null());  // not defined for one sample
}

TEST_CASE("parser errors are one line in the form of every other error") {
    check_one_error(run_fmplay("--no-such-flag"), "--no-such-flag");
    check_one_error(run_fmplay("train --no-such-flag"), "fmplay train --help");
    check_one_error(run_fmplay("train --steps"), "--steps");
    check_one_error(run_fmplay("sample"), "--model");
    check_one_error(run_fmplay("render --width abc"), "--width");
}

TEST_CASE("--out is checked before training, and a directory with other files is never replaced") {
    fs::path d = fresh_dir("cli_out_checks");
    std::ofstream(d / "file") << "x";
    fs::create_directories(d / "mine");
    std::ofstream(d / "mine" / "thesis.tex") << "precious";
    auto start = std::chrono::steady_clock::now();
    // 10^7 steps would take minutes: the path must be refused first.
    const std::string slow = " --steps 10000000 --engine cpu --quiet";
    check_one_error(run_fmplay("train" + slow + " --out " + quoted(d / "file")), "not a directory");
    check_one_error(run_fmplay("train" + slow + " --out " + quoted(d / "mine")), "thesis.tex");
    check_one_error(run_fmplay("train" + slow + " --out " + quoted(d / "file" / "run")), "file");
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(20));
    CHECK(slurp(d / "mine" / "thesis.tex") == "precious");
}

TEST_CASE("a run killed mid-way leaves the previous run whole; the next run cleans up after it") {
    fs::path d = fresh_dir("cli_kill");
    REQUIRE(run_fmplay("train" + k_quick + " --out " + quoted(d / "run")).code == 0);
    const std::string model_before = slurp(d / "run" / "model.json");
    const std::string summary_before = slurp(d / "run" / "summary.json");

    pid_t pid = ::fork();
    if (pid == 0) {
        ::execl(fmplay_exe().c_str(), "fmplay", "train", "--steps", "10000000", "--engine", "cpu",
                "--quiet", "--out", (d / "run").c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    // Wait until the killed run has made its temporary directory, then kill -9 it.
    bool started = false;
    for (int i = 0; i < 200 && !started; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        for (auto& e : fs::directory_iterator(d))
            started |= e.path().filename().string().rfind(".run.part-", 0) == 0;
    }
    CHECK(started);
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    CHECK(slurp(d / "run" / "model.json") == model_before);
    CHECK(slurp(d / "run" / "summary.json") == summary_before);

    REQUIRE(run_fmplay("train" + k_quick + " --seed 7 --out " + quoted(d / "run")).code == 0);
    int entries = 0;
    for (auto& e : fs::directory_iterator(d)) (void)e, ++entries;
    CHECK(entries == 1);  // the killed run's temporary directory is gone
    CHECK(slurp(d / "run" / "model.json") != model_before);
}

TEST_CASE("concurrent runs into one directory leave one run's files, not a mix") {
    fs::path d = fresh_dir("cli_concurrent");
    const std::string out = quoted(d / "run");
    CommandResult a, b;
    std::thread ta([&] {
        a = run_fmplay(
            "train --steps 200 --width 16 --depth 1 --samples 50 --engine cpu --quiet --seed 1 "
            "--out " +
            out);
    });
    std::thread tb([&] {
        b = run_fmplay(
            "train --steps 300 --width 16 --depth 1 --samples 50 --engine cpu --quiet --seed 2 "
            "--out " +
            out);
    });
    ta.join();
    tb.join();
    CHECK(a.code == 0);
    CHECK(b.code == 0);
    auto summary = nlohmann::json::parse(slurp(d / "run" / "summary.json"));
    fmp::ModelFile m = fmp::load_model((d / "run" / "model.json").string());
    CHECK(summary["steps"].get<int64_t>() == m.steps_trained);
    int entries = 0;
    for (auto& e : fs::directory_iterator(d)) (void)e, ++entries;
    CHECK(entries == 1);
}

TEST_CASE("an export whose training diverges stops with the diagnosis instead of looping") {
    fs::path d = fresh_dir("cli_render_diverge");
    std::ofstream(d / "scene.json")
        << R"({"training": {"lr": 0.9, "steps": 300}, "network": {"width": 512, "depth": 6}})";
    auto start = std::chrono::steady_clock::now();
    CommandResult r = run_fmplay("render --quiet --config " + quoted(d / "scene.json") + " --out " +
                                 quoted(d / "clip.mp4"));
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(60));
    check_one_error(r, "diverged");
    CHECK(!fs::exists(d / "clip.mp4"));
    int entries = 0;
    for (auto& e : fs::directory_iterator(d)) (void)e, ++entries;
    CHECK(entries == 1);  // the scene only: no partial clip
}
