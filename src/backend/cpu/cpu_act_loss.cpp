// Activations and losses of the CPU backend: activation forward/backward
// loops (F32 and F64) and the GEMM tile epilogue, the loss kernels and
// CpuTrainBackend::loss / all_finite.
//
// Activation derivatives are taken from the output y only (relu: y > 0,
// leaky relu: y > 0 ? 1 : 0.01, sigmoid: y(1-y), tanh: 1-y^2, softmax:
// y (dy - sum(dy y))), exactly equivalent to the x-based forms.
//
// NaN and inf as PyTorch, on every route (act_forward_loop, the GEMM
// epilogue act_tile, matvec_chain_avx512, the one-row backward in
// cpu_train.cpp): every activation keeps NaN forward. ReLU is torch.relu =
// clamp_min(x, 0), i.e. `x < 0 ? 0 : x` (NaN and -0 pass); STEP gives NaN
// for NaN. Backward: ReLU as threshold_backward(dy, y, 0) = `y <= 0 ? 0 :
// dy` (the gradient passes where y is NaN); leaky ReLU as
// leaky_relu_backward, `y > 0 ? dy : 0.01 dy`; sigmoid, tanh and softmax
// propagate NaN by their arithmetic.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "backend/cpu/cpu_kernels.hpp"
#include "backend/cpu/cpu_train.hpp"

