#include "nn/checkpoint.hpp"

#include <charconv>
#include <cmath>
#include <cstring>
#include <string>

#include "core/error.hpp"
#include "core/ops.hpp"
#include "nn/model_io.hpp"

namespace nn {

namespace {

// __metadata__ keys of a checkpoint (values: decimal text that reads back
// exactly; "true"/"false").
const char *const kKind = "nn.optimizer";  // "sgd", "adam", "adamw"
const char *const kLr = "nn.optimizer.lr";
const char *const kMomentum = "nn.optimizer.momentum";
const char *const kNesterov = "nn.optimizer.nesterov";
const char *const kWeightDecay = "nn.optimizer.weight_decay";
const char *const kBeta1 = "nn.optimizer.beta1";
const char *const kBeta2 = "nn.optimizer.beta2";
const char *const kEps = "nn.optimizer.eps";
const char *const kStep = "nn.optimizer.step";
const char *const kEpoch = "nn.optimizer.epoch";
const char *const kStepSize = "nn.step_lr.step_size";
const char *const kGamma = "nn.step_lr.gamma";
const char *const kLastEpoch = "nn.step_lr.last_epoch";
const char *const kArchKey = "nn.architecture";

// Shortest text that reads back as the same double (locale-independent).
std::string num(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}
std::string num(int64_t v) { return std::to_string(v); }

// One parameter of the model as the checkpoint names it.
struct ParamInfo {
  std::string name;  // "<i>.weight"
  const Tensor *param;
};

std::vector<ParamInfo> param_infos(const Model &m) {
  std::vector<ParamInfo> out;
  for (int i = 0; i < m.num_layers(); ++i) {
    const Layer &l = m.layer(i);
    if (l.kind() != LayerKind::Linear) continue;
    if (l.weight().defined()) out.push_back({param_name(i, false), &l.weight()});
    if (l.has_bias()) out.push_back({param_name(i, true), &l.bias()});
  }
  return out;
}

// The state names an optimizer keeps per parameter, in state_m/state_v order.
std::vector<const char *> state_names(Optimizer::Kind kind, bool has_m) {
  if (kind == Optimizer::Kind::Adam) return {"exp_avg", "exp_avg_sq"};
  if (has_m) return {"momentum_buffer"};
  return {};
}

// Reads the checkpoint's optimizer entries, strictly.
class MetaReader {
 public:
  MetaReader(const safetensors::File &f, const char *what) : f_(f), what_(what) {}

  const std::string &text(const char *key) {
    const std::string *v = f_.meta(key);
    if (!v) fail(Errc::Format, "%s: __metadata__ has no \"%s\" entry", what_, key);
    used_.push_back(key);
    return *v;
  }
  double real(const char *key) {
    const std::string &s = text(key);
    double v = 0;
    auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size() || !std::isfinite(v))
      fail(Errc::Format, "%s: __metadata__ \"%s\" is \"%s\", not a finite number", what_, key, clip(s).c_str());
    return v;
  }
  int64_t integer(const char *key, int64_t max) {
    const std::string &s = text(key);
    int64_t v = 0;
    auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size() || v < 0 || v > max)
      fail(Errc::Format, "%s: __metadata__ \"%s\" is \"%s\", not an integer in [0, %lld]", what_, key,
           clip(s).c_str(), static_cast<long long>(max));
    return v;
  }
  bool boolean(const char *key) {
    const std::string &s = text(key);
    if (s == "true") return true;
    if (s == "false") return false;
    fail(Errc::Format, "%s: __metadata__ \"%s\" is \"%s\", not true or false", what_, key, clip(s).c_str());
  }
  // Every "nn." key must have been read (or be the architecture).
  void no_others() const {
    for (const auto &kv : f_.metadata) {
      if (!is_reserved_key(kv.first) || kv.first == kArchKey) continue;
      bool used = false;
      for (const char *u : used_) used = used || kv.first == u;
      if (!used)
        fail(Errc::Format, "%s: __metadata__ entry \"%s\" is not one this checkpoint's optimizer has", what_,
             clip(kv.first).c_str());
    }
  }

