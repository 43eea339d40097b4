// Row selection and joining: slice (a view), index_select and concat (new
// tensors). Semantics in nn.h, group "data"; messages start with `what`.
// Shape arithmetic here is local and checked (__builtin_*_overflow).
#pragma once
#include <cstdint>

#include "core/tensor.hpp"

namespace nn {

// t[start:end] along dim as Python slices it: negative start/end count from
// the end, both are clamped to [0, size], end <= start gives an empty view.
// Shares t's storage.
Tensor slice(const Tensor &t, int dim, int64_t start, int64_t end, const char *what);
// The entries of t at `index` (1-D, integer dtype, same device, each in
// [-size, size)) along dim; a new contiguous tensor of t's dtype.
Tensor index_select(const Tensor &t, int dim, const Tensor &index, const char *what);
// Joins n tensors (n >= 1, same rank >= 1, same device, equal sizes except
// along dim) along dim; the dtype is their promoted type (torch.cat).
Tensor concat(int n, const Tensor *const *ts, int dim, const char *what);

}  // namespace nn
