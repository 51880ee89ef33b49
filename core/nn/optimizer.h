// Adam and AdamW over a flat parameter vector.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace fmp {

enum class OptimizerKind { Adam, AdamW };

struct OptimizerConfig {
    OptimizerKind kind = OptimizerKind::Adam;
    float lr = 1e-3f;
    float beta1 = 0.9f;
    float beta2 = 0.999f;
    float eps = 1e-8f;
    float weight_decay = 0.0f;  // AdamW: decoupled decay lr*wd*theta; Adam: ignored
};

// Kingma & Ba's Adam with bias correction; AdamW (Loshchilov & Hutter) decays the weights
// directly instead of adding wd*theta to the gradient.
class AdamOptimizer {
public:
    AdamOptimizer() = default;
    AdamOptimizer(const OptimizerConfig& config, std::size_t parameter_count);

    const OptimizerConfig& config() const { return m_config; }
    void set_learning_rate(float lr) { m_config.lr = lr; }
    void reset(std::size_t parameter_count);
    // theta <- theta - lr * mhat / (sqrt(vhat) + eps)  (and - lr*wd*theta for AdamW). Returns
    // false if an updated parameter or second moment is NaN or inf (checked in the same pass, so
    // it costs nothing worth measuring); the update is applied either way.
    bool step(std::vector<float>& params, const std::vector<float>& grads);

    int64_t step_count() const { return m_step; }
    const std::vector<float>& first_moment() const { return m_m; }
    const std::vector<float>& second_moment() const { return m_v; }
    // Puts the moments and the step count back (a rollback); copies into the existing storage,
    // so it never allocates. Throws InputError on a size mismatch.
    void restore(const std::vector<float>& m, const std::vector<float>& v, int64_t step);

private:
    OptimizerConfig m_config;
    std::vector<float> m_m, m_v;
    int64_t m_step = 0;
};

// "adam", "adamw".
const std::vector<std::string>& optimizer_names();
std::string optimizer_name(OptimizerKind kind);
OptimizerKind make_optimizer_kind(const std::string& name);  // throws InputError

}  // namespace fmp
