// The brush editor: spray counts and placement, slow/fast density, exact erase, undo/redo, caps.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include "core/base/rng.h"
#include "core/data/brush.h"

using namespace fmp;

namespace {

constexpr double k_pi = 3.14159265358979323846;

// Distance from (px, py) to the segment a-b, in double.
double segment_distance(double px, double py, double ax, double ay, double bx, double by) {
    double ux = bx - ax, uy = by - ay, dx = px - ax, dy = py - ay;
    double len2 = ux * ux + uy * uy;
    double t = len2 > 0 ? std::clamp((dx * ux + dy * uy) / len2, 0.0, 1.0) : 0.0;
    return std::hypot(dx - t * ux, dy - t * uy);
}

Points random_points(int n, uint64_t seed) {
    Rng rng(seed);
    Points p(n, 2);
    for (int i = 0; i < n; ++i) p.row(i) << rng.uniform(-3.0f, 3.0f), rng.uniform(-3.0f, 3.0f);
    return p;
}

// Drags from (x0, 0) to (x1, 0) in `steps` equal mouse events.
void drag(PointSetEditor& ed, float x0, float x1, int steps, float radius, float density) {
    ed.begin_stroke();
    for (int i = 0; i <= steps; ++i)
        ed.spray(x0 + (x1 - x0) * static_cast<float>(i) / static_cast<float>(steps), 0.0f, radius,
                 density);
    ed.end_stroke();
}

}  // namespace

TEST_CASE("a dab and a stroke lay the documented number of points within the radius") {
    PointSetEditor ed(7);
    ed.begin_stroke();
    const float r = 0.5f, density = 1000.0f;
    std::size_t dab = ed.spray(0.0f, 0.0f, r, density);
    CHECK(dab == static_cast<std::size_t>(std::floor(density * k_pi * r * r)));  // 785
    for (Eigen::Index i = 0; i < ed.view().rows(); ++i)
        CHECK(std::hypot(ed.view()(i, 0), ed.view()(i, 1)) <= r * (1 + 1e-6));
    for (int i = 1; i <= 20; ++i) ed.spray(0.1f * static_cast<float>(i), 0.0f, r, density);
    ed.end_stroke();
    // dab + density * 2r * length, the fractions carried so only the last one is lost.
    const double expected = density * k_pi * r * r + density * 2.0 * r * 2.0;
    CHECK(static_cast<double>(ed.count()) <= expected);
    CHECK(static_cast<double>(ed.count()) > expected - 1.0);
    int outside = 0;
    for (Eigen::Index i = 0; i < ed.view().rows(); ++i)
        outside += segment_distance(ed.view()(i, 0), ed.view()(i, 1), 0, 0, 2, 0) > r * (1 + 1e-5);
    CHECK(outside == 0);
    CHECK(ed.undo_depth() == 1);
}

TEST_CASE("slow and fast strokes give the same density") {
    const float r = 0.4f, density = 2000.0f;
    PointSetEditor slow(1), fast(2);
    drag(slow, -2.0f, 2.0f, 800, r, density);  // 0.005 per event: each event owes < 10 points
    drag(fast, -2.0f, 2.0f, 4, r, density);    // 1.0 per event: longer than the brush diameter
    CHECK(std::abs(static_cast<double>(slow.count()) - static_cast<double>(fast.count())) <= 1.0);
    // The same count in the middle of the stroke and the same cross-stroke profile.
    auto in = [](const PointSetEditor& ed, float half_width) {
        int k = 0;
        for (Eigen::Index i = 0; i < ed.view().rows(); ++i)
            k += std::abs(ed.view()(i, 0)) < 1.0f && std::abs(ed.view()(i, 1)) < half_width;
        return static_cast<double>(k);
    };
    const double expect_mid = density * 2.0 * r * 2.0;  // 2 units of stroke length
    for (float hw : {r, 0.5f * r}) {
        CAPTURE(hw);
        double a = in(slow, hw), b = in(fast, hw);
        CHECK(std::abs(a - b) < 5.0 * std::sqrt(a + b));
        if (hw == r) CHECK(std::abs(a - expect_mid) < 5.0 * std::sqrt(expect_mid));
    }
}

