// Training kernels of the CUDA backend (F32 and F64): activations forward and
// backward (from the output y), bias + activation after a GEMM, softmax,
// sum over rows, row gather, losses (value reduced on the device), fused
// SGD / Adam updates, the finiteness check. Arithmetic mirrors
// src/backend/cpu/cpu_train.cpp and cpu_optim.cpp, in the same order, NaN
// rules included (every activation keeps NaN forward; ReLU backward is
// torch's threshold_backward, `y <= 0 ? 0 : dy`).
#include <algorithm>
#include <cmath>

#include "backend/cuda/cuda_common.cuh"

namespace nn {
namespace cuda {
namespace {

constexpr double kLeakySlope = 0.01;

#define GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)

template <class T>
__device__ inline T act_one(int act, T x) {
  switch (act) {
    case 1: return x < T(0) ? T(0) : x;                          // Relu: torch.relu, NaN (and -0) pass
    case 2: return T(1) / (T(1) + m_exp(-x));                    // Sigmoid
    case 3: return m_tanh(x);                                    // Tanh
    case 4: return x > T(0) ? T(1) : (x != x ? x : T(0));        // Step: NaN stays NaN
    case 6: return x > T(0) ? x : x * T(kLeakySlope);            // LeakyRelu
    default: return x;                                           // Identity (Softmax: rows)
  }
}

template <class T>
__global__ void bias_act_kernel(int act, T *y, const T *bias, int64_t M, int64_t N) {
  GRID_STRIDE(i, M * N) {
    T v = y[i];
    if (bias) v += bias[i % N];
    y[i] = act == 5 ? v : act_one<T>(act, v);
  }
}

template <class T>
__global__ void act_forward_kernel(int act, T *y, const T *x, int64_t n) {
  GRID_STRIDE(i, n) { y[i] = act_one<T>(act, x[i]); }
}

// Warp-wide reductions.
__device__ inline double warp_sum(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
template <class T>
__device__ inline T warp_max(T v) {
  for (int o = 16; o > 0; o >>= 1) {
    T w = __shfl_xor_sync(0xffffffffu, v, o);
    v = w > v ? w : v;
  }
  return v;
}
__device__ inline int warp_or(int v) { return __any_sync(0xffffffffu, v) ? 1 : 0; }

// Softmax over rows, one warp per row, in place allowed (y may be x). A row
// with a NaN, or whose maximum is +-inf, is all NaN (as the CPU).
template <class T>
__global__ void softmax_kernel(T *y, const T *x, int64_t rows, int64_t cols) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = (int64_t(gridDim.x) * blockDim.x) >> 5;
  for (int64_t r = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) >> 5; r < rows; r += warps) {
    const T *xr = x + r * cols;
    T *yr = y + r * cols;
    T mx = -INFINITY;
    int nan = 0;
    for (int64_t j = lane; j < cols; j += 32) {
      T v = xr[j];
      if (v != v) nan = 1;
      mx = v > mx ? v : mx;
    }
    mx = warp_max(mx);
    nan = warp_or(nan);
    if (nan || isinf(mx)) {
      for (int64_t j = lane; j < cols; j += 32) yr[j] = T(NAN);
      continue;
    }
    double sum = 0;
    for (int64_t j = lane; j < cols; j += 32) {
      T e = m_exp(xr[j] - mx);
      yr[j] = e;
      sum += static_cast<double>(e);
    }
    sum = warp_sum(sum);
    const T inv = static_cast<T>(1.0 / sum);
    __syncwarp();
    for (int64_t j = lane; j < cols; j += 32) yr[j] *= inv;
  }
}

template <class T>
__global__ void act_backward_kernel(int act, T *dx, const T *dy, const T *y, int64_t n) {
  GRID_STRIDE(i, n) {
    const T g = dy[i];
    switch (act) {
      case 1: dx[i] = y[i] <= T(0) ? T(0) : g; break;  // threshold_backward: passes where y is NaN
      case 6: dx[i] = y[i] > T(0) ? g : g * T(kLeakySlope); break;
      case 2: dx[i] = g * y[i] * (T(1) - y[i]); break;
      case 3: dx[i] = g * (T(1) - y[i] * y[i]); break;
      default: dx[i] = g; break;
    }
  }
}

template <class T>
__global__ void softmax_backward_kernel(T *dx, const T *dy, const T *y, int64_t rows, int64_t cols) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = (int64_t(gridDim.x) * blockDim.x) >> 5;
  for (int64_t r = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) >> 5; r < rows; r += warps) {
    const T *yr = y + r * cols;
    const T *dyr = dy + r * cols;
    T *dxr = dx + r * cols;
    double s = 0;
    for (int64_t j = lane; j < cols; j += 32) s += static_cast<double>(dyr[j]) * static_cast<double>(yr[j]);
    s = warp_sum(s);
    const T st = static_cast<T>(s);
    __syncwarp();
    for (int64_t j = lane; j < cols; j += 32) dxr[j] = yr[j] * (dyr[j] - st);
  }
}

