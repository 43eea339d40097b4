// Host-side state of libnn_cuda.so shared by its .cpp files (never by the
// .cu kernels: no cuBLAS here for them): per-device state (Dev: the device
// stream, cuBLAS and cuBLASLt handles, the stream-ordered memory pool kept as
// a cache, a small pinned buffer for read-backs), per-stream state (Ctx: the
// device stream's and each model stream's workspace and scratch), this
// thread's CUDA Graph capture and stream bindings, the device lock, and the
// argument checks and error guard of the table's entries.
//
// Calls on one device are serialised by a per-device mutex (enqueueing is
// cheap; the GPU runs the streams concurrently; the long host waits happen
// outside the mutex, see drain). Work is ordered on the caller's current
// stream (cur_stream: the device stream, or the model stream the thread has
// bound, see cuda_graphs.cpp), and streams are joined with events, so
// nothing here synchronises with the host except copy_to_host /
// copy_from_host, loss (its value) and all_finite.
// TF32 is off (CUBLAS_COMPUTE_32F, CUBLAS_DEFAULT_MATH) unless NN_CUDA_TF32=1.
//
// CUDA Graphs (record_begin .. record_end, replay; cuda_graphs.cpp): a thread
// that records has a capture of its own (thread_local `t_capture`); every
// entry finds the stream to enqueue on through cur_stream() (Lock::stream()),
// which is that capture stream for the recording thread and the bound or
// device stream for everyone else. The graph uses the buffers of the stream
// that was current when recording began and replays on that stream. While
// recording, dev_alloc throws and the host-waiting entries refuse
// (Lock::no_capture), so the capture fails cleanly instead of recording
// something that would not replay; deallocations are deferred.
#pragma once
#include <cublasLt.h>
#include <cublas_v2.h>

#include <climits>
#include <cstdio>
#include <exception>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>

#include "backend/cuda/cuda_internal.hpp"
#include "core/device.hpp"

