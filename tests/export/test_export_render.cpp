// `fmplay render` and the exporter end to end: clips checked with ffprobe and decoded with ffmpeg,
// the scene.json round trip, clip timing, cancellation and bad input (exit 2, nothing written).
#include <doctest/doctest.h>
#include <stb/stb_image.h>
#include <sys/wait.h>

#include <array>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "app/export/export_job.h"
#include "app/export/export_settings.h"
#include "app/export/frame_sink.h"
#include "core/engine/gl/gl_context.h"

#include "tests/test_support.h"

namespace fs = std::filesystem;
using namespace fmp::test;
using namespace fmp;

namespace {



int count_entries(const fs::path& d) {
    int n = 0;
    for (auto it = fs::directory_iterator(d); it != fs::directory_iterator(); ++it) ++n;
    return n;
}

int count_lines(const std::string& s) {
    int n = 0;
    for (char c : s) n += c == '\n';
    return n;
}

// The first video stream as ffprobe reports it, with the frames counted by decoding.
nlohmann::json probe(const fs::path& file) {
    CommandResult r = run_command("ffprobe -v error -count_frames -select_streams v:0 -show_entries "
                   "stream=codec_name,width,height,nb_read_frames,pix_fmt:format=duration -of json '" +
                   file.string() + "'");
    REQUIRE_MESSAGE(r.code == 0, r.output);
    auto j = nlohmann::json::parse(r.output);
    nlohmann::json s = j["streams"][0];
    s["duration"] = std::stod(j["format"]["duration"].get<std::string>());
    s["frames"] = std::stoi(s["nb_read_frames"].get<std::string>());
    return s;
}

// Every frame decoded to RGB24.
std::vector<std::vector<uint8_t>> decode(const fs::path& file, int w, int h) {
    std::string cmd = "ffmpeg -v error -i '" + file.string() + "' -f rawvideo -pix_fmt rgb24 -";
    FILE* p = popen(cmd.c_str(), "r");
    REQUIRE(p != nullptr);
    std::vector<std::vector<uint8_t>> frames;
    const std::size_t size = static_cast<std::size_t>(w) * h * 3;
    for (;;) {
        std::vector<uint8_t> f(size);
        if (std::fread(f.data(), 1, size, p) != size) break;
        frames.push_back(std::move(f));
    }
    pclose(p);
    return frames;
}

// Fraction of pixels clearly brighter than the dark background (particles, markers, text).
double lit_fraction(const std::vector<uint8_t>& rgb) {
    std::size_t lit = 0;
    for (std::size_t i = 0; i + 2 < rgb.size(); i += 3)
        if (rgb[i] + rgb[i + 1] + rgb[i + 2] > 3 * 70) ++lit;
    return static_cast<double>(lit) / (rgb.size() / 3);
}

double mean_abs_difference(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
    double sum = 0;
    for (std::size_t i = 0; i < a.size(); ++i) sum += std::abs(a[i] - b[i]);
    return sum / a.size();
}

// A short, cheap clip: 1 s at 12 fps, 320x240, 2k particles, a lightly trained network.
const std::string k_clip = "--width 320 --height 240 --fps 12 --duration 1 --steps 150 --particles 2000 --quiet";

void check_clip(const fs::path& file, const std::string& codec) {
    nlohmann::json s = probe(file);
    CHECK(s["codec_name"] == codec);
    CHECK(s["width"] == 320);
    CHECK(s["height"] == 240);
    CHECK(s["frames"] == 12);
    CHECK(s["duration"].get<double>() == doctest::Approx(1.0).epsilon(0.05));
    auto frames = decode(file, 320, 240);
    REQUIRE(frames.size() == 12);
    // Not blank: the particles cover a visible part of every frame.
    for (const auto& f : frames) CHECK(lit_fraction(f) > 0.01);
    // The sweep moves: the first (t=0, a Gaussian blob) and last (t=1, two moons) frames differ,
    // and the two held frames at the start are (nearly) identical.
    CHECK(mean_abs_difference(frames.front(), frames.back()) > 2.0);
    CHECK(mean_abs_difference(frames[0], frames[5]) > 1.0);
}

}  // namespace

TEST_CASE("fmplay render writes an H.264 MP4 that ffprobe accepts, with moving, non-blank frames") {
    fs::path d = fresh_dir("render_mp4");
    CommandResult r = run_fmplay("render " + k_clip + " --out '" + (d / "flow.mp4").string() + "'");
    REQUIRE_MESSAGE(r.code == 0, r.output);
    REQUIRE(fs::exists(d / "flow.mp4"));
    check_clip(d / "flow.mp4", "h264");
    CHECK(probe(d / "flow.mp4")["pix_fmt"] == "yuv420p");
    CHECK(count_entries(d) == 1);  // no temporaries left
}

