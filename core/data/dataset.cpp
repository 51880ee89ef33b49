// Analytic 2D toy distributions, user point sets, and resolving the dataset a user typed.
#include "core/data/dataset.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>

#include "core/data/point_import.h"
#include "core/data/point_io.h"

namespace fmp {
namespace {

constexpr float k_pi = 3.14159265358979323846f;
constexpr float k_sqrt3 = 1.73205080756887729353f;

// Constants of each sampler. They are chosen so every dataset has a typical radius of 2-3 and keeps
// its mass inside [-5, 5]^2, so any of them looks right next to a standard normal source.

// 8gaussians: centres at angles k*pi/4 on a circle of radius 2.5, isotropic std 0.2 each.
constexpr float k_gauss8_radius = 2.5f;
constexpr float k_gauss8_std = 0.2f;

// moons: sklearn's half circles, upper (cos t, sin t) and lower (1 - cos t, 0.5 - sin t) for t in
// [0, pi], shifted by -(0.5, 0.25) so the mean is 0, scaled by 1.6 (x in [-2.4, 2.4]), plus
// isotropic noise of std 0.08.
constexpr float k_moons_scale = 1.6f;
constexpr float k_moons_noise = 0.08f;

// checkerboard: a 4x4 board of unit cells over [-2, 2]^2; the 8 cells whose column + row index is
// even are filled uniformly, the others are empty.
constexpr int k_checker_cells = 4;
constexpr float k_checker_half = 2.0f;

// spirals: two arms, (-t cos t, t sin t) / 3 and its negation, with t = 3 pi sqrt(u) (uniform mass
// per unit area of the turns), so radii reach pi; isotropic noise std 0.1.
constexpr float k_spiral_turn = 3.0f * k_pi;
constexpr float k_spiral_scale = 1.0f / 3.0f;
constexpr float k_spiral_noise = 0.1f;

// circles: radii 1 and 2.5, each picked in proportion to its circumference (equal density along
// both rings), isotropic noise std 0.08.
constexpr float k_circle_inner = 1.0f;
constexpr float k_circle_outer = 2.5f;
constexpr float k_circle_noise = 0.08f;

// swissroll: sklearn's (t cos t, t sin t) with t uniform in [1.5 pi, 4.5 pi], scaled by 1/5 (radii
// 0.94 to 2.83), isotropic noise std 0.1.
constexpr float k_swiss_t0 = 1.5f * k_pi;
constexpr float k_swiss_t1 = 4.5f * k_pi;
constexpr float k_swiss_scale = 0.2f;
constexpr float k_swiss_noise = 0.1f;

// pinwheel (as in FFJORD): 5 arms at angles 2 pi k / 5; a point (1 + 0.3 a, 0.1 b) with a, b
// standard normal is rotated by its arm angle + 0.25 exp(1 + 0.3 a), then scaled by 2.
constexpr int k_pinwheel_arms = 5;
constexpr float k_pinwheel_radial_std = 0.3f;
constexpr float k_pinwheel_tangential_std = 0.1f;
constexpr float k_pinwheel_rate = 0.25f;
constexpr float k_pinwheel_scale = 2.0f;
// S curve: (sin t, sign(t) (cos t - 1)) for t uniform in [-3 pi / 2, 3 pi / 2], as sklearn's
// make_s_curve in its x-z plane, scaled to span about [-1.2, 1.2] x [-2.4, 2.4].
constexpr float k_scurve_scale = 1.2f;
constexpr float k_scurve_noise = 0.08f;

struct Sample {
    float x, y;
    int cls = 0;  // the mode (8gaussians), moon, or filled cell (checkerboard)
};

Sample sample_analytic(DatasetKind kind, Rng& rng) {
    switch (kind) {
        case DatasetKind::Normal: {
            float x = rng.normal();
            return {x, rng.normal()};
        }
        case DatasetKind::Uniform: {
            float x = rng.uniform(-k_sqrt3, k_sqrt3);
            return {x, rng.uniform(-k_sqrt3, k_sqrt3)};
        }
        case DatasetKind::EightGaussians: {
            const int mode = static_cast<int>(rng.below(8));
            float a = static_cast<float>(mode) * (k_pi / 4.0f);
            float nx = rng.normal();
            float ny = rng.normal();
            return {k_gauss8_radius * std::cos(a) + k_gauss8_std * nx,
                    k_gauss8_radius * std::sin(a) + k_gauss8_std * ny, mode};
        }
        case DatasetKind::Moons: {
            bool upper = rng.below(2) == 0;
            float t = rng.uniform() * k_pi;
            float x = upper ? std::cos(t) : 1.0f - std::cos(t);
            float y = upper ? std::sin(t) : 0.5f - std::sin(t);
            float nx = rng.normal();
            float ny = rng.normal();
            return {k_moons_scale * (x - 0.5f) + k_moons_noise * nx,
                    k_moons_scale * (y - 0.25f) + k_moons_noise * ny, upper ? 0 : 1};
        }
        case DatasetKind::Checkerboard: {
            auto col = static_cast<int>(rng.below(k_checker_cells));
            const int half_row = static_cast<int>(rng.below(k_checker_cells / 2));
            int row = 2 * half_row + (col & 1);
            float cell = 2.0f * k_checker_half / k_checker_cells;
            float x = -k_checker_half + cell * (static_cast<float>(col) + rng.uniform());
            float y = -k_checker_half + cell * (static_cast<float>(row) + rng.uniform());
            return {x, y, col * (k_checker_cells / 2) + half_row};
        }
        case DatasetKind::Spirals: {
            bool second = rng.below(2) == 1;
            float t = k_spiral_turn * std::sqrt(rng.uniform());
            float x = -t * std::cos(t) * k_spiral_scale;
            float y = t * std::sin(t) * k_spiral_scale;
            if (second) {
                x = -x;
                y = -y;
            }
            float nx = rng.normal();
            float ny = rng.normal();
            return {x + k_spiral_noise * nx, y + k_spiral_noise * ny};
        }
        case DatasetKind::Circles: {
            float p_inner = k_circle_inner / (k_circle_inner + k_circle_outer);
            float r = rng.uniform() < p_inner ? k_circle_inner : k_circle_outer;
            float a = 2.0f * k_pi * rng.uniform();
            float nx = rng.normal();
            float ny = rng.normal();
            return {r * std::cos(a) + k_circle_noise * nx, r * std::sin(a) + k_circle_noise * ny};
        }
        case DatasetKind::SwissRoll: {
            float t = rng.uniform(k_swiss_t0, k_swiss_t1);
            float nx = rng.normal();
            float ny = rng.normal();
            return {k_swiss_scale * t * std::cos(t) + k_swiss_noise * nx,
                    k_swiss_scale * t * std::sin(t) + k_swiss_noise * ny};
        }
        case DatasetKind::Pinwheel: {
            float arm = static_cast<float>(rng.below(k_pinwheel_arms)) *
                        (2.0f * k_pi / static_cast<float>(k_pinwheel_arms));
            float r = 1.0f + k_pinwheel_radial_std * rng.normal();
            float tng = k_pinwheel_tangential_std * rng.normal();
            float a = arm + k_pinwheel_rate * std::exp(r);
            float c = std::cos(a), s = std::sin(a);
            return {k_pinwheel_scale * (c * r - s * tng), k_pinwheel_scale * (s * r + c * tng)};
        }
        case DatasetKind::SCurve: {
            float t = 3.0f * k_pi * (rng.uniform() - 0.5f);
            float z = (t < 0.0f ? -1.0f : 1.0f) * (std::cos(t) - 1.0f);
            float nx = rng.normal();
            float ny = rng.normal();
            return {k_scurve_scale * std::sin(t) + k_scurve_noise * nx,
                    k_scurve_scale * z + k_scurve_noise * ny};
        }
        case DatasetKind::PointSet:
            break;
    }
    return {0.0f, 0.0f};
}

const std::vector<DatasetKind>& analytic_kinds() {
    static const std::vector<DatasetKind> kinds = {
        DatasetKind::Normal,  DatasetKind::Uniform,      DatasetKind::EightGaussians,
        DatasetKind::Moons,   DatasetKind::Checkerboard, DatasetKind::Spirals,
        DatasetKind::Circles, DatasetKind::SwissRoll,    DatasetKind::Pinwheel,
        DatasetKind::SCurve,
    };
    return kinds;
}

// Lower case without '_', '-' and spaces, so "Swiss_Roll" and "8-gaussians" resolve too.
std::string normalize_name(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '_' || c == '-' || c == ' ') continue;
        out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return out;
}

bool has_csv_extension(const std::string& spec) {
    std::string lower = spec;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    for (const char* ext : {".csv", ".txt", ".tsv"}) {
        std::size_t n = std::strlen(ext);
        if (lower.size() > n && lower.compare(lower.size() - n, n, ext) == 0) return true;
    }
    return false;
}

}  // namespace

