// The entropic couplings paired on the GPU (sinkhorn_pairs.comp) against the CPU: the plan against
// SinkhornSolver's, the pair draws against the plan, and the training batches the GL engine reads.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "core/base/counter_noise.h"
#include "core/base/rng.h"
#include "core/data/dataset.h"
#include "core/engine/batch_sampler.h"
#include "core/engine/engine.h"
#include "core/engine/gl/gl_engine.h"
#include "core/flow/coupling.h"
#include "core/flow/sinkhorn.h"
#include "tests/gl_test_support.h"
#include "tests/mlp_test_support.h"

using namespace fmp;
using namespace fmp::test;

namespace {

const Dataset k_source(DatasetKind::Normal);

TrainConfig pair_config(CouplingKind kind, int batch, int classes = 0) {
    TrainConfig c;
    c.mlp = mlp_config(32, 2, Activation::SiLU);
    c.mlp.classes = classes;
    c.batch = batch;
    c.coupling = kind;
    c.seed = 12;
    c.optimizer.lr = 1e-3f;
    return c;
}

// The row of `set` equal to `x` (the sets' points are distinct floats), or -1.
int row_of(const Points& set, int begin, int end, const Eigen::RowVector2f& x) {
    for (int i = begin; i < end; ++i)
        if (set(i, 0) == x(0) && set(i, 1) == x(1)) return i;
    return -1;
}

double mean_cost(const Points& a, const Points& b) {
    return (a - b).rowwise().squaredNorm().cast<double>().mean();
}

// The batch the GL engine's first plan-coupled step draws before pairing: its sampler's stream
// with the entropic plans left to the GPU.
struct RawBatch {
    Batch batch;
    std::vector<RowGroup> groups;
};
std::vector<RawBatch> raw_batches(const TrainConfig& config, const Dataset& target, int count) {
    BatchSampler sampler;
    sampler.leave_entropic_plans(true);
    sampler.reset(config, config.seed, 0x6f74);
    std::vector<RawBatch> out(static_cast<std::size_t>(count));
    for (RawBatch& r : out) sampler.draw(config, k_source, target, r.batch, &r.groups);
    return out;
}

}  // namespace

