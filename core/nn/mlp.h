// The velocity network v_theta(x, t): an MLP with batch-major forward and exact backward passes.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/base/types.h"
#include "core/flow/prediction.h"
#include "core/flow/probability_path.h"

namespace fmp {

// GELU is the tanh approximation (PyTorch's approximate="tanh"), written as
// z * sigmoid(2 sqrt(2/pi) (z + 0.044715 z^3)); SELU uses the self-normalising constants
// lambda = 1.0507009873554805, alpha = 1.6732632423543772 (derivative lambda at z > 0, else
// lambda alpha e^z).
enum class Activation { SiLU, SELU, Tanh, ReLU, GELU };
enum class TimeEncoding {
    Raw,      // input (x, y, t)
    Fourier,  // input (x, y, t, sin(pi k t), cos(pi k t) for k = 1..K), the pairs interleaved
};

struct MlpConfig {
    int depth = 3;                    // hidden layers, 1..6
    int width = 128;                  // units per hidden layer, 16..512
    Activation activation = Activation::SiLU;
    TimeEncoding time_encoding = TimeEncoding::Raw;
    int fourier_frequencies = 8;      // K, 1..32, for TimeEncoding::Fourier
    // What the output f predicts (prediction.h) and the path it converts to the velocity along:
    // forward() returns f itself (the training loss compares it with the prediction's target),
    // evaluate() and evaluate_divergence() return the velocity a x + b f. The path must be the
    // training path (TrainConfig::validate checks); it is unused for Velocity.
    Prediction prediction = Prediction::Velocity;
    ProbabilityPath path;
    // Class conditioning: 0 (none) or K in 2..8 classes. The input then ends with a one-hot of
    // K + 1 entries, the last the null class (classifier-free guidance drops to it), so the first
    // layer's rows for them are a learned class embedding added to its pre-activations.
    int classes = 0;

    // Where the one-hot starts in the input (3 or 3 + 2K).
    int class_offset() const;

    int input_dim() const;            // 3 or 3 + 2K, plus classes + 1 with classes
    static constexpr int output_dim = 2;
    std::size_t parameter_count() const;
    // Throws InputError naming the valid range.
    void validate() const;
};

// The flat parameter vector holds, for each of the depth+1 linear layers in order,
// W (in x out, row-major) followed by b (out). Layer l maps in_l -> out_l.
struct LayerLayout {
    int in = 0;
    int out = 0;
    std::size_t w_offset = 0;
    std::size_t b_offset = 0;
};
std::vector<LayerLayout> mlp_layout(const MlpConfig& config);
// Layer l (0..depth) of that table, without allocating (for the per-step hot paths).
LayerLayout mlp_layer_layout(const MlpConfig& config, int l);

// Deterministic initialisation for a seed: W ~ U(-1/sqrt(in), 1/sqrt(in)) (PyTorch's default
// for nn.Linear), b likewise.
std::vector<float> mlp_init_params(const MlpConfig& config, uint64_t seed);

// Writes the input features of (x, t) into `in` (rows x input_dim); classes[i] is row i's class
// (null: every row the null class; ignored without classes).
void encode_inputs(const MlpConfig& config, const Points& x, const VectorF& t, MatrixRM& in,
                   const int* classes = nullptr);
// One row of those features (input_dim floats); cls < 0 or >= classes is the null class.
void encode_input_row(const MlpConfig& config, float x, float y, float t, float* row, int cls = -1);

// Classifier-free guidance (Ho & Salimans): the velocity of class `cls` pushed away from the
// unconditional one, v = v(x, t | null) + scale (v(x, t | cls) - v(x, t | null)). scale 1 is the
// conditional field, 0 the unconditional one, > 1 guided; cls < 0 is the unconditional field.
struct ClassGuidance {
    int cls = -1;
    float scale = 1.0f;
    void validate(const MlpConfig& config) const;  // throws InputError
};
inline constexpr float k_max_guidance = 10.0f;
// The most one-hot inputs a network can have (8 classes and the null class).
inline constexpr int k_max_classes_input = 9;

// The activation exactly as the CPU passes compute it (vectorised, with a polynomial exp good to
// ~2e-7 relative), elementwise over n values; the derivative is that of the same formula.
void activation_forward(Activation a, const float* z, float* y, std::size_t n);
void activation_derivative(Activation a, const float* z, float* dy_dz, std::size_t n);
// Both at once, exactly as the training forward pass computes them (one exp per value).
void activation_forward_derivative(Activation a, const float* z, float* y, float* dy_dz,
                                   std::size_t n);

// Saved activations of one forward pass, consumed by backward. Reused across calls: buffers are
// only reallocated when the batch size grows, so a training loop allocates nothing per step.
// The matrices may therefore have more rows than `batch`; only the first `batch` rows are valid.
struct MlpContext {
    MatrixRM input;                // B x input_dim
    std::vector<MatrixRM> pre;     // per hidden layer, B x width, before the activation
    std::vector<MatrixRM> post;    // per hidden layer, B x width, after the activation
    std::vector<MatrixRM> deriv;   // per hidden layer, B x width, the activation's derivative
    mutable std::vector<MatrixRM> grad;  // backward scratch, B x width per hidden layer
    // Backward scratch: the partial dL/dtheta of each worker thread but the first.
    mutable std::vector<std::vector<float>> worker_grads;
    int batch = 0;
};

// The network: configuration + parameters.
class Mlp {
public:
    Mlp() = default;
    explicit Mlp(const MlpConfig& config, uint64_t seed = 1);

