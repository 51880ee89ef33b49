// Helpers shared by the tests that run programs (fmplay itself, ffprobe, ffmpeg) and use scratch folders.
#pragma once
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <string>

namespace fmp::test {

struct CommandResult {
    int code = -1;
    std::string output;  // stdout and stderr together
};

// Runs a shell command and collects everything it prints.
inline CommandResult run_command(const std::string& cmd) {
    CommandResult r;
    FILE* p = popen((cmd + " 2>&1").c_str(), "r");
    REQUIRE_MESSAGE(p != nullptr, "cannot run: " << cmd);
    std::array<char, 65536> buf{};
    std::size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
    int status = pclose(p);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

// The fmplay binary under test: $FMPLAY_EXE (set by ctest), else the path CMake compiled in.
inline std::string fmplay_exe() {
    const char* env = std::getenv("FMPLAY_EXE");
    return env && *env ? env : FMPLAY_EXE;
}

// Runs fmplay; with_display runs it under xvfb-run when there is no display (the window needs one).
inline CommandResult run_fmplay(const std::string& args, bool with_display = false) {
    const char* display = std::getenv("DISPLAY");
    std::string prefix =
        with_display && !(display && *display) ? "xvfb-run -a -s '-screen 0 1280x1024x24' " : "";
    return run_command(prefix + fmplay_exe() + " " + args);
}

// The window needs a display: under xvfb-run when there is none (CI).
inline CommandResult run_window(const std::string& args) { return run_fmplay(args, true); }

// The number after "key: " in a --report output; -1 when absent.
inline long long report_value(const std::string& output, const std::string& key) {
    std::smatch m;
    std::regex re(key + ": ([0-9]+)");
    if (!std::regex_search(output, m, re)) return -1;
    return std::stoll(m[1]);
}

// A path quoted for the shell (built by appending: GCC 12 warns falsely on "'" + s + "'").
inline std::string quoted(const std::filesystem::path& p) {
    std::string s = "'";
    s += p.string();
    s += '\'';
    return s;
}

// The number of lines of a program's output.
inline int lines(const std::string& s) {
    int n = 0;
    for (char c : s) n += c == '\n';
    return n;
}

// Exit 2 with exactly one line "fmplay: error: ...", mentioning `what`.
inline void check_one_error(const CommandResult& r, const std::string& what) {
    INFO(r.output);
    CHECK(r.code == 2);
    CHECK(lines(r.output) == 1);
    CHECK(r.output.rfind("fmplay: error: ", 0) == 0);
    CHECK(r.output.find(what) != std::string::npos);
}

// A PNG path in a scratch folder named for the test, with no file there yet.
inline std::filesystem::path scratch_png(const std::string& folder, const std::string& name) {
    const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("fmplay_test_" + folder);
    std::filesystem::create_directories(dir);
    std::filesystem::path p = dir / (name + ".png");
    std::filesystem::remove(p);
    return p;
}

// An empty scratch folder under the temporary directory, named for the test.
inline std::filesystem::path fresh_dir(const std::string& name) {
    std::filesystem::path d = std::filesystem::temp_directory_path() / ("fmplay_test_" + name);
    std::filesystem::remove_all(d);
    std::filesystem::create_directories(d);
    return d;
}

}  // namespace fmp::test
