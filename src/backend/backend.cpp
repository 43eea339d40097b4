#include "backend/backend.hpp"

namespace nn {

bool Backend::all_finite_many(const View *xs, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (xs[i].numel() > 0 && !all_finite(xs[i])) return false;
  return true;
}

void Backend::copy_many(const View *dst, const View *src, size_t n) {
  for (size_t i = 0; i < n; ++i) copy(dst[i], src[i]);
}

}  // namespace nn
