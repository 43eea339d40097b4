// Vector math of the CPU backend: float tanh and sigmoid (polynomial,
// vectorised, AVX-512 where the CPU has it) and the one-row AVX-512
// matrix-vector products of a chain of small Linear units with fused bias
// and activation (matvec_chain_avx512).
// GCC 12 warns about _mm512_undefined_ps() inside its own AVX-512
// intrinsics (a false positive, "maybe" or not depending on inlining, also
// in the helpers of cpu_simd.hpp: hence before the includes).
// Clang has no such warning (and, with -Werror, refuses an unknown one).
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "backend/cpu/cpu_kernels.hpp"

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

// e^x for x in [-87.3, 88.3] (not clamped here) given t = x log2(e) (so a
// caller can compute that product its own way); with plus_one, e^x + 1 by
// one fma (p 2^n is exact, so fma(p, 2^n, 1) rounds as e^x then + 1 does).
template <bool plus_one>
NN_AVX512 inline __attribute__((always_inline)) __m512 exp512_core(__m512 x, __m512 t) {
  const __m512 fn = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
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
  if (plus_one) return _mm512_fmadd_ps(p, _mm512_castsi512_ps(e), _mm512_set1_ps(1.f));
  return _mm512_mul_ps(p, _mm512_castsi512_ps(e));
}

NN_AVX512 inline __m512 exp512(__m512 x) {
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.3f));
  return exp512_core<false>(x, _mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)));
}

// 2 / d lane by lane; with low_only, lanes 8..15 are left undefined and
// the division is a 256-bit one (a 512-bit vdivps costs about two of them).
template <bool low_only>
NN_AVX512 inline __attribute__((always_inline)) __m512 two_over(__m512 d) {
  if (!low_only) return _mm512_div_ps(_mm512_set1_ps(2.f), d);
  return _mm512_castps256_ps512(_mm256_div_ps(_mm256_set1_ps(2.f), _mm512_castps512_ps256(d)));
}

// tanh of 16 lanes (of the low 8 only with low_only: the others undefined).
template <bool low_only = false>
NN_AVX512 inline __attribute__((always_inline)) __m512 tanh512(__m512 v) {
  const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff);
  const __m512i vi = _mm512_castps_si512(v);
  const __m512 a = _mm512_castsi512_ps(_mm512_and_si512(vi, abs_mask));
  const __m512 z = _mm512_mul_ps(v, v);
  __m512 sm = _mm512_set1_ps(-5.70498872745e-3f);
  sm = _mm512_fmadd_ps(sm, z, _mm512_set1_ps(2.06390887954e-2f));
  sm = _mm512_fmadd_ps(sm, z, _mm512_set1_ps(-5.37397155531e-2f));
  sm = _mm512_fmadd_ps(sm, z, _mm512_set1_ps(1.33314422036e-1f));
  sm = _mm512_fmadd_ps(sm, z, _mm512_set1_ps(-3.33332819422e-1f));
  sm = _mm512_fmadd_ps(_mm512_mul_ps(sm, z), v, v);
  // 1 - 2 / (exp(2 a) + 1) where a < 9, else 1 (lanes with a >= 9 or NaN
  // compute garbage that the masked sub drops; elsewhere 2 a < 18 is inside
  // exp512's clamp and a (2 log2(e)) == (2 a) log2(e) exactly).
  const __m512 e1 = exp512_core<true>(_mm512_add_ps(a, a), _mm512_mul_ps(a, _mm512_set1_ps(2.f * 1.44269504088896341f)));
  const __m512 one = _mm512_set1_ps(1.f);
  __m512 big = _mm512_mask_sub_ps(one, _mm512_cmp_ps_mask(a, _mm512_set1_ps(9.f), _CMP_LT_OQ), one,
                                  two_over<low_only>(e1));
  big = _mm512_castsi512_ps(_mm512_ternarylogic_epi32(_mm512_castps_si512(big), vi, abs_mask, 0xF4));  // big | (v & ~abs)
  const __m512 r = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, _mm512_set1_ps(0.625f), _CMP_LT_OQ), big, sm);
  // NaN, and the sign of zero, pass through.
  const __mmask16 keep = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q) | _mm512_cmp_ps_mask(a, _mm512_setzero_ps(), _CMP_EQ_OQ);
  return _mm512_mask_blend_ps(keep, r, v);
}

