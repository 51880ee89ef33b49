// Frame sinks: MP4/GIF/PNG exports checked with ffprobe and decoded back with ffmpeg.
#include <doctest/doctest.h>
#include <stb/stb_image.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "app/export/frame_sink.h"
#include "core/base/types.h"

namespace fs = std::filesystem;
using fmp::ExportFormat;
using fmp::FrameSink;
using fmp::InputError;
using fmp::VideoSettings;

namespace {

constexpr int kW = 320, kH = 240, kFrames = 45, kFps = 30;
constexpr std::uint8_t kBg[3] = {18, 22, 40};

struct Disc {
    double cx, cy, r;
    std::uint8_t rgb[3];
};

// Frame i of a disc sweeping left to right in the upper half while its colour turns from
// orange to cyan; anti-aliased edge, a grey gradient bar along the bottom for the palette.
Disc disc_at(int i, int w, int h) {
    double t = static_cast<double>(i) / (kFrames - 1);
    Disc d{0.2 * w + 0.6 * w * t, 0.3 * h, 0.12 * h, {}};
    d.rgb[0] = static_cast<std::uint8_t>(std::lround(240 * (1 - t) + 30 * t));
    d.rgb[1] = static_cast<std::uint8_t>(std::lround(140 * (1 - t) + 210 * t));
    d.rgb[2] = static_cast<std::uint8_t>(std::lround(30 * (1 - t) + 230 * t));
    return d;
}

std::vector<std::uint8_t> make_frame(int i, int w = kW, int h = kH) {
    std::vector<std::uint8_t> px(static_cast<std::size_t>(w) * h * 4);
    Disc d = disc_at(i, w, h);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            std::uint8_t* p = &px[(static_cast<std::size_t>(y) * w + x) * 4];
            double dist = std::hypot(x + 0.5 - d.cx, y + 0.5 - d.cy);
            double cover = std::clamp(d.r - dist + 0.5, 0.0, 1.0);
            for (int c = 0; c < 3; ++c) {
                double bg = y >= h * 0.85 ? 255.0 * x / (w - 1) : kBg[c];
                p[c] = static_cast<std::uint8_t>(std::lround(bg * (1 - cover) + d.rgb[c] * cover));
            }
            p[3] = 255;
        }
    return px;
}

// The same frame stored bottom row first, as glReadPixels returns it.
std::vector<std::uint8_t> flip_rows(const std::vector<std::uint8_t>& px, int w, int h) {
    std::vector<std::uint8_t> out(px.size());
    for (int y = 0; y < h; ++y)
        std::copy_n(&px[static_cast<std::size_t>(y) * w * 4], w * 4,
                    &out[static_cast<std::size_t>(h - 1 - y) * w * 4]);
    return out;
}

std::string run(const std::string& cmd) {
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    REQUIRE_MESSAGE(p, "cannot run: " << cmd);
    char buf[65536];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    pclose(p);
    return out;
}

void require_ffmpeg() {
    bool ok =
        std::system("command -v ffprobe >/dev/null 2>&1 && command -v ffmpeg >/dev/null 2>&1") == 0;
    REQUIRE_MESSAGE(ok, "ffprobe/ffmpeg not found: install ffmpeg (scripts/setup_deps.sh --test)");
}

nlohmann::json ffprobe(const std::string& file) {
    std::string out =
        run("ffprobe -v error -count_frames -select_streams v:0 -show_entries "
            "stream=codec_name,width,height,nb_read_frames,pix_fmt -show_entries "
            "format=duration -of json '" +
            file + "'");
    INFO("ffprobe said: " << out);
    nlohmann::json j = nlohmann::json::parse(out, nullptr, false);
    REQUIRE(!j.is_discarded());
    REQUIRE(j["streams"].size() == 1);
    return j;
}

std::vector<std::vector<std::uint8_t>> decode_rgb(const std::string& file, int w, int h) {
    std::string raw = run("ffmpeg -v error -i '" + file + "' -f rawvideo -pix_fmt rgb24 -");
    std::size_t frame_bytes = static_cast<std::size_t>(w) * h * 3;
    REQUIRE(raw.size() % frame_bytes == 0);
    std::vector<std::vector<std::uint8_t>> frames;
    for (std::size_t off = 0; off < raw.size(); off += frame_bytes)
        frames.emplace_back(raw.begin() + off, raw.begin() + off + frame_bytes);
    return frames;
}

