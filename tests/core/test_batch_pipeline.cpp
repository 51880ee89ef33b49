// The batch pipeline: the same batches as a sequential BatchSampler, solved ahead on several threads.
#include <doctest/doctest.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <thread>

#include "core/engine/batch_pipeline.h"
#include "core/engine/batch_sampler.h"

using namespace fmp;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// Bit for bit: memcmp, so that even a NaN or a -0 in place of a 0 would differ.
template <class M>
bool same_bits(const M& a, const M& b) {
    return a.rows() == b.rows() && a.cols() == b.cols() &&
           std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<std::size_t>(a.size())) == 0;
}

bool same_batch(const Batch& a, const Batch& b) {
    return same_bits(a.x0, b.x0) && same_bits(a.x1, b.x1) && same_bits(a.t, b.t) && same_bits(a.noise, b.noise) &&
           a.classes == b.classes;
}

bool same_state(const RngState& a, const RngState& b) {
    return a.state == b.state && a.inc == b.inc && a.has_spare == b.has_spare &&
           std::memcmp(&a.spare, &b.spare, sizeof a.spare) == 0;
}

TrainConfig config_for(CouplingKind coupling, int batch, int classes = 0) {
    TrainConfig c;
    c.coupling = coupling;
    c.batch = batch;
    c.mlp.classes = classes;
    c.p_uncond = 0.3f;
    return c;
}

// Paired needs two point sets of equal size, row i of one paired with row i of the other.
std::pair<Dataset, Dataset> pair_sets(int n) {
    Rng rng(5, 6);
    return {Dataset::from_points(Dataset(DatasetKind::Normal).sample(n, rng), "source"),
            Dataset::from_points(Dataset(DatasetKind::Moons).sample(n, rng), "target")};
}

// The pipeline and a sequential sampler side by side: every change goes to both at the same batch
// index, and every batch and stream state must agree.
struct Twin {
    BatchPipeline pipeline;
    BatchSampler sampler;
    TrainConfig config;
    Dataset source, target;
    Batch expected;

    Twin(int depth, int workers, const TrainConfig& c, const Dataset& s, const Dataset& t, uint64_t seed)
        : pipeline(depth, workers), config(c), source(s), target(t) {
        pipeline.reset(c, s, t, seed, 1);
        sampler.reset(c, seed, 1);
    }

    // n batches; false at the first that differs.
    bool run(int n) {
        for (int k = 0; k < n; ++k) {
            const Batch& got = pipeline.next();
            sampler.next(config, source, target, expected);
            if (!same_batch(got, expected)) {
                MESSAGE("batch " << k << " differs");
                return false;
            }
            if (!same_state(pipeline.rng_state(), sampler.rng_state())) {
                MESSAGE("the stream after batch " << k << " differs");
                return false;
            }
        }
        return true;
    }

    void set_coupling(CouplingKind kind, const CouplingOptions& options) {
        pipeline.set_coupling(kind, options);
        sampler.set_coupling(kind, options);
        config.coupling = kind;
        config.coupling_options = options;
    }
    void set_config(const TrainConfig& c) {
        pipeline.set_config(c);
        sampler.set_coupling(c.coupling, c.coupling_options);
        config = c;
    }
    void set_data(const Dataset& s, const Dataset& t) {
        pipeline.set_data(s, t);
        source = s;
        target = t;
    }
    void set_rng_state(const RngState& state) {
        pipeline.set_rng_state(state);
        sampler.set_rng_state(state);
    }
};

// Lets the producers run ahead, so that the changes that follow really drop drawn batches.
void let_fill(BatchPipeline& p) {
    const auto start = Clock::now();
    while (p.ready() < p.depth() && seconds_since(start) < 0.5) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

}  // namespace

