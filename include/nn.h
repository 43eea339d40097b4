/*
 * nn.h - the public C API of libnn.
 *
 * libnn builds, trains, saves and loads multilayer perceptrons on the CPU
 * (oneDNN) or an NVIDIA GPU (CUDA), behind a stable C ABI. This header is the
 * whole public API and its documentation.
 */

/**
 * @file nn.h
 * @brief libnn: tensors, layers, sequential MLPs, training and persistence.
 *
 * @mainpage libnn
 *
 * @section conventions Conventions (all functions)
 *
 * - **One header.** This file is valid C99 and C++ and includes only
 *   `<stddef.h>`, `<stdint.h>` and `<stdbool.h>`. Every exported symbol starts
 *   with `nn_`, every macro and enum value with `NN_`; the shared library
 *   (SONAME `libnn.so.<major>`) exports nothing else.
 *
 * - **Opaque handles.** ::nn_tensor, ::nn_layer, ::nn_model and
 *   ::nn_optimizer are opaque. Query functions take `const` pointers.
 *
 * - **Status and out-parameters.** A function that can fail returns an
 *   ::nn_status (::NN_OK is 0) and writes its result through its last
 *   parameter(s). On failure it writes nothing to outputs it did not finish,
 *   leaves every argument unchanged, and records a message that
 *   nn_last_error() returns. Out-parameters must not be NULL unless the
 *   function says "NULL ok".
 *
 * - **Error messages.** The message of a failed call starts with the function
 *   name and names the offending argument (`a`, `b`, `x`, `shape[1]`, `dim`,
 *   `dst_bytes`, ...); shape mismatches print both shapes, e.g.
 *   `nn_binary: cannot broadcast a [2, 3] with b [4]` (an empty shape prints
 *   as `[]`). The message is thread-local; a successful call does not clear it
 *   (like `errno`).
 *
 * - **Which status for which bad input.**
 *   NULL handle, NULL out-pointer, bad enum value, `ndim` outside 0..8,
 *   negative dimension, a shape too large (see **Shapes**), or a
 *   non-finite number where a finite one is needed: ::NN_ERR_INVALID_ARGUMENT.
 *   Incompatible shapes (broadcast, matmul, reshape element count, layer
 *   feature counts): ::NN_ERR_SHAPE. A dtype not allowed here: ::NN_ERR_DTYPE.
 *   A device that does not exist, operands on different devices, a CUDA
 *   device in a build without CUDA ("this build has no CUDA backend"), a CPU
 *   device with an index other than 0, a CUDA failure: ::NN_ERR_DEVICE. A
 *   device type other than ::NN_CPU or ::NN_CUDA: ::NN_ERR_INVALID_ARGUMENT.
 *
 * - **Ownership.** Every handle returned through an out-parameter is owned by
 *   the caller and released with its `_free` function, unless the function
 *   says "borrowed". `nn_*_free(NULL)` is a no-op. Strings returned by
 *   nn_status_string() and nn_version_string() are static.
 *
 * - **No crash crosses the API.** No C++ exception, `abort`, `exit` or signal
 *   escapes a call: bad input gets a status and a message.
 *
 * - **Shapes** are arrays of `int64_t`, row-major (C order); `ndim` is
 *   0..::NN_MAX_DIMS (0 is a scalar, a "0-dim" tensor with one element). A
 *   dimension may be 0 (an empty tensor). Where a function takes `ndim` and
 *   `shape`, `shape` may be NULL when `ndim` is 0. One size rule holds for
 *   every tensor, however it is made (constructors, views, results of
 *   operations, layers, loaded files): the product of its non-zero
 *   dimensions times its dtype size fits `int64_t`, for an empty tensor too
 *   (`[0, 2^62+1, 4]` is refused: a view or reduction of it would not be
 *   addressable). Anything else is ::NN_ERR_INVALID_ARGUMENT, e.g.
 *   `nn_layer_linear(2^31, 2^31)` or a K = 0 nn_matmul() of `[2^40, 0]` by
 *   `[0, 2^40]`.
 *
 * - **Thread safety.** Different handles may be used from different threads
 *   freely. nn_model_forward() may run concurrently on the same model from
 *   many threads. Anything that changes a handle (training, nn_model_to(),
 *   tensor writes, optimizer steps) needs the caller to serialise access to
 *   that handle, and to the handles that share its storage. A child forked
 *   from the process works too (single-threaded: see nn_set_num_threads()).
 *
 * - **PyTorch semantics.** Where PyTorch has an answer (type promotion,
 *   broadcasting, matmul, printing, layer conventions, initialisers, losses,
 *   optimizers, schedules, the state_dict names), libnn follows PyTorch.
 */

#ifndef NN_H
#define NN_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/** @brief Export macro: marks every public function of the library. */
#ifndef NN_API
#  if defined(_WIN32)
#    if defined(NN_BUILDING_LIBRARY)
#      define NN_API __declspec(dllexport)
#    else
#      define NN_API __declspec(dllimport)
#    endif
#  elif defined(__GNUC__) || defined(__clang__)
#    define NN_API __attribute__((visibility("default")))
#  else
#    define NN_API
#  endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ========================================================================= */
/**
 * @defgroup status Status, errors, version
 * @brief Status codes, the thread-local last error, the library version.
 * @{
 */

/** @brief Major version of this header. */
#define NN_VERSION_MAJOR 0
/** @brief Minor version of this header. */
#define NN_VERSION_MINOR 1
/** @brief Patch version of this header. */
#define NN_VERSION_PATCH 0

/** @brief Largest number of dimensions a tensor may have (ndim is 0..8). */
#define NN_MAX_DIMS 8

/** @brief Result of every fallible call. ::NN_OK is 0, everything else an error. */
typedef enum nn_status {
  NN_OK = 0,                    /**< Success. */
  NN_ERR_INVALID_ARGUMENT = 1,  /**< NULL handle, bad enum, bad number. */
  NN_ERR_SHAPE = 2,             /**< Incompatible shapes. */
  NN_ERR_DTYPE = 3,             /**< dtype not allowed here. */
  NN_ERR_DEVICE = 4,            /**< Device missing, mixed devices, CUDA failure. */
  NN_ERR_OUT_OF_MEMORY = 5,     /**< An allocation failed (host or device). */
  NN_ERR_IO = 6,                /**< File cannot be opened/written. */
  NN_ERR_FORMAT = 7,            /**< File or buffer is not a valid model. */
  NN_ERR_UNSUPPORTED = 8,       /**< Valid request this build cannot do. */
  NN_ERR_NOT_FINITE = 9,        /**< NaN/Inf in training data, or in the training loss or weights. */
  NN_ERR_CANCELLED = 10,        /**< A callback asked to stop. */
  NN_ERR_INTERNAL = 99          /**< A bug in libnn; please report it. */
} nn_status;

/**
 * @brief Short static description of a status, e.g. "shape mismatch".
 * @param s any value; an unknown value gives a generic text (never NULL).
 * @return a static NUL-terminated string; never free it.
 */
NN_API const char *nn_status_string(nn_status s);

/**
 * @brief Message of this thread's last failed call; "" if none.
 *
 * The message starts with the function name and names the offending argument,
 * e.g. `nn_tensor_zeros: shape[1] is -3; dimensions must be >= 0`. It is
 * thread-local and is not cleared by a successful call.
 * @return a borrowed NUL-terminated string, never NULL, valid until the next
 *         libnn call that fails on this thread (copy it to keep it).
 */
NN_API const char *nn_last_error(void);

/**
 * @brief Version of the library that is running.
 * @return NN_VERSION_MAJOR*10000 + NN_VERSION_MINOR*100 + NN_VERSION_PATCH
 *         of the library binary (100 for 0.1.0); compare with the macros to
 *         detect a header/library mismatch.
 */
NN_API int nn_version(void);

/**
 * @brief Version of the library as static text, e.g. "0.1.0".
 * @return a static string; never free it.
 */
NN_API const char *nn_version_string(void);

/** @} */

/* ========================================================================= */
/**
 * @defgroup devices Devices and dtypes
 * @brief Where tensors live and what their elements are.
 * @{
 */

/** @brief Kind of device; the values are DLPack's kDLCPU and kDLCUDA. */
typedef enum nn_device_type {
  NN_CPU = 1,   /**< The host CPU (oneDNN); its only index is 0. */
  NN_CUDA = 2   /**< An NVIDIA GPU; index 0..nn_device_count(NN_CUDA)-1. */
} nn_device_type;

/**
 * @brief A device: a type and an index, passed by value.
 *
 * `type` holds an ::nn_device_type. Examples: `{NN_CPU, 0}`, `{NN_CUDA, 1}`.
 * A type other than 1 or 2 is ::NN_ERR_INVALID_ARGUMENT; a CPU index other
 * than 0, a CUDA index not below nn_device_count(NN_CUDA), or any CUDA device
 * in a build without CUDA is ::NN_ERR_DEVICE.
 */
typedef struct nn_device {
  int32_t type;   /**< An ::nn_device_type. */
  int32_t index;  /**< Device ordinal. */
} nn_device;

/**
 * @brief Number of devices of a type.
 * @param type ::NN_CPU or ::NN_CUDA.
 * @return CPU: 1. CUDA: the number of visible GPUs; 0 when there is none or
 *         this build has no CUDA backend. 0 for an invalid type.
 */
NN_API int nn_device_count(nn_device_type type);

/**
 * @brief Sets the number of CPU threads the process's CPU work uses.
 *
 * Process-wide; affects later calls. Do not call it while other threads run
 * libnn operations. Results of seeded operations do not depend on the
 * thread count.
 *
 * **Default.** Until this is called, the count comes from the environment,
 * read once (at libnn's first CPU work or nn_get_num_threads() call; later
 * changes to the environment are not seen): `OMP_NUM_THREADS` if it holds a
 * valid count (a positive decimal number; of a list such as `4,2` the first
 * value), else `NN_NUM_THREADS` (a positive decimal number), else all
 * cores. A value that is not a valid count (empty, garbage, 0, negative)
 * is ignored, as if unset. This call overrides the default for the rest of
 * the process (the environment is not consulted again).
 *
 * **Cap.** The count, set or from the environment, is capped to the cores
 * this process may run on (its CPU affinity mask): `nn_set_num_threads(1000)`
 * or `OMP_NUM_THREADS=1000` on an 8-core machine uses 8 threads. More
 * threads than cores would only cost time.
 *
 * **Thread creation never ends the process.** Each calling thread's OpenMP
 * team is created at a safe point (its first parallel call after a change of
 * the count): libnn first checks that the system can create the threads (it
 * may not: a thread or address-space limit, a container) and uses only as
 * many as it could create, down to the calling thread alone. So libgomp never
 * meets a failed thread creation, which it answers by exiting the process.
 *
 * **Fork.** A child process forked (without exec) from a process that used
 * libnn's CPU threads cannot use them: OpenMP's threads do not exist in the
 * child and libgomp would wait for them forever. libnn registers a
 * `pthread_atfork` handler: in the child, libnn's CPU work runs on the
 * calling thread only (this call changes nothing there); results are the
 * same, only slower. Everything else works in the child as in the parent.
 * (Other OpenMP code in the child is not libnn's to protect.)
 * @param n thread count; `n <= 0` or more than the cores means all cores.
 * @return ::NN_OK.
 */
NN_API nn_status nn_set_num_threads(int n);

/**
 * @brief The number of CPU threads the process's CPU work uses now.
 *
 * The count of the last nn_set_num_threads() call, else the environment's
 * default (`OMP_NUM_THREADS`, then `NN_NUM_THREADS`, then all cores; see
 * nn_set_num_threads()), capped to the cores this process may run on; 1 in
 * a child process forked (without exec) from this one (see "Fork" there).
 * Where the system cannot create that many threads, fewer are used (see
 * "Thread creation never ends the process" there). Thread-safe.
 * @return the thread count, >= 1.
 */
NN_API int nn_get_num_threads(void);

/**
 * @brief Element type of a tensor.
 *
 * Integers are U8 (unsigned) and I16/I32/I64 (signed, two's complement);
 * floats are F16 (IEEE half), BF16 (bfloat16), F32, F64.
 */
typedef enum nn_dtype {
  NN_F32 = 0,   /**< 32-bit float (torch.float32); the default for models. */
  NN_F64 = 1,   /**< 64-bit float (torch.float64). */
  NN_F16 = 2,   /**< IEEE 754 half (torch.float16). */
  NN_BF16 = 3,  /**< bfloat16 (torch.bfloat16). */
  NN_U8 = 4,    /**< unsigned 8-bit integer (torch.uint8). */
  NN_I16 = 5,   /**< signed 16-bit integer (torch.int16). */
  NN_I32 = 6,   /**< signed 32-bit integer (torch.int32). */
  NN_I64 = 7    /**< signed 64-bit integer (torch.int64). */
} nn_dtype;

/**
 * @brief Bytes per element of a dtype.
 * @return 1, 2, 4 or 8; 0 for an invalid value.
 */
NN_API size_t nn_dtype_size(nn_dtype dt);

/** @} */

/* ========================================================================= */
/**
 * @defgroup tensors Tensors
 * @brief N-dimensional arrays of rank 0..8 on a device.
 *
 * A tensor has a dtype, a shape, a device, and a reference-counted storage.
 * Views (nn_tensor_reshape() of a contiguous tensor, nn_tensor_transpose(),
 * nn_layer_param()) share storage with their source: writes through one are
 * seen through the other, and the storage lives until the last handle that
 * uses it is freed. Every function reads and writes elements in the tensor's
 * own logical row-major order, whatever its memory layout.
 *
 * **Conversions between dtypes** (nn_tensor_to_dtype(), creation from a
 * double, type promotion) follow PyTorch: float to integer truncates toward
 * zero to int64 (NaN gives 0, saturating at the int64 range), then wraps to
 * the target width (300.0 to U8 gives 44, -1.0 to U8 gives 255); integer
 * narrowing wraps (two's complement); to F16/BF16 rounds to nearest even and
 * overflows to infinity.
 * @{
 */

/** @brief Opaque tensor handle; free with nn_tensor_free(). */
typedef struct nn_tensor nn_tensor;

