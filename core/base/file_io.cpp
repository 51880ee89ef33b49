// Bounded reads, atomic file and directory writes, and the clean-up of dead processes' temporaries.
#include "core/base/file_io.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "core/base/types.h"

namespace fmp {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view k_part_marker = ".part-";

std::string errno_text(int err) {
    return std::strerror(err);
}

std::string byte_limit_text(std::size_t bytes) {
    if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
    return std::to_string(bytes) + " bytes";
}

// The folder of a path ("." for a bare name), as open(2) wants it.
std::string parent_of(const std::string& path) {
    fs::path parent = fs::path(path).parent_path();
    return parent.empty() ? "." : parent.string();
}

void fsync_directory(const std::string& dir) {
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
}

// The pid in a temporary sibling's name (".<name>.part-<pid>-<n>"), or 0 when it is not one.
pid_t temporary_owner(const std::string& name) {
    if (name.size() < 2 || name[0] != '.') return 0;
    std::size_t at = name.rfind(k_part_marker);
    if (at == std::string::npos || at < 2) return 0;
    std::size_t p = at + k_part_marker.size();
    std::size_t dash = name.find('-', p);
    if (dash == std::string::npos || dash == p || dash + 1 >= name.size()) return 0;
    for (std::size_t i = p; i < name.size(); ++i)
        if (i != dash && (name[i] < '0' || name[i] > '9')) return 0;
    long pid = std::strtol(name.c_str() + p, nullptr, 10);
    return pid > 0 && pid < (1L << 30) ? static_cast<pid_t>(pid) : 0;
}

bool process_exists(pid_t pid) {
    return ::kill(pid, 0) == 0 || errno != ESRCH;
}

// Swaps two paths in one step; false (errno set) where the filesystem cannot (then the caller
// falls back to two renames).
bool exchange_paths(const std::string& a, const std::string& b) {
    return ::renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) == 0;
}

}  // namespace

std::string read_file(const std::string& path, std::size_t max_bytes) {
    auto fail = [&](const std::string& reason) -> std::string {
        throw InputError("cannot read " + one_line_message(path, 300) + ": " + reason);
    };
    if (path.empty()) throw InputError("cannot read an empty file name");
    // Non-blocking open: opening a FIFO for reading would otherwise wait for a writer.
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) return fail(errno == ENOENT ? "no such file" : errno_text(errno));

    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        int e = errno;
        ::close(fd);
        return fail(errno_text(e));
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        return fail(S_ISDIR(st.st_mode) ? "it is a directory"
                                        : "it is not a regular file (a pipe, device or socket)");
    }
    const std::string too_large = "larger than the " + byte_limit_text(max_bytes) + " limit";
    if (static_cast<std::uint64_t>(st.st_size) > max_bytes) {
        ::close(fd);
        return fail(too_large);
    }
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);

    // Read until end of file rather than trusting st_size: the file may grow while it is read.
    std::string out;
    out.reserve(static_cast<std::size_t>(st.st_size));
    char buf[1 << 16];
    while (true) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            ::close(fd);
            return fail(errno_text(e));
        }
        if (n == 0) break;
        if (out.size() + static_cast<std::size_t>(n) > max_bytes) {
            ::close(fd);
            return fail(too_large);
        }
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
}

std::string temporary_sibling(const std::string& path) {
    static std::atomic<unsigned long> counter{0};
    fs::path p(path);
    std::string name = p.filename().string();
    if (name.empty()) name = fs::path(path).parent_path().filename().string();  // "dir/"
    std::string tmp = "." + name + std::string(k_part_marker) + std::to_string(::getpid()) + "-" +
                      std::to_string(counter.fetch_add(1));
    fs::path parent = p.has_filename() ? p.parent_path() : p.parent_path().parent_path();
    return (parent / tmp).string();
}

void write_file_atomic(const std::string& path, std::string_view data) {
    if (path.empty()) throw InputError("cannot write an empty file name");
    remove_stale_temporaries(parent_of(path));
    const std::string tmp = temporary_sibling(path);
    auto fail = [&](const std::string& reason, bool remove_tmp) {
        if (remove_tmp) ::unlink(tmp.c_str());
        throw InputError("cannot write " + one_line_message(path, 300) + ": " + reason);
    };

    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) fail(errno_text(errno), false);

    const char* p = data.data();
    std::size_t left = data.size();
    while (left > 0) {
        ssize_t n = ::write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            ::close(fd);
            fail(errno_text(e), true);
        }
        p += n;
        left -= static_cast<std::size_t>(n);
    }
    // Without the fsync a crash after the rename could leave an empty file under the final name.
    if (::fsync(fd) != 0) {
        int e = errno;
        ::close(fd);
        fail(errno_text(e), true);
    }
    if (::close(fd) != 0) fail(errno_text(errno), true);
    if (::rename(tmp.c_str(), path.c_str()) != 0) fail(errno_text(errno), true);
    // Persist the rename itself; failing here does not undo a complete, readable file.
    fsync_directory(parent_of(path));
}

