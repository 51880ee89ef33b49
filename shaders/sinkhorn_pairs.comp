// Entropic OT couplings on the GPU: each workgroup solves one (sub-)batch's Sinkhorn plan and draws its pairs.
#version 430
// One workgroup per job: rows [begin, begin + n) of batch k in a run of uploaded batches. The
// plan between those rows' x0 and x1 (uniform weights, cost |x0_i - x1_j|^2) is solved in the
// log domain, so any epsilon is stable: potentials f (rows) and g (columns),
//   f_i = -eps (log n + LSE_j((g_j - C_ij) / eps)),  g_j likewise over i,
// with epsilon scaling as SinkhornSolver does (stages eps * 4^s, the first at or above a
// sixteenth of the largest cost, earlier stages to 5%) and over-relaxation (u_omega; the last
// update of a stage plain). A solve spans several dispatches of a bounded number of sweeps,
// its state kept per job. The row sums the f update finds are the
// plan's before it, so the stopping test costs nothing. Then n pairs (i, j) are drawn from the
// plan with counter-based random numbers (the rows are exact after the last f update, so i is
// uniform and j follows row i), and the coupled batch is written in the uploaded layout:
// x0 | x1 | t | [noise] | [classes], t, noise and classes staying with their row.
layout(local_size_x = 256) in;
#define WG 256u
// Rows per invocation: plans of up to WG * RPI = 4096 rows (the host leaves larger ones to the
// CPU). Constant so the per-row state stays in registers.
#define RPI 16

// K packed batches (floats, read as bits), then 4 words per job: k, begin, n, 0.
layout(std430, binding = 0) readonly buffer Raw { uint raw[]; };
layout(std430, binding = 1) writeonly buffer Coupled { float coupled[]; };
// f | g of each job at 2 (k B + begin): every job's rows are its own. Then from u_state_offset,
// 8 words per job that carry a solve from one dispatch to the next: the stage (-1: not started),
// the sweeps so far, the last error, done; its over-relaxation, dropped to 1 for good once an
// error grows past twice the stage's best (over-relaxed Sinkhorn may oscillate where the plain
// one converges), and that best. Coherent: the pair draws read the potentials of rows
// other invocations updated.
layout(std430, binding = 2) coherent buffer Work { float work[]; };
// Per job: sweeps (f updates) and the last row-sum error; from u_plan_offset, the plan of job 0
// when u_write_plan is set (n x n, row-major).
layout(std430, binding = 3) writeonly buffer Report { float report[]; };

uniform uint u_batch;         // B, rows per batch
uniform uint u_stride;        // floats per packed batch
uniform uint u_jobs_offset;   // where the jobs start in raw
uniform int u_noise;          // 1: the batches carry bridge noise (SB) at 5B
uniform uint u_classes_at;    // where each batch's classes start (0: none)
uniform float u_epsilon;      // the plan's epsilon, in squared-distance units
uniform float u_tolerance;    // relative row-sum error to stop at
uniform uint u_max_sweeps;    // f updates, over all stages
uniform uvec2 u_seed;         // the pair draws' stream
uniform uint u_first_step;    // batch k is trained at step u_first_step + k
uniform int u_write_plan;
uniform uint u_plan_offset;
uniform uint u_state_offset;
uniform float u_omega;  // the over-relaxation (1: plain Sinkhorn)
// 0: up to u_budget sweeps of every unfinished job (bounded so that no dispatch runs for long,
// and within llvmpipe's 65535 loop iterations per invocation); 1: draw the pairs.
uniform int u_mode;
uniform uint u_budget;
uniform int u_fresh;  // mode 0: start every job over (the first dispatch of a solve)

#include "counter_noise.glsl"

shared vec2 s_points[WG];
shared float s_pot[WG];
shared uint s_error;  // a max of non-negative floats, as bits

const float k_log2e = 1.4426950408889634;
const float k_ln2 = 0.6931471805599453;

