// The CPU backend's training kernels (all of CpuTrainBackend but the optimizer
// updates, which live in cpu_optim.cpp).
//
// F32: gemm and linear_forward use the backend's own GEMM (cpu_sgemm.cpp:
// packed AVX-512/AVX2 micro-kernels, per-thread packing buffers, threads
// chosen by size), with the bias preloaded into y and the activation applied
// to each finished tile (softmax and step run on the output afterwards).
// oneDNN's sgemm and primitives allocate on every call and cost more than
// the arithmetic for small shapes, so a training step here allocates nothing.
// Activations and their derivatives, F64 everything: loops, parallel above
// a size (a serial loop below: an OpenMP region with if(false) still
// allocates a team in libgomp).
//
// Activation derivatives are taken from the output y only (relu: y > 0,
// leaky relu: y > 0 ? 1 : 0.01, sigmoid: y(1-y), tanh: 1-y^2, softmax:
// y (dy - sum(dy y))), exactly equivalent to the x-based forms; x is unused
// and may have a NULL data pointer.
//
// NaN and inf as PyTorch, on every route (act_forward_loop, the GEMM
// epilogue act_tile, matvec_avx512, the one-row backward): every activation
// keeps NaN forward. ReLU is torch.relu = clamp_min(x, 0), i.e.
// `x < 0 ? 0 : x` (NaN and -0 pass; _mm512_max_ps(0, x) is the same
// operation: MAXPS returns its second operand when either is NaN); STEP
// gives NaN for NaN. Backward: ReLU as threshold_backward(dy, y, 0) =
// `y <= 0 ? 0 : dy` (the gradient passes where y is NaN); leaky ReLU as
// leaky_relu_backward, `y > 0 ? dy : 0.01 dy`; sigmoid, tanh and softmax
// propagate NaN by their arithmetic.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <limits>
#include <new>
#include <type_traits>

#include "backend/cpu/cpu_internal.hpp"
#include "backend/cpu/cpu_sgemm.hpp"
#include "backend/cpu/cpu_simd.hpp"
#include "backend/cpu/cpu_train.hpp"
#include "core/error.hpp"

// GCC 12 warns about _mm512_undefined_ps() inside its own AVX-512
// intrinsics (a false positive). Clang has no such warning (and, with
// -Werror, refuses an unknown one).
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace nn {
namespace cpu {
namespace {

constexpr double kLeakySlope = 0.01;
// Loops parallelise only above this many elements.
constexpr int64_t kParallelGrain = 1 << 14;

// Loops run in an OpenMP team only when worth it; a serial loop otherwise
// (an OpenMP region with if(false) still allocates a team in libgomp).
template <class F>
inline void pfor(bool par, int64_t n, F &&f) {
  if (par && n > 1 && num_threads() > 1) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) f(i);
  } else {
    for (int64_t i = 0; i < n; ++i) f(i);
  }
}

// Sum over i of what f(i, acc) adds into acc.
template <class F>
inline double psum(bool par, int64_t n, F &&f) {
  double sum = 0;
  if (par && n > 1 && num_threads() > 1) {
#pragma omp parallel for schedule(static) reduction(+ : sum)
    for (int64_t i = 0; i < n; ++i) f(i, sum);
  } else {
    for (int64_t i = 0; i < n; ++i) f(i, sum);
  }
  return sum;
}

void need_float(const char *what, DType dt) {
  if (dt != DType::F32 && dt != DType::F64)
    fail(Errc::Unsupported, "cpu %s: dtype %s is not supported (float32 or float64)", what, dtype_name(dt));
}

void need_contiguous(const char *what, const View &v, const char *name) {
  if (!v.contiguous()) fail(Errc::Internal, "cpu %s: %s is not contiguous", what, name);
}

// Rows and columns of a 2-D dense view (a 1-D view is one row).

// ---------------------------------------------------------------------------
// Loops (F64, and F32 where oneDNN has nothing).

template <class T>
T sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}

// torch.relu (clamp_min(x, 0)): NaN and -0 pass through.
template <class T>
inline T relu(T x) {
  return x < T(0) ? T(0) : x;
}