template <class T>
__global__ void scale_kernel(T *out, int64_t n, T beta) {
  GRID_STRIDE(i, n) { out[i] = beta == T(0) ? T(0) : beta * out[i]; }
}

// Blocks of 32 columns x 8 row stripes; double accumulation.
template <class T>
__global__ void sum_rows_kernel(T *db, const T *g, int64_t M, int64_t N, double beta) {
  __shared__ double part[8][33];
  const int64_t j = blockIdx.x * 32LL + threadIdx.x;
  double acc = 0;
  if (j < N)
    for (int64_t i = threadIdx.y; i < M; i += 8) acc += static_cast<double>(g[i * N + j]);
  part[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && j < N) {
    double s = 0;
    for (int r = 0; r < 8; ++r) s += part[r][threadIdx.x];
    const double base = beta == 0.0 ? 0.0 : beta * static_cast<double>(db[j]);
    db[j] = static_cast<T>(base + s);
  }
}

template <class U>
__global__ void gather_kernel(U *out, const U *src, const int64_t *idx, int64_t n, int64_t row_units) {
  GRID_STRIDE(i, n * row_units) {
    const int64_t r = i / row_units, c = i % row_units;
    out[i] = src[idx[r] * row_units + c];
  }
}

// Sum of v over the block, in a fixed order (warp butterflies, then the
// warps' sums in order); the result is valid in thread 0.
__device__ inline double block_sum(double v) {
  __shared__ double sh[32];
  v = warp_sum(v);
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
  if (lane == 0) sh[w] = v;
  __syncthreads();
  double s = 0;
  if (w == 0) {
    const int nw = (blockDim.x + 31) >> 5;
    s = lane < nw ? sh[lane] : 0.0;
    s = warp_sum(s);
  }
  return s;
}

// The block's sum of v into partials[blockIdx.x]: no atomics, so the loss
// is the same bits from run to run. NaN and inf reach the total too.
__device__ inline void block_accumulate(double v, double *partials) {
  const double s = block_sum(v);
  if (threadIdx.x == 0) partials[blockIdx.x] = s;
}

// One block: S = sum of partials[0..nb) in a fixed order (each thread a
// fixed strided subset, then block_sum), *out = (add ? *out : 0) + S * c.
__global__ void finish_loss_kernel(const double *partials, int nb, double *out, double c, bool add) {
  double v = 0;
  for (int i = threadIdx.x; i < nb; i += blockDim.x) v += partials[i];
  const double s = block_sum(v);
  if (threadIdx.x == 0) *out = add ? *out + s * c : s * c;
}

template <class T>
__device__ inline T sigm(T x) {
  return T(1) / (T(1) + m_exp(-x));
}