Dataset Dataset::from_points(Points points, std::string label, std::vector<uint8_t> classes) {
    if (!classes.empty() && classes.size() != static_cast<std::size_t>(points.rows()))
        throw InputError("point set " + quote_for_message(label) + " has " + std::to_string(classes.size()) +
                         " classes for " + std::to_string(points.rows()) + " points");
    for (uint8_t c : classes)
        if (c >= k_max_classes)
            throw InputError("point set " + quote_for_message(label) + " has class " + std::to_string(c) +
                             "; classes are 0.." + std::to_string(k_max_classes - 1));
    Dataset d = from_points(std::move(points), std::move(label));
    for (uint8_t c : classes) d.m_class_mask = static_cast<uint8_t>(d.m_class_mask | (1u << c));
    if (!classes.empty()) d.m_classes = std::make_shared<const std::vector<uint8_t>>(std::move(classes));
    return d;
}

int Dataset::class_count() const {
    switch (m_kind) {
        case DatasetKind::EightGaussians: return 8;
        case DatasetKind::Moons: return 2;
        case DatasetKind::Checkerboard: return 8;
        case DatasetKind::PointSet: {
            int k = 0;
            while (m_class_mask >> k) ++k;  // the largest class + 1
            return k;
        }
        default: return 0;
    }
}

