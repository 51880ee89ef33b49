// Exports with the GL engine on the GL thread integrate and draw the particles on the GPU: the
// frames match a CPU export of the same network pixel for pixel (up to float differences; the SDE
// by where its particles are, its noise being another draw; class-conditional networks class by
// class), and the profile says which path ran.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "app/export/export_job.h"
#include "app/export/frame_sink.h"
#include "app/run/train_options.h"
#include "core/engine/engine.h"
#include "core/engine/gl/gl_engine.h"
#include "tests/gl_test_support.h"
#include "tests/image_test_support.h"
#include "tests/test_support.h"

namespace fs = std::filesystem;
using namespace fmp;
using namespace fmp::test;

namespace {

// A small scene: 3000 particles of moons from a normal at 320x240, the particles alone (no grid
// or markers, so lit pixels are the particles and the overlay text).
ExportSettings small_scene() {
    ExportSettings s;
    s.particles = 3000;
    s.solver_steps = 20;
    s.video.width = 320;
    s.video.height = 240;
    s.train.width = 32;
    s.train.depth = 2;
    s.train.steps = 300;
    apply_views("particles", s.layers);
    return s;
}

// The network both exports draw: trained once per network shape on the CPU, so the two paths see
// the same weights.
ExportModel trained_model(const ExportSettings& s) {
    static std::map<std::size_t, std::vector<float>> trained;
    TrainSetup setup = resolve_train_options(s.train);
    std::vector<float>& params = trained[setup.config.mlp.parameter_count()];
    if (params.empty()) {
        auto engine = make_cpu_engine();
        engine->reset(setup.config, setup.source, setup.target);
        engine->train(s.train.steps);
        params = engine->params();
    }
    ExportModel m;
    m.mlp = setup.config.mlp;
    m.params = params;
    m.step = s.train.steps;
    return m;
}

struct Frames {
    std::vector<std::vector<uint8_t>> frames;
    ExportJob::Profile profile;
};

// Frames at `times` of one export job: the CPU path (no engine) or the GL engine on this thread.
Frames render(const ExportSettings& s, bool gl, const std::vector<float>& times) {
    make_gl_current("GPU particle exports");
    Frames out;
    ExportJob job(s, nullptr, trained_model(s), gl ? make_gl_engine() : nullptr, gl);
    for (float t : times) out.frames.push_back(job.render_still(t));
    out.profile = job.profile();
    check_no_gl_messages();
    return out;
}

double mean_abs_difference(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
    double sum = 0;
    for (std::size_t i = 0; i < a.size(); ++i) sum += std::abs(int(a[i]) - int(b[i]));
    return sum / static_cast<double>(a.size());
}

// Pixels clearly above the dark background (RGBA).
int lit_pixels(const std::vector<uint8_t>& rgba) {
    int n = 0;
    for (std::size_t i = 0; i + 3 < rgba.size(); i += 4) n += rgba[i] + rgba[i + 1] + rgba[i + 2] > 3 * 70;
    return n;
}

void check_same_picture(const std::vector<uint8_t>& cpu, const std::vector<uint8_t>& gpu, const std::string& what) {
    REQUIRE(cpu.size() == gpu.size());
    const int lit_cpu = lit_pixels(cpu), lit_gpu = lit_pixels(gpu);
    INFO(what << ": lit pixels CPU " << lit_cpu << ", GPU " << lit_gpu << ", mean |difference| "
              << mean_abs_difference(cpu, gpu));
    CHECK(lit_cpu > 2000);  // the particles are there
    CHECK(std::abs(lit_gpu - lit_cpu) <= lit_cpu * 3 / 100);
    CHECK(mean_abs_difference(cpu, gpu) < 0.3);
}

}  // namespace