double pixel_stddev(const std::vector<std::uint8_t>& rgb) {
    double s = 0, s2 = 0;
    for (std::uint8_t v : rgb) s += v, s2 += double(v) * v;
    double m = s / rgb.size();
    return std::sqrt(std::max(0.0, s2 / rgb.size() - m * m));
}

double mean_abs_diff(const std::vector<std::uint8_t>& a, const std::vector<std::uint8_t>& b) {
    double s = 0;
    for (std::size_t i = 0; i < a.size(); ++i) s += std::abs(int(a[i]) - int(b[i]));
    return s / a.size();
}

// Mean colour of a small square around (x, y) in an rgb24 frame.
std::array<double, 3> patch(const std::vector<std::uint8_t>& rgb, int w, double x, double y) {
    std::array<double, 3> m{0, 0, 0};
    int n = 0;
    for (int dy = -3; dy <= 3; ++dy)
        for (int dx = -3; dx <= 3; ++dx, ++n)
            for (int c = 0; c < 3; ++c)
                m[c] += rgb[(static_cast<std::size_t>(int(y) + dy) * w + int(x) + dx) * 3 + c];
    for (double& v : m) v /= n;
    return m;
}

void check_disc(const std::vector<std::uint8_t>& rgb, int i, double tol) {
    Disc d = disc_at(i, kW, kH);
    std::array<double, 3> at = patch(rgb, kW, d.cx, d.cy);
    // Mirror position: where the disc would be if the frame were upside down.
    std::array<double, 3> mirror = patch(rgb, kW, d.cx, kH - d.cy);
    for (int c = 0; c < 3; ++c) {
        CHECK(std::abs(at[c] - d.rgb[c]) < tol);
        CHECK(std::abs(mirror[c] - kBg[c]) < tol);
    }
}

// A fresh scratch directory, removed at the end of the test.
struct Scratch {
    fs::path dir;
    Scratch() {
        static int n = 0;
        dir = fs::temp_directory_path() /
              ("fmp_export_test_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
        fs::remove_all(dir);
        fs::create_directories(dir);
    }
    ~Scratch() { fs::remove_all(dir); }
    std::string operator/(const std::string& name) const { return (dir / name).string(); }
    std::vector<std::string> entries() const {
        std::vector<std::string> names;
        for (const auto& e : fs::directory_iterator(dir))
            names.push_back(e.path().filename().string());
        return names;
    }
};

VideoSettings small_settings() {
    VideoSettings s;
    s.width = kW;
    s.height = kH;
    s.fps = kFps;
    return s;
}

void write_clip(const std::string& path, const VideoSettings& s, bool bottom_up) {
    std::unique_ptr<FrameSink> sink = FrameSink::open(path, s);
    for (int i = 0; i < kFrames; ++i) {
        std::vector<std::uint8_t> f = make_frame(i);
        if (bottom_up) f = flip_rows(f, kW, kH);
        sink->add_frame(f.data(), kW * 4, !bottom_up);
    }
    CHECK(!fs::exists(path));  // nothing under the final name until finish()
    sink->finish();
}

}  // namespace

TEST_CASE("export_format_for_path picks the format from the name") {
    CHECK(fmp::export_format_for_path("flow.mp4") == ExportFormat::Mp4);
    CHECK(fmp::export_format_for_path("out/FLOW.MP4") == ExportFormat::Mp4);
    CHECK(fmp::export_format_for_path("flow.gif") == ExportFormat::Gif);
    CHECK(fmp::export_format_for_path("frames/") == ExportFormat::PngSequence);
    CHECK(fmp::export_format_for_path("frames") == ExportFormat::PngSequence);
    CHECK_THROWS_AS(fmp::export_format_for_path("flow.mov"), InputError);
    CHECK_THROWS_AS(fmp::export_format_for_path(""), InputError);
    try {
        fmp::export_format_for_path("flow.avi");
    } catch (const InputError& e) {
        std::string msg = e.what();
        CHECK(msg.find(".mp4") != std::string::npos);
        CHECK(msg.find(".gif") != std::string::npos);
        CHECK(msg.find("frames/") != std::string::npos);
        CHECK(msg.find('\n') == std::string::npos);
    }
}

