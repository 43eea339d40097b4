// extern "C" shims for data files (.npy, CSV), row selection and metrics.
#include "api/api.hpp"
#include "core/select.hpp"
#include "io/csv.hpp"
#include "io/file.hpp"
#include "io/npy.hpp"
#include "nn/metrics.hpp"

using namespace nn;
using namespace nn::api;

extern "C" {

NN_API nn_status nn_tensor_load_npy(const char *path, nn_device dev, nn_tensor **out) {
  const char *fn = "nn_tensor_load_npy";
  return guard(fn, [&] {
    non_null(path, fn, "path");
    non_null(out, fn, "out");
    Device d = device_arg(dev, fn);
    std::string what = std::string(fn) + ": " + path;
    // The header first: a hostile one is refused before the data is read.
    std::vector<uint8_t> bytes = read_file(path, fn, kNpyPrefixBytes, [&](const uint8_t *p, uint64_t total) {
      parse_npy_header(p, static_cast<size_t>(total < kNpyPrefixBytes ? total : kNpyPrefixBytes), total,
                       what.c_str());
    });
    give(out, load_npy(bytes.data(), bytes.size(), d, what.c_str()));
  });
}

NN_API nn_status nn_tensor_save_npy(const nn_tensor *t, const char *path) {
  const char *fn = "nn_tensor_save_npy";
  return guard(fn, [&] {
    const Tensor &x = tensor_arg(t, fn, "t");
    non_null(path, fn, "path");
    std::vector<uint8_t> bytes = save_npy(x);
    write_file_atomic(path, bytes.data(), bytes.size(), fn);
  });
}

NN_API nn_status nn_tensor_load_csv(const char *path, char delimiter, int skip_rows, nn_dtype dt, nn_device dev,
                                    nn_tensor **out) {
  const char *fn = "nn_tensor_load_csv";
  return guard(fn, [&] {
    non_null(path, fn, "path");
    non_null(out, fn, "out");
    DType d = dtype_arg(enum_value(dt), fn);
    Device dv = device_arg(dev, fn);
    std::vector<uint8_t> bytes = read_file(path, fn);
    give(out, load_csv(reinterpret_cast<const char *>(bytes.data()), bytes.size(), path, delimiter, skip_rows, d, dv,
                       fn));
  });
}

NN_API nn_status nn_tensor_slice(const nn_tensor *t, int dim, int64_t start, int64_t end, nn_tensor **out) {
  const char *fn = "nn_tensor_slice";
  return guard(fn, [&] {
    const Tensor &x = tensor_arg(t, fn, "t");
    non_null(out, fn, "out");
    give(out, slice(x, dim, start, end, fn));
  });
}

NN_API nn_status nn_tensor_index_select(const nn_tensor *t, int dim, const nn_tensor *index, nn_tensor **out) {
  const char *fn = "nn_tensor_index_select";
  return guard(fn, [&] {
    const Tensor &x = tensor_arg(t, fn, "t");
    const Tensor &i = tensor_arg(index, fn, "index");
    non_null(out, fn, "out");
    give(out, index_select(x, dim, i, fn));
  });
}

NN_API nn_status nn_tensor_concat(int n, const nn_tensor *const *ts, int dim, nn_tensor **out) {
  const char *fn = "nn_tensor_concat";
  return guard(fn, [&] {
    non_null(out, fn, "out");
    if (n < 1) fail(Errc::InvalidArgument, "%s: n is %d; it must be >= 1", fn, n);
    non_null(ts, fn, "ts");
    std::vector<const Tensor *> v(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      if (ts[i] == nullptr) fail(Errc::InvalidArgument, "%s: ts[%d] is NULL", fn, i);
      v[static_cast<size_t>(i)] = &ts[i]->t;
    }
    give(out, concat(n, v.data(), dim, fn));
  });
}

NN_API nn_status nn_metric_compute(nn_metric metric_kind, const nn_tensor *pred, const nn_tensor *target,
                                   double *value) {
  const char *fn = "nn_metric_compute";
  return guard(fn, [&] {
    int mv = enum_value(metric_kind);
    if (mv < NN_METRIC_ACCURACY || mv > NN_METRIC_R2)
      fail(Errc::InvalidArgument, "%s: metric is %d, not a valid nn_metric", fn, mv);
    const Tensor &p = tensor_arg(pred, fn, "pred");
    const Tensor &y = tensor_arg(target, fn, "target");
    non_null(value, fn, "value");
    *value = metric(static_cast<Metric>(mv), p, y, fn);
  });
}

NN_API nn_status nn_confusion_matrix(const nn_tensor *pred, const nn_tensor *target, int64_t classes,
                                     nn_tensor **out) {
  const char *fn = "nn_confusion_matrix";
  return guard(fn, [&] {
    const Tensor &p = tensor_arg(pred, fn, "pred");
    const Tensor &y = tensor_arg(target, fn, "target");
    non_null(out, fn, "out");
    give(out, confusion_matrix(p, y, classes, fn));
  });
}

}  // extern "C"
