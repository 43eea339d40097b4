// libnn_cuda.so's side of cuda_abi.h: the exported table, device discovery,
// per-device state (the device's non-blocking stream, cuBLAS and cuBLASLt
// handles, the stream-ordered memory pool kept as a cache, a small pinned
// buffer for read-backs), per-stream state (Ctx: the device stream's and
// each model stream's own workspace and scratch), and every Backend entry
// point: argument checks, cuBLAS/cuBLASLt calls, kernel launches. Each
// entry catches everything and returns a code + message: no exception
// leaves this library.
//
// Calls on one device are serialised by a per-device mutex (enqueueing is
// cheap; the GPU runs the streams concurrently; the long host waits happen
// outside the mutex, see drain). Work is ordered on the
// caller's current stream (cur_stream: the device stream, or the model
// stream the thread has bound, see "streams" below), and streams are joined
// with events, so nothing here synchronises with the host except
// copy_to_host/copy_from_host, loss (its value) and all_finite.
// TF32 is off (CUBLAS_COMPUTE_32F, CUBLAS_DEFAULT_MATH) unless NN_CUDA_TF32=1.
//
// CUDA Graphs (record_begin .. record_end, replay): a thread that records
// has a capture of its own (thread_local `t_capture`); every entry finds
// the stream to enqueue on through cur_stream() (Lock::stream()), which is
// that capture stream for the recording thread and the bound or device
// stream for everyone else. The graph uses the buffers of the stream that
// was current when recording began and replays on that stream. While recording, dev_alloc throws and the host-waiting
// entries refuse (Lock::no_capture), so the capture fails cleanly instead
// of recording something that would not replay; deallocations are deferred.
#include <cublasLt.h>
#include <cublas_v2.h>
#include <dlfcn.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/device.hpp"
#include "backend/cuda/cuda_internal.hpp"
#include "nn_cuda_build_id.h"

namespace nn {
namespace cuda {

void check(cudaError_t e, const char *what) {
  if (e == cudaSuccess) return;
  cudaGetLastError();  // clear a non-sticky error
  fail(e == cudaErrorMemoryAllocation ? Errc::OutOfMemory : Errc::Device, "cuda %s: %s (%s)", what,
       cudaGetErrorString(e), cudaGetErrorName(e));
}

void check_launch(const char *what) { check(cudaGetLastError(), what); }

size_t elem_size(int dt) {
  switch (static_cast<DType>(dt)) {
    case DType::F64:
    case DType::I64: return 8;
    case DType::F32:
    case DType::I32: return 4;
    case DType::F16:
    case DType::BF16:
    case DType::I16: return 2;
    case DType::U8: return 1;
  }
  fail(Errc::Internal, "cuda: invalid dtype %d", dt);
}

int64_t numel(const V &v) {
  int64_t n = 1;
  for (int i = 0; i < v.ndim; ++i) n *= v.shape[i];
  return n;
}

bool contiguous(const V &v) {
  int64_t expected = 1;
  for (int i = v.ndim - 1; i >= 0; --i) {
    if (v.shape[i] == 1) continue;
    if (v.strides[i] != expected) return numel(v) == 0;
    expected *= v.shape[i];
  }
  return true;
}

uint64_t scalar_bits(int dt, double value) {
  switch (static_cast<DType>(dt)) {
    case DType::F32: {
      float f = static_cast<float>(value);
      uint32_t b;
      std::memcpy(&b, &f, 4);
      return b;
    }
    case DType::F64: {
      uint64_t b;
      std::memcpy(&b, &value, 8);
      return b;
    }
    case DType::F16: return f32_to_f16(static_cast<float>(value));
    case DType::BF16: return f32_to_bf16(static_cast<float>(value));
    default: {
      uint64_t u = static_cast<uint64_t>(float_to_i64(value));
      size_t sz = elem_size(dt);
      return sz == 8 ? u : (u & ((uint64_t{1} << (8 * sz)) - 1));
    }
  }
}

namespace {

void check_blas(cublasStatus_t st, const char *what) {
  if (st == CUBLAS_STATUS_SUCCESS) return;
  fail(st == CUBLAS_STATUS_ALLOC_FAILED ? Errc::OutOfMemory : Errc::Device, "cuda %s: cuBLAS %s (%s)", what,
       cublasGetStatusString(st), cublasGetStatusName(st));
}

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

Global &global() {
  static Global *g = [] {
    auto *r = new Global;
    const char *tf = std::getenv("NN_CUDA_TF32");
    r->tf32 = tf && tf[0] == '1';
    const char *nolt = std::getenv("NN_CUDA_NO_LT");
    r->no_lt = nolt && nolt[0] == '1';
    void *drv = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!drv) {
      const char *e = dlerror();
      r->rc = NN_CUDA_PROBE_NO_DRIVER;
      r->message = std::string("no CUDA driver: libcuda.so.1 cannot be loaded (") + (e ? e : "unknown error") +
                   "); install the NVIDIA driver";
      return r;
    }
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e == cudaErrorInsufficientDriver) {
      int rt = 0, dv = 0;
      cudaRuntimeGetVersion(&rt);
      cudaDriverGetVersion(&dv);
      r->rc = NN_CUDA_PROBE_NO_DRIVER;
      r->message = strprintf("no CUDA driver: the NVIDIA driver supports CUDA %d.%d but libnn_cuda.so needs %d.%d (%s)",
                             dv / 1000, (dv % 1000) / 10, rt / 1000, (rt % 1000) / 10, cudaGetErrorName(e));
    } else if (e == cudaErrorNoDevice || (e == cudaSuccess && n <= 0)) {
      const char *vis = std::getenv("CUDA_VISIBLE_DEVICES");
      r->rc = NN_CUDA_PROBE_NO_DEVICE;
      r->message = strprintf("no CUDA GPU visible (%s%s%s)", e == cudaSuccess ? "0 devices" : cudaGetErrorName(e),
                             vis ? "; CUDA_VISIBLE_DEVICES=" : "", vis ? vis : "");
    } else if (e != cudaSuccess) {
      r->rc = NN_CUDA_PROBE_ERROR;
      r->message = strprintf("CUDA initialisation failed: %s (%s)", cudaGetErrorString(e), cudaGetErrorName(e));
    } else {
      r->rc = NN_CUDA_PROBE_OK;
      r->count = n;
      r->devs = new Dev[static_cast<size_t>(n)];
      for (int i = 0; i < n; ++i) {
        r->devs[i].main.dev = &r->devs[i];
        r->devs[i].main.device = i;
      }
    }
    cudaGetLastError();
    return r;
  }();
  return *g;
}

void init_dev(Dev &d, int index) {
  // Idempotent: a failure half way (e.g. out of memory) leaves what was
  // created in place and the next call goes on from there.
  const bool tf32 = global().tf32;
  Ctx &m = d.main;
  if (!m.stream) check(cudaStreamCreateWithFlags(&m.stream, cudaStreamNonBlocking), "init: stream");
  if (!m.done) check(cudaEventCreateWithFlags(&m.done, cudaEventDisableTiming), "init: event");
  if (!d.pool) {
    cudaMemPool_t pool = nullptr;
    check(cudaDeviceGetDefaultMemPool(&pool, index), "init: memory pool");
    uint64_t keep = UINT64_MAX;  // freed blocks stay in the pool: a caching allocator
    check(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep), "init: memory pool");
    d.pool = pool;
  }
  if (!d.blas) {
    cublasHandle_t h = nullptr;
    check_blas(cublasCreate(&h), "init: cublasCreate");
    d.blas = h;
    // CUBLAS_DEFAULT_MATH never uses TF32 for FP32 (CUBLAS_COMPUTE_32F).
    // DISALLOW_REDUCED_PRECISION_REDUCTION: F16/BF16 matmuls keep split-K
    // partial sums in F32 (the compute type), not in the output type, as
    // nn.h promises ("F16/BF16 accumulate in F32").
    const int mode = (tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH) |
                     CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION;
    check_blas(cublasSetMathMode(d.blas, static_cast<cublasMath_t>(mode)), "init: math mode");
  }
  if (!d.lt) check_blas(cublasLtCreate(&d.lt), "init: cublasLtCreate");
  if (!m.ws) check(cudaMalloc(&m.ws, kWorkspace), "init: cuBLAS workspace");
  if (!d.pinned) check(cudaMallocHost(&d.pinned, 64), "init: pinned buffer");
  if (!m.scratch) check(cudaMalloc(reinterpret_cast<void **>(&m.scratch), 64), "init: scratch");
  if (!m.partials)
    check(cudaMalloc(reinterpret_cast<void **>(&m.partials), kLossBlocks * sizeof(double)), "init: loss partials");
  d.ready = true;
}

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
thread_local Capture t_capture;