TEST_CASE("frames drawn by render helper threads are the same as those drawn by one thread") {
    fs::path d = fresh_dir("render_helpers");
    std::string clip = "--width 160 --height 120 --fps 12 --duration 1 --steps 100 --particles 1500 --quiet "
                       "--views particles,arrows,targets,grid --x264-preset ultrafast";
    CommandResult a = run_fmplay("render " + clip + " --render-threads 0 --out '" + (d / "one.mp4").string() + "'");
    CommandResult b = run_fmplay("render " + clip + " --render-threads 2 --out '" + (d / "three.mp4").string() + "'");
    REQUIRE_MESSAGE(a.code == 0, a.output);
    REQUIRE_MESSAGE(b.code == 0, b.output);
    auto fa = decode(d / "one.mp4", 160, 120), fb = decode(d / "three.mp4", 160, 120);
    REQUIRE(fa.size() == 12);
    REQUIRE(fb.size() == 12);
    for (std::size_t i = 0; i < fa.size(); ++i) CHECK(fa[i] == fb[i]);
}

TEST_CASE("fmplay render writes a GIF and a PNG figure") {
    fs::path d = fresh_dir("render_gif");
    CommandResult r = run_fmplay("render " + k_clip + " --out '" + (d / "flow.gif").string() + "'");
    REQUIRE_MESSAGE(r.code == 0, r.output);
    check_clip(d / "flow.gif", "gif");

    r = run_fmplay("render --width 320 --height 240 --steps 150 --particles 2000 --quiet --time 1 --out '" +
               (d / "fig.png").string() + "'");
    REQUIRE_MESSAGE(r.code == 0, r.output);
    int w = 0, h = 0, c = 0;
    unsigned char* px = stbi_load((d / "fig.png").string().c_str(), &w, &h, &c, 3);
    REQUIRE(px != nullptr);
    CHECK(w == 320);
    CHECK(h == 240);
    std::vector<uint8_t> rgb(px, px + static_cast<std::size_t>(w) * h * 3);
    stbi_image_free(px);
    CHECK(lit_fraction(rgb) > 0.01);
    CHECK(count_entries(d) == 2);
}

TEST_CASE("--save-config writes scene.json and --config renders with it") {
    fs::path d = fresh_dir("render_config");
    fs::path cfg = d / "scene.json";
    CommandResult r = run_fmplay("render --width 160 --height 120 --fps 8 --duration 1 --steps 100 --particles 1500 "
                      "--views particles,arrows,targets --title Moons --save-config '" + cfg.string() + "'");
    REQUIRE_MESSAGE(r.code == 0, r.output);
    ExportSettings s = load_export_settings(cfg.string());
    CHECK(s.video.width == 160);
    CHECK(s.video.height == 120);
    CHECK(s.video.fps == 8);
    CHECK(s.train.steps == 100);
    CHECK(s.particles == 1500);
    CHECK(s.layers.arrows);
    CHECK_FALSE(s.layers.grid);
    CHECK(s.title == "Moons");
    // The file is a fixed point: writing what was read gives the same text.
    std::string text = export_settings_to_json(s);
    CHECK(export_settings_to_json(export_settings_from_json(text)) == text);

    r = run_fmplay("render --quiet --config '" + cfg.string() + "' --out '" + (d / "clip.gif").string() + "'");
    REQUIRE_MESSAGE(r.code == 0, r.output);
    nlohmann::json p = probe(d / "clip.gif");
    CHECK(p["width"] == 160);
    CHECK(p["height"] == 120);
    CHECK(p["frames"] == 8);
}

