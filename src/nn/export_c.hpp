// The model as one C99 source file (nn_model_export_c; nn.h, group
// "persistence"): weights as static const hex-float arrays, a one-row and a
// many-row predict function, nothing but <stddef.h> and <math.h>.
#pragma once
#include <string>

#include "nn/model.hpp"

namespace nn {

// The source text. Throws Errc::InvalidArgument for a prefix that is not a
// C identifier (1..64 characters) or a model without a Linear layer.
std::string export_c(const Model &m, const std::string &prefix, const char *what);

}  // namespace nn
