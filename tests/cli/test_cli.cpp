// The fmplay binary end to end: good runs write their files; bad input exits 2 and writes nothing.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/data/point_io.h"
#include "core/nn/model_file.h"
#include "tests/test_support.h"

using namespace fmp::test;

namespace fs = std::filesystem;

namespace {

void write(const fs::path& p, const std::string& text) {
    std::ofstream f(p, std::ios::binary);
    f << text;
}

int count_files(const fs::path& d) {
    int n = 0;
    for (auto it = fs::recursive_directory_iterator(d); it != fs::recursive_directory_iterator(); ++it)
        if (it->is_regular_file()) ++n;
    return n;
}

// One error line: "fmplay: error: ..." and nothing else, naming what was wrong.
void check_error(const CommandResult& r, const std::string& must_mention) {
    CHECK(r.code == 2);
    INFO(r.output);
    CHECK(r.output.find(must_mention) != std::string::npos);
}

}  // namespace

TEST_CASE("help works for every subcommand") {
    for (const char* sub : {"", "train", "sample", "demo", "bench"}) {
        CommandResult r = run_fmplay(std::string(sub) + " --help");
        INFO(sub);
        CHECK(r.code == 0);
        CHECK(r.output.find("--") != std::string::npos);
    }
    CommandResult r = run_fmplay("train --help");
    CHECK(r.output.find("moons") != std::string::npos);  // the help names the valid datasets
    CHECK(r.output.find("condot") != std::string::npos);
}

TEST_CASE("train writes model, samples, losses and summary; sample reads the model") {
    fs::path d = fresh_dir("cli_good");
    CommandResult r = run_fmplay("train --target moons --source normal --steps 300 --batch 128 --width 32 --depth 2 "
                   "--samples 500 --engine cpu --quiet --out " + (d / "run").string());
    INFO(r.output);
    REQUIRE(r.code == 0);
    for (const char* f : {"model.json", "samples.csv", "loss.csv", "summary.json"})
        CHECK(fs::exists(d / "run" / f));
    CHECK(count_files(d) == 4);  // no temporary files left behind
    fmp::Points s = fmp::load_points_csv((d / "run" / "samples.csv").string());
    CHECK(s.rows() == 500);
    fmp::ModelFile m = fmp::load_model((d / "run" / "model.json").string());
    CHECK(m.mlp.width == 32);
    CHECK(m.steps_trained == 300);

    CommandResult s2 = run_fmplay("sample --model " + (d / "run" / "model.json").string() +
                    " --n 1234 --solver rk4 --steps 8 --engine cpu --out " + (d / "s.csv").string());
    INFO(s2.output);
    REQUIRE(s2.code == 0);
    CHECK(fmp::load_points_csv((d / "s.csv").string()).rows() == 1234);
}

TEST_CASE("bad training input exits 2 with one line and writes nothing") {
    fs::path d = fresh_dir("cli_bad");
    fs::path out = d / "out";
    std::string tail = " --steps 50 --engine cpu --quiet --out " + out.string();
    write(d / "text.csv", "x,y\n1,2\nhello,3\n");
    write(d / "nan.csv", "1,2\nnan,3\n");
    write(d / "one.csv", "1\n2\n");
    write(d / "empty.csv", "");
    struct Case {
        std::string args, mention;
    };
    const Case cases[] = {
        {"train --target nosuch" + tail, "moons"},
        {"train --source nosuch" + tail, "normal"},
        {"train --path nosuch" + tail, "condot"},
        {"train --coupling nosuch" + tail, "independent"},
        {"train --activation nosuch" + tail, "silu"},
        {"train --optimizer nosuch" + tail, "adamw"},
        {"train --engine nosuch --steps 50 --quiet --out " + out.string(), "cpu"},
        {"train --solver nosuch" + tail, "rk4"},
        {"train --steps 0 --out " + out.string(), "steps"},
        {"train --batch 0" + tail, "batch"},
        {"train --batch -5" + tail, "batch"},
        {"train --width 9999" + tail, "width"},
        {"train --depth 0" + tail, "depth"},
        {"train --lr nan" + tail, "learning rate"},
        {"train --lr -1" + tail, "learning rate"},
        {"train --target " + (d / "missing.csv").string() + tail, "missing.csv"},
        {"train --target " + (d / "text.csv").string() + tail, "line 3"},
        {"train --target " + (d / "nan.csv").string() + tail, "line 2"},
        {"train --target " + (d / "one.csv").string() + tail, "line 1"},
        {"train --target " + (d / "empty.csv").string() + tail, "empty.csv"},
        {"train --steps abc" + tail, "steps"},
        {"nosuchcommand", "nosuchcommand"},
    };
    for (const Case& c : cases) {
        CommandResult r = run_fmplay(c.args);
        INFO(c.args);
        check_error(r, c.mention);
        CHECK(!fs::exists(out));
    }
}

