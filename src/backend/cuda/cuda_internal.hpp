// Internals of libnn_cuda.so shared by its host side (the .cpp files: the C
// table, device state, memory, cuBLAS/cuBLASLt, plans; their own shared
// state is in cuda_state.hpp) and the kernels (cuda_kernels.cu,
// cuda_train.cu). Errors inside this library are nn::Error (hidden here,
// compiled in from core/error.cpp); the table's entries turn them into codes
// at the boundary (guard, cuda_state.hpp).
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "backend/cuda_abi.h"
#include "core/dtype.hpp"
#include "core/error.hpp"

namespace nn {
namespace cuda {

using V = nn_cuda_view;

// Throws Errc::OutOfMemory (cudaErrorMemoryAllocation) or Errc::Device with
// the CUDA error name and text.
void check(cudaError_t e, const char *what);
// cudaGetLastError() after a kernel launch.
void check_launch(const char *what);

size_t elem_size(int dtype);
int64_t numel(const V &v);
bool contiguous(const V &v);
inline bool is_float_dt(int dt) { return dt <= static_cast<int>(DType::BF16); }

// Element bits of `value` converted to dtype (docs/semantics.md rules), in
// the low elem_size(dtype) bytes.
uint64_t scalar_bits(int dtype, double value);

// ---- cuda_kernels.cu: tensor ops, every dtype, any strides.
void k_copy(cudaStream_t s, const V &dst, const V &src);
void k_fill(cudaStream_t s, const V &dst, double value);
void k_unary(cudaStream_t s, int op, const V &out, const V &x);
void k_binary(cudaStream_t s, int op, const V &out, const V &a, const V &b);
// x contiguous [outer, n, inner] with n >= 1.
void k_reduce(cudaStream_t s, int op, const V &out, const V &x);
// Integer batched matmul, int64 (wrapping) accumulation; K >= 1.
void k_matmul_int(cudaStream_t s, const V &out, const V &a, const V &b);

// ---- cuda_train.cu: training kernels, F32 / F64 (dt), contiguous operands.
// y[M,N] = act(y + bias[N]) in place (bias may be NULL); softmax over N.
void k_bias_act(cudaStream_t s, int dt, int act, void *y, const void *bias, int64_t M, int64_t N);
// y = act(x) (may alias), rows x cols.
void k_act_forward(cudaStream_t s, int dt, int act, void *y, const void *x, int64_t rows, int64_t cols);
// dx = dy * act'(from y) (dx may alias dy).
void k_act_backward(cudaStream_t s, int dt, int act, void *dx, const void *dy, const void *y, int64_t rows,
                    int64_t cols);
// out[i] *= beta (beta 0: writes 0).
void k_scale(cudaStream_t s, int dt, void *out, int64_t n, double beta);
// db[N] = beta * db + sum over rows of g[M, N].
void k_sum_rows(cudaStream_t s, int dt, void *db, const void *g, int64_t M, int64_t N, double beta);
// out row i = src row idx[i] (device idx), rows of row_bytes bytes.
void k_gather_rows(cudaStream_t s, void *out, const void *src, const int64_t *idx, int64_t n, size_t row_bytes);
// Blocks of a loss kernel at most (grid-stride beyond): the size, in
// doubles, of the per-device `partials` buffer the loss kernels reduce into.
constexpr int kLossBlocks = 1024;
// Loss kernels: S = sum of the per-element (per-row for CE) terms, reduced
// deterministically (each block writes its sum into partials[block], then
// one block adds those in a fixed order); then *out = (add ? *out : 0) +
// S * c on the device (add == false: *out = S * c). NaN and inf propagate.
// CE with class ids writes the smallest bad row into *bad (device uint64,
// preset to ~0). grad may be NULL; gc is the gradient factor (see
// cuda_layers.cpp, same as the CPU's). With no rows nothing is launched.
void k_loss(cudaStream_t s, int dt, int kind, const V &pred, const V &target, void *grad, double gc,
            double *partials, double *out, double c, bool add, unsigned long long *bad);
// One optimizer update (torch.optim semantics, as the CPU): m may be NULL
// without momentum; p.step >= 1 for Adam (its bias corrections are computed
// here in double, like the CPU).
void k_sgd(cudaStream_t s, int dt, const nn_cuda_sgd &p, void *param, const void *grad, void *m, int64_t n);
void k_adam(cudaStream_t s, int dt, const nn_cuda_adam &p, void *param, const void *grad, void *m, void *v,
            int64_t n);
// The same for n tensors (cuda_abi.h plan_update): one launch per chunk
// of <= NN_CUDA_MT_TENSORS non-empty tensors of one dtype, the same
// per-element code as k_sgd / k_adam. The caller has validated every view
// (F32/F64, contiguous, operands of the parameter's dtype and size); m is
// not read without momentum (may be NULL).
void k_sgd_many(cudaStream_t s, const nn_cuda_sgd &p, const V *params, const V *grads, const V *m, size_t n);
void k_adam_many(cudaStream_t s, const nn_cuda_adam &p, const V *params, const V *grads, const V *m, const V *v,
                 size_t n);
// *flag |= 1 when x (F32/F64, n elements) holds a non-finite value.
void k_nonfinite(cudaStream_t s, int dt, const void *x, int64_t n, int *flag);

}  // namespace cuda
}  // namespace nn
