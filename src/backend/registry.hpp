// The device registry: which Backend serves a device. It installs itself as
// core's kernels lookup (core/device.hpp) before main, so tensors made in
// src/core find their device's memory and kernels without including this.
#pragma once
#include "backend/backend.hpp"
#include "core/tensor.hpp"

namespace nn {

// Validates the device (type, index, availability) and returns its backend.
// Throws Errc::InvalidArgument / Errc::Device. Thread-safe.
Backend &backend_for(Device dev);
// The backend of t's storage (t defined).
inline Backend &backend_of(const Tensor &t) {
  // Every TensorKernels is a Backend: the registry hands out nothing else.
  return static_cast<Backend &>(t.kernels());
}

// The CPU backend (src/backend/cpu), always present.
Backend &cpu_backend();
// Threads for CPU work; n <= 0 means all cores. Returns the number in effect.
int cpu_set_num_threads(int n);

}  // namespace nn
