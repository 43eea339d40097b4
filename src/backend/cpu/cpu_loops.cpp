// Plain loops of the CPU backend, templated over the element type: every
// dtype, any strides. oneDNN (cpu_dnnl.cpp) takes over where it has a primitive.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "backend/cpu/cpu_internal.hpp"
#include "backend/cpu/cpu_simd.hpp"
#include "core/error.hpp"

namespace nn {
namespace cpu {
namespace {

// ---------------------------------------------------------------------------
// Element types

struct f16_t {
  uint16_t bits;
};
struct bf16_t {
  uint16_t bits;
};

template <class T>
struct Tr;  // traits: is_int, compute type C, load (T -> C), store (C -> T)

template <class T>
struct IntTr {
  static constexpr bool is_int = true;
  using C = T;
  static T load(T v) { return v; }
  static T store(T v) { return v; }
};
template <>
struct Tr<uint8_t> : IntTr<uint8_t> {};
template <>
struct Tr<int16_t> : IntTr<int16_t> {};
template <>
struct Tr<int32_t> : IntTr<int32_t> {};
template <>
struct Tr<int64_t> : IntTr<int64_t> {};
template <>
struct Tr<float> {
  static constexpr bool is_int = false;
  using C = float;
  static float load(float v) { return v; }
  static float store(float v) { return v; }
};
template <>
struct Tr<double> {
  static constexpr bool is_int = false;
  using C = double;
  static double load(double v) { return v; }
  static double store(double v) { return v; }
};
template <>
struct Tr<f16_t> {
  static constexpr bool is_int = false;
  using C = float;
  static float load(f16_t v) { return f16_to_f32(v.bits); }
  static f16_t store(float v) { return f16_t{f32_to_f16(v)}; }
};
template <>
struct Tr<bf16_t> {
  static constexpr bool is_int = false;
  using C = float;
  static float load(bf16_t v) { return bf16_to_f32(v.bits); }
  static bf16_t store(float v) { return bf16_t{f32_to_bf16(v)}; }
};

// Two's complement wrap of a 64-bit pattern to an integer type.
template <class T>
inline T wrap(uint64_t u) {
  return static_cast<T>(static_cast<std::make_unsigned_t<T>>(u));
}
template <class T>
inline uint64_t as_u64(T v) {
  return static_cast<uint64_t>(static_cast<int64_t>(v));
}

// float_to_i64 of core/dtype.hpp without branches (so conversion loops
// vectorise): NaN -> 0, saturating at the int64 range, truncating.
inline int64_t float_to_i64_fast(double v) {
  double c = v != v ? 0.0 : v;
  c = c < -9223372036854775808.0 ? -9223372036854775808.0 : c;
  const double lim = 9223372036854774784.0;  // the largest double below 2^63
  const int64_t r = static_cast<int64_t>(c < lim ? c : lim);
  return c >= 9223372036854775807.0 ? INT64_MAX : r;
}

// Conversion rules of docs/semantics.md.
template <class D, class S>
inline D convert(S s) {
  if constexpr (std::is_same_v<D, S>) {
    return s;
  } else if constexpr (Tr<D>::is_int) {
    if constexpr (Tr<S>::is_int)
      return wrap<D>(as_u64(s));
    else
      return wrap<D>(static_cast<uint64_t>(float_to_i64_fast(static_cast<double>(Tr<S>::load(s)))));
  } else if constexpr (std::is_same_v<D, double>) {
    if constexpr (Tr<S>::is_int)
      return static_cast<double>(s);
    else
      return static_cast<double>(Tr<S>::load(s));
  } else {  // F32, F16, BF16: through float (int64 -> float rounds once)
    if constexpr (Tr<S>::is_int)
      return Tr<D>::store(static_cast<float>(s));
    else
      return Tr<D>::store(static_cast<float>(Tr<S>::load(s)));
  }
}

template <class T>
inline T from_double(double v) {
  if constexpr (Tr<T>::is_int)
    return wrap<T>(static_cast<uint64_t>(float_to_i64(v)));
  else if constexpr (std::is_same_v<T, double>)
    return v;
  else
    return Tr<T>::store(static_cast<float>(v));
}

template <class T>
struct Tag {
  using type = T;
};

template <class F>
void dispatch(DType dt, F &&f) {
  switch (dt) {
    case DType::F32: return f(Tag<float>{});
    case DType::F64: return f(Tag<double>{});
    case DType::F16: return f(Tag<f16_t>{});
    case DType::BF16: return f(Tag<bf16_t>{});
    case DType::U8: return f(Tag<uint8_t>{});
    case DType::I16: return f(Tag<int16_t>{});
    case DType::I32: return f(Tag<int32_t>{});
    case DType::I64: return f(Tag<int64_t>{});
  }
  fail(Errc::Internal, "cpu: invalid dtype %d", static_cast<int>(dt));
}

// ---------------------------------------------------------------------------
// Strided iteration over up to 3 operands of one shape.

constexpr int64_t kParallelMin = 1 << 15;  // elements; below this, one thread

template <int N>
struct Plan {
  int ndim = 0;  // after dropping size-1 dims and merging; >= 1 unless empty
  bool empty = false;
  int64_t shape[kMaxDims] = {};
  int64_t st[N][kMaxDims] = {};
};

template <int N>
Plan<N> make_plan(const Shape &shape, const Shape *const strides[N]) {
  Plan<N> p;
  // Innermost first while collecting, then reverse.
  int64_t sh[kMaxDims];
  int64_t st[N][kMaxDims];
  int nd = 0;
  for (int i = shape.ndim - 1; i >= 0; --i) {
    int64_t d = shape[i];
    if (d == 0) {
      p.empty = true;
      return p;
    }
    if (d == 1) continue;
    if (nd > 0) {
      bool merge = true;
      for (int k = 0; k < N; ++k)
        if ((*strides[k])[i] != st[k][nd - 1] * sh[nd - 1]) merge = false;
      if (merge) {
        sh[nd - 1] *= d;
        continue;
      }
    }
    sh[nd] = d;
    for (int k = 0; k < N; ++k) st[k][nd] = (*strides[k])[i];
    ++nd;
  }
  if (nd == 0) {
    p.ndim = 1;
    p.shape[0] = 1;
    for (int k = 0; k < N; ++k) p.st[k][0] = 0;
    return p;
  }
  p.ndim = nd;
  for (int j = 0; j < nd; ++j) {
    p.shape[j] = sh[nd - 1 - j];
    for (int k = 0; k < N; ++k) p.st[k][j] = st[k][nd - 1 - j];
  }
  return p;
}

// Calls f(ptrs, inner_strides, n) on runs of the innermost dim; strides in elements.
template <int N, class F>
void run_strided(const Plan<N> &p, char *const base[N], const size_t esz[N], F &&f) {
  if (p.empty) return;
  const int nd = p.ndim;
  const int64_t inner = p.shape[nd - 1];
  int64_t rows = 1;
  for (int j = 0; j < nd - 1; ++j) rows *= p.shape[j];
  const int64_t total = rows * inner;
  int nthr = total >= kParallelMin ? num_threads() : 1;
  // Split rows into chunks too when there are few rows.
  int64_t nch = 1;
  if (nthr > 1 && rows < 4 * nthr) nch = std::min<int64_t>((4 * nthr + rows - 1) / rows, (inner + 1023) / 1024);
  if (nch < 1) nch = 1;
  const int64_t chunk = (inner + nch - 1) / nch;
  const int64_t items = rows * nch;
  int64_t istride[N];
  for (int k = 0; k < N; ++k) istride[k] = p.st[k][nd - 1];

  auto work = [&](int64_t i0, int64_t i1) {
    if (i0 >= i1) return;
    int64_t row = i0 / nch, c = i0 % nch;
    int64_t idx[kMaxDims] = {};
    int64_t off[N] = {};
    {
      int64_t r = row;
      for (int j = nd - 2; j >= 0; --j) {
        idx[j] = r % p.shape[j];
        r /= p.shape[j];
        for (int k = 0; k < N; ++k) off[k] += idx[j] * p.st[k][j];
      }
    }
    for (int64_t it = i0; it < i1; ++it) {
      int64_t j0 = c * chunk, j1 = std::min(inner, j0 + chunk);
      char *ptr[N];
      for (int k = 0; k < N; ++k)
        ptr[k] = base[k] + static_cast<ptrdiff_t>((off[k] + j0 * istride[k]) * static_cast<int64_t>(esz[k]));
      if (j1 > j0) f(ptr, istride, j1 - j0);
      if (++c == nch) {
        c = 0;
        for (int j = nd - 2; j >= 0; --j) {
          ++idx[j];
          for (int k = 0; k < N; ++k) off[k] += p.st[k][j];
          if (idx[j] < p.shape[j]) break;
          for (int k = 0; k < N; ++k) off[k] -= idx[j] * p.st[k][j];
          idx[j] = 0;
        }
      }
    }
  };
  if (nthr <= 1 || items <= 1) {
    work(0, items);
    return;
  }
#pragma omp parallel num_threads(nthr)
  {
    int t = omp_get_thread_num(), nt = omp_get_num_threads();
    int64_t per = items / nt, rem = items % nt;
    int64_t i0 = t * per + std::min<int64_t>(t, rem);
    int64_t i1 = i0 + per + (t < rem ? 1 : 0);
    work(i0, i1);
  }
}

// Two operands whose unit-stride dims differ (a transpose): walks the two
// dims in 32 x 32 tiles so both sides stay in cache. False when not the case.
template <class F>
bool run_tiled2(const Plan<2> &p, char *const base[2], const size_t esz[2], F &&f) {
  const int nd = p.ndim, in = nd - 1;
  if (p.empty || nd < 2) return false;
  int other = -1;  // the operand whose inner stride is not 1
  if (p.st[0][in] == 1 && p.st[1][in] != 1) other = 1;
  if (p.st[1][in] == 1 && p.st[0][in] != 1) other = 0;
  if (other < 0) return false;
  int d = -1;
  for (int j = in - 1; j >= 0 && d < 0; --j)
    if (p.st[other][j] == 1) d = j;
  if (d < 0) return false;
  constexpr int64_t T = 32;
  const int64_t D = p.shape[d], I = p.shape[in];
  const int64_t TD = (D + T - 1) / T, TI = (I + T - 1) / T;
  int64_t R = 1;
  for (int j = 0; j < in; ++j)
    if (j != d) R *= p.shape[j];
  const int64_t items = R * TD * TI;
  const int nthr = R * D * I >= kParallelMin ? num_threads() : 1;
  const int64_t istride[2] = {p.st[0][in], p.st[1][in]};
#pragma omp parallel for num_threads(nthr) schedule(static) if (nthr > 1)
  for (int64_t it = 0; it < items; ++it) {
    int64_t r = it / (TD * TI), t = it % (TD * TI);
    const int64_t i0 = (t / TI) * T, j0 = (t % TI) * T;
    const int64_t i1 = std::min(D, i0 + T), len = std::min(I, j0 + T) - j0;
    int64_t off[2] = {0, 0};
    for (int j = in - 1; j >= 0; --j) {
      if (j == d) continue;
      const int64_t ix = r % p.shape[j];
      r /= p.shape[j];
      off[0] += ix * p.st[0][j];
      off[1] += ix * p.st[1][j];
    }
    for (int64_t i = i0; i < i1; ++i) {
      char *ptr[2];
      for (int k = 0; k < 2; ++k)
        ptr[k] = base[k] + static_cast<ptrdiff_t>((off[k] + i * p.st[k][d] + j0 * istride[k]) * static_cast<int64_t>(esz[k]));
      f(ptr, istride, len);
    }
  }
  return true;
}

template <class F>
void for_each2(const View &o, const View &x, F &&f) {
  const Shape *st[2] = {&o.strides, &x.strides};
  Plan<2> p = make_plan<2>(o.shape, st);
  char *base[2] = {static_cast<char *>(o.data), static_cast<char *>(x.data)};
  size_t esz[2] = {dtype_size(o.dtype), dtype_size(x.dtype)};
  if (run_tiled2(p, base, esz, f)) return;
  run_strided<2>(p, base, esz, f);
}

template <class F>
void for_each3(const View &o, const View &a, const View &b, F &&f) {
  const Shape *st[3] = {&o.strides, &a.strides, &b.strides};
  Plan<3> p = make_plan<3>(o.shape, st);
  char *base[3] = {static_cast<char *>(o.data), static_cast<char *>(a.data), static_cast<char *>(b.data)};
  size_t esz[3] = {dtype_size(o.dtype), dtype_size(a.dtype), dtype_size(b.dtype)};
  run_strided<3>(p, base, esz, f);
}

// out[i] = fn(x[i]) with typed pointers; unit-stride runs get a tight loop.
template <class TO, class TX, class Fn>
void map1(const View &out, const View &x, Fn fn) {
  for_each2(out, x, [&](char *const *p, const int64_t *s, int64_t n) {
    TO *o = reinterpret_cast<TO *>(p[0]);
    const TX *a = reinterpret_cast<const TX *>(p[1]);
    if (s[0] == 1 && s[1] == 1) {
      for (int64_t i = 0; i < n; ++i) o[i] = fn(a[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) o[i * s[0]] = fn(a[i * s[1]]);
    }
  });
}

template <class T, class Fn>
void map2(const View &out, const View &a, const View &b, Fn fn) {
  for_each3(out, a, b, [&](char *const *p, const int64_t *s, int64_t n) {
    T *o = reinterpret_cast<T *>(p[0]);
    const T *x = reinterpret_cast<const T *>(p[1]);
    const T *y = reinterpret_cast<const T *>(p[2]);
    if (s[0] == 1 && s[1] == 1 && s[2] == 1) {
      for (int64_t i = 0; i < n; ++i) o[i] = fn(x[i], y[i]);
    } else if (s[0] == 1 && s[1] == 1 && s[2] == 0) {
      const T yv = y[0];
      for (int64_t i = 0; i < n; ++i) o[i] = fn(x[i], yv);
    } else if (s[0] == 1 && s[1] == 0 && s[2] == 1) {
      const T xv = x[0];
      for (int64_t i = 0; i < n; ++i) o[i] = fn(xv, y[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) o[i * s[0]] = fn(x[i * s[1]], y[i * s[2]]);
    }
  });
}

// ---------------------------------------------------------------------------
// Unary

template <class T, UnaryOp OP>
void unary_t(const View &out, const View &x) {
  using C = typename Tr<T>::C;
  map1<T, T>(out, x, [](T t) -> T {
    if constexpr (Tr<T>::is_int) {
      if constexpr (OP == UnaryOp::Neg) return wrap<T>(0 - as_u64(t));
      if constexpr (OP == UnaryOp::Abs) return t < 0 ? wrap<T>(0 - as_u64(t)) : t;
      if constexpr (OP == UnaryOp::Relu) return t > 0 ? t : T(0);
      if constexpr (OP == UnaryOp::Step) return t > 0 ? T(1) : T(0);
      return t;
    } else {
      C v = Tr<T>::load(t);
      C r;
      if constexpr (OP == UnaryOp::Neg) r = -v;
      if constexpr (OP == UnaryOp::Abs) r = std::fabs(v);
      if constexpr (OP == UnaryOp::Exp) r = std::exp(v);
      if constexpr (OP == UnaryOp::Log) r = std::log(v);
      if constexpr (OP == UnaryOp::Sqrt) r = std::sqrt(v);
      if constexpr (OP == UnaryOp::Relu) r = v < C(0) ? C(0) : v;  // torch.relu: NaN (and -0) pass, as the layers
      if constexpr (OP == UnaryOp::Sigmoid) r = C(1) / (C(1) + std::exp(-v));
      if constexpr (OP == UnaryOp::Tanh) r = std::tanh(v);
      if constexpr (OP == UnaryOp::Step) r = v > C(0) ? C(1) : C(0);
      if constexpr (OP == UnaryOp::LeakyRelu) r = v > C(0) ? v : (v != v ? v : v * C(0.01));
      return Tr<T>::store(r);
    }
  });
}

template <class T>
void unary_dispatch(UnaryOp op, const View &out, const View &x) {
  switch (op) {
    case UnaryOp::Neg: return unary_t<T, UnaryOp::Neg>(out, x);
    case UnaryOp::Abs: return unary_t<T, UnaryOp::Abs>(out, x);
    case UnaryOp::Relu: return unary_t<T, UnaryOp::Relu>(out, x);
    case UnaryOp::Step: return unary_t<T, UnaryOp::Step>(out, x);
    default: break;
  }
  if constexpr (!Tr<T>::is_int) {
    switch (op) {
      case UnaryOp::Exp: return unary_t<T, UnaryOp::Exp>(out, x);
      case UnaryOp::Log: return unary_t<T, UnaryOp::Log>(out, x);
      case UnaryOp::Sqrt: return unary_t<T, UnaryOp::Sqrt>(out, x);
      case UnaryOp::Sigmoid: return unary_t<T, UnaryOp::Sigmoid>(out, x);
      case UnaryOp::Tanh: return unary_t<T, UnaryOp::Tanh>(out, x);
      case UnaryOp::LeakyRelu: return unary_t<T, UnaryOp::LeakyRelu>(out, x);
      default: break;
    }
  }
  fail(Errc::Internal, "cpu unary: op %d not supported for %s", static_cast<int>(op), dtype_name(x.dtype));
}

// ---------------------------------------------------------------------------
// Binary

template <class T, BinaryOp OP>
void binary_t(const View &out, const View &a, const View &b) {
  using C = typename Tr<T>::C;
  map2<T>(out, a, b, [](T x, T y) -> T {
    if constexpr (Tr<T>::is_int) {
      if constexpr (OP == BinaryOp::Add) return wrap<T>(as_u64(x) + as_u64(y));
      if constexpr (OP == BinaryOp::Sub) return wrap<T>(as_u64(x) - as_u64(y));
      if constexpr (OP == BinaryOp::Mul) return wrap<T>(as_u64(x) * as_u64(y));
      if constexpr (OP == BinaryOp::Max) return x > y ? x : y;
      if constexpr (OP == BinaryOp::Min) return x < y ? x : y;
      return x;  // Div never reaches here
    } else {
      C u = Tr<T>::load(x), v = Tr<T>::load(y);
      C r;
      if constexpr (OP == BinaryOp::Add) r = u + v;
      if constexpr (OP == BinaryOp::Sub) r = u - v;
      if constexpr (OP == BinaryOp::Mul) r = u * v;
      if constexpr (OP == BinaryOp::Div) r = u / v;
      if constexpr (OP == BinaryOp::Max) r = (u != u) ? u : (v != v ? v : (u > v ? u : v));
      if constexpr (OP == BinaryOp::Min) r = (u != u) ? u : (v != v ? v : (u < v ? u : v));
      return Tr<T>::store(r);
    }
  });
}

template <class T>
void binary_dispatch(BinaryOp op, const View &out, const View &a, const View &b) {
  switch (op) {
    case BinaryOp::Add: return binary_t<T, BinaryOp::Add>(out, a, b);
    case BinaryOp::Sub: return binary_t<T, BinaryOp::Sub>(out, a, b);
    case BinaryOp::Mul: return binary_t<T, BinaryOp::Mul>(out, a, b);
    case BinaryOp::Div:
      if constexpr (Tr<T>::is_int)
        fail(Errc::Internal, "cpu binary: integer division reached the backend");
      else
        return binary_t<T, BinaryOp::Div>(out, a, b);
    case BinaryOp::Max: return binary_t<T, BinaryOp::Max>(out, a, b);
    case BinaryOp::Min: return binary_t<T, BinaryOp::Min>(out, a, b);
  }
  fail(Errc::Internal, "cpu binary: invalid op %d", static_cast<int>(op));
}

// ---------------------------------------------------------------------------
// Reduce: x contiguous [outer, n, inner] -> out [outer, inner], n >= 1.

// One reduction's arithmetic: Sum/Mean accumulate in double (floats) or
// wrapping uint64 (integers); Max/Min in the compute type, NaN wins; Argmax
// keeps (value, index): NaN beats everything, ties go to the smaller index.
template <class T, ReduceOp OP>
struct Red {
  using C = typename Tr<T>::C;
  static constexpr bool kSum = OP == ReduceOp::Sum || OP == ReduceOp::Mean;
  using S = std::conditional_t<Tr<T>::is_int, uint64_t, double>;
  using V = std::conditional_t<kSum, S, C>;

  static V load(T t) {
    if constexpr (kSum) {
      if constexpr (Tr<T>::is_int)
        return as_u64(t);
      else
        return static_cast<double>(Tr<T>::load(t));
    } else {
      return Tr<T>::load(t);
    }
  }
  static bool better(V v, int64_t k, V a, int64_t ai) {
    const bool vn = v != v, an = a != a;
    if (an) return vn && k < ai;
    if (vn) return true;
    return v > a || (v == a && k < ai);
  }
  // Folds (v, k) into (a, ai); also merges two partial results.
  static void add(V &a, int64_t &ai, V v, int64_t k) {
    if constexpr (kSum) {
      a += v;
    } else if constexpr (OP == ReduceOp::Max) {
      a = (v > a || v != v) ? v : a;
    } else if constexpr (OP == ReduceOp::Min) {
      a = (v < a || v != v) ? v : a;
    } else {
      if (better(v, k, a, ai)) {
        a = v;
        ai = k;
      }
    }
  }
  static void store(void *out, int64_t i, V a, int64_t ai, int64_t n) {
    if constexpr (OP == ReduceOp::Argmax) {
      static_cast<int64_t *>(out)[i] = ai;
    } else if constexpr (kSum && Tr<T>::is_int) {
      static_cast<T *>(out)[i] = wrap<T>(a);  // Mean of integers never reaches here
    } else if constexpr (OP == ReduceOp::Sum) {
      static_cast<T *>(out)[i] = from_double<T>(a);
    } else if constexpr (OP == ReduceOp::Mean) {
      static_cast<T *>(out)[i] = from_double<T>(a / static_cast<double>(n));
    } else {
      static_cast<T *>(out)[i] = Tr<T>::store(a);
    }
  }
  // Reduces p[k0..k1) (k1 > k0): the bulk as a [rows, L] block reduced over
  // its rows (L independent lanes, which vectorise), then the lanes and the tail.
  static void range(const T *p, int64_t k0, int64_t k1, V &a, int64_t &ai) {
    if constexpr (OP == ReduceOp::Argmax) {
      // The maximum (vectorised), then the first index holding it.
      Red<T, ReduceOp::Max>::range(p, k0, k1, a, ai);
      const bool nan = a != a;
      for (int64_t k = k0; k < k1; ++k) {
        const V v = load(p[k]);
        if (nan ? v != v : v == a) {
          ai = k;
          return;
        }
      }
      return;
    }
    constexpr int64_t L = 64;
    const int64_t rows = (k1 - k0) / L;
    int64_t k = k0;
    if (rows >= 2) {
      V acc[L];
      int64_t idx[L];
      columns(p + k0, L, L, 0, rows, acc, idx);
      a = acc[0];
      ai = k0 + idx[0] * L;
      for (int64_t l = 1; l < L; ++l) add(a, ai, acc[l], k0 + idx[l] * L + l);
      k = k0 + rows * L;
    } else {
      a = load(p[k0]);
      ai = k0;
      k = k0 + 1;
    }
    for (; k < k1; ++k) add(a, ai, load(p[k]), k);
  }
  // acc[j] (j < m) over rows k0..k1 (k1 > k0) of a [*, inner] block at base.
  static void columns(const T *base, int64_t inner, int64_t m, int64_t k0, int64_t k1, V *acc, int64_t *idx) {
    const T *r0 = base + k0 * inner;
    for (int64_t j = 0; j < m; ++j) {
      acc[j] = load(r0[j]);
      idx[j] = k0;
    }
    for (int64_t k = k0 + 1; k < k1; ++k) {
      const T *r = base + k * inner;
      for (int64_t j = 0; j < m; ++j) add(acc[j], idx[j], load(r[j]), k);
    }
  }
};

template <class T, ReduceOp OP>
void reduce_t(const View &out, const View &x) {
  using R = Red<T, OP>;
  using V = typename R::V;
  const int64_t outer = x.shape[0], n = x.shape[1], inner = x.shape[2];
  const T *xp = static_cast<const T *>(x.data);
  void *op = out.data;
  const int64_t total = outer * n * inner;
  const int nthr = total >= kParallelMin ? num_threads() : 1;
  // Threads that share one output's rows merge partials kept here, in order.
  constexpr int64_t kBlock = 256;

  if (inner == 1) {
    if (nthr > 1 && outer < 2 * nthr) {
      struct Part {
        V a;
        int64_t ai;
        bool used;
      };
      Part *part = static_cast<Part *>(scratch(kScratchLoops, sizeof(Part) * static_cast<size_t>(nthr)));
      for (int64_t o = 0; o < outer; ++o) {
        const T *row = xp + o * n;
        int used = 1;
#pragma omp parallel num_threads(nthr)
        {
          int t = omp_get_thread_num(), nt = omp_get_num_threads();
          int64_t per = n / nt, rem = n % nt;
          int64_t k0 = t * per + std::min<int64_t>(t, rem);
          int64_t k1 = k0 + per + (t < rem ? 1 : 0);
          part[t].used = k1 > k0;
          if (k1 > k0) R::range(row, k0, k1, part[t].a, part[t].ai);
          if (t == 0) used = nt;
        }
        V a = part[0].a;
        int64_t ai = part[0].ai;
        for (int t = 1; t < used; ++t)
          if (part[t].used) R::add(a, ai, part[t].a, part[t].ai);
        R::store(op, o, a, ai, n);
      }
      return;
    }
#pragma omp parallel for num_threads(nthr) schedule(static) if (nthr > 1)
    for (int64_t o = 0; o < outer; ++o) {
      V a;
      int64_t ai;
      R::range(xp + o * n, 0, n, a, ai);
      R::store(op, o, a, ai, n);
    }
    return;
  }

  // inner > 1: accumulate whole rows over blocks of the inner dim (vectorises over j).
  const int64_t nblk = (inner + kBlock - 1) / kBlock;
  const int64_t items = outer * nblk;
  if (nthr > 1 && items < nthr && n >= 4 * nthr) {
    // Few blocks, long columns: split the rows among threads, merge in order.
    V *pacc = static_cast<V *>(scratch(kScratchLoops, (sizeof(V) + sizeof(int64_t)) * kBlock * static_cast<size_t>(nthr)));
    int64_t *pidx = reinterpret_cast<int64_t *>(pacc + kBlock * nthr);
    for (int64_t it = 0; it < items; ++it) {
      const int64_t o = it / nblk, j0 = (it % nblk) * kBlock, m = std::min(kBlock, inner - j0);
      const T *base = xp + o * n * inner + j0;
      int used = 1;
#pragma omp parallel num_threads(nthr)
      {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        int64_t per = n / nt, rem = n % nt;
        int64_t k0 = t * per + std::min<int64_t>(t, rem);
        int64_t k1 = k0 + per + (t < rem ? 1 : 0);
        R::columns(base, inner, m, k0, k1, pacc + t * kBlock, pidx + t * kBlock);  // nt <= n/4: k1 > k0
        if (t == 0) used = nt;
      }
      for (int t = 1; t < used; ++t)
        for (int64_t j = 0; j < m; ++j) R::add(pacc[j], pidx[j], pacc[t * kBlock + j], pidx[t * kBlock + j]);
      for (int64_t j = 0; j < m; ++j) R::store(op, o * inner + j0 + j, pacc[j], pidx[j], n);
    }
    return;
  }
#pragma omp parallel for num_threads(nthr) schedule(static) if (nthr > 1)
  for (int64_t it = 0; it < items; ++it) {
    const int64_t o = it / nblk, j0 = (it % nblk) * kBlock, m = std::min(kBlock, inner - j0);
    V acc[kBlock];
    int64_t idx[kBlock];
    R::columns(xp + o * n * inner + j0, inner, m, 0, n, acc, idx);
    for (int64_t j = 0; j < m; ++j) R::store(op, o * inner + j0 + j, acc[j], idx[j], n);
  }
}

template <class T>
void reduce_dispatch(ReduceOp op, const View &out, const View &x) {
  switch (op) {
    case ReduceOp::Sum: return reduce_t<T, ReduceOp::Sum>(out, x);
    case ReduceOp::Mean:
      if constexpr (Tr<T>::is_int)
        fail(Errc::Internal, "cpu reduce: mean of integer dtype %s", dtype_name(x.dtype));
      else
        return reduce_t<T, ReduceOp::Mean>(out, x);
    case ReduceOp::Max: return reduce_t<T, ReduceOp::Max>(out, x);
    case ReduceOp::Min: return reduce_t<T, ReduceOp::Min>(out, x);
    case ReduceOp::Argmax: return reduce_t<T, ReduceOp::Argmax>(out, x);
  }
  fail(Errc::Internal, "cpu reduce: invalid op %d", static_cast<int>(op));
}

// ---------------------------------------------------------------------------
// Matmul: integers accumulate in wrapping uint64, floats in double (F64, and
// the fallback for F32/BF16/F16 when oneDNN has no implementation). Packed
// panels (A: MR rows, B: NR columns, zero-padded, k-major) and an MR x NR
// register-tile micro-kernel; an AVX2 build of the F64 kernel is chosen at
// run time.

template <class T>
using MAcc = std::conditional_t<Tr<T>::is_int, uint64_t, double>;

template <class T>
inline MAcc<T> macc_load(T t) {
  if constexpr (Tr<T>::is_int)
    return as_u64(t);
  else
    return static_cast<double>(Tr<T>::load(t));
}

struct MmArgs {
  const void *a;  // this batch's A
  int64_t sam, sak;
  const void *bpack;  // packed B of this batch: panels [N/NR][K][NR]
  void *out;          // this batch's out, [M, N] contiguous
  int64_t M, N, K;
};

constexpr int64_t kMC = 64, kNC = 256;  // rows and columns of one work item

// One work item: out rows [i0, i0+mi) x columns [j0, j0+nj), nj a multiple of
// NR or reaching N.
template <class T, int MR, int NR>
inline __attribute__((always_inline)) void mm_item_impl(const MmArgs &g, int64_t i0, int64_t mi, int64_t j0,
                                                        int64_t nj, MAcc<T> *apack) {
  using A = MAcc<T>;
  const T *a = static_cast<const T *>(g.a);
  const A *bpack = static_cast<const A *>(g.bpack);
  T *out = static_cast<T *>(g.out);
  const int64_t K = g.K;
  // Pack A rows [i0, i0+mi) as panels [mi/MR][K][MR].
  const int64_t npan = (mi + MR - 1) / MR;
  for (int64_t pnl = 0; pnl < npan; ++pnl) {
    A *dst = apack + pnl * K * MR;
    for (int r = 0; r < MR; ++r) {
      const int64_t i = pnl * MR + r;
      if (i < mi) {
        const T *row = a + (i0 + i) * g.sam;
        for (int64_t k = 0; k < K; ++k) dst[k * MR + r] = macc_load(row[k * g.sak]);
      } else {
        for (int64_t k = 0; k < K; ++k) dst[k * MR + r] = A(0);
      }
    }
  }
  for (int64_t jr = 0; jr < nj; jr += NR) {
    const A *bp = bpack + ((j0 + jr) / NR) * K * NR;
    const int nr = static_cast<int>(std::min<int64_t>(NR, nj - jr));
    for (int64_t pnl = 0; pnl < npan; ++pnl) {
      const A *ap = apack + pnl * K * MR;
      A acc[MR][NR] = {};
      for (int64_t k = 0; k < K; ++k) {
        const A *bk = bp + k * NR;
        const A *ak = ap + k * MR;
        for (int r = 0; r < MR; ++r)
          for (int c = 0; c < NR; ++c) acc[r][c] += ak[r] * bk[c];
      }
      const int mr = static_cast<int>(std::min<int64_t>(MR, mi - pnl * MR));
      for (int r = 0; r < mr; ++r) {
        T *orow = out + (i0 + pnl * MR + r) * g.N + j0 + jr;
        for (int c = 0; c < nr; ++c) {
          if constexpr (Tr<T>::is_int)
            orow[c] = wrap<T>(acc[r][c]);
          else
            orow[c] = from_double<T>(acc[r][c]);
        }
      }
    }
  }
}

template <class T>
void mm_item_generic(const MmArgs &g, int64_t i0, int64_t mi, int64_t j0, int64_t nj, MAcc<T> *apack) {
  mm_item_impl<T, 4, 4>(g, i0, mi, j0, nj, apack);
}

__attribute__((target("avx2,fma"))) void mm_item_f64_avx2(const MmArgs &g, int64_t i0, int64_t mi, int64_t j0,
                                                            int64_t nj, double *apack) {
  mm_item_impl<double, 4, 8>(g, i0, mi, j0, nj, apack);
}

template <class T>
void matmul_t(const View &out, const View &a, const View &b) {
  using A = MAcc<T>;
  const int64_t B = out.shape[0], M = out.shape[1], N = out.shape[2], K = a.shape[2];
  const int64_t sab = a.shape[0] > 1 ? a.strides[0] : 0, sam = a.strides[1], sak = a.strides[2];
  const int64_t sbb = b.shape[0] > 1 ? b.strides[0] : 0, sbk = b.strides[1], sbn = b.strides[2];
  const T *ap = static_cast<const T *>(a.data);
  const T *bp = static_cast<const T *>(b.data);
  T *op = static_cast<T *>(out.data);

  using Item = void (*)(const MmArgs &, int64_t, int64_t, int64_t, int64_t, A *);
  Item item = &mm_item_generic<T>;
  int NR = 4, MR = 4;
  if constexpr (std::is_same_v<T, double>) {
    if (cpu_has_avx2_fma()) {
      item = &mm_item_f64_avx2;
      NR = 8;
    }
  }
  const int64_t npanels = (N + NR - 1) / NR;
  A *bpack = static_cast<A *>(scratch(kScratchLoops, static_cast<size_t>(npanels * NR * K) * sizeof(A)));
  const int64_t mblk = (M + kMC - 1) / kMC, nblk = (N + kNC - 1) / kNC;
  const int64_t items = mblk * nblk;
  const int nthr = M * N * K >= (1 << 15) ? num_threads() : 1;
  const size_t apack_bytes = static_cast<size_t>(((kMC + MR - 1) / MR) * MR * K) * sizeof(A);

  const T *last_b = nullptr;
  for (int64_t bi = 0; bi < B; ++bi) {
    const T *bm = bp + bi * sbb;
    if (bm != last_b) {  // pack B as panels [N/NR][K][NR], zero-padded
#pragma omp parallel for num_threads(nthr) schedule(static) if (nthr > 1)
      for (int64_t pnl = 0; pnl < npanels; ++pnl) {
        A *dst = bpack + pnl * K * NR;
        for (int64_t k = 0; k < K; ++k)
          for (int c = 0; c < NR; ++c) {
            const int64_t j = pnl * NR + c;
            dst[k * NR + c] = j < N ? macc_load(bm[k * sbk + j * sbn]) : A(0);
          }
      }
      last_b = bm;
    }
    const MmArgs g{ap + bi * sab, sam, sak, bpack, op + bi * M * N, M, N, K};
    if (nthr <= 1 || items == 1) {
      A *apack = static_cast<A *>(scratch(kScratchPackA, apack_bytes));
      for (int64_t it = 0; it < items; ++it) {
        const int64_t i0 = (it / nblk) * kMC, j0 = (it % nblk) * kNC;
        item(g, i0, std::min(kMC, M - i0), j0, std::min(kNC, N - j0), apack);
      }
      continue;
    }
    // One A-panel buffer per thread, taken here: nothing may throw inside the region.
    const size_t stride = (apack_bytes + 63) & ~static_cast<size_t>(63);
    char *apacks = static_cast<char *>(scratch(kScratchPackA, stride * static_cast<size_t>(nthr)));
#pragma omp parallel num_threads(nthr)
    {
      A *apack = reinterpret_cast<A *>(apacks + stride * static_cast<size_t>(omp_get_thread_num()));
#pragma omp for schedule(dynamic, 1)
      for (int64_t it = 0; it < items; ++it) {
        const int64_t i0 = (it / nblk) * kMC, j0 = (it % nblk) * kNC;
        item(g, i0, std::min(kMC, M - i0), j0, std::min(kNC, N - j0), apack);
      }
    }
  }
}

}  // namespace

void loop_copy(const View &dst, const View &src) {
  dispatch(dst.dtype, [&](auto dtag) {
    using D = typename decltype(dtag)::type;
    dispatch(src.dtype, [&](auto stag) {
      using S = typename decltype(stag)::type;
      map1<D, S>(dst, src, [](S s) { return convert<D, S>(s); });
    });
  });
}

void loop_fill(const View &dst, double value) {
  dispatch(dst.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T v = from_double<T>(value);
    for_each2(dst, dst, [&](char *const *p, const int64_t *s, int64_t n) {
      T *o = reinterpret_cast<T *>(p[0]);
      if (s[0] == 1) {
        for (int64_t i = 0; i < n; ++i) o[i] = v;
      } else {
        for (int64_t i = 0; i < n; ++i) o[i * s[0]] = v;
      }
    });
  });
}

void loop_unary(UnaryOp op, const View &out, const View &x) {
  dispatch(x.dtype, [&](auto tag) { unary_dispatch<typename decltype(tag)::type>(op, out, x); });
}

void loop_binary(BinaryOp op, const View &out, const View &a, const View &b) {
  dispatch(out.dtype, [&](auto tag) { binary_dispatch<typename decltype(tag)::type>(op, out, a, b); });
}

void loop_reduce(ReduceOp op, const View &out, const View &x) {
  dispatch(x.dtype, [&](auto tag) { reduce_dispatch<typename decltype(tag)::type>(op, out, x); });
}

void loop_matmul(const View &out, const View &a, const View &b) {
  dispatch(out.dtype, [&](auto tag) { matmul_t<typename decltype(tag)::type>(out, a, b); });
}

bool any_nan(const View &x) {
  const int64_t n = x.numel();
  const int nthr = n >= kParallelMin ? num_threads() : 1;
  int found = 0;
  switch (x.dtype) {
    case DType::F32:
    case DType::F64:
    case DType::F16:
    case DType::BF16: break;
    default: return false;
  }
#pragma omp parallel for num_threads(nthr) schedule(static) reduction(| : found) if (nthr > 1)
  for (int64_t b = 0; b < n; b += 4096) {
    const int64_t e = std::min(n, b + 4096);
    int f = 0;
    if (x.dtype == DType::F32) {
      const float *p = static_cast<const float *>(x.data);
      for (int64_t i = b; i < e; ++i) f |= p[i] != p[i];
    } else if (x.dtype == DType::F64) {
      const double *p = static_cast<const double *>(x.data);
      for (int64_t i = b; i < e; ++i) f |= p[i] != p[i];
    } else {
      const uint16_t *p = static_cast<const uint16_t *>(x.data);
      const uint16_t inf = x.dtype == DType::F16 ? 0x7c00u : 0x7f80u;
      for (int64_t i = b; i < e; ++i) f |= (p[i] & 0x7fffu) > inf;
    }
    found |= f;
  }
  return found != 0;
}

}  // namespace cpu
}  // namespace nn
