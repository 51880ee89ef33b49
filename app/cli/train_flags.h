// The training flags (--target, --source, --path, ...) shared by the train and demo commands.
#pragma once
#include "app/run/train_options.h"

namespace CLI {
class App;
}

namespace fmp {

// Registers the flags of a training run on a subcommand, writing into `options`.
void add_train_flags(CLI::App& app, TrainOptions& options);
// resolve_train_options, and --steps checked. Throws InputError naming the flag.
TrainSetup resolve_train_flags(const TrainOptions& options);

}  // namespace fmp
