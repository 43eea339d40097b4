// The CPU backend's own F32 GEMM (see cpu_sgemm.hpp). oneDNN's dnnl_sgemm
// and matmul primitives allocate on every call (a packing workspace, the
// execution-argument map), and their fixed per-call cost dominates the small
// products of online training; this GEMM packs into per-thread buffers that
// only grow, and runs small products on the calling thread.
//
// Blocking (BLIS style): for each NC-wide column block and KC-deep slice,
// op(B) is packed into NR-wide panels and op(A) into MR-high panels (zero
// padded), and an MR x NR micro-kernel accumulates each tile over the slice.
#include "backend/cpu/cpu_sgemm.hpp"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "backend/cpu/cpu_internal.hpp"
#include "backend/cpu/cpu_simd.hpp"

// GCC 12 warns about _mm512_undefined_ps() inside its own AVX-512 shuffle
// intrinsics (a false positive). Clang has no such warning (and, with
// -Werror, refuses an unknown one).
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace nn {
namespace cpu {
namespace {

constexpr int64_t KC = 384;   // depth of a packed slice
constexpr int64_t MC = 144;   // rows of a packed A block (multiple of 12 and 6)
constexpr int64_t NC = 1536;  // columns of a packed B block (multiple of 32 and 16)
// Products below this many multiply-adds run on the calling thread.
constexpr int64_t kParallelMacs = int64_t{1} << 22;

// Per-thread grow-only 64-byte aligned buffer.
struct Buf {
  float *p = nullptr;
  size_t cap = 0;
  ~Buf() { std::free(p); }
  float *get(size_t n) {
    if (n > cap) {
      size_t bytes = ((n * sizeof(float)) + 63) & ~size_t{63};
      void *q = std::aligned_alloc(64, bytes);
      if (!q) throw std::bad_alloc();
      std::free(p);
      p = static_cast<float *>(q);
      cap = bytes / sizeof(float);
    }
    return p;
  }
};

Buf &pack_a_buf() {
  thread_local Buf b;
  return b;
}
Buf &pack_b_buf() {
  thread_local Buf b;
  return b;
}

// ---- micro-kernels: acc[MR][NR] = sum_k Ap[k][i] * Bp[k][j];
// C tile = alpha * acc + beta * C (beta == 0: C not read).

__attribute__((target("avx512f,fma"))) void ukr_avx512(int64_t K, const float *Ap, const float *Bp, float *C,
                                                         int64_t ldc, float alpha, float beta) {
  __m512 c[12][2];
#pragma GCC unroll 12
  for (int i = 0; i < 12; ++i) c[i][0] = c[i][1] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    const __m512 b0 = _mm512_load_ps(Bp), b1 = _mm512_load_ps(Bp + 16);
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) {
      const __m512 a = _mm512_set1_ps(Ap[i]);
      c[i][0] = _mm512_fmadd_ps(a, b0, c[i][0]);
      c[i][1] = _mm512_fmadd_ps(a, b1, c[i][1]);
    }
    Ap += 12;
    Bp += 32;
  }
  const __m512 va = _mm512_set1_ps(alpha);
  if (beta == 0.f) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) {
      _mm512_storeu_ps(C + i * ldc, _mm512_mul_ps(va, c[i][0]));
      _mm512_storeu_ps(C + i * ldc + 16, _mm512_mul_ps(va, c[i][1]));
    }
  } else {
    const __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) {
      float *r = C + i * ldc;
      _mm512_storeu_ps(r, _mm512_fmadd_ps(va, c[i][0], _mm512_mul_ps(vb, _mm512_loadu_ps(r))));
      _mm512_storeu_ps(r + 16, _mm512_fmadd_ps(va, c[i][1], _mm512_mul_ps(vb, _mm512_loadu_ps(r + 16))));
    }
  }
}

// 6 x 16, plain C++ the compiler vectorises (with AVX2+FMA in the clone).
#define NN_GENERIC_UKR(name, attr)                                                                       \
  attr void name(int64_t K, const float *Ap, const float *Bp, float *C, int64_t ldc, float alpha,        \
                 float beta) {                                                                          \
    float acc[6][16] = {};                                                                              \
    for (int64_t k = 0; k < K; ++k) {                                                                   \
      for (int i = 0; i < 6; ++i) {                                                                     \
        const float a = Ap[i];                                                                          \
        for (int j = 0; j < 16; ++j) acc[i][j] += a * Bp[j];                                            \
      }                                                                                                 \
      Ap += 6;                                                                                          \
      Bp += 16;                                                                                         \
    }                                                                                                   \
    for (int i = 0; i < 6; ++i)                                                                         \
      for (int j = 0; j < 16; ++j)                                                                      \
        C[i * ldc + j] = beta == 0.f ? alpha * acc[i][j] : alpha * acc[i][j] + beta * C[i * ldc + j]; \
  }