TEST_CASE("GL Sinkhorn: the GPU's plan is SinkhornSolver's, and its pairs follow it") {
    make_gl_current("GL Sinkhorn tests");
    auto gl = make_gl_engine();
    gl->reset(pair_config(CouplingKind::Sinkhorn, 64), k_source, Dataset(DatasetKind::Moons));
    struct Case {
        std::string target;
        int n;
        float epsilon;
    };
    // 300 rows: two tiles, and invocations holding two rows.
    for (const Case& c : {Case{"moons", 64, 0.05f}, Case{"checkerboard", 300, 0.05f}, Case{"8gaussians", 200, 0.5f},
                          Case{"moons", 48, 2.0f}}) {
        CAPTURE(c.target);
        CAPTURE(c.n);
        CAPTURE(c.epsilon);
        Rng rng(static_cast<uint64_t>(c.n) * 7 + 1);
        const Points a = k_source.sample(c.n, rng);
        const Points b = make_dataset(c.target).sample(c.n, rng);
        SinkhornSettings settings;
        settings.epsilon = c.epsilon;
        settings.max_iterations = 4000;
        const uint64_t seed = 77;
        const uint32_t step = 5;
        const auto check = gl_sinkhorn_check(*gl, a, b, settings, seed, step);
        REQUIRE(check.has_value());
        SinkhornSolver solver;
        const SinkhornReport& report = solver.solve(a, b, settings);
        REQUIRE(report.converged);
        MESSAGE(c.target << " n " << c.n << " eps " << c.epsilon << ": GPU " << check->sweeps
                         << " sweeps, row error " << check->marginal_error << "; CPU " << report.iterations
                         << " passes");
        CHECK(check->marginal_error <= settings.tolerance);
        CHECK(check->sweeps < settings.max_iterations);
        // The plan: marginals, the entries against the CPU's, the transport cost.
        const int n = c.n;
        const std::vector<float>& p = check->plan;
        REQUIRE(p.size() == std::size_t(n) * n);
        double total = 0.0, cost_gpu = 0.0, cost_cpu = 0.0, worst_col = 0.0, worst_row = 0.0, diff = 0.0,
               top = 0.0;
        for (int i = 0; i < n; ++i) {
            double row = 0.0, col = 0.0;
            for (int j = 0; j < n; ++j) {
                const std::size_t ij = std::size_t(i) * n + j;
                row += p[ij];
                col += p[std::size_t(j) * n + i];
                const double cost = (a.row(i) - b.row(j)).squaredNorm();
                cost_gpu += p[ij] * cost;
                cost_cpu += solver.plan()[ij] * cost;
                diff = std::max(diff, double(std::abs(p[ij] - solver.plan()[ij])));
                top = std::max(top, double(solver.plan()[ij]));
            }
            total += row;
            worst_row = std::max(worst_row, std::abs(row * n - 1.0));
            worst_col = std::max(worst_col, std::abs(col * n - 1.0));
        }
        MESSAGE("  largest entry difference " << diff / top << " of the largest entry; transport cost "
                                          << cost_gpu << " against " << cost_cpu);
        CHECK(total == doctest::Approx(1.0).epsilon(1e-4));
        CHECK(worst_row < 1e-4);  // rows are exact after the last update
        CHECK(worst_col < 3e-4);
        CHECK(diff < 3e-3 * top);
        CHECK(cost_gpu == doctest::Approx(cost_cpu).epsilon(1e-3));

        // The pairs: output row r takes i = floor(u1 n) and the column where row i's running
        // conditional (n P_ij) passes u2, with the counter-based stream of (seed, step, r).
        int exact = 0;
        for (int r = 0; r < n; ++r) {
            CAPTURE(r);
            const int i = row_of(a, 0, n, check->x0.row(r));
            const int j = row_of(b, 0, n, check->x1.row(r));
            REQUIRE(i >= 0);
            REQUIRE(j >= 0);
            uint32_t state = counter_noise_state(seed, step, static_cast<uint32_t>(r));
            const float u1 = pcg_uniform01(state);
            const float u2 = pcg_uniform01(state);
            CHECK(i == std::min(static_cast<int>(u1 * static_cast<float>(n)), n - 1));
            double below = 0.0;
            for (int q = 0; q < j; ++q) below += double(n) * p[std::size_t(i) * n + q];
            const double upto = below + double(n) * p[std::size_t(i) * n + j];
            CHECK(p[std::size_t(i) * n + j] > 0.0f);
            CHECK(below <= u2 + 1e-4);
            CHECK(upto >= u2 - 1e-4);
            exact += below <= u2 && upto > u2;
        }
        CHECK(exact >= n - 2);
    }
    // Bad sizes are refused with the engine intact.
    Rng rng(1);
    const Points a = k_source.sample(8, rng);
    CHECK_THROWS_AS(gl_sinkhorn_check(*gl, a, a.topRows(7), SinkhornSettings{}, 1, 0), InputError);
    CHECK_THROWS_AS(gl_sinkhorn_check(*gl, a.topRows(1), a.topRows(1), SinkhornSettings{}, 1, 0), InputError);
    SinkhornSettings bad;
    bad.epsilon = -1.0f;
    CHECK_THROWS_AS(gl_sinkhorn_check(*gl, a, a, bad, 1, 0), InputError);
    check_no_gl_messages();
}

