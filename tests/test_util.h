/* Shared helpers for the libnn CMocka tests: a float64 reference toolkit.
 *
 * Everything goes through the public header nn.h only. Tensor values are
 * compared as doubles: tu_read() converts any dtype to double exactly
 * (every libnn dtype is exactly representable in double, except int64 values
 * beyond 2^53, which tests avoid or check through tu_read_i64()).
 */
#ifndef NN_TEST_UTIL_H
#define NN_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "nn.h"

#define TU_MAX_DIMS 8

extern const nn_dtype tu_all_dtypes[8];
extern const nn_dtype tu_float_dtypes[4];
extern const nn_dtype tu_int_dtypes[4];

nn_device tu_cpu(void);

/* ---- the device under test --------------------------------------------------
 * Device-generic test programs run once per device: CTest registers each of
 * them twice, as `test_x` (CPU) and `test_x_cuda` (NN_TEST_DEVICE=cuda).
 * NN_TEST_DEVICE is "cpu" (the default), "cuda" or "cuda:N"; anything else
 * aborts the program. Tensors made by tu_make* live on tu_device(). */
nn_device tu_device(void);
bool tu_on_cpu(void);         /* tu_device() is the CPU */
const char *tu_device_name(void);  /* "cpu", "cuda:0" */
/* Moves t to tu_device() (frees t; returns it unchanged on the CPU). */
#define tu_to_device(t) tu_to_device_at((t), __FILE__, __LINE__)
nn_tensor *tu_to_device_at(nn_tensor *t, const char *file, int line);
/* Exit code of a test program whose device is not available: CTest's
 * SKIP_RETURN_CODE reports it as skipped. */
#define TU_SKIPPED 77
/* Runs a CMocka group on tu_device(): when that device is unavailable it
 * prints why ("skipped: test_x on cuda:0: <nn_last_error of a CUDA
 * request>") and returns TU_SKIPPED without running anything. */
#define tu_run_group(tests) \
  tu_run_group_impl(__FILE__, (tests), sizeof(tests) / sizeof((tests)[0]))
/* source: the program's source file (its base name without ".c" names it). */
int tu_run_group_impl(const char *source, const struct CMUnitTest *tests, size_t n);
const char *tu_dtype_name(nn_dtype dt);   /* "f32", "u8", ... */
bool tu_is_float(nn_dtype dt);
bool tu_is_int(nn_dtype dt);
size_t tu_dtype_size(nn_dtype dt);        /* the test's own table */

/* ---- scalar conversions (docs/semantics.md) ------------------------------- */
uint16_t tu_f32_to_f16(float f);          /* round to nearest even, overflow -> inf */
float tu_f16_to_f32(uint16_t h);
uint16_t tu_f32_to_bf16(float f);         /* round to nearest even */
float tu_bf16_to_f32(uint16_t h);
int64_t tu_wrap(nn_dtype int_dt, int64_t v);          /* two's complement wrap */
int64_t tu_float_to_i64(double v);                    /* trunc, NaN->0, saturate */
/* The value a double becomes once stored as dt (float source semantics). */
double tu_cast(nn_dtype dt, double v);
/* The value an integer becomes once stored as dt (integer source semantics). */
double tu_cast_int(nn_dtype dt, int64_t v);
/* Store/load element i of a raw buffer of dtype dt. */
void tu_store(nn_dtype dt, void *buf, int64_t i, double v);
void tu_store_i64(nn_dtype dt, void *buf, int64_t i, int64_t v);
double tu_load(nn_dtype dt, const void *buf, int64_t i);
int64_t tu_load_i64(nn_dtype dt, const void *buf, int64_t i);

/* PyTorch result_type for two tensor operands (zero-dim rule included). */
nn_dtype tu_promote(nn_dtype a, bool a_zero_dim, nn_dtype b, bool b_zero_dim);
nn_dtype tu_promote_types(nn_dtype a, nn_dtype b);

/* ---- shapes --------------------------------------------------------------- */
int64_t tu_numel(int ndim, const int64_t *shape);
/* shape to "[2, 3]" (static ring buffer, valid for a few calls). */
const char *tu_shape_str(int ndim, const int64_t *shape);

/* ---- deterministic PRNG (splitmix64) --------------------------------------- */
typedef struct tu_rng { uint64_t s; } tu_rng;
tu_rng tu_rng_make(uint64_t seed);
uint64_t tu_rng_next(tu_rng *r);
double tu_rng_uniform(tu_rng *r, double lo, double hi);   /* [lo, hi) */
int64_t tu_rng_int(tu_rng *r, int64_t lo, int64_t hi);     /* [lo, hi] */
/* Random values exactly representable in dt (and small enough that sums and
 * products of a few stay exact in float64): ints in [lo, hi] for integer
 * dtypes, multiples of 1/8 in [lo, hi] for float dtypes. */
void tu_rng_fill(tu_rng *r, nn_dtype dt, double *vals, int64_t n, double lo, double hi);

/* ---- tensors ---------------------------------------------------------------- */
/* Tensor of dtype dt holding vals (converted with tu_cast); asserts success. */
#define tu_make(dt, ndim, shape, vals) tu_make_at((dt), (ndim), (shape), (vals), __FILE__, __LINE__)
nn_tensor *tu_make_at(nn_dtype dt, int ndim, const int64_t *shape, const double *vals,
                      const char *file, int line);
