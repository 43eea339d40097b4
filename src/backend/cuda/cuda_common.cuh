// Device-side helpers shared by the .cu files: element types, the
// float16/bfloat16 conversions of core/dtype.hpp (bit for bit), the
// conversion rules of docs/semantics.md, launch sizes.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "backend/cuda/cuda_internal.hpp"
#include "core/dtype.hpp"

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

// The conversions of core/dtype.hpp, compiled for the device too.
__device__ inline float dev_h2f(uint16_t h) { return f16_to_f32(h); }
__device__ inline uint16_t dev_f2h(float f) { return f32_to_f16(f); }
__device__ inline float dev_bf2f(uint16_t b) { return bf16_to_f32(b); }
__device__ inline uint16_t dev_f2bf(float f) { return f32_to_bf16(f); }
__device__ inline int64_t dev_f2i64(double v) { return float_to_i64(v); }

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
