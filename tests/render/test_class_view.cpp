// Classes in the view without a window: which class each particle follows and the field it
// moves in, the reference's class labels, and the by-class colours and guidance arrows a scene gets.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <vector>

#include "app/render/flow_state.h"
#include "app/render/palette.h"
#include "app/render/scene_builder.h"
#include "core/base/rng.h"

using namespace fmp;

namespace {

Mlp class_network(int classes) {
    MlpConfig c;
    c.depth = 2;
    c.width = 24;
    c.classes = classes;
    return Mlp(c, 7);
}

Points random_points(int n, uint64_t seed) {
    Rng rng(seed);
    Points p(n, 2);
    for (int i = 0; i < n; ++i) p.row(i) << rng.normal(), rng.normal();
    return p;
}

// A drawn target painted in classes 0 and 3 only.
Dataset two_painted_classes() {
    Points p = random_points(40, 3);
    std::vector<uint8_t> cls(40);
    for (int i = 0; i < 40; ++i) cls[static_cast<std::size_t>(i)] = i % 2 ? 3 : 0;
    return Dataset::from_points(p, "drawn", cls);
}

}  // namespace

TEST_CASE("every class: the particles cycle through the classes the target has, each in its own field") {
    FlowSpec spec;
    spec.target = two_painted_classes();
    spec.follow_class = k_all_classes;
    spec.guidance = 2.5f;
    CHECK(spec.target.class_count() == 4);
    CHECK(followed_classes(spec, 4) == std::vector<int>{0, 3});
    spec.target = make_dataset("8gaussians");
    CHECK(followed_classes(spec, 8).size() == 8);
    CHECK(followed_classes(spec, 0).empty());

    spec.target = two_painted_classes();
    const Mlp mlp = class_network(4);
    const Points x = random_points(37, 9);
    // Blocks that start at an odd row must continue the cycle where the previous block left it.
    for (Eigen::Index first_row : {Eigen::Index(0), Eigen::Index(4097)}) {
        Points v;
        particle_velocity(mlp, spec, first_row)(x, 0.4f, v);
        REQUIRE(v.rows() == x.rows());
        const std::vector<int> cycle = followed_classes(spec, 4);
        for (Eigen::Index i = 0; i < x.rows(); ++i) {
            const int cls = particle_class(spec, cycle, 4, first_row + i);
            CHECK(cls == ((first_row + i) % 2 ? 3 : 0));
            Points one = x.row(i), expect;
            mlp.evaluate(one, 0.4f, expect, ClassGuidance{cls, 2.5f});
            CHECK(v(i, 0) == doctest::Approx(expect(0, 0)).epsilon(1e-5));
            CHECK(v(i, 1) == doctest::Approx(expect(0, 1)).epsilon(1e-5));
        }
    }
    // One class, or the null class: one field for every row.
    spec.follow_class = 3;
    Points v3, e3;
    particle_velocity(mlp, spec, 5)(x, 0.7f, v3);
    mlp.evaluate(x, 0.7f, e3, ClassGuidance{3, 2.5f});
    CHECK((v3 - e3).cwiseAbs().maxCoeff() < 1e-5f);
    spec.follow_class = k_unconditional;
    particle_velocity(mlp, spec, 0)(x, 0.7f, v3);
    mlp.evaluate(x, 0.7f, e3);
    CHECK((v3 - e3).cwiseAbs().maxCoeff() < 1e-5f);
    // A network without classes ignores the class settings.
    const Mlp plain = class_network(0);
    spec.follow_class = k_all_classes;
    particle_velocity(plain, spec, 0)(x, 0.7f, v3);
    plain.evaluate(x, 0.7f, e3);
    CHECK((v3 - e3).cwiseAbs().maxCoeff() == 0.0f);
}

