// Sequential models: building, init, device/dtype moves, inference, and
// training (forward through a per-model workspace, backprop in matrix form).
#include <algorithm>
#include <cmath>

#include "nn/model.hpp"


namespace nn {
namespace {

// Views built field by field (called ~20 times per training step).
View mat(const Tensor &t, int64_t rows, int64_t cols) {
  View v;
  v.data = t.data();
  v.dtype = t.dtype();
  v.shape.ndim = 2;
  v.shape.d[0] = rows;
  v.shape.d[1] = cols;
  v.strides.ndim = 2;
  v.strides.d[0] = cols;
  v.strides.d[1] = 1;
  return v;
}

View vec(const Tensor &t) {
  View v;
  v.data = t.data();
  v.dtype = t.dtype();
  v.shape.ndim = 1;
  v.shape.d[0] = t.numel();
  v.strides.ndim = 1;
  v.strides.d[0] = 1;
  return v;
}

// The first `rows` rows of a contiguous [cap, cols] buffer, as a tensor.
Tensor first_rows(const Tensor &buf, int64_t rows) {
  Shape s{rows, buf.dim(1)};
  return buf.as_strided(s, contiguous_strides(s), buf.offset());
}

// A [rows, cols] tensor of the model's dtype for an intermediate result of
// Model::forward: on the CPU, a view of one of two per-thread grow-only
// buffers (slot 0 or 1), so that concurrent forward calls share nothing and
// the steady state allocates only the output; elsewhere a new tensor.
Tensor forward_scratch(int slot, DType dt, int64_t rows, int64_t cols, Device dev) {
  const Shape s{rows, cols};
  if (dev.type != DeviceType::CPU) return Tensor::empty(dt, s, dev);
  thread_local Tensor bufs[2];
  Tensor &b = bufs[slot];
  const int64_t n = rows * cols;
  if (!b.defined() || b.dtype() != dt || b.numel() < n) b = Tensor();  // free the old one first
  if (!b.defined()) b = Tensor::empty(dt, Shape{std::max<int64_t>(n, 1)}, dev);
  return b.as_strided(s, contiguous_strides(s), 0);
}

}  // namespace

// ---------------------------------------------------------------- streams

void StreamScope::bind(const Model &m) {
  s_ = m.exec_stream();  // a reference of our own: the stream outlives this binding
  if (!s_) return;
  s_->backend().stream_bind(s_->handle());  // throws: nothing bound
  bound_ = true;
}

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
  Layer::Params p = layer->converted(device_, dtype_);  // may throw: nothing changed yet
  layers_.reserve(layers_.size() + 1);
  plan_.reserve(layers_.size() + 1);
  layer->install(std::move(p));
  layer->set_owned_by_model();
  layers_.push_back(std::move(layer));
  ++storage_gen_;
  rebuild_plan();
  return *layers_.back();
}

void Model::rebuild_plan() {
  plan_.clear();
  first_param_unit_ = -1;
  const int n = num_layers();
  for (int i = 0; i < n;) {
    Unit u;
    const Layer &l = *layers_[static_cast<size_t>(i)];
    if (l.kind() == LayerKind::Linear) {
      u.linear = i;
      u.out = l.out_features();
      if (first_param_unit_ < 0) first_param_unit_ = static_cast<int>(plan_.size());
      if (i + 1 < n && layers_[static_cast<size_t>(i) + 1]->kind() == LayerKind::Activation) {
        u.act_layer = i + 1;
        u.act = layers_[static_cast<size_t>(i) + 1]->act();
        i += 2;
      } else {
        i += 1;
      }
    } else {
      u.act_layer = i;
      u.act = l.act();
      i += 1;
    }
    plan_.push_back(u);
  }
  ws_valid_ = false;
}

int64_t Model::unit_out(size_t u, int64_t in) const {
  int64_t f = in;
  for (size_t k = 0; k <= u; ++k)
    if (plan_[k].linear >= 0) f = plan_[k].out;
  return f;
}

