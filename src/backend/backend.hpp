// The Backend interface: what a device must do for libnn. It extends core's
// TensorKernels (memory, copies, per-op tensor kernels for nn_unary and
// friends) with whole plans (src/backend/plan.hpp): a forward pass, one
// training step (forward, loss, backward) and one optimizer update, each one
// call that the backend runs as it sees fit. Device policy (CUDA streams and
// graphs, host fast paths) lives behind these calls, never in src/nn.
// src/backend/cpu and src/backend/cuda_proxy.cpp (+ libnn_cuda.so) implement it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "backend/plan.hpp"
#include "core/device.hpp"

namespace nn {

class Backend : public TensorKernels {
 public:
  // ---- data and losses (fit, evaluate, nn_loss_compute)

  // out[i, ...] = src[idx[i], ...] for i < n; idx is a contiguous I64 view of
  // at least n row indices on this device (each in range: the caller's
  // permutation); src rows contiguous, out contiguous, same dtype.
  virtual void gather_rows_device(const View &out, const View &src, const View &idx, int64_t n) = 0;
  // Loss of pred against target (LossKind docs in nn.h): adds the value into
  // *value_accum (a host double) and, when grad.data != NULL, writes
  // d loss / d pred into grad (pred's shape and dtype) scaled by grad_scale.
  // pred F32 or F64, contiguous; target of pred's dtype and element count,
  // or for CrossEntropy I64 class ids [n] (range-checked here) or
  // probabilities [n, c].
  virtual void loss(LossKind kind, const View &pred, const View &target, double *value_accum, const View &grad,
                    double grad_scale) = 0;
  // True when every element of x (contiguous; integer dtypes: always) is finite.
  virtual bool all_finite(const View &x) = 0;
  // True when every element of all n views is finite: one host
  // synchronisation on a GPU. The default calls all_finite on each.
  virtual bool all_finite_many(const View *xs, size_t n);
  // dst[i] = src[i] for i < n (same dtype and element count): the copies of
  // nn_model_fit's rollback point, in one call. The default calls copy on
  // each; the CPU streams them past its caches.
  virtual void copy_many(const View *dst, const View *src, size_t n);

  // ---- plans

  // Whether training steps should read their batches from buffers that stay
  // in place across steps (a backend that records a step once and replays
  // it: CUDA). nn_model_fit then stages every batch; elsewhere it stages
  // only to shuffle.
  virtual bool wants_fixed_batches() const { return false; }
  // The per-model state of this device (NULL: none), made when a model
  // moves here and put into each of its plans. Throws on failure.
  virtual std::shared_ptr<PlanState> plan_state() { return nullptr; }
  // Inference: y [rows, out] = the plan applied to x [rows, in], both
  // contiguous in the plan's dtype on this device. Safe to call from many
  // threads at once on one plan (no shared mutable state; per-thread scratch).
  virtual void plan_forward(const Plan &p, const View &x, const View &y) = 0;
  // The same with x and y in host memory (nn_model_predict): the CPU runs it
  // in place; a GPU copies x in and y out. After a thread's first call for a
  // given size, allocates nothing on the host.
  virtual void plan_forward_host(const Plan &p, int64_t rows, const void *x, void *y) = 0;
  // One training step through ws (sized for at least s.x's rows and its
  // width). The target must be valid for the loss (class ids in range: the
  // kernel checks them before any gradient changes where it can).
  virtual void plan_train_step(const Plan &p, const PlanWorkspace &ws, const TrainStep &s) = 0;
  // One optimizer update of the plan's parameters (validated as a whole
  // before anything changes where the backend can).
  virtual void plan_update(const Plan &p, const UpdateStep &u) = 0;
};

}  // namespace nn
