// The Backend interface: what a device must do for libnn. Layers and tensor
// operations (src/core, src/nn) call these; src/backend/cpu (oneDNN) and
// src/backend/cuda implement them. Backends see raw strided views, never
// Tensor objects, and all operands of one call live on the backend's device.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/dtype.hpp"
#include "core/shape.hpp"

namespace nn {

enum class DeviceType : int32_t { CPU = 1, CUDA = 2 };  // values of nn_device_type

struct Device {
  DeviceType type = DeviceType::CPU;
  int32_t index = 0;
  bool operator==(const Device &o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device &o) const { return !(*this == o); }
  std::string str() const;  // "cpu", "cuda:0"
};

// A strided view of memory on the backend's device. Strides are in elements
// and may be 0 (broadcast); `data` points at the first element.
struct View {
  void *data = nullptr;
  DType dtype = DType::F32;
  Shape shape;
  Shape strides;
  int64_t numel() const { return shape.numel(); }
  bool contiguous() const;  // row-major with no gaps (size-1 dims ignored)
};

// Values of nn_unary_op first; LEAKY_RELU (slope 0.01) is internal.
enum class UnaryOp { Neg = 0, Abs, Exp, Log, Sqrt, Relu, Sigmoid, Tanh, Step, LeakyRelu };
enum class BinaryOp { Add = 0, Sub, Mul, Div, Max, Min };  // values of nn_binary_op
enum class ReduceOp { Sum = 0, Mean, Max, Min, Argmax };    // values of nn_reduce_op
// Values of nn_activation.
enum class Act { Identity = 0, Relu, Sigmoid, Tanh, Step, Softmax, LeakyRelu };
// Values of nn_loss.
enum class LossKind { MSE = 0, SSE, HalfMSE, BCE, BCEWithLogits, CrossEntropy };

// Hyper-parameters of one optimizer update (torch.optim semantics).
struct SgdParams {
  double lr, momentum, weight_decay;
  bool nesterov;
  bool first_step;  // momentum buffer starts as the gradient (torch)
};
struct AdamParams {
  double lr, beta1, beta2, eps, weight_decay;
  bool decoupled;  // AdamW
  int64_t step;    // 1-based step count, for bias correction
};

// Raw-pointer F32 kernels on contiguous row-major host-addressable buffers,
// for the small-batch fast paths of the model and the optimizer (no views,
// no checks, no virtual call per kernel). Same arithmetic as the View-based
// kernels of the same names.
struct HostF32Kernels {
  // y[M,N] = act(x[M,K] w[N,K]^T + bias[N]); bias may be NULL.
  void (*linear_forward)(Act act, float *y, const float *x, const float *w, const float *bias, int64_t M,
                         int64_t N, int64_t K);
  void (*activation_forward)(Act act, float *y, const float *x, int64_t rows, int64_t cols);
  // dx = dL/dx of y = act(x) from dy and y (dx may be dy).
  void (*activation_backward)(Act act, float *dx, const float *dy, const float *y, int64_t rows, int64_t cols);
  // Backward of y[M,N] = act(x[M,K] w[N,K]^T + b): g holds dL/dy on entry and
  // dL/d(pre-activation) on exit; dw (+)= g^T x, db (+)= column sums of g
  // (db may be NULL), dx = g w (dx may be NULL); `accumulate` adds into dw/db.
  void (*linear_backward)(Act act, float *g, const float *y, const float *x, const float *w, float *dw, float *db,
                          float *dx, int64_t M, int64_t N, int64_t K, bool accumulate);
  // The SGD update of one F32 parameter (as sgd_update); m may be NULL.
  void (*sgd_update)(const SgdParams &sp, float *p, const float *g, float *m, int64_t n);
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;
  // The raw F32 kernels when this backend's memory is host-addressable, else NULL.
  virtual const HostF32Kernels *host_f32() const { return nullptr; }

  // Memory. allocate throws Errc::OutOfMemory; 0 bytes gives a valid unique pointer.
  virtual void *allocate(size_t bytes) = 0;
  virtual void deallocate(void *p) noexcept = 0;
  virtual void copy_to_host(void *host_dst, const void *src, size_t bytes) = 0;
  virtual void copy_from_host(void *dst, const void *host_src, size_t bytes) = 0;

