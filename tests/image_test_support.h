// Helpers for the tests that look at pictures: load a PNG, count coloured, changed or
// palette-coloured pixels, and a region's colour statistics.
#pragma once
#include <doctest/doctest.h>
#include <stb/stb_image.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <vector>

namespace fmp::test {

struct Image {
    int w = 0, h = 0;
    std::vector<unsigned char> rgba;
    const unsigned char* at(int x, int y) const {
        return rgba.data() + (static_cast<std::size_t>(y) * w + x) * 4;
    }
};

inline Image load(const std::filesystem::path& path) {
    Image img;
    int n = 0;
    unsigned char* data = stbi_load(path.string().c_str(), &img.w, &img.h, &n, 4);
    REQUIRE_MESSAGE(data != nullptr, "cannot read " << path);
    img.rgba.assign(data, data + static_cast<std::size_t>(img.w) * img.h * 4);
    stbi_image_free(data);
    return img;
}

// Distinct colours (quantised to 5 bits per channel) and the luminance variance of a region.
inline void stats(const Image& img, int x0, int y0, int x1, int y1, std::size_t& colours,
                  double& variance) {
    std::set<uint32_t> seen;
    double sum = 0, sum2 = 0;
    std::size_t n = 0;
    for (int y = y0; y < y1; ++y)
        for (int x = x0; x < x1; ++x) {
            const unsigned char* p = img.at(x, y);
            seen.insert((p[0] >> 3) | ((p[1] >> 3) << 5) | ((p[2] >> 3) << 10));
            double l = 0.2126 * p[0] + 0.7152 * p[1] + 0.0722 * p[2];
            sum += l;
            sum2 += l * l;
            ++n;
        }
    colours = seen.size();
    double mean = sum / n;
    variance = sum2 / n - mean * mean;
}

// Pixels whose colour differs by more than `threshold` (sum over channels).
inline std::size_t changed_pixels(const Image& a, const Image& b, int threshold = 24) {
    REQUIRE(a.w == b.w);
    REQUIRE(a.h == b.h);
    std::size_t n = 0;
    for (std::size_t i = 0; i < a.rgba.size(); i += 4) {
        int d = std::abs(a.rgba[i] - b.rgba[i]) + std::abs(a.rgba[i + 1] - b.rgba[i + 1]) +
                std::abs(a.rgba[i + 2] - b.rgba[i + 2]);
        if (d > threshold) ++n;
    }
    return n;
}

// Pixels that are clearly coloured (saturated), as particles and the heatmap are and the dark
// background and grey grid are not.
inline std::size_t coloured_pixels(const Image& img) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < img.rgba.size(); i += 4) {
        int mx = std::max({img.rgba[i], img.rgba[i + 1], img.rgba[i + 2]});
        int mn = std::min({img.rgba[i], img.rgba[i + 1], img.rgba[i + 2]});
        if (mx > 90 && mx - mn > 50) ++n;
    }
    return n;
}

// Pixels within `tolerance` (per channel) of the colour r, g, b.
inline std::size_t pixels_near(const Image& img, int r, int g, int b, int tolerance = 30) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < img.rgba.size(); i += 4)
        if (std::abs(img.rgba[i] - r) <= tolerance && std::abs(img.rgba[i + 1] - g) <= tolerance &&
            std::abs(img.rgba[i + 2] - b) <= tolerance)
            ++n;
    return n;
}

}  // namespace fmp::test
