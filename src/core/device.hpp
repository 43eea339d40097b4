// Devices, strided views, the op enums, and what core's tensors need from a
// device (TensorKernels: memory, copies and the per-op tensor kernels). The
// backends (src/backend) implement TensorKernels; the device registry
// (src/backend/registry.cpp, installed by src/api before any work) provides
// the lookup that maps a Device to its kernels, so nothing in src/core
// includes anything above it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/dtype.hpp"
#include "core/shape.hpp"

namespace nn {

enum class DeviceType : int32_t { CPU = 1, CUDA = 2 };  // values of nn_device_type

struct Device {
  DeviceType type = DeviceType::CPU;
  int32_t index = 0;
  bool operator==(const Device &o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device &o) const { return !(*this == o); }
  std::string str() const;  // "cpu", "cuda:0"
};

// A strided view of memory on one device. Strides are in elements and may be
// 0 (broadcast); `data` points at the first element.
struct View {
  void *data = nullptr;
  DType dtype = DType::F32;
  Shape shape;
  Shape strides;
  int64_t numel() const { return shape.numel(); }
  bool contiguous() const;  // row-major with no gaps (size-1 dims ignored)
};

// A contiguous row-major [rows, cols] view of `data` (inline: a training
// step builds a few).
inline View matrix_view(void *data, DType dt, int64_t rows, int64_t cols) {
  View v;
  v.data = data;
  v.dtype = dt;
  v.shape.ndim = 2;
  v.shape.d[0] = rows;
  v.shape.d[1] = cols;
  v.strides.ndim = 2;
  v.strides.d[0] = cols;
  v.strides.d[1] = 1;
  return v;
}

// Values of nn_unary_op first; LEAKY_RELU (slope 0.01) is internal.
enum class UnaryOp { Neg = 0, Abs, Exp, Log, Sqrt, Relu, Sigmoid, Tanh, Step, LeakyRelu };
enum class BinaryOp { Add = 0, Sub, Mul, Div, Max, Min };  // values of nn_binary_op
enum class ReduceOp { Sum = 0, Mean, Max, Min, Argmax };    // values of nn_reduce_op
// Values of nn_activation.
enum class Act { Identity = 0, Relu, Sigmoid, Tanh, Step, Softmax, LeakyRelu };
// Values of nn_loss.
enum class LossKind { MSE = 0, SSE, HalfMSE, BCE, BCEWithLogits, CrossEntropy };

// What a device must do for tensors and tensor operations (src/core). Every
// operand of one call lives on this device. src/backend's Backend extends it
// with whole training steps (plans) and optimizer updates.
class TensorKernels {
 public:
  virtual ~TensorKernels() = default;
  virtual Device device() const = 0;

  // Memory. allocate throws Errc::OutOfMemory; 0 bytes gives a valid unique pointer.
  virtual void *allocate(size_t bytes) = 0;
  virtual void deallocate(void *p) noexcept = 0;
  virtual void copy_to_host(void *host_dst, const void *src, size_t bytes) = 0;
  virtual void copy_from_host(void *dst, const void *host_src, size_t bytes) = 0;

  // dst[i] = convert(src[i]) over dst.shape (== src.shape), any strides on
  // both sides, any pair of dtypes (conversion rules of docs/semantics.md).
  virtual void copy(const View &dst, const View &src) = 0;
  // Every element of dst (any strides) = value converted to dst.dtype.
  virtual void fill(const View &dst, double value) = 0;

  // out = op(x), out contiguous, x any strides, same shape and dtype.
  virtual void unary(UnaryOp op, const View &out, const View &x) = 0;
  // out = a op b; out contiguous; a and b have out's shape and dtype, with
  // broadcast (stride 0) or any other strides.
  virtual void binary(BinaryOp op, const View &out, const View &a, const View &b) = 0;
  // x contiguous of shape [outer, n, inner] is reduced over its middle dim into
  // out, contiguous [outer, inner]. Sum/Max/Min/Mean: out.dtype == x.dtype
  // (F16/BF16 accumulate in F32); Argmax: out.dtype is I64 (first index of the
  // maximum, NaN counts as maximal). n may be 0 only for Sum (0) and Mean (NaN).
  virtual void reduce(ReduceOp op, const View &out, const View &x) = 0;
  // Batched matrix product: a [B, M, K], b [B, K, N] (any strides, batch stride
  // 0 broadcasts one matrix), out [B, M, N] contiguous; one dtype for all three.
  // Integers accumulate in int64 and wrap.
  virtual void matmul(const View &out, const View &a, const View &b) = 0;
};

// The kernels of a device: validates the device (type, index, availability;
// Errc::InvalidArgument / Errc::Device) through the lookup the device
// registry installed. Thread-safe.
TensorKernels &kernels_for(Device dev);
// Installed by src/backend/registry.cpp (install_device_registry); not for other use.
using KernelsLookup = TensorKernels &(*)(Device dev);
void install_kernels_lookup(KernelsLookup lookup) noexcept;

}  // namespace nn
