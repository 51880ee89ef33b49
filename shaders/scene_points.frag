// Scene renderer: a disc with an anti-aliased rim, blended toward a soft gaussian-like blob.
#version 430 core
in vec2 v_local;
in vec4 v_color;

uniform float u_size_px;
uniform float u_softness;   // 0: hard disc, 1: soft blob

out vec4 o_color;

void main() {
    float r = length(v_local);
    float radius = max(u_size_px * 0.5, 0.5);
    float rim = clamp(radius + 0.5 - r, 0.0, 1.0);
    float blob = exp(-2.5 * (r * r) / (radius * radius));
    float a = rim * mix(1.0, blob, u_softness);
    if (a <= 0.002) discard;
    o_color = vec4(v_color.rgb, v_color.a * a);
}