int64_t Model::num_params() const {
  int64_t n = 0;
  for (const auto &l : layers_) n += l->num_params();
  return n;
}

int64_t Model::in_features() const {
  for (const auto &l : layers_)
    if (l->kind() == LayerKind::Linear) return l->in_features();
  return 0;
}

int64_t Model::out_features() const {
  for (auto it = layers_.rbegin(); it != layers_.rend(); ++it)
    if ((*it)->kind() == LayerKind::Linear) return (*it)->out_features();
  return 0;
}

void Model::init(Init scheme, uint64_t seed) {
  int v = static_cast<int>(scheme);
  if (v < 0 || v > static_cast<int>(Init::Zeros)) fail(Errc::InvalidArgument, "init scheme %d is not valid", v);
  StreamScope on_stream(*this);
  for (size_t i = 0; i < layers_.size(); ++i) layers_[i]->init(scheme, seed, i);
}

void Model::to(Device dev) {
  check_device(dev, "to");
  convert(dev, dtype_);
}

void Model::to_dtype(DType dt) {
  if (dt != DType::F32 && dt != DType::F64)
    fail(Errc::DType, "model parameters must be float32 or float64, not %s", dtype_name(dt));
  convert(device_, dt);
}

void Model::convert(Device dev, DType dt) {
  if (dev == device_ && dt == dtype_) return;
  std::vector<Layer::Params> ps;  // every layer converted before any is replaced
  ps.reserve(layers_.size());
  for (const auto &l : layers_) ps.push_back(l->converted(dev, dt));
  // The model's stream on the new device (made before anything changes:
  // all or nothing); a dtype change on the same device keeps it. The old
  // one is destroyed when no call has it bound any more (StreamScope holds
  // a reference); its work was joined into its device's order at unbind.
  std::shared_ptr<ExecStream> stream = stream_;
  if (dev != device_) {
    stream.reset();
    if (dev.type != DeviceType::CPU) {
      Backend &be = backend_for(dev);
      void *h = be.stream_create();
      if (h) {
        try {
          stream = std::make_shared<ExecStream>(be, h);
        } catch (...) {
          be.stream_destroy(h);
          throw;
        }
      }
    }
  }
  for (size_t i = 0; i < layers_.size(); ++i) layers_[i]->install(std::move(ps[i]));
  stream_ = std::move(stream);
  device_ = dev;
  dtype_ = dt;
  ++storage_gen_;
  acts_.clear();
  grads_.clear();
  act_views_.clear();
  grad_views_.clear();
  input_ = Tensor();
  ws_valid_ = false;
}

