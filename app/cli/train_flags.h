// The training flags (--target, --source, --path, ...) shared by the train and demo commands.
#pragma once
#include "app/run/train_options.h"

namespace CLI {
class App;
}

namespace fmp {

// Registers the flags of a training run on a subcommand, writing into `options`.
void add_train_flags(CLI::App& app, TrainOptions& options);

}  // namespace fmp
