// extern "C" shims for layers (group "layers" of nn.h).
#include <cstring>

#include "api/api.hpp"

using namespace nn;
using namespace nn::api;

namespace {

nn::Layer &layer_arg(nn_layer *l, const char *fn) { return *non_null(l, fn, "layer")->layer; }

const Tensor &param_of(const nn::Layer &l, int which, const char *fn, bool grad) {
  if (which != NN_PARAM_WEIGHT && which != NN_PARAM_BIAS)
    fail(Errc::InvalidArgument, "%s: which is %d, not a valid nn_param", fn, which);
  if (l.kind() != LayerKind::Linear)
    fail(Errc::InvalidArgument, "%s: layer is an activation layer (%s); it has no parameters", fn,
         l.describe().c_str());
  if (which == NN_PARAM_BIAS && !l.has_bias())
    fail(Errc::InvalidArgument, "%s: layer %s has no bias", fn, l.describe().c_str());
  if (which == NN_PARAM_WEIGHT) return grad ? l.weight_grad() : l.weight();
  return grad ? l.bias_grad() : l.bias();
}

}  // namespace

extern "C" {

NN_API nn_status nn_layer_linear(int64_t in_features, int64_t out_features, bool bias, nn_layer **out) {
  const char *fn = "nn_layer_linear";
  return guard(fn, [&] {
    non_null(out, fn, "out");
    if (in_features < 1)
      fail(Errc::InvalidArgument, "%s: in_features is %lld; it must be >= 1", fn, static_cast<long long>(in_features));
    if (out_features < 1)
      fail(Errc::InvalidArgument, "%s: out_features is %lld; it must be >= 1", fn,
           static_cast<long long>(out_features));
    auto l = nn::Layer::linear(in_features, out_features, bias);
    auto h = std::make_unique<nn_layer>();
    h->layer = l.get();
    h->owned = std::move(l);
    *out = h.release();
  });
}

NN_API nn_status nn_layer_activation(nn_activation act, nn_layer **out) {
  const char *fn = "nn_layer_activation";
  return guard(fn, [&] {
    non_null(out, fn, "out");
    auto l = nn::Layer::activation(act_arg(enum_value(act), fn, "act"));
    auto h = std::make_unique<nn_layer>();
    h->layer = l.get();
    h->owned = std::move(l);
    *out = h.release();
  });
}

NN_API void nn_layer_free(nn_layer *layer) {
  // A layer that belongs to a model is freed with the model: ignore it here.
  if (layer == nullptr || !layer->owned) return;
  delete layer;
}

NN_API nn_layer_kind nn_layer_kind_of(const nn_layer *layer) {
  if (layer == nullptr) return static_cast<nn_layer_kind>(-1);
  return static_cast<nn_layer_kind>(layer->layer->kind());
}

NN_API nn_activation nn_layer_activation_of(const nn_layer *layer) {
  if (layer == nullptr || layer->layer->kind() != nn::LayerKind::Activation) return static_cast<nn_activation>(-1);
  return static_cast<nn_activation>(layer->layer->act());
}

NN_API nn_status nn_layer_param(nn_layer *layer, nn_param which, nn_tensor **out) {
  const char *fn = "nn_layer_param";
  return guard(fn, [&] {
    const nn::Layer &l = layer_arg(layer, fn);
    non_null(out, fn, "out");
    give(out, param_of(l, enum_value(which), fn, false));
  });
}

NN_API nn_status nn_layer_grad(nn_layer *layer, nn_param which, nn_tensor **out) {
  const char *fn = "nn_layer_grad";
  return guard(fn, [&] {
    const nn::Layer &l = layer_arg(layer, fn);
    non_null(out, fn, "out");
    give(out, clone(param_of(l, enum_value(which), fn, true)));
  });
}

NN_API nn_status nn_layer_forward(nn_layer *layer, const nn_tensor *x, nn_tensor **y) {
  const char *fn = "nn_layer_forward";
  return guard(fn, [&] {
    const nn::Layer &l = layer_arg(layer, fn);
    const Tensor &tx = tensor_arg(x, fn, "x");
    non_null(y, fn, "y");
    give(y, l.forward(tx, fn));
  });
}

}  // extern "C"
