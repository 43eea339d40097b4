// nn_model_fit's loop and nn_model_evaluate (contract: nn.h, group "fit").
#include "nn/fit.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <limits>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/ops.hpp"
#include "nn/fit_comm.hpp"  // [comm]

namespace nn {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// Rows per forward pass in evaluation (bounds the memory of one pass).
constexpr int64_t kEvalChunkRows = 8192;

// Rows [r0, r0 + k) of t along dim 0, sharing t's storage.
Tensor rows(const Tensor &t, int64_t r0, int64_t k) {
  Shape s = t.shape();
  s[0] = k;
  return t.as_strided(s, t.strides(), t.offset() + r0 * t.strides()[0]);
}

void check_loss(LossKind loss, const char *what) {
  int v = static_cast<int>(loss);
  if (v < static_cast<int>(LossKind::MSE) || v > static_cast<int>(LossKind::CrossEntropy))
    fail(Errc::InvalidArgument, "%s: loss is %d, not a valid nn_loss", what, v);
}

// Inputs in the model's dtype and targets, both contiguous, checked against
// the model and the loss.
struct Data {
  Tensor x, y;
};

Data check_data_impl(const Model &m, const Tensor &x, const Tensor &y, LossKind loss, const char *what,
                     const char *xn, const char *yn) {
  if (x.device() != m.device())
    fail(Errc::Device, "%s: %s is on %s but the model is on %s", what, xn, x.device().str().c_str(),
         m.device().str().c_str());
  if (y.device() != m.device())
    fail(Errc::Device, "%s: %s is on %s but the model is on %s", what, yn, y.device().str().c_str(),
         m.device().str().c_str());
  if (x.ndim() != 2)
    fail(Errc::Shape, "%s: %s must be 2-D [n, in_features]; got %s", what, xn, x.shape().str().c_str());
  const int64_t n = x.dim(0);
  if (n < 1) fail(Errc::Shape, "%s: %s has no rows (shape %s)", what, xn, x.shape().str().c_str());
  if (y.ndim() < 1 || y.dim(0) != n)
    fail(Errc::Shape, "%s: %s and %s have different numbers of rows: %s %s and %s %s", what, xn, yn, xn,
         x.shape().str().c_str(), yn, y.shape().str().c_str());
  Data d;
  d.x = m.prepare_input(x, what).contiguous();
  d.y = y.contiguous();
  // The target must fit the model's output: run the first row, and check the
  // whole target against that output broadcast to n rows (no n-row pass).
  Tensor p1 = m.forward(rows(d.x, 0, 1), what);
  if (p1.ndim() < 1 || p1.dim(0) != 1)
    fail(Errc::Internal, "%s: the model's output for one row has shape %s", what, p1.shape().str().c_str());
  Shape ps = p1.shape(), st = p1.strides();
  ps[0] = n;
  st[0] = 0;
  validate_loss_target(loss, p1.as_strided(ps, st, p1.offset()), d.y, what);
  // Targets the loss would convert on every batch are converted once here:
  // floating targets to the model's dtype, integer class ids to I64.
  if (is_floating(d.y.dtype())) {
    if (d.y.dtype() != m.dtype()) d.y = to_dtype(d.y, m.dtype());
  } else if (d.y.dtype() != DType::I64) {
    d.y = to_dtype(d.y, DType::I64);
  }
  return d;
}

// Same, with messages that say the validation set is meant.
Data check_data(const Model &m, const Tensor &x, const Tensor &y, LossKind loss, const char *what, bool val) {
  if (!val) return check_data_impl(m, x, y, loss, what, "x", "y");
  try {
    return check_data_impl(m, x, y, loss, what, "val_x", "val_y");
  } catch (const Error &e) {
    std::string msg = e.what();
    const std::string prefix = std::string(what) + ": ";
    if (msg.compare(0, prefix.size(), prefix) == 0) msg.erase(0, prefix.size());
    if (msg.find("val_") == std::string::npos) msg = "validation set (val_x, val_y): " + msg;
    throw Error(e.code(), prefix + msg);
  }
}

// nn_model_fit refuses NaN and inf in its data: Errc::NotFinite naming the
// first one, `x[17, 3] is NaN`. t is `given` as check_data prepared it
// (contiguous, on the model's device; floating data in the model's dtype).
// One Backend::all_finite pass in the common case; only when it fails are
// the data copied to the host (from a GPU, or a plain copy) to find where.
void check_finite(const Tensor &t, const Tensor &given, const char *what, const char *name) {
  const DType dt = t.dtype();
  if ((dt != DType::F32 && dt != DType::F64) || t.numel() == 0 || backend_of(t).all_finite(t.view())) return;
  std::vector<unsigned char> copy(t.nbytes());
  backend_of(t).copy_to_host(copy.data(), t.data(), t.nbytes());
  const void *data = copy.data();
  const int64_t n = t.numel();
  int64_t i = 0;
  double v = 0;
  for (; i < n; ++i) {
    v = dt == DType::F32 ? static_cast<double>(static_cast<const float *>(data)[i])
                         : static_cast<const double *>(data)[i];
    if (!std::isfinite(v)) break;
  }
  if (i == n) fail(Errc::Internal, "%s: all_finite found NaN or inf in %s, but no element is", what, name);
  std::string at;  // "17, 3": the multi-index of flat index i
  for (int d = t.ndim() - 1, rest = 0; d >= 0; --d, rest = 1) {
    const std::string k = std::to_string(i % t.dim(d));
    at = rest ? k + ", " + at : k;
    i /= t.dim(d);
  }
  const char *kind = std::isnan(v) ? "NaN" : v > 0 ? "inf" : "-inf";
  if (given.dtype() != dt)
    fail(Errc::NotFinite, "%s: %s[%s] is %s once converted to %s (the model's dtype); training data must be finite",
         what, name, at.c_str(), kind, dtype_name(dt));
  fail(Errc::NotFinite, "%s: %s[%s] is %s; training data must be finite", what, name, at.c_str(), kind);
}

// How a chunk's loss weighs in the mean over the whole set.
double chunk_weight(LossKind loss, const Tensor &pred, int64_t rows) {
  switch (loss) {
    case LossKind::MSE:
    case LossKind::BCE:
    case LossKind::BCEWithLogits:
      return static_cast<double>(pred.numel());  // mean over elements
    case LossKind::SSE:
      return 1;  // a sum
    default:
      return static_cast<double>(rows);  // mean over samples
  }
}

double evaluate_prepared(const Model &m, const Data &d, LossKind loss, double *accuracy_out, const char *what) {
  const int64_t n = d.x.dim(0);
  const bool cls = is_classification(loss);
  if (n <= kEvalChunkRows) {
    Tensor pred = m.forward(d.x, what);
    double l = compute_loss(loss, pred, d.y, nullptr, what);
    if (accuracy_out) *accuracy_out = cls ? accuracy(loss, pred, d.y) : kNaN;
    return l;
  }
  double lsum = 0, wsum = 0, correct = 0;
  for (int64_t r0 = 0; r0 < n; r0 += kEvalChunkRows) {
    const int64_t k = std::min(kEvalChunkRows, n - r0);
    Tensor yb = rows(d.y, r0, k);
    Tensor pred = m.forward(rows(d.x, r0, k), what);
    double l = compute_loss(loss, pred, yb, nullptr, what);
    double w = chunk_weight(loss, pred, k);
    lsum += loss == LossKind::SSE ? l : l * w;
    wsum += w;
    if (accuracy_out && cls) correct += std::round(accuracy(loss, pred, yb) * static_cast<double>(k));
  }
  if (accuracy_out) *accuracy_out = cls ? correct / static_cast<double>(n) : kNaN;
  return loss == LossKind::SSE ? lsum : lsum / wsum;
}

// One Backend::all_finite_many over every parameter: a single host
// synchronisation on a GPU. `views` is scratch reused across epochs.
bool parameters_finite(Model &m, std::vector<View> &views) {
  views.clear();
  Backend *b = nullptr;
  for_each_parameter(m, [&](const Tensor &p, const Tensor &) {
    if (p.numel() == 0) return;
    views.push_back(p.view());
    b = &backend_of(p);
  });
  return b == nullptr || b->all_finite_many(views.data(), views.size());
}

std::string format_loss(double l) { return std::isnan(l) ? "nan" : (l > 0 ? "inf" : "-inf"); }

}  // namespace