bool capturing(const Dev &d) { return t_capture.dev == &d; }

// ---------------------------------------------------------------- streams
//
// One stream per model (stream_create .. stream_destroy, bound to a thread
// for the length of a model call by stream_bind/stream_unbind). The
// bindings of a thread form a stack (t_binds); an entry enqueues on the
// innermost binding for its device, else on the device stream (Dev::main),
// and a capture overrides both (cur_stream). Ordering, with events only
// (no host synchronisation):
//  - bind(S): S waits for the device stream as it is now (and for the
//    stream bound before on this thread, when bindings nest). Whatever the
//    caller passes in was enqueued before the call, on the device stream or
//    on a stream that was joined into it when its call returned (below),
//    so S sees it.
//  - unbind(S): the device stream (and the stream bound before) waits for
//    everything enqueued on S so far. A result of the call is therefore
//    ready for every later call: unbound ones run on the device stream
//    (nn_tensor_read's copy too), bound ones start by waiting for it.
//  - Each stream has one event, reused: it is recorded and waited for in
//    one stretch under the device mutex, and cudaStreamWaitEvent waits for
//    the state of the most recent cudaEventRecord at the time of the call
//    (later records do not affect it).
//  - Several threads may bind one stream at once (concurrent inference on
//    one model): each has its own stack entry; their entries' work is
//    serialised on S by the device mutex and S's order, each thread's in
//    program order, and per-stream buffers are used by one entry at a time.
//  - Memory: allocations go to the current stream. A free while S is bound
//    goes to S after S waits for the device stream (free_on), so it is
//    ordered after every earlier use: uses on S by stream order; uses on
//    any other stream because they were joined into the device stream when
//    their call returned, which happened before the last reference was
//    dropped (another thread's call that used the tensor returned before
//    its reference went; this thread's earlier calls returned before this
//    one). A tensor allocated on S is used elsewhere only after the unbind
//    of S joined S into the device stream (allocation included), and a
//    free on the device stream comes after that join as well. The pool's
//    reuse of freed blocks follows the free's stream order.
constexpr int kMaxBinds = 32;
struct Binds {
  struct Entry {
    Dev *dev;
    Ctx *ctx;
  };
  int n = 0;
  Entry e[kMaxBinds];
};
thread_local Binds t_binds;  // trivially destructible, like t_capture

// The innermost stream this thread bound for d, else d's own.
Ctx &cur_ctx(Dev &d) {
  const Binds &b = t_binds;
  for (int i = b.n - 1; i >= 0; --i)
    if (b.e[i].dev == &d) return *b.e[i].ctx;
  return d.main;
}

// The one place that says which stream an entry enqueues on: this thread's
// capture stream while it records on d, else the stream it bound, else d's.
cudaStream_t cur_stream(Dev &d) { return capturing(d) ? t_capture.stream : cur_ctx(d).stream; }

// Makes `waiter` wait for everything enqueued on `c` so far (the caller holds
// the device mutex, so no other record of c.done comes in between).
void wait_for(Ctx &waiter, Ctx &c, const char *what) {
  check(cudaEventRecord(c.done, c.stream), what);
  check(cudaStreamWaitEvent(waiter.stream, c.done, 0), what);
}

// Frees p (the caller holds d's mutex and made d current) ordered after every
// earlier use (see above): on c's stream after it waits for the device
// stream, or on the device stream when c is the device's. Never throws; if
// the wait cannot be enqueued, the host waits for c and frees on the
// device stream.
void free_on(Dev &d, Ctx &c, void *p) noexcept {
  if (&c != &d.main) {
    if (cudaEventRecord(d.main.done, d.main.stream) == cudaSuccess &&
        cudaStreamWaitEvent(c.stream, d.main.done, 0) == cudaSuccess && cudaFreeAsync(p, c.stream) == cudaSuccess)
      return;
    cudaGetLastError();
    cudaStreamSynchronize(c.stream);
  }
  cudaFreeAsync(p, d.main.stream);
  cudaGetLastError();
}

// Makes device `index` current on this thread (a cheap query first).
bool set_device(int index) {
  int cur = -1;
  if (cudaGetDevice(&cur) == cudaSuccess && cur == index) return true;
  if (cudaSetDevice(index) == cudaSuccess) return true;
  cudaGetLastError();
  return false;
}

// Locks device `index`, makes it current on this thread, initialises it once.
class Lock {
 public:
  explicit Lock(int index) {
    Global &g = global();
    if (index < 0 || index >= g.count)
      fail(Errc::Device, "cuda: device index %d outside 0..%d", index, g.count - 1);
    d_ = &g.devs[index];
    lk_ = std::unique_lock<std::mutex>(d_->mu);
    int cur = -1;
    if (cudaGetDevice(&cur) != cudaSuccess || cur != index) check(cudaSetDevice(index), "cudaSetDevice");
    if (!d_->ready) init_dev(*d_, index);
  }
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
void drain(int index) {
  cudaStream_t s = nullptr;
  {
    Lock l(index);
    if (capturing(l.dev())) return;
    s = l.stream();
  }
  check(cudaStreamSynchronize(s), "cudaStreamSynchronize");
}

void write_msg(nn_cuda_error *err, const char *m) {
  if (!err) return;
  std::snprintf(err->message, sizeof(err->message), "%s", m);
}

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

const char *dt_name(int dt) { return dtype_name(static_cast<DType>(dt)); }

int64_t rows_of(const V &v) { return v.ndim >= 2 ? v.shape[0] : 1; }
int64_t cols_of(const V &v) { return v.ndim >= 1 ? v.shape[v.ndim - 1] : 1; }

void need_float(const char *what, int dt) {
  if (dt != static_cast<int>(DType::F32) && dt != static_cast<int>(DType::F64))
    fail(Errc::Unsupported, "cuda %s: dtype %s is not supported (float32 or float64)", what, dt_name(dt));
}
void need_contiguous(const char *what, const V &v, const char *name) {
  if (!contiguous(v)) fail(Errc::Internal, "cuda %s: %s is not contiguous", what, name);
}
int as_int(int64_t v, const char *what) {
  if (v > INT_MAX) fail(Errc::Unsupported, "cuda %s: dimension %lld exceeds cuBLAS's int range", what, (long long)v);
  return static_cast<int>(v);
}

void *dev_alloc(Dev &d, size_t bytes) {
  // A graph would replay the allocation's address, not the allocation.
  if (capturing(d))
    fail(Errc::Unsupported, "cuda: cannot allocate %zu bytes of device memory while recording a CUDA graph", bytes);
  void *p = nullptr;
  size_t n = bytes > 0 ? bytes : 1;
  const cudaStream_t s = cur_stream(d);
  cudaError_t e = cudaMallocAsync(&p, n, s);
  if (e == cudaErrorMemoryAllocation) {  // give cached blocks back and retry once
    cudaGetLastError();
    cudaStreamSynchronize(s);
    cudaMemPoolTrimTo(d.pool, 0);
    e = cudaMallocAsync(&p, n, s);
  }
  if (e != cudaSuccess) {
    cudaGetLastError();
    fail(e == cudaErrorMemoryAllocation ? Errc::OutOfMemory : Errc::Device, "cuda: cannot allocate %zu bytes: %s (%s)",
         bytes, cudaGetErrorString(e), cudaGetErrorName(e));
  }
  return p;
}

// A buffer of the current stream c (the caller holds the device mutex):
// made at init for the device stream, on first use for a model stream (from
// the pool, on that stream: dev_alloc, which refuses while recording).
template <class T>
T *ctx_buffer(Dev &d, T *&slot, size_t bytes) {
  if (!slot) slot = static_cast<T *>(dev_alloc(d, bytes));
  return slot;
}
void *ctx_ws(Dev &d, Ctx &c) { return ctx_buffer(d, c.ws, kWorkspace); }
char *ctx_scratch(Dev &d, Ctx &c) { return ctx_buffer(d, c.scratch, 64); }
double *ctx_partials(Dev &d, Ctx &c) { return ctx_buffer(d, c.partials, kLossBlocks * sizeof(double)); }

// A device temporary freed (stream-ordered) when it goes out of scope.
struct Temp {
  Dev &d;
  void *p = nullptr;
  Temp(Dev &dev, size_t bytes) : d(dev), p(dev_alloc(dev, bytes)) {}
  ~Temp() {
    if (p) cudaFreeAsync(p, cur_stream(d));
  }
};

V contiguous_view(const V &v, void *data) {
  V r = v;
  r.data = data;
  int64_t s = 1;
  for (int i = v.ndim - 1; i >= 0; --i) {
    r.strides[i] = s;
    s *= v.shape[i];
  }
  return r;
}

// ---------------------------------------------------------------- memory

int e_probe(int *count, nn_cuda_error *err) {
  Global &g = global();
  if (count) *count = g.count;
  if (g.rc != NN_CUDA_PROBE_OK) write_msg(err, g.message.c_str());
  return g.rc;
}

int e_allocate(int device, size_t bytes, void **out, nn_cuda_error *err) {
  return guard(err, [&] {
    Lock l(device);
    *out = dev_alloc(l.dev(), bytes);
  });
}

void e_deallocate(int device, void *p) {
  if (!p) return;
  try {
    Global &g = global();
    if (device < 0 || device >= g.count || !g.devs[device].ready) return;
    Dev &d = g.devs[device];
    std::lock_guard<std::mutex> lk(d.mu);
    if (capturing(d)) {  // the capture may use it: freed when the capture ends
      Capture &c = t_capture;
      c.freed = true;
      if (c.ndeferred < kMaxDeferred) {
        c.deferred[c.ndeferred++] = p;
        return;
      }
      // No room: free it now (below, on the stream the capture started
      // from). Safe, since `freed` makes this capture fail: its graph never
      // runs.
    }
    // On this thread's current stream (not the capture's), ordered after
    // every earlier use of p (free_on; the argument is at t_binds).
    if (set_device(device)) free_on(d, cur_ctx(d), p);
    cudaGetLastError();  // during exit the runtime may be gone: nothing to do
  } catch (...) {
  }
}

int e_copy_to_host(int device, void *host_dst, const void *src, size_t bytes, nn_cuda_error *err) {
  return guard(err, [&] {
    if (bytes == 0) return;
    drain(device);
    Lock l(device);
    l.no_capture("copy_to_host");
    check(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, l.stream()), "copy to host");
    check(cudaStreamSynchronize(l.stream()), "copy to host");
  });
}

