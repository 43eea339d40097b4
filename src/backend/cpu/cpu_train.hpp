// The CPU backend's training kernels, an intermediate class between Backend
// and the CPU backend proper: cpu_train.cpp implements the layer kernels
// (gemm, fused linear, activations, sum_rows, gather_rows, all_finite, loss)
// and cpu_optim.cpp the optimizer updates.
#pragma once
#include "backend/backend.hpp"

namespace nn {
namespace cpu {

class CpuTrainBackend : public Backend {
 public:
  const HostF32Kernels *host_f32() const override;
  void gemm(bool ta, bool tb, double alpha, const View &a, const View &b, double beta, const View &out) override;
  void linear_forward(Act act, const View &y, const View &x, const View &w, const View &bias) override;
  void activation_forward(Act act, const View &y, const View &x) override;
  void activation_backward(Act act, const View &dx, const View &dy, const View &x, const View &y) override;
  void sum_rows(const View &db, const View &g, double beta) override;
  void gather_rows(const View &out, const View &src, const int64_t *idx, int64_t n) override;
  bool all_finite(const View &x) override;
  void loss(LossKind kind, const View &pred, const View &target, double *value_accum, const View &grad,
            double grad_scale) override;
  void sgd_update(const SgdParams &p, const View &param, const View &grad, const View &m) override;
  void adam_update(const AdamParams &p, const View &param, const View &grad, const View &m,
                   const View &v) override;
};

// Raw-pointer F32 kernels for small fast paths (host_f32() hands them out):
// the same arithmetic as CpuTrainBackend::linear_forward / activation_forward
// on contiguous row-major buffers, without views or checks.
// y[M,N] = act(x[M,K] w[N,K]^T + bias[N]); bias may be NULL.
void linear_forward_f32(Act act, float *y, const float *x, const float *w, const float *bias, int64_t M, int64_t N,
                        int64_t K);
void activation_forward_f32(Act act, float *y, const float *x, int64_t rows, int64_t cols);
// dx[rows,cols] = dL/dx of y = act(x) from dy and y (dx may be dy).
void activation_backward_f32(Act act, float *dx, const float *dy, const float *y, int64_t rows, int64_t cols);
// Backward of y[M,N] = act(x[M,K] w[N,K]^T + b): g holds dL/dy on entry and
// dL/d(pre-activation) on exit (act may be Identity); dw (+)= g^T x,
// db (+)= column sums of g (when db is not NULL), dx = g w (when dx is not
// NULL); `accumulate` adds into dw/db instead of overwriting them. M == 1
// runs as an outer-product update and a vector-matrix product.
void linear_backward_f32(Act act, float *g, const float *y, const float *x, const float *w, float *dw, float *db,
                         float *dx, int64_t M, int64_t N, int64_t K, bool accumulate);
// The SGD update of one F32 parameter without checks (as sgd_update).
void sgd_update_f32(const SgdParams &sp, float *p, const float *g, float *m, int64_t n);

}  // namespace cpu
}  // namespace nn
