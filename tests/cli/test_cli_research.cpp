// The research outputs end to end: `sample --from/--trajectories`, the path energy in
// summary.json, and `fmplay likelihood`.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "core/base/rng.h"
#include "core/data/point_io.h"
#include "tests/test_support.h"

using namespace fmp::test;
namespace fs = std::filesystem;

namespace {

const std::string k_tiny = " --steps 200 --width 16 --depth 1 --samples 100 --engine cpu --quiet";

std::string slurp(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
}

void write(const fs::path& p, const std::string& text) {
    std::ofstream f(p, std::ios::binary);
    f << text;
}


// Trains a tiny model into dir/run and returns its model file.
fs::path train(const fs::path& dir, const std::string& args) {
    CommandResult r = run_fmplay("train" + args + " --out " + quoted(dir / "run"));
    INFO(r.output);
    REQUIRE(r.code == 0);
    return dir / "run" / "model.json";
}

fmp::Points points_csv(const std::vector<std::array<float, 2>>& rows, std::string& text) {
    fmp::Points p(static_cast<Eigen::Index>(rows.size()), 2);
    text = "x,y\n";
    char line[64];
    for (std::size_t i = 0; i < rows.size(); ++i) {
        p(Eigen::Index(i), 0) = rows[i][0];
        p(Eigen::Index(i), 1) = rows[i][1];
        std::snprintf(line, sizeof line, "%.9g,%.9g\n", rows[i][0], rows[i][1]);
        text += line;
    }
    return p;
}

struct TrajectoryRow {
    long long particle;
    int step;
    float t, x, y;
};

// Parses a --trajectories file; checks its header.
std::vector<TrajectoryRow> read_trajectories(const fs::path& p) {
    std::istringstream in(slurp(p));
    std::string line;
    std::getline(in, line);
    CHECK(line == "particle,step,t,x,y");
    std::vector<TrajectoryRow> rows;
    while (std::getline(in, line)) {
        TrajectoryRow r{};
        REQUIRE(std::sscanf(line.c_str(), "%lld,%d,%f,%f,%f", &r.particle, &r.step, &r.t, &r.x,
                            &r.y) == 5);
        rows.push_back(r);
    }
    return rows;
}

// The rows of a "x,y,log_p" file after its header.
std::vector<std::array<float, 3>> read_log_p(const fs::path& p) {
    std::istringstream in(slurp(p));
    std::string line;
    std::getline(in, line);
    CHECK(line == "x,y,log_p");
    std::vector<std::array<float, 3>> rows;
    while (std::getline(in, line)) {
        std::array<float, 3> r{};
        REQUIRE(std::sscanf(line.c_str(), "%f,%f,%f", &r[0], &r[1], &r[2]) == 3);
        rows.push_back(r);
    }
    return rows;
}

}  // namespace

TEST_CASE("the help lists likelihood and every new flag") {
    CommandResult top = run_fmplay("--help");
    CHECK(top.code == 0);
    CHECK(top.output.find("likelihood") != std::string::npos);
    CommandResult s = run_fmplay("sample --help");
    CHECK(s.output.find("--from") != std::string::npos);
    CHECK(s.output.find("particle,step,t,x,y") != std::string::npos);
    CommandResult l = run_fmplay("likelihood --help");
    CHECK(l.code == 0);
    for (const char* flag : {"--model", "--points", "--out", "--steps", "--solver", "--engine"})
        CHECK(l.output.find(flag) != std::string::npos);
    CHECK(l.output.find("x,y,log_p") != std::string::npos);
}