    const MlpConfig& config() const { return m_config; }
    const std::vector<float>& params() const { return m_params; }
    std::vector<float>& params() { return m_params; }
    void set_params(std::vector<float> params);  // throws InputError on a size mismatch

    // The raw output f_theta(x, t) (the velocity only for Prediction::Velocity). With ctx, the
    // activations are saved for backward().
    // classes[i]: row i's class (null: the null class), for class-conditional networks.
    void forward(const Points& x, const VectorF& t, Points& v, MlpContext* ctx = nullptr,
                 const int* classes = nullptr) const;
    // The velocity v(x, t) (the output converted as config().prediction says), for inference on
    // large sets: splits rows into chunks over both cores, no context.
    void evaluate(const Points& x, float t, Points& v, const ClassGuidance& guidance = {}) const;
    // The same with a class per row taken in turn: row i follows class
    // cycle[(first_row + i) mod cycle.size()] at guidance scale `scale` (particles that "follow
    // every class": each class's rows are every C-th, evaluated together). Throws InputError for
    // an empty cycle or a class the network lacks.
    void evaluate_class_cycle(const Points& x, float t, Points& v, const std::vector<int>& cycle, float scale,
                              Eigen::Index first_row = 0) const;
    // The velocity v(x, t) and its exact divergence div[i] = dv_x/dx + dv_y/dy at row i (a
    // converted prediction adds 2a to b times the output's divergence), by
    // forward-mode differentiation (core/nn/mlp_divergence.cpp); split over cores like evaluate.
    void evaluate_divergence(const Points& x, float t, Points& v, VectorF& div,
                             const ClassGuidance& guidance = {}) const;
    // Reverse mode through that: for a loss L(v, div) at one time t, given dL/dv (B x 2) and
    // dL/d(div) (B), ADDS dL/dtheta to dL_dparams (sized parameter_count()) and writes dL/dx
    // (B x 2). Exact, through the activation's second derivative (div depends on act'(z)):
    // what maximum-likelihood training of a CNF needs (core/nn/mlp_divergence_backward.cpp).
    // Velocity prediction only (throws InputError otherwise).
    // The forward pass is recomputed; v and div are returned when asked. One thread.
    void divergence_backward(const Points& x, float t, const Points& dL_dv, const VectorF& dL_ddiv,
                             std::vector<float>& dL_dparams, Points& dL_dx, Points* v = nullptr,
                             VectorF* div = nullptr) const;

    // Backward through the pass saved in ctx: accumulates nothing, overwrites dL_dparams
    // (resized to parameter_count()) with dL/dtheta for the given dL/dv. If dL_dx is given it
    // receives dL/dx for the spatial inputs (B x 2).
    void backward(const MlpContext& ctx, const Points& dL_dv, std::vector<float>& dL_dparams,
                  Points* dL_dx = nullptr) const;

private:
    MlpConfig m_config;
    std::vector<float> m_params;
};

// The CFM loss mean_i |v_i - u_i|^2 (summed over the 2 coordinates, averaged over the batch) and
// its gradient dL/dv = 2 (v - u) / B.
float cfm_loss(const Points& v, const Points& u, Points* dL_dv = nullptr);

// Names: "silu", "selu", "tanh", "relu", "gelu" / "raw", "fourier".
const std::vector<std::string>& activation_names();
std::string activation_name(Activation a);
std::optional<Activation> activation_from_name(const std::string& name);
Activation make_activation(const std::string& name);  // throws InputError
const std::vector<std::string>& time_encoding_names();
std::string time_encoding_name(TimeEncoding e);
TimeEncoding make_time_encoding(const std::string& name);  // throws InputError

}  // namespace fmp
