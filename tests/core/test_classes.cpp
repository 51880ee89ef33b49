// Classes and classifier-free guidance: labelled datasets and CSVs, the class input of the
// network, guided fields, class-conditional training on the CPU engine, model files.
#include <doctest/doctest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/base/rng.h"
#include "core/data/dataset.h"
#include "core/data/point_io.h"
#include "core/engine/engine.h"
#include "core/nn/model_file.h"
#include "tests/class_test_support.h"

using namespace fmp;

using fmp::test::nearest_mode;

namespace {

MlpConfig class_mlp(int classes) {
    MlpConfig c;
    c.width = 32;
    c.depth = 2;
    c.classes = classes;
    return c;
}

}  // namespace

TEST_CASE("datasets carry classes: the 8 gaussians' mode, the moon, the checkerboard's cell") {
    Rng a(5), b(5);
    const Dataset g(DatasetKind::EightGaussians);
    CHECK(g.class_count() == 8);
    Points x(2000, 2), y(2000, 2);
    std::vector<int> cls(2000);
    g.sample_into(x, a, cls.data());
    g.sample_into(y, b);
    CHECK((x - y).cwiseAbs().maxCoeff() == 0.0f);  // the same draws with or without classes
    int agree = 0;
    for (int i = 0; i < 2000; ++i) agree += nearest_mode(x(i, 0), x(i, 1)) == cls[static_cast<std::size_t>(i)];
    CHECK(agree >= 1990);

    const Dataset moons(DatasetKind::Moons);
    CHECK(moons.class_count() == 2);
    moons.sample_into(x, a, cls.data());
    double y0 = 0, y1 = 0;
    int n0 = 0;
    for (int i = 0; i < 2000; ++i) {
        if (cls[static_cast<std::size_t>(i)] == 0) y0 += x(i, 1), ++n0;
        else y1 += x(i, 1);
    }
    CHECK(n0 > 900);
    CHECK(n0 < 1100);
    CHECK(y0 / n0 - y1 / (2000 - n0) > 0.5);  // the upper moon is class 0

    const Dataset board(DatasetKind::Checkerboard);
    CHECK(board.class_count() == 8);
    board.sample_into(x, a, cls.data());
    for (int i = 0; i < 2000; ++i) {
        const int col = static_cast<int>(std::floor((x(i, 0) + 2.0f) / 1.0f));
        const int row = static_cast<int>(std::floor((x(i, 1) + 2.0f) / 1.0f));
        REQUIRE(cls[static_cast<std::size_t>(i)] == col * 2 + row / 2);
    }
    CHECK(Dataset(DatasetKind::Spirals).class_count() == 0);
    CHECK(Dataset(DatasetKind::Normal).class_count() == 0);
}

TEST_CASE("CSV point sets take an optional class column 0..7") {
    LabelledPoints p = parse_labelled_points_csv("x,y,class\n0,0,1\n1,1,7\n2,2,0\n", "c.csv");
    REQUIRE(p.points.rows() == 3);
    CHECK(p.classes == std::vector<uint8_t>{1, 7, 0});
    const Dataset d = Dataset::from_points(p.points, "c.csv", p.classes);
    CHECK(d.class_count() == 8);
    // The classes present: 0, 1 and 7, not the ones between.
    CHECK(d.has_class(0));
    CHECK(d.has_class(1));
    CHECK_FALSE(d.has_class(3));
    CHECK(d.has_class(7));
    CHECK_FALSE(d.has_class(8));
    CHECK(Dataset(DatasetKind::Moons).has_class(1));
    CHECK_FALSE(Dataset(DatasetKind::Moons).has_class(2));
    CHECK_FALSE(Dataset(DatasetKind::Spirals).has_class(0));
    Rng rng(2);
    Points s(50, 2);
    std::vector<int> cls(50);
    d.sample_into(s, rng, cls.data());
    for (int i = 0; i < 50; ++i) CHECK(cls[static_cast<std::size_t>(i)] == (s(i, 0) == 0.0f ? 1 : s(i, 0) == 1.0f ? 7 : 0));
    CHECK(parse_labelled_points_csv("0,0\n1,1\n").classes.empty());
    CHECK_THROWS_WITH_AS(parse_labelled_points_csv("0,0,8\n", "c.csv"), doctest::Contains("not a class"), InputError);
    CHECK_THROWS_WITH_AS(parse_labelled_points_csv("0,0,1.5\n", "c.csv"), doctest::Contains("not a class"), InputError);
    CHECK_THROWS_WITH_AS(parse_labelled_points_csv("0,0,1\n1,1\n", "c.csv"), doctest::Contains("line 2"), InputError);
    CHECK_THROWS_WITH_AS(parse_labelled_points_csv("0,0\n1,1,1\n", "c.csv"), doctest::Contains("line 2"), InputError);
    CHECK_THROWS_AS(parse_points_csv("0,0,1\n"), InputError);  // x,y files stay x,y
    CHECK_THROWS_AS(Dataset::from_points(p.points, "bad", {1, 2}), InputError);
    CHECK_THROWS_AS(Dataset::from_points(p.points, "bad", {1, 2, 9}), InputError);
}

