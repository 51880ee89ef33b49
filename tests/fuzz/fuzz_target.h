// The contract every fuzz target checks: a loader given any bytes returns, or throws InputError
// with a one-line message. Anything else (another exception, a crash, a sanitizer report, a hang
// past libFuzzer's -timeout) fails the run.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/base/types.h"

namespace fmp::fuzz {

template <class F>
int check_loader(const uint8_t* data, std::size_t size, F&& load) {
    std::string_view bytes(reinterpret_cast<const char*>(data), size);
    try {
        load(bytes);
    } catch (const InputError& e) {
        std::string_view what = e.what();
        if (what.empty() || what.find('\n') != std::string_view::npos) {
            std::fprintf(stderr, "fuzz: an InputError that is not one line: [%.*s]\n",
                         static_cast<int>(what.size()), what.data());
            std::abort();
        }
    }
    // Any other exception escapes and terminates the process: libFuzzer reports it as a crash.
    return 0;
}

}  // namespace fmp::fuzz