bool Dataset::has_class(int k) const {
    if (k < 0 || k >= class_count()) return false;
    return m_kind != DatasetKind::PointSet || ((m_class_mask >> k) & 1u);
}

const std::vector<uint8_t>& Dataset::point_classes() const {
    static const std::vector<uint8_t> none;
    return m_classes ? *m_classes : none;
}

Dataset Dataset::from_points(Points points, std::string label) {
    const std::string shown = "point set " + quote_for_message(label);
    if (points.rows() == 0) throw InputError(shown + " has no points");
    if (static_cast<std::size_t>(points.rows()) > k_max_points)
        throw InputError(shown + " has " + std::to_string(points.rows()) +
                         " points, more than the limit of " + std::to_string(k_max_points));
    for (Eigen::Index i = 0; i < points.rows(); ++i) {
        if (!std::isfinite(points(i, 0)) || !std::isfinite(points(i, 1)))
            throw InputError(shown + " has a non-finite value at point " + std::to_string(i));
        if (!(std::fabs(points(i, 0)) <= k_max_coordinate && std::fabs(points(i, 1)) <= k_max_coordinate))
            throw InputError(coordinate_range_error(shown + " at point " + std::to_string(i)));
    }
    Dataset d(DatasetKind::PointSet);
    d.m_points = std::make_shared<const Points>(std::move(points));
    d.m_label = std::move(label);
    return d;
}

std::string Dataset::name() const {
    return m_kind == DatasetKind::PointSet ? m_label : dataset_name(m_kind);
}

const Points& Dataset::points() const {
    static const Points empty(0, 2);
    return m_points ? *m_points : empty;
}

std::size_t Dataset::point_count() const {
    return m_points ? static_cast<std::size_t>(m_points->rows()) : 0;
}

Points Dataset::sample(int n, Rng& rng) const {
    if (n < 0)
        throw InputError("cannot draw a negative number of samples (" + std::to_string(n) + ")");
    Points out(n, 2);
    sample_into(out, rng);
    return out;
}