int remove_stale_temporaries(const std::string& dir) {
    DIR* d = ::opendir(dir.empty() ? "." : dir.c_str());
    if (!d) return 0;
    std::vector<std::string> stale;
    while (dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        pid_t pid = temporary_owner(name);
        if (pid > 0 && pid != ::getpid() && !process_exists(pid)) stale.push_back(name);
    }
    ::closedir(d);
    int removed = 0;
    for (const std::string& name : stale) {
        std::error_code ec;
        if (fs::remove_all(fs::path(dir.empty() ? "." : dir) / name, ec) > 0 && !ec) ++removed;
    }
    return removed;
}

bool same_file(const std::string& a, const std::string& b) {
    std::error_code ec;
    if (fs::exists(a, ec) && fs::exists(b, ec)) {
        bool same = fs::equivalent(a, b, ec);
        if (!ec) return same;
    }
    fs::path ca = fs::weakly_canonical(fs::absolute(a, ec), ec);
    fs::path cb = fs::weakly_canonical(fs::absolute(b, ec), ec);
    return !ca.empty() && ca == cb;
}

AtomicDirectory::AtomicDirectory(std::string path, std::vector<std::string> allowed_names)
    : m_allowed(std::move(allowed_names)) {
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    m_path = path;
    const std::string shown = quote_for_message(m_path, 200);
    fs::path p(m_path);
    std::string name = p.filename().string();
    if (m_path.empty() || name == "." || name == "..")
        throw InputError("cannot write a run into " + shown + ": give it a directory of its own");
    std::error_code ec;
    fs::file_status st = fs::symlink_status(p, ec);
    if (fs::exists(st)) {
        if (!fs::is_directory(st)) throw InputError(shown + " exists and is not a directory");
        for (const fs::directory_entry& e : fs::directory_iterator(p, ec)) {
            std::string n = e.path().filename().string();
            if (std::find(m_allowed.begin(), m_allowed.end(), n) == m_allowed.end() ||
                !e.is_regular_file())
                throw InputError(shown + " holds " + quote_for_message(n) +
                                 ", which is not an output of a run; choose a new directory (the "
                                 "whole directory is replaced by the new run)");
        }
        if (ec) throw InputError("cannot read " + shown + ": " + ec.message());
    }
    fs::path parent = p.parent_path();
    if (!parent.empty()) {
        fs::create_directories(parent, ec);
        if (ec || !fs::is_directory(parent))
            throw InputError("cannot create the directory " +
                             quote_for_message(parent.string(), 200) + " for " + shown +
                             (ec ? ": " + ec.message() : ""));
    }
    remove_stale_temporaries(parent_of(m_path));
    m_temporary = temporary_sibling(m_path);
    if (::mkdir(m_temporary.c_str(), 0755) != 0)
        throw InputError("cannot write into " + quote_for_message(parent_of(m_path), 200) + ": " +
                         errno_text(errno));
}

AtomicDirectory::~AtomicDirectory() {
    if (m_committed || m_temporary.empty()) return;
    std::error_code ec;
    fs::remove_all(m_temporary, ec);
}

std::string AtomicDirectory::file(const std::string& name) const {
    return (fs::path(m_temporary) / name).string();
}

void AtomicDirectory::commit() {
    fsync_directory(m_temporary);
    const std::string shown = quote_for_message(m_path, 200);
    std::error_code ec;
    if (::rename(m_temporary.c_str(), m_path.c_str()) == 0) {
        // There was no previous run (or an empty directory, which rename replaces).
    } else if (errno == EEXIST || errno == ENOTEMPTY) {
        if (exchange_paths(m_temporary, m_path)) {
            // The previous run now sits under the temporary name.
            fs::remove_all(m_temporary, ec);
        } else {
            // No atomic exchange here: step the previous run aside, put the new one in place.
            std::string previous = temporary_sibling(m_path);
            if (::rename(m_path.c_str(), previous.c_str()) != 0)
                throw InputError("cannot replace " + shown + ": " + errno_text(errno));
            if (::rename(m_temporary.c_str(), m_path.c_str()) != 0) {
                int e = errno;
                ::rename(previous.c_str(), m_path.c_str());
                throw InputError("cannot replace " + shown + ": " + errno_text(e));
            }
            fs::remove_all(previous, ec);
        }
    } else {
        throw InputError("cannot write " + shown + ": " + errno_text(errno));
    }
    m_committed = true;
    fsync_directory(parent_of(m_path));
}

}  // namespace fmp
