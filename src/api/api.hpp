// Shared by the extern "C" shims: the handle structs, the exception ->
// nn_status guard, the thread-local last error, and argument checks.
#pragma once
#include <cstring>
#include <new>
#include <string>

#include "backend/registry.hpp"
#include "core/error.hpp"
#include "core/ops.hpp"
#include "core/tensor.hpp"
#include "nn.h"
#include "nn/model.hpp"
#include "nn/optim.hpp"

struct nn_tensor {
  nn::Tensor t;
};

// A layer handle. A standalone layer owns its Layer; after nn_model_add the
// model owns the Layer and keeps this handle (borrowed by the caller).
struct nn_layer {
  nn::Layer *layer;
  std::unique_ptr<nn::Layer> owned;
};

// A model and one stable handle per layer (nn_model_layer returns them).
struct nn_model {
  std::unique_ptr<nn::Model> model;
  std::vector<std::unique_ptr<nn_layer>> layers;
};

// An optimizer and the model handle it was created for (nn_model_fit checks
// that they go together).
struct nn_optimizer {
  std::unique_ptr<nn::Optimizer> opt;
  nn_model *model;
};

namespace nn::api {

void set_last_error(const std::string &message);
nn_status status_of(Errc code);

// Runs f; turns any exception into a status and a last-error message that
// starts with the function name `fn`. Nothing escapes.
template <typename F>
nn_status guard(const char *fn, F &&f) noexcept {
  // The device registry is core's kernels lookup; installing it here (once:
  // a guard-variable check afterwards) also links it into static programs.
  static const bool devices_ready = (install_device_registry(), true);
  (void)devices_ready;
  try {
    f();
    return NN_OK;
  } catch (const Error &e) {
    std::string msg = e.what();
    if (msg.compare(0, std::char_traits<char>::length(fn), fn) != 0) msg = std::string(fn) + ": " + msg;
    set_last_error(msg);
    return status_of(e.code());
  } catch (const std::bad_alloc &) {
    set_last_error(std::string(fn) + ": out of memory");
    return NN_ERR_OUT_OF_MEMORY;
  } catch (const std::exception &e) {
    set_last_error(std::string(fn) + ": internal error: " + e.what());
    return NN_ERR_INTERNAL;
  } catch (...) {
    set_last_error(std::string(fn) + ": internal error");
    return NN_ERR_INTERNAL;
  }
}

// Argument checks: each throws Errc::InvalidArgument naming the argument.
template <typename T>
T *non_null(T *p, const char *fn, const char *name) {
  if (p == nullptr) fail(Errc::InvalidArgument, "%s: %s is NULL", fn, name);
  return p;
}
inline const Tensor &tensor_arg(const nn_tensor *t, const char *fn, const char *name) {
  return non_null(t, fn, name)->t;
}
// The value of a C enum argument read without an enum-typed load: a caller
// may pass any int, and loading an out-of-range enum is undefined in C++.
template <typename E>
int enum_value(const E &e) {
  static_assert(sizeof(E) == sizeof(int), "C enums are int-sized");
  int v;
  std::memcpy(&v, &e, sizeof v);
  return v;
}
DType dtype_arg(int dt, const char *fn, const char *name = "dt");
inline Act act_arg(int a, const char *fn, const char *name) {
  if (a < NN_ACT_IDENTITY || a > NN_ACT_LEAKY_RELU)
    fail(Errc::InvalidArgument, "%s: %s is %d, not a valid nn_activation", fn, name, a);
  return static_cast<Act>(a);
}
inline LossKind loss_arg(int l, const char *fn) {
  if (l < NN_LOSS_MSE || l > NN_LOSS_CROSS_ENTROPY)
    fail(Errc::InvalidArgument, "%s: loss is %d, not a valid nn_loss", fn, l);
  return static_cast<LossKind>(l);
}
Device device_arg(nn_device dev, const char *fn, const char *name = "dev");
inline nn_device to_c(Device d) { return nn_device{static_cast<int32_t>(d.type), d.index}; }

// Hands a tensor to the caller as a new handle.
// Handles come from a small per-thread cache of freed handles, so that a
// make/forward/free loop allocates only tensor storage in steady state
// (plain new/delete under AddressSanitizer, which then sees every misuse).
void *handle_memory();
void release_handle_memory(void *p) noexcept;
inline void give(nn_tensor **out, Tensor t) {
  void *mem = handle_memory();
  *out = ::new (mem) nn_tensor{std::move(t)};  // nn_tensor's construction cannot throw
}

inline Model &model_arg(nn_model *m, const char *fn) { return *non_null(m, fn, "m")->model; }

// The optimizer of a handle, checked to belong to m.
inline Optimizer &optimizer_for(nn_optimizer *opt, const nn_model *m, const char *fn) {
  non_null(opt, fn, "opt");
  if (opt->model != m || &opt->opt->model() != m->model.get())
    fail(Errc::InvalidArgument, "%s: optimizer was created for another model", fn);
  return *opt->opt;
}

// A new model handle owning m, with one borrowed layer handle per layer.
nn_model *wrap_model(std::unique_ptr<Model> m);

// snprintf-style copy of text into (buf, cap); *needed (if not NULL) gets size + 1.
void write_text(const std::string &text, char *buf, size_t cap, size_t *needed, const char *fn);

}  // namespace nn::api
