// fmplay's entry point: one command line for the window and the subcommands; a subcommand runs
// from app/cli/, no subcommand opens the window (app/gui/); InputError becomes exit code 2.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "app/cli/commands.h"
#include "app/gui/gui_app.h"
#include "core/base/types.h"

int main(int argc, char** argv) {
    using namespace fmp;
    CLI::App app{
        "fmplay - Flow Matching Playground: watch a velocity network learn to carry noise into "
        "data.\n"
        "With no subcommand it opens the window (needs a display)."};
    app.set_version_flag("--version", "fmplay 0.1.0");
    GuiOptions gui;
    add_gui_options(app, gui);
    std::vector<Command> commands = add_commands(app);
    app.require_subcommand(0, 1);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
        // One line, in the form of every other error, naming where the help is.
        std::string help = "fmplay --help";
        for (const Command& c : commands)
            if (argc > 1 && c.sub->get_name() == argv[1]) help = "fmplay " + c.sub->get_name() + " --help";
        std::fprintf(stderr, "fmplay: error: %s (see %s)\n", one_line_message(e.what()).c_str(),
                     help.c_str());
        return 2;
    }
    try {
        for (const Command& c : commands)
            if (c.sub->parsed()) return c.run();
        return run_gui(gui);
    } catch (const InputError& e) {
        std::fprintf(stderr, "fmplay: error: %s\n", one_line_message(e.what()).c_str());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "fmplay: failed: %s\n", one_line_message(e.what()).c_str());
        return 1;
    }
}
