// Scene renderer: one capsule per line segment, expanded from an instanced quad in pixel space.
#version 430 core
layout(location = 0) in vec4 a_ends;      // per instance: a.xy, b.xy in world units
layout(location = 1) in vec4 a_color_a;   // per instance
layout(location = 2) in vec4 a_color_b;   // per instance
layout(location = 3) in float a_width;    // per instance, pixels

uniform vec2 u_center;
uniform float u_ppu;
uniform vec2 u_viewport;

out vec2 v_local;        // (along, across) in pixels from end a
flat out float v_length;
flat out float v_half_width;
out vec4 v_color;

const vec2 k_corners[4] = vec2[](vec2(0.0, -1.0), vec2(1.0, -1.0), vec2(0.0, 1.0), vec2(1.0, 1.0));

void main() {
    vec2 corner = k_corners[gl_VertexID];
    vec2 pa = (a_ends.xy - u_center) * u_ppu;
    vec2 pb = (a_ends.zw - u_center) * u_ppu;
    vec2 d = pb - pa;
    float len = length(d);
    vec2 dir = len > 1e-4 ? d / len : vec2(1.0, 0.0);
    vec2 normal = vec2(-dir.y, dir.x);
    float half_width = max(a_width * 0.5, 0.35);
    float r = half_width + 1.0;
    vec2 p = mix(pa, pb, corner.x) + dir * (corner.x * 2.0 - 1.0) * r + normal * corner.y * r;
    gl_Position = vec4(p / (0.5 * u_viewport), 0.0, 1.0);
    v_local = vec2(dot(p - pa, dir), corner.y * r);
    v_length = len;
    v_half_width = half_width;
    v_color = mix(a_color_a, a_color_b, corner.x);
}