void epoch_permutation(uint64_t seed, int epoch, int64_t *perm, int64_t n) {
  for (int64_t i = 0; i < n; ++i) perm[i] = i;
  const uint64_t stream = splitmix64(splitmix64(seed) ^ static_cast<uint64_t>(static_cast<uint32_t>(epoch)));
  for (int64_t i = n - 1; i > 0; --i) {
    double u = uniform01(stream, static_cast<uint64_t>(n - 1 - i));
    int64_t j = static_cast<int64_t>(u * static_cast<double>(i + 1));
    if (j > i) j = i;
    std::swap(perm[i], perm[j]);
  }
}

double evaluate(const Model &m, const Tensor &x, const Tensor &y, LossKind loss, double *accuracy_out,
                const char *what) {
  check_loss(loss, what);
  Data d = check_data(m, x, y, loss, what, false);
  return evaluate_prepared(m, d, loss, accuracy_out, what);
}

FitResult fit(Model &m, Optimizer &opt, const Tensor &x, const Tensor &y, const FitOptions &o,
              const char *what) {
  using clock = std::chrono::steady_clock;
  // ---- every check before the model is touched
  if (o.epochs < 1) fail(Errc::InvalidArgument, "%s: epochs is %d; it must be >= 1", what, o.epochs);
  if (o.batch_size < 0)
    fail(Errc::InvalidArgument, "%s: batch_size is %lld; it must be >= 0 (0 = full batch, 1 = online)", what,
         static_cast<long long>(o.batch_size));
  if (o.patience < 0) fail(Errc::InvalidArgument, "%s: patience is %d; it must be >= 0", what, o.patience);
  if (o.batch_every < 0)
    fail(Errc::InvalidArgument, "%s: batch_every is %lld; it must be >= 0 (0 = no per-batch reports)", what,
         static_cast<long long>(o.batch_every));
  const bool has_val = o.val_x != nullptr;
  if (has_val != (o.val_y != nullptr))
    fail(Errc::InvalidArgument, "%s: val_x and val_y go together (val_x is %s, val_y is %s)", what,
         o.val_x ? "set" : "NULL", o.val_y ? "set" : "NULL");
  if (o.patience > 0 && !has_val)
    fail(Errc::InvalidArgument, "%s: patience is %d but there is no validation set (val_x, val_y)", what,
         o.patience);
  check_loss(o.loss, what);
  if (&opt.model() != &m) fail(Errc::InvalidArgument, "%s: optimizer was created for another model", what);
  opt.check_params(what);
  const Data train = check_data(m, x, y, o.loss, what, false);
  Data val;
  if (has_val) val = check_data(m, *o.val_x, *o.val_y, o.loss, what, true);
  check_finite(train.x, x, what, "x");
  check_finite(train.y, y, what, "y");
  if (has_val) {
    check_finite(val.x, *o.val_x, what, "val_x");
    check_finite(val.y, *o.val_y, what, "val_y");
  }
  if (o.dist) o.dist->begin(m, opt, o, train.x.dim(0), has_val);  // [comm] agree, rank 0's weights everywhere

  // ---- set-up: batch buffers, permutation, rollback point (allocated once)
  const int64_t n = train.x.dim(0);
  const int64_t bs = (o.batch_size == 0 || o.batch_size > n) ? n : o.batch_size;
  const int64_t nb = (n + bs - 1) / bs;
  const Device dev = m.device();
  Backend &be = backend_of(train.x);
  std::vector<int64_t> perm;
  Tensor bx, by, perm_dev;  // perm_dev: the epoch's permutation on the model's device
  // Batches go through the fixed buffers bx/by when shuffling (gathered), and
  // when there are several on a backend that replays recorded steps
  // (copied): a step's inputs then never move.
  const bool stage = o.shuffle || (nb > 1 && be.wants_fixed_batches());
  if (o.shuffle) {
    perm.resize(static_cast<size_t>(n));
    perm_dev = Tensor::empty(DType::I64, Shape{n}, dev);
  }
  if (stage) {
    Shape sx = train.x.shape(), sy = train.y.shape();
    sx[0] = bs;
    sy[0] = bs;
    bx = Tensor::empty(train.x.dtype(), sx, dev);
    by = Tensor::empty(train.y.dtype(), sy, dev);
  }
  // The epoch's loss sum lives on the device (0-dim F64): the batches add
  // into it without a host synchronisation; it is read once per epoch.
  Tensor accum = Tensor::empty(DType::F64, Shape{}, dev);
  std::vector<View> param_views;
  // The rollback point (weights and optimizer state, Optimizer::save_point)
  // is taken here and at the end of every finite epoch but the last, whose
  // weights nothing can roll back. `dirty`: the weights may differ from it.
  opt.save_point();
  int last_good = -1;  // last epoch whose weights are in the point
  bool dirty = false;

  auto rollback = [&]() {
    opt.restore_point();
    dirty = false;
  };
  auto put_back = [&]() -> std::string {
    return last_good >= 0 ? strprintf("the weights of the end of epoch %d were put back", last_good)
                          : std::string("the starting weights were put back");
  };

  FitResult result;
  double best = std::numeric_limits<double>::infinity();
  int bad_epochs = 0;
  try {
    for (int epoch = 0; epoch < o.epochs; ++epoch) {
      const auto t0 = clock::now();
      const double lr_used = opt.lr();
      if (o.shuffle) {
        // The optimizer's epoch count, not the loop's: fit(1) + fit(1) ==
        // fit(2), and a resumed checkpoint continues the sequence.
        epoch_permutation(o.dist ? o.seed + static_cast<uint64_t>(o.dist->rank()) : o.seed,
                          static_cast<int>(opt.epoch()), perm.data(), n);  // [comm] seed + rank
        be.copy_from_host(perm_dev.data(), perm.data(), static_cast<size_t>(n) * sizeof(int64_t));
      }
      be.fill(accum.view(), 0.0);
      for (int64_t b = 0; b < nb; ++b) {
        const int64_t r0 = b * bs, k = std::min(bs, n - r0);
        Tensor xb, yb;
        if (o.shuffle) {
          xb = rows(bx, 0, k);
          yb = rows(by, 0, k);
          const View iv = rows(perm_dev, r0, k).view();
          be.gather_rows_device(xb.view(), train.x.view(), iv, k);
          be.gather_rows_device(yb.view(), train.y.view(), iv, k);
        } else if (stage) {
          xb = rows(bx, 0, k);
          yb = rows(by, 0, k);
          be.copy(xb.view(), rows(train.x, r0, k).view());
          be.copy(yb.view(), rows(train.y, r0, k).view());
        } else {
          xb = rows(train.x, r0, k);
          yb = rows(train.y, r0, k);
        }
        // [comm] With a process group every rank stops at these batches (to
        // agree on the callback's answer), with or without its own on_batch.
        const bool report = (o.on_batch || o.dist) && o.batch_every > 0 && (b + 1) % o.batch_every == 0;
        double sum_before = 0;
        if (report) be.copy_to_host(&sum_before, accum.data(), sizeof sum_before);
        dirty = true;
        m.overwrite_grads_next();                         // zero_grad + backward, without the zeroing pass
        m.train_batch_accum(xb, yb, o.loss, accum, what);  // forward, loss into accum, backward
        if (o.dist) o.dist->average_gradients(m);  // [comm] one allreduce of all gradients
        opt.step_unchecked();  // parameters checked before the loop; never recorded (lr, step change)
        if (report) {
          double sum_after = 0;
          be.copy_to_host(&sum_after, accum.data(), sizeof sum_after);
          BatchReport br;
          br.epoch = epoch;
          br.batch = b;
          br.batches = nb;
          br.loss = sum_after - sum_before;
          if (o.dist) br.loss = o.dist->mean(br.loss);  // [comm] the batch loss over all ranks
          br.seconds = std::chrono::duration<double>(clock::now() - t0).count();
          int stop = o.on_batch ? o.on_batch(br) : 0;
          if (o.dist) stop = o.dist->any(stop != 0) ? 1 : 0;  // [comm] one rank stops: all do
          if (stop != 0) {
            // The model keeps what it learned, unless that is not finite.
            bool finite = std::isfinite(sum_after) && parameters_finite(m, param_views);
            if (o.dist) finite = o.dist->all(finite);  // [comm] the same decision everywhere
            if (!finite) {
              rollback();
              fail(Errc::NotFinite, "%s: the weights or the training loss are not finite at epoch %d batch %lld "
                   "(0-based), where on_batch stopped training; %s", what, epoch, static_cast<long long>(b),
                   put_back().c_str());
            }
            result.outcome = FitOutcome::Cancelled;
            result.stopped_in_batch = true;
            result.stop_epoch = epoch;
            result.stop_batch = b;
            return result;
          }
        }
      }
      // The epoch's one read of the loss. A non-finite batch loss makes the
      // sum non-finite; the rollback below undoes whatever the later batches
      // of the epoch did.
      double loss_sum = 0;
      be.copy_to_host(&loss_sum, accum.data(), sizeof loss_sum);
      if (o.dist) loss_sum = o.dist->mean(loss_sum);  // [comm] over all ranks: every rank decides the same
      if (!std::isfinite(loss_sum)) {
        rollback();
        fail(Errc::NotFinite, "%s: the training loss is %s at epoch %d (0-based; %lld batch%s); %s", what,
             format_loss(loss_sum).c_str(), epoch, static_cast<long long>(nb), nb == 1 ? "" : "es",
             put_back().c_str());
      }
      bool finite = parameters_finite(m, param_views);
      if (o.dist) finite = o.dist->all(finite);  // [comm]
      if (!finite) {
        rollback();
        fail(Errc::NotFinite, "%s: the weights became non-finite during epoch %d (0-based); %s", what, epoch,
             put_back().c_str());
      }
      opt.epoch_end();
      dirty = false;  // these weights are good: a failure from here on keeps them
      if (epoch + 1 < o.epochs) opt.save_point();
      last_good = epoch;

      EpochReport r;
      r.epoch = epoch;
      r.epochs = o.epochs;
      r.loss = loss_sum / static_cast<double>(nb);
      r.val_loss = kNaN;
      r.val_accuracy = kNaN;
      if (has_val) r.val_loss = evaluate_prepared(m, val, o.loss, &r.val_accuracy, what);
      if (has_val && o.dist)  // [comm] over the union of the ranks' validation sets
        o.dist->combine_validation(o.loss, val.x.dim(0), m.out_features(), r.val_loss, r.val_accuracy);
      r.lr = lr_used;
      r.seconds = std::chrono::duration<double>(clock::now() - t0).count();
      result.last = r;

      if (o.on_epoch || o.dist) {  // [comm] every rank takes part, with or without a callback
        int stop = o.on_epoch ? o.on_epoch(r) : 0;
        if (o.dist) stop = o.dist->any(stop != 0) ? 1 : 0;  // [comm] one rank cancels: all do
        if (stop != 0) {
          result.outcome = FitOutcome::Cancelled;
          return result;
        }
      }
      if (o.patience > 0) {
        if (r.val_loss < best) {
          best = r.val_loss;
          bad_epochs = 0;
        } else if (++bad_epochs >= o.patience) {
          result.outcome = FitOutcome::EarlyStopped;
          return result;
        }
      }
    }
  } catch (...) {
    m.discard_overwrite_grads();
    if (dirty) {
      // A failure in the middle of training (out of memory, a device error,
      // a target the kernels reject): leave the weights of the last epoch.
      try {
        rollback();
      } catch (...) {
      }
    }
    throw;
  }
  result.outcome = FitOutcome::Completed;
  return result;
}

}  // namespace nn
