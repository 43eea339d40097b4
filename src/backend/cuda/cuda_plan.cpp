// libnn_cuda.so runs plans whole (cuda_abi.h plan_*; nn::Backend::plan_*
// in backend.hpp): the walk over a plan's units forward, a training step
// (forward, loss, backward) and an optimizer update, each on the model's
// stream, with a model's recorded training steps (CUDA Graphs) as its plan
// state. The layer kernels are in cuda_layers.cpp, graphs and streams in
// cuda_graphs.cpp.
#include <cstdlib>
#include <exception>
#include <mutex>
#include <string>
#include <vector>

#include "backend/cuda/cuda_state.hpp"

namespace nn {
namespace cuda {
namespace {

// A model's state on a device: its stream and its recorded training steps.
// Recorded steps are keyed by everything a replay reuses: the plan's
// generation (its pointers and workspace), the batch's row count and the
// addresses of its inputs and loss accumulator. The first step of a key runs
// eagerly (it warms the libraries' caches), the second is recorded and then
// replayed, later ones are replayed. A recording that fails is dropped and
// no recording is tried again until the plan changes (NN_CUDA_DEBUG=1
// prints why).
struct PlanState {
  explicit PlanState(void *s) : stream(s) {}
  void *stream;  // stream_create
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
};

// Full batches and the last partial one of a fit; the oldest goes first.
constexpr size_t kMaxRecordings = 4;

bool can_record() {
  const char *g = std::getenv("NN_CUDA_GRAPHS");  // read per call: a test may switch it between fits
  return !(g && g[0] == '0' && g[1] == '\0');
}
bool no_multi_tensor() {
  const char *e = std::getenv("NN_CUDA_NO_MULTI_TENSOR");  // read per call: a test switches it between fits
  return e && e[0] == '1' && e[1] == '\0';
}

// Contiguous row-major views.
V mat(const void *data, int dt, int64_t rows, int64_t cols) {
  V v{};
  v.data = const_cast<void *>(data);
  v.dtype = dt;
  v.ndim = 2;
  v.shape[0] = rows;
  v.shape[1] = cols;
  v.strides[0] = cols;
  v.strides[1] = 1;
  return v;
}
V vec(const void *data, int dt, int64_t n) {
  V v{};
  v.data = const_cast<void *>(data);
  v.dtype = dt;
  v.ndim = 1;
  v.shape[0] = n;
  v.strides[0] = 1;
  return v;
}

// Width of unit u's output for an input of `in` features (nn::Plan::unit_out).
int64_t unit_out(const nn_cuda_plan &p, size_t u, int64_t in) {
  int64_t f = in;
  for (size_t k = 0; k <= u && k < p.nunits; ++k)
    if (p.units[k].linear) f = p.units[k].out;
  return f;
}

// Binds the plan's stream (if any) to this thread for the scope
// (stream_bind / stream_unbind: ordered after all earlier work on the
// device and before all later work, no host synchronisation; bindings
// nest, and several threads may bind one stream at once).
class Bound {
 public:
  Bound(int device, const nn_cuda_plan &p) : device_(device) {
    auto *st = static_cast<PlanState *>(p.state);
    if (!st) return;
    stream_bind(device, st->stream);
    stream_ = st->stream;
  }
  ~Bound() {
    if (stream_) stream_unbind(device_, stream_);
  }
  Bound(const Bound &) = delete;
  Bound &operator=(const Bound &) = delete;

 private:
  int device_;
  void *stream_ = nullptr;
};

// A device buffer freed (stream-ordered) at the end of its scope; get()
// grows it when asked for more.
class Buffer {
 public:
  explicit Buffer(int device) : device_(device) {}
  ~Buffer() {
    if (p_) deallocate(device_, p_);
  }
  Buffer(const Buffer &) = delete;
  Buffer &operator=(const Buffer &) = delete;
  void *get(size_t bytes) {
    if (!p_ || bytes > cap_) {
      if (p_) deallocate(device_, p_);
      p_ = nullptr;
      p_ = allocate(device_, bytes);
      cap_ = bytes;
    }
    return p_;
  }

