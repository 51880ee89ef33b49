// The rooms' dependency rule (cmake/rooms.cmake): the tree obeys it, and each forbidden direction
// is caught with a line naming the file, the include and the rule.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "tests/test_support.h"

namespace fs = std::filesystem;
using fmp::test::run_command;

namespace {

fmp::test::CommandResult check_tree(const fs::path& root) {
    return run_command(std::string(FMP_CMAKE_COMMAND) + " -DFMP_ROOT='" + root.string() + "' -P '" +
                       FMP_SOURCE_DIR + "/cmake/rooms.cmake'");
}

// A small tree with the given files (path, text).
fs::path make_tree(const std::string& name,
                   const std::vector<std::pair<std::string, std::string>>& files) {
    fs::path root = fmp::test::fresh_dir("rooms_" + name);
    for (const auto& [path, text] : files) {
        fs::create_directories((root / path).parent_path());
        std::ofstream(root / path) << text;
    }
    return root;
}

// Files every fake tree has: one header per room, each including only what it may.
std::vector<std::pair<std::string, std::string>> base_files() {
    return {
        {"core/base/types.h", "#pragma once\n"},
        {"core/flow/path.h", "#pragma once\n#include \"core/base/types.h\"\n"},
        {"core/nn/mlp.h", "#pragma once\n#include \"core/flow/path.h\"\n"},
        {"core/engine/gl/gl.h", "#pragma once\n#include \"core/nn/mlp.h\"\n#include <glad/gl.h>\n"},
        {"app/run/run.h", "#pragma once\n#include \"core/engine/gl/gl.h\"\n"},
        {"app/render/scene.h", "#pragma once\n#include \"core/engine/gl/gl.h\"\n"},
        {"app/export/job.h",
         "#pragma once\n#include \"app/render/scene.h\"\n#include \"app/run/run.h\"\n"},
        {"app/cli/cmd.cpp", "#include \"app/export/job.h\"\n#include <CLI/CLI.hpp>\n"},
        {"app/gui/window.cpp",
         "#include \"app/export/job.h\"\n#include <imgui.h>\n#include <GLFW/glfw3.h>\n"},
        {"app/main.cpp", "#include \"app/cli/cmd.h\"\n#include \"app/gui/window.h\"\n"}};
}

}  // namespace

TEST_CASE("the source tree keeps to its rooms") {
    auto r = check_tree(FMP_SOURCE_DIR);
    INFO(r.output);
    CHECK(r.code == 0);
}

TEST_CASE("a tree that keeps to the rooms passes") {
    auto r = check_tree(make_tree("clean", base_files()));
    INFO(r.output);
    CHECK(r.code == 0);
}

TEST_CASE("each forbidden direction fails with a line naming the file and the rule") {
    struct Case {
        std::string name, file, text, expected;
    };
    const std::vector<Case> cases = {
        {"core_to_app", "core/flow/marginal.cpp", "#include \"app/render/scene.h\"\n",
         "core/flow/marginal.cpp includes app/render/scene.h: core/flow may not use app/render"},
        {"render_to_gui", "app/render/builder.cpp", "#include \"app/gui/theme.h\"\n",
         "app/render/builder.cpp includes app/gui/theme.h: app/render may not use app/gui"},
        {"export_to_gui", "app/export/job.cpp", "#include \"app/gui/flow_worker.h\"\n",
         "app/export/job.cpp includes app/gui/flow_worker.h: app/export may not use app/gui"},
        {"export_to_cli", "app/export/settings.cpp", "#include \"app/cli/train_flags.h\"\n",
         "app/export/settings.cpp includes app/cli/train_flags.h: app/export may not use app/cli"},
        {"cli_to_gui", "app/cli/cmd2.cpp", "#include \"app/gui/gui_app.h\"\n",
         "app/cli/cmd2.cpp includes app/gui/gui_app.h: app/cli may not use app/gui"},
        {"gui_to_cli", "app/gui/panel.cpp", "#include \"app/cli/commands.h\"\n",
         "app/gui/panel.cpp includes app/cli/commands.h: app/gui may not use app/cli"},
        {"render_to_export", "app/render/r.cpp", "#include \"app/export/job.h\"\n",
         "app/render/r.cpp includes app/export/job.h: app/render may not use app/export"},
        {"data_to_nn", "core/data/dataset.cpp", "#include \"core/nn/mlp.h\"\n",
         "core/data/dataset.cpp includes core/nn/mlp.h: core/data may not use core/nn"},
        {"engine_to_gl", "core/engine/engine.cpp", "#include \"core/engine/gl/gl.h\"\n",
         "core/engine/engine.cpp includes core/engine/gl/gl.h: core/engine may not use "
         "core/engine/gl"},
        {"imgui_in_render", "app/render/palette.h", "#pragma once\n#include <imgui.h>\n",
         "app/render/palette.h includes <imgui.h>: window code belongs in app/gui"},
        {"glfw_in_core", "core/base/window.cpp", "#include <GLFW/glfw3.h>\n",
         "core/base/window.cpp includes <GLFW/glfw3.h>: window code belongs in app/gui"},
        {"loose_file", "app/helpers.cpp", "int x;\n", "app/helpers.cpp is in no room"},
        {"unknown_room", "app/gui/a.cpp", "#include \"app/old_flat.h\"\n",
         "app/gui/a.cpp includes app/old_flat.h: app/gui may not use app/old_flat.h"},
    };
    for (const Case& c : cases) {
        auto files = base_files();
        files.emplace_back(c.file, c.text);
        auto r = check_tree(make_tree(c.name, files));
        INFO(c.name << "\n" << r.output);
        CHECK(r.code != 0);
        CHECK(r.output.find(c.expected) != std::string::npos);
        CHECK(r.output.find("1 dependency offence") != std::string::npos);
    }
}
