// The scene builder and its view maths, without a window: camera mapping, fit and zoom, target
// modes, the --views parser, trajectories and the layers a scene gets.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <vector>

#include "app/render/scene_builder.h"
#include "core/base/rng.h"
#include "core/base/types.h"
#include "core/data/point_io.h"

using namespace fmp;

TEST_CASE("View2D maps world and pixels both ways, fits boxes and zooms around a fixed point") {
    View2D v;
    v.width = 800;
    v.height = 600;
    v.center = Eigen::Vector2f(1.0f, -2.0f);
    v.pixels_per_unit = 50.0f;
    Eigen::Vector2f p = v.world_to_pixel(Eigen::Vector2f(1.0f, -2.0f));
    CHECK(p.x() == doctest::Approx(400.0f));
    CHECK(p.y() == doctest::Approx(300.0f));
    // y points up in the world and down in pixels.
    Eigen::Vector2f up = v.world_to_pixel(Eigen::Vector2f(1.0f, -1.0f));
    CHECK(up.y() == doctest::Approx(250.0f));
    Eigen::Vector2f w = v.pixel_to_world(Eigen::Vector2f(123.0f, 456.0f));
    Eigen::Vector2f back = v.world_to_pixel(w);
    CHECK(back.x() == doctest::Approx(123.0f));
    CHECK(back.y() == doctest::Approx(456.0f));

    Eigen::AlignedBox2f box(Eigen::Vector2f(-3, -1), Eigen::Vector2f(5, 1));
    v.fit(box, 0.1f);
    // Width limits: 8 units into 80% of 800 px.
    CHECK(v.pixels_per_unit == doctest::Approx(640.0f / 8.0f));
    CHECK(v.center.x() == doctest::Approx(1.0f));
    Eigen::AlignedBox2f vis = v.visible_box();
    CHECK(vis.contains(box));

    Eigen::Vector2f cursor(200.0f, 100.0f);
    Eigen::Vector2f under = v.pixel_to_world(cursor);
    v.zoom_at(cursor, 1.7f);
    Eigen::Vector2f after = v.pixel_to_world(cursor);
    CHECK(after.x() == doctest::Approx(under.x()).epsilon(1e-4));
    CHECK(after.y() == doctest::Approx(under.y()).epsilon(1e-4));
}

TEST_CASE("grid spacing is 1, 2 or 5 times a power of ten and at least the minimum") {
    for (float ppu : {0.7f, 3.0f, 17.0f, 80.0f, 333.0f, 5000.0f}) {
        float s = grid_spacing(ppu, 30.0f);
        CHECK(s * ppu >= 30.0f * 0.999f);
        CHECK(s * ppu < 30.0f * 5.01f);
        float mant = s / std::pow(10.0f, std::floor(std::log10(s) + 1e-6f));
        bool nice =
            std::abs(mant - 1) < 1e-3 || std::abs(mant - 2) < 1e-3 || std::abs(mant - 5) < 1e-3;
        CHECK(nice);
    }
}

TEST_CASE("grid lines are counted by index and bounded, wherever the view is") {
    std::vector<float> xs;
    CHECK(for_each_line(-1.0f, 1.0f, 0.5f, [&](float x) { xs.push_back(x); }) == 5);
    CHECK(xs == std::vector<float>{-1.0f, -0.5f, 0.0f, 0.5f, 1.0f});
    // Far from the origin x += step no longer moves x in float; the lines still come out once each.
    int n = for_each_line(1e20f - 4e13f, 1e20f + 4e13f, 1e13f, [](float) {});
    CHECK(n >= 7);
    CHECK(n <= 9);
    // A view billions of spacings wide asks for no lines at all rather than billions of them.
    auto start = std::chrono::steady_clock::now();
    CHECK(for_each_line(-1e20f, 1e20f, 5e7f, [](float) {}) == 0);
    CHECK(for_each_line(0.0f, std::numeric_limits<float>::infinity(), 1.0f, [](float) {}) == 0);
    CHECK(for_each_line(0.0f, 1.0f, 0.0f, [](float) {}) == 0);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(100));
}

TEST_CASE("fit and zoom keep the view within the zoom range") {
    View2D v;
    v.width = 800;
    v.height = 600;
    v.fit(Eigen::AlignedBox2f(Eigen::Vector2f(-1e20f, -1e20f), Eigen::Vector2f(1e20f, 1e20f)));
    CHECK(v.pixels_per_unit == k_min_pixels_per_unit);
    v.fit(Eigen::AlignedBox2f(Eigen::Vector2f(0, 0), Eigen::Vector2f(1e-9f, 1e-9f)));
    CHECK(v.pixels_per_unit == k_max_pixels_per_unit);
    for (int i = 0; i < 200; ++i) v.zoom_at(Eigen::Vector2f(10, 10), 0.5f);
    CHECK(v.pixels_per_unit == k_min_pixels_per_unit);
    // At the widest zoom the whole coordinate range fits in a few hundred pixels.
    CHECK(2 * k_max_coordinate * v.pixels_per_unit < 400.0f);
}

