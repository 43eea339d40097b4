// Tensor-op kernels of the CUDA backend: strided copy/convert, fill, unary,
// binary (broadcast strides), reductions and the integer matmul. Every dtype;
// the arithmetic mirrors src/backend/cpu/cpu_loops.cpp. One template
// parameter (the element type) per kernel, the op is a runtime switch
// (uniform across a warp), to keep compile time and binary size small.
#include "backend/cuda/cuda_common.cuh"

namespace nn {
namespace cuda {
namespace {

// ---------------------------------------------------------------- copy

// A value in flight between two dtypes: an integer (int64 pattern), a float
// (F32/F16/BF16 sources: kept in float, as the CPU's convert<D, S> does, so
// no float -> double -> float round trip touches a NaN) or a double (F64).
struct Gv {
  enum Kind { Int, Flt, Dbl } kind;
  int64_t i;
  float f;
  double d;
};

__device__ inline Gv load_any(const char *p, int dt) {
  switch (dt) {
    case 0: return Gv{Gv::Flt, 0, *reinterpret_cast<const float *>(p), 0};
    case 1: return Gv{Gv::Dbl, 0, 0.f, *reinterpret_cast<const double *>(p)};
    case 2: return Gv{Gv::Flt, 0, dev_h2f(*reinterpret_cast<const uint16_t *>(p)), 0};
    case 3: return Gv{Gv::Flt, 0, dev_bf2f(*reinterpret_cast<const uint16_t *>(p)), 0};
    case 4: return Gv{Gv::Int, static_cast<int64_t>(*reinterpret_cast<const uint8_t *>(p)), 0.f, 0};
    case 5: return Gv{Gv::Int, static_cast<int64_t>(*reinterpret_cast<const int16_t *>(p)), 0.f, 0};
    case 6: return Gv{Gv::Int, static_cast<int64_t>(*reinterpret_cast<const int32_t *>(p)), 0.f, 0};
    default: return Gv{Gv::Int, *reinterpret_cast<const int64_t *>(p), 0.f, 0};
  }
}

// Conversion rules of docs/semantics.md (as the CPU's convert<D, S>).
__device__ inline void store_any(char *p, int dt, Gv v) {
  if (dt <= 3) {
    if (dt == 1) {
      *reinterpret_cast<double *>(p) =
          v.kind == Gv::Int ? static_cast<double>(v.i) : v.kind == Gv::Flt ? static_cast<double>(v.f) : v.d;
      return;
    }
    float f = v.kind == Gv::Int ? static_cast<float>(v.i) : v.kind == Gv::Flt ? v.f : static_cast<float>(v.d);
    if (dt == 0)
      *reinterpret_cast<float *>(p) = f;
    else if (dt == 2)
      *reinterpret_cast<uint16_t *>(p) = dev_f2h(f);
    else
      *reinterpret_cast<uint16_t *>(p) = dev_f2bf(f);
    return;
  }
  uint64_t u = static_cast<uint64_t>(v.kind == Gv::Int ? v.i
                                     : v.kind == Gv::Flt ? dev_f2i64(static_cast<double>(v.f))
                                                         : dev_f2i64(v.d));
  switch (dt) {
    case 4: *reinterpret_cast<uint8_t *>(p) = static_cast<uint8_t>(u); return;
    case 5: *reinterpret_cast<uint16_t *>(p) = static_cast<uint16_t>(u); return;
    case 6: *reinterpret_cast<uint32_t *>(p) = static_cast<uint32_t>(u); return;
    default: *reinterpret_cast<uint64_t *>(p) = u; return;
  }
}

__global__ void copy_kernel(Iter<2> it, char *dst, int ddt, int desz, const char *src, int sdt, int sesz) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < it.total; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t off[2];
    it.offsets(i, off);
    store_any(dst + off[0] * desz, ddt, load_any(src + off[1] * sesz, sdt));
  }
}

// Same dtype, any strides: the element's bits, untouched (the CPU's
// convert<T, T> returns its argument; a trip through float would rewrite
// F16/BF16 NaN payloads and quiet signalling NaNs).
template <class U>
__global__ void copy_bits_kernel(Iter<2> it, U *dst, const U *src) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < it.total; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t off[2];
    it.offsets(i, off);
    dst[off[0]] = src[off[1]];
  }
}

// ---------------------------------------------------------------- fill

template <class U>
__global__ void fill_kernel(Iter<1> it, U *dst, U bits) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < it.total; i += int64_t(gridDim.x) * blockDim.x) {
    if (it.unit) {
      dst[i] = bits;
    } else {
      int64_t off[1];
      it.offsets(i, off);
      dst[off[0]] = bits;
    }
  }
}

// ---------------------------------------------------------------- unary

