// The command line: subcommands or, with none, the GUI; InputError becomes exit code 2.
#include "app/cli.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <vector>

#include "app/cli/commands.h"
#include "app/gui/gui_app.h"
#include "core/base/types.h"

namespace fmp {

int run_cli(int argc, char** argv) {
    CLI::App app{
        "fmplay - Flow Matching Playground: watch a velocity network learn to carry noise into data.\n"
        "With no subcommand it opens the window (needs a display)."};
    app.set_version_flag("--version", "fmplay 0.1.0");
    GuiOptions gui;
    add_gui_options(app, gui);
    std::vector<Command> commands = {add_train_command(app), add_sample_command(app),
                                     add_demo_command(app), add_bench_command(app),
                                     add_render_command(app)};
    app.require_subcommand(0, 1);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int code = app.exit(e);
        return code == 0 ? 0 : 2;
    }
    try {
        for (const Command& c : commands)
            if (c.sub->parsed()) return c.run();
        return run_gui(gui);
    } catch (const InputError& e) {
        std::fprintf(stderr, "fmplay: error: %s\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "fmplay: failed: %s\n", e.what());
        return 1;
    }
}

}  // namespace fmp
