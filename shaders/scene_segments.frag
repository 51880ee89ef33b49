// Scene renderer: anti-aliased capsule coverage from the distance to the segment.
#version 430 core
in vec2 v_local;
flat in float v_length;
flat in float v_half_width;
in vec4 v_color;

out vec4 o_color;

void main() {
    float along = clamp(v_local.x, 0.0, v_length);
    float dist = length(vec2(v_local.x - along, v_local.y));
    // Lines thinner than a pixel fade instead of aliasing.
    float coverage = clamp(v_half_width + 0.5 - dist, 0.0, 1.0) * min(1.0, v_half_width * 2.0);
    if (coverage <= 0.002) discard;
    o_color = vec4(v_color.rgb, v_color.a * coverage);
}