// 1 where x > 0, 0 where x <= 0, NaN for NaN.
template <class T>
inline T step(T x) {
  return x > T(0) ? T(1) : (x != x ? x : T(0));
}

// Vectorisable float tanh and sigmoid (Cephes expf/tanhf polynomials, a few
// ulp), cloned for AVX-512 and AVX2: the libm calls cost more than the whole
// small linear layer. NaN propagates; y may alias x.
inline __attribute__((always_inline)) float expf_poly(float x) {
  x = x > 88.3f ? 88.3f : (x < -87.3f ? -87.3f : x);
  const float t = x * 1.44269504088896341f;
  const int32_t n = static_cast<int32_t>(t + (t >= 0.f ? 0.5f : -0.5f));
  const float fn = static_cast<float>(n);
  float r = x - fn * 0.693359375f;
  r = r - fn * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.f;
  const int32_t bits = (n + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

void tanh_generic(float *y, const float *x, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    const float a = v < 0.f ? -v : v;
    const float z = v * v;
    float small = -5.70498872745e-3f;
    small = small * z + 2.06390887954e-2f;
    small = small * z - 5.37397155531e-2f;
    small = small * z + 1.33314422036e-1f;
    small = small * z - 3.33332819422e-1f;
    small = small * z * v + v;
    const float e = expf_poly(2.f * (a < 9.f ? a : 9.f));
    float big = 1.f - 2.f / (e + 1.f);
    big = a >= 9.f ? 1.f : big;
    big = v < 0.f ? -big : big;
    const float r = a < 0.625f ? small : big;
    y[i] = (v != v || a == 0.f) ? v : r;  // NaN, and the sign of zero
  }
}

void sigmoid_generic(float *y, const float *x, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    const float r = v < -88.f ? 0.f : 1.f / (1.f + expf_poly(-v));
    y[i] = v != v ? v : r;
  }
}

NN_AVX512 inline __m512 exp512(__m512 x) {
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.3f));
  const __m512 fn = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(fn, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(fn, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.f)));
  const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(fn), _mm512_set1_epi32(127)), 23);
  return _mm512_mul_ps(p, _mm512_castsi512_ps(e));
}

NN_AVX512 inline __attribute__((always_inline)) __m512 tanh512(__m512 v) {
  const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff);
  {
    const __m512i vi = _mm512_castps_si512(v);
    const __m512 a = _mm512_castsi512_ps(_mm512_and_si512(vi, abs_mask));
    const __m512 z = _mm512_mul_ps(v, v);
    __m512 sm = _mm512_set1_ps(-5.70498872745e-3f);
    sm = _mm512_fmadd_ps(sm, z, _mm512_set1_ps(2.06390887954e-2f));
    sm = _mm512_fmadd_ps(sm, z, _mm512_set1_ps(-5.37397155531e-2f));
    sm = _mm512_fmadd_ps(sm, z, _mm512_set1_ps(1.33314422036e-1f));
    sm = _mm512_fmadd_ps(sm, z, _mm512_set1_ps(-3.33332819422e-1f));
    sm = _mm512_fmadd_ps(_mm512_mul_ps(sm, z), v, v);
    const __m512 e = exp512(_mm512_mul_ps(_mm512_set1_ps(2.f), _mm512_min_ps(a, _mm512_set1_ps(9.f))));
    __m512 big = _mm512_sub_ps(_mm512_set1_ps(1.f), _mm512_div_ps(_mm512_set1_ps(2.f), _mm512_add_ps(e, _mm512_set1_ps(1.f))));
    big = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, _mm512_set1_ps(9.f), _CMP_GE_OQ), big, _mm512_set1_ps(1.f));
    big = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(big), _mm512_andnot_si512(abs_mask, vi)));
    __m512 r = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, _mm512_set1_ps(0.625f), _CMP_LT_OQ), big, sm);
    // NaN, and the sign of zero, pass through.
    const __mmask16 keep = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q) | _mm512_cmp_ps_mask(a, _mm512_setzero_ps(), _CMP_EQ_OQ);
    return _mm512_mask_blend_ps(keep, r, v);
  }
}