NN_AVX512 void tanh_avx512(float *y, const float *x, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n - i)) - 1u);
    _mm512_mask_storeu_ps(y + i, m, tanh512(_mm512_maskz_loadu_ps(m, x + i)));
  }
}

// One row through a chain of Linear units (K <= 64 each) with AVX-512:
// y = act(W x + b) per unit, W [N, K] rows contiguous. x stays in registers;
// sixteen outputs at a time share its loads and one tree reduction gives
// their sums (reduce16), plus the bias. A unit's output stays in registers
// as the next unit's x (stored only where asked: no store-to-load round
// trip between units), and its activation runs on all its groups together
// (independent dependency chains the CPU overlaps). Same arithmetic, in the
// same order, whatever the chain (bit-identical results, as small_dot in
// cpu_sgemm.cpp followed by the tile epilogue).

NN_AVX512 inline __mmask16 lanes_below(int64_t n) {
  return n <= 0 ? __mmask16(0) : n >= 16 ? __mmask16(0xffff) : __mmask16((1u << n) - 1u);
}

// Pre-activations of nn_ <= R outputs (R = 16, or 8: the compiler then drops
// half the reduction): rows w0[q * K ...] against x in NC chunks of 16, the
// last one masked by kt; plus b when not NULL. full (nn_ == R == 16): rows
// addressed from bases three rows apart (no pointer per row to keep), else
// rows from nn_ on repeat the last live row. Lanes from nn_ on are not
// defined.
template <int NC, int R, bool full>
NN_AVX512 inline __attribute__((always_inline)) __m512 matvec_group(const __m512 *xv, __mmask16 kt, const float *w0,
                                                                     const float *b, int64_t nn_, int64_t K) {
  __m512 s[16];
  for (int q = 0; q < 16; ++q) s[q] = _mm512_setzero_ps();
  const int64_t stride = K * static_cast<int64_t>(sizeof(float));
  const char *base[(R + 2) / 3];
  const char *rows[R];
  if (full) {
    for (int j = 0; j < (R + 2) / 3; ++j) base[j] = reinterpret_cast<const char *>(w0) + 3 * j * stride;
  } else {
#pragma GCC unroll 16
    for (int q = 0; q < R; ++q) rows[q] = reinterpret_cast<const char *>(w0 + (q < nn_ ? q : nn_ - 1) * K);
  }
#pragma GCC unroll 4
  for (int c = 0; c < NC; ++c) {
#pragma GCC unroll 16
    for (int q = 0; q < R; ++q) {
      const float *row = reinterpret_cast<const float *>(full ? base[q / 3] + (q % 3) * stride : rows[q]) + 16 * c;
      const __m512 wv = c + 1 < NC ? _mm512_loadu_ps(row) : _mm512_maskz_loadu_ps(kt, row);
      s[q] = _mm512_fmadd_ps(xv[c], wv, s[q]);
    }
  }
  __m512 r = reduce16(s);
  if (b) r = _mm512_add_ps(_mm512_maskz_loadu_ps(lanes_below(nn_), b), r);
  return r;
}

// y[0, n) = v's first min(n, 16) lanes by plain stores: a caller reading y
// right after gets the values from the store buffer (after a masked store
// it waited for the store to reach the cache: about 6 ns per call measured).
NN_AVX512 inline __attribute__((always_inline)) void store_first(float *y, __m512 v, int64_t n) {
  if (n >= 16) return _mm512_storeu_ps(y, v);
  __m256 h = _mm512_castps512_ps256(v);
  if (n >= 8) {
    _mm256_storeu_ps(y, h);
    y += 8;
    n -= 8;
    h = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
  }
  __m128 q = _mm256_castps256_ps128(h);
  if (n >= 4) {
    _mm_storeu_ps(y, q);
    y += 4;
    n -= 4;
    q = _mm256_extractf128_ps(h, 1);
  }
  if (n >= 2) {
    _mm_storel_pi(reinterpret_cast<__m64 *>(y), q);
    y += 2;
    n -= 2;
    q = _mm_movehl_ps(q, q);
  }
  if (n > 0) _mm_store_ss(y, q);
}

