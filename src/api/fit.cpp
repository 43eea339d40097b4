// extern "C" shims for the training loop and evaluation.
#include <cstring>
#include <type_traits>

#include "api/api.hpp"
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

}  // namespace

extern "C" {

NN_API void nn_fit_options_init(nn_fit_options *o) {
  if (o == nullptr) return;
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
}

NN_API nn_status nn_model_fit(nn_model *m, nn_optimizer *opt, const nn_tensor *x, const nn_tensor *y,
                              const nn_fit_options *opts, nn_epoch_report *last) {
  const char *fn = "nn_model_fit";
  FitResult result;
  nn_status st = guard(fn, [&] {
    Model &model = model_arg(m, fn);
    non_null(opt, fn, "opt");
    const Tensor &tx = tensor_arg(x, fn, "x");
    const Tensor &ty = tensor_arg(y, fn, "y");
    non_null(opts, fn, "opts");
    if (opts->version != NN_FIT_OPTIONS_VERSION)
      fail(Errc::InvalidArgument, "%s: opts->version is %u, expected %d (fill opts with nn_fit_options_init)", fn,
           opts->version, NN_FIT_OPTIONS_VERSION);
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
    Optimizer &optimizer = optimizer_for(opt, m, fn);
    result = fit(model, optimizer, tx, ty, o, fn);
    if (last) *last = to_c(result.last);
  });
  if (st == NN_OK && result.outcome == FitOutcome::Cancelled) {
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
