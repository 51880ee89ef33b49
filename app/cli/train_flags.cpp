// The training flags (--target, --source, --path, ...) shared by the train and demo commands.
#include "app/cli/train_flags.h"

#include <CLI/CLI.hpp>

namespace fmp {

void add_train_flags(CLI::App& app, TrainOptions& o) {
    app.add_option("--target", o.target,
                   "target distribution (t=1): " + join_names(dataset_names()) +
                       ", a CSV file of x,y points, image:FILE.png or text:WORDS")
        ->capture_default_str();
    app.add_option("--source", o.source, "source distribution (t=0), same choices as --target")
        ->capture_default_str();
    app.add_option("--path", o.path, "probability path: " + join_names(path_names()))
        ->capture_default_str();
    app.add_option("--coupling", o.coupling,
                   "pairing of x0 and x1 in a batch: " + join_names(coupling_names()) +
                       " (exact minibatch OT, entropic OT, Schroedinger bridge)")
        ->capture_default_str();
    app.add_option("--ot-batch", o.ot_batch,
                   "ot/sinkhorn/sb solve their plan on sub-batches of this many rows (0: the whole "
                   "batch)")
        ->capture_default_str();
    app.add_option("--ot-reg", o.ot_reg,
                   "sinkhorn: the entropic regularization epsilon, in squared-distance units")
        ->capture_default_str();
    app.add_option("--sb-sigma", o.sb_sigma,
                   "sb: the bridge noise sigma (paths get sigma sqrt(t(1-t)) noise; the plan uses "
                   "epsilon = 2 sigma^2)")
        ->capture_default_str();
    app.add_option("--prediction", o.prediction,
                   "what the network predicts: velocity (the CFM loss), data (x1, a denoiser: loss "
                   "|f - x1|^2) or noise (x0, epsilon: loss |f - x0|^2); sampling converts it to the "
                   "velocity along the path")
        ->capture_default_str();
    app.add_flag("--classes", o.classes,
                 "condition the network on the target's classes (8gaussians: the mode, moons: the "
                 "moon, checkerboard: the cell, a CSV's third column 0..7), with a null class for "
                 "classifier-free guidance (sample --class, --guidance)");
    app.add_option("--p-uncond", o.p_uncond,
                   "with --classes: the probability a training row's class is dropped to the null class")
        ->capture_default_str();
    app.add_option("--steps", o.steps, "training steps")->capture_default_str();
    app.add_option("--batch", o.batch, "batch size (1..65536)")->capture_default_str();
    app.add_option("--width", o.width, "hidden units per layer (16..512)")->capture_default_str();
    app.add_option("--depth", o.depth, "hidden layers (1..6)")->capture_default_str();
    app.add_option("--activation", o.activation, "activation: " + join_names(activation_names()))
        ->capture_default_str();
    app.add_option("--time-encoding", o.time_encoding,
                   "time input: " + join_names(time_encoding_names()))
        ->capture_default_str();
    app.add_option("--optimizer", o.optimizer, "optimizer: " + join_names(optimizer_names()))
        ->capture_default_str();
    app.add_option("--lr", o.lr, "learning rate")->capture_default_str();
    app.add_option("--weight-decay", o.weight_decay, "AdamW decoupled weight decay")
        ->capture_default_str();
    app.add_option("--sigma-min", o.sigma_min, "sigma_min of the lipman-ot and ve paths")
        ->capture_default_str();
    app.add_option("--poly-n", o.poly_n, "exponent n of the polynomial path")
        ->capture_default_str();
    app.add_option("--seed", o.seed, "random seed (runs are deterministic for a seed and engine)")
        ->capture_default_str();
}

TrainSetup resolve_train_flags(const TrainOptions& o) {
    if (o.steps < 1) throw InputError("--steps must be positive (got " + std::to_string(o.steps) + ")");
    return resolve_train_options(o);
}

}  // namespace fmp