  // dst[i] = convert(src[i]) over dst.shape (== src.shape), any strides on
  // both sides, any pair of dtypes (conversion rules of docs/semantics.md).
  virtual void copy(const View &dst, const View &src) = 0;
  // Every element of dst (any strides) = value converted to dst.dtype.
  virtual void fill(const View &dst, double value) = 0;

  // out = op(x), out contiguous, x any strides, same shape and dtype.
  virtual void unary(UnaryOp op, const View &out, const View &x) = 0;
  // out = a op b; out contiguous; a and b have out's shape and dtype, with
  // broadcast (stride 0) or any other strides.
  virtual void binary(BinaryOp op, const View &out, const View &a, const View &b) = 0;
  // x contiguous of shape [outer, n, inner] is reduced over its middle dim into
  // out, contiguous [outer, inner]. Sum/Max/Min/Mean: out.dtype == x.dtype
  // (F16/BF16 accumulate in F32); Argmax: out.dtype is I64 (first index of the
  // maximum, NaN counts as maximal). n may be 0 only for Sum (0) and Mean (NaN).
  virtual void reduce(ReduceOp op, const View &out, const View &x) = 0;
  // Batched matrix product: a [B, M, K], b [B, K, N] (any strides, batch stride
  // 0 broadcasts one matrix), out [B, M, N] contiguous; one dtype for all three.
  // Integers accumulate in int64 and wrap.
  virtual void matmul(const View &out, const View &a, const View &b) = 0;

  // ---- Training kernels. The defaults throw Errc::Unsupported ("this
  // backend cannot ..."); backends override them. Floating dtypes (F32, F64 at least), every operand
  // contiguous and of one dtype unless said otherwise. Nothing here allocates
  // in the steady state (per-thread scratch is reused).