int e_copy_from_host(int device, void *dst, const void *host_src, size_t bytes, nn_cuda_error *err) {
  return guard(err, [&] {
    if (bytes == 0) return;
    drain(device);
    Lock l(device);
    l.no_capture("copy_from_host");
    check(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, l.stream()), "copy from host");
    // The caller may reuse its buffer on return, whatever kind of memory it is.
    check(cudaStreamSynchronize(l.stream()), "copy from host");
  });
}

// The cuBLAS handle, bound to the stream this call enqueues on (capture,
// bound or device stream) and to that stream's workspace: cublasSetStream
// resets the workspace to cuBLAS's pool, so both are set before every
// cuBLAS call (cheap host calls). One handle serves every stream of the
// device: cuBLAS may be called from several threads with one handle, but a
// configuration change affects the calls of all of them, so setting stream
// and workspace and enqueueing the call happen in one stretch under the
// device mutex; a workspace per stream keeps concurrent streams from
// sharing scratch memory (and keeps results deterministic, per cuBLAS's
// reproducibility notes).
cublasHandle_t blas(Dev &d) {
  void *ws = ctx_ws(d, cur_ctx(d));
  check_blas(cublasSetStream(d.blas, cur_stream(d)), "cublasSetStream");
  check_blas(cublasSetWorkspace(d.blas, ws, kWorkspace), "cublasSetWorkspace");
  return d.blas;
}

// ---------------------------------------------------------------- tensor ops

int e_copy(int device, const V *dst, const V *src, nn_cuda_error *err) {
  return guard(err, [&] {
    const int64_t n = numel(*dst);
    if (n == 0) return;
    Lock l(device);
    if (dst->dtype == src->dtype && contiguous(*dst) && contiguous(*src)) {
      if (dst->data == src->data) return;
      const size_t bytes = static_cast<size_t>(n) * elem_size(dst->dtype);
      const char *a = static_cast<const char *>(dst->data), *b = static_cast<const char *>(src->data);
      if (a < b + bytes && b < a + bytes) {  // overlapping: through a temporary (memmove)
        Temp t(l.dev(), bytes);
        check(cudaMemcpyAsync(t.p, src->data, bytes, cudaMemcpyDeviceToDevice, l.stream()), "copy");
        check(cudaMemcpyAsync(dst->data, t.p, bytes, cudaMemcpyDeviceToDevice, l.stream()), "copy");
        return;
      }
      check(cudaMemcpyAsync(dst->data, src->data, bytes, cudaMemcpyDeviceToDevice, l.stream()), "copy");
      return;
    }
    k_copy(l.stream(), *dst, *src);
  });
}

int e_fill(int device, const V *dst, double value, nn_cuda_error *err) {
  return guard(err, [&] {
    if (numel(*dst) == 0) return;
    Lock l(device);
    k_fill(l.stream(), *dst, value);
  });
}

int e_unary(int device, int op, const V *out, const V *x, nn_cuda_error *err) {
  return guard(err, [&] {
    const UnaryOp u = static_cast<UnaryOp>(op);
    if (!is_float_dt(x->dtype) && !(u == UnaryOp::Neg || u == UnaryOp::Abs || u == UnaryOp::Relu || u == UnaryOp::Step))
      fail(Errc::Internal, "cuda unary: op %d on integer dtype %s", op, dt_name(x->dtype));
    if (numel(*out) == 0) return;
    Lock l(device);
    k_unary(l.stream(), op, *out, *x);
  });
}

int e_binary(int device, int op, const V *out, const V *a, const V *b, nn_cuda_error *err) {
  return guard(err, [&] {
    if (!is_float_dt(out->dtype) && static_cast<BinaryOp>(op) == BinaryOp::Div)
      fail(Errc::Internal, "cuda binary: integer division reached the backend");
    if (numel(*out) == 0) return;
    Lock l(device);
    k_binary(l.stream(), op, *out, *a, *b);
  });
}

int e_reduce(int device, int op, const V *out, const V *x, nn_cuda_error *err) {
  return guard(err, [&] {
    if (numel(*out) == 0) return;
    if (x->ndim != 3) fail(Errc::Internal, "cuda reduce: x must be [outer, n, inner]");
    const ReduceOp r = static_cast<ReduceOp>(op);
    if (r == ReduceOp::Mean && !is_float_dt(x->dtype))
      fail(Errc::Internal, "cuda reduce: mean of integer dtype %s", dt_name(x->dtype));
    Lock l(device);
    if (x->shape[1] == 0) {
      if (r == ReduceOp::Sum) return k_fill(l.stream(), *out, 0.0);
      if (r == ReduceOp::Mean) return k_fill(l.stream(), *out, std::nan(""));
      fail(Errc::Internal, "cuda reduce: max/min/argmax over an empty dim");
    }
    k_reduce(l.stream(), op, *out, *x);
  });
}

// How cuBLAS (column-major) sees a row-major view X [R, C] with strides
// (sr, sc): trans == false: memory is the column-major C x R matrix X^T with
// leading dimension ld; trans == true: memory is X itself (R x C, ld).
struct MatLayout {
  bool ok = false, trans = false;
  int64_t ld = 0;
};
MatLayout mat_layout(int64_t R, int64_t C, int64_t sr, int64_t sc) {
  MatLayout m;
  if (C == 1 || sc == 1) {
    int64_t ld = R == 1 ? std::max<int64_t>(C, 1) : sr;
    if (ld >= std::max<int64_t>(C, 1)) {
      m.ok = true;
      m.ld = ld;
      return m;
    }
  }
  if (R == 1 || sr == 1) {
    int64_t ld = C == 1 ? std::max<int64_t>(R, 1) : sc;
    if (ld >= std::max<int64_t>(R, 1)) {
      m.ok = true;
      m.trans = true;
      m.ld = ld;
      return m;
    }
  }
  return m;
}