template <class T>
__device__ inline T unary_one(int op, T t) {
  using C = typename Tr<T>::C;
  if constexpr (Tr<T>::is_int) {
    switch (op) {
      case 0: return wrap_to<T>(0 - as_u64(t));                 // Neg
      case 1:                                                   // Abs
        if constexpr (std::is_signed<T>::value) return t < 0 ? wrap_to<T>(0 - as_u64(t)) : t;
        return t;
      case 5: return t > 0 ? t : T(0);                          // Relu
      case 8: return t > 0 ? T(1) : T(0);                       // Step
      default: return t;
    }
  } else {
    C v = Tr<T>::load(t);
    C r = v;
    switch (op) {
      case 0: r = -v; break;
      case 1: r = m_abs(v); break;
      case 2: r = m_exp(v); break;
      case 3: r = m_log(v); break;
      case 4: r = m_sqrt(v); break;
      case 5: r = v < C(0) ? C(0) : v; break;  // torch.relu: NaN (and -0) pass, as the layers
      case 6: r = C(1) / (C(1) + m_exp(-v)); break;
      case 7: r = m_tanh(v); break;
      case 8: r = v > C(0) ? C(1) : C(0); break;
      case 9: r = v > C(0) ? v : (v != v ? v : v * C(0.01)); break;
    }
    return Tr<T>::store(r);
  }
}

template <class T>
__global__ void unary_kernel(Iter<2> it, int op, T *out, const T *x) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < it.total; i += int64_t(gridDim.x) * blockDim.x) {
    if (it.unit) {
      out[i] = unary_one<T>(op, x[i]);
    } else {
      int64_t off[2];
      it.offsets(i, off);
      out[off[0]] = unary_one<T>(op, x[off[1]]);
    }
  }
}

// ---------------------------------------------------------------- binary

template <class T>
__device__ inline T binary_one(int op, T x, T y) {
  using C = typename Tr<T>::C;
  if constexpr (Tr<T>::is_int) {
    switch (op) {
      case 0: return wrap_to<T>(as_u64(x) + as_u64(y));
      case 1: return wrap_to<T>(as_u64(x) - as_u64(y));
      case 2: return wrap_to<T>(as_u64(x) * as_u64(y));
      case 4: return x > y ? x : y;
      case 5: return x < y ? x : y;
      default: return x;
    }
  } else {
    C u = Tr<T>::load(x), v = Tr<T>::load(y);
    C r = u;
    switch (op) {
      case 0: r = u + v; break;
      case 1: r = u - v; break;
      case 2: r = u * v; break;
      case 3: r = u / v; break;
      case 4: r = (u != u) ? u : (v != v ? v : (u > v ? u : v)); break;
      case 5: r = (u != u) ? u : (v != v ? v : (u < v ? u : v)); break;
    }
    return Tr<T>::store(r);
  }
}

template <class T>
__global__ void binary_kernel(Iter<3> it, int op, T *out, const T *a, const T *b) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < it.total; i += int64_t(gridDim.x) * blockDim.x) {
    if (it.unit) {
      out[i] = binary_one<T>(op, a[i], b[i]);
    } else {
      int64_t off[3];
      it.offsets(i, off);
      out[off[0]] = binary_one<T>(op, a[off[1]], b[off[2]]);
    }
  }
}

// ---------------------------------------------------------------- reduce

// Sum/Mean accumulate in double (floats) or wrapping uint64 (integers);
// Max/Min in the compute type, NaN wins; Argmax keeps (value, index), NaN
// beats everything, ties go to the smaller index (as the CPU's Red<T, OP>).
template <class T>
struct Acc {
  using C = typename Tr<T>::C;
  double sf;
  uint64_t si;
  C v;
  int64_t idx;
  bool has;
};

template <class T>
__device__ inline void acc_init(Acc<T> &a) {
  a.sf = 0;
  a.si = 0;
  a.v = typename Tr<T>::C(0);
  a.idx = 0;
  a.has = false;
}

template <class T>
__device__ inline bool nan_of(T v) {
  return v != v;
}

// Folds b (covering later indices, or a single element) into a.
template <class T>
__device__ inline void acc_merge(int op, Acc<T> &a, const Acc<T> &b) {
  if (!b.has) return;
  if (!a.has) {
    a = b;
    return;
  }
  using C = typename Tr<T>::C;
  const C v = b.v;
  switch (op) {
    case 0:
    case 1:
      a.sf += b.sf;
      a.si += b.si;
      return;
    case 2:
      a.v = (v > a.v || nan_of(v)) ? v : a.v;
      return;
    case 3:
      a.v = (v < a.v || nan_of(v)) ? v : a.v;
      return;
    default: {
      const bool vn = nan_of(v), an = nan_of(a.v);
      bool better;
      if (an)
        better = vn && b.idx < a.idx;
      else if (vn)
        better = true;
      else
        better = v > a.v || (v == a.v && b.idx < a.idx);
      if (better) {
        a.v = v;
        a.idx = b.idx;
      }
      return;
    }
  }
}

