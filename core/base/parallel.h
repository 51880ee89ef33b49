// A tiny persistent thread pool: splits index ranges over the machine's cores without spawning
// threads per call (training steps call it thousands of times a second).
#pragma once
#include <cstddef>
#include <functional>

namespace fmp {

// Number of worker threads used (the hardware concurrency, at least 1; FMPLAY_THREADS overrides).
int thread_count();
void set_thread_count(int n);  // for benchmarks and tests; takes effect on the next call

// Calls fn(begin, end, worker) on contiguous chunks covering [0, n), one chunk per worker, and
// returns when all are done. Runs inline when n < min_chunk * 2 or only one thread is used.
// worker is in [0, thread_count()). Nested calls from inside fn run inline.
void parallel_for(std::size_t n, const std::function<void(std::size_t, std::size_t, int)>& fn,
                  std::size_t min_chunk = 1);

// Lowers the calling thread's scheduling priority (nice 10). Background work (training, particle
// integration, and the thread pool they create, which inherits the value) then yields the cores to
// the UI thread and the GL driver's threads: on two cores with a software renderer this is what
// keeps the window at interactive frame rates while everything else uses the remaining time.
void lower_thread_priority();

}  // namespace fmp
