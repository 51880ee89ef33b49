// The headless EGL context, the GL debug log and the shader helper's error messages.
#include <doctest/doctest.h>
#include <glad/gl.h>

#include <cstdio>
#include <string>

#include "core/base/resources.h"
#include "core/engine/gl/gl_context.h"
#include "core/engine/gl/gl_shader.h"

using namespace fmp;

namespace {
// One context for the whole executable; CI has no GPU and no display, so this is EGL on Mesa.
HeadlessGlContext* context() {
    static std::string error;
    static std::unique_ptr<HeadlessGlContext> ctx = [] {
        auto c = HeadlessGlContext::create(&error);
        if (c)
            std::printf("GL context: %s, OpenGL %s\n", c->renderer().c_str(),
                        gl_version_string().c_str());
        else
            std::printf("no headless GL context: %s\n", error.c_str());
        return c;
    }();
    if (!ctx) FAIL("no headless OpenGL 4.3 context: " << error);
    return ctx.get();
}
}  // namespace

TEST_CASE("a headless EGL context gives OpenGL 4.3 core with compute shaders") {
    context()->make_current();
    GLint major = 0, minor = 0, groups = 0;
    glGetIntegerv(GL_MAJOR_VERSION, &major);
    glGetIntegerv(GL_MINOR_VERSION, &minor);
    CHECK(major * 10 + minor >= 43);
    glGetIntegeri_v(GL_MAX_COMPUTE_WORK_GROUP_COUNT, 0, &groups);
    CHECK(groups >= 65535);
    CHECK_FALSE(gl_renderer_string().empty());
    CHECK(context()->renderer().find(gl_renderer_string()) == 0);
}

TEST_CASE("software renderers are recognised by name") {
    CHECK(gl_renderer_is_software("llvmpipe (LLVM 15.0.6, 256 bits)"));
    CHECK(gl_renderer_is_software("softpipe"));
    CHECK(gl_renderer_is_software("Mesa swrast"));
    CHECK_FALSE(gl_renderer_is_software("NVIDIA H100 80GB HBM3/PCIe/SSE2"));
    CHECK_FALSE(gl_renderer_is_software("AMD Radeon RX 7900 XTX (radeonsi, navi31, LLVM 15.0.6)"));
}

TEST_CASE("the debug log records GL errors and is emptied by take") {
    context()->make_current();
    install_gl_debug_log(true);
    CHECK(take_gl_debug_log().empty());
    glBindBuffer(0xdead, 0);  // an invalid target: GL_INVALID_ENUM
    std::string log = take_gl_debug_log();
    CHECK(log.find("INVALID_ENUM") != std::string::npos);
    CHECK(take_gl_debug_log().empty());
}

TEST_CASE("a strict log fails on misuse warnings and errors, never on informational messages") {
    // What NVIDIA's driver 580 printed during the agreement tests on an H200: the first is a
    // misuse (a read-back migrating a DYNAMIC_DRAW buffer to host memory), the second informs.
    const std::string migrated =
        "Buffer performance warning: Buffer object 5 (bound to GL_SHADER_STORAGE_BUFFER (0), "
        "usage hint is GL_DYNAMIC_DRAW) is being copied/moved from VIDEO memory to HOST memory.";
    const std::string detailed =
        "Buffer detailed info: Buffer object 7 (bound to GL_SHADER_STORAGE_BUFFER, usage hint is "
        "GL_DYNAMIC_DRAW) will use VIDEO memory as the source for buffer object operations.";
    CHECK(gl_debug_message_is_failure(GL_DEBUG_TYPE_PERFORMANCE, GL_DEBUG_SEVERITY_MEDIUM, migrated));
    CHECK(gl_debug_message_is_failure(GL_DEBUG_TYPE_PERFORMANCE, GL_DEBUG_SEVERITY_LOW, migrated));
    CHECK_FALSE(gl_debug_message_is_failure(GL_DEBUG_TYPE_OTHER, GL_DEBUG_SEVERITY_NOTIFICATION, detailed));
    CHECK_FALSE(gl_debug_message_is_failure(GL_DEBUG_TYPE_PERFORMANCE, GL_DEBUG_SEVERITY_NOTIFICATION, migrated));
    CHECK(gl_debug_message_is_failure(GL_DEBUG_TYPE_PERFORMANCE, GL_DEBUG_SEVERITY_LOW,
                                      "Pixel-path performance warning: Pixel transfer is synchronized with 3D rendering."));
    CHECK(gl_debug_message_is_failure(GL_DEBUG_TYPE_PERFORMANCE, GL_DEBUG_SEVERITY_LOW,
                                      "Program/shader state performance warning: Compute shader in program 3 is being recompiled based on GL state."));
    CHECK_FALSE(gl_debug_message_is_failure(GL_DEBUG_TYPE_PERFORMANCE, GL_DEBUG_SEVERITY_LOW,
                                            "Shader statistics: 120 registers, 0 spills"));
    CHECK(gl_debug_message_is_failure(GL_DEBUG_TYPE_ERROR, GL_DEBUG_SEVERITY_NOTIFICATION, "GL_INVALID_VALUE"));
    CHECK(gl_debug_message_is_failure(GL_DEBUG_TYPE_UNDEFINED_BEHAVIOR, GL_DEBUG_SEVERITY_LOW, "x"));
    CHECK_FALSE(gl_debug_message_is_failure(GL_DEBUG_TYPE_PORTABILITY, GL_DEBUG_SEVERITY_LOW, "x"));
    CHECK_FALSE(gl_debug_message_is_failure(GL_DEBUG_TYPE_OTHER, GL_DEBUG_SEVERITY_MEDIUM, "x"));

    // The same verdicts through the driver's own callback.
    context()->make_current();
    install_gl_debug_log(true);
    take_gl_debug_log();
    glDebugMessageInsert(GL_DEBUG_SOURCE_THIRD_PARTY, GL_DEBUG_TYPE_OTHER, 1,
                         GL_DEBUG_SEVERITY_NOTIFICATION, -1, detailed.c_str());
    CHECK(take_gl_debug_log().empty());
    glDebugMessageInsert(GL_DEBUG_SOURCE_THIRD_PARTY, GL_DEBUG_TYPE_PERFORMANCE, 2,
                         GL_DEBUG_SEVERITY_MEDIUM, -1, migrated.c_str());
    CHECK(take_gl_debug_log().find("VIDEO memory to HOST memory") != std::string::npos);
}

