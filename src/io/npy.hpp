// NumPy .npy files (format versions 1.0, 2.0, 3.0): a strict parser and a
// writer. Rules in nn.h, group "data". Errors throw Errc::Format (bad bytes)
// with messages that start with `what`.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/tensor.hpp"

namespace nn {

// The largest header the parser accepts (1 MiB), and the prefix of a file
// that holds any header it accepts (preamble + header).
constexpr size_t kMaxHeader = size_t{1} << 20;
constexpr size_t kNpyPrefixBytes = 12 + kMaxHeader;

struct NpyHeader {
  DType dt;
  bool swap;           // big-endian data
  bool fortran;        // column-major data
  Shape shape;
  size_t data_offset;  // where the data starts
};

// Checks a .npy file's preamble and header, reading only its first `avail`
// bytes (at least min(total, kNpyPrefixBytes)), against its length `total`:
// everything load_npy checks before the data (the data must be exactly
// numel x dtype size bytes). Throws Errc::Format.
NpyHeader parse_npy_header(const uint8_t *data, size_t avail, uint64_t total, const char *what);

// Parses len bytes of a .npy file into a new C-order tensor on dev. Never
// reads outside [data, data + len) and never allocates more than len bytes
// for the elements.
Tensor load_npy(const uint8_t *data, size_t len, Device dev, const char *what);

// The bytes of a .npy file (version 1.0, C order, little-endian) holding t;
// BF16 is written as float32 (NumPy has no bfloat16).
std::vector<uint8_t> save_npy(const Tensor &t);

}  // namespace nn