TEST_CASE("the pipeline hands out a sequential sampler's batches bit for bit, for every coupling") {
    const Dataset normal(DatasetKind::Normal), moons(DatasetKind::Moons);
    const auto [pair_source, pair_target] = pair_sets(300);
    struct Case {
        CouplingKind kind;
        int batch, ot_batch, workers;
    };
    for (const Case& c : {Case{CouplingKind::Independent, 256, 0, 2}, Case{CouplingKind::MinibatchOT, 256, 0, 3},
                          Case{CouplingKind::MinibatchOT, 200, 64, 2}, Case{CouplingKind::MinibatchOT, 64, 0, 1},
                          Case{CouplingKind::Sinkhorn, 128, 0, 2}, Case{CouplingKind::SchrodingerBridge, 100, 0, 2},
                          Case{CouplingKind::Paired, 256, 0, 2}}) {
        CAPTURE(coupling_name(c.kind));
        CAPTURE(c.batch);
        CAPTURE(c.ot_batch);
        TrainConfig config = config_for(c.kind, c.batch);
        config.coupling_options.ot_batch = c.ot_batch;
        const bool paired = c.kind == CouplingKind::Paired;
        Twin twin(0, c.workers, config, paired ? pair_source : normal, paired ? pair_target : moons, 17);
        CHECK(same_state(twin.pipeline.rng_state(), twin.sampler.rng_state()));
        CHECK(twin.run(50));
        CHECK(twin.pipeline.handed_out() == 50);
        CHECK(twin.pipeline.workers() == c.workers);
        CHECK(twin.pipeline.depth() == 2 * c.workers + 2);
    }
}

TEST_CASE("the pipeline hands out a sequential sampler's batches with class conditioning") {
    const Dataset normal(DatasetKind::Normal);
    // A labelled point set whose classes 0 and 3 occur (1 and 2 do not): groups of uneven sizes.
    Rng rng(3, 3);
    const Points painted = Dataset(DatasetKind::Moons).sample(300, rng);
    std::vector<uint8_t> painted_classes(300);
    for (std::size_t i = 0; i < painted_classes.size(); ++i) painted_classes[i] = i % 3 ? 0 : 3;
    const Dataset labelled = Dataset::from_points(painted, "painted", painted_classes);
    struct Case {
        CouplingKind kind;
        Dataset target;
        int classes, batch, ot_batch;
    };
    for (const Case& c : {Case{CouplingKind::MinibatchOT, Dataset(DatasetKind::EightGaussians), 8, 256, 0},
                          Case{CouplingKind::MinibatchOT, Dataset(DatasetKind::Moons), 2, 256, 32},
                          Case{CouplingKind::MinibatchOT, labelled, 4, 128, 0},
                          Case{CouplingKind::Independent, Dataset(DatasetKind::Checkerboard), 8, 256, 0},
                          Case{CouplingKind::Sinkhorn, Dataset(DatasetKind::EightGaussians), 8, 128, 0},
                          Case{CouplingKind::SchrodingerBridge, Dataset(DatasetKind::Moons), 2, 96, 0}}) {
        CAPTURE(coupling_name(c.kind));
        CAPTURE(c.target.name());
        TrainConfig config = config_for(c.kind, c.batch, c.classes);
        config.coupling_options.ot_batch = c.ot_batch;
        Twin twin(0, 3, config, normal, c.target, 23);
        CHECK(twin.run(50));
        // The classes are really there, dropout included.
        const Batch& b = twin.expected;
        REQUIRE(b.classes.size() == static_cast<std::size_t>(c.batch));
        CHECK(std::count(b.classes.begin(), b.classes.end(), c.classes) > 0);
        CHECK(std::count(b.classes.begin(), b.classes.end(), c.classes) < c.batch);
    }
}

