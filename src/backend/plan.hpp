// A plan: a sequential model compiled (by src/nn/model.cpp) into what a
// backend needs to run it whole: units, widths, dtype, and pointers to the
// parameters and gradients; plus, for training, a workspace of per-unit
// activations and gradients. Plain data: no Tensor, no ownership (the model
// owns every buffer a plan points to and recompiles when one moves).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "core/device.hpp"

namespace nn {

// One step of the forward pass: a Linear layer with the activation layer
// that follows it fused in, or a lone activation (linear == false).
struct PlanUnit {
  bool linear = false;
  Act act = Act::Identity;
  int64_t in = 0, out = 0;           // Linear: features; lone activation: 0 (the input's width)
  const void *w = nullptr;           // [out, in]
  const void *b = nullptr;           // [out], NULL without bias
  void *dw = nullptr, *db = nullptr; // gradients, same shapes (db NULL without bias)
};

// Per-model state a backend keeps across calls (CUDA: the model's stream and
// its recorded training steps). Made by Backend::plan_state; freed with the
// model (or when it moves to another device).
class PlanState {
 public:
  virtual ~PlanState() = default;
};

struct Plan {
  Device device;
  DType dtype = DType::F32;          // of parameters, activations and gradients (F32 or F64)
  std::vector<PlanUnit> units;
  int first_param_unit = -1;         // first unit with a Linear layer; -1: nothing to train
  int64_t in_features = 0;           // 0: any width (no Linear layer)
  // Changes whenever a pointer above (or the workspace) may have changed:
  // a recording of a step is valid only while it is the same.
  uint64_t generation = 0;
  std::shared_ptr<PlanState> state;  // NULL on backends without per-model state

  // Width of unit u's output for an input of `in` features.
  int64_t unit_out(size_t u, int64_t in) const {
    int64_t f = in;
    for (size_t k = 0; k <= u; ++k)
      if (units[k].linear) f = units[k].out;
    return f;
  }
};

// The training workspace of a plan: for each unit its output (kept for the
// backward pass) and, from first_param_unit on, its gradient buffer, each
// with room for `rows` rows of that unit's width (contiguous, row-major).
struct PlanWorkspace {
  int64_t rows = 0;
  int64_t in = 0;                    // input width the buffers were sized for
  std::vector<void *> acts, grads;   // per unit (grads[u] NULL before first_param_unit)
};

// One training step: forward through the workspace, loss, backward into the
// parameters' gradients.
struct TrainStep {
  View x;                  // [rows, in], the plan's dtype, contiguous, 1 <= rows <= ws.rows
  View target;             // ready for the loss kernel (see Backend::loss), contiguous
  LossKind loss = LossKind::MSE;
  bool overwrite_grads = false;  // write the gradients (zero_grad + backward) instead of adding
  // Where the loss goes: into *value (a host double, the call waits for it)
  // when value is not NULL, else added into accum (one F64 element on the
  // plan's device, without a host synchronisation).
  double *value = nullptr;
  View accum;
};

// Hyper-parameters of one optimizer update (torch.optim semantics).
struct SgdParams {
  double lr, momentum, weight_decay;
  bool nesterov;
  bool first_step;  // momentum buffer starts as the gradient (torch)
};
struct AdamParams {
  double lr, beta1, beta2, eps, weight_decay;
  bool decoupled;  // AdamW
  int64_t step;    // 1-based step count, for bias correction
};

// One optimizer step of a plan's parameters: params[i] from grads[i] with
// state m[i] (and v[i] for Adam), n views each, in plan order.
struct UpdateStep {
  bool adam = false;
  SgdParams sgd{};
  AdamParams adam_params{};
  const View *params = nullptr, *grads = nullptr, *m = nullptr, *v = nullptr;
  size_t n = 0;
};

}  // namespace nn
