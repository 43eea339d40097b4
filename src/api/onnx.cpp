// extern "C" shims for ONNX export and import (io/onnx).
#include "api/api.hpp"
#include "io/file.hpp"
#include "nn/model_onnx.hpp"

using namespace nn;
using namespace nn::api;

extern "C" {

NN_API nn_status nn_model_export_onnx(const nn_model *m, const char *path) {
  const char *fn = "nn_model_export_onnx";
  return guard(fn, [&] {
    const Model &model = *non_null(m, fn, "m")->model;
    non_null(path, fn, "path");
    std::vector<uint8_t> bytes = onnx::export_model(model, fn);
    write_file_atomic(path, bytes.data(), bytes.size(), fn);
  });
}

NN_API nn_status nn_model_import_onnx(const char *path, nn_device dev, nn_model **out) {
  const char *fn = "nn_model_import_onnx";
  return guard(fn, [&] {
    non_null(path, fn, "path");
    non_null(out, fn, "out");
    Device d = device_arg(dev, fn);
    std::vector<uint8_t> bytes = read_file(path, fn);
    *out = wrap_model(onnx::import_model(bytes.data(), bytes.size(), d, fn));
  });
}

}  // extern "C"