// The job's words, read where needed rather than kept in globals set in main (Mesa's compiler
// reports those as used uninitialized in the functions that read them).
uint job_word(uint w) { return raw[u_jobs_offset + 4u * gl_WorkGroupID.x + w]; }
#define g_k job_word(0u)
#define g_begin job_word(1u)
#define g_n job_word(2u)
#define g_base (g_k * u_stride)
#define g_rows ((g_n + WG - 1u) / WG)

float in_raw(uint at) { return uintBitsToFloat(raw[at]); }
// Row i of the job's x0 (side 0) or x1 (side 1).
vec2 job_point(uint side, uint i) {
    uint at = g_base + 2u * (side * u_batch + g_begin + i);
    return vec2(in_raw(at), in_raw(at + 1u));
}
uint pot_at(uint side, uint i) { return 2u * (g_k * u_batch + g_begin) + side * g_n + i; }

float cost(vec2 a, vec2 b) {
    vec2 d = a - b;
    return dot(d, d);
}

// Entry `t0 + lid` of the other side (points and potentials) into shared memory.
void stage(uint other, uint t0) {
    memoryBarrierBuffer();  // the potentials written last are visible
    barrier();  // and the last tile's reads are done
    uint j = t0 + gl_LocalInvocationID.x;
    if (j < g_n) {
        s_points[gl_LocalInvocationID.x] = job_point(other, j);
        s_pot[gl_LocalInvocationID.x] = work[pot_at(other, j)];
    }
    barrier();
}

// The largest cost between the job's rows.
float max_cost() {
    uint lid = gl_LocalInvocationID.x;
    if (lid == 0u) s_error = 0u;
    vec2 x[RPI];
    for (int r = 0; r < RPI; ++r) x[r] = lid + uint(r) * WG < g_n ? job_point(0u, lid + uint(r) * WG) : vec2(0.0);
    float most = 0.0;
    for (uint t0 = 0u; t0 < g_n; t0 += WG) {
        stage(1u, t0);
        uint count = min(WG, g_n - t0);
        for (int r = 0; r < RPI; ++r) {
            if (uint(r) >= g_rows) break;
            if (lid + uint(r) * WG >= g_n) continue;
            for (uint q = 0u; q < count; ++q) most = max(most, cost(x[r], s_points[q]));
        }
    }
    atomicMax(s_error, floatBitsToUint(most));
    barrier();
    float result = uintBitsToFloat(s_error);
    barrier();
    return result;
}

// One half of a Sinkhorn iteration: the potentials of `side` from the other side's, in the log
// domain, over-relaxed by omega (p <- (1 - omega) p + omega p_sinkhorn) unless the plan's error
// before the update is within `tolerance` or `last` is set: then plainly, so the rows of the plan
// a solve ends on are exact. Returns max_i |n sum_j P_ij - 1| of the plan before the update.
float half_update(uint side, float eps, float omega, float tolerance, bool last) {
    uint lid = gl_LocalInvocationID.x;
    uint other = 1u - side;
    float scale = k_log2e / eps;
    barrier();  // everyone has read the last s_error
    if (lid == 0u) s_error = 0u;
    vec2 x[RPI];
    float m[RPI], s[RPI];
    for (int r = 0; r < RPI; ++r) {
        uint i = lid + uint(r) * WG;
        x[r] = i < g_n ? job_point(side, i) : vec2(0.0);
        m[r] = -3.0e38;
        s[r] = 0.0;
    }
    // An online log-sum-exp in base 2, rescaled once per tile: the tile's maximum first, then
    // its terms, so the exponentials never overflow and the loop has no branch.
    for (uint t0 = 0u; t0 < g_n; t0 += WG) {
        stage(other, t0);
        uint count = min(WG, g_n - t0);
        for (int r = 0; r < RPI; ++r) {
            if (uint(r) >= g_rows) break;
            float top = m[r];
            for (uint q = 0u; q < count; ++q) top = max(top, (s_pot[q] - cost(x[r], s_points[q])) * scale);
            float sum = s[r] * exp2(m[r] - top);
            for (uint q = 0u; q < count; ++q) sum += exp2((s_pot[q] - cost(x[r], s_points[q])) * scale - top);
            m[r] = top;
            s[r] = sum;
        }
    }
    // The row sums before the update are exp((before - after) / eps) / n: the difference of
    // two close potentials keeps the error's precision where the potentials are large.
    float worst = 0.0;
    float log_n = log(float(g_n));
    float after[RPI], before[RPI];
    for (int r = 0; r < RPI; ++r) {
        uint i = lid + uint(r) * WG;
        if (uint(r) >= g_rows || i >= g_n) break;
        float lse = k_ln2 * (m[r] + log2(s[r]));  // LSE_j((q_j - C_ij) / eps)
        before[r] = work[pot_at(side, i)];
        after[r] = -eps * (log_n + lse);
        worst = max(worst, abs(exp((before[r] - after[r]) / eps) - 1.0));
    }
    // NaN (a row with no mass) counts as the largest error.
    atomicMax(s_error, isnan(worst) ? 0x7f800000u : floatBitsToUint(worst));
    barrier();
    float error = uintBitsToFloat(s_error);
    float w = error <= tolerance || last ? 1.0 : omega;
    for (int r = 0; r < RPI; ++r) {
        uint i = lid + uint(r) * WG;
        if (uint(r) >= g_rows || i >= g_n) break;
        work[pot_at(side, i)] = w == 1.0 ? after[r] : mix(before[r], after[r], w);
    }
    return error;
}

