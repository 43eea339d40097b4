// Element types, their sizes and names, PyTorch type promotion, and the
// float16 / bfloat16 conversions every backend shares.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

// The conversions below are shared with the CUDA kernels (compiled by nvcc as
// host and device functions), so both backends round the same way.
#if defined(__CUDACC__)
#define NN_HOST_DEVICE __host__ __device__
#else
#define NN_HOST_DEVICE
#endif

namespace nn {

// Values equal nn_dtype's.
enum class DType : int32_t { F32 = 0, F64 = 1, F16 = 2, BF16 = 3, U8 = 4, I16 = 5, I32 = 6, I64 = 7 };
constexpr int kNumDTypes = 8;

inline bool dtype_valid(int v) { return v >= 0 && v < kNumDTypes; }
// Inline: every Tensor::nbytes/data call asks.
inline size_t dtype_size(DType dt) {
  switch (dt) {
    case DType::F32: return 4;
    case DType::F64: return 8;
    case DType::F16: return 2;
    case DType::BF16: return 2;
    case DType::U8: return 1;
    case DType::I16: return 2;
    case DType::I32: return 4;
    case DType::I64: return 8;
  }
  return 0;
}
const char *dtype_name(DType dt);  // PyTorch's name: "float32", "int64", ...
bool is_floating(DType dt);
// torch.promote_types: the smallest type both convert to without losing range/category.
DType promote_types(DType a, DType b);
// torch.result_type for two tensor operands, ranks matter (0-dim operands only
// decide the type when their category is higher).
DType result_type(DType a, int ndim_a, DType b, int ndim_b);

// IEEE binary16 and bfloat16, round to nearest even.
NN_HOST_DEVICE inline float f16_to_f32(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t man = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {  // subnormal: renormalise
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
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

NN_HOST_DEVICE inline uint16_t f32_to_f16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) {  // inf or nan
    return static_cast<uint16_t>(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0u));
  }
  if (absx >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to >= 65520: inf
  if (absx < 0x38800000u) {  // result is subnormal or zero
    if (absx < 0x33000000u) return static_cast<uint16_t>(sign);  // < 2^-25: rounds to 0
    uint32_t e = absx >> 23;
    uint32_t man = (absx & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - e;  // 14 + (113 - e) - 1 ... places the value at 2^-24 units
    // value = man * 2^(e-150); in units of 2^-24: man * 2^(e-126)
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
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // may carry into exponent: still correct
  return static_cast<uint16_t>(sign | h);
}

NN_HOST_DEVICE inline float bf16_to_f32(uint16_t b) {
  uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

NN_HOST_DEVICE inline uint16_t f32_to_bf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // quiet nan
  uint32_t lsb = (x >> 16) & 1u;
  x += 0x7fffu + lsb;
  return static_cast<uint16_t>(x >> 16);
}

// Float -> integer conversion of docs/semantics.md: truncate toward zero into
// int64 (NaN -> 0, saturating), then wrap to the target width.
NN_HOST_DEVICE inline int64_t float_to_i64(double v) {
  if (v != v) return 0;
  if (v >= 9223372036854775807.0) return INT64_MAX;
  if (v <= -9223372036854775808.0) return INT64_MIN;
  return static_cast<int64_t>(v);
}

}  // namespace nn
