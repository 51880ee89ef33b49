// A tile of TILE batch rows carried through the MLP by one workgroup of WG invocations.
// Needs mlp_layout.glsl, and TILE, WG, TX, TY, RM, RN, MAXD, SHARED_ACTS, STAGE_KP, IN_PLACE defines.
// Activations live in two TILE x MAXD buffers (ping-pong): in shared memory when they fit
// (SHARED_ACTS = 1), else in the group's slice of the coherent scratch buffer (ACT_BASE).
// Register tiling: invocation (tx, ty) owns rows ty + TY*i (i < RM) and columns tx + TX*c
// (c < RN) of each TX*RN-column chunk, so a warp reads one activation row (a broadcast) and TX
// consecutive weights (one coalesced load).
// Weight panels (STAGE_KP > 0): the whole group loads KP rows x TX*RN columns of W into shared
// memory once per chunk, so the TY warps read each weight from L2 once instead of TY times; the
// inner loop then reads the panel with consecutive, conflict-free addresses.
// In place (IN_PLACE = 1, the field kernels: nothing is kept for a backward pass): one
// activation buffer; each invocation holds its RM x RN outputs of every column chunk in
// registers until the whole group has read the layer's input, then overwrites it. Half the
// shared memory buys twice the rows: 64-row tiles with 8 x 4 outputs per invocation.

layout(std430, binding = 0) readonly buffer Params { float params[]; };
// Per-workgroup scratch: spilled activations at ACT_BASE (and, for training, saved
// pre-activations). Spilled activations are read by other invocations of the group than the one
// that wrote them, so the buffer is coherent then; with activations in shared memory it holds
// only the saved pre-activations, each read back by the invocation that wrote it (the training
// kernel's every pass over them uses the forward GEMM's register-tile mapping), so it is not,
// and the GPU may cache it. The including shader defines ACT_BASE, this group's slice.
#if SHARED_ACTS
layout(std430, binding = 3) buffer Scratch { float g_scratch[]; };
#else
layout(std430, binding = 3) coherent buffer Scratch { float g_scratch[]; };
#endif

#if SHARED_ACTS
// Rows padded to whole vec4s: the GEMMs read four consecutive k of a row in one 16-byte load
// (a broadcast within the warp), a quarter of the shared-memory instructions of scalar reads.
#define ASTRIDE ((MAXD + 3) / 4 * 4)
shared vec4 s_act4[(IN_PLACE != 0 ? 1 : 2) * TILE * ASTRIDE / 4];
#define ACT_IDX(b, r, k) ((uint(b) * uint(TILE) + uint(r)) * uint(ASTRIDE) + uint(k))
#define ACT_AT(b, r, k) s_act4[ACT_IDX(b, r, k) / 4u][ACT_IDX(b, r, k) % 4u]
// k a multiple of 4: columns k .. k + 3 of row r.
#define ACT4_AT(b, r, k) s_act4[ACT_IDX(b, r, k) / 4u]
#else
#define ACT_AT(b, r, k) g_scratch[ACT_BASE + ((b) * TILE + (r)) * MAXD + (k)]
#define ACT4_AT(b, r, k) vec4(ACT_AT(b, r, k), ACT_AT(b, r, (k) + 1u), ACT_AT(b, r, (k) + 2u), ACT_AT(b, r, (k) + 3u))
#endif

// Orders shared and scratch-buffer accesses between the invocations of a workgroup.
#define SYNC() groupMemoryBarrier(); barrier()

#if STAGE_KP
shared float s_w[STAGE_KP * TX * RN];
// Loads rows k0 .. k0 + STAGE_KP of the TX*RN-column chunk at j0 of a row-major matrix at `off`
// with `cols` columns and `rows` rows (zeros outside) into s_w; `from_t` reads params_t.
#define STAGE_PANEL(SRC, off, rows, cols, k0, j0)                                     \
    for (uint e_ = gl_LocalInvocationIndex; e_ < uint(STAGE_KP * TX * RN); e_ += uint(WG)) { \
        uint kk_ = e_ / uint(TX * RN), jj_ = e_ % uint(TX * RN);                         \
        uint k_ = (k0) + kk_, j_ = (j0) + jj_;                                           \
        s_w[e_] = k_ < (rows) && j_ < (cols) ? SRC[(off) + k_ * (cols) + j_] : 0.0;     \
    }

