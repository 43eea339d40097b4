// Sequential models: building, init, device/dtype moves, and the plan they
// compile into; inference and training steps hand that plan to the model's
// backend whole (backend/plan.hpp).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "nn/model.hpp"

namespace nn {
namespace {

// x as a contiguous 2-D [rows, cols] view.
View as_matrix(const Tensor &x, int64_t rows, int64_t cols) { return matrix_view(x.data(), x.dtype(), rows, cols); }

}  // namespace

// ---------------------------------------------------------------- building

std::unique_ptr<Model> Model::mlp(const std::vector<int64_t> &sizes, Act hidden, Act output) {
  if (sizes.size() < 2) fail(Errc::InvalidArgument, "an MLP needs at least 2 sizes (got %zu)", sizes.size());
  auto m = std::make_unique<Model>();
  for (size_t i = 0; i + 1 < sizes.size(); ++i) {
    m->add(Layer::linear(sizes[i], sizes[i + 1], true), "mlp");
    Act a = i + 2 < sizes.size() ? hidden : output;
    if (a != Act::Identity) m->add(Layer::activation(a), "mlp");
  }
  m->init(Init::TorchDefault, 0);
  return m;
}

Layer &Model::add(std::unique_ptr<Layer> &&layer, const char *what) {
  if (!layer) fail(Errc::InvalidArgument, "%s: layer is NULL", what);
  if (layer->owned_by_model()) fail(Errc::InvalidArgument, "%s: layer already belongs to a model", what);
  if (layer->kind() == LayerKind::Linear) {
    const int64_t prev = out_features();
    if (prev > 0 && layer->in_features() != prev)
      fail(Errc::Shape, "%s: layer Linear(%lld, %lld) has in_features %lld but the model's last Linear layer has "
                        "out_features %lld",
           what, static_cast<long long>(layer->in_features()), static_cast<long long>(layer->out_features()),
           static_cast<long long>(layer->in_features()), static_cast<long long>(prev));
  }
  Layer::Params p = layer->converted(device(), dtype());  // may throw: nothing changed yet
  reserve_one_more(layers_);  // then nothing below throws
  reserve_one_more(plan_.units);
  reserve_one_more(unit_act_layer_);
  layer->install(std::move(p));
  layer->set_owned_by_model();
  layers_.push_back(std::move(layer));
  append_unit(num_layers() - 1);
  return *layers_.back();
}

void Model::append_unit(int i) {
  const Layer &l = *layers_[static_cast<size_t>(i)];
  if (l.kind() == LayerKind::Linear) {
    PlanUnit u;
    u.linear = true;
    u.in = l.in_features();
    u.out = l.out_features();
    u.w = l.weight_.data();
    u.b = l.has_bias() ? l.bias_.data() : nullptr;
    u.dw = l.weight_grad_.data();
    u.db = l.has_bias() ? l.bias_grad_.data() : nullptr;
    if (plan_.first_param_unit < 0) {
      plan_.first_param_unit = static_cast<int>(plan_.units.size());
      plan_.in_features = u.in;
    }
    out_features_ = u.out;
    plan_.units.push_back(u);
    unit_act_layer_.push_back(-1);
  } else if (!plan_.units.empty() && plan_.units.back().linear && unit_act_layer_.back() < 0) {
    plan_.units.back().act = l.act();  // fused into the Linear layer before it
    unit_act_layer_.back() = i;
  } else {
    PlanUnit u;
    u.act = l.act();
    plan_.units.push_back(u);
    unit_act_layer_.push_back(i);
  }
  ++plan_.generation;
  ws_ = PlanWorkspace();  // widths changed: the next step sizes it again
  ws_acts_.clear();
  ws_grads_.clear();
}

void Model::recompile() {
  plan_.units.clear();
  unit_act_layer_.clear();
  plan_.first_param_unit = -1;
  plan_.in_features = 0;
  out_features_ = 0;
  for (int i = 0; i < num_layers(); ++i) append_unit(i);
  ++plan_.generation;
}

int64_t Model::num_params() const {
  int64_t n = 0;
  for (const auto &l : layers_) n += l->num_params();
  return n;
}

void Model::init(Init scheme, uint64_t seed) {
  int v = static_cast<int>(scheme);
  if (v < 0 || v > static_cast<int>(Init::Zeros)) fail(Errc::InvalidArgument, "init scheme %d is not valid", v);
  for (size_t i = 0; i < layers_.size(); ++i) layers_[i]->init(scheme, seed, i);
}

void Model::to(Device dev) {
  check_device(dev, "to");
  convert(dev, dtype());
}

void Model::to_dtype(DType dt) {
  if (dt != DType::F32 && dt != DType::F64)
    fail(Errc::DType, "model parameters must be float32 or float64, not %s", dtype_name(dt));
  convert(device(), dt);
}

void Model::convert(Device dev, DType dt) {
  if (dev == device() && dt == dtype()) return;
  std::vector<Layer::Params> ps;  // every layer converted before any is replaced
  ps.reserve(layers_.size());
  for (const auto &l : layers_) ps.push_back(l->converted(dev, dt));
  // The backend's per-model state on the new device (made before anything
  // changes: all or nothing); a dtype change on the same device keeps it.
  // The old one goes when the last plan that holds it does.
  std::shared_ptr<PlanState> state = dev != device() ? backend_for(dev).plan_state() : plan_.state;
  for (size_t i = 0; i < layers_.size(); ++i) layers_[i]->install(std::move(ps[i]));
  plan_.state = std::move(state);
  plan_.device = dev;
  plan_.dtype = dt;
  recompile();
}

void Model::zero_grad() {
  for (auto &l : layers_) l->zero_grad();
  overwrite_grads_ = false;
}

void Model::discard_overwrite_grads() noexcept {
  if (!overwrite_grads_) return;
  try {
    zero_grad();
  } catch (...) {
  }
  overwrite_grads_ = false;
}

// ---------------------------------------------------------------- inference

Tensor Model::prepare_input(const Tensor &x, const char *what) const {
  check_input(x, what);
  if (x.dtype() != dtype()) return nn::to_dtype(x, dtype());
  return x.contiguous();
}

void Model::check_input(const Tensor &x, const char *what) const {
  if (!is_floating(x.dtype()))
    fail(Errc::DType, "%s: x has dtype %s; the model needs floating input (its parameters are %s)", what,
         dtype_name(x.dtype()), dtype_name(dtype()));
  if (x.device() != device())
    fail(Errc::Device, "%s: x is on %s but the model is on %s", what, x.device().str().c_str(),
         device().str().c_str());
  const int64_t in = in_features();
  if (x.ndim() < 1)
    fail(Errc::Shape, "%s: x has shape %s; the model needs [..., %lld]", what, x.shape().str().c_str(),
         static_cast<long long>(in));
  if (in > 0 && x.dim(x.ndim() - 1) != in)
    fail(Errc::Shape, "%s: x has shape %s but the model expects [..., %lld] (in_features %lld)", what,
         x.shape().str().c_str(), static_cast<long long>(in), static_cast<long long>(in));
}

Tensor Model::forward(const Tensor &x, const char *what) const {
  // x as it is when it already fits (no handle copy), else converted.
  Tensor converted;
  check_input(x, what);
  if (x.dtype() != dtype() || !x.is_contiguous()) converted = prepare_input(x, what);
  const Tensor &xin = converted.defined() ? converted : x;
  const int64_t in = xin.dim(xin.ndim() - 1);
  const int64_t rows = in > 0 ? xin.numel() / in : 0;
  const int64_t out = plan_.units.empty() ? in : plan_.unit_out(plan_.units.size() - 1, in);
  Shape ys = xin.shape();
  ys[ys.ndim - 1] = out;
  Tensor y = Tensor::empty(dtype(), ys, device());
  if (rows > 0 && out > 0) backend_of(y).plan_forward(plan_, as_matrix(xin, rows, in), as_matrix(y, rows, out));
  return y;
}

void Model::predict(int64_t rows, const float *x, float *y, const char *what) const {
  const int64_t in = in_features(), out = out_features();
  if (in <= 0) fail(Errc::InvalidArgument, "%s: the model has no Linear layer, so its input width is unknown", what);
  if (rows < 0) fail(Errc::InvalidArgument, "%s: rows is %lld; it must be >= 0", what, static_cast<long long>(rows));
  if (rows == 0) return;
  if (!x) fail(Errc::InvalidArgument, "%s: x is NULL", what);
  if (!y) fail(Errc::InvalidArgument, "%s: y is NULL", what);
  int64_t nx = 0, ny = 0;
  if (__builtin_mul_overflow(rows, in, &nx) || __builtin_mul_overflow(rows, out, &ny) ||
      nx > INT64_MAX / 8 || ny > INT64_MAX / 8)
    fail(Errc::InvalidArgument, "%s: rows %lld x %lld features is too large", what, static_cast<long long>(rows),
         static_cast<long long>(std::max(in, out)));
  Backend &be = backend_for(device());
  if (dtype() == DType::F32) {
    be.plan_forward_host(plan_, rows, x, y);
    return;
  }
  // F64 parameters: the rows go through per-thread grow-only double buffers.
  thread_local std::vector<double> xd, yd;
  if (xd.size() < static_cast<size_t>(nx)) xd.resize(static_cast<size_t>(nx));
  if (yd.size() < static_cast<size_t>(ny)) yd.resize(static_cast<size_t>(ny));
  for (int64_t i = 0; i < nx; ++i) xd[static_cast<size_t>(i)] = static_cast<double>(x[i]);
  be.plan_forward_host(plan_, rows, xd.data(), yd.data());
  for (int64_t i = 0; i < ny; ++i) y[i] = static_cast<float>(yd[static_cast<size_t>(i)]);
}

// ---------------------------------------------------------------- training

const PlanWorkspace &Model::workspace(int64_t rows, int64_t in) {
  const size_t U = plan_.units.size();
  if (rows > ws_.rows || in != ws_.in || ws_.acts.size() != U) {
    const int64_t cap = std::max(rows, in == ws_.in && ws_.acts.size() == U ? ws_.rows : int64_t{0});
    std::vector<Tensor> acts(U), grads(U);
    PlanWorkspace ws;
    ws.rows = cap;
    ws.in = in;
    ws.acts.assign(U, nullptr);
    ws.grads.assign(U, nullptr);
    for (size_t u = 0; u < U; ++u) {
      const int64_t f = plan_.unit_out(u, in);
      acts[u] = Tensor::empty(dtype(), Shape{cap, f}, device());
      ws.acts[u] = acts[u].data();
      if (plan_.first_param_unit >= 0 && static_cast<int>(u) >= plan_.first_param_unit) {
        grads[u] = Tensor::empty(dtype(), Shape{cap, f}, device());
        ws.grads[u] = grads[u].data();
      }
    }
    ws_acts_ = std::move(acts);
    ws_grads_ = std::move(grads);
    ws_ = std::move(ws);
    ++plan_.generation;  // a recorded step points into the old buffers
  }
  return ws_;
}

void Model::step(const Tensor &x, const Tensor &target, bool target_ready, LossKind loss, double *value,
                 const Tensor *accum, const char *what) {
  const int64_t rows = x.dim(0), in = x.dim(1);
  // Shape/dtype/device of the target before anything runs (class-id range:
  // the loss kernel, still before any gradient changes), unless the caller
  // prepared it.
  Tensor t;
  if (!target_ready) {
    const int64_t out = plan_.units.empty() ? in : plan_.unit_out(plan_.units.size() - 1, in);
    t = prepare_loss_target(loss, Shape{rows, out}, dtype(), device(), target, what);
  }
  const PlanWorkspace &ws = workspace(rows, in);
  TrainStep s;
  s.x = as_matrix(x, rows, in);
  s.target = target_ready ? target.view() : t.view();
  s.loss = loss;
  s.overwrite_grads = overwrite_grads_;
  s.value = value;
  if (accum) s.accum = accum->view();
  try {
    backend_of(x).plan_train_step(plan_, ws, s);
  } catch (const Error &e) {
    fail(e.code(), "%s: %s", what, e.what());  // e.g. a class id out of range: no gradient changed
  }
  overwrite_grads_ = false;
}

double Model::train_batch(const Tensor &x, const Tensor &target, LossKind loss, const char *what) {
  Tensor xi = prepare_input(x, what);
  if (xi.ndim() != 2)
    fail(Errc::Shape, "%s: x has shape %s; training needs [n, in_features]", what, x.shape().str().c_str());
  if (xi.dim(0) < 1) fail(Errc::Shape, "%s: x has shape %s: no rows", what, x.shape().str().c_str());
  double v = 0;
  step(xi, target, false, loss, &v, nullptr, what);
  return v;
}

void Model::train_batch_accum(const Tensor &x, const Tensor &target, LossKind loss, const Tensor &accum,
                              const char *what) {
  if (x.ndim() != 2 || !x.is_contiguous() || x.dtype() != dtype() || x.device() != device() || x.dim(0) < 1)
    fail(Errc::Internal, "%s: a training step needs a prepared 2-D input (got %s, %s)", what, x.shape().str().c_str(),
         dtype_name(x.dtype()));
  if (accum.dtype() != DType::F64 || accum.numel() != 1 || accum.device() != device())
    fail(Errc::Internal, "%s: the loss accumulator must be one float64 element on %s", what, device().str().c_str());
  step(x, target, true, loss, nullptr, &accum, what);
}

// ---------------------------------------------------------------- summary

std::string Model::summary() const {
  std::string s = strprintf("%-6s %-24s %-14s %12s\n", "Layer", "Type", "Output", "Params");
  s += std::string(59, '-') + "\n";
  int64_t feat = in_features();
  for (int i = 0; i < num_layers(); ++i) {
    const Layer &l = *layers_[static_cast<size_t>(i)];
    if (l.kind() == LayerKind::Linear) feat = l.out_features();
    std::string shape = feat > 0 ? strprintf("[n, %lld]", static_cast<long long>(feat)) : std::string("[n, *]");
    s += strprintf("%-6d %-24s %-14s %12lld\n", i, l.describe().c_str(), shape.c_str(),
                   static_cast<long long>(l.num_params()));
  }
  s += std::string(59, '-') + "\n";
  s += strprintf("Total parameters: %lld\n", static_cast<long long>(num_params()));
  s += strprintf("Device: %s, dtype: %s\n", device().str().c_str(), dtype_name(dtype()));
  return s;
}

}  // namespace nn
