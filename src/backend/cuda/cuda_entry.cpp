// libnn_cuda.so's side of cuda_abi.h: the one exported symbol and its table.
// Each part of the library fills in the entries it defines:
//   cuda_device.cpp      probe, device memory, host copies (and the device
//                        state, lock and current stream: cuda_state.hpp)
//   cuda_tensor_ops.cpp  per-op tensor kernels (nn_unary and friends), the
//                        batch gather, finiteness checks
//   cuda_layers.cpp      the loss with its value (and the layer kernels and
//                        optimizer updates that plans run)
//   cuda_plan.cpp        plans run whole: forward, training step, update
//   cuda_graphs.cpp      (no entries) CUDA Graphs and model streams, the
//                        plan state's parts
// Every entry catches everything and returns a code + message (guard): no
// exception leaves this library.
#include <cstdio>
#include <cstring>

#include "backend/cuda/cuda_state.hpp"
#include "nn_cuda_build_id.h"

namespace nn {
namespace cuda {
namespace {

// The table, or NULL when an entry was left out (libnn.so then reports
// the module unusable instead of calling through a NULL pointer).
const nn_cuda_iface *make_table() {
  static nn_cuda_iface t;
  std::memset(&t, 0, sizeof t);
  std::snprintf(t.build_id, sizeof t.build_id, "%s", NN_CUDA_BUILD_ID);
  add_device_entries(t);
  add_tensor_entries(t);
  add_layer_entries(t);
  add_plan_entries(t);
  // After build_id the table holds function pointers only.
  using Fn = void (*)();
  constexpr size_t first = offsetof(nn_cuda_iface, probe);
  static_assert((sizeof(nn_cuda_iface) - first) % sizeof(Fn) == 0, "nn_cuda_iface: function pointers only");
  const auto *bytes = reinterpret_cast<const unsigned char *>(&t);
  for (size_t off = first; off < sizeof t; off += sizeof(Fn)) {
    Fn f;
    std::memcpy(&f, bytes + off, sizeof f);
    if (!f) return nullptr;
  }
  return &t;
}

}  // namespace
}  // namespace cuda
}  // namespace nn

extern "C" __attribute__((visibility("default"))) const nn_cuda_iface *nn_cuda_backend_table(void) {
  static const nn_cuda_iface *t = nn::cuda::make_table();
  return t;
}
