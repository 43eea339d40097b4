#include "backend/backend.hpp"

namespace nn {

std::string Device::str() const {
  if (type == DeviceType::CPU) return "cpu";
  return "cuda:" + std::to_string(index);
}

bool View::contiguous() const {
  int64_t expected = 1;
  for (int i = shape.ndim - 1; i >= 0; --i) {
    if (shape.d[i] == 1) continue;
    if (strides.d[i] != expected) return shape.numel() == 0;
    expected *= shape.d[i];
  }
  return true;
}

}  // namespace nn
