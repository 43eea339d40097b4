// Vector math of the CPU backend: float tanh and sigmoid (polynomial,
// vectorised, AVX-512 where the CPU has it) and the one-row AVX-512
// matrix-vector product with fused bias and activation (matvec_avx512).
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "backend/cpu/cpu_kernels.hpp"

// GCC 12 warns about _mm512_undefined_ps() inside its own AVX-512
// intrinsics (a false positive). Clang has no such warning (and, with
// -Werror, refuses an unknown one).
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace nn {
namespace cpu {

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

}  // namespace cpu
}  // namespace nn
