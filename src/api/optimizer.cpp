// extern "C" shims for optimizers and the StepLR schedule.
#include <cmath>
#include <limits>

#include "api/api.hpp"
#include "nn/optim.hpp"

using namespace nn;
using namespace nn::api;

namespace {

Optimizer &opt_arg(nn_optimizer *o, const char *fn) { return *non_null(o, fn, "opt")->opt; }

}  // namespace

extern "C" {

NN_API nn_status nn_optimizer_sgd(nn_model *m, double lr, double momentum, double weight_decay, bool nesterov,
                                  nn_optimizer **out) {
  const char *fn = "nn_optimizer_sgd";
  return guard(fn, [&] {
    Model &model = model_arg(m, fn);
    non_null(out, fn, "out");
    auto o = Optimizer::sgd(model, lr, momentum, weight_decay, nesterov, fn);
    *out = new nn_optimizer{std::move(o), m};
  });
}

NN_API nn_status nn_optimizer_adam(nn_model *m, double lr, double beta1, double beta2, double eps,
                                   double weight_decay, bool decoupled, nn_optimizer **out) {
  const char *fn = "nn_optimizer_adam";
  return guard(fn, [&] {
    Model &model = model_arg(m, fn);
    non_null(out, fn, "out");
    auto o = Optimizer::adam(model, lr, beta1, beta2, eps, weight_decay, decoupled, fn);
    *out = new nn_optimizer{std::move(o), m};
  });
}

NN_API void nn_optimizer_free(nn_optimizer *opt) { delete opt; }

NN_API nn_status nn_optimizer_step(nn_optimizer *opt) {
  const char *fn = "nn_optimizer_step";
  return guard(fn, [&] { opt_arg(opt, fn).step(fn); });
}

NN_API nn_status nn_optimizer_zero_grad(nn_optimizer *opt) {
  const char *fn = "nn_optimizer_zero_grad";
  return guard(fn, [&] { opt_arg(opt, fn).zero_grad(); });
}

NN_API double nn_optimizer_lr(const nn_optimizer *opt) {
  return opt ? opt->opt->lr() : std::numeric_limits<double>::quiet_NaN();
}

NN_API nn_status nn_optimizer_set_lr(nn_optimizer *opt, double lr) {
  const char *fn = "nn_optimizer_set_lr";
  return guard(fn, [&] { opt_arg(opt, fn).set_lr(lr, fn); });
}

NN_API nn_status nn_optimizer_set_step_lr(nn_optimizer *opt, int step_size, double gamma) {
  const char *fn = "nn_optimizer_set_step_lr";
  return guard(fn, [&] { opt_arg(opt, fn).set_step_lr(step_size, gamma, fn); });
}

NN_API nn_status nn_optimizer_epoch_end(nn_optimizer *opt) {
  const char *fn = "nn_optimizer_epoch_end";
  return guard(fn, [&] { opt_arg(opt, fn).epoch_end(); });
}

}  // extern "C"