TEST_CASE("the class input: one-hot with a null class, folded evaluation, guidance, gradients") {
    const MlpConfig c = class_mlp(3);
    CHECK(c.input_dim() == 3 + 4);
    std::vector<float> row(static_cast<std::size_t>(c.input_dim()));
    encode_input_row(c, 1.0f, 2.0f, 0.5f, row.data(), 1);
    CHECK(row == std::vector<float>{1, 2, 0.5f, 0, 1, 0, 0});
    encode_input_row(c, 1.0f, 2.0f, 0.5f, row.data(), -1);
    CHECK(row == std::vector<float>{1, 2, 0.5f, 0, 0, 0, 1});
    const Mlp mlp(c, 4);
    Rng rng(3);
    Points x = Dataset(DatasetKind::Normal).sample(64, rng);
    VectorF t = VectorF::Constant(64, 0.3f);
    for (int cls : {-1, 0, 2}) {
        std::vector<int> classes(64, cls < 0 ? 3 : cls);
        Points a, b;
        mlp.forward(x, t, a, nullptr, classes.data());
        mlp.evaluate(x, 0.3f, b, ClassGuidance{cls, 1.0f});
        CHECK((a - b).cwiseAbs().maxCoeff() < 1e-5f);
    }
    // Guidance: v_null + w (v_c - v_null), and the divergence likewise.
    Points vn, vc, vw, dv;
    VectorF dn, dc, dw;
    mlp.evaluate_divergence(x, 0.3f, vn, dn, ClassGuidance{-1, 1.0f});
    mlp.evaluate_divergence(x, 0.3f, vc, dc, ClassGuidance{2, 1.0f});
    mlp.evaluate_divergence(x, 0.3f, vw, dw, ClassGuidance{2, 3.0f});
    CHECK((vw - (vn + 3.0f * (vc - vn))).cwiseAbs().maxCoeff() < 1e-4f);
    CHECK((dw - (dn + 3.0f * (dc - dn))).cwiseAbs().maxCoeff() < 1e-3f);
    mlp.evaluate(x, 0.3f, dv, ClassGuidance{2, 3.0f});
    CHECK((dv - vw).cwiseAbs().maxCoeff() < 1e-4f);
    CHECK_THROWS_AS(ClassGuidance({3, 1.0f}).validate(c), InputError);
    CHECK_THROWS_AS(ClassGuidance({0, 11.0f}).validate(c), InputError);
    CHECK_THROWS_AS(ClassGuidance({0, 1.0f}).validate(class_mlp(0)), InputError);
    MlpConfig one = class_mlp(1);
    CHECK_THROWS_AS(one.validate(), InputError);

    // dL/dtheta of the class rows of the first layer against finite differences of the loss.
    TrainConfig config;
    config.mlp = c;
    config.seed = 9;
    auto engine = make_cpu_engine();
    engine->reset(config, Dataset(DatasetKind::Normal), Dataset(DatasetKind::EightGaussians));
    Batch batch;
    batch.x0 = Dataset(DatasetKind::Normal).sample(32, rng);
    batch.x1 = Dataset(DatasetKind::Moons).sample(32, rng);
    batch.t = VectorF::Constant(32, 0.6f);
    for (int i = 0; i < 32; ++i) batch.classes.push_back(i % 4);
    std::vector<float> grads;
    engine->gradients(batch, grads, nullptr);
    const std::vector<float> p0 = engine->params();
    const int w = c.width;
    for (int k : {3 * w + 5, 4 * w + 7, 6 * w + 1}) {  // class 0, class 1, the null class
        const float h = 1e-2f;
        std::vector<float> p = p0, g;
        p[static_cast<std::size_t>(k)] += h;
        engine->set_params(p);
        const float up = engine->gradients(batch, g, nullptr);
        p[static_cast<std::size_t>(k)] -= 2 * h;
        engine->set_params(p);
        const float down = engine->gradients(batch, g, nullptr);
        CAPTURE(k);
        CHECK(grads[static_cast<std::size_t>(k)] == doctest::Approx((up - down) / (2 * h)).epsilon(2e-2).scale(1e-3));
        CHECK(std::abs(grads[static_cast<std::size_t>(k)]) > 1e-5f);
    }
}