/**
 * @brief Creates a tensor filled with zeros.
 * @param dt    element type.
 * @param ndim  number of dimensions, 0..8.
 * @param shape `ndim` dimensions, each >= 0 (NULL ok when ndim is 0).
 * @param dev   device to allocate on.
 * @param out   receives the new tensor (caller owns it).
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for a bad dtype, ndim, NULL
 *         shape/out, a negative dimension or a size overflowing int64;
 *         ::NN_ERR_DEVICE for a missing device; ::NN_ERR_OUT_OF_MEMORY.
 */
NN_API nn_status nn_tensor_zeros(nn_dtype dt, int ndim, const int64_t *shape, nn_device dev,
                                 nn_tensor **out);

/**
 * @brief Creates a tensor with every element equal to `value` cast to `dt`.
 *
 * The cast follows the conversion rules above (torch.full with a dtype).
 * Non-finite values are allowed for floating dtypes.
 * @return as nn_tensor_zeros().
 */
NN_API nn_status nn_tensor_full(nn_dtype dt, int ndim, const int64_t *shape, double value,
                                nn_device dev, nn_tensor **out);

/**
 * @brief Creates a tensor from host data.
 *
 * Copies exactly `numel * nn_dtype_size(dt)` bytes from `data`, read as
 * row-major elements of type `dt` in host byte order. The caller keeps
 * ownership of `data`; the tensor does not refer to it afterwards.
 * @param data host memory of numel*size bytes (NULL ok when numel is 0).
 * @return as nn_tensor_zeros(); ::NN_ERR_INVALID_ARGUMENT for NULL data with
 *         numel > 0.
 */
NN_API nn_status nn_tensor_from_data(nn_dtype dt, int ndim, const int64_t *shape, const void *data,
                                     nn_device dev, nn_tensor **out);

/**
 * @brief 1-D tensor of evenly spaced values, as torch.arange(start, end, step).
 *
 * numel = ceil((end - start) / step); element i is `start + i*step` cast to
 * `dt`. `start == end` gives an empty tensor of shape [0].
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT when step is 0, any argument is
 *         non-finite, the step's sign points away from `end`, or `dt` is bad;
 *         ::NN_ERR_DEVICE; ::NN_ERR_OUT_OF_MEMORY.
 */
NN_API nn_status nn_tensor_arange(double start, double end, double step, nn_dtype dt, nn_device dev,
                                  nn_tensor **out);

/**
 * @brief Tensor of independent uniform samples in [low, high).
 *
 * A counter-based generator: element i depends only on (seed, i), so the same
 * seed gives the same values on every device and thread count. (The values
 * are not those of PyTorch's generator.)
 * @param dt floating dtype (F32, F64, F16, BF16).
 * @return ::NN_OK; ::NN_ERR_DTYPE for an integer dtype;
 *         ::NN_ERR_INVALID_ARGUMENT unless low < high and both are finite,
 *         or for a bad shape; ::NN_ERR_DEVICE; ::NN_ERR_OUT_OF_MEMORY.
 */
NN_API nn_status nn_tensor_rand_uniform(nn_dtype dt, int ndim, const int64_t *shape, double low,
                                        double high, uint64_t seed, nn_device dev, nn_tensor **out);

/**
 * @brief Tensor of independent normal samples N(mean, std^2).
 *
 * Same generator and reproducibility as nn_tensor_rand_uniform(); std 0 gives
 * every element equal to mean.
 * @param dt floating dtype.
 * @return ::NN_OK; ::NN_ERR_DTYPE for an integer dtype;
 *         ::NN_ERR_INVALID_ARGUMENT unless std >= 0 and mean, std are finite,
 *         or for a bad shape; ::NN_ERR_DEVICE; ::NN_ERR_OUT_OF_MEMORY.
 */
NN_API nn_status nn_tensor_rand_normal(nn_dtype dt, int ndim, const int64_t *shape, double mean,
                                       double std, uint64_t seed, nn_device dev, nn_tensor **out);

/**
 * @brief Releases a tensor handle. NULL is a no-op.
 *
 * The storage is freed when its last handle (including views and parameter
 * handles) is released.
 */
NN_API void nn_tensor_free(nn_tensor *t);

/** @brief Number of dimensions (0..8); -1 for NULL. */
NN_API int nn_tensor_ndim(const nn_tensor *t);

/**
 * @brief Writes the tensor's `ndim` dimensions to `shape`.
 * @param shape room for nn_tensor_ndim(t) values (NULL ok for a 0-dim tensor).
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL t, or NULL shape when
 *         ndim > 0.
 */
NN_API nn_status nn_tensor_shape(const nn_tensor *t, int64_t *shape);

/** @brief Number of elements (product of the shape; 1 for 0-dim); -1 for NULL. */
NN_API int64_t nn_tensor_numel(const nn_tensor *t);

/** @brief Element type; `(nn_dtype)-1` for NULL. */
NN_API nn_dtype nn_tensor_dtype(const nn_tensor *t);

/** @brief Device the tensor lives on; `{0, -1}` for NULL. */
NN_API nn_device nn_tensor_device(const nn_tensor *t);

/**
 * @brief Copies the elements to host memory, row-major, from any device.
 *
 * Writes exactly numel*size bytes, in the tensor's logical row-major order
 * (a transposed view is read in its own order). Synchronous.
 * @param dst       host buffer (NULL ok when numel is 0).
 * @param dst_bytes size of dst; must be >= numel * nn_dtype_size(dtype).
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL t/dst or dst_bytes too
 *         small (the message gives both numbers); ::NN_ERR_DEVICE.
 */
NN_API nn_status nn_tensor_read(const nn_tensor *t, void *dst, size_t dst_bytes);

/**
 * @brief Overwrites the elements from host memory, row-major.
 *
 * Works on views: writes are seen by every handle sharing the storage
 * (writing a parameter handle sets the layer's weights). A transposed view is
 * written in its own row-major order. Synchronous.
 * @param src_bytes must equal numel * nn_dtype_size(dtype) exactly.
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL t/src or a wrong
 *         src_bytes (the message gives both numbers); ::NN_ERR_DEVICE.
 */
NN_API nn_status nn_tensor_write(nn_tensor *t, const void *src, size_t src_bytes);

/**
 * @brief Host pointer to the first element of a contiguous CPU tensor.
 * @return borrowed pointer, valid while `t` (or any handle sharing its
 *         storage) lives; writes through it are seen by every sharing handle.
 *         NULL for NULL, a CUDA tensor, or a non-contiguous view (a
 *         transpose); possibly NULL for an empty tensor.
 */
NN_API void *nn_tensor_data(nn_tensor *t);

/**
 * @brief Same elements with a new shape, as torch.reshape.
 *
 * At most one dimension may be -1 and is inferred. A contiguous source gives
 * a view sharing its storage; a non-contiguous source (a transpose) is copied.
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL arguments, ndim outside
 *         0..8, more than one -1 or another negative dimension;
 *         ::NN_ERR_SHAPE when the element counts differ or -1 cannot be
 *         inferred (the message shows both shapes); ::NN_ERR_OUT_OF_MEMORY.
 */
NN_API nn_status nn_tensor_reshape(const nn_tensor *t, int ndim, const int64_t *shape,
                                   nn_tensor **out);

/**
 * @brief Swaps two dimensions, as torch.transpose; a strided view sharing storage.
 * @param dim0,dim1 in [-ndim, ndim-1]; negative counts from the end.
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL or a dim out of range.
 */
NN_API nn_status nn_tensor_transpose(const nn_tensor *t, int dim0, int dim1, nn_tensor **out);

/**
 * @brief Contiguous copy of the tensor on another device (same dtype, shape).
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT; ::NN_ERR_DEVICE for a missing
 *         device or a CUDA failure; ::NN_ERR_OUT_OF_MEMORY.
 */
NN_API nn_status nn_tensor_to_device(const nn_tensor *t, nn_device dev, nn_tensor **out);

/**
 * @brief Contiguous copy converted to dtype `dt` (same device, shape).
 *
 * Follows the conversion rules of this group (torch `.to(dtype)`).
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL or a bad dt;
 *         ::NN_ERR_OUT_OF_MEMORY.
 */
NN_API nn_status nn_tensor_to_dtype(const nn_tensor *t, nn_dtype dt, nn_tensor **out);

/**
 * @brief Contiguous copy with its own storage (torch.clone).
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT; ::NN_ERR_OUT_OF_MEMORY.
 */
NN_API nn_status nn_tensor_clone(const nn_tensor *t, nn_tensor **out);

/**
 * @brief Formats the tensor as PyTorch 2.x `print(t)` does.
 *
 * Examples: `tensor([[ 5,  7,  9], ...])`, `tensor([0.1000, 2.5000])`,
 * `tensor(14)`. Floats print with 4 decimals, whole-valued floats as `1.`;
 * scientific notation when max/min > 1000, max > 1e8 or the smallest nonzero
 * magnitude < 1e-4; a `dtype=torch.int32` suffix for every dtype but float32
 * and int64; more than 1000 elements are summarised with `...` (3 edge items
 * per dimension); lines wrap at 80 columns; an empty multi-dim tensor prints
 * `tensor([], size=(0, 3))`; a GPU tensor adds `device='cuda:0'`.
 *
 * snprintf-style: `*needed` (NULL ok) receives the full length including the
 * NUL; when cap > 0 the text is written truncated to cap-1 characters and
 * NUL-terminated; buf may be NULL when cap is 0. Returns ::NN_OK even when
 * truncated.
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL t, or NULL buf with
 *         cap > 0; ::NN_ERR_DEVICE; ::NN_ERR_OUT_OF_MEMORY.
 */
NN_API nn_status nn_tensor_to_string(const nn_tensor *t, char *buf, size_t cap, size_t *needed);

/** @} */

/* ========================================================================= */
/**
 * @defgroup ops Operations
 * @brief Elementwise, reduction, matrix and least-squares operations.
 *
 * Every operation returns a new tensor (caller owns it) on the operands'
 * device. Both operands must be on the same device (else ::NN_ERR_DEVICE).
 *
 * **Type promotion** is PyTorch's `torch.result_type`: categories integer <
 * floating. Two operands of the same rank class (both with dimensions, or
 * both 0-dim) promote normally: the wider type wins (U8+I16 gives I16,
 * F16+BF16 gives F32, any integer + any float gives that float). A 0-dim
 * operand against a dimensioned one decides the type only when its category
 * is higher: `I32[3] + I64[]` gives I32, `F16[3] + F64[]` gives F16,
 * `I32[3] + F64[]` gives F64. Integer arithmetic wraps (two's complement).
 *
 * **Broadcasting** is NumPy's/PyTorch's: shapes are aligned at their last
 * dimension; each pair of dimensions must be equal or one of them 1 (a
 * missing leading dimension counts as 1); the result takes the larger.
 * Otherwise ::NN_ERR_SHAPE with both shapes in the message.
 *
 * Integer dtypes work for every op that makes sense on integers: add, sub,
 * mul, matmul, sum, max, min, argmax, neg, abs (and relu, step).
 * @{
 */

/** @brief Elementwise functions for nn_unary(). */
typedef enum nn_unary_op {
  NN_OP_NEG = 0,  /**< -x (wraps on U8, as torch). */
  NN_OP_ABS,      /**< |x|. */
  NN_OP_EXP,      /**< e^x. */
  NN_OP_LOG,      /**< natural log; log(0) = -inf, log(<0) = NaN. */
  NN_OP_SQRT,     /**< square root; NaN for x < 0. */
  NN_OP_RELU,     /**< max(x, 0). */
  NN_OP_SIGMOID,  /**< 1 / (1 + e^-x). */
  NN_OP_TANH,     /**< tanh(x). */
  NN_OP_STEP      /**< STEP: 1 where x > 0 else 0 */
} nn_unary_op;

/** @brief Elementwise operators for nn_binary() and nn_binary_scalar(). */
typedef enum nn_binary_op {
  NN_OP_ADD = 0,  /**< a + b. */
  NN_OP_SUB,      /**< a - b. */
  NN_OP_MUL,      /**< a * b. */
  NN_OP_DIV,      /**< true division (torch.div): integer / integer gives F32. */
  NN_OP_MAX,      /**< torch.maximum: NaN propagates. */
  NN_OP_MIN       /**< torch.minimum: NaN propagates. */
} nn_binary_op;

/** @brief Reductions for nn_reduce(). */
typedef enum nn_reduce_op {
  NN_REDUCE_SUM = 0,  /**< Sum: integers give I64, floats keep their dtype. */
  NN_REDUCE_MEAN,     /**< Mean: floating dtypes only; NaN over an empty dim. */
  NN_REDUCE_MAX,      /**< Maximum value, same dtype; NaN propagates. */
  NN_REDUCE_MIN,      /**< Minimum value, same dtype; NaN propagates. */
  NN_REDUCE_ARGMAX    /**< Index (I64) of the first maximum; NaN counts as the maximum. */
} nn_reduce_op;

/** @brief `dim` value for nn_reduce() meaning "reduce over every dimension". */
#define NN_ALL_DIMS (-128)

/**
 * @brief Applies an elementwise function: out = op(x), same shape.
 *
 * Result dtype: NEG, ABS, RELU and STEP keep the dtype (integers included;
 * STEP gives 0/1); EXP, LOG, SQRT, SIGMOID and TANH keep a floating dtype and
 * turn an integer dtype into F32.
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL or a bad op;
 *         ::NN_ERR_OUT_OF_MEMORY; ::NN_ERR_DEVICE.
 */
NN_API nn_status nn_unary(nn_unary_op op, const nn_tensor *x, nn_tensor **out);

/**
 * @brief Elementwise `a op b` with NumPy/PyTorch broadcasting and type promotion.
 *
 * The result has the broadcast shape and the promoted dtype (F32 for DIV of
 * two integer tensors).
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL or a bad op;
 *         ::NN_ERR_SHAPE when the shapes do not broadcast (both shapes are
 *         in the message); ::NN_ERR_DEVICE for operands on different
 *         devices; ::NN_ERR_OUT_OF_MEMORY.
 */
NN_API nn_status nn_binary(nn_binary_op op, const nn_tensor *a, const nn_tensor *b, nn_tensor **out);