 private:
  static std::string clip(const std::string &s) { return s.size() > 40 ? s.substr(0, 40) + "..." : s; }
  const safetensors::File &f_;
  const char *what_;
  std::vector<const char *> used_;
};

const safetensors::Entry *find_entry(const safetensors::File &f, const std::string &name) {
  for (const auto &e : f.tensors)
    if (e.name == name) return &e;
  return nullptr;
}

std::string shape_str(const std::vector<int64_t> &s) { return Shape::of(static_cast<int>(s.size()), s.data()).str(); }

}  // namespace

std::vector<uint8_t> save_checkpoint(const Model &m, const Optimizer &opt, const char *what) {
  const Optimizer::Settings s = opt.settings();
  std::vector<std::pair<std::string, std::string>> meta;
  if (s.kind == Optimizer::Kind::Sgd) {
    meta = {{kKind, "sgd"},
            {kLr, num(s.lr)},
            {kMomentum, num(s.momentum)},
            {kNesterov, s.nesterov ? "true" : "false"},
            {kWeightDecay, num(s.weight_decay)}};
  } else {
    meta = {{kKind, s.decoupled ? "adamw" : "adam"},
            {kLr, num(s.lr)},
            {kBeta1, num(s.beta1)},
            {kBeta2, num(s.beta2)},
            {kEps, num(s.eps)},
            {kWeightDecay, num(s.weight_decay)}};
  }
  meta.push_back({kStep, num(s.steps)});
  meta.push_back({kEpoch, num(s.epoch)});
  if (s.step_size > 0) {
    meta.push_back({kStepSize, num(static_cast<int64_t>(s.step_size))});
    meta.push_back({kGamma, num(s.gamma)});
    meta.push_back({kLastEpoch, num(s.epochs_since_schedule)});
  }

  // The state tensors, copied to the host.
  const std::vector<ParamInfo> params = param_infos(m);
  const std::vector<Tensor> *bufs[2] = {&opt.state_m(), &opt.state_v()};
  if (bufs[0]->size() != params.size())
    fail(Errc::InvalidArgument, "%s: the model's parameters changed since the optimizer was created", what);
  std::vector<std::vector<uint8_t>> host;
  host.reserve(2 * params.size());
  std::vector<safetensors::Out> outs;
  for (size_t i = 0; i < params.size(); ++i) {
    const std::vector<const char *> names =
        state_names(s.kind, (*bufs[0])[i].defined());
    for (size_t k = 0; k < names.size(); ++k) {
      const Tensor &t = (*bufs[k])[i];
      host.emplace_back(t.nbytes());
      to_host(t, host.back().data());
      std::vector<int64_t> shape(t.shape().d, t.shape().d + t.ndim());
      outs.push_back({"optimizer." + params[i].name + "." + names[k], st_dtype(t.dtype()), shape,
                      host.back().data(), t.nbytes()});
    }
  }
  return save_model(m, outs, meta);
}