TEST_CASE("changes in the middle of the stream continue it as a sequential sampler would") {
    const Dataset normal(DatasetKind::Normal), gaussians(DatasetKind::EightGaussians);
    TrainConfig config = config_for(CouplingKind::MinibatchOT, 128, 8);
    Twin twin(6, 3, config, normal, gaussians, 31);
    REQUIRE(twin.run(8));
    const RngState saved = twin.pipeline.rng_state();
    let_fill(twin.pipeline);
    CHECK(twin.pipeline.ready() == 6);
    // A flush alone changes nothing in the stream.
    twin.pipeline.flush();
    CHECK(same_state(twin.pipeline.rng_state(), twin.sampler.rng_state()));
    CHECK(twin.run(4));

    let_fill(twin.pipeline);
    twin.set_coupling(CouplingKind::Sinkhorn, CouplingOptions{0, 0.1f, 0.5f});
    CHECK(twin.run(8));

    let_fill(twin.pipeline);
    TrainConfig bigger = twin.config;
    bigger.batch = 200;
    bigger.p_uncond = 0.5f;
    bigger.coupling = CouplingKind::MinibatchOT;
    bigger.coupling_options.ot_batch = 50;
    twin.set_config(bigger);
    CHECK(twin.run(8));

    let_fill(twin.pipeline);
    twin.set_rng_state(saved);
    CHECK(same_state(twin.pipeline.rng_state(), saved));
    CHECK(twin.run(8));

    let_fill(twin.pipeline);
    twin.set_data(Dataset(DatasetKind::Uniform), Dataset(DatasetKind::Checkerboard));
    CHECK(twin.run(8));

    let_fill(twin.pipeline);
    twin.set_coupling(CouplingKind::SchrodingerBridge, CouplingOptions{});
    CHECK(twin.run(5));
    twin.set_coupling(CouplingKind::MinibatchOT, CouplingOptions{});
    CHECK(twin.run(5));
}

TEST_CASE("the exact OT solves of different batches run in parallel and fill the ring") {
    const Dataset normal(DatasetKind::Normal), gaussians(DatasetKind::EightGaussians);
    BatchPipeline pipeline(8, 4);
    pipeline.reset(config_for(CouplingKind::MinibatchOT, 256), normal, gaussians, 5, 1);
    // Nothing runs before the first batch is asked for.
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    CHECK(pipeline.ready() == 0);
    pipeline.next();
    let_fill(pipeline);
    CHECK(pipeline.ready() == 8);
    CHECK(pipeline.peak_parallel_solves() >= 2);
    // The full ring waits: still 8 a little later, and 8 batches come without waiting.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    CHECK(pipeline.ready() == 8);
    const int64_t waits = pipeline.waits();
    for (int k = 0; k < 8; ++k) pipeline.next();
    CHECK(pipeline.waits() == waits);
    CHECK(pipeline.handed_out() == 9);
}

TEST_CASE("an exception while producing a batch is rethrown by next(), in order") {
    const Dataset normal(DatasetKind::Normal), moons(DatasetKind::Moons);
    const Dataset empty(DatasetKind::PointSet);  // nothing to sample: sample_into throws
    for (CouplingKind kind : {CouplingKind::MinibatchOT, CouplingKind::Sinkhorn}) {
        CAPTURE(coupling_name(kind));
        const TrainConfig config = config_for(kind, 64);
        Twin twin(0, 2, config, normal, moons, 41);
        REQUIRE(twin.run(3));
        twin.pipeline.set_data(normal, empty);
        CHECK_THROWS_AS(twin.pipeline.next(), InputError);
        CHECK_THROWS_AS(twin.pipeline.next(), InputError);
        // A failed batch does not move the stream: good data continues it.
        CHECK(same_state(twin.pipeline.rng_state(), twin.sampler.rng_state()));
        twin.pipeline.set_data(normal, moons);
        CHECK(twin.run(3));
    }
    // Paired without pair sets is refused up front.
    BatchPipeline pipeline;
    CHECK_THROWS_AS(pipeline.reset(config_for(CouplingKind::Paired, 64), normal, moons, 1, 1), InputError);
}

