// extern "C" shims for saving and loading models (safetensors).
#include <cstring>

#include "api/api.hpp"
#include "io/file.hpp"
#include "nn/model_io.hpp"

using namespace nn;
using namespace nn::api;

namespace nn::api {

nn_model *wrap_model(std::unique_ptr<Model> m) {
  auto h = std::make_unique<nn_model>();
  h->layers.reserve(static_cast<size_t>(m->num_layers()));
  for (int i = 0; i < m->num_layers(); ++i)
    h->layers.push_back(std::make_unique<nn_layer>(nn_layer{&m->layer(i), nullptr}));
  h->model = std::move(m);
  return h.release();
}

}  // namespace nn::api

extern "C" {

NN_API nn_status nn_model_save(const nn_model *m, const char *path) {
  const char *fn = "nn_model_save";
  return guard(fn, [&] {
    const Model &model = *non_null(m, fn, "m")->model;
    non_null(path, fn, "path");
    std::vector<uint8_t> bytes = save_model(model);
    write_file_atomic(path, bytes.data(), bytes.size(), fn);
  });
}

NN_API nn_status nn_model_load(const char *path, nn_device dev, nn_model **out) {
  const char *fn = "nn_model_load";
  return guard(fn, [&] {
    non_null(path, fn, "path");
    non_null(out, fn, "out");
    Device d = device_arg(dev, fn);
    // The header length is checked after 8 bytes, before the header is
    // read; the tensors are read straight into the parameters.
    InputFile in(path, fn);
    *out = wrap_model(load_model(read_file_header(in, fn), d, fn));
  });
}

NN_API nn_status nn_model_save_buffer(const nn_model *m, void *buf, size_t cap, size_t *needed) {
  const char *fn = "nn_model_save_buffer";
  return guard(fn, [&] {
    const Model &model = *non_null(m, fn, "m")->model;
    if (cap > 0) non_null(buf, fn, "buf");
    std::vector<uint8_t> bytes = save_model(model);
    if (needed) *needed = bytes.size();
    if (cap > 0 && cap < bytes.size())
      fail(Errc::InvalidArgument, "%s: cap is %zu bytes but the model needs %zu", fn, cap, bytes.size());
    if (cap > 0) std::memcpy(buf, bytes.data(), bytes.size());
  });
}

NN_API nn_status nn_model_load_buffer(const void *buf, size_t len, nn_device dev, nn_model **out) {
  const char *fn = "nn_model_load_buffer";
  return guard(fn, [&] {
    if (len > 0) non_null(buf, fn, "buf");
    non_null(out, fn, "out");
    Device d = device_arg(dev, fn);
    *out = wrap_model(load_model(static_cast<const uint8_t *>(buf), len, d, fn));
  });
}

}  // extern "C"
