// libnn_cuda.so: the per-op tensor entries (nn_unary and friends: copy,
// fill, unary, binary, reduce, matmul), the batch gather and the finiteness
// checks. Argument checks and cuBLAS calls here; the kernels are in
// cuda_kernels.cu and cuda_train.cu.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>

#include "backend/cuda/cuda_state.hpp"

namespace nn {
namespace cuda {

void copy(int device, const V *dst, const V *src) {
  const int64_t n = numel(*dst);
  if (n == 0) return;
  Lock l(device);
  if (dst->dtype == src->dtype && contiguous(*dst) && contiguous(*src)) {
    if (dst->data == src->data) return;
    const size_t bytes = static_cast<size_t>(n) * elem_size(dst->dtype);
    const char *a = static_cast<const char *>(dst->data), *b = static_cast<const char *>(src->data);
    if (a < b + bytes && b < a + bytes) {  // overlapping: through a temporary (memmove)
      Temp t(l.dev(), bytes);
      check(cudaMemcpyAsync(t.p, src->data, bytes, cudaMemcpyDeviceToDevice, l.stream()), "copy");
      check(cudaMemcpyAsync(dst->data, t.p, bytes, cudaMemcpyDeviceToDevice, l.stream()), "copy");
      return;
    }
    check(cudaMemcpyAsync(dst->data, src->data, bytes, cudaMemcpyDeviceToDevice, l.stream()), "copy");
    return;
  }
  k_copy(l.stream(), *dst, *src);
}

namespace {

int e_fill(int device, const V *dst, double value, nn_cuda_error *err) {
  return guard(err, [&] {
    if (numel(*dst) == 0) return;
    Lock l(device);
    k_fill(l.stream(), *dst, value);
  });
}

int e_unary(int device, int op, const V *out, const V *x, nn_cuda_error *err) {
  return guard(err, [&] {
    const UnaryOp u = static_cast<UnaryOp>(op);
    if (!is_float_dt(x->dtype) && !(u == UnaryOp::Neg || u == UnaryOp::Abs || u == UnaryOp::Relu || u == UnaryOp::Step))
      fail(Errc::Internal, "cuda unary: op %d on integer dtype %s", op, dt_name(x->dtype));
    if (numel(*out) == 0) return;
    Lock l(device);
    k_unary(l.stream(), op, *out, *x);
  });
}

int e_binary(int device, int op, const V *out, const V *a, const V *b, nn_cuda_error *err) {
  return guard(err, [&] {
    if (!is_float_dt(out->dtype) && static_cast<BinaryOp>(op) == BinaryOp::Div)
      fail(Errc::Internal, "cuda binary: integer division reached the backend");
    if (numel(*out) == 0) return;
    Lock l(device);
    k_binary(l.stream(), op, *out, *a, *b);
  });
}

int e_reduce(int device, int op, const V *out, const V *x, nn_cuda_error *err) {
  return guard(err, [&] {
    if (numel(*out) == 0) return;
    if (x->ndim != 3) fail(Errc::Internal, "cuda reduce: x must be [outer, n, inner]");
    const ReduceOp r = static_cast<ReduceOp>(op);
    if (r == ReduceOp::Mean && !is_float_dt(x->dtype))
      fail(Errc::Internal, "cuda reduce: mean of integer dtype %s", dt_name(x->dtype));
    Lock l(device);
    if (x->shape[1] == 0) {
      if (r == ReduceOp::Sum) return k_fill(l.stream(), *out, 0.0);
      if (r == ReduceOp::Mean) return k_fill(l.stream(), *out, std::nan(""));
      fail(Errc::Internal, "cuda reduce: max/min/argmax over an empty dim");
    }
    k_reduce(l.stream(), op, *out, *x);
  });
}

V contiguous_view(const V &v, void *data) {
  V r = v;
  r.data = data;
  int64_t s = 1;
  for (int i = v.ndim - 1; i >= 0; --i) {
    r.strides[i] = s;
    s *= v.shape[i];
  }
  return r;
}

// How cuBLAS (column-major) sees a row-major view X [R, C] with strides
// (sr, sc): trans == false: memory is the column-major C x R matrix X^T with
// leading dimension ld; trans == true: memory is X itself (R x C, ld).
struct MatLayout {
  bool ok = false, trans = false;
  int64_t ld = 0;
};
MatLayout mat_layout(int64_t R, int64_t C, int64_t sr, int64_t sc) {
  MatLayout m;
  if (C == 1 || sc == 1) {
    int64_t ld = R == 1 ? std::max<int64_t>(C, 1) : sr;
    if (ld >= std::max<int64_t>(C, 1)) {
      m.ok = true;
      m.ld = ld;
      return m;
    }
  }
  if (R == 1 || sr == 1) {
    int64_t ld = C == 1 ? std::max<int64_t>(R, 1) : sc;
    if (ld >= std::max<int64_t>(R, 1)) {
      m.ok = true;
      m.trans = true;
      m.ld = ld;
      return m;
    }
  }
  return m;
}

void matmul_blas(Lock &l, const V &out, const V &a0, const V &b0) {
  Dev &d = l.dev();
  const int64_t B = out.shape[0], M = out.shape[1], N = out.shape[2], K = a0.shape[2];
  V a = a0, b = b0;
  std::unique_ptr<Temp> ta, tb;
  MatLayout la = mat_layout(M, K, a.strides[1], a.strides[2]);
  if (!la.ok) {  // e.g. overlapping strides: a contiguous copy first
    ta.reset(new Temp(d, static_cast<size_t>(numel(a)) * elem_size(a.dtype)));
    V c = contiguous_view(a, ta->p);
    k_copy(l.stream(), c, a);
    a = c;
    la = mat_layout(M, K, a.strides[1], a.strides[2]);
  }
  MatLayout lb = mat_layout(K, N, b.strides[1], b.strides[2]);
  if (!lb.ok) {
    tb.reset(new Temp(d, static_cast<size_t>(numel(b)) * elem_size(b.dtype)));
    V c = contiguous_view(b, tb->p);
    k_copy(l.stream(), c, b);
    b = c;
    lb = mat_layout(K, N, b.strides[1], b.strides[2]);
  }
  const long long sa = a.shape[0] > 1 ? a.strides[0] : 0, sb = b.shape[0] > 1 ? b.strides[0] : 0;
  const DType dt = static_cast<DType>(out.dtype);
  cudaDataType_t ty;
  cublasComputeType_t ct;
  const float f1 = 1.f, f0 = 0.f;
  const double d1 = 1.0, d0 = 0.0;
  const void *alpha = &f1, *beta = &f0;
  switch (dt) {
    case DType::F32:
      ty = CUDA_R_32F;
      ct = global().tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
      break;
    case DType::F64:
      ty = CUDA_R_64F;
      ct = CUBLAS_COMPUTE_64F;
      alpha = &d1;
      beta = &d0;
      break;
    case DType::F16:
      ty = CUDA_R_16F;
      ct = CUBLAS_COMPUTE_32F;
      break;
    default:
      ty = CUDA_R_16BF;
      ct = CUBLAS_COMPUTE_32F;
      break;
  }
  // out^T (N x M, column-major) = op(b)^T (N x K) * op(a)^T (K x M).
  check_blas(cublasGemmStridedBatchedEx(blas(d), lb.trans ? CUBLAS_OP_T : CUBLAS_OP_N, la.trans ? CUBLAS_OP_T : CUBLAS_OP_N,
                                        as_int(N, "matmul"), as_int(M, "matmul"), as_int(K, "matmul"), alpha, b.data, ty,
                                        as_int(lb.ld, "matmul"), sb, a.data, ty, as_int(la.ld, "matmul"), sa, beta,
                                        out.data, ty, as_int(N, "matmul"), static_cast<long long>(M * N),
                                        as_int(B, "matmul"), ct, CUBLAS_GEMM_DEFAULT),
             "matmul");
}

int e_matmul(int device, const V *out, const V *a, const V *b, nn_cuda_error *err) {
  return guard(err, [&] {
    if (numel(*out) == 0) return;
    Lock l(device);
    if (a->shape[2] == 0) return k_fill(l.stream(), *out, 0.0);
    if (!is_float_dt(out->dtype)) return k_matmul_int(l.stream(), *out, *a, *b);
    matmul_blas(l, *out, *a, *b);
  });
}

int e_gather_rows_device(int device, const V *out, const V *src, const V *idx, int64_t n, nn_cuda_error *err) {
  return guard(err, [&] {
    need_contiguous("gather_rows_device", *out, "out");
    need_contiguous("gather_rows_device", *src, "src");
    if (n == 0) return;
    need_contiguous("gather_rows_device", *idx, "idx");
    if (idx->dtype != static_cast<int>(DType::I64) || numel(*idx) < n || idx->data == nullptr)
      fail(Errc::Internal, "cuda gather_rows_device: idx must be int64 with >= %lld elements", (long long)n);
    const int64_t src_rows = src->ndim > 0 ? src->shape[0] : 1;
    const size_t row_bytes =
        src_rows > 0 ? static_cast<size_t>(numel(*src) / src_rows) * elem_size(src->dtype) : 0;
    Lock l(device);
    k_gather_rows(l.stream(), out->data, src->data, static_cast<const int64_t *>(idx->data), n, row_bytes);
  });
}

int e_all_finite(int device, const V *x, int *out, nn_cuda_error *err) {
  return guard(err, [&] {
    need_contiguous("all_finite", *x, "x");
    *out = 1;
    if (!is_float_dt(x->dtype)) return;
    if (x->dtype != static_cast<int>(DType::F32) && x->dtype != static_cast<int>(DType::F64))
      fail(Errc::Unsupported, "cuda all_finite: dtype %s is not supported", dt_name(x->dtype));
    const int64_t n = numel(*x);
    if (n == 0) return;
    drain(device);
    Lock l(device);
    l.no_capture("all_finite");
    Dev &d = l.dev();
    const cudaStream_t s = l.stream();
    int *flag = reinterpret_cast<int *>(ctx_scratch(d, l.ctx()) + 16);
    check(cudaMemsetAsync(flag, 0, sizeof(int), s), "all_finite");
    k_nonfinite(s, x->dtype, x->data, n, flag);
    check(cudaMemcpyAsync(d.pinned, flag, sizeof(int), cudaMemcpyDeviceToHost, s), "all_finite");
    check(cudaStreamSynchronize(s), "all_finite");
    int f;
    std::memcpy(&f, d.pinned, sizeof(int));
    *out = f ? 0 : 1;
  });
}

int e_all_finite_many(int device, const V *xs, size_t n, int *out, nn_cuda_error *err) {
  return guard(err, [&] {
    *out = 1;
    bool any = false;
    for (size_t i = 0; i < n; ++i) {
      const V &x = xs[i];
      need_contiguous("all_finite_many", x, "x");
      if (!is_float_dt(x.dtype) || numel(x) == 0) continue;
      if (x.dtype != static_cast<int>(DType::F32) && x.dtype != static_cast<int>(DType::F64))
        fail(Errc::Unsupported, "cuda all_finite: dtype %s is not supported", dt_name(x.dtype));
      any = true;
    }
    if (!any) return;
    drain(device);
    Lock l(device);
    l.no_capture("all_finite_many");
    Dev &d = l.dev();
    const cudaStream_t s = l.stream();
    int *flag = reinterpret_cast<int *>(ctx_scratch(d, l.ctx()) + 16);
    check(cudaMemsetAsync(flag, 0, sizeof(int), s), "all_finite");
    for (size_t i = 0; i < n; ++i)
      if (is_float_dt(xs[i].dtype) && numel(xs[i]) > 0) k_nonfinite(s, xs[i].dtype, xs[i].data, numel(xs[i]), flag);
    // The one synchronisation of the check, whatever the number of tensors.
    check(cudaMemcpyAsync(d.pinned, flag, sizeof(int), cudaMemcpyDeviceToHost, s), "all_finite");
    check(cudaStreamSynchronize(s), "all_finite");
    int f;
    std::memcpy(&f, d.pinned, sizeof(int));
    *out = f ? 0 : 1;
  });
}

}  // namespace

void add_tensor_entries(nn_cuda_iface &t) {
  t.copy = [](int device, const V *dst, const V *src, nn_cuda_error *err) {
    return guard(err, [&] { copy(device, dst, src); });
  };
  t.fill = e_fill;
  t.unary = e_unary;
  t.binary = e_binary;
  t.reduce = e_reduce;
  t.matmul = e_matmul;
  t.gather_rows_device = e_gather_rows_device;
  t.all_finite = e_all_finite;
  t.all_finite_many = e_all_finite_many;
}

}  // namespace cuda
}  // namespace nn
