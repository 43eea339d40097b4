// Fixed-capacity shapes and strides (no allocation), broadcasting.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>

namespace nn {

constexpr int kMaxDims = 8;

struct Shape {
  int ndim = 0;
  int64_t d[kMaxDims] = {};

  Shape() = default;
  Shape(std::initializer_list<int64_t> dims);
  static Shape of(int ndim, const int64_t *dims);  // unchecked copy

  int64_t &operator[](int i) { return d[i]; }
  int64_t operator[](int i) const { return d[i]; }
  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < ndim; ++i) n *= d[i];
    return n;
  }
  bool operator==(const Shape &o) const;
  bool operator!=(const Shape &o) const { return !(*this == o); }
  std::string str() const;  // "[2, 3]", "[]" for 0-dim
};

// Row-major strides in elements.
Shape contiguous_strides(const Shape &shape);

// NumPy broadcasting of two shapes; throws Errc::Shape naming both
// ("<what>: cannot broadcast a [2, 3] with b [4] ...").
Shape broadcast_shapes(const Shape &a, const Shape &b, const char *what);

// Strides that read a tensor of shape `from` (with strides `strides`) as the
// broadcast shape `to`: leading and size-1 broadcast dims get stride 0.
Shape broadcast_strides(const Shape &from, const Shape &strides, const Shape &to);

// The one size rule for every shape a tensor may have (constructors, views,
// op results, layers, loaded files): the product of its non-zero dimensions
// times elem_size fits int64_t. It holds for empty shapes too, so that no
// view, reduction or product of a valid tensor can reach an element count or
// byte size that overflows (numel() and nbytes() are then exact).
bool shape_fits(const Shape &s, size_t elem_size);
// Throws Errc::InvalidArgument "<what>: shape [..] has too many elements
// (... overflows int64 bytes)" unless shape_fits.
void check_shape_fits(const Shape &s, size_t elem_size, const char *what);

// Checks a user-provided shape (ndim 0..8, non-NULL dims, each >= 0,
// shape_fits) and returns it; throws Errc::InvalidArgument naming `what`.
Shape checked_shape(int ndim, const int64_t *dims, size_t elem_size, const char *what);

// Normalises a possibly negative dim for a tensor of rank ndim; throws naming `what`.
int normalize_dim(int dim, int ndim, const char *what);

}  // namespace nn
