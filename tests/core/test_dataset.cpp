// Tests for datasets: statistics vs their documented constants, point sets, names, specs.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <new>
#include <string>
#include <vector>

#include "core/data/dataset.h"
#include "core/data/point_io.h"

namespace fs = std::filesystem;
using namespace fmp;

// Counts heap allocations so the test can prove sample_into never allocates.
static std::atomic<long> g_allocations{0};
void* operator new(std::size_t n) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}

namespace {

constexpr double k_pi = 3.14159265358979323846;
const std::string k_data = FMP_TEST_DATA_DIR;

struct Stats {
    double mx = 0, my = 0, vx = 0, vy = 0, cxy = 0;
};

Stats stats_of(const Points& p) {
    Stats s;
    const double n = static_cast<double>(p.rows());
    for (Eigen::Index i = 0; i < p.rows(); ++i) {
        s.mx += p(i, 0);
        s.my += p(i, 1);
    }
    s.mx /= n;
    s.my /= n;
    for (Eigen::Index i = 0; i < p.rows(); ++i) {
        double dx = p(i, 0) - s.mx, dy = p(i, 1) - s.my;
        s.vx += dx * dx;
        s.vy += dy * dy;
        s.cxy += dx * dy;
    }
    s.vx /= n;
    s.vy /= n;
    s.cxy /= n;
    return s;
}

double radius(const Points& p, Eigen::Index i) {
    return std::hypot(p(i, 0), p(i, 1));
}

// Brute-force distance from each sample to a densely sampled curve; returns the RMS distance and
// the fraction of samples farther than `far`.
struct CurveFit {
    double rms = 0;
    double far_fraction = 0;
};
template <class CurveFn>
CurveFit fit_to_curve(const Points& p, int curve_points, CurveFn&& curve, double far) {
    std::vector<double> cx(curve_points), cy(curve_points);
    for (int k = 0; k < curve_points; ++k) {
        auto [x, y] = curve(static_cast<double>(k) / (curve_points - 1));
        cx[k] = x;
        cy[k] = y;
    }
    CurveFit fit;
    for (Eigen::Index i = 0; i < p.rows(); ++i) {
        double best = 1e30;
        for (int k = 0; k < curve_points; ++k) {
            double dx = p(i, 0) - cx[k], dy = p(i, 1) - cy[k];
            best = std::min(best, dx * dx + dy * dy);
        }
        fit.rms += best;
        if (best > far * far) fit.far_fraction += 1;
    }
    fit.rms = std::sqrt(fit.rms / static_cast<double>(p.rows()));
    fit.far_fraction /= static_cast<double>(p.rows());
    return fit;
}

Points draw(DatasetKind kind, int n, uint64_t seed = 1) {
    Rng rng(seed);
    return Dataset(kind).sample(n, rng);
}

std::vector<DatasetKind> analytic_kinds() {
    std::vector<DatasetKind> kinds;
    for (const auto& name : dataset_names()) kinds.push_back(*dataset_kind_from_name(name));
    return kinds;
}

}  // namespace

TEST_CASE("names round-trip, in menu order, case-insensitively") {
    const std::vector<std::string> expected = {"normal",  "uniform",      "8gaussians",
                                               "moons",   "checkerboard", "spirals",
                                               "circles", "swissroll",    "pinwheel",
                                               "scurve"};
    CHECK(dataset_names() == expected);
    for (const auto& name : dataset_names()) {
        auto kind = dataset_kind_from_name(name);
        REQUIRE(kind);
        CHECK(dataset_name(*kind) == name);
        CHECK(Dataset(*kind).name() == name);
        CHECK(make_dataset(name).kind() == *kind);
        std::string upper = name;
        for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        CHECK(dataset_kind_from_name(upper) == kind);
        std::string desc = dataset_description(*kind);
        CHECK(!desc.empty());
        CHECK(desc.find('\n') == std::string::npos);
    }
    CHECK(dataset_kind_from_name("Swiss_Roll") == DatasetKind::SwissRoll);
    CHECK(dataset_kind_from_name("8-Gaussians") == DatasetKind::EightGaussians);
    CHECK(!dataset_kind_from_name("points"));
    CHECK(!dataset_kind_from_name("foo"));
    CHECK(!dataset_kind_from_name(""));
    CHECK(dataset_description(DatasetKind::EightGaussians).find("2.5") != std::string::npos);
    CHECK(dataset_description(DatasetKind::Circles).find("2.5") != std::string::npos);
}

