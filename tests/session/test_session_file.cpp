// Session files: a trained engine's state, drawn sets and window state round-trip bit for bit and
// continue the same run; damaged, foreign and future files are refused in one line (fuzzed).
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "app/render/flow_state.h"
#include "app/session/session_file.h"
#include "core/base/file_io.h"
#include "core/base/rng.h"
#include "tests/test_support.h"

namespace fs = std::filesystem;
using namespace fmp;

namespace {

// A session of an engine trained 50 steps on a drawn, labelled target, with a drawn source too.
Session trained_session(std::unique_ptr<Engine>& engine) {
    Session s;
    Rng rng(3);
    s.drawn_target.points.resize(300, 2);
    for (int i = 0; i < 300; ++i) {
        s.drawn_target.points.row(i) << rng.normal() * 0.3f + (i % 2 ? 2.0f : -2.0f), rng.normal() * 0.3f;
        s.drawn_target.classes.push_back(static_cast<uint8_t>(i % 2));
    }
    s.drawn_source.points.resize(5, 2);
    s.drawn_source.points << 0, 0, 1, 0, 0, 1, -1, 0, 0.123456789f, -7.5f;
    s.target_drawn = true;
    TrainConfig config;
    config.mlp.width = 24;
    config.mlp.depth = 2;
    config.mlp.classes = 2;
    config.batch = 64;
    config.seed = 11;
    const Dataset target = Dataset::from_points(s.drawn_target.points, "drawn target", s.drawn_target.classes);
    const Dataset source(DatasetKind::Normal);
    engine = make_cpu_engine();
    engine->reset(config, source, target);
    engine->train(50);
    s.training = engine->training_state();
    s.losses = engine->take_losses();
    s.model.mlp = config.mlp;
    s.model.path = config.path;
    s.model.coupling = config.coupling;
    s.model.source = source;
    s.model.target = target;
    s.model.params = s.training.params;
    s.scene.train.classes = true;
    s.scene.guidance = 2.5f;
    s.scene.follow = fmp::follow_class_name(1);  // "1"
    s.t = 0.375f;
    s.playing = false;
    s.center_x = -0.25f;
    s.center_y = 1.0f / 3.0f;
    s.pixels_per_unit = 123.456f;
    s.running = false;
    return s;
}

std::string error_of(const std::string& text) {
    try {
        (void)session_from_json(text, "s.fmplay");
    } catch (const InputError& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("a session round-trips bit for bit and continues the same run") {
    std::unique_ptr<Engine> engine;
    const Session s = trained_session(engine);
    const fs::path dir = fmp::test::fresh_dir("session_round_trip");
    const std::string path = (dir / "work.fmplay").string();
    Session with_b = s;
    with_b.compare.on = true;
    with_b.compare.coupling = "ot";
    with_b.compare.solver = "euler";
    with_b.compare.steps = 3;
    save_session(path, with_b);
    const Session r = load_session(path);
    CHECK(r.compare.on);
    CHECK(r.compare.coupling == "ot");
    CHECK(r.compare.path == "same");
    CHECK(r.compare.solver == "euler");
    CHECK(r.compare.steps == 3);
    CHECK(r.training.params == s.training.params);
    CHECK(r.training.adam_m == s.training.adam_m);
    CHECK(r.training.adam_v == s.training.adam_v);
    CHECK(r.training.step == 50);
    CHECK(r.training.batch_rng.state == s.training.batch_rng.state);
    CHECK(r.training.batch_rng.inc == s.training.batch_rng.inc);
    CHECK(r.training.batch_rng.has_spare == s.training.batch_rng.has_spare);
    CHECK(r.model.mlp.classes == 2);
    CHECK(r.model.target.points() == s.drawn_target.points);
    CHECK(r.model.target.point_classes() == s.drawn_target.classes);
    CHECK(r.drawn_target.points == s.drawn_target.points);
    CHECK(r.drawn_target.classes == s.drawn_target.classes);
    CHECK(r.drawn_source.points == s.drawn_source.points);
    CHECK(r.drawn_source.classes.empty());
    REQUIRE(r.losses.size() == s.losses.size());
    for (std::size_t i = 0; i < r.losses.size(); ++i) {
        CHECK(r.losses[i].step == s.losses[i].step);
        CHECK(r.losses[i].loss == s.losses[i].loss);
    }
    CHECK(r.scene.train.classes);
    CHECK(r.scene.guidance == 2.5f);
    CHECK(r.scene.follow == "1");
    CHECK(r.t == 0.375f);
    CHECK_FALSE(r.playing);
    CHECK_FALSE(r.running);
    CHECK(r.center_x == -0.25f);
    CHECK(r.center_y == 1.0f / 3.0f);
    CHECK(r.pixels_per_unit == 123.456f);
    CHECK(r.target_drawn);
    CHECK_FALSE(r.source_drawn);
    // Saved again, the same bytes.
    CHECK(session_to_json(r) == session_to_json(with_b));

    // The next 100 steps from the file are the saved engine's next 100.
    engine->train(100);
    TrainConfig config;
    config.mlp = r.model.mlp;
    config.batch = 64;
    config.seed = 11;
    auto reopened = make_cpu_engine();
    reopened->reset(config, r.model.source, r.model.target);
    reopened->set_training_state(r.training);
    reopened->train(100);
    const std::vector<float> a = engine->params(), b = reopened->params();
    float worst = 0.0f;
    for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]));
    CHECK(worst < 1e-5f);
    CHECK(reopened->step_count() == 150);
}

