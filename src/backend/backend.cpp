#include "backend/backend.hpp"

#include "core/error.hpp"

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

namespace nn {

[[noreturn]] static void unsupported(const Backend &b, const char *kernel) {
  fail(Errc::Unsupported, "the %s backend has no %s kernel", b.device().str().c_str(), kernel);
}

void Backend::gemm(bool, bool, double, const View &, const View &, double, const View &) { unsupported(*this, "gemm"); }
void Backend::linear_forward(Act, const View &, const View &, const View &, const View &) {
  unsupported(*this, "linear_forward");
}
void Backend::activation_forward(Act, const View &, const View &) { unsupported(*this, "activation_forward"); }
void Backend::activation_backward(Act, const View &, const View &, const View &, const View &) {
  unsupported(*this, "activation_backward");
}
void Backend::sum_rows(const View &, const View &, double) { unsupported(*this, "sum_rows"); }
void Backend::gather_rows(const View &, const View &, const int64_t *, int64_t) { unsupported(*this, "gather_rows"); }
void Backend::loss(LossKind, const View &, const View &, double *, const View &, double) {
  unsupported(*this, "loss");
}
void Backend::sgd_update(const SgdParams &, const View &, const View &, const View &) {
  unsupported(*this, "sgd_update");
}
void Backend::adam_update(const AdamParams &, const View &, const View &, const View &, const View &) {
  unsupported(*this, "adam_update");
}
bool Backend::all_finite(const View &) { unsupported(*this, "all_finite"); }

}  // namespace nn
