// FM = CFM + constant: the gap between the two losses does not depend on the network (within
// Monte Carlo error) and equals the averaged posterior variance; the gradients agree.
#include <doctest/doctest.h>

#include <cmath>

#include "core/base/rng.h"
#include "core/engine/engine.h"
#include "core/instruments/loss_gap.h"

#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

using namespace fmp;

namespace {

Points eight_gaussian_refs() {
    return marginal_reference_points(Dataset(DatasetKind::EightGaussians), 512);
}

}  // namespace

TEST_CASE("the gap between CFM and FM losses is the same for very different networks") {
    const Points refs = eight_gaussian_refs();
    const ProbabilityPath path(PathKind::CondOT);
    const EvaluationBatch batch = make_evaluation_batch(path, refs, 8, 512);
    CHECK(batch.points() == 10 * 8 * 512);
    auto engine = make_cpu_engine();
    TrainConfig config;
    config.mlp.width = 64;
    std::vector<double> gaps, cfms;
    for (uint64_t seed : {1, 2, 3}) {
        config.seed = seed;
        engine->reset(config, Dataset(DatasetKind::Normal), Dataset(DatasetKind::EightGaussians));
        std::vector<float> p = engine->params();
        // Scale the weights so the networks' outputs differ a lot, not just by seed.
        for (float& w : p) w *= 0.5f + static_cast<float>(seed);
        engine->set_params(p);
        const LossGap g = measure_loss_gap(*engine, batch);
        gaps.push_back(g.gap);
        cfms.push_back(g.cfm);
        // The gap is also close to the constant the theory names: E|u(x|x1) - u(x)|^2.
        CHECK(std::abs(g.gap - batch.expected_gap) < 0.05 * batch.expected_gap);
    }
    // The losses themselves move by far more than the gap does.
    CHECK(std::abs(cfms[2] - cfms[0]) > 1.0);
    CHECK(std::abs(gaps[2] - gaps[0]) < 0.05 * std::abs(cfms[2] - cfms[0]));
    CHECK(std::abs(gaps[1] - gaps[0]) < 0.05 * batch.expected_gap);
    // Per t bin too: the constant of each bin is positive (the conditional velocities always
    // spread) and the measured per-bin gaps of two networks match it.
    for (int k = 0; k < k_loss_time_bins; ++k) CHECK(batch.expected_gap_by_t[k] > 0.0f);
}

TEST_CASE("with a large batch the gradients of the CFM and FM losses agree") {
    const Points refs = eight_gaussian_refs();
    const ProbabilityPath path(PathKind::CondOT);
    const EvaluationBatch eval = make_evaluation_batch(path, refs, 16, 1024, 5);
    MlpConfig mc;
    mc.width = 64;
    mc.depth = 2;
    const Mlp mlp(mc, 4);
    const Eigen::Index n = eval.points();
    Points x(n, 2), uc(n, 2), um(n, 2);
    VectorF t(n);
    Eigen::Index r = 0;
    for (std::size_t g = 0; g < eval.xt.size(); ++g) {
        const Eigen::Index m = eval.xt[g].rows();
        x.middleRows(r, m) = eval.xt[g];
        uc.middleRows(r, m) = eval.u_cond[g];
        um.middleRows(r, m) = eval.u_marg[g];
        t.segment(r, m).setConstant(eval.times[g]);
        r += m;
    }
    MlpContext ctx;
    Points v, dv;
    std::vector<float> g_cfm, g_fm;
    mlp.forward(x, t, v, &ctx);
    cfm_loss(v, uc, &dv);
    mlp.backward(ctx, dv, g_cfm);
    cfm_loss(v, um, &dv);
    mlp.backward(ctx, dv, g_fm);
    const Eigen::Map<const VectorF> a(g_cfm.data(), static_cast<Eigen::Index>(g_cfm.size()));
    const Eigen::Map<const VectorF> b(g_fm.data(), static_cast<Eigen::Index>(g_fm.size()));
    const double cosine = a.cast<double>().dot(b.cast<double>()) /
                          (a.cast<double>().norm() * b.cast<double>().norm());
    MESSAGE("cosine of the CFM and FM gradients over " << n << " points: " << cosine);
    CHECK(cosine > 0.99);
}

TEST_CASE("evaluation batches are deterministic and refuse bad sizes") {
    const Points refs = eight_gaussian_refs();
    const ProbabilityPath path(PathKind::VP);
    const EvaluationBatch a = make_evaluation_batch(path, refs, 2, 16, 3);
    const EvaluationBatch b = make_evaluation_batch(path, refs, 2, 16, 3);
    CHECK(a.xt[7] == b.xt[7]);
    CHECK(a.times.front() == doctest::Approx(0.025f));
    CHECK(a.times.back() == doctest::Approx(0.975f));
    CHECK_THROWS_AS(make_evaluation_batch(path, Points(0, 2)), InputError);
    CHECK_THROWS_AS(make_evaluation_batch(path, refs, 0, 16), InputError);
}
