// GPU particles for the GL engine: the stored trajectory equals the CPU engine's integration (in
// slices for the window, whole for an export; the SDE with the same counter-based noise, and with
// the CPU path's law), and the renderer draws GL-buffer points exactly like the same points given
// as x,y pairs.
#include <doctest/doctest.h>
#include <glad/gl.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "app/render/flow_state.h"
#include "app/render/gpu_particles.h"
#include "app/render/scene_renderer.h"
#include "core/engine/gl/gl_context.h"
#include "core/engine/gl/gl_engine.h"
#include "core/metrics/metrics.h"

using namespace fmp;

namespace {

std::unique_ptr<HeadlessGlContext> context() {
    std::string error;
    auto ctx = HeadlessGlContext::create(&error);
    REQUIRE_MESSAGE(ctx, error);
    ctx->make_current();
    return ctx;
}

Points read_slice(unsigned buffer, int offset_points, int count) {
    Points p(count, 2);
    glBindBuffer(GL_COPY_READ_BUFFER, buffer);
    glGetBufferSubData(GL_COPY_READ_BUFFER, static_cast<GLintptr>(offset_points) * 8,
                       static_cast<GLsizeiptr>(count) * 8, p.data());
    glBindBuffer(GL_COPY_READ_BUFFER, 0);
    return p;
}

FlowSpec small_spec(int particles, int steps) {
    FlowSpec spec;
    spec.source = make_dataset("normal");
    spec.target = make_dataset("moons");
    spec.path = make_path("vp");  // source_scale 1 but curved: a fair test of the slices
    spec.solver = SolverKind::Midpoint;
    spec.steps = steps;
    spec.particles = particles;
    spec.seed = 3;
    return spec;
}

TrainConfig small_config(const FlowSpec& spec, int width, int depth) {
    TrainConfig config;
    config.mlp.width = width;
    config.mlp.depth = depth;
    config.path = spec.path;
    return config;
}

// A GL and a CPU engine with the same weights: the CPU one trained `steps` steps, its weights
// given to the GL one.
struct MatchedEngines {
    std::unique_ptr<Engine> gl, cpu;
};
MatchedEngines matched_engines(const TrainConfig& config, const FlowSpec& spec, int steps) {
    MatchedEngines e{make_gl_engine(), make_cpu_engine()};
    e.gl->reset(config, spec.source, spec.target);
    e.cpu->reset(config, spec.source, spec.target);
    e.cpu->train(steps);
    e.gl->set_params(e.cpu->params());
    return e;
}

}  // namespace

TEST_CASE("GPU particle trajectory: every stored slice equals the CPU engine's integration") {
    auto ctx = context();
    const FlowSpec spec = small_spec(300, 6);
    const TrainConfig config = small_config(spec, 32, 2);
    auto [gl, cpu] = matched_engines(config, spec, 20);  // weights that are not the initial ones

    GpuParticles particles;
    particles.set_spec(spec);
    PointLayer layer;
    CHECK_FALSE(particles.fill_layer(0.5f, ColorMode::Source, 1.0f, nullptr, layer));
    for (int i = 0; i < 100 && !particles.ready(); ++i) particles.update(*gl, 1, 0.0);
    REQUIRE(particles.ready());
    CHECK(particles.count() == 300);

    const Points start = particle_starts(spec, 300) * spec.path.source_scale();
    cpu->set_particles(start);
    for (int k = 0; k <= spec.steps; ++k) {
        const float t = static_cast<float>(k) / spec.steps;
        if (k > 0) cpu->integrate_particles(static_cast<float>(k - 1) / spec.steps, t, spec.solver, 1);
        Points expected;
        cpu->read_particles(expected);
        REQUIRE(particles.fill_layer(t, ColorMode::Source, 1.0f, nullptr, layer));
        // At a stored time the layer shows that slice alone.
        const bool on_b = layer.gl_mix > 0.5f;
        CHECK((layer.gl_mix == doctest::Approx(0.0) || layer.gl_mix == doctest::Approx(1.0)));
        Points got = read_slice(layer.gl_buffer, on_b ? layer.gl_offset_b : layer.gl_offset_a, 300);
        CHECK_MESSAGE((got - expected).cwiseAbs().maxCoeff() < 2e-4f, "slice at t = " << t);
    }
    // Between stored times the layer mixes the two neighbouring slices.
    REQUIRE(particles.fill_layer(0.25f, ColorMode::Source, 1.0f, nullptr, layer));
    CHECK(layer.gl_offset_a == 300);  // slice 1 (t = 1/6) ...
    CHECK(layer.gl_offset_b == 600);  // ... and slice 2 (t = 2/6)
    CHECK(layer.gl_mix == doctest::Approx(0.5));
    CHECK(layer.gl_colors != 0);

    // New weights: the next build restarts from the start and shows them.
    cpu->train(20);
    gl->set_params(cpu->params());
    for (int i = 0; i < 100; ++i) particles.update(*gl, 2, 0.0);
    cpu->set_particles(start);
    cpu->integrate_particles(0.0f, 1.0f, spec.solver, spec.steps);
    Points expected;
    cpu->read_particles(expected);
    REQUIRE(particles.fill_layer(1.0f, ColorMode::Single, 1.0f, nullptr, layer));
    CHECK(layer.gl_colors == 0);
    Points got = read_slice(layer.gl_buffer, layer.gl_mix > 0.5f ? layer.gl_offset_b : layer.gl_offset_a, 300);
    CHECK((got - expected).cwiseAbs().maxCoeff() < 2e-4f);
}