namespace nn {
namespace cuda {

void check_blas(cublasStatus_t st, const char *what);

// ---------------------------------------------------------------- state

struct LtKey {
  int64_t m, n, k;
  int epilogue;
  uint32_t align;
  bool operator==(const LtKey &o) const {
    return m == o.m && n == o.n && k == o.k && epilogue == o.epilogue && align == o.align;
  }
};
struct LtHash {
  size_t operator()(const LtKey &k) const {
    size_t h = std::hash<int64_t>()(k.m);
    h = h * 1000003u ^ std::hash<int64_t>()(k.n);
    h = h * 1000003u ^ std::hash<int64_t>()(k.k);
    return h * 31u + static_cast<size_t>(k.epilogue) * 1024u + k.align;
  }
};
struct LtPlan {
  bool ok = false;
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo;
};

// The workspace of cuBLAS and cuBLASLt, one per stream (see Ctx), set on the
// cuBLAS handle with every call (cublasSetStream resets it to cuBLAS's own
// pool, which may allocate, also under capture) and passed to every
// cublasLtMatmul. 32 MiB is NVIDIA's recommendation for Hopper (4 MiB for
// older GPUs). cuBLAS and cuBLASLt share it: a workspace is scratch for the
// kernels of one call, and all calls that use one stream's workspace are
// ordered on that stream, so no two ever run at once.
constexpr size_t kWorkspace = size_t{32} << 20;
constexpr size_t kMaxLtPlans = 256;

struct Dev;

// A stream and the device buffers that the work enqueued on it uses: the
// device's own stream (Dev::main) or a model's (stream_create). Buffers
// written by one call and read by a later kernel of the same call (loss
// partials, the class-id flag, gather indices, the BLAS workspace) must not
// be shared by two streams that run at the same time, so each stream has
// its own; on one stream every use is ordered. (cuBLAS's own docs: with
// several streams on one handle, give each stream its own workspace, which
// also keeps results bit-reproducible.) The device's buffers are made at
// device initialisation (cudaMalloc, never freed); a model stream's on first
// use, from the pool on that stream, and freed on it by stream_destroy.
// Every field is read and written under the device mutex.
struct Ctx {
  Dev *dev = nullptr;
  int device = -1;
  cudaStream_t stream = nullptr;  // model stream: created by its first stream_bind
  cudaEvent_t done = nullptr;     // recorded on `stream` right before another stream waits for it
  void *ws = nullptr;             // kWorkspace bytes: cuBLAS + cuBLASLt workspace
  char *scratch = nullptr;        // 64 bytes: [0] double loss sum, [8] u64 bad row, [16] int flag
  double *partials = nullptr;     // kLossBlocks per-block loss sums (fixed-order reduction)
};

struct Dev {
  std::mutex mu;
  bool ready = false;
  Ctx main;  // the device stream and its buffers
  cublasHandle_t blas = nullptr;  // one per device: stream and workspace set before every call
  cublasLtHandle_t lt = nullptr;
  // 64 bytes of pinned host memory for read-backs. One per device, not per
  // stream: each use (a copy into it, a cudaStreamSynchronize, a read) is
  // complete before the entry that makes it releases the device mutex.
  void *pinned = nullptr;
  cudaMemPool_t pool = nullptr;
  std::unordered_map<LtKey, LtPlan, LtHash> lt_plans;
};

struct Global {
  int rc = NN_CUDA_PROBE_ERROR;
  int count = 0;
  std::string message;
  bool tf32 = false;
  bool no_lt = false;  // NN_CUDA_NO_LT=1: cublasSgemm + our kernels instead of cuBLASLt
  Dev *devs = nullptr;  // never freed: Storage may be released during exit
};

// Device discovery, once per process (cuda_device.cpp).
Global &global();

// The CUDA Graph capture of this thread (record_begin .. record_end or
// record_abort): at most one, on one device. Trivially destructible, so
// it is never destroyed before a thread's other thread_locals that free
// device memory as they go (e.g. libnn's per-thread forward buffers).
constexpr int kMaxDeferred = 64;
struct Capture {
  Dev *dev = nullptr;             // NULL: this thread records nothing
  Ctx *ctx = nullptr;             // the stream current at record_begin: its buffers, and where the graph replays
  cudaStream_t stream = nullptr;  // the capture stream (created at begin, destroyed at the end)
  bool freed = false;             // a deallocation happened: the capture fails at its end
  int ndeferred = 0;
  void *deferred[kMaxDeferred];   // deallocations put off to the end of the capture
};
extern thread_local Capture t_capture;

inline bool capturing(const Dev &d) { return t_capture.dev == &d; }

// The stream bindings of this thread (stream_bind .. stream_unbind, see
// cuda_graphs.cpp for the ordering rules): a stack, innermost last.
constexpr int kMaxBinds = 32;
struct Binds {
  struct Entry {
    Dev *dev;
    Ctx *ctx;
  };
  int n = 0;
  Entry e[kMaxBinds];
};
extern thread_local Binds t_binds;  // trivially destructible, like t_capture

// The innermost stream this thread bound for d, else d's own.
Ctx &cur_ctx(Dev &d);
// The one place that says which stream an entry enqueues on: this thread's
// capture stream while it records on d, else the stream it bound, else d's.
inline cudaStream_t cur_stream(Dev &d) { return capturing(d) ? t_capture.stream : cur_ctx(d).stream; }

// Frees p (the caller holds d's mutex and made d current) ordered after every
// earlier use (see cuda_graphs.cpp): on c's stream after it waits for the
// device stream, or on the device stream when c is the device's. Never
// throws; if the wait cannot be enqueued, the host waits for c and frees on
// the device stream.
void free_on(Dev &d, Ctx &c, void *p) noexcept;

// Makes device `index` current on this thread (a cheap query first).
bool set_device(int index);

// Locks device `index`, makes it current on this thread, initialises it once.
class Lock {
 public:
  explicit Lock(int index);
  Dev &dev() { return *d_; }
  // The stream this thread works on (its buffers): the bound one or the device's.
  Ctx &ctx() { return cur_ctx(*d_); }
  // Where this call enqueues: the current stream, or this thread's capture.
  cudaStream_t stream() { return cur_stream(*d_); }
  // For entries that make the host wait for the device or read host memory
  // at call time: they cannot be recorded into a graph.
  void no_capture(const char *what) {
    if (capturing(*d_))
      fail(Errc::Unsupported, "cuda %s: cannot be recorded into a CUDA graph (it waits for the device or reads "
                              "host memory)", what);
  }