NN_AVX512 void tanh_avx512(float *y, const float *x, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n - i)) - 1u);
    _mm512_mask_storeu_ps(y + i, m, tanh512(_mm512_maskz_loadu_ps(m, x + i)));
  }
}

// One row (M == 1, K <= 64) of linear_forward with AVX-512: y = act(W x + b)
// with W [N, K] rows contiguous. x stays in registers; sixteen outputs at a
// time share its loads and one tree reduction gives their sums; bias and
// activation are applied in registers. Same arithmetic, in the same order,
// as small_dot followed by the tile epilogue (bit-identical results).

constexpr int64_t kMatvecMaxK = 64;

// R live rows at most per group: R = 8 lets the compiler drop the loads,
// FMAs and half the reduction of a group of 8 outputs or fewer.
template <int R>
NN_AVX512 inline __attribute__((always_inline)) void matvec_group(Act act, float *y, const __m512 *xv,
                                                                   const __mmask16 *km, int nc, const float *b0,
                                                                   const float *b, int64_t nn_, int64_t K) {
  __m512 s[16];
  for (int q = 0; q < 16; ++q) s[q] = _mm512_setzero_ps();
  for (int c = 0; c < nc; ++c) {
#pragma GCC unroll 16
    for (int q = 0; q < R; ++q) {
      const bool live = q < nn_;
      const float *row = b0 + (live ? q : 0) * K + 16 * c;
      s[q] = _mm512_fmadd_ps(xv[c], _mm512_maskz_loadu_ps(live ? km[c] : __mmask16(0), row), s[q]);
    }
  }
  const __mmask16 om = nn_ >= 16 ? __mmask16(0xffff) : __mmask16((1u << nn_) - 1u);
  __m512 r = reduce16(s);
  if (b) r = _mm512_add_ps(_mm512_maskz_loadu_ps(om, b), r);
  if (act == Act::Tanh)
    r = tanh512(r);
  else if (act == Act::Relu)
    r = _mm512_max_ps(_mm512_setzero_ps(), r);  // relu(r): NaN (the second operand) passes
  _mm512_mask_storeu_ps(y, om, r);
}

NN_AVX512 void matvec_avx512(Act act, float *y, const float *x, const float *w, const float *b, int64_t N,
                             int64_t K) {
  const int nc = static_cast<int>((K + 15) / 16);
  __m512 xv[4];
  __mmask16 km[4];
  for (int c = 0; c < 4; ++c) {
    const int64_t left = K - 16 * c;
    km[c] = left <= 0 ? __mmask16(0) : left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1u);
    xv[c] = _mm512_maskz_loadu_ps(km[c], x + 16 * c);
  }
  for (int64_t n = 0; n < N; n += 16) {
    const int64_t nn_ = std::min<int64_t>(16, N - n);
    if (nn_ <= 8)
      matvec_group<8>(act, y + n, xv, km, nc, w + n * K, b ? b + n : nullptr, nn_, K);
    else
      matvec_group<16>(act, y + n, xv, km, nc, w + n * K, b ? b + n : nullptr, nn_, K);
  }
}

NN_AVX512 void sigmoid_avx512(float *y, const float *x, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n - i)) - 1u);
    const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
    const __m512 e = exp512(_mm512_sub_ps(_mm512_setzero_ps(), v));
    __m512 r = _mm512_div_ps(_mm512_set1_ps(1.f), _mm512_add_ps(_mm512_set1_ps(1.f), e));
    r = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, _mm512_set1_ps(-88.f), _CMP_LT_OQ), r, _mm512_setzero_ps());
    r = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), r, v);
    _mm512_mask_storeu_ps(y + i, m, r);
  }
}


void tanh_f32(float *y, const float *x, int64_t n) {
  if (cpu_has_avx512())
    tanh_avx512(y, x, n);
  else
    tanh_generic(y, x, n);
}

void sigmoid_f32(float *y, const float *x, int64_t n) {
  if (cpu_has_avx512())
    sigmoid_avx512(y, x, n);
  else
    sigmoid_generic(y, x, n);
}

