// Losses: target validation, the loss value and its gradient (the backend's
// loss kernel does the arithmetic), and accuracy.
#include <cmath>
#include <limits>
#include <vector>

#include "nn/model.hpp"

namespace nn {
namespace {

const char *loss_name(LossKind k) {
  switch (k) {
    case LossKind::MSE: return "MSE";
    case LossKind::SSE: return "SSE";
    case LossKind::HalfMSE: return "HALF_MSE";
    case LossKind::BCE: return "BCE";
    case LossKind::BCEWithLogits: return "BCE_WITH_LOGITS";
    case LossKind::CrossEntropy: return "CROSS_ENTROPY";
  }
  return "?";
}

void check_kind(LossKind k, const char *what) {
  int v = static_cast<int>(k);
  if (v < 0 || v > static_cast<int>(LossKind::CrossEntropy))
    fail(Errc::InvalidArgument, "%s: loss is %d, not a valid nn_loss", what, v);
}

void check_pred(LossKind loss, const Shape &ps, DType pdt, const char *what) {
  if (!is_floating(pdt))
    fail(Errc::DType, "%s: pred has dtype %s; losses need floating predictions", what, dtype_name(pdt));
  if (loss == LossKind::CrossEntropy && (ps.ndim != 2 || ps[1] < 1))
    fail(Errc::Shape, "%s: CROSS_ENTROPY needs pred of shape [n, c] (c >= 1); got %s", what, ps.str().c_str());
}

View flat(const Tensor &t, const Shape &shape) {
  View v;
  v.data = t.data();
  v.dtype = t.dtype();
  v.shape = shape;
  v.strides = contiguous_strides(shape);
  return v;
}

// Rows of a prediction and 2-D [n, c] view of it for the accuracy.
int64_t rows_of(const Shape &s) { return s.ndim == 0 ? 1 : s[0]; }


}  // namespace

std::vector<double> host_f64(const Tensor &t) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  if (!v.empty()) to_host(t.dtype() == DType::F64 ? t : to_dtype(t, DType::F64), v.data());
  return v;
}

std::vector<int64_t> host_i64(const Tensor &t) {
  std::vector<int64_t> v(static_cast<size_t>(t.numel()));
  if (!v.empty()) to_host(t.dtype() == DType::I64 ? t : to_dtype(t, DType::I64), v.data());
  return v;
}

bool is_classification(LossKind loss) {
  return loss == LossKind::BCE || loss == LossKind::BCEWithLogits || loss == LossKind::CrossEntropy;
}

Tensor prepare_loss_target(LossKind loss, const Shape &ps, DType pdt, Device pdev, const Tensor &target,
                           const char *what) {
  check_kind(loss, what);
  check_pred(loss, ps, pdt, what);
  if (target.device() != pdev)
    fail(Errc::Device, "%s: target is on %s but pred is on %s", what, target.device().str().c_str(),
         pdev.str().c_str());
  const Shape &ts = target.shape();
  const DType tdt = target.dtype();
  // The kernel computes in F32 or F64; F16/BF16 predictions are computed in F32.
  const DType kdt = pdt == DType::F64 ? DType::F64 : DType::F32;
  if (loss == LossKind::CrossEntropy) {
    if (ts.ndim == 1) {
      if (is_floating(tdt))
        fail(Errc::DType, "%s: CROSS_ENTROPY target of shape %s holds class ids and must be int64, not %s; "
                          "probabilities need shape %s",
             what, ts.str().c_str(), dtype_name(tdt), ps.str().c_str());
      if (ts[0] != ps[0])
        fail(Errc::Shape, "%s: CROSS_ENTROPY target (class ids) has shape %s but pred has shape %s; expected [%lld]",
             what, ts.str().c_str(), ps.str().c_str(), static_cast<long long>(ps[0]));
      if (tdt != DType::I64)
        fail(Errc::DType, "%s: CROSS_ENTROPY target (class ids) has dtype %s; class ids must be int64", what,
             dtype_name(tdt));
      return target.contiguous();
    }
    if (ts.ndim != 2 || ts != ps)
      fail(Errc::Shape, "%s: CROSS_ENTROPY target has shape %s but pred has shape %s; expected class ids [%lld] "
                        "or probabilities %s",
           what, ts.str().c_str(), ps.str().c_str(), static_cast<long long>(ps[0]), ps.str().c_str());
    if (!is_floating(tdt))
      fail(Errc::DType, "%s: CROSS_ENTROPY probability target %s must be floating, not %s", what,
           ts.str().c_str(), dtype_name(tdt));
    return tdt == kdt ? target.contiguous() : to_dtype(target, kdt);
  }
  const bool column = ps.ndim == 2 && ps[1] == 1 && ts.ndim == 1 && ts[0] == ps[0];
  if (ts != ps && !column)
    fail(Errc::Shape, "%s: target has shape %s but pred has shape %s (%s needs the same shape%s)", what,
         ts.str().c_str(), ps.str().c_str(), loss_name(loss),
         ps.ndim == 2 && ps[1] == 1 ? ", or [n] for one output column" : "");
  if (!is_floating(tdt))
    fail(Errc::DType, "%s: target has dtype %s; %s needs a floating target", what, dtype_name(tdt), loss_name(loss));
  Tensor t = tdt == kdt ? target.contiguous() : to_dtype(target, kdt);
  return t.as_strided(ps, contiguous_strides(ps), t.offset());
}