TEST_CASE("target modes: moons have 2, eight gaussians 8, a normal 1; every point gets a mode") {
    Rng rng(3);
    auto modes_of = [&](const std::string& name) {
        Points sample = make_dataset(name).sample(2048, rng);
        return ModeMap::build(sample);
    };
    ModeMap moons = modes_of("moons");
    CHECK(moons.count == 2);
    ModeMap gauss = modes_of("8gaussians");
    CHECK(gauss.count == 8);
    CHECK(modes_of("normal").count == 1);
    // Points of one gaussian share a mode; far-away points still get one of the modes.
    Points sample = make_dataset("8gaussians").sample(4096, rng);
    std::vector<int> seen(8, 0);
    for (Eigen::Index i = 0; i < sample.rows(); ++i) {
        int m = gauss.mode_of(sample(i, 0), sample(i, 1));
        REQUIRE(m >= 0);
        REQUIRE(m < 8);
        seen[m]++;
    }
    for (int c : seen) CHECK(c > 4096 / 16);
    int far = gauss.mode_of(100.0f, -100.0f);
    CHECK(far >= 0);
    CHECK(far < 8);
}

TEST_CASE("--views names turn exactly those layers on and reject unknown names") {
    SceneOptions o;
    bool panels = true;
    apply_views("particles, heatmap,nopanels", o, &panels);
    CHECK(o.particles);
    CHECK(o.heatmap);
    CHECK_FALSE(o.arrows);
    CHECK_FALSE(o.grid);
    CHECK_FALSE(o.targets);
    CHECK_FALSE(panels);
    apply_views("difference,conditional", o, &panels);
    CHECK(o.arrows);
    CHECK(o.arrow_mode == ArrowMode::Difference);
    CHECK(o.paths);
    CHECK(o.path_mode == PathMode::Conditional);
    CHECK_THROWS_AS(apply_views("particles,glitter", o, &panels), InputError);
}

TEST_CASE("trajectories interpolate linearly between solver frames") {
    Trajectory tr;
    tr.x0 = Points::Zero(2, 2);
    tr.frames.assign(3, Points::Zero(2, 2));  // t = 0, 0.5, 1
    tr.frames[1] << 1, 0, 0, 2;
    tr.frames[2] << 3, 0, 0, 4;
    std::vector<float> xy;
    tr.positions_at(0.25f, xy);
    REQUIRE(xy.size() == 4);
    CHECK(xy[0] == doctest::Approx(0.5f));
    CHECK(xy[3] == doctest::Approx(1.0f));
    tr.positions_at(1.0f, xy);
    CHECK(xy[0] == doctest::Approx(3.0f));
    CHECK(tr.position_at(1, 0.75f).y() == doctest::Approx(3.0f));
}

TEST_CASE("scene layers follow the options: particles, paths from the same x0, arrows, heatmap") {
    FlowSpec spec;
    spec.target = make_dataset("moons");
    spec.source = make_dataset("normal");
    spec.coupling = CouplingKind::MinibatchOT;
    Trajectory tr;
    Rng rng(5);
    tr.x0 = spec.source.sample(300, rng);
    tr.frames = {tr.x0, tr.x0 * 0.5f};
    tr.mode.assign(300, 0);
    ConditionalPairs pairs = make_conditional_pairs(tr, spec, 20);
    REQUIRE(pairs.x0.rows() == 20);
    CHECK(pairs.x0.isApprox(tr.x0.topRows(20)));
    ProbabilityPath path;
    SceneInputs in;
    in.trajectory = &tr;
    in.pairs = &pairs;
    in.path = &path;
    in.t = 0.5f;
    View2D view;
    view.width = 400;
    view.height = 300;
    SceneOptions o;
    apply_views("particles", o);
    Scene scene;
    build_scene(in, o, view, scene);
    REQUIRE(scene.layers.size() == 1);
    const auto& particles = std::get<PointLayer>(scene.layers[0]);
    CHECK(particles.count() == 300);
    CHECK(particles.rgba.size() == 300);
    CHECK(particles.xy[0] == doctest::Approx(0.75f * tr.x0(0, 0)));

    apply_views("paths,heatmap", o);
    o.path_count = 20;
    build_scene(in, o, view, scene);
    int heatmaps = 0, segments = 0, movers = 0;
    for (const auto& layer : scene.layers) {
        if (std::holds_alternative<HeatmapLayer>(layer)) ++heatmaps;
        if (auto* s = std::get_if<SegmentLayer>(&layer))
            segments += static_cast<int>(s->segments.size());
        if (auto* p = std::get_if<PointLayer>(&layer)) movers += p->count();
    }
    CHECK(heatmaps == 1);
    // 20 conditional curves of 48 pieces and 20 marginal paths of 1 solver step; a moving point
    // each.
    CHECK(segments == 20 * 48 + 20 * 1);
    CHECK(movers == 40);
}
