// Target modes: connected components of the occupied cells of a grid over a target sample.
#include "app/render/mode_map.h"

#include <algorithm>
#include <deque>

namespace fmp {
namespace {

constexpr int k_max_modes = 12;

}  // namespace

int ModeMap::mode_of(float x, float y) const {
    if (n <= 0) return 0;
    Eigen::Vector2f size = box.sizes();
    int cx = static_cast<int>((x - box.min().x()) / size.x() * n);
    int cy = static_cast<int>((y - box.min().y()) / size.y() * n);
    cx = std::clamp(cx, 0, n - 1);
    cy = std::clamp(cy, 0, n - 1);
    return label[static_cast<std::size_t>(cy) * n + cx];
}

ModeMap ModeMap::build(const Points& sample) {
    ModeMap map;
    if (sample.rows() == 0) return map;
    // Robust bounds: ignore the outermost 0.5% so one far sample does not shrink every cell.
    auto quantile = [&](int col, double q) {
        std::vector<float> v(static_cast<std::size_t>(sample.rows()));
        for (Eigen::Index i = 0; i < sample.rows(); ++i)
            v[i] = sample(i, col);  // rows are x,y pairs
        std::size_t k = static_cast<std::size_t>(q * (v.size() - 1));
        std::nth_element(v.begin(), v.begin() + k, v.end());
        return v[k];
    };
    Eigen::Vector2f lo(quantile(0, 0.005), quantile(1, 0.005)),
        hi(quantile(0, 0.995), quantile(1, 0.995));
    Eigen::Vector2f pad = (hi - lo).cwiseMax(1e-3f) * 0.06f;
    lo -= pad;
    hi += pad;
    // Square cells so modes separated by the same gap are treated the same along x and y.
    float side = std::max(hi.x() - lo.x(), hi.y() - lo.y());
    Eigen::Vector2f c = 0.5f * (lo + hi);
    map.box = Eigen::AlignedBox2f(c - Eigen::Vector2f::Constant(side / 2),
                                  c + Eigen::Vector2f::Constant(side / 2));
    map.n = 40;
    const int n = map.n;
    std::vector<int> counts(static_cast<std::size_t>(n) * n, 0);
    for (Eigen::Index i = 0; i < sample.rows(); ++i) {
        int cx = static_cast<int>((sample(i, 0) - map.box.min().x()) / side * n);
        int cy = static_cast<int>((sample(i, 1) - map.box.min().y()) / side * n);
        if (cx < 0 || cy < 0 || cx >= n || cy >= n) continue;
        counts[static_cast<std::size_t>(cy) * n + cx]++;
    }
    // Connected components of occupied cells (4-neighbours: checkerboard squares that only touch
    // at corners stay apart).
    std::vector<int> comp(counts.size(), -1);
    std::vector<int> comp_size;
    for (std::size_t start = 0; start < counts.size(); ++start) {
        if (counts[start] == 0 || comp[start] >= 0) continue;
        int id = static_cast<int>(comp_size.size());
        int total = 0;
        std::vector<std::size_t> stack{start};
        comp[start] = id;
        while (!stack.empty()) {
            std::size_t cell = stack.back();
            stack.pop_back();
            total += counts[cell];
            int cx = static_cast<int>(cell % n), cy = static_cast<int>(cell / n);
            const int dx[4] = {1, -1, 0, 0}, dy[4] = {0, 0, 1, -1};
            for (int k = 0; k < 4; ++k) {
                int x = cx + dx[k], y = cy + dy[k];
                if (x < 0 || y < 0 || x >= n || y >= n) continue;
                std::size_t nb = static_cast<std::size_t>(y) * n + x;
                if (counts[nb] > 0 && comp[nb] < 0) {
                    comp[nb] = id;
                    stack.push_back(nb);
                }
            }
        }
        comp_size.push_back(total);
    }
    // Keep the components holding at least 2% of the sample (stray tail samples are not modes),
    // the largest first, at most k_max_modes.
    std::vector<int> order(comp_size.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
    std::sort(order.begin(), order.end(),
              [&](int a, int b) { return comp_size[a] > comp_size[b]; });
    std::vector<int> remap(comp_size.size(), -1);
    int kept = 0;
    for (int id : order) {
        if (kept >= k_max_modes || comp_size[id] < 0.02 * sample.rows()) break;
        remap[id] = kept++;
    }
    if (kept == 0) kept = 1, remap[order[0]] = 0;
    map.count = kept;
    // Multi-source BFS: every other cell takes the label of the nearest kept mode.
    map.label.assign(counts.size(), 255);
    std::deque<std::size_t> queue;
    for (std::size_t cell = 0; cell < counts.size(); ++cell)
        if (comp[cell] >= 0 && remap[comp[cell]] >= 0) {
            map.label[cell] = static_cast<uint8_t>(remap[comp[cell]]);
            queue.push_back(cell);
        }
    while (!queue.empty()) {
        std::size_t cell = queue.front();
        queue.pop_front();
        int cx = static_cast<int>(cell % n), cy = static_cast<int>(cell / n);
        for (int dy = -1; dy <= 1; ++dy)
            for (int dx = -1; dx <= 1; ++dx) {
                int x = cx + dx, y = cy + dy;
                if (x < 0 || y < 0 || x >= n || y >= n) continue;
                std::size_t nb = static_cast<std::size_t>(y) * n + x;
                if (map.label[nb] == 255) {
                    map.label[nb] = map.label[cell];
                    queue.push_back(nb);
                }
            }
    }
    return map;
}

}  // namespace fmp
