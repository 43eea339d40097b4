// The training loop (nn_model_fit) and evaluation (nn_model_evaluate); the
// contract is nn.h's group "fit". Works on any backend: batches are gathered
// on the data's device with Backend::gather_rows_device (the epoch's
// permutation uploaded once), batch losses add into a device scalar
// (TrainStep::accum), and only the epoch's loss sum and one all-finite
// flag come back to the host per epoch. Each step is one
// Backend::plan_train_step and one Backend::plan_update (a backend may
// record and replay the step: CUDA Graphs).
#pragma once
#include <cstdint>
#include <functional>

#include "core/tensor.hpp"
#include "nn/model.hpp"
#include "nn/optim.hpp"

namespace nn {

class FitComm;  // [comm] fit_comm.hpp

struct EpochReport {
  int epoch = 0;  // 0-based
  int epochs = 0;
  double loss = 0;
  double val_loss = 0;      // NaN when no validation set
  double val_accuracy = 0;  // NaN when none or not a classification loss
  double lr = 0;            // learning rate used in this epoch
  double seconds = 0;       // wall time of this epoch (training + validation)
};

// What on_batch receives (nn_batch_report).
struct BatchReport {
  int epoch = 0;        // 0-based
  int64_t batch = 0;    // 0-based within the epoch
  int64_t batches = 0;  // batches in this epoch
  double loss = 0;      // this batch's loss
  double seconds = 0;   // since the epoch began
};

struct FitOptions {
  int epochs = 10;
  int64_t batch_size = 32;  // 0: full batch; > n: clamped to n
  bool shuffle = true;
  uint64_t seed = 0;
  LossKind loss = LossKind::MSE;
  const Tensor *val_x = nullptr;  // both or neither
  const Tensor *val_y = nullptr;
  int patience = 0;  // 0: off; > 0 needs a validation set
  // Called after each epoch; non-zero stops training (FitOutcome::Cancelled).
  std::function<int(const EpochReport &)> on_epoch;
  // Called after batches batch_every-1, 2*batch_every-1, ... of each epoch
  // (batch_every 0: never; < 0 is rejected); non-zero stops training right
  // after that batch (FitOutcome::Cancelled; last = the last finished epoch).
  std::function<int(const BatchReport &)> on_batch;
  int64_t batch_every = 0;
  const void *comm = nullptr;  // nn_comm (data-parallel training); not used here
  // [comm] Data-parallel over a process group: set by fit_with_comm
  // (fit_comm.hpp); NULL: this process alone.
  FitComm *dist = nullptr;
};

enum class FitOutcome { Completed, EarlyStopped, Cancelled };

struct FitResult {
  FitOutcome outcome = FitOutcome::Completed;
  EpochReport last;  // the report of the last epoch trained
  // Cancelled by on_batch: where (last is then the last finished epoch's).
  bool stopped_in_batch = false;
  int stop_epoch = 0;
  int64_t stop_batch = 0;
};

// Trains m with opt on (x, y). Every argument is checked before the model is
// touched (Errc::InvalidArgument / Shape / DType / Device, messages starting
// with `what`). A non-finite batch loss (or non-finite weights after an
// epoch) puts the weights and the optimizer state of the end of the last
// finite epoch back (the starting ones if none) and throws Errc::NotFinite.
FitResult fit(Model &m, Optimizer &opt, const Tensor &x, const Tensor &y, const FitOptions &o, const char *what);

// Loss of m on (x, y) over the whole set as LossKind defines it, and the
// accuracy (NaN for a regression loss) when accuracy is not NULL. The model
// is not changed. x: [n, in_features], n >= 1.
double evaluate(const Model &m, const Tensor &x, const Tensor &y, LossKind loss, double *accuracy,
                const char *what);

// The row permutation that fit uses for an epoch when shuffling: a
// Fisher-Yates shuffle of 0..n-1 driven by a counter-based stream of
// (seed, epoch); the same arguments give the same permutation everywhere.
void epoch_permutation(uint64_t seed, int epoch, int64_t *perm, int64_t n);

}  // namespace nn