void validate_loss_target(LossKind loss, const Tensor &pred, const Tensor &target, const char *what) {
  Tensor t = prepare_loss_target(loss, pred.shape(), pred.dtype(), pred.device(), target, what);
  if (loss == LossKind::CrossEntropy && t.dtype() == DType::I64 && t.numel() > 0) {
    const int64_t c = pred.dim(1);
    int64_t lo = 0, hi = 0;
    to_host(reduce(ReduceOp::Min, t, kAllDims, false, what), &lo);
    to_host(reduce(ReduceOp::Max, t, kAllDims, false, what), &hi);
    if (lo < 0 || hi >= c) {
      std::vector<int64_t> ids = host_i64(t);
      for (size_t i = 0; i < ids.size(); ++i)
        if (ids[i] < 0 || ids[i] >= c)
          fail(Errc::InvalidArgument, "%s: target[%zu] is class %lld; class ids must be in 0..%lld", what, i,
               static_cast<long long>(ids[i]), static_cast<long long>(c - 1));
    }
  }
}

namespace {

// compute_loss's body; `run` calls the backend's kernel on (pred, target, grad).
template <class Run>
void loss_impl(LossKind loss, const Tensor &pred, const Tensor &target, Tensor *grad, const char *what, Run &&run) {
  Tensor t = prepare_loss_target(loss, pred.shape(), pred.dtype(), pred.device(), target, what);
  const bool low = pred.dtype() != DType::F32 && pred.dtype() != DType::F64;  // F16/BF16: via F32
  Tensor p = low ? to_dtype(pred, DType::F32) : pred.contiguous();
  Tensor g;
  if (grad) {
    if (!low && grad->defined() && grad->shape() == pred.shape() && grad->dtype() == pred.dtype() &&
        grad->device() == pred.device() && grad->is_contiguous())
      g = *grad;
    else
      g = Tensor::empty(p.dtype(), p.shape(), p.device());
  }
  View gv;
  if (g.defined()) gv = flat(g, p.shape());
  try {
    run(backend_of(p), flat(p, p.shape()), flat(t, t.shape()), gv);
  } catch (const Error &e) {
    fail(e.code(), "%s: %s", what, e.what());
  }
  if (grad) *grad = low ? to_dtype(g, pred.dtype()) : g;
}

}  // namespace

double compute_loss(LossKind loss, const Tensor &pred, const Tensor &target, Tensor *grad, const char *what) {
  double value = 0;
  loss_impl(loss, pred, target, grad, what, [&](Backend &b, const View &pv, const View &tv, const View &gv) {
    b.loss(loss, pv, tv, &value, gv, 1.0);
  });
  return value;
}

double accuracy(LossKind loss, const Tensor &pred, const Tensor &target) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (!is_classification(loss)) return nan;
  const Shape &ps = pred.shape();
  const int64_t n = rows_of(ps);
  if (n == 0) return nan;
  int64_t right = 0;
  if (ps.ndim == 2 && ps[1] > 1) {
    std::vector<int64_t> pa = host_i64(reduce(ReduceOp::Argmax, pred, 1, false, "accuracy"));
    std::vector<int64_t> ta;
    if (target.ndim() == 2)
      ta = host_i64(reduce(ReduceOp::Argmax, target, 1, false, "accuracy"));
    else
      ta = host_i64(target);
    if (static_cast<int64_t>(ta.size()) != n || static_cast<int64_t>(pa.size()) != n)
      fail(Errc::Shape, "accuracy: target %s does not fit pred %s", target.shape().str().c_str(), ps.str().c_str());
    for (int64_t i = 0; i < n; ++i) right += pa[static_cast<size_t>(i)] == ta[static_cast<size_t>(i)];
  } else {
    std::vector<double> pv = host_f64(pred), tv = host_f64(target);
    if (pv.size() != tv.size())
      fail(Errc::Shape, "accuracy: target %s does not fit pred %s", target.shape().str().c_str(), ps.str().c_str());
    const double cut = loss == LossKind::BCEWithLogits ? 0.0 : 0.5;
    for (size_t i = 0; i < pv.size(); ++i) right += (pv[i] >= cut) == (tv[i] >= 0.5);
    return static_cast<double>(right) / static_cast<double>(pv.size());
  }
  return static_cast<double>(right) / static_cast<double>(n);
}

}  // namespace nn
