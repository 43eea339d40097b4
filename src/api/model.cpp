// extern "C" shims for models (group "models" of nn.h) and for the loss,
// zero_grad and backward functions of group "training".
#include <cstring>
#include <vector>

#include "api/api.hpp"

using namespace nn;
using namespace nn::api;

extern "C" {

NN_API nn_status nn_model_create(nn_model **out) {
  const char *fn = "nn_model_create";
  return guard(fn, [&] {
    non_null(out, fn, "out");
    *out = wrap_model(std::make_unique<nn::Model>());
  });
}

NN_API nn_status nn_model_add(nn_model *m, nn_layer *layer) {
  const char *fn = "nn_model_add";
  return guard(fn, [&] {
    non_null(m, fn, "m");
    non_null(layer, fn, "layer");
    if (!layer->owned || layer->layer->owned_by_model())
      fail(Errc::InvalidArgument, "%s: layer already belongs to a model", fn);
    nn::reserve_one_more(m->layers);
    m->model->add(std::move(layer->owned), fn);  // moved only on success
    m->layers.emplace_back(layer);               // capacity reserved: cannot throw
  });
}

NN_API nn_status nn_model_mlp(int n_sizes, const int64_t *sizes, nn_activation hidden, nn_activation output,
                              nn_model **out) {
  const char *fn = "nn_model_mlp";
  return guard(fn, [&] {
    non_null(out, fn, "out");
    if (n_sizes < 2) fail(Errc::InvalidArgument, "%s: n_sizes is %d; it must be >= 2", fn, n_sizes);
    non_null(sizes, fn, "sizes");
    std::vector<int64_t> s(sizes, sizes + n_sizes);
    for (int i = 0; i < n_sizes; ++i)
      if (s[static_cast<size_t>(i)] < 1)
        fail(Errc::InvalidArgument, "%s: sizes[%d] is %lld; it must be >= 1", fn, i,
             static_cast<long long>(s[static_cast<size_t>(i)]));
    Act h = act_arg(enum_value(hidden), fn, "hidden");
    Act o = act_arg(enum_value(output), fn, "output");
    *out = wrap_model(nn::Model::mlp(s, h, o));
  });
}

NN_API void nn_model_free(nn_model *m) { delete m; }

NN_API int nn_model_num_layers(const nn_model *m) { return m ? m->model->num_layers() : -1; }

NN_API nn_status nn_model_layer(nn_model *m, int index, nn_layer **out) {
  const char *fn = "nn_model_layer";
  return guard(fn, [&] {
    non_null(m, fn, "m");
    non_null(out, fn, "out");
    const int n = static_cast<int>(m->layers.size());
    if (index < 0 || index >= n)
      fail(Errc::InvalidArgument, "%s: index is %d; the model has %d layers (0..%d)", fn, index, n, n - 1);
    *out = m->layers[static_cast<size_t>(index)].get();
  });
}

NN_API int64_t nn_model_num_params(const nn_model *m) { return m ? m->model->num_params() : -1; }

NN_API nn_status nn_model_init(nn_model *m, nn_init scheme, uint64_t seed) {
  const char *fn = "nn_model_init";
  return guard(fn, [&] {
    nn::Model &model = model_arg(m, fn);
    const int sc = enum_value(scheme);
    if (sc < NN_INIT_TORCH_DEFAULT || sc > NN_INIT_ZEROS)
      fail(Errc::InvalidArgument, "%s: scheme is %d, not a valid nn_init", fn, sc);
    model.init(static_cast<Init>(sc), seed);
  });
}

NN_API nn_status nn_model_to(nn_model *m, nn_device dev) {
  const char *fn = "nn_model_to";
  return guard(fn, [&] {
    nn::Model &model = model_arg(m, fn);
    model.to(device_arg(dev, fn));
  });
}

NN_API nn_device nn_model_device(const nn_model *m) { return m ? to_c(m->model->device()) : nn_device{0, -1}; }

NN_API nn_status nn_model_to_dtype(nn_model *m, nn_dtype dt) {
  const char *fn = "nn_model_to_dtype";
  return guard(fn, [&] {
    nn::Model &model = model_arg(m, fn);
    DType d = dtype_arg(enum_value(dt), fn);
    if (d != DType::F32 && d != DType::F64)
      fail(Errc::DType, "%s: dt is %s; model parameters are float32 or float64", fn, dtype_name(d));
    model.to_dtype(d);
  });
}

NN_API nn_dtype nn_model_dtype(const nn_model *m) {
  return m ? static_cast<nn_dtype>(m->model->dtype()) : static_cast<nn_dtype>(-1);
}

NN_API nn_status nn_model_forward(nn_model *m, const nn_tensor *x, nn_tensor **y) {
  const char *fn = "nn_model_forward";
  return guard(fn, [&] {
    const nn::Model &model = model_arg(m, fn);
    const Tensor &tx = tensor_arg(x, fn, "x");
    non_null(y, fn, "y");
    give(y, model.forward(tx, fn));
  });
}

NN_API nn_status nn_model_predict(const nn_model *m, int64_t rows, const float *x, float *y) {
  const char *fn = "nn_model_predict";
  return guard(fn, [&] {
    non_null(m, fn, "m");
    m->model->predict(rows, x, y, fn);
  });
}

NN_API int64_t nn_model_in_features(const nn_model *m) {
  if (m == nullptr) return -1;
  const int64_t n = m->model->in_features();
  return n > 0 ? n : -1;
}

NN_API int64_t nn_model_out_features(const nn_model *m) {
  if (m == nullptr) return -1;
  const int64_t n = m->model->out_features();
  return n > 0 ? n : -1;
}

NN_API nn_status nn_model_summary(const nn_model *m, char *buf, size_t cap, size_t *needed) {
  const char *fn = "nn_model_summary";
  return guard(fn, [&] {
    non_null(m, fn, "m");
    if (cap > 0) non_null(buf, fn, "buf");
    write_text(m->model->summary(), buf, cap, needed, fn);
  });
}

NN_API nn_status nn_loss_compute(nn_loss loss, const nn_tensor *pred, const nn_tensor *target, double *value,
                                 nn_tensor **grad) {
  const char *fn = "nn_loss_compute";
  return guard(fn, [&] {
    LossKind k = loss_arg(enum_value(loss), fn);
    const Tensor &p = tensor_arg(pred, fn, "pred");
    const Tensor &t = tensor_arg(target, fn, "target");
    non_null(value, fn, "value");
    Tensor g;
    double v = compute_loss(k, p, t, grad ? &g : nullptr, fn);
    if (grad) give(grad, std::move(g));
    *value = v;
  });
}

NN_API nn_status nn_model_zero_grad(nn_model *m) {
  const char *fn = "nn_model_zero_grad";
  return guard(fn, [&] { model_arg(m, fn).zero_grad(); });
}

NN_API nn_status nn_model_backward(nn_model *m, const nn_tensor *x, const nn_tensor *target, nn_loss loss,
                                   double *loss_value) {
  const char *fn = "nn_model_backward";
  return guard(fn, [&] {
    nn::Model &model = model_arg(m, fn);
    LossKind k = loss_arg(enum_value(loss), fn);
    const Tensor &tx = tensor_arg(x, fn, "x");
    const Tensor &tt = tensor_arg(target, fn, "target");
    non_null(loss_value, fn, "loss_value");
    *loss_value = model.train_batch(tx, tt, k, fn);
  });
}

}  // extern "C"
