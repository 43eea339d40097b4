// Data-parallel fit and model broadcast over a Comm (contract: fit_comm.hpp,
// nn.h groups "comm" and "fit").
#include "nn/fit_comm.hpp"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>

#include "core/error.hpp"
#include "core/ops.hpp"

namespace nn {
namespace {

// What the ranks exchange to agree before a collective run: this rank's
// argument error (if any) and the values every rank must share.
constexpr int kMaxFields = 16;
struct Record {
  int64_t failed;
  int64_t code;
  int64_t values[kMaxFields];
  char message[400];
};

struct Field {
  const char *name;
  int64_t value;
  Errc code;  // the status of a mismatch
  // How a value reads in the message (NULL: as a number).
  std::string (*show)(int64_t);
};

std::string show_bool(int64_t v) { return v ? "yes" : "no"; }
std::string show_dtype(int64_t v) { return dtype_valid(static_cast<int>(v)) ? dtype_name(static_cast<DType>(v)) : "?"; }
std::string show_device(int64_t v) { return v == static_cast<int64_t>(DeviceType::CPU) ? "cpu" : "cuda"; }
std::string show_loss(int64_t v) {
  static const char *names[] = {"MSE", "SSE", "HALF_MSE", "BCE", "BCE_WITH_LOGITS", "CROSS_ENTROPY"};
  return v >= 0 && v < 6 ? names[v] : std::to_string(v);
}
std::string show_optimizer(int64_t v) {
  switch (static_cast<Optimizer::Kind>(v)) {
    case Optimizer::Kind::Sgd: return "SGD";
    case Optimizer::Kind::Adam: return "Adam";
    default: return std::to_string(v);
  }
}
int64_t double_bits(double d) {
  int64_t v;
  std::memcpy(&v, &d, sizeof v);
  return v;
}
std::string show_double(int64_t v) {
  double d;
  std::memcpy(&d, &v, sizeof d);
  for (int prec = 6; prec < 17; ++prec) {  // the shortest text that reads back as d
    std::string t = strprintf("%.*g", prec, d);
    if (std::strtod(t.c_str(), nullptr) == d) return t;
  }
  return strprintf("%.17g", d);
}
std::string show_hex(int64_t v) { return strprintf("%016llx", static_cast<unsigned long long>(v)); }

// One allgather; then: a rank that failed makes every other rank throw its
// status with "rank R failed its argument checks: <message>" (the failing
// rank throws its own error itself, after this returns), and a field that
// differs from rank 0's throws the same message on every rank.
void agree(Comm &c, bool failed, Errc code, const std::string &message, const std::vector<Field> &fields,
           const char *what) {
  if (fields.size() > static_cast<size_t>(kMaxFields)) fail(Errc::Internal, "%s: too many agreement fields", what);
  Record mine;
  std::memset(&mine, 0, sizeof mine);
  mine.failed = failed ? 1 : 0;
  mine.code = static_cast<int64_t>(code);
  for (size_t i = 0; i < fields.size(); ++i) mine.values[i] = fields[i].value;
  std::strncpy(mine.message, message.c_str(), sizeof mine.message - 1);
  std::vector<Record> all(static_cast<size_t>(c.size()));
  c.allgather(&mine, all.data(), sizeof mine, what);
  if (failed) return;
  for (int r = 0; r < c.size(); ++r) {
    const Record &o = all[static_cast<size_t>(r)];
    if (!o.failed) continue;
    std::string m = o.message;
    const std::string prefix = std::string(what) + ": ";
    if (m.compare(0, prefix.size(), prefix) == 0) m.erase(0, prefix.size());
    throw Error(static_cast<Errc>(o.code), strprintf("%s: rank %d failed its argument checks: %s", what, r, m.c_str()));
  }
  for (size_t i = 0; i < fields.size(); ++i) {
    const int64_t v0 = all[0].values[i];
    for (int r = 1; r < c.size(); ++r) {
      const int64_t v = all[static_cast<size_t>(r)].values[i];
      if (v == v0) continue;
      auto show = [&](int64_t x) { return fields[i].show ? fields[i].show(x) : std::to_string(x); };
      fail(fields[i].code, "%s: the ranks disagree on %s: rank 0 has %s, rank %d has %s (every rank must pass the same)",
           what, fields[i].name, show(v0).c_str(), r, show(v).c_str());
    }
  }
}

// FNV-1a over every parameter's shape, in order: two models with the same
// value have the same architecture (up to a hash collision).
int64_t shape_hash(Model &m) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](uint64_t v) {
    for (int b = 0; b < 8; ++b) {
      h ^= (v >> (8 * b)) & 0xffu;
      h *= 1099511628211ull;
    }
  };
  for_each_parameter(m, [&](const Tensor &p, const Tensor &) {
    mix(static_cast<uint64_t>(p.ndim()));
    for (int d = 0; d < p.ndim(); ++d) mix(static_cast<uint64_t>(p.dim(d)));
  });
  return static_cast<int64_t>(h);
}