std::pair<std::unique_ptr<Model>, std::unique_ptr<Optimizer>> load_checkpoint(const safetensors::File &f,
                                                                               Device dev, const char *what) {
  if (!f.meta(kKind))
    fail(Errc::Format,
         "%s: __metadata__ has no \"%s\" entry: not a checkpoint (a model file loads with nn_model_load)", what,
         kKind);

  // ---- the optimizer's settings, all checked before anything is built
  MetaReader r(f, what);
  Optimizer::Settings s;
  const std::string &kind = r.text(kKind);
  if (kind == "sgd") {
    s.kind = Optimizer::Kind::Sgd;
    s.lr = r.real(kLr);
    s.momentum = r.real(kMomentum);
    s.nesterov = r.boolean(kNesterov);
    s.weight_decay = r.real(kWeightDecay);
  } else if (kind == "adam" || kind == "adamw") {
    s.kind = Optimizer::Kind::Adam;
    s.decoupled = kind == "adamw";
    s.lr = r.real(kLr);
    s.beta1 = r.real(kBeta1);
    s.beta2 = r.real(kBeta2);
    s.eps = r.real(kEps);
    s.weight_decay = r.real(kWeightDecay);
  } else {
    fail(Errc::Format, "%s: __metadata__ \"%s\" is \"%s\"; expected sgd, adam or adamw", what, kKind,
         kind.substr(0, 40).c_str());
  }
  s.steps = r.integer(kStep, INT64_MAX);
  s.epoch = r.integer(kEpoch, INT64_MAX);
  if (f.meta(kStepSize) || f.meta(kGamma) || f.meta(kLastEpoch)) {
    s.step_size = static_cast<int>(r.integer(kStepSize, INT32_MAX));
    s.gamma = r.real(kGamma);
    s.epochs_since_schedule = r.integer(kLastEpoch, INT64_MAX);
    if (s.step_size < 1) fail(Errc::Format, "%s: __metadata__ \"%s\" is 0; it must be >= 1", what, kStepSize);
  }
  r.no_others();

  // ---- the model (every check of nn_model_load), then the state tensors
  std::unique_ptr<Model> model = load_model(f, dev, what);
  std::unique_ptr<Optimizer> opt;
  try {
    if (s.kind == Optimizer::Kind::Sgd)
      opt = Optimizer::sgd(*model, s.lr, s.momentum, s.weight_decay, s.nesterov, what);
    else
      opt = Optimizer::adam(*model, s.lr, s.beta1, s.beta2, s.eps, s.weight_decay, s.decoupled, what);
    opt->restore_counters(s, what);
  } catch (const Error &e) {
    if (e.code() != Errc::InvalidArgument) throw;
    fail(Errc::Format, "%s (in the checkpoint's __metadata__)", e.what());
  }

  const std::vector<ParamInfo> params = param_infos(*model);
  const std::vector<Tensor> *bufs[2] = {&opt->state_m(), &opt->state_v()};
  size_t expected = 0;
  // Check every state tensor first (name, dtype = its parameter's dtype in
  // the file, shape), then copy.
  for (size_t i = 0; i < params.size(); ++i) {
    const safetensors::Entry *pe = find_entry(f, params[i].name);  // present: load_model checked
    for (const char *state : state_names(s.kind, (*bufs[0])[i].defined())) {
      const std::string name = "optimizer." + params[i].name + "." + state;
      const safetensors::Entry *e = find_entry(f, name);
      if (!e) fail(Errc::Format, "%s: tensor \"%s\" of the %s optimizer is missing", what, name.c_str(), kind.c_str());
      if (e->dtype != pe->dtype)
        fail(Errc::Format, "%s: tensor \"%s\" has dtype %s but its parameter \"%s\" has %s", what, name.c_str(),
             e->dtype.c_str(), params[i].name.c_str(), pe->dtype.c_str());
      if (e->shape != pe->shape)
        fail(Errc::Format, "%s: tensor \"%s\" has shape %s but its parameter \"%s\" has %s", what, name.c_str(),
             shape_str(e->shape).c_str(), params[i].name.c_str(), shape_str(pe->shape).c_str());
      ++expected;
    }
  }
  size_t present = 0;
  for (const auto &e : f.tensors) present += e.name.compare(0, 10, "optimizer.") == 0 ? 1 : 0;
  if (present != expected) {
    for (const auto &e : f.tensors) {
      if (e.name.compare(0, 10, "optimizer.") != 0) continue;
      bool known = false;
      for (size_t i = 0; i < params.size() && !known; ++i)
        for (const char *state : state_names(s.kind, (*bufs[0])[i].defined()))
          known = known || e.name == "optimizer." + params[i].name + "." + state;
      if (!known)
        fail(Errc::Format, "%s: tensor \"%s\" is not a state of the %s optimizer%s", what, e.name.c_str(),
             kind.c_str(), s.kind == Optimizer::Kind::Sgd && s.momentum == 0 ? " (momentum 0 keeps no state)" : "");
    }
  }
  FillStage stage;
  for (size_t i = 0; i < params.size(); ++i) {
    const std::vector<const char *> names = state_names(s.kind, (*bufs[0])[i].defined());
    for (size_t k = 0; k < names.size(); ++k) {
      const safetensors::Entry *e = find_entry(f, "optimizer." + params[i].name + "." + names[k]);
      DType dt = DType::F32;
      st_to_dtype(e->dtype, &dt);  // the parameter's: checked by load_model
      fill_tensor((*bufs[k])[i], dt, f, e->begin, stage);
    }
  }
  return {std::move(model), std::move(opt)};
}