// Elementwise f over n floats in chunks, in parallel above a size.
template <class F>
void chunked(int64_t n, F &&f) {
  constexpr int64_t kChunk = 4096;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  pfor(n >= kParallelGrain, chunks, [&](int64_t c) { f(c * kChunk, std::min(n, (c + 1) * kChunk) - c * kChunk); });
}

template <class T>
void act_forward_loop(Act act, T *y, const T *x, int64_t rows, int64_t cols) {
  int64_t n = rows * cols;
  bool par = n >= kParallelGrain;
  switch (act) {
    case Act::Identity:
      if (y != x) std::memmove(y, x, static_cast<size_t>(n) * sizeof(T));
      return;
    case Act::Relu:
      pfor(par, n, [&](int64_t i) { y[i] = relu(x[i]); });
      return;
    case Act::LeakyRelu:
      pfor(par, n, [&](int64_t i) { y[i] = x[i] > T(0) ? x[i] : x[i] * T(kLeakySlope); });
      return;
    case Act::Sigmoid:
      if constexpr (std::is_same_v<T, float>)
        chunked(n, [&](int64_t i0, int64_t k) { sigmoid_f32(y + i0, x + i0, k); });
      else
        pfor(par, n, [&](int64_t i) { y[i] = sigmoid(x[i]); });
      return;
    case Act::Tanh:
      if constexpr (std::is_same_v<T, float>)
        chunked(n, [&](int64_t i0, int64_t k) { tanh_f32(y + i0, x + i0, k); });
      else
        pfor(par, n, [&](int64_t i) { y[i] = std::tanh(x[i]); });
      return;
    case Act::Step:
      pfor(par, n, [&](int64_t i) { y[i] = step(x[i]); });
      return;
    case Act::Softmax:
      pfor(par, rows, [&](int64_t r) {
        const T *xr = x + r * cols;
        T *yr = y + r * cols;
        T mx = -std::numeric_limits<T>::infinity();
        bool nan = false;
        for (int64_t j = 0; j < cols; ++j) {
          if (xr[j] != xr[j]) nan = true;
          mx = std::max(mx, xr[j]);
        }
        if (nan || std::isinf(mx)) {
          // All -inf, or a +inf/NaN present: follow exp/sum literally (NaN like torch).
          if (mx == -std::numeric_limits<T>::infinity() || nan) {
            for (int64_t j = 0; j < cols; ++j) yr[j] = std::numeric_limits<T>::quiet_NaN();
            return;
          }
        }
        double sum = 0;
        for (int64_t j = 0; j < cols; ++j) {
          T e = std::exp(xr[j] - mx);
          yr[j] = e;
          sum += static_cast<double>(e);
        }
        T inv = static_cast<T>(1.0 / sum);
        for (int64_t j = 0; j < cols; ++j) yr[j] *= inv;
      });
      return;
  }
}

// SgemmEpilogue: applies *(Act *)ctx to a finished tile of the linear output
// (elementwise activations only; the same formulas as act_forward_loop).
void act_tile(void *ctx, float *c, int64_t ldc, int64_t rows, int64_t cols, int64_t, int64_t) {
  const Act act = *static_cast<const Act *>(ctx);
  for (int64_t i = 0; i < rows; ++i) {
    float *r = c + i * ldc;
    switch (act) {
      case Act::Relu:
        for (int64_t j = 0; j < cols; ++j) r[j] = relu(r[j]);
        break;
      case Act::LeakyRelu:
        for (int64_t j = 0; j < cols; ++j) r[j] = r[j] > 0.f ? r[j] : r[j] * static_cast<float>(kLeakySlope);
        break;
      case Act::Sigmoid:
        sigmoid_f32(r, r, cols);
        break;
      case Act::Tanh:
        tanh_f32(r, r, cols);
        break;
      default:
        break;
    }
  }
}