void Dataset::sample_into(Eigen::Ref<Points> out, Rng& rng) const { sample_into(out, rng, nullptr); }

void Dataset::sample_into(Eigen::Ref<Points> out, Rng& rng, int* classes) const {
    const Eigen::Index n = out.rows();
    if (m_kind == DatasetKind::PointSet) {
        // A PointSet made by the constructor rather than from_points has nothing to draw from.
        if (!m_points || m_points->rows() == 0)
            throw InputError("point set " + quote_for_message(m_label) + " has no points to sample");
        const Points& pts = *m_points;
        const auto count = static_cast<uint32_t>(pts.rows());
        for (Eigen::Index i = 0; i < n; ++i) {
            auto j = static_cast<Eigen::Index>(rng.below(count));
            out(i, 0) = pts(j, 0);
            out(i, 1) = pts(j, 1);
            if (classes) classes[i] = m_classes ? (*m_classes)[static_cast<std::size_t>(j)] : 0;
        }
        return;
    }
    const bool labelled = class_count() > 0;
    for (Eigen::Index i = 0; i < n; ++i) {
        Sample s = sample_analytic(m_kind, rng);
        out(i, 0) = s.x;
        out(i, 1) = s.y;
        if (classes) classes[i] = labelled ? s.cls : 0;
    }
}

bool Dataset::has_density() const {
    return m_kind == DatasetKind::Normal || m_kind == DatasetKind::Uniform ||
           m_kind == DatasetKind::EightGaussians || m_kind == DatasetKind::Checkerboard;
}

void Dataset::log_density(const Points& x, VectorF& log_p) const {
    if (!has_density())
        throw InputError("the density of " + quote_for_message(name()) +
                         " is not known in closed form (known: normal, uniform, 8gaussians, "
                         "checkerboard)");
    constexpr double log_2pi = 1.8378770664093453;
    const double inf = std::numeric_limits<double>::infinity();
    log_p.resize(x.rows());
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
        const double px = x(i, 0), py = x(i, 1);
        double lp = 0.0;
        switch (m_kind) {
            case DatasetKind::Normal: lp = -log_2pi - 0.5 * (px * px + py * py); break;
            case DatasetKind::Uniform: {
                const bool inside = std::abs(px) <= k_sqrt3 && std::abs(py) <= k_sqrt3;
                lp = inside ? -std::log(12.0) : -inf;  // area (2 sqrt 3)^2 = 12
                break;
            }
            case DatasetKind::EightGaussians: {
                // log of the mean of 8 isotropic normals, with the largest term factored out.
                const double var = double(k_gauss8_std) * k_gauss8_std;
                double e[8], top = -inf;
                for (int k = 0; k < 8; ++k) {
                    const double a = k * (double(k_pi) / 4.0);
                    const double dx = px - k_gauss8_radius * std::cos(a);
                    const double dy = py - k_gauss8_radius * std::sin(a);
                    e[k] = -(dx * dx + dy * dy) / (2.0 * var);
                    top = std::max(top, e[k]);
                }
                double sum = 0.0;
                for (double v : e) sum += std::exp(v - top);
                lp = top + std::log(sum / 8.0) - log_2pi - std::log(var);
                break;
            }
            case DatasetKind::Checkerboard: {
                const double cell = 2.0 * k_checker_half / k_checker_cells;
                const double cx = std::floor((px + k_checker_half) / cell);
                const double cy = std::floor((py + k_checker_half) / cell);
                const bool on_board = cx >= 0 && cy >= 0 && cx < k_checker_cells && cy < k_checker_cells;
                const bool filled = on_board && (static_cast<int>(cx) + static_cast<int>(cy)) % 2 == 0;
                // Half the cells carry all the mass uniformly.
                const double area = 0.5 * (2.0 * k_checker_half) * (2.0 * k_checker_half);
                lp = filled ? -std::log(area) : -inf;
                break;
            }
            default: break;
        }
        log_p[i] = static_cast<float>(lp);
    }
}

