// One workgroup's block of a matrix product C = A B for the wide-network pipeline: 128 x 64
// outputs per group of 256 invocations, each invocation 8 consecutive rows x 4 consecutive
// columns (32 accumulators), the operands staged in shared memory 16 reduction steps at a time so
// each global load feeds 128 or 64 invocations and the inner loop reads three vec4 per 32 FMAs.
// The including shader defines, before including this file (with mlp_layout.glsl for DYN):
//   float gemm_a(uint m, uint k)   A's entry (0 outside the matrix),
//   float gemm_b(uint k, uint n)   B's entry (0 outside),
//   GEMM_A_K_FASTEST               1 when consecutive k of A are adjacent in memory (A row-major),
//                                  0 when consecutive m are (A stored transposed); it sets how the
//                                  invocations walk A's tile so the global loads coalesce.
#define GEMM_BM 128u
#define GEMM_BN 64u
#define GEMM_BK 16u

shared vec4 s_gemm_a[GEMM_BK * GEMM_BM / 4u];  // A's tile, [k][m]
shared vec4 s_gemm_b[GEMM_BK * GEMM_BN / 4u];  // B's tile, [k][n]

// acc[i][c] = sum over k_begin <= k < k_end of A(m0 + 8 ty + i, k) B(k, n0 + 4 tx + c), with
// (tx, ty) = (lid % 16, lid / 16); the sum runs in increasing k, so every run adds alike.
void gemm_block(uint m0, uint n0, uint k_begin, uint k_end, out vec4 acc[8]) {
    uint lid = gl_LocalInvocationIndex;
    uint tx = lid % 16u, ty = lid / 16u;
    for (int i = 0; i < 8; ++i) acc[i] = vec4(0.0);
    for (uint k0 = k_begin; k0 < k_end; k0 += GEMM_BK) {
        for (uint e = lid; e < GEMM_BK * GEMM_BM; e += 256u) {
#if GEMM_A_K_FASTEST
            uint m = e / GEMM_BK, kk = e % GEMM_BK;
#else
            uint kk = e / GEMM_BM, m = e % GEMM_BM;
#endif
            uint idx = kk * GEMM_BM + m;
            s_gemm_a[idx / 4u][idx % 4u] = k0 + kk < k_end ? gemm_a(m0 + m, k0 + kk) : 0.0;
        }
        for (uint e = lid; e < GEMM_BK * GEMM_BN; e += 256u) {
            uint kk = e / GEMM_BN, n = e % GEMM_BN;
            s_gemm_b[e / 4u][e % 4u] = k0 + kk < k_end ? gemm_b(k0 + kk, n0 + n) : 0.0;
        }
        memoryBarrierShared();
        barrier();
        for (uint kk = 0u; kk < DYN(GEMM_BK); ++kk) {
            vec4 a0 = s_gemm_a[(kk * GEMM_BM + 8u * ty) / 4u];
            vec4 a1 = s_gemm_a[(kk * GEMM_BM + 8u * ty) / 4u + 1u];
            vec4 b = s_gemm_b[(kk * GEMM_BN + 4u * tx) / 4u];
            acc[0] = fma(vec4(a0.x), b, acc[0]);
            acc[1] = fma(vec4(a0.y), b, acc[1]);
            acc[2] = fma(vec4(a0.z), b, acc[2]);
            acc[3] = fma(vec4(a0.w), b, acc[3]);
            acc[4] = fma(vec4(a1.x), b, acc[4]);
            acc[5] = fma(vec4(a1.y), b, acc[5]);
            acc[6] = fma(vec4(a1.z), b, acc[6]);
            acc[7] = fma(vec4(a1.w), b, acc[7]);
        }
        memoryBarrierShared();
        barrier();
    }
}
