// What this CPU can do (probed once, cached) and the AVX-512 helpers that more
// than one kernel file shares. Functions marked NN_AVX512 may only run when
// cpu_has_avx512() is true.
#pragma once
#include <immintrin.h>

#define NN_AVX512 __attribute__((target("avx512f,fma")))

namespace nn {
namespace cpu {

// Inline (one static per process, a guard check per call): the kernels ask
// on every call.
inline bool cpu_has_avx512() {  // AVX-512F
  static const bool k = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0;
  }();
  return k;
}
inline bool cpu_has_avx2_fma() {  // AVX2 and FMA
  static const bool k = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return k;
}

// The first min(max(n, 0), 16) lanes.
NN_AVX512 inline __mmask16 lanes_below(int64_t n) {
  return n <= 0 ? __mmask16(0) : n >= 16 ? __mmask16(0xffff) : __mmask16((1u << n) - 1u);
}

// One step of a row's dot product over 16-float chunks, shared by small_dot
// and the one-row matvec chain (they must round alike): s = x w on a row's
// first chunk, s + x w on later ones, in the lanes of m only (elsewhere 0 on
// the first chunk, s unchanged after). No add of a zero accumulator: a
// product's -0 is kept. The masked lanes of w are not used, so a caller may
// load them from anywhere readable.
NN_AVX512 inline __attribute__((always_inline)) __m512 dot_step(bool first, __m512 s, __m512 x, __m512 w,
                                                                 __mmask16 m) {
  return first ? _mm512_maskz_mul_ps(m, x, w) : _mm512_mask3_fmadd_ps(x, w, s, m);
}

// Sums of 16 vectors at once: out[j] = sum of a[j]'s 16 lanes (45 shuffles
// and adds instead of 16 horizontal sums), always in the same order.
NN_AVX512 inline __m512 reduce16(const __m512 a[16]) {
  __m512 s[8], v[4];
  for (int j = 0; j < 8; ++j)
    s[j] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * j], a[2 * j + 1]), _mm512_unpackhi_ps(a[2 * j], a[2 * j + 1]));
  // s[j] lane l: [a2j(0+2), a2j+1(0+2), a2j(1+3), a2j+1(1+3)] of that lane
  for (int g = 0; g < 4; ++g)
    v[g] = _mm512_add_ps(_mm512_shuffle_ps(s[2 * g], s[2 * g + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_ps(s[2 * g], s[2 * g + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  // v[g] lane l: lane-l sums of a[4g..4g+3]
  const __m512 u01 = _mm512_add_ps(_mm512_shuffle_f32x4(v[0], v[1], _MM_SHUFFLE(1, 0, 1, 0)),
                                   _mm512_shuffle_f32x4(v[0], v[1], _MM_SHUFFLE(3, 2, 3, 2)));
  const __m512 u23 = _mm512_add_ps(_mm512_shuffle_f32x4(v[2], v[3], _MM_SHUFFLE(1, 0, 1, 0)),
                                   _mm512_shuffle_f32x4(v[2], v[3], _MM_SHUFFLE(3, 2, 3, 2)));
  return _mm512_add_ps(_mm512_shuffle_f32x4(u01, u23, _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_f32x4(u01, u23, _MM_SHUFFLE(3, 1, 3, 1)));
}

}  // namespace cpu
}  // namespace nn