TEST_CASE("bad model files exit 2 and write no samples") {
    fs::path d = fresh_dir("cli_model");
    CommandResult good = run_fmplay("train --steps 20 --width 16 --depth 1 --samples 50 --engine cpu --quiet --out " +
                      (d / "run").string());
    REQUIRE(good.code == 0);
    std::string text;
    {
        std::ifstream f(d / "run" / "model.json");
        text.assign(std::istreambuf_iterator<char>(f), {});
    }
    write(d / "truncated.json", text.substr(0, text.size() / 2));
    write(d / "garbage.json", "\x89PNG\x01\x02 not json at all");
    std::string nan_model = text;
    nan_model.replace(nan_model.find("\"params\": [") + 11, 0, "NaN, ");
    write(d / "nan.json", nan_model);
    std::string wrong_size = text;
    wrong_size.replace(wrong_size.find("\"params\": [") + 11, 0, "0.5, ");
    write(d / "size.json", wrong_size);
    std::string bad_act = text;
    bad_act.replace(bad_act.find("\"silu\""), 6, "\"swishy\"");
    write(d / "act.json", bad_act);
    for (const char* f : {"truncated.json", "garbage.json", "nan.json", "size.json", "act.json",
                          "missing.json"}) {
        CommandResult r = run_fmplay("sample --engine cpu --model " + (d / f).string() + " --out " + (d / "s.csv").string());
        INFO(f);
        INFO(r.output);
        CHECK(r.code == 2);
        CHECK(r.output.find("error") != std::string::npos);
        CHECK(!fs::exists(d / "s.csv"));
    }
    CommandResult r = run_fmplay("sample --engine cpu --n 0 --model " + (d / "run" / "model.json").string() +
                   " --out " + (d / "s.csv").string());
    CHECK(r.code == 2);
    CHECK(!fs::exists(d / "s.csv"));
}

TEST_CASE("the headless demo writes its figure, clip, samples and model and names them") {
    fs::path d = fresh_dir("cli_demo");
    CommandResult r = run_fmplay("demo --steps 200 --width 32 --engine cpu --out " + d.string());
    INFO(r.output);
    REQUIRE(r.code == 0);
    for (const char* f : {"demo_flow.png", "demo_flow.mp4", "demo_samples.csv", "demo_model.json"}) {
        CHECK(fs::exists(d / f));
        CHECK(r.output.find(f) != std::string::npos);  // the paths are printed for the user
    }
    CHECK(count_files(d) == 4);
}

TEST_CASE("a diverging run stops at once with one line naming the step and the cause, exit 2, nothing written") {
    fs::path d = fresh_dir("cli_diverge");
    fs::path out = d / "out";
    struct Case {
        std::string args, step, cause, advice;
    };
    const std::string tail = " --steps 3000 --quiet --out " + out.string();
    const Case cases[] = {
        // The runs: every step's loss was NaN and the run failed only after the last step.
        {"train --width 512 --depth 6 --lr 1 --batch 64 --engine cpu" + tail, "step 3",
         "not finite", "--lr 0.1"},
        {"train --weight-decay 1e30 --optimizer adamw --engine cpu" + tail, "step 2",
         "loss not finite", "--weight-decay"},
        {"train --weight-decay 1e30 --optimizer adamw --engine gl" + tail, "step 2",
         "loss not finite", "--weight-decay"},
        {"demo --width 512 --depth 6 --lr 1 --engine cpu --steps 3000 --out " + out.string(),
         "step 3", "not finite", "--lr 0.1"},
    };
    for (const Case& c : cases) {
        CommandResult r = run_fmplay(c.args);
        INFO(c.args);
        INFO(r.output);
        check_error(r, "diverged at " + c.step);
        CHECK(r.output.find(c.cause) != std::string::npos);
        CHECK(r.output.find(c.advice) != std::string::npos);
        // One error line, and it came at once: no progress to the end, no evaluation.
        std::size_t at = r.output.find("error:");
        REQUIRE(at != std::string::npos);
        CHECK(r.output.find("error:", at + 1) == std::string::npos);
        CHECK(r.output.find('\n', at) == r.output.size() - 1);
        CHECK(r.output.find("trained") == std::string::npos);
        CHECK(r.output.find("wasserstein") == std::string::npos);
        CHECK(!fs::exists(out));
        CHECK(fs::is_empty(d));  // no temporary run directory left behind either
    }
}

TEST_CASE("fmplay bench with the GL engine prints the GPU it found, the grid and the tiles it chose") {
    CommandResult r = run_fmplay("bench --engines gl --widths 32 --batches 64 --seconds 0.02 "
                                 "--skip ot,infer,likelihood,instruments,reflow,sinkhorn");
    REQUIRE(r.code == 0);
    CHECK(r.output.find("# gpu: ") != std::string::npos);
    // 64 rows in 32-row tiles; at width 32 a group is one warp, each invocation 32 rows x 1 column.
    CHECK(r.output.find("#    grid: 2 groups of 32") != std::string::npos);
    CHECK(r.output.find("#    tiles: training 32 rows of 32 x 1 outputs per invocation, fields 64 rows in place, "
                        "weight panels of 16 rows") != std::string::npos);
    // Width 128: four warps of 8 x 4.
    CommandResult m = run_fmplay("bench --engines gl --widths 128 --depth 1 --batches 64 --seconds 0.02 "
                                 "--skip ot,infer,likelihood,instruments,reflow,sinkhorn");
    REQUIRE(m.code == 0);
    CHECK(m.output.find("outputs per invocation") != std::string::npos);
    CHECK(m.output.find(" of 8 x 4 outputs per invocation") != std::string::npos);
    // Width 256 trains as per-layer GEMMs.
    CommandResult w = run_fmplay("bench --engines gl --widths 256 --depth 1 --batches 600 --seconds 0.02 "
                                 "--skip ot,infer,likelihood,instruments,reflow,sinkhorn");
    REQUIRE(w.code == 0);
    CHECK(w.output.find("#    grid: per-layer GEMMs over the batch in blocks of 128 rows x 64 columns, groups of "
                        "256, 8 x 4 outputs per invocation; weight gradient split into 3 batch slices") !=
          std::string::npos);
    CommandResult j = run_fmplay("bench --json --engines gl --widths 32 --batches 64 --seconds 0.02 "
                                 "--skip ot,infer,likelihood,instruments,reflow,sinkhorn");
    REQUIRE(j.code == 0);
    CHECK(j.output.find("\"workload\": \"grid\", \"width\": 32, \"batch\": 64, \"pipeline\": \"fused\"") !=
          std::string::npos);
}