template <class T>
__device__ inline Acc<T> acc_of(T t, int64_t k) {
  Acc<T> a;
  a.has = true;
  a.idx = k;
  if constexpr (Tr<T>::is_int) {
    a.si = as_u64(t);
    a.sf = 0;
  } else {
    a.si = 0;
    a.sf = static_cast<double>(Tr<T>::load(t));
  }
  a.v = Tr<T>::load(t);
  return a;
}

template <class T>
__device__ inline void acc_store(int op, T *out, int64_t *out_idx, int64_t o, const Acc<T> &a, int64_t n) {
  switch (op) {
    case 4: out_idx[o] = a.idx; return;
    case 0:
      if constexpr (Tr<T>::is_int)
        out[o] = wrap_to<T>(a.si);
      else
        out[o] = from_double<T>(a.sf);
      return;
    case 1: out[o] = from_double<T>(a.sf / static_cast<double>(n)); return;
    default: out[o] = Tr<T>::store(a.v); return;
  }
}

// One thread per output (outer * inner of them); coalesced over inner.
template <class T>
__global__ void reduce_thread_kernel(int op, void *out, const T *x, int64_t outer, int64_t n, int64_t inner) {
  const int64_t total = outer * inner;
  for (int64_t o = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; o < total; o += int64_t(gridDim.x) * blockDim.x) {
    const int64_t oi = o / inner, j = o % inner;
    const T *base = x + oi * n * inner + j;
    Acc<T> a;
    acc_init(a);
    for (int64_t k = 0; k < n; ++k) acc_merge(op, a, acc_of(base[k * inner], k));
    acc_store<T>(op, static_cast<T *>(out), static_cast<int64_t *>(out), o, a, n);
  }
}

// One block per output: thread t folds a contiguous chunk of n, then a tree
// in shared memory. The tree does not merge partials in index order (round s
// folds t + s into t), so Argmax breaks ties on the stored indices (acc_merge),
// never on merge order; Sum/Mean are deterministic (fixed order) but add in
// another order than the CPU (both in double).
template <class T>
__global__ void reduce_block_kernel(int op, void *out, const T *x, int64_t outer, int64_t n, int64_t inner) {
  __shared__ Acc<T> sh[kThreads];
  const int64_t total = outer * inner;
  for (int64_t o = blockIdx.x; o < total; o += gridDim.x) {
    const int64_t oi = o / inner, j = o % inner;
    const T *base = x + oi * n * inner + j;
    const int64_t per = (n + blockDim.x - 1) / blockDim.x;
    const int64_t k0 = threadIdx.x * per, k1 = min(n, k0 + per);
    Acc<T> a;
    acc_init(a);
    for (int64_t k = k0; k < k1; ++k) acc_merge(op, a, acc_of(base[k * inner], k));
    sh[threadIdx.x] = a;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
      if (threadIdx.x < s) acc_merge(op, sh[threadIdx.x], sh[threadIdx.x + s]);
      __syncthreads();
    }
    if (threadIdx.x == 0) acc_store<T>(op, static_cast<T *>(out), static_cast<int64_t *>(out), o, sh[0], n);
    __syncthreads();
  }
}

// ---------------------------------------------------------------- integer matmul

template <class T>
__global__ void matmul_int_kernel(T *out, const T *a, const T *b, int64_t B, int64_t M, int64_t N, int64_t K,
                                  int64_t sab, int64_t sam, int64_t sak, int64_t sbb, int64_t sbk, int64_t sbn) {
  const int64_t total = B * M * N;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t j = i % N, r = (i / N) % M, bi = i / (M * N);
    const T *ar = a + bi * sab + r * sam;
    const T *bc = b + bi * sbb + j * sbn;
    uint64_t acc = 0;
    for (int64_t k = 0; k < K; ++k) acc += as_u64(ar[k * sak]) * as_u64(bc[k * sbk]);
    out[i] = wrap_to<T>(acc);
  }
}

}  // namespace