TEST_CASE("erase removes exactly the points within the disc, keeping the others in order") {
    Points start = random_points(50000, 11);
    const float cx = 0.3f, cy = -0.7f, r = 1.1f;
    // Drop points within rounding distance of the circle so float and double agree on all others.
    std::vector<int> keep_rows;
    for (int i = 0; i < start.rows(); ++i) {
        double d = std::hypot(start(i, 0) - cx, start(i, 1) - cy);
        if (std::abs(d - r) > 1e-4) keep_rows.push_back(i);
    }
    Points pts(static_cast<Eigen::Index>(keep_rows.size()), 2);
    for (std::size_t k = 0; k < keep_rows.size(); ++k) pts.row(static_cast<Eigen::Index>(k)) = start.row(keep_rows[k]);

    PointSetEditor ed(3);
    ed.reset(pts);
    std::vector<int> survivors;
    for (int i = 0; i < pts.rows(); ++i)
        if (std::hypot(pts(i, 0) - cx, pts(i, 1) - cy) > r) survivors.push_back(i);
    ed.begin_stroke();
    std::size_t removed = ed.erase(cx, cy, r);
    CHECK(removed == static_cast<std::size_t>(pts.rows()) - survivors.size());
    REQUIRE(ed.count() == survivors.size());
    bool same = true;
    for (std::size_t k = 0; k < survivors.size(); ++k)
        same = same && ed.view().row(static_cast<Eigen::Index>(k)) == pts.row(survivors[k]);
    CHECK(same);

    // A second event erases the whole capsule swept from the first centre: no gaps on fast drags.
    ed.erase(cx + 3.0f, cy, r);
    ed.end_stroke();
    int left_in_capsule = 0;
    for (Eigen::Index i = 0; i < ed.view().rows(); ++i)
        left_in_capsule += segment_distance(ed.view()(i, 0), ed.view()(i, 1), cx, cy, cx + 3.0, cy) <= r - 1e-4;
    CHECK(left_in_capsule == 0);
    CHECK(ed.undo());
    CHECK(ed.points() == pts);
}

TEST_CASE("undo restores each stroke's previous set exactly, redo reapplies") {
    PointSetEditor ed(5);
    const Points s0 = random_points(3000, 1);
    ed.reset(s0);
    CHECK_FALSE(ed.can_undo());

    drag(ed, -1.0f, 1.0f, 30, 0.3f, 500.0f);
    const Points s1 = ed.points();
    ed.begin_stroke();  // a mixed stroke: spray, erase some old and new points, spray again
    ed.spray(2.0f, 2.0f, 0.5f, 800.0f);
    ed.erase(2.2f, 2.0f, 0.4f);
    ed.erase(0.0f, 0.0f, 0.6f);
    ed.spray(-2.0f, -2.0f, 0.5f, 800.0f);
    ed.end_stroke();
    const Points s2 = ed.points();
    ed.clear();
    CHECK(ed.count() == 0);
    const Points s3 = ed.points();
    CHECK(ed.undo_depth() == 3);

    CHECK(ed.undo());
    CHECK(ed.points() == s2);
    CHECK(ed.undo());
    CHECK(ed.points() == s1);
    CHECK(ed.undo());
    CHECK(ed.points() == s0);
    CHECK_FALSE(ed.undo());
    CHECK(ed.redo());
    CHECK(ed.points() == s1);
    CHECK(ed.redo());
    CHECK(ed.points() == s2);
    CHECK(ed.redo());
    CHECK(ed.points() == s3);
    CHECK_FALSE(ed.redo());

    // A new stroke after undo drops the redo history.
    CHECK(ed.undo());
    CHECK(ed.undo());
    CHECK(ed.can_redo());
    drag(ed, 0.0f, 0.5f, 5, 0.2f, 100.0f);
    CHECK_FALSE(ed.can_redo());
    CHECK(ed.undo());
    CHECK(ed.points() == s1);

    // replace() is one undoable step; a stroke that changes nothing records none.
    ed.replace(random_points(10, 9));
    CHECK(ed.count() == 10);
    std::size_t depth = ed.undo_depth();
    ed.begin_stroke();
    ed.erase(100.0f, 100.0f, 0.1f);
    ed.end_stroke();
    CHECK(ed.undo_depth() == depth);
    CHECK(ed.undo());
    CHECK(ed.points() == s1);
}

TEST_CASE("undo history is bounded in steps and bytes") {
    PointSetEditor ed(1, 2'000'000, 5, 1u << 20);
    for (int i = 0; i < 12; ++i) drag(ed, 0.0f, 1.0f, 4, 0.3f, 300.0f);
    CHECK(ed.undo_depth() == 5);
    const std::size_t n12 = ed.count();
    int undone = 0;
    while (ed.undo()) ++undone;
    CHECK(undone == 5);
    CHECK(ed.count() < n12);

    // Full snapshots of a 200k set (1.6 MB each) do not fit a 1 MiB budget: they are dropped.
    PointSetEditor big(1, 2'000'000, 50, 1u << 20);
    big.reset(random_points(200000, 4));
    for (int i = 0; i < 3; ++i) {
        big.begin_stroke();
        big.erase(static_cast<float>(i) - 1.0f, 0.0f, 0.5f);
        big.end_stroke();
    }
    CHECK(big.history_bytes() <= (1u << 20));
}

