#include "backend/registry.hpp"

#include "backend/cuda_proxy.hpp"
#include "core/error.hpp"

namespace nn {

Backend &backend_for(Device dev) {
  switch (dev.type) {
    case DeviceType::CPU:
      if (dev.index != 0) fail(Errc::Device, "CPU device index is %d; it must be 0", dev.index);
      return cpu_backend();
    case DeviceType::CUDA:
      return cuda_backend(dev.index);  // loads libnn_cuda.so on first use; throws Errc::Device
  }
  fail(Errc::InvalidArgument, "device type %d is not NN_CPU (1) or NN_CUDA (2)", static_cast<int>(dev.type));
}

namespace {
TensorKernels &lookup(Device dev) { return backend_for(dev); }
}  // namespace

void install_device_registry() noexcept { install_kernels_lookup(&lookup); }

}  // namespace nn
