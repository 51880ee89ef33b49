// The model file: a trained velocity network with everything needed to sample from it (JSON).
#pragma once
#include <string>
#include <vector>

#include "core/data/dataset.h"
#include "core/flow/coupling.h"
#include "core/flow/probability_path.h"
#include "core/nn/mlp.h"

namespace fmp {

// Format (docs/model_format.md): a JSON object
// { "format": "fmplay-model", "version": 1,
//   "mlp": {"depth", "width", "activation", "time_encoding", "fourier_frequencies"},
//   "path": {"name", "sigma_min", "beta_min", "beta_max", "poly_n", "ve_sigma_max"},
//   "coupling": "independent"|"ot", "steps_trained": N, "loss": last smoothed loss,
//   "source": {"name": "normal"} or {"name": LABEL, "points": [[x,y],...]},
//   "target": {"name": ...} (points included likewise, so the marginal field can be drawn),
//   "params": [float, ...] (the flat layout of mlp.h) }
struct ModelFile {
    MlpConfig mlp;
    ProbabilityPath path;
    CouplingKind coupling = CouplingKind::Independent;
    Dataset source;
    Dataset target;
    int64_t steps_trained = 0;
    float loss = 0.0f;
    std::vector<float> params;
};

std::string model_to_json(const ModelFile& model);
// Throws InputError (one line) on malformed JSON, unknown names, wrong sizes, NaN/inf params.
ModelFile model_from_json(const std::string& text, const std::string& source_name = "model");
void save_model(const std::string& path, const ModelFile& model);  // atomic
ModelFile load_model(const std::string& path);                     // at most 512 MiB

}  // namespace fmp
