#include "core/shape.hpp"

#include "core/error.hpp"

namespace nn {

Shape::Shape(std::initializer_list<int64_t> dims) {
  for (int64_t v : dims) d[ndim++] = v;
}

Shape Shape::of(int n, const int64_t *dims) {
  Shape s;
  s.ndim = n;
  for (int i = 0; i < n; ++i) s.d[i] = dims[i];
  return s;
}

bool Shape::operator==(const Shape &o) const {
  if (ndim != o.ndim) return false;
  for (int i = 0; i < ndim; ++i)
    if (d[i] != o.d[i]) return false;
  return true;
}

std::string Shape::str() const {
  std::string s = "[";
  for (int i = 0; i < ndim; ++i) {
    if (i) s += ", ";
    s += std::to_string(d[i]);
  }
  return s + "]";
}

Shape contiguous_strides(const Shape &shape) {
  Shape st;
  st.ndim = shape.ndim;
  int64_t acc = 1;
  for (int i = shape.ndim - 1; i >= 0; --i) {
    st.d[i] = acc;
    // Only an empty tensor's dims can overflow here (checked_shape bounds the
    // rest); its strides are never used to address memory, so saturate.
    if (__builtin_mul_overflow(acc, shape.d[i] > 0 ? shape.d[i] : 1, &acc)) acc = INT64_MAX;
  }
  return st;
}

Shape broadcast_shapes(const Shape &a, const Shape &b, const char *what) {
  Shape out;
  out.ndim = a.ndim > b.ndim ? a.ndim : b.ndim;
  for (int i = 0; i < out.ndim; ++i) {
    int ia = a.ndim - out.ndim + i, ib = b.ndim - out.ndim + i;
    int64_t da = ia >= 0 ? a.d[ia] : 1, db = ib >= 0 ? b.d[ib] : 1;
    if (da == db || db == 1) {
      out.d[i] = da;
    } else if (da == 1) {
      out.d[i] = db;
    } else {
      fail(Errc::Shape, "%s: cannot broadcast a %s with b %s (dim %d: %lld vs %lld)", what,
           a.str().c_str(), b.str().c_str(), i - out.ndim, static_cast<long long>(da),
           static_cast<long long>(db));
    }
  }
  return out;
}

Shape broadcast_strides(const Shape &from, const Shape &strides, const Shape &to) {
  Shape st;
  st.ndim = to.ndim;
  for (int i = 0; i < to.ndim; ++i) {
    int j = from.ndim - to.ndim + i;
    st.d[i] = (j < 0 || from.d[j] == 1) ? 0 : strides.d[j];
  }
  return st;
}

Shape checked_shape(int ndim, const int64_t *dims, size_t elem_size, const char *what) {
  if (ndim < 0 || ndim > kMaxDims)
    fail(Errc::InvalidArgument, "%s: ndim is %d; it must be 0..%d", what, ndim, kMaxDims);
  if (ndim > 0 && dims == nullptr) fail(Errc::InvalidArgument, "%s: shape is NULL with ndim %d", what, ndim);
  Shape s = Shape::of(ndim, dims);
  for (int i = 0; i < ndim; ++i)
    if (dims[i] < 0)
      fail(Errc::InvalidArgument, "%s: shape[%d] is %lld; dimensions must be >= 0", what, i,
           static_cast<long long>(dims[i]));
  check_shape_fits(s, elem_size, what);
  return s;
}

bool shape_fits(const Shape &s, size_t elem_size) {
  int64_t n = static_cast<int64_t>(elem_size > 0 ? elem_size : 1);
  if (elem_size > static_cast<size_t>(INT64_MAX)) return false;
  for (int i = 0; i < s.ndim; ++i) {
    if (s.d[i] < 0) return false;
    if (s.d[i] > 0 && __builtin_mul_overflow(n, s.d[i], &n)) return false;
  }
  return true;
}

void check_shape_fits(const Shape &s, size_t elem_size, const char *what) {
  if (!shape_fits(s, elem_size))
    fail(Errc::InvalidArgument,
         "%s: shape %s has too many elements (the product of its non-zero dimensions times %zu bytes overflows "
         "int64)",
         what, s.str().c_str(), elem_size);
}

int normalize_dim(int dim, int ndim, const char *what) {
  int lo = ndim == 0 ? -1 : -ndim, hi = ndim == 0 ? 0 : ndim - 1;
  if (dim < lo || dim > hi)
    fail(Errc::InvalidArgument, "%s: dim %d is out of range for a tensor of rank %d (expected %d..%d)", what,
         dim, ndim, lo, hi);
  return dim < 0 ? dim + (ndim == 0 ? 1 : ndim) : dim;
}

}  // namespace nn
