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
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
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

class CudaProxyBackend;

// A model's state on a CUDA device: its stream and its recorded training
// steps (CUDA Graphs). Destroyed with the model or when it leaves the device.
class CudaPlanState final : public PlanState {
 public:
  CudaPlanState(CudaProxyBackend &be, void *stream) : be_(be), stream_(stream) {}
  ~CudaPlanState() override;
  void *stream() const { return stream_; }

  // Recorded steps, keyed by everything a replay reuses: the plan's
  // generation (its pointers and workspace), the batch's row count and the
  // addresses of its inputs and loss accumulator. The first step of a key
  // runs eagerly (it warms the libraries' caches), the second is recorded
  // and then replayed, later ones are replayed. A recording that fails is
  // dropped and no recording is tried again until the plan changes
  // (NN_CUDA_DEBUG=1 prints why).
  struct Entry {
    uint64_t generation;
    int64_t rows;
    const void *x, *target, *accum;
    int loss;
    bool overwrite;
    void *recording;  // NULL: seen once, not recorded yet
  };
  std::mutex mu;  // entries: training steps of one model are serialised by the caller, but be safe
  std::vector<Entry> entries;
  uint64_t off_generation = ~uint64_t{0};  // recording failed for this generation

 private:
  CudaProxyBackend &be_;
  void *stream_;
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

  // ---- Backend: plans. Each call runs on the model's stream (bound for
  // the call: concurrent forwards of one model serialise on it, two models
  // run concurrently); the units go through libnn_cuda.so's layer kernels
  // (cuBLASLt with fused epilogues, our activation and loss kernels).
  bool wants_fixed_batches() const override { return true; }  // recorded steps replay on fixed inputs
  std::shared_ptr<PlanState> plan_state() override {
    void *s = nullptr;
    call([&](nn_cuda_error *e) { return t_->stream_create(index_, &s, e); });
    try {
      return std::make_shared<CudaPlanState>(*this, s);
    } catch (...) {
      t_->stream_destroy(index_, s);
      throw;
    }
  }

  void plan_forward(const Plan &p, const View &x, const View &y) override {
    Bound on(*this, p);
    const int64_t rows = x.shape[0], in = x.shape[1];
    const size_t U = p.units.size();
    if (U == 0) return copy(y, x);
    Buffer tmp[2] = {Buffer(*this), Buffer(*this)};
    const size_t es = dtype_size(p.dtype);
    View cur = x;
    int64_t feat = in;
    for (size_t k = 0; k < U; ++k) {
      const PlanUnit &u = p.units[k];
      const int64_t of = u.linear ? u.out : feat;
      const View out = k + 1 == U ? y : matrix_view(tmp[k % 2].get(static_cast<size_t>(rows * of) * es), p.dtype, rows, of);
      if (rows > 0 && of > 0) unit_forward(p, u, out, cur, rows, feat, of);
      cur = out;
      feat = of;
    }
  }

  void plan_forward_host(const Plan &p, int64_t rows, const void *x, void *y) override {
    Bound on(*this, p);
    const size_t es = dtype_size(p.dtype);
    const int64_t in = p.in_features, out = p.unit_out(p.units.size() - 1, in);
    Buffer dx(*this), dy(*this);
    const View vx = matrix_view(dx.get(static_cast<size_t>(rows * in) * es), p.dtype, rows, in);
    const View vy = matrix_view(dy.get(static_cast<size_t>(rows * out) * es), p.dtype, rows, out);
    copy_from_host(vx.data, x, static_cast<size_t>(rows * in) * es);
    plan_forward(p, vx, vy);
    copy_to_host(y, vy.data, static_cast<size_t>(rows * out) * es);
  }

