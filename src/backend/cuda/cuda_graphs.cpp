// libnn_cuda.so: recording a thread's calls as a CUDA Graph and replaying
// it (record_begin .. record_end, replay, release), and model streams
// (stream_create .. stream_destroy, bound to a thread for the length of a
// plan call by stream_bind / stream_unbind). cuda_plan.cpp uses both as a
// model's plan state: its stream and its recorded training steps.
//
// Recording: record_begin starts a capture by the calling thread on
// `device`: from then on every call this thread makes for that device
// enqueues its work on a capture stream of its own
// (cudaStreamCaptureModeThreadLocal), where nothing runs; other threads keep
// using their streams. While it lasts, a call of this thread for this device
// that would allocate device memory or wait for the device (allocate, the
// host copies, loss with its value, all_finite, a temporary) fails with
// Unsupported, and deallocate is deferred to the end of the capture. One
// capture per thread at a time. record_end ends it and instantiates the
// graph; it fails (and cleans up: nothing to abort) when the capture was
// invalidated, when a call failed during it, or when this thread freed
// device memory during it (the graph might use that memory). record_abort
// ends this thread's capture on `device`, if any, and drops it; with
// NN_CUDA_DEBUG=1 it prints `why`. replay launches the graph on the stream
// it was recorded for, which must be the caller's current one. release
// frees the graph (a launch in flight completes first); NULL is harmless.
#include <cstdlib>
#include <memory>

#include "backend/cuda/cuda_state.hpp"

namespace nn {
namespace cuda {

// ---------------------------------------------------------------- streams: the rules
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

// Makes `waiter` wait for everything enqueued on `c` so far (the caller holds
// the device mutex, so no other record of c.done comes in between).
static void wait_for(Ctx &waiter, Ctx &c, const char *what) {
  check(cudaEventRecord(c.done, c.stream), what);
  check(cudaStreamWaitEvent(waiter.stream, c.done, 0), what);
}

// ---------------------------------------------------------------- CUDA Graphs

// A recorded graph and the stream it belongs to: its kernels use that
// stream's buffers (workspace, loss partials, flags), so it replays only
// there, ordered with every other use of them.
namespace {
struct Graph {
  cudaGraphExec_t exec = nullptr;
  Ctx *ctx = nullptr;
};
}  // namespace

// Ends this thread's capture on d (the caller holds d's mutex and made d
// current): returns the status of cudaStreamEndCapture and the graph (NULL
// when the capture was invalidated), destroys the capture stream, and frees
// the deferred pointers on the stream the capture started from (free_on);
// `freed` says whether there were any; *ctx is that stream.
static cudaError_t finish_capture(Dev &d, cudaGraph_t *graph, bool *freed, Ctx **ctx) {
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

void record_begin(int device) {
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
}

void *record_end(int device) {
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
  return static_cast<void *>(h.release());
}

void record_abort(int device, const char *why) noexcept {
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

void replay(int device, void *graph) {
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
}

void release(int device, void *graph) noexcept {
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

// ---------------------------------------------------------------- model streams
//
// stream_create makes a handle (host memory only: the CUDA stream, its event
// and its buffers are created on first bind / first use). stream_destroy
// frees the buffers on the stream (stream-ordered) and destroys stream and
// event (work in flight completes first); no thread may have it bound.
// stream_bind pushes a binding for this thread: the stream waits (event, no
// host wait) for the device stream and for the stream bound before on this
// device, if any; binding the stream already current is a plain push. While
// this thread records on the device only the stream the recording was
// started on may be bound (others: Unsupported). stream_unbind pops this
// thread's innermost binding, which must be `stream`, and makes the device
// stream (and the stream bound before, if any) wait for it. A graph recorded
// while a stream was bound replays only on that stream (replay fails with
// Internal elsewhere). deallocate while a stream is bound frees on it, after
// it waits for the device stream (free_on).

void *stream_create(int device) {
  Global &g = global();
  if (device < 0 || device >= g.count)
    fail(Errc::Device, "cuda: device index %d outside 0..%d", device, g.count - 1);
  Ctx *c = new Ctx;  // the CUDA stream and its buffers come on first use
  c->dev = &g.devs[device];
  c->device = device;
  return c;
}

void stream_destroy(int device, void *stream) noexcept {
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

void stream_bind(int device, void *stream) {
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
}

void stream_unbind(int device, void *stream) noexcept {
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

}  // namespace cuda
}  // namespace nn