TEST_CASE("sample --from integrates the given points in order; --trajectories holds every step") {
    fs::path d = fresh_dir("cli_from");
    const fs::path model = train(d, " --target moons" + k_tiny);
    std::string text, reversed_text;
    const std::vector<std::array<float, 2>> rows = {{-3.0f, 0.0f}, {3.0f, 0.0f},  {0.0f, 2.5f},
                                                    {0.1f, -0.2f}, {1.25f, 1.5f}, {-0.7f, -2.0f}};
    const fmp::Points from = points_csv(rows, text);
    write(d / "from.csv", text);
    points_csv({rows.rbegin(), rows.rend()}, reversed_text);
    write(d / "reversed.csv", reversed_text);
    const int steps = 6, n = static_cast<int>(rows.size());

    CommandResult r = run_fmplay("sample --engine cpu --solver rk4 --steps 6 --model " + quoted(model) +
                                 " --from " + quoted(d / "from.csv") + " --out " + quoted(d / "out.csv") +
                                 " --trajectories " + quoted(d / "traj.csv"));
    INFO(r.output);
    REQUIRE(r.code == 0);
    const fmp::Points out = fmp::load_points_csv((d / "out.csv").string());
    REQUIRE(out.rows() == n);

    // The layout: steps + 1 frames in time order, each with every particle in order.
    const std::vector<TrajectoryRow> traj = read_trajectories(d / "traj.csv");
    REQUIRE(traj.size() == std::size_t(n * (steps + 1)));
    for (std::size_t k = 0; k < traj.size(); ++k) {
        const TrajectoryRow& row = traj[k];
        CHECK(row.particle == long(k % n));
        CHECK(row.step == int(k / n));
        CHECK(row.t == doctest::Approx(double(row.step) / steps).epsilon(1e-6));
        // The first frame is --from as given (no source scaling), the last is --out.
        if (row.step == 0) {
            CHECK(row.x == from(row.particle, 0));
            CHECK(row.y == from(row.particle, 1));
        }
        if (row.step == steps) {
            CHECK(row.x == out(row.particle, 0));
            CHECK(row.y == out(row.particle, 1));
        }
    }
    // The points moved, and each kept its place: the same points reversed come out reversed.
    CHECK((out - from).norm() > 0.1);
    CommandResult rr =
        run_fmplay("sample --engine cpu --solver rk4 --steps 6 --model " + quoted(model) + " --from " +
                   quoted(d / "reversed.csv") + " --out " + quoted(d / "rev.csv"));
    REQUIRE(rr.code == 0);
    const fmp::Points rev = fmp::load_points_csv((d / "rev.csv").string());
    REQUIRE(rev.rows() == n);
    for (int i = 0; i < n; ++i) {
        CHECK(rev(n - 1 - i, 0) == doctest::Approx(out(i, 0)).epsilon(1e-5));
        CHECK(rev(n - 1 - i, 1) == doctest::Approx(out(i, 1)).epsilon(1e-5));
    }

    // Without --from the trajectories start from the seed's source draw: the same samples as a
    // plain `sample` (up to the float rounding of stepping one step per call).
    REQUIRE(run_fmplay("sample --engine cpu --n 50 --steps 8 --seed 4 --model " + quoted(model) +
                       " --out " + quoted(d / "plain.csv"))
                .code == 0);
    REQUIRE(run_fmplay("sample --engine cpu --n 50 --steps 8 --seed 4 --model " + quoted(model) +
                       " --out " + quoted(d / "stepped.csv") + " --trajectories " + quoted(d / "t2.csv"))
                .code == 0);
    const fmp::Points plain = fmp::load_points_csv((d / "plain.csv").string());
    const fmp::Points stepped = fmp::load_points_csv((d / "stepped.csv").string());
    REQUIRE(plain.rows() == 50);
    REQUIRE(stepped.rows() == 50);
    CHECK((plain - stepped).cwiseAbs().maxCoeff() < 1e-4f);
    const std::vector<TrajectoryRow> t2 = read_trajectories(d / "t2.csv");
    REQUIRE(t2.size() == 50u * 9u);
    CHECK(t2.back().step == 8);
    CHECK(t2.back().t == 1.0f);
    CHECK(t2.back().x == stepped(49, 0));
}

TEST_CASE("bad sample --from / --trajectories input exits 2 with one line and writes nothing") {
    fs::path d = fresh_dir("cli_from_bad");
    const fs::path model = train(d, k_tiny);
    write(d / "text.csv", "x,y\n1,2\nhello,3\n");
    write(d / "nan.csv", "1,2\nnan,3\n");
    write(d / "far.csv", "1,2\n1e9,3\n");
    write(d / "good.csv", "0,0\n1,1\n");
    std::string many = "x,y\n";
    for (int i = 0; i < 600; ++i) many += "0.5,0.5\n";
    write(d / "many.csv", many);
    const fs::path out = d / "out.csv", traj = d / "traj.csv";
    const std::string base = "sample --engine cpu --model " + quoted(model);
    struct Case {
        std::string args, mention;
    };
    const Case cases[] = {
        {base + " --from " + quoted(d / "missing.csv") + " --out " + quoted(out), "missing.csv"},
        {base + " --from " + quoted(d / "text.csv") + " --out " + quoted(out), "line 3"},
        {base + " --from " + quoted(d / "nan.csv") + " --out " + quoted(out), "line 2"},
        {base + " --from " + quoted(d / "far.csv") + " --out " + quoted(out), "line 2"},
        {base + " --from " + quoted(d / "good.csv") + " --out " + quoted(d / "good.csv"), "--from"},
        {base + " --from " + quoted(d / "good.csv") + " --out " + quoted(out) + " --trajectories " +
             quoted(d / "good.csv"),
         "--from"},
        {base + " --out " + quoted(out) + " --trajectories " + quoted(model), "--model"},
        {base + " --out " + quoted(out) + " --trajectories " + quoted(out), "--out"},
        {base + " --from " + quoted(d / "good.csv") + " --n 5 --out " + quoted(out), "--n"},
        {base + " --from " + quoted(d / "many.csv") + " --steps 10000 --out " + quoted(out) +
             " --trajectories " + quoted(traj),
         "--trajectories"},
        {base + " --from " + quoted(d / "good.csv") + " --steps 0 --out " + quoted(out), "--steps"},
    };
    for (const Case& c : cases) {
        CommandResult r = run_fmplay(c.args);
        INFO(c.args);
        check_one_error(r, c.mention);
        CHECK(!fs::exists(out));
        CHECK(!fs::exists(traj));
    }
    CHECK(slurp(d / "good.csv") == "0,0\n1,1\n");
    CHECK(fs::exists(model));
}