void main() {
    uint lid = gl_LocalInvocationID.x;
    uint job = gl_WorkGroupID.x;
    uint k = g_k;
    uint state_at = u_state_offset + 8u * job;
    float eps = u_epsilon;

    if (u_mode == 0) {
        int stage = floatBitsToInt(work[state_at]);
        uint sweeps = floatBitsToUint(work[state_at + 1u]);
        float error = work[state_at + 2u];
        bool done = work[state_at + 3u] != 0.0;
        float omega = work[state_at + 4u];
        float reference = work[state_at + 5u];  // the best error of this stage (none: 3e38)
        if (u_fresh != 0) {
            stage = -1;
            done = false;
        }
        memoryBarrierBuffer();
        barrier();  // every invocation has read the state before invocation 0 writes it
        if (done) return;
        if (stage < 0) {
            // Potentials start at 0; each invocation zeroes its own entries. Epsilon scaling:
            // from the first stage at or above a sixteenth of the largest cost.
            for (uint i = lid; i < g_n; i += WG) {
                work[pot_at(0u, i)] = 0.0;
                work[pot_at(1u, i)] = 0.0;
            }
            stage = 0;
            if (g_n > 1u) {
                float cmax = max_cost();
                while (stage < 30 && u_epsilon * exp2(2.0 * float(stage)) < cmax / 16.0) ++stage;
            }
            sweeps = 0u;
            error = 0.0;
            reference = 3.0e38;
            done = g_n < 2u;
            omega = u_omega;
        }
        // Each stage ends on an f update: the last leaves the plan's rows exact. Past the sweep
        // limit every remaining stage takes one update, so the last is still at epsilon.
        for (uint taken = 0u; taken < u_budget && !done; ++taken) {
            eps = u_epsilon * exp2(2.0 * float(stage));
            float tolerance = stage == 0 ? u_tolerance : 0.05;
            error = half_update(0u, eps, omega, tolerance, sweeps + 1u >= u_max_sweeps);
            ++sweeps;
            if (error <= tolerance || sweeps >= u_max_sweeps) {
                if (stage == 0)
                    done = true;
                else
                    --stage;
                reference = 3.0e38;  // a new stage's first error is no comparison
                continue;
            }
            // Over-relaxed errors may rise a little on the way down; twice the stage's best is
            // no longer that.
            if (error > 2.0 * reference) omega = 1.0;
            reference = min(reference, error);
            half_update(1u, eps, omega, -1.0, false);
        }
        barrier();
        if (lid == 0u) {
            work[state_at] = intBitsToFloat(stage);
            work[state_at + 1u] = uintBitsToFloat(sweeps);
            work[state_at + 2u] = error;
            work[state_at + 3u] = done ? 1.0 : 0.0;
            work[state_at + 4u] = omega;
            work[state_at + 5u] = reference;
            report[2u * job] = float(sweeps);
            report[2u * job + 1u] = error;
        }
        return;
    }

    // The pairs: output row r takes i = floor(u1 n) (rows are exact: P_i. = 1/n) and j from row
    // i's conditional n P_ij = n exp((f_i + g_j - C_ij) / eps), found by walking the columns in
    // tiles until the running sum passes u2. The last column with mass if rounding leaves the
    // sum short of u2.
    float scale = 1.0 / eps;
    memoryBarrierBuffer();
    barrier();
    uint row_of[RPI], col_of[RPI];
    vec2 xi[RPI];
    float fi[RPI], target[RPI], acc[RPI];
    for (int r = 0; r < RPI; ++r) {
        uint out_row = lid + uint(r) * WG;
        uint state = counter_noise_state(u_seed, u_first_step + k, g_begin + out_row);
        float u1 = counter_uniform01(state);
        float u2 = counter_uniform01(state);
        uint i = min(uint(u1 * float(g_n)), g_n - 1u);
        row_of[r] = i;
        col_of[r] = 0xffffffffu;
        xi[r] = out_row < g_n ? job_point(0u, i) : vec2(0.0);
        fi[r] = out_row < g_n ? work[pot_at(0u, i)] : 0.0;
        target[r] = u2;
        acc[r] = 0.0;
    }
    float log_n = log(float(g_n));
    if (g_n > 1u) {
        for (uint t0 = 0u; t0 < g_n; t0 += WG) {
            stage(1u, t0);
            uint count = min(WG, g_n - t0);
            for (int r = 0; r < RPI; ++r) {
                if (uint(r) >= g_rows) break;
                if (lid + uint(r) * WG >= g_n || (col_of[r] != 0xffffffffu && acc[r] > target[r])) continue;
                for (uint q = 0u; q < count; ++q) {
                    float p = exp((fi[r] + s_pot[q] - cost(xi[r], s_points[q])) * scale + log_n);
                    if (p > 0.0) col_of[r] = t0 + q;
                    acc[r] += p;
                    if (acc[r] > target[r]) break;
                }
            }
        }
    }
    for (int r = 0; r < RPI; ++r) {
        uint out_row = lid + uint(r) * WG;
        if (out_row >= g_n) break;
        uint i = g_n > 1u ? row_of[r] : 0u;
        uint j = g_n > 1u && col_of[r] != 0xffffffffu ? col_of[r] : i;
        uint row = g_begin + out_row;
        uint from0 = g_base + 2u * (g_begin + i), from1 = g_base + 2u * (u_batch + g_begin + j);
        coupled[g_base + 2u * row] = in_raw(from0);
        coupled[g_base + 2u * row + 1u] = in_raw(from0 + 1u);
        coupled[g_base + 2u * (u_batch + row)] = in_raw(from1);
        coupled[g_base + 2u * (u_batch + row) + 1u] = in_raw(from1 + 1u);
        coupled[g_base + 4u * u_batch + row] = in_raw(g_base + 4u * u_batch + row);
        if (u_noise != 0) {
            uint at = g_base + 5u * u_batch + 2u * row;
            coupled[at] = in_raw(at);
            coupled[at + 1u] = in_raw(at + 1u);
        }
        if (u_classes_at != 0u) coupled[g_base + u_classes_at + row] = in_raw(g_base + u_classes_at + row);
    }

    if (u_write_plan != 0 && job == 0u && g_n > 1u) {
        for (uint t0 = 0u; t0 < g_n; t0 += WG) {
            stage(1u, t0);
            uint count = min(WG, g_n - t0);
            for (uint i = lid; i < g_n; i += WG) {
                vec2 x = job_point(0u, i);
                float f = work[pot_at(0u, i)];
                for (uint q = 0u; q < count; ++q)
                    report[u_plan_offset + i * g_n + t0 + q] = exp((f + s_pot[q] - cost(x, s_points[q])) * scale);
            }
        }
    }
}