void load_weights(Model &m, const uint8_t *buf, size_t len, const char *what) {
  safetensors::File f = parse_file(buf, len, what);
  const bool checkpoint = f.meta(kKind) != nullptr;
  struct Planned {
    const safetensors::Entry *entry;
    const Tensor *param;
    DType dt;
  };
  std::vector<Planned> plan;
  std::string missing, unexpected, mismatched;
  size_t n_missing = 0, n_unexpected = 0, n_mismatched = 0;
  auto add = [](std::string &list, size_t &n, const std::string &item) {
    ++n;
    if (list.size() < 400) list += (list.empty() ? "" : ", ") + item;
    else if (list.compare(list.size() - 3, 3, "...") != 0) list += ", ...";
  };
  const std::vector<ParamInfo> params = param_infos(m);
  for (const ParamInfo &p : params) {
    const safetensors::Entry *e = find_entry(f, p.name);
    if (!e) {
      add(missing, n_missing, "\"" + p.name + "\"");
      continue;
    }
    std::vector<int64_t> want(p.param->shape().d, p.param->shape().d + p.param->ndim());
    DType dt = DType::F32;
    if (!st_to_dtype(e->dtype, &dt)) {
      add(mismatched, n_mismatched, "\"" + p.name + "\" has dtype " + e->dtype + " (not convertible)");
      continue;
    }
    if (e->shape != want) {
      add(mismatched, n_mismatched,
          "\"" + p.name + "\" is " + shape_str(e->shape) + " in the file but " + shape_str(want) + " in the model");
      continue;
    }
    plan.push_back({e, p.param, dt});
  }
  for (const auto &e : f.tensors) {
    if (checkpoint && e.name.compare(0, 10, "optimizer.") == 0) continue;
    bool known = false;
    for (const ParamInfo &p : params) known = known || p.name == e.name;
    if (!known) add(unexpected, n_unexpected, "\"" + e.name + "\"");
  }
  if (n_missing || n_unexpected || n_mismatched) {
    std::string msg;
    if (n_missing) msg += "missing " + std::to_string(n_missing) + " tensor(s): " + missing;
    if (n_unexpected) msg += (msg.empty() ? "" : "; ") + std::string("unexpected ") + std::to_string(n_unexpected) +
                             " tensor(s): " + unexpected;
    if (n_mismatched) msg += (msg.empty() ? "" : "; ") + std::string("size mismatch for ") +
                             std::to_string(n_mismatched) + " tensor(s): " + mismatched;
    fail(Errc::Format, "%s: the file's tensors do not match the model (strict, as load_state_dict): %s", what,
         msg.c_str());
  }
  // Every check passed: each parameter is filled once, in place, from the
  // bytes in memory, through staging buffers allocated before the first (on
  // the CPU nothing below can fail: all or nothing).
  FillStage stage;
  stage.reserve();
  for (const Planned &p : plan) fill_tensor(*p.param, p.dt, f, p.entry->begin, stage);
}

}  // namespace nn