TEST_CASE("the point cap, determinism and argument checks") {
    PointSetEditor capped(1, 1000);
    capped.begin_stroke();
    CHECK(capped.spray(0.0f, 0.0f, 1.0f, 1e6f) == 1000);
    CHECK(capped.spray(0.5f, 0.0f, 1.0f, 1e6f) == 0);
    capped.end_stroke();
    CHECK(capped.full());
    CHECK(capped.count() == 1000);

    PointSetEditor a(42), b(42), c(43);
    for (PointSetEditor* ed : {&a, &b, &c}) drag(*ed, -1.0f, 1.0f, 10, 0.5f, 400.0f);
    CHECK(a.points() == b.points());
    CHECK(a.points() != c.points());

    PointSetEditor ed;
    CHECK_THROWS_AS(ed.spray(0.0f, 0.0f, 0.0f, 10.0f), InputError);
    CHECK_THROWS_AS(ed.spray(0.0f, 0.0f, NAN, 10.0f), InputError);
    CHECK_THROWS_AS(ed.spray(NAN, 0.0f, 1.0f, 10.0f), InputError);
    CHECK_THROWS_AS(ed.spray(0.0f, 0.0f, 1.0f, -1.0f), InputError);
    CHECK_THROWS_AS(ed.erase(0.0f, 0.0f, -1.0f), InputError);
    CHECK(ed.count() == 0);
    const uint64_t rev = ed.revision();
    ed.spray(0.0f, 0.0f, 1.0f, 10.0f);
    CHECK(ed.revision() > rev);
}

TEST_CASE("strokes stay fast on 200k points") {
    PointSetEditor ed(9);
    ed.reset(random_points(200000, 6));
    auto t0 = std::chrono::steady_clock::now();
    for (int s = 0; s < 20; ++s) {
        ed.begin_stroke();
        for (int e = 0; e < 10; ++e) {
            float x = -2.5f + 0.25f * static_cast<float>(s) + 0.02f * static_cast<float>(e);
            if (s % 2) ed.erase(x, 0.0f, 0.2f);
            else ed.spray(x, 1.0f, 0.2f, 5000.0f);
        }
        ed.end_stroke();
    }
    for (int i = 0; i < 20; ++i) ed.undo();
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    MESSAGE("200 events and 20 undos on 200k points: ", secs, " s");
    CHECK(ed.count() == 200000);
    CHECK(secs < 2.0);
}

TEST_CASE("painted classes stay with their points through erase, undo, redo and replace") {
    PointSetEditor e(5);
    e.set_paint_class(0);
    e.spray(-2.0f, 0.0f, 0.5f, 400.0f);
    e.end_stroke();
    const std::size_t left = e.count();
    e.set_paint_class(3);
    e.spray(2.0f, 0.0f, 0.5f, 400.0f);
    e.end_stroke();
    REQUIRE(e.count() > left);
    REQUIRE(e.classes().size() == e.count());
    CHECK(e.class_count() == 4);
    // Each point's class is the one it was sprayed with: the left blob 0, the right one 3.
    auto consistent = [&] {
        const Points p = e.points();
        if (e.classes().size() != static_cast<std::size_t>(p.rows())) return false;
        for (Eigen::Index i = 0; i < p.rows(); ++i)
            if ((p(i, 0) < 0.0f ? 0 : 3) != e.classes()[static_cast<std::size_t>(i)]) return false;
        return true;
    };
    CHECK(consistent());
    // Erasing part of the left blob compacts the classes with the points.
    e.erase(-2.0f, 0.0f, 0.3f);
    e.end_stroke();
    CHECK(consistent());
    CHECK(e.undo());
    CHECK(consistent());
    CHECK(e.undo());  // the class-3 stroke
    CHECK(e.class_count() == 1);
    CHECK(e.redo());
    CHECK(e.class_count() == 4);
    CHECK(consistent());
    // Replace and reset take classes, checked.
    Points two(2, 2);
    two << 0, 0, 1, 1;
    e.replace(two, {1, 2});
    CHECK(e.class_count() == 3);
    CHECK(e.undo());
    CHECK(consistent());
    CHECK_THROWS_AS(e.replace(two, {1}), InputError);
    CHECK_THROWS_AS(e.reset(two, {1, 9}), InputError);
    CHECK_THROWS_AS(e.set_paint_class(8), InputError);
    CHECK_THROWS_AS(e.set_paint_class(-1), InputError);
    e.reset(two);
    CHECK(e.class_count() == 1);
    // Erasing every point of the highest class lowers the count at once.
    e.reset(two, {0, 5});
    CHECK(e.class_count() == 6);
    e.erase(1.0f, 1.0f, 0.1f);
    e.end_stroke();
    CHECK(e.count() == 1);
    CHECK(e.class_count() == 1);
    CHECK(e.undo());
    CHECK(e.class_count() == 6);
}
