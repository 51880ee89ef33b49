// One headless GL context for a test executable, for the tests that run the GL engine. No context
// is a failure, not a skip: the engine must run headless in CI (llvmpipe under Xvfb).
#pragma once
#include <doctest/doctest.h>

#include <cstdio>
#include <memory>
#include <string>

#include "core/engine/gl/gl_context.h"

namespace fmp::test {

// Makes the shared context current (created on first use; `what` names the tests in the one line
// printed then) and fails on any GL debug message above notification.
inline void make_gl_current(const char* what) {
    static std::string error;
    static std::unique_ptr<HeadlessGlContext> ctx = [&] {
        auto c = HeadlessGlContext::create(&error);
        if (c)
            std::printf("%s on %s, OpenGL %s\n", what, c->renderer().c_str(),
                        gl_version_string().c_str());
        else
            std::printf("no headless GL context: %s\n", error.c_str());
        return c;
    }();
    if (!ctx) FAIL("no headless OpenGL 4.3 context: " << error);
    ctx->make_current();
    install_gl_debug_log(true);
}

inline void check_no_gl_messages() {
    std::string log = take_gl_debug_log();
    CHECK_MESSAGE(log.empty(), log);
}

}  // namespace fmp::test
