// The CPU runs whole plans (Backend::plan_forward / plan_train_step) on the
// raw-pointer layer kernels of cpu_train.cpp: no Tensor, no View per layer,
// no virtual call per kernel. One route for every model dtype (F32 through
// the backend's own GEMM, F64 through loops), every loss and every size.
#include <cstring>

#include "backend/cpu/cpu_internal.hpp"
#include "backend/cpu/cpu_train.hpp"
#include "core/error.hpp"

namespace nn {
namespace cpu {
namespace {

template <class T>
struct Kernels;
template <>
struct Kernels<float> {
  static constexpr auto linear_forward = linear_forward_f32;
  static constexpr auto activation_forward = activation_forward_f32;
  static constexpr auto activation_backward = activation_backward_f32;
  static constexpr auto linear_backward = linear_backward_f32;
};
template <>
struct Kernels<double> {
  static constexpr auto linear_forward = linear_forward_f64;
  static constexpr auto activation_forward = activation_forward_f64;
  static constexpr auto activation_backward = activation_backward_f64;
  static constexpr auto linear_backward = linear_backward_f64;
};

// Runs the units on x [rows, in]; unit k writes out(k, width), which must
// hold rows x width elements. Returns the output width.
template <class T, class Out>
int64_t run_forward(const Plan &p, const T *x, int64_t rows, int64_t in, Out &&out) {
  const T *cur = x;
  int64_t feat = in;
  for (size_t k = 0; k < p.units.size(); ++k) {
    const PlanUnit &u = p.units[k];
    const int64_t of = u.linear ? u.out : feat;
    T *o = out(k, of);
    if (rows > 0 && of > 0) {
      if (u.linear)
        Kernels<T>::linear_forward(u.act, o, cur, static_cast<const T *>(u.w), static_cast<const T *>(u.b), rows, of,
                                   feat);
      else
        Kernels<T>::activation_forward(u.act, o, cur, rows, of);
    }
    cur = o;
    feat = of;
  }
  return feat;
}

// Inference: intermediate results alternate between two per-thread
// grow-only scratch buffers (so concurrent calls share nothing), the last
// unit writes y.
template <class T>
void forward(const Plan &p, const T *x, T *y, int64_t rows, int64_t in) {
  const size_t U = p.units.size();
  if (U == 0) {
    if (rows * in > 0 && y != x) std::memcpy(y, x, static_cast<size_t>(rows * in) * sizeof(T));
    return;
  }
  run_forward<T>(p, x, rows, in, [&](size_t k, int64_t width) -> T * {
    if (k + 1 == U) return y;
    return static_cast<T *>(scratch(k % 2 ? kScratchPlan1 : kScratchPlan0,
                                    static_cast<size_t>(rows) * static_cast<size_t>(width) * sizeof(T)));
  });
}

template <class T>
void train_step(CpuTrainBackend &be, const Plan &p, const PlanWorkspace &ws, const TrainStep &s) {
  const int64_t rows = s.x.shape[0], in = s.x.shape[1];
  const size_t U = p.units.size();
  if (rows < 1 || rows > ws.rows || in != ws.in || ws.acts.size() != U || ws.grads.size() != U)
    fail(Errc::Internal, "cpu plan_train_step: the workspace (%lld rows of width %lld) does not fit x %s",
         static_cast<long long>(ws.rows), static_cast<long long>(ws.in), s.x.shape.str().c_str());
  const T *xp = static_cast<const T *>(s.x.data);
  const int64_t out = U == 0 ? in : run_forward<T>(p, xp, rows, in, [&](size_t k, int64_t) {
    return static_cast<T *>(ws.acts[k]);
  });
  const bool trains = p.first_param_unit >= 0;
  const View pred = matrix_view(U == 0 ? const_cast<T *>(xp) : static_cast<T *>(ws.acts[U - 1]), p.dtype, rows, out);
  View grad;
  if (trains) grad = matrix_view(ws.grads[U - 1], p.dtype, rows, out);
  double v = 0;
  be.CpuTrainBackend::loss(s.loss, pred, s.target, &v, grad, 1.0);  // checks class ids before any gradient
  if (trains) {
    const bool acc = !s.overwrite_grads;
    const int fpu = p.first_param_unit;
    for (int k = static_cast<int>(U) - 1; k >= fpu; --k) {
      const PlanUnit &u = p.units[static_cast<size_t>(k)];
      T *g = static_cast<T *>(ws.grads[static_cast<size_t>(k)]);
      const T *y = static_cast<const T *>(ws.acts[static_cast<size_t>(k)]);
      const int64_t of = p.unit_out(static_cast<size_t>(k), in);
      T *gprev = k > fpu ? static_cast<T *>(ws.grads[static_cast<size_t>(k) - 1]) : nullptr;
      if (u.linear) {
        const T *X = k == 0 ? xp : static_cast<const T *>(ws.acts[static_cast<size_t>(k) - 1]);
        Kernels<T>::linear_backward(u.act, g, y, X, static_cast<const T *>(u.w), static_cast<T *>(u.dw),
                                    static_cast<T *>(u.db), gprev, rows, of, u.in, acc);
      } else {
        // A lone activation after the first Linear: its input gradient goes
        // to the previous unit's gradient buffer.
        Kernels<T>::activation_backward(u.act, gprev, g, y, rows, of);
      }
    }
  }
  if (s.value)
    *s.value = v;
  else
    *static_cast<double *>(s.accum.data) += v;
}

void need_plan_dtype(const Plan &p, const char *what) {
  if (p.dtype != DType::F32 && p.dtype != DType::F64)
    fail(Errc::Internal, "cpu %s: plans run in float32 or float64, not %s", what, dtype_name(p.dtype));
}

}  // namespace

void CpuTrainBackend::plan_forward(const Plan &p, const View &x, const View &y) {
  guarded("plan_forward", [&] {
    need_plan_dtype(p, "plan_forward");
    const int64_t rows = x.shape[0], in = x.shape[1];
    if (p.dtype == DType::F32)
      forward<float>(p, static_cast<const float *>(x.data), static_cast<float *>(y.data), rows, in);
    else
      forward<double>(p, static_cast<const double *>(x.data), static_cast<double *>(y.data), rows, in);
  });
}

void CpuTrainBackend::plan_forward_host(const Plan &p, int64_t rows, const void *x, void *y) {
  guarded("plan_forward", [&] {
    need_plan_dtype(p, "plan_forward");
    if (p.dtype == DType::F32)
      forward<float>(p, static_cast<const float *>(x), static_cast<float *>(y), rows, p.in_features);
    else
      forward<double>(p, static_cast<const double *>(x), static_cast<double *>(y), rows, p.in_features);
  });
}

void CpuTrainBackend::plan_train_step(const Plan &p, const PlanWorkspace &ws, const TrainStep &s) {
  guarded("plan_train_step", [&] {
    need_plan_dtype(p, "plan_train_step");
    if (p.dtype == DType::F32)
      train_step<float>(*this, p, ws, s);
    else
      train_step<double>(*this, p, ws, s);
  });
}

}  // namespace cpu
}  // namespace nn