TEST_CASE("GPU particle slices are capped: 1000 solver steps are stored in at most 64 slices") {
    auto ctx = context();
    const FlowSpec spec = small_spec(40, 1000);
    const TrainConfig config = small_config(spec, 16, 1);
    auto gl = make_gl_engine();
    gl->reset(config, spec.source, spec.target);
    GpuParticles particles;
    particles.set_spec(spec);
    for (int i = 0; i < 200 && !particles.ready(); ++i) particles.update(*gl, 1, 1000.0);
    REQUIRE(particles.ready());
    PointLayer layer;
    REQUIRE(particles.fill_layer(1.0f, ColorMode::Source, 1.0f, nullptr, layer));
    CHECK(layer.gl_offset_b / 40 <= 64);
    // The last slice is the end of all 1000 steps, as the CPU engine integrates them.
    auto cpu = make_cpu_engine();
    cpu->reset(config, spec.source, spec.target);
    cpu->set_params(gl->params());
    cpu->set_particles(particle_starts(spec, 40) * spec.path.source_scale());
    cpu->integrate_particles(0.0f, 1.0f, spec.solver, 1000);
    Points expected;
    cpu->read_particles(expected);
    Points got = read_slice(layer.gl_buffer, layer.gl_offset_b, 40);
    CHECK(layer.gl_mix == doctest::Approx(1.0));
    CHECK((got - expected).cwiseAbs().maxCoeff() < 1e-3f);
}

TEST_CASE("a whole build keeps every solver step when asked and reads back as the CPU trajectory") {
    auto ctx = context();
    const FlowSpec spec = small_spec(500, 80);  // more steps than the window's 64 slices
    const TrainConfig config = small_config(spec, 32, 2);
    auto [gl, cpu] = matched_engines(config, spec, 20);

    CHECK(gpu_trajectory_slices(500, 80, k_window_gpu_slices) == 64);
    CHECK(gpu_trajectory_slices(500, 80, 80) == 80);
    CHECK(gpu_trajectory_slices(2000000, 1000, 1000) < 1000);  // beyond the memory budget

    GpuParticles particles;
    CHECK_FALSE(particles.build(*cpu));  // the CPU engine has no GL buffers
    particles.set_spec(spec, spec.steps);
    CHECK(particles.slices() == 80);
    REQUIRE(particles.build(*gl));
    CHECK(particles.ready());
    CHECK(particles.builds() == 1);

    Mlp mlp(config.mlp, 1);
    mlp.set_params(cpu->params());
    const auto reference = make_reference(spec);
    const auto expected = integrate_trajectory(spec, mlp, *reference);
    const auto got = particles.read_trajectory(500, *reference);
    REQUIRE(got);
    REQUIRE(got->frames.size() == expected->frames.size());
    CHECK((got->x0 - expected->x0).cwiseAbs().maxCoeff() == 0.0f);
    float worst = 0.0f;
    for (std::size_t k = 0; k < got->frames.size(); ++k)
        worst = std::max(worst, (got->frames[k] - expected->frames[k]).cwiseAbs().maxCoeff());
    CHECK(worst < 1e-3f);
    int same_mode = 0;
    for (std::size_t i = 0; i < got->mode.size(); ++i) same_mode += got->mode[i] == expected->mode[i];
    CHECK(same_mode >= 495);
    // A few rows: the first particles of each slice.
    const auto head = particles.read_trajectory(10, *reference);
    REQUIRE(head->frames.size() == 81);
    CHECK(head->frames[40].rows() == 10);
    CHECK((head->frames[40] - got->frames[40].topRows(10)).cwiseAbs().maxCoeff() == 0.0f);

    // A second build is a new one, under the engine's weights now.
    cpu->train(20);
    gl->set_params(cpu->params());
    REQUIRE(particles.build(*gl));
    CHECK(particles.builds() == 2);
    mlp.set_params(cpu->params());
    const auto again = integrate_trajectory(spec, mlp, *reference);
    CHECK((particles.read_trajectory(500, *reference)->frames.back() - again->frames.back()).cwiseAbs().maxCoeff() <
          1e-3f);
}