  void plan_train_step(const Plan &p, const PlanWorkspace &ws, const TrainStep &s) override {
    Bound on(*this, p);
    auto *st = static_cast<CudaPlanState *>(p.state.get());
    // Only accumulating steps can be recorded (a loss read back to the host
    // is a synchronisation); nn_model_fit's steps are.
    if (!st || s.value || !can_record()) return train_eager(p, ws, s);
    std::lock_guard<std::mutex> lock(st->mu);
    if (st->off_generation == p.generation) return train_eager(p, ws, s);
    CudaPlanState::Entry key{p.generation, s.x.shape[0], s.x.data, s.target.data, s.accum.data,
                             static_cast<int>(s.loss), s.overwrite_grads, nullptr};
    CudaPlanState::Entry *e = nullptr;
    for (auto it = st->entries.begin(); it != st->entries.end();) {
      if (it->generation != p.generation) {  // stale: its pointers may have moved
        release(it->recording);
        it = st->entries.erase(it);
        continue;
      }
      if (it->rows == key.rows && it->x == key.x && it->target == key.target && it->accum == key.accum &&
          it->loss == key.loss && it->overwrite == key.overwrite)
        e = &*it;
      ++it;
    }
    if (!e) {
      // Full batches and the last partial one of a fit; the oldest goes first.
      if (st->entries.size() >= kMaxRecordings) {
        release(st->entries.front().recording);
        st->entries.erase(st->entries.begin());
      }
      st->entries.push_back(key);
      return train_eager(p, ws, s);  // the first of its kind
    }
    if (!e->recording) {
      void *r = record(p, ws, s);
      if (!r) {  // recording failed (and is off for this plan now)
        for (auto &x : st->entries) release(x.recording);
        st->entries.clear();
        st->off_generation = p.generation;
        return train_eager(p, ws, s);
      }
      e->recording = r;
    }
    replay(e->recording);
  }

  // One launch per chunk of parameters (cuda_abi.h); NN_CUDA_NO_MULTI_TENSOR=1
  // (read on every call) falls back to one update launch per parameter, the
  // same bits, for comparisons.
  void plan_update(const Plan &p, const UpdateStep &u) override {
    Bound on(*this, p);
    const bool one_by_one = no_multi_tensor();
    if (!u.adam) {
      nn_cuda_sgd s{u.sgd.lr, u.sgd.momentum, u.sgd.weight_decay, u.sgd.nesterov ? 1 : 0, u.sgd.first_step ? 1 : 0};
      ViewLists &l = view_lists(u.n);
      for (size_t i = 0; i < u.n; ++i) {
        l.a[i] = cv(u.params[i]);
        l.b[i] = cv(u.grads[i]);
        l.c[i] = u.m ? cv(u.m[i]) : cv(View());
      }
      if (one_by_one) {
        for (size_t i = 0; i < u.n; ++i)
          if (u.params[i].numel() > 0)
            call([&](nn_cuda_error *e) { return t_->sgd_update(index_, &s, &l.a[i], &l.b[i], &l.c[i], e); });
        return;
      }
      call([&](nn_cuda_error *e) {
        return t_->sgd_update_many(index_, &s, l.a.data(), l.b.data(), l.c.data(), u.n, e);
      });
      return;
    }
    const AdamParams &ap = u.adam_params;
    nn_cuda_adam s{ap.lr, ap.beta1, ap.beta2, ap.eps, ap.weight_decay, ap.decoupled ? 1 : 0, ap.step};
    ViewLists &l = view_lists(u.n);
    for (size_t i = 0; i < u.n; ++i) {
      l.a[i] = cv(u.params[i]);
      l.b[i] = cv(u.grads[i]);
      l.c[i] = cv(u.m[i]);
      l.d[i] = cv(u.v[i]);
    }
    if (one_by_one) {
      for (size_t i = 0; i < u.n; ++i)
        if (u.params[i].numel() > 0)
          call([&](nn_cuda_error *e) { return t_->adam_update(index_, &s, &l.a[i], &l.b[i], &l.c[i], &l.d[i], e); });
      return;
    }
    call([&](nn_cuda_error *e) {
      return t_->adam_update_many(index_, &s, l.a.data(), l.b.data(), l.c.data(), l.d.data(), u.n, e);
    });
  }

  // For CudaPlanState's destructor.
  void release(void *recording) noexcept { t_->release(index_, recording); }
  void stream_destroy(void *stream) noexcept { t_->stream_destroy(index_, stream); }

 private:
  static constexpr size_t kMaxRecordings = 4;

