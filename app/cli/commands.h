// The subcommands of fmplay; each registers its flags and returns what runs it.
#pragma once
#include <functional>

namespace CLI {
class App;
}

namespace fmp {

struct Command {
    CLI::App* sub = nullptr;
    std::function<int()> run;  // exit code; may throw InputError (exit 2)
};

Command add_train_command(CLI::App& app);   // app/cli_train.cpp
Command add_sample_command(CLI::App& app);  // app/cli_train.cpp
Command add_demo_command(CLI::App& app);    // app/cli_demo.cpp
Command add_bench_command(CLI::App& app);   // app/cli_bench.cpp
Command add_render_command(CLI::App& app);  // app/cli_render.cpp

}  // namespace fmp
