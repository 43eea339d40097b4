#include "core/dtype.hpp"

namespace nn {

const char *dtype_name(DType dt) {
  switch (dt) {
    case DType::F32: return "float32";
    case DType::F64: return "float64";
    case DType::F16: return "float16";
    case DType::BF16: return "bfloat16";
    case DType::U8: return "uint8";
    case DType::I16: return "int16";
    case DType::I32: return "int32";
    case DType::I64: return "int64";
  }
  return "invalid";
}

bool is_floating(DType dt) {
  return dt == DType::F32 || dt == DType::F64 || dt == DType::F16 || dt == DType::BF16;
}

DType promote_types(DType a, DType b) {
  if (a == b) return a;
  bool fa = is_floating(a), fb = is_floating(b);
  if (fa != fb) return fa ? a : b;
  if (fa) {
    if (a == DType::F64 || b == DType::F64) return DType::F64;
    if (a == DType::F32 || b == DType::F32) return DType::F32;
    return DType::F32;  // f16 with bf16
  }
  // integers: u8 < i16 < i32 < i64 (u8 has no signed 8-bit partner here)
  auto rank = [](DType d) {
    switch (d) {
      case DType::U8: return 0;
      case DType::I16: return 1;
      case DType::I32: return 2;
      default: return 3;
    }
  };
  return rank(a) >= rank(b) ? a : b;
}

DType result_type(DType a, int ndim_a, DType b, int ndim_b) {
  bool za = ndim_a == 0, zb = ndim_b == 0;
  if (za == zb) return promote_types(a, b);
  // exactly one operand is 0-dim: it wins only with a higher category
  DType dim = za ? b : a, zero = za ? a : b;
  if (is_floating(zero) && !is_floating(dim)) return zero;
  return dim;
}

}  // namespace nn