int64_t parameter_count(Model &m) {
  int64_t n = 0;
  for_each_parameter(m, [&](const Tensor &p, const Tensor &) { n += p.numel(); });
  return n;
}

std::vector<Field> model_fields(Model &m) {
  return {
      {"the number of parameters", parameter_count(m), Errc::Shape, nullptr},
      {"the parameter shapes (hash)", shape_hash(m), Errc::Shape, show_hex},
      {"the model's dtype", static_cast<int64_t>(m.dtype()), Errc::DType, show_dtype},
      {"the model's kind of device", static_cast<int64_t>(m.device().type), Errc::Device, show_device},
  };
}

// Element i of a flat 1-D buffer viewed with t's shape (contiguous).
Tensor slice_like(const Tensor &flat, int64_t offset, const Tensor &t) {
  Shape st = t.shape();
  int64_t s = 1;
  for (int d = t.ndim() - 1; d >= 0; --d) {
    st[d] = s;
    s *= t.dim(d);
  }
  return flat.as_strided(t.shape(), st, flat.offset() + offset);
}

// dst <- src (same shape, dtype and device): the device's copy kernel, which
// moves contiguous same-dtype memory with one memmove on the CPU.
void copy_same(const Tensor &dst, const Tensor &src) { dst.kernels().copy(dst.view(), src.view()); }

// Packs the parameters (grads == false) or gradients of m into flat, or
// unpacks (back == true).
void pack(Model &m, const Tensor &flat, bool grads, bool back, const char *what) {
  int64_t off = 0;
  for_each_parameter(m, [&](const Tensor &p, const Tensor &g) {
    const Tensor &t = grads ? g : p;
    if (t.numel() == 0) return;
    Tensor s = slice_like(flat, off, t);
    if (back)
      copy_same(t, s);
    else
      copy_same(s, t);
    off += t.numel();
  });
}

}  // namespace

void broadcast_parameters(Comm &c, Model &m, int root, const char *what) {
  bool failed = root < 0 || root >= c.size();
  std::string msg = failed ? strprintf("%s: root is %d; the group's ranks are 0..%d", what, root, c.size() - 1) : "";
  agree(c, failed, Errc::InvalidArgument, msg, model_fields(m), what);
  if (failed) throw Error(Errc::InvalidArgument, msg);
  const int64_t n = parameter_count(m);
  if (n == 0) return;
  Tensor flat = Tensor::empty(m.dtype(), Shape{n}, m.device());
  pack(m, flat, false, false, what);
  c.broadcast(flat, root, false, what);
  pack(m, flat, false, true, what);
}

void FitComm::fail_agreement(Errc code, const std::string &message) {
  agreed_ = true;
  std::vector<Field> none;
  agree(c_, true, code, message, none, what_);
}