TEST_CASE("a shader that fails to compile reports the driver log and the numbered source") {
    context()->make_current();
    install_gl_debug_log(false);
    std::string source =
        "#version 430\nlayout(local_size_x = 1) in;\nvoid main() {\n  undefined_thing = 1;\n}\n";
    std::string message;
    try {
        ComputeProgram::from_source("broken.comp", source);
    } catch (const std::runtime_error& e) {
        message = e.what();
    }
    CHECK(message.find("broken.comp") != std::string::npos);
    CHECK(message.find("undefined_thing") != std::string::npos);
    CHECK(message.find("   4:   undefined_thing = 1;") != std::string::npos);
    take_gl_debug_log();  // the compiler's own message about the broken shader
}

TEST_CASE("embedded shaders assemble with defines after #version and includes resolved") {
    std::string src = assemble_shader_source("mlp_field.comp", {{"WIDTH", "32"}, {"DEPTH", "2"}});
    CHECK(src.rfind("#version 430\n#define WIDTH 32\n#define DEPTH 2\n", 0) == 0);
    CHECK(src.find("#include") == std::string::npos);
    CHECK(src.find("uint w_off(int l)") != std::string::npos);  // from mlp_layout.glsl
    CHECK(number_source_lines("a\nb\n") == "   1: a\n   2: b\n");
    CHECK_THROWS_AS(assemble_shader_source("no_such.comp", {}), std::runtime_error);
}

TEST_CASE("every embedded compute shader compiles for small and spilled networks") {
    context()->make_current();
    install_gl_debug_log(true);
    for (const char* shared : {"1", "0"}) {
        ShaderDefines d = {{"IN_DIM", "11"},
                           {"WIDTH", "40"},
                           {"DEPTH", "3"},
                           {"ACT", "4"},
                           {"MAXD", "40"},
                           {"TILE", "16"},
                           {"WG", "256"},
                           {"TX", "32"},
                           {"TY", "8"},
                           {"RM", "2"},
                           {"RN", "2"},
                           {"KM", "8"},
                           {"SHARED_ACTS", shared},
                           {"STAGE_KP", "8"},
                           {"IN_PLACE", "0"},
                           {"PCOUNT", "3842u"},
                           {"RING", "1024"},
                           {"DYNAMIC_LOOPS", shared}};
        for (const char* name : {"mlp_train.comp", "reduce_adam.comp", "mlp_field.comp", "ode_pair.comp",
                                 "mlp_sde.comp", "wide_rows.comp", "wide_forward.comp", "wide_backward.comp",
                                 "wide_weight_grad.comp", "wide_output.comp"}) {
            CAPTURE(name);
            ComputeProgram p(name, d);
            CHECK(p.valid());
        }
    }
    ComputeProgram m("marginal.comp", {{"WG", "256"}});
    CHECK(m.valid());
    ComputeProgram pairs("sinkhorn_pairs.comp", {});
    CHECK(pairs.valid());
    CHECK(take_gl_debug_log() == "");
}