TEST_CASE("GL entropic couplings train on batches paired on the GPU: rows, classes, noise and loss") {
    make_gl_current("GL Sinkhorn tests");
    struct Case {
        CouplingKind kind;
        int classes;
        int ot_batch;
        int batch;
    };
    // Sinkhorn over the whole batch and in sub-batches of 40 (the last one short); SB within
    // each of 8 classes, with its bridge noise and the dropout to the null class; 12 rows in 8
    // classes, so that some groups have a single row (nothing to pair) or none.
    for (const Case& c : {Case{CouplingKind::Sinkhorn, 0, 0, 96}, Case{CouplingKind::Sinkhorn, 0, 40, 96},
                          Case{CouplingKind::SchrodingerBridge, 8, 0, 96}, Case{CouplingKind::Sinkhorn, 8, 0, 12}}) {
        CAPTURE(coupling_name(c.kind));
        CAPTURE(c.ot_batch);
        const Dataset target(c.classes ? DatasetKind::EightGaussians : DatasetKind::Moons);
        const int b = c.batch;
        TrainConfig config = pair_config(c.kind, b, c.classes);
        config.coupling_options.ot_batch = c.ot_batch;
        config.p_uncond = 0.2f;
        auto gl = make_gl_engine();
        auto cpu = make_cpu_engine();
        gl->reset(config, k_source, target);
        cpu->reset(config, k_source, target);
        gl->train(1);
        const auto losses = gl->take_losses();
        const std::optional<Batch> paired = gl_last_batch(*gl);
        REQUIRE(paired.has_value());
        const RawBatch raw = raw_batches(config, target, 1)[0];
        REQUIRE(paired->x0.rows() == b);
        CHECK(paired->t.isApprox(raw.batch.t));
        CHECK(paired->classes == raw.batch.classes);
        CHECK(paired->noise.rows() == (c.kind == CouplingKind::SchrodingerBridge ? b : 0));
        if (paired->noise.rows()) CHECK(paired->noise.isApprox(raw.batch.noise));
        // Each row pairs an x0 and an x1 of its own class group and sub-batch.
        for (const RowGroup& g : raw.groups) {
            const int chunk = c.ot_batch > 0 ? c.ot_batch : g.end - g.begin;
            for (int begin = g.begin; begin < g.end; begin += chunk) {
                const int end = std::min(g.end, begin + chunk);
                for (int r = begin; r < end; ++r) {
                    CAPTURE(r);
                    CHECK(row_of(raw.batch.x0, begin, end, paired->x0.row(r)) >= 0);
                    CHECK(row_of(raw.batch.x1, begin, end, paired->x1.row(r)) >= 0);
                }
            }
        }
        // Pairs from the plan are shorter than independent ones: near the plan's transport
        // cost, the expected |x0 - x1|^2 of a pair drawn from it (96 draws: within 40%; 12 rows in
        // groups of one to three have little to gain and say little).
        double expected = 0.0;
        for (const RowGroup& g : raw.groups) {
            const int chunk = c.ot_batch > 0 ? c.ot_batch : g.end - g.begin;
            for (int begin = g.begin; begin < g.end; begin += chunk) {
                const int n = std::min(g.end, begin + chunk) - begin;
                if (n < 2) {
                    expected += mean_cost(raw.batch.x0.middleRows(begin, n), raw.batch.x1.middleRows(begin, n)) * n;
                    continue;
                }
                SinkhornSolver solver;
                SinkhornSettings settings;
                settings.epsilon = Coupler::epsilon_of(c.kind, config.coupling_options);
                expected += solver.solve(raw.batch.x0.middleRows(begin, n), raw.batch.x1.middleRows(begin, n), settings)
                                .transport_cost * n;
            }
        }
        expected /= double(b);
        const double before = mean_cost(raw.batch.x0, raw.batch.x1), after = mean_cost(paired->x0, paired->x1);
        MESSAGE("mean |x0 - x1|^2: independent " << before << ", paired " << after << ", the plans' cost " << expected);
        if (b >= 96) {
            CHECK(after < 0.95 * before);
            CHECK(std::abs(after - expected) < 0.4 * expected);
        }
        int singles = 0;
        for (const RowGroup& g : raw.groups) singles += g.end - g.begin == 1;
        if (b == 12) CHECK(singles > 0);
        // The step trained on exactly this batch.
        gl->health(true);  // every queued step done
        const auto later = gl->take_losses();
        std::vector<LossRecord> all = losses;
        all.insert(all.end(), later.begin(), later.end());
        REQUIRE(all.size() == 1);
        std::vector<float> g;
        const float loss = cpu->gradients(*paired, g, nullptr);
        CHECK(std::abs(all[0].loss - loss) / loss < 1e-4f);
    }
    check_no_gl_messages();
}

