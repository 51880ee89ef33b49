// The subcommands of fmplay; each registers its flags and returns what runs it.
#pragma once
#include <functional>
#include <vector>

namespace CLI {
class App;
}

namespace fmp {

struct Command {
    CLI::App* sub = nullptr;
    std::function<int()> run;  // exit code; may throw InputError (exit 2)
};

// Every subcommand, in the order --help lists them.
std::vector<Command> add_commands(CLI::App& app);

Command add_train_command(CLI::App& app);   // app/cli/train_command.cpp
Command add_sample_command(CLI::App& app);  // app/cli/train_command.cpp
Command add_likelihood_command(CLI::App& app);  // app/cli/likelihood_command.cpp
Command add_demo_command(CLI::App& app);    // app/cli/demo_command.cpp
Command add_bench_command(CLI::App& app);   // app/cli/bench_command.cpp
Command add_render_command(CLI::App& app);  // app/cli/render_command.cpp
Command add_eval_command(CLI::App& app);    // app/cli/eval_command.cpp
Command add_lesson_command(CLI::App& app);  // app/cli/lesson_command.cpp

}  // namespace fmp