void Model::zero_grad() {
  StreamScope on_stream(*this);
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

std::vector<ParamRef> Model::parameters() {
  std::vector<ParamRef> ps;
  for (auto &l : layers_) {
    if (l->kind() != LayerKind::Linear) continue;
    ps.push_back(ParamRef{l->weight_, l->weight_grad_});
    if (l->has_bias()) ps.push_back(ParamRef{l->bias_, l->bias_grad_});
  }
  return ps;
}

std::vector<Tensor> Model::snapshot() const {
  std::vector<Tensor> s;
  for (const auto &l : layers_) {
    if (l->kind() != LayerKind::Linear) continue;
    s.push_back(clone(l->weight_));
    if (l->has_bias()) s.push_back(clone(l->bias_));
  }
  return s;
}

void Model::restore(const std::vector<Tensor> &saved) {
  std::vector<Tensor> dst;
  for (const auto &l : layers_) {
    if (l->kind() != LayerKind::Linear) continue;
    dst.push_back(l->weight_);
    if (l->has_bias()) dst.push_back(l->bias_);
  }
  if (dst.size() != saved.size())
    fail(Errc::Internal, "restore: %zu saved tensors for %zu parameters", saved.size(), dst.size());
  for (size_t i = 0; i < dst.size(); ++i)
    if (dst[i].shape() != saved[i].shape() || dst[i].device() != saved[i].device())
      fail(Errc::Internal, "restore: saved tensor %zu has shape %s, the parameter %s", i,
           saved[i].shape().str().c_str(), dst[i].shape().str().c_str());
  for (size_t i = 0; i < dst.size(); ++i) copy_into(dst[i], saved[i], "restore");
}

// ---------------------------------------------------------------- inference

Tensor Model::prepare_input(const Tensor &x, const char *what) const {
  if (!is_floating(x.dtype()))
    fail(Errc::DType, "%s: x has dtype %s; the model needs floating input (its parameters are %s)", what,
         dtype_name(x.dtype()), dtype_name(dtype_));
  if (x.device() != device_)
    fail(Errc::Device, "%s: x is on %s but the model is on %s", what, x.device().str().c_str(),
         device_.str().c_str());
  const int64_t in = in_features();
  if (x.ndim() < 1)
    fail(Errc::Shape, "%s: x has shape %s; the model needs [..., %lld]", what, x.shape().str().c_str(),
         static_cast<long long>(in));
  if (in > 0 && x.dim(x.ndim() - 1) != in)
    fail(Errc::Shape, "%s: x has shape %s but the model expects [..., %lld] (in_features %lld)", what,
         x.shape().str().c_str(), static_cast<long long>(in), static_cast<long long>(in));
  if (x.dtype() != dtype_) return nn::to_dtype(x, dtype_);
  return x.contiguous();
}

// Small F32 inputs on the CPU: the units run on raw pointers into two
// per-thread grow-only buffers (no intermediate Tensor, no view, no virtual
// call); only the output is allocated. Same kernels as the general path.
namespace {
constexpr int64_t kFastForwardFloats = int64_t{1} << 14;  // widest unit output, floats
// Trivially destructible (one TLS lookup per call, no init guard); the owner
// that frees the buffers at thread exit is touched only when they are made.
thread_local float *t_fast_bufs[2] = {nullptr, nullptr};
struct FastBufsOwner {
  FastBufsOwner() = default;
  ~FastBufsOwner() {
    delete[] t_fast_bufs[0];
    delete[] t_fast_bufs[1];
    t_fast_bufs[0] = t_fast_bufs[1] = nullptr;
  }
};
thread_local FastBufsOwner t_fast_bufs_owner;
}  // namespace

bool Model::forward_fast(const Tensor &x, Tensor &y) const {
  const HostF32Kernels *k32 = backend_for(device_).host_f32();
  if (!k32 || dtype_ != DType::F32 || x.dtype() != DType::F32 || plan_.empty() ||
      !x.defined() || x.ndim() < 1 || !x.is_contiguous() || x.device() != device_)
    return false;
  const int64_t in = x.dim(x.ndim() - 1);
  const int64_t min = in_features();
  if ((min > 0 && in != min) || in <= 0) return false;
  const int64_t rows = x.numel() / in;
  if (rows <= 0) return false;
  int64_t widest = 0, feat = in;
  for (const Unit &u : plan_) {
    feat = u.linear >= 0 ? u.out : feat;
    widest = std::max(widest, feat);
  }
  if (feat <= 0 || rows * widest > kFastForwardFloats) return false;
  Shape ys = x.shape();
  ys[ys.ndim - 1] = feat;
  y = Tensor::empty(DType::F32, ys, device_);
  float **bufs = t_fast_bufs;
  if (!bufs[0]) {
    (void)&t_fast_bufs_owner;  // registers the owner's destructor for this thread
    bufs[0] = new float[kFastForwardFloats];
    bufs[1] = new float[kFastForwardFloats];
  }
  const float *cur = x.data_as<const float>();
  feat = in;
  float *out_final = y.data_as<float>();
  for (size_t k = 0; k < plan_.size(); ++k) {
    const Unit &u = plan_[k];
    const int64_t of = u.linear >= 0 ? u.out : feat;
    float *out = k + 1 == plan_.size() ? out_final : bufs[k % 2];
    if (u.linear >= 0) {
      const Layer &l = *layers_[static_cast<size_t>(u.linear)];
      k32->linear_forward(u.act, out, cur, l.weight_.data_as<const float>(),
                              l.has_bias() ? l.bias_.data_as<const float>() : nullptr, rows, of, feat);
    } else {
      k32->activation_forward(u.act, out, cur, rows, of);
    }
    cur = out;
    feat = of;
  }
  return true;
}

Tensor Model::forward(const Tensor &x, const char *what) const {
  {
    Tensor y;
    if (forward_fast(x, y)) return y;
  }
  // On the model's stream (CUDA). Concurrent calls, which the header allows:
  // each thread binds the stream for itself (the binding is per thread), so
  // their work interleaves on the one stream in the order the device mutex
  // lets it in, each thread's in its own order. Nothing is shared between
  // them but read-only parameters: inputs, intermediates and outputs are
  // tensors of their own, allocated on the stream and freed on it (or, the
  // output, later wherever the caller frees it, after the unbind joined the
  // stream into the device's order); per-stream device buffers are used by
  // one backend call at a time under the device mutex, and the calls that
  // share them are ordered on the stream. So concurrent forwards of one
  // model are correct and simply serialise on its stream; two models run
  // concurrently.
  StreamScope on_stream(*this);
  Tensor xin = prepare_input(x, what);
  if (plan_.empty()) return xin.storage() == x.storage() ? clone(xin) : xin;
  const int64_t in = xin.dim(xin.ndim() - 1);
  int64_t rows = 1;
  for (int i = 0; i + 1 < xin.ndim(); ++i) rows *= xin.dim(i);
  Backend &be = xin.backend();
  Tensor cur = xin;
  int64_t feat = in;
  for (size_t k = 0; k < plan_.size(); ++k) {
    const Unit &u = plan_[k];
    const int64_t of = u.linear >= 0 ? u.out : feat;
    // Intermediate results alternate between the two per-thread buffers;
    // only the last unit's output is a new tensor.
    Tensor out = k + 1 == plan_.size() ? Tensor::empty(dtype_, Shape{rows, of}, device_)
                                       : forward_scratch(static_cast<int>(k % 2), dtype_, rows, of, device_);
    if (rows > 0 && of > 0) {
      if (u.linear >= 0) {
        const Layer &l = *layers_[static_cast<size_t>(u.linear)];
        View b;
        if (l.has_bias()) b = vec(l.bias_);
        be.linear_forward(u.act, mat(out, rows, of), mat(cur, rows, feat), mat(l.weight_, of, feat), b);
      } else {
        be.activation_forward(u.act, mat(out, rows, of), mat(cur, rows, feat));
      }
    }
    cur = std::move(out);
    feat = of;
  }
  Shape ys = xin.shape();
  ys[ys.ndim - 1] = feat;
  return cur.as_strided(ys, contiguous_strides(ys), cur.offset());
}

// ---------------------------------------------------------------- training

void Model::ensure_workspace(int64_t rows, int64_t in) {
  const size_t U = plan_.size();
  if (!ws_valid_ || rows > ws_rows_ || in != ws_in_) {
    const int64_t cap = std::max(rows, ws_valid_ && in == ws_in_ ? ws_rows_ : int64_t{0});
    std::vector<Tensor> acts(U), grads(U);
    for (size_t u = 0; u < U; ++u) {
      const int64_t f = unit_out(u, in);
      acts[u] = Tensor::empty(dtype_, Shape{cap, f}, device_);
      if (first_param_unit_ >= 0 && static_cast<int>(u) >= first_param_unit_)
        grads[u] = Tensor::empty(dtype_, Shape{cap, f}, device_);
    }
    act_views_.assign(U, Tensor());
    grad_views_.assign(U, Tensor());
    acts_ = std::move(acts);
    grads_ = std::move(grads);
    ws_rows_ = cap;
    ws_in_ = in;
    ws_valid_ = true;
    cur_rows_ = -1;
    ++storage_gen_;
  }
  if (rows != cur_rows_) {
    for (size_t u = 0; u < U; ++u) {
      act_views_[u] = first_rows(acts_[u], rows);
      if (grads_[u].defined()) grad_views_[u] = first_rows(grads_[u], rows);
    }
    cur_rows_ = rows;
  }
}

const Tensor &Model::forward_train(const Tensor &x, const char *what) {
  if (x.ndim() != 2 || !x.is_contiguous() || x.dtype() != dtype_ || x.device() != device_)
    fail(Errc::Internal, "%s: forward_train needs a prepared 2-D input (got %s, %s)", what, x.shape().str().c_str(),
         dtype_name(x.dtype()));
  const int64_t rows = x.dim(0), in = x.dim(1);
  input_ = x;
  if (plan_.empty()) return input_;
  ensure_workspace(rows, in);
  Backend &be = x.backend();
  const Tensor *cur = &input_;
  int64_t feat = in;
  for (size_t k = 0; k < plan_.size(); ++k) {
    const Unit &u = plan_[k];
    const Tensor &out = act_views_[k];
    const int64_t of = out.dim(1);
    if (rows > 0 && of > 0) {
      if (u.linear >= 0) {
        const Layer &l = *layers_[static_cast<size_t>(u.linear)];
        View b;
        if (l.has_bias()) b = vec(l.bias_);
        be.linear_forward(u.act, mat(out, rows, of), mat(*cur, rows, feat), mat(l.weight_, of, feat), b);
      } else {
        be.activation_forward(u.act, mat(out, rows, of), mat(*cur, rows, feat));
      }
    }
    cur = &out;
    feat = of;
  }
  return act_views_.back();
}

void Model::backward_workspace() {
  if (first_param_unit_ < 0 || plan_.empty()) return;
  const int64_t rows = cur_rows_;
  if (rows <= 0) return;
  Backend &be = input_.backend();
  const View none;
  const double beta = overwrite_grads_ ? 0.0 : 1.0;
  overwrite_grads_ = false;
  for (int k = static_cast<int>(plan_.size()) - 1; k >= first_param_unit_; --k) {
    const Unit &u = plan_[static_cast<size_t>(k)];
    const Tensor &G = grad_views_[static_cast<size_t>(k)];
    const Tensor &Y = act_views_[static_cast<size_t>(k)];
    const int64_t of = Y.dim(1);
    const View g = mat(G, rows, of);
    if (u.linear >= 0) {
      Layer &l = *layers_[static_cast<size_t>(u.linear)];
      const Tensor &X = k == 0 ? input_ : act_views_[static_cast<size_t>(k) - 1];
      const int64_t in = X.dim(1);
      if (u.act != Act::Identity) be.activation_backward(u.act, g, g, none, mat(Y, rows, of));
      be.gemm(true, false, 1.0, g, mat(X, rows, in), beta, mat(l.weight_grad_, of, in));
      if (l.has_bias()) be.sum_rows(vec(l.bias_grad_), g, beta);
      if (k > first_param_unit_)
        be.gemm(false, false, 1.0, g, mat(l.weight_, of, in), 0.0,
                mat(grad_views_[static_cast<size_t>(k) - 1], rows, in));
    } else {
      // A lone activation after the first Linear: its input gradient goes to
      // the previous unit's gradient buffer.
      be.activation_backward(u.act, mat(grad_views_[static_cast<size_t>(k) - 1], rows, of), g, none,
                             mat(Y, rows, of));
    }
  }
}

void Model::backward(const Tensor &grad_out) {
  if (first_param_unit_ < 0 || plan_.empty()) return;
  const Tensor &G = grad_views_.back();
  if (!G.defined() || grad_out.shape() != G.shape())
    fail(Errc::Shape, "backward: grad_out has shape %s but the last forward_train output is %s",
         grad_out.shape().str().c_str(), G.defined() ? G.shape().str().c_str() : "missing");
  if (grad_out.data() != G.data()) copy_into(G, grad_out, "backward");
  backward_workspace();
}

void Model::validate_batch(const Tensor &x, const Tensor &target, LossKind loss, const char *what) const {
  if (!is_floating(x.dtype()))
    fail(Errc::DType, "%s: x has dtype %s; the model needs floating input (its parameters are %s)", what,
         dtype_name(x.dtype()), dtype_name(dtype_));
  if (x.device() != device_)
    fail(Errc::Device, "%s: x is on %s but the model is on %s", what, x.device().str().c_str(),
         device_.str().c_str());
  const int64_t in = in_features();
  if (x.ndim() != 2 || (in > 0 && x.dim(1) != in))
    fail(Errc::Shape, "%s: x has shape %s; training needs [n, %lld]", what, x.shape().str().c_str(),
         static_cast<long long>(in > 0 ? in : (x.ndim() > 0 ? x.dim(x.ndim() - 1) : 0)));
  if (x.dim(0) < 1) fail(Errc::Shape, "%s: x has shape %s: no rows", what, x.shape().str().c_str());
  const int64_t out = plan_.empty() ? x.dim(1) : unit_out(plan_.size() - 1, x.dim(1));
  Shape ps{x.dim(0), out};
  Tensor fake = Tensor::empty(dtype_, Shape{1, out}, device_);
  validate_loss_target(loss, fake.as_strided(ps, Shape{0, 1}, 0), target, what);
}

// Small F32 CPU batches with a same-shape F32 regression target: forward,
// loss and backward on raw pointers into the workspace (no intermediate
// Tensor or view, one virtual call for the loss kernel); the same kernels
// and the same order of operations as the general path.
bool Model::train_batch_fast(const Tensor &x, const Tensor &target, LossKind loss, double &value) {
  const HostF32Kernels *k32 = backend_for(device_).host_f32();
  if (!k32 || dtype_ != DType::F32 || plan_.empty() || first_param_unit_ < 0 ||
      (loss != LossKind::MSE && loss != LossKind::SSE) || !x.defined() || !target.defined() ||
      x.dtype() != DType::F32 || target.dtype() != DType::F32 || x.ndim() != 2 || target.ndim() != 2 ||
      x.device() != device_ || target.device() != device_ || !x.is_contiguous() || !target.is_contiguous())
    return false;
  const int64_t rows = x.dim(0), in = x.dim(1);
  if (rows < 1 || in < 1 || in != in_features()) return false;
  int64_t widest = in, feat = in;
  for (const Unit &u : plan_) {
    feat = u.linear >= 0 ? u.out : feat;
    widest = std::max(widest, feat);
  }
  if (feat < 1 || target.dim(0) != rows || target.dim(1) != feat || rows * widest > kFastForwardFloats) return false;
  ensure_workspace(rows, in);
  const size_t U = plan_.size();
  const float *xp = x.data_as<const float>();
  // forward
  const float *cur = xp;
  feat = in;
  for (size_t k = 0; k < U; ++k) {
    const Unit &u = plan_[k];
    const int64_t of = u.linear >= 0 ? u.out : feat;
    float *out = acts_[k].data_as<float>();
    if (u.linear >= 0) {
      const Layer &l = *layers_[static_cast<size_t>(u.linear)];
      k32->linear_forward(u.act, out, cur, l.weight_.data_as<const float>(),
                              l.has_bias() ? l.bias_.data_as<const float>() : nullptr, rows, of, feat);
    } else {
      k32->activation_forward(u.act, out, cur, rows, of);
    }
    cur = out;
    feat = of;
  }
  // loss and its gradient into the last unit's gradient buffer
  auto view2 = [](const void *p, int64_t r, int64_t c) {
    View v;
    v.data = const_cast<void *>(p);
    v.dtype = DType::F32;
    v.shape.ndim = 2;
    v.shape.d[0] = r;
    v.shape.d[1] = c;
    v.strides.ndim = 2;
    v.strides.d[0] = c;
    v.strides.d[1] = 1;
    return v;
  };
  double v = 0;
  x.backend().loss(loss, view2(cur, rows, feat), view2(target.data(), rows, feat), &v,
                   view2(grads_[U - 1].data(), rows, feat), 1.0);
  // backward
  const bool acc = !overwrite_grads_;
  overwrite_grads_ = false;
  for (int k = static_cast<int>(U) - 1; k >= first_param_unit_; --k) {
    const Unit &u = plan_[static_cast<size_t>(k)];
    float *g = grads_[static_cast<size_t>(k)].data_as<float>();
    const float *y = acts_[static_cast<size_t>(k)].data_as<const float>();
    const int64_t of = acts_[static_cast<size_t>(k)].dim(1);
    if (u.linear >= 0) {
      Layer &l = *layers_[static_cast<size_t>(u.linear)];
      const float *X = k == 0 ? xp : acts_[static_cast<size_t>(k) - 1].data_as<const float>();
      const int64_t kin = k == 0 ? in : acts_[static_cast<size_t>(k) - 1].dim(1);
      k32->linear_backward(u.act, g, y, X, l.weight_.data_as<const float>(), l.weight_grad_.data_as<float>(),
                               l.has_bias() ? l.bias_grad_.data_as<float>() : nullptr,
                               k > first_param_unit_ ? grads_[static_cast<size_t>(k) - 1].data_as<float>() : nullptr,
                               rows, of, kin, acc);
    } else {
      k32->activation_backward(u.act, grads_[static_cast<size_t>(k) - 1].data_as<float>(), g, y, rows, of);
    }
  }
  value = v;
  return true;
}

double Model::train_batch(const Tensor &x, const Tensor &target, LossKind loss, const char *what) {
  StreamScope on_stream(*this);
  double v;
  if (train_batch_fast(x, target, loss, v)) return v;
  return train_general(x, target, loss, nullptr, what);
}

void Model::train_batch_accum(const Tensor &x, const Tensor &target, LossKind loss, const Tensor &accum,
                              const char *what) {
  if (accum.dtype() != DType::F64 || accum.numel() != 1 || accum.device() != device_)
    fail(Errc::Internal, "%s: the loss accumulator must be one float64 element on %s", what, device_.str().c_str());
  StreamScope on_stream(*this);  // nested in fit's binding: no device work
  if (device_.type == DeviceType::CPU) {
    // A host scalar: nothing to synchronise; train_batch keeps its CPU fast
    // paths and the sum is bit-identical to adding the returned values.
    *static_cast<double *>(accum.data()) += train_batch(x, target, loss, what);
    return;
  }
  train_general(x, target, loss, &accum, what);
}

double Model::train_general(const Tensor &x, const Tensor &target, LossKind loss, const Tensor *accum,
                            const char *what) {
  Tensor xi = prepare_input(x, what);
  if (xi.ndim() != 2)
    fail(Errc::Shape, "%s: x has shape %s; training needs [n, in_features]", what, x.shape().str().c_str());
  if (xi.dim(0) < 1) fail(Errc::Shape, "%s: x has shape %s: no rows", what, x.shape().str().c_str());
  const int64_t rows = xi.dim(0);
  const int64_t out = plan_.empty() ? xi.dim(1) : unit_out(plan_.size() - 1, xi.dim(1));
  // Shape/dtype/device of the target before anything runs (class-id range:
  // the loss kernel, still before any gradient changes).
  Tensor t = prepare_loss_target(loss, Shape{rows, out}, dtype_, device_, target, what);
  const Tensor &pred = forward_train(xi, what);
  Tensor *g = first_param_unit_ >= 0 ? &grad_views_.back() : nullptr;
  double v = 0;
  try {
    if (accum)
      compute_loss_accum(loss, pred, t, g, *accum, what);
    else
      v = compute_loss(loss, pred, t, g, what);
  } catch (...) {
    input_ = Tensor();
    throw;
  }
  backward_workspace();
  input_ = Tensor();  // do not keep the caller's batch alive
  return v;
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
  s += strprintf("Device: %s, dtype: %s\n", device_.str().c_str(), dtype_name(dtype_));
  return s;
}

}  // namespace nn
