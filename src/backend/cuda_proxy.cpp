// CudaProxyBackend: a Backend that forwards every call through the C table
// exported by libnn_cuda.so (cuda_abi.h) and turns a failure code and its
// message into nn::Error. Exceptions never cross the library boundary.
// Per-op tensor kernels go one by one; plans go whole (the plan translated
// into cuda_abi.h's plain-C description): libnn_cuda.so walks the units,
// binds the model's stream and records and replays its training steps.
//
// libnn_cuda.so is looked up, in order: $NN_CUDA_BACKEND_PATH (a file, or a
// folder holding libnn_cuda.so), next to libnn.so (dladdr), then the dynamic
// linker's default search path.
#include "backend/cuda_proxy.hpp"

#include <dlfcn.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "backend/abi_error.hpp"
#include "backend/module.hpp"
#include "backend/cuda_abi.h"
#include "nn_cuda_build_id.h"
#include "core/error.hpp"

namespace nn {
namespace {

constexpr const char *kLibName = "libnn_cuda.so";

struct Loaded {
  const nn_cuda_iface *table = nullptr;
  int count = 0;
  std::string reason;  // why count is 0
  std::vector<std::unique_ptr<Backend>> backends;
};

// A model's state on a CUDA device (libnn_cuda.so's plan_create: its
// stream and its recorded training steps), freed with the model or when it
// leaves the device.
class CudaPlanState final : public PlanState {
 public:
  CudaPlanState(const nn_cuda_iface *t, int index, void *state) : t_(t), index_(index), state_(state) {}
  ~CudaPlanState() override { t_->plan_destroy(index_, state_); }
  void *handle() const { return state_; }

 private:
  const nn_cuda_iface *t_;
  int index_;
  void *state_;
};

class CudaProxyBackend final : public Backend {
 public:
  CudaProxyBackend(const nn_cuda_iface *t, int index) : t_(t), index_(index) {}
  Device device() const override { return Device{DeviceType::CUDA, index_}; }

  // ---- TensorKernels
  void *allocate(size_t bytes) override {
    void *p = nullptr;
    call([&](nn_cuda_error *e) { return t_->allocate(index_, bytes, &p, e); });
    return p;
  }
  void deallocate(void *p) noexcept override { t_->deallocate(index_, p); }
  void copy_to_host(void *host_dst, const void *src, size_t bytes) override {
    call([&](nn_cuda_error *e) { return t_->copy_to_host(index_, host_dst, src, bytes, e); });
  }
  void copy_from_host(void *dst, const void *host_src, size_t bytes) override {
    call([&](nn_cuda_error *e) { return t_->copy_from_host(index_, dst, host_src, bytes, e); });
  }
  void copy(const View &dst, const View &src) override {
    nn_cuda_view d = cv(dst), s = cv(src);
    call([&](nn_cuda_error *e) { return t_->copy(index_, &d, &s, e); });
  }
  void fill(const View &dst, double value) override {
    nn_cuda_view d = cv(dst);
    call([&](nn_cuda_error *e) { return t_->fill(index_, &d, value, e); });
  }
  void unary(UnaryOp op, const View &out, const View &x) override {
    nn_cuda_view o = cv(out), a = cv(x);
    call([&](nn_cuda_error *e) { return t_->unary(index_, static_cast<int>(op), &o, &a, e); });
  }
  void binary(BinaryOp op, const View &out, const View &a, const View &b) override {
    nn_cuda_view o = cv(out), x = cv(a), y = cv(b);
    call([&](nn_cuda_error *e) { return t_->binary(index_, static_cast<int>(op), &o, &x, &y, e); });
  }
  void reduce(ReduceOp op, const View &out, const View &x) override {
    nn_cuda_view o = cv(out), a = cv(x);
    call([&](nn_cuda_error *e) { return t_->reduce(index_, static_cast<int>(op), &o, &a, e); });
  }
  void matmul(const View &out, const View &a, const View &b) override {
    nn_cuda_view o = cv(out), x = cv(a), y = cv(b);
    call([&](nn_cuda_error *e) { return t_->matmul(index_, &o, &x, &y, e); });
  }