TEST_CASE("summary.json holds the path energy, W2^2(source, target) and the NPE") {
    fs::path d = fresh_dir("cli_npe");
    train(d,
          " --target 8gaussians --steps 400 --width 32 --depth 2 --samples 300 --engine cpu "
          "--quiet");
    const nlohmann::json j = nlohmann::json::parse(slurp(d / "run" / "summary.json"));
    REQUIRE(j.contains("path_energy"));
    REQUIRE(j.contains("w2_squared_source_to_target"));
    REQUIRE(j.contains("npe"));
    const double pe = j["path_energy"], w2sq = j["w2_squared_source_to_target"], npe = j["npe"];
    // Normal -> 8 gaussians of radius 2.5 (std 0.2): the OT map pushes points radially, so
    // W2^2 is about E[(|z| - 2.5)^2] = 2 - 5 E|z| + 6.25 = 2.0 (E|z| = sqrt(pi / 2)), plus the
    // upward bias of 300-point samples. No flow between them has less energy than W2^2 (the
    // frames' estimate may dip a little below it); the independent coupling's curved paths more.
    CHECK(w2sq > 1.6);
    CHECK(w2sq < 2.8);
    CHECK(pe > 0.8 * w2sq);
    CHECK(pe < 3.0 * w2sq);
    CHECK(npe == doctest::Approx(std::abs(pe - w2sq) / w2sq).epsilon(1e-6));
}

TEST_CASE("likelihood writes x,y,log_p per point in order and prints a summary") {
    fs::path d = fresh_dir("cli_ll");
    const fs::path model = train(d, " --target normal" + k_tiny);
    std::string text;
    const fmp::Points p = points_csv({{0.0f, 0.0f}, {1.0f, -0.5f}, {-2.0f, 0.25f}}, text);
    write(d / "p.csv", text);
    CommandResult r = run_fmplay("likelihood --engine cpu --model " + quoted(model) + " --points " +
                                 quoted(d / "p.csv") + " --out " + quoted(d / "ll.csv") + " --steps 8");
    INFO(r.output);
    REQUIRE(r.code == 0);
    const std::vector<std::array<float, 3>> rows = read_log_p(d / "ll.csv");
    REQUIRE(rows.size() == 3u);
    for (int i = 0; i < 3; ++i) {
        CHECK(rows[i][0] == p(i, 0));
        CHECK(rows[i][1] == p(i, 1));
        CHECK(std::isfinite(rows[i][2]));
    }
    // The normal target has a known density: the summary gives the truth and the KL estimate.
    CHECK(r.output.find("3 points") != std::string::npos);
    CHECK(r.output.find("mean true log p") != std::string::npos);
    CHECK(r.output.find("KL estimate") != std::string::npos);
}

