// libnn_cuda.so: the layer kernels that plans run (cuda_plan.cpp): GEMMs
// (cuBLAS), Linear forward (cuBLASLt with a fused bias epilogue, else cuBLAS
// + our bias/activation kernel), activations forward and backward, bias
// gradients, losses and optimizer updates. Argument checks, library calls and
// launches; the kernels are in cuda_train.cu. Only the loss with its value
// read back is also a table entry (Backend::loss: nn_loss_compute, evaluate).
#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "backend/cuda/cuda_state.hpp"

namespace nn {
namespace cuda {

// Row-major out[M,N] = op(a) op(b) + beta out (dense operands).
// cuBLAS is column-major: a row-major R x C matrix with row stride ld is, to
// cuBLAS, its transpose (C x R, leading dimension ld). So it computes
//   out^T [N x M, ld N] = op(b)^T op(a)^T + beta out^T
// with cuBLAS's A := b and B := a:
//   tb == 0: b is row-major [K, N] = column-major b^T [N x K], ld N: OP_N gives op(b)^T = b^T.
//   tb == 1: b is row-major [N, K] = column-major b^T [K x N], ld K: OP_T gives (b^T)^T = b = op(b)^T.
//   ta == 0: a is row-major [M, K] = column-major a^T [K x M], ld K: OP_N gives a^T = op(a)^T.
//   ta == 1: a is row-major [K, M] = column-major a^T [M x K], ld M: OP_T gives a = op(a)^T.
// ldb = cols_of(b) (N or K) and lda = cols_of(a) (K or M), as passed by gemm;
// cuBLAS m = N, n = M, k = K, ldc = N.
static void gemm_rm(Dev &d, int dt, bool ta, bool tb, const void *a, int64_t lda, const void *b,
                    int64_t ldb, double beta, void *out, int64_t M, int64_t N, int64_t K) {
  const cublasOperation_t oa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, ob = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int m = as_int(N, "gemm"), n = as_int(M, "gemm"), k = as_int(K, "gemm");
  const int la = as_int(std::max<int64_t>(lda, 1), "gemm"), lb = as_int(std::max<int64_t>(ldb, 1), "gemm");
  if (dt == static_cast<int>(DType::F32)) {
    const float al = 1.f, be = static_cast<float>(beta);
    check_blas(cublasSgemm(blas(d), ob, oa, m, n, k, &al, static_cast<const float *>(b), lb, static_cast<const float *>(a),
                           la, &be, static_cast<float *>(out), m),
               "gemm");
  } else {
    const double one = 1.0;
    check_blas(cublasDgemm(blas(d), ob, oa, m, n, k, &one, static_cast<const double *>(b), lb,
                           static_cast<const double *>(a), la, &beta, static_cast<double *>(out), m),
               "gemm");
  }
}

void gemm(int device, int ta, int tb, const V *a, const V *b, double beta, const V *out) {
  need_float("gemm", out->dtype);
  if (a->dtype != out->dtype || b->dtype != out->dtype) fail(Errc::Internal, "cuda gemm: mixed dtypes");
  need_contiguous("gemm", *a, "a");
  need_contiguous("gemm", *b, "b");
  need_contiguous("gemm", *out, "out");
  const int64_t M = rows_of(*out), N = cols_of(*out);
  const int64_t K = ta ? rows_of(*a) : cols_of(*a);
  const int64_t am = ta ? cols_of(*a) : rows_of(*a);
  const int64_t bk = tb ? cols_of(*b) : rows_of(*b), bn = tb ? rows_of(*b) : cols_of(*b);
  if (am != M || bk != K || bn != N) fail(Errc::Internal, "cuda gemm: shapes do not fit");
  if (M == 0 || N == 0) return;
  Lock l(device);
  if (K == 0) return k_scale(l.stream(), out->dtype, out->data, M * N, beta);
  gemm_rm(l.dev(), out->dtype, ta != 0, tb != 0, a->data, cols_of(*a), b->data, cols_of(*b), beta, out->data,
          M, N, K);
}

static uint32_t alignment_of(const void *p) {
  uintptr_t v = reinterpret_cast<uintptr_t>(p);
  uint32_t a = 256;
  while (a > 4 && (v % a) != 0) a >>= 1;
  return a;
}

// The cuBLASLt plan of y^T (N x M) = w (N x K, from row-major w) * x^T for
// one shape, epilogue and alignment; ok == false when Lt has no algorithm.
static LtPlan &lt_plan(Dev &d, const LtKey &key) {
  auto it = d.lt_plans.find(key);
  if (it != d.lt_plans.end()) return it->second;
  if (d.lt_plans.size() >= kMaxLtPlans) {
    for (auto &kv : d.lt_plans) {
      if (kv.second.desc) cublasLtMatmulDescDestroy(kv.second.desc);
      if (kv.second.a) cublasLtMatrixLayoutDestroy(kv.second.a);
      if (kv.second.b) cublasLtMatrixLayoutDestroy(kv.second.b);
      if (kv.second.c) cublasLtMatrixLayoutDestroy(kv.second.c);
    }
    d.lt_plans.clear();
  }
  LtPlan &p = d.lt_plans[key];
  const cublasComputeType_t ct = global().tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  const int64_t M = key.m, N = key.n, K = key.k;
  check_blas(cublasLtMatmulDescCreate(&p.desc, ct, CUDA_R_32F), "linear_forward: cuBLASLt descriptor");
  const cublasOperation_t tA = CUBLAS_OP_T, tB = CUBLAS_OP_N;
  const cublasLtEpilogue_t epi = static_cast<cublasLtEpilogue_t>(key.epilogue);
  check_blas(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &tA, sizeof(tA)), "linear_forward");
  check_blas(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &tB, sizeof(tB)), "linear_forward");
  check_blas(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)), "linear_forward");
  check_blas(cublasLtMatrixLayoutCreate(&p.a, CUDA_R_32F, K, N, K), "linear_forward: layout");
  check_blas(cublasLtMatrixLayoutCreate(&p.b, CUDA_R_32F, K, M, K), "linear_forward: layout");
  check_blas(cublasLtMatrixLayoutCreate(&p.c, CUDA_R_32F, N, M, N), "linear_forward: layout");
  cublasLtMatmulPreference_t pref = nullptr;
  check_blas(cublasLtMatmulPreferenceCreate(&pref), "linear_forward: preference");
  size_t ws = kWorkspace;
  uint32_t al = key.align;
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al, sizeof(al));
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al, sizeof(al));
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al, sizeof(al));
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al, sizeof(al));
  cublasLtMatmulHeuristicResult_t res;
  int found = 0;
  cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(d.lt, p.desc, p.a, p.b, p.c, p.c, pref, 1, &res, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  if (st == CUBLAS_STATUS_SUCCESS && found > 0) {
    p.algo = res.algo;
    p.ok = true;
  }
  return p;
}

