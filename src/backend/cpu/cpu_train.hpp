// The CPU backend's training side, an intermediate class between Backend and
// the CPU backend proper: cpu_train.cpp holds the raw-pointer layer kernels,
// losses, gathers and finiteness checks, cpu_plan.cpp runs whole plans on
// them, cpu_optim.cpp the optimizer updates.
#pragma once
#include "backend/backend.hpp"

namespace nn {
namespace cpu {

class CpuTrainBackend : public Backend {
 public:
  void gather_rows_device(const View &out, const View &src, const View &idx, int64_t n) override;
  void loss(LossKind kind, const View &pred, const View &target, double *value_accum, const View &grad,
            double grad_scale) override;
  bool all_finite(const View &x) override;
  void plan_forward(const Plan &p, const View &x, const View &y) override;
  void plan_forward_host(const Plan &p, int64_t rows, const void *x, void *y) override;
  void plan_train_step(const Plan &p, const PlanWorkspace &ws, const TrainStep &s) override;
  void plan_update(const Plan &p, const UpdateStep &u) override;
};

// Raw-pointer layer kernels on contiguous row-major buffers, without views or
// checks: what cpu_plan.cpp runs. F32 uses the backend's own GEMM
// (cpu_sgemm.cpp) with fused epilogues; F64 plain loops.
// y[M,N] = act(x[M,K] w[N,K]^T + bias[N]); bias may be NULL.
void linear_forward_f32(Act act, float *y, const float *x, const float *w, const float *bias, int64_t M, int64_t N,
                        int64_t K);
void linear_forward_f64(Act act, double *y, const double *x, const double *w, const double *bias, int64_t M,
                        int64_t N, int64_t K);
// y = act(x) over [rows, cols] (softmax over each row; y may be x).
void activation_forward_f32(Act act, float *y, const float *x, int64_t rows, int64_t cols);
void activation_forward_f64(Act act, double *y, const double *x, int64_t rows, int64_t cols);
// dx[rows,cols] = dL/dx of y = act(x) from dy and y (dx may be dy).
void activation_backward_f32(Act act, float *dx, const float *dy, const float *y, int64_t rows, int64_t cols);
void activation_backward_f64(Act act, double *dx, const double *dy, const double *y, int64_t rows, int64_t cols);
// Backward of y[M,N] = act(x[M,K] w[N,K]^T + b): g holds dL/dy on entry and
// dL/d(pre-activation) on exit (act may be Identity); dw (+)= g^T x,
// db (+)= column sums of g (when db is not NULL), dx = g w (when dx is not
// NULL); `accumulate` adds into dw/db instead of overwriting them. (F32:
// M == 1 runs as an outer-product update and a vector-matrix product.)
void linear_backward_f32(Act act, float *g, const float *y, const float *x, const float *w, float *dw, float *db,
                         float *dx, int64_t M, int64_t N, int64_t K, bool accumulate);
void linear_backward_f64(Act act, double *g, const double *y, const double *x, const double *w, double *dw,
                         double *db, double *dx, int64_t M, int64_t N, int64_t K, bool accumulate);

}  // namespace cpu
}  // namespace nn