NN_GENERIC_UKR(ukr_avx2, __attribute__((target("avx2,fma"))))
NN_GENERIC_UKR(ukr_generic, )
#undef NN_GENERIC_UKR

using Ukr = void (*)(int64_t, const float *, const float *, float *, int64_t, float, float);
struct Isa {
  Ukr ukr;
  int64_t mr, nr;
};

const Isa &isa() {
  static const Isa k = [] {
    if (cpu_has_avx512()) return Isa{ukr_avx512, 12, 32};
    if (cpu_has_avx2_fma()) return Isa{ukr_avx2, 6, 16};
    return Isa{ukr_generic, 6, 16};
  }();
  return k;
}


// In-register transpose of a 16x16 block: r[i] holds row i on entry and
// column i on exit.
NN_AVX512 inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  // r[4g + q] now holds, in each 128-bit lane l, elements (rows 4g..4g+3) of
  // column 4l + q. Gather lanes across groups.
  for (int q = 0; q < 4; ++q) {
    t[q] = _mm512_shuffle_f32x4(r[q], r[4 + q], _MM_SHUFFLE(1, 0, 1, 0));       // g0 l0,l1 | g1 l0,l1
    t[4 + q] = _mm512_shuffle_f32x4(r[q], r[4 + q], _MM_SHUFFLE(3, 2, 3, 2));   // g0 l2,l3 | g1 l2,l3
    t[8 + q] = _mm512_shuffle_f32x4(r[8 + q], r[12 + q], _MM_SHUFFLE(1, 0, 1, 0));
    t[12 + q] = _mm512_shuffle_f32x4(r[8 + q], r[12 + q], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int q = 0; q < 4; ++q) {
    // column q (lane 0): g0 l0, g1 l0, g2 l0, g3 l0
    r[q] = _mm512_shuffle_f32x4(t[q], t[8 + q], _MM_SHUFFLE(2, 0, 2, 0));
    r[4 + q] = _mm512_shuffle_f32x4(t[q], t[8 + q], _MM_SHUFFLE(3, 1, 3, 1));
    r[8 + q] = _mm512_shuffle_f32x4(t[4 + q], t[12 + q], _MM_SHUFFLE(2, 0, 2, 0));
    r[12 + q] = _mm512_shuffle_f32x4(t[4 + q], t[12 + q], _MM_SHUFFLE(3, 1, 3, 1));
  }
}

// dst[k * dld + i] = src[i * sld + k] for i < rows (<= 16), k < kc; rows
// past `rows` up to `width` (<= 16) are written as zeros.
NN_AVX512 void transpose_pack_avx512(const float *src, int64_t sld, int64_t rows, int64_t kc, float *dst,
                                     int64_t dld, int64_t width) {
  const __mmask16 wm = lanes_below(width);
  for (int64_t k0 = 0; k0 < kc; k0 += 16) {
    const int64_t kn = std::min<int64_t>(16, kc - k0);
    const __mmask16 km = lanes_below(kn);
    __m512 r[16];
    for (int64_t i = 0; i < 16; ++i)
      r[i] = i < rows ? _mm512_maskz_loadu_ps(km, src + i * sld + k0) : _mm512_setzero_ps();
    transpose16(r);
    float *d = dst + k0 * dld;
    if (width == 16) {
      for (int64_t k = 0; k < kn; ++k) _mm512_storeu_ps(d + k * dld, r[k]);
    } else {
      for (int64_t k = 0; k < kn; ++k) _mm512_mask_storeu_ps(d + k * dld, wm, r[k]);
    }
  }
}

