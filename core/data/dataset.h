// 2D datasets used as targets and sources: analytic toy distributions and user point sets.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/base/rng.h"
#include "core/base/types.h"

namespace fmp {

// Every analytic dataset keeps its mass inside about [-5, 5]^2; constants are documented in
// dataset.cpp next to each sampler.
enum class DatasetKind {
    Normal,          // standard normal N(0, I)
    Uniform,         // uniform on the square [-sqrt(3), sqrt(3)]^2 (unit variance per axis)
    EightGaussians,  // 8 Gaussians on a circle
    Moons,           // two interleaved half circles
    Checkerboard,    // 4x4 checkerboard, alternate cells filled
    Spirals,         // two interleaved spiral arms
    Circles,         // two concentric circles
    SwissRoll,       // 2D swiss roll
    Pinwheel,        // 5-armed pinwheel
    SCurve,          // the S curve of Tong et al.'s 2D benchmark (sklearn's make_s_curve, x-z plane)
    PointSet,        // any list of 2D points (CSV, drawn, image, text): sampled uniformly
};

// A distribution that can be sampled. PointSet datasets carry their points (shared, immutable).
class Dataset {
public:
    Dataset() = default;
    explicit Dataset(DatasetKind kind) : m_kind(kind) {}
    // A user point set; `label` is what name() reports (e.g. the CSV path or "drawn").
    static Dataset from_points(Points points, std::string label);

    DatasetKind kind() const { return m_kind; }
    // The name a user types ("moons"), or the point set's label.
    std::string name() const;
    // For point sets: the points; empty for analytic datasets.
    const Points& points() const;
    std::size_t point_count() const;

    // n independent samples. Deterministic for the rng state.
    Points sample(int n, Rng& rng) const;
    // Fills every row of `out` with a sample (no allocation).
    void sample_into(Eigen::Ref<Points> out, Rng& rng) const;

    // Whether the density is known in closed form (normal, uniform, 8gaussians, checkerboard).
    bool has_density() const;
    // log p(x) in nats for every row of x (-inf outside the support of uniform and
    // checkerboard). Throws InputError for a dataset without a known density.
    void log_density(const Points& x, VectorF& log_p) const;

private:
    DatasetKind m_kind = DatasetKind::Normal;
    std::shared_ptr<const Points> m_points;
    std::string m_label;
};

// The analytic dataset names, in menu order ("normal", "uniform", "8gaussians", "moons",
// "checkerboard", "spirals", "circles", "swissroll", "pinwheel").
const std::vector<std::string>& dataset_names();
std::string dataset_name(DatasetKind kind);
std::optional<DatasetKind> dataset_kind_from_name(const std::string& name);
// A one-line description with the constants, for tooltips and --help.
std::string dataset_description(DatasetKind kind);

// Resolves what a user typed: an analytic name, a CSV file path ("pts.csv"),
// "image:FILE" or "text:WORDS" (registered by the importers, see point_import.h).
// Throws InputError naming the valid choices.
Dataset make_dataset(const std::string& spec);

}  // namespace fmp
