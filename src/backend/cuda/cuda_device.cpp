// libnn_cuda.so: device discovery and initialisation, the basics of
// cuda_internal.hpp, this thread's current stream, the device lock, device
// memory and host transfers (the table's memory entries), and the cuBLAS
// handle. The state itself is described in cuda_state.hpp.
#include <dlfcn.h>

#include <cstdlib>
#include <cstring>

#include "backend/cuda/cuda_state.hpp"

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

void check_blas(cublasStatus_t st, const char *what) {
  if (st == CUBLAS_STATUS_SUCCESS) return;
  fail(st == CUBLAS_STATUS_ALLOC_FAILED ? Errc::OutOfMemory : Errc::Device, "cuda %s: cuBLAS %s (%s)", what,
       cublasGetStatusString(st), cublasGetStatusName(st));
}

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

static void init_dev(Dev &d, int index) {
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

thread_local Capture t_capture;
thread_local Binds t_binds;

Ctx &cur_ctx(Dev &d) {
  const Binds &b = t_binds;
  for (int i = b.n - 1; i >= 0; --i)
    if (b.e[i].dev == &d) return *b.e[i].ctx;
  return d.main;
}

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

bool set_device(int index) {
  int cur = -1;
  if (cudaGetDevice(&cur) == cudaSuccess && cur == index) return true;
  if (cudaSetDevice(index) == cudaSuccess) return true;
  cudaGetLastError();
  return false;
}

Lock::Lock(int index) {
  Global &g = global();
  if (index < 0 || index >= g.count)
    fail(Errc::Device, "cuda: device index %d outside 0..%d", index, g.count - 1);
  d_ = &g.devs[index];
  lk_ = std::unique_lock<std::mutex>(d_->mu);
  int cur = -1;
  if (cudaGetDevice(&cur) != cudaSuccess || cur != index) check(cudaSetDevice(index), "cudaSetDevice");
  if (!d_->ready) init_dev(*d_, index);
}

void drain(int index) {
  cudaStream_t s = nullptr;
  {
    Lock l(index);
    if (capturing(l.dev())) return;
    s = l.stream();
  }
  check(cudaStreamSynchronize(s), "cudaStreamSynchronize");
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

// ---------------------------------------------------------------- memory

void *allocate(int device, size_t bytes) {
  Lock l(device);
  return dev_alloc(l.dev(), bytes);
}

void deallocate(int device, void *p) noexcept {
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
    // every earlier use of p (free_on; the argument is at cuda_graphs.cpp).
    if (set_device(device)) free_on(d, cur_ctx(d), p);
    cudaGetLastError();  // during exit the runtime may be gone: nothing to do
  } catch (...) {
  }
}

void copy_to_host(int device, void *host_dst, const void *src, size_t bytes) {
  if (bytes == 0) return;
  drain(device);
  Lock l(device);
  l.no_capture("copy_to_host");
  check(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, l.stream()), "copy to host");
  check(cudaStreamSynchronize(l.stream()), "copy to host");
}

void copy_from_host(int device, void *dst, const void *host_src, size_t bytes) {
  if (bytes == 0) return;
  drain(device);
  Lock l(device);
  l.no_capture("copy_from_host");
  check(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, l.stream()), "copy from host");
  // The caller may reuse its buffer on return, whatever kind of memory it is.
  check(cudaStreamSynchronize(l.stream()), "copy from host");
}

void add_device_entries(nn_cuda_iface &t) {
  t.probe = [](int *count, nn_cuda_error *err) {
    Global &g = global();
    if (count) *count = g.count;
    if (g.rc != NN_CUDA_PROBE_OK) write_msg(err, g.message.c_str());
    return g.rc;
  };
  t.allocate = [](int device, size_t bytes, void **out, nn_cuda_error *err) {
    return guard(err, [&] { *out = allocate(device, bytes); });
  };
  t.deallocate = deallocate;
  t.copy_to_host = [](int device, void *host_dst, const void *src, size_t bytes, nn_cuda_error *err) {
    return guard(err, [&] { copy_to_host(device, host_dst, src, bytes); });
  };
  t.copy_from_host = [](int device, void *dst, const void *host_src, size_t bytes, nn_cuda_error *err) {
    return guard(err, [&] { copy_from_host(device, dst, host_src, bytes); });
  };
}

}  // namespace cuda
}  // namespace nn