/**
 * @brief Elementwise `a op b` with a scalar b that acts as a Python number.
 *
 * An integral b (finite, no fractional part) is a Python int, anything else
 * (including NaN and infinities) a float. An integer tensor op an int keeps
 * the tensor's dtype (DIV gives F32); an integer tensor op a float gives F32;
 * a floating tensor keeps its dtype. Example: `[1,2,3] + 1` is I64 `[2,3,4]`.
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL or a bad op;
 *         ::NN_ERR_OUT_OF_MEMORY.
 */
NN_API nn_status nn_binary_scalar(nn_binary_op op, const nn_tensor *a, double b, nn_tensor **out);

/**
 * @brief Reduces over one dimension or all, as torch.sum/mean/amax/amin/argmax.
 *
 * Result dtype: SUM of integers gives I64, of floats the same dtype (F16/BF16
 * accumulate in F32); MEAN of integers is ::NN_ERR_DTYPE; MAX/MIN keep the
 * dtype; ARGMAX gives I64 (with ::NN_ALL_DIMS, the index into the row-major
 * flattened tensor). Over an empty dimension SUM gives 0 and MEAN NaN, while
 * MAX, MIN and ARGMAX answer ::NN_ERR_SHAPE.
 * @param dim     in [-ndim, ndim-1] (negative counts from the end; 0 and -1
 *                for a 0-dim tensor) or ::NN_ALL_DIMS, which reduces to a
 *                0-dim tensor.
 * @param keepdim keep reduced dimensions with size 1 (with ::NN_ALL_DIMS:
 *                every dimension becomes 1).
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL, a bad op or dim out of
 *         range; ::NN_ERR_DTYPE; ::NN_ERR_SHAPE; ::NN_ERR_OUT_OF_MEMORY.
 */
NN_API nn_status nn_reduce(nn_reduce_op op, const nn_tensor *x, int dim, bool keepdim,
                           nn_tensor **out);

/**
 * @brief Matrix product with torch.matmul's rules.
 *
 * - both 1-D `[k]`,`[k]`: dot product, a 0-dim result;
 * - both 2-D `[n,k]`,`[k,m]`: matrix product `[n,m]`;
 * - a 1-D `[k]` with b of rank >= 2: a is treated as `[1,k]` and the 1 removed;
 * - a of rank >= 2 with b 1-D `[k]`: b is treated as `[k,1]` and the 1 removed
 *   (`[2,3] x [3]` gives `[2]`);
 * - otherwise batched: the leading (batch) dimensions broadcast and the last
 *   two multiply (`[j,1,n,k] x [l,k,m]` gives `[j,l,n,m]`).
 *
 * Result dtype: the promoted dtype; integer matmul accumulates in int64 and
 * wraps to the result width; F16/BF16 accumulate in F32.
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL; ::NN_ERR_SHAPE for a
 *         0-dim operand, mismatched inner dimensions or batch dimensions that
 *         do not broadcast (both shapes in the message); ::NN_ERR_DEVICE;
 *         ::NN_ERR_OUT_OF_MEMORY.
 */
NN_API nn_status nn_matmul(const nn_tensor *a, const nn_tensor *b, nn_tensor **out);

/**
 * @brief Least-squares solution x minimising ||a x - b||_2.
 *
 * Householder QR in float64 (closed-form linear regression,
 * w = (X^T X)^-1 X^T y computed stably).
 * @param a `[n, m]` with n >= m and full column rank.
 * @param b `[n]` or `[n, k]`.
 * @param x receives `[m]` or `[m, k]`, on a's device, of the promoted floating
 *          dtype of a and b (F32 when both are integers).
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT (with the reason) for NULL,
 *         n < m, non-finite input, or rank deficiency
 *         (|R_ii| <= max(n,m) * eps * max|R_jj|); ::NN_ERR_SHAPE when a is
 *         not 2-D, b is not 1-D/2-D, or their row counts differ;
 *         ::NN_ERR_DEVICE; ::NN_ERR_OUT_OF_MEMORY.
 */
NN_API nn_status nn_lstsq(const nn_tensor *a, const nn_tensor *b, nn_tensor **x);

/** @} */

/* ========================================================================= */
/**
 * @defgroup layers Layers
 * @brief Fully connected (Linear) layers and activation layers.
 *
 * Linear follows PyTorch's `nn.Linear`: weight `[out_features, in_features]`,
 * bias `[out_features]`, `y = x W^T + b` for `x` of shape
 * `[..., in_features]`, giving `[..., out_features]`. Parameters are F32 and
 * a new layer lives on the CPU (nn_model_to() moves a model's layers).
 *
 * Backpropagation is in matrix form: for `Y = X W^T + b` with upstream
 * gradient G, `dX = G W`, `dW = G^T X`, `db = sum of G over rows`; an
 * activation multiplies G elementwise by its derivative.
 *
 * **NaN and infinity** follow PyTorch on every device, batch size and dtype
 * (nn_layer_forward(), nn_model_forward(), nn_model_predict(),
 * nn_model_backward(), nn_model_evaluate(), nn_model_fit()): IEEE
 * arithmetic in Linear (a NaN input makes its whole output row NaN; inf * 0
 * and inf - inf are NaN), and every activation keeps NaN: RELU, LEAKY_RELU, SIGMOID, TANH and STEP give
 * NaN for NaN (at +inf and -inf: RELU inf and 0, SIGMOID 1 and 0, TANH 1
 * and -1, STEP 1 and 0), and SOFTMAX makes a row that holds a NaN or +inf,
 * or only -inf, all NaN.
 * Gradients are those of torch.autograd: ReLU passes the gradient where
 * `y > 0` or y is NaN and gives 0 where `y <= 0` (threshold_backward),
 * LEAKY_RELU multiplies it by 1 where `y > 0` and by 0.01 elsewhere (NaN
 * included), SIGMOID by `y (1 - y)`, TANH by `1 - y^2`, SOFTMAX
 * `y (g - sum(g y))` per row (NaN spreads), STEP passes it unchanged.
 * @{
 */

/** @brief Opaque layer handle; free with nn_layer_free() unless a model owns it. */
typedef struct nn_layer nn_layer;

/** @brief Activation functions (as layers and in nn_model_mlp()). */
typedef enum nn_activation {
  NN_ACT_IDENTITY = 0,  /**< y = x. */
  NN_ACT_RELU,          /**< y = max(x, 0), NaN for NaN (torch.relu); derivative 0 where y <= 0, else 1 (NaN included). */
  NN_ACT_SIGMOID,       /**< y = 1/(1+e^-x); dy/dx = y(1-y). */
  NN_ACT_TANH,          /**< y = tanh(x); dy/dx = 1-y^2. float32 on the CPU: within 1 ulp of the correctly rounded value, exactly +-1 from |x| = 9.02 on, tanh(-0) = -0. */
  NN_ACT_STEP,          /**< threshold at 0, output 0/1 (NaN for NaN; nn_unary's NN_OP_STEP gives 0 there); backward passes the gradient straight through */
  NN_ACT_SOFTMAX,       /**< over the last dim */
  NN_ACT_LEAKY_RELU     /**< y = x for x > 0, else 0.01 x (NaN for NaN); derivative 1 where y > 0, else 0.01 */
} nn_activation;

/** @brief What a layer is. */
typedef enum nn_layer_kind {
  NN_LAYER_LINEAR = 0,      /**< A fully connected layer. */
  NN_LAYER_ACTIVATION = 1   /**< An elementwise (or softmax) activation. */
} nn_layer_kind;

/** @brief Which parameter of a Linear layer. */
typedef enum nn_param {
  NN_PARAM_WEIGHT = 0,  /**< `[out_features, in_features]`. */
  NN_PARAM_BIAS = 1     /**< `[out_features]`. */
} nn_param;

/**
 * @brief Creates a Linear layer on the CPU, F32, initialised like PyTorch.
 *
 * Initialisation is PyTorch's default: weight Kaiming-uniform with
 * a = sqrt(5), i.e. uniform in +-1/sqrt(in_features), and bias uniform in
 * +-1/sqrt(in_features), drawn from the library's default seed 0 (the
 * values are reproducible, not those of PyTorch's generator).
 * @param in_features  >= 1.
 * @param out_features >= 1.
 * @param bias         whether the layer has a bias.
 * @param out          receives the layer (caller owns it).
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for a size < 1 or NULL out;
 *         ::NN_ERR_OUT_OF_MEMORY.
 */
NN_API nn_status nn_layer_linear(int64_t in_features, int64_t out_features, bool bias, nn_layer **out);

/**
 * @brief Creates an activation layer (no parameters).
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for a bad act or NULL out.
 */
NN_API nn_status nn_layer_activation(nn_activation act, nn_layer **out);

/**
 * @brief Frees a layer the caller owns. NULL is a no-op.
 *
 * Never pass a layer owned by a model (one given to nn_model_add() with
 * ::NN_OK, or borrowed from nn_model_layer()). Parameter handles from
 * nn_layer_param() stay valid: they keep the storage alive.
 */
NN_API void nn_layer_free(nn_layer *layer);

/** @brief Kind of a layer; `(nn_layer_kind)-1` for NULL. */
NN_API nn_layer_kind nn_layer_kind_of(const nn_layer *layer);

/**
 * @brief The activation an activation layer applies.
 * @return its ::nn_activation; `(nn_activation)-1` for a Linear layer or NULL.
 *         Never fails otherwise; thread-safe (reads only).
 */
NN_API nn_activation nn_layer_activation_of(const nn_layer *layer);

/**
 * @brief A parameter of a Linear layer as a tensor sharing the layer's storage.
 *
 * Writes through the returned tensor (nn_tensor_write(), nn_tensor_data())
 * change the layer, and training is seen through it. The caller owns and
 * frees the handle; the storage lives as long as either uses it. After
 * nn_model_to() moves the layer, an earlier handle still refers to the old
 * storage: get it again.
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL, a bad `which`, an
 *         activation layer, or ::NN_PARAM_BIAS of a layer without bias.
 */
NN_API nn_status nn_layer_param(nn_layer *layer, nn_param which, nn_tensor **out);

/**
 * @brief A copy of the gradient accumulated for a parameter (its shape, dtype, device).
 *
 * Zeros when nothing has been accumulated since the last zero_grad.
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT as nn_layer_param();
 *         ::NN_ERR_OUT_OF_MEMORY.
 */
NN_API nn_status nn_layer_grad(nn_layer *layer, nn_param which, nn_tensor **out);

/**
 * @brief Applies one layer to x, like calling a PyTorch module: `y = layer(x)`.
 *
 * Inference only: no gradient state is kept. Linear needs x of shape
 * `[..., in_features]` (ndim >= 1); an activation accepts any shape (softmax
 * over the last dimension).
 * @param y receives a new tensor (caller owns it).
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL; ::NN_ERR_SHAPE for a
 *         wrong feature count (both shapes in the message); ::NN_ERR_DTYPE
 *         for an integer x or, for Linear, a dtype other than the
 *         parameters'; ::NN_ERR_DEVICE when x is not on a Linear layer's
 *         device (an activation layer has no parameters and runs on x's
 *         device, like PyTorch's `nn.ReLU`); ::NN_ERR_OUT_OF_MEMORY.
 */
NN_API nn_status nn_layer_forward(nn_layer *layer, const nn_tensor *x, nn_tensor **y);

/** @} */

/* ========================================================================= */
/**
 * @defgroup models Models (sequential MLPs)
 * @brief A model is a sequence of layers applied in order, like nn.Sequential.
 * @{
 */

/** @brief Opaque model handle; free with nn_model_free(). */
typedef struct nn_model nn_model;

/**
 * @brief Weight initialisation schemes for nn_model_init().
 *
 * fan_in = in_features, fan_out = out_features of each Linear layer:
 * - TORCH_DEFAULT: weight U(+-1/sqrt(fan_in)) (Kaiming-uniform, a = sqrt(5)),
 *   bias U(+-1/sqrt(fan_in));
 * - HE_UNIFORM: weight U(+-sqrt(6/fan_in)) (kaiming_uniform_, gain sqrt(2));
 * - HE_NORMAL: weight N(0, std = sqrt(2/fan_in)) (kaiming_normal_);
 * - XAVIER_UNIFORM: weight U(+-sqrt(6/(fan_in+fan_out))) (xavier_uniform_);
 * - XAVIER_NORMAL: weight N(0, std = sqrt(2/(fan_in+fan_out))) (xavier_normal_);
 * - ZEROS: every weight 0.
 *
 * All but TORCH_DEFAULT set biases to 0.
 */
typedef enum nn_init {
  NN_INIT_TORCH_DEFAULT = 0, NN_INIT_HE_UNIFORM, NN_INIT_HE_NORMAL,
  NN_INIT_XAVIER_UNIFORM, NN_INIT_XAVIER_NORMAL, NN_INIT_ZEROS
} nn_init;   /* all but TORCH_DEFAULT set biases to 0; HE_* use gain sqrt(2), fan_in */

/**
 * @brief Creates an empty model on the CPU.
 *
 * An empty model's forward pass returns a copy of its input.
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL out; ::NN_ERR_OUT_OF_MEMORY.
 */
NN_API nn_status nn_model_create(nn_model **out);

/**
 * @brief Appends a layer; the model takes ownership on ::NN_OK.
 *
 * The layer is moved to the model's device. On failure the caller still owns
 * the layer. Afterwards the layer is borrowed: do not free it.
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL or a layer that
 *         already belongs to a model; ::NN_ERR_SHAPE when a Linear layer's
 *         in_features differs from the out_features of the model's last
 *         Linear layer; ::NN_ERR_DEVICE; ::NN_ERR_OUT_OF_MEMORY.
 */
NN_API nn_status nn_model_add(nn_model *m, nn_layer *layer);