TEST_CASE("make_dataset: CSV files and errors naming the choices") {
    Dataset d = make_dataset(k_data + "/header.csv");
    CHECK(d.kind() == DatasetKind::PointSet);
    CHECK(d.name() == k_data + "/header.csv");
    CHECK(d.point_count() == 3);
    // A file without a CSV extension is loaded when it exists.
    fs::path plain = fs::temp_directory_path() / ("fmp_test_dataset_" + std::to_string(::getpid()));
    write_file_atomic(plain.string(), "0.5 0.25\n");
    CHECK(make_dataset(plain.string()).point_count() == 1);
    fs::remove(plain);

    try {
        make_dataset("foo");
        FAIL("expected an InputError");
    } catch (const InputError& e) {
        CHECK(std::string(e.what()) ==
              "unknown dataset 'foo': choose one of normal, uniform, 8gaussians, moons, "
              "checkerboard, spirals, circles, swissroll, pinwheel, scurve, a CSV file of x,y points, "
              "image:FILE.png or text:WORDS");
    }
    CHECK_THROWS_AS(make_dataset(""), InputError);
    // The importers' specs: a word becomes a point set; a bad image is one clear error.
    Dataset word = make_dataset("text:FLOW");
    CHECK(word.kind() == DatasetKind::PointSet);
    CHECK(word.point_count() > 1000);
    CHECK(word.name() == "text:FLOW");
    CHECK_THROWS_AS(make_dataset("text:"), InputError);
    CHECK_THROWS_AS(make_dataset("image:" + k_data + "/nope.png"), InputError);
    CHECK_THROWS_WITH_AS(make_dataset("missing_file.csv"),
                         "cannot read missing_file.csv: no such file", InputError);
    CHECK_THROWS_AS(make_dataset(k_data + "/bad_nan.csv"), InputError);
    CHECK_THROWS_AS(make_dataset(k_data), InputError);  // a directory
}

TEST_CASE("from_points validates and point sets sample only their points, uniformly") {
    CHECK_THROWS_AS(Dataset::from_points(Points(0, 2), "none"), InputError);
    Points nan_pts(2, 2);
    nan_pts << 1, 2, std::nanf(""), 0;
    CHECK_THROWS_AS(Dataset::from_points(nan_pts, "nan"), InputError);
    Points inf_pts(1, 2);
    inf_pts << 1, std::numeric_limits<float>::infinity();
    CHECK_THROWS_AS(Dataset::from_points(inf_pts, "inf"), InputError);
    // Every point set keeps to the coordinate range, whatever made it (CSV, drawing, model file).
    Points far(2, 2);
    far << 0, 0, 0, -2e6f;
    CHECK_THROWS_WITH_AS(Dataset::from_points(far, "far"), doctest::Contains("outside the range of coordinates"),
                         InputError);
    Points edge(1, 2);
    edge << k_max_coordinate, -k_max_coordinate;
    CHECK(Dataset::from_points(edge, "edge").point_count() == 1);
    Rng empty_rng(1);
    CHECK_THROWS_AS(Dataset(DatasetKind::PointSet).sample(3, empty_rng), InputError);

    Points pts(4, 2);
    pts << 0, 0, 1, 0, 0, 1, -3, 4;
    Dataset d = Dataset::from_points(pts, "drawn");
    CHECK(d.name() == "drawn");
    CHECK(d.point_count() == 4);
    CHECK(d.points() == pts);
    CHECK(Dataset(DatasetKind::Moons).points().rows() == 0);
    CHECK(Dataset(DatasetKind::Moons).point_count() == 0);

    Rng rng(9);
    const int n = 40000;
    Points s = d.sample(n, rng);
    int counts[4] = {0, 0, 0, 0};
    for (int i = 0; i < n; ++i) {
        int match = -1;
        for (int k = 0; k < 4; ++k)
            if (s(i, 0) == pts(k, 0) && s(i, 1) == pts(k, 1)) match = k;
        REQUIRE(match >= 0);
        ++counts[match];
    }
    // Binomial std of each count is sqrt(n * 3/16) ~ 87; allow 5 sigma.
    for (int c : counts) CHECK(std::abs(c - n / 4) < 450);
}