  // ---- Backend: data and losses
  void gather_rows_device(const View &out, const View &src, const View &idx, int64_t n) override {
    nn_cuda_view a = cv(out), b = cv(src), c = cv(idx);
    call([&](nn_cuda_error *e) { return t_->gather_rows_device(index_, &a, &b, &c, n, e); });
  }
  void loss(LossKind kind, const View &pred, const View &target, double *value_accum, const View &grad,
            double grad_scale) override {
    nn_cuda_view p = cv(pred), t = cv(target), g = cv(grad);
    call([&](nn_cuda_error *e) {
      return t_->loss(index_, static_cast<int>(kind), &p, &t, value_accum, &g, grad_scale, e);
    });
  }
  bool all_finite(const View &x) override {
    nn_cuda_view a = cv(x);
    int ok = 1;
    call([&](nn_cuda_error *e) { return t_->all_finite(index_, &a, &ok, e); });
    return ok != 0;
  }
  bool all_finite_many(const View *xs, size_t n) override {
    std::vector<nn_cuda_view> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = cv(xs[i]);
    int ok = 1;
    call([&](nn_cuda_error *e) { return t_->all_finite_many(index_, v.data(), n, &ok, e); });
    return ok != 0;
  }

  // ---- Backend: plans, run whole by libnn_cuda.so (cuda_plan.cpp) on the
  // model's stream, with its recorded steps (cuda_abi.h plan_*).
  bool wants_fixed_batches() const override { return true; }  // recorded steps replay on fixed inputs
  std::shared_ptr<PlanState> plan_state() override {
    void *s = nullptr;
    call([&](nn_cuda_error *e) { return t_->plan_create(index_, &s, e); });
    try {
      return std::make_shared<CudaPlanState>(t_, index_, s);
    } catch (...) {
      t_->plan_destroy(index_, s);
      throw;
    }
  }
  void plan_forward(const Plan &p, const View &x, const View &y) override {
    const nn_cuda_plan &cp = c_plan(p);
    nn_cuda_view vx = cv(x), vy = cv(y);
    call([&](nn_cuda_error *e) { return t_->plan_forward(index_, &cp, &vx, &vy, e); });
  }
  void plan_forward_host(const Plan &p, int64_t rows, const void *x, void *y) override {
    const nn_cuda_plan &cp = c_plan(p);
    call([&](nn_cuda_error *e) { return t_->plan_forward_host(index_, &cp, rows, x, y, e); });
  }
  void plan_train_step(const Plan &p, const PlanWorkspace &ws, const TrainStep &s) override {
    const nn_cuda_plan &cp = c_plan(p);
    const nn_cuda_workspace w{ws.rows, ws.in, ws.acts.size() == ws.grads.size() ? ws.acts.size() : 0,
                              ws.acts.data(), ws.grads.data()};
    const nn_cuda_train_step st{cv(s.x), cv(s.target), static_cast<int32_t>(s.loss), s.overwrite_grads ? 1 : 0,
                                s.value, cv(s.accum)};
    call([&](nn_cuda_error *e) { return t_->plan_train_step(index_, &cp, &w, &st, e); });
  }
  void plan_update(const Plan &p, const UpdateStep &u) override {
    const nn_cuda_plan &cp = c_plan(p);
    ViewLists &l = view_lists(u.n);
    for (size_t i = 0; i < u.n; ++i) {
      l.a[i] = cv(u.params[i]);
      l.b[i] = cv(u.grads[i]);
      l.c[i] = u.m ? cv(u.m[i]) : cv(View());
      l.d[i] = u.adam ? cv(u.v[i]) : cv(View());
    }
    nn_cuda_update cu{};
    cu.adam = u.adam ? 1 : 0;
    cu.sgd = nn_cuda_sgd{u.sgd.lr, u.sgd.momentum, u.sgd.weight_decay, u.sgd.nesterov ? 1 : 0,
                         u.sgd.first_step ? 1 : 0};
    const AdamParams &ap = u.adam_params;
    cu.adam_params = nn_cuda_adam{ap.lr, ap.beta1, ap.beta2, ap.eps, ap.weight_decay, ap.decoupled ? 1 : 0, ap.step};
    cu.params = l.a.data();
    cu.grads = l.b.data();
    cu.m = l.c.data();
    cu.v = l.d.data();
    cu.n = u.n;
    call([&](nn_cuda_error *e) { return t_->plan_update(index_, &cp, &cu, e); });
  }

 private:
  // The plan as plain C, in per-thread storage kept between calls (no heap
  // allocation once it is large enough); valid until this thread's next call.
  static const nn_cuda_plan &c_plan(const Plan &p) {
    thread_local std::vector<nn_cuda_unit> units;
    thread_local nn_cuda_plan cp;
    if (units.size() < p.units.size()) units.resize(p.units.size());
    for (size_t i = 0; i < p.units.size(); ++i) {
      const PlanUnit &u = p.units[i];
      units[i] = nn_cuda_unit{u.linear ? 1 : 0, static_cast<int32_t>(u.act), u.in, u.out, u.w, u.b, u.dw, u.db};
    }
    auto *st = static_cast<CudaPlanState *>(p.state.get());
    cp = nn_cuda_plan{st ? st->handle() : nullptr, static_cast<int32_t>(p.dtype), p.first_param_unit,
                      p.in_features, p.generation, p.units.size(), units.data()};
    return cp;
  }