void linear_forward(int device, int act, const V *y, const V *x, const V *w, const V *bias) {
  const char *what = "linear_forward";
  need_float(what, y->dtype);
  if (x->dtype != y->dtype || w->dtype != y->dtype || (bias->data && bias->dtype != y->dtype))
    fail(Errc::Internal, "cuda linear_forward: mixed dtypes");
  need_contiguous(what, *x, "x");
  need_contiguous(what, *w, "w");
  need_contiguous(what, *y, "y");
  const int64_t M = rows_of(*y), N = cols_of(*y), K = cols_of(*x);
  if (rows_of(*x) != M || rows_of(*w) != N || cols_of(*w) != K)
    fail(Errc::Internal, "cuda linear_forward: shapes do not fit");
  if (M == 0 || N == 0) return;
  Lock l(device);
  Dev &d = l.dev();
  const void *b = bias->data;
  if (K == 0) {
    k_fill(l.stream(), *y, 0.0);
    return k_bias_act(l.stream(), y->dtype, act, y->data, b, M, N);
  }
  if (y->dtype == static_cast<int>(DType::F32) && !global().no_lt) {
    // Column-major view (see lt_plan): D = y^T [N x M] = op(A) op(B) with
    // A = w stored K x N (ld K), op T -> w [N x K]; B = x stored K x M
    // (ld K), op N -> x^T [K x M]; so D = w x^T = (x w^T)^T. The bias
    // epilogue adds bias[N] down each column of D (one entry per row of
    // D = per output feature), i.e. y[i][j] += bias[j].
    // The bias fuses (bias epilogue); every activation runs after, in our
    // kernel. cuBLASLt's RELU epilogues are not used: NVIDIA documents them
    // as max(x, 0) without saying what NaN gives, and ReLU must keep NaN
    // (torch.relu). The bias epilogue needs a 16-byte aligned bias
    // (misaligned biases are added by our kernel instead).
    const bool fuse_bias = b != nullptr && alignment_of(b) >= 16;
    cublasLtEpilogue_t epi = fuse_bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
    uint32_t al = std::min({alignment_of(x->data), alignment_of(w->data), alignment_of(y->data)});
    LtPlan &p = lt_plan(d, LtKey{M, N, K, static_cast<int>(epi), al});
    if (p.ok) {
      cublasStatus_t st = CUBLAS_STATUS_SUCCESS;
      if (fuse_bias) st = cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &b, sizeof(b));
      const float one = 1.f, zero = 0.f;
      if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmul(d.lt, p.desc, &one, w->data, p.a, x->data, p.b, &zero, y->data, p.c, y->data, p.c,
                            &p.algo, ctx_ws(d, l.ctx()), kWorkspace, l.stream());
      if (st == CUBLAS_STATUS_SUCCESS) {
        check_launch("linear_forward (cuBLASLt)");
        const void *rest_bias = fuse_bias ? nullptr : b;
        if (rest_bias || act != static_cast<int>(Act::Identity))
          k_bias_act(l.stream(), y->dtype, act, y->data, rest_bias, M, N);
        return;
      }
      // Nothing was launched: fall back to cuBLAS + our kernel for this
      // plan from now on (any status: the fallback reports real errors).
      p.ok = false;
      if (std::getenv("NN_CUDA_DEBUG"))
        std::fprintf(stderr, "libnn cuda: cuBLASLt matmul %lldx%lldx%lld failed (%s); using cublasSgemm\n",
                     (long long)M, (long long)N, (long long)K, cublasGetStatusName(st));
    }
  }
  gemm_rm(d, y->dtype, false, true, x->data, K, w->data, K, 0.0, y->data, M, N, K);
  k_bias_act(l.stream(), y->dtype, act, y->data, b, M, N);
}

