// Device-side helpers shared by the .cu files: element types, the
// float16/bfloat16 conversions of core/dtype.hpp (bit for bit), the
// conversion rules of docs/semantics.md, launch sizes.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "backend/cuda/cuda_internal.hpp"

namespace nn {
namespace cuda {

constexpr int kThreads = 256;

inline unsigned blocks_for(int64_t n, int threads = kThreads) {
  int64_t b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  if (b > 65535LL * 16) b = 65535LL * 16;  // grid-stride loops cover the rest
  return static_cast<unsigned>(b);
}

struct h16 {
  uint16_t b;
};
struct b16 {
  uint16_t b;
};

__device__ inline float dev_h2f(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t man = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {
      int e = -1;
      do {
        ++e;
        man <<= 1;
      } while ((man & 0x400u) == 0);
      bits = sign | (static_cast<uint32_t>(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (man << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
  }
  return __uint_as_float(bits);
}

__device__ inline uint16_t dev_f2h(float f) {
  uint32_t x = __float_as_uint(f);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) return static_cast<uint16_t>(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0u));
  if (absx >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);
  if (absx < 0x38800000u) {
    if (absx < 0x33000000u) return static_cast<uint16_t>(sign);
    uint32_t e = absx >> 23;
    uint32_t man = (absx & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - e;
    uint32_t q = man >> shift;
    uint32_t rem = man & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1u))) ++q;
    return static_cast<uint16_t>(sign | q);
  }
  uint32_t e = (absx >> 23) - 127 + 15;
  uint32_t man = absx & 0x7fffffu;
  uint32_t h = (e << 10) | (man >> 13);
  uint32_t rem = man & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

__device__ inline float dev_bf2f(uint16_t b) { return __uint_as_float(static_cast<uint32_t>(b) << 16); }

__device__ inline uint16_t dev_f2bf(float f) {
  uint32_t x = __float_as_uint(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);
  uint32_t lsb = (x >> 16) & 1u;
  x += 0x7fffu + lsb;
  return static_cast<uint16_t>(x >> 16);
}

__device__ inline int64_t dev_f2i64(double v) {
  if (v != v) return 0;
  if (v >= 9223372036854775807.0) return INT64_MAX;
  if (v <= -9223372036854775808.0) return INT64_MIN;
  return static_cast<int64_t>(v);
}

// Traits: is_int, compute type C, load (T -> C), store (C -> T).
template <class T>
struct Tr {
  static constexpr bool is_int = true;
  using C = T;
  __device__ static T load(T v) { return v; }
  __device__ static T store(T v) { return v; }
};
template <>
struct Tr<float> {
  static constexpr bool is_int = false;
  using C = float;
  __device__ static float load(float v) { return v; }
  __device__ static float store(float v) { return v; }
};
template <>
struct Tr<double> {
  static constexpr bool is_int = false;
  using C = double;
  __device__ static double load(double v) { return v; }
  __device__ static double store(double v) { return v; }
};
template <>
struct Tr<h16> {
  static constexpr bool is_int = false;
  using C = float;
  __device__ static float load(h16 v) { return dev_h2f(v.b); }
  __device__ static h16 store(float v) { return h16{dev_f2h(v)}; }
};
template <>
struct Tr<b16> {
  static constexpr bool is_int = false;
  using C = float;
  __device__ static float load(b16 v) { return dev_bf2f(v.b); }
  __device__ static b16 store(float v) { return b16{dev_f2bf(v)}; }
};

// Two's complement wrap of a 64-bit pattern.
template <class T>
__device__ inline T wrap_to(uint64_t u) {
  if constexpr (sizeof(T) == 1) return static_cast<T>(static_cast<uint8_t>(u));
  if constexpr (sizeof(T) == 2) return static_cast<T>(static_cast<uint16_t>(u));
  if constexpr (sizeof(T) == 4) return static_cast<T>(static_cast<uint32_t>(u));
  return static_cast<T>(u);
}
template <class T>
__device__ inline uint64_t as_u64(T v) {
  return static_cast<uint64_t>(static_cast<int64_t>(v));
}

// The CPU's from_double: a double result stored as T.
template <class T>
__device__ inline T from_double(double v) {
  if constexpr (Tr<T>::is_int)
    return wrap_to<T>(static_cast<uint64_t>(dev_f2i64(v)));
  else if constexpr (std::is_same<T, double>::value)
    return v;
  else
    return Tr<T>::store(static_cast<float>(v));
}

// Math in the compute type.
__device__ inline float m_exp(float v) { return expf(v); }
__device__ inline double m_exp(double v) { return exp(v); }
__device__ inline float m_log(float v) { return logf(v); }
__device__ inline double m_log(double v) { return log(v); }
__device__ inline float m_sqrt(float v) { return sqrtf(v); }
__device__ inline double m_sqrt(double v) { return sqrt(v); }
__device__ inline float m_tanh(float v) { return tanhf(v); }
__device__ inline double m_tanh(double v) { return tanh(v); }
__device__ inline float m_abs(float v) { return fabsf(v); }
__device__ inline double m_abs(double v) { return fabs(v); }

// dtype -> type dispatch on the host.
template <class T>
struct Tag {
  using type = T;
};
template <class F>
inline void dispatch(int dt, F &&f) {
  switch (static_cast<DType>(dt)) {
    case DType::F32: return f(Tag<float>{});
    case DType::F64: return f(Tag<double>{});
    case DType::F16: return f(Tag<h16>{});
    case DType::BF16: return f(Tag<b16>{});
    case DType::U8: return f(Tag<uint8_t>{});
    case DType::I16: return f(Tag<int16_t>{});
    case DType::I32: return f(Tag<int32_t>{});
    case DType::I64: return f(Tag<int64_t>{});
  }
  fail(Errc::Internal, "cuda: invalid dtype %d", dt);
}

// A strided iteration space of N operands (operand 0 first), size-1 dims
// dropped and mergeable dims merged (like the CPU's plan), passed by value.
template <int N>
struct Iter {
  int ndim = 0;
  int64_t total = 0;
  int64_t shape[NN_CUDA_MAX_DIMS] = {};
  int64_t st[N][NN_CUDA_MAX_DIMS] = {};
  bool unit = false;  // one dim, every stride 1 (plain contiguous)