// Packs rows [0, mc) x depth [0, kc) of op(A) (origin already applied) into
// MR-high panels: Ap[p][k][i], zero rows past mc.
void pack_a(bool ta, const float *A, int64_t lda, int64_t mc, int64_t kc, int64_t mr, float *Ap) {
  for (int64_t p0 = 0; p0 < mc; p0 += mr) {
    const int64_t rows = std::min(mr, mc - p0);
    if (ta) {  // op(A)(i, k) = A[k * lda + i]: rows contiguous per k
      for (int64_t k = 0; k < kc; ++k) {
        const float *src = A + k * lda + p0;
        float *dst = Ap + k * mr;
        int64_t i = 0;
        for (; i < rows; ++i) dst[i] = src[i];
        for (; i < mr; ++i) dst[i] = 0.f;
      }
    } else if (mr == 12) {  // AVX-512 ISA: 16x16 register transposes
      transpose_pack_avx512(A + p0 * lda, lda, rows, kc, Ap, mr, mr);
    } else {
      for (int64_t k = 0; k < kc; ++k) {
        float *dst = Ap + k * mr;
        int64_t i = 0;
        for (; i < rows; ++i) dst[i] = A[(p0 + i) * lda + k];
        for (; i < mr; ++i) dst[i] = 0.f;
      }
    }
    Ap += kc * mr;
  }
}

// Packs depth [0, kc) x columns [0, nc) of op(B) into NR-wide panels:
// Bp[q][k][j], zero columns past nc.
void pack_b(bool tb, const float *B, int64_t ldb, int64_t kc, int64_t nc, int64_t nr, float *Bp) {
  for (int64_t q0 = 0; q0 < nc; q0 += nr) {
    const int64_t cols = std::min(nr, nc - q0);
    if (!tb) {  // op(B)(k, j) = B[k * ldb + j]
      for (int64_t k = 0; k < kc; ++k) {
        float *dst = Bp + k * nr;
        std::memcpy(dst, B + k * ldb + q0, static_cast<size_t>(cols) * sizeof(float));
        for (int64_t j = cols; j < nr; ++j) dst[j] = 0.f;
      }
    } else if (nr == 32) {  // AVX-512 ISA: two 16-column halves, 16x16 transposes
      for (int64_t h = 0; h < 32; h += 16) {
        const int64_t c = std::max<int64_t>(0, std::min<int64_t>(16, cols - h));
        transpose_pack_avx512(c > 0 ? B + (q0 + h) * ldb : B, ldb, c, kc, Bp + h, nr, 16);
      }
    } else {  // op(B)(k, j) = B[j * ldb + k]
      for (int64_t j = 0; j < cols; ++j) {
        const float *src = B + (q0 + j) * ldb;
        for (int64_t k = 0; k < kc; ++k) Bp[k * nr + j] = src[k];
      }
      for (int64_t j = cols; j < nr; ++j)
        for (int64_t k = 0; k < kc; ++k) Bp[k * nr + j] = 0.f;
    }
    Bp += kc * nr;
  }
}

// One thread's product (any sizes > 0).
void sgemm_serial(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                  const float *B, int64_t ldb, float beta, float *C, int64_t ldc, const SgemmEpilogue &epi,
                  int64_t row0, int64_t col0) {
  const Isa &is = isa();
  const int64_t mr = is.mr, nr = is.nr;
  // Equal slices of at most KC (784 = 3 x 272, not 384 + 384 + 16): no thin
  // last slice that costs a full pass over C for little work.
  const int64_t kslices = (K + KC - 1) / KC;
  const int64_t kc_step = std::min(K, (((K + kslices - 1) / kslices) + 15) / 16 * 16);
  const int64_t kc_max = kc_step;
  float *Ap = pack_a_buf().get(static_cast<size_t>(((std::min(M, MC) + mr - 1) / mr) * mr * kc_max));
  const int64_t nc_max = std::min(N, NC);
  float *Bp = pack_b_buf().get(static_cast<size_t>(((nc_max + nr - 1) / nr) * nr * kc_max));
  alignas(64) float tile[12 * 32];
  for (int64_t jc = 0; jc < N; jc += NC) {
    const int64_t nc = std::min(NC, N - jc);
    for (int64_t pc = 0; pc < K; pc += kc_step) {
      const int64_t kc = std::min(kc_step, K - pc);
      const float b_eff = pc == 0 ? beta : 1.f;
      const bool last = pc + kc == K;
      pack_b(tb, tb ? B + jc * ldb + pc : B + pc * ldb + jc, ldb, kc, nc, nr, Bp);
      for (int64_t ic = 0; ic < M; ic += MC) {
        const int64_t mc = std::min(MC, M - ic);
        pack_a(ta, ta ? A + pc * lda + ic : A + ic * lda + pc, lda, mc, kc, mr, Ap);
        for (int64_t jr = 0; jr < nc; jr += nr) {
          const int64_t cols = std::min(nr, nc - jr);
          const float *bp = Bp + (jr / nr) * kc * nr;
          for (int64_t ir = 0; ir < mc; ir += mr) {
            const int64_t rows = std::min(mr, mc - ir);
            const float *ap = Ap + (ir / mr) * kc * mr;
            float *c = C + (ic + ir) * ldc + jc + jr;
            if (rows == mr && cols == nr) {
              is.ukr(kc, ap, bp, c, ldc, alpha, b_eff);
            } else {
              is.ukr(kc, ap, bp, tile, nr, alpha, 0.f);
              for (int64_t i = 0; i < rows; ++i)
                for (int64_t j = 0; j < cols; ++j) {
                  float &o = c[i * ldc + j];
                  o = b_eff == 0.f ? tile[i * nr + j] : tile[i * nr + j] + b_eff * o;
                }
            }
            if (last && epi.fn) epi.fn(epi.ctx, c, ldc, rows, cols, row0 + ic + ir, col0 + jc + jr);
          }
        }
      }
    }
  }
}