void matmul_blas(Lock &l, const V &out, const V &a0, const V &b0) {
  Dev &d = l.dev();
  const int64_t B = out.shape[0], M = out.shape[1], N = out.shape[2], K = a0.shape[2];
  V a = a0, b = b0;
  std::unique_ptr<Temp> ta, tb;
  MatLayout la = mat_layout(M, K, a.strides[1], a.strides[2]);
  if (!la.ok) {  // e.g. overlapping strides: a contiguous copy first
    ta.reset(new Temp(d, static_cast<size_t>(numel(a)) * elem_size(a.dtype)));
    V c = contiguous_view(a, ta->p);
    k_copy(l.stream(), c, a);
    a = c;
    la = mat_layout(M, K, a.strides[1], a.strides[2]);
  }
  MatLayout lb = mat_layout(K, N, b.strides[1], b.strides[2]);
  if (!lb.ok) {
    tb.reset(new Temp(d, static_cast<size_t>(numel(b)) * elem_size(b.dtype)));
    V c = contiguous_view(b, tb->p);
    k_copy(l.stream(), c, b);
    b = c;
    lb = mat_layout(K, N, b.strides[1], b.strides[2]);
  }
  const long long sa = a.shape[0] > 1 ? a.strides[0] : 0, sb = b.shape[0] > 1 ? b.strides[0] : 0;
  const DType dt = static_cast<DType>(out.dtype);
  cudaDataType_t ty;
  cublasComputeType_t ct;
  const float f1 = 1.f, f0 = 0.f;
  const double d1 = 1.0, d0 = 0.0;
  const void *alpha = &f1, *beta = &f0;
  switch (dt) {
    case DType::F32:
      ty = CUDA_R_32F;
      ct = global().tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
      break;
    case DType::F64:
      ty = CUDA_R_64F;
      ct = CUBLAS_COMPUTE_64F;
      alpha = &d1;
      beta = &d0;
      break;
    case DType::F16:
      ty = CUDA_R_16F;
      ct = CUBLAS_COMPUTE_32F;
      break;
    default:
      ty = CUDA_R_16BF;
      ct = CUBLAS_COMPUTE_32F;
      break;
  }
  // out^T (N x M, column-major) = op(b)^T (N x K) * op(a)^T (K x M).
  check_blas(cublasGemmStridedBatchedEx(blas(d), lb.trans ? CUBLAS_OP_T : CUBLAS_OP_N, la.trans ? CUBLAS_OP_T : CUBLAS_OP_N,
                                        as_int(N, "matmul"), as_int(M, "matmul"), as_int(K, "matmul"), alpha, b.data, ty,
                                        as_int(lb.ld, "matmul"), sb, a.data, ty, as_int(la.ld, "matmul"), sa, beta,
                                        out.data, ty, as_int(N, "matmul"), static_cast<long long>(M * N),
                                        as_int(B, "matmul"), ct, CUBLAS_GEMM_DEFAULT),
             "matmul");
}

int e_matmul(int device, const V *out, const V *a, const V *b, nn_cuda_error *err) {
  return guard(err, [&] {
    if (numel(*out) == 0) return;
    Lock l(device);
    if (a->shape[2] == 0) return k_fill(l.stream(), *out, 0.0);
    if (!is_float_dt(out->dtype)) return k_matmul_int(l.stream(), *out, *a, *b);
    matmul_blas(l, *out, *a, *b);
  });
}

// ---------------------------------------------------------------- training

// Row-major out[M,N] = alpha op(a) op(b) + beta out (dense operands).
// cuBLAS is column-major: a row-major R x C matrix with row stride ld is, to
// cuBLAS, its transpose (C x R, leading dimension ld). So it computes
//   out^T [N x M, ld N] = alpha op(b)^T op(a)^T + beta out^T
// with cuBLAS's A := b and B := a:
//   tb == 0: b is row-major [K, N] = column-major b^T [N x K], ld N: OP_N gives op(b)^T = b^T.
//   tb == 1: b is row-major [N, K] = column-major b^T [K x N], ld K: OP_T gives (b^T)^T = b = op(b)^T.
//   ta == 0: a is row-major [M, K] = column-major a^T [K x M], ld K: OP_N gives a^T = op(a)^T.
//   ta == 1: a is row-major [K, M] = column-major a^T [M x K], ld M: OP_T gives a = op(a)^T.
// ldb = cols_of(b) (N or K) and lda = cols_of(a) (K or M), as passed by e_gemm;
// cuBLAS m = N, n = M, k = K, ldc = N.
void gemm_rm(Dev &d, int dt, bool ta, bool tb, double alpha, const void *a, int64_t lda, const void *b, int64_t ldb,
             double beta, void *out, int64_t M, int64_t N, int64_t K) {
  const cublasOperation_t oa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, ob = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int m = as_int(N, "gemm"), n = as_int(M, "gemm"), k = as_int(K, "gemm");
  const int la = as_int(std::max<int64_t>(lda, 1), "gemm"), lb = as_int(std::max<int64_t>(ldb, 1), "gemm");
  if (dt == static_cast<int>(DType::F32)) {
    const float al = static_cast<float>(alpha), be = static_cast<float>(beta);
    check_blas(cublasSgemm(blas(d), ob, oa, m, n, k, &al, static_cast<const float *>(b), lb, static_cast<const float *>(a),
                           la, &be, static_cast<float *>(out), m),
               "gemm");
  } else {
    check_blas(cublasDgemm(blas(d), ob, oa, m, n, k, &alpha, static_cast<const double *>(b), lb,
                           static_cast<const double *>(a), la, &beta, static_cast<double *>(out), m),
               "gemm");
  }
}

int e_gemm(int device, int ta, int tb, double alpha, const V *a, const V *b, double beta, const V *out,
           nn_cuda_error *err) {
  return guard(err, [&] {
    need_float("gemm", out->dtype);
    if (a->dtype != out->dtype || b->dtype != out->dtype) fail(Errc::Internal, "cuda gemm: mixed dtypes");
    need_contiguous("gemm", *a, "a");
    need_contiguous("gemm", *b, "b");
    need_contiguous("gemm", *out, "out");
    const int64_t M = rows_of(*out), N = cols_of(*out);
    const int64_t K = ta ? rows_of(*a) : cols_of(*a);
    const int64_t am = ta ? cols_of(*a) : rows_of(*a);
    const int64_t bk = tb ? cols_of(*b) : rows_of(*b), bn = tb ? rows_of(*b) : cols_of(*b);
    if (am != M || bk != K || bn != N) fail(Errc::Internal, "cuda gemm: shapes do not fit");
    if (M == 0 || N == 0) return;
    Lock l(device);
    if (K == 0) return k_scale(l.stream(), out->dtype, out->data, M * N, beta);
    gemm_rm(l.dev(), out->dtype, ta != 0, tb != 0, alpha, a->data, cols_of(*a), b->data, cols_of(*b), beta, out->data,
            M, N, K);
  });
}

uint32_t alignment_of(const void *p) {
  uintptr_t v = reinterpret_cast<uintptr_t>(p);
  uint32_t a = 256;
  while (a > 4 && (v % a) != 0) a >>= 1;
  return a;
}

