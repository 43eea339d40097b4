// The CPU backend's layer kernels: Linear forward and backward on raw
// pointers (F32 through product(): large products through oneDNN, the
// others through the backend's own GEMM, cpu_sgemm.cpp:
// packed AVX-512/AVX2 micro-kernels, the bias preloaded into y and the
// activation applied to each finished tile; F64 through loops), the
// activation wrappers, and CpuTrainBackend::gather_rows_device. What
// cpu_plan.cpp runs (one F32 row through small units: matvec_chain_avx512
// instead). Nothing here allocates in the steady state below product()'s
// oneDNN size: oneDNN's sgemm and primitives allocate on every call and cost
// more than the arithmetic for small shapes. Loops run in parallel above a
// size (a serial loop below: an OpenMP region with if(false) still allocates
// a team in libgomp). Vector math: cpu_vecmath.cpp; activations and losses:
// cpu_act_loss.cpp.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "backend/cpu/cpu_kernels.hpp"
#include "backend/cpu/cpu_sgemm.hpp"
#include "backend/cpu/cpu_train.hpp"

namespace nn {
namespace cpu {
namespace {

// out[M,N] = alpha * op(a) op(b) + beta * out, dense row-major operands.
template <class T>
void gemm_loop(bool ta, bool tb, T alpha, const T *a, const T *b, T beta, T *out, int64_t M, int64_t N, int64_t K) {
  // Pack op(a) as [M,K] and op(b) as [K,N] row-major when transposed.
  const T *A = a;
  const T *B = b;
  if (ta) {
    T *p = static_cast<T *>(scratch(kScratchA, static_cast<size_t>(M * K) * sizeof(T)));
    pfor(M * K >= kParallelGrain, M, [&](int64_t i) {
      for (int64_t k = 0; k < K; ++k) p[i * K + k] = a[k * M + i];
    });
    A = p;
  }
  if (tb) {
    T *p = static_cast<T *>(scratch(kScratchB, static_cast<size_t>(K * N) * sizeof(T)));
    pfor(K * N >= kParallelGrain, K, [&](int64_t k) {
      for (int64_t j = 0; j < N; ++j) p[k * N + j] = b[j * K + k];
    });
    B = p;
  }
  constexpr int64_t kBlockK = 256, kBlockN = 512;
  bool par = M * N * std::max<int64_t>(K, 1) >= kParallelGrain;
  pfor(par, M, [&](int64_t i) {
    T *o = out + i * N;
    if (beta == T(0)) {
      for (int64_t j = 0; j < N; ++j) o[j] = T(0);
    } else if (beta != T(1)) {
      for (int64_t j = 0; j < N; ++j) o[j] *= beta;
    }
    for (int64_t j0 = 0; j0 < N; j0 += kBlockN) {
      int64_t j1 = std::min(N, j0 + kBlockN);
      for (int64_t k0 = 0; k0 < K; k0 += kBlockK) {
        int64_t k1 = std::min(K, k0 + kBlockK);
        for (int64_t k = k0; k < k1; ++k) {
          T av = alpha * A[i * K + k];
          const T *br = B + k * N;
          for (int64_t j = j0; j < j1; ++j) o[j] += av * br[j];
        }
      }
    }
  });
}

template <class T>
void sum_rows_loop(T *db, const T *g, int64_t M, int64_t N, double beta) {
  constexpr int64_t kBlock = 64;
  int64_t nblocks = (N + kBlock - 1) / kBlock;
  bool par = M * N >= kParallelGrain && nblocks > 1;
  pfor(par, nblocks, [&](int64_t bI) {
    int64_t j0 = bI * kBlock, j1 = std::min(N, j0 + kBlock);
    double acc[kBlock];
    for (int64_t j = j0; j < j1; ++j) acc[j - j0] = 0.0;
    for (int64_t i = 0; i < M; ++i) {
      const T *gr = g + i * N;
      for (int64_t j = j0; j < j1; ++j) acc[j - j0] += static_cast<double>(gr[j]);
    }
    for (int64_t j = j0; j < j1; ++j) {
      double base = beta == 0.0 ? 0.0 : beta * static_cast<double>(db[j]);
      db[j] = static_cast<T>(base + acc[j - j0]);
    }
  });
}

// Every F32 product of a step: out = op(a) op(b) (+ out when accumulate).
// Products of at least kOneDnnMacs multiply-adds run through oneDNN
// (dnnl_gemm_f32, cpu_dnnl.cpp: a matmul primitive cached per shape or
// dnnl_sgemm, per kind of product): measured 10-30% faster than our sgemm on
// such shapes, 1 and 2 threads, and at that size its per-call bookkeeping (a
// few small allocations) costs nothing measurable. Smaller products keep our sgemm,
// which allocates nothing and applies epi to each finished tile. Returns
// whether epi was applied; when it was not (oneDNN), the caller finishes.
bool product(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float *a, int64_t lda, const float *b,
             int64_t ldb, bool accumulate, float *out, int64_t ldc, const SgemmEpilogue &epi = {}) {
  constexpr int64_t kOneDnnMacs = int64_t{1} << 24;
  if (M * N * K >= kOneDnnMacs && dnnl_gemm_f32(ta, tb, M, N, K, a, lda, b, ldb, accumulate, out, ldc))
    return false;
  sgemm(ta, tb, M, N, K, 1.f, a, lda, b, ldb, accumulate ? 1.f : 0.f, out, ldc, epi);
  return true;
}

// One row's Linear backward: activation backward and bias gradient in one
// pass, then dw as an outer product g x^T and dx = g w (rows of w scaled and
// added). Every operand by value and clones for AVX-512 and AVX2, so the
// loops run in the widest vectors (in the generic build they ran in SSE:
// half of an online training step). -std=c++17 keeps fp-contract off: every
// clone gives the same results.
NN_TARGET_CLONES("avx512f", "avx2", "default")
void row_backward_f32(Act act, float *__restrict g, const float *__restrict y, const float *__restrict x,
                      const float *__restrict w, float *__restrict dw, float *__restrict db, float *__restrict dx,
                      int64_t N, int64_t K, bool accumulate) {
  for (int64_t o = 0; o < N; ++o) {
    float go = g[o];
    const float yo = y[o];
    switch (act) {
      case Act::Relu: go = yo <= 0.f ? 0.f : go; break;
      case Act::LeakyRelu: go = yo > 0.f ? go : go * static_cast<float>(kLeakySlope); break;
      case Act::Sigmoid: go = go * yo * (1.f - yo); break;
      case Act::Tanh: go = go * (1.f - yo * yo); break;
      default: break;
    }
    g[o] = go;
    if (db) db[o] = accumulate ? static_cast<float>(static_cast<double>(db[o]) + static_cast<double>(go)) : go;
  }
  for (int64_t o = 0; o < N; ++o) {
    const float go = g[o];
    float *__restrict dwr = dw + o * K;
    if (accumulate) {
#pragma omp simd
      for (int64_t i = 0; i < K; ++i) dwr[i] += go * x[i];
    } else {
#pragma omp simd
      for (int64_t i = 0; i < K; ++i) dwr[i] = go * x[i];
    }
  }
  if (dx) {
    for (int64_t i = 0; i < K; ++i) dx[i] = 0.f;
    for (int64_t o = 0; o < N; ++o) {
      const float go = g[o];
      const float *__restrict wr = w + o * K;
#pragma omp simd
      for (int64_t i = 0; i < K; ++i) dx[i] += go * wr[i];
    }
  }
}

}  // namespace

void linear_forward_f32(Act act, float *yp, const float *x, const float *w, const float *bp, int64_t M, int64_t N,
                        int64_t K) {
  // y = bias (each row), then y += x w^T with the activation applied to
  // each finished tile while it is in cache.
  if (bp)
    for (int64_t i = 0; i < M; ++i) std::memcpy(yp + i * N, bp, static_cast<size_t>(N) * sizeof(float));
  SgemmEpilogue epi;
  Act tile_act = act;
  if (act == Act::Relu || act == Act::LeakyRelu || act == Act::Sigmoid || act == Act::Tanh) {
    epi.fn = act_tile;
    epi.ctx = &tile_act;
  }
  const bool tiles_done = product(false, true, M, N, K, x, K, w, K, bp != nullptr, yp, N, epi) && epi.fn;
  if (!tiles_done && act != Act::Identity) act_forward_loop<float>(act, yp, yp, M, N);
}

void activation_forward_f32(Act act, float *y, const float *x, int64_t rows, int64_t cols) {
  act_forward_loop<float>(act, y, x, rows, cols);
}

void activation_backward_f32(Act act, float *dx, const float *dy, const float *y, int64_t rows, int64_t cols) {
  act_backward_loop<float>(act, dx, dy, y, rows, cols);
}

void linear_backward_f32(Act act, float *g, const float *y, const float *x, const float *w, float *dw, float *db,
                         float *dx, int64_t M, int64_t N, int64_t K, bool accumulate) {
  if (M == 1 && act != Act::Softmax) {
    row_backward_f32(act, g, y, x, w, dw, db, dx, N, K, accumulate);
    return;
  }
  if (act != Act::Identity) act_backward_loop<float>(act, g, g, y, M, N);
  product(true, false, N, K, M, g, N, x, K, accumulate, dw, K);
  if (db) sum_rows_loop<float>(db, g, M, N, accumulate ? 1.0 : 0.0);
  if (dx) product(false, false, M, K, N, g, N, w, K, false, dx, K);
}

void linear_forward_f64(Act act, double *y, const double *x, const double *w, const double *b, int64_t M, int64_t N,
                        int64_t K) {
  gemm_loop<double>(false, true, 1.0, x, w, 0.0, y, M, N, K);
  if (b)
    pfor(M * N >= kParallelGrain, M, [&](int64_t i) {
      for (int64_t j = 0; j < N; ++j) y[i * N + j] += b[j];
    });
  act_forward_loop<double>(act, y, y, M, N);
}

void activation_forward_f64(Act act, double *y, const double *x, int64_t rows, int64_t cols) {
  act_forward_loop<double>(act, y, x, rows, cols);
}

void activation_backward_f64(Act act, double *dx, const double *dy, const double *y, int64_t rows, int64_t cols) {
  act_backward_loop<double>(act, dx, dy, y, rows, cols);
}

void linear_backward_f64(Act act, double *g, const double *y, const double *x, const double *w, double *dw,
                         double *db, double *dx, int64_t M, int64_t N, int64_t K, bool accumulate) {
  if (act != Act::Identity) act_backward_loop<double>(act, g, g, y, M, N);
  gemm_loop<double>(true, false, 1.0, g, x, accumulate ? 1.0 : 0.0, dw, N, K, M);
  if (db) sum_rows_loop<double>(db, g, M, N, accumulate ? 1.0 : 0.0);
  if (dx) gemm_loop<double>(false, false, 1.0, g, w, 0.0, dx, M, K, N);
}

void CpuTrainBackend::gather_rows_device(const View &out, const View &src, const View &iv, int64_t n) {
  guarded("gather_rows", [&] {
    need_contiguous("gather_rows", out, "out");
    need_contiguous("gather_rows", src, "src");
    if (n == 0) return;
    if (iv.dtype != DType::I64 || iv.numel() < n || !iv.contiguous())
      fail(Errc::Internal, "cpu gather_rows: idx must be contiguous int64 with >= %lld elements",
           static_cast<long long>(n));
    const int64_t *idx = static_cast<const int64_t *>(iv.data);
    const int64_t src_rows = src.shape.ndim > 0 ? src.shape[0] : 1;
    const size_t row_bytes =
        src_rows > 0 ? static_cast<size_t>(src.numel() / src_rows) * dtype_size(src.dtype) : 0;
    for (int64_t i = 0; i < n; ++i)
      if (idx[i] < 0 || idx[i] >= src_rows)
        fail(Errc::Internal, "cpu gather_rows: index %lld outside 0..%lld", static_cast<long long>(idx[i]),
             static_cast<long long>(src_rows - 1));
    const char *s = static_cast<const char *>(src.data);
    char *o = static_cast<char *>(out.data);
    pfor(static_cast<int64_t>(row_bytes) * n >= (int64_t{1} << 18), n, [&](int64_t i) { std::memcpy(o + i * row_bytes, s + idx[i] * row_bytes, row_bytes); });
  });
}

}  // namespace cpu
}  // namespace nn
