// CudaProxyBackend: a Backend that forwards every call through the C table
// exported by libnn_cuda.so (cuda_abi.h) and turns a failure code and its
// message into nn::Error. Exceptions never cross the library boundary.
//
// libnn_cuda.so is looked up, in order: $NN_CUDA_BACKEND_PATH (a file, or a
// folder holding libnn_cuda.so), next to libnn.so (dladdr), then the dynamic
// linker's default search path.
#include "backend/cuda_proxy.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <memory>
#include <mutex>
#include <vector>

#include "backend/cuda_abi.h"
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

std::string dir_of_this_library() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void *>(&cuda_device_count), &info) == 0 || info.dli_fname == nullptr) return "";
  std::string path = info.dli_fname;
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash + 1);
}

// dlopen()s libnn_cuda.so; returns the handle or NULL with `tried` listing
// each attempt and its dlerror().
void *open_backend(std::string &tried) {
  std::vector<std::string> candidates;
  if (const char *env = std::getenv("NN_CUDA_BACKEND_PATH")) {
    std::string e = env;
    if (!e.empty()) {
      if (e.back() == '/') e += kLibName;
      candidates.push_back(e);
    }
  }
  std::string dir = dir_of_this_library();
  if (!dir.empty()) candidates.push_back(dir + kLibName);
  candidates.push_back(kLibName);  // default search path
  for (const std::string &c : candidates) {
    dlerror();
    void *h = dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (h) return h;
    const char *e = dlerror();
    if (!tried.empty()) tried += "; ";
    tried += e ? e : c + ": unknown dlopen error";
  }
  return nullptr;
}

