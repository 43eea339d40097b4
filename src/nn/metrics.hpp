// Metrics on predictions and targets (definitions in nn.h, group "data"):
// accuracy (nn_model_evaluate's rule, nn::accuracy), MAE, RMSE, R^2 as
// scikit-learn computes them, and the confusion matrix.
#pragma once
#include <cstdint>

#include "core/tensor.hpp"

namespace nn {

enum class Metric { Accuracy = 0, MAE = 1, RMSE = 2, R2 = 3 };

double metric(Metric m, const Tensor &pred, const Tensor &target, const char *what);
// I64 [classes, classes] on pred's device: rows the true class, columns the predicted one.
Tensor confusion_matrix(const Tensor &pred, const Tensor &target, int64_t classes, const char *what);

}  // namespace nn
