// Whole-file I/O: reads refuse what is not a regular file at once, writes and run directories are
// atomic, temporaries of dead processes are cleaned up, and two names for one file are one file.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "core/base/file_io.h"
#include "core/base/types.h"
#include "tests/test_support.h"

namespace fs = std::filesystem;
using fmp::InputError;

namespace {

std::string slurp(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
}

void put(const fs::path& p, const std::string& text) {
    std::ofstream(p, std::ios::binary) << text;
}

int entries(const fs::path& d) {
    int n = 0;
    for (auto& e : fs::directory_iterator(d)) (void)e, ++n;
    return n;
}

// A pid that certainly belongs to no process: a child that has exited and been reaped.
pid_t dead_pid() {
    pid_t child = ::fork();
    if (child == 0) ::_exit(0);
    int status = 0;
    ::waitpid(child, &status, 0);
    return child;
}

}  // namespace

TEST_CASE("read_file refuses pipes, devices and directories at once, and files over the limit") {
    fs::path d = fmp::test::fresh_dir("file_io_read");
    fs::path fifo = d / "points.csv";
    REQUIRE(::mkfifo(fifo.c_str(), 0644) == 0);
    auto start = std::chrono::steady_clock::now();
    CHECK_THROWS_WITH_AS(fmp::read_file(fifo.string(), 1 << 20),
                         doctest::Contains("not a regular file"), InputError);
    CHECK(std::chrono::steady_clock::now() - start <
          std::chrono::seconds(2));  // no wait for a writer
    CHECK_THROWS_WITH_AS(fmp::read_file("/dev/zero", 1 << 20),
                         doctest::Contains("not a regular file"), InputError);
    CHECK_THROWS_WITH_AS(fmp::read_file(d.string(), 1 << 20), doctest::Contains("directory"),
                         InputError);
    CHECK_THROWS_WITH_AS(fmp::read_file((d / "missing").string(), 1 << 20),
                         doctest::Contains("no such file"), InputError);
    put(d / "big", std::string(2000, 'x'));
    CHECK_THROWS_WITH_AS(fmp::read_file((d / "big").string(), 1999), doctest::Contains("limit"),
                         InputError);
    CHECK(fmp::read_file((d / "big").string(), 2000).size() == 2000);
}

TEST_CASE("write_file_atomic replaces the file whole and leaves no temporary") {
    fs::path d = fmp::test::fresh_dir("file_io_write");
    fs::path f = d / "a.txt";
    fmp::write_file_atomic(f.string(), "first");
    fmp::write_file_atomic(f.string(), "second");
    CHECK(slurp(f) == "second");
    CHECK(entries(d) == 1);
    std::string tmp = fmp::temporary_sibling(f.string());
    CHECK(fs::path(tmp).parent_path() == d);
    CHECK(fs::path(tmp).filename().string().rfind(".a.txt.part-" + std::to_string(::getpid()) + "-",
                                                  0) == 0);
    CHECK(fmp::temporary_sibling(f.string()) != tmp);
    CHECK_THROWS_AS(fmp::write_file_atomic((d / "no" / "such" / "dir.txt").string(), "x"),
                    InputError);
}

TEST_CASE("temporaries of dead processes are removed, a live process's are kept") {
    fs::path d = fmp::test::fresh_dir("file_io_stale");
    const std::string dead = std::to_string(dead_pid());
    const std::string live = std::to_string(::getppid());
    put(d / (".model.json.part-" + dead + "-3"), "half a model");
    fs::create_directories(d / (".run.part-" + dead + "-0"));
    put(d / (".run.part-" + dead + "-0") / "model.json", "x");
    put(d / (".flow.mp4.part-" + live + "-1"), "someone is still writing this");
    put(d / ("model.json.part-" + dead + "-3"), "not hidden: not ours");
    put(d / (".notes.part-x-1"), "not a pid");
    put(d / "keep.csv", "1,2\n");
    CHECK(fmp::remove_stale_temporaries(d.string()) == 2);
    CHECK(!fs::exists(d / (".model.json.part-" + dead + "-3")));
    CHECK(!fs::exists(d / (".run.part-" + dead + "-0")));
    CHECK(fs::exists(d / (".flow.mp4.part-" + live + "-1")));
    CHECK(fs::exists(d / ("model.json.part-" + dead + "-3")));
    CHECK(fs::exists(d / ".notes.part-x-1"));
    CHECK(fs::exists(d / "keep.csv"));
}