class CudaProxyBackend final : public Backend {
 public:
  CudaProxyBackend(const nn_cuda_iface *t, int index) : t_(t), index_(index) {}
  Device device() const override { return Device{DeviceType::CUDA, index_}; }

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
  void gemm(bool ta, bool tb, double alpha, const View &a, const View &b, double beta, const View &out) override {
    nn_cuda_view x = cv(a), y = cv(b), o = cv(out);
    call([&](nn_cuda_error *e) { return t_->gemm(index_, ta, tb, alpha, &x, &y, beta, &o, e); });
  }
  void linear_forward(Act act, const View &y, const View &x, const View &w, const View &bias) override {
    nn_cuda_view vy = cv(y), vx = cv(x), vw = cv(w), vb = cv(bias);
    call([&](nn_cuda_error *e) { return t_->linear_forward(index_, static_cast<int>(act), &vy, &vx, &vw, &vb, e); });
  }
  void activation_forward(Act act, const View &y, const View &x) override {
    nn_cuda_view vy = cv(y), vx = cv(x);
    call([&](nn_cuda_error *e) { return t_->activation_forward(index_, static_cast<int>(act), &vy, &vx, e); });
  }
  void activation_backward(Act act, const View &dx, const View &dy, const View &x, const View &y) override {
    nn_cuda_view a = cv(dx), b = cv(dy), c = cv(x), d = cv(y);
    call([&](nn_cuda_error *e) {
      return t_->activation_backward(index_, static_cast<int>(act), &a, &b, &c, &d, e);
    });
  }
  void sum_rows(const View &db, const View &g, double beta) override {
    nn_cuda_view a = cv(db), b = cv(g);
    call([&](nn_cuda_error *e) { return t_->sum_rows(index_, &a, &b, beta, e); });
  }
  void gather_rows(const View &out, const View &src, const int64_t *idx, int64_t n) override {
    nn_cuda_view a = cv(out), b = cv(src);
    call([&](nn_cuda_error *e) { return t_->gather_rows(index_, &a, &b, idx, n, e); });
  }
  void gather_rows_device(const View &out, const View &src, const View &idx, int64_t n) override {
    nn_cuda_view a = cv(out), b = cv(src), c = cv(idx);
    call([&](nn_cuda_error *e) { return t_->gather_rows_device(index_, &a, &b, &c, n, e); });
  }
  void loss_device(LossKind kind, const View &pred, const View &target, const View &accum, const View &grad,
                   double grad_scale) override {
    nn_cuda_view p = cv(pred), t = cv(target), a = cv(accum), g = cv(grad);
    call([&](nn_cuda_error *e) {
      return t_->loss_device(index_, static_cast<int>(kind), &p, &t, &a, &g, grad_scale, e);
    });
  }
  bool all_finite_many(const View *xs, size_t n) override {
    std::vector<nn_cuda_view> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = cv(xs[i]);
    int ok = 1;
    call([&](nn_cuda_error *e) { return t_->all_finite_many(index_, v.data(), n, &ok, e); });
    return ok != 0;
  }
  void loss(LossKind kind, const View &pred, const View &target, double *value_accum, const View &grad,
            double grad_scale) override {
    nn_cuda_view p = cv(pred), t = cv(target), g = cv(grad);
    call([&](nn_cuda_error *e) {
      return t_->loss(index_, static_cast<int>(kind), &p, &t, value_accum, &g, grad_scale, e);
    });
  }
  void sgd_update(const SgdParams &p, const View &param, const View &grad, const View &m) override {
    nn_cuda_sgd s{p.lr, p.momentum, p.weight_decay, p.nesterov ? 1 : 0, p.first_step ? 1 : 0};
    nn_cuda_view a = cv(param), b = cv(grad), c = cv(m);
    call([&](nn_cuda_error *e) { return t_->sgd_update(index_, &s, &a, &b, &c, e); });
  }
  void adam_update(const AdamParams &p, const View &param, const View &grad, const View &m,
                   const View &v) override {
    nn_cuda_adam s{p.lr, p.beta1, p.beta2, p.eps, p.weight_decay, p.decoupled ? 1 : 0, p.step};
    nn_cuda_view a = cv(param), b = cv(grad), c = cv(m), d = cv(v);
    call([&](nn_cuda_error *e) { return t_->adam_update(index_, &s, &a, &b, &c, &d, e); });
  }
  // One launch per chunk of parameters (cuda_abi.h); NN_CUDA_NO_MULTI_TENSOR=1
  // (read on every call) falls back to one sgd_update / adam_update per
  // parameter, the same bits, for comparisons.
  void sgd_update_many(const SgdParams &p, const View *params, const View *grads, const View *m,
                       size_t n) override {
    if (no_multi_tensor()) return Backend::sgd_update_many(p, params, grads, m, n);
    nn_cuda_sgd s{p.lr, p.momentum, p.weight_decay, p.nesterov ? 1 : 0, p.first_step ? 1 : 0};
    ViewLists &l = view_lists(n);
    for (size_t i = 0; i < n; ++i) {
      l.a[i] = cv(params[i]);
      l.b[i] = cv(grads[i]);
      l.c[i] = m ? cv(m[i]) : cv(View());
    }
    call([&](nn_cuda_error *e) { return t_->sgd_update_many(index_, &s, l.a.data(), l.b.data(), l.c.data(), n, e); });
  }
  void adam_update_many(const AdamParams &p, const View *params, const View *grads, const View *m, const View *v,
                        size_t n) override {
    if (no_multi_tensor()) return Backend::adam_update_many(p, params, grads, m, v, n);
    nn_cuda_adam s{p.lr, p.beta1, p.beta2, p.eps, p.weight_decay, p.decoupled ? 1 : 0, p.step};
    ViewLists &l = view_lists(n);
    for (size_t i = 0; i < n; ++i) {
      l.a[i] = cv(params[i]);
      l.b[i] = cv(grads[i]);
      l.c[i] = cv(m[i]);
      l.d[i] = cv(v[i]);
    }
    call([&](nn_cuda_error *e) {
      return t_->adam_update_many(index_, &s, l.a.data(), l.b.data(), l.c.data(), l.d.data(), n, e);
    });
  }
  bool can_record() const override {
    const char *g = std::getenv("NN_CUDA_GRAPHS");  // read per call: a test may switch it between fits
    return !(g && g[0] == '0' && g[1] == '\0');
  }
  void record_begin() override {
    call([&](nn_cuda_error *e) { return t_->record_begin(index_, e); });
  }
  void *record_end() override {
    void *g = nullptr;
    call([&](nn_cuda_error *e) { return t_->record_end(index_, &g, e); });
    return g;
  }
  void record_abort(const char *why) noexcept override { t_->record_abort(index_, why); }
  void replay(void *recording) override {
    call([&](nn_cuda_error *e) { return t_->replay(index_, recording, e); });
  }
  void release(void *recording) noexcept override { t_->release(index_, recording); }
  void *stream_create() override {
    void *s = nullptr;
    call([&](nn_cuda_error *e) { return t_->stream_create(index_, &s, e); });
    return s;
  }
  void stream_destroy(void *stream) noexcept override { t_->stream_destroy(index_, stream); }
  void stream_bind(void *stream) override {
    call([&](nn_cuda_error *e) { return t_->stream_bind(index_, stream, e); });
  }
  void stream_unbind(void *stream) noexcept override { t_->stream_unbind(index_, stream); }
  bool all_finite(const View &x) override {
    nn_cuda_view a = cv(x);
    int ok = 1;
    call([&](nn_cuda_error *e) { return t_->all_finite(index_, &a, &ok, e); });
    return ok != 0;
  }

 private:
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
  static bool no_multi_tensor() {
    const char *e = std::getenv("NN_CUDA_NO_MULTI_TENSOR");  // read per call: a test switches it between fits
    return e && e[0] == '1' && e[1] == '\0';
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
    Errc c = static_cast<Errc>(code);
    switch (c) {
      case Errc::InvalidArgument: case Errc::Shape: case Errc::DType: case Errc::Device:
      case Errc::OutOfMemory: case Errc::IO: case Errc::Format: case Errc::Unsupported:
      case Errc::NotFinite: case Errc::Cancelled: case Errc::Internal:
        break;
      default:
        c = Errc::Internal;
    }
    throw Error(c, e.message[0] ? e.message : "cuda: unknown error");
  }

  const nn_cuda_iface *t_;
  int index_;
};

Loaded &loaded() {
  static Loaded *l = [] {
    auto *r = new Loaded;  // never freed: Storage may outlive static destructors
    std::string tried;
    void *h = open_backend(tried);
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
      r->reason = std::string(kLibName) + " has no " NN_CUDA_ENTRY_SYMBOL " entry point";
      return r;
    }
    // Newer files append entries (the table only grows): any version from
    // ours on, with a table at least as large as ours, serves us.
    if (t->abi_version < NN_CUDA_ABI_VERSION || t->table_size < sizeof(nn_cuda_iface)) {
      r->reason = strprintf("%s speaks CUDA backend ABI %u, this libnn needs %d or newer (rebuild both together)",
                            kLibName, t->abi_version, NN_CUDA_ABI_VERSION);
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
