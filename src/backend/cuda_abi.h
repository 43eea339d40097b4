/* The boundary between libnn.so and libnn_cuda.so: plain C, no exceptions,
 * no C++ types. libnn.so dlopen()s libnn_cuda.so and calls
 * nn_cuda_backend_table() (the only symbol libnn_cuda.so exports); every
 * kernel goes through the function pointers of the returned table.
 *
 * Conventions: every function returns 0 on success or an nn::Errc value
 * (4 Device, 5 OutOfMemory, 8 Unsupported, 1 InvalidArgument, 99 Internal, ...)
 * and then writes a NUL-terminated message into err->message. `device` is the
 * CUDA device ordinal. Enum arguments carry the values of nn::UnaryOp,
 * BinaryOp, ReduceOp, Act, LossKind and DType (backend.hpp, dtype.hpp).
 * Views follow nn::View: strides in elements, `data` at the first element. */
#ifndef NN_CUDA_ABI_H
#define NN_CUDA_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 2: gather_rows_device, loss_device, all_finite_many.
 * 3: record_begin, record_end, record_abort, replay, release (CUDA Graphs).
 * 4: stream_create, stream_destroy, stream_bind, stream_unbind (one stream
 *    per model); deallocate frees on the calling thread's current stream.
 * 5: sgd_update_many, adam_update_many (multi-tensor optimizer updates). */
#define NN_CUDA_ABI_VERSION 5
#define NN_CUDA_MAX_DIMS 8
#define NN_CUDA_ENTRY_SYMBOL "nn_cuda_backend_table"

typedef struct nn_cuda_view {
  void *data;
  int32_t dtype;
  int32_t ndim;
  int64_t shape[NN_CUDA_MAX_DIMS];
  int64_t strides[NN_CUDA_MAX_DIMS];
} nn_cuda_view;

typedef struct nn_cuda_error {
  char message[512];
} nn_cuda_error;

typedef struct nn_cuda_sgd {
  double lr, momentum, weight_decay;
  int32_t nesterov, first_step;
} nn_cuda_sgd;

typedef struct nn_cuda_adam {
  double lr, beta1, beta2, eps, weight_decay;
  int32_t decoupled;
  int64_t step;
} nn_cuda_adam;

/* Codes of probe(): why there is no usable GPU. */
#define NN_CUDA_PROBE_OK 0
#define NN_CUDA_PROBE_NO_DRIVER 1
#define NN_CUDA_PROBE_NO_DEVICE 2
#define NN_CUDA_PROBE_ERROR 3

