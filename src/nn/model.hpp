// Layers and sequential models: parameters, gradients, the per-model
// workspace, forward and backward passes. Layers call backend kernels; they
// never loop over elements themselves.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/ops.hpp"
#include "core/tensor.hpp"

namespace nn {

enum class LayerKind { Linear = 0, Activation = 1 };  // values of nn_layer_kind
enum class Init { TorchDefault = 0, HeUniform, HeNormal, XavierUniform, XavierNormal, Zeros };  // nn_init

class Layer {
 public:
  virtual ~Layer() = default;
  static std::unique_ptr<Layer> linear(int64_t in, int64_t out, bool bias);  // torch default init, seed 0
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
  // Moves parameters and gradients to dev / converts them to dt (all or nothing).
  void to(Device dev, DType dt);
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

// One trainable parameter and its gradient, as optimizers see them.
struct ParamRef {
  Tensor param;
  Tensor grad;
};

// A model's execution stream (Backend::stream_create) on a device that has
// them (CUDA), destroyed with its last reference: the model holds one, and
// so does every StreamScope that binds it, so a model moved off its device
// in the middle of a call (e.g. by fit's on_epoch) never frees a stream a
// thread still has bound.
class ExecStream {
 public:
  ExecStream(Backend &backend, void *handle) : backend_(&backend), handle_(handle) {}
  ~ExecStream() { backend_->stream_destroy(handle_); }
  ExecStream(const ExecStream &) = delete;
  ExecStream &operator=(const ExecStream &) = delete;
  Backend &backend() const { return *backend_; }
  void *handle() const { return handle_; }

 private:
  Backend *backend_;
  void *handle_;
};

class Model;

// Binds a model's stream to the calling thread while it lives, so that
// everything the thread enqueues on that device in the meantime (the
// model's kernels, its temporaries, the optimizer's updates, fit's gathers
// and loss accumulator) goes to the model's stream (Backend::stream_bind:
// ordered after all earlier work and before all later work, no host
// synchronisation). On the CPU it does nothing and costs one branch.
// Bindings nest; binding the stream already bound costs no device work.
class StreamScope {
 public:
  explicit StreamScope(const Model &m);
  ~StreamScope() { suspend(); }
  StreamScope(const StreamScope &) = delete;
  StreamScope &operator=(const StreamScope &) = delete;
  // Unbinds now (e.g. around a user callback, which then runs as outside
  // any model call); resume() binds the same stream again. Both do nothing
  // without a stream.
  void suspend() noexcept {
    if (bound_) {
      bound_ = false;
      s_->backend().stream_unbind(s_->handle());
    }
  }
  void resume() {
    if (s_ && !bound_) {
      s_->backend().stream_bind(s_->handle());
      bound_ = true;
    }
  }

 private:
  void bind(const Model &m);
  std::shared_ptr<ExecStream> s_;
  bool bound_ = false;
};

class Model {
 public:
  Model() = default;
  // Builds Linear(s0,s1), hidden, ..., output (IDENTITY adds no layer).
  static std::unique_ptr<Model> mlp(const std::vector<int64_t> &sizes, Act hidden, Act output);

  // Takes ownership; checks that feature counts chain; moves the layer to the
  // model's device and dtype. Returns the stored layer. On failure (an
  // exception) `layer` still owns the layer and the model is unchanged.
  Layer &add(std::unique_ptr<Layer> &&layer, const char *what);
  int num_layers() const { return static_cast<int>(layers_.size()); }
  Layer &layer(int i) { return *layers_[static_cast<size_t>(i)]; }
  const Layer &layer(int i) const { return *layers_[static_cast<size_t>(i)]; }
  int64_t num_params() const;
  Device device() const { return device_; }
  DType dtype() const { return dtype_; }
  // Input/output feature counts (0 when the model has no Linear layer).
  int64_t in_features() const;
  int64_t out_features() const;

  void init(Init scheme, uint64_t seed);
  void to(Device dev);         // all or nothing
  void to_dtype(DType dt);     // F32 or F64; all or nothing
  void zero_grad();
  // For nn_model_fit's loop: the next backward writes the gradients instead
  // of accumulating into them (as zero_grad + backward, without the zeroing
  // pass). Anything else that backpropagates first sees the old values.
  void overwrite_grads_next() { overwrite_grads_ = true; }
  // Undoes overwrite_grads_next when no backward ran (zeroes the gradients,
  // as zero_grad would have).
  void discard_overwrite_grads() noexcept;
  std::vector<ParamRef> parameters();  // in layer order: weight, then bias
  // Copies of every parameter (for NaN rollback) and putting them back.
  std::vector<Tensor> snapshot() const;
  void restore(const std::vector<Tensor> &saved);