void FitComm::begin(Model &m, const Optimizer &opt, const FitOptions &o, int64_t rows, bool has_val) {
  agreed_ = true;
  std::vector<Field> f = {
      {"the number of training rows", rows, Errc::Shape, nullptr},
      {"epochs", o.epochs, Errc::InvalidArgument, nullptr},
      {"batch_size", o.batch_size, Errc::InvalidArgument, nullptr},
      {"the loss", static_cast<int64_t>(o.loss), Errc::InvalidArgument, show_loss},
      {"whether there is a validation set", has_val ? 1 : 0, Errc::InvalidArgument, show_bool},
      {"patience", o.patience, Errc::InvalidArgument, nullptr},
      {"shuffle", o.shuffle ? 1 : 0, Errc::InvalidArgument, show_bool},
      {"batch_every", o.batch_every, Errc::InvalidArgument, nullptr},
      {"the optimizer", static_cast<int64_t>(opt.kind()), Errc::InvalidArgument, show_optimizer},
      {"the learning rate", double_bits(opt.lr()), Errc::InvalidArgument, show_double},
  };
  for (const Field &x : model_fields(m)) f.push_back(x);
  agree(c_, false, Errc::InvalidArgument, "", f, what_);
  // Rank 0's parameters everywhere (the agreement checked the layout).
  const int64_t n = parameter_count(m);
  if (n == 0) return;
  Tensor flat = Tensor::empty(m.dtype(), Shape{n}, m.device());
  pack(m, flat, false, false, what_);
  c_.broadcast(flat, 0, false, what_);
  pack(m, flat, false, true, what_);
}

void FitComm::average_gradients(Model &m) {
  if (c_.size() == 1) return;
  if (!flat_.defined() || flat_.device() != m.device() || flat_.dtype() != m.dtype()) {
    const int64_t n = parameter_count(m);
    if (n == 0) return;
    flat_ = Tensor::empty(m.dtype(), Shape{n}, m.device());
  }
  pack(m, flat_, true, false, what_);
  c_.allreduce(flat_, ReduceOp::Mean, false, what_);
  pack(m, flat_, true, true, what_);
}

double FitComm::mean(double v) {
  c_.allreduce_host(&v, 1, ReduceOp::Mean, what_);
  return v;
}

bool FitComm::all(bool v) {
  double x = v ? 1 : 0;
  c_.allreduce_host(&x, 1, ReduceOp::Min, what_);
  return x != 0;
}

bool FitComm::any(bool v) {
  double x = v ? 1 : 0;
  c_.allreduce_host(&x, 1, ReduceOp::Max, what_);
  return x != 0;
}

void FitComm::combine_validation(LossKind loss, int64_t rows, int64_t out_features, double &val_loss,
                                 double &val_accuracy) {
  // The weight of this rank's loss in the mean over the union, as
  // nn_model_evaluate weighs its chunks: elements for MSE and the BCEs,
  // samples for the others; SSE is a sum.
  double w;
  switch (loss) {
    case LossKind::MSE:
    case LossKind::BCE:
    case LossKind::BCEWithLogits:
      w = static_cast<double>(rows) * static_cast<double>(out_features);
      break;
    case LossKind::SSE:
      w = 1;
      break;
    default:
      w = static_cast<double>(rows);
  }
  const bool acc = !std::isnan(val_accuracy);
  double v[4] = {loss == LossKind::SSE ? val_loss : val_loss * w, w,
                 acc ? val_accuracy * static_cast<double>(rows) : 0.0, static_cast<double>(rows)};
  c_.allreduce_host(v, 4, ReduceOp::Sum, what_);
  val_loss = loss == LossKind::SSE ? v[0] : v[0] / v[1];
  if (acc) val_accuracy = v[2] / v[3];
}

FitResult fit_with_comm(Model &m, Optimizer &opt, const Tensor &x, const Tensor &y, const FitOptions &o, Comm &c,
                        const char *what) {
  FitComm dist(c, what);
  FitOptions with = o;
  with.dist = &dist;
  try {
    return fit(m, opt, x, y, with, what);
  } catch (const Error &e) {
    if (!dist.agreed()) dist.fail_agreement(e.code(), e.what());
    throw;
  } catch (const std::bad_alloc &) {
    if (!dist.agreed()) dist.fail_agreement(Errc::OutOfMemory, std::string(what) + ": out of memory");
    throw;
  } catch (...) {
    if (!dist.agreed()) dist.fail_agreement(Errc::Internal, std::string(what) + ": internal error");
    throw;
  }
}

}  // namespace nn
