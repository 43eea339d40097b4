// Layers and sequential models: parameters, gradients, the plan a model
// compiles into, and the workspace its training steps run in. Layers and
// models hand whole plans to their backend; they never loop over elements
// themselves.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backend/registry.hpp"
#include "core/ops.hpp"
#include "core/tensor.hpp"

namespace nn {

// Room for one more element, growing geometrically (reserve(size() + 1)
// would reallocate on every call: quadratic over many adds). After it, one
// push_back cannot throw.
template <class V>
void reserve_one_more(V &v) {
  if (v.size() == v.capacity()) v.reserve(v.size() < 8 ? 8 : 2 * v.size());
}

enum class LayerKind { Linear = 0, Activation = 1 };  // values of nn_layer_kind
enum class Init { TorchDefault = 0, HeUniform, HeNormal, XavierUniform, XavierNormal, Zeros };  // nn_init

class Layer {
 public:
  virtual ~Layer() = default;
  static std::unique_ptr<Layer> linear(int64_t in, int64_t out, bool bias);  // torch default init, seed 0
  // Linear with parameters of dtype dt on dev allocated but not initialised
  // (for loaders, which fill every element) and gradients zero.
  static std::unique_ptr<Layer> linear_uninit(int64_t in, int64_t out, bool bias, DType dt, Device dev);
  static std::unique_ptr<Layer> activation(Act act);

  LayerKind kind() const { return kind_; }
  Act act() const { return act_; }
  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }
  bool has_bias() const { return bias_.defined(); }
  const Tensor &weight() const { return weight_; }
  const Tensor &bias() const { return bias_; }
  // Accumulated gradients (allocated with the parameters, zero at first).
  const Tensor &weight_grad() const { return weight_grad_; }
  const Tensor &bias_grad() const { return bias_grad_; }
  bool owned_by_model() const { return owned_; }
  void set_owned_by_model() { owned_ = true; }

  // Inference on one layer: y = layer(x), x of shape [..., in] (Linear).
  Tensor forward(const Tensor &x, const char *what) const;
  // Re-initialises weight/bias with a scheme; `stream` separates the layers
  // of one model so that each draws its own values from the same seed.
  void init(Init scheme, uint64_t seed, uint64_t stream);
  void zero_grad();
  std::string describe() const;  // "Linear(784, 512)", "ReLU", ...
  int64_t num_params() const { return weight_.defined() ? weight_.numel() + (bias_.defined() ? bias_.numel() : 0) : 0; }

 private:
  friend class Model;
  // Parameters and gradients converted to (dev, dt), not yet installed.
  struct Params {
    Tensor weight, bias, weight_grad, bias_grad;
  };
  Params converted(Device dev, DType dt) const;
  void install(Params &&p) noexcept;
  LayerKind kind_ = LayerKind::Activation;
  Act act_ = Act::Identity;
  int64_t in_ = 0, out_ = 0;
  Tensor weight_, bias_, weight_grad_, bias_grad_;
  bool owned_ = false;
};

// A sequential model. It compiles itself into a Plan (backend/plan.hpp)
// as layers are added (one unit per Linear layer with the activation after
// it fused in, or per lone activation) and recompiles when its parameters
// move (to, to_dtype); its backend runs the plan whole: forward, one
// training step, optimizer updates. The training workspace is allocated for
// the largest batch seen and reused.
class Model {
 public:
  Model() = default;
  // Builds Linear(s0,s1), hidden, ..., output (IDENTITY adds no layer).
  static std::unique_ptr<Model> mlp(const std::vector<int64_t> &sizes, Act hidden, Act output);

  // Takes ownership; checks that feature counts chain; moves the layer to the
  // model's device and dtype. Returns the stored layer. On failure (an
  // exception) `layer` still owns the layer and the model is unchanged.
  // Constant time (the plan grows by at most one unit).
  Layer &add(std::unique_ptr<Layer> &&layer, const char *what);
  int num_layers() const { return static_cast<int>(layers_.size()); }
  Layer &layer(int i) { return *layers_[static_cast<size_t>(i)]; }
  const Layer &layer(int i) const { return *layers_[static_cast<size_t>(i)]; }
  int64_t num_params() const;
  Device device() const { return plan_.device; }
  DType dtype() const { return plan_.dtype; }
  // Input/output feature counts (0 when the model has no Linear layer).
  int64_t in_features() const { return plan_.in_features; }
  int64_t out_features() const { return out_features_; }
  // The compiled plan (for the optimizer's updates).
  const Plan &plan() const { return plan_; }