TEST_CASE("the reference carries the target's classes; trajectories record the class followed") {
    FlowSpec spec;
    spec.target = make_dataset("8gaussians");
    spec.particles = 400;
    spec.steps = 4;
    auto ref = make_reference(spec);
    REQUIRE(ref->target_classes.size() == static_cast<std::size_t>(ref->target.rows()));
    // The same draws as without classes, and each class one tight mode: its points are nearer
    // their own centroid than any other class's.
    FlowSpec plain = spec;
    plain.target = make_dataset("moons");
    CHECK(make_reference(plain)->target_classes.size() == 2048);
    plain.target = make_dataset("swissroll");
    CHECK(make_reference(plain)->target_classes.empty());
    std::vector<Eigen::Vector2f> centroid(8, Eigen::Vector2f::Zero());
    std::vector<int> count(8, 0);
    for (Eigen::Index i = 0; i < ref->target.rows(); ++i) {
        const int c = ref->target_classes[static_cast<std::size_t>(i)];
        REQUIRE((c >= 0 && c < 8));
        centroid[c] += ref->target.row(i).transpose();
        ++count[c];
    }
    for (int c = 0; c < 8; ++c) centroid[c] /= static_cast<float>(std::max(1, count[c]));
    int misplaced = 0;
    for (Eigen::Index i = 0; i < ref->target.rows(); ++i) {
        const int c = ref->target_classes[static_cast<std::size_t>(i)];
        const Eigen::Vector2f p = ref->target.row(i).transpose();
        for (int o = 0; o < 8; ++o)
            if (o != c && (p - centroid[o]).norm() < (p - centroid[c]).norm()) ++misplaced;
    }
    CHECK(misplaced == 0);

    const Mlp mlp = class_network(8);
    auto traj = integrate_trajectory(spec, mlp, *ref);
    REQUIRE(traj->classes.size() == 400);
    for (std::size_t i = 0; i < 400; ++i) CHECK(traj->classes[i] == static_cast<int>(i % 8));
    spec.follow_class = 5;
    traj = integrate_trajectory(spec, mlp, *ref);
    CHECK(std::all_of(traj->classes.begin(), traj->classes.end(), [](int8_t c) { return c == 5; }));
    traj = integrate_trajectory(spec, class_network(0), *ref);
    CHECK(traj->classes.empty());
}

TEST_CASE("by class: particles and target points take their class's colour; guidance draws three arrows") {
    FlowSpec spec;
    spec.target = make_dataset("8gaussians");
    spec.particles = 64;
    spec.steps = 2;
    auto ref = make_reference(spec);
    const Mlp mlp = class_network(8);
    auto traj = integrate_trajectory(spec, mlp, *ref);
    View2D view;
    view.width = 400;
    view.height = 300;
    view.pixels_per_unit = 40.0f;
    SceneOptions o;
    o.targets = true;
    o.particles = true;
    o.point_alpha = 1.0f;
    apply_views("particles,targets,byclass", o);
    REQUIRE(o.color == ColorMode::Class);
    SceneInputs in;
    in.trajectory = traj.get();
    in.reference = ref.get();
    in.t = 1.0f;
    Scene scene;
    build_scene(in, o, view, scene);
    std::vector<const PointLayer*> points;
    for (const auto& layer : scene.layers)
        if (const auto* p = std::get_if<PointLayer>(&layer)) points.push_back(p);
    REQUIRE(points.size() == 2);  // the target markers, then the particles
    const PointLayer& markers = *points[0];
    const PointLayer& particles = *points[1];
    REQUIRE(markers.rgba.size() == ref->target_classes.size());
    for (std::size_t i = 0; i < markers.rgba.size(); ++i)
        CHECK((markers.rgba[i] & 0xffffffu) == (class_color(ref->target_classes[i]) & 0xffffffu));
    REQUIRE(particles.rgba.size() == 64);
    std::set<uint32_t> colours;
    for (std::size_t i = 0; i < 64; ++i) {
        CHECK((particles.rgba[i] & 0xffffffu) == (class_color(static_cast<int>(i % 8)) & 0xffffffu));
        colours.insert(particles.rgba[i]);
    }
    CHECK(colours.size() == 8);

    // The guidance arrows: per grid point the guided, the null and the class's arrow, in rose,
    // slate and the class's colour; the guided one is null + w (class - null) on one scale.
    apply_views("guidance", o);
    ArrowRequest request = arrow_request_for(view, o, 0.5f);
    CHECK(request.guidance_parts);
    request.guidance = ClassGuidance{2, 3.0f};
    const ArrowField field = compute_arrows(request, &mlp, spec.path, *ref);
    REQUIRE(field.conditional.rows() == field.base.rows());
    REQUIRE(field.unconditional.rows() == field.base.rows());
    const Points expect = field.unconditional + 3.0f * (field.conditional - field.unconditional);
    CHECK((field.learned - expect).cwiseAbs().maxCoeff() < 1e-4f);
    in.arrows = &field;
    build_scene(in, o, view, scene);
    const SegmentLayer* arrows = nullptr;
    for (const auto& layer : scene.layers)
        if (const auto* s = std::get_if<SegmentLayer>(&layer)) arrows = s;
    REQUIRE(arrows);
    int rose = 0, slate = 0, own = 0;
    for (const Segment& s : arrows->segments) {
        const uint32_t c = s.ca & 0xffffffu;
        rose += c == (palette::guided & 0xffffffu);
        slate += c == (palette::unconditional & 0xffffffu);
        own += c == (class_color(2) & 0xffffffu);
    }
    const int grid = static_cast<int>(field.base.rows());
    // Each arrow is a shaft and two head strokes (a zero-length arrow may have fewer).
    CHECK(rose >= grid);
    CHECK(slate >= grid);
    CHECK(own >= grid);
    // Without the class parts the request asks for the guided field alone.
    request.guidance_parts = false;
    CHECK(compute_arrows(request, &mlp, spec.path, *ref).conditional.rows() == 0);
}
