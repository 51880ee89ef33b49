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

// Classes for class-conditional flows: 8 gaussians (class = mode), moons (class = moon),
// checkerboard (class = filled cell), and point sets with a class per point (a CSV's third column,
// drawn in class colours). At most k_max_classes; other datasets have none.
inline constexpr int k_max_classes = 8;

// A distribution that can be sampled. PointSet datasets carry their points (shared, immutable).
class Dataset {
public:
    Dataset() = default;
    explicit Dataset(DatasetKind kind) : m_kind(kind) {}
    // A user point set; `label` is what name() reports (e.g. the CSV path or "drawn").
    static Dataset from_points(Points points, std::string label);
    // The same with a class 0..k_max_classes-1 per point (as many as points; empty: none).
    static Dataset from_points(Points points, std::string label, std::vector<uint8_t> classes);

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
    // The same draws, and each sample's class into classes[0 .. rows) (0 for a dataset without
    // classes).
    void sample_into(Eigen::Ref<Points> out, Rng& rng, int* classes) const;

    // How many classes the samples carry: 8 (8gaussians, checkerboard), 2 (moons), a labelled
    // point set's largest class + 1; 0 for the others.
    int class_count() const;
    // Whether samples of class k occur: every k < class_count() for the analytic datasets; for a
    // labelled point set, the classes its points carry (a set painted in classes 0 and 3 has no 1).
    bool has_class(int k) const;
    // A point set's class per point (empty when it has none).
    const std::vector<uint8_t>& point_classes() const;

    // Whether the density is known in closed form (normal, uniform, 8gaussians, checkerboard).
    bool has_density() const;
    // log p(x) in nats for every row of x (-inf outside the support of uniform and
    // checkerboard). Throws InputError for a dataset without a known density.
    void log_density(const Points& x, VectorF& log_p) const;

private:
    DatasetKind m_kind = DatasetKind::Normal;
    std::shared_ptr<const Points> m_points;
    std::shared_ptr<const std::vector<uint8_t>> m_classes;  // point sets only; may be null
    // Bit k: some point has class k. Found once, so class_count() and has_class() are O(1) where
    // they are asked per training batch and per frame.
    uint8_t m_class_mask = 0;
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