// MSE / SSE / HalfMSE (kind 0..2), BCE (3), BCEWithLogits (4), elementwise.
template <class T>
__global__ void loss_elem_kernel(int kind, const T *p, const T *y, T *g, T gc, int64_t n, double *partials) {
  double acc = 0;
  GRID_STRIDE(i, n) {
    if (kind <= 2) {
      const T d = p[i] - y[i];
      acc += static_cast<double>(d) * static_cast<double>(d);
      if (g) g[i] = gc * d;
    } else if (kind == 3) {
      const double pi = static_cast<double>(p[i]), yi = static_cast<double>(y[i]);
      // PyTorch's clamp of the logs at -100, NaN-propagating like the CPU's
      // std::max(log, -100.0) (fmax would turn a NaN prediction into 100).
      double lp = log(pi), l1p = log1p(-pi);
      if (lp < -100.0) lp = -100.0;
      if (l1p < -100.0) l1p = -100.0;
      acc += -(yi * lp + (1.0 - yi) * l1p);
      if (g) {
        const T den = (T(1) - p[i]) * p[i];
        const T eps = T(1e-12);
        g[i] = gc * (p[i] - y[i]) / (den < eps ? eps : den);  // std::max(den, eps), as the CPU
      }
    } else {
      const double x = static_cast<double>(p[i]), yi = static_cast<double>(y[i]);
      acc += (x < 0.0 ? 0.0 : x) - x * yi + log1p(exp(-fabs(x)));  // std::max(x, 0.0), as the CPU
      if (g) g[i] = gc * (sigm(p[i]) - y[i]);
    }
  }
  block_accumulate(acc, partials);
}

// Softmax cross-entropy, one warp per row; targets are class ids (cls) or
// probabilities (yprob). Out-of-range ids: the smallest such row goes to *bad.
template <class T>
__global__ void loss_ce_kernel(const T *p, const int64_t *cls, const T *yprob, T *g, T gc, int64_t n, int64_t c,
                               double *partials, unsigned long long *bad) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = (int64_t(gridDim.x) * blockDim.x) >> 5;
  double acc = 0;
  for (int64_t r = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) >> 5; r < n; r += warps) {
    const T *pr = p + r * c;
    int64_t k = -1;
    if (cls) {
      k = cls[r];
      if (k < 0 || k >= c) {
        if (lane == 0) atomicMin(bad, static_cast<unsigned long long>(r));
        continue;
      }
    }
    double mx = -INFINITY;
    for (int64_t j = lane; j < c; j += 32) mx = fmax(mx, static_cast<double>(pr[j]));
    for (int o = 16; o > 0; o >>= 1) mx = fmax(mx, __shfl_xor_sync(0xffffffffu, mx, o));
    double se = 0;
    for (int64_t j = lane; j < c; j += 32) se += exp(static_cast<double>(pr[j]) - mx);
    se = warp_sum(se);
    const double lse = mx + log(se);
    if (cls) {
      if (lane == 0) acc += lse - static_cast<double>(pr[k]);
      if (g) {
        T *gr = g + r * c;
        for (int64_t j = lane; j < c; j += 32) {
          T v = gc * static_cast<T>(exp(static_cast<double>(pr[j]) - lse));
          if (j == k) v -= gc;
          gr[j] = v;
        }
      }
    } else {
      const T *yr = yprob + r * c;
      double ysum = 0, l = 0;
      for (int64_t j = lane; j < c; j += 32) {
        const double yj = static_cast<double>(yr[j]);
        ysum += yj;
        if (yj != 0.0) l -= yj * (static_cast<double>(pr[j]) - lse);
      }
      ysum = warp_sum(ysum);
      l = warp_sum(l);
      if (lane == 0) acc += l;
      if (g) {
        T *gr = g + r * c;
        for (int64_t j = lane; j < c; j += 32)
          gr[j] = gc * static_cast<T>(exp(static_cast<double>(pr[j]) - lse) * ysum - static_cast<double>(yr[j]));
      }
    }
  }
  block_accumulate(acc, partials);
}

// ---- Optimizer updates. The per-element arithmetic is written once
// (sgd_one, adam_one, with their scalars from sgd_args / adam_args) and
// used by the single-tensor kernels and the multi-tensor ones, so both give
// the same bits.

template <class T>
struct SgdArgs {
  T lr, mom, wd;
  bool use_wd, use_mom, nesterov, first;
};
template <class T>
SgdArgs<T> sgd_args(const nn_cuda_sgd &sp) {
  SgdArgs<T> a;
  a.lr = static_cast<T>(sp.lr);
  a.mom = static_cast<T>(sp.momentum);
  a.wd = static_cast<T>(sp.weight_decay);
  a.use_wd = sp.weight_decay != 0;
  a.use_mom = sp.momentum != 0;
  a.nesterov = sp.nesterov != 0;
  a.first = sp.first_step != 0;
  return a;
}

