// Image and text imports: the file corpus, mutated-input fuzzing, and density statistics.
#include <doctest/doctest.h>
#include <stb/stb_image_write.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/base/rng.h"
#include "core/data/point_import.h"
#include "core/data/point_io.h"

using namespace fmp;

namespace {

const std::string k_dir = std::string(FMP_TEST_DATA_DIR) + "/import/";

void append_bytes(void* ctx, void* data, int size) {
    static_cast<std::string*>(ctx)->append(static_cast<const char*>(data),
                                           static_cast<std::size_t>(size));
}

enum class Fmt { Png, Jpg, Bmp };

// Encodes 8-bit pixels (comp channels) with stb_image_write into memory.
std::string encode(Fmt f, int w, int h, int comp, const std::vector<unsigned char>& px) {
    std::string out;
    int ok = 0;
    switch (f) {
        case Fmt::Png: ok = stbi_write_png_to_func(append_bytes, &out, w, h, comp, px.data(), w * comp); break;
        case Fmt::Jpg: ok = stbi_write_jpg_to_func(append_bytes, &out, w, h, comp, px.data(), 95); break;
        case Fmt::Bmp: ok = stbi_write_bmp_to_func(append_bytes, &out, w, h, comp, px.data()); break;
    }
    REQUIRE(ok);
    return out;
}

// A grey image from a function of (column, row), row 0 the top.
template <class F>
std::string gray_png(int w, int h, F value) {
    std::vector<unsigned char> px(static_cast<std::size_t>(w * h));
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) px[static_cast<std::size_t>(y * w + x)] = value(x, y);
    return encode(Fmt::Png, w, h, 1, px);
}

double fraction(const Points& p, bool (*pred)(float, float)) {
    int k = 0;
    for (Eigen::Index i = 0; i < p.rows(); ++i) k += pred(p(i, 0), p(i, 1)) ? 1 : 0;
    return static_cast<double>(k) / static_cast<double>(p.rows());
}

// Plain loops rather than Eigen's minCoeff: GCC 12 warns inside its AVX-512 reduction.
float col_min(const Points& p, int c) {
    float m = INFINITY;
    for (Eigen::Index i = 0; i < p.rows(); ++i) m = std::min(m, p(i, c));
    return m;
}
float col_max(const Points& p, int c) {
    float m = -INFINITY;
    for (Eigen::Index i = 0; i < p.rows(); ++i) m = std::max(m, p(i, c));
    return m;
}