// dx = f'(y) * dy elementwise over [i0, i1): by-value operands so the loop
// vectorises (through captured references GCC reloaded them per element and
// ran a scalar, branchy loop). dx may equal dy (in place), never overlap it
// otherwise; each element is read before it is written.
// (target_clones cannot go on a template for clang: the clones are the two
// non-template instances below, each inlining this body.)
template <class T>
__attribute__((always_inline)) inline void act_backward_body(Act act, T *dx, const T *dy, const T *y, int64_t i0,
                                                              int64_t i1) {
  const T slope = T(kLeakySlope);
  switch (act) {
    case Act::Relu:
#pragma omp simd
      for (int64_t i = i0; i < i1; ++i) dx[i] = y[i] <= T(0) ? T(0) : dy[i];
      return;
    case Act::LeakyRelu:
#pragma omp simd
      for (int64_t i = i0; i < i1; ++i) dx[i] = y[i] > T(0) ? dy[i] : dy[i] * slope;
      return;
    case Act::Sigmoid:
#pragma omp simd
      for (int64_t i = i0; i < i1; ++i) dx[i] = dy[i] * y[i] * (T(1) - y[i]);
      return;
    case Act::Tanh:
#pragma omp simd
      for (int64_t i = i0; i < i1; ++i) dx[i] = dy[i] * (T(1) - y[i] * y[i]);
      return;
    default:
      return;
  }
}

#define NN_ACT_BACKWARD_RANGE(T)                                                                          \
  NN_TARGET_CLONES("avx512f", "avx2", "default") void act_backward_range(                  \
      Act act, T *dx, const T *dy, const T *y, int64_t i0, int64_t i1) {                                 \
    act_backward_body<T>(act, dx, dy, y, i0, i1);                                                        \
  }
NN_ACT_BACKWARD_RANGE(float)
NN_ACT_BACKWARD_RANGE(double)
#undef NN_ACT_BACKWARD_RANGE

template <class T>
void act_backward_loop(Act act, T *dx, const T *dy, const T *y, int64_t rows, int64_t cols) {
  int64_t n = rows * cols;
  bool par = n >= kParallelGrain;
  switch (act) {
    case Act::Identity:
    case Act::Step:  // straight through
      if (dx != dy) std::memmove(dx, dy, static_cast<size_t>(n) * sizeof(T));
      return;
    case Act::Relu:
    case Act::LeakyRelu:
    case Act::Sigmoid:
    case Act::Tanh:
      // Elementwise: SIMD loops over chunks (parallel above a size).
      chunked(n, [=](int64_t i0, int64_t k) { act_backward_range(act, dx, dy, y, i0, i0 + k); });
      return;
    case Act::Softmax:
      pfor(par, rows, [&](int64_t r) {
        const T *yr = y + r * cols;
        const T *dyr = dy + r * cols;
        T *dxr = dx + r * cols;
        double s = 0;
        for (int64_t j = 0; j < cols; ++j) s += static_cast<double>(dyr[j]) * static_cast<double>(yr[j]);
        T st = static_cast<T>(s);
        for (int64_t j = 0; j < cols; ++j) dxr[j] = yr[j] * (dyr[j] - st);
      });
      return;
  }
}

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

// ---------------------------------------------------------------------------
// Losses. pred/target/grad contiguous, same numel (target: class ids for CE).