// torch.optim.SGD on element i (m is not touched without momentum).
template <class T>
__device__ __forceinline__ void sgd_one(T *p, const T *g, T *m, int64_t i, const SgdArgs<T> &a) {
  T d = g[i];
  if (a.use_wd) d = d + a.wd * p[i];
  if (a.use_mom) {
    T buf = a.first ? d : m[i] * a.mom + d;
    m[i] = buf;
    d = a.nesterov ? d + a.mom * buf : buf;
  }
  p[i] = p[i] + (-a.lr) * d;
}

template <class T>
struct AdamArgs {
  T step_size, bc2_sqrt, b1, b2, omb1, omb2, eps, wd, decay;
  bool decoupled, use_wd;
};
// step_size = lr / bc1, bc2_sqrt = sqrt(bc2), decay = 1 - lr * wd, computed
// in double like the CPU (cpu_optim.cpp), then rounded to T.
template <class T>
AdamArgs<T> adam_args(const nn_cuda_adam &ap) {
  const double t = static_cast<double>(ap.step);
  const double bc1 = 1.0 - std::pow(ap.beta1, t);
  const double bc2 = 1.0 - std::pow(ap.beta2, t);
  AdamArgs<T> a;
  a.step_size = static_cast<T>(ap.lr / bc1);
  a.bc2_sqrt = static_cast<T>(std::sqrt(bc2));
  a.b1 = static_cast<T>(ap.beta1);
  a.b2 = static_cast<T>(ap.beta2);
  a.omb1 = static_cast<T>(1.0 - ap.beta1);
  a.omb2 = static_cast<T>(1.0 - ap.beta2);
  a.eps = static_cast<T>(ap.eps);
  a.wd = static_cast<T>(ap.weight_decay);
  a.decay = static_cast<T>(1.0 - ap.lr * ap.weight_decay);
  a.decoupled = ap.decoupled != 0;
  a.use_wd = ap.weight_decay != 0;
  return a;
}

// torch.optim.Adam / AdamW (single-tensor) on element i.
template <class T>
__device__ __forceinline__ void adam_one(T *p, const T *g, T *m, T *v, int64_t i, const AdamArgs<T> &a) {
  T pi = p[i];
  T gi = g[i];
  if (a.decoupled)
    pi = pi * a.decay;
  else if (a.use_wd)
    gi = gi + a.wd * pi;
  const T mi = m[i] * a.b1 + a.omb1 * gi;
  const T vi = v[i] * a.b2 + a.omb2 * (gi * gi);
  m[i] = mi;
  v[i] = vi;
  const T denom = m_sqrt(vi) / a.bc2_sqrt + a.eps;
  p[i] = pi + (-a.step_size) * (mi / denom);
}

template <class T>
__global__ void sgd_kernel(T *p, const T *g, T *m, int64_t n, const SgdArgs<T> a) {
  GRID_STRIDE(i, n) { sgd_one<T>(p, g, m, i, a); }
}

template <class T>
__global__ void adam_kernel(T *p, const T *g, T *m, T *v, int64_t n, const AdamArgs<T> a) {
  GRID_STRIDE(i, n) { adam_one<T>(p, g, m, v, i, a); }
}

// The tensor list of one multi-tensor launch, passed by value as a kernel
// parameter (in the constant bank: no device allocation, and a CUDA graph
// keeps its own copy). Tensor k has n[k] > 0 elements and owns the blocks
// first_block[k] .. first_block[k + 1] - 1 of the grid (blocks_for(n[k])
// of them, so at most 1,048,560; with grid stride inside the tensor when
// that is fewer than n[k] / kThreads); first_block[count] is the grid size.
constexpr int kMtTensors = NN_CUDA_MT_TENSORS;
struct MtList {
  void *p[kMtTensors];
  const void *g[kMtTensors];
  void *m[kMtTensors];
  void *v[kMtTensors];
  int64_t n[kMtTensors];
  unsigned first_block[kMtTensors + 1];
  int count;
};
// Kernel parameters were limited to 4,096 bytes before CUDA 12.1 (32,764
// since, on Volta and newer): the list plus the largest scalar struct stay
// under the old limit, with room to spare.
static_assert(sizeof(MtList) + sizeof(AdamArgs<double>) + 64 <= 4096, "multi-tensor list over 4 KB");
// The grid (at most kMtTensors * 1,048,560 blocks) fits gridDim.x (2^31 - 1).
static_assert(static_cast<int64_t>(kMtTensors) * 65535 * 16 < 2147483647LL, "multi-tensor grid too large");