TEST_CASE("every dataset: deterministic per seed, seeds differ, stays in [-5, 5]^2") {
    std::vector<DatasetKind> kinds = analytic_kinds();
    Points pts(3, 2);
    pts << 0, 0, 1, 1, 2, 2;
    Dataset point_set = Dataset::from_points(pts, "three");
    for (DatasetKind kind : kinds) {
        CAPTURE(dataset_name(kind));
        Dataset d(kind);
        Rng a(42), b(42), c(43);
        Points pa = d.sample(1000, a), pb = d.sample(1000, b), pc = d.sample(1000, c);
        CHECK(pa == pb);
        CHECK(pa != pc);
        // sample_into on a block of rows matches sample and writes only that block.
        Points big = Points::Constant(1010, 2, 99.0f);
        Rng a2(42);
        d.sample_into(big.middleRows(5, 1000), a2);
        CHECK(big.middleRows(5, 1000) == pa);
        CHECK((big.topRows(5).array() == 99.0f).all());
        CHECK((big.bottomRows(5).array() == 99.0f).all());

        Points p = draw(kind, 100000, 7);
        REQUIRE(p.allFinite());
        int outside = 0;
        for (Eigen::Index i = 0; i < p.rows(); ++i)
            if (std::abs(p(i, 0)) > 5.0f || std::abs(p(i, 1)) > 5.0f) ++outside;
        CHECK(outside <= 10);  // a tiny Gaussian tail at most
    }
    Rng a(1), b(1);
    CHECK(point_set.sample(100, a) == point_set.sample(100, b));
}

TEST_CASE("sample_into does not allocate") {
    Points pts(3, 2);
    pts << 0, 0, 1, 1, 2, 2;
    std::vector<Dataset> sets;
    for (DatasetKind kind : analytic_kinds()) sets.emplace_back(kind);
    sets.push_back(Dataset::from_points(pts, "three"));
    Points out(4096, 2);
    Rng rng(1);
    for (const Dataset& d : sets) {
        long before = g_allocations.load();
        for (int rep = 0; rep < 3; ++rep) d.sample_into(out, rng);
        CHECK(g_allocations.load() == before);
    }
}

TEST_CASE("normal: mean 0, identity covariance") {
    Points p = draw(DatasetKind::Normal, 200000);
    Stats s = stats_of(p);
    // Standard error of the mean is 1/sqrt(2e5) ~ 0.0022; of the variance ~ 0.0032.
    CHECK(std::abs(s.mx) < 0.012);
    CHECK(std::abs(s.my) < 0.012);
    CHECK(std::abs(s.vx - 1) < 0.02);
    CHECK(std::abs(s.vy - 1) < 0.02);
    CHECK(std::abs(s.cxy) < 0.012);
}

TEST_CASE("uniform: inside [-sqrt3, sqrt3]^2, unit variance, flat") {
    Points p = draw(DatasetKind::Uniform, 200000);
    const float b = std::sqrt(3.0f);
    CHECK((p.array().abs() <= b).all());
    Stats s = stats_of(p);
    CHECK(std::abs(s.mx) < 0.012);
    CHECK(std::abs(s.my) < 0.012);
    CHECK(std::abs(s.vx - 1) < 0.01);
    CHECK(std::abs(s.vy - 1) < 0.01);
    CHECK(std::abs(s.cxy) < 0.012);
    // Each quarter of the x range holds a quarter of the mass.
    int q[4] = {0, 0, 0, 0};
    for (Eigen::Index i = 0; i < p.rows(); ++i)
        ++q[std::min(3, static_cast<int>((p(i, 0) + b) / (2 * b) * 4))];
    for (int c : q) CHECK(std::abs(c - 50000) < 1000);
}

TEST_CASE("8gaussians: 8 equal clusters of std 0.2 on a circle of radius 2.5") {
    Points p = draw(DatasetKind::EightGaussians, 80000);
    int counts[8] = {};
    double sq = 0;
    for (Eigen::Index i = 0; i < p.rows(); ++i) {
        int best = 0;
        double best_d = 1e30;
        for (int k = 0; k < 8; ++k) {
            double a = k * k_pi / 4;
            double dx = p(i, 0) - 2.5 * std::cos(a), dy = p(i, 1) - 2.5 * std::sin(a);
            if (dx * dx + dy * dy < best_d) {
                best_d = dx * dx + dy * dy;
                best = k;
            }
        }
        ++counts[best];
        sq += best_d;
    }
    for (int c : counts) CHECK(std::abs(c - 10000) < 500);
    // E|x - centre|^2 = 2 sigma^2 = 0.08.
    CHECK(sq / p.rows() == doctest::Approx(0.08).epsilon(0.03));
    Stats s = stats_of(p);
    CHECK(std::abs(s.mx) < 0.03);
    CHECK(std::abs(s.my) < 0.03);
    // Variance per axis: R^2/2 + sigma^2.
    CHECK(s.vx == doctest::Approx(2.5 * 2.5 / 2 + 0.04).epsilon(0.02));
}