#define tu_make_i64(dt, ndim, shape, vals) tu_make_i64_at((dt), (ndim), (shape), (vals), __FILE__, __LINE__)
nn_tensor *tu_make_i64_at(nn_dtype dt, int ndim, const int64_t *shape, const int64_t *vals,
                          const char *file, int line);
/* A non-contiguous tensor with the given logical shape and values: a view
 * made by nn_tensor_transpose(d0, d1) of a tensor holding the values in the
 * swapped layout. For ndim < 2 (or d0 == d1) it is a plain contiguous tensor. */
#define tu_make_strided(dt, ndim, shape, vals, d0, d1) \
  tu_make_strided_at((dt), (ndim), (shape), (vals), (d0), (d1), __FILE__, __LINE__)
nn_tensor *tu_make_strided_at(nn_dtype dt, int ndim, const int64_t *shape, const double *vals, int d0, int d1,
                              const char *file, int line);
/* Read any tensor back as doubles (malloc'd, caller frees); *n gets numel. */
#define tu_read(t, n) tu_read_at((t), (n), __FILE__, __LINE__)
double *tu_read_at(const nn_tensor *t, int64_t *n, const char *file, int line);
#define tu_read_i64(t, n) tu_read_i64_at((t), (n), __FILE__, __LINE__)
int64_t *tu_read_i64_at(const nn_tensor *t, int64_t *n, const char *file, int line);

/* Every Linear layer's weight then bias (grads: their gradients), in layer
 * order, read as one malloc'd array of doubles (caller frees); *n gets the
 * count (nn_model_num_params). Works on any device. */
#define tu_model_values(m, grads, n) tu_model_values_at((m), (grads), (n), __FILE__, __LINE__)
double *tu_model_values_at(nn_model *m, bool grads, int64_t *n, const char *file, int line);

/* Asserts dtype and shape of t. */
#define tu_assert_meta(t, dt, ndim, shape) tu_assert_meta_at((t), (dt), (ndim), (shape), __FILE__, __LINE__)
void tu_assert_meta_at(const nn_tensor *t, nn_dtype dt, int ndim, const int64_t *shape,
                       const char *file, int line);

/* |got - exp| <= atol + rtol*|exp| elementwise; NaN matches NaN, inf matches
 * the same inf. ctx names the case in the failure message. */
#define tu_assert_close(got, exp, n, rtol, atol, ctx) \
  tu_assert_close_at((got), (exp), (n), (rtol), (atol), (ctx), __FILE__, __LINE__)
void tu_assert_close_at(const double *got, const double *exp, int64_t n, double rtol, double atol,
                        const char *ctx, const char *file, int line);

/* Checks t's dtype, shape and values (tolerance as above). */
#define tu_assert_tensor(t, dt, ndim, shape, exp, rtol, atol) \
  tu_assert_tensor_at((t), (dt), (ndim), (shape), (exp), (rtol), (atol), __FILE__, __LINE__)
void tu_assert_tensor_at(const nn_tensor *t, nn_dtype dt, int ndim, const int64_t *shape,
                         const double *exp, double rtol, double atol, const char *file, int line);

/* Default tolerance for results of dtype dt computed from exact inputs. */
double tu_rtol(nn_dtype dt);

/* ---- status / errors ------------------------------------------------------ */
/* Asserts st == NN_OK, printing nn_last_error() otherwise. */
#define TU_OK(expr) tu_assert_ok_at((expr), #expr, __FILE__, __LINE__)
void tu_assert_ok_at(nn_status st, const char *expr, const char *file, int line);

/* Asserts st == expected, and that nn_last_error() starts with `func` (if not
 * NULL) and contains every substring given (NULL-terminated list). */
#define TU_ERR(expr, expected, func, ...) \
  tu_assert_err_at((expr), (expected), (func), #expr, __FILE__, __LINE__, __VA_ARGS__, (const char *)NULL)
void tu_assert_err_at(nn_status st, nn_status expected, const char *func, const char *expr,
                      const char *file, int line, ...);

/* An n x n F32 nn_matmul of small integers (exact in float32), large enough
 * to run on the CPU's threads from n = 256, checked entry by entry on a grid
 * against float64: proves the thread count in effect really computes. */
void tu_check_parallel_matmul(int n);

/* A new folder "<$TMPDIR or /tmp>/<prefix>XXXXXX" (malloc'd path; asserts). */
char *tu_make_tmpdir(const char *prefix);
/* Removes dir and everything below it (symbolic links are not followed). */
void tu_rm_tree(const char *dir);

/* The whole file at path, malloc'd, with a NUL after its *n bytes (so a text
 * file reads as a string); asserts it can be read. */
unsigned char *tu_read_file(const char *path, size_t *n);
/* Writes n bytes to path (created or truncated); asserts it succeeds. */
void tu_write_file(const char *path, const void *data, size_t n);
/* nn_model_save_buffer's bytes of m, malloc'd: sized by a first call (at
 * least 16 bytes), the second must report the same size. */
unsigned char *tu_save_model(const nn_model *m, size_t *n);

/* The process's thread count (/proc/self/status), -1 when unknown. */
int tu_process_threads(void);

/* A non-NULL pointer value that is never a real handle. */
#define TU_SENTINEL ((nn_tensor *)(uintptr_t)0x5e471e1)

#endif
