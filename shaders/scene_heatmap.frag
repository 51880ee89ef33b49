// Scene renderer: density in [0, 1] through a warm colour ramp; empty cells stay transparent.
#version 430 core
in vec2 v_uv;
uniform sampler2D u_values;
uniform float u_opacity;
out vec4 o_color;

// A warm ramp (deep violet, magenta, orange, pale yellow): perceptually increasing lightness,
// readable on the dark background.
vec3 ramp(float t) {
    const vec3 stops[5] = vec3[](vec3(0.10, 0.05, 0.25), vec3(0.42, 0.10, 0.50), vec3(0.80, 0.24, 0.42),
                                 vec3(0.98, 0.55, 0.22), vec3(0.99, 0.93, 0.62));
    float x = clamp(t, 0.0, 1.0) * 4.0;
    int i = min(int(x), 3);
    return mix(stops[i], stops[i + 1], x - float(i));
}

void main() {
    float v = clamp(texture(u_values, v_uv).r, 0.0, 1.0);
    float a = smoothstep(0.0, 0.12, v) * u_opacity;
    if (a <= 0.002) discard;
    o_color = vec4(ramp(v), a);
}
