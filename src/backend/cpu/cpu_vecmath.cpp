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

// Vectorisable float tanh and sigmoid, in AVX-512 and portable versions: the
// libm calls cost more than the whole small linear layer. NaN propagates; y
// may alias x.
//
// sigmoid: 1 / (1 + e^-x) with the Cephes expf polynomial (a few ulp).
//
// tanh: within 1 ulp of the correctly rounded result on all 2^32 inputs
// (0.04% of them 1 ulp off), odd, tanh(+-0) = +-0, exactly +-1 from |x| =
// 9.02 on. a = min(|x|, 12) falls in one of 32 intervals: [0, 2^-4), then
// the quarters of each binade from 2^-4 to 14 (i = (bits(a) >> 21) - 491),
// where tanh(m_i + t) is a polynomial of degree 6 in t = a - m_i (m_i the
// interval's midpoint, 0 for the first) with a float-pair constant term:
// kTanhTable, from scripts/tanh_table.py. Evaluated as c0 + (u + t^2 R(t)),
// u = c0low + c1 t, R by Estrin's scheme: on the first interval u = t
// exactly, so small x keep their own bits. No exp, no division: with
// AVX-512 (in-register permutes for the lookups) 45 cycles of latency and 21
// of throughput per 16 lanes, against 83 and 24 for 1 - 2 / (e^2a + 1).
// NaN (its index clamped) goes through the arithmetic; |x|'s sign bit is set
// back at the end.
alignas(64) constexpr float kTanhTable[9][32] = {
#include "backend/cpu/cpu_tanh_table.inc"
};
constexpr int kTanhIndexBase = 491;  // (bits(2^-4) >> 21) - 1

void tanh_generic(float *y, const float *x, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    const float av = std::fabs(v), a = av > 12.f ? 12.f : av;  // NaN stays NaN
    uint32_t bits;
    std::memcpy(&bits, &a, sizeof bits);
    const int64_t k = static_cast<int64_t>(bits >> 21) - kTanhIndexBase;
    const int idx = static_cast<int>(k < 0 ? 0 : k > 31 ? 31 : k);
    const float t = a - kTanhTable[0][idx], t2 = t * t, t4 = t2 * t2;
    const float u = t * kTanhTable[3][idx] + kTanhTable[2][idx];
    const float r = kTanhTable[8][idx] * t4 + ((kTanhTable[7][idx] * t + kTanhTable[6][idx]) * t2 +
                                               (kTanhTable[5][idx] * t + kTanhTable[4][idx]));
    y[i] = std::copysign(kTanhTable[1][idx] + (t2 * r + u), v);
  }
}

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

void sigmoid_generic(float *y, const float *x, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    const float r = v < -88.f ? 0.f : 1.f / (1.f + expf_poly(-v));
    y[i] = v != v ? v : r;
  }
}

// e^x, x clamped to [-87.3, 88.3] (expf_poly's arithmetic).
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

// kTanhTable row `row` at each lane's interval (32 entries: two registers).
NN_AVX512 inline __attribute__((always_inline)) __m512 tanh_coef(int row, __m512i idx) {
  return _mm512_permutex2var_ps(_mm512_load_ps(kTanhTable[row]), idx, _mm512_load_ps(kTanhTable[row] + 16));
}

// tanh of 16 lanes (tanh_generic's arithmetic, with fma).
NN_AVX512 inline __attribute__((always_inline)) __m512 tanh512(__m512 v) {
  const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff);
  const __m512i vi = _mm512_castps_si512(v);
  // min keeps a NaN second operand; a NaN's index (above 31) wraps around
  const __m512 a = _mm512_min_ps(_mm512_set1_ps(12.f), _mm512_castsi512_ps(_mm512_and_si512(vi, abs_mask)));
  const __m512i idx = _mm512_max_epi32(
      _mm512_sub_epi32(_mm512_srli_epi32(_mm512_castps_si512(a), 21), _mm512_set1_epi32(kTanhIndexBase)),
      _mm512_setzero_si512());
  const __m512 t = _mm512_sub_ps(a, tanh_coef(0, idx));
  const __m512 t2 = _mm512_mul_ps(t, t), t4 = _mm512_mul_ps(t2, t2);
  const __m512 u = _mm512_fmadd_ps(t, tanh_coef(3, idx), tanh_coef(2, idx));
  const __m512 r45 = _mm512_fmadd_ps(tanh_coef(7, idx), t, tanh_coef(6, idx));
  const __m512 r23 = _mm512_fmadd_ps(tanh_coef(5, idx), t, tanh_coef(4, idx));
  const __m512 r = _mm512_fmadd_ps(tanh_coef(8, idx), t4, _mm512_fmadd_ps(r45, t2, r23));
  const __m512 y = _mm512_add_ps(tanh_coef(1, idx), _mm512_fmadd_ps(t2, r, u));
  return _mm512_castsi512_ps(_mm512_ternarylogic_epi32(_mm512_castps_si512(y), vi, abs_mask, 0xF4));  // y | (v & ~abs)
}

NN_AVX512 void tanh_avx512(float *y, const float *x, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = lanes_below(n - i);
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

// Pre-activations of nn_ <= R outputs (R = 16, or 8: the compiler then drops
// half the reduction): rows w0[q * K ...] against x in NC chunks of 16, the
// last one masked by kt; plus b when not NULL. full (nn_ == R == 16): rows
// addressed from bases three rows apart (no pointer per row to keep), else
// rows from nn_ on repeat the last live row. Lanes from nn_ on are not
// defined. The weights are read by unmasked loads that the compiler folds
// into the (masked) multiplies: a row's last chunk may reach up to 60 bytes
// past the matrix, which every CPU tensor has readable (Tensor::make's
// allocator); dot_step ignores those lanes.
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
      s[q] = dot_step(c == 0, s[q], xv[c], _mm512_loadu_ps(row), c + 1 < NC ? __mmask16(0xffff) : kt);
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
    for (int g = 0; g < NG; ++g) r[g] = tanh512(r[g]);
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
    const __mmask16 m = lanes_below(n - i);
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
