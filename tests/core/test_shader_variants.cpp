// The shader variants only a hardware GPU compiles (constant loop counts, subgroup reductions),
// checked against the GLSL 4.30 spec by glslangValidator: llvmpipe never builds them.
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <sys/wait.h>

#include "core/engine/gl/gl_shader.h"
#include "tests/test_support.h"

using namespace fmp;

namespace {

struct Validation {
    int code = -1;
    std::string output;
};

// Runs glslangValidator on the assembled source of `shader` (a compute shader).
Validation validate(const std::string& shader, const ShaderDefines& defines, const std::string& tag) {
    const std::filesystem::path dir = test::fresh_dir("shader_variants_" + tag);
    const std::filesystem::path file = dir / "shader.comp";
    {
        std::ofstream out(file);
        out << assemble_shader_source(shader, defines);
    }
    const std::string command = "glslangValidator " + file.string() + " 2>&1";
    Validation v;
    FILE* pipe = popen(command.c_str(), "r");
    REQUIRE_MESSAGE(pipe != nullptr, "cannot run glslangValidator");
    char buf[512];
    while (std::fgets(buf, sizeof buf, pipe)) v.output += buf;
    const int status = pclose(pipe);
    v.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return v;
}

// What the GL engine compiles for a 3 x 128 SiLU network on a GPU with 48 KiB of shared memory
// per group (every NVIDIA part): training's 32-row tiles of 8 x 4 outputs per invocation on four
// warps, the field kernels' 64-row tiles in place on eight.
ShaderDefines train_defines(const char* dynamic_loops, int classes) {
    const int in = 3 + (classes > 0 ? classes + 1 : 0);
    // The parameter count of mlp.h's layout.
    const int pcount = in * 128 + 128 + 2 * (128 * 128 + 128) + 128 * 2 + 2;
    return {{"IN_DIM", std::to_string(in)}, {"WIDTH", "128"}, {"DEPTH", "3"}, {"ACT", "0"},
            {"MAXD", "128"}, {"TILE", "32"}, {"WG", "128"}, {"TX", "32"}, {"TY", "4"},
            {"RM", "8"}, {"RN", "4"}, {"KM", "8"}, {"SHARED_ACTS", "1"}, {"STAGE_KP", "16"},
            {"IN_PLACE", "0"}, {"PCOUNT", std::to_string(pcount) + "u"}, {"RING", "1024"},
            {"DYNAMIC_LOOPS", dynamic_loops}, {"CLASSES", std::to_string(classes)}};
}

ShaderDefines with(ShaderDefines d, const ShaderDefines& changes) {
    for (const auto& [name, value] : changes) {
        bool found = false;
        for (auto& [n, v] : d)
            if (n == name) v = value, found = true;
        if (!found) d.push_back({name, value});
    }
    return d;
}

}  // namespace

TEST_CASE("the GPU-only shader variants are valid GLSL 4.30 (glslangValidator)") {
    // The tool is installed by scripts/setup_deps.sh --test; without it this check cannot run.
    REQUIRE_MESSAGE(std::system("command -v glslangValidator >/dev/null 2>&1") == 0,
                    "glslangValidator not found: run scripts/setup_deps.sh --test (Debian: glslang-tools)");
    for (int classes : {0, 4}) {
        CAPTURE(classes);
        const ShaderDefines train = train_defines("0", classes);
        const ShaderDefines field = with(train, {{"TILE", "64"}, {"WG", "256"}, {"TY", "8"}, {"RM", "8"},
                                                 {"IN_PLACE", "1"}});
        struct Variant {
            const char* shader;
            ShaderDefines defines;
            const char* tag;
        };
        const Variant variants[] = {
            {"mlp_train.comp", train, "train"},
            {"mlp_train.comp", with(train, {{"TILE", "16"}, {"WG", "64"}, {"TY", "2"}}), "train16"},
            {"mlp_train.comp", with(train, {{"SHARED_ACTS", "0"}}), "train_spilled"},
            {"reduce_adam.comp", with(train, {{"SUBGROUP", "1"}}), "reduce_subgroup"},
            {"reduce_adam.comp", with(train, {{"SUBGROUP", "0"}}), "reduce_shared"},
            {"train_snapshot.comp", train, "snapshot"},
            {"mlp_field.comp", field, "field"},
            {"ode_pair.comp", field, "pair"},
            {"mlp_train.comp",
             with(train, {{"WIDTH", "64"}, {"MAXD", "64"}, {"WG", "64"}, {"TY", "2"}, {"RM", "16"}, {"RN", "2"},
                          {"PCOUNT", std::to_string((3 + (classes > 0 ? classes + 1 : 0)) * 64 + 64 +
                                                    2 * (64 * 64 + 64) + 64 * 2 + 2) + "u"}}),
             "train64"},
            {"mlp_sde.comp", field, "sde"},
            {"wide_rows.comp", train, "wide_rows"},
            {"wide_forward.comp", train, "wide_forward"},
            {"wide_backward.comp", train, "wide_backward"},
            {"wide_weight_grad.comp", train, "wide_weight_grad"},
            {"wide_output.comp", train, "wide_output"},
            {"sinkhorn_pairs.comp", {}, "sinkhorn_pairs"},
            {"mlp_divergence.comp",
             with(train, {{"TILE", "48"}, {"WG", "256"}, {"TY", "8"}, {"RM", "6"}, {"STAGE_KP", "0"},
                          {"PT", "16"}, {"OUT_SPLIT", "2"}}),
             "divergence"},
        };
        for (const Variant& v : variants) {
            CAPTURE(v.tag);
            const Validation r = validate(v.shader, v.defines, v.tag + std::to_string(classes));
            INFO(r.output);
            CHECK(r.code == 0);
        }
    }
}

TEST_CASE("glslangValidator rejects a broken variant: the check above can fail") {
    REQUIRE(std::system("command -v glslangValidator >/dev/null 2>&1") == 0);
    // Without RN the register tiles' arrays have no size: a compile error, as on a driver.
    ShaderDefines missing;
    for (const auto& kv : train_defines("0", 0))
        if (kv.first != "RN") missing.push_back(kv);
    const Validation bad = validate("mlp_train.comp", missing, "broken");
    CHECK(bad.code != 0);
    CHECK(bad.output.find("ERROR") != std::string::npos);
}