  // Binds the plan's stream (if any) to this thread for the scope
  // (libnn_cuda.so's stream_bind / stream_unbind: ordered after all earlier
  // work on the device and before all later work, no host synchronisation;
  // bindings nest, and several threads may bind one stream at once).
  class Bound {
   public:
    Bound(CudaProxyBackend &be, const Plan &p) : be_(be) {
      auto *st = static_cast<CudaPlanState *>(p.state.get());
      if (!st) return;
      be.call([&](nn_cuda_error *e) { return be.t_->stream_bind(be.index_, st->stream(), e); });
      stream_ = st->stream();
    }
    ~Bound() {
      if (stream_) be_.t_->stream_unbind(be_.index_, stream_);
    }
    Bound(const Bound &) = delete;
    Bound &operator=(const Bound &) = delete;

   private:
    CudaProxyBackend &be_;
    void *stream_ = nullptr;
  };

  // A device buffer freed (stream-ordered) at the end of its scope; get()
  // grows it when asked for more.
  class Buffer {
   public:
    explicit Buffer(CudaProxyBackend &be) : be_(be) {}
    ~Buffer() {
      if (p_) be_.deallocate(p_);
    }
    Buffer(const Buffer &) = delete;
    Buffer &operator=(const Buffer &) = delete;
    Buffer(Buffer &&o) noexcept : be_(o.be_), p_(o.p_), cap_(o.cap_) { o.p_ = nullptr; }
    void *get(size_t bytes) {
      if (!p_ || bytes > cap_) {
        if (p_) be_.deallocate(p_);
        p_ = nullptr;
        p_ = be_.allocate(bytes);
        cap_ = bytes;
      }
      return p_;
    }

   private:
    CudaProxyBackend &be_;
    void *p_ = nullptr;
    size_t cap_ = 0;
  };

  void unit_forward(const Plan &p, const PlanUnit &u, const View &out, const View &in, int64_t rows, int64_t feat,
                    int64_t of) {
    if (u.linear) {
      View b;
      if (u.b) {
        b = matrix_view(const_cast<void *>(u.b), p.dtype, 1, of);
        b.shape = Shape{of};
        b.strides = Shape{1};
      }
      nn_cuda_view vy = cv(out), vx = cv(in), vw = cv(matrix_view(const_cast<void *>(u.w), p.dtype, of, feat)),
                   vb = cv(b);
      call([&](nn_cuda_error *e) {
        return t_->linear_forward(index_, static_cast<int>(u.act), &vy, &vx, &vw, &vb, e);
      });
    } else {
      nn_cuda_view vy = cv(out), vx = cv(in);
      call([&](nn_cuda_error *e) { return t_->activation_forward(index_, static_cast<int>(u.act), &vy, &vx, e); });
    }
    (void)rows;
  }
  void gemm(bool ta, bool tb, double alpha, const View &a, const View &b, double beta, const View &out) {
    nn_cuda_view x = cv(a), y = cv(b), o = cv(out);
    call([&](nn_cuda_error *e) { return t_->gemm(index_, ta, tb, alpha, &x, &y, beta, &o, e); });
  }
  void activation_backward(Act act, const View &dx, const View &dy, const View &y) {
    nn_cuda_view a = cv(dx), b = cv(dy), c = cv(View()), d = cv(y);
    call([&](nn_cuda_error *e) {
      return t_->activation_backward(index_, static_cast<int>(act), &a, &b, &c, &d, e);
    });
  }
  void sum_rows(const View &db, const View &g, double beta) {
    nn_cuda_view a = cv(db), b = cv(g);
    call([&](nn_cuda_error *e) { return t_->sum_rows(index_, &a, &b, beta, e); });
  }

