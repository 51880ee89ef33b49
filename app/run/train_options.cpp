// Turns training settings into a validated TrainConfig and datasets.
#include "app/run/train_options.h"

namespace fmp {

TrainSetup resolve_train_options(const TrainOptions& o) {
    TrainSetup s;
    if (!(o.sigma_min > 0.0f && o.sigma_min < 1.0f)) throw InputError("--sigma-min must be in (0, 1)");
    if (!(o.poly_n > 0.0f && o.poly_n <= 16.0f)) throw InputError("--poly-n must be in (0, 16]");
    PathParams pp;
    pp.sigma_min = o.sigma_min;
    pp.poly_n = o.poly_n;
    s.config.path = make_path(o.path, pp);
    s.config.coupling = make_coupling(o.coupling);
    if (s.config.coupling == CouplingKind::Paired)
        throw InputError("the paired coupling is set by reflow (--reflow-from), not chosen");
    s.config.coupling_options.ot_batch = o.ot_batch;
    s.config.coupling_options.ot_reg = o.ot_reg;
    s.config.coupling_options.sb_sigma = o.sb_sigma;
    s.config.mlp.width = o.width;
    s.config.mlp.depth = o.depth;
    s.config.mlp.activation = make_activation(o.activation);
    s.config.mlp.time_encoding = make_time_encoding(o.time_encoding);
    s.config.mlp.prediction = make_prediction(o.prediction);
    s.config.mlp.path = s.config.path;
    s.config.optimizer.kind = make_optimizer_kind(o.optimizer);
    s.config.optimizer.lr = o.lr;
    s.config.optimizer.weight_decay = o.weight_decay;
    s.config.batch = o.batch;
    s.config.seed = o.seed;
    s.target = make_dataset(o.target);
    s.source = make_dataset(o.source);
    if (o.classes) {
        s.config.mlp.classes = s.target.class_count();
        if (s.config.mlp.classes < 2)
            throw InputError("--classes: the target " + quote_for_message(s.target.name(), 80) +
                             " has no classes (8gaussians, moons, checkerboard, or a CSV with a class "
                             "column 0..7 have)");
        s.config.p_uncond = o.p_uncond;
    }
    s.config.validate();
    return s;
}

}  // namespace fmp