TEST_CASE("a GL-engine export draws the CPU export's particles, integrated and drawn on the GPU") {
    const ExportSettings s = small_scene();
    const std::vector<float> times = {0.0f, 0.35f, 0.5f, 1.0f};
    const Frames cpu = render(s, false, times);
    const Frames gpu = render(s, true, times);

    // The GPU path ran and the CPU MLP integrated nothing; the CPU export the other way round.
    CHECK(gpu.profile.gpu_trajectories == 1);
    CHECK(gpu.profile.cpu_trajectories == 0);
    CHECK(gpu.profile.cpu_particles_reason.empty());
    CHECK(gpu.profile.integrate > 0.0);
    CHECK(cpu.profile.cpu_trajectories == 1);
    CHECK(cpu.profile.gpu_trajectories == 0);

    for (std::size_t k = 0; k < times.size(); ++k)
        check_same_picture(cpu.frames[k], gpu.frames[k], "t = " + std::to_string(times[k]));
    // The frames move with t: the comparison above would catch particles stuck at one slice.
    CHECK(mean_abs_difference(gpu.frames.front(), gpu.frames.back()) > 1.0);

    // The thresholds tell particles apart: other source samples (another seed) fail them.
    ExportSettings other = s;
    other.train.seed = 2;
    const Frames moved = render(other, true, {0.5f});
    CHECK(mean_abs_difference(cpu.frames[2], moved.frames[0]) > 1.0);
}

TEST_CASE("on the GPU path the paths, trails, heatmap and colours by mode match the CPU export") {
    ExportSettings s = small_scene();
    apply_views("particles,paths,trails,heatmap,targets,bymode", s.layers);
    const std::vector<float> times = {0.4f, 1.0f};
    const Frames cpu = render(s, false, times);
    const Frames gpu = render(s, true, times);
    CHECK(gpu.profile.gpu_trajectories == 1);
    CHECK(gpu.profile.cpu_trajectories == 0);
    for (std::size_t k = 0; k < times.size(); ++k)
        check_same_picture(cpu.frames[k], gpu.frames[k], "t = " + std::to_string(times[k]));
}

namespace {

// Lit pixels per 16 x 16 block, over all lit pixels: where the particles are, not which ones.
std::vector<double> lit_density(const std::vector<uint8_t>& rgba, int width, int height) {
    const int bx = (width + 15) / 16, by = (height + 15) / 16;
    std::vector<double> d(static_cast<std::size_t>(bx * by), 0.0);
    double total = 0;
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x) {
            const std::size_t i = (static_cast<std::size_t>(y) * width + x) * 4;
            if (rgba[i] + rgba[i + 1] + rgba[i + 2] > 3 * 70) {
                d[static_cast<std::size_t>((y / 16) * bx + x / 16)] += 1.0;
                total += 1.0;
            }
        }
    for (double& v : d) v /= std::max(total, 1.0);
    return d;
}

double density_distance(const std::vector<double>& a, const std::vector<double>& b) {
    double sum = 0;
    for (std::size_t i = 0; i < a.size(); ++i) sum += std::abs(a[i] - b[i]);
    return sum;
}

}  // namespace