template <class T>
double loss_loop(LossKind kind, const View &pv, const View &tv, const View &gv, double scale) {
  const T *p = static_cast<const T *>(pv.data);
  T *g = static_cast<T *>(gv.data);
  const int64_t numel = pv.numel();
  const bool par = numel >= kParallelGrain;
  double sum = 0;
  switch (kind) {
    case LossKind::MSE:
    case LossKind::SSE:
    case LossKind::HalfMSE: {
      const T *y = static_cast<const T *>(tv.data);
      double n = kind == LossKind::HalfMSE ? static_cast<double>(pv.shape.ndim == 0 ? 1 : pv.shape[0]) : 0;
      // loss = c * sum (p - y)^2 ; grad = 2c (p - y)
      double c = kind == LossKind::MSE ? 1.0 / static_cast<double>(numel)
                 : kind == LossKind::SSE ? 1.0
                                         : 0.5 / n;
      T gc = static_cast<T>(2.0 * c * scale);
      sum = psum(par, numel, [&](int64_t i, double &acc) {
        T d = p[i] - y[i];
        acc += static_cast<double>(d) * static_cast<double>(d);
        if (g) g[i] = gc * d;
      });
      return sum * c;
    }
    case LossKind::BCE: {
      const T *y = static_cast<const T *>(tv.data);
      double inv = 1.0 / static_cast<double>(numel);
      T gc = static_cast<T>(inv * scale);
      const T eps = T(1e-12);
      sum = psum(par, numel, [&](int64_t i, double &acc) {
        double pi = static_cast<double>(p[i]), yi = static_cast<double>(y[i]);
        double lp = std::max(std::log(pi), -100.0);
        double l1p = std::max(std::log1p(-pi), -100.0);
        acc += -(yi * lp + (1.0 - yi) * l1p);
        if (g) g[i] = gc * (p[i] - y[i]) / std::max((T(1) - p[i]) * p[i], eps);
      });
      return sum * inv;
    }
    case LossKind::BCEWithLogits: {
      const T *y = static_cast<const T *>(tv.data);
      double inv = 1.0 / static_cast<double>(numel);
      T gc = static_cast<T>(inv * scale);
      sum = psum(par, numel, [&](int64_t i, double &acc) {
        double x = static_cast<double>(p[i]), yi = static_cast<double>(y[i]);
        acc += std::max(x, 0.0) - x * yi + std::log1p(std::exp(-std::fabs(x)));
        if (g) g[i] = gc * (sigmoid(p[i]) - y[i]);
      });
      return sum * inv;
    }
    case LossKind::CrossEntropy: {
      const int64_t n = pv.shape[0], c = pv.shape[1];
      const double inv = 1.0 / static_cast<double>(n);
      const T gc = static_cast<T>(inv * scale);
      const bool ids = tv.dtype == DType::I64;
      const int64_t *cls = static_cast<const int64_t *>(tv.data);
      const T *y = static_cast<const T *>(tv.data);
      int64_t bad = -1;
      if (ids) {
        for (int64_t r = 0; r < n; ++r)
          if (cls[r] < 0 || cls[r] >= c) {
            bad = r;
            break;
          }
        if (bad >= 0)
          fail(Errc::InvalidArgument, "target[%lld] is class %lld; class ids must be in 0..%lld",
               static_cast<long long>(bad), static_cast<long long>(cls[bad]), static_cast<long long>(c - 1));
      }
      const bool rpar = n * c >= kParallelGrain;
      sum = psum(rpar, n, [&](int64_t r, double &acc) {
        const T *pr = p + r * c;
        double mx = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < c; ++j) mx = std::max(mx, static_cast<double>(pr[j]));
        double se = 0;
        for (int64_t j = 0; j < c; ++j) se += std::exp(static_cast<double>(pr[j]) - mx);
        double lse = mx + std::log(se);
        if (ids) {
          acc += lse - static_cast<double>(pr[cls[r]]);
          if (g) {
            T *gr = g + r * c;
            for (int64_t j = 0; j < c; ++j) gr[j] = gc * static_cast<T>(std::exp(static_cast<double>(pr[j]) - lse));
            gr[cls[r]] -= gc;
          }
        } else {
          const T *yr = y + r * c;
          double ysum = 0, l = 0;
          for (int64_t j = 0; j < c; ++j) {
            double yj = static_cast<double>(yr[j]);
            ysum += yj;
            if (yj != 0.0) l -= yj * (static_cast<double>(pr[j]) - lse);
          }
          acc += l;
          if (g) {
            T *gr = g + r * c;
            for (int64_t j = 0; j < c; ++j)
              gr[j] = gc * static_cast<T>(std::exp(static_cast<double>(pr[j]) - lse) * ysum - static_cast<double>(yr[j]));
          }
        }
      });
      return sum * inv;
    }
  }
  fail(Errc::Internal, "cpu loss: unknown loss kind %d", static_cast<int>(kind));
}

// Whether x[0..n) holds a NaN or an infinity (all exponent bits set): an
// integer test with an OR reduction, so the loop vectorises (nn_model_fit
// runs it over the whole data set).
template <class T>
inline bool any_nonfinite(const T *x, int64_t n) {
  using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  constexpr U kExp = sizeof(T) == 4 ? U(0x7f800000u) : U(0x7ff0000000000000ull);
  U bad = 0;
#pragma omp simd reduction(| : bad)
  for (int64_t i = 0; i < n; ++i) {
    U b;
    std::memcpy(&b, x + i, sizeof b);
    bad |= (b & kExp) == kExp ? U(1) : U(0);
  }
  return bad != 0;
}

