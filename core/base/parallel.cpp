// A persistent pool: workers sleep on a condition variable between parallel_for calls.
#include "core/base/parallel.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <memory>
#include <vector>

namespace fmp {
namespace {

thread_local bool t_inside_pool = false;

class Pool {
public:
    explicit Pool(int n) : m_threads(n) {
        for (int i = 1; i < n; ++i) m_workers.emplace_back([this, i] { worker_loop(i); });
    }
    ~Pool() {
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            m_stop = true;
            ++m_generation;
        }
        m_wake.notify_all();
        for (auto& w : m_workers) w.join();
    }
    int size() const { return m_threads; }

    void run(std::size_t n, const std::function<void(std::size_t, std::size_t, int)>& fn, int parts) {
        std::lock_guard<std::mutex> serial(m_run_mutex);  // one parallel_for at a time
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            m_fn = &fn;
            m_n = n;
            m_parts = parts;
            m_pending = parts - 1;
            ++m_generation;
        }
        m_wake.notify_all();
        t_inside_pool = true;
        run_part(0);
        t_inside_pool = false;
        std::unique_lock<std::mutex> lock(m_mutex);
        m_done.wait(lock, [this] { return m_pending == 0; });
        m_fn = nullptr;
    }

private:
    void run_part(int part) {
        std::size_t begin = m_n * part / m_parts, end = m_n * (part + 1) / m_parts;
        if (begin < end) (*m_fn)(begin, end, part);
    }
    void worker_loop(int index) {
        t_inside_pool = true;
        uint64_t seen = 0;
        for (;;) {
            std::unique_lock<std::mutex> lock(m_mutex);
            m_wake.wait(lock, [&] { return m_generation != seen; });
            seen = m_generation;
            if (m_stop) return;
            if (index >= m_parts) continue;
            lock.unlock();
            run_part(index);
            lock.lock();
            if (--m_pending == 0) m_done.notify_one();
        }
    }

    int m_threads;
    std::vector<std::thread> m_workers;
    std::mutex m_mutex, m_run_mutex;
    std::condition_variable m_wake, m_done;
    const std::function<void(std::size_t, std::size_t, int)>* m_fn = nullptr;
    std::size_t m_n = 0;
    int m_parts = 1;
    int m_pending = 0;
    uint64_t m_generation = 0;
    bool m_stop = false;
};

int default_threads() {
    if (const char* env = std::getenv("FMPLAY_THREADS")) {
        int n = std::atoi(env);
        if (n >= 1 && n <= 256) return n;
    }
    return std::max(1u, std::thread::hardware_concurrency());
}

std::atomic<int> g_requested{0};
std::mutex g_pool_mutex;
std::unique_ptr<Pool> g_pool;

Pool& pool() {
    std::lock_guard<std::mutex> lock(g_pool_mutex);
    int want = g_requested.load();
    if (want <= 0) want = default_threads();
    if (!g_pool || g_pool->size() != want) {
        g_pool.reset();
        g_pool = std::make_unique<Pool>(want);
    }
    return *g_pool;
}

}  // namespace

int thread_count() {
    int want = g_requested.load();
    return want > 0 ? want : default_threads();
}

void set_thread_count(int n) { g_requested.store(std::max(1, n)); }

void parallel_for(std::size_t n, const std::function<void(std::size_t, std::size_t, int)>& fn,
                  std::size_t min_chunk) {
    int threads = thread_count();
    if (t_inside_pool || threads <= 1 || n < 2 * std::max<std::size_t>(1, min_chunk)) {
        if (n > 0) fn(0, n, 0);
        return;
    }
    int parts = static_cast<int>(std::min<std::size_t>(threads, n / std::max<std::size_t>(1, min_chunk)));
    pool().run(n, fn, std::max(1, parts));
}

void lower_thread_priority() {
    // On Linux the nice value belongs to the thread (PRIO_PROCESS with a thread id).
    auto tid = static_cast<id_t>(::syscall(SYS_gettid));
    ::setpriority(PRIO_PROCESS, tid, 10);
}

}  // namespace fmp
