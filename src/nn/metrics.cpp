// Metrics (see metrics.hpp).
#include "nn/metrics.hpp"

#include <cmath>
#include <limits>
#include <vector>

#include "core/ops.hpp"
#include "nn/model.hpp"

namespace nn {

namespace {

// Rows and columns of a [n] or [n, k] tensor.
void rows_cols(const Tensor &t, const char *what, const char *name, int64_t *n, int64_t *k) {
  if (t.ndim() == 1) {
    *n = t.dim(0);
    *k = 1;
  } else if (t.ndim() == 2) {
    *n = t.dim(0);
    *k = t.dim(1);
  } else {
    fail(Errc::Shape, "%s: %s must be [n] or [n, k]; got %s", what, name, t.shape().str().c_str());
  }
}

// Class ids of a prediction: argmax of [n, c>1] scores, threshold 0.5 of
// [n, 1] probabilities, or [n] integer ids.
std::vector<int64_t> class_ids(const Tensor &t, const char *what, const char *name) {
  int64_t n, k;
  rows_cols(t, what, name, &n, &k);
  if (t.ndim() == 2 && k > 1) return host_i64(reduce(ReduceOp::Argmax, t, 1, false, what));
  if (t.ndim() == 2 && k == 1) {
    std::vector<double> v = host_f64(t);
    std::vector<int64_t> ids(v.size());
    for (size_t i = 0; i < v.size(); ++i) ids[i] = v[i] >= 0.5 ? 1 : 0;
    return ids;
  }
  if (t.ndim() == 2) fail(Errc::Shape, "%s: %s %s has no columns", what, name, t.shape().str().c_str());
  if (is_floating(t.dtype()))
    fail(Errc::DType, "%s: %s [n] holds class ids and must have an integer dtype; got %s", what, name,
         dtype_name(t.dtype()));
  return host_i64(t);
}

}  // namespace

double metric(Metric m, const Tensor &pred, const Tensor &target, const char *what) {
  check_same_device(pred, target, what);
  int64_t n, k, tn, tk;
  rows_cols(pred, what, "pred", &n, &k);
  rows_cols(target, what, "target", &tn, &tk);
  if (tn != n)
    fail(Errc::Shape, "%s: target %s does not have the %lld rows of pred %s", what, target.shape().str().c_str(),
         static_cast<long long>(n), pred.shape().str().c_str());
  if (n == 0) fail(Errc::Shape, "%s: pred %s has no rows", what, pred.shape().str().c_str());
  if (m == Metric::Accuracy) {
    if (pred.ndim() == 2 && k > 1) {
      // argmax against class ids [n] or one-hot/probability rows [n, k].
      if (target.ndim() == 1 && is_floating(target.dtype()))
        fail(Errc::DType, "%s: target [n] holds class ids and must have an integer dtype; got %s", what,
             dtype_name(target.dtype()));
      if (target.ndim() == 2 && tk != k)
        fail(Errc::Shape, "%s: target %s does not fit pred %s", what, target.shape().str().c_str(),
             pred.shape().str().c_str());
    } else if (tk != 1 || k != 1) {
      fail(Errc::Shape, "%s: target %s does not fit pred %s", what, target.shape().str().c_str(),
           pred.shape().str().c_str());
    }
    // nn_model_evaluate's rule (threshold 0.5 for one column: BCE's).
    return accuracy(LossKind::BCE, pred, target);
  }
  if (k != tk)
    fail(Errc::Shape, "%s: target %s does not match pred %s", what, target.shape().str().c_str(),
         pred.shape().str().c_str());
  if (k == 0) fail(Errc::Shape, "%s: pred %s has no columns", what, pred.shape().str().c_str());
  std::vector<double> p = host_f64(pred), y = host_f64(target);
  // Per column, then the uniform average over columns (scikit-learn's
  // multioutput='uniform_average').
  double sum = 0;
  for (int64_t j = 0; j < k; ++j) {
    double abs_err = 0, sq_err = 0, mean = 0;
    for (int64_t i = 0; i < n; ++i) {
      size_t at = static_cast<size_t>(i * k + j);
      double e = p[at] - y[at];
      abs_err += std::fabs(e);
      sq_err += e * e;
      mean += y[at];
    }
    const double dn = static_cast<double>(n);
    if (m == Metric::MAE) {
      sum += abs_err / dn;
    } else if (m == Metric::RMSE) {
      sum += std::sqrt(sq_err / dn);
    } else {
      if (n < 2) return std::numeric_limits<double>::quiet_NaN();  // scikit-learn: undefined
      mean /= dn;
      double tot = 0;
      for (int64_t i = 0; i < n; ++i) {
        double d = y[static_cast<size_t>(i * k + j)] - mean;
        tot += d * d;
      }
      // force_finite: a constant column scores 1 when predicted exactly, else 0.
      if (tot == 0) sum += sq_err == 0 ? 1.0 : 0.0;
      else sum += 1.0 - sq_err / tot;
    }
  }
  return sum / static_cast<double>(k);
}

Tensor confusion_matrix(const Tensor &pred, const Tensor &target, int64_t classes, const char *what) {
  if (classes < 1 || classes > 65536)
    fail(Errc::InvalidArgument, "%s: classes is %lld; it must be 1..%lld", what, static_cast<long long>(classes),
         65536LL);
  check_same_device(pred, target, what);
  std::vector<int64_t> p = class_ids(pred, what, "pred"), t = class_ids(target, what, "target");
  if (p.size() != t.size())
    fail(Errc::Shape, "%s: target %s does not have the %zu rows of pred %s", what, target.shape().str().c_str(),
         p.size(), pred.shape().str().c_str());
  std::vector<int64_t> cm(static_cast<size_t>(classes * classes), 0);
  for (size_t i = 0; i < p.size(); ++i) {
    if (t[i] < 0 || t[i] >= classes)
      fail(Errc::InvalidArgument, "%s: target[%zu] is class %lld, outside 0..%lld", what, i,
           static_cast<long long>(t[i]), static_cast<long long>(classes - 1));
    if (p[i] < 0 || p[i] >= classes)
      fail(Errc::InvalidArgument, "%s: pred[%zu] is class %lld, outside 0..%lld", what, i,
           static_cast<long long>(p[i]), static_cast<long long>(classes - 1));
    ++cm[static_cast<size_t>(t[i] * classes + p[i])];
  }
  return from_host(DType::I64, Shape{classes, classes}, cm.data(), pred.device());
}

}  // namespace nn
