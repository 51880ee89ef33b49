// Turns training flags into a validated TrainConfig and datasets.
#include "app/run/train_options.h"

#include <CLI/CLI.hpp>

namespace fmp {

void TrainOptions::add_to(CLI::App& app) {
    app.add_option("--target", target,
                   "target distribution (t=1): " + join_names(dataset_names()) +
                       ", a CSV file of x,y points, image:FILE.png or text:WORDS")
        ->capture_default_str();
    app.add_option("--source", source, "source distribution (t=0), same choices as --target")
        ->capture_default_str();
    app.add_option("--path", path, "probability path: " + join_names(path_names()))
        ->capture_default_str();
    app.add_option("--coupling", coupling, "pairing of x0 and x1 in a batch: " + join_names(coupling_names()))
        ->capture_default_str();
    app.add_option("--steps", steps, "training steps")->capture_default_str();
    app.add_option("--batch", batch, "batch size (1..65536)")->capture_default_str();
    app.add_option("--width", width, "hidden units per layer (16..512)")->capture_default_str();
    app.add_option("--depth", depth, "hidden layers (1..6)")->capture_default_str();
    app.add_option("--activation", activation, "activation: " + join_names(activation_names()))
        ->capture_default_str();
    app.add_option("--time-encoding", time_encoding,
                   "time input: " + join_names(time_encoding_names()))
        ->capture_default_str();
    app.add_option("--optimizer", optimizer, "optimizer: " + join_names(optimizer_names()))
        ->capture_default_str();
    app.add_option("--lr", lr, "learning rate")->capture_default_str();
    app.add_option("--weight-decay", weight_decay, "AdamW decoupled weight decay")->capture_default_str();
    app.add_option("--sigma-min", sigma_min, "sigma_min of the lipman-ot and ve paths")
        ->capture_default_str();
    app.add_option("--poly-n", poly_n, "exponent n of the polynomial path")->capture_default_str();
    app.add_option("--seed", seed, "random seed (runs are deterministic for a seed and engine)")
        ->capture_default_str();
}

TrainSetup resolve_train_options(const TrainOptions& o) {
    TrainSetup s;
    if (o.steps < 1) throw InputError("--steps must be positive (got " + std::to_string(o.steps) + ")");
    if (!(o.sigma_min > 0.0f && o.sigma_min < 1.0f)) throw InputError("--sigma-min must be in (0, 1)");
    if (!(o.poly_n > 0.0f && o.poly_n <= 16.0f)) throw InputError("--poly-n must be in (0, 16]");
    PathParams pp;
    pp.sigma_min = o.sigma_min;
    pp.poly_n = o.poly_n;
    s.config.path = make_path(o.path, pp);
    s.config.coupling = make_coupling(o.coupling);
    s.config.mlp.width = o.width;
    s.config.mlp.depth = o.depth;
    s.config.mlp.activation = make_activation(o.activation);
    s.config.mlp.time_encoding = make_time_encoding(o.time_encoding);
    s.config.optimizer.kind = make_optimizer_kind(o.optimizer);
    s.config.optimizer.lr = o.lr;
    s.config.optimizer.weight_decay = o.weight_decay;
    s.config.batch = o.batch;
    s.config.seed = o.seed;
    s.config.validate();
    s.target = make_dataset(o.target);
    s.source = make_dataset(o.source);
    return s;
}

}  // namespace fmp
