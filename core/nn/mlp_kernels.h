// The MLP's register-tiled GEMM, shared by the CPU passes of core/nn (not an API for other rooms).
#pragma once
#include <cstddef>

namespace fmp {

// Called on each finished block of rows [first_row, first_row + rows) of C while it is still in
// L1 (blocks of up to 6 rows, starting at multiples of 6; all of C at once on the Eigen path).
using GemmEpilogue = void (*)(void* context, std::size_t first_row, std::size_t rows);

// C (M x N) = A (M x K) B (K x N) (+ bias, one value per column, when given); all row-major with
// leading dimensions lda, ldb, ldc. The AVX-512 kernel of mlp_cpu.cpp where it applies (N a
// multiple of 16), Eigen otherwise.
void mlp_gemm(std::size_t M, int N, int K, const float* A, std::ptrdiff_t lda, const float* B,
              std::ptrdiff_t ldb, float* C, std::ptrdiff_t ldc, const float* bias,
              GemmEpilogue epilogue = nullptr, void* context = nullptr);

}  // namespace fmp
