// Whole files that are never seen half-written: bounded reads of regular files, atomic writes of
// files and of whole directories through hidden temporary siblings, and the clean-up of the
// temporaries a killed process left behind.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace fmp {

// Reads a whole file of at most max_bytes. Throws InputError if it is missing, unreadable, too
// large, or not a regular file (a directory, a FIFO, a device or a socket: reading a FIFO would
// wait forever for a writer).
std::string read_file(const std::string& path, std::size_t max_bytes);

// A hidden name beside `path` to write it under until it is complete:
// "<dir>/.<name>.part-<pid>-<n>", unique within and across processes.
std::string temporary_sibling(const std::string& path);

// Writes `data` to a temporary sibling, fsyncs it, then renames it over `path`, so a reader never
// sees a half-written file. Throws InputError if the directory is not writable.
void write_file_atomic(const std::string& path, std::string_view data);

// Removes the temporary siblings (files or folders) in `dir` whose process no longer exists: what
// a run killed mid-way left behind. Another live process's temporaries are left alone. Returns
// how many were removed; never throws.
int remove_stale_temporaries(const std::string& dir);

// True when a and b are the same file: the same existing file (hard and symbolic links included)
// or, when either does not exist yet, the same absolute, normalised path.
bool same_file(const std::string& a, const std::string& b);

// A directory written as a whole, such as a training run's outputs: its files are written into a
// hidden temporary sibling, and commit() swaps that into place in one step (the previous directory
// stays complete until then, and is removed after), so a reader or a crash sees the old set or
// the new one, never a mix, and concurrent runs into one path never mix files.
class AtomicDirectory {
  public:
    // Checks the path before any work is done: throws InputError if it exists and is not a
    // directory, holds anything but `allowed_names` (it would be replaced as a whole), or its
    // parent cannot be written. Creates the temporary directory (and missing parents).
    AtomicDirectory(std::string path, std::vector<std::string> allowed_names);
    ~AtomicDirectory();  // uncommitted: the temporary directory is removed
    AtomicDirectory(const AtomicDirectory&) = delete;
    AtomicDirectory& operator=(const AtomicDirectory&) = delete;

    // Where to write the file `name` (one of the allowed names) before the commit.
    std::string file(const std::string& name) const;
    // Puts the written directory in place. Throws InputError if that fails (the previous one then
    // stays as it was).
    void commit();
    const std::string& path() const { return m_path; }

  private:
    std::string m_path, m_temporary;
    std::vector<std::string> m_allowed;
    bool m_committed = false;
};

}  // namespace fmp