  // Element offsets of operand k for linear index i (row-major over shape).
  __device__ inline void offsets(int64_t i, int64_t off[N]) const {
    for (int k = 0; k < N; ++k) off[k] = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      int64_t sz = shape[d];
      int64_t idx = i % sz;
      i /= sz;
      for (int k = 0; k < N; ++k) off[k] += idx * st[k][d];
    }
  }
};

template <int N>
Iter<N> make_iter(const V &shape_of, const V *const ops[N]) {
  Iter<N> it;
  int64_t sh[NN_CUDA_MAX_DIMS];
  int64_t st[N][NN_CUDA_MAX_DIMS];
  int nd = 0;
  int64_t total = 1;
  for (int i = shape_of.ndim - 1; i >= 0; --i) {
    int64_t d = shape_of.shape[i];
    total *= d;
    if (d == 1) continue;
    if (nd > 0) {
      bool merge = true;
      for (int k = 0; k < N; ++k)
        if (ops[k]->strides[i] != st[k][nd - 1] * sh[nd - 1]) merge = false;
      if (merge) {
        sh[nd - 1] *= d;
        continue;
      }
    }
    sh[nd] = d;
    for (int k = 0; k < N; ++k) st[k][nd] = ops[k]->strides[i];
    ++nd;
  }
  it.total = total;
  if (nd == 0) {
    it.ndim = 1;
    it.shape[0] = 1;
    it.unit = true;
    return it;
  }
  it.ndim = nd;
  for (int j = 0; j < nd; ++j) {
    it.shape[j] = sh[nd - 1 - j];
    for (int k = 0; k < N; ++k) it.st[k][j] = st[k][nd - 1 - j];
  }
  it.unit = nd == 1;
  for (int k = 0; k < N; ++k)
    if (it.st[k][0] != 1) it.unit = false;
  return it;
}

}  // namespace cuda
}  // namespace nn