TEST_CASE("GPU SDE particles: the CPU engine's SDE with the same noise, however sliced; the CPU path's law") {
    auto ctx = context();
    FlowSpec spec = small_spec(500, 80);
    spec.path = make_path("condot");
    spec.sde_gamma = 1.5f;
    const TrainConfig config = small_config(spec, 32, 2);
    auto [gl, cpu] = matched_engines(config, spec, 200);

    // The reference: one CPU-engine call of every Euler–Maruyama step with the export's noise key.
    const Points start = particle_starts(spec, 500) * spec.path.source_scale();
    cpu->set_particles(start);
    const IntegrationStats stats = cpu->integrate_particles_sde(
        0.0f, 1.0f, SdeSettings{spec.sde_gamma, spec.steps * k_sde_substeps}, spec.seed ^ 0x5de5de5dULL, 0);
    Points expected;
    cpu->read_particles(expected);

    // Whole (an export: 80 slices of one solver step) and windowed (64 slices of one or two).
    GpuParticles whole;
    whole.set_spec(spec, spec.steps);
    REQUIRE(whole.build(*gl));
    CHECK(whole.last_evaluations() == stats.evaluations);
    GpuParticles windowed;
    windowed.set_spec(spec);
    CHECK(windowed.slices() == 64);
    for (int i = 0; i < 200 && !windowed.ready(); ++i) windowed.update(*gl, 1, 0.0);
    REQUIRE(windowed.ready());
    const auto reference = make_reference(spec);
    for (GpuParticles* p : {&whole, &windowed}) {
        const auto traj = p->read_trajectory(500, *reference);
        REQUIRE(traj);
        const float e = (traj->frames.back() - expected).cwiseAbs().maxCoeff();
        MESSAGE(p->slices() << " slices: max |GPU - CPU engine| " << e);
        CHECK(e < 1e-3f);
    }

    // Against the CPU path (its Rng streams draw other normals): the same law. Its frames are
    // another draw of the SDE, as close to the GPU's as two CPU-path seeds are to each other.
    spec.particles = 2000;
    GpuParticles many;
    many.set_spec(spec, spec.steps);
    REQUIRE(many.build(*gl));
    Mlp mlp(config.mlp, 1);
    mlp.set_params(cpu->params());
    const auto gpu_traj = many.read_trajectory(2000, *reference);
    const auto cpu_a = integrate_trajectory(spec, mlp, *reference);
    FlowSpec other = spec;
    other.seed = 4;
    const auto cpu_b = integrate_trajectory(other, mlp, *reference);
    for (int k : {20, 40, 80}) {
        CAPTURE(k);
        const Points& g = gpu_traj->frames[std::size_t(k)];
        const Points& a = cpu_a->frames[std::size_t(k)];
        const Points& b = cpu_b->frames[std::size_t(k)];
        const double floor = sliced_wasserstein2(a, b, 128, 5);
        const double d = sliced_wasserstein2(g, a, 128, 5);
        MESSAGE("t = " << k / 80.0 << ": SW2(GPU SDE, CPU SDE) " << d << ", two CPU seeds " << floor);
        CHECK(d < 2.0 * floor + 0.01);
        // Not the same particles as the CPU path's (other noise), nor the ODE's.
        CHECK((g - a).cwiseAbs().maxCoeff() > 0.05f);
    }
    // The noise is there: the ODE's particles end elsewhere.
    FlowSpec ode = spec;
    ode.sde_gamma = 0.0f;
    ode.solver = SolverKind::Euler;
    const auto ode_traj = integrate_trajectory(ode, mlp, *reference);
    CHECK((gpu_traj->frames[40] - ode_traj->frames[40]).cwiseAbs().maxCoeff() > 0.1f);
}