namespace nn {
namespace cpu {

// Elementwise f over n floats in chunks, in parallel above a size.
template <class F>
void chunked(int64_t n, F &&f) {
  constexpr int64_t kChunk = 4096;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  pfor(n >= kParallelGrain, chunks, [&](int64_t c) { f(c * kChunk, std::min(n, (c + 1) * kChunk) - c * kChunk); });
}

template <class T>
void act_forward_loop(Act act, T *y, const T *x, int64_t rows, int64_t cols) {
  int64_t n = rows * cols;
  bool par = n >= kParallelGrain;
  switch (act) {
    case Act::Identity:
      if (y != x) std::memmove(y, x, static_cast<size_t>(n) * sizeof(T));
      return;
    case Act::Relu:
      pfor(par, n, [&](int64_t i) { y[i] = relu(x[i]); });
      return;
    case Act::LeakyRelu:
      pfor(par, n, [&](int64_t i) { y[i] = x[i] > T(0) ? x[i] : x[i] * T(kLeakySlope); });
      return;
    case Act::Sigmoid:
      if constexpr (std::is_same_v<T, float>)
        chunked(n, [&](int64_t i0, int64_t k) { sigmoid_f32(y + i0, x + i0, k); });
      else
        pfor(par, n, [&](int64_t i) { y[i] = sigmoid(x[i]); });
      return;
    case Act::Tanh:
      if constexpr (std::is_same_v<T, float>)
        chunked(n, [&](int64_t i0, int64_t k) { tanh_f32(y + i0, x + i0, k); });
      else
        pfor(par, n, [&](int64_t i) { y[i] = std::tanh(x[i]); });
      return;
    case Act::Step:
      pfor(par, n, [&](int64_t i) { y[i] = step(x[i]); });
      return;
    case Act::Softmax:
      pfor(par, rows, [&](int64_t r) {
        const T *xr = x + r * cols;
        T *yr = y + r * cols;
        T mx = -std::numeric_limits<T>::infinity();
        bool nan = false;
        for (int64_t j = 0; j < cols; ++j) {
          if (xr[j] != xr[j]) nan = true;
          mx = std::max(mx, xr[j]);
        }
        if (nan || std::isinf(mx)) {
          // All -inf, or a +inf/NaN present: follow exp/sum literally (NaN like torch).
          if (mx == -std::numeric_limits<T>::infinity() || nan) {
            for (int64_t j = 0; j < cols; ++j) yr[j] = std::numeric_limits<T>::quiet_NaN();
            return;
          }
        }
        double sum = 0;
        for (int64_t j = 0; j < cols; ++j) {
          T e = std::exp(xr[j] - mx);
          yr[j] = e;
          sum += static_cast<double>(e);
        }
        T inv = static_cast<T>(1.0 / sum);
        for (int64_t j = 0; j < cols; ++j) yr[j] *= inv;
      });
      return;
  }
}

// SgemmEpilogue: applies *(Act *)ctx to a finished tile of the linear output
// (elementwise activations only; the same formulas as act_forward_loop).
void act_tile(void *ctx, float *c, int64_t ldc, int64_t rows, int64_t cols, int64_t, int64_t) {
  const Act act = *static_cast<const Act *>(ctx);
  for (int64_t i = 0; i < rows; ++i) {
    float *r = c + i * ldc;
    switch (act) {
      case Act::Relu:
        for (int64_t j = 0; j < cols; ++j) r[j] = relu(r[j]);
        break;
      case Act::LeakyRelu:
        for (int64_t j = 0; j < cols; ++j) r[j] = r[j] > 0.f ? r[j] : r[j] * static_cast<float>(kLeakySlope);
        break;
      case Act::Sigmoid:
        sigmoid_f32(r, r, cols);
        break;
      case Act::Tanh:
        tanh_f32(r, r, cols);
        break;
      default:
        break;
    }
  }
}

// dx = f'(y) * dy elementwise over [i0, i1): by-value operands so the loop
// vectorises (through captured references GCC reloaded them per element and
// ran a scalar, branchy loop). dx may equal dy (in place), never overlap it
// otherwise; each element is read before it is written.
// (target_clones cannot go on a template for clang: the clones are the two
// non-template instances below, each inlining this body.)
template <class T>
__attribute__((always_inline)) inline void act_backward_body(Act act, T *dx, const T *dy, const T *y, int64_t i0,
                                                              int64_t i1) {
  const T slope = T(kLeakySlope);
  switch (act) {
    case Act::Relu:
#pragma omp simd
      for (int64_t i = i0; i < i1; ++i) dx[i] = y[i] <= T(0) ? T(0) : dy[i];
      return;
    case Act::LeakyRelu:
#pragma omp simd
      for (int64_t i = i0; i < i1; ++i) dx[i] = y[i] > T(0) ? dy[i] : dy[i] * slope;
      return;
    case Act::Sigmoid:
#pragma omp simd
      for (int64_t i = i0; i < i1; ++i) dx[i] = dy[i] * y[i] * (T(1) - y[i]);
      return;
    case Act::Tanh:
#pragma omp simd
      for (int64_t i = i0; i < i1; ++i) dx[i] = dy[i] * (T(1) - y[i] * y[i]);
      return;
    default:
      return;
  }
}

#define NN_ACT_BACKWARD_RANGE(T)                                                                          \
  NN_TARGET_CLONES("avx512f", "avx2", "default") void act_backward_range(                  \
      Act act, T *dx, const T *dy, const T *y, int64_t i0, int64_t i1) {                                 \
    act_backward_body<T>(act, dx, dy, y, i0, i1);                                                        \
  }
NN_ACT_BACKWARD_RANGE(float)
NN_ACT_BACKWARD_RANGE(double)
#undef NN_ACT_BACKWARD_RANGE

template <class T>
void act_backward_loop(Act act, T *dx, const T *dy, const T *y, int64_t rows, int64_t cols) {
  int64_t n = rows * cols;
  bool par = n >= kParallelGrain;
  switch (act) {
    case Act::Identity:
    case Act::Step:  // straight through
      if (dx != dy) std::memmove(dx, dy, static_cast<size_t>(n) * sizeof(T));
      return;
    case Act::Relu:
    case Act::LeakyRelu:
    case Act::Sigmoid:
    case Act::Tanh:
      // Elementwise: SIMD loops over chunks (parallel above a size).
      chunked(n, [=](int64_t i0, int64_t k) { act_backward_range(act, dx, dy, y, i0, i0 + k); });
      return;
    case Act::Softmax:
      pfor(par, rows, [&](int64_t r) {
        const T *yr = y + r * cols;
        const T *dyr = dy + r * cols;
        T *dxr = dx + r * cols;
        double s = 0;
        for (int64_t j = 0; j < cols; ++j) s += static_cast<double>(dyr[j]) * static_cast<double>(yr[j]);
        T st = static_cast<T>(s);
        for (int64_t j = 0; j < cols; ++j) dxr[j] = yr[j] * (dyr[j] - st);
      });
      return;
  }
}

template void act_forward_loop<float>(Act, float *, const float *, int64_t, int64_t);
template void act_forward_loop<double>(Act, double *, const double *, int64_t, int64_t);
template void act_backward_loop<float>(Act, float *, const float *, const float *, int64_t, int64_t);
template void act_backward_loop<double>(Act, double *, const double *, const double *, int64_t, int64_t);

namespace {

// ---------------------------------------------------------------------------
// Losses. pred/target/grad contiguous, same numel (target: class ids for CE).

template <class T>
double loss_loop(LossKind kind, const View &pv, const View &tv, const View &gv, double scale) {
  const T *p = static_cast<const T *>(pv.data);
  T *g = static_cast<T *>(gv.data);
  const int64_t numel = pv.numel();
  const bool par = numel >= kParallelGrain;
  double sum = 0;
  switch (kind) {
    case LossKind::MSE:
    case LossKind::SSE:
    case LossKind::HalfMSE: {
      const T *y = static_cast<const T *>(tv.data);
      double n = kind == LossKind::HalfMSE ? static_cast<double>(pv.shape.ndim == 0 ? 1 : pv.shape[0]) : 0;
      // loss = c * sum (p - y)^2 ; grad = 2c (p - y)
      double c = kind == LossKind::MSE ? 1.0 / static_cast<double>(numel)
                 : kind == LossKind::SSE ? 1.0
                                         : 0.5 / n;
      T gc = static_cast<T>(2.0 * c * scale);
      sum = psum(par, numel, [&](int64_t i, double &acc) {
        T d = p[i] - y[i];
        acc += static_cast<double>(d) * static_cast<double>(d);
        if (g) g[i] = gc * d;
      });
      return sum * c;
    }
    case LossKind::BCE: {
      const T *y = static_cast<const T *>(tv.data);
      double inv = 1.0 / static_cast<double>(numel);
      T gc = static_cast<T>(inv * scale);
      const T eps = T(1e-12);
      sum = psum(par, numel, [&](int64_t i, double &acc) {
        double pi = static_cast<double>(p[i]), yi = static_cast<double>(y[i]);
        double lp = std::max(std::log(pi), -100.0);
        double l1p = std::max(std::log1p(-pi), -100.0);
        acc += -(yi * lp + (1.0 - yi) * l1p);
        if (g) g[i] = gc * (p[i] - y[i]) / std::max((T(1) - p[i]) * p[i], eps);
      });
      return sum * inv;
    }
    case LossKind::BCEWithLogits: {
      const T *y = static_cast<const T *>(tv.data);
      double inv = 1.0 / static_cast<double>(numel);
      T gc = static_cast<T>(inv * scale);
      sum = psum(par, numel, [&](int64_t i, double &acc) {
        double x = static_cast<double>(p[i]), yi = static_cast<double>(y[i]);
        acc += std::max(x, 0.0) - x * yi + std::log1p(std::exp(-std::fabs(x)));
        if (g) g[i] = gc * (sigmoid(p[i]) - y[i]);
      });
      return sum * inv;
    }
    case LossKind::CrossEntropy: {
      const int64_t n = pv.shape[0], c = pv.shape[1];
      const double inv = 1.0 / static_cast<double>(n);
      const T gc = static_cast<T>(inv * scale);
      const bool ids = tv.dtype == DType::I64;
      const int64_t *cls = static_cast<const int64_t *>(tv.data);
      const T *y = static_cast<const T *>(tv.data);
      int64_t bad = -1;
      if (ids) {
        for (int64_t r = 0; r < n; ++r)
          if (cls[r] < 0 || cls[r] >= c) {
            bad = r;
            break;
          }
        if (bad >= 0)
          fail(Errc::InvalidArgument, "target[%lld] is class %lld; class ids must be in 0..%lld",
               static_cast<long long>(bad), static_cast<long long>(cls[bad]), static_cast<long long>(c - 1));
      }
      const bool rpar = n * c >= kParallelGrain;
      sum = psum(rpar, n, [&](int64_t r, double &acc) {
        const T *pr = p + r * c;
        double mx = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < c; ++j) mx = std::max(mx, static_cast<double>(pr[j]));
        double se = 0;
        for (int64_t j = 0; j < c; ++j) se += std::exp(static_cast<double>(pr[j]) - mx);
        double lse = mx + std::log(se);
        if (ids) {
          acc += lse - static_cast<double>(pr[cls[r]]);
          if (g) {
            T *gr = g + r * c;
            for (int64_t j = 0; j < c; ++j) gr[j] = gc * static_cast<T>(std::exp(static_cast<double>(pr[j]) - lse));
            gr[cls[r]] -= gc;
          }
        } else {
          const T *yr = y + r * c;
          double ysum = 0, l = 0;
          for (int64_t j = 0; j < c; ++j) {
            double yj = static_cast<double>(yr[j]);
            ysum += yj;
            if (yj != 0.0) l -= yj * (static_cast<double>(pr[j]) - lse);
          }
          acc += l;
          if (g) {
            T *gr = g + r * c;
            for (int64_t j = 0; j < c; ++j)
              gr[j] = gc * static_cast<T>(std::exp(static_cast<double>(pr[j]) - lse) * ysum - static_cast<double>(yr[j]));
          }
        }
      });
      return sum * inv;
    }
  }
  fail(Errc::Internal, "cpu loss: unknown loss kind %d", static_cast<int>(kind));
}

// Whether x[0..n) holds a NaN or an infinity (all exponent bits set): an
// integer test with an OR reduction, so the loop vectorises (nn_model_fit
// runs it over the whole data set).
template <class T>
inline bool any_nonfinite(const T *x, int64_t n) {
  using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  constexpr U kExp = sizeof(T) == 4 ? U(0x7f800000u) : U(0x7ff0000000000000ull);
  U bad = 0;
#pragma omp simd reduction(| : bad)
  for (int64_t i = 0; i < n; ++i) {
    U b;
    std::memcpy(&b, x + i, sizeof b);
    bad |= (b & kExp) == kExp ? U(1) : U(0);
  }
  return bad != 0;
}

template <class T>
bool all_finite_loop(const T *x, int64_t n) {
  constexpr int64_t kBlock = int64_t{1} << 14;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  double bad = psum(n >= 4 * kParallelGrain, blocks, [&](int64_t b, double &acc) {
    acc += any_nonfinite(x + b * kBlock, std::min(kBlock, n - b * kBlock)) ? 1.0 : 0.0;
  });
  return bad == 0;
}

}  // namespace

bool CpuTrainBackend::all_finite(const View &x) {
  bool ok = true;
  guarded("all_finite", [&] {
    need_contiguous("all_finite", x, "x");
    if (x.dtype == DType::F32)
      ok = all_finite_loop(static_cast<const float *>(x.data), x.numel());
    else if (x.dtype == DType::F64)
      ok = all_finite_loop(static_cast<const double *>(x.data), x.numel());
    else if (!is_floating(x.dtype))
      ok = true;
    else
      fail(Errc::Unsupported, "cpu all_finite: dtype %s is not supported", dtype_name(x.dtype));
  });
  return ok;
}

void CpuTrainBackend::loss(LossKind kind, const View &pred, const View &target, double *value_accum, const View &grad,
                           double grad_scale) {
  guarded("loss", [&] {
    need_float("loss", pred.dtype);
    need_contiguous("loss", pred, "pred");
    need_contiguous("loss", target, "target");
    if (grad.data) need_contiguous("loss", grad, "grad");
    if (kind == LossKind::CrossEntropy) {
      if (pred.shape.ndim != 2) fail(Errc::Internal, "cpu loss: cross-entropy needs pred [n, c]");
      bool ids = target.dtype == DType::I64 && target.numel() == pred.shape[0];
      if (!ids && (target.dtype != pred.dtype || target.numel() != pred.numel()))
        fail(Errc::Internal, "cpu loss: cross-entropy target does not fit pred");
    } else if (target.dtype != pred.dtype || target.numel() != pred.numel()) {
      fail(Errc::Internal, "cpu loss: target does not fit pred");
    }
    double v = pred.dtype == DType::F32 ? loss_loop<float>(kind, pred, target, grad, grad_scale)
                                        : loss_loop<double>(kind, pred, target, grad, grad_scale);
    *value_accum += v;
  });
}

}  // namespace cpu
}  // namespace nn