/**
 * @brief Builds an MLP: Linear(s0,s1), hidden, ..., Linear(s[n-2],s[n-1]), output.
 *
 * Layers: `Linear(sizes[0], sizes[1])`, `hidden`, `Linear(sizes[1],
 * sizes[2])`, `hidden`, ..., `Linear(sizes[n-2], sizes[n-1])`, `output`; an
 * ::NN_ACT_IDENTITY activation adds no layer. Every Linear has a bias and is
 * initialised as by nn_model_init(m, NN_INIT_TORCH_DEFAULT, 0). On the CPU.
 * Example: sizes {2, 2, 1}, SIGMOID, SIGMOID gives the 2-2-1 XOR net with
 * 4 layers and 9 parameters.
 * @param n_sizes >= 2.
 * @param sizes   n_sizes layer widths, each >= 1.
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL, n_sizes < 2, a size
 *         < 1 or a bad activation; ::NN_ERR_OUT_OF_MEMORY.
 */
NN_API nn_status nn_model_mlp(int n_sizes, const int64_t *sizes, nn_activation hidden,
                              nn_activation output, nn_model **out);

/**
 * @brief Frees a model and every layer it owns. NULL is a no-op.
 *
 * Free its optimizers first. Parameter tensors obtained with
 * nn_layer_param() stay valid (they keep their storage alive).
 */
NN_API void nn_model_free(nn_model *m);

/** @brief Number of layers (activations count); -1 for NULL. */
NN_API int nn_model_num_layers(const nn_model *m);

/**
 * @brief The layer at `index` (0-based), borrowed: do not free.
 * @param out receives a borrowed pointer, valid until the model is freed.
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL or index outside
 *         0..num_layers-1.
 */
NN_API nn_status nn_model_layer(nn_model *m, int index, nn_layer **out);

/** @brief Total number of parameter elements (weights and biases); -1 for NULL. */
NN_API int64_t nn_model_num_params(const nn_model *m);

/**
 * @brief Re-initialises every Linear layer with a scheme (see ::nn_init).
 *
 * Seeded and reproducible: the same seed gives the same weights on every
 * device and thread count. Gradients are not changed.
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL or a bad scheme.
 */
NN_API nn_status nn_model_init(nn_model *m, nn_init scheme, uint64_t seed);

/**
 * @brief Moves every parameter and gradient of the model to a device.
 *
 * Move the model before creating its optimizer. Parameter handles obtained
 * before the move refer to the old storage.
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT; ::NN_ERR_DEVICE for a missing
 *         device; ::NN_ERR_OUT_OF_MEMORY (the model is unchanged on failure).
 */
NN_API nn_status nn_model_to(nn_model *m, nn_device dev);

/** @brief Device of the model's parameters; `{0, -1}` for NULL. */
NN_API nn_device nn_model_device(const nn_model *m);

/**
 * @brief Inference: applies the layers in order, keeping no gradient state.
 *
 * May run concurrently on the same model from many threads.
 * @param x `[n, in_features]` (or `[..., in_features]`), the parameters'
 *          dtype (F32), on the model's device.
 * @param y receives a new tensor (caller owns it).
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL; ::NN_ERR_SHAPE for a
 *         wrong feature count; ::NN_ERR_DTYPE; ::NN_ERR_DEVICE when x is on
 *         another device; ::NN_ERR_OUT_OF_MEMORY.
 */
NN_API nn_status nn_model_forward(nn_model *m, const nn_tensor *x, nn_tensor **y);

/**
 * @brief A text table of the model: one row per layer with its index, type
 *        (e.g. `Linear(784, 512)`, `ReLU`), output features and parameter
 *        count, then the total parameter count and the device.
 *
 * snprintf-style, as nn_tensor_to_string(): `*needed` (NULL ok) gets the full
 * length including the NUL; with cap > 0 the text is truncated to cap-1
 * characters and NUL-terminated; buf may be NULL when cap is 0.
 * @return ::NN_OK (even when truncated); ::NN_ERR_INVALID_ARGUMENT for NULL m,
 *         or NULL buf with cap > 0.
 */
NN_API nn_status nn_model_summary(const nn_model *m, char *buf, size_t cap, size_t *needed);

/**
 * @brief Converts every parameter and gradient of the model to a floating dtype.
 *
 * Models are F32 by default; F64 is for exact work such as finite-difference
 * gradient checks. Afterwards nn_model_forward() and nn_model_backward()
 * compute in that dtype (floating inputs of another dtype are converted),
 * layers added later are converted too, and nn_layer_param() returns tensors
 * of that dtype. Like nn_model_to(), parameter handles obtained before the
 * conversion refer to the old storage; convert before creating an optimizer.
 * @param dt ::NN_F32 or ::NN_F64.
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL or a value that is not
 *         an ::nn_dtype; ::NN_ERR_DTYPE for any other dtype;
 *         ::NN_ERR_OUT_OF_MEMORY (the model is unchanged on failure).
 */
NN_API nn_status nn_model_to_dtype(nn_model *m, nn_dtype dt);

/** @brief Dtype of the model's parameters (::NN_F32 unless changed); `(nn_dtype)-1` for NULL. */
NN_API nn_dtype nn_model_dtype(const nn_model *m);

/**
 * @brief Inference for embedding: `rows` rows of `in_features` floats from
 *        `x` in, `rows` rows of `out_features` floats to `y` out, in one call.
 *
 * `x` and `y` are host memory (row-major, C order) whatever the model's
 * device: a model on a GPU copies the rows in and the results out. An F64
 * model converts x to double and its outputs back to float. The results
 * equal nn_model_forward() on the same rows bit for bit (same kernels).
 * No handle is created and nothing is returned to free.
 *
 * Thread safety: like nn_model_forward(), it may run on one model from many
 * threads at once (each thread has its own scratch). After a thread's first
 * call for a given number of rows, a CPU model allocates nothing (F32
 * products of at least 2^24 multiply-adds excepted: see nn_model_backward()).
 * `y` must not overlap `x`.
 * @param rows number of rows (0: nothing is read or written).
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL m, NULL x or y with
 *         rows > 0, rows < 0, rows too large for the address space, or a
 *         model without a Linear layer (its input width is unknown);
 *         ::NN_ERR_OUT_OF_MEMORY; ::NN_ERR_DEVICE for a CUDA failure.
 */
NN_API nn_status nn_model_predict(const nn_model *m, int64_t rows, const float *x, float *y);

/**
 * @brief Input width of the model: in_features of its first Linear layer.
 * @return that count; -1 for NULL or a model without a Linear layer.
 */
NN_API int64_t nn_model_in_features(const nn_model *m);

/**
 * @brief Output width of the model: out_features of its last Linear layer
 *        (activations keep the width).
 * @return that count; -1 for NULL or a model without a Linear layer.
 */
NN_API int64_t nn_model_out_features(const nn_model *m);

/** @} */

/* ========================================================================= */
/**
 * @defgroup training Losses, gradients, optimizers
 * @brief Loss functions, backpropagation, SGD/Adam/AdamW and StepLR.
 *
 * Shapes: p (pred) and y (target) have the same shape `[n, ...]` for every
 * loss but ::NN_LOSS_CROSS_ENTROPY; pred is floating, and a floating target
 * of another dtype is converted to pred's. n is the number of samples (the
 * first dimension; 1 for a 0-dim pred).
 *
 * Targets in detail:
 * - MSE, SSE, HALF_MSE, BCE, BCE_WITH_LOGITS: a floating target of pred's
 *   shape; for a one-column pred `[n, 1]` a target `[n]` is also accepted
 *   (read as `[n, 1]`, never broadcast to `[n, n]`). A floating target of
 *   another dtype is converted to pred's; an integer target is
 *   ::NN_ERR_DTYPE.
 * - CROSS_ENTROPY: pred `[n, c]`; target either ::NN_I64 class ids `[n]`,
 *   each in 0..c-1 (else ::NN_ERR_INVALID_ARGUMENT naming the row), or
 *   floating probabilities `[n, c]` (converted to pred's dtype). Class ids
 *   of another dtype (integer or floating) are ::NN_ERR_DTYPE, as in
 *   PyTorch.
 * - Any other shape: ::NN_ERR_SHAPE with both shapes in the message.
 * @{
 */

/**
 * @brief Loss functions.
 *
 * - MSE: mean over all elements of (p - y)^2 (torch MSELoss, reduction mean).
 * - SSE: sum over all elements of (p - y)^2 (MSELoss, reduction sum).
 * - HALF_MSE: 1/(2n) * sum over samples of ||p - y||^2 (with batch 1 and
 *   Linear + STEP this gives the perceptron rule `w += lr (y - y^) x`).
 * - BCE: -mean(y log p + (1-y) log(1-p)), p in (0,1) (torch BCELoss; logs
 *   clamped at -100 as torch does); y in [0,1].
 * - BCE_WITH_LOGITS: BCE of sigmoid(p), computed stably from the logits
 *   (torch BCEWithLogitsLoss).
 * - CROSS_ENTROPY: softmax + negative log-likelihood over logits p `[n, c]`,
 *   mean over samples, computed with log-sum-exp (torch CrossEntropyLoss).
 *   Target: I64 class ids `[n]` in 0..c-1, or F32 probabilities `[n, c]`
 *   (loss = -mean over samples of sum_j y_j log softmax(p)_j).
 */
typedef enum nn_loss {
  NN_LOSS_MSE = 0,        /**< mean over all elements of (p - y)^2 (torch MSELoss) */
  NN_LOSS_SSE,            /**< sum of (p - y)^2 */
  NN_LOSS_HALF_MSE,       /**< 1/(2n) * sum over samples of ||p - y||^2 */
  NN_LOSS_BCE,            /**< binary cross-entropy on probabilities in (0,1), mean */
  NN_LOSS_BCE_WITH_LOGITS,/**< binary cross-entropy on logits, mean */
  NN_LOSS_CROSS_ENTROPY   /**< softmax + NLL over logits [n,c]; target I64 class ids [n] or F32 probabilities [n,c]; mean */
} nn_loss;

/** @brief Opaque optimizer handle; free with nn_optimizer_free(). */
typedef struct nn_optimizer nn_optimizer;

/**
 * @brief Computes a loss and optionally its gradient with respect to pred.
 * @param pred   predictions (floating; logits for BCE_WITH_LOGITS and
 *               CROSS_ENTROPY).
 * @param target targets, see ::nn_loss.
 * @param value  receives the loss (a double).
 * @param grad   NULL to skip; else receives d loss / d pred, a new tensor of
 *               pred's shape, dtype and device (caller owns it).
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL pred/target/value, a
 *         bad loss, or a class id outside 0..c-1; ::NN_ERR_SHAPE for
 *         mismatched shapes (both in the message); ::NN_ERR_DTYPE for an
 *         integer pred or a target of the wrong dtype; ::NN_ERR_DEVICE for
 *         tensors on different devices; ::NN_ERR_OUT_OF_MEMORY.
 */
NN_API nn_status nn_loss_compute(nn_loss loss, const nn_tensor *pred, const nn_tensor *target,
                                 double *value, nn_tensor **grad /* NULL to skip; d loss / d pred */);

/**
 * @brief Sets every accumulated gradient of the model to zero.
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL.
 */
NN_API nn_status nn_model_zero_grad(nn_model *m);

/**
 * @brief Forward + loss + backpropagation; gradients accumulate (add to the
 *        existing ones, as PyTorch's backward()).
 *
 * Uses a per-model workspace: after the first call with a shape, a step
 * allocates nothing, except that on the CPU each F32 matrix product of at
 * least 2^24 multiply-adds (e.g. a 512 x 2048 x 2048 layer product) runs
 * through oneDNN (its matmul primitive or dnnl_sgemm, whichever was measured
 * faster for that kind of product), which allocates a few bytes of
 * bookkeeping per call (it is 10-30% faster than libnn's own GEMM there).
 * @param x          `[n, in_features]` on the model's device.
 * @param target     target for `loss` (see ::nn_loss).
 * @param loss_value receives the loss of this batch.
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT; ::NN_ERR_SHAPE for a wrong
 *         feature count or a target that does not fit the output;
 *         ::NN_ERR_DTYPE; ::NN_ERR_DEVICE; ::NN_ERR_OUT_OF_MEMORY. On failure
 *         the gradients are unchanged.
 */
NN_API nn_status nn_model_backward(nn_model *m, const nn_tensor *x, const nn_tensor *target,
                                   nn_loss loss, double *loss_value);

/**
 * @brief Creates an SGD optimizer for the parameters of m (torch.optim.SGD semantics).
 *
 * Per parameter p with gradient g, at each step (dampening 0):
 * @code
 *   g = g + weight_decay * p
 *   if momentum != 0:
 *       buf = g                      (first step)
 *       buf = momentum * buf + g     (later steps)
 *       g = nesterov ? g + momentum * buf : buf
 *   p = p - lr * g
 * @endcode
 * @param lr           >= 0.
 * @param momentum     >= 0.
 * @param weight_decay >= 0 (L2 penalty added to the gradient).
 * @param nesterov     Nesterov momentum; needs momentum > 0.
 * @param out          receives the optimizer. It keeps a reference to m:
 *                     the model must outlive its optimizer.
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL, a negative or
 *         non-finite hyper-parameter, or nesterov with momentum 0;
 *         ::NN_ERR_OUT_OF_MEMORY.
 */
NN_API nn_status nn_optimizer_sgd(nn_model *m, double lr, double momentum, double weight_decay,
                                  bool nesterov, nn_optimizer **out);   /* torch.optim.SGD semantics */

/**
 * @brief Creates an Adam (or AdamW) optimizer for the parameters of m.
 *
 * torch.optim.Adam / AdamW (amsgrad off). Per parameter p with gradient g,
 * step t = 1, 2, ..., moments m0 = v0 = 0:
 * @code
 *   if decoupled: p = p * (1 - lr * weight_decay)      (AdamW)
 *   else:         g = g + weight_decay * p             (Adam, L2)
 *   m = beta1 * m + (1 - beta1) * g
 *   v = beta2 * v + (1 - beta2) * g^2
 *   m^ = m / (1 - beta1^t);   v^ = v / (1 - beta2^t)
 *   p = p - lr * m^ / (sqrt(v^) + eps)
 * @endcode
 * PyTorch's defaults: lr 1e-3, betas 0.9/0.999, eps 1e-8, weight_decay 0
 * (Adam) or 1e-2 (AdamW).
 * @param lr >= 0. @param beta1,beta2 in [0, 1). @param eps >= 0.
 * @param weight_decay >= 0. @param decoupled true for AdamW.
 * @param out receives the optimizer; the model must outlive it.
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL or a hyper-parameter
 *         out of range or non-finite; ::NN_ERR_OUT_OF_MEMORY.
 */