typedef struct nn_cuda_iface {
  uint32_t abi_version; /* NN_CUDA_ABI_VERSION */
  uint32_t table_size;  /* sizeof(nn_cuda_iface) */

  /* Counts devices. Returns an NN_CUDA_PROBE_* code; *count is 0 unless OK,
   * and err says what is missing (driver / GPU) otherwise. */
  int (*probe)(int *count, nn_cuda_error *err);

  int (*allocate)(int device, size_t bytes, void **out, nn_cuda_error *err);
  /* Stream-ordered free on the calling thread's current stream (ABI 4). */
  void (*deallocate)(int device, void *p);
  int (*copy_to_host)(int device, void *host_dst, const void *src, size_t bytes, nn_cuda_error *err);
  int (*copy_from_host)(int device, void *dst, const void *host_src, size_t bytes, nn_cuda_error *err);

  int (*copy)(int device, const nn_cuda_view *dst, const nn_cuda_view *src, nn_cuda_error *err);
  int (*fill)(int device, const nn_cuda_view *dst, double value, nn_cuda_error *err);
  int (*unary)(int device, int op, const nn_cuda_view *out, const nn_cuda_view *x, nn_cuda_error *err);
  int (*binary)(int device, int op, const nn_cuda_view *out, const nn_cuda_view *a, const nn_cuda_view *b,
                nn_cuda_error *err);
  int (*reduce)(int device, int op, const nn_cuda_view *out, const nn_cuda_view *x, nn_cuda_error *err);
  int (*matmul)(int device, const nn_cuda_view *out, const nn_cuda_view *a, const nn_cuda_view *b,
                nn_cuda_error *err);

  int (*gemm)(int device, int ta, int tb, double alpha, const nn_cuda_view *a, const nn_cuda_view *b, double beta,
              const nn_cuda_view *out, nn_cuda_error *err);
  int (*linear_forward)(int device, int act, const nn_cuda_view *y, const nn_cuda_view *x, const nn_cuda_view *w,
                        const nn_cuda_view *bias, nn_cuda_error *err);
  int (*activation_forward)(int device, int act, const nn_cuda_view *y, const nn_cuda_view *x, nn_cuda_error *err);
  int (*activation_backward)(int device, int act, const nn_cuda_view *dx, const nn_cuda_view *dy,
                             const nn_cuda_view *x, const nn_cuda_view *y, nn_cuda_error *err);
  int (*sum_rows)(int device, const nn_cuda_view *db, const nn_cuda_view *g, double beta, nn_cuda_error *err);
  /* idx is a host array of n row indices. */
  int (*gather_rows)(int device, const nn_cuda_view *out, const nn_cuda_view *src, const int64_t *idx, int64_t n,
                     nn_cuda_error *err);
  /* Adds the loss value into *value_accum (host); one stream synchronisation. */
  int (*loss)(int device, int kind, const nn_cuda_view *pred, const nn_cuda_view *target, double *value_accum,
              const nn_cuda_view *grad, double grad_scale, nn_cuda_error *err);
  int (*sgd_update)(int device, const nn_cuda_sgd *p, const nn_cuda_view *param, const nn_cuda_view *grad,
                    const nn_cuda_view *m, nn_cuda_error *err);
  int (*adam_update)(int device, const nn_cuda_adam *p, const nn_cuda_view *param, const nn_cuda_view *grad,
                     const nn_cuda_view *m, const nn_cuda_view *v, nn_cuda_error *err);
  int (*all_finite)(int device, const nn_cuda_view *x, int *out, nn_cuda_error *err);

  /* ---- ABI 2: no host synchronisation inside a training epoch. */
  /* gather_rows with idx a device view (contiguous int64, >= n elements, each
   * in range: not checked, the caller builds them). Stream-ordered, no sync. */
  int (*gather_rows_device)(int device, const nn_cuda_view *out, const nn_cuda_view *src, const nn_cuda_view *idx,
                            int64_t n, nn_cuda_error *err);
  /* loss, adding the value into *accum (a device float64 scalar) on the
   * stream, without reading it back. CrossEntropy class ids must be valid
   * (not checked here). */
  int (*loss_device)(int device, int kind, const nn_cuda_view *pred, const nn_cuda_view *target,
                     const nn_cuda_view *accum, const nn_cuda_view *grad, double grad_scale, nn_cuda_error *err);
  /* *out = 1 when every element of the n views is finite; one synchronisation. */
  int (*all_finite_many)(int device, const nn_cuda_view *xs, size_t n, int *out, nn_cuda_error *err);

  /* ---- ABI 3: recording a sequence of calls as a CUDA Graph and replaying it
   * (nn::Backend::record_begin and the rest, backend.hpp).
   * record_begin starts a capture by the calling thread on `device`: from then
   * on every entry this thread calls for that device enqueues its work on a
   * capture stream of its own (cudaStreamCaptureModeThreadLocal), where
   * nothing runs; other threads keep using the device stream. While it
   * lasts, an entry of this thread for this device that would allocate
   * device memory or wait for the device (allocate, copy_to_host,
   * copy_from_host, gather_rows, loss, all_finite, all_finite_many, a
   * temporary) fails with Unsupported, and deallocate is deferred to the end
   * of the capture. One capture per thread at a time.
   * record_end ends it and instantiates the graph into *graph (an opaque
   * handle for replay/release). It fails (and cleans up: nothing to abort)
   * when the capture was invalidated, when an entry failed during it, or
   * when this thread freed device memory during it (the graph might use
   * that memory).
   * record_abort ends this thread's capture on `device`, if any, and drops
   * it; with NN_CUDA_DEBUG=1 it prints `why` (may be NULL) to stderr, also
   * when there was nothing left to end (after a failed record_begin/end).
   * replay launches the graph on the stream it was recorded for (the device
   * stream, or the stream bound when recording began, ABI 4), which must be
   * the caller's current one: ordered after all work enqueued before and
   * before all work enqueued after, like the calls it recorded. Not while
   * this thread captures. release frees the graph (a launch in flight
   * completes first); NULL is harmless. */
  int (*record_begin)(int device, nn_cuda_error *err);
  int (*record_end)(int device, void **graph, nn_cuda_error *err);
  void (*record_abort)(int device, const char *why);
  int (*replay)(int device, void *graph, nn_cuda_error *err);
  void (*release)(int device, void *graph);

  /* ---- ABI 4: execution streams (nn::Backend::stream_create and the rest,
   * backend.hpp). Every entry enqueues on the calling thread's current
   * stream for `device`: its capture stream while it records (that wins),
   * else the stream it bound last for that device, else the device stream.
   * stream_create makes a handle (host memory only: the CUDA stream, its
   * event and its buffers are created on first bind / first use) into
   * *stream. stream_destroy frees the buffers on the stream (stream-ordered)
   * and destroys stream and event (work in flight completes first); no
   * thread may have it bound. stream_bind pushes a binding for this thread:
   * the stream waits (event, no host wait) for the device stream and for
   * the stream bound before on this device, if any; binding the stream
   * already current is a plain push. While this thread records on `device`
   * only the stream the recording was started on may be bound (others:
   * Unsupported). stream_unbind pops this thread's innermost binding, which
   * must be `stream`, and makes the device stream (and the stream bound
   * before, if any) wait for it. A graph recorded while a stream was bound
   * replays only on that stream (replay fails with Internal elsewhere).
   * deallocate while a stream is bound frees on it, after it waits for the
   * device stream (see e_deallocate). */
  int (*stream_create)(int device, void **stream, nn_cuda_error *err);
  void (*stream_destroy)(int device, void *stream);
  int (*stream_bind)(int device, void *stream, nn_cuda_error *err);
  void (*stream_unbind)(int device, void *stream);

  /* ---- ABI 5: multi-tensor optimizer updates (nn::Backend::sgd_update_many,
   * adam_update_many, backend.hpp): one optimizer step of n parameters.
   * params, grads (and m, v) are arrays of n views; entry i is the update of
   * sgd_update / adam_update for params[i], same arithmetic bit for bit;
   * parameters with no elements are skipped. For SGD without momentum m may
   * be NULL (or its views' data NULL). Every view is validated first (dtype
   * F32/F64, contiguous, grad and state of the parameter's dtype and size,
   * Adam's step >= 1): an argument error launches nothing, so no parameter
   * is updated. Then the parameters, in order, are cut into chunks of at
   * most NN_CUDA_MT_TENSORS tensors of one dtype (a new chunk starts where
   * the dtype changes) and each chunk is one kernel launch on the current
   * stream: the chunk's pointers, element counts and a prefix table of
   * block offsets travel by value as the kernel's parameter (under the
   * 4 KB kernel-parameter limit), and each block finds its tensor in that
   * table. No device allocation, no host synchronisation: capturable into
   * a CUDA graph. The parameters must not overlap one another. */
  int (*sgd_update_many)(int device, const nn_cuda_sgd *p, const nn_cuda_view *params, const nn_cuda_view *grads,
                         const nn_cuda_view *m, size_t n, nn_cuda_error *err);
  int (*adam_update_many)(int device, const nn_cuda_adam *p, const nn_cuda_view *params, const nn_cuda_view *grads,
                          const nn_cuda_view *m, const nn_cuda_view *v, size_t n, nn_cuda_error *err);
} nn_cuda_iface;

/* Tensors per launch of sgd_update_many / adam_update_many. */
#define NN_CUDA_MT_TENSORS 64

typedef const nn_cuda_iface *(*nn_cuda_backend_table_fn)(void);

#ifdef __cplusplus
}
#endif
#endif /* NN_CUDA_ABI_H */