  // Forward through the workspace, loss, backward in matrix form
  // (dX = G W, dW = G^T X, db = column sums of G).
  void train_eager(const Plan &p, const PlanWorkspace &ws, const TrainStep &s) {
    const int64_t rows = s.x.shape[0], in = s.x.shape[1];
    const size_t U = p.units.size();
    if (rows < 1 || rows > ws.rows || in != ws.in || ws.acts.size() != U || ws.grads.size() != U)
      fail(Errc::Internal, "cuda plan_train_step: the workspace (%lld rows of width %lld) does not fit x %s",
           static_cast<long long>(ws.rows), static_cast<long long>(ws.in), s.x.shape.str().c_str());
    const DType dt = p.dtype;
    View cur = s.x;
    int64_t feat = in;
    for (size_t k = 0; k < U; ++k) {
      const PlanUnit &u = p.units[k];
      const int64_t of = u.linear ? u.out : feat;
      const View out = matrix_view(ws.acts[k], dt, rows, of);
      if (of > 0) unit_forward(p, u, out, cur, rows, feat, of);
      cur = out;
      feat = of;
    }
    const bool trains = p.first_param_unit >= 0;
    View grad;
    if (trains) grad = matrix_view(ws.grads[U - 1], dt, rows, feat);
    if (s.value) {
      double v = 0;
      loss(s.loss, cur, s.target, &v, grad, 1.0);
      *s.value = v;
    } else {
      nn_cuda_view vp = cv(cur), vt = cv(s.target), va = cv(s.accum), vg = cv(grad);
      call([&](nn_cuda_error *e) {
        return t_->loss_device(index_, static_cast<int>(s.loss), &vp, &vt, &va, &vg, 1.0, e);
      });
    }
    if (!trains) return;
    const double beta = s.overwrite_grads ? 0.0 : 1.0;
    const int fpu = p.first_param_unit;
    for (int k = static_cast<int>(U) - 1; k >= fpu; --k) {
      const PlanUnit &u = p.units[static_cast<size_t>(k)];
      const int64_t of = p.unit_out(static_cast<size_t>(k), in);
      const View g = matrix_view(ws.grads[static_cast<size_t>(k)], dt, rows, of);
      const View y = matrix_view(ws.acts[static_cast<size_t>(k)], dt, rows, of);
      if (u.linear) {
        const View x = k == 0 ? s.x : matrix_view(ws.acts[static_cast<size_t>(k) - 1], dt, rows, u.in);
        if (u.act != Act::Identity) activation_backward(u.act, g, g, y);
        gemm(true, false, 1.0, g, x, beta, matrix_view(u.dw, dt, of, u.in));
        if (u.db) {
          View db = matrix_view(u.db, dt, 1, of);
          db.shape = Shape{of};
          db.strides = Shape{1};
          sum_rows(db, g, beta);
        }
        if (k > fpu)
          gemm(false, false, 1.0, g, matrix_view(const_cast<void *>(u.w), dt, of, u.in), 0.0,
               matrix_view(ws.grads[static_cast<size_t>(k) - 1], dt, rows, u.in));
      } else {
        activation_backward(u.act, matrix_view(ws.grads[static_cast<size_t>(k) - 1], dt, rows, of), g, y);
      }
    }
  }

  // The step recorded (not run), or NULL when recording failed.
  void *record(const Plan &p, const PlanWorkspace &ws, const TrainStep &s) {
    std::string why;
    try {
      call([&](nn_cuda_error *e) { return t_->record_begin(index_, e); });
      train_eager(p, ws, s);
      void *g = nullptr;
      call([&](nn_cuda_error *e) { return t_->record_end(index_, &g, e); });
      return g;
    } catch (const std::exception &e) {
      why = e.what();
    } catch (...) {
      why = "unknown error";
    }
    t_->record_abort(index_, why.c_str());  // nothing to abort after record_end: harmless
    return nullptr;
  }
  void replay(void *recording) {
    call([&](nn_cuda_error *e) { return t_->replay(index_, recording, e); });
  }
  static bool can_record() {
    const char *g = std::getenv("NN_CUDA_GRAPHS");  // read per call: a test may switch it between fits
    return !(g && g[0] == '0' && g[1] == '\0');
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
    throw Error(errc_of_code(code), e.message[0] ? e.message : "cuda: unknown error");
  }

  const nn_cuda_iface *t_;
  int index_;
};

CudaPlanState::~CudaPlanState() {
  for (auto &e : entries) be_.release(e.recording);
  be_.stream_destroy(stream_);
}

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
      r->reason = std::string(kLibName) + " has no " NN_CUDA_ENTRY_SYMBOL " entry point";
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