 private:
  int device_;
  void *p_ = nullptr;
  size_t cap_ = 0;
};

// out [rows, of] = unit u applied to in [rows, feat].
void unit_forward(int device, const nn_cuda_plan &p, const nn_cuda_unit &u, const V &out, const V &in, int64_t feat,
                  int64_t of) {
  if (u.linear) {
    const V b = u.b ? vec(u.b, p.dtype, of) : V{};
    const V w = mat(u.w, p.dtype, of, feat);
    linear_forward(device, u.act, &out, &in, &w, &b);
  } else {
    activation_forward(device, u.act, &out, &in);
  }
}

// y = the plan applied to x, on this thread's current stream.
void forward(int device, const nn_cuda_plan &p, const V &x, const V &y) {
  const int64_t rows = x.shape[0], in = x.shape[1];
  const size_t U = p.nunits;
  if (U == 0) return copy(device, &y, &x);
  Buffer t0(device), t1(device);
  Buffer *tmp[2] = {&t0, &t1};
  const size_t es = elem_size(p.dtype);
  V cur = x;
  int64_t feat = in;
  for (size_t k = 0; k < U; ++k) {
    const nn_cuda_unit &u = p.units[k];
    const int64_t of = u.linear ? u.out : feat;
    const V out = k + 1 == U ? y : mat(tmp[k % 2]->get(static_cast<size_t>(rows * of) * es), p.dtype, rows, of);
    if (rows > 0 && of > 0) unit_forward(device, p, u, out, cur, feat, of);
    cur = out;
    feat = of;
  }
}

// Forward through the workspace, loss, backward in matrix form
// (dX = G W, dW = G^T X, db = column sums of G).
void train_eager(int device, const nn_cuda_plan &p, const nn_cuda_workspace &ws, const nn_cuda_train_step &s) {
  const int64_t rows = s.x.shape[0], in = s.x.shape[1];
  const size_t U = p.nunits;
  if (rows < 1 || rows > ws.rows || in != ws.in || ws.nunits != U)
    fail(Errc::Internal, "cuda plan_train_step: the workspace (%lld rows of width %lld) does not fit x [%lld, %lld]",
         static_cast<long long>(ws.rows), static_cast<long long>(ws.in), static_cast<long long>(rows),
         static_cast<long long>(in));
  const int dt = p.dtype;
  V cur = s.x;
  int64_t feat = in;
  for (size_t k = 0; k < U; ++k) {
    const nn_cuda_unit &u = p.units[k];
    const int64_t of = u.linear ? u.out : feat;
    const V out = mat(ws.acts[k], dt, rows, of);
    if (of > 0) unit_forward(device, p, u, out, cur, feat, of);
    cur = out;
    feat = of;
  }
  const bool trains = p.first_param_unit >= 0;
  const V grad = trains ? mat(ws.grads[U - 1], dt, rows, feat) : V{};
  if (s.value) {
    double v = 0;
    loss_value(device, s.loss, &cur, &s.target, &v, &grad, 1.0);
    *s.value = v;
  } else {
    loss_device(device, s.loss, &cur, &s.target, &s.accum, &grad);
  }
  if (!trains) return;
  const double beta = s.overwrite_grads ? 0.0 : 1.0;
  const int fpu = p.first_param_unit;
  int64_t of = feat;  // unit k's output width, going down
  for (int k = static_cast<int>(U) - 1; k >= fpu; --k) {
    const size_t ku = static_cast<size_t>(k);
    const nn_cuda_unit &u = p.units[ku];
    const V g = mat(ws.grads[ku], dt, rows, of);
    const V y = mat(ws.acts[ku], dt, rows, of);
    if (u.linear) {
      const V x = k == 0 ? s.x : mat(ws.acts[ku - 1], dt, rows, u.in);
      if (u.act != static_cast<int>(Act::Identity)) activation_backward(device, u.act, &g, &g, &y);
      const V dw = mat(u.dw, dt, of, u.in);
      gemm(device, 1, 0, &g, &x, beta, &dw);
      if (u.db) {
        const V db = vec(u.db, dt, of);
        sum_rows(device, &db, &g, beta);
      }
      if (k > fpu) {
        const V w = mat(u.w, dt, of, u.in), dx = mat(ws.grads[ku - 1], dt, rows, u.in);
        gemm(device, 0, 0, &g, &w, 0.0, &dx);
      }
    } else {
      const V dx = mat(ws.grads[ku - 1], dt, rows, of);
      activation_backward(device, u.act, &dx, &g, &y);
    }
    if (u.linear) of = u.in;
  }
}

// The step recorded (not run), or NULL when recording failed.
void *record(int device, const nn_cuda_plan &p, const nn_cuda_workspace &ws, const nn_cuda_train_step &s) {
  std::string why;
  try {
    record_begin(device);
    train_eager(device, p, ws, s);
    return record_end(device);
  } catch (const std::exception &e) {
    why = e.what();
  } catch (...) {
    why = "unknown error";
  }
  record_abort(device, why.c_str());  // nothing to abort after record_end: harmless
  return nullptr;
}

void train_step(int device, const nn_cuda_plan &p, const nn_cuda_workspace &ws, const nn_cuda_train_step &s) {
  Bound on(device, p);
  auto *st = static_cast<PlanState *>(p.state);
  // Only accumulating steps can be recorded (a loss read back to the host
  // is a synchronisation); nn_model_fit's steps are.
  if (!st || s.value || !can_record()) return train_eager(device, p, ws, s);
  std::lock_guard<std::mutex> lock(st->mu);
  if (st->off_generation == p.generation) return train_eager(device, p, ws, s);
  const PlanState::Entry key{p.generation, s.x.shape[0], s.x.data, s.target.data, s.accum.data, s.loss,
                             s.overwrite_grads != 0, nullptr};
  PlanState::Entry *e = nullptr;
  for (auto it = st->entries.begin(); it != st->entries.end();) {
    if (it->generation != p.generation) {  // stale: its pointers may have moved
      release(device, it->recording);
      it = st->entries.erase(it);
      continue;
    }
    if (it->rows == key.rows && it->x == key.x && it->target == key.target && it->accum == key.accum &&
        it->loss == key.loss && it->overwrite == key.overwrite)
      e = &*it;
    ++it;
  }
  if (!e) {
    if (st->entries.size() >= kMaxRecordings) {
      release(device, st->entries.front().recording);
      st->entries.erase(st->entries.begin());
    }
    st->entries.push_back(key);
    return train_eager(device, p, ws, s);  // the first of its kind
  }
  if (!e->recording) {
    void *r = record(device, p, ws, s);
    if (!r) {  // recording failed (and is off for this plan now)
      for (auto &x : st->entries) release(device, x.recording);
      st->entries.clear();
      st->off_generation = p.generation;
      return train_eager(device, p, ws, s);
    }
    e->recording = r;
  }
  replay(device, e->recording);
}

// One launch per chunk of parameters; NN_CUDA_NO_MULTI_TENSOR=1 falls back
// to one update launch per parameter, the same bits, for comparisons.
void update(int device, const nn_cuda_plan &p, const nn_cuda_update &u) {
  Bound on(device, p);
  const bool one_by_one = no_multi_tensor();
  const V none{};
  if (!u.adam) {
    if (one_by_one) {
      for (size_t i = 0; i < u.n; ++i)
        if (numel(u.params[i]) > 0) sgd_update(device, &u.sgd, &u.params[i], &u.grads[i], u.m ? &u.m[i] : &none);
      return;
    }
    return sgd_update_many(device, &u.sgd, u.params, u.grads, u.m, u.n);
  }
  if (one_by_one) {
    for (size_t i = 0; i < u.n; ++i)
      if (numel(u.params[i]) > 0)
        adam_update(device, &u.adam_params, &u.params[i], &u.grads[i], &u.m[i], &u.v[i]);
    return;
  }
  adam_update_many(device, &u.adam_params, u.params, u.grads, u.m, u.v, u.n);
}

}  // namespace

void add_plan_entries(nn_cuda_iface &t) {
  t.plan_create = [](int device, void **state, nn_cuda_error *err) {
    return guard(err, [&] {
      *state = nullptr;
      void *s = stream_create(device);
      try {
        *state = new PlanState(s);
      } catch (...) {
        stream_destroy(device, s);
        throw;
      }
    });
  };
  t.plan_destroy = [](int device, void *state) {
    auto *st = static_cast<PlanState *>(state);
    if (!st) return;
    for (auto &e : st->entries) release(device, e.recording);
    stream_destroy(device, st->stream);
    delete st;
  };
  t.plan_forward = [](int device, const nn_cuda_plan *p, const V *x, const V *y, nn_cuda_error *err) {
    return guard(err, [&] {
      Bound on(device, *p);
      forward(device, *p, *x, *y);
    });
  };
  t.plan_forward_host = [](int device, const nn_cuda_plan *p, int64_t rows, const void *x, void *y,
                           nn_cuda_error *err) {
    return guard(err, [&] {
      Bound on(device, *p);
      const size_t es = elem_size(p->dtype);
      const int64_t in = p->in_features, out = unit_out(*p, p->nunits - 1, in);
      Buffer dx(device), dy(device);
      const V vx = mat(dx.get(static_cast<size_t>(rows * in) * es), p->dtype, rows, in);
      const V vy = mat(dy.get(static_cast<size_t>(rows * out) * es), p->dtype, rows, out);
      copy_from_host(device, vx.data, x, static_cast<size_t>(rows * in) * es);
      forward(device, *p, vx, vy);
      copy_to_host(device, y, vy.data, static_cast<size_t>(rows * out) * es);
    });
  };
  t.plan_train_step = [](int device, const nn_cuda_plan *p, const nn_cuda_workspace *ws, const nn_cuda_train_step *s,
                         nn_cuda_error *err) { return guard(err, [&] { train_step(device, *p, *ws, *s); }); };
  t.plan_update = [](int device, const nn_cuda_plan *p, const nn_cuda_update *u, nn_cuda_error *err) {
    return guard(err, [&] { update(device, *p, *u); });
  };
}

}  // namespace cuda
}  // namespace nn