void k_copy(cudaStream_t s, const V &dst, const V &src) {
  const V *ops[2] = {&dst, &src};
  Iter<2> it = make_iter<2>(dst, ops);
  if (it.total == 0) return;
  if (dst.dtype == src.dtype) {
    const unsigned g = blocks_for(it.total);
    switch (elem_size(dst.dtype)) {
      case 1: copy_bits_kernel<uint8_t><<<g, kThreads, 0, s>>>(it, static_cast<uint8_t *>(dst.data), static_cast<const uint8_t *>(src.data)); break;
      case 2: copy_bits_kernel<uint16_t><<<g, kThreads, 0, s>>>(it, static_cast<uint16_t *>(dst.data), static_cast<const uint16_t *>(src.data)); break;
      case 4: copy_bits_kernel<uint32_t><<<g, kThreads, 0, s>>>(it, static_cast<uint32_t *>(dst.data), static_cast<const uint32_t *>(src.data)); break;
      default: copy_bits_kernel<uint64_t><<<g, kThreads, 0, s>>>(it, static_cast<uint64_t *>(dst.data), static_cast<const uint64_t *>(src.data)); break;
    }
    check_launch("copy");
    return;
  }
  copy_kernel<<<blocks_for(it.total), kThreads, 0, s>>>(it, static_cast<char *>(dst.data), dst.dtype,
                                                          static_cast<int>(elem_size(dst.dtype)),
                                                          static_cast<const char *>(src.data), src.dtype,
                                                          static_cast<int>(elem_size(src.dtype)));
  check_launch("copy");
}

void k_fill(cudaStream_t s, const V &dst, double value) {
  const V *ops[1] = {&dst};
  Iter<1> it = make_iter<1>(dst, ops);
  if (it.total == 0) return;
  uint64_t bits = scalar_bits(dst.dtype, value);
  const unsigned g = blocks_for(it.total);
  switch (elem_size(dst.dtype)) {
    case 1: fill_kernel<uint8_t><<<g, kThreads, 0, s>>>(it, static_cast<uint8_t *>(dst.data), static_cast<uint8_t>(bits)); break;
    case 2: fill_kernel<uint16_t><<<g, kThreads, 0, s>>>(it, static_cast<uint16_t *>(dst.data), static_cast<uint16_t>(bits)); break;
    case 4: fill_kernel<uint32_t><<<g, kThreads, 0, s>>>(it, static_cast<uint32_t *>(dst.data), static_cast<uint32_t>(bits)); break;
    default: fill_kernel<uint64_t><<<g, kThreads, 0, s>>>(it, static_cast<uint64_t *>(dst.data), bits); break;
  }
  check_launch("fill");
}

void k_unary(cudaStream_t s, int op, const V &out, const V &x) {
  const V *ops[2] = {&out, &x};
  Iter<2> it = make_iter<2>(out, ops);
  if (it.total == 0) return;
  dispatch(x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    unary_kernel<T><<<blocks_for(it.total), kThreads, 0, s>>>(it, op, static_cast<T *>(out.data),
                                                               static_cast<const T *>(x.data));
  });
  check_launch("unary");
}

void k_binary(cudaStream_t s, int op, const V &out, const V &a, const V &b) {
  const V *ops[3] = {&out, &a, &b};
  Iter<3> it = make_iter<3>(out, ops);
  if (it.total == 0) return;
  dispatch(out.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    binary_kernel<T><<<blocks_for(it.total), kThreads, 0, s>>>(it, op, static_cast<T *>(out.data),
                                                                static_cast<const T *>(a.data),
                                                                static_cast<const T *>(b.data));
  });
  check_launch("binary");
}

void k_reduce(cudaStream_t s, int op, const V &out, const V &x) {
  const int64_t outer = x.shape[0], n = x.shape[1], inner = x.shape[2];
  const int64_t outputs = outer * inner;
  if (outputs == 0) return;
  dispatch(x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *xp = static_cast<const T *>(x.data);
    if (outputs >= 2048 || n < 512) {
      reduce_thread_kernel<T><<<blocks_for(outputs), kThreads, 0, s>>>(op, out.data, xp, outer, n, inner);
    } else {
      unsigned g = static_cast<unsigned>(outputs < 65535 ? outputs : 65535);
      reduce_block_kernel<T><<<g, kThreads, 0, s>>>(op, out.data, xp, outer, n, inner);
    }
  });
  check_launch("reduce");
}

void k_matmul_int(cudaStream_t s, const V &out, const V &a, const V &b) {
  const int64_t B = out.shape[0], M = out.shape[1], N = out.shape[2], K = a.shape[2];
  const int64_t sab = a.shape[0] > 1 ? a.strides[0] : 0, sbb = b.shape[0] > 1 ? b.strides[0] : 0;
  const int64_t total = B * M * N;
  if (total == 0) return;
  dispatch(out.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (Tr<T>::is_int) {
      matmul_int_kernel<T><<<blocks_for(total), kThreads, 0, s>>>(
          static_cast<T *>(out.data), static_cast<const T *>(a.data), static_cast<const T *>(b.data), B, M, N, K, sab,
          a.strides[1], a.strides[2], sbb, b.strides[1], b.strides[2]);
    } else {
      fail(Errc::Internal, "cuda matmul: integer kernel called for %s", dtype_name(static_cast<DType>(out.dtype)));
    }
  });
  check_launch("matmul");
}

}  // namespace cuda
}  // namespace nn