TEST_CASE("a GL-engine SDE export integrates on the GPU: another draw of the CPU export's SDE") {
    ExportSettings s = small_scene();
    s.sde_gamma = 1.5f;
    const std::vector<float> times = {0.5f, 1.0f};
    const Frames gpu = render(s, true, times);
    CHECK(gpu.profile.gpu_trajectories == 1);
    CHECK(gpu.profile.cpu_trajectories == 0);
    CHECK(gpu.profile.cpu_particles_reason.empty());
    // The GPU's noise is counter-based, the CPU path's a stream: the particles are other draws of
    // the same SDE, so the frames are compared by where the particles are, against the distance
    // between two CPU draws (another particle seed).
    const Frames cpu = render(s, false, times);
    ExportSettings other = s;
    other.train.seed = 2;
    const Frames cpu_other = render(other, false, times);
    CHECK(cpu.profile.cpu_trajectories == 1);
    for (std::size_t k = 0; k < times.size(); ++k) {
        CAPTURE(times[k]);
        const int lit_gpu = lit_pixels(gpu.frames[k]), lit_cpu = lit_pixels(cpu.frames[k]);
        const auto dg = lit_density(gpu.frames[k], s.video.width, s.video.height);
        const auto dc = lit_density(cpu.frames[k], s.video.width, s.video.height);
        const auto dc2 = lit_density(cpu_other.frames[k], s.video.width, s.video.height);
        const double d = density_distance(dg, dc), floor = density_distance(dc2, dc);
        MESSAGE("t = " << times[k] << ": lit pixels GPU " << lit_gpu << ", CPU " << lit_cpu
                       << "; block density L1 GPU-CPU " << d << ", two CPU seeds " << floor);
        CHECK(lit_cpu > 2000);
        CHECK(std::abs(lit_gpu - lit_cpu) <= lit_cpu * 6 / 100);
        CHECK(d < 1.5 * floor + 0.02);
    }
    // The noise is applied: the ODE export's particles at t = 0.5 are elsewhere.
    ExportSettings ode = s;
    ode.sde_gamma = 0.0f;
    const Frames gpu_ode = render(ode, true, {0.5f});
    CHECK(mean_abs_difference(gpu_ode.frames[0], gpu.frames[0]) > 1.0);
}

TEST_CASE("a class-conditional network's particles follow their classes on the GPU, as in the CPU export") {
    ExportSettings s = small_scene();
    s.train.classes = true;  // moons: a class per moon
    apply_views("particles,byclass", s.layers);
    // Every class in turn (the default), and one class under guidance.
    for (const char* follow : {"all", "1"}) {
        CAPTURE(follow);
        s.follow = follow;
        s.guidance = std::string(follow) == "all" ? 1.0f : 2.5f;
        const std::vector<float> times = {0.5f, 1.0f};
        const Frames cpu = render(s, false, times);
        const Frames gpu = render(s, true, times);
        CHECK(gpu.profile.gpu_trajectories == 1);
        CHECK(gpu.profile.cpu_trajectories == 0);
        CHECK(gpu.profile.cpu_particles_reason.empty());
        for (std::size_t k = 0; k < times.size(); ++k)
            check_same_picture(cpu.frames[k], gpu.frames[k], "t = " + std::to_string(times[k]));
    }
    // The classes reach the picture: following one class moves the particles elsewhere.
    s.follow = "all";
    s.guidance = 1.0f;
    const Frames all = render(s, true, {1.0f});
    s.follow = "0";
    const Frames one = render(s, true, {1.0f});
    CHECK(mean_abs_difference(all.frames[0], one.frames[0]) > 1.0);
}

TEST_CASE("a GL-engine timelapse trains inline and draws every snapshot's particles from the GPU") {
    make_gl_current("GPU particle exports");
    const fs::path dir = fresh_dir("export_gpu_timelapse_" + std::to_string(::getpid()));
    ExportSettings s = small_scene();
    s.mode = ExportMode::Timelapse;
    s.snapshots = 3;
    s.train.steps = 60;
    s.video.width = 160;
    s.video.height = 120;
    s.video.fps = 6;
    s.duration = 1.0;
    s.hold_start = s.hold_end = 0.0;
    auto sink = FrameSink::open((dir / "frames").string() + "/", s.video);
    ExportJob::Profile profile;
    REQUIRE(run_export(s, *sink, {}, nullptr, {}, make_gl_engine(), true, &profile));
    check_no_gl_messages();
    CHECK(profile.gpu_trajectories == 3);
    CHECK(profile.cpu_trajectories == 0);
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir / "frames")) files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    REQUIRE(files.size() == 6);
    std::vector<Image> images;
    for (const auto& f : files) images.push_back(load(f));
    // Every frame shows particles, and the last snapshot's differ from the first's.
    for (const Image& img : images) CHECK(lit_pixels(img.rgba) > 300);
    CHECK(mean_abs_difference(images.front().rgba, images.back().rgba) > 0.5);
    std::error_code ec;
    fs::remove_all(dir, ec);
}
