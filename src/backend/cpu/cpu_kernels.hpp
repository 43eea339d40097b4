// Internals shared by the CPU backend's layer-kernel files (not by the rest
// of libnn): the parallel-loop helpers, the scalar activation formulas, and
// what cpu_vecmath.cpp (vector math) and cpu_act_loss.cpp (activations and
// losses) give cpu_train.cpp (the layer kernels and their glue).
#pragma once
#include <cmath>
#include <cstdint>

#include "backend/cpu/cpu_internal.hpp"
#include "backend/cpu/cpu_simd.hpp"
#include "core/error.hpp"

namespace nn {
namespace cpu {


constexpr double kLeakySlope = 0.01;
// Loops parallelise only above this many elements.
constexpr int64_t kParallelGrain = 1 << 14;

// Loops run in an OpenMP team only when worth it; a serial loop otherwise
// (an OpenMP region with if(false) still allocates a team in libgomp).
template <class F>
inline void pfor(bool par, int64_t n, F &&f) {
  if (par && n > 1 && num_threads() > 1) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) f(i);
  } else {
    for (int64_t i = 0; i < n; ++i) f(i);
  }
}

// Sum over i of what f(i, acc) adds into acc.
template <class F>
inline double psum(bool par, int64_t n, F &&f) {
  double sum = 0;
  if (par && n > 1 && num_threads() > 1) {
#pragma omp parallel for schedule(static) reduction(+ : sum)
    for (int64_t i = 0; i < n; ++i) f(i, sum);
  } else {
    for (int64_t i = 0; i < n; ++i) f(i, sum);
  }
  return sum;
}

inline void need_float(const char *what, DType dt) {
  if (dt != DType::F32 && dt != DType::F64)
    fail(Errc::Unsupported, "cpu %s: dtype %s is not supported (float32 or float64)", what, dtype_name(dt));
}

inline void need_contiguous(const char *what, const View &v, const char *name) {
  if (!v.contiguous()) fail(Errc::Internal, "cpu %s: %s is not contiguous", what, name);
}

template <class T>
inline T sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}

// torch.relu (clamp_min(x, 0)): NaN and -0 pass through.
template <class T>
inline T relu(T x) {
  return x < T(0) ? T(0) : x;
}

// 1 where x > 0, 0 where x <= 0, NaN for NaN.
template <class T>
inline T step(T x) {
  return x > T(0) ? T(1) : (x != x ? x : T(0));
}

// ---- cpu_vecmath.cpp: vector math (float tanh/sigmoid, one-row matvec chains)

// y = tanh(x) / sigmoid(x) over n floats (y may alias x); NaN propagates.
void tanh_f32(float *y, const float *x, int64_t n);
void sigmoid_f32(float *y, const float *x, int64_t n);
// One row through a chain of Linear units with their activations fused:
// a unit can be in a chain when matvec_unit says so, and units[i + 1].in ==
// units[i].out <= kMatvecMaxK. Unit i's output [out] goes to ys[i], or,
// where ys[i] is NULL, only on to unit i + 1 (ys[n - 1] is never NULL). F32
// parameters; x [units[0].in].
constexpr int64_t kMatvecMaxK = 64;
inline bool matvec_unit(const PlanUnit &u) {
  return u.linear && u.in > 0 && u.in <= kMatvecMaxK &&
         (u.act == Act::Tanh || u.act == Act::Relu || u.act == Act::Identity);
}
NN_AVX512 void matvec_chain_avx512(const PlanUnit *units, int n, const float *x, float *const *ys);

// ---- cpu_act_loss.cpp: activations (losses are CpuTrainBackend::loss there)

// y = act(x) over [rows, cols] (softmax over each row; y may be x). F32, F64.
template <class T>
void act_forward_loop(Act act, T *y, const T *x, int64_t rows, int64_t cols);
// dx = dL/dx of y = act(x) from dy and y (dx may be dy). F32, F64.
template <class T>
void act_backward_loop(Act act, T *dx, const T *dy, const T *y, int64_t rows, int64_t cols);
// SgemmEpilogue: applies *(Act *)ctx to a finished tile of a linear output
// (elementwise activations only; the formulas of act_forward_loop).
void act_tile(void *ctx, float *c, int64_t ldc, int64_t rows, int64_t cols, int64_t, int64_t);

}  // namespace cpu
}  // namespace nn
