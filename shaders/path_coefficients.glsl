// The probability path's schedule (probability_path.h) and the conversion of a prediction to the
// velocity (prediction.h), shared by the training, field, ODE-stage and divergence shaders.
// The probability path (probability_path.h): kind and parameters.
uniform int u_path;            // 0 CondOT, 1 LipmanOT, 2 VP, 3 Cosine, 4 LinearVP, 5 Polynomial, 6 VE
uniform float u_sigma_min, u_beta_min, u_beta_max, u_poly_n, u_ve_sigma_max;

// What the network predicts: 0 velocity, 1 data x1, 2 noise x0; the coefficients are taken at t
// clamped to [u_pred_tmin, u_pred_tmax] (the host sets the stated clamp of prediction.h).
uniform int u_prediction;
uniform float u_pred_tmin, u_pred_tmax;

// alpha, sigma, d_alpha, d_sigma at t.
vec4 path_coefficients(float t) {
    if (u_path == 0) return vec4(t, 1.0 - t, 1.0, -1.0);
    if (u_path == 1) return vec4(t, 1.0 - (1.0 - u_sigma_min) * t, 1.0, -(1.0 - u_sigma_min));
    if (u_path == 2) {
        // alpha = exp(-T(1-t)/2), T(s) = beta_min s + (beta_max - beta_min) s^2 / 2.
        float s = 1.0 - t;
        float T = u_beta_min * s + 0.5 * (u_beta_max - u_beta_min) * s * s;
        float beta = u_beta_min + (u_beta_max - u_beta_min) * s;  // dT/ds
        float alpha = exp(-0.5 * T);
        float d_alpha = 0.5 * beta * alpha;
        float sigma = sqrt(max(1.0 - alpha * alpha, 0.0));
        float d_sigma = sigma > 0.0 ? -alpha * d_alpha / sigma : 0.0;
        return vec4(alpha, sigma, d_alpha, d_sigma);
    }
    if (u_path == 3) {
        float h = 1.57079632679489662;
        return vec4(sin(h * t), cos(h * t), h * cos(h * t), -h * sin(h * t));
    }
    if (u_path == 4) {
        float sigma = sqrt(max(1.0 - t * t, 0.0));
        return vec4(t, sigma, 1.0, sigma > 0.0 ? -t / sigma : 0.0);
    }
    if (u_path == 5) {
        float tn = pow(t, u_poly_n);
        float d = u_poly_n * pow(t, u_poly_n - 1.0);
        return vec4(tn, 1.0 - tn, d, -d);
    }
    float sigma = u_sigma_min * pow(u_ve_sigma_max / u_sigma_min, 1.0 - t);
    return vec4(1.0, sigma, 0.0, -sigma * log(u_ve_sigma_max / u_sigma_min));
}

// v = a x + b f for a prediction f at (x, t): (a, b). Velocity: (0, 1).
vec2 prediction_affine(float t) {
    if (u_prediction == 0) return vec2(0.0, 1.0);
    vec4 p = path_coefficients(clamp(t, u_pred_tmin, u_pred_tmax));
    if (u_prediction == 1) return vec2(p.w / p.y, p.z - p.w * p.x / p.y);
    return vec2(p.z / p.x, p.w - p.z * p.y / p.x);
}

vec2 prediction_to_velocity(vec2 f, vec2 x, float t) {
    vec2 ab = prediction_affine(t);
    return ab.x * x + ab.y * f;
}