// The tensor owning block b: the last k with first_block[k] <= b (binary
// search; the same k for the whole block, so the loads are uniform).
__device__ __forceinline__ int mt_tensor_of(const MtList &L, unsigned b) {
  int lo = 0, hi = L.count - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) >> 1;
    if (L.first_block[mid] <= b)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

// __grid_constant__ (sm_70+): the list is read in place from the parameter
// space, never copied per thread, though it is indexed at run time.
template <class T>
__global__ void __launch_bounds__(kThreads) sgd_many_kernel(const __grid_constant__ MtList L, const SgdArgs<T> a) {
  const unsigned b = blockIdx.x;
  const int k = mt_tensor_of(L, b);
  const int64_t n = L.n[k];
  const int64_t stride = static_cast<int64_t>(L.first_block[k + 1] - L.first_block[k]) * blockDim.x;
  T *p = static_cast<T *>(L.p[k]);
  const T *g = static_cast<const T *>(L.g[k]);
  T *m = static_cast<T *>(L.m[k]);
  for (int64_t i = static_cast<int64_t>(b - L.first_block[k]) * blockDim.x + threadIdx.x; i < n; i += stride)
    sgd_one<T>(p, g, m, i, a);
}

template <class T>
__global__ void __launch_bounds__(kThreads) adam_many_kernel(const __grid_constant__ MtList L, const AdamArgs<T> a) {
  const unsigned b = blockIdx.x;
  const int k = mt_tensor_of(L, b);
  const int64_t n = L.n[k];
  const int64_t stride = static_cast<int64_t>(L.first_block[k + 1] - L.first_block[k]) * blockDim.x;
  T *p = static_cast<T *>(L.p[k]);
  const T *g = static_cast<const T *>(L.g[k]);
  T *m = static_cast<T *>(L.m[k]);
  T *v = static_cast<T *>(L.v[k]);
  for (int64_t i = static_cast<int64_t>(b - L.first_block[k]) * blockDim.x + threadIdx.x; i < n; i += stride)
    adam_one<T>(p, g, m, v, i, a);
}

// Cuts params[0..n) into launches: skips empty tensors, starts a new list
// when one is full or the dtype changes; add(L, k, i) fills slot k with
// tensor i's pointers, launch(L, dtype) launches one list.
template <class Add, class Launch>
void mt_chunks(const V *params, size_t n, Add &&add, Launch &&launch) {
  MtList L{};
  int dt = -1;
  for (size_t i = 0; i < n; ++i) {
    const int64_t ne = numel(params[i]);
    if (ne == 0) continue;
    if (L.count == kMtTensors || (L.count > 0 && params[i].dtype != dt)) {
      launch(L, dt);
      L.count = 0;  // first_block[0] stays 0
    }
    dt = params[i].dtype;
    const int k = L.count++;
    add(L, k, i);
    L.n[k] = ne;
    L.first_block[k + 1] = L.first_block[k] + blocks_for(ne);
  }
  if (L.count > 0) launch(L, dt);
}

template <class T>
__global__ void nonfinite_kernel(const T *x, int64_t n, int *flag) {
  int bad = 0;
  GRID_STRIDE(i, n) {
    if (!isfinite(x[i])) bad = 1;
  }
  if (bad) atomicOr(flag, 1);
}

template <class F>
void by_float(int dt, F &&f) {
  if (dt == static_cast<int>(DType::F32))
    f(Tag<float>{});
  else if (dt == static_cast<int>(DType::F64))
    f(Tag<double>{});
  else
    fail(Errc::Unsupported, "cuda: dtype %s is not supported (float32 or float64)", dtype_name(static_cast<DType>(dt)));
}

unsigned warp_blocks(int64_t rows) {  // 8 warps per block, one row per warp
  return blocks_for(rows, kThreads / 32);
}

}  // namespace

