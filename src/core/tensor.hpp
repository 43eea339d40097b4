// Tensor: a strided view of ref-counted, device-aware Storage. Views made by
// reshape/transpose (and layer parameters) share the Storage.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "core/device.hpp"
#include "core/dtype.hpp"
#include "core/error.hpp"
#include "core/shape.hpp"

namespace nn {

// Device memory; freed by its backend when the last Tensor using it goes away.
class Storage {
 public:
  Storage(TensorKernels &kernels, size_t bytes);
  // Storage whose data lives in the same block as the shared_ptr control
  // block (CPU tensors, see Tensor::empty): *inline_slot is read when the
  // Storage is constructed, after the block was allocated; not freed by the
  // kernels.
  Storage(TensorKernels &kernels, size_t bytes, void *const *inline_slot) noexcept
      : kernels_(kernels), data_(*inline_slot), bytes_(bytes), inline_(true) {}
  ~Storage();
  Storage(const Storage &) = delete;
  Storage &operator=(const Storage &) = delete;

  void *data() const { return data_; }
  size_t bytes() const { return bytes_; }
  TensorKernels &kernels() const { return kernels_; }
  Device device() const { return kernels_.device(); }

 private:
  TensorKernels &kernels_;
  void *data_;
  size_t bytes_;
  bool inline_ = false;
};

class Tensor {
 public:
  Tensor() = default;
  // Uninitialised contiguous tensor.
  static Tensor empty(DType dt, const Shape &shape, Device dev);
  // Zero-filled contiguous tensor (all dtypes: zero is all-zero bytes). On
  // the CPU the memory comes zeroed from the allocator (a large one is
  // fresh pages, not touched until used); elsewhere it is filled.
  static Tensor zeros(DType dt, const Shape &shape, Device dev);

  DType dtype() const { return dtype_; }
  const Shape &shape() const { return shape_; }
  const Shape &strides() const { return strides_; }
  int ndim() const { return shape_.ndim; }
  int64_t numel() const { return shape_.numel(); }
  int64_t dim(int i) const { return shape_.d[i]; }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  Device device() const { return storage_->device(); }
  TensorKernels &kernels() const { return storage_->kernels(); }
  bool defined() const { return storage_ != nullptr; }
  // Row-major with no gaps (size-1 dims ignored); View::contiguous's rule,
  // without building a View.
  bool is_contiguous() const {
    int64_t expected = 1;
    for (int i = shape_.ndim - 1; i >= 0; --i) {
      if (shape_.d[i] == 1) continue;
      if (strides_.d[i] != expected) return numel() == 0;
      expected *= shape_.d[i];
    }
    return true;
  }
  const std::shared_ptr<Storage> &storage() const { return storage_; }
  int64_t offset() const { return offset_; }

  // Address of the first element (device memory).
  void *data() const {
    return static_cast<char *>(storage_->data()) + offset_ * static_cast<int64_t>(dtype_size(dtype_));
  }
  template <typename T>
  T *data_as() const { return static_cast<T *>(data()); }
  View view() const;

  // A view of the same storage with another shape/strides/offset.
  Tensor as_strided(const Shape &shape, const Shape &strides, int64_t offset) const;
  // This tensor if contiguous, else a contiguous copy.
  Tensor contiguous() const;

 private:
  static Tensor make(DType dt, const Shape &shape, Device dev, bool zeroed);
  std::shared_ptr<Storage> storage_;
  int64_t offset_ = 0;  // elements
  DType dtype_ = DType::F32;
  Shape shape_;
  Shape strides_;
};

}  // namespace nn
