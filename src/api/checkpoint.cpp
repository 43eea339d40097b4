// extern "C" shims for checkpoints, state-dict loading, model metadata and
// the C source export (nn.h, groups "training" and "persistence").
#include <cstring>
#include <iterator>
#include <string>

#include "api/api.hpp"
#include "io/file.hpp"
#include "nn/checkpoint.hpp"
#include "nn/export_c.hpp"
#include "nn/model_io.hpp"

using namespace nn;
using namespace nn::api;

extern "C" {

NN_API int64_t nn_optimizer_epoch(const nn_optimizer *opt) { return opt ? opt->opt->epoch() : -1; }

NN_API nn_status nn_checkpoint_save(const nn_model *m, const nn_optimizer *opt, const char *path) {
  const char *fn = "nn_checkpoint_save";
  return guard(fn, [&] {
    const Model &model = *non_null(m, fn, "m")->model;
    non_null(opt, fn, "opt");
    non_null(path, fn, "path");
    if (opt->model != m || &opt->opt->model() != m->model.get())
      fail(Errc::InvalidArgument, "%s: optimizer was created for another model", fn);
    opt->opt->check_params(fn);
    std::vector<uint8_t> bytes = save_checkpoint(model, *opt->opt, fn);
    write_file_atomic(path, bytes.data(), bytes.size(), fn);
  });
}

NN_API nn_status nn_checkpoint_load(const char *path, nn_device dev, nn_model **model, nn_optimizer **opt) {
  const char *fn = "nn_checkpoint_load";
  return guard(fn, [&] {
    non_null(path, fn, "path");
    non_null(model, fn, "model");
    non_null(opt, fn, "opt");
    Device d = device_arg(dev, fn);
    InputFile in(path, fn);
    auto loaded = load_checkpoint(read_file_header(in, fn), d, fn);
    std::unique_ptr<nn_model> mh(wrap_model(std::move(loaded.first)));
    std::unique_ptr<nn_optimizer> oh(new nn_optimizer{std::move(loaded.second), mh.get()});
    *model = mh.release();
    *opt = oh.release();
  });
}

NN_API nn_status nn_model_load_weights(nn_model *m, const char *path) {
  const char *fn = "nn_model_load_weights";
  return guard(fn, [&] {
    Model &model = model_arg(m, fn);
    non_null(path, fn, "path");
    std::vector<uint8_t> bytes = read_file(path, fn);
    load_weights(model, bytes.data(), bytes.size(), fn);
  });
}

NN_API nn_status nn_model_set_metadata(nn_model *m, const char *key, const char *value) {
  const char *fn = "nn_model_set_metadata";
  return guard(fn, [&] {
    Model &model = model_arg(m, fn);
    non_null(key, fn, "key");
    auto &meta = model.metadata();
    if (!value) {
      if (is_reserved_key(key))
        fail(Errc::InvalidArgument, "%s: metadata key \"%s\" is reserved (keys starting with \"nn.\" are the library's)",
             fn, key);
      meta.erase(key);
      return;
    }
    std::string k(key), v(value);
    check_metadata_entry(k, v, Errc::InvalidArgument, fn);
    auto it = meta.find(k);
    if (it == meta.end() && meta.size() >= kMetaMaxEntries)
      fail(Errc::InvalidArgument, "%s: the model already has %zu metadata entries, the most it can hold", fn,
           meta.size());
    if (it == meta.end())
      meta.emplace(std::move(k), std::move(v));
    else
      it->second = std::move(v);
  });
}

NN_API nn_status nn_model_get_metadata(const nn_model *m, const char *key, char *buf, size_t cap, size_t *needed) {
  const char *fn = "nn_model_get_metadata";
  return guard(fn, [&] {
    const Model &model = *non_null(m, fn, "m")->model;
    non_null(key, fn, "key");
    if (cap > 0) non_null(buf, fn, "buf");
    if (is_reserved_key(key))
      fail(Errc::InvalidArgument, "%s: metadata key \"%s\" is reserved (keys starting with \"nn.\" are the library's)",
           fn, key);
    auto it = model.metadata().find(key);
    if (it == model.metadata().end()) {
      if (needed) *needed = 0;
      if (cap > 0) buf[0] = '\0';
      return;
    }
    write_text(it->second, buf, cap, needed, fn);
  });
}

NN_API int nn_model_metadata_count(const nn_model *m) {
  return m ? static_cast<int>(m->model->metadata().size()) : -1;
}

NN_API nn_status nn_model_metadata_key(const nn_model *m, int index, char *buf, size_t cap, size_t *needed) {
  const char *fn = "nn_model_metadata_key";
  return guard(fn, [&] {
    const Model &model = *non_null(m, fn, "m")->model;
    if (cap > 0) non_null(buf, fn, "buf");
    const auto &meta = model.metadata();
    if (index < 0 || static_cast<size_t>(index) >= meta.size())
      fail(Errc::InvalidArgument, "%s: index is %d; the model has %zu metadata entries", fn, index, meta.size());
    auto it = meta.begin();
    std::advance(it, index);
    write_text(it->first, buf, cap, needed, fn);
  });
}

NN_API nn_status nn_model_export_c(const nn_model *m, const char *path, const char *prefix) {
  const char *fn = "nn_model_export_c";
  return guard(fn, [&] {
    const Model &model = *non_null(m, fn, "m")->model;
    non_null(path, fn, "path");
    non_null(prefix, fn, "prefix");
    std::string text = export_c(model, prefix, fn);
    write_file_atomic(path, text.data(), text.size(), fn);
  });
}

}  // extern "C"
