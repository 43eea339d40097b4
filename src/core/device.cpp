#include "core/device.hpp"

#include <atomic>

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

namespace {
std::atomic<KernelsLookup> g_lookup{nullptr};
}  // namespace

void install_kernels_lookup(KernelsLookup lookup) noexcept { g_lookup.store(lookup, std::memory_order_release); }

TensorKernels &kernels_for(Device dev) {
  KernelsLookup f = g_lookup.load(std::memory_order_acquire);
  if (!f) fail(Errc::Internal, "no device registry is installed");
  return f(dev);
}

}  // namespace nn
