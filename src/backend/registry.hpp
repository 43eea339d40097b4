// The device registry: which Backend serves a device. src/api installs it as
// core's kernels lookup (core/device.hpp) before its first call does any
// work, so tensors made in src/core find their device's memory and kernels
// without including this.
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

// Makes backend_for core's kernels lookup (idempotent, thread-safe). Called
// from src/api (an explicit call rather than a static initializer, which a
// static libnn.a would drop with its otherwise unreferenced object file).
void install_device_registry() noexcept;

// The CPU backend (src/backend/cpu), always present.
Backend &cpu_backend();
// Threads for CPU work; n <= 0 means all cores. Returns the number in effect.
int cpu_set_num_threads(int n);
// Threads for CPU work now (nn_get_num_threads): the count set, else the
// environment's default (OMP_NUM_THREADS, NN_NUM_THREADS), capped to the
// cores; 1 in a child forked from a process that used them.
int cpu_get_num_threads();

}  // namespace nn