NN_API nn_status nn_optimizer_adam(nn_model *m, double lr, double beta1, double beta2, double eps,
                                   double weight_decay, bool decoupled /* AdamW */, nn_optimizer **out);

/** @brief Frees an optimizer and its state. NULL is a no-op. The model must outlive its optimizer. */
NN_API void nn_optimizer_free(nn_optimizer *opt);

/**
 * @brief Updates every parameter of the optimizer's model from its
 *        accumulated gradient (optimizer.step()). Does not zero the gradients.
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL; ::NN_ERR_DEVICE;
 *         ::NN_ERR_OUT_OF_MEMORY.
 */
NN_API nn_status nn_optimizer_step(nn_optimizer *opt);

/**
 * @brief Sets every gradient of the optimizer's model to zero (optimizer.zero_grad()).
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL.
 */
NN_API nn_status nn_optimizer_zero_grad(nn_optimizer *opt);

/** @brief Current learning rate; NaN for NULL. */
NN_API double nn_optimizer_lr(const nn_optimizer *opt);

/**
 * @brief Sets the current learning rate (param_group['lr'] = lr).
 * @param lr finite, >= 0.
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL or a bad lr.
 */
NN_API nn_status nn_optimizer_set_lr(nn_optimizer *opt, double lr);

/**
 * @brief Attaches a StepLR schedule (torch.optim.lr_scheduler.StepLR).
 *
 * Counting k calls of nn_optimizer_epoch_end() from now, the learning rate
 * becomes lr0 * gamma^floor(k / step_size), lr0 being the learning rate when
 * this is called; i.e. every step_size-th call multiplies it by gamma.
 * Replaces an earlier schedule.
 * @param step_size >= 1.
 * @param gamma     finite, > 0 (0.5 halves the rate).
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL or bad values.
 */
NN_API nn_status nn_optimizer_set_step_lr(nn_optimizer *opt, int step_size, double gamma); /* torch StepLR */

/**
 * @brief Ends an epoch: advances the schedule (scheduler.step()).
 *
 * Without a schedule the learning rate is unchanged. nn_model_fit() calls it
 * once per epoch.
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL.
 */
NN_API nn_status nn_optimizer_epoch_end(nn_optimizer *opt);                               /* scheduler.step() */

/**
 * @brief Number of epochs ended so far: the nn_optimizer_epoch_end() calls
 *        (nn_model_fit() makes one per epoch), restored by
 *        nn_checkpoint_load().
 *
 * nn_model_fit() draws an epoch's shuffle order from its seed and this
 * count, so fitting 1 epoch twice equals fitting 2 epochs once, bit for bit,
 * and training resumed from a checkpoint continues the same sequence.
 * @return the count (>= 0); -1 for NULL. Reads the handle: do not call while
 *         another thread changes the optimizer.
 */
NN_API int64_t nn_optimizer_epoch(const nn_optimizer *opt);   /* epochs ended so far (nn_optimizer_epoch_end calls) */

/** @} */

/* ========================================================================= */
/**
 * @defgroup fit Training loop
 * @brief nn_model_fit(), per-epoch reports and callbacks, nn_model_evaluate().
 *
 * **The loop.** For each epoch: if shuffle, draw a new permutation of the
 * rows (from the seed and the optimizer's epoch count nn_optimizer_epoch(),
 * not the loop's: reproducible, fit(1 epoch) twice equals fit(2 epochs)
 * once, and a run resumed from nn_checkpoint_load() continues the same
 * sequence); for each batch
 * of `batch_size` rows in that order (the last partial batch is used, as a
 * DataLoader with drop_last=False): zero_grad, forward, loss, backward,
 * optimizer step; then nn_optimizer_epoch_end(). The epoch's loss is the mean
 * of its batch losses. Then, with a validation set, val_loss and
 * val_accuracy are computed as by nn_model_evaluate(); then the callback
 * runs with the epoch's report.
 *
 * **Accuracy** (classification losses BCE, BCE_WITH_LOGITS, CROSS_ENTROPY;
 * NaN for the others): the fraction of samples predicted right. For
 * multi-column outputs `[n, c]`: argmax of the prediction equals the class id
 * (I64 target `[n]`) or the argmax of the one-hot/probability target. For one
 * column: the prediction thresholded at probability 0.5 (p >= 0.5, or
 * sigmoid(logit) >= 0.5 for BCE_WITH_LOGITS) equals the target thresholded at
 * 0.5.
 *
 * **Early stopping** (patience > 0, needs a validation set): after each epoch,
 * if val_loss is below the best so far it becomes the best; otherwise a
 * counter grows, and training stops with ::NN_OK when `patience` epochs in a
 * row brought no improvement. The model keeps the weights of its last epoch.
 *
 * **Cancel.** A callback returning non-zero stops training after that epoch:
 * ::NN_ERR_CANCELLED, and the model keeps what it learned so far. The
 * bindings share one rule for it: a callback that stops training is not an
 * error there, so their fit returns normally with the last epoch's report
 * marked cancelled (Python: `fit` returns, the last EpochReport has
 * `cancelled=True`; Rust: `Ok(EpochReport { cancelled: true, .. })`; Julia:
 * `fit!` returns an EpochReport with `cancelled == true`). An exception or
 * panic raised in a binding's callback stops training too and is re-raised
 * by its fit.
 *
 * **Per-batch reports** (options version 2). With `on_batch` set and
 * `batch_every` = k > 0, after every optimizer step whose 0-based batch index
 * b within the epoch satisfies (b + 1) % k == 0, on_batch runs with the
 * epoch, b, the epoch's batch count, that batch's loss and the seconds since
 * the epoch began. Non-zero stops training right after that batch:
 * ::NN_ERR_CANCELLED, the model keeps what it learned (the epoch callback
 * does not run for the unfinished epoch; `last` holds the last finished
 * epoch's report, zeros if none). Reading each batch's loss synchronises a
 * GPU once per report.
 *
 * **NaN rollback.** If an epoch's loss becomes NaN or infinite (as it does
 * when any of its batch losses does), or its weights do, training stops at
 * the end of that epoch with ::NN_ERR_NOT_FINITE (the message names the
 * epoch) and the model and optimizer are put back to their state at the end
 * of the last epoch whose loss was finite (the starting weights if none), so
 * a diverging run never leaves a poisoned model. The loss is read once per
 * epoch: on a GPU the batches run without a host synchronisation. The
 * rollback point (a copy of the weights and of the optimizer's state) is
 * taken when training starts and at the end of every epoch but the last; it
 * is kept with the optimizer (on the model's device, freed by
 * nn_optimizer_free()), so later fits with that optimizer allocate nothing
 * for it.
 *
 * **Data-parallel** (options version 2, `comm` set; see the group "comm"),
 * as PyTorch's DistributedDataParallel with a DistributedSampler. Every rank
 * of the group calls nn_model_fit with its own shard x, y; `batch_size` is
 * per rank (the global batch is size x batch_size). At the start the ranks
 * agree, collectively, on the number of rows, epochs, batch_size, loss,
 * validation presence, patience, shuffle, batch_every, the model
 * (parameter count and shapes, dtype, kind of device) and the optimizer
 * (kind and learning rate; its other hyper-parameters are not compared and
 * must match too for the ranks to stay identical): a mismatch fails on
 * every rank with ::NN_ERR_SHAPE (rows, model), ::NN_ERR_DTYPE,
 * ::NN_ERR_DEVICE or ::NN_ERR_INVALID_ARGUMENT and a message naming the field
 * and two ranks' values ("the ranks disagree on batch_size: rank 0 has 32,
 * rank 1 has 16 ..."); an argument error on one rank fails there as without
 * a group and on the others with its status and "rank R failed its argument
 * checks: <message>"; no rank waits forever, and no model changes. Then rank
 * 0's parameters are broadcast to every rank (before the rollback point is
 * taken). After each batch's backward the gradients of every parameter are
 * averaged over the ranks with one allreduce of a flat buffer (MEAN; copied in
 * and out of the model's gradients), so every rank takes the same optimizer
 * step and the weights stay identical. The epoch loss is the mean of the
 * ranks' epoch losses, val_loss and val_accuracy those of the union of the
 * ranks' validation sets (which may differ in size); the batch loss given to
 * on_batch is the mean over ranks. Early stopping, the NaN rollback (a
 * non-finite loss on any rank) and cancellation (a callback on any rank
 * returning non-zero, on_epoch or on_batch; ranks without a callback take
 * part) are decided the same way on every rank. With shuffle, rank r permutes
 * its shard with seed + r. With shuffle off, W ranks where rank r holds rows
 * [r*b, (r+1)*b) of every global batch of W*b rows end with the weights of one
 * process fitting the concatenated rows with batch W*b (up to rounding; for a
 * sum loss, SSE, the averaged step is 1/W of that process's). A rank that
 * fails in the middle of training (not in the checks), or dies, takes the job
 * down: the others wait in the next collective until MPI ends the job.
 * @{
 */

/** @brief What nn_model_fit() reports after each epoch. */
typedef struct nn_epoch_report {
  int epoch;            /**< 0-based */
  int epochs;           /**< total epochs requested */
  double loss;          /**< mean training loss over the epoch's batches */
  double val_loss;      /**< NaN when no validation set */
  double val_accuracy;  /**< NaN when none or not a classification loss */
  double lr;            /**< learning rate used in this epoch */
  double seconds;       /**< wall time of this epoch */
} nn_epoch_report;

/**
 * @brief Per-epoch callback, e.g. for a progress bar.
 * @param report    the epoch's report, borrowed for the duration of the call.
 * @param user_data nn_fit_options::user_data.
 * @return 0 to continue; non-zero stops training (::NN_ERR_CANCELLED).
 */
typedef int (*nn_epoch_callback)(const nn_epoch_report *report, void *user_data); /* non-zero stops: NN_ERR_CANCELLED */

/**
 * @brief Communicator for data-parallel training across processes (opaque;
 *        NULL in nn_fit_options::comm means this process alone).
 */
typedef struct nn_comm nn_comm;

/** @brief What nn_model_fit() reports every nn_fit_options::batch_every batches. */
typedef struct nn_batch_report {
  int epoch;            /**< 0-based */
  int64_t batch;        /**< 0-based within the epoch */
  int64_t batches;      /**< batches in this epoch */
  double loss;          /**< this batch's loss */
  double seconds;       /**< since the epoch began */
} nn_batch_report;

/**
 * @brief Per-batch callback (version 2 of ::nn_fit_options), e.g. for a
 *        progress bar within a long epoch.
 * @param report    the batch's report, borrowed for the duration of the call.
 * @param user_data nn_fit_options::user_data.
 * @return 0 to continue; non-zero stops training after this batch
 *         (::NN_ERR_CANCELLED; the model keeps what it learned so far).
 */
typedef int (*nn_batch_callback)(const nn_batch_report *report, void *user_data); /* non-zero stops */

/**
 * @brief Current version of ::nn_fit_options.
 *
 * **Versions.** Version 1 ends at `user_data`; version 2 appends `comm`,
 * `on_batch` and `batch_every`. The library reads and writes only the fields
 * of the version the caller's struct names, so a program compiled against an
 * older header keeps working with a newer library: nn_fit_options_init()
 * fills exactly the struct of the header the program was built with (the
 * library exports one symbol version of it per struct version: `nn_0.1` for
 * version 1, `nn_0.2` for version 2), nn_model_fit() reads only the fields of
 * `opts->version` (1 or 2; any other value is ::NN_ERR_INVALID_ARGUMENT
 * naming it), and never writes an ::nn_epoch_report larger than that
 * version's.
 */
#define NN_FIT_OPTIONS_VERSION 2

/**
 * @brief Options of nn_model_fit(); fill with nn_fit_options_init() first,
 *        then change what you need (new fields are only ever appended).
 */
typedef struct nn_fit_options {
  uint32_t version;           /**< NN_FIT_OPTIONS_VERSION */
  int epochs;                 /**< default 10; >= 1 */
  int64_t batch_size;         /**< 1 = online, 0 = full batch, else minibatch; default 32 */
  bool shuffle;               /**< default true: reshuffle every epoch */
  uint64_t seed;              /**< shuffle seed; default 0 */
  nn_loss loss;               /**< default NN_LOSS_MSE */
  const nn_tensor *val_x;     /**< optional validation set (borrowed; NULL for none) */
  const nn_tensor *val_y;     /**< validation targets; set with val_x */
  int patience;               /**< early stopping on val_loss; 0 = off */
  nn_epoch_callback on_epoch; /**< optional (NULL for none) */
  void *user_data;            /**< passed to on_epoch and on_batch */
  /* version 2 */
  const nn_comm *comm;        /**< NULL: this process alone */
  nn_batch_callback on_batch; /**< optional, called every batch_every batches */
  int64_t batch_every;        /**< default 0: never; >= 0 */
} nn_fit_options;

/**
 * @brief Fills defaults and the version: epochs 10, batch_size 32, shuffle
 *        true, seed 0, loss MSE, no validation set, patience 0, no callback,
 *        no communicator, batch_every 0. NULL is a no-op.
 *
 * Writes exactly `sizeof(nn_fit_options)` of the header the caller was
 * compiled with (see ::NN_FIT_OPTIONS_VERSION). Thread-safe.
 */
NN_API void nn_fit_options_init(nn_fit_options *o);