TEST_CASE("class-conditional training: each class samples its mode, the null class all, guidance overshoots") {
    for (CouplingKind coupling : {CouplingKind::Independent, CouplingKind::Sinkhorn}) {
        CAPTURE(coupling_name(coupling));
        TrainConfig config;
        config.mlp.width = 64;
        config.mlp.depth = 3;
        config.mlp.classes = 8;
        config.coupling = coupling;
        config.optimizer.lr = 2e-3f;
        config.seed = 3;
        auto engine = make_cpu_engine();
        const Dataset source(DatasetKind::Normal), target(DatasetKind::EightGaussians);
        engine->reset(config, source, target);
        engine->train(coupling == CouplingKind::Independent ? 5000 : 2500);
        auto sample = [&](ClassGuidance g) {
            engine->set_guidance(g);
            Rng rng(11);
            engine->set_particles(source.sample(1000, rng));
            engine->integrate_particles(0.0f, 1.0f, SolverKind::RK4, 20);
            Points x;
            engine->read_particles(x);
            return x;
        };
        for (int k : {0, 3}) {
            const Points x = sample({k, 1.0f});
            int hits = 0;
            for (int i = 0; i < x.rows(); ++i) hits += nearest_mode(x(i, 0), x(i, 1)) == k;
            MESSAGE(coupling_name(coupling) << " class " << k << ": " << hits << " of 1000 at its mode");
            CHECK(hits >= 850);
        }
        if (coupling != CouplingKind::Independent) continue;
        const Points all = sample({-1, 1.0f});
        std::vector<int> per_mode(8, 0);
        for (int i = 0; i < all.rows(); ++i) ++per_mode[static_cast<std::size_t>(nearest_mode(all(i, 0), all(i, 1)))];
        for (int m = 0; m < 8; ++m) CHECK(per_mode[static_cast<std::size_t>(m)] > 50);
        // Guidance past 1 pushes the class's samples away from the others: outward, past the ring.
        auto mean_radius = [](const Points& x) { return x.rowwise().norm().mean(); };
        const float r1 = mean_radius(sample({2, 1.0f})), r4 = mean_radius(sample({2, 4.0f}));
        MESSAGE("mean radius of class 2: w = 1 " << r1 << ", w = 4 " << r4);
        CHECK(r4 > r1 + 0.1f);
        // The guided field also reaches the likelihood: its divergence is that of the mix.
        engine->set_guidance({2, 4.0f});
        CHECK(engine->guidance().scale == 4.0f);
        engine->reset(config, source, target);
        CHECK(engine->guidance().cls == -1);  // a reset forgets the guidance
    }
}

TEST_CASE("model files keep the classes and a labelled point set; older files load unconditional") {
    ModelFile m;
    m.mlp = class_mlp(3);
    m.source = Dataset(DatasetKind::Normal);
    Points pts(3, 2);
    pts << 0, 0, 1, 1, 2, 2;
    m.target = Dataset::from_points(pts, "drawn", {0, 2, 1});
    m.params = mlp_init_params(m.mlp, 3);
    const ModelFile back = model_from_json(model_to_json(m));
    CHECK(back.mlp.classes == 3);
    CHECK(back.target.point_classes() == std::vector<uint8_t>{0, 2, 1});
    CHECK(back.params == m.params);
    nlohmann::json old = nlohmann::json::parse(model_to_json(m));
    old["mlp"].erase("classes");
    old["target"].erase("classes");
    CHECK_THROWS_AS(model_from_json(old.dump()), InputError);  // the parameter count no longer fits
    old["params"] = mlp_init_params(class_mlp(0), 3);
    const ModelFile legacy = model_from_json(old.dump());
    CHECK(legacy.mlp.classes == 0);
    CHECK(legacy.target.point_classes().empty());
    nlohmann::json bad = nlohmann::json::parse(model_to_json(m));
    bad["target"]["classes"] = {0, 9, 1};
    CHECK_THROWS_AS(model_from_json(bad.dump()), InputError);
    bad["target"]["classes"] = {0, 1};
    CHECK_THROWS_AS(model_from_json(bad.dump()), InputError);
    bad = nlohmann::json::parse(model_to_json(m));
    bad["mlp"]["classes"] = 1;
    CHECK_THROWS_AS(model_from_json(bad.dump()), InputError);
}