TEST_CASE("bad output paths and malformed scene.json exit 2 with one line and write nothing") {
    fs::path d = fresh_dir("render_bad");
    CommandResult r = run_fmplay("render " + k_clip + " --out '" + (d / "missing" / "x.mp4").string() + "'");
    CHECK(r.code == 2);
    CHECK(count_lines(r.output) == 1);
    CHECK(r.output.find("missing") != std::string::npos);

    r = run_fmplay("render " + k_clip + " --out '" + (d / "x.avi").string() + "'");
    CHECK(r.code == 2);
    CHECK(count_lines(r.output) == 1);

    std::ofstream(d / "broken.json") << "{\"video\": {\"fps\": 30,, }";
    r = run_fmplay("render --config '" + (d / "broken.json").string() + "' --out '" + (d / "x.mp4").string() + "'");
    CHECK(r.code == 2);
    CHECK(count_lines(r.output) == 1);
    CHECK(r.output.find("malformed") != std::string::npos);

    std::ofstream(d / "typo.json") << "{\"video\": {\"fsp\": 30}}";
    r = run_fmplay("render --config '" + (d / "typo.json").string() + "' --out '" + (d / "x.mp4").string() + "'");
    CHECK(r.code == 2);
    CHECK(count_lines(r.output) == 1);
    CHECK(r.output.find("video.fsp") != std::string::npos);

    std::ofstream(d / "range.json") << "{\"video\": {\"fps\": 1000}}";
    r = run_fmplay("render --config '" + (d / "range.json").string() + "' --out '" + (d / "x.mp4").string() + "'");
    CHECK(r.code == 2);
    CHECK(r.output.find("video.fps") != std::string::npos);

    CHECK(count_entries(d) == 3);  // only the three JSON files
}

TEST_CASE("a cancelled export leaves no file") {
    std::string error;
    auto ctx = HeadlessGlContext::create(&error);
    REQUIRE_MESSAGE(ctx, error);
    ctx->make_current();
    fs::path d = fresh_dir("render_cancel");
    ExportSettings s;
    s.video.width = 320;
    s.video.height = 240;
    s.video.fps = 12;
    s.duration = 2.0;
    s.train.steps = 100;
    s.particles = 2000;
    for (const char* name : {"c.mp4", "c.gif", "frames/"}) {
        auto sink = FrameSink::open((d / name).string(), s.video);
        std::atomic<bool> cancel{false};
        int seen = 0;
        bool done = run_export(s, *sink, [&](int frame, int) {
            seen = frame;
            if (frame >= 3) cancel = true;
        }, &cancel);
        CHECK_FALSE(done);
        CHECK(seen >= 3);
        CHECK(seen < 24);
        CHECK(count_entries(d) == 0);
    }
}

TEST_CASE("clip timing: holds, easing, ping-pong and timelapse snapshots") {
    ExportSettings s;
    s.video.fps = 10;
    s.duration = 3.0;
    s.hold_start = 0.5;
    s.hold_end = 0.5;
    s.easing = Easing::Linear;
    const int n = s.frame_count();
    REQUIRE(n == 30);
    for (int k = 0; k < 5; ++k) CHECK(frame_time(s, k, n).t == 0.0f);
    CHECK(frame_time(s, 5, n).t == 0.0f);          // the sweep starts at t0...
    CHECK(frame_time(s, 24, n).t == 1.0f);         // ...and reaches t1 on its last frame
    for (int k = 25; k < 30; ++k) CHECK(frame_time(s, k, n).t == 1.0f);
    CHECK(frame_time(s, 15, n).t == doctest::Approx(10.0f / 19.0f));
    for (Easing e : {Easing::Linear, Easing::EaseInOut, Easing::EaseOut}) {
        CHECK(apply_easing(e, 0.0f) == 0.0f);
        CHECK(apply_easing(e, 1.0f) == 1.0f);
        for (int i = 0; i < 100; ++i) CHECK(apply_easing(e, (i + 1) / 100.0f) >= apply_easing(e, i / 100.0f));
    }
    CHECK(apply_easing(Easing::EaseInOut, 0.5f) == doctest::Approx(0.5f));

    s.ping_pong = true;
    s.t0 = 0.2f;
    s.t1 = 0.8f;
    float peak = 0;
    for (int k = 0; k < n; ++k) peak = std::max(peak, frame_time(s, k, n).t);
    CHECK(peak == doctest::Approx(0.8f));
    CHECK(frame_time(s, 0, n).t == doctest::Approx(0.2f));
    CHECK(frame_time(s, n - 1, n).t == doctest::Approx(0.2f));  // back at t0: the clip loops

    s = ExportSettings();
    s.mode = ExportMode::Timelapse;
    s.snapshots = 7;
    const int m = s.frame_count();
    int last = 0;
    std::vector<int> seen(7, 0);
    for (int k = 0; k < m; ++k) {
        FrameTime ft = frame_time(s, k, m);
        CHECK(ft.snapshot >= last);
        last = ft.snapshot;
        seen[ft.snapshot]++;
        CHECK(ft.t == s.t1);
    }
    for (int c : seen) CHECK(c > 0);
    CHECK(frame_time(s, m - 1, m).snapshot == 6);
}
