#include "core/tensor.hpp"

#include "core/ops.hpp"

namespace nn {

Storage::Storage(Backend &backend, size_t bytes)
    : backend_(backend), data_(backend.allocate(bytes)), bytes_(bytes) {}

Storage::~Storage() { backend_.deallocate(data_); }

Tensor Tensor::empty(DType dt, const Shape &shape, Device dev) {
  Tensor t;
  Backend &b = backend_for(dev);
  t.storage_ = std::make_shared<Storage>(b, static_cast<size_t>(shape.numel()) * dtype_size(dt));
  t.dtype_ = dt;
  t.shape_ = shape;
  t.strides_ = contiguous_strides(shape);
  return t;
}

View Tensor::view() const {
  View v;
  v.data = data();
  v.dtype = dtype_;
  v.shape = shape_;
  v.strides = strides_;
  return v;
}

Tensor Tensor::as_strided(const Shape &shape, const Shape &strides, int64_t offset) const {
  Tensor t = *this;
  t.shape_ = shape;
  t.strides_ = strides;
  t.offset_ = offset;
  return t;
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  Tensor t = empty(dtype_, shape_, device());
  backend().copy(t.view(), view());
  return t;
}

}  // namespace nn