bool inside_box(const Points& p, float lo, float hi) {
    return col_min(p, 0) >= lo && col_min(p, 1) >= lo && col_max(p, 0) <= hi && col_max(p, 1) <= hi;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

TEST_CASE("valid corpus images load, black left half gives points on the left") {
    for (const char* name : {"valid_gray.png", "valid.jpg", "valid.bmp", "valid.gif"}) {
        const std::string file = name;
        CAPTURE(file);
        ImageImportOptions opt;
        opt.points = 4000;
        Points p = image_to_points(k_dir + name, opt);
        REQUIRE(p.rows() == 4000);
        CHECK(inside_box(p, -3.0f, 3.0f));
        // JPEG ringing puts a little mass right of the edge; the others are exact.
        double left = fraction(p, [](float x, float) { return x < 0.0f; });
        CHECK(left > (std::string(name) == "valid.jpg" ? 0.97 : 0.9999));
    }
}

TEST_CASE("transparent PNG: composited over white by default, alpha as probability on request") {
    // valid_rgba.png: opaque black top-left quadrant; the rest is transparent *black* RGB.
    ImageImportOptions opt;
    opt.points = 3000;
    auto top_left = [](float x, float y) { return x < 0.0f && y > 0.0f; };
    CHECK(fraction(image_to_points(k_dir + "valid_rgba.png", opt), top_left) == 1.0);
    opt.use_alpha = true;
    CHECK(fraction(image_to_points(k_dir + "valid_rgba.png", opt), top_left) == 1.0);
    opt.invert = true;  // transparency carries the mass: the other three quadrants
    CHECK(fraction(image_to_points(k_dir + "valid_rgba.png", opt), top_left) == 0.0);
    opt.use_alpha = false;  // inverted colours over a black page: black on black, no mass
    CHECK_THROWS_AS(image_to_points(k_dir + "valid_rgba.png", opt), InputError);
}

TEST_CASE("malformed corpus files give InputError, never a crash") {
    ImageImportOptions opt;
    opt.points = 100;
    for (const char* name : {"truncated.png", "garbage.png", "garbage.bin", "text_named.png",
                             "empty.png", "signature_only.png", "huge_header.png", "zero_size.png",
                             "truncated.bmp", "huge_header.bmp", "truncated.jpg", "all_white.png",
                             "no_such_file.png"}) {
        const std::string file = name;
        CAPTURE(file);
        CHECK_THROWS_AS(image_to_points(k_dir + name, opt), InputError);
    }
    // The messages say what is wrong and name the file.
    auto message = [&](const char* name) {
        try {
            image_to_points(k_dir + name, opt);
        } catch (const InputError& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    CHECK(message("all_white.png").find("no dark pixels") != std::string::npos);
    CHECK(message("all_white.png").find("try invert") != std::string::npos);
    CHECK(message("huge_header.png").find("30000x30000") != std::string::npos);
    CHECK(message("huge_header.png").find("8192") != std::string::npos);
    CHECK(message("text_named.png").find("text_named.png") != std::string::npos);
    CHECK(message("text_named.png").find("PNG, JPEG, BMP or GIF") != std::string::npos);
    CHECK(message("truncated.png").find("truncated.png") != std::string::npos);
}

TEST_CASE("an oversized header is refused before decoding") {
    std::string bytes = read_file(k_dir + "huge_header.png", 1 << 20);
    ImageImportOptions opt;
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 100; ++i) CHECK_THROWS_AS(image_bytes_to_points(bytes, opt, "h"), InputError);
    CHECK(seconds_since(t0) < 0.5);
    // 8192 x 8192 passes the side limit but not the 40-megapixel one.
    std::string png = read_file(k_dir + "valid_gray.png", 1 << 20);
    png[16] = 0, png[17] = 0, png[18] = 0x20, png[19] = 0x00;  // width 8192
    png[20] = 0, png[21] = 0, png[22] = 0x20, png[23] = 0x00;  // height 8192
    CHECK_THROWS_WITH_AS(image_bytes_to_points(png, opt, "big"),
                         doctest::Contains("40 megapixels"), InputError);
}

TEST_CASE("fuzz: mutated PNG, JPEG, BMP and GIF bytes load or throw InputError") {
    std::vector<unsigned char> px(24 * 16 * 3);
    Rng pattern(3);
    for (auto& v : px) v = static_cast<unsigned char>(pattern.below(256));
    const std::vector<std::string> seeds = {
        encode(Fmt::Png, 24, 16, 3, px), encode(Fmt::Jpg, 24, 16, 3, px),
        encode(Fmt::Bmp, 24, 16, 3, px), read_file(k_dir + "valid.gif", 1 << 20),
        read_file(k_dir + "valid_rgba.png", 1 << 20)};
    ImageImportOptions opt;
    opt.points = 32;
    Rng rng(2024);
    int loaded = 0, refused = 0;
    auto t0 = std::chrono::steady_clock::now();
    const int iterations = 3000;
    for (int it = 0; it < iterations; ++it) {
        std::string b = seeds[static_cast<std::size_t>(it) % seeds.size()];
        int edits = 1 + static_cast<int>(rng.below(4));
        for (int e = 0; e < edits && !b.empty(); ++e) {
            auto pos = static_cast<std::size_t>(rng.below(static_cast<uint32_t>(b.size())));
            switch (rng.below(5)) {
                case 0: b[pos] = static_cast<char>(b[pos] ^ (1 << rng.below(8))); break;
                case 1: b[pos] = static_cast<char>(rng.below(256)); break;
                case 2: b.insert(pos, 1 + rng.below(8), static_cast<char>(rng.below(256))); break;
                case 3: b.resize(pos); break;
                default: b.erase(pos, 1 + rng.below(16)); break;
            }
        }
        try {
            Points p = image_bytes_to_points(b, opt, "mutant");
            CHECK(p.rows() == 32);
            CHECK(p.allFinite());
            ++loaded;
        } catch (const InputError&) {
            ++refused;
        }
    }
    MESSAGE("fuzz: ", loaded, " loaded, ", refused, " refused in ", seconds_since(t0), " s");
    CHECK(loaded + refused == iterations);
    CHECK(loaded > 100);   // the mutations are not all fatal: decoding paths are exercised
    CHECK(refused > 100);
}

TEST_CASE("points follow darkness: black left half, 2:1 darkness ratio, contrast, invert") {
    const int w = 64, h = 48;
    ImageImportOptions opt;
    opt.points = 100000;

    SUBCASE("black left half puts every point on the left") {
        Points p = image_bytes_to_points(gray_png(w, h, [](int x, int) { return x < 32 ? 0 : 255; }),
                                         opt, "half");
        CHECK(col_max(p, 0) < 0.0f);
        opt.invert = true;
        p = image_bytes_to_points(gray_png(w, h, [](int x, int) { return x < 32 ? 0 : 255; }), opt,
                                  "half");
        CHECK(col_min(p, 0) > 0.0f);
    }
    // Left: grey 0 (darkness 1); right: grey 128 (darkness 127/255).
    const std::string two = gray_png(w, h, [](int x, int) { return x < 32 ? 0 : 128; });
    const double d_right = 127.0 / 255.0;
    auto left_fraction = [&](const ImageImportOptions& o) {
        return fraction(image_bytes_to_points(two, o, "two"), [](float x, float) { return x < 0.0f; });
    };
    auto expect = [&](double m_left, double m_right, const ImageImportOptions& o) {
        double p = m_left / (m_left + m_right);
        double sd = std::sqrt(p * (1 - p) / o.points);
        CHECK(std::abs(left_fraction(o) - p) < 5 * sd);
    };
    SUBCASE("mass proportional to darkness") { expect(1.0, d_right, opt); }
    SUBCASE("contrast is an exponent") {
        opt.contrast = 2.0f;
        expect(1.0, d_right * d_right, opt);
        opt.contrast = 0.5f;
        expect(1.0, std::sqrt(d_right), opt);
    }
    SUBCASE("threshold subtracts and cuts") {
        opt.threshold = 0.25f;
        expect(0.75, d_right - 0.25, opt);
        opt.threshold = 0.6f;
        CHECK(left_fraction(opt) == 1.0);
    }
    SUBCASE("invert: lightness carries the mass") {
        opt.invert = true;
        CHECK(left_fraction(opt) == 0.0);
    }
}

TEST_CASE("the image keeps its aspect ratio, is centred in the box, and y points up") {
    ImageImportOptions opt;
    opt.points = 20000;
    opt.box_lo = -2.0f;
    opt.box_hi = 4.0f;  // centre 1, side 6
    Points wide = image_bytes_to_points(gray_png(64, 32, [](int, int) { return 0; }), opt, "wide");
    CHECK(inside_box(wide, -2.0f, 4.0f));
    CHECK(col_min(wide, 0) == doctest::Approx(-2.0).epsilon(0.01));
    CHECK(col_max(wide, 0) == doctest::Approx(4.0).epsilon(0.01));
    CHECK(col_min(wide, 1) == doctest::Approx(-0.5).epsilon(0.02));
    CHECK(col_max(wide, 1) == doctest::Approx(2.5).epsilon(0.02));
    Points tall = image_bytes_to_points(gray_png(16, 32, [](int, int) { return 0; }), opt, "tall");
    CHECK(col_min(tall, 0) == doctest::Approx(-0.5).epsilon(0.02));
    CHECK(col_max(tall, 0) == doctest::Approx(2.5).epsilon(0.02));
    CHECK(col_min(tall, 1) == doctest::Approx(-2.0).epsilon(0.01));
    CHECK(col_max(tall, 1) == doctest::Approx(4.0).epsilon(0.01));
    // Black top rows: the points are above the centre.
    Points top = image_bytes_to_points(gray_png(32, 32, [](int, int y) { return y < 16 ? 0 : 255; }),
                                       opt, "top");
    CHECK(col_min(top, 1) > 1.0f);
}

TEST_CASE("image import is deterministic for its seed and checks its options") {
    const std::string img = gray_png(20, 20, [](int x, int y) { return (x * 13 + y * 7) % 256; });
    ImageImportOptions opt;
    opt.points = 500;
    Points a = image_bytes_to_points(img, opt, "a");
    CHECK(a == image_bytes_to_points(img, opt, "a"));
    opt.seed = 2;
    CHECK(a != image_bytes_to_points(img, opt, "a"));

    auto bad = [&](auto tweak) {
        ImageImportOptions o;
        tweak(o);
        CHECK_THROWS_AS(image_bytes_to_points(img, o, "a"), InputError);
    };
    bad([](ImageImportOptions& o) { o.points = 0; });
    bad([](ImageImportOptions& o) { o.points = 2'000'001; });
    bad([](ImageImportOptions& o) { o.contrast = 0.05f; });
    bad([](ImageImportOptions& o) { o.contrast = 11.0f; });
    bad([](ImageImportOptions& o) { o.threshold = 1.0f; });
    bad([](ImageImportOptions& o) { o.threshold = -0.1f; });
    bad([](ImageImportOptions& o) { o.threshold = NAN; });
    bad([](ImageImportOptions& o) { o.box_lo = 3.0f; });
    bad([](ImageImportOptions& o) { o.box_hi = INFINITY; });
}

TEST_CASE("text FLOW becomes four letter blobs filling the box width") {
    TextImportOptions opt;
    Points p = text_to_points("FLOW", opt);
    REQUIRE(p.rows() == 20000);
    CHECK(inside_box(p, -3.0f, 3.0f));
    float w = col_max(p, 0) - col_min(p, 0);
    float h = col_max(p, 1) - col_min(p, 1);
    CHECK(w > 5.9f);          // cropped to the ink, so the word spans the box
    CHECK(h < 0.4f * w);      // a word is wide
    CHECK(std::abs(p.col(1).mean()) < 0.3f);  // centred vertically
    // Occupied bins of the x projection form exactly four runs: F, L, O, W with gaps between.
    const int bins = 300;
    std::vector<int> hist(bins, 0);
    for (Eigen::Index i = 0; i < p.rows(); ++i) {
        int b = static_cast<int>((p(i, 0) + 3.0f) / 6.0f * bins);
        ++hist[static_cast<std::size_t>(std::clamp(b, 0, bins - 1))];
    }
    int runs = 0;
    std::vector<int> mass;
    for (int b = 0; b < bins; ++b) {
        if (hist[static_cast<std::size_t>(b)] > 0 && (b == 0 || hist[static_cast<std::size_t>(b - 1)] == 0)) {
            ++runs;
            mass.push_back(0);
        }
        if (hist[static_cast<std::size_t>(b)] > 0) mass.back() += hist[static_cast<std::size_t>(b)];
    }
    CHECK(runs == 4);
    for (int m : mass) CHECK(m > 2000);  // every letter carries a real share
    CHECK(p == text_to_points("FLOW", opt));
}

TEST_CASE("text import refuses empty, long and malformed text") {
    TextImportOptions opt;
    opt.points = 100;
    CHECK_THROWS_AS(text_to_points("", opt), InputError);
    CHECK_THROWS_AS(text_to_points("   ", opt), InputError);
    CHECK_THROWS_AS(text_to_points("\xc2\xa0\xe3\x80\x80", opt), InputError);  // nbsp, ideographic space
    CHECK_THROWS_AS(text_to_points(std::string(65, 'a'), opt), InputError);
    CHECK(text_to_points(std::string(64, 'a'), opt).rows() == 100);
    CHECK_THROWS_AS(text_to_points("A\nB", opt), InputError);
    CHECK_THROWS_AS(text_to_points("\xff", opt), InputError);
    CHECK_THROWS_AS(text_to_points("\xc3", opt), InputError);       // truncated sequence
    CHECK_THROWS_AS(text_to_points("\xc0\xaf", opt), InputError);   // overlong
    CHECK(text_to_points("\xce\xa9 = 1", opt).rows() == 100);        // non-ASCII
    opt.pixel_height = 4;
    CHECK_THROWS_AS(text_to_points("FLOW", opt), InputError);
    opt.pixel_height = 160;
    opt.points = 0;
    CHECK_THROWS_AS(text_to_points("FLOW", opt), InputError);
}