TEST_CASE("destroying a pipeline in the middle of production does not hang") {
    const Dataset normal(DatasetKind::Normal), gaussians(DatasetKind::EightGaussians);
    const auto start = Clock::now();
    for (int round = 0; round < 20; ++round) {
        BatchPipeline pipeline(4, 3);
        pipeline.reset(config_for(round % 2 ? CouplingKind::MinibatchOT : CouplingKind::Sinkhorn, 512), normal,
                       gaussians, static_cast<uint64_t>(round), 1);
        pipeline.next();
    }
    CHECK(seconds_since(start) < 10.0);
}

TEST_CASE("the pipeline's throughput against sequential OT solves (measurement)") {
    const Dataset normal(DatasetKind::Normal), gaussians(DatasetKind::EightGaussians);
    const TrainConfig config = config_for(CouplingKind::MinibatchOT, 256);
    constexpr int n = 300;
    BatchSampler sampler;
    sampler.reset(config, 9, 1);
    Batch batch;
    auto start = Clock::now();
    for (int k = 0; k < n; ++k) sampler.next(config, normal, gaussians, batch);
    const double sequential = seconds_since(start) / n;
    std::string report = "OT batch 256: sequential " + std::to_string(sequential * 1e3) + " ms";
    for (int workers : {1, 2}) {
        BatchPipeline pipeline(0, workers);
        pipeline.reset(config, normal, gaussians, 9, 1);
        start = Clock::now();
        for (int k = 0; k < n; ++k) pipeline.next();
        const double piped = seconds_since(start) / n;
        report += "; pipeline, " + std::to_string(workers) + " worker(s): " + std::to_string(piped * 1e3) +
                  " ms a batch (" + std::to_string(pipeline.waits()) + " waits)";
        CHECK(pipeline.handed_out() == n);
    }
    MESSAGE(report);
}

TEST_CASE("entropic plans left to the GPU: uncoupled batches, their groups, the sampler's stream") {
    // The GL engine pairs Sinkhorn and SB batches on the GPU: the pipeline hands them out as the
    // sampler draws them with the plans left over, and says which rows each plan pairs.
    for (CouplingKind kind : {CouplingKind::Sinkhorn, CouplingKind::SchrodingerBridge}) {
        for (int classes : {0, 8}) {
            CAPTURE(coupling_name(kind));
            CAPTURE(classes);
            const TrainConfig config = config_for(kind, 64, classes);
            const Dataset source(DatasetKind::Normal), target(DatasetKind::EightGaussians);
            BatchPipeline pipeline(4, 2);
            pipeline.reset(config, source, target, 9, 1);
            pipeline.leave_entropic_plans(true);
            CHECK(pipeline.leaves_entropic_plans());
            BatchSampler sampler, coupled;
            sampler.leave_entropic_plans(true);
            sampler.reset(config, 9, 1);
            coupled.reset(config, 9, 1);
            Batch expected, plain;
            std::vector<RowGroup> groups;
            for (int k = 0; k < 3; ++k) {
                const Batch& got = pipeline.next();
                sampler.draw(config, source, target, expected, &groups);
                CHECK(same_batch(got, expected));
                CHECK(same_state(pipeline.rng_state(), sampler.rng_state()));
                REQUIRE(pipeline.groups().size() == groups.size());
                int rows = 0;
                for (std::size_t g = 0; g < groups.size(); ++g) {
                    CHECK(pipeline.groups()[g].begin == rows);
                    CHECK(pipeline.groups()[g].end == groups[g].end);
                    rows = groups[g].end;
                }
                CHECK(rows == 64);
                if (classes) CHECK(groups.size() > 1);
                // Left uncoupled: the times are the coupled stream's, the pairs are not.
                coupled.next(config, source, target, plain);
                if (k == 0) {
                    CHECK(same_bits(got.t, plain.t));
                    CHECK(!same_bits(got.x0, plain.x0));
                }
            }
            pipeline.leave_entropic_plans(false);
            CHECK(pipeline.groups().empty() == false);  // the last batch's, until the next one
            const Batch& coupled_now = pipeline.next();
            CHECK(pipeline.groups().empty());
            CHECK(coupled_now.x0.rows() == 64);
        }
    }
}