TEST_CASE("damaged, foreign and future sessions are refused in one line; saving never leaves half a file") {
    std::unique_ptr<Engine> engine;
    const Session s = trained_session(engine);
    const std::string text = session_to_json(s);
    CHECK(error_of(text) == "");
    CHECK(error_of("").find("not valid JSON") != std::string::npos);
    CHECK(error_of(text.substr(0, text.size() / 2)).find("not valid JSON") != std::string::npos);
    CHECK(error_of(R"({"format": "fmplay-model", "version": 1})").find("not an fmplay session") != std::string::npos);
    std::string future = text;
    const std::string current = "\"version\":" + std::to_string(k_session_version);
    future.replace(future.rfind(current), current.size(), "\"version\":7");  // the top level (keys sort last)
    CHECK(error_of(future).find("newer than this fmplay") != std::string::npos);
    // Version 1 (before side by side) still opens, with B off; a bad B setting is refused.
    std::string v1 = text;
    v1.replace(v1.rfind(current), current.size(), "\"version\":1");
    const auto compare = v1.find(",\"compare\":{");
    REQUIRE(compare != std::string::npos);
    v1.erase(compare, v1.find('}', compare) + 1 - compare);
    CHECK(error_of(v1) == "");
    CHECK_FALSE(session_from_json(v1).compare.on);
    std::string bad_b = text;
    bad_b.replace(bad_b.find("\"coupling\":\"same\""), 17, "\"coupling\":\"wide\"");
    CHECK(error_of(bad_b).find("window.compare") != std::string::npos);
    std::string odd = text;
    const auto inc = odd.find("\"inc\":\"");
    REQUIRE(inc != std::string::npos);
    odd[inc + 7 + 15] = '2';  // the stream increment made even
    CHECK(error_of(odd).find("odd") != std::string::npos);
    std::string negative = text;
    const auto v = negative.find("\"adam_v\":[");
    negative.insert(v + 10, "-1,");
    CHECK(error_of(negative).find("adam_v") != std::string::npos);
    // Every message is one line naming the file.
    for (const std::string& bad : {future, odd, negative, text.substr(0, 100)}) {
        const std::string e = error_of(bad);
        CHECK(e.rfind("s.fmplay", 0) == 0);
        CHECK(e.find('\n') == std::string::npos);
    }

    // Mutations: a byte changed or the file cut anywhere either still parses into a session
    // that passes every check, or is refused with InputError; never a crash or another exception.
    Rng rng(77);
    int refused = 0;
    for (int trial = 0; trial < 300; ++trial) {
        std::string m = text;
        const std::size_t at = rng.below(static_cast<uint32_t>(m.size()));
        if (trial % 3 == 0)
            m.resize(at);
        else
            m[at] = static_cast<char>("0123456789-.e\"[]{},:x"[rng.below(21)]);
        try {
            (void)session_from_json(m, "fuzz");
        } catch (const InputError&) {
            ++refused;
        }
    }
    CHECK(refused > 100);

    // An existing session survives a failed save (the temporary file goes; nothing is replaced).
    const fs::path dir = fmp::test::fresh_dir("session_atomic");
    const std::string path = (dir / "keep.fmplay").string();
    save_session(path, s);
    const std::string before = read_file(path, k_max_session_bytes);
    fs::create_directories(dir / "locked");
    CHECK_THROWS_AS(save_session((dir / "locked").string(), s), InputError);  // a directory: cannot replace
    CHECK(read_file(path, k_max_session_bytes) == before);
    int entries = 0;
    for (auto it = fs::directory_iterator(dir); it != fs::directory_iterator(); ++it) ++entries;
    CHECK(entries == 2);  // keep.fmplay and locked/, no temporary left behind
}

TEST_CASE("fmplay render --session draws the saved network without training; bad files are one line") {
    std::unique_ptr<Engine> engine;
    Session s = trained_session(engine);
    s.scene.particles = 3000;
    const fs::path dir = fmp::test::fresh_dir("session_render");
    const std::string file = (dir / "work.fmplay").string();
    save_session(file, s);
    const std::string png = (dir / "figure.png").string();
    const fmp::test::CommandResult r =
        fmp::test::run_fmplay("render --session '" + file + "' --width 320 --height 240 --time 1 --out '" + png + "'");
    INFO(r.output);
    REQUIRE(r.code == 0);
    CHECK(r.output.find("training") == std::string::npos);  // drawn as saved
    CHECK(fs::file_size(png) > 1000);
    // No model file is left behind in the temporary folder.
    for (auto it = fs::directory_iterator(fs::temp_directory_path()); it != fs::directory_iterator(); ++it)
        CHECK(it->path().filename().string().rfind("fmplay-session-model-", 0) != 0);
    fmp::test::check_one_error(
        fmp::test::run_fmplay("render --session '" + file + "' --config '" + file + "' --out '" + png + "'"),
        "choose one");
    const std::string cut = (dir / "cut.fmplay").string();
    write_file_atomic(cut, session_to_json(s).substr(0, 5000));
    fmp::test::check_one_error(fmp::test::run_fmplay("render --session '" + cut + "' --out '" + png + "'"),
                               "not valid JSON");
}