TEST_CASE("same_file sees links, relative paths and files that do not exist yet") {
    fs::path d = fmp::test::fresh_dir("file_io_same");
    put(d / "m.json", "{}");
    fs::create_symlink(d / "m.json", d / "link.json");
    fs::create_hard_link(d / "m.json", d / "hard.json");
    CHECK(fmp::same_file((d / "m.json").string(), (d / "link.json").string()));
    CHECK(fmp::same_file((d / "m.json").string(), (d / "hard.json").string()));
    CHECK(fmp::same_file((d / "m.json").string(), (d / "sub" / ".." / "m.json").string()));
    CHECK(fmp::same_file((d / "new.csv").string(), (d / "." / "new.csv").string()));
    CHECK(!fmp::same_file((d / "m.json").string(), (d / "new.csv").string()));
}

TEST_CASE(
    "an atomic directory appears whole, replaces the previous run and refuses foreign files") {
    fs::path d = fmp::test::fresh_dir("file_io_dir");
    const std::vector<std::string> names = {"model.json", "loss.csv"};
    fs::path run = d / "runs" / "run";
    {
        fmp::AtomicDirectory out(run.string(), names);
        fmp::write_file_atomic(out.file("model.json"), "model 1");
        fmp::write_file_atomic(out.file("loss.csv"), "loss 1");
        CHECK(!fs::exists(run));  // nothing under the final name before the commit
        out.commit();
    }
    CHECK(slurp(run / "model.json") == "model 1");
    CHECK(entries(d / "runs") == 1);

    {
        fmp::AtomicDirectory out(run.string(), names);
        fmp::write_file_atomic(out.file("model.json"), "model 2");
        // Destroyed without a commit (an error mid-run): the previous run stays as it was.
    }
    CHECK(slurp(run / "model.json") == "model 1");
    CHECK(slurp(run / "loss.csv") == "loss 1");
    CHECK(entries(d / "runs") == 1);

    {
        fmp::AtomicDirectory out(run.string(), names);
        fmp::write_file_atomic(out.file("model.json"), "model 3");
        out.commit();
    }
    CHECK(slurp(run / "model.json") == "model 3");
    CHECK(!fs::exists(run /
                      "loss.csv"));  // the new run is the whole directory, no old files mixed in
    CHECK(entries(d / "runs") == 1);

    put(run / "notes.txt", "mine");
    CHECK_THROWS_WITH_AS(fmp::AtomicDirectory(run.string(), names), doctest::Contains("notes.txt"),
                         InputError);
    put(d / "file", "x");
    CHECK_THROWS_WITH_AS(fmp::AtomicDirectory((d / "file").string(), names),
                         doctest::Contains("not a directory"), InputError);
    CHECK_THROWS_AS(fmp::AtomicDirectory(".", names), InputError);
}

TEST_CASE("two runs into one directory never mix their files") {
    fs::path d = fmp::test::fresh_dir("file_io_race");
    const std::vector<std::string> names = {"a", "b"};
    fs::path run = d / "run";
    for (int round = 0; round < 20; ++round) {
        fmp::AtomicDirectory one(run.string(), names), two(run.string(), names);
        for (const char* n : {"a", "b"}) {
            fmp::write_file_atomic(one.file(n), "one");
            fmp::write_file_atomic(two.file(n), "two");
        }
        if (round % 2) {
            one.commit();
            two.commit();
        } else {
            two.commit();
            one.commit();
        }
        CHECK(slurp(run / "a") == slurp(run / "b"));
        CHECK(entries(d) == 1);
    }
}