/**
 * @brief Trains the model with the optimizer on (x, y); see the loop above.
 * @param m    the model (on the device of x and y).
 * @param opt  an optimizer created for m.
 * @param x    inputs `[n, in_features]`, n >= 1.
 * @param y    targets with n rows, as the loss requires (see ::nn_loss).
 * @param opts options filled by nn_fit_options_init(); borrowed for the call.
 * @param last NULL ok; on ::NN_OK or ::NN_ERR_CANCELLED receives the report
 *             of the last epoch trained.
 * @return ::NN_OK (all epochs, or early stopping); ::NN_ERR_CANCELLED;
 *         ::NN_ERR_NOT_FINITE (weights rolled back, see above), and also,
 *         before anything else changes, when x, y, val_x or val_y holds a
 *         NaN or an infinity: the message names the first one in row-major
 *         order, e.g. `nn_model_fit: x[17, 3] is NaN`, `val_y[2] is inf`
 *         (data of another dtype are checked as converted to the model's:
 *         `x[3, 1] is inf once converted to float32`); the data are read
 *         once, one pass over each tensor on its device (a GPU copies a
 *         tensor back only when it fails);
 *         ::NN_ERR_INVALID_ARGUMENT for NULL, an options version other
 *         than 1 or 2 (the message names it), epochs < 1, batch_size < 0,
 *         batch_every < 0, patience < 0, patience > 0 without a
 *         validation set, only one of val_x/val_y, a bad loss, or an
 *         optimizer of another model; ::NN_ERR_SHAPE for a wrong feature
 *         count, x/y row mismatch or a target shape the loss does not
 *         accept; ::NN_ERR_DTYPE; ::NN_ERR_DEVICE when the data are not on
 *         the model's device; ::NN_ERR_OUT_OF_MEMORY. On an argument error
 *         the model is untouched.
 * On CUDA, the forward/loss/backward step is recorded as a CUDA Graph and
 * replayed once a batch shape repeats (same results, bit for bit; a step
 * that cannot be recorded just runs as before); the environment variable
 * NN_CUDA_GRAPHS=0 turns that off.
 */
NN_API nn_status nn_model_fit(nn_model *m, nn_optimizer *opt, const nn_tensor *x, const nn_tensor *y,
                              const nn_fit_options *opts, nn_epoch_report *last /* NULL ok */);

/**
 * @brief Loss (and accuracy) of the model on (x, y), without changing it.
 *
 * The loss over the whole set as ::nn_loss defines it; accuracy as defined
 * for the training loop (NaN for a non-classification loss). NaN in x or in
 * a floating y gives a NaN loss, as in PyTorch (an infinity gives NaN or
 * inf); the data are not checked as nn_model_fit() checks them.
 * @param loss_value receives the loss.
 * @param accuracy   NULL ok; receives the accuracy in [0, 1] or NaN.
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT; ::NN_ERR_SHAPE; ::NN_ERR_DTYPE;
 *         ::NN_ERR_DEVICE; ::NN_ERR_OUT_OF_MEMORY.
 */
NN_API nn_status nn_model_evaluate(nn_model *m, const nn_tensor *x, const nn_tensor *y, nn_loss loss,
                                   double *loss_value, double *accuracy /* NULL ok */);

/** @} */

/* ========================================================================= */
/**
 * @defgroup persistence Persistence
 * @brief Save and load models as safetensors files, compatible with PyTorch.
 *
 * **Layout.** A safetensors file: 8 bytes, the little-endian uint64 length N
 * of the header; N bytes of UTF-8 JSON header (padded with spaces); then the
 * data section. The header maps each tensor name to
 * `{"dtype":"F32","shape":[out,in],"data_offsets":[BEGIN,END]}`, offsets
 * relative to the start of the data section; data is little-endian,
 * row-major. dtype names: F32, F64, F16, BF16, U8, I16, I32, I64.
 *
 * **Names.** Those of PyTorch's `nn.Sequential.state_dict()`: `<i>.weight`
 * and `<i>.bias`, where i is the layer's index in the model (activation
 * layers count), stored with their own dtype and shape. `__metadata__` holds
 * `"nn.architecture"`, a JSON array (as a string) with one object per layer:
 * `{"type":"linear","in":784,"out":512,"bias":true}` or
 * `{"type":"activation","act":"relu"}` (act names: identity, relu, sigmoid,
 * tanh, step, softmax, leaky_relu). So a file written by PyTorch's
 * `safetensors.torch.save_file(seq.state_dict(), path,
 * metadata={"nn.architecture": ...})` loads here, and a file saved here loads
 * into the same `nn.Sequential` in PyTorch.
 *
 * **Load checks.** Loading checks everything: file at least 8 bytes; header
 * length at most 100,000,000 and inside the file; header valid UTF-8 JSON
 * starting with `{` (trailing spaces allowed); no duplicate names; known
 * dtypes; offsets start at 0, END >= BEGIN, back to back with no holes, and
 * the last one ends exactly at the end of the file; byte counts equal element
 * count x dtype size with no overflow; `__metadata__` values are strings;
 * names, dtypes and shapes match the architecture. Any failure answers
 * ::NN_ERR_FORMAT with a message naming what is wrong, never a crash, a hang
 * or an allocation larger than the file.
 *
 * **Loader limits.** Time and memory are linear in the input: nn_model_load()
 * reads the 8-byte prefix first and refuses a header length over
 * 100,000,000 bytes or past the end of the file before reading the rest (a
 * 2 GB file with a hostile length costs 8 bytes of reading); the JSON header
 * and the `nn.architecture` string each have at most 200,000 JSON values and
 * 64 levels of nesting; duplicate names are found by hashing (an object of
 * 200,000 keys is checked in milliseconds); tensors are matched to layers by
 * name in one pass. A 4 MB hostile header (200,000 keys, 60,000 layers or
 * deep nesting) is answered in well under a second. Memory: the header's
 * bytes plus about 100 bytes per JSON value in it, plus the model:
 * nn_model_load() and nn_checkpoint_load() read each tensor from the file
 * straight into its parameter (converting in 256 KiB steps when the dtypes
 * differ), and never hold the file's bytes; nn_model_load_weights() holds
 * them (it checks the whole file before changing the model).
 *
 * **Saving.** nn_model_save() replaces the file crash-safely:
 * - the bytes go to a temporary file in the same folder, are flushed to disk
 *   (fsync), and the temporary file is renamed over the file (then the folder
 *   is flushed): at any moment, a crash or a kill leaves the old file or the
 *   new one, never a mix;
 * - the temporary file is unnamed while it is written (`O_TMPFILE`, where the
 *   file system has it), so a kill leaves nothing; otherwise, and in the
 *   instant between naming it and the rename, a kill can leave one
 *   `<name>.tmp.XXXXXX` (with a long name: a prefix of it and a hash, so that
 *   the temporary name never exceeds NAME_MAX); the next save of the same
 *   file removes it (a temporary file that a running save holds is locked
 *   and kept);
 * - the new file keeps the permission bits of the file it replaces; a new
 *   file gets `0666 & ~umask`, as `fopen` would create it;
 * - a symbolic link is followed (up to 40 links) and its final target is
 *   replaced atomically; the link stays a link;
 * - a path that exists and is not a regular file (a FIFO, a device, a
 *   socket, a directory) is refused with ::NN_ERR_IO and left untouched;
 * - saves of one file from several threads or processes at once each
 *   succeed, and the file is one of the saved models whole (the last rename
 *   wins);
 * - on failure the old file is intact, the temporary file is removed, and
 *   the message names the file the failing step was about (the temporary
 *   file, the target of a link) and the file being saved.
 *
 * **Metadata.** The model's own string entries (nn_model_set_metadata())
 * are saved beside `nn.architecture` and loaded back; other keys starting
 * with `nn.` are the library's.
 *
 * **Also here:** checkpoints of the whole training state for exact resume
 * (nn_checkpoint_save(), nn_checkpoint_load()), PyTorch state dicts without
 * metadata (nn_model_load_weights()), and the model as plain C source
 * (nn_model_export_c()).
 * @{
 */

/**
 * @brief Saves the model to a safetensors file, atomically.
 *
 * Writes a temporary file next to `path` (next to the final target when
 * `path` is a symbolic link) and renames it over it: on failure or a kill
 * the old file is intact; see **Saving** above for permissions, links,
 * special files and temporary files. Works for a model on any device.
 * Thread-safe; concurrent saves of the same path leave one of the models.
 * @param path UTF-8 file path.
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL; ::NN_ERR_IO when the
 *         file cannot be written, when `path` is not a regular file, or for
 *         a loop of symbolic links; ::NN_ERR_DEVICE; ::NN_ERR_OUT_OF_MEMORY.
 */
NN_API nn_status nn_model_save(const nn_model *m, const char *path);          /* atomic: old file intact on failure */

/**
 * @brief Loads a model from a safetensors file onto a device.
 *
 * Reads the 8-byte prefix, then the header, checks them (see **Loader
 * limits**), allocates the parameters on `dev` and reads each tensor once,
 * straight into its parameter (a tensor of another dtype is converted on
 * the way). Nothing else is computed: the first nn_model_predict() follows
 * directly. Thread-safe.
 * @param out receives the model (caller owns it). Its parameters are F64
 *            when the file's first parameter is F64, else F32 (F16 and BF16
 *            values are converted).
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL; ::NN_ERR_IO when the
 *         file cannot be opened or read; ::NN_ERR_FORMAT for anything the
 *         load checks reject; ::NN_ERR_DEVICE; ::NN_ERR_OUT_OF_MEMORY.
 */
NN_API nn_status nn_model_load(const char *path, nn_device dev, nn_model **out);

/**
 * @brief Serialises the model into memory, byte for byte the file
 *        nn_model_save() writes.
 *
 * `*needed` (NULL ok) receives the size in bytes. With buf NULL and cap 0
 * only the size is reported (::NN_OK). With cap >= the size the bytes are
 * written. With 0 < cap < size nothing is written to buf and the call answers
 * ::NN_ERR_INVALID_ARGUMENT (naming cap and the size), *needed still set.
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT; ::NN_ERR_DEVICE;
 *         ::NN_ERR_OUT_OF_MEMORY.
 */
NN_API nn_status nn_model_save_buffer(const nn_model *m, void *buf, size_t cap, size_t *needed);

/**
 * @brief Loads a model from `len` bytes of safetensors in memory.
 *
 * The same checks as nn_model_load(); the caller keeps ownership of buf,
 * which is not referenced after the call.
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL; ::NN_ERR_FORMAT;
 *         ::NN_ERR_DEVICE; ::NN_ERR_OUT_OF_MEMORY.
 */
NN_API nn_status nn_model_load_buffer(const void *buf, size_t len, nn_device dev, nn_model **out);

/**
 * @brief Saves the model and its optimizer (the whole training state) to one
 *        safetensors file, atomically, so that training can resume exactly.
 *
 * The file is the model's file (as nn_model_save() writes it, metadata
 * included) with, in addition:
 * - the optimizer's state tensors, named as PyTorch's optimizer state per
 *   parameter: `optimizer.<param name>.momentum_buffer` (SGD with momentum),
 *   `optimizer.<param name>.exp_avg` and `.exp_avg_sq` (Adam, AdamW), e.g.
 *   `optimizer.0.weight.exp_avg`, each with its parameter's dtype and shape;
 * - `__metadata__` entries (strings): `nn.optimizer` ("sgd", "adam" or
 *   "adamw"); its hyper-parameters `nn.optimizer.lr` (the current learning
 *   rate), `nn.optimizer.momentum`, `nn.optimizer.nesterov` ("true"/"false"),
 *   `nn.optimizer.weight_decay` (SGD) or `nn.optimizer.beta1`,
 *   `nn.optimizer.beta2`, `nn.optimizer.eps`, `nn.optimizer.weight_decay`
 *   (Adam/AdamW); the counters `nn.optimizer.step` (optimizer steps taken)
 *   and `nn.optimizer.epoch` (nn_optimizer_epoch()); with a StepLR schedule
 *   `nn.step_lr.step_size`, `nn.step_lr.gamma` and `nn.step_lr.last_epoch`
 *   (epochs ended since the schedule was set). Numbers are written in the
 *   shortest decimal form that reads back as the same double.
 *
 * nn_model_load() reads a checkpoint as a plain model (the optimizer part
 * is ignored). In PyTorch, `safetensors.torch.load_file(path)` gives the
 * model's state_dict once the `optimizer.` entries are dropped:
 * `seq.load_state_dict({k: v for k, v in sd.items() if not
 * k.startswith("optimizer.")})`.
 *
 * **Exact resume.** Training N epochs with nn_model_fit() equals training
 * k, saving a checkpoint, loading it (in this or another process) and
 * training N-k with the same fit options, bit for bit on the CPU, for SGD
 * (momentum, Nesterov, weight decay), Adam and AdamW, with or without StepLR
 * and shuffling (the shuffle order follows nn_optimizer_epoch()).
 * @param m    the model; @param opt an optimizer created for m.
 * @param path UTF-8 file path; a temporary file next to it is renamed over
 *             it, so on failure the old file is intact.
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL, an optimizer of
 *         another model, or a model changed since the optimizer was created;
 *         ::NN_ERR_IO when the file cannot be written; ::NN_ERR_DEVICE;
 *         ::NN_ERR_OUT_OF_MEMORY. Reads m and opt: do not call while another
 *         thread trains them.
 */
NN_API nn_status nn_checkpoint_save(const nn_model *m, const nn_optimizer *opt, const char *path);  /* atomic */

/**
 * @brief Loads a checkpoint written by nn_checkpoint_save(): a new model and
 *        a new optimizer for it, in the state they were saved in.
 *
 * The model is loaded with every check of nn_model_load() (its metadata
 * included); then the checkpoint part is checked as strictly: `nn.optimizer`
 * must be present and name a known optimizer; every entry that optimizer
 * needs must be present and well formed (numbers finite and in the ranges
 * the optimizer constructors and nn_optimizer_set_step_lr() accept, counters
 * non-negative integers); no other `nn.optimizer*` or `nn.step_lr.*` entry,
 * no missing and no extra `optimizer.*` tensor; each state tensor has its
 * parameter's dtype and shape. The optimizer's learning rate, step count,
 * epoch count and schedule are restored, so the next nn_model_fit()
 * continues where the saved run stopped.
 * @param path  UTF-8 file path.
 * @param dev   where the model and the optimizer state go.
 * @param model receives the model (caller frees it, after the optimizer).
 * @param opt   receives the optimizer (caller frees it with nn_optimizer_free()).
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL; ::NN_ERR_IO when the
 *         file cannot be read; ::NN_ERR_FORMAT for anything the checks
 *         reject (a plain model file too: it has no `nn.optimizer`), the
 *         message naming the entry or tensor; ::NN_ERR_DEVICE;
 *         ::NN_ERR_OUT_OF_MEMORY. On failure nothing is written to model
 *         and opt.
 */
