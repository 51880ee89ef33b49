// The view's colour maps: categorical mode colours, the position colour field, the speed ramp.
#include "app/render/palette.h"

#include <algorithm>
#include <cmath>

namespace fmp {

uint32_t mode_color(int mode) {
    // The first eight are far apart in hue and lightness (8gaussians, checkerboard use them all).
    static const uint32_t colors[12] = {
        rgba8(86, 204, 242, 255),  rgba8(247, 92, 150, 255),  rgba8(255, 209, 102, 255),
        rgba8(6, 214, 160, 255),   rgba8(167, 139, 250, 255), rgba8(255, 140, 66, 255),
        rgba8(181, 228, 140, 255), rgba8(235, 235, 240, 255), rgba8(239, 71, 111, 255),
        rgba8(144, 224, 239, 255), rgba8(224, 170, 255, 255), rgba8(46, 196, 182, 255)};
    return colors[((mode % 12) + 12) % 12];
}

uint32_t class_color(int k) { return k < 0 ? palette::unconditional : mode_color(k % 8); }

uint32_t position_color(float x, float y, float scale) {
    // HSV with the hue from the angle: neighbours get similar colours, opposite sides contrast.
    float hue = (std::atan2(y, x) + 3.14159265f) / (2.0f * 3.14159265f);
    float r = std::min(1.0f, std::sqrt(x * x + y * y) / std::max(scale, 1e-6f));
    float sat = 0.25f + 0.6f * r;
    float val = 0.98f - 0.12f * r;
    float h6 = hue * 6.0f;
    int i = static_cast<int>(h6) % 6;
    float f = h6 - std::floor(h6);
    float p = val * (1 - sat), q = val * (1 - sat * f), t = val * (1 - sat * (1 - f));
    float rr, gg, bb;
    switch (i) {
        case 0:
            rr = val, gg = t, bb = p;
            break;
        case 1:
            rr = q, gg = val, bb = p;
            break;
        case 2:
            rr = p, gg = val, bb = t;
            break;
        case 3:
            rr = p, gg = q, bb = val;
            break;
        case 4:
            rr = t, gg = p, bb = val;
            break;
        default:
            rr = val, gg = p, bb = q;
            break;
    }
    return rgba8(static_cast<int>(rr * 255), static_cast<int>(gg * 255), static_cast<int>(bb * 255),
                 255);
}

uint32_t speed_color(float s) {
    s = std::clamp(s, 0.0f, 1.0f);
    // Slate blue -> teal -> warm white -> amber.
    const float stops[4][3] = {{95, 120, 200}, {80, 200, 200}, {235, 235, 220}, {255, 170, 70}};
    float x = s * 3.0f;
    int i = std::min(static_cast<int>(x), 2);
    float f = x - i;
    auto mix = [&](int k) {
        return static_cast<int>(stops[i][k] + f * (stops[i + 1][k] - stops[i][k]));
    };
    return rgba8(mix(0), mix(1), mix(2), 255);
}

}  // namespace fmp