TEST_CASE("moons: two half circles of radius 1.6, centred, noise 0.08") {
    Points p = draw(DatasetKind::Moons, 20000);
    const double s = 1.6;
    auto curve = [&](double u) -> std::pair<double, double> {
        // u in [0, 0.5]: upper moon; (0.5, 1]: lower moon.
        if (u <= 0.5) {
            double t = u * 2 * k_pi;
            return {s * (std::cos(t) - 0.5), s * (std::sin(t) - 0.25)};
        }
        double t = (u - 0.5) * 2 * k_pi;
        return {s * (1 - std::cos(t) - 0.5), s * (0.5 - std::sin(t) - 0.25)};
    };
    CurveFit fit = fit_to_curve(p, 2000, curve, 0.5);
    // The distance to the curve of 2D noise N(0, 0.08^2 I) has RMS ~0.08 (slightly less, since
    // the nearest point of the curve absorbs the tangential part).
    CHECK(fit.rms > 0.06);
    CHECK(fit.rms < 0.09);
    CHECK(fit.far_fraction < 1e-3);
    Stats st = stats_of(draw(DatasetKind::Moons, 200000));
    CHECK(std::abs(st.mx) < 0.01);
    CHECK(std::abs(st.my) < 0.01);
    CHECK(p.col(0).maxCoeff() < 2.4 + 0.5);
    CHECK(p.col(0).minCoeff() > -2.4 - 0.5);
}

TEST_CASE("checkerboard: only the 8 even cells of the 4x4 board over [-2, 2]^2, equally") {
    Points p = draw(DatasetKind::Checkerboard, 80000);
    CHECK((p.array().abs() <= 2.0f).all());
    int counts[4][4] = {};
    for (Eigen::Index i = 0; i < p.rows(); ++i) {
        int cx = std::min(3, static_cast<int>(std::floor(p(i, 0) + 2.0f)));
        int cy = std::min(3, static_cast<int>(std::floor(p(i, 1) + 2.0f)));
        ++counts[cx][cy];
    }
    for (int cx = 0; cx < 4; ++cx)
        for (int cy = 0; cy < 4; ++cy) {
            CAPTURE(cx);
            CAPTURE(cy);
            if ((cx + cy) % 2 == 0)
                CHECK(std::abs(counts[cx][cy] - 10000) < 500);
            else
                CHECK(counts[cx][cy] <= 2);  // only float rounding exactly onto a cell edge
        }
    Stats s = stats_of(p);
    CHECK(s.vx == doctest::Approx(16.0 / 12).epsilon(0.02));
}

TEST_CASE("spirals: two arms r = t/3, t up to 3 pi, noise 0.1") {
    Points p = draw(DatasetKind::Spirals, 10000);
    auto arm = [](double u, double sign) -> std::pair<double, double> {
        double t = 3 * k_pi * u;
        return {sign * -t * std::cos(t) / 3, sign * t * std::sin(t) / 3};
    };
    auto both = [&](double u) { return u <= 0.5 ? arm(u * 2, 1) : arm((u - 0.5) * 2, -1); };
    CurveFit fit = fit_to_curve(p, 4000, both, 0.6);
    CHECK(fit.rms > 0.07);
    CHECK(fit.rms < 0.11);
    CHECK(fit.far_fraction < 1e-3);
    Points q = draw(DatasetKind::Spirals, 200000);
    Stats s = stats_of(q);
    CHECK(std::abs(s.mx) < 0.02);
    CHECK(std::abs(s.my) < 0.02);
    // t^2 is uniform on [0, 9 pi^2], so E r^2 = pi^2 / 2, plus 2 sigma^2 of noise.
    double r2 = 0;
    for (Eigen::Index i = 0; i < q.rows(); ++i) r2 += radius(q, i) * radius(q, i);
    CHECK(r2 / q.rows() == doctest::Approx(k_pi * k_pi / 2 + 0.02).epsilon(0.01));
}