void k_bias_act(cudaStream_t s, int dt, int act, void *y, const void *bias, int64_t M, int64_t N) {
  if (M * N == 0) return;
  by_float(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    // Softmax (5) without a bias needs no elementwise pass before the rows.
    if (bias || (act != 0 && act != 5))
      bias_act_kernel<T><<<blocks_for(M * N), kThreads, 0, s>>>(act, static_cast<T *>(y),
                                                                 static_cast<const T *>(bias), M, N);
    if (act == 5) softmax_kernel<T><<<warp_blocks(M), kThreads, 0, s>>>(static_cast<T *>(y), static_cast<T *>(y), M, N);
  });
  check_launch("linear_forward");
}

void k_act_forward(cudaStream_t s, int dt, int act, void *y, const void *x, int64_t rows, int64_t cols) {
  const int64_t n = rows * cols;
  if (n == 0) return;
  by_float(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (act == 5)
      softmax_kernel<T><<<warp_blocks(rows), kThreads, 0, s>>>(static_cast<T *>(y), static_cast<const T *>(x), rows,
                                                               cols);
    else if (act == 0 && y == x)
      return;
    else
      act_forward_kernel<T><<<blocks_for(n), kThreads, 0, s>>>(act, static_cast<T *>(y), static_cast<const T *>(x), n);
  });
  check_launch("activation_forward");
}

void k_act_backward(cudaStream_t s, int dt, int act, void *dx, const void *dy, const void *y, int64_t rows,
                    int64_t cols) {
  const int64_t n = rows * cols;
  if (n == 0) return;
  by_float(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (act == 5)
      softmax_backward_kernel<T><<<warp_blocks(rows), kThreads, 0, s>>>(
          static_cast<T *>(dx), static_cast<const T *>(dy), static_cast<const T *>(y), rows, cols);
    else if ((act == 0 || act == 4) && dx == dy)
      return;
    else
      act_backward_kernel<T><<<blocks_for(n), kThreads, 0, s>>>(act, static_cast<T *>(dx), static_cast<const T *>(dy),
                                                                 static_cast<const T *>(y), n);
  });
  check_launch("activation_backward");
}

void k_scale(cudaStream_t s, int dt, void *out, int64_t n, double beta) {
  if (n == 0) return;
  by_float(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    scale_kernel<T><<<blocks_for(n), kThreads, 0, s>>>(static_cast<T *>(out), n, static_cast<T>(beta));
  });
  check_launch("gemm");
}

void k_sum_rows(cudaStream_t s, int dt, void *db, const void *g, int64_t M, int64_t N, double beta) {
  if (N == 0) return;
  by_float(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    dim3 block(32, 8);
    sum_rows_kernel<T><<<static_cast<unsigned>((N + 31) / 32), block, 0, s>>>(static_cast<T *>(db),
                                                                              static_cast<const T *>(g), M, N, beta);
  });
  check_launch("sum_rows");
}

void k_gather_rows(cudaStream_t s, void *out, const void *src, const int64_t *idx, int64_t n, size_t row_bytes) {
  if (n == 0 || row_bytes == 0) return;
  const uintptr_t align = reinterpret_cast<uintptr_t>(out) | reinterpret_cast<uintptr_t>(src) | row_bytes;
  if (align % 8 == 0) {
    const int64_t units = static_cast<int64_t>(row_bytes / 8);
    gather_kernel<uint64_t><<<blocks_for(n * units), kThreads, 0, s>>>(
        static_cast<uint64_t *>(out), static_cast<const uint64_t *>(src), idx, n, units);
  } else if (align % 4 == 0) {
    const int64_t units = static_cast<int64_t>(row_bytes / 4);
    gather_kernel<uint32_t><<<blocks_for(n * units), kThreads, 0, s>>>(
        static_cast<uint32_t *>(out), static_cast<const uint32_t *>(src), idx, n, units);
  } else {
    const int64_t units = static_cast<int64_t>(row_bytes);
    gather_kernel<uint8_t><<<blocks_for(n * units), kThreads, 0, s>>>(
        static_cast<uint8_t *>(out), static_cast<const uint8_t *>(src), idx, n, units);
  }
  check_launch("gather_rows");
}

