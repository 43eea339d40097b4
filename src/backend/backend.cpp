#include "backend/backend.hpp"

#include <vector>

#include "core/error.hpp"

namespace nn {

std::string Device::str() const {
  if (type == DeviceType::CPU) return "cpu";
  return "cuda:" + std::to_string(index);
}

bool View::contiguous() const {
  int64_t expected = 1;
  for (int i = shape.ndim - 1; i >= 0; --i) {
    if (shape.d[i] == 1) continue;
    if (strides.d[i] != expected) return shape.numel() == 0;
    expected *= shape.d[i];
  }
  return true;
}

}  // namespace nn

namespace nn {

[[noreturn]] static void unsupported(const Backend &b, const char *kernel) {
  fail(Errc::Unsupported, "the %s backend has no %s kernel", b.device().str().c_str(), kernel);
}

void Backend::gemm(bool, bool, double, const View &, const View &, double, const View &) { unsupported(*this, "gemm"); }
void Backend::linear_forward(Act, const View &, const View &, const View &, const View &) {
  unsupported(*this, "linear_forward");
}
void Backend::activation_forward(Act, const View &, const View &) { unsupported(*this, "activation_forward"); }
void Backend::activation_backward(Act, const View &, const View &, const View &, const View &) {
  unsupported(*this, "activation_backward");
}
void Backend::sum_rows(const View &, const View &, double) { unsupported(*this, "sum_rows"); }
void Backend::gather_rows(const View &, const View &, const int64_t *, int64_t) { unsupported(*this, "gather_rows"); }
void Backend::loss(LossKind, const View &, const View &, double *, const View &, double) {
  unsupported(*this, "loss");
}
void Backend::sgd_update(const SgdParams &, const View &, const View &, const View &) {
  unsupported(*this, "sgd_update");
}
void Backend::adam_update(const AdamParams &, const View &, const View &, const View &, const View &) {
  unsupported(*this, "adam_update");
}
bool Backend::all_finite(const View &) { unsupported(*this, "all_finite"); }

[[noreturn]] static void cannot_record(const Backend &b) {
  fail(Errc::Unsupported, "the %s backend cannot record and replay calls", b.device().str().c_str());
}
void Backend::record_begin() { cannot_record(*this); }
void *Backend::record_end() { cannot_record(*this); }
void Backend::replay(void *) { cannot_record(*this); }

// ---- defaults composed of the calls above (CPU: no copies at all)

void Backend::gather_rows_device(const View &out, const View &src, const View &idx, int64_t n) {
  if (n > 0 && (idx.dtype != DType::I64 || idx.numel() < n || !idx.contiguous()))
    fail(Errc::Internal, "%s gather_rows_device: idx must be contiguous int64 with >= %lld elements",
         device().str().c_str(), static_cast<long long>(n));
  if (device().type == DeviceType::CPU) {
    gather_rows(out, src, static_cast<const int64_t *>(idx.data), n);
    return;
  }
  std::vector<int64_t> host(static_cast<size_t>(n > 0 ? n : 0));
  if (n > 0) copy_to_host(host.data(), idx.data, static_cast<size_t>(n) * sizeof(int64_t));
  gather_rows(out, src, host.data(), n);
}

void Backend::loss_device(LossKind kind, const View &pred, const View &target, const View &accum, const View &grad,
                          double grad_scale) {
  if (accum.dtype != DType::F64 || accum.numel() != 1 || accum.data == nullptr)
    fail(Errc::Internal, "%s loss_device: accum must be one float64 element", device().str().c_str());
  if (device().type == DeviceType::CPU) {
    loss(kind, pred, target, static_cast<double *>(accum.data), grad, grad_scale);
    return;
  }
  double v = 0;
  loss(kind, pred, target, &v, grad, grad_scale);
  double sum = 0;
  copy_to_host(&sum, accum.data, sizeof sum);
  sum += v;
  copy_from_host(accum.data, &sum, sizeof sum);
}

void Backend::sgd_update_many(const SgdParams &p, const View *params, const View *grads, const View *m, size_t n) {
  const View none;
  for (size_t i = 0; i < n; ++i)
    if (params[i].numel() > 0) sgd_update(p, params[i], grads[i], m ? m[i] : none);
}

void Backend::adam_update_many(const AdamParams &p, const View *params, const View *grads, const View *m,
                               const View *v, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (params[i].numel() > 0) adam_update(p, params[i], grads[i], m[i], v[i]);
}

bool Backend::all_finite_many(const View *xs, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (xs[i].numel() > 0 && !all_finite(xs[i])) return false;
  return true;
}

}  // namespace nn
