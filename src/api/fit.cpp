// extern "C" shims for the training loop and evaluation.
//
// ABI growth: nn_fit_options has versions (nn.h, NN_FIT_OPTIONS_VERSION).
// The library reads and writes only the fields of the version the caller's
// struct names: nn_fit_options_init exists twice (symbol versions, see
// src/api/exports.map): nn_fit_options_init@nn_0.1 fills a version-1 struct
// (what a program linked against 0.1.0 has), @@nn_0.2 a version-2 one.
// nn_model_fit reads `version` first, then only that version's bytes, and
// writes at most that version's nn_epoch_report.
#include <cstddef>
#include <cstring>
#include <type_traits>

#include "api/api.hpp"
#include "api/comm.hpp"
#include "nn/fit_comm.hpp"
#include "nn/fit.hpp"

using namespace nn;
using namespace nn::api;

namespace {

nn_epoch_report to_c(const EpochReport &r) {
  nn_epoch_report c;
  c.epoch = r.epoch;
  c.epochs = r.epochs;
  c.loss = r.loss;
  c.val_loss = r.val_loss;
  c.val_accuracy = r.val_accuracy;
  c.lr = r.lr;
  c.seconds = r.seconds;
  return c;
}

// nn_fit_options as version 1 of nn.h declared it (release 0.1.0).
struct FitOptionsV1 {
  uint32_t version;
  int epochs;
  int64_t batch_size;
  bool shuffle;
  uint64_t seed;
  nn_loss loss;
  const nn_tensor *val_x;
  const nn_tensor *val_y;
  int patience;
  nn_epoch_callback on_epoch;
  void *user_data;
};
// Version 2 only appends: version 1 is its prefix.
static_assert(offsetof(nn_fit_options, user_data) == offsetof(FitOptionsV1, user_data), "v1 is a prefix of v2");
static_assert(offsetof(nn_fit_options, comm) >= sizeof(FitOptionsV1), "v2 fields come after v1");
static_assert(NN_FIT_OPTIONS_VERSION == 2, "a new version needs its size in options_bytes/report_bytes");

// Bytes of nn_fit_options of a version (0: unknown version).
size_t options_bytes(uint32_t version) {
  switch (version) {
    case 1: return sizeof(FitOptionsV1);
    case 2: return sizeof(nn_fit_options);
    default: return 0;
  }
}

// Bytes of the nn_epoch_report a caller of that options version has (the
// report has not grown yet: both versions have the 0.1.0 struct).
size_t report_bytes(uint32_t version) {
  (void)version;
  return sizeof(nn_epoch_report);
}

void fill_defaults(nn_fit_options *o) {
  std::memset(o, 0, sizeof *o);
  o->version = NN_FIT_OPTIONS_VERSION;
  o->epochs = 10;
  o->batch_size = 32;
  o->shuffle = true;
  o->seed = 0;
  o->loss = NN_LOSS_MSE;
  o->val_x = nullptr;
  o->val_y = nullptr;
  o->patience = 0;
  o->on_epoch = nullptr;
  o->user_data = nullptr;
  o->comm = nullptr;
  o->on_batch = nullptr;
  o->batch_every = 0;
}

}  // namespace