void k_loss(cudaStream_t s, int dt, int kind, const V &pred, const V &target, void *grad, double gc,
            double *partials, double *out, double c, bool add, unsigned long long *bad) {
  // The grid depends on the shape only, so the order of the sum does too.
  unsigned nb = 0;
  by_float(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *p = static_cast<const T *>(pred.data);
    T *g = static_cast<T *>(grad);
    if (kind == 5) {
      const int64_t n = pred.shape[0], cols = pred.shape[1];
      if (n == 0) return;
      const bool ids = target.dtype == static_cast<int>(DType::I64) && numel(target) == n;
      nb = std::min<unsigned>(warp_blocks(n), kLossBlocks);
      loss_ce_kernel<T><<<nb, kThreads, 0, s>>>(p, ids ? static_cast<const int64_t *>(target.data) : nullptr,
                                                ids ? nullptr : static_cast<const T *>(target.data), g,
                                                static_cast<T>(gc), n, cols, partials, bad);
    } else {
      const int64_t n = numel(pred);
      if (n == 0) return;
      nb = std::min<unsigned>(blocks_for(n), kLossBlocks);
      loss_elem_kernel<T><<<nb, kThreads, 0, s>>>(kind, p, static_cast<const T *>(target.data), g,
                                                  static_cast<T>(gc), n, partials);
    }
  });
  if (nb == 0) return;
  check_launch("loss");
  finish_loss_kernel<<<1, kThreads, 0, s>>>(partials, static_cast<int>(nb), out, c, add);
  check_launch("loss");
}

void k_sgd(cudaStream_t s, int dt, const nn_cuda_sgd &sp, void *param, const void *grad, void *m, int64_t n) {
  if (n == 0) return;
  by_float(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    sgd_kernel<T><<<blocks_for(n), kThreads, 0, s>>>(static_cast<T *>(param), static_cast<const T *>(grad),
                                                     static_cast<T *>(m), n, sgd_args<T>(sp));
  });
  check_launch("sgd_update");
}

void k_adam(cudaStream_t s, int dt, const nn_cuda_adam &ap, void *param, const void *grad, void *m, void *v,
            int64_t n) {
  if (n == 0) return;
  by_float(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    adam_kernel<T><<<blocks_for(n), kThreads, 0, s>>>(static_cast<T *>(param), static_cast<const T *>(grad),
                                                      static_cast<T *>(m), static_cast<T *>(v), n, adam_args<T>(ap));
  });
  check_launch("adam_update");
}

void k_sgd_many(cudaStream_t s, const nn_cuda_sgd &sp, const V *params, const V *grads, const V *m, size_t n) {
  const bool use_m = sp.momentum != 0;
  mt_chunks(
      params, n,
      [&](MtList &L, int k, size_t i) {
        L.p[k] = params[i].data;
        L.g[k] = grads[i].data;
        L.m[k] = use_m ? m[i].data : nullptr;
        L.v[k] = nullptr;
      },
      [&](const MtList &L, int dt) {
        by_float(dt, [&](auto tag) {
          using T = typename decltype(tag)::type;
          sgd_many_kernel<T><<<L.first_block[L.count], kThreads, 0, s>>>(L, sgd_args<T>(sp));
        });
        check_launch("sgd_update_many");
      });
}

void k_adam_many(cudaStream_t s, const nn_cuda_adam &ap, const V *params, const V *grads, const V *m, const V *v,
                 size_t n) {
  mt_chunks(
      params, n,
      [&](MtList &L, int k, size_t i) {
        L.p[k] = params[i].data;
        L.g[k] = grads[i].data;
        L.m[k] = m[i].data;
        L.v[k] = v[i].data;
      },
      [&](const MtList &L, int dt) {
        by_float(dt, [&](auto tag) {
          using T = typename decltype(tag)::type;
          adam_many_kernel<T><<<L.first_block[L.count], kThreads, 0, s>>>(L, adam_args<T>(ap));
        });
        check_launch("adam_update_many");
      });
}

void k_nonfinite(cudaStream_t s, int dt, const void *x, int64_t n, int *flag) {
  if (n == 0) return;
  by_float(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    nonfinite_kernel<T><<<blocks_for(n), kThreads, 0, s>>>(static_cast<const T *>(x), n, flag);
  });
  check_launch("all_finite");
}

}  // namespace cuda
}  // namespace nn