TEST_CASE("points drawn from GL buffer slices match the same points drawn from x,y pairs") {
    auto ctx = context();
    SceneRenderer renderer;
    OffscreenTarget target(160, 120);
    View2D view;
    view.width = 160;
    view.height = 120;
    view.center = Eigen::Vector2f(0, 0);
    view.pixels_per_unit = 20.0f;

    // Slice a and slice b of 50 points; the layer at mix 0.25 must show a + 0.25 (b - a).
    const int n = 50;
    std::vector<float> a(2 * n), b(2 * n), mid(2 * n);
    std::vector<uint32_t> colors(n);
    for (int i = 0; i < n; ++i) {
        a[2 * i] = -3.0f + 0.12f * i;
        a[2 * i + 1] = std::sin(0.3f * i) * 2.0f;
        b[2 * i] = a[2 * i] + 1.0f;
        b[2 * i + 1] = -a[2 * i + 1];
        for (int c = 0; c < 2; ++c) mid[2 * i + c] = a[2 * i + c] + 0.25f * (b[2 * i + c] - a[2 * i + c]);
        colors[i] = pack_rgba(0.2f + 0.015f * i, 0.8f, 0.4f, 1.0f);
    }
    GLuint buffers[2];
    glGenBuffers(2, buffers);
    std::vector<float> both(a);
    both.insert(both.end(), b.begin(), b.end());
    glBindBuffer(GL_ARRAY_BUFFER, buffers[0]);
    glBufferData(GL_ARRAY_BUFFER, static_cast<GLsizeiptr>(both.size() * 4), both.data(), GL_STATIC_DRAW);
    glBindBuffer(GL_ARRAY_BUFFER, buffers[1]);
    glBufferData(GL_ARRAY_BUFFER, static_cast<GLsizeiptr>(colors.size() * 4), colors.data(), GL_STATIC_DRAW);
    glBindBuffer(GL_ARRAY_BUFFER, 0);

    auto draw = [&](const PointLayer& layer) {
        Scene scene;
        scene.grid = scene.axes = false;
        scene.layers.emplace_back(layer);
        target.bind();
        renderer.render(scene, view);
        glBindFramebuffer(GL_FRAMEBUFFER, 0);
        return target.read_rgba();
    };
    PointLayer from_xy;
    from_xy.xy = mid;
    from_xy.rgba = colors;
    from_xy.size_px = 5.0f;
    PointLayer from_gl;
    from_gl.gl_buffer = buffers[0];
    from_gl.gl_count = n;
    from_gl.gl_offset_a = 0;
    from_gl.gl_offset_b = n;
    from_gl.gl_mix = 0.25f;
    from_gl.gl_colors = buffers[1];
    from_gl.size_px = 5.0f;
    std::vector<uint8_t> expected = draw(from_xy), got = draw(from_gl);
    REQUIRE(expected.size() == got.size());
    int differing = 0, lit = 0;
    for (std::size_t i = 0; i < got.size(); i += 4) {
        int d = 0;
        for (int c = 0; c < 3; ++c) d = std::max(d, std::abs(int(got[i + c]) - int(expected[i + c])));
        differing += d > 2;
        lit += expected[i + 1] > 60;
    }
    CHECK(lit > 200);  // the points are there
    CHECK(differing == 0);
    // Slice b alone (mix 1) is a different picture.
    from_gl.gl_mix = 1.0f;
    CHECK(draw(from_gl) != expected);
    glDeleteBuffers(2, buffers);
}
