// Layers: Linear (PyTorch convention) and activations; standalone inference,
// seeded initialisation, device/dtype moves.
#include <cmath>
#include <vector>

#include "nn/model.hpp"

namespace nn {
namespace {

uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// The seed of one layer's values: depends only on (seed, stream).
uint64_t layer_seed(uint64_t seed, uint64_t stream) { return mix64(mix64(seed) ^ mix64(stream ^ 0x6c6179657273ull)); }

const char *act_name(Act a) {
  switch (a) {
    case Act::Identity: return "Identity";
    case Act::Relu: return "ReLU";
    case Act::Sigmoid: return "Sigmoid";
    case Act::Tanh: return "Tanh";
    case Act::Step: return "Step";
    case Act::Softmax: return "Softmax(dim=-1)";
    case Act::LeakyRelu: return "LeakyReLU(0.01)";
  }
  return "?";
}

}  // namespace

std::unique_ptr<Layer> Layer::linear(int64_t in, int64_t out, bool bias) {
  auto l = linear_uninit(in, out, bias, DType::F32, Device{});
  l->init(Init::TorchDefault, 0, 0);
  return l;
}

std::unique_ptr<Layer> Layer::linear_uninit(int64_t in, int64_t out, bool bias, DType dt, Device dev) {
  if (in < 1 || out < 1)
    fail(Errc::InvalidArgument, "Linear(%lld, %lld): feature counts must be >= 1", static_cast<long long>(in),
         static_cast<long long>(out));
  if (in > INT64_MAX / out) fail(Errc::InvalidArgument, "Linear(%lld, %lld) has too many parameters",
                                 static_cast<long long>(in), static_cast<long long>(out));
  auto l = std::make_unique<Layer>();
  l->kind_ = LayerKind::Linear;
  l->in_ = in;
  l->out_ = out;
  l->weight_ = Tensor::empty(dt, Shape{out, in}, dev);
  l->weight_grad_ = zeros(dt, Shape{out, in}, dev);
  if (bias) {
    l->bias_ = Tensor::empty(dt, Shape{out}, dev);
    l->bias_grad_ = zeros(dt, Shape{out}, dev);
  }
  return l;
}

std::unique_ptr<Layer> Layer::activation(Act act) {
  int v = static_cast<int>(act);
  if (v < 0 || v > static_cast<int>(Act::LeakyRelu)) fail(Errc::InvalidArgument, "activation %d is not valid", v);
  auto l = std::make_unique<Layer>();
  l->kind_ = LayerKind::Activation;
  l->act_ = act;
  return l;
}

Tensor Layer::forward(const Tensor &x, const char *what) const {
  if (!is_floating(x.dtype()))
    fail(Errc::DType, "%s: x has dtype %s; layers need floating input", what, dtype_name(x.dtype()));
  // One layer runs as a one-unit plan, like a model's.
  Plan p;
  p.device = x.device();
  PlanUnit u;
  u.act = kind_ == LayerKind::Linear ? Act::Identity : act_;
  Tensor xc;
  if (kind_ == LayerKind::Linear) {
    if (x.dtype() != weight_.dtype())
      fail(Errc::DType, "%s: x has dtype %s but the layer's parameters are %s", what, dtype_name(x.dtype()),
           dtype_name(weight_.dtype()));
    if (x.device() != weight_.device())
      fail(Errc::Device, "%s: x is on %s but the layer is on %s", what, x.device().str().c_str(),
           weight_.device().str().c_str());
    if (x.ndim() < 1 || x.dim(x.ndim() - 1) != in_)
      fail(Errc::Shape, "%s: x has shape %s; Linear(%lld, %lld) needs [..., %lld]", what, x.shape().str().c_str(),
           static_cast<long long>(in_), static_cast<long long>(out_), static_cast<long long>(in_));
    xc = x.contiguous();
    u.linear = true;
    u.in = in_;
    u.out = out_;
    u.w = weight_.data();
    u.b = bias_.defined() ? bias_.data() : nullptr;
    p.in_features = in_;
  } else {
    // Activation: F32/F64 directly; F16/BF16 through F32.
    xc = x.dtype() == DType::F32 || x.dtype() == DType::F64 ? x.contiguous() : to_dtype(x, DType::F32);
  }
  p.dtype = xc.dtype();
  p.units.push_back(u);
  const int64_t in = xc.ndim() > 0 ? xc.dim(xc.ndim() - 1) : 1;
  const int64_t out = u.linear ? out_ : in;
  Shape ys = xc.shape();
  if (ys.ndim > 0) ys[ys.ndim - 1] = out;
  Tensor y = Tensor::empty(xc.dtype(), ys, xc.device());
  const int64_t rows = in > 0 ? xc.numel() / in : 0;
  if (rows > 0 && out > 0)
    backend_of(y).plan_forward(p, matrix_view(xc.data(), xc.dtype(), rows, in), matrix_view(y.data(), y.dtype(), rows, out));
  return y.dtype() == x.dtype() ? y : to_dtype(y, x.dtype());
}

void Layer::init(Init scheme, uint64_t seed, uint64_t stream) {
  if (kind_ != LayerKind::Linear) return;
  const uint64_t s = layer_seed(seed, stream);
  const int64_t nw = weight_.numel();
  const double fan_in = static_cast<double>(in_), fan_out = static_cast<double>(out_);
  std::vector<double> w(static_cast<size_t>(nw));
  std::vector<double> b(bias_.defined() ? static_cast<size_t>(out_) : 0);
  auto uniform = [&](std::vector<double> &v, double bound, uint64_t offset) {
    for (size_t i = 0; i < v.size(); ++i) v[i] = -bound + 2.0 * bound * uniform01(s, offset + i);
  };
  auto normal = [&](std::vector<double> &v, double std) {
    for (size_t i = 0; i < v.size(); ++i) v[i] = std * normal01(s, i);
  };
  switch (scheme) {
    case Init::TorchDefault:
      uniform(w, 1.0 / std::sqrt(fan_in), 0);
      uniform(b, 1.0 / std::sqrt(fan_in), static_cast<uint64_t>(nw));
      break;
    case Init::HeUniform: uniform(w, std::sqrt(6.0 / fan_in), 0); break;
    case Init::HeNormal: normal(w, std::sqrt(2.0 / fan_in)); break;
    case Init::XavierUniform: uniform(w, std::sqrt(6.0 / (fan_in + fan_out)), 0); break;
    case Init::XavierNormal: normal(w, std::sqrt(2.0 / (fan_in + fan_out))); break;
    case Init::Zeros: break;
    default: fail(Errc::InvalidArgument, "init scheme %d is not valid", static_cast<int>(scheme));
  }
  // Generated on the host in float64, converted on the parameters' device:
  // the same seed gives the same values everywhere.
  Tensor tw = from_host(DType::F64, weight_.shape(), w.data(), weight_.device());
  Tensor tb = bias_.defined() ? from_host(DType::F64, bias_.shape(), b.data(), bias_.device()) : Tensor();
  copy_into(weight_, tw, "init");
  if (bias_.defined()) copy_into(bias_, tb, "init");
}

Layer::Params Layer::converted(Device dev, DType dt) const {
  Params p;
  auto conv = [&](const Tensor &t) {
    if (!t.defined()) return Tensor();
    if (t.device() == dev && t.dtype() == dt) return t;
    Tensor c = t.dtype() == dt ? t : to_dtype(t, dt);
    return c.device() == dev ? c : to_device(c, dev);
  };
  p.weight = conv(weight_);
  p.bias = conv(bias_);
  p.weight_grad = conv(weight_grad_);
  p.bias_grad = conv(bias_grad_);
  return p;
}

void Layer::install(Params &&p) noexcept {
  weight_ = std::move(p.weight);
  bias_ = std::move(p.bias);
  weight_grad_ = std::move(p.weight_grad);
  bias_grad_ = std::move(p.bias_grad);
}

void Layer::zero_grad() {
  if (weight_grad_.defined() && weight_grad_.numel() > 0) weight_grad_.kernels().fill(weight_grad_.view(), 0.0);
  if (bias_grad_.defined() && bias_grad_.numel() > 0) bias_grad_.kernels().fill(bias_grad_.view(), 0.0);
}

std::string Layer::describe() const {
  if (kind_ == LayerKind::Linear)
    return strprintf("Linear(%lld, %lld%s)", static_cast<long long>(in_), static_cast<long long>(out_),
                     bias_.defined() ? "" : ", bias=False");
  return act_name(act_);
}

}  // namespace nn