 private:
  Dev *d_;
  std::unique_lock<std::mutex> lk_;
};

// For the entries that make the host wait for the device: waits for the
// work enqueued so far on this thread's current stream of device `index`
// WITHOUT holding the device mutex, so that the long wait (e.g. an epoch's
// work before its loss is read) does not stop other threads from enqueueing
// on their streams; the entry then locks and waits only for what came
// after. The stream stays valid in between: the device's own, or one this
// thread has bound (its binding holds a reference). Does nothing while
// this thread records (the entry then refuses, under the lock).
void drain(int index);

// ---------------------------------------------------------------- entry helpers

inline void write_msg(nn_cuda_error *err, const char *m) {
  if (!err) return;
  std::snprintf(err->message, sizeof(err->message), "%s", m);
}

// Runs f, turning any exception into a code and message: no exception
// leaves this library.
template <class F>
int guard(nn_cuda_error *err, F &&f) {
  try {
    f();
    return 0;
  } catch (const Error &e) {
    write_msg(err, e.what());
    return static_cast<int>(e.code());
  } catch (const std::bad_alloc &) {
    write_msg(err, "cuda: out of host memory");
    return static_cast<int>(Errc::OutOfMemory);
  } catch (const std::exception &e) {
    write_msg(err, e.what());
    return static_cast<int>(Errc::Internal);
  } catch (...) {
    write_msg(err, "cuda: unknown exception");
    return static_cast<int>(Errc::Internal);
  }
}

inline const char *dt_name(int dt) { return dtype_name(static_cast<DType>(dt)); }

inline int64_t rows_of(const V &v) { return v.ndim >= 2 ? v.shape[0] : 1; }
inline int64_t cols_of(const V &v) { return v.ndim >= 1 ? v.shape[v.ndim - 1] : 1; }

inline void need_float(const char *what, int dt) {
  if (dt != static_cast<int>(DType::F32) && dt != static_cast<int>(DType::F64))
    fail(Errc::Unsupported, "cuda %s: dtype %s is not supported (float32 or float64)", what, dt_name(dt));
}
inline void need_contiguous(const char *what, const V &v, const char *name) {
  if (!contiguous(v)) fail(Errc::Internal, "cuda %s: %s is not contiguous", what, name);
}
inline int as_int(int64_t v, const char *what) {
  if (v > INT_MAX) fail(Errc::Unsupported, "cuda %s: dimension %lld exceeds cuBLAS's int range", what, (long long)v);
  return static_cast<int>(v);
}

// ---------------------------------------------------------------- device memory

// Device memory from the pool, on this thread's current stream; refuses
// while this thread records a CUDA graph on d.
void *dev_alloc(Dev &d, size_t bytes);

// A buffer of the current stream c (the caller holds the device mutex):
// made at init for the device stream, on first use for a model stream (from
// the pool, on that stream: dev_alloc, which refuses while recording).
template <class T>
T *ctx_buffer(Dev &d, T *&slot, size_t bytes) {
  if (!slot) slot = static_cast<T *>(dev_alloc(d, bytes));
  return slot;
}
inline void *ctx_ws(Dev &d, Ctx &c) { return ctx_buffer(d, c.ws, kWorkspace); }
inline char *ctx_scratch(Dev &d, Ctx &c) { return ctx_buffer(d, c.scratch, 64); }
inline double *ctx_partials(Dev &d, Ctx &c) { return ctx_buffer(d, c.partials, kLossBlocks * sizeof(double)); }

// A device temporary freed (stream-ordered) when it goes out of scope.
struct Temp {
  Dev &d;
  void *p = nullptr;
  Temp(Dev &dev, size_t bytes) : d(dev), p(dev_alloc(dev, bytes)) {}
  ~Temp() {
    if (p) cudaFreeAsync(p, cur_stream(d));
  }
};

// The cuBLAS handle, bound to the stream this call enqueues on and to that
// stream's workspace (cuda_device.cpp).
cublasHandle_t blas(Dev &d);

// ---------------------------------------------------------------- what the plan runner calls
//
// cuda_plan.cpp runs whole plans through these (each locks the device for
// itself and throws nn::Error; the table's entries of the same name wrap
// the ones that are also entries). Views as in cuda_abi.h.

// cuda_device.cpp
void *allocate(int device, size_t bytes);
void deallocate(int device, void *p) noexcept;
void copy_to_host(int device, void *host_dst, const void *src, size_t bytes);
void copy_from_host(int device, void *dst, const void *host_src, size_t bytes);
// cuda_tensor_ops.cpp
void copy(int device, const V *dst, const V *src);
// cuda_layers.cpp: row-major out = op(a) op(b) + beta out (F32/F64,
// contiguous); y = act(x w^T + bias) (bias->data NULL: none); y = act(x);
// dx = dy * act'(from y); db = beta db + column sums of g; the loss (its
// value added into *value_accum: one synchronisation, or added into the
// device F64 scalar accum on the stream); optimizer updates.
void gemm(int device, int ta, int tb, const V *a, const V *b, double beta, const V *out);
void linear_forward(int device, int act, const V *y, const V *x, const V *w, const V *bias);
void activation_forward(int device, int act, const V *y, const V *x);
void activation_backward(int device, int act, const V *dx, const V *dy, const V *y);
void sum_rows(int device, const V *db, const V *g, double beta);
void loss_value(int device, int kind, const V *pred, const V *target, double *value_accum, const V *grad,
                double grad_scale);
void loss_device(int device, int kind, const V *pred, const V *target, const V *accum, const V *grad);
void sgd_update(int device, const nn_cuda_sgd *p, const V *param, const V *grad, const V *m);
void adam_update(int device, const nn_cuda_adam *p, const V *param, const V *grad, const V *m, const V *v);
void sgd_update_many(int device, const nn_cuda_sgd *p, const V *params, const V *grads, const V *m, size_t n);
void adam_update_many(int device, const nn_cuda_adam *p, const V *params, const V *grads, const V *m, const V *v,
                      size_t n);
// cuda_graphs.cpp: recording this thread's calls as a CUDA Graph, and model
// streams (the rules are written there).
void record_begin(int device);
void *record_end(int device);
void record_abort(int device, const char *why) noexcept;
void replay(int device, void *graph);
void release(int device, void *graph) noexcept;
void *stream_create(int device);
void stream_destroy(int device, void *stream) noexcept;
void stream_bind(int device, void *stream);
void stream_unbind(int device, void *stream) noexcept;

// ---------------------------------------------------------------- the table

// Each file fills in the entries it defines (cuda_entry.cpp assembles them).
void add_device_entries(nn_cuda_iface &t);
void add_tensor_entries(nn_cuda_iface &t);
void add_layer_entries(nn_cuda_iface &t);
void add_plan_entries(nn_cuda_iface &t);

}  // namespace cuda
}  // namespace nn