  void init(Init scheme, uint64_t seed);
  void to(Device dev);         // all or nothing
  void to_dtype(DType dt);     // F32 or F64; all or nothing
  void zero_grad();
  // For nn_model_fit's loop: the next training step writes the gradients
  // instead of accumulating into them (as zero_grad + backward, without the
  // zeroing pass). Anything else that backpropagates first sees the old values.
  void overwrite_grads_next() { overwrite_grads_ = true; }
  // Undoes overwrite_grads_next when no step ran (zeroes the gradients, as
  // zero_grad would have).
  void discard_overwrite_grads() noexcept;

  // Inference, safe for concurrent calls (the plan is read-only, scratch is
  // per thread). x: [..., in_features], any floating dtype.
  Tensor forward(const Tensor &x, const char *what) const;
  // Inference on host memory: rows x in_features floats from x, rows x
  // out_features floats to y, the model on any device (an F64 model
  // converts). Safe for concurrent calls; after a thread's first call for a
  // size, allocates nothing (CPU).
  void predict(int64_t rows, const float *x, float *y, const char *what) const;
  // Checks x: ndim >= 1, last dim == in_features, dtype floating, device;
  // returns x contiguous in the model's dtype.
  Tensor prepare_input(const Tensor &x, const char *what) const;
  // prepare_input's checks alone.
  void check_input(const Tensor &x, const char *what) const;
  // One training step (forward, loss, backward into the gradients) on x
  // [n, in_features] (n >= 1) and a target for the loss; returns the loss.
  // Every check (target shape/dtype/device, class ids) happens before any
  // gradient changes.
  double train_batch(const Tensor &x, const Tensor &target, LossKind loss, const char *what);
  // The same for nn_model_fit: x and target already prepared (x in the
  // model's dtype, contiguous, 2-D; the target checked against the model's
  // output and converted for the loss, contiguous; class ids are still
  // range-checked by the kernel) and the loss added into accum (0-dim F64 on
  // the model's device) without a host synchronisation.
  void train_batch_accum(const Tensor &x, const Tensor &target, LossKind loss, const Tensor &accum,
                         const char *what);
  std::string summary() const;
  // User metadata (nn_model_set_metadata): string keys and values, saved in
  // the safetensors __metadata__ and loaded back (nn/model_io).
  std::map<std::string, std::string> &metadata() { return metadata_; }
  const std::map<std::string, std::string> &metadata() const { return metadata_; }

 private:
  std::map<std::string, std::string> metadata_;
  // Grows the plan by the unit of layer i (just added).
  void append_unit(int i);
  // Compiles the plan from scratch (after the parameters moved).
  void recompile();
  // The workspace for batches of `rows` rows of width `in`.
  const PlanWorkspace &workspace(int64_t rows, int64_t in);
  void step(const Tensor &x, const Tensor &target, bool target_ready, LossKind loss, double *value,
            const Tensor *accum, const char *what);
  // Converts every layer's parameters and gradients to (dev, dt), all or
  // nothing, and drops the workspace.
  void convert(Device dev, DType dt);

  std::vector<std::unique_ptr<Layer>> layers_;
  Plan plan_;                       // device, dtype, units, per-model backend state
  std::vector<int> unit_act_layer_; // per unit: the layer index of its fused activation (-1: none)
  int64_t out_features_ = 0;
  // Training workspace: per unit output and gradient buffers owned here,
  // their pointers in ws_.
  std::vector<Tensor> ws_acts_, ws_grads_;
  PlanWorkspace ws_;
  bool overwrite_grads_ = false;
};

// Losses (nn/loss.cpp). validate_loss_target throws Shape/DType/InvalidArgument
// errors naming both shapes; loss() returns the value and writes the gradient
// into *grad when grad is not NULL (allocating it when undefined or of
// another shape).
// Target rules (documented in nn.h, group training): elementwise losses take a
// floating target of pred's shape (or [n] for pred [n, 1]), converted to
// pred's dtype; CROSS_ENTROPY takes pred [n, c] and I64 class ids [n] or
// floating probabilities [n, c].
// pred may be any strided tensor (only its shape, dtype and device are read).
void validate_loss_target(LossKind loss, const Tensor &pred, const Tensor &target, const char *what);
// The same checks from pred's shape/dtype/device without the class-id range
// check (the loss kernel does that); returns the target ready for the
// backend loss kernel: contiguous, pred's dtype (I64 for class ids), pred's
// shape for elementwise losses.
Tensor prepare_loss_target(LossKind loss, const Shape &pred_shape, DType pred_dtype, Device pred_device,
                           const Tensor &target, const char *what);
double compute_loss(LossKind loss, const Tensor &pred, const Tensor &target, Tensor *grad, const char *what);
bool is_classification(LossKind loss);
// Fraction of rows predicted right (definition in nn.h, group fit).
double accuracy(LossKind loss, const Tensor &pred, const Tensor &target);
// A tensor's elements on the host, converted to float64 / int64 (any device).
std::vector<double> host_f64(const Tensor &t);
std::vector<int64_t> host_i64(const Tensor &t);

}  // namespace nn