extern "C" {

#ifdef NN_SYMBOL_VERSIONS  // libnn.so, linked with src/api/exports.map
// nn_fit_options_init@nn_0.1: a version-1 struct, nothing after it.
NN_API void libnn_fit_options_init_v1(nn_fit_options *o) {
  if (o == nullptr) return;
  nn_fit_options full;
  fill_defaults(&full);
  full.version = 1;
  std::memcpy(o, &full, sizeof(FitOptionsV1));
}

// nn_fit_options_init@@nn_0.2 (the default): the current struct.
NN_API void libnn_fit_options_init_v2(nn_fit_options *o) {
  if (o == nullptr) return;
  fill_defaults(o);
}

__asm__(".symver libnn_fit_options_init_v1, nn_fit_options_init@nn_0.1");
__asm__(".symver libnn_fit_options_init_v2, nn_fit_options_init@@nn_0.2");
#else  // linked statically (the fuzzer): the current version only
NN_API void nn_fit_options_init(nn_fit_options *o) {
  if (o == nullptr) return;
  fill_defaults(o);
}
#endif

NN_API nn_status nn_model_fit(nn_model *m, nn_optimizer *opt, const nn_tensor *x, const nn_tensor *y,
                              const nn_fit_options *opts_in, nn_epoch_report *last) {
  const char *fn = "nn_model_fit";
  FitResult result;
  size_t report_size = sizeof(nn_epoch_report);
  nn_status st = guard(fn, [&] {
    Model &model = model_arg(m, fn);
    non_null(opt, fn, "opt");
    const Tensor &tx = tensor_arg(x, fn, "x");
    const Tensor &ty = tensor_arg(y, fn, "y");
    non_null(opts_in, fn, "opts");
    // Only the bytes of the caller's version are read: a version-1 caller's
    // struct ends at user_data.
    uint32_t version = 0;
    std::memcpy(&version, opts_in, sizeof version);
    const size_t nbytes = options_bytes(version);
    if (nbytes == 0)
      fail(Errc::InvalidArgument,
           "%s: opts->version is %u; this library reads versions 1 and 2 (fill opts with nn_fit_options_init)", fn,
           version);
    nn_fit_options copy;
    fill_defaults(&copy);
    std::memcpy(&copy, opts_in, nbytes);
    const nn_fit_options *opts = &copy;
    report_size = report_bytes(version);
    FitOptions o;
    o.epochs = opts->epochs;
    o.batch_size = opts->batch_size;
    o.shuffle = opts->shuffle;
    o.seed = opts->seed;
    o.loss = loss_arg(enum_value(opts->loss), fn);
    o.val_x = opts->val_x ? &opts->val_x->t : nullptr;
    o.val_y = opts->val_y ? &opts->val_y->t : nullptr;
    o.patience = opts->patience;
    if (opts->on_epoch) {
      nn_epoch_callback cb = opts->on_epoch;
      void *ud = opts->user_data;
      o.on_epoch = [cb, ud](const EpochReport &r) {
        nn_epoch_report c = to_c(r);
        return cb(&c, ud);
      };
    }
    if (version >= 2) {
      o.comm = opts->comm;
      o.batch_every = opts->batch_every;
      if (opts->on_batch) {
        nn_batch_callback cb = opts->on_batch;
        void *ud = opts->user_data;
        o.on_batch = [cb, ud](const BatchReport &r) {
          nn_batch_report c;
          c.epoch = r.epoch;
          c.batch = r.batch;
          c.batches = r.batches;
          c.loss = r.loss;
          c.seconds = r.seconds;
          return cb(&c, ud);
        };
      }
    }
    Optimizer &optimizer = optimizer_for(opt, m, fn);
    if (o.comm)  // data-parallel over the group (fit_comm.hpp)
      result = fit_with_comm(model, optimizer, tx, ty, o, *static_cast<const nn_comm *>(o.comm)->comm, fn);
    else
      result = fit(model, optimizer, tx, ty, o, fn);
    if (last) {
      const nn_epoch_report c = to_c(result.last);
      std::memcpy(last, &c, report_size);  // never more than the caller's version has
    }
  });
  if (st == NN_OK && result.outcome == FitOutcome::Cancelled) {
    if (result.stopped_in_batch)
      set_last_error(strprintf("%s: cancelled by on_batch at epoch %d, batch %lld (0-based)", fn, result.stop_epoch,
                               static_cast<long long>(result.stop_batch)));
    else
      set_last_error(strprintf("%s: cancelled by the callback after epoch %d (0-based)", fn, result.last.epoch));
    return NN_ERR_CANCELLED;
  }
  return st;
}

NN_API nn_status nn_model_evaluate(nn_model *m, const nn_tensor *x, const nn_tensor *y, nn_loss loss,
                                   double *loss_value, double *accuracy) {
  const char *fn = "nn_model_evaluate";
  return guard(fn, [&] {
    const Model &model = model_arg(m, fn);
    const Tensor &tx = tensor_arg(x, fn, "x");
    const Tensor &ty = tensor_arg(y, fn, "y");
    LossKind lk = loss_arg(enum_value(loss), fn);
    non_null(loss_value, fn, "loss_value");
    double acc = 0;
    double l = evaluate(model, tx, ty, lk, &acc, fn);
    *loss_value = l;
    if (accuracy) *accuracy = acc;
  });
}

}  // extern "C"