  // out[M,N] = alpha * op(a) @ op(b) + beta * out, op(m) = m^T when the flag
  // is set; a is [M,K] (or [K,M] when ta), b is [K,N] (or [N,K] when tb).
  virtual void gemm(bool ta, bool tb, double alpha, const View &a, const View &b, double beta,
                    const View &out);
  // y[M,N] = act(x[M,K] @ w[N,K]^T + bias[N]); bias.data may be NULL (no bias).
  // One fused call (oneDNN matmul with post-ops on the CPU). Softmax is over N.
  virtual void linear_forward(Act act, const View &y, const View &x, const View &w, const View &bias);
  // y = act(x), same shape; softmax over the last dim.
  virtual void activation_forward(Act act, const View &y, const View &x);
  // dx = dy * act'(x), computed from the forward output y alone (x.data may
  // be NULL and is not read): relu/leaky relu y > 0, sigmoid y(1-y), tanh
  // 1-y^2, softmax dx = y * (dy - sum(dy * y, last dim)); STEP and IDENTITY
  // pass dy straight through. dx may alias dy.
  virtual void activation_backward(Act act, const View &dx, const View &dy, const View &x, const View &y);
  // db[N] = beta * db + sum over rows of g[M,N].
  virtual void sum_rows(const View &db, const View &g, double beta);
  // out[i, ...] = src[idx[i], ...] for i < n; idx is a host array of n row
  // indices into src (any dtype, rows contiguous).
  virtual void gather_rows(const View &out, const View &src, const int64_t *idx, int64_t n);
  // Same with the indices on this backend's device: idx is a contiguous I64
  // view of n elements (e.g. a slice of an epoch's permutation uploaded
  // once). No host synchronisation where the backend can avoid it. The
  // default reads idx on the host (directly on the CPU, else through
  // copy_to_host) and calls gather_rows.
  virtual void gather_rows_device(const View &out, const View &src, const View &idx, int64_t n);
  // Loss of pred against target (LossKind docs in nn.h): adds the value into
  // *value_accum (a host double) and, when grad.data != NULL, writes
  // d loss / d pred into grad (pred's shape and dtype) scaled by grad_scale.
  // CrossEntropy targets are I64 class ids [n] or probabilities [n, c].
  virtual void loss(LossKind kind, const View &pred, const View &target, double *value_accum, const View &grad,
                    double grad_scale);
  // Same, but adds the value into `accum`, a 0-dim F64 scalar on this
  // backend's device, without reading it back (no host synchronisation on a
  // GPU: fit reads the sum once per epoch). CrossEntropy class ids must
  // already be validated (fit does so once): a backend may skip that check
  // here. The default calls loss() with a host double and adds the value in
  // (on the CPU: straight into the scalar, bit-identical to loss()).
  virtual void loss_device(LossKind kind, const View &pred, const View &target, const View &accum,
                           const View &grad, double grad_scale);
  // One optimizer update of param in place from grad; state buffers (same
  // shape) are owned by the optimizer: SGD uses m (momentum), Adam m and v.
  virtual void sgd_update(const SgdParams &p, const View &param, const View &grad, const View &m);
  virtual void adam_update(const AdamParams &p, const View &param, const View &grad, const View &m,
                           const View &v);
  // The same update of n parameters at once (one optimizer step of a
  // model): params[i] from grads[i] with state m[i] (and v[i] for Adam), the
  // hyper-parameters `p` shared by all, first_step and step included (the
  // optimizer creates every state buffer at its creation and counts steps
  // per optimizer, so no per-parameter flag differs within a step). Each
  // array holds n views; for SGD without momentum m may be NULL or hold
  // views with data NULL. Parameters with no elements are skipped. The
  // parameters must not overlap one another.
  //
  // The default calls sgd_update / adam_update once per parameter, in
  // order: the same bits as those calls, but an argument error in
  // parameter k leaves parameters 0..k-1 updated (the optimizer checks its
  // parameters before, so that never happens from src/nn). The CPU keeps
  // the default (and src/nn keeps its raw-F32 fast path there: it calls
  // neither). CUDA overrides them: every operand is validated on the host
  // before anything is launched (an argument error updates nothing), then
  // one fused kernel launch per chunk of up to 64 parameters of one dtype
  // (cuda_abi.h, sgd_update_many), with the per-element arithmetic of
  // sgd_update / adam_update bit for bit; no device allocation and no host
  // synchronisation, so it may be recorded (record_begin). With the
  // environment variable NN_CUDA_NO_MULTI_TENSOR=1 (read on every call) the
  // CUDA backend uses the default instead (one launch per parameter), for
  // comparisons.
  virtual void sgd_update_many(const SgdParams &p, const View *params, const View *grads, const View *m, size_t n);
  virtual void adam_update_many(const AdamParams &p, const View *params, const View *grads, const View *m,
                                const View *v, size_t n);
  // True when every element of x is finite.
  virtual bool all_finite(const View &x);
  // True when every element of all n views is finite: one host
  // synchronisation on a GPU. The default calls all_finite on each.
  virtual bool all_finite_many(const View *xs, size_t n);

  // ---- Recording and replay (CUDA Graphs on the CUDA backend): the device
  // work of a sequence of calls made by one thread is recorded once and then
  // replayed with one launch, for a training step whose shapes and buffers
  // repeat (nn_model_fit, src/nn/fit.cpp). Optional: the defaults say
  // "unsupported" (can_record() false, the others throw Errc::Unsupported;
  // record_abort and release do nothing), so the CPU never records.
  //
  // can_record(): whether recording may be tried now. CUDA: true unless the
  //   environment variable NN_CUDA_GRAPHS is "0" (read on every call).
  // record_begin(): from here to record_end/record_abort, every call this
  //   thread makes on this backend enqueues its device work into the
  //   recording, where nothing runs; other threads are not affected. Host
  //   side effects of those calls happen as usual. A call that allocates
  //   device memory, or makes the host wait for the device (copy_to_host,
  //   copy_from_host, loss, gather_rows, all_finite, all_finite_many),
  //   throws instead: the recording is then unusable and the caller must
  //   record_abort. A deallocation by this thread is deferred to the end of
  //   the recording, and makes it fail (its memory might be recorded). The
  //   recording belongs to the stream current when it began (stream_bind
  //   below): binding another one meanwhile throws.
  // record_end(): ends the recording and returns its handle. Throws when it
  //   failed (the error says why), leaving nothing to abort.
  // record_abort(why): ends and drops this thread's recording, if any;
  //   `why` (may be NULL) is printed with NN_CUDA_DEBUG=1. Never throws.
  // replay(h): runs the recorded work again, with the same pointers and
  //   scalar arguments, ordered after all work called before and before all
  //   work called after, like the calls it recorded. The caller keeps every
  //   buffer the recording touched alive and in place, never replays on
  //   the thread that is recording, and replays with the stream bound that
  //   was current when the recording began (CUDA: Errc::Internal otherwise).
  // release(h): frees a handle (NULL is harmless; a replay in flight
  //   completes first). Never throws.
  virtual bool can_record() const { return false; }
  virtual void record_begin();
  virtual void *record_end();
  virtual void record_abort(const char *why) noexcept { (void)why; }
  virtual void replay(void *recording);
  virtual void release(void *recording) noexcept { (void)recording; }

