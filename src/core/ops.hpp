// Tensor operations with PyTorch semantics (dtype promotion, broadcasting,
// torch.matmul rules). They validate shapes/dtypes/devices, throw nn::Error
// with messages that start with `what` (the public function's name), and run
// the work on the tensors' backend.
#pragma once
#include <cstdint>
#include <string>

#include "core/tensor.hpp"

namespace nn {

// Validates a device (type, index, availability); throws
// Errc::InvalidArgument / Errc::Device with a message starting with `what`.
void check_device(Device dev, const char *what);
// Throws Errc::Device when a and b are on different devices.
void check_same_device(const Tensor &a, const Tensor &b, const char *what);

// Creation
Tensor zeros(DType dt, const Shape &shape, Device dev);
Tensor full(DType dt, const Shape &shape, double value, Device dev);
Tensor from_host(DType dt, const Shape &shape, const void *data, Device dev);
Tensor arange(double start, double end, double step, DType dt, Device dev, const char *what);
Tensor rand_uniform(DType dt, const Shape &shape, double low, double high, uint64_t seed, Device dev,
                    const char *what);
Tensor rand_normal(DType dt, const Shape &shape, double mean, double std, uint64_t seed, Device dev,
                   const char *what);

// Transfers. to_host copies the tensor's elements in row-major order.
void to_host(const Tensor &t, void *dst);
void write_from_host(const Tensor &t, const void *src);  // into t's elements (any strides)
Tensor to_device(const Tensor &t, Device dev);
Tensor to_dtype(const Tensor &t, DType dt);
Tensor clone(const Tensor &t);
void copy_into(const Tensor &dst, const Tensor &src, const char *what);  // same shape, any dtypes/strides

// Views
Tensor reshape(const Tensor &t, int ndim, const int64_t *shape, const char *what);  // one -1 allowed
Tensor transpose(const Tensor &t, int dim0, int dim1, const char *what);

// Math
Tensor unary(UnaryOp op, const Tensor &x, const char *what);
Tensor binary(BinaryOp op, const Tensor &a, const Tensor &b, const char *what);
Tensor binary_scalar(BinaryOp op, const Tensor &a, double b, const char *what);
Tensor reduce(ReduceOp op, const Tensor &x, int dim, bool keepdim, const char *what);  // dim may be kAllDims
constexpr int kAllDims = -128;
Tensor matmul(const Tensor &a, const Tensor &b, const char *what);
Tensor lstsq(const Tensor &a, const Tensor &b, const char *what);

// PyTorch-style printing.
std::string to_string(const Tensor &t);

// Counter-based random numbers: value i depends only on (seed, i).
uint64_t splitmix64(uint64_t x);               // a 64-bit mixing function
double uniform01(uint64_t seed, uint64_t i);  // in [0, 1)
double normal01(uint64_t seed, uint64_t i);   // standard normal

}  // namespace nn
