// The settings that define a training run by name (datasets, path, coupling, network, optimizer),
// shared by the CLI, exports and the window, and their resolution into a validated config.
#pragma once
#include <string>

#include "core/engine/engine.h"

namespace fmp {

struct TrainOptions {
    std::string target = "moons";
    std::string source = "normal";
    std::string path = "condot";
    std::string coupling = "independent";
    int ot_batch = 0;        // 0: the whole batch
    float ot_reg = 0.05f;    // sinkhorn's epsilon
    float sb_sigma = 0.5f;   // sb's bridge noise
    std::string prediction = "velocity";  // what the network predicts: velocity, data, noise
    bool classes = false;    // condition on the target's classes (classifier-free guidance)
    float p_uncond = 0.2f;   // with classes: the null-class dropout
    std::string activation = "silu";
    std::string time_encoding = "raw";
    std::string optimizer = "adam";
    int steps = 5000;
    int batch = 256;
    int width = 64;
    int depth = 3;
    float lr = 1e-3f;
    float weight_decay = 0.0f;
    float sigma_min = 1e-3f;
    float poly_n = 2.0f;
    uint64_t seed = 1;
};

// The resolved run: config and datasets. Throws InputError for any bad value, before any output.
// The number of steps is the caller's to check (a flag, or a key of scene.json).
struct TrainSetup {
    TrainConfig config;
    Dataset source;
    Dataset target;
};
TrainSetup resolve_train_options(const TrainOptions& options);

}  // namespace fmp
