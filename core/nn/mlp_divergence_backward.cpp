// Reverse-mode differentiation through the forward-mode divergence of the MLP: the gradient of a
// loss on (v, div v) with respect to the weights and the input, for maximum-likelihood CNFs.
#include <cmath>

#include "core/nn/mlp.h"

namespace fmp {
namespace {

// d^2/dz^2 of each activation, of the same formulas activation_forward uses.
float second_derivative(Activation a, float z) {
    switch (a) {
        case Activation::SiLU: {
            const float s = 1.0f / (1.0f + std::exp(-z));
            return s * (1.0f - s) * (2.0f + z * (1.0f - 2.0f * s));
        }
        case Activation::SELU:
            return z > 0.0f ? 0.0f : 1.0507009873554805f * 1.6732632423543772f * std::exp(z);
        case Activation::Tanh: {
            const float th = std::tanh(z);
            return -2.0f * th * (1.0f - th * th);
        }
        case Activation::ReLU: return 0.0f;
        case Activation::GELU: {
            // z * sigmoid(u), u = k (z + c z^3): g'' = 2 s(1-s) u' + z s(1-s) [(1-2s) u'^2 + u''].
            constexpr float k = 1.5957691216057308f, c = 0.044715f;
            const float u = k * (z + c * z * z * z), du = k * (1.0f + 3.0f * c * z * z), ddu = 6.0f * k * c * z;
            const float s = 1.0f / (1.0f + std::exp(-u)), ds = s * (1.0f - s);
            return 2.0f * ds * du + z * ds * ((1.0f - 2.0f * s) * du * du + ddu);
        }
    }
    return 0.0f;
}

using Matrix = MatrixRM;
using MapW = Eigen::Map<const Matrix>;

}  // namespace

void Mlp::divergence_backward(const Points& x, float t, const Points& dL_dv, const VectorF& dL_ddiv,
                              std::vector<float>& dL_dparams, Points& dL_dx, Points* v_out,
                              VectorF* div_out) const {
    const MlpConfig& c = m_config;
    if (c.prediction != Prediction::Velocity)
        throw InputError("divergence_backward: only a velocity-predicting network trains as a CNF");
    if (c.classes > 0) throw InputError("divergence_backward: a class-conditional network does not train as a CNF");
    const Eigen::Index B = x.rows();
    if (dL_dv.rows() != B || dL_ddiv.size() != B)
        throw InputError("divergence_backward: gradient sizes do not match the batch");
    if (dL_dparams.size() != c.parameter_count()) dL_dparams.assign(c.parameter_count(), 0.0f);
    const int D = c.depth;

    // Forward with the two tangents d/dx, d/dy: per hidden layer z, act'(z), the tangents of z.
    Matrix input(B, c.input_dim());
    for (Eigen::Index i = 0; i < B; ++i) encode_input_row(c, x(i, 0), x(i, 1), t, input.data() + i * input.cols());
    std::vector<Matrix> a(D + 1), z(D), d1(D), tz[2];
    tz[0].resize(D);
    tz[1].resize(D);
    Matrix ta[2];
    ta[0] = Matrix::Zero(B, c.input_dim());
    ta[1] = Matrix::Zero(B, c.input_dim());
    ta[0].col(0).setOnes();
    ta[1].col(1).setOnes();
    std::vector<Matrix> ta_saved[2];
    ta_saved[0].resize(D + 1);
    ta_saved[1].resize(D + 1);
    a[0] = input;
    ta_saved[0][0] = ta[0];
    ta_saved[1][0] = ta[1];
    for (int l = 0; l < D; ++l) {
        const LayerLayout L = mlp_layer_layout(c, l);
        const MapW W(m_params.data() + L.w_offset, L.in, L.out);
        const Eigen::Map<const Eigen::RowVectorXf> b(m_params.data() + L.b_offset, L.out);
        z[l] = (a[l] * W).rowwise() + b;
        a[l + 1].resize(B, L.out);
        d1[l].resize(B, L.out);
        activation_forward_derivative(c.activation, z[l].data(), a[l + 1].data(), d1[l].data(),
                                      static_cast<std::size_t>(z[l].size()));
        for (int k = 0; k < 2; ++k) {
            tz[k][l] = ta[k] * W;
            ta[k] = d1[l].cwiseProduct(tz[k][l]);
            ta_saved[k][l + 1] = ta[k];
        }
    }
    const LayerLayout O = mlp_layer_layout(c, D);
    const MapW Wo(m_params.data() + O.w_offset, O.in, O.out);
    if (v_out) {
        const Eigen::Map<const Eigen::RowVectorXf> bo(m_params.data() + O.b_offset, O.out);
        *v_out = ((a[D] * Wo).rowwise() + bo);
    }
    if (div_out) *div_out = (ta[0] * Wo.col(0)) + (ta[1] * Wo.col(1));

    // Backward. The output layer: dL/dv through v = a Wo + bo, dL/d(div) through the tangents'
    // outputs (div = vdot_x[:, 0] + vdot_y[:, 1]).
    Matrix g_tv[2] = {Matrix::Zero(B, 2), Matrix::Zero(B, 2)};
    g_tv[0].col(0) = dL_ddiv;
    g_tv[1].col(1) = dL_ddiv;
    {
        Eigen::Map<Matrix> dWo(dL_dparams.data() + O.w_offset, O.in, O.out);
        dWo.noalias() += a[D].transpose() * dL_dv;
        for (int k = 0; k < 2; ++k) dWo.noalias() += ta_saved[k][D].transpose() * g_tv[k];
        Eigen::Map<Eigen::RowVectorXf> dbo(dL_dparams.data() + O.b_offset, O.out);
        dbo += dL_dv.colwise().sum();
    }
    Matrix g_a = dL_dv * Wo.transpose();
    Matrix g_ta[2] = {g_tv[0] * Wo.transpose(), g_tv[1] * Wo.transpose()};
    for (int l = D - 1; l >= 0; --l) {
        const LayerLayout L = mlp_layer_layout(c, l);
        const MapW W(m_params.data() + L.w_offset, L.in, L.out);
        // ta = act'(z) * tz: the tangent's gradient flows to tz and, through act''(z), to z.
        Matrix d2(B, L.out);
        for (Eigen::Index i = 0; i < z[l].size(); ++i) d2.data()[i] = second_derivative(c.activation, z[l].data()[i]);
        Matrix g_z = d1[l].cwiseProduct(g_a);
        Matrix g_tz[2];
        for (int k = 0; k < 2; ++k) {
            g_tz[k] = d1[l].cwiseProduct(g_ta[k]);
            g_z += d2.cwiseProduct(tz[k][l]).cwiseProduct(g_ta[k]);
        }
        Eigen::Map<Matrix> dW(dL_dparams.data() + L.w_offset, L.in, L.out);
        dW.noalias() += a[l].transpose() * g_z;
        for (int k = 0; k < 2; ++k) dW.noalias() += ta_saved[k][l].transpose() * g_tz[k];
        Eigen::Map<Eigen::RowVectorXf> db(dL_dparams.data() + L.b_offset, L.out);
        db += g_z.colwise().sum();
        g_a = g_z * W.transpose();
        for (int k = 0; k < 2; ++k) g_ta[k] = g_tz[k] * W.transpose();
    }
    // The input tangents are constants; x enters through the first two input features.
    dL_dx = g_a.leftCols(2);
}

}  // namespace fmp