void activation_forward(int device, int act, const V *y, const V *x) {
  need_float("activation_forward", y->dtype);
  need_contiguous("activation_forward", *x, "x");
  need_contiguous("activation_forward", *y, "y");
  const int64_t n = numel(*y);
  if (n == 0) return;
  const int64_t cols = cols_of(*y), rows = n / cols;
  Lock l(device);
  k_act_forward(l.stream(), y->dtype, act, y->data, x->data, rows, cols);
}

void activation_backward(int device, int act, const V *dx, const V *dy, const V *y) {
  need_float("activation_backward", dx->dtype);
  need_contiguous("activation_backward", *dx, "dx");
  need_contiguous("activation_backward", *dy, "dy");
  const int64_t n = numel(*dx);
  if (n == 0) return;
  const int64_t cols = cols_of(*dx), rows = n / cols;
  if (act != static_cast<int>(Act::Identity) && act != static_cast<int>(Act::Step)) {
    if (y->data == nullptr) fail(Errc::Internal, "cuda activation_backward: y is missing");
    need_contiguous("activation_backward", *y, "y");
  }
  Lock l(device);
  k_act_backward(l.stream(), dx->dtype, act, dx->data, dy->data, y->data, rows, cols);
}

void sum_rows(int device, const V *db, const V *g, double beta) {
  need_float("sum_rows", db->dtype);
  need_contiguous("sum_rows", *g, "g");
  const int64_t N = cols_of(*g), M = numel(*g) / std::max<int64_t>(N, 1);
  if (numel(*db) != N) fail(Errc::Internal, "cuda sum_rows: db does not fit g");
  if (N == 0) return;
  Lock l(device);
  k_sum_rows(l.stream(), db->dtype, db->data, g->data, M, N, beta);
}