// The inner loop of every staged GEMM: acc[i][c] += sum over kk < kn of the activation at row
// ty + TY*i, column kbase + kk of buffer b times panel entry (kk, tx + TX*c). Four k per
// activation load (kbase is a multiple of 4: panels start at multiples of STAGE_KP).
void panel_fma(int b, uint kbase, uint kn, uint tx, uint ty, inout float acc[RM][RN]) {
    uint kn4 = kn & ~3u;
    for (uint kk = 0u; kk < kn4; kk += 4u) {
        vec4 a[RM];
        for (int i = 0; i < RM; ++i) a[i] = ACT4_AT(b, ty + uint(TY * i), kbase + kk);
        for (int q = 0; q < 4; ++q) {
            float w[RN];
            for (int c = 0; c < RN; ++c) w[c] = s_w[(kk + uint(q)) * uint(TX * RN) + tx + uint(TX * c)];
            for (int i = 0; i < RM; ++i)
                for (int c = 0; c < RN; ++c) acc[i][c] = fma(a[i][q], w[c], acc[i][c]);
        }
    }
    for (uint kk = kn4; kk < kn; ++kk) {
        float w[RN];
        for (int c = 0; c < RN; ++c) w[c] = s_w[kk * uint(TX * RN) + tx + uint(TX * c)];
        for (int i = 0; i < RM; ++i) {
            float a = ACT_AT(b, ty + uint(TY * i), kbase + kk);
            for (int c = 0; c < RN; ++c) acc[i][c] = fma(a, w[c], acc[i][c]);
        }
    }
}
#endif

// The output layer's dot products are split over OUT_PARTS strided partial sums so every
// invocation works (TILE * 2 outputs alone would leave most of the group idle).
#define OUT_PARTS (WG / (TILE * 2) > 0 ? WG / (TILE * 2) : 1)
shared float s_out_part[TILE * 2 * OUT_PARTS];

shared vec2 s_out[TILE];  // the network's output per row
shared vec2 s_in[TILE];   // the spatial input per row
shared float s_tin[TILE]; // the time input per row
#if CLASSES
shared uint s_cls[TILE];  // the class input per row (CLASSES: the null class)
#define ROW_CLASS(r) s_cls[r]
#else
#define ROW_CLASS(r) 0u
#endif

// h_{l+1} = act(h_l W_l + b_l) from buffer bi to buffer bo (hidden layer l).
void hidden_forward(int l, int bi, int bo) {
    uint tx = gl_LocalInvocationIndex % uint(TX);
    uint ty = gl_LocalInvocationIndex / uint(TX);
    uint K = layer_in(l);
    uint wo = w_off(l);
    uint bo_off = b_off(l);
    for (uint j0 = 0u; j0 < DYN(WIDTH); j0 += uint(TX * RN)) {
        float acc[RM][RN];
        for (int c = 0; c < RN; ++c) {
            uint j = j0 + tx + uint(TX * c);
            float bias = j < uint(WIDTH) ? params[bo_off + j] : 0.0;
            for (int i = 0; i < RM; ++i) acc[i][c] = bias;
        }
#if STAGE_KP
        for (uint k0 = 0u; k0 < K; k0 += uint(STAGE_KP)) {
            STAGE_PANEL(params, wo, K, uint(WIDTH), k0, j0)
            SYNC();
            panel_fma(bi, k0, min(uint(STAGE_KP), K - k0), tx, ty, acc);
            SYNC();
        }
#else
        for (uint k = 0u; k < K; ++k) {
            float w[RN];
            for (int c = 0; c < RN; ++c) {
                uint j = j0 + tx + uint(TX * c);
                w[c] = j < uint(WIDTH) ? params[wo + k * uint(WIDTH) + j] : 0.0;
            }
            for (int i = 0; i < RM; ++i) {
                float a = ACT_AT(bi, ty + uint(TY * i), k);
                for (int c = 0; c < RN; ++c) acc[i][c] = fma(a, w[c], acc[i][c]);
            }
        }
#endif
        for (int i = 0; i < RM; ++i) {
            uint r = ty + uint(TY * i);
            for (int c = 0; c < RN; ++c) {
                uint j = j0 + tx + uint(TX * c);
                if (j < uint(WIDTH)) {
#ifdef SAVE_PRE
                    SAVE_PRE(l, r, j, acc[i][c]);
#endif
                    ACT_AT(bo, r, j) = act(acc[i][c]);
                }
            }
        }
    }
    SYNC();
}

#if IN_PLACE
#define CHUNKS ((WIDTH + TX * RN - 1) / (TX * RN))
// h_{l+1} = act(h_l W_l + b_l) in buffer 0, read whole before it is overwritten.
void hidden_forward_in_place(int l) {
    uint tx = gl_LocalInvocationIndex % uint(TX);
    uint ty = gl_LocalInvocationIndex / uint(TX);
    uint K = layer_in(l);
    uint wo = w_off(l);
    uint bo_off = b_off(l);
    float acc[CHUNKS][RM][RN];
    for (int ch = 0; ch < CHUNKS; ++ch)
        for (int c = 0; c < RN; ++c) {
            uint j = uint(ch * TX * RN) + tx + uint(TX * c);
            float bias = j < uint(WIDTH) ? params[bo_off + j] : 0.0;
            for (int i = 0; i < RM; ++i) acc[ch][i][c] = bias;
        }
    for (uint k0 = 0u; k0 < K; k0 += uint(STAGE_KP)) {
        uint kn = min(uint(STAGE_KP), K - k0);
        for (int ch = 0; ch < CHUNKS; ++ch) {
            STAGE_PANEL(params, wo, K, uint(WIDTH), k0, uint(ch * TX * RN))
            SYNC();
            panel_fma(0, k0, kn, tx, ty, acc[ch]);
            SYNC();
        }
    }
    for (int ch = 0; ch < CHUNKS; ++ch)
        for (int i = 0; i < RM; ++i) {
            uint r = ty + uint(TY * i);
            for (int c = 0; c < RN; ++c) {
                uint j = uint(ch * TX * RN) + tx + uint(TX * c);
                if (j < uint(WIDTH)) ACT_AT(0, r, j) = act(acc[ch][i][c]);
            }
        }
    SYNC();
}
#endif

