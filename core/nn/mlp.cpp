// MLP configuration, parameter layout, initialisation, input encoding, the CFM loss and names.
#include "core/nn/mlp.h"

#include <cmath>

#include "core/base/rng.h"

namespace fmp {

int MlpConfig::class_offset() const {
    return time_encoding == TimeEncoding::Fourier ? 3 + 2 * fourier_frequencies : 3;
}

int MlpConfig::input_dim() const { return class_offset() + (classes > 0 ? classes + 1 : 0); }

void ClassGuidance::validate(const MlpConfig& config) const {
    if (!(scale >= 0.0f && scale <= k_max_guidance))
        throw InputError("the guidance scale must be in 0..10 (1: the conditional field)");
    if (cls >= 0 && cls >= config.classes)
        throw InputError(config.classes == 0 ? std::string("this network has no classes")
                                             : "class " + std::to_string(cls) + " is not one of the network's 0.." +
                                                   std::to_string(config.classes - 1));
}

void Mlp::evaluate_class_cycle(const Points& x, float t, Points& v, const std::vector<int>& cycle, float scale,
                               Eigen::Index first_row) const {
    if (cycle.empty()) throw InputError("a class cycle needs at least one class");
    for (int cls : cycle) ClassGuidance{cls, scale}.validate(config());
    v.resize(x.rows(), 2);
    Points sub, out;
    const Eigen::Index c = static_cast<Eigen::Index>(cycle.size());
    for (Eigen::Index q = 0; q < c; ++q) {
        // The first row (of x) that follows cycle[q], then every C-th.
        const Eigen::Index start = ((q - first_row % c) % c + c) % c;
        if (start >= x.rows()) continue;
        const Eigen::Index n = (x.rows() - start + c - 1) / c;
        sub.resize(n, 2);
        for (Eigen::Index j = 0; j < n; ++j) sub.row(j) = x.row(start + j * c);
        evaluate(sub, t, out, ClassGuidance{cycle[static_cast<std::size_t>(q)], scale});
        for (Eigen::Index j = 0; j < n; ++j) v.row(start + j * c) = out.row(j);
    }
}

std::size_t MlpConfig::parameter_count() const {
    auto in = static_cast<std::size_t>(input_dim());
    auto w = static_cast<std::size_t>(width);
    auto d = static_cast<std::size_t>(depth);
    return in * w + w + (d - 1) * (w * w + w) + w * output_dim + output_dim;
}

void MlpConfig::validate() const {
    if (depth < 1 || depth > 6)
        throw InputError("MLP depth must be 1..6 hidden layers (got " + std::to_string(depth) + ")");
    if (width < 16 || width > 512)
        throw InputError("MLP width must be 16..512 units (got " + std::to_string(width) + ")");
    if (time_encoding == TimeEncoding::Fourier &&
        (fourier_frequencies < 1 || fourier_frequencies > 32))
        throw InputError("Fourier frequencies must be 1..32 (got " +
                         std::to_string(fourier_frequencies) + ")");
    if (classes != 0 && (classes < 2 || classes > 8))
        throw InputError("a class-conditional network has 2..8 classes (got " + std::to_string(classes) + ")");
}

LayerLayout mlp_layer_layout(const MlpConfig& config, int l) {
    const std::size_t in0 = config.input_dim(), w = config.width;
    LayerLayout layer;
    layer.in = l == 0 ? config.input_dim() : config.width;
    layer.out = l == config.depth ? MlpConfig::output_dim : config.width;
    // Layer 0 takes in0*w + w values; each hidden layer after it w*w + w.
    layer.w_offset = l == 0 ? 0 : (in0 * w + w) + static_cast<std::size_t>(l - 1) * (w * w + w);
    layer.b_offset = layer.w_offset + static_cast<std::size_t>(layer.in) * layer.out;
    return layer;
}

std::vector<LayerLayout> mlp_layout(const MlpConfig& config) {
    std::vector<LayerLayout> layers;
    for (int l = 0; l <= config.depth; ++l) layers.push_back(mlp_layer_layout(config, l));
    return layers;
}

std::vector<float> mlp_init_params(const MlpConfig& config, uint64_t seed) {
    config.validate();
    std::vector<float> params(config.parameter_count());
    Rng rng(seed, 0x6d6c70);  // a stream of its own so other seeded draws do not correlate
    for (const LayerLayout& layer : mlp_layout(config)) {
        float bound = 1.0f / std::sqrt(static_cast<float>(layer.in));
        std::size_t end = layer.b_offset + static_cast<std::size_t>(layer.out);
        for (std::size_t i = layer.w_offset; i < end; ++i) params[i] = rng.uniform(-bound, bound);
    }
    return params;
}

void encode_input_row(const MlpConfig& config, float x, float y, float t, float* row, int cls) {
    row[0] = x;
    row[1] = y;
    row[2] = t;
    if (config.classes > 0) {
        float* hot = row + config.class_offset();
        for (int c = 0; c <= config.classes; ++c) hot[c] = 0.0f;
        hot[cls >= 0 && cls < config.classes ? cls : config.classes] = 1.0f;
    }
    if (config.time_encoding != TimeEncoding::Fourier) return;
    // The angle-addition recurrence in double is exact to ~1e-15 for k <= 32 and needs one
    // sin/cos pair per row instead of 2K.
    const double a = 3.14159265358979323846 * static_cast<double>(t);
    const double s1 = std::sin(a), c1 = std::cos(a);
    double s = s1, c = c1;
    for (int k = 1; k <= config.fourier_frequencies; ++k) {
        row[1 + 2 * k] = static_cast<float>(s);
        row[2 + 2 * k] = static_cast<float>(c);
        double sn = s * c1 + c * s1;
        c = c * c1 - s * s1;
        s = sn;
    }
}

void encode_inputs(const MlpConfig& config, const Points& x, const VectorF& t, MatrixRM& in,
                   const int* classes) {
    if (x.rows() != t.size())
        throw InputError("encode_inputs: " + std::to_string(x.rows()) + " points but " +
                         std::to_string(t.size()) + " times");
    in.resize(x.rows(), config.input_dim());
    for (Eigen::Index i = 0; i < x.rows(); ++i)
        encode_input_row(config, x(i, 0), x(i, 1), t(i), in.data() + i * in.cols(),
                         classes ? classes[i] : -1);
}

float cfm_loss(const Points& v, const Points& u, Points* dL_dv) {
    if (v.rows() != u.rows())
        throw InputError("cfm_loss: " + std::to_string(v.rows()) + " predictions but " +
                         std::to_string(u.rows()) + " targets");
    const Eigen::Index n = v.rows();
    if (dL_dv) dL_dv->resize(n, 2);
    if (n == 0) return 0.0f;
    const float scale = 2.0f / static_cast<float>(n);
    double sum = 0.0;
    const float* pv = v.data();
    const float* pu = u.data();
    float* pg = dL_dv ? dL_dv->data() : nullptr;
    for (Eigen::Index i = 0; i < 2 * n; ++i) {
        float d = pv[i] - pu[i];
        sum += static_cast<double>(d) * d;
        if (pg) pg[i] = scale * d;
    }
    return static_cast<float>(sum / static_cast<double>(n));
}

const std::vector<std::string>& activation_names() {
    static const std::vector<std::string> names = {"silu", "selu", "tanh", "relu", "gelu"};
    return names;
}

std::string activation_name(Activation a) {
    return activation_names()[static_cast<std::size_t>(a)];
}

std::optional<Activation> activation_from_name(const std::string& name) {
    const auto& names = activation_names();
    for (std::size_t i = 0; i < names.size(); ++i)
        if (names[i] == name) return static_cast<Activation>(i);
    return std::nullopt;
}

Activation make_activation(const std::string& name) {
    if (auto a = activation_from_name(name)) return *a;
    throw InputError("unknown activation " + quote_for_message(name) + " (valid: " + join_names(activation_names()) +
                     ")");
}

const std::vector<std::string>& time_encoding_names() {
    static const std::vector<std::string> names = {"raw", "fourier"};
    return names;
}

std::string time_encoding_name(TimeEncoding e) {
    return time_encoding_names()[static_cast<std::size_t>(e)];
}

TimeEncoding make_time_encoding(const std::string& name) {
    const auto& names = time_encoding_names();
    for (std::size_t i = 0; i < names.size(); ++i)
        if (names[i] == name) return static_cast<TimeEncoding>(i);
    throw InputError("unknown time encoding " + quote_for_message(name) + " (valid: " + join_names(names) + ")");
}

}  // namespace fmp