// ---- small products: no packing, loops the compiler vectorises (clones
// for AVX-512 and AVX2 picked at load time).

// C[i][n] = alpha * dot(op(A) row i, B row n) + beta * C: op(A) rows
// contiguous (!ta), B is [N, K] (tb).
NN_TARGET_CLONES("avx2", "default") void small_dot_generic(
    int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
    float beta, float *C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    const float *a = A + i * lda;
    float *c = C + i * ldc;
    for (int64_t n = 0; n < N; ++n) {
      const float *b = B + n * ldb;
      float s = 0.f;
#pragma omp simd reduction(+ : s)
      for (int64_t k = 0; k < K; ++k) s += a[k] * b[k];
      c[n] = beta == 0.f ? alpha * s : alpha * s + beta * c[n];
    }
  }
}

// C[i][:] = beta * C[i][:] + sum_k alpha * op(A)(i, k) * B[k][:]: B is
// [K, N] (!tb); op(A)(i, k) = A[i * lda + k], or A[k * lda + i] when ta.
NN_TARGET_CLONES("avx2", "default") void small_axpy_generic(
    bool ta, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda, const float *B,
    int64_t ldb, float beta, float *C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    float *c = C + i * ldc;
    if (beta == 0.f) {
#pragma omp simd
      for (int64_t j = 0; j < N; ++j) c[j] = 0.f;
    } else if (beta != 1.f) {
#pragma omp simd
      for (int64_t j = 0; j < N; ++j) c[j] *= beta;
    }
    for (int64_t k = 0; k < K; ++k) {
      const float av = alpha * (ta ? A[k * lda + i] : A[i * lda + k]);
      const float *b = B + k * ldb;
#pragma omp simd
      for (int64_t j = 0; j < N; ++j) c[j] += av * b[j];
    }
  }
}

// One 16-column chunk k of small_dot_avx512's sixteen rows: always 16 rows,
// fully unrolled, so the accumulators stay in registers (a variable trip
// count spilled them to the stack); rows past N load nothing and stay 0
// (mask 0, pointer kept on row 0). dot_step: the one-row matvec chain's
// arithmetic.
template <bool first>
NN_AVX512 inline __attribute__((always_inline)) void small_dot_chunk(__m512 *s, const float *a, const float *b0,
                                                                      int64_t ldb, int64_t nn_, int64_t k, int64_t K) {
  const __mmask16 m = lanes_below(K - k);
  const __m512 av = _mm512_maskz_loadu_ps(m, a + k);
#pragma GCC unroll 16
  for (int q = 0; q < 16; ++q) {
    const bool live = q < nn_;
    const __mmask16 mq = live ? m : __mmask16(0);
    s[q] = dot_step(first, s[q], av, _mm512_maskz_loadu_ps(mq, b0 + (live ? q : 0) * ldb + k), mq);
  }
}

// small_dot with AVX-512: sixteen outputs at a time share the loads of A's
// row, and one tree reduction gives their sums.
NN_AVX512 void small_dot_avx512(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                                const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  for (int64_t i = 0; i < M; ++i) {
    const float *a = A + i * lda;
    float *c = C + i * ldc;
    for (int64_t n = 0; n < N; n += 16) {
      const int64_t nn_ = std::min<int64_t>(16, N - n);
      const float *b0 = B + n * ldb;
      __m512 s[16];
      for (int q = 0; q < 16; ++q) s[q] = _mm512_setzero_ps();
      small_dot_chunk<true>(s, a, b0, ldb, nn_, 0, K);  // K >= 1: sgemm handles K <= 0 itself
      for (int64_t k = 16; k < K; k += 16) small_dot_chunk<false>(s, a, b0, ldb, nn_, k, K);
      const __mmask16 om = lanes_below(nn_);
      __m512 r = _mm512_mul_ps(va, reduce16(s));
      if (beta != 0.f) r = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(om, c + n), r);
      _mm512_mask_storeu_ps(c + n, om, r);
    }
  }
}