// s_out = h_DEPTH W_out + b_out from buffer bi.
void output_forward(int bi) {
    uint wo = w_off(DEPTH);
    uint bo = b_off(DEPTH);
    for (uint e = gl_LocalInvocationIndex; e < uint(TILE * 2 * OUT_PARTS); e += uint(WG)) {
        uint part = e % uint(OUT_PARTS), q = e / uint(OUT_PARTS);
        uint r = q / 2u, o = q % 2u;
        float v = 0.0;
        for (uint k = part; k < DYN(WIDTH); k += uint(OUT_PARTS))
            v = fma(ACT_AT(bi, r, k), params[wo + k * 2u + o], v);
        s_out_part[e] = v;
    }
    SYNC();
    // In a fixed order, so every run sums alike.
    for (uint q = gl_LocalInvocationIndex; q < uint(TILE * 2); q += uint(WG)) {
        float v = params[bo + q % 2u];
        for (uint part = 0u; part < uint(OUT_PARTS); ++part) v += s_out_part[q * uint(OUT_PARTS) + part];
        s_out[q / 2u][q % 2u] = v;
    }
    SYNC();
}

// Writes the input features of (s_in[r], s_tin[r], s_cls[r]) into buffer b.
void encode_tile(int b) {
    for (uint e = gl_LocalInvocationIndex; e < uint(TILE * IN_DIM); e += uint(WG)) {
        uint r = e / uint(IN_DIM), c = e % uint(IN_DIM);
        ACT_AT(b, r, c) = input_feature(c, s_in[r], s_tin[r], ROW_CLASS(r));
    }
    SYNC();
}

// The full forward pass of the tile (s_in, s_tin) into s_out; returns the buffer holding the
// last hidden activations.
int forward_tile() {
    encode_tile(0);
#if IN_PLACE
    for (int l = 0; l < int(DYN(DEPTH)); ++l) hidden_forward_in_place(l);
    output_forward(0);
    return 0;
#else
    for (int l = 0; l < int(DYN(DEPTH)); ++l) hidden_forward(l, l % 2, (l + 1) % 2);
    output_forward(DEPTH % 2);
    return DEPTH % 2;
#endif
}

#if CLASSES
uniform uint u_class;      // the field's class; CLASSES: the null class (the unconditional field)
uniform float u_guidance;  // classifier-free guidance's scale w (1: the class's own field)
// Particles taking the classes in turn (Engine::set_particle_classes): row i of the dispatch
// follows class u_cycle[i mod u_cycle_len] at scale u_guidance; 0: every row follows u_class.
uniform uint u_cycle_len;
uniform uint u_cycle[8];   // k_max_classes
#endif

// The learned field's forward pass of the tile (s_in, s_tin) into s_out; first_row is the
// dispatch's index of the tile's row 0 (a particle's class in the cycle). With classes and
// guidance (a real class, w != 1: Mlp::evaluate's condition) it runs the tile twice and
// leaves f_null + w (f_class - f_null): the conversion of a prediction to the velocity is affine
// in f, so combining the outputs equals combining the velocities as the CPU does. The branch is
// uniform, so the barriers inside are reached by the whole group.
void field_forward_tile(uint first_row) {
#if CLASSES
    uint lid = gl_LocalInvocationIndex;
    bool owner = lid < uint(TILE);
    uint cls = u_cycle_len > 0u ? u_cycle[(first_row + lid) % u_cycle_len] : u_class;
    if ((u_cycle_len > 0u || u_class < uint(CLASSES)) && u_guidance != 1.0) {
        if (owner) s_cls[lid] = uint(CLASSES);
        SYNC();
        forward_tile();
        // Each owner keeps its own row; the second pass overwrites s_out only after barriers.
        vec2 f_null = owner ? s_out[lid] : vec2(0.0);
        if (owner) s_cls[lid] = cls;
        SYNC();
        forward_tile();
        if (owner) s_out[lid] = f_null + u_guidance * (s_out[lid] - f_null);
        SYNC();
        return;
    }
    if (owner) s_cls[lid] = cls;
    SYNC();
#endif
    forward_tile();
}
