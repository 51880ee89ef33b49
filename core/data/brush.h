// The drawing model behind the canvas: a point set edited by spray and erase strokes, with undo.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "core/base/rng.h"
#include "core/base/types.h"

namespace fmp {

// A point set that a brush paints into. GUI-independent: the canvas calls begin_stroke() on mouse
// down, spray()/erase() on every mouse event with the cursor in data coordinates, end_stroke() on
// mouse up; each stroke is one undo step.
//
// Spray density rule: `density` is points per unit of data area. The first event of a stroke lays
// a dab of density * pi r^2 points in the disc; every later event lays density * 2 r d points,
// d the distance from the previous event's centre, spread along that segment (each point is a
// uniform point of the disc centred at a uniform position on the segment). A stroke thus lays the
// same number of points per unit length whether the mouse moved fast (few long steps) or slowly
// (many short ones). The fractional part of each event's count is carried to the next event
// instead of rounding (or a per-event minimum), which would make slow strokes denser. Holding the
// mouse still adds nothing after the first dab.
//
// Erasing removes the points within distance r of the segment from the previous event's centre to
// this one (the disc itself on a stroke's first event), so a fast drag leaves no gaps.
//
// Memory: points are stored as x,y pairs in one growable buffer (appends are amortised O(1),
// erase is one O(n) compaction that keeps order). Undo keeps at most max_undo strokes and at most
// max_undo_bytes of snapshots: a stroke that only added points stores just those points; one that
// erased stores the set as it was before.
class PointSetEditor {
public:
    explicit PointSetEditor(uint64_t seed = 1, std::size_t max_points = 2'000'000,
                            std::size_t max_undo = 50, std::size_t max_undo_bytes = 256u << 20);

    // Replaces the set and forgets the history (e.g. when another dataset is loaded). `classes`
    // gives each point's class (as many as points); empty: every point class 0.
    void reset(const Points& points, const std::vector<uint8_t>& classes = {});
    // Replaces the set as one undoable step (e.g. an import into the drawing).
    void replace(const Points& points, const std::vector<uint8_t>& classes = {});

    // The class (0..7) that spray() gives the points it lays: a drawn set painted in several
    // class colours is a labelled target for class-conditional flows. Erase removes any class.
    void set_paint_class(int cls);  // InputError outside 0..7
    int paint_class() const { return m_paint_class; }

    void begin_stroke();
    // Adds points as described above; returns how many were added (0 at the max_points cap).
    // radius > 0 and density >= 0 (finite), otherwise InputError.
    std::size_t spray(float x, float y, float radius, float density);
    // Removes points within radius of the stroke segment; returns how many were removed.
    std::size_t erase(float x, float y, float radius);
    // Empties the set: part of the open stroke if there is one, else a stroke of its own.
    void clear();
    // Commits the stroke as one undo step (nothing is recorded if it changed nothing) and clears
    // the redo history when it did change something.
    void end_stroke();
    bool in_stroke() const { return m_in_stroke; }

    // Undo/redo whole strokes; an open stroke is ended first. Return false when there is nothing.
    bool undo();
    bool redo();
    bool can_undo() const { return !m_undo.empty() || m_in_stroke; }
    bool can_redo() const { return !m_redo.empty(); }
    std::size_t undo_depth() const { return m_undo.size(); }
    std::size_t redo_depth() const { return m_redo.size(); }

    // The current set: a view (valid until the next edit) and a copy.
    Eigen::Map<const Points> view() const;
    Points points() const;
    // Each point's class, in the order of points().
    const std::vector<uint8_t>& classes() const { return m_cls; }
    // How many classes the set uses: the largest class + 1 (0 when empty).
    int class_count() const;
    std::size_t count() const { return m_xy.size() / 2; }
    std::size_t max_points() const { return m_max_points; }
    bool full() const { return count() >= m_max_points; }
    // Increases on every change, so a caller can rebuild its dataset only when something changed.
    uint64_t revision() const { return m_revision; }
    // Bytes held by the undo and redo histories.
    std::size_t history_bytes() const;

private:
    // An undo step. Append steps keep the added points (undo truncates, redo re-appends); full
    // steps keep the other whole state and swap it with the current one on undo and redo.
    struct Step {
        bool append_only = true;
        std::size_t keep = 0;        // points before the stroke (append steps)
        std::vector<float> xy;       // the appended points, or the other whole state
        std::vector<uint8_t> cls;    // their classes
        std::size_t bytes() const { return xy.capacity() * sizeof(float) + cls.capacity(); }
    };

    void snapshot_before_removal();
    void push_undo(Step step);
    void touch() { ++m_revision; }

    std::vector<float> m_xy;
    std::vector<uint8_t> m_cls;  // one class per point, kept in step with m_xy
    // Points per class, kept as points come and go, so class_count() (asked every frame while
    // drawing) never scans the set.
    std::array<std::size_t, 8> m_class_points{};
    void recount();
    int m_paint_class = 0;
    Rng m_rng;
    std::size_t m_max_points;
    std::size_t m_max_undo;
    std::size_t m_max_undo_bytes;
    std::deque<Step> m_undo;
    std::vector<Step> m_redo;
    uint64_t m_revision = 0;

    // The open stroke.
    bool m_in_stroke = false;
    bool m_has_prev = false;
    float m_prev_x = 0.0f, m_prev_y = 0.0f;
    double m_carry = 0.0;            // fractional points owed to the next spray event
    std::size_t m_stroke_start = 0;  // count at begin_stroke
    bool m_stroke_removed = false;   // a removal happened: m_before holds the start state
    std::vector<float> m_before;
    std::vector<uint8_t> m_before_cls;
};

}  // namespace fmp
