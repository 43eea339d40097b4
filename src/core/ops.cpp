#include "core/ops.hpp"

#include <cmath>
#include <cstring>
#include <vector>

namespace nn {

// ---------------------------------------------------------------- devices

void check_device(Device dev, const char *what) {
  try {
    kernels_for(dev);
  } catch (const Error &e) {
    fail(e.code(), "%s: %s", what, e.what());
  }
}

void check_same_device(const Tensor &a, const Tensor &b, const char *what) {
  if (a.device() != b.device())
    fail(Errc::Device, "%s: operands are on different devices (%s and %s)", what, a.device().str().c_str(),
         b.device().str().c_str());
}

// ---------------------------------------------------------------- creation

Tensor zeros(DType dt, const Shape &shape, Device dev) { return Tensor::zeros(dt, shape, dev); }

Tensor full(DType dt, const Shape &shape, double value, Device dev) {
  Tensor t = Tensor::empty(dt, shape, dev);
  if (t.numel() > 0) t.kernels().fill(t.view(), value);
  return t;
}

Tensor from_host(DType dt, const Shape &shape, const void *data, Device dev) {
  Tensor t = Tensor::empty(dt, shape, dev);
  const size_t bytes = t.nbytes();
  if (bytes == 0) return t;
  if (dev.type == DeviceType::CPU)
    std::memcpy(t.data(), data, bytes);  // CpuBackend::copy_from_host, without the virtual call
  else
    t.kernels().copy_from_host(t.data(), data, bytes);
  return t;
}

// A host float64 buffer turned into a tensor of dtype dt on dev.
static Tensor from_f64(const std::vector<double> &v, DType dt, const Shape &shape, Device dev) {
  Tensor host = from_host(DType::F64, shape, v.data(), Device{});
  return dt == DType::F64 && dev == Device{} ? host : to_device(to_dtype(host, dt), dev);
}

Tensor arange(double start, double end, double step, DType dt, Device dev, const char *what) {
  if (!std::isfinite(start) || !std::isfinite(end) || !std::isfinite(step))
    fail(Errc::InvalidArgument, "%s: start, end and step must be finite (got %g, %g, %g)", what, start, end, step);
  if (step == 0) fail(Errc::InvalidArgument, "%s: step must be nonzero", what);
  if ((end - start) * step < 0)
    fail(Errc::InvalidArgument, "%s: step %g goes away from end (start %g, end %g)", what, step, start, end);
  check_device(dev, what);
  double count = std::ceil((end - start) / step);
  if (!(count < 1e12)) fail(Errc::InvalidArgument, "%s: %g elements are too many", what, count);
  int64_t n = static_cast<int64_t>(count);
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = start + static_cast<double>(i) * step;
  return from_f64(v, dt, Shape{n}, dev);
}

static void check_random_args(DType dt, const char *what) {
  if (!is_floating(dt))
    fail(Errc::DType, "%s: random tensors need a floating dtype, got %s", what, dtype_name(dt));
}

Tensor rand_uniform(DType dt, const Shape &shape, double low, double high, uint64_t seed, Device dev,
                    const char *what) {
  check_random_args(dt, what);
  if (!std::isfinite(low) || !std::isfinite(high) || !(low < high))
    fail(Errc::InvalidArgument, "%s: need finite low < high (got low %g, high %g)", what, low, high);
  check_device(dev, what);
  std::vector<double> v(static_cast<size_t>(shape.numel()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = low + (high - low) * uniform01(seed, i);
  return from_f64(v, dt, shape, dev);
}

Tensor rand_normal(DType dt, const Shape &shape, double mean, double std, uint64_t seed, Device dev,
                   const char *what) {
  check_random_args(dt, what);
  if (!std::isfinite(mean) || !std::isfinite(std) || std < 0)
    fail(Errc::InvalidArgument, "%s: need finite mean and std >= 0 (got mean %g, std %g)", what, mean, std);
  check_device(dev, what);
  std::vector<double> v(static_cast<size_t>(shape.numel()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = mean + std * normal01(seed, i);
  return from_f64(v, dt, shape, dev);
}

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

static uint64_t random_bits(uint64_t seed, uint64_t i) {
  return splitmix64(splitmix64(seed) ^ splitmix64(i * 0xd1b54a32d192ed03ull + 0x8cb92ba72f3d8dd7ull));
}

double uniform01(uint64_t seed, uint64_t i) {
  return static_cast<double>(random_bits(seed, i) >> 11) * (1.0 / 9007199254740992.0);
}

double normal01(uint64_t seed, uint64_t i) {
  // Box-Muller on two independent streams of the same counter.
  double u1 = (static_cast<double>(random_bits(seed, 2 * i) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
  double u2 = uniform01(seed, 2 * i + 1);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

// ---------------------------------------------------------------- transfers

void to_host(const Tensor &t, void *dst) {
  if (t.numel() == 0) return;
  if (t.is_contiguous()) {  // no contiguous() copy of the handle (two atomic refcount ops)
    TensorKernels &b = t.kernels();
    if (b.device().type == DeviceType::CPU)
      std::memcpy(dst, t.data(), t.nbytes());
    else
      b.copy_to_host(dst, t.data(), t.nbytes());
    return;
  }
  Tensor c = t.contiguous();
  c.kernels().copy_to_host(dst, c.data(), c.nbytes());
}

void write_from_host(const Tensor &t, const void *src) {
  if (t.numel() == 0) return;
  if (t.is_contiguous()) {
    t.kernels().copy_from_host(t.data(), src, t.nbytes());
    return;
  }
  Tensor tmp = from_host(t.dtype(), t.shape(), src, t.device());
  t.kernels().copy(t.view(), tmp.view());
}

Tensor to_device(const Tensor &t, Device dev) {
  if (dev == t.device()) return clone(t);
  Tensor out = Tensor::empty(t.dtype(), t.shape(), dev);
  if (t.numel() == 0) return out;
  std::vector<char> host(t.nbytes());
  to_host(t, host.data());
  out.kernels().copy_from_host(out.data(), host.data(), out.nbytes());
  return out;
}

Tensor to_dtype(const Tensor &t, DType dt) {
  Tensor out = Tensor::empty(dt, t.shape(), t.device());
  if (t.numel() > 0) t.kernels().copy(out.view(), t.view());
  return out;
}

Tensor clone(const Tensor &t) { return to_dtype(t, t.dtype()); }

void copy_into(const Tensor &dst, const Tensor &src, const char *what) {
  if (dst.shape() != src.shape())
    fail(Errc::Shape, "%s: destination shape %s differs from source shape %s", what, dst.shape().str().c_str(),
         src.shape().str().c_str());
  check_same_device(dst, src, what);
  if (dst.numel() > 0) dst.kernels().copy(dst.view(), src.view());
}

// ---------------------------------------------------------------- views

Tensor reshape(const Tensor &t, int ndim, const int64_t *dims, const char *what) {
  if (ndim < 0 || ndim > kMaxDims)
    fail(Errc::InvalidArgument, "%s: ndim is %d; it must be 0..%d", what, ndim, kMaxDims);
  if (ndim > 0 && dims == nullptr) fail(Errc::InvalidArgument, "%s: shape is NULL with ndim %d", what, ndim);
  Shape s = Shape::of(ndim, dims);
  int infer = -1;
  int64_t known = 1;
  for (int i = 0; i < ndim; ++i) {
    if (s.d[i] == -1) {
      if (infer >= 0) fail(Errc::InvalidArgument, "%s: only one dimension can be -1 (shape %s)", what, s.str().c_str());
      infer = i;
    } else if (s.d[i] < 0) {
      fail(Errc::InvalidArgument, "%s: shape[%d] is %lld; dimensions must be >= 0 or -1", what, i,
           static_cast<long long>(s.d[i]));
    } else {
      if (s.d[i] != 0 && known > INT64_MAX / s.d[i])
        fail(Errc::InvalidArgument, "%s: shape %s has too many elements", what, s.str().c_str());
      known *= s.d[i];
    }
  }
  int64_t n = t.numel();
  if (infer >= 0) {
    if (known == 0 || n % known != 0)
      fail(Errc::Shape, "%s: shape %s is invalid for a tensor of shape %s (%lld elements)", what, s.str().c_str(),
           t.shape().str().c_str(), static_cast<long long>(n));
    s.d[infer] = n / known;
  } else if (known != n) {
    fail(Errc::Shape, "%s: shape %s is invalid for a tensor of shape %s (%lld elements)", what, s.str().c_str(),
         t.shape().str().c_str(), static_cast<long long>(n));
  }
  check_shape_fits(s, dtype_size(t.dtype()), what);  // the rule of every tensor, for a view too
  Tensor src = t.contiguous();
  return src.as_strided(s, contiguous_strides(s), src.offset());
}

Tensor transpose(const Tensor &t, int dim0, int dim1, const char *what) {
  int n = t.ndim();
  int d0 = normalize_dim(dim0, n, what), d1 = normalize_dim(dim1, n, what);
  if (n == 0) return t.as_strided(t.shape(), t.strides(), t.offset());
  Shape s = t.shape(), st = t.strides();
  std::swap(s.d[d0], s.d[d1]);
  std::swap(st.d[d0], st.d[d1]);
  return t.as_strided(s, st, t.offset());
}

// ---------------------------------------------------------------- math

static bool float_result_op(UnaryOp op) {
  return op == UnaryOp::Exp || op == UnaryOp::Log || op == UnaryOp::Sqrt || op == UnaryOp::Sigmoid ||
         op == UnaryOp::Tanh;
}

Tensor unary(UnaryOp op, const Tensor &x, const char *what) {
  Tensor in = x;
  if (!is_floating(x.dtype()) && (float_result_op(op) || op == UnaryOp::LeakyRelu)) in = to_dtype(x, DType::F32);
  Tensor out = Tensor::empty(in.dtype(), in.shape(), in.device());
  if (out.numel() > 0) in.kernels().unary(op, out.view(), in.view());
  return out;
}

// Runs out = a op b for a, b already of out's dtype, broadcasting to out.shape.
static void binary_into(BinaryOp op, const Tensor &out, const Tensor &a, const Tensor &b) {
  if (out.numel() == 0) return;
  View va = a.view(), vb = b.view();
  va.strides = broadcast_strides(a.shape(), a.strides(), out.shape());
  vb.strides = broadcast_strides(b.shape(), b.strides(), out.shape());
  va.shape = vb.shape = out.shape();
  out.kernels().binary(op, out.view(), va, vb);
}

Tensor binary(BinaryOp op, const Tensor &a, const Tensor &b, const char *what) {
  check_same_device(a, b, what);
  Shape shape = broadcast_shapes(a.shape(), b.shape(), what);
  DType dt = result_type(a.dtype(), a.ndim(), b.dtype(), b.ndim());
  if (op == BinaryOp::Div && !is_floating(dt)) dt = DType::F32;
  Tensor ca = a.dtype() == dt ? a : to_dtype(a, dt);
  Tensor cb = b.dtype() == dt ? b : to_dtype(b, dt);
  Tensor out = Tensor::empty(dt, shape, a.device());
  binary_into(op, out, ca, cb);
  return out;
}

Tensor binary_scalar(BinaryOp op, const Tensor &a, double b, const char *what) {
  // A Python int: integral and inside int64 (what an int scalar can be in
  // PyTorch); 1e19 is a float there, so I64 [1] + 1e19 gives F32, not a wrap.
  const bool integral = std::isfinite(b) && b == std::floor(b) && b >= -9223372036854775808.0 &&
                        b < 9223372036854775808.0;
  DType dt = a.dtype();
  if (!is_floating(dt) && (!integral || op == BinaryOp::Div)) dt = DType::F32;
  Tensor ca = a.dtype() == dt ? a : to_dtype(a, dt);
  Tensor cb = full(dt, Shape{}, b, a.device());
  Tensor out = Tensor::empty(dt, a.shape(), a.device());
  binary_into(op, out, ca, cb);
  return out;
}

Tensor reduce(ReduceOp op, const Tensor &x, int dim, bool keepdim, const char *what) {
  DType in_dt = x.dtype(), out_dt = x.dtype();
  if (op == ReduceOp::Mean && !is_floating(in_dt))
    fail(Errc::DType, "%s: MEAN needs a floating dtype, got %s (convert first)", what, dtype_name(in_dt));
  if (op == ReduceOp::Sum && !is_floating(in_dt)) in_dt = out_dt = DType::I64;
  if (op == ReduceOp::Argmax) out_dt = DType::I64;

  const Shape &s = x.shape();
  int64_t outer = 1, n = 1, inner = 1;
  Shape out_shape;
  if (dim == kAllDims) {
    n = s.numel();
    out_shape.ndim = keepdim ? s.ndim : 0;
    for (int i = 0; i < out_shape.ndim; ++i) out_shape.d[i] = 1;
  } else {
    int d = normalize_dim(dim, s.ndim, what);
    for (int i = 0; i < s.ndim; ++i) {
      if (i < d) outer *= s.d[i];
      else if (i == d) n = s.d[i];
      else inner *= s.d[i];
    }
    for (int i = 0; i < s.ndim; ++i) {
      if (i == d) {
        if (keepdim) out_shape.d[out_shape.ndim++] = 1;
      } else {
        out_shape.d[out_shape.ndim++] = s.d[i];
      }
    }
  }
  if (n == 0 && (op == ReduceOp::Max || op == ReduceOp::Min || op == ReduceOp::Argmax) && outer * inner > 0)
    fail(Errc::Shape, "%s: cannot take MAX/MIN/ARGMAX over an empty dimension (shape %s, dim %d)", what,
         s.str().c_str(), dim);
  Tensor in = (x.dtype() == in_dt ? x : to_dtype(x, in_dt)).contiguous();
  Tensor out = Tensor::empty(out_dt, out_shape, x.device());
  if (out.numel() == 0) return out;
  View vin = in.view(), vout = out.view();
  vin.shape = Shape{outer, n, inner};
  vin.strides = contiguous_strides(vin.shape);
  vout.shape = Shape{outer, inner};
  vout.strides = contiguous_strides(vout.shape);
  x.kernels().reduce(op, vout, vin);
  return out;
}

// Collapses the batch dims [0, nb) of t (shape/strides already broadcast) into
// one dim when their strides allow it; returns false when they do not.
static bool flatten_batch(const Shape &shape, const Shape &strides, int nb, int64_t *stride) {
  int64_t inner = 0, expect = -1;  // expect: the stride the next outer non-1 dim must have
  for (int i = nb - 1; i >= 0; --i) {
    if (shape.d[i] == 1) continue;
    if (expect >= 0 && strides.d[i] != expect) return false;
    if (expect < 0) inner = strides.d[i];
    expect = strides.d[i] * shape.d[i];
  }
  *stride = inner;
  return true;
}

Tensor matmul(const Tensor &a, const Tensor &b, const char *what) {
  check_same_device(a, b, what);
  if (a.ndim() == 0 || b.ndim() == 0)
    fail(Errc::Shape, "%s: both operands need at least 1 dimension (got shapes %s and %s)", what,
         a.shape().str().c_str(), b.shape().str().c_str());
  DType dt = result_type(a.dtype(), a.ndim(), b.dtype(), b.ndim());
  Tensor ca = a.dtype() == dt ? a : to_dtype(a, dt);
  Tensor cb = b.dtype() == dt ? b : to_dtype(b, dt);

  // Views as [..., M, K] and [..., K, N].
  bool a_vec = a.ndim() == 1, b_vec = b.ndim() == 1;
  Shape as = ca.shape(), ast = ca.strides(), bs = cb.shape(), bst = cb.strides();
  if (a_vec) {
    as = Shape{1, as.d[0]};
    ast = Shape{0, ast.d[0]};
  }
  if (b_vec) {
    bs = Shape{bs.d[0], 1};
    bst = Shape{bst.d[0], 0};
  }
  int64_t M = as.d[as.ndim - 2], K = as.d[as.ndim - 1], K2 = bs.d[bs.ndim - 2], N = bs.d[bs.ndim - 1];
  if (K != K2)
    fail(Errc::Shape, "%s: shapes %s and %s cannot be multiplied (%lld vs %lld)", what, a.shape().str().c_str(),
         b.shape().str().c_str(), static_cast<long long>(K), static_cast<long long>(K2));
  Shape abatch = Shape::of(as.ndim - 2, as.d), bbatch = Shape::of(bs.ndim - 2, bs.d);
  Shape batch;
  try {
    batch = broadcast_shapes(abatch, bbatch, what);
  } catch (const Error &) {
    fail(Errc::Shape, "%s: the batch dims of shapes %s and %s cannot be broadcast (%s vs %s)", what,
         a.shape().str().c_str(), b.shape().str().c_str(), abatch.str().c_str(), bbatch.str().c_str());
  }
  int nb = batch.ndim;
  // Full broadcast shapes and strides of both operands.
  auto expand = [&](const Shape &s, const Shape &st, int64_t r, int64_t c, Shape *fs, Shape *fst) {
    Shape sb = Shape::of(s.ndim - 2, s.d), stb = Shape::of(st.ndim - 2, st.d);
    Shape bstr = broadcast_strides(sb, stb, batch);
    fs->ndim = fst->ndim = nb + 2;
    for (int i = 0; i < nb; ++i) {
      fs->d[i] = batch.d[i];
      fst->d[i] = bstr.d[i];
    }
    fs->d[nb] = r;
    fs->d[nb + 1] = c;
    fst->d[nb] = st.d[st.ndim - 2];
    fst->d[nb + 1] = st.d[st.ndim - 1];
  };
  Shape fas, fast, fbs, fbst;
  expand(as, ast, M, K, &fas, &fast);
  expand(bs, bst, K, N, &fbs, &fbst);
  int64_t B = batch.numel();

  auto batched_view = [&](Tensor &t, const Shape &fs, Shape fst, int64_t r, int64_t c) {
    int64_t bstride = 0;
    if (!flatten_batch(fs, fst, nb, &bstride)) {  // materialise the broadcast
      Tensor full_t = Tensor::empty(dt, fs, t.device());
      View src = t.view();
      src.shape = fs;
      src.strides = fst;
      if (full_t.numel() > 0) t.kernels().copy(full_t.view(), src);
      t = full_t;
      fst = full_t.strides();
      bstride = r * c;
    }
    View v = t.view();
    v.shape = Shape{B, r, c};
    v.strides = Shape{bstride, fst.d[nb], fst.d[nb + 1]};
    return v;
  };
  View va = batched_view(ca, fas, fast, M, K);
  View vb = batched_view(cb, fbs, fbst, K, N);

  Shape out_shape = batch;
  if (!a_vec) out_shape.d[out_shape.ndim++] = M;
  if (!b_vec) out_shape.d[out_shape.ndim++] = N;
  Tensor out = Tensor::empty(dt, out_shape, a.device());
  if (out.numel() == 0) return out;
  View vo = out.view();
  vo.shape = Shape{B, M, N};
  vo.strides = contiguous_strides(vo.shape);
  out.kernels().matmul(vo, va, vb);
  return out;
}

}  // namespace nn