TEST_CASE("GL batches paired ahead: deterministic, saved states and changes go back to the first not trained") {
    make_gl_current("GL Sinkhorn tests");
    const Dataset target(DatasetKind::Moons);
    const TrainConfig config = pair_config(CouplingKind::Sinkhorn, 64);
    auto last = [](Engine& e) {
        std::optional<Batch> b = gl_last_batch(e);
        REQUIRE(b.has_value());
        return *b;
    };
    auto same = [](const Batch& x, const Batch& y) {
        return x.x0 == y.x0 && x.x1 == y.x1 && x.t == y.t;
    };
    auto a = make_gl_engine();
    a->reset(config, k_source, target);
    a->train(2);
    const TrainingState state = a->training_state();
    const GlTransferCounters before = gl_transfer_counters(*a);
    a->train(3);
    const GlTransferCounters after = gl_transfer_counters(*a);
    const Batch fifth = last(*a);
    // Training reads the pairs in place: nothing waited on the GPU.
    CHECK(after.blocking_reads == before.blocking_reads);
    CHECK(after.get_sub_data_reads == before.get_sub_data_reads);

    // The same run in one call, and continued from the state saved after two steps.
    auto b = make_gl_engine();
    b->reset(config, k_source, target);
    b->train(5);
    CHECK(same(last(*b), fifth));
    b->reset(config, k_source, target);
    b->set_training_state(state);
    b->train(3);
    CHECK(same(last(*b), fifth));
    CHECK(b->params() == a->params());

    // A new batch size after two steps: the third batch is the sampler's third draw (the
    // batches paired ahead at 64 rows were dropped and their draws undone).
    b->reset(config, k_source, target);
    b->train(2);
    b->set_batch_size(40);
    b->train(1);
    TrainConfig smaller = config;
    const std::vector<RawBatch> first_two = raw_batches(config, target, 2);
    BatchSampler sampler;
    sampler.leave_entropic_plans(true);
    sampler.reset(config, config.seed, 0x6f74);
    Batch skip;
    std::vector<RowGroup> groups;
    sampler.draw(config, k_source, target, skip, &groups);
    sampler.draw(config, k_source, target, skip, &groups);
    CHECK(skip.t == first_two[1].batch.t);
    smaller.batch = 40;
    Batch third;
    sampler.draw(smaller, k_source, target, third, &groups);
    const Batch got = last(*b);
    REQUIRE(got.t.size() == 40);
    CHECK(got.t == third.t);

    // Plans over the GPU path's limit (4096 rows; 128 on llvmpipe, where the CPU's solver is
    // faster) are solved by the CPU's pipeline and uploaded: the same stream, coupled there.
    TrainConfig big = pair_config(CouplingKind::Sinkhorn, 200);
    big.coupling_options.ot_reg = 0.5f;
    const GlTransferCounters big_before = gl_transfer_counters(*b);
    b->reset(big, k_source, target);
    b->train(1);
    const Batch cpu_paired = last(*b);
    CHECK(cpu_paired.x0.rows() == 200);
    CHECK(gl_transfer_counters(*b).ring_uploads == big_before.ring_uploads + 1);
    const std::vector<RawBatch> raw = raw_batches(big, target, 1);
    CHECK(cpu_paired.t == raw[0].batch.t);
    CHECK(mean_cost(cpu_paired.x0, cpu_paired.x1) < 0.7 * mean_cost(raw[0].batch.x0, raw[0].batch.x1));
    check_no_gl_messages();
}
