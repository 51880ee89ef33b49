// Scene renderer: one soft round sprite per point, expanded from an instanced quad in pixel space.
#version 430 core
layout(location = 0) in vec2 a_position;  // per instance, world units
layout(location = 1) in vec4 a_color;     // per instance (or a constant attribute)
layout(location = 2) in vec2 a_position_b;  // per instance: the next trajectory slice (GPU path)

uniform float u_mix;        // 0: a_position, 1: a_position_b

uniform vec2 u_center;      // world point at the viewport centre
uniform float u_ppu;        // pixels per world unit
uniform vec2 u_viewport;    // viewport size in pixels
uniform float u_size_px;    // sprite diameter

out vec2 v_local;           // pixels from the sprite centre
out vec4 v_color;

const vec2 k_corners[4] = vec2[](vec2(-1.0, -1.0), vec2(1.0, -1.0), vec2(-1.0, 1.0), vec2(1.0, 1.0));

void main() {
    vec2 corner = k_corners[gl_VertexID];
    float radius = u_size_px * 0.5 + 1.0;  // one extra pixel for the anti-aliased rim
    vec2 px = (mix(a_position, a_position_b, u_mix) - u_center) * u_ppu + corner * radius;
    gl_Position = vec4(px / (0.5 * u_viewport), 0.0, 1.0);
    v_local = corner * radius;
    v_color = a_color;
}