TEST_CASE("circles: radii 1 and 2.5 in proportion to circumference, noise 0.08") {
    Points p = draw(DatasetKind::Circles, 100000);
    int inner = 0;
    double sq_in = 0, sq_out = 0;
    for (Eigen::Index i = 0; i < p.rows(); ++i) {
        double r = radius(p, i);
        if (r < 1.75) {
            ++inner;
            sq_in += (r - 1) * (r - 1);
        } else {
            sq_out += (r - 2.5) * (r - 2.5);
        }
    }
    CHECK(inner / 1e5 == doctest::Approx(1.0 / 3.5).epsilon(0.02));
    CHECK(std::sqrt(sq_in / inner) == doctest::Approx(0.08).epsilon(0.05));
    CHECK(std::sqrt(sq_out / (1e5 - inner)) == doctest::Approx(0.08).epsilon(0.05));
    Stats s = stats_of(p);
    CHECK(std::abs(s.mx) < 0.02);
    CHECK(std::abs(s.my) < 0.02);
}

TEST_CASE("swissroll: r = t/5 for t in [1.5 pi, 4.5 pi], noise 0.1") {
    Points p = draw(DatasetKind::SwissRoll, 10000);
    auto curve = [](double u) -> std::pair<double, double> {
        double t = 1.5 * k_pi + u * 3 * k_pi;
        return {t * std::cos(t) / 5, t * std::sin(t) / 5};
    };
    CurveFit fit = fit_to_curve(p, 4000, curve, 0.6);
    CHECK(fit.rms > 0.07);
    CHECK(fit.rms < 0.11);
    CHECK(fit.far_fraction < 1e-3);
    double mean_r = 0;
    for (Eigen::Index i = 0; i < p.rows(); ++i) mean_r += radius(p, i);
    // t is uniform, so E r = 3 pi / 5 (noise adds ~sigma^2 / 2r, negligible).
    CHECK(mean_r / p.rows() == doctest::Approx(3 * k_pi / 5).epsilon(0.02));
}

TEST_CASE("pinwheel: 5 equal arms of radius ~2, 5-fold symmetric, not rotation invariant") {
    Points p = draw(DatasetKind::Pinwheel, 100000);
    Stats s = stats_of(p);
    CHECK(std::abs(s.mx) < 0.02);
    CHECK(std::abs(s.my) < 0.02);
    CHECK(s.vx == doctest::Approx(s.vy).epsilon(0.03));  // 5-fold symmetry makes it isotropic
    double mean_r = 0;
    int sector[5] = {}, fine[20] = {};
    for (Eigen::Index i = 0; i < p.rows(); ++i) {
        mean_r += radius(p, i);
        double a = std::atan2(p(i, 1), p(i, 0));
        if (a < 0) a += 2 * k_pi;
        ++sector[std::min(4, static_cast<int>(a / (2 * k_pi / 5)))];
        ++fine[std::min(19, static_cast<int>(a / (2 * k_pi / 20)))];
    }
    // Radius 2 * |(1 + 0.3 a, 0.1 b)|: E ~ 2 * (1 + 0.005).
    CHECK(mean_r / p.rows() == doctest::Approx(2.01).epsilon(0.02));
    for (int c : sector) CHECK(std::abs(c - 20000) < 800);
    // Within an arm's sector the mass is far from flat: the arms are visible.
    int lo = *std::min_element(fine, fine + 20), hi = *std::max_element(fine, fine + 20);
    CHECK(hi > 2 * lo);
    for (int k = 0; k < 4; ++k)  // and the pattern repeats every fifth of a turn
        CHECK(std::abs(fine[k] - fine[k + 4]) < 600);
}

TEST_CASE("s curve: on (sin t, sign(t)(cos t - 1)) x 1.2, both halves, centred, named s-curve too") {
    Points p = draw(DatasetKind::SCurve, 100000);
    Stats s = stats_of(p);
    CHECK(std::abs(s.mx) < 0.02);
    CHECK(std::abs(s.my) < 0.03);
    // Every point is within noise of the unit circle around (0, +-1) in curve units: for t > 0
    // z = cos t - 1 <= 0, so x^2 + (1 - |z|)^2 = sin^2 t + cos^2 t = 1.
    double mean_dev = 0;
    int upper = 0;
    for (Eigen::Index i = 0; i < p.rows(); ++i) {
        const double x = p(i, 0) / 1.2, z = p(i, 1) / 1.2;
        mean_dev += std::abs(std::hypot(x, 1.0 - std::abs(z)) - 1.0);
        upper += z > 0;
    }
    CHECK(mean_dev / p.rows() < 0.08);
    CHECK(std::abs(upper - 50000) < 1000);
    CHECK(p.col(1).maxCoeff() < 2.4f + 0.5f);
    CHECK(p.col(1).minCoeff() > -2.4f - 0.5f);
    CHECK(make_dataset("s-curve").kind() == DatasetKind::SCurve);
    CHECK(dataset_name(DatasetKind::SCurve) == "scurve");
}