NN_API nn_status nn_checkpoint_load(const char *path, nn_device dev, nn_model **model, nn_optimizer **opt);

/**
 * @brief Loads parameters into an existing model from any safetensors file
 *        whose tensor names and shapes match it, as PyTorch's
 *        `load_state_dict(strict=True)`; e.g. a file written by
 *        `safetensors.torch.save_file(seq.state_dict(), path)`, which has no
 *        `nn.architecture` entry.
 *
 * The model's parameters are `<i>.weight` `[out, in]` and `<i>.bias` `[out]`
 * for each Linear layer i (activation layers count in i, as in
 * nn.Sequential). The file must hold exactly those tensors with those
 * shapes; `__metadata__` is ignored, and so are the `optimizer.*` tensors
 * of a checkpoint (a file with an `nn.optimizer` entry). Values of dtype
 * F32, F64, F16, BF16, U8, I16, I32 or I64 are converted to the model's
 * dtype. All or nothing: on failure the model is unchanged. The model's
 * metadata is not changed.
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL; ::NN_ERR_IO when the
 *         file cannot be read; ::NN_ERR_FORMAT for an invalid safetensors
 *         file, or when tensors are missing, unexpected or mis-shaped (the
 *         message lists them all, like load_state_dict: "missing 1
 *         tensor(s): "2.bias"; unexpected 1 tensor(s): "3.weight"; size
 *         mismatch for 1 tensor(s): "0.weight" is [4, 3] in the file but
 *         [4, 2] in the model"); ::NN_ERR_DEVICE; ::NN_ERR_OUT_OF_MEMORY.
 *         Changes m: do not call while another thread uses it.
 */
NN_API nn_status nn_model_load_weights(nn_model *m, const char *path);  /* load_state_dict(strict=True) */

/**
 * @brief Sets (or, with value NULL, removes) a metadata entry of the model:
 *        a string key and value saved in the file's `__metadata__` by
 *        nn_model_save(), nn_model_save_buffer() and nn_checkpoint_save(), and
 *        loaded back by nn_model_load(), nn_model_load_buffer() and
 *        nn_checkpoint_load(). The place for feature names, input scaling,
 *        a model version.
 *
 * Keys starting with `nn.` are reserved for the library (`nn.architecture`,
 * the checkpoint entries). Limits: a key is 1 to 128 bytes, a value at most
 * 65,536 bytes, both valid UTF-8; a model holds at most 128 entries. A file
 * whose other (non-`nn.`) `__metadata__` entries break these limits is
 * refused by the loaders with ::NN_ERR_FORMAT (PyTorch's `"format": "pt"`
 * entry, for one, loads as an ordinary entry).
 * @param key   UTF-8, NUL-terminated (copied).
 * @param value UTF-8, NUL-terminated (copied); NULL removes the entry
 *              (::NN_OK also when there was none).
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL m or key, a reserved,
 *         empty, too long or non-UTF-8 key, a too long or non-UTF-8 value,
 *         or a new key when the model has 128 entries;
 *         ::NN_ERR_OUT_OF_MEMORY. Changes m: do not call while another
 *         thread uses it.
 */
NN_API nn_status nn_model_set_metadata(nn_model *m, const char *key, const char *value);  /* value NULL removes */

/**
 * @brief Reads a metadata entry of the model (see nn_model_set_metadata()).
 *
 * Copies the value into buf as nn_model_summary() does: at most cap - 1
 * bytes and a NUL (truncated when cap is too small); `*needed` (NULL ok)
 * receives the value's length + 1. For a key that is not set the call
 * answers ::NN_OK with `*needed` = 0 and buf = "" (when cap > 0), which an
 * empty value (`*needed` = 1) is not. buf NULL with cap 0 only asks for the
 * size.
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL m or key, buf NULL with
 *         cap > 0, or a reserved (`nn.`) key. Reads m: safe alongside
 *         nn_model_forward(), not alongside a change of m.
 */
NN_API nn_status nn_model_get_metadata(const nn_model *m, const char *key, char *buf, size_t cap, size_t *needed);

/**
 * @brief Number of metadata entries of the model (0 to 128); -1 for NULL.
 *        With nn_model_metadata_key() it lists them. Reads m.
 */
NN_API int nn_model_metadata_count(const nn_model *m);

/**
 * @brief The key of metadata entry `index` (0 to count - 1; entries are in
 *        byte order of their keys), copied as nn_model_get_metadata() copies
 *        a value (`*needed` = length + 1).
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL m, buf NULL with
 *         cap > 0, or an index out of range (naming the count). Reads m.
 */
NN_API nn_status nn_model_metadata_key(const nn_model *m, int index, char *buf, size_t cap, size_t *needed);

/**
 * @brief Writes the model as one self-contained C99 source file, for
 *        firmware, games and other programs that must not link libnn.
 *
 * The file includes only `<stddef.h>` and `<math.h>` and defines:
 * @code
 *   #define <PREFIX>_IN_FEATURES  in_features      (prefix upper-cased)
 *   #define <PREFIX>_OUT_FEATURES out_features
 *   void <prefix>_predict(const float *x, float *y);                  one row
 *   void <prefix>_predict_rows(size_t rows, const float *x, float *y); row-major rows
 * @endcode
 * (`double` instead of `float` for an F64 model). The weights are `static
 * const` arrays written as exact hexadecimal floating literals; the
 * functions allocate nothing and use no writable global (reentrant,
 * thread-safe), holding two vectors of the widest layer on the stack. Sums
 * accumulate in double unless `<PREFIX>_FLOAT_ACCUMULATE` is defined. The
 * file compiles cleanly with `cc -std=c99 -Wall -Wextra -pedantic -Werror`
 * (link with `-lm`), and its outputs equal nn_model_forward()'s within 1e-6
 * relative. Activations as nn.h defines them (softmax over the row, leaky
 * ReLU slope 0.01, step 1 where x > 0).
 * @param path   UTF-8 file path, written atomically.
 * @param prefix a C identifier of 1 to 64 characters (letters, digits, `_`,
 *               not starting with a digit), e.g. "digits".
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL, a bad prefix, or a
 *         model without a Linear layer; ::NN_ERR_IO when the file cannot be
 *         written; ::NN_ERR_DEVICE; ::NN_ERR_OUT_OF_MEMORY. Reads m: safe
 *         alongside nn_model_forward().
 */
NN_API nn_status nn_model_export_c(const nn_model *m, const char *path, const char *prefix);

/** @} */

/* ========================================================================= */
/**
 * @defgroup comm Process groups (data-parallel training)
 * @brief Groups of processes that reduce and broadcast tensors together, on
 *        MPI (CPU tensors) and NCCL (GPU tensors), for data-parallel training.
 *
 * **Loaded on demand.** libnn.so does not link MPI or NCCL. The MPI part is
 * a separate module, libnn_mpi.so (built when CMake finds MPI, installed
 * next to libnn.so), opened with dlopen() on the first nn_comm_mpi(). It is
 * looked up in `$NN_MPI_MODULE_PATH` (a file, or a folder holding
 * libnn_mpi.so) alone when that is set, else next to libnn.so, then on the
 * dynamic linker's search path. Without the module, or without an MPI
 * runtime, nn_comm_mpi() answers ::NN_ERR_UNSUPPORTED with a message that
 * says which is missing.
 *
 * **Collectives.** Every function here that takes a comm (except rank and
 * size) is collective: every rank of the group calls it, in the same order,
 * with matching arguments. CPU tensors go through MPI; tensors on a GPU go
 * through NCCL when the module was built with it (one NCCL communicator per
 * comm and device, made on the first GPU collective: rank 0's unique id is
 * broadcast over MPI), else ::NN_ERR_UNSUPPORTED. A rank that dies takes
 * the job down (MPI's default error handling): there is no recovery.
 *
 * **Training.** nn_model_fit() with nn_fit_options::comm (options version 2)
 * trains data-parallel, as PyTorch's DistributedDataParallel with a
 * DistributedSampler: see the training-loop group.
 *
 * **Threads.** MPI is initialised with MPI_THREAD_SERIALIZED when libnn
 * initialises it: a comm must not be used by two threads at once, and calls
 * on different comms must not overlap either.
 * @{
 */

/* nn_comm, a group of processes (opaque), is declared with nn_fit_options
 * in the training-loop group; nn_comm_mpi() makes one. */

/**
 * @brief A process group over an MPI communicator (collective over it).
 *
 * Initialises MPI (MPI_Init_thread, MPI_THREAD_SERIALIZED) if the caller has
 * not, and then finalises it at exit; a caller that initialised MPI itself
 * keeps finalising it. The communicator is duplicated (MPI_Comm_dup), so
 * libnn's messages never mix with the caller's, and its error handler is
 * MPI_ERRORS_RETURN (errors come back as statuses where MPI can report them).
 * @param mpi_comm the address of an `MPI_Comm` (e.g. `&comm` in C,
 *                 `MPI._addressof(comm)` with mpi4py); NULL: MPI_COMM_WORLD.
 *                 Borrowed for the call.
 * @param out receives the comm (caller owns it: nn_comm_free()).
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for out NULL or MPI_COMM_NULL;
 *         ::NN_ERR_UNSUPPORTED when libnn_mpi.so is missing ("this build has
 *         no MPI module" / "the MPI module libnn_mpi.so is missing: ..."),
 *         when the MPI runtime is ("no MPI runtime: ..."), when MPI was
 *         already finalised, or when MPI cannot start; ::NN_ERR_INTERNAL for
 *         an MPI failure (MPI's message).
 * Thread-safe (but MPI collectives must not overlap: see above).
 */
NN_API nn_status nn_comm_mpi(const void *mpi_comm, nn_comm **out);

/**
 * @brief Frees a comm (MPI_Comm_free of its duplicate, and its NCCL
 *        communicators); collective on the comm like MPI_Comm_free. NULL is
 *        a no-op; after MPI_Finalize only the handle's memory is freed.
 */
NN_API void nn_comm_free(nn_comm *c);

/** @brief This process's rank in the group, 0..size-1; -1 for NULL. Thread-safe. */
NN_API int nn_comm_rank(const nn_comm *c);

/** @brief Number of processes in the group; -1 for NULL. Thread-safe. */
NN_API int nn_comm_size(const nn_comm *c);

/**
 * @brief Reduces t over the group, in place: afterwards every rank holds the
 *        element-wise SUM, MEAN, MAX or MIN of all ranks' tensors.
 *
 * Any dtype (MEAN: floating dtypes only; integer sums wrap like C's unsigned
 * arithmetic); any strides; CPU (MPI) or GPU (NCCL; no I16 there). MAX and
 * MIN propagate NaN on the CPU, as nn_reduce() does. F16/BF16 are summed in
 * float and rounded after each pairwise step; MEAN is SUM divided by the
 * group size. Every rank's result is the same.
 *
 * The ranks first agree on (dtype, element count, device kind, op) with one
 * small message, so a mismatch, or an argument error on any rank, fails on
 * every rank instead of hanging or corrupting memory.
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL, ARGMAX or an unknown
 *         op, or when the ranks pass different ops; ::NN_ERR_DTYPE for MEAN
 *         on integers, I16 on a GPU, or different dtypes; ::NN_ERR_SHAPE
 *         for different element counts; ::NN_ERR_DEVICE for different kinds
 *         of device; ::NN_ERR_UNSUPPORTED for a GPU tensor without NCCL.
 *         On a rank whose arguments were fine, another rank's argument error
 *         comes back with that rank's status and "rank R failed its argument
 *         checks: <its message>".
 */
NN_API nn_status nn_comm_allreduce(const nn_comm *c, nn_tensor *t, nn_reduce_op op);

/**
 * @brief Copies root's t into every rank's t, in place (any dtype, strides,
 *        CPU or GPU); the ranks first agree on (dtype, element count, device
 *        kind, root) as nn_comm_allreduce() does.
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL, a root outside
 *         0..size-1 or different roots; ::NN_ERR_DTYPE; ::NN_ERR_SHAPE;
 *         ::NN_ERR_DEVICE; ::NN_ERR_UNSUPPORTED, as nn_comm_allreduce().
 */
NN_API nn_status nn_comm_broadcast(const nn_comm *c, nn_tensor *t, int root);

/**
 * @brief Copies root's parameters (every weight and bias) into every rank's
 *        model, as one message: afterwards all ranks hold the same model.
 *
 * The ranks first agree that their models have the same architecture
 * (layer count, each parameter's shape), dtype and kind of device; a
 * mismatch fails on every rank with a message naming it. Gradients and
 * optimizer state are not sent.
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL or a bad root;
 *         ::NN_ERR_SHAPE for different architectures; ::NN_ERR_DTYPE;
 *         ::NN_ERR_DEVICE; ::NN_ERR_UNSUPPORTED (GPU without NCCL).
 */
NN_API nn_status nn_model_broadcast(const nn_comm *c, nn_model *m, int root);

/** @} */