// Checks of a loss call; c: value = c * sum of the kernel's terms; gc: the
// gradient factor (same as the CPU's).
static void loss_factors(int kind, const V *pred, const V *target, const V *grad, double grad_scale, double &c,
                  double &gc) {
  need_float("loss", pred->dtype);
  need_contiguous("loss", *pred, "pred");
  need_contiguous("loss", *target, "target");
  if (grad->data) need_contiguous("loss", *grad, "grad");
  const LossKind lk = static_cast<LossKind>(kind);
  if (lk == LossKind::CrossEntropy) {
    if (pred->ndim != 2) fail(Errc::Internal, "cuda loss: cross-entropy needs pred [n, c]");
    bool ids = target->dtype == static_cast<int>(DType::I64) && numel(*target) == pred->shape[0];
    if (!ids && (target->dtype != pred->dtype || numel(*target) != numel(*pred)))
      fail(Errc::Internal, "cuda loss: cross-entropy target does not fit pred");
  } else if (target->dtype != pred->dtype || numel(*target) != numel(*pred)) {
    fail(Errc::Internal, "cuda loss: target does not fit pred");
  }
  const int64_t numel_p = numel(*pred);
  c = 1;
  gc = 1;
  switch (lk) {
    case LossKind::MSE:
    case LossKind::SSE:
    case LossKind::HalfMSE: {
      const double rows = lk == LossKind::HalfMSE ? static_cast<double>(pred->ndim == 0 ? 1 : pred->shape[0]) : 0;
      c = lk == LossKind::MSE ? 1.0 / static_cast<double>(numel_p) : lk == LossKind::SSE ? 1.0 : 0.5 / rows;
      gc = 2.0 * c * grad_scale;
      break;
    }
    case LossKind::BCE:
    case LossKind::BCEWithLogits:
      c = 1.0 / static_cast<double>(numel_p);
      gc = c * grad_scale;
      break;
    case LossKind::CrossEntropy:
      c = 1.0 / static_cast<double>(pred->shape[0]);
      gc = c * grad_scale;
      break;
    default:
      fail(Errc::Internal, "cuda loss: unknown loss kind %d", kind);
  }
}

void loss_value(int device, int kind, const V *pred, const V *target, double *value_accum, const V *grad,
                double grad_scale) {
  double c, gc;
  loss_factors(kind, pred, target, grad, grad_scale, c, gc);
  drain(device);
  Lock l(device);
  l.no_capture("loss");
  Dev &d = l.dev();
  const cudaStream_t s = l.stream();
  char *scratch = ctx_scratch(d, l.ctx());
  double *partials = ctx_partials(d, l.ctx());
  double *sum = reinterpret_cast<double *>(scratch);
  auto *bad = reinterpret_cast<unsigned long long *>(scratch + 8);
  check(cudaMemsetAsync(scratch, 0, 8, s), "loss");
  check(cudaMemsetAsync(scratch + 8, 0xff, 8, s), "loss");
  k_loss(s, pred->dtype, kind, *pred, *target, grad->data, gc, partials, sum, 1.0, false, bad);
  // The one synchronisation of a training step: the loss value.
  check(cudaMemcpyAsync(d.pinned, scratch, 16, cudaMemcpyDeviceToHost, s), "loss");
  check(cudaStreamSynchronize(s), "loss");
  double host_sum;
  unsigned long long bad_row;
  std::memcpy(&host_sum, d.pinned, 8);
  std::memcpy(&bad_row, static_cast<char *>(d.pinned) + 8, 8);
  if (bad_row != ~0ull) {
    int64_t cls = 0;
    check(cudaMemcpy(&cls, static_cast<const int64_t *>(target->data) + bad_row, 8, cudaMemcpyDeviceToHost), "loss");
    fail(Errc::InvalidArgument, "target[%lld] is class %lld; class ids must be in 0..%lld",
         static_cast<long long>(bad_row), static_cast<long long>(cls), static_cast<long long>(pred->shape[1] - 1));
  }
  *value_accum += host_sum * c;
}

void loss_device(int device, int kind, const V *pred, const V *target, const V *accum, const V *grad) {
  if (accum->dtype != static_cast<int>(DType::F64) || numel(*accum) != 1 || accum->data == nullptr)
    fail(Errc::Internal, "cuda loss_device: accum must be one float64 element");
  double c, gc;
  loss_factors(kind, pred, target, grad, 1.0, c, gc);
  Lock l(device);
  Dev &d = l.dev();
  char *scratch = ctx_scratch(d, l.ctx());
  double *partials = ctx_partials(d, l.ctx());
  auto *bad = reinterpret_cast<unsigned long long *>(scratch + 8);
  check(cudaMemsetAsync(scratch + 8, 0xff, 8, l.stream()), "loss");
  // *accum += c * sum on the stream: no read-back (the caller validated class ids).
  k_loss(l.stream(), pred->dtype, kind, *pred, *target, grad->data, gc, partials,
         static_cast<double *>(accum->data), c, true, bad);
}