// The cuBLASLt plan of y^T (N x M) = w (N x K, from row-major w) * x^T for
// one shape, epilogue and alignment; ok == false when Lt has no algorithm.
LtPlan &lt_plan(Dev &d, const LtKey &key) {
  auto it = d.lt_plans.find(key);
  if (it != d.lt_plans.end()) return it->second;
  if (d.lt_plans.size() >= kMaxLtPlans) {
    for (auto &kv : d.lt_plans) {
      if (kv.second.desc) cublasLtMatmulDescDestroy(kv.second.desc);
      if (kv.second.a) cublasLtMatrixLayoutDestroy(kv.second.a);
      if (kv.second.b) cublasLtMatrixLayoutDestroy(kv.second.b);
      if (kv.second.c) cublasLtMatrixLayoutDestroy(kv.second.c);
    }
    d.lt_plans.clear();
  }
  LtPlan &p = d.lt_plans[key];
  const cublasComputeType_t ct = global().tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  const int64_t M = key.m, N = key.n, K = key.k;
  check_blas(cublasLtMatmulDescCreate(&p.desc, ct, CUDA_R_32F), "linear_forward: cuBLASLt descriptor");
  const cublasOperation_t tA = CUBLAS_OP_T, tB = CUBLAS_OP_N;
  const cublasLtEpilogue_t epi = static_cast<cublasLtEpilogue_t>(key.epilogue);
  check_blas(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &tA, sizeof(tA)), "linear_forward");
  check_blas(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &tB, sizeof(tB)), "linear_forward");
  check_blas(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)), "linear_forward");
  check_blas(cublasLtMatrixLayoutCreate(&p.a, CUDA_R_32F, K, N, K), "linear_forward: layout");
  check_blas(cublasLtMatrixLayoutCreate(&p.b, CUDA_R_32F, K, M, K), "linear_forward: layout");
  check_blas(cublasLtMatrixLayoutCreate(&p.c, CUDA_R_32F, N, M, N), "linear_forward: layout");
  cublasLtMatmulPreference_t pref = nullptr;
  check_blas(cublasLtMatmulPreferenceCreate(&pref), "linear_forward: preference");
  size_t ws = kWorkspace;
  uint32_t al = key.align;
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al, sizeof(al));
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al, sizeof(al));
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al, sizeof(al));
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al, sizeof(al));
  cublasLtMatmulHeuristicResult_t res;
  int found = 0;
  cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(d.lt, p.desc, p.a, p.b, p.c, p.c, pref, 1, &res, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  if (st == CUBLAS_STATUS_SUCCESS && found > 0) {
    p.algo = res.algo;
    p.ok = true;
  }
  return p;
}

int e_linear_forward(int device, int act, const V *y, const V *x, const V *w, const V *bias, nn_cuda_error *err) {
  return guard(err, [&] {
    const char *what = "linear_forward";
    need_float(what, y->dtype);
    if (x->dtype != y->dtype || w->dtype != y->dtype || (bias->data && bias->dtype != y->dtype))
      fail(Errc::Internal, "cuda linear_forward: mixed dtypes");
    need_contiguous(what, *x, "x");
    need_contiguous(what, *w, "w");
    need_contiguous(what, *y, "y");
    const int64_t M = rows_of(*y), N = cols_of(*y), K = cols_of(*x);
    if (rows_of(*x) != M || rows_of(*w) != N || cols_of(*w) != K)
      fail(Errc::Internal, "cuda linear_forward: shapes do not fit");
    if (M == 0 || N == 0) return;
    Lock l(device);
    Dev &d = l.dev();
    const void *b = bias->data;
    if (K == 0) {
      k_fill(l.stream(), *y, 0.0);
      return k_bias_act(l.stream(), y->dtype, act, y->data, b, M, N);
    }
    if (y->dtype == static_cast<int>(DType::F32) && !global().no_lt) {
      // Column-major view (see lt_plan): D = y^T [N x M] = op(A) op(B) with
      // A = w stored K x N (ld K), op T -> w [N x K]; B = x stored K x M
      // (ld K), op N -> x^T [K x M]; so D = w x^T = (x w^T)^T. The bias
      // epilogue adds bias[N] down each column of D (one entry per row of
      // D = per output feature), i.e. y[i][j] += bias[j].
      // The bias fuses (bias epilogue); every activation runs after, in our
      // kernel. cuBLASLt's RELU epilogues are not used: NVIDIA documents them
      // as max(x, 0) without saying what NaN gives, and ReLU must keep NaN
      // (torch.relu). The bias epilogue needs a 16-byte aligned bias
      // (misaligned biases are added by our kernel instead).
      const bool fuse_bias = b != nullptr && alignment_of(b) >= 16;
      cublasLtEpilogue_t epi = fuse_bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
      uint32_t al = std::min({alignment_of(x->data), alignment_of(w->data), alignment_of(y->data)});
      LtPlan &p = lt_plan(d, LtKey{M, N, K, static_cast<int>(epi), al});
      if (p.ok) {
        cublasStatus_t st = CUBLAS_STATUS_SUCCESS;
        if (fuse_bias) st = cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &b, sizeof(b));
        const float one = 1.f, zero = 0.f;
        if (st == CUBLAS_STATUS_SUCCESS)
          st = cublasLtMatmul(d.lt, p.desc, &one, w->data, p.a, x->data, p.b, &zero, y->data, p.c, y->data, p.c,
                              &p.algo, ctx_ws(d, l.ctx()), kWorkspace, l.stream());
        if (st == CUBLAS_STATUS_SUCCESS) {
          check_launch("linear_forward (cuBLASLt)");
          const void *rest_bias = fuse_bias ? nullptr : b;
          if (rest_bias || act != static_cast<int>(Act::Identity))
            k_bias_act(l.stream(), y->dtype, act, y->data, rest_bias, M, N);
          return;
        }
        // Nothing was launched: fall back to cuBLAS + our kernel for this
        // plan from now on (any status: the fallback reports real errors).
        p.ok = false;
        if (std::getenv("NN_CUDA_DEBUG"))
          std::fprintf(stderr, "libnn cuda: cuBLASLt matmul %lldx%lldx%lld failed (%s); using cublasSgemm\n",
                       (long long)M, (long long)N, (long long)K, cublasGetStatusName(st));
      }
    }
    gemm_rm(d, y->dtype, false, true, 1.0, x->data, K, w->data, K, 0.0, y->data, M, N, K);
    k_bias_act(l.stream(), y->dtype, act, y->data, b, M, N);
  });
}

int e_activation_forward(int device, int act, const V *y, const V *x, nn_cuda_error *err) {
  return guard(err, [&] {
    need_float("activation_forward", y->dtype);
    need_contiguous("activation_forward", *x, "x");
    need_contiguous("activation_forward", *y, "y");
    const int64_t n = numel(*y);
    if (n == 0) return;
    const int64_t cols = cols_of(*y), rows = n / cols;
    Lock l(device);
    k_act_forward(l.stream(), y->dtype, act, y->data, x->data, rows, cols);
  });
}

int e_activation_backward(int device, int act, const V *dx, const V *dy, const V *x, const V *y, nn_cuda_error *err) {
  return guard(err, [&] {
    (void)x;
    need_float("activation_backward", dx->dtype);
    need_contiguous("activation_backward", *dx, "dx");
    need_contiguous("activation_backward", *dy, "dy");
    const int64_t n = numel(*dx);
    if (n == 0) return;
    const int64_t cols = cols_of(*dx), rows = n / cols;
    if (act != static_cast<int>(Act::Identity) && act != static_cast<int>(Act::Step)) {
      if (y->data == nullptr) fail(Errc::Internal, "cuda activation_backward: y is missing");
      need_contiguous("activation_backward", *y, "y");
    }
    Lock l(device);
    k_act_backward(l.stream(), dx->dtype, act, dx->data, dy->data, y->data, rows, cols);
  });
}

int e_sum_rows(int device, const V *db, const V *g, double beta, nn_cuda_error *err) {
  return guard(err, [&] {
    need_float("sum_rows", db->dtype);
    need_contiguous("sum_rows", *g, "g");
    const int64_t N = cols_of(*g), M = numel(*g) / std::max<int64_t>(N, 1);
    if (numel(*db) != N) fail(Errc::Internal, "cuda sum_rows: db does not fit g");
    if (N == 0) return;
    Lock l(device);
    k_sum_rows(l.stream(), db->dtype, db->data, g->data, M, N, beta);
  });
}