// N in (16 (NG - 1), 16 NG] outputs of a unit with K in (16 (NC - 1), 16 NC]
// inputs, x in xv: act(W x + b) to y when y is not NULL and into xo (lanes
// from N on zero; xo may be xv). Templates on both counts keep every group's
// result in registers until the activation.
template <int NC, int NG>
NN_AVX512 inline __attribute__((always_inline)) void matvec_block(Act act, const __m512 *xv, __mmask16 kt,
                                                                   const float *w, const float *b, int64_t N,
                                                                   int64_t K, float *y, __m512 *xo) {
  __m512 r[NG];
  for (int g = 0; g + 1 < NG; ++g)
    r[g] = matvec_group<NC, 16, true>(xv, kt, w + 16 * g * K, b ? b + 16 * g : nullptr, 16, K);
  const int64_t o = 16 * (NG - 1), nn_ = N - o;
  const float *wo = w + o * K, *bo = b ? b + o : nullptr;
  if (nn_ == 16)
    r[NG - 1] = matvec_group<NC, 16, true>(xv, kt, wo, bo, nn_, K);
  else if (nn_ > 8)
    r[NG - 1] = matvec_group<NC, 16, false>(xv, kt, wo, bo, nn_, K);
  else
    r[NG - 1] = matvec_group<NC, 8, false>(xv, kt, wo, bo, nn_, K);
  if (act == Act::Tanh) {
    for (int g = 0; g + 1 < NG; ++g) r[g] = tanh512(r[g]);
    r[NG - 1] = nn_ > 8 ? tanh512(r[NG - 1]) : tanh512<true>(r[NG - 1]);
  } else if (act == Act::Relu) {
    for (int g = 0; g < NG; ++g) r[g] = _mm512_max_ps(_mm512_setzero_ps(), r[g]);  // NaN (the 2nd operand) passes
  }
  for (int g = 0; g < 4; ++g) {
    if (g < NG) {
      const __mmask16 om = lanes_below(N - 16 * g);
      if (y) store_first(y + 16 * g, r[g], N - 16 * g);
      xo[g] = _mm512_maskz_mov_ps(om, r[g]);
    } else {
      xo[g] = _mm512_setzero_ps();
    }
  }
}

// (One copy per NC, called from two places: out of line.)
template <int NC>
NN_AVX512 __attribute__((noinline)) void matvec_outputs(Act act, const __m512 *xv, __mmask16 kt, const float *w,
                                                        const float *b, int64_t N, int64_t K, float *y, __m512 *xo) {
  switch ((N + 15) / 16) {
    case 1: return matvec_block<NC, 1>(act, xv, kt, w, b, N, K, y, xo);
    case 2: return matvec_block<NC, 2>(act, xv, kt, w, b, N, K, y, xo);
    case 3: return matvec_block<NC, 3>(act, xv, kt, w, b, N, K, y, xo);
    default: return matvec_block<NC, 4>(act, xv, kt, w, b, N, K, y, xo);
  }
}

// Unit u on xv; its output to y (when not NULL) and, when it has at most 64
// features (it has when a unit follows), into xv.
template <int NC>
NN_AVX512 inline __attribute__((always_inline)) void matvec_unit_avx512(const PlanUnit &u, __m512 *xv, float *y) {
  const int64_t N = u.out, K = u.in;
  const __mmask16 kt = lanes_below(K - 16 * (NC - 1));
  const float *w = static_cast<const float *>(u.w), *b = static_cast<const float *>(u.b);
  if (N <= 64) return matvec_outputs<NC>(u.act, xv, kt, w, b, N, K, y, xv);
  __m512 unused[4];
  for (int64_t o = 0; o < N; o += 64)  // a chain's last unit, 64 outputs at a time
    matvec_outputs<NC>(u.act, xv, kt, w + o * K, b ? b + o : nullptr, std::min<int64_t>(64, N - o), K, y + o, unused);
}

NN_AVX512 void matvec_chain_avx512(const PlanUnit *units, int n, const float *x, float *const *ys) {
  __m512 xv[4];  // the current unit's input, lanes from K on zero
  for (int c = 0; c < 4; ++c)
    xv[c] = 16 * c < units[0].in ? _mm512_maskz_loadu_ps(lanes_below(units[0].in - 16 * c), x + 16 * c)
                                 : _mm512_setzero_ps();
  for (int i = 0; i < n; ++i) {
    const PlanUnit &u = units[i];
    switch ((u.in + 15) / 16) {
      case 1: matvec_unit_avx512<1>(u, xv, ys[i]); break;
      case 2: matvec_unit_avx512<2>(u, xv, ys[i]); break;
      case 3: matvec_unit_avx512<3>(u, xv, ys[i]); break;
      default: matvec_unit_avx512<4>(u, xv, ys[i]); break;
    }
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
