// Seconds on the steady clock: frame times, rates, intervals and time budgets.
#pragma once
#include <chrono>

namespace fmp {

inline double now_seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

}  // namespace fmp
