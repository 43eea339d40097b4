// The CPU runs whole plans (Backend::plan_forward / plan_train_step) on the
// raw-pointer layer kernels of cpu_train.cpp: no Tensor, no View per layer,
// no virtual call per kernel. One route for every model dtype (F32 through
// the backend's own GEMM, F64 through loops), every loss and every size.
#include <cstring>
#include <type_traits>

#include "backend/cpu/cpu_kernels.hpp"
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

// Longest chain matvec_chain_avx512 runs in one call (a longer run of small
// units goes in pieces).
constexpr int kMaxChain = 8;

// Units [k, end) of p that one matvec_chain_avx512 call runs for one F32
// row: end == k when unit k is not a chain's.
size_t chain_end(const Plan &p, size_t k) {
  size_t j = k;
  while (j < p.units.size() && j - k < kMaxChain && matvec_unit(p.units[j])) ++j;
  return j;
}

// Runs the units on x [rows, in]; unit k writes out(k, width), which must
// hold rows x width elements, where the next unit or the caller needs it:
// with keep_all every unit's output (training), else one F32 row through a
// chain of small units (matvec_chain_avx512) keeps the chain's intermediate
// results in registers. Returns the output width.
template <class T, bool keep_all, class Out>
int64_t run_forward(const Plan &p, const T *x, int64_t rows, int64_t in, Out &&out) {
  const T *cur = x;
  int64_t feat = in;
  for (size_t k = 0; k < p.units.size();) {
    if constexpr (std::is_same<T, float>::value) {
      const size_t end = rows == 1 && cpu_has_avx512() ? chain_end(p, k) : k;
      if (end > k) {
        float *ys[kMaxChain];
        for (size_t i = k; i < end; ++i) ys[i - k] = keep_all || i + 1 == end ? out(i, p.units[i].out) : nullptr;
        matvec_chain_avx512(&p.units[k], static_cast<int>(end - k), cur, ys);
        cur = ys[end - 1 - k];
        feat = p.units[end - 1].out;
        k = end;
        continue;
      }
    }
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
    ++k;
  }
  return feat;
}

// Inference: intermediate results alternate between two per-thread
// grow-only scratch buffers (so concurrent calls share nothing), the last
// unit writes y. They alternate per request, not per unit index: a chain of
// units asks once, for its last unit's output, which must not go to the
// buffer holding its input (growing that buffer would free the input).
template <class T>
void forward(const Plan &p, const T *x, T *y, int64_t rows, int64_t in) {
  const size_t U = p.units.size();
  if (U == 0) {
    if (rows * in > 0 && y != x) std::memcpy(y, x, static_cast<size_t>(rows * in) * sizeof(T));
    return;
  }
  bool second = false;
  run_forward<T, false>(p, x, rows, in, [&](size_t k, int64_t width) -> T * {
    if (k + 1 == U) return y;
    second = !second;
    return static_cast<T *>(scratch(second ? kScratchPlan0 : kScratchPlan1,
                                    static_cast<size_t>(rows) * static_cast<size_t>(width) * sizeof(T)));
  });
}

// True when one matvec_chain_avx512 call runs a whole inference of one F32
// row of p: nothing parallel, no scratch, nothing that throws.
bool one_chain(const Plan &p, int64_t rows) {
  return rows == 1 && p.dtype == DType::F32 && !p.units.empty() && cpu_has_avx512() &&
         chain_end(p, 0) == p.units.size();
}

void run_one_chain(const Plan &p, const void *x, void *y) {
  float *ys[kMaxChain] = {};
  ys[p.units.size() - 1] = static_cast<float *>(y);
  matvec_chain_avx512(p.units.data(), static_cast<int>(p.units.size()), static_cast<const float *>(x), ys);
}

template <class T>
void train_step(CpuTrainBackend &be, const Plan &p, const PlanWorkspace &ws, const TrainStep &s) {
  const int64_t rows = s.x.shape[0], in = s.x.shape[1];
  const size_t U = p.units.size();
  if (rows < 1 || rows > ws.rows || in != ws.in || ws.acts.size() != U || ws.grads.size() != U)
    fail(Errc::Internal, "cpu plan_train_step: the workspace (%lld rows of width %lld) does not fit x %s",
         static_cast<long long>(ws.rows), static_cast<long long>(ws.in), s.x.shape.str().c_str());
  const T *xp = static_cast<const T *>(s.x.data);
  const int64_t out = U == 0 ? in : run_forward<T, true>(p, xp, rows, in, [&](size_t k, int64_t) {
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
    int64_t of = out;  // unit k's output width, going down
    for (int k = static_cast<int>(U) - 1; k >= fpu; --k) {
      const PlanUnit &u = p.units[static_cast<size_t>(k)];
      T *g = static_cast<T *>(ws.grads[static_cast<size_t>(k)]);
      const T *y = static_cast<const T *>(ws.acts[static_cast<size_t>(k)]);
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
      if (u.linear) of = u.in;
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
  if (one_chain(p, x.shape[0])) return run_one_chain(p, x.data, y.data);
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
  if (one_chain(p, rows)) return run_one_chain(p, x, y);
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
