// Spray/erase strokes on a point set with per-stroke undo; the rules are documented in brush.h.
#include "core/data/brush.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/data/dataset.h"
#include "core/data/point_io.h"

namespace fmp {

namespace {

void check_finite(const char* what, float x, float y, float radius) {
    if (!std::isfinite(x) || !std::isfinite(y))
        throw InputError(std::string(what) + ": the brush centre must be finite");
    if (!(radius > 0.0f) || !std::isfinite(radius))
        throw InputError(std::string(what) + ": the brush radius must be a positive number (got " +
                         std::to_string(radius) + ")");
}

}  // namespace

PointSetEditor::PointSetEditor(uint64_t seed, std::size_t max_points, std::size_t max_undo,
                               std::size_t max_undo_bytes)
    : m_rng(seed), m_max_points(max_points), m_max_undo(max_undo),
      m_max_undo_bytes(max_undo_bytes) {}

namespace {

void check_classes(const Points& points, const std::vector<uint8_t>& classes) {
    if (!classes.empty() && classes.size() != static_cast<std::size_t>(points.rows()))
        throw InputError("a drawn set needs one class per point (" + std::to_string(points.rows()) +
                         " points, " + std::to_string(classes.size()) + " classes)");
    for (uint8_t c : classes)
        if (c >= k_max_classes)
            throw InputError("a drawn point's class must be 0.." + std::to_string(k_max_classes - 1));
}

}  // namespace

void PointSetEditor::reset(const Points& points, const std::vector<uint8_t>& classes) {
    check_classes(points, classes);
    m_in_stroke = false;
    m_stroke_removed = false;
    m_undo.clear();
    m_redo.clear();
    m_before.clear();
    m_before_cls.clear();
    const auto n = std::min<std::size_t>(static_cast<std::size_t>(points.rows()), m_max_points);
    m_xy.assign(points.data(), points.data() + 2 * n);
    if (classes.empty())
        m_cls.assign(n, 0);
    else
        m_cls.assign(classes.begin(), classes.begin() + static_cast<std::ptrdiff_t>(n));
    recount();
    touch();
}

void PointSetEditor::replace(const Points& points, const std::vector<uint8_t>& classes) {
    check_classes(points, classes);
    if (m_in_stroke) end_stroke();
    begin_stroke();
    snapshot_before_removal();
    const auto n = std::min<std::size_t>(static_cast<std::size_t>(points.rows()), m_max_points);
    m_xy.assign(points.data(), points.data() + 2 * n);
    if (classes.empty())
        m_cls.assign(n, 0);
    else
        m_cls.assign(classes.begin(), classes.begin() + static_cast<std::ptrdiff_t>(n));
    recount();
    touch();
    end_stroke();
}

void PointSetEditor::set_paint_class(int cls) {
    if (cls < 0 || cls >= k_max_classes)
        throw InputError("the paint class must be 0.." + std::to_string(k_max_classes - 1) + " (got " +
                         std::to_string(cls) + ")");
    m_paint_class = cls;
}

int PointSetEditor::class_count() const {
    int k = 0;
    for (int c = 0; c < k_max_classes; ++c)
        if (m_class_points[static_cast<std::size_t>(c)] > 0) k = c + 1;
    return k;
}

void PointSetEditor::recount() {
    m_class_points.fill(0);
    for (uint8_t c : m_cls) ++m_class_points[c];
}

void PointSetEditor::begin_stroke() {
    if (m_in_stroke) end_stroke();
    m_in_stroke = true;
    m_has_prev = false;
    m_carry = 0.0;
    m_stroke_start = count();
    m_stroke_removed = false;
    m_before.clear();
    m_before_cls.clear();
}

// Called before the first removal of a stroke. Until then the stroke has only appended, so the
// state at begin_stroke is the first m_stroke_start points.
void PointSetEditor::snapshot_before_removal() {
    if (m_stroke_removed) return;
    m_before.assign(m_xy.begin(), m_xy.begin() + static_cast<std::ptrdiff_t>(2 * m_stroke_start));
    m_before_cls.assign(m_cls.begin(), m_cls.begin() + static_cast<std::ptrdiff_t>(m_stroke_start));
    m_stroke_removed = true;
}

std::size_t PointSetEditor::spray(float x, float y, float radius, float density) {
    check_finite("spray", x, y, radius);
    if (!(density >= 0.0f) || !std::isfinite(density))
        throw InputError("spray: the density must be a non-negative number of points per unit "
                         "area (got " + std::to_string(density) + ")");
    if (!m_in_stroke) begin_stroke();

    const double pi = 3.14159265358979323846;
    float ax = x, ay = y;  // the segment this event covers
    double expected = 0.0;
    if (!m_has_prev) {
        expected = static_cast<double>(density) * pi * radius * radius;
    } else {
        ax = m_prev_x, ay = m_prev_y;
        double d = std::hypot(static_cast<double>(x - ax), static_cast<double>(y - ay));
        expected = static_cast<double>(density) * 2.0 * radius * d;
    }
    m_prev_x = x, m_prev_y = y;
    m_has_prev = true;

    m_carry += expected;
    double whole = std::floor(m_carry);
    m_carry -= whole;
    const std::size_t room = m_max_points - std::min(m_max_points, count());
    std::size_t n = whole >= static_cast<double>(room) ? room : static_cast<std::size_t>(whole);
    if (static_cast<double>(n) < whole) m_carry = 0.0;  // at the cap: owe nothing
    if (n == 0) return 0;

    if (m_xy.size() + 2 * n > m_xy.capacity())
        m_xy.reserve(std::max(m_xy.size() + 2 * n, 2 * m_xy.capacity()));
    if (m_cls.size() + n > m_cls.capacity()) m_cls.reserve(std::max(m_cls.size() + n, 2 * m_cls.capacity()));
    const float two_pi = 6.28318530717958647692f;
    std::size_t added = 0;
    for (std::size_t i = 0; i < n; ++i) {
        float t = m_rng.uniform();
        float rr = radius * std::sqrt(m_rng.uniform());
        float a = two_pi * m_rng.uniform();
        float px = ax + t * (x - ax) + rr * std::cos(a), py = ay + t * (y - ay) + rr * std::sin(a);
        // The plane ends at the coordinate limit every point set obeys: paint beyond it is lost.
        if (!(std::fabs(px) <= k_max_coordinate && std::fabs(py) <= k_max_coordinate)) continue;
        m_xy.push_back(px);
        m_xy.push_back(py);
        m_cls.push_back(static_cast<uint8_t>(m_paint_class));
        ++m_class_points[static_cast<std::size_t>(m_paint_class)];
        ++added;
    }
    if (added == 0) return 0;
    touch();
    return added;
}

std::size_t PointSetEditor::erase(float x, float y, float radius) {
    check_finite("erase", x, y, radius);
    if (!m_in_stroke) begin_stroke();
    const float ax = m_has_prev ? m_prev_x : x, ay = m_has_prev ? m_prev_y : y;
    m_prev_x = x, m_prev_y = y;
    m_has_prev = true;

    const float ux = x - ax, uy = y - ay;
    const float len2 = ux * ux + uy * uy;
    const float inv_len2 = len2 > 0.0f ? 1.0f / len2 : 0.0f;
    const float r2 = radius * radius;
    // The capsule's bounding box rejects most points with four compares.
    const float bx0 = std::min(ax, x) - radius, bx1 = std::max(ax, x) + radius;
    const float by0 = std::min(ay, y) - radius, by1 = std::max(ay, y) + radius;
    auto inside = [&](float px, float py) {
        if (px < bx0 || px > bx1 || py < by0 || py > by1) return false;
        float dx = px - ax, dy = py - ay;
        if (len2 > 0.0f) {
            float t = std::clamp((dx * ux + dy * uy) * inv_len2, 0.0f, 1.0f);
            dx -= t * ux;
            dy -= t * uy;
        }
        return dx * dx + dy * dy <= r2;
    };

    const std::size_t n = count();
    std::size_t first = 0;
    while (first < n && !inside(m_xy[2 * first], m_xy[2 * first + 1])) ++first;
    if (first == n) return 0;
    snapshot_before_removal();
    --m_class_points[m_cls[first]];  // the first point inside goes too
    std::size_t out = first;
    for (std::size_t i = first + 1; i < n; ++i) {
        float px = m_xy[2 * i], py = m_xy[2 * i + 1];
        if (inside(px, py)) {
            --m_class_points[m_cls[i]];
            continue;
        }
        m_xy[2 * out] = px;
        m_xy[2 * out + 1] = py;
        m_cls[out] = m_cls[i];
        ++out;
    }
    m_xy.resize(2 * out);
    m_cls.resize(out);
    touch();
    return n - out;
}

void PointSetEditor::clear() {
    if (count() == 0) return;
    const bool own_stroke = !m_in_stroke;
    if (own_stroke) begin_stroke();
    snapshot_before_removal();
    m_xy.clear();
    m_cls.clear();
    m_class_points.fill(0);
    touch();
    if (own_stroke) end_stroke();
}

void PointSetEditor::end_stroke() {
    if (!m_in_stroke) return;
    m_in_stroke = false;
    m_has_prev = false;
    if (m_stroke_removed) {
        m_stroke_removed = false;
        if (m_before == m_xy && m_before_cls == m_cls) {
            m_before.clear();
            m_before_cls.clear();
            return;
        }
        Step s;
        s.append_only = false;
        s.xy = std::move(m_before);
        s.cls = std::move(m_before_cls);
        m_before = {};
        m_before_cls = {};
        push_undo(std::move(s));
    } else if (count() > m_stroke_start) {
        Step s;
        s.append_only = true;
        s.keep = m_stroke_start;
        s.xy.assign(m_xy.begin() + static_cast<std::ptrdiff_t>(2 * m_stroke_start), m_xy.end());
        s.cls.assign(m_cls.begin() + static_cast<std::ptrdiff_t>(m_stroke_start), m_cls.end());
        push_undo(std::move(s));
    }
}

std::size_t PointSetEditor::history_bytes() const {
    std::size_t b = 0;
    for (const Step& s : m_undo) b += s.bytes();
    for (const Step& s : m_redo) b += s.bytes();
    return b;
}

void PointSetEditor::push_undo(Step step) {
    m_redo.clear();
    m_undo.push_back(std::move(step));
    while (!m_undo.empty() &&
           (m_undo.size() > m_max_undo || history_bytes() > m_max_undo_bytes))
        m_undo.pop_front();
}

bool PointSetEditor::undo() {
    if (m_in_stroke) end_stroke();
    if (m_undo.empty()) return false;
    Step s = std::move(m_undo.back());
    m_undo.pop_back();
    if (s.append_only) {
        m_xy.resize(2 * s.keep);
        m_cls.resize(s.keep);
    } else {
        std::swap(m_xy, s.xy);
        std::swap(m_cls, s.cls);
    }
    recount();
    m_redo.push_back(std::move(s));
    touch();
    return true;
}

bool PointSetEditor::redo() {
    if (m_in_stroke) end_stroke();
    if (m_redo.empty()) return false;
    Step s = std::move(m_redo.back());
    m_redo.pop_back();
    if (s.append_only) {
        m_xy.insert(m_xy.end(), s.xy.begin(), s.xy.end());
        m_cls.insert(m_cls.end(), s.cls.begin(), s.cls.end());
    } else {
        std::swap(m_xy, s.xy);
        std::swap(m_cls, s.cls);
    }
    recount();
    m_undo.push_back(std::move(s));
    // A swapped-in state can be larger than the one it replaced; keep the budget.
    while (!m_undo.empty() && history_bytes() > m_max_undo_bytes) m_undo.pop_front();
    touch();
    return true;
}

Eigen::Map<const Points> PointSetEditor::view() const {
    return Eigen::Map<const Points>(m_xy.data(), static_cast<Eigen::Index>(count()), 2);
}

Points PointSetEditor::points() const { return view(); }

}  // namespace fmp
