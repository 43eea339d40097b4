// NumPy .npy files (format versions 1.0, 2.0, 3.0): a strict parser and a
// writer. Rules in nn.h, group "data". Errors throw Errc::Format (bad bytes)
// with messages that start with `what`.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/tensor.hpp"

namespace nn {

// Parses len bytes of a .npy file into a new C-order tensor on dev. Never
// reads outside [data, data + len) and never allocates more than len bytes
// for the elements.
Tensor load_npy(const uint8_t *data, size_t len, Device dev, const char *what);

// The bytes of a .npy file (version 1.0, C order, little-endian) holding t;
// BF16 is written as float32 (NumPy has no bfloat16).
std::vector<uint8_t> save_npy(const Tensor &t);

}  // namespace nn