  // Inference, thread-safe for concurrent calls (no shared mutable state;
  // on CUDA they serialise on the model's stream: see model.cpp).
  Tensor forward(const Tensor &x, const char *what) const;
  // Checks x: ndim >= 1 (2-D for training), last dim == in_features, dtype
  // convertible, device; returns x in the model's dtype.
  Tensor prepare_input(const Tensor &x, const char *what) const;
  // Training forward through the workspace (activations kept for backward);
  // returns the output, valid until the next forward_train.
  const Tensor &forward_train(const Tensor &x, const char *what);
  // Backpropagates grad_out (d loss / d output of the last forward_train),
  // accumulating into the parameters' gradients.
  void backward(const Tensor &grad_out);
  // forward_train + loss + backward; returns the loss. Validates target for
  // the loss before touching gradients.
  double train_batch(const Tensor &x, const Tensor &target, LossKind loss, const char *what);
  // Same, adding the loss into accum (0-dim F64 on the model's device)
  // instead of returning it: no host synchronisation on a GPU (nn_model_fit).
  // Class ids must be validated beforehand.
  void train_batch_accum(const Tensor &x, const Tensor &target, LossKind loss, const Tensor &accum,
                         const char *what);
  // Checks (x, target) for train_batch/evaluate without running the model:
  // x as prepare_input (2-D), target against the output shape [n, out]
  // including class-id ranges. Throws; changes nothing.
  void validate_batch(const Tensor &x, const Tensor &target, LossKind loss, const char *what) const;
  std::string summary() const;
  // Changes whenever parameters, gradients or the workspace may have moved
  // to other memory (add, to, to_dtype, a workspace that grows): a recording
  // of the training step (fit's CUDA graphs) is valid only while it is the
  // same. Copies into the same buffers (init, restore) keep it.
  uint64_t storage_generation() const { return storage_gen_; }
  // The model's execution stream: NULL on the CPU (and on a device without
  // streams); made when the model moves to a device that has them.
  const std::shared_ptr<ExecStream> &exec_stream() const { return stream_; }
  // User metadata (nn_model_set_metadata): string keys and values, saved in
  // the safetensors __metadata__ and loaded back (nn/model_io).
  std::map<std::string, std::string> &metadata() { return metadata_; }
  const std::map<std::string, std::string> &metadata() const { return metadata_; }

 private:
  std::map<std::string, std::string> metadata_;
  // A step of the forward pass: a Linear layer with the activation layer
  // that follows it fused in (one linear_forward call), or a lone activation.
  struct Unit {
    int linear = -1;      // index of the Linear layer, or -1
    int act_layer = -1;   // index of the activation layer, or -1
    Act act = Act::Identity;
    int64_t out = 0;      // output features (0: same as the input's)
  };
  // Model::forward for small F32 CPU inputs; false (nothing done) when the
  // general path must run (it also reports every error).
  bool forward_fast(const Tensor &x, Tensor &y) const;
  bool train_batch_fast(const Tensor &x, const Tensor &target, LossKind loss, double &value);
  // forward_train + loss + backward through the workspace: returns the loss,
  // or adds it into *accum (device scalar) and returns 0 when accum is set.
  double train_general(const Tensor &x, const Tensor &target, LossKind loss, const Tensor *accum,
                       const char *what);
  void rebuild_plan();
  int64_t unit_out(size_t u, int64_t in) const;  // output features of unit u given model input features
  void ensure_workspace(int64_t rows, int64_t in);
  void backward_workspace();
  // Converts every layer's parameters and gradients to (dev, dt), all or
  // nothing, and drops the workspace.
  void convert(Device dev, DType dt);

  std::vector<std::unique_ptr<Layer>> layers_;
  Device device_;
  DType dtype_ = DType::F32;
  std::vector<Unit> plan_;
  int first_param_unit_ = -1;  // first unit with a Linear layer (-1: none)
  // Workspace: per unit output of the last forward_train and gradient
  // buffers, allocated for ws_rows_ rows and ws_in_ input features, reused
  // (as views of their first rows) while batches fit. act_views_/grad_views_
  // are the current batch's views; input_ is the batch input.
  std::vector<Tensor> acts_;
  std::vector<Tensor> grads_;
  std::vector<Tensor> act_views_;
  std::vector<Tensor> grad_views_;
  Tensor input_;
  int64_t ws_rows_ = 0, ws_in_ = -1, cur_rows_ = -1;
  bool ws_valid_ = false;
  bool overwrite_grads_ = false;
  uint64_t storage_gen_ = 0;
  // Set by convert (never changed by a const method, so concurrent forward
  // calls only copy it); released on a move off the device.
  std::shared_ptr<ExecStream> stream_;
};

inline StreamScope::StreamScope(const Model &m) {
  if (m.device().type != DeviceType::CPU) bind(m);
}

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
// Same, adding the value into accum (0-dim F64 on pred's device) without
// reading it back (Backend::loss_device; class ids must be validated first).
void compute_loss_accum(LossKind loss, const Tensor &pred, const Tensor &target, Tensor *grad, const Tensor &accum,
                        const char *what);
bool is_classification(LossKind loss);
// Fraction of rows predicted right (definition in nn.h, group fit).
double accuracy(LossKind loss, const Tensor &pred, const Tensor &target);

}  // namespace nn