TEST_CASE("likelihood matches the closed form of a learned normal -> N(m, s^2) flow") {
    // The target is a point set drawn from N((1, 0), 0.5^2 I); the flow learns to carry the
    // standard normal onto it, so log p_1 should be close to log N(x; m, s^2 I). The flow map
    // shrinks areas by s^2 = 1/4: a divergence integrated with the wrong sign is off by
    // 2 * 2 log 2 = 2.8 nats, far beyond the bound.
    fs::path d = fresh_dir("cli_ll_closed");
    const float mx = 1.0f, my = 0.0f, s = 0.5f;
    fmp::Rng rng(21);
    std::string target = "x,y\n";
    char line[64];
    for (int i = 0; i < 4000; ++i) {
        std::snprintf(line, sizeof line, "%.6f,%.6f\n", mx + s * rng.normal(),
                      my + s * rng.normal());
        target += line;
    }
    write(d / "target.csv", target);
    const fs::path model =
        train(d, " --source normal --target " + quoted(d / "target.csv") +
                     " --steps 1500 --width 64 --depth 2 --samples 100 --engine cpu --quiet");
    // Evaluation points within two standard deviations, where a trained model is accurate.
    std::string points = "x,y\n";
    std::vector<std::array<float, 2>> xs;
    while (xs.size() < 200) {
        const float a = rng.normal(), b = rng.normal();
        if (a * a + b * b > 4.0f) continue;
        xs.push_back({mx + s * a, my + s * b});
        std::snprintf(line, sizeof line, "%.6f,%.6f\n", xs.back()[0], xs.back()[1]);
        points += line;
    }
    write(d / "eval.csv", points);
    CommandResult r = run_fmplay("likelihood --engine cpu --model " + quoted(model) + " --points " +
                                 quoted(d / "eval.csv") + " --out " + quoted(d / "ll.csv"));
    INFO(r.output);
    REQUIRE(r.code == 0);
    const std::vector<std::array<float, 3>> rows = read_log_p(d / "ll.csv");
    REQUIRE(rows.size() == xs.size());
    double abs_diff = 0.0;
    for (const auto& row : rows) {
        const double dx = row[0] - mx, dy = row[1] - my;
        const double truth =
            -std::log(2.0 * 3.141592653589793 * s * s) - (dx * dx + dy * dy) / (2.0 * s * s);
        abs_diff += std::abs(row[2] - truth);
    }
    abs_diff /= double(rows.size());
    MESSAGE("mean |log p_model - log p_true| = " << abs_diff << " nats");
    CHECK(abs_diff < 0.3);
}

TEST_CASE("bad likelihood input exits 2 with one line and writes nothing") {
    fs::path d = fresh_dir("cli_ll_bad");
    const fs::path model = train(d, k_tiny);
    const fs::path moons_model = [&] {
        fs::create_directories(d / "m");
        return train(d / "m", " --source moons --target normal" + k_tiny);
    }();
    write(d / "p.csv", "x,y\n0,0\n1,1\n");
    write(d / "text.csv", "x,y\n1,2\nhello,3\n");
    write(d / "garbage.json", "\x89PNG not a model");
    const fs::path out = d / "ll.csv";
    const std::string pts = " --points " + quoted(d / "p.csv");
    struct Case {
        std::string args, mention;
    };
    const Case cases[] = {
        {"likelihood --engine cpu --model " + quoted(moons_model) + pts + " --out " + quoted(out),
         "known density"},
        {"likelihood --engine cpu --model " + quoted(d / "garbage.json") + pts + " --out " + quoted(out),
         "garbage.json"},
        {"likelihood --engine cpu --model " + quoted(d / "missing.json") + pts + " --out " + quoted(out),
         "missing.json"},
        {"likelihood --engine cpu --model " + quoted(model) + " --points " + quoted(d / "text.csv") +
             " --out " + quoted(out),
         "line 3"},
        {"likelihood --engine cpu --model " + quoted(model) + " --points " + quoted(d / "nope.csv") +
             " --out " + quoted(out),
         "nope.csv"},
        {"likelihood --engine cpu --model " + quoted(model) + pts + " --out " + quoted(d / "p.csv"),
         "--points"},
        {"likelihood --engine cpu --model " + quoted(model) + pts + " --out " + quoted(model), "--model"},
        {"likelihood --engine cpu --model " + quoted(model) + pts + " --steps 0 --out " + quoted(out),
         "steps"},
        {"likelihood --engine cpu --model " + quoted(model) + pts + " --solver nosuch --out " + quoted(out),
         "rk4"},
        {"likelihood --engine cpu --model " + quoted(model) + pts + " --solver dopri5 --out " + quoted(out),
         "fixed-step"},
        {"likelihood --engine nosuch --model " + quoted(model) + pts + " --out " + quoted(out), "cpu"},
        {"likelihood --engine cpu --model " + quoted(model) + pts, "--out"},
    };
    for (const Case& c : cases) {
        CommandResult r = run_fmplay(c.args);
        INFO(c.args);
        check_one_error(r, c.mention);
        CHECK(!fs::exists(out));
    }
    CHECK(slurp(d / "p.csv") == "x,y\n0,0\n1,1\n");
}
