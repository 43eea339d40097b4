// Optimizers and StepLR (torch.optim semantics). The arithmetic lives in the
// backends (one Backend::plan_update call per step); this file keeps
// hyper-parameters, state buffers and the schedule.
#include "nn/optim.hpp"

#include <cmath>

#include "core/error.hpp"
#include "core/ops.hpp"

namespace nn {
namespace {

void check_nonneg(double v, const char *what, const char *name) {
  if (!std::isfinite(v) || v < 0)
    fail(Errc::InvalidArgument, "%s: %s is %g; it must be finite and >= 0", what, name, v);
}

// The same shape, dtype and device.
bool same_layout(const Tensor &a, const Tensor &b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && a.device() == b.device();
}

void check_beta(double v, const char *what, const char *name) {
  if (!std::isfinite(v) || v < 0 || v >= 1)
    fail(Errc::InvalidArgument, "%s: %s is %g; it must be in [0, 1)", what, name, v);
}

}  // namespace

std::unique_ptr<Optimizer> Optimizer::sgd(Model &model, double lr, double momentum, double weight_decay,
                                          bool nesterov, const char *what) {
  check_nonneg(lr, what, "lr");
  check_nonneg(momentum, what, "momentum");
  check_nonneg(weight_decay, what, "weight_decay");
  if (nesterov && momentum == 0)
    fail(Errc::InvalidArgument, "%s: nesterov needs momentum > 0 (momentum is 0)", what);
  std::unique_ptr<Optimizer> o(new Optimizer(Kind::Sgd, model));
  o->lr_ = lr;
  o->momentum_ = momentum;
  o->weight_decay_ = weight_decay;
  o->nesterov_ = nesterov;
  o->allocate_state(momentum != 0 ? 1 : 0);
  return o;
}

std::unique_ptr<Optimizer> Optimizer::adam(Model &model, double lr, double beta1, double beta2, double eps,
                                           double weight_decay, bool decoupled, const char *what) {
  check_nonneg(lr, what, "lr");
  check_beta(beta1, what, "beta1");
  check_beta(beta2, what, "beta2");
  check_nonneg(eps, what, "eps");
  check_nonneg(weight_decay, what, "weight_decay");
  std::unique_ptr<Optimizer> o(new Optimizer(Kind::Adam, model));
  o->lr_ = lr;
  o->beta1_ = beta1;
  o->beta2_ = beta2;
  o->eps_ = eps;
  o->weight_decay_ = weight_decay;
  o->decoupled_ = decoupled;
  o->allocate_state(2);
  return o;
}

void Optimizer::allocate_state(int buffers) {
  views_generation_ = ~uint64_t{0};
  m_.clear();
  v_.clear();
  for_each_parameter(*model_, [&](const Tensor &p, const Tensor &) {
    m_.push_back(buffers >= 1 ? zeros(p.dtype(), p.shape(), p.device()) : Tensor());
    v_.push_back(buffers >= 2 ? zeros(p.dtype(), p.shape(), p.device()) : Tensor());
  });
}

void Optimizer::check_params(const char *what) const {
  size_t i = 0;
  bool count_ok = true;
  for_each_parameter(static_cast<const Model &>(*model_), [&](const Tensor &p, const Tensor &g) {
    if (i >= m_.size()) {
      count_ok = false;
      return;
    }
    const Tensor &s = m_[i].defined() ? m_[i] : v_[i];
    if (s.defined()) {
      if (s.device() != p.device())
        fail(Errc::Device,
             "%s: the model's parameters are on %s but the optimizer's state is on %s; move the model "
             "(nn_model_to) before creating its optimizer",
             what, p.device().str().c_str(), s.device().str().c_str());
      if (s.shape() != p.shape() || s.dtype() != p.dtype())
        fail(Errc::InvalidArgument,
             "%s: parameter %zu is %s %s but the optimizer was created for %s %s; create a new optimizer", what,
             i, dtype_name(p.dtype()), p.shape().str().c_str(), dtype_name(s.dtype()), s.shape().str().c_str());
    }
    if (!g.defined() || !same_layout(g, p))
      fail(Errc::Internal, "%s: parameter %zu has no matching gradient", what, i);
    ++i;
  });
  if (!count_ok || i != m_.size())
    fail(Errc::InvalidArgument,
         "%s: the model's parameters changed since the optimizer was created (layers added?); create a new "
         "optimizer",
         what);
}

void Optimizer::step(const char *what) {
  check_params(what);
  step_unchecked();
}

// Every parameter in one Backend::plan_update call (CUDA: one kernel launch
// per chunk of parameters; every operand validated before anything runs).
// The view lists are built once per plan generation (parameters and
// gradients cannot move without the model recompiling its plan; the state
// buffers never move): no allocation and no view building per step.
void Optimizer::step_unchecked() {
  const int64_t t = steps_ + 1;
  if (views_generation_ != model_->plan().generation) {
    params_.clear();
    grads_.clear();
    m_views_.clear();
    v_views_.clear();
    size_t i = 0;
    for_each_parameter(*model_, [&](const Tensor &p, const Tensor &g) {
      if (p.numel() > 0) {
        params_.push_back(p.view());
        grads_.push_back(g.view());
        m_views_.push_back(m_[i].defined() ? m_[i].view() : View());
        if (kind_ == Kind::Adam) v_views_.push_back(v_[i].view());
      }
      ++i;
    });
    views_generation_ = model_->plan().generation;
  }
  if (!params_.empty()) {
    UpdateStep u;
    u.adam = kind_ == Kind::Adam;
    // first_step is the optimizer's, the same for every parameter: all
    // momentum buffers are created with the optimizer (allocate_state).
    u.sgd = SgdParams{lr_, momentum_, weight_decay_, nesterov_, steps_ == 0};
    u.adam_params = AdamParams{lr_, beta1_, beta2_, eps_, weight_decay_, decoupled_, t};
    u.params = params_.data();
    u.grads = grads_.data();
    u.m = m_views_.data();
    u.v = u.adam ? v_views_.data() : nullptr;
    u.n = params_.size();
    backend_for(model_->device()).plan_update(model_->plan(), u);
  }
  steps_ = t;
}

namespace {
// `into` sized and shaped like `from` (undefined where from is), keeping
// what already fits; adds the pair to the views of one copy_many.
void pair_buffer(const Tensor &from, Tensor &into, std::vector<View> &to, std::vector<View> &src) {
  if (!from.defined()) {
    into = Tensor();
    return;
  }
  if (!into.defined() || !same_layout(into, from)) into = Tensor::empty(from.dtype(), from.shape(), from.device());
  if (from.numel() == 0) return;
  to.push_back(into.view());
  src.push_back(from.view());
}
}  // namespace

void Optimizer::save_point() {
  point_steps_ = -1;  // not a point until every buffer is allocated and copied
  point_to_.clear();
  point_from_.clear();
  size_t i = 0;
  for_each_parameter(*model_, [&](const Tensor &p, const Tensor &) {
    if (point_.size() <= i) point_.resize(i + 1);
    SavedParam &sp = point_[i];
    pair_buffer(p, sp.p, point_to_, point_from_);
    pair_buffer(i < m_.size() ? m_[i] : Tensor(), sp.m, point_to_, point_from_);
    pair_buffer(i < v_.size() ? v_[i] : Tensor(), sp.v, point_to_, point_from_);
    ++i;
  });
  point_.resize(i);
  if (!point_to_.empty())
    backend_for(model_->device()).copy_many(point_to_.data(), point_from_.data(), point_to_.size());
  point_steps_ = steps_;
}

void Optimizer::restore_point() {
  if (point_steps_ < 0) return;
  point_to_.clear();
  point_from_.clear();
  size_t i = 0;
  bool same = true;
  auto add = [&](const Tensor &saved, const Tensor &live) {
    if (!saved.defined() || !live.defined() || saved.numel() == 0) return;
    if (!same_layout(saved, live)) {
      same = false;
      return;
    }
    point_to_.push_back(live.view());
    point_from_.push_back(saved.view());
  };
  for_each_parameter(*model_, [&](const Tensor &p, const Tensor &) {
    if (i >= point_.size()) {
      same = false;
      return;
    }
    add(point_[i].p, p);
    if (i < m_.size()) add(point_[i].m, m_[i]);
    if (i < v_.size()) add(point_[i].v, v_[i]);
    ++i;
  });
  if (!same || i != point_.size())
    fail(Errc::Internal, "restore_point: the parameters changed since the point was saved");
  if (!point_to_.empty())
    backend_for(model_->device()).copy_many(point_to_.data(), point_from_.data(), point_to_.size());
  steps_ = point_steps_;
}

void Optimizer::zero_grad() { model_->zero_grad(); }

void Optimizer::set_lr(double lr, const char *what) {
  check_nonneg(lr, what, "lr");
  lr_ = lr;
}

void Optimizer::set_step_lr(int step_size, double gamma, const char *what) {
  if (step_size < 1) fail(Errc::InvalidArgument, "%s: step_size is %d; it must be >= 1", what, step_size);
  if (!std::isfinite(gamma) || gamma <= 0)
    fail(Errc::InvalidArgument, "%s: gamma is %g; it must be finite and > 0", what, gamma);
  step_size_ = step_size;
  gamma_ = gamma;
  epochs_since_schedule_ = 0;
}

Optimizer::Settings Optimizer::settings() const {
  Settings s;
  s.kind = kind_;
  s.lr = lr_;
  s.momentum = momentum_;
  s.weight_decay = weight_decay_;
  s.nesterov = nesterov_;
  s.beta1 = beta1_;
  s.beta2 = beta2_;
  s.eps = eps_;
  s.decoupled = decoupled_;
  s.step_size = step_size_;
  s.gamma = gamma_;
  s.epochs_since_schedule = epochs_since_schedule_;
  s.steps = steps_;
  s.epoch = epoch_;
  return s;
}

void Optimizer::restore_counters(const Settings &s, const char *what) {
  check_nonneg(s.lr, what, "lr");
  if (s.steps < 0) fail(Errc::InvalidArgument, "%s: step count is %lld; it must be >= 0", what, (long long)s.steps);
  if (s.epoch < 0) fail(Errc::InvalidArgument, "%s: epoch is %lld; it must be >= 0", what, (long long)s.epoch);
  if (s.step_size != 0) {
    if (s.step_size < 1) fail(Errc::InvalidArgument, "%s: step_size is %d; it must be >= 1", what, s.step_size);
    if (!std::isfinite(s.gamma) || s.gamma <= 0)
      fail(Errc::InvalidArgument, "%s: gamma is %g; it must be finite and > 0", what, s.gamma);
    if (s.epochs_since_schedule < 0)
      fail(Errc::InvalidArgument, "%s: StepLR last_epoch is %lld; it must be >= 0", what,
           (long long)s.epochs_since_schedule);
  }
  lr_ = s.lr;
  steps_ = s.steps;
  epoch_ = s.epoch;
  step_size_ = s.step_size;
  gamma_ = s.step_size != 0 ? s.gamma : 1;
  epochs_since_schedule_ = s.step_size != 0 ? s.epochs_since_schedule : 0;
}

void Optimizer::epoch_end() {
  ++epoch_;
  if (step_size_ <= 0) return;
  // torch StepLR.get_lr(): the group's current lr times gamma on every
  // step_size-th epoch (lr0 * gamma^floor(k / step_size) when lr is not set
  // in between).
  ++epochs_since_schedule_;
  if (epochs_since_schedule_ % step_size_ == 0) lr_ *= gamma_;
}

}  // namespace nn