int e_gather_rows_device(int device, const V *out, const V *src, const V *idx, int64_t n, nn_cuda_error *err) {
  return guard(err, [&] {
    need_contiguous("gather_rows_device", *out, "out");
    need_contiguous("gather_rows_device", *src, "src");
    if (n == 0) return;
    need_contiguous("gather_rows_device", *idx, "idx");
    if (idx->dtype != static_cast<int>(DType::I64) || numel(*idx) < n || idx->data == nullptr)
      fail(Errc::Internal, "cuda gather_rows_device: idx must be int64 with >= %lld elements", (long long)n);
    const int64_t src_rows = src->ndim > 0 ? src->shape[0] : 1;
    const size_t row_bytes =
        src_rows > 0 ? static_cast<size_t>(numel(*src) / src_rows) * elem_size(src->dtype) : 0;
    Lock l(device);
    k_gather_rows(l.stream(), out->data, src->data, static_cast<const int64_t *>(idx->data), n, row_bytes);
  });
}

// Checks of a loss call; c: value = c * sum of the kernel's terms; gc: the
// gradient factor (same as the CPU's).
void loss_factors(int kind, const V *pred, const V *target, const V *grad, double grad_scale, double &c,
                  double &gc) {
  need_float("loss", pred->dtype);
  need_contiguous("loss", *pred, "pred");
  need_contiguous("loss", *target, "target");
  if (grad->data) need_contiguous("loss", *grad, "grad");
  const LossKind lk = static_cast<LossKind>(kind);
  if (lk == LossKind::CrossEntropy) {
    if (pred->ndim != 2) fail(Errc::Internal, "cuda loss: cross-entropy needs pred [n, c]");
    bool ids = target->dtype == static_cast<int>(DType::I64) && numel(*target) == pred->shape[0];
    if (!ids && (target->dtype != pred->dtype || numel(*target) != numel(*pred)))
      fail(Errc::Internal, "cuda loss: cross-entropy target does not fit pred");
  } else if (target->dtype != pred->dtype || numel(*target) != numel(*pred)) {
    fail(Errc::Internal, "cuda loss: target does not fit pred");
  }
  const int64_t numel_p = numel(*pred);
  c = 1;
  gc = 1;
  switch (lk) {
    case LossKind::MSE:
    case LossKind::SSE:
    case LossKind::HalfMSE: {
      const double rows = lk == LossKind::HalfMSE ? static_cast<double>(pred->ndim == 0 ? 1 : pred->shape[0]) : 0;
      c = lk == LossKind::MSE ? 1.0 / static_cast<double>(numel_p) : lk == LossKind::SSE ? 1.0 : 0.5 / rows;
      gc = 2.0 * c * grad_scale;
      break;
    }
    case LossKind::BCE:
    case LossKind::BCEWithLogits:
      c = 1.0 / static_cast<double>(numel_p);
      gc = c * grad_scale;
      break;
    case LossKind::CrossEntropy:
      c = 1.0 / static_cast<double>(pred->shape[0]);
      gc = c * grad_scale;
      break;
    default:
      fail(Errc::Internal, "cuda loss: unknown loss kind %d", kind);
  }
}

int e_loss(int device, int kind, const V *pred, const V *target, double *value_accum, const V *grad,
           double grad_scale, nn_cuda_error *err) {
  return guard(err, [&] {
    double c, gc;
    loss_factors(kind, pred, target, grad, grad_scale, c, gc);
    drain(device);
    Lock l(device);
    l.no_capture("loss");
    Dev &d = l.dev();
    const cudaStream_t s = l.stream();
    char *scratch = ctx_scratch(d, l.ctx());
    double *partials = ctx_partials(d, l.ctx());
    double *sum = reinterpret_cast<double *>(scratch);
    auto *bad = reinterpret_cast<unsigned long long *>(scratch + 8);
    check(cudaMemsetAsync(scratch, 0, 8, s), "loss");
    check(cudaMemsetAsync(scratch + 8, 0xff, 8, s), "loss");
    k_loss(s, pred->dtype, kind, *pred, *target, grad->data, gc, partials, sum, 1.0, false, bad);
    // The one synchronisation of a training step: the loss value.
    check(cudaMemcpyAsync(d.pinned, scratch, 16, cudaMemcpyDeviceToHost, s), "loss");
    check(cudaStreamSynchronize(s), "loss");
    double host_sum;
    unsigned long long bad_row;
    std::memcpy(&host_sum, d.pinned, 8);
    std::memcpy(&bad_row, static_cast<char *>(d.pinned) + 8, 8);
    if (bad_row != ~0ull) {
      int64_t cls = 0;
      check(cudaMemcpy(&cls, static_cast<const int64_t *>(target->data) + bad_row, 8, cudaMemcpyDeviceToHost), "loss");
      fail(Errc::InvalidArgument, "target[%lld] is class %lld; class ids must be in 0..%lld",
           static_cast<long long>(bad_row), static_cast<long long>(cls), static_cast<long long>(pred->shape[1] - 1));
    }
    *value_accum += host_sum * c;
  });
}

int e_loss_device(int device, int kind, const V *pred, const V *target, const V *accum, const V *grad,
                  double grad_scale, nn_cuda_error *err) {
  return guard(err, [&] {
    if (accum->dtype != static_cast<int>(DType::F64) || numel(*accum) != 1 || accum->data == nullptr)
      fail(Errc::Internal, "cuda loss_device: accum must be one float64 element");
    double c, gc;
    loss_factors(kind, pred, target, grad, grad_scale, c, gc);
    Lock l(device);
    Dev &d = l.dev();
    char *scratch = ctx_scratch(d, l.ctx());
    double *partials = ctx_partials(d, l.ctx());
    auto *bad = reinterpret_cast<unsigned long long *>(scratch + 8);
    check(cudaMemsetAsync(scratch + 8, 0xff, 8, l.stream()), "loss");
    // *accum += c * sum on the stream: no read-back (the caller validated class ids).
    k_loss(l.stream(), pred->dtype, kind, *pred, *target, grad->data, gc, partials,
           static_cast<double *>(accum->data), c, true, bad);
  });
}

void check_param(const V &param, const char *what) {
  if (param.dtype != static_cast<int>(DType::F32) && param.dtype != static_cast<int>(DType::F64))
    fail(Errc::DType, "cuda %s: parameters of dtype %s are not supported (float32 or float64)", what,
         dt_name(param.dtype));
  if (numel(param) > 0 && param.data == nullptr) fail(Errc::Internal, "cuda %s: parameter is missing", what);
  if (!contiguous(param)) fail(Errc::Internal, "cuda %s: parameter is not contiguous", what);
}

void check_operand(const V &v, const V &param, const char *what, const char *name) {
  if (v.data == nullptr) fail(Errc::Internal, "cuda %s: %s is missing", what, name);
  if (v.dtype != param.dtype) fail(Errc::Internal, "cuda %s: %s has another dtype than the parameter", what, name);
  if (numel(v) != numel(param)) fail(Errc::Internal, "cuda %s: %s has another size than the parameter", what, name);
  if (!contiguous(v)) fail(Errc::Internal, "cuda %s: %s is not contiguous", what, name);
}

int e_sgd_update(int device, const nn_cuda_sgd *p, const V *param, const V *grad, const V *m, nn_cuda_error *err) {
  return guard(err, [&] {
    check_param(*param, "sgd_update");
    const int64_t n = numel(*param);
    if (n == 0) return;
    check_operand(*grad, *param, "sgd_update", "grad");
    if (p->momentum != 0) check_operand(*m, *param, "sgd_update", "momentum buffer");
    Lock l(device);
    k_sgd(l.stream(), param->dtype, *p, param->data, grad->data, p->momentum != 0 ? m->data : nullptr, n);
  });
}

void check_adam_step(const nn_cuda_adam &p, const char *what) {
  if (p.step < 1) fail(Errc::Internal, "cuda %s: step is %lld; it must be >= 1", what, (long long)p.step);
}

int e_adam_update(int device, const nn_cuda_adam *p, const V *param, const V *grad, const V *m, const V *v,
                  nn_cuda_error *err) {
  return guard(err, [&] {
    check_param(*param, "adam_update");
    const int64_t n = numel(*param);
    if (n == 0) return;
    check_operand(*grad, *param, "adam_update", "grad");
    check_operand(*m, *param, "adam_update", "exp_avg");
    check_operand(*v, *param, "adam_update", "exp_avg_sq");
    check_adam_step(*p, "adam_update");
    Lock l(device);
    k_adam(l.stream(), param->dtype, *p, param->data, grad->data, m->data, v->data, n);
  });
}

