// Scene renderer: the heatmap's world rectangle as a triangle strip.
#version 430 core
uniform vec2 u_center;
uniform float u_ppu;
uniform vec2 u_viewport;
uniform vec4 u_box;  // min.xy, max.xy in world units

out vec2 v_uv;

const vec2 k_corners[4] = vec2[](vec2(0.0, 0.0), vec2(1.0, 0.0), vec2(0.0, 1.0), vec2(1.0, 1.0));

void main() {
    vec2 corner = k_corners[gl_VertexID];
    vec2 w = mix(u_box.xy, u_box.zw, corner);
    gl_Position = vec4((w - u_center) * u_ppu / (0.5 * u_viewport), 0.0, 1.0);
    v_uv = corner;
}