const std::vector<std::string>& dataset_names() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> v;
        for (DatasetKind k : analytic_kinds()) v.push_back(dataset_name(k));
        return v;
    }();
    return names;
}

std::string dataset_name(DatasetKind kind) {
    switch (kind) {
        case DatasetKind::Normal:
            return "normal";
        case DatasetKind::Uniform:
            return "uniform";
        case DatasetKind::EightGaussians:
            return "8gaussians";
        case DatasetKind::Moons:
            return "moons";
        case DatasetKind::Checkerboard:
            return "checkerboard";
        case DatasetKind::Spirals:
            return "spirals";
        case DatasetKind::Circles:
            return "circles";
        case DatasetKind::SwissRoll:
            return "swissroll";
        case DatasetKind::Pinwheel:
            return "pinwheel";
        case DatasetKind::SCurve:
            return "scurve";
        case DatasetKind::PointSet:
            return "points";
    }
    return "points";
}

std::optional<DatasetKind> dataset_kind_from_name(const std::string& name) {
    std::string key = normalize_name(name);
    for (DatasetKind k : analytic_kinds())
        if (key == dataset_name(k)) return k;
    if (key == "eightgaussians") return DatasetKind::EightGaussians;
    return std::nullopt;
}

std::string dataset_description(DatasetKind kind) {
    switch (kind) {
        case DatasetKind::Normal:
            return "Standard normal N(0, I): mean 0, variance 1 per axis";
        case DatasetKind::Uniform:
            return "Uniform on the square [-1.732, 1.732]^2 (variance 1 per axis)";
        case DatasetKind::EightGaussians:
            return "8 Gaussians (std 0.2) with centres evenly spaced on a circle of radius 2.5";
        case DatasetKind::Moons:
            return "Two interleaved half circles of radius 1.6 spanning x in [-2.4, 2.4], noise "
                   "std 0.08";
        case DatasetKind::Checkerboard:
            return "4x4 checkerboard over [-2, 2]^2 with unit cells, alternate cells filled "
                   "uniformly";
        case DatasetKind::Spirals:
            return "Two interleaved spiral arms r = t/3 for t up to 3 pi (radius up to 3.14), "
                   "noise std 0.1";
        case DatasetKind::Circles:
            return "Two concentric circles of radii 1 and 2.5, equal density along both, noise std "
                   "0.08";
        case DatasetKind::SwissRoll:
            return "2D swiss roll r = t/5 for t in [1.5 pi, 4.5 pi] (radius 0.94 to 2.83), noise "
                   "std 0.1";
        case DatasetKind::Pinwheel:
            return "5-armed pinwheel of radius about 2 (radial std 0.6, tangential std 0.2, twist "
                   "0.25)";
        case DatasetKind::SCurve:
            return "S curve (sin t, sign(t)(cos t - 1)) x 1.2 for t in [-1.5 pi, 1.5 pi] (sklearn's "
                   "make_s_curve, x-z plane), noise std 0.08";
        case DatasetKind::PointSet:
            return "A user point set (CSV file, drawing, image or text), sampled uniformly with "
                   "replacement";
    }
    return "";
}

Dataset make_dataset(const std::string& spec) {
    if (auto kind = dataset_kind_from_name(spec)) return Dataset(*kind);
    if (spec.rfind("image:", 0) == 0) return Dataset::from_points(image_to_points(spec.substr(6), {}), spec);
    if (spec.rfind("text:", 0) == 0) return Dataset::from_points(text_to_points(spec.substr(5), {}), spec);
    std::error_code ec;
    if (!spec.empty() && (has_csv_extension(spec) || std::filesystem::is_regular_file(spec, ec)))
    {
        LabelledPoints csv = load_labelled_points_csv(spec);
        return Dataset::from_points(std::move(csv.points), spec, std::move(csv.classes));
    }
    throw InputError("unknown dataset " + quote_for_message(spec) + ": choose one of " +
                     join_names(dataset_names()) +
                     ", a CSV file of x,y points, image:FILE.png or text:WORDS");
}

}  // namespace fmp
