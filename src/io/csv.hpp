// Numeric CSV tables (rules in nn.h, group "data"). Errors throw Errc::Format
// naming the file, line and column.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/tensor.hpp"

namespace nn {

// Parses len bytes of delimited text into a [rows, cols] tensor of dt on dev.
// `name` is what messages call the text (the file path).
Tensor load_csv(const char *data, size_t len, const std::string &name, char delimiter, int skip_rows, DType dt,
                Device dev, const char *what);

}  // namespace nn
