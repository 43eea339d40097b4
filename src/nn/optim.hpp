// Optimizers (torch.optim.SGD, Adam, AdamW) and the StepLR schedule. An
// optimizer updates the parameters of one Model in place through the
// backend's fused update kernels; its state buffers (momentum, Adam moments)
// are allocated once, at creation, like each parameter (shape, dtype, device).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "core/tensor.hpp"
#include "nn/model.hpp"

namespace nn {

class Optimizer {
 public:
  enum class Kind { Sgd, Adam };

  // Argument checks as nn.h documents them (Errc::InvalidArgument naming the
  // hyper-parameter); `what` starts each message. The model must outlive the
  // optimizer and should not move (nn_model_to) after its creation.
  static std::unique_ptr<Optimizer> sgd(Model &model, double lr, double momentum, double weight_decay,
                                        bool nesterov, const char *what);
  static std::unique_ptr<Optimizer> adam(Model &model, double lr, double beta1, double beta2, double eps,
                                         double weight_decay, bool decoupled, const char *what);

  Kind kind() const { return kind_; }
  Model &model() const { return *model_; }

  // optimizer.step(): one update of every parameter from its gradient.
  void step(const char *what);
  // step() without check_params (nn_model_fit checks once before its loop).
  void step_unchecked();
  // optimizer.zero_grad().
  void zero_grad();

  double lr() const { return lr_; }
  void set_lr(double lr, const char *what);
  // StepLR(step_size, gamma) from the current lr; replaces an earlier one.
  void set_step_lr(int step_size, double gamma, const char *what);
  // scheduler.step(): every step_size-th call multiplies lr by gamma; counts
  // the epoch (epoch()).
  void epoch_end();
  // Number of epoch_end() calls so far (nn_optimizer_epoch): nn_model_fit
  // draws an epoch's shuffle order from (seed, epoch()).
  int64_t epoch() const { return epoch_; }

  // Throws (Errc::Device / Errc::InvalidArgument) unless the model's
  // parameters still match the state buffers (count, shape, dtype, device).
  void check_params(const char *what) const;

  // nn_model_fit's rollback point: copies of the model's parameters and of
  // this optimizer's training state (state buffers and step count), so that a
  // NaN rollback puts both back. save_point() allocates the copies on its
  // first call (again only if the parameters changed shape, dtype or device)
  // and afterwards only copies, in one Backend::copy_many; they stay with the
  // optimizer, so a later fit allocates nothing (no fresh pages to fault in).
  // restore_point() puts the last saved point back (nothing before a save).
  void save_point();
  void restore_point();

  // Everything a checkpoint holds besides the state buffers (nn/checkpoint).
  struct Settings {
    Kind kind = Kind::Sgd;
    double lr = 0, momentum = 0, weight_decay = 0;
    bool nesterov = false;
    double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
    bool decoupled = false;
    int step_size = 0;  // 0: no StepLR
    double gamma = 1;
    int64_t epochs_since_schedule = 0;  // epoch_end() calls since set_step_lr
    int64_t steps = 0;
    int64_t epoch = 0;
  };
  Settings settings() const;
  // The state buffers, one entry per parameter in Model::parameters() order
  // (momentum_buffer / exp_avg in m, exp_avg_sq in v); undefined entries
  // where the optimizer keeps none.
  const std::vector<Tensor> &state_m() const { return m_; }
  const std::vector<Tensor> &state_v() const { return v_; }
  // Puts back the counters and the schedule of a checkpoint (the
  // hyper-parameters are those the optimizer was created with). Checks the
  // values (Errc::InvalidArgument naming them) before changing anything.
  void restore_counters(const Settings &s, const char *what);

 private:
  Optimizer(Kind kind, Model &model) : kind_(kind), model_(&model) {}
  void allocate_state(int buffers);

  Kind kind_;
  Model *model_;
  double lr_ = 0, momentum_ = 0, weight_decay_ = 0;
  bool nesterov_ = false;
  double beta1_ = 0.9, beta2_ = 0.999, eps_ = 1e-8;
  bool decoupled_ = false;
  int64_t steps_ = 0;
  // One entry per parameter, in Model::parameters() order; undefined when
  // the optimizer needs no such buffer (SGD without momentum).
  std::vector<Tensor> m_, v_;
  // The views of a step (non-empty parameters), built for the plan
  // generation views_generation_ (invalidate it whenever m_ or v_ change).
  std::vector<View> params_, grads_, m_views_, v_views_;
  uint64_t views_generation_ = ~uint64_t{0};
  // The rollback point (save_point): per parameter, copies of it and of its
  // m_ / v_ entries (undefined where those are); the step count; and the
  // views of one copy_many call (reused).
  struct SavedParam {
    Tensor p, m, v;
  };
  std::vector<SavedParam> point_;
  int64_t point_steps_ = -1;  // -1: nothing saved
  std::vector<View> point_to_, point_from_;
  // StepLR
  int step_size_ = 0;  // 0: no schedule
  double gamma_ = 1;
  int64_t epochs_since_schedule_ = 0;
  int64_t epoch_ = 0;  // epoch_end() calls
};

// Calls f(param, grad) for every trainable parameter of the model, in
// Model::parameters() order (layer order; weight, then bias), allocating nothing.
template <class F>
void for_each_parameter(Model &model, F &&f) {
  for (int i = 0; i < model.num_layers(); ++i) {
    Layer &l = model.layer(i);
    if (l.kind() != LayerKind::Linear) continue;
    if (l.weight().defined()) f(l.weight(), l.weight_grad());
    if (l.has_bias()) f(l.bias(), l.bias_grad());
  }
}
template <class F>
void for_each_parameter(const Model &model, F &&f) {
  for (int i = 0; i < model.num_layers(); ++i) {
    const Layer &l = model.layer(i);
    if (l.kind() != LayerKind::Linear) continue;
    if (l.weight().defined()) f(l.weight(), l.weight_grad());
    if (l.has_bias()) f(l.bias(), l.bias_grad());
  }
}

}  // namespace nn
