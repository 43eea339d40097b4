// Data-parallel training over a process group (nn.h groups "comm" and
// "fit"): what nn_model_fit does with nn_fit_options::comm, as PyTorch's
// DistributedDataParallel with a DistributedSampler, and nn_model_broadcast.
//
// fit() calls the hooks of a FitComm (fit.cpp, lines marked "[comm]"):
//   begin            after the local argument checks: the ranks agree on the
//                    run (rows, epochs, batch size, loss, validation,
//                    patience, shuffle, batch_every, model, optimizer kind
//                    and learning rate) and rank 0's parameters are
//                    broadcast, before the rollback point is taken;
//   rank             shuffling seeds with seed + rank;
//   average_gradients after each step's backward: ONE allreduce (MEAN) of a
//                    flat buffer holding every gradient (copied in and out:
//                    the model's gradients are separate tensors for now);
//   mean / all / any the epoch loss, the finite-weights check, the callback's
//                    stop, so that every rank decides the same;
//   combine_validation the validation loss and accuracy over all ranks' sets.
// fit_with_comm runs fit with a FitComm; when a rank fails its local checks
// before begin, it still takes part in the agreement (with its error), so
// the other ranks fail with that message instead of waiting forever.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "backend/comm.hpp"
#include "nn/fit.hpp"
#include "nn/model.hpp"
#include "nn/optim.hpp"

namespace nn {

class FitComm {
 public:
  FitComm(Comm &c, const char *what) : c_(c), what_(what) {}
  int rank() const { return c_.rank(); }
  int size() const { return c_.size(); }
  bool agreed() const { return agreed_; }
  // Collective: the agreement with this rank's own argument error (called
  // by fit_with_comm when fit threw before begin).
  void fail_agreement(Errc code, const std::string &message);
  // Collective: agreement, then rank 0's parameters to every rank.
  void begin(Model &m, const Optimizer &opt, const FitOptions &o, int64_t rows, bool has_val);
  // Collective: the gradients of every parameter become their mean over ranks.
  void average_gradients(Model &m);
  double mean(double v);
  bool all(bool v);
  bool any(bool v);
  // Collective: loss and accuracy of this rank's validation set (rows rows)
  // become those of the union of all ranks' sets.
  void combine_validation(LossKind loss, int64_t rows, int64_t out_features, double &val_loss,
                          double &val_accuracy);

 private:
  Comm &c_;
  const char *what_;
  bool agreed_ = false;
  Tensor flat_;  // the gradient buffer, allocated on the first step
};

// fit(m, opt, x, y, o) on every rank of c, data-parallel (see above).
FitResult fit_with_comm(Model &m, Optimizer &opt, const Tensor &x, const Tensor &y, const FitOptions &o, Comm &c,
                        const char *what);

// Collective: root's parameters into every rank's model (one message), after
// the ranks agree on the architecture, dtype and kind of device.
void broadcast_parameters(Comm &c, Model &m, int root, const char *what);

}  // namespace nn