NN_AVX512 void small_axpy_avx512(bool ta, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                                 const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
  const __m512 vb = _mm512_set1_ps(beta);
  for (int64_t i = 0; i < M; ++i) {
    float *c = C + i * ldc;
    // Up to 64 columns at a time: four independent accumulators share each
    // broadcast of op(A)(i, k).
    for (int64_t j = 0; j < N; j += 64) {
      __mmask16 m[4];
      __m512 acc[4];
      for (int q = 0; q < 4; ++q) {
        m[q] = lanes_below(N - j - 16 * q);
        acc[q] = beta == 0.f ? _mm512_setzero_ps() : _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(m[q], c + j + 16 * q));
      }
      for (int64_t k = 0; k < K; ++k) {
        const __m512 av = _mm512_set1_ps(alpha * (ta ? A[k * lda + i] : A[i * lda + k]));
        const float *b = B + k * ldb + j;
        for (int q = 0; q < 4; ++q) acc[q] = _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(m[q], b + 16 * q), acc[q]);
      }
      for (int q = 0; q < 4; ++q) _mm512_mask_storeu_ps(c + j + 16 * q, m[q], acc[q]);
    }
  }
}

void small_dot(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
               float beta, float *C, int64_t ldc) {
  if (isa().mr == 12)
    small_dot_avx512(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  else
    small_dot_generic(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void small_axpy(bool ta, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda, const float *B,
                int64_t ldb, float beta, float *C, int64_t ldc) {
  if (isa().mr == 12)
    small_axpy_avx512(ta, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  else
    small_axpy_generic(ta, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

// Products at most this many multiply-adds take the unpacked loops.
constexpr int64_t kSmallMacs = int64_t{1} << 16;

}  // namespace

int sgemm_threads(int64_t M, int64_t N, int64_t K) {
  const int t = num_threads();
  if (t <= 1 || M * N * K < kParallelMacs) return 1;
  return t;
}

void sgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
           const float *B, int64_t ldb, float beta, float *C, int64_t ldc, const SgemmEpilogue &epi) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.f) {
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        float &o = C[i * ldc + j];
        o = beta == 0.f ? 0.f : beta * o;
      }
    if (epi.fn) epi.fn(epi.ctx, C, ldc, M, N, 0, 0);
    return;
  }
  const int T = sgemm_threads(M, N, K);
  if (T <= 1 && (M * N * K <= kSmallMacs || M <= 2) && !(ta && tb)) {
    if (tb)
      small_dot(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else
      small_axpy(ta, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    if (epi.fn) epi.fn(epi.ctx, C, ldc, M, N, 0, 0);
    return;
  }
  if (T <= 1) {
    sgemm_serial(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, epi, 0, 0);
    return;
  }
  // Split the columns (NR-aligned) when there are enough, else the rows;
  // each thread runs an independent product with its own packing buffers.
  const Isa &is = isa();
  const bool split_n = (N + is.nr - 1) / is.nr >= 2 * T;
  const int64_t unit = split_n ? is.nr : is.mr;
  const int64_t total = split_n ? N : M;
  const int64_t units = (total + unit - 1) / unit;
  bool failed = false;
#pragma omp parallel num_threads(T)
  {
    const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t u0 = units * t / nt, u1 = units * (t + 1) / nt;
    const int64_t s0 = std::min(total, u0 * unit), s1 = std::min(total, u1 * unit);
    if (s1 > s0) {
      try {
        if (split_n)
          sgemm_serial(ta, tb, M, s1 - s0, K, alpha, A, lda, tb ? B + s0 * ldb : B + s0, ldb, beta, C + s0, ldc,
                       epi, 0, s0);
        else
          sgemm_serial(ta, tb, s1 - s0, N, K, alpha, ta ? A + s0 : A + s0 * lda, lda, B, ldb, beta, C + s0 * ldc,
                       ldc, epi, s0, 0);
      } catch (...) {
#pragma omp atomic write
        failed = true;
      }
    }
  }
  if (failed) throw std::bad_alloc();
}

}  // namespace cpu
}  // namespace nn
