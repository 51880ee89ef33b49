// Tests for point-set CSV parsing/saving, bounded reads and atomic writes, including a fuzz loop.
#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "core/base/rng.h"
#include "core/data/point_io.h"

namespace fs = std::filesystem;
using namespace fmp;

namespace {

const std::string k_data = FMP_TEST_DATA_DIR;

// A fresh directory per test case, removed afterwards.
struct TempDir {
    fs::path path;
    TempDir() {
        static int counter = 0;
        path = fs::temp_directory_path() / ("fmp_test_point_io_" + std::to_string(::getpid()) +
                                            "_" + std::to_string(counter++));
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    std::vector<std::string> entries() const {
        std::vector<std::string> names;
        for (const auto& e : fs::directory_iterator(path))
            names.push_back(e.path().filename().string());
        return names;
    }
};

// The message of the InputError that `fn` throws; fails the test if it throws nothing.
template <class Fn>
std::string error_of(Fn&& fn) {
    try {
        fn();
    } catch (const InputError& e) {
        return e.what();
    }
    FAIL("expected an InputError");
    return "";
}

bool contains(const std::string& s, const std::string& part) {
    return s.find(part) != std::string::npos;
}

void check_one_line(const std::string& msg) {
    CHECK(msg.find('\n') == std::string::npos);
    CHECK(msg.find('\r') == std::string::npos);
    CHECK(msg.size() < 400);
}

void check_reference_points(const Points& p) {
    REQUIRE(p.rows() == 3);
    CHECK(p(0, 0) == 1.5f);
    CHECK(p(0, 1) == -2.0f);
    CHECK(p(1, 0) == 0.0f);
    CHECK(p(1, 1) == 3.25f);
    CHECK(p(2, 0) == -1e-3f);
    CHECK(p(2, 1) == 400.0f);
}

}  // namespace

TEST_CASE("valid files with every separator, header, comment and line-ending style") {
    for (const char* name :
         {"header.csv", "whitespace.txt", "tabs.tsv", "crlf.csv", "comments_no_newline.csv"}) {
        CAPTURE(name);
        check_reference_points(load_points_csv(k_data + "/" + name));
    }
}

TEST_CASE("parse: separators, optional header, signs and exponents") {
    check_reference_points(parse_points_csv("1.5,-2\n0,3.25\n-1e-3,4e2\n"));
    check_reference_points(parse_points_csv("1.5 , -2\n0\t \t3.25\n-1e-3  4e2"));
    check_reference_points(parse_points_csv("\"x\",\"y\"\n+1.5,-2\n0,+3.25\n-.001,4E+2\n"));
    check_reference_points(parse_points_csv("\xEF\xBB\xBFX;Y label\n1.5,-2\n0,3.25\n-1e-3,4e2\n"));
    // Values beyond float precision round; denormal-range values become (near) zero.
    Points p = parse_points_csv("1e-50,999999.987654321\n");
    CHECK(p(0, 0) == 0.0f);
    CHECK(p(0, 1) == 999999.987654321f);
}

TEST_CASE("coordinates beyond the coordinate range are refused with the line") {
    CHECK(parse_points_csv("1e6,-1e6\n")(0, 1) == -1e6f);  // the limit itself is fine
    for (const char* text : {"0,0\n1000001,0\n", "0,0\n0,-3e38\n", "0,0\n1e20,1e20\n"}) {
        CAPTURE(text);
        std::string msg = error_of([&] { parse_points_csv(text, "big.csv"); });
        CHECK(contains(msg, "big.csv line 2"));
        CHECK(contains(msg, "outside the range of coordinates"));
        check_one_line(msg);
    }
}

TEST_CASE("malformed files give one-line InputErrors with the source and line number") {
    struct Case {
        const char* file;
        const char* line;
        const char* words;
    };
    const Case cases[] = {
        {"bad_text.csv", "line 3", "not a number"},
        {"bad_nan.csv", "line 2", "NaN"},
        {"bad_inf.csv", "line 3", "infinity"},
        {"bad_one_column.csv", "line 2", "expected 2"},
        {"bad_three_columns.csv", "line 1", "expected 2"},
        {"empty.csv", "line 1", "empty"},
        {"only_header.csv", "line 1", "no points"},
        {"only_comments.csv", "line 2", "no points"},
    };
    for (const Case& c : cases) {
        CAPTURE(c.file);
        std::string path = k_data + "/" + c.file;
        std::string msg = error_of([&] { load_points_csv(path); });
        CHECK(contains(msg, path + " " + c.line + ":"));
        CHECK(contains(msg, c.words));
        check_one_line(msg);
    }
}

TEST_CASE("parse errors in text") {
    CHECK(contains(error_of([] { parse_points_csv("1,2\n3,4x\n", "s"); }),
                   "s line 2: '4x' is not a number"));
    CHECK(contains(error_of([] { parse_points_csv("1,2\n3,4,\n"); }),
                   "input line 2: found 3 columns"));
    CHECK(contains(error_of([] { parse_points_csv("1,2\n,3,4\n"); }), "line 2: found 3"));
    CHECK(contains(error_of([] { parse_points_csv("1,2\n3,,4\n"); }), "line 2: found 3"));
    CHECK(contains(error_of([] { parse_points_csv("1,2\n3\n"); }), "line 2: found 1 column"));
    CHECK(contains(error_of([] { parse_points_csv("1,2\n3,1e39\n"); }),
                   "out of the 32-bit float range"));
    CHECK(
        contains(error_of([] { parse_points_csv("1,2\n3,3.4028236e38\n"); }), "out of the 32-bit"));
    // FLT_MAX itself is a float, but far outside the coordinate range.
    CHECK(contains(error_of([] { parse_points_csv("3.40282356e38,-3.40282347e+38"); }),
                   "outside the range of coordinates"));
    CHECK(contains(error_of([] { parse_points_csv("1,2\n3,1e999\n"); }), "line 2"));
    CHECK(contains(error_of([] { parse_points_csv("1,2\n3,NAN\n"); }), "NaN"));
    CHECK(contains(error_of([] { parse_points_csv("1,2\n3,Infinity\n"); }), "infinity"));
    CHECK(contains(error_of([] { parse_points_csv("1,2\n3,+inf\n"); }), "infinity"));
    // The first line is data, not a header, when one of its fields is a number.
    CHECK(contains(error_of([] { parse_points_csv("1.0,abc\n1,2\n"); }), "line 1: 'abc'"));
    // Only the first content line may be a header.
    CHECK(contains(error_of([] { parse_points_csv("x,y\na,b\n1,2\n"); }), "line 2: 'a'"));
    CHECK(contains(error_of([] { parse_points_csv(""); }), "line 1: no points"));
    CHECK(contains(error_of([] { parse_points_csv("\n\n# c\n"); }), "line 3: no points"));
    CHECK(
        contains(error_of([] { parse_points_csv("x,y\r\n\r\n"); }), "no points after the header"));
}

TEST_CASE("garbage bytes and very long lines are refused with a line number") {
    Rng rng(11);
    std::string garbage = "1,2\n";
    for (int i = 0; i < 2000; ++i) garbage += static_cast<char>(rng.below(256));
    std::string msg = error_of([&] { parse_points_csv(garbage, "junk"); });
    CHECK(contains(msg, "junk line "));
    check_one_line(msg);

    std::string nul_line("1,2\n3,\0\n", 8);
    CHECK(contains(error_of([&] { parse_points_csv(nul_line); }), "line 2"));

    std::string long_line = "x,y\n1,2\n" + std::string(100000, '7') + ",1\n";
    msg = error_of([&] { parse_points_csv(long_line); });
    CHECK(contains(msg, "line 3: line is longer than"));
    check_one_line(msg);
}

TEST_CASE("more than k_max_points points is refused") {
    std::string text;
    text.reserve((k_max_points + 1) * 4);
    for (std::size_t i = 0; i <= k_max_points; ++i) text += "1,2\n";
    std::string msg = error_of([&] { parse_points_csv(text); });
    CHECK(contains(msg, "line " + std::to_string(k_max_points + 1) + ": more than"));
}

TEST_CASE("save then load round-trips every float exactly") {
    TempDir dir;
    Rng rng(3);
    Points p(500, 2);
    for (Eigen::Index i = 0; i < p.rows(); ++i) {
        // Mixed magnitudes, including tiny, huge and exactly representable values.
        float scale = std::pow(10.0f, static_cast<float>(static_cast<int>(rng.below(35)) - 30));
        p(i, 0) = rng.normal() * scale;
        p(i, 1) = rng.uniform(-5.0f, 5.0f);
    }
    p(0, 0) = 0.0f;
    p(1, 0) = k_max_coordinate;
    p(4, 1) = std::nextafter(-k_max_coordinate, 0.0f);
    p(2, 0) = -std::numeric_limits<float>::denorm_min();
    p(3, 1) = 0.1f;
    std::string path = (dir.path / "pts.csv").string();
    save_points_csv(path, p);
    std::string text = read_file(path, 1 << 20);
    CHECK(text.rfind("x,y\n", 0) == 0);
    Points q = load_points_csv(path);
    REQUIRE(q.rows() == p.rows());
    for (Eigen::Index i = 0; i < p.rows(); ++i) {
        CHECK(q(i, 0) == p(i, 0));
        CHECK(q(i, 1) == p(i, 1));
    }
    CHECK(dir.entries() == std::vector<std::string>{"pts.csv"});

    Points bad(1, 2);
    bad << 1.0f, std::nanf("");
    CHECK(contains(error_of([&] { save_points_csv(path, bad); }), "not finite"));
}

TEST_CASE("save with classes writes a class column that the labelled loader reads back") {
    TempDir dir;
    Points p(4, 2);
    p << 0.5f, -1.25f, 2, 3, -0.1f, 0.2f, 7, 8;
    const std::vector<uint8_t> classes = {0, 7, 3, 0};
    const std::string path = (dir.path / "labelled.csv").string();
    save_points_csv(path, p, classes);
    CHECK(read_file(path, 1 << 16).rfind("x,y,class\n0.5,-1.25,0\n", 0) == 0);
    const LabelledPoints back = load_labelled_points_csv(path);
    REQUIRE(back.points.rows() == 4);
    CHECK(back.points == p);
    CHECK(back.classes == classes);
    // The plain reader refuses the third column rather than dropping it silently.
    CHECK_THROWS_AS(load_points_csv(path), InputError);
    CHECK(contains(error_of([&] { save_points_csv(path, p, {1, 2}); }), "classes for"));
    CHECK(load_labelled_points_csv(path).classes == classes);  // the failed write left it alone
}

TEST_CASE("atomic write: replaces the file, leaves no temp files, fails cleanly") {
    TempDir dir;
    std::string path = (dir.path / "out.txt").string();
    write_file_atomic(path, "first");
    write_file_atomic(path, "second version");
    CHECK(read_file(path, 100) == "second version");
    write_file_atomic(path, "");
    CHECK(read_file(path, 100).empty());
    CHECK(dir.entries() == std::vector<std::string>{"out.txt"});

    std::string missing_dir = (dir.path / "no_such_dir" / "out.txt").string();
    std::string msg = error_of([&] { write_file_atomic(missing_dir, "data"); });
    CHECK(contains(msg, "cannot write " + missing_dir + ": "));
    check_one_line(msg);
    CHECK(!fs::exists(dir.path / "no_such_dir"));

    // Renaming over a directory fails after the temp file exists: the temp must be removed.
    fs::create_directory(dir.path / "a_dir");
    msg = error_of([&] { write_file_atomic((dir.path / "a_dir").string(), "data"); });
    CHECK(contains(msg, "cannot write"));
    auto names = dir.entries();
    std::sort(names.begin(), names.end());
    CHECK(names == std::vector<std::string>{"a_dir", "out.txt"});
}

TEST_CASE("read_file: missing, directory, too large") {
    TempDir dir;
    std::string missing = (dir.path / "missing.csv").string();
    std::string msg = error_of([&] { read_file(missing, 100); });
    CHECK(msg == "cannot read " + missing + ": no such file");
    CHECK(contains(error_of([&] { load_points_csv(missing); }), "no such file"));
    CHECK(contains(error_of([&] { read_file(dir.path.string(), 100); }), "directory"));

    std::string path = (dir.path / "big.txt").string();
    write_file_atomic(path, std::string(1000, 'a'));
    CHECK(read_file(path, 1000).size() == 1000);
    CHECK(contains(error_of([&] { read_file(path, 999); }), "larger than the 999 bytes limit"));
    CHECK(contains(error_of([&] { read_file(path, 10); }), "cannot read " + path));
    // The CSV cap is named in MiB.
    CHECK(k_max_csv_bytes == (256u << 20));
}

TEST_CASE("a 1M-line file parses quickly") {
    std::string text = "x,y\n";
    text.reserve(24'000'000);
    char buf[64];
    Rng rng(5);
    for (int i = 0; i < 1'000'000; ++i) {
        int len = std::snprintf(buf, sizeof buf, "%.9g,%.9g\n", static_cast<double>(rng.normal()),
                                static_cast<double>(rng.normal()));
        text.append(buf, static_cast<std::size_t>(len));
    }
    auto t0 = std::chrono::steady_clock::now();
    Points p = parse_points_csv(text);
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    MESSAGE("1M lines parsed in " << seconds << " s");
    CHECK(p.rows() == 1'000'000);
    CHECK(seconds < 2.0);  // typically ~0.3 s; slack for a loaded shared machine
}

TEST_CASE("fuzz: mutated CSV either parses to finite points or throws InputError") {
    const std::string seed_text =
        "# comment\nx,y\n1.5,-2\n0 3.25\n-1e-3\t4e2\n\r\n7,8\r\n+9,.5\n\"1\",\"2\"\n3e38,-3e38\n";
    const char alphabet[] = "0123456789+-.eE,; \t\r\n#\"xnaif\x00\xff";
    Rng rng(2024);
    int parsed = 0, refused = 0;
    for (int iter = 0; iter < 4000; ++iter) {
        std::string s = seed_text;
        int edits = 1 + static_cast<int>(rng.below(6));
        for (int e = 0; e < edits; ++e) {
            std::size_t at = s.empty() ? 0 : rng.below(static_cast<uint32_t>(s.size()));
            char c = rng.below(4) == 0 ? static_cast<char>(rng.below(256))
                                       : alphabet[rng.below(sizeof alphabet - 1)];
            switch (rng.below(4)) {
                case 0:
                    if (!s.empty()) s[at] = c;
                    break;
                case 1:
                    s.insert(s.begin() + static_cast<std::ptrdiff_t>(at), c);
                    break;
                case 2:
                    if (!s.empty()) s.erase(at, 1 + rng.below(4));
                    break;
                default:
                    s = s.substr(0, at);
                    break;  // truncation
            }
        }
        try {
            Points p = parse_points_csv(s, "fuzz");
            REQUIRE(p.rows() > 0);
            REQUIRE(p.allFinite());
            ++parsed;
        } catch (const InputError& e) {
            std::string msg = e.what();
            REQUIRE(msg.rfind("fuzz line ", 0) == 0);
            REQUIRE(msg.find('\n') == std::string::npos);
            ++refused;
        }
    }
    MESSAGE("fuzz: " << parsed << " parsed, " << refused << " refused");
    CHECK(parsed > 100);
    CHECK(refused > 100);
}