  // ---- Execution streams (CUDA: one stream per model, so that the work of
  // two models, e.g. trained from two threads, runs concurrently on one
  // GPU). Optional: the defaults do nothing and stream_create() returns
  // NULL, so the CPU pays nothing (src/nn never binds a NULL stream).
  //
  // stream_create(): a new stream handle of this device, or NULL when the
  //   backend has none. Cheap (CUDA: host memory only; the CUDA stream and
  //   its buffers are made on first use). Throws on failure.
  // stream_destroy(h): frees a handle (NULL is harmless). The work already
  //   enqueued on it completes first (it has been joined into the device's
  //   own order by stream_unbind anyway). No thread may have it bound, and
  //   no recording made while it was bound may be replayed afterwards.
  //   Never throws.
  // stream_bind(h): until the matching stream_unbind(h), every call this
  //   thread makes on this backend enqueues on h (except while the thread
  //   records, where the recording wins; see record_begin). Ordering, with
  //   no host synchronisation: h first waits for all work enqueued on this
  //   device so far (by any thread: the caller's inputs may come from
  //   anywhere) and, when bindings nest, for the stream bound before;
  //   stream_unbind(h) makes the device's own order, and the stream bound
  //   before, wait for everything enqueued on h. So the results of a bound
  //   call are seen by every later call, bound or not, and nn_tensor_read
  //   stays correct. Bindings are per thread and nest (LIFO): several
  //   threads may bind the same h at once (their calls then serialise on
  //   h, each thread's in its own order). Throws on failure (then nothing
  //   is bound and nothing must be unbound).
  // stream_unbind(h): ends the innermost binding of this thread, which must
  //   be h. Never throws.
  // A recording made while h is bound replays on h (replay with h bound).
  virtual void *stream_create() { return nullptr; }
  virtual void stream_destroy(void *stream) noexcept { (void)stream; }
  virtual void stream_bind(void *stream) { (void)stream; }
  virtual void stream_unbind(void *stream) noexcept { (void)stream; }
};

// Binds `stream` of `backend` to the calling thread for the lifetime of the
// object (Backend::stream_bind / stream_unbind); a NULL stream binds
// nothing. Not copyable.
class StreamBinding {
 public:
  StreamBinding(Backend &backend, void *stream) : backend_(&backend), stream_(stream) {
    if (stream_) backend_->stream_bind(stream_);
  }
  ~StreamBinding() {
    if (stream_) backend_->stream_unbind(stream_);
  }
  StreamBinding(const StreamBinding &) = delete;
  StreamBinding &operator=(const StreamBinding &) = delete;

 private:
  Backend *backend_;
  void *stream_;
};

// The CPU backend (src/backend/cpu), always present. Its training kernels live
// in the intermediate class CpuTrainBackend (src/backend/cpu/cpu_train.hpp).
Backend &cpu_backend();
// Threads for CPU work; n <= 0 means all cores. Returns the number in effect.
int cpu_set_num_threads(int n);

}  // namespace nn