template <class T>
bool all_finite_loop(const T *x, int64_t n) {
  constexpr int64_t kBlock = int64_t{1} << 14;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  double bad = psum(n >= 4 * kParallelGrain, blocks, [&](int64_t b, double &acc) {
    acc += any_nonfinite(x + b * kBlock, std::min(kBlock, n - b * kBlock)) ? 1.0 : 0.0;
  });
  return bad == 0;
}

}  // namespace

void linear_forward_f32(Act act, float *yp, const float *x, const float *w, const float *bp, int64_t M, int64_t N,
                        int64_t K) {
  if (M == 1 && K > 0 && K <= kMatvecMaxK && (act == Act::Tanh || act == Act::Relu || act == Act::Identity) &&
      cpu_has_avx512()) {
    matvec_avx512(act, yp, x, w, bp, N, K);
    return;
  }
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
  sgemm(false, true, M, N, K, 1.f, x, K, w, K, bp ? 1.f : 0.f, yp, N, epi);
  if (!epi.fn && act != Act::Identity) act_forward_loop<float>(act, yp, yp, M, N);
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
    // One row: activation backward and bias gradient in one pass, then
    // dw as an outer product g x^T and dx = g w (rows of w scaled and added).
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
      float *dwr = dw + o * K;
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
        const float *wr = w + o * K;
#pragma omp simd
        for (int64_t i = 0; i < K; ++i) dx[i] += go * wr[i];
      }
    }
    return;
  }
  if (act != Act::Identity) act_backward_loop<float>(act, g, g, y, M, N);
  const float beta = accumulate ? 1.f : 0.f;
  sgemm(true, false, N, K, M, 1.f, g, N, x, K, beta, dw, K, SgemmEpilogue{});
  if (db) sum_rows_loop<float>(db, g, M, N, accumulate ? 1.0 : 0.0);
  if (dx) sgemm(false, false, M, K, N, 1.f, g, N, w, K, 0.f, dx, K, SgemmEpilogue{});
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

// ---------------------------------------------------------------------------

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

bool CpuTrainBackend::all_finite(const View &x) {
  bool ok = true;
  guarded("all_finite", [&] {
    need_contiguous("all_finite", x, "x");
    if (x.dtype == DType::F32)
      ok = all_finite_loop(static_cast<const float *>(x.data), x.numel());
    else if (x.dtype == DType::F64)
      ok = all_finite_loop(static_cast<const double *>(x.data), x.numel());
    else if (!is_floating(x.dtype))
      ok = true;
    else
      fail(Errc::Unsupported, "cpu all_finite: dtype %s is not supported", dtype_name(x.dtype));
  });
  return ok;
}

void CpuTrainBackend::loss(LossKind kind, const View &pred, const View &target, double *value_accum, const View &grad,
                           double grad_scale) {
  guarded("loss", [&] {
    need_float("loss", pred.dtype);
    need_contiguous("loss", pred, "pred");
    need_contiguous("loss", target, "target");
    if (grad.data) need_contiguous("loss", grad, "grad");
    if (kind == LossKind::CrossEntropy) {
      if (pred.shape.ndim != 2) fail(Errc::Internal, "cpu loss: cross-entropy needs pred [n, c]");
      bool ids = target.dtype == DType::I64 && target.numel() == pred.shape[0];
      if (!ids && (target.dtype != pred.dtype || target.numel() != pred.numel()))
        fail(Errc::Internal, "cpu loss: cross-entropy target does not fit pred");
    } else if (target.dtype != pred.dtype || target.numel() != pred.numel()) {
      fail(Errc::Internal, "cpu loss: target does not fit pred");
    }
    double v = pred.dtype == DType::F32 ? loss_loop<float>(kind, pred, target, grad, grad_scale)
                                        : loss_loop<double>(kind, pred, target, grad, grad_scale);
    *value_accum += v;
  });
}

}  // namespace cpu
}  // namespace nn