  static nn_cuda_view cv(const View &v) {
    nn_cuda_view r;
    r.data = v.data;
    r.dtype = static_cast<int32_t>(v.dtype);
    r.ndim = v.shape.ndim;
    for (int i = 0; i < NN_CUDA_MAX_DIMS; ++i) {
      r.shape[i] = i < v.shape.ndim ? v.shape.d[i] : 0;
      r.strides[i] = i < v.shape.ndim ? v.strides.d[i] : 0;
    }
    return r;
  }
  // The C views of a multi-tensor call, per thread and kept between calls:
  // no heap allocation once they are large enough (a training step's
  // parameter count does not change).
  struct ViewLists {
    std::vector<nn_cuda_view> a, b, c, d;
  };
  static ViewLists &view_lists(size_t n) {
    thread_local ViewLists l;
    if (l.a.size() < n) {
      l.a.resize(n);
      l.b.resize(n);
      l.c.resize(n);
      l.d.resize(n);
    }
    return l;
  }
  template <class F>
  void call(F &&f) {
    nn_cuda_error e;
    e.message[0] = '\0';
    int code = f(&e);
    if (code == 0) return;
    e.message[sizeof(e.message) - 1] = '\0';
    throw Error(errc_of_code(code), e.message[0] ? e.message : "cuda: unknown error");
  }

  const nn_cuda_iface *t_;
  int index_;
};

Loaded &loaded() {
  static Loaded *l = [] {
    auto *r = new Loaded;  // never freed: Storage may outlive static destructors
    std::vector<std::string> errors;
    void *h = open_module(kLibName, "NN_CUDA_BACKEND_PATH", false, errors);
    std::string tried;
    for (const std::string &e : errors) tried += (tried.empty() ? "" : "; ") + e;
    if (!h) {
#ifdef NN_HAVE_CUDA_BACKEND
      r->reason = std::string(kLibName) + " not found: " + tried;
#else
      r->reason = std::string("this build has no CUDA backend (") + kLibName + " not found: " + tried + ")";
#endif
      return r;
    }
    dlerror();
    auto fn = reinterpret_cast<nn_cuda_backend_table_fn>(dlsym(h, NN_CUDA_ENTRY_SYMBOL));
    const nn_cuda_iface *t = fn ? fn() : nullptr;
    if (!t) {
      r->reason =
          std::string(kLibName) + " gives no table (" NN_CUDA_ENTRY_SYMBOL " missing, or an entry left out)";
      return r;
    }
    // Built together or not at all: the module must come from this build.
    if (std::strncmp(t->build_id, NN_CUDA_BUILD_ID, NN_CUDA_BUILD_ID_MAX) != 0) {
      r->reason = strprintf("%s comes from another build (build id \"%.*s\", this libnn is \"%s\"): rebuild and "
                            "install both together",
                            kLibName, NN_CUDA_BUILD_ID_MAX, t->build_id, NN_CUDA_BUILD_ID);
      return r;
    }
    nn_cuda_error e;
    e.message[0] = '\0';
    int count = 0;
    int rc = t->probe(&count, &e);
    e.message[sizeof(e.message) - 1] = '\0';
    if (rc != NN_CUDA_PROBE_OK || count <= 0) {
      r->reason = e.message[0] ? e.message : "no CUDA GPU visible";
      return r;
    }
    r->table = t;
    r->count = count;
    for (int i = 0; i < count; ++i) r->backends.emplace_back(new CudaProxyBackend(t, i));
    return r;
  }();
  return *l;
}

}  // namespace

int cuda_device_count() {
  try {
    return loaded().count;
  } catch (...) {
    return 0;
  }
}

std::string cuda_unavailable_reason() { return loaded().reason; }

Backend &cuda_backend(int index) {
  Loaded &l = loaded();
  if (l.count == 0) fail(Errc::Device, "device cuda:%d requested, but CUDA is unavailable: %s", index, l.reason.c_str());
  if (index < 0 || index >= l.count)
    fail(Errc::Device, "device cuda:%d requested, but there %s %d CUDA device%s (index 0..%d)", index,
         l.count == 1 ? "is" : "are", l.count, l.count == 1 ? "" : "s", l.count - 1);
  return *l.backends[static_cast<size_t>(index)];
}

}  // namespace nn
