// The CPU backend's optimizer updates (Backend::plan_update): one fused,
// OpenMP-parallel pass over each parameter (torch.optim.SGD / Adam / AdamW single-tensor semantics,
// operations in the order PyTorch applies them, in the parameter's dtype).
// Every element is independent, so results do not depend on the thread count.
#include <omp.h>

#include <cmath>

#include "backend/cpu/cpu_internal.hpp"
#include "backend/cpu/cpu_train.hpp"
#include "core/error.hpp"

// `omp simd` is a request: where clang cannot vectorize a loop (under
// ThreadSanitizer every access is instrumented) it warns, and -Werror would
// make that an error; the loop is correct either way.
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wpass-failed"
#endif

namespace nn {
namespace cpu {
namespace {

// Below this many elements the update runs on the calling thread, outside
// any OpenMP region (libgomp allocates a team even for `if (false)`).
constexpr int64_t kParallelMin = 1 << 15;

// f(i0, i1) over [0, n): one call on the calling thread when n is small or
// one thread is set, else static chunks over the process's thread count.
template <class F>
inline void chunks(int64_t n, F &&f) {
  const int nt = num_threads();
  if (n < kParallelMin || nt <= 1) {
    f(int64_t{0}, n);
    return;
  }
#pragma omp parallel num_threads(nt)
  {
    const int64_t t = omp_get_thread_num(), k = omp_get_num_threads();
    f(n * t / k, n * (t + 1) / k);
  }
}

// Operands are contiguous by contract (a model's parameters, gradients and
// optimizer state always are); these checks are per step, so they stay cheap.
void check_operand(const View &v, const View &param, const char *what, const char *name) {
  if (v.data == nullptr) fail(Errc::Internal, "cpu %s: %s is missing", what, name);
  if (v.dtype != param.dtype)
    fail(Errc::Internal, "cpu %s: %s is %s but the parameter is %s", what, name, dtype_name(v.dtype),
         dtype_name(param.dtype));
  if (v.numel() != param.numel())
    fail(Errc::Internal, "cpu %s: %s has %lld elements but the parameter %lld", what, name,
         static_cast<long long>(v.numel()), static_cast<long long>(param.numel()));
}

void check_param(const View &param, const char *what) {
  if (param.dtype != DType::F32 && param.dtype != DType::F64)
    fail(Errc::DType, "cpu %s: parameters of dtype %s are not supported (float32 or float64)", what,
         dtype_name(param.dtype));
  if (param.numel() > 0 && param.data == nullptr) fail(Errc::Internal, "cpu %s: parameter is missing", what);
}

// One chunk of the SGD update. Every operand is a by-value parameter so the
// compiler keeps them in registers and vectorises (through the lambdas'
// captured references it reloaded lr and the pointers per element and ran
// scalar). Clones for AVX-512 and AVX2 are picked at load time; -std=c++17
// keeps fp-contract off, so every clone gives the scalar loop's results.
// (target_clones cannot go on a template for clang: the clones are the two
// non-template instances below, each inlining this body.)
template <typename T>
__attribute__((always_inline)) inline void sgd_range_body(
    T *__restrict p, const T *__restrict g, T *__restrict m, int64_t i0, int64_t i1, T lr, T mom, T wd,
    bool use_wd, bool use_mom, bool nesterov, bool first) {
  if (!use_wd && !use_mom) {  // plain SGD: p += -lr * g
#pragma omp simd
    for (int64_t i = i0; i < i1; ++i) p[i] = p[i] + (-lr) * g[i];
    return;
  }
  if (use_mom && !use_wd && !nesterov && !first) {  // the common case: momentum only
#pragma omp simd
    for (int64_t i = i0; i < i1; ++i) {
      const T buf = m[i] * mom + g[i];
      m[i] = buf;
      p[i] = p[i] + (-lr) * buf;
    }
    return;
  }
#pragma omp simd
  for (int64_t i = i0; i < i1; ++i) {
    T d = g[i];
    if (use_wd) d = d + wd * p[i];  // d_p = d_p.add(p, alpha=wd)
    if (use_mom) {
      T buf = first ? d : m[i] * mom + d;  // buf = clone(d_p) / buf.mul_(mom).add_(d_p)
      m[i] = buf;
      d = nesterov ? d + mom * buf : buf;
    }
    p[i] = p[i] + (-lr) * d;  // p.add_(d_p, alpha=-lr)
  }
}

#define NN_SGD_RANGE(T)                                                                                      \
  NN_TARGET_CLONES("avx512f", "avx2", "default") void sgd_range(                             \
      T *__restrict p, const T *__restrict g, T *__restrict m, int64_t i0, int64_t i1, T lr, T mom, T wd,  \
      bool use_wd, bool use_mom, bool nesterov, bool first) {                                              \
    sgd_range_body<T>(p, g, m, i0, i1, lr, mom, wd, use_wd, use_mom, nesterov, first);                     \
  }
NN_SGD_RANGE(float)
NN_SGD_RANGE(double)
#undef NN_SGD_RANGE

template <typename T>
void sgd_kernel(const SgdParams &sp, T *p, const T *g, T *m, int64_t n) {
  const T lr = static_cast<T>(sp.lr), mom = static_cast<T>(sp.momentum), wd = static_cast<T>(sp.weight_decay);
  const bool use_wd = sp.weight_decay != 0, use_mom = sp.momentum != 0, nesterov = sp.nesterov,
             first = sp.first_step;
  chunks(n, [=](int64_t i0, int64_t i1) { sgd_range(p, g, m, i0, i1, lr, mom, wd, use_wd, use_mom, nesterov, first); });
}

// One chunk of the Adam / AdamW update, written as sgd_range_body is (every
// operand by value, so the loop vectorises; through the lambda's captured
// references it ran scalar: 35% of an Adam training profile).
template <typename T>
__attribute__((always_inline)) inline void adam_range_body(T *__restrict p, const T *__restrict g,
                                                           T *__restrict m, T *__restrict v, int64_t i0,
                                                           int64_t i1, T step_size, T bc2_sqrt, T b1, T b2, T omb1,
                                                           T omb2, T eps, T wd, T decay, bool decoupled,
                                                           bool use_wd) {
#pragma omp simd
  for (int64_t i = i0; i < i1; ++i) {
    T pi = p[i];
    T gi = g[i];
    if (decoupled)
      pi = pi * decay;
    else if (use_wd)
      gi = gi + wd * pi;                   // grad = grad.add(p, alpha=wd)
    const T mi = m[i] * b1 + omb1 * gi;    // exp_avg.mul_(b1).add_(grad, alpha=1-b1)
    const T vi = v[i] * b2 + omb2 * (gi * gi);  // exp_avg_sq.mul_(b2).addcmul_(grad, grad, value=1-b2)
    m[i] = mi;
    v[i] = vi;
    const T denom = std::sqrt(vi) / bc2_sqrt + eps;  // (exp_avg_sq.sqrt() / bc2_sqrt).add_(eps)
    p[i] = pi + (-step_size) * (mi / denom);         // p.addcdiv_(exp_avg, denom, value=-step_size)
  }
}

#define NN_ADAM_RANGE(T)                                                                                     \
  NN_TARGET_CLONES("avx512f", "avx2", "default") void adam_range(                                            \
      T *__restrict p, const T *__restrict g, T *__restrict m, T *__restrict v, int64_t i0, int64_t i1,       \
      T step_size, T bc2_sqrt, T b1, T b2, T omb1, T omb2, T eps, T wd, T decay, bool decoupled, bool use_wd) { \
    adam_range_body<T>(p, g, m, v, i0, i1, step_size, bc2_sqrt, b1, b2, omb1, omb2, eps, wd, decay, decoupled,  \
                       use_wd);                                                                              \
  }
NN_ADAM_RANGE(float)
NN_ADAM_RANGE(double)
#undef NN_ADAM_RANGE

template <typename T>
void adam_kernel(const AdamParams &ap, T *p, const T *g, T *m, T *v, int64_t n) {
  const double t = static_cast<double>(ap.step);
  const double bc1 = 1.0 - std::pow(ap.beta1, t);
  const double bc2 = 1.0 - std::pow(ap.beta2, t);
  const T step_size = static_cast<T>(ap.lr / bc1);
  const T bc2_sqrt = static_cast<T>(std::sqrt(bc2));
  const T b1 = static_cast<T>(ap.beta1), b2 = static_cast<T>(ap.beta2);
  const T omb1 = static_cast<T>(1.0 - ap.beta1), omb2 = static_cast<T>(1.0 - ap.beta2);
  const T eps = static_cast<T>(ap.eps), wd = static_cast<T>(ap.weight_decay);
  const T decay = static_cast<T>(1.0 - ap.lr * ap.weight_decay);  // AdamW: p.mul_(1 - lr * wd)
  const bool decoupled = ap.decoupled, use_wd = ap.weight_decay != 0;
  chunks(n, [=](int64_t i0, int64_t i1) {
    adam_range(p, g, m, v, i0, i1, step_size, bc2_sqrt, b1, b2, omb1, omb2, eps, wd, decay, decoupled, use_wd);
  });
}

}  // namespace

// Every operand is checked before any parameter changes; then one fused
// pass per parameter, in plan order.
void CpuTrainBackend::plan_update(const Plan &, const UpdateStep &u) {
  const char *what = u.adam ? "adam_update" : "sgd_update";
  for (size_t i = 0; i < u.n; ++i) {
    const View &param = u.params[i];
    check_param(param, what);
    if (param.numel() == 0) continue;
    check_operand(u.grads[i], param, what, "grad");
    if (u.adam) {
      check_operand(u.m[i], param, what, "exp_avg");
      check_operand(u.v[i], param, what, "exp_avg_sq");
    } else if (u.sgd.momentum != 0) {
      check_operand(u.m[i], param, what, "momentum buffer");
    }
  }
  if (u.adam && u.adam_params.step < 1)
    fail(Errc::Internal, "cpu %s: step is %lld; it must be >= 1", what, static_cast<long long>(u.adam_params.step));
  ensure_threads();
  for (size_t i = 0; i < u.n; ++i) {
    const View &param = u.params[i];
    const int64_t n = param.numel();
    if (n == 0) continue;
    if (u.adam) {
      if (param.dtype == DType::F32)
        adam_kernel<float>(u.adam_params, static_cast<float *>(param.data), static_cast<const float *>(u.grads[i].data),
                           static_cast<float *>(u.m[i].data), static_cast<float *>(u.v[i].data), n);
      else
        adam_kernel<double>(u.adam_params, static_cast<double *>(param.data),
                            static_cast<const double *>(u.grads[i].data), static_cast<double *>(u.m[i].data),
                            static_cast<double *>(u.v[i].data), n);
    } else {
      void *m = u.m ? u.m[i].data : nullptr;  // no momentum: not touched
      if (param.dtype == DType::F32)
        sgd_kernel<float>(u.sgd, static_cast<float *>(param.data), static_cast<const float *>(u.grads[i].data),
                          static_cast<float *>(m), n);
      else
        sgd_kernel<double>(u.sgd, static_cast<double *>(param.data), static_cast<const double *>(u.grads[i].data),
                           static_cast<double *>(m), n);
    }
  }
}

}  // namespace cpu
}  // namespace nn