// The multi-tensor updates validate every operand before the first launch
// (an argument error updates nothing), then enqueue one launch per chunk.
int e_sgd_update_many(int device, const nn_cuda_sgd *p, const V *params, const V *grads, const V *m, size_t n,
                      nn_cuda_error *err) {
  return guard(err, [&] {
    if (n == 0) return;
    const bool use_m = p->momentum != 0;
    if (!params || !grads || (use_m && !m)) fail(Errc::Internal, "cuda sgd_update_many: a view array is missing");
    bool any = false;
    for (size_t i = 0; i < n; ++i) {
      check_param(params[i], "sgd_update_many");
      if (numel(params[i]) == 0) continue;
      check_operand(grads[i], params[i], "sgd_update_many", "grad");
      if (use_m) check_operand(m[i], params[i], "sgd_update_many", "momentum buffer");
      any = true;
    }
    if (!any) return;
    Lock l(device);
    k_sgd_many(l.stream(), *p, params, grads, use_m ? m : nullptr, n);
  });
}

int e_adam_update_many(int device, const nn_cuda_adam *p, const V *params, const V *grads, const V *m, const V *v,
                       size_t n, nn_cuda_error *err) {
  return guard(err, [&] {
    if (n == 0) return;
    if (!params || !grads || !m || !v) fail(Errc::Internal, "cuda adam_update_many: a view array is missing");
    check_adam_step(*p, "adam_update_many");
    bool any = false;
    for (size_t i = 0; i < n; ++i) {
      check_param(params[i], "adam_update_many");
      if (numel(params[i]) == 0) continue;
      check_operand(grads[i], params[i], "adam_update_many", "grad");
      check_operand(m[i], params[i], "adam_update_many", "exp_avg");
      check_operand(v[i], params[i], "adam_update_many", "exp_avg_sq");
      any = true;
    }
    if (!any) return;
    Lock l(device);
    k_adam_many(l.stream(), *p, params, grads, m, v, n);
  });
}

int e_all_finite(int device, const V *x, int *out, nn_cuda_error *err) {
  return guard(err, [&] {
    need_contiguous("all_finite", *x, "x");
    *out = 1;
    if (!is_float_dt(x->dtype)) return;
    if (x->dtype != static_cast<int>(DType::F32) && x->dtype != static_cast<int>(DType::F64))
      fail(Errc::Unsupported, "cuda all_finite: dtype %s is not supported", dt_name(x->dtype));
    const int64_t n = numel(*x);
    if (n == 0) return;
    drain(device);
    Lock l(device);
    l.no_capture("all_finite");
    Dev &d = l.dev();
    const cudaStream_t s = l.stream();
    int *flag = reinterpret_cast<int *>(ctx_scratch(d, l.ctx()) + 16);
    check(cudaMemsetAsync(flag, 0, sizeof(int), s), "all_finite");
    k_nonfinite(s, x->dtype, x->data, n, flag);
    check(cudaMemcpyAsync(d.pinned, flag, sizeof(int), cudaMemcpyDeviceToHost, s), "all_finite");
    check(cudaStreamSynchronize(s), "all_finite");
    int f;
    std::memcpy(&f, d.pinned, sizeof(int));
    *out = f ? 0 : 1;
  });
}

int e_all_finite_many(int device, const V *xs, size_t n, int *out, nn_cuda_error *err) {
  return guard(err, [&] {
    *out = 1;
    bool any = false;
    for (size_t i = 0; i < n; ++i) {
      const V &x = xs[i];
      need_contiguous("all_finite_many", x, "x");
      if (!is_float_dt(x.dtype) || numel(x) == 0) continue;
      if (x.dtype != static_cast<int>(DType::F32) && x.dtype != static_cast<int>(DType::F64))
        fail(Errc::Unsupported, "cuda all_finite: dtype %s is not supported", dt_name(x.dtype));
      any = true;
    }
    if (!any) return;
    drain(device);
    Lock l(device);
    l.no_capture("all_finite_many");
    Dev &d = l.dev();
    const cudaStream_t s = l.stream();
    int *flag = reinterpret_cast<int *>(ctx_scratch(d, l.ctx()) + 16);
    check(cudaMemsetAsync(flag, 0, sizeof(int), s), "all_finite");
    for (size_t i = 0; i < n; ++i)
      if (is_float_dt(xs[i].dtype) && numel(xs[i]) > 0) k_nonfinite(s, xs[i].dtype, xs[i].data, numel(xs[i]), flag);
    // The one synchronisation of the check, whatever the number of tensors.
    check(cudaMemcpyAsync(d.pinned, flag, sizeof(int), cudaMemcpyDeviceToHost, s), "all_finite");
    check(cudaStreamSynchronize(s), "all_finite");
    int f;
    std::memcpy(&f, d.pinned, sizeof(int));
    *out = f ? 0 : 1;
  });
}

// ---------------------------------------------------------------- CUDA Graphs

// A recorded graph and the stream it belongs to: its kernels use that
// stream's buffers (workspace, loss partials, flags), so it replays only
// there, ordered with every other use of them.
struct Graph {
  cudaGraphExec_t exec = nullptr;
  Ctx *ctx = nullptr;
};

// Ends this thread's capture on d (the caller holds d's mutex and made d
// current): returns the status of cudaStreamEndCapture and the graph (NULL
// when the capture was invalidated), destroys the capture stream, and frees
// the deferred pointers on the stream the capture started from (free_on);
// `freed` says whether there were any; *ctx is that stream.
cudaError_t finish_capture(Dev &d, cudaGraph_t *graph, bool *freed, Ctx **ctx) {
  Capture &c = t_capture;
  cudaGraph_t g = nullptr;
  const cudaError_t e = cudaStreamEndCapture(c.stream, &g);
  cudaGetLastError();
  cudaStreamDestroy(c.stream);  // nothing ran on it; released at once
  Ctx *base = c.ctx ? c.ctx : &d.main;
  c.dev = nullptr;
  c.ctx = nullptr;
  c.stream = nullptr;
  *freed = c.freed;
  for (int i = 0; i < c.ndeferred; ++i) free_on(d, *base, c.deferred[i]);
  c.ndeferred = 0;
  c.freed = false;
  cudaGetLastError();
  *graph = e == cudaSuccess ? g : nullptr;
  if (e != cudaSuccess && g) cudaGraphDestroy(g);
  *ctx = base;
  return e;
}

int e_record_begin(int device, nn_cuda_error *err) {
  return guard(err, [&] {
    if (t_capture.dev) fail(Errc::Unsupported, "cuda record_begin: this thread is already recording a CUDA graph");
    Lock l(device);
    cudaStream_t s = nullptr;
    check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "record_begin: capture stream");
    // Thread-local: only this thread's unsafe calls (cudaMalloc, syncs) are
    // refused; other threads keep working on their streams.
    const cudaError_t e = cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal);
    if (e != cudaSuccess) {
      cudaStreamDestroy(s);
      check(e, "record_begin: cudaStreamBeginCapture");
    }
    t_capture.ctx = &l.ctx();  // before dev: cur_ctx is the same either way (bind refuses switching while recording)
    t_capture.dev = &l.dev();
    t_capture.stream = s;
    t_capture.freed = false;
    t_capture.ndeferred = 0;
  });
}

int e_record_end(int device, void **graph, nn_cuda_error *err) {
  return guard(err, [&] {
    *graph = nullptr;
    Lock l(device);
    Dev &d = l.dev();
    if (!capturing(d)) fail(Errc::Internal, "cuda record_end: this thread records no CUDA graph on device %d", device);
    cudaGraph_t g = nullptr;
    bool freed = false;
    Ctx *ctx = nullptr;
    const cudaError_t e = finish_capture(d, &g, &freed, &ctx);
    if (e != cudaSuccess) check(e, "record_end: the CUDA graph capture failed");
    if (!g) fail(Errc::Device, "cuda record_end: the CUDA graph capture was invalidated");
    if (freed) {
      cudaGraphDestroy(g);
      fail(Errc::Unsupported, "cuda record_end: device memory was freed while recording, and the CUDA graph "
                              "might use it");
    }
    std::unique_ptr<Graph> h;
    try {
      h.reset(new Graph);
    } catch (...) {
      cudaGraphDestroy(g);
      throw;
    }
    h->ctx = ctx;
    const cudaError_t ie = cudaGraphInstantiate(&h->exec, g, 0);
    cudaGraphDestroy(g);  // the executable graph does not need it
    check(ie, "record_end: cudaGraphInstantiate");
    *graph = static_cast<void *>(h.release());
  });
}