/* ========================================================================= */
/**
 * @defgroup onnx ONNX
 * @brief Move models to and from ONNX (ONNX Runtime, PyTorch, and the rest).
 *
 * libnn reads and writes the ONNX protobuf encoding itself (no libprotobuf:
 * `libnn.so` gains no shared-library dependency).
 *
 * **Export.** nn_model_export_onnx() writes a self-contained ONNX model
 * (IR version 7, default-domain opset 13) with one graph input `"input"` of
 * shape `[batch, in_features]` and one output `"output"` of shape
 * `[batch, out_features]`, where `batch` is a symbolic (dynamic) dimension.
 * Element type float for an ::NN_F32 model, double for an ::NN_F64 one.
 * Layer i becomes: Linear: `Gemm(x, "<i>.weight", "<i>.bias")` with
 * transB = 1 (weight `[out, in]` as in PyTorch; no C input without a bias);
 * RELU: `Relu`; SIGMOID: `Sigmoid`; TANH: `Tanh`; SOFTMAX: `Softmax` with
 * axis = -1; LEAKY_RELU: `LeakyRelu` with alpha = 0.01 (in an ::NN_F64
 * model `Where(Greater(x, 0), x, Mul(x, 0.01))`, the same function, since
 * ONNX Runtime has no double LeakyRelu kernel); STEP:
 * `Cast(Greater(x, 0), to = the model's type)` (1 where x > 0, else 0; NaN
 * gives 0); IDENTITY: `Identity`. Parameters are initializers with raw
 * little-endian data, named as in the safetensors file. `onnx.checker`
 * accepts the file and ONNX Runtime's predictions equal
 * nn_model_forward()'s within 1e-6 relative (tests/onnx/check_onnx.py).
 *
 * **Import.** nn_model_import_onnx() reads what `torch.onnx.export` (either
 * exporter) writes for an `nn.Sequential` of `Linear` and the activations
 * above: a single chain from the one graph input to the one graph output of
 * `Gemm` (alpha = 1, transA = 0, transB 0 or 1, B and C constant; C a bias of
 * `[out]` or `[1, out]`, or one value broadcast), `MatMul` by a constant
 * 2-D matrix optionally followed by `Add` of a constant `[out]` bias,
 * `Relu`, `Sigmoid`, `Tanh`, `Softmax` over the last axis, `LeakyRelu` with
 * alpha 0.01 (or the `Where` form above), `Greater(x, 0)` followed by `Cast`
 * to a floating type (STEP),
 * `Flatten` of a 2-D input with axis 1 (a no-op, no layer) and `Identity`
 * (an IDENTITY activation layer, so libnn's own exports keep their layer
 * indices; an exported empty model reads back as one IDENTITY layer).
 * Constants may be initializers (raw_data or the typed fields; float,
 * double, float16, bfloat16) or `Constant` nodes, and `Transpose` or
 * `Identity` of a constant is folded. Default-domain opset 7 or later. The
 * model's dtype is ::NN_F64 when the graph input is double, else ::NN_F32
 * (parameters are converted). Anything else answers ::NN_ERR_UNSUPPORTED
 * with a message naming the node (its index and name) and its op, e.g.
 * `nn_model_import_onnx: node 1 "/1/Conv" (op Conv) is not supported: ...`;
 * more than one graph input or output, local functions, sparse or external
 * initializers, and a constant used by two layers (shared weights) are
 * ::NN_ERR_UNSUPPORTED too.
 *
 * **Hostile files.** The reader trusts nothing: every length is checked
 * against the bytes left in its message, varints are at most 10 bytes,
 * groups and unknown wire types are refused, nothing recurses, and every
 * element a tensor declares must be present in the file, so memory use is
 * bounded by a small multiple of the file's size. A malformed file answers
 * ::NN_ERR_FORMAT with a message naming what is wrong, never a crash or a
 * hang (fuzzed: tests/fuzz, target fuzz_import_onnx).
 *
 * **Thread safety.** Both functions may run concurrently with each other and
 * with nn_model_forward() on the same model; export reads the model, so the
 * caller serialises it with anything that changes that model.
 * @{
 */

/**
 * @brief Writes the model as an ONNX file, atomically.
 *
 * Writes a temporary file next to `path` and renames it over `path`: on
 * failure the old file is intact. Works for a model on any device (the
 * parameters are copied to the host). An empty model gives a graph with one
 * `Identity` node; a model without a Linear layer a symbolic feature
 * dimension. Importing the file gives the same layers, parameters bit for
 * bit and dtype.
 * @param m    the model (not changed).
 * @param path UTF-8 file path (conventionally `*.onnx`).
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL; ::NN_ERR_IO when the
 *         file cannot be written; ::NN_ERR_DEVICE; ::NN_ERR_OUT_OF_MEMORY.
 */
NN_API nn_status nn_model_export_onnx(const nn_model *m, const char *path);

/**
 * @brief Reads an ONNX model into a new libnn model on a device.
 *
 * See the group's description for what is accepted. The model is built on
 * the CPU and then moved to `dev`.
 * @param path UTF-8 path of an `.onnx` file.
 * @param dev  device of the new model.
 * @param out  receives the model (caller owns it, frees it with
 *             nn_model_free()); untouched on failure.
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL or a bad device;
 *         ::NN_ERR_IO when the file cannot be opened or read;
 *         ::NN_ERR_FORMAT for a malformed file (not protobuf, no graph, no
 *         default opset, no input or output, a tensor whose data does not
 *         match its shape, layers whose widths do not chain, ...);
 *         ::NN_ERR_UNSUPPORTED for a valid graph libnn cannot represent,
 *         naming the node and op; ::NN_ERR_DEVICE; ::NN_ERR_OUT_OF_MEMORY.
 */
NN_API nn_status nn_model_import_onnx(const char *path, nn_device dev, nn_model **out);

/** @} */

/* ========================================================================= */
/**
 * @defgroup data Data files, row selection, metrics
 * @brief Read and write `.npy` and CSV files, take slices and rows of a
 *        tensor, join tensors, and score predictions.
 *
 * **.npy** (NumPy's format, versions 1.0, 2.0 and 3.0). nn_tensor_load_npy()
 * reads dtypes `f2 f4 f8 u1 i2 i4 i8` (F16, F32, F64, U8, I16, I32, I64) in
 * either byte order (`<`, `>`, `|` for one byte, `=`), C or Fortran order,
 * 0 to 8 dimensions; the tensor is always C order. The parser trusts
 * nothing: magic and version; a header length inside the file (at most
 * 1 MiB); a header of printable ASCII ending with its only newline and
 * holding exactly the keys `descr`, `fortran_order` and `shape` (a Python
 * dict literal: either quote, any key order, optional trailing comma); shape
 * entries non-negative and overflow-free; the data exactly `numel x dtype
 * size` bytes (a short or over-long file is refused). The header is checked
 * before the data is read. Any failure answers ::NN_ERR_FORMAT with a
 * message naming the path and what is wrong, never a crash or an allocation
 * larger than the file. Other dtypes (bool, int8,
 * uint16/32/64, complex, structured, object) answer ::NN_ERR_FORMAT naming
 * the descr. nn_tensor_save_npy() writes version 1.0, C order,
 * little-endian, the data 64-byte aligned, as `numpy.save` does; NumPy's
 * `numpy.load` reads it. NumPy has no bfloat16: a BF16 tensor is written as
 * float32 (`<f4`, exact), and loads back as F32.
 *
 * **CSV.** nn_tensor_load_csv() reads a numeric table: one row per line
 * (`\n` or `\r\n`), fields separated by `delimiter`, spaces and tabs around
 * a field ignored, blank lines skipped, a UTF-8 byte order mark skipped, no
 * quoting. Numbers are decimal (`1`, `-2.5`, `+3e-4`, `inf`, `nan`) read in
 * the "C" locale whatever the process locale; for an integer dtype a field
 * must be an integer (`3` or `3.0`) within the dtype's range. Every row has
 * the first data row's column count. Errors are ::NN_ERR_FORMAT with the
 * path, the 1-based line number (counting skipped lines) and the 1-based
 * column (field) number: `nn_tensor_load_csv: data.csv: line 7, column 3:
 * "x1" is not a number`.
 *
 * **Metrics.** `pred` and `target` are `[n]` or `[n, k]`, n >= 1 rows, on
 * the same device, any real dtype; values are computed in float64.
 * - ::NN_METRIC_ACCURACY: nn_model_evaluate()'s rule (group fit): for
 *   `[n, c]` scores with c > 1, argmax equals the class id (integer target
 *   `[n]`) or the argmax of a `[n, c]` one-hot/probability target; for one
 *   column (`[n]` or `[n, 1]`), pred >= 0.5 equals target >= 0.5.
 * - ::NN_METRIC_MAE, ::NN_METRIC_RMSE, ::NN_METRIC_R2: pred and target of the
 *   same column count k; computed per column, then averaged uniformly over
 *   the columns, as scikit-learn's `mean_absolute_error`,
 *   `root_mean_squared_error` (the mean of the per-column RMSEs) and
 *   `r2_score` (`multioutput="uniform_average"`, `force_finite=True`: a
 *   constant target column scores 1.0 when predicted exactly, else 0.0) do.
 *   R2 with fewer than 2 rows is NaN (scikit-learn: undefined).
 *
 * **Thread-safety.** All functions here may run concurrently on different
 * tensors and files, and on the same tensors when none of the calls writes
 * to them.
 * @{
 */

/**
 * @brief Loads a `.npy` file into a new tensor on `dev` (rules above).
 * @param path UTF-8 file path.
 * @param out  receives the tensor (caller owns it).
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL or a bad device;
 *         ::NN_ERR_IO when the file cannot be opened or read (or is not a
 *         regular file); ::NN_ERR_FORMAT for anything the checks reject;
 *         ::NN_ERR_DEVICE; ::NN_ERR_OUT_OF_MEMORY.
 */
NN_API nn_status nn_tensor_load_npy(const char *path, nn_device dev, nn_tensor **out);

/**
 * @brief Saves a tensor (any device, dtype, strides) as a `.npy` file,
 *        atomically: a temporary file next to `path` is renamed over it, so
 *        on failure the old file is intact.
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL; ::NN_ERR_IO when the
 *         file cannot be written; ::NN_ERR_DEVICE; ::NN_ERR_OUT_OF_MEMORY.
 */
NN_API nn_status nn_tensor_save_npy(const nn_tensor *t, const char *path);   /* atomic */

/**
 * @brief Loads a numeric CSV table as a `[rows, cols]` tensor of `dt` on
 *        `dev` (rules above).
 * @param delimiter  the field separator, e.g. `','`, `';'`, `'\t'`, `' '`;
 *                   not a newline, NUL, quote, digit, letter, `.`, `+` or `-`.
 * @param skip_rows  >= 0 lines skipped first (a header).
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL, a bad dtype, device,
 *         delimiter or skip_rows; ::NN_ERR_IO; ::NN_ERR_FORMAT (the message
 *         names path, line and column; also for a table with no data rows);
 *         ::NN_ERR_DEVICE; ::NN_ERR_OUT_OF_MEMORY.
 */
NN_API nn_status nn_tensor_load_csv(const char *path, char delimiter, int skip_rows, nn_dtype dt, nn_device dev,
                                    nn_tensor **out);

/**
 * @brief `t[start:end]` along `dim`: a view sharing t's storage (writes
 *        through either are seen by both).
 *
 * Python's slice rules: a negative start or end counts from the end of the
 * dimension, both are clamped to [0, size], and end <= start gives an empty
 * view. `dim` may be negative (counts from the last dimension).
 * @param out receives the view (caller owns the handle; t may be freed
 *            first).
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL or dim out of range;
 *         ::NN_ERR_SHAPE for a 0-dim t.
 */
NN_API nn_status nn_tensor_slice(const nn_tensor *t, int dim, int64_t start, int64_t end, nn_tensor **out); /* view */

/**
 * @brief The entries of t at the positions `index` along `dim` (as
 *        torch.index_select), in a new contiguous tensor of t's dtype:
 *        `out.shape[dim] = numel(index)`. Rows may repeat (a shuffle, a
 *        bootstrap sample, a train/test split).
 * @param index 1-D, dtype U8, I16, I32 or I64, on t's device; each entry in
 *              [-size, size) (negative counts from the end).
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL, dim out of range or
 *         an index out of range (the message names its position and value);
 *         ::NN_ERR_SHAPE for a 0-dim t or an index that is not 1-D;
 *         ::NN_ERR_DTYPE for a floating index; ::NN_ERR_DEVICE;
 *         ::NN_ERR_OUT_OF_MEMORY.
 */
NN_API nn_status nn_tensor_index_select(const nn_tensor *t, int dim, const nn_tensor *index, nn_tensor **out);

/**
 * @brief Joins n tensors along `dim` (torch.cat) into a new tensor.
 *
 * All have the same rank (>= 1) and the same sizes outside `dim`, and live
 * on one device; the result's dtype is their promoted dtype (as
 * nn_binary()'s, e.g. I64 with F32 gives F32).
 * @param ts n tensor handles (borrowed).
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for n < 1, NULL (naming
 *         `ts[i]`), dim out of range; ::NN_ERR_SHAPE for a rank or size
 *         mismatch (both shapes printed) or 0-dim tensors; ::NN_ERR_DEVICE;
 *         ::NN_ERR_OUT_OF_MEMORY.
 */
NN_API nn_status nn_tensor_concat(int n, const nn_tensor *const *ts, int dim, nn_tensor **out);

/** @brief The metrics of nn_metric_compute() (definitions above). */
typedef enum nn_metric {
  NN_METRIC_ACCURACY = 0, /**< fraction of rows predicted right */
  NN_METRIC_MAE,          /**< mean absolute error */
  NN_METRIC_RMSE,         /**< root mean squared error */
  NN_METRIC_R2            /**< coefficient of determination (sklearn r2_score) */
} nn_metric;

/**
 * @brief Scores predictions against targets (definitions above).
 * @param value receives the metric.
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL or a bad metric;
 *         ::NN_ERR_SHAPE for a rank above 2, no rows, or shapes that do not
 *         fit (both printed); ::NN_ERR_DTYPE for floating class ids;
 *         ::NN_ERR_DEVICE for tensors on two devices.
 */
NN_API nn_status nn_metric_compute(nn_metric metric, const nn_tensor *pred, const nn_tensor *target, double *value);

/**
 * @brief Confusion matrix: I64 `[classes, classes]` on pred's device, entry
 *        (i, j) the number of rows of true class i predicted as class j
 *        (scikit-learn's `confusion_matrix(y_true, y_pred)` layout).
 * @param pred    scores `[n, c]` with c > 1 (argmax), probabilities `[n, 1]`
 *                (>= 0.5 is class 1), or integer class ids `[n]`.
 * @param target  the same forms (class ids `[n]`, one-hot rows `[n, c]`).
 * @param classes 1..65536; every class id must be below it.
 * @return ::NN_OK; ::NN_ERR_INVALID_ARGUMENT for NULL, classes out of range,
 *         or a class id outside 0..classes-1 (the message names the row);
 *         ::NN_ERR_SHAPE; ::NN_ERR_DTYPE for floating ids `[n]`;
 *         ::NN_ERR_DEVICE; ::NN_ERR_OUT_OF_MEMORY.
 */
NN_API nn_status nn_confusion_matrix(const nn_tensor *pred, const nn_tensor *target, int64_t classes,
                                     nn_tensor **out);

/** @} */

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* NN_H */
