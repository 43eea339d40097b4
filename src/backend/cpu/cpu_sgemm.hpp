// The CPU backend's own F32 GEMM (cpu_sgemm.cpp): packed panels and an
// AVX-512 (12x32) or AVX2/generic (6x16) micro-kernel chosen at run time,
// per-thread grow-only packing buffers (no allocation in the steady state),
// and a thread count chosen by the work size: small products run on the
// calling thread without any OpenMP region.
#pragma once
#include <cstdint>

namespace nn {
namespace cpu {

// What runs on each finished tile of C (rows r0.., cols c0.., all of K
// accumulated): an optional fused epilogue, e.g. an activation.
struct SgemmEpilogue {
  void (*fn)(void *ctx, float *c, int64_t ldc, int64_t rows, int64_t cols, int64_t r0, int64_t c0) = nullptr;
  void *ctx = nullptr;
};

// C[M,N] = alpha * op(A) op(B) + beta * C, row-major; op(A) is [M,K] (A is
// [K,M] with leading dimension lda when ta), op(B) is [K,N] (B is [N,K] when
// tb). beta == 0 ignores C's old values (NaN included). K may be 0.
void sgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
           const float *B, int64_t ldb, float beta, float *C, int64_t ldc, const SgemmEpilogue &epi = {});

// The thread count a product of this size runs with (1: serial).
int sgemm_threads(int64_t M, int64_t N, int64_t K);

}  // namespace cpu
}  // namespace nn