void e_record_abort(int device, const char *why) {
  try {
    Global &g = global();
    if (device < 0 || device >= g.count) return;
    Dev &d = g.devs[device];
    if (capturing(d)) {  // else record_begin or record_end failed: nothing left to end
      std::lock_guard<std::mutex> lk(d.mu);
      set_device(device);
      cudaGraph_t graph = nullptr;
      bool freed = false;
      Ctx *ctx = nullptr;
      finish_capture(d, &graph, &freed, &ctx);
      if (graph) cudaGraphDestroy(graph);
      cudaGetLastError();
    }
    if (std::getenv("NN_CUDA_DEBUG"))
      std::fprintf(stderr, "libnn cuda: CUDA graph recording on device %d dropped: %s\n", device,
                   why && why[0] ? why : "aborted");
  } catch (...) {
  }
}

int e_replay(int device, void *graph, nn_cuda_error *err) {
  return guard(err, [&] {
    if (!graph) fail(Errc::Internal, "cuda replay: no graph");
    const Graph &g = *static_cast<const Graph *>(graph);
    Lock l(device);
    l.no_capture("replay");
    // On the stream it was recorded on, which must be this thread's current
    // one: ordered with every other call of this thread, and with every
    // other use of that stream's buffers.
    if (&l.ctx() != g.ctx)
      fail(Errc::Internal, "cuda replay: the CUDA graph was recorded on another stream than this thread's current "
                           "one");
    check(cudaGraphLaunch(g.exec, g.ctx->stream), "replay: cudaGraphLaunch");
  });
}

void e_release(int device, void *graph) {
  if (!graph) return;
  Graph *g = static_cast<Graph *>(graph);
  try {
    Global &gl = global();
    if (device >= 0 && device < gl.count && gl.devs[device].ready) {
      std::lock_guard<std::mutex> lk(gl.devs[device].mu);
      // A launch still in flight completes first (the runtime frees it then).
      if (set_device(device)) cudaGraphExecDestroy(g->exec);
      cudaGetLastError();
    }
  } catch (...) {
  }
  delete g;
}

// ---------------------------------------------------------------- streams (ABI 4)

int e_stream_create(int device, void **stream, nn_cuda_error *err) {
  return guard(err, [&] {
    *stream = nullptr;
    Global &g = global();
    if (device < 0 || device >= g.count)
      fail(Errc::Device, "cuda: device index %d outside 0..%d", device, g.count - 1);
    Ctx *c = new Ctx;  // the CUDA stream and its buffers come on first use
    c->dev = &g.devs[device];
    c->device = device;
    *stream = c;
  });
}

void e_stream_destroy(int device, void *stream) {
  Ctx *c = static_cast<Ctx *>(stream);
  if (!c) return;
  try {
    Global &g = global();
    if (c->stream && device >= 0 && device < g.count && c->dev == &g.devs[device]) {
      Dev &d = *c->dev;
      std::lock_guard<std::mutex> lk(d.mu);
      if (set_device(device)) {
        // Every use of these buffers was enqueued on c->stream (or in a graph
        // replayed there, released before): free them there, in order.
        if (c->ws) cudaFreeAsync(c->ws, c->stream);
        if (c->scratch) cudaFreeAsync(c->scratch, c->stream);
        if (c->partials) cudaFreeAsync(c->partials, c->stream);
        // Both return at once; the resources go when the work in flight is done.
        cudaEventDestroy(c->done);
        cudaStreamDestroy(c->stream);
      }
      cudaGetLastError();  // during exit the runtime may be gone: nothing to do
    }
  } catch (...) {
  }
  delete c;
}

int e_stream_bind(int device, void *stream, nn_cuda_error *err) {
  return guard(err, [&] {
    Ctx *c = static_cast<Ctx *>(stream);
    if (!c) fail(Errc::Internal, "cuda stream_bind: no stream");
    Lock l(device);
    Dev &d = l.dev();
    if (c->dev != &d)
      fail(Errc::Internal, "cuda stream_bind: the stream belongs to device %d, not %d", c->device, device);
    Binds &b = t_binds;
    if (b.n >= kMaxBinds)
      fail(Errc::Unsupported, "cuda stream_bind: more than %d nested stream bindings on one thread", kMaxBinds);
    Ctx &prev = cur_ctx(d);
    if (c != &prev) {
      // The capture's buffers are those of the stream it started on.
      if (capturing(d))
        fail(Errc::Unsupported, "cuda stream_bind: cannot switch streams while recording a CUDA graph");
      if (!c->stream) {
        cudaStream_t s = nullptr;
        cudaEvent_t e = nullptr;
        check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "stream_bind: cudaStreamCreateWithFlags");
        const cudaError_t ee = cudaEventCreateWithFlags(&e, cudaEventDisableTiming);
        if (ee != cudaSuccess) {
          cudaStreamDestroy(s);
          check(ee, "stream_bind: cudaEventCreateWithFlags");
        }
        c->stream = s;
        c->done = e;
      }
      // Everything enqueued before this call, by any thread, comes first.
      wait_for(*c, d.main, "stream_bind");
      if (&prev != &d.main) wait_for(*c, prev, "stream_bind");
    }
    b.e[b.n].dev = &d;
    b.e[b.n].ctx = c;
    ++b.n;
  });
}

void e_stream_unbind(int device, void *stream) {
  Ctx *c = static_cast<Ctx *>(stream);
  try {
    Global &g = global();
    if (!c || device < 0 || device >= g.count) return;
    Dev &d = g.devs[device];
    Binds &b = t_binds;
    int i = b.n - 1;  // the innermost binding (StreamBinding unbinds in LIFO order)
    while (i >= 0 && !(b.e[i].dev == &d && b.e[i].ctx == c)) --i;
    if (i < 0) return;  // not bound by this thread: nothing to undo
    std::lock_guard<std::mutex> lk(d.mu);
    for (int k = i; k + 1 < b.n; ++k) b.e[k] = b.e[k + 1];
    --b.n;
    Ctx &now = cur_ctx(d);
    if (&now == c) return;  // still current (nested binding of the same stream): nothing to join
    // Everything enqueued on c comes before whatever is enqueued after this
    // call, on the device stream and on the stream bound before. If that
    // cannot be enqueued (a broken context), the host waits for c instead.
    bool ok = set_device(device) && cudaEventRecord(c->done, c->stream) == cudaSuccess &&
              cudaStreamWaitEvent(d.main.stream, c->done, 0) == cudaSuccess &&
              (&now == &d.main || cudaStreamWaitEvent(now.stream, c->done, 0) == cudaSuccess);
    if (!ok) {
      cudaGetLastError();
      cudaStreamSynchronize(c->stream);
      cudaGetLastError();
    }
  } catch (...) {
  }
}

const nn_cuda_iface kTable = {
    NN_CUDA_BUILD_ID,
    e_probe,
    e_allocate,
    e_deallocate,
    e_copy_to_host,
    e_copy_from_host,
    e_copy,
    e_fill,
    e_unary,
    e_binary,
    e_reduce,
    e_matmul,
    e_gemm,
    e_linear_forward,
    e_activation_forward,
    e_activation_backward,
    e_sum_rows,
    e_loss,
    e_sgd_update,
    e_adam_update,
    e_all_finite,
    e_gather_rows_device,
    e_loss_device,
    e_all_finite_many,
    e_record_begin,
    e_record_end,
    e_record_abort,
    e_replay,
    e_release,
    e_stream_create,
    e_stream_destroy,
    e_stream_bind,
    e_stream_unbind,
    e_sgd_update_many,
    e_adam_update_many,
};

}  // namespace
}  // namespace cuda
}  // namespace nn

extern "C" __attribute__((visibility("default"))) const nn_cuda_iface *nn_cuda_backend_table(void) {
  return &nn::cuda::kTable;
}