TEST_CASE("MP4: H.264 yuv420p, exact frame count and duration, faststart, frames decode back") {
    require_ffmpeg();
    Scratch tmp;
    std::string out = tmp / "clip.mp4";
    write_clip(out, small_settings(), /*bottom_up=*/true);
    REQUIRE(fs::exists(out));
    CHECK(tmp.entries() == std::vector<std::string>{"clip.mp4"});  // no temporaries left

    nlohmann::json j = ffprobe(out);
    const auto& st = j["streams"][0];
    CHECK(st["codec_name"] == "h264");
    CHECK(st["pix_fmt"] == "yuv420p");
    CHECK(st["width"] == kW);
    CHECK(st["height"] == kH);
    CHECK(st["nb_read_frames"] == std::to_string(kFrames));
    CHECK(std::stod(j["format"]["duration"].get<std::string>()) ==
          doctest::Approx(double(kFrames) / kFps).epsilon(0.005));

    // +faststart: the index (moov) comes before the media data (mdat).
    std::ifstream f(out, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    std::size_t moov = bytes.find("moov"), mdat = bytes.find("mdat");
    REQUIRE(moov != std::string::npos);
    REQUIRE(mdat != std::string::npos);
    CHECK(moov < mdat);

    std::vector<std::vector<std::uint8_t>> frames = decode_rgb(out, kW, kH);
    REQUIRE(frames.size() == kFrames);
    for (const auto& fr : frames) CHECK(pixel_stddev(fr) > 10.0);
    CHECK(mean_abs_diff(frames.front(), frames.back()) > 2.0);
    // Upright (the bottom-up input was flipped), in order, colours kept (BT.709 round trip).
    for (int i : {0, 22, 44}) check_disc(frames[i], i, 12.0);
}

TEST_CASE("GIF: loops forever, right frame count, size and timing, colours from one palette") {
    require_ffmpeg();
    Scratch tmp;
    std::string out = tmp / "clip.gif";
    write_clip(out, small_settings(), /*bottom_up=*/false);
    REQUIRE(fs::exists(out));
    CHECK(tmp.entries() == std::vector<std::string>{"clip.gif"});

    nlohmann::json j = ffprobe(out);
    const auto& st = j["streams"][0];
    CHECK(st["codec_name"] == "gif");
    CHECK(st["width"] == kW);
    CHECK(st["height"] == kH);
    CHECK(st["nb_read_frames"] == std::to_string(kFrames));
    // GIF delays are in 1/100 s; the muxer spreads the rounding so the total stays right.
    CHECK(std::abs(std::stod(j["format"]["duration"].get<std::string>()) - double(kFrames) / kFps) <
          0.05);

    std::ifstream f(out, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    std::size_t ns = bytes.find("NETSCAPE2.0");
    REQUIRE(ns != std::string::npos);
    CHECK(bytes[ns + 13] == 0);  // loop count, little-endian 16 bits: 0 = forever
    CHECK(bytes[ns + 14] == 0);

    std::vector<std::vector<std::uint8_t>> frames = decode_rgb(out, kW, kH);
    REQUIRE(frames.size() == kFrames);
    for (const auto& fr : frames) CHECK(pixel_stddev(fr) > 10.0);
    CHECK(mean_abs_diff(frames.front(), frames.back()) > 2.0);
    for (int i : {0, 22, 44}) check_disc(frames[i], i, 10.0);
    // The flat background is a palette colour: reproduced exactly, not dithered.
    for (int c = 0; c < 3; ++c) CHECK(frames[10][(5 * kW + 5) * 3 + c] == kBg[c]);
}

TEST_CASE("PNG sequence: lossless frames in a directory renamed into place") {
    Scratch tmp;
    std::string out = tmp / "frames/";
    VideoSettings s = small_settings();
    {
        std::unique_ptr<FrameSink> sink = FrameSink::open(out, s);
        for (int i = 0; i < 6; ++i) {
            std::vector<std::uint8_t> fr = flip_rows(make_frame(i), kW, kH);
            sink->add_frame(fr.data(), kW * 4, false);
        }
        CHECK(!fs::exists(tmp / "frames"));
        sink->finish();
    }
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(tmp / "frames"))
        names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    REQUIRE(names.size() == 6);
    CHECK(names.front() == "frame_00000.png");
    CHECK(names.back() == "frame_00005.png");

    int w = 0, h = 0, comp = 0;
    std::uint8_t* px = stbi_load((tmp / "frames/frame_00003.png").c_str(), &w, &h, &comp, 4);
    REQUIRE(px);
    CHECK(w == kW);
    CHECK(h == kH);
    CHECK(comp == 3);  // opaque frames are stored without alpha
    std::vector<std::uint8_t> expect = make_frame(3);
    CHECK(std::equal(expect.begin(), expect.end(), px));  // exact and upright
    stbi_image_free(px);

    // Exporting again to the same directory replaces the old frames instead of mixing them.
    {
        std::unique_ptr<FrameSink> sink = FrameSink::open(tmp / "frames", s);
        for (int i = 0; i < 2; ++i) sink->add_frame(make_frame(i).data(), kW * 4, true);
        sink->finish();
    }
    CHECK(std::distance(fs::directory_iterator(tmp / "frames"), fs::directory_iterator{}) == 2);
    CHECK(tmp.entries() == std::vector<std::string>{"frames"});

    // A directory with other files in it is never overwritten.
    fs::create_directories(tmp / "mine");
    std::ofstream(tmp / "mine/notes.txt") << "keep me";
    CHECK_THROWS_AS(FrameSink::open(tmp / "mine/", s), InputError);
    CHECK(fs::exists(tmp / "mine/notes.txt"));
}

TEST_CASE("cancel, failure and destruction leave nothing under the final name") {
    Scratch tmp;
    VideoSettings s = small_settings();
    for (std::string name : {"a.mp4", "a.gif", "a_frames/"}) {
        CAPTURE(name);
        std::vector<std::uint8_t> fr = make_frame(5);
        {
            std::unique_ptr<FrameSink> sink = FrameSink::open(tmp / name, s);
            for (int i = 0; i < 4; ++i) sink->add_frame(fr.data(), kW * 4, true);
            sink->cancel();
            sink->cancel();  // harmless twice
            CHECK_THROWS_AS(sink->add_frame(fr.data(), kW * 4, true), std::logic_error);
            CHECK_THROWS_AS(sink->finish(), std::logic_error);
        }
        CHECK(tmp.entries().empty());
        {
            // Dropped without finish(), e.g. by an exception in the renderer.
            std::unique_ptr<FrameSink> sink = FrameSink::open(tmp / name, s);
            for (int i = 0; i < 4; ++i) sink->add_frame(fr.data(), kW * 4, true);
        }
        CHECK(tmp.entries().empty());
        {
            std::unique_ptr<FrameSink> sink = FrameSink::open(tmp / name, s);
            CHECK_THROWS_AS(sink->finish(), InputError);  // no frames: nothing to write
        }
        CHECK(tmp.entries().empty());
    }
}

TEST_CASE("bad output paths and settings give one clear line") {
    Scratch tmp;
    VideoSettings s = small_settings();
    auto message = [&](const std::string& path, const VideoSettings& vs) {
        try {
            FrameSink::open(path, vs);
        } catch (const InputError& e) {
            return std::string(e.what());
        }
        return std::string("(no error)");
    };
    std::string m = message(tmp / "missing/dir/clip.mp4", s);
    CHECK(m.find("does not exist") != std::string::npos);
    CHECK(m.find('\n') == std::string::npos);
    fs::create_directories(tmp / "taken.mp4");
    CHECK(message(tmp / "taken.mp4", s).find("is a directory") != std::string::npos);
    CHECK(message(tmp / "missing/frames/", s).find("does not exist") != std::string::npos);
    CHECK(message(tmp / "clip.webm", s).find("unknown output format") != std::string::npos);
    VideoSettings odd = s;
    odd.width = 321;
    CHECK(message(tmp / "clip.mp4", odd).find("use 322x240") != std::string::npos);
    CHECK_NOTHROW(FrameSink::open(tmp / "odd.gif", odd)->cancel());  // GIF takes odd sizes
    VideoSettings slow = s;
    slow.fps = 0;
    CHECK(message(tmp / "clip.gif", slow).find("fps") != std::string::npos);
    VideoSettings typo = s;
    typo.mp4_preset = "quick";
    CHECK(message(tmp / "clip.mp4", typo).find("veryfast") != std::string::npos);
    if (::geteuid() != 0) {  // root may write anywhere
        fs::create_directories(tmp / "ro");
        fs::permissions(tmp / "ro", fs::perms::owner_read | fs::perms::owner_exec);
        CHECK(message(tmp / "ro/clip.mp4", s).find("no permission") != std::string::npos);
        fs::permissions(tmp / "ro", fs::perms::owner_all);
    }
    std::vector<std::string> left = tmp.entries();
    std::sort(left.begin(), left.end());
    bool only_setup_dirs = left == std::vector<std::string>{"ro", "taken.mp4"} ||
                           left == std::vector<std::string>{"taken.mp4"};
    CHECK(only_setup_dirs);
}

TEST_CASE("write_image: one PNG figure through a temporary name") {
    Scratch tmp;
    std::vector<std::uint8_t> fr = make_frame(10);
    fr[3] = 0;  // one transparent pixel: the PNG keeps alpha
    fmp::write_image(tmp / "fig.png", fr.data(), kW, kH, kW * 4, true);
    CHECK(tmp.entries() == std::vector<std::string>{"fig.png"});
    int w = 0, h = 0, comp = 0;
    std::uint8_t* px = stbi_load((tmp / "fig.png").c_str(), &w, &h, &comp, 4);
    REQUIRE(px);
    CHECK(comp == 4);
    CHECK(std::equal(fr.begin(), fr.end(), px));
    stbi_image_free(px);
    CHECK_THROWS_AS(fmp::write_image(tmp / "fig.tiff", fr.data(), kW, kH, kW * 4, true),
                    InputError);
    CHECK_THROWS_AS(fmp::write_image(tmp / "no/fig.png", fr.data(), kW, kH, kW * 4, true),
                    InputError);
}

// Frames like the real scene: 20k particles (2x2 dots) on a dark background, drifting along a
// smooth swirl (neighbours move alike, as in a flow), so the encoder sees fine detail that moves
// every frame rather than a flat disc.
std::vector<std::uint8_t> particle_frame(int i, int w, int h) {
    std::vector<std::uint8_t> px(static_cast<std::size_t>(w) * h * 4);
    for (std::size_t p = 0; p < px.size(); p += 4)
        px[p] = kBg[0], px[p + 1] = kBg[1], px[p + 2] = kBg[2], px[p + 3] = 255;
    std::uint32_t state = 12345;
    auto uniform = [&] { return ((state = state * 1664525u + 1013904223u) >> 8) / 16777216.0; };
    for (int k = 0; k < 20000; ++k) {
        double u = uniform(), v = uniform();
        double rx = (u - 0.5) * 0.8 * w, ry = (v - 0.5) * 0.8 * h;
        double angle = 0.01 * i * (1.0 + 0.5 * std::hypot(rx / w, ry / h));
        int x = static_cast<int>(w / 2 + rx * std::cos(angle) - ry * std::sin(angle));
        int y = static_cast<int>(h / 2 + rx * std::sin(angle) + ry * std::cos(angle));
        auto r = static_cast<std::uint8_t>(120 + 130 * u),
             b = static_cast<std::uint8_t>(250 - 150 * v);
        for (int dy = 0; dy < 2; ++dy)
            for (int dx = 0; dx < 2; ++dx) {
                int xx = std::clamp(x + dx, 0, w - 1), yy = std::clamp(y + dy, 0, h - 1);
                std::uint8_t* q = &px[(static_cast<std::size_t>(yy) * w + xx) * 4];
                q[0] = r, q[1] = 90, q[2] = b;
            }
    }
    return px;
}

TEST_CASE("MP4 encoding throughput at 1280x720") {
    Scratch tmp;
    VideoSettings s;  // 1280x720, 30 fps, crf 20
    const int n = 60;
    std::vector<std::vector<std::uint8_t>> frames;
    for (int i = 0; i < n; ++i) frames.push_back(particle_frame(i, s.width, s.height));
    std::clock_t c0 = std::clock();
    auto t0 = std::chrono::steady_clock::now();
    std::unique_ptr<FrameSink> sink = FrameSink::open(tmp / "hd.mp4", s);
    for (int i = 0; i < n; ++i) sink->add_frame(frames[i].data(), s.width * 4, true);
    sink->finish();
    double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double cpu = double(std::clock() - c0) / CLOCKS_PER_SEC;  // all threads of this process
    MESSAGE(sink->describe() << ": " << n << " frames of 1280x720 (20k particles) in " << sec
                             << " s wall = " << n / sec << " frames/s; " << 1000 * cpu / n
                             << " ms CPU per frame; " << fs::file_size(tmp / "hd.mp4") / 1024
                             << " KiB");
    CHECK(fs::file_size(tmp / "hd.mp4") > 1000);
}