static void check_param(const V &param, const char *what) {
  if (param.dtype != static_cast<int>(DType::F32) && param.dtype != static_cast<int>(DType::F64))
    fail(Errc::DType, "cuda %s: parameters of dtype %s are not supported (float32 or float64)", what,
         dt_name(param.dtype));
  if (numel(param) > 0 && param.data == nullptr) fail(Errc::Internal, "cuda %s: parameter is missing", what);
  if (!contiguous(param)) fail(Errc::Internal, "cuda %s: parameter is not contiguous", what);
}

static void check_operand(const V &v, const V &param, const char *what, const char *name) {
  if (v.data == nullptr) fail(Errc::Internal, "cuda %s: %s is missing", what, name);
  if (v.dtype != param.dtype) fail(Errc::Internal, "cuda %s: %s has another dtype than the parameter", what, name);
  if (numel(v) != numel(param)) fail(Errc::Internal, "cuda %s: %s has another size than the parameter", what, name);
  if (!contiguous(v)) fail(Errc::Internal, "cuda %s: %s is not contiguous", what, name);
}

void sgd_update(int device, const nn_cuda_sgd *p, const V *param, const V *grad, const V *m) {
  check_param(*param, "sgd_update");
  const int64_t n = numel(*param);
  if (n == 0) return;
  check_operand(*grad, *param, "sgd_update", "grad");
  if (p->momentum != 0) check_operand(*m, *param, "sgd_update", "momentum buffer");
  Lock l(device);
  k_sgd(l.stream(), param->dtype, *p, param->data, grad->data, p->momentum != 0 ? m->data : nullptr, n);
}

static void check_adam_step(const nn_cuda_adam &p, const char *what) {
  if (p.step < 1) fail(Errc::Internal, "cuda %s: step is %lld; it must be >= 1", what, (long long)p.step);
}

void adam_update(int device, const nn_cuda_adam *p, const V *param, const V *grad, const V *m, const V *v) {
  check_param(*param, "adam_update");
  const int64_t n = numel(*param);
  if (n == 0) return;
  check_operand(*grad, *param, "adam_update", "grad");
  check_operand(*m, *param, "adam_update", "exp_avg");
  check_operand(*v, *param, "adam_update", "exp_avg_sq");
  check_adam_step(*p, "adam_update");
  Lock l(device);
  k_adam(l.stream(), param->dtype, *p, param->data, grad->data, m->data, v->data, n);
}

// The multi-tensor updates validate every operand before the first launch
// (an argument error updates nothing), then enqueue one launch per chunk.
void sgd_update_many(int device, const nn_cuda_sgd *p, const V *params, const V *grads, const V *m, size_t n) {
  if (n == 0) return;
  const bool use_m = p->momentum != 0;
  if (!params || !grads || (use_m && !m)) fail(Errc::Internal, "cuda sgd_update_many: a view array is missing");
  bool any = false;
  for (size_t i = 0; i < n; ++i) {
    check_param(params[i], "sgd_update_many");
    if (numel(params[i]) == 0) continue;
    check_operand(grads[i], params[i], "sgd_update_many", "grad");
    if (use_m) check_operand(m[i], params[i], "sgd_update_many", "momentum buffer");
    any = true;
  }
  if (!any) return;
  Lock l(device);
  k_sgd_many(l.stream(), *p, params, grads, use_m ? m : nullptr, n);
}

void adam_update_many(int device, const nn_cuda_adam *p, const V *params, const V *grads, const V *m, const V *v,
                      size_t n) {
  if (n == 0) return;
  if (!params || !grads || !m || !v) fail(Errc::Internal, "cuda adam_update_many: a view array is missing");
  check_adam_step(*p, "adam_update_many");
  bool any = false;
  for (size_t i = 0; i < n; ++i) {
    check_param(params[i], "adam_update_many");
    if (numel(params[i]) == 0) continue;
    check_operand(grads[i], params[i], "adam_update_many", "grad");
    check_operand(m[i], params[i], "adam_update_many", "exp_avg");
    check_operand(v[i], params[i], "adam_update_many", "exp_avg_sq");
    any = true;
  }
  if (!any) return;
  Lock l(device);
  k_adam_many(l.stream(), *p, params, grads, m, v, n);
}

void add_layer_entries(nn_cuda_iface &t) {
  t.loss = [](int device, int kind, const V *pred, const V *target, double *value_accum, const V *grad,
              double grad_scale, nn_cuda_error *err) {
    return guard(err, [&] { loss_value(device, kind, pred, target, value_accum, grad, grad_scale); });
  };
}

}  // namespace cuda
}  // namespace nn
