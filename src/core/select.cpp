// slice / index_select / concat (see select.hpp).
#include "core/select.hpp"

#include <cstring>
#include <vector>

#include "core/ops.hpp"

namespace nn {

namespace {

int dim_of(const Tensor &t, int dim, const char *what, const char *name) {
  if (t.ndim() == 0) fail(Errc::Shape, "%s: %s is 0-dim; it needs at least one dimension", what, name);
  return normalize_dim(dim, t.ndim(), what);
}

// Python's slice bound: negative counts from the end, then clamped to [0, size].
int64_t clamp_bound(int64_t v, int64_t size) {
  if (v < 0) v = v < -size ? 0 : v + size;  // -size <= v < 0 cannot overflow
  return v > size ? size : v;
}

// The one-element-wide view of t at position i of dim.
Tensor at(const Tensor &t, int dim, int64_t i) {
  Shape s = t.shape();
  s.d[dim] = 1;
  return t.as_strided(s, t.strides(), t.offset() + i * t.strides().d[dim]);
}

}  // namespace

Tensor slice(const Tensor &t, int dim, int64_t start, int64_t end, const char *what) {
  int d = dim_of(t, dim, what, "t");
  const int64_t size = t.dim(d);
  int64_t b = clamp_bound(start, size), e = clamp_bound(end, size);
  if (e < b) e = b;
  Shape s = t.shape();
  s.d[d] = e - b;
  // b <= size and the storage holds element (size - 1) * stride: in range.
  const int64_t off = e > b ? t.offset() + b * t.strides().d[d] : t.offset();
  return t.as_strided(s, t.strides(), off);
}

Tensor index_select(const Tensor &t, int dim, const Tensor &index, const char *what) {
  int d = dim_of(t, dim, what, "t");
  if (index.ndim() != 1)
    fail(Errc::Shape, "%s: index must be 1-D; got %s", what, index.shape().str().c_str());
  const DType idt = index.dtype();
  if (idt != DType::I64 && idt != DType::I32 && idt != DType::I16 && idt != DType::U8)
    fail(Errc::DType, "%s: index has dtype %s; it must be an integer dtype", what, dtype_name(idt));
  check_same_device(t, index, what);
  const int64_t k = index.numel(), size = t.dim(d);
  std::vector<int64_t> idx(static_cast<size_t>(k));
  if (k > 0) to_host(idt == DType::I64 ? index : to_dtype(index, DType::I64), idx.data());
  for (int64_t i = 0; i < k; ++i) {
    int64_t v = idx[static_cast<size_t>(i)];
    if (v < -size || v >= size)
      fail(Errc::InvalidArgument, "%s: index[%lld] is %lld, out of range for dim %d of size %lld", what,
           static_cast<long long>(i), static_cast<long long>(v), d, static_cast<long long>(size));
    if (v < 0) idx[static_cast<size_t>(i)] = v + size;
  }
  Shape s = t.shape();
  s.d[d] = k;  // k <= what index holds in memory; numel of s <= numel(t) * k / size... checked below
  int64_t n = 1;
  bool empty = false, overflow = false;
  for (int i = 0; i < s.ndim; ++i) {
    empty |= s.d[i] == 0;
    overflow |= __builtin_mul_overflow(n, s.d[i], &n);
  }
  int64_t bytes;
  if (!empty && (overflow || __builtin_mul_overflow(n, static_cast<int64_t>(dtype_size(t.dtype())), &bytes)))
    fail(Errc::InvalidArgument, "%s: the result %s has too many elements", what, s.str().c_str());
  Tensor out = Tensor::empty(t.dtype(), s, t.device());
  if (out.numel() == 0) return out;
  if (t.device().type == DeviceType::CPU && t.is_contiguous()) {
    // Host fast path: blocks of `inner` bytes, `outer` times.
    int64_t outer = 1, inner = static_cast<int64_t>(dtype_size(t.dtype()));
    for (int i = 0; i < d; ++i) outer *= t.dim(i);
    for (int i = d + 1; i < t.ndim(); ++i) inner *= t.dim(i);
    const char *src = static_cast<const char *>(t.data());
    char *dst = static_cast<char *>(out.data());
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < k; ++j) {
        std::memcpy(dst, src + (o * size + idx[static_cast<size_t>(j)]) * inner, static_cast<size_t>(inner));
        dst += inner;
      }
    return out;
  }
  for (int64_t j = 0; j < k; ++j) copy_into(at(out, d, j), at(t, d, idx[static_cast<size_t>(j)]), what);
  return out;
}

Tensor concat(int n, const Tensor *const *ts, int dim, const char *what) {
  if (n < 1) fail(Errc::InvalidArgument, "%s: n is %d; it must be >= 1", what, n);
  const Tensor &first = *ts[0];
  int d = dim_of(first, dim, what, "ts[0]");
  DType dt = first.dtype();
  int64_t total = 0;
  for (int i = 0; i < n; ++i) {
    const Tensor &t = *ts[i];
    if (t.ndim() != first.ndim())
      fail(Errc::Shape, "%s: ts[%d] %s has rank %d but ts[0] %s has rank %d", what, i, t.shape().str().c_str(),
           t.ndim(), first.shape().str().c_str(), first.ndim());
    for (int j = 0; j < t.ndim(); ++j)
      if (j != d && t.dim(j) != first.dim(j))
        fail(Errc::Shape, "%s: ts[%d] %s does not match ts[0] %s outside dim %d", what, i, t.shape().str().c_str(),
             first.shape().str().c_str(), d);
    if (i > 0) check_same_device(first, t, what);
    dt = promote_types(dt, t.dtype());
    if (__builtin_add_overflow(total, t.dim(d), &total))
      fail(Errc::InvalidArgument, "%s: the joined size along dim %d overflows int64", what, d);
  }
  Shape s = first.shape();
  s.d[d] = total;
  int64_t count = 1;
  bool empty = false, overflow = false;
  for (int i = 0; i < s.ndim; ++i) {
    empty |= s.d[i] == 0;
    overflow |= __builtin_mul_overflow(count, s.d[i], &count);
  }
  int64_t bytes;
  if (!empty && (overflow || __builtin_mul_overflow(count, static_cast<int64_t>(dtype_size(dt)), &bytes)))
    fail(Errc::InvalidArgument, "%s: the result %s has too many elements", what, s.str().c_str());
  Tensor out = Tensor::empty(dt, s, first.device());
  int64_t pos = 0;
  for (int i = 0; i < n; ++i) {
    const Tensor &t = *ts[i];
    const int64_t w = t.dim(d);
    if (w > 0 && t.numel() > 0) copy_into(slice(out, d, pos, pos + w, what), t, what);
    pos += w;
  }
  return out;
}

}  // namespace nn
