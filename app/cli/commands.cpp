// The list of subcommands, in the order --help shows them.
#include "app/cli/commands.h"

namespace fmp {

std::vector<Command> add_commands(CLI::App& app) {
    return {add_train_command(app), add_sample_command(app), add_likelihood_command(app),
            add_demo_command(app),  add_bench_command(app),  add_render_command(app),
            add_eval_command(app), add_lesson_command(app)};
}

}  // namespace fmp
