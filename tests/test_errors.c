/* Every error path of the tensor and operation functions: status, message
 * (starts with the function name, names the argument, shows both shapes),
 * outputs and arguments untouched on failure. */
#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static nn_device dev(int32_t type, int32_t index) {
  nn_device d;
  d.type = type;
  d.index = index;
  return d;
}

static bool have_cuda(void) { return nn_device_count(NN_CUDA) > 0; }

/* Checks the out pointer still holds the sentinel. */
#define ASSERT_UNTOUCHED(p) assert_ptr_equal((p), TU_SENTINEL)

static nn_tensor *make_23(void) {
  int64_t s[2] = {2, 3};
  double v[6] = {1, 2, 3, 4, 5, 6};
  return tu_make(NN_F32, 2, s, v);
}

/* ---- creation ------------------------------------------------------------------ */

typedef nn_status (*create_fn)(nn_dtype dt, int ndim, const int64_t *shape, nn_device d, nn_tensor **out);

static nn_status c_zeros(nn_dtype dt, int ndim, const int64_t *shape, nn_device d, nn_tensor **out) {
  return nn_tensor_zeros(dt, ndim, shape, d, out);
}
static nn_status c_full(nn_dtype dt, int ndim, const int64_t *shape, nn_device d, nn_tensor **out) {
  return nn_tensor_full(dt, ndim, shape, 1.5, d, out);
}
static unsigned char g_data[4096];
static nn_status c_from_data(nn_dtype dt, int ndim, const int64_t *shape, nn_device d, nn_tensor **out) {
  return nn_tensor_from_data(dt, ndim, shape, g_data, d, out);
}
static nn_status c_uniform(nn_dtype dt, int ndim, const int64_t *shape, nn_device d, nn_tensor **out) {
  return nn_tensor_rand_uniform(dt, ndim, shape, 0.0, 1.0, 1, d, out);
}
static nn_status c_normal(nn_dtype dt, int ndim, const int64_t *shape, nn_device d, nn_tensor **out) {
  return nn_tensor_rand_normal(dt, ndim, shape, 0.0, 1.0, 1, d, out);
}

static const struct {
  create_fn fn;
  const char *name;
} creators[] = {
    {c_zeros, "nn_tensor_zeros"},      {c_full, "nn_tensor_full"},          {c_from_data, "nn_tensor_from_data"},
    {c_uniform, "nn_tensor_rand_uniform"}, {c_normal, "nn_tensor_rand_normal"},
};
#define N_CREATORS (sizeof creators / sizeof creators[0])

static void test_create_bad_arguments(void **state) {
  (void)state;
  for (size_t c = 0; c < N_CREATORS; c++) {
    create_fn fn = creators[c].fn;
    const char *name = creators[c].name;
    int64_t ok[2] = {2, 3};
    nn_tensor *t = TU_SENTINEL;
    /* NULL out */
    TU_ERR(fn(NN_F32, 2, ok, tu_cpu(), NULL), NN_ERR_INVALID_ARGUMENT, name, "out");
    /* bad dtype */
    TU_ERR(fn((nn_dtype)-1, 2, ok, tu_cpu(), &t), NN_ERR_INVALID_ARGUMENT, name, "dt");
    ASSERT_UNTOUCHED(t);
    TU_ERR(fn((nn_dtype)8, 2, ok, tu_cpu(), &t), NN_ERR_INVALID_ARGUMENT, name, "dt");
    ASSERT_UNTOUCHED(t);
    /* ndim outside 0..8 */
    int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    TU_ERR(fn(NN_F32, 9, nine, tu_cpu(), &t), NN_ERR_INVALID_ARGUMENT, name, "ndim");
    ASSERT_UNTOUCHED(t);
    TU_ERR(fn(NN_F32, -1, ok, tu_cpu(), &t), NN_ERR_INVALID_ARGUMENT, name, "ndim");
    ASSERT_UNTOUCHED(t);
    /* NULL shape with ndim > 0 */
    TU_ERR(fn(NN_F32, 2, NULL, tu_cpu(), &t), NN_ERR_INVALID_ARGUMENT, name, "shape");
    ASSERT_UNTOUCHED(t);
    /* negative dimension: names shape[i] and the value */
    int64_t neg[3] = {2, -3, 4};
    TU_ERR(fn(NN_F32, 3, neg, tu_cpu(), &t), NN_ERR_INVALID_ARGUMENT, name, "shape[1]", "-3");
    ASSERT_UNTOUCHED(t);
    /* numel overflowing int64 */
    int64_t huge[3] = {INT64_C(1) << 40, INT64_C(1) << 40, 2};
    TU_ERR(fn(NN_F32, 3, huge, tu_cpu(), &t), NN_ERR_INVALID_ARGUMENT, name, NULL);
    ASSERT_UNTOUCHED(t);
    int64_t huge2[2] = {INT64_MAX, 2};
    TU_ERR(fn(NN_F32, 2, huge2, tu_cpu(), &t), NN_ERR_INVALID_ARGUMENT, name, NULL);
    ASSERT_UNTOUCHED(t);
    /* numel fits, numel * size does not */
    int64_t bytes_overflow[1] = {INT64_C(1) << 61};
    TU_ERR(fn(NN_F64, 1, bytes_overflow, tu_cpu(), &t), NN_ERR_INVALID_ARGUMENT, name, NULL);
    ASSERT_UNTOUCHED(t);
    /* an empty dim does not excuse an overflow elsewhere? torch allows any
     * product with a 0; only the overflow of the non-zero part matters. */
    /* devices */
    TU_ERR(fn(NN_F32, 2, ok, dev(NN_CPU, 1), &t), NN_ERR_DEVICE, name, NULL);
    ASSERT_UNTOUCHED(t);
    TU_ERR(fn(NN_F32, 2, ok, dev(NN_CPU, -1), &t), NN_ERR_DEVICE, name, NULL);
    ASSERT_UNTOUCHED(t);
    TU_ERR(fn(NN_F32, 2, ok, dev(0, 0), &t), NN_ERR_INVALID_ARGUMENT, name, NULL);
    ASSERT_UNTOUCHED(t);
    TU_ERR(fn(NN_F32, 2, ok, dev(3, 0), &t), NN_ERR_INVALID_ARGUMENT, name, NULL);
    ASSERT_UNTOUCHED(t);
    if (!have_cuda()) {
      TU_ERR(fn(NN_F32, 2, ok, dev(NN_CUDA, 0), &t), NN_ERR_DEVICE, name, "CUDA");
      ASSERT_UNTOUCHED(t);
    }
    TU_ERR(fn(NN_F32, 2, ok, dev(NN_CUDA, 1000), &t), NN_ERR_DEVICE, name, "CUDA");
    ASSERT_UNTOUCHED(t);
  }
}

static void test_create_specific_errors(void **state) {
  (void)state;
  int64_t s[2] = {2, 3};
  nn_tensor *t = TU_SENTINEL;
  /* from_data: NULL data with numel > 0 */
  TU_ERR(nn_tensor_from_data(NN_F32, 2, s, NULL, tu_cpu(), &t), NN_ERR_INVALID_ARGUMENT, "nn_tensor_from_data",
         "data");
  ASSERT_UNTOUCHED(t);
  /* random: integer dtypes are NN_ERR_DTYPE */
  for (int i = 0; i < 4; i++) {
    TU_ERR(nn_tensor_rand_uniform(tu_int_dtypes[i], 2, s, 0, 1, 1, tu_cpu(), &t), NN_ERR_DTYPE,
           "nn_tensor_rand_uniform", NULL);
    ASSERT_UNTOUCHED(t);
    TU_ERR(nn_tensor_rand_normal(tu_int_dtypes[i], 2, s, 0, 1, 1, tu_cpu(), &t), NN_ERR_DTYPE,
           "nn_tensor_rand_normal", NULL);
    ASSERT_UNTOUCHED(t);
  }
  /* uniform: low < high, finite */
  const double bad_lh[][2] = {{1, 1}, {2, 1}, {NAN, 1}, {0, NAN}, {-INFINITY, 0}, {0, INFINITY}};
  for (size_t i = 0; i < sizeof bad_lh / sizeof bad_lh[0]; i++) {
    TU_ERR(nn_tensor_rand_uniform(NN_F32, 2, s, bad_lh[i][0], bad_lh[i][1], 1, tu_cpu(), &t),
           NN_ERR_INVALID_ARGUMENT, "nn_tensor_rand_uniform", NULL);
    ASSERT_UNTOUCHED(t);
  }
  /* normal: std >= 0, finite */
  const double bad_ms[][2] = {{0, -1}, {NAN, 1}, {0, NAN}, {INFINITY, 1}, {0, INFINITY}};
  for (size_t i = 0; i < sizeof bad_ms / sizeof bad_ms[0]; i++) {
    TU_ERR(nn_tensor_rand_normal(NN_F64, 2, s, bad_ms[i][0], bad_ms[i][1], 1, tu_cpu(), &t),
           NN_ERR_INVALID_ARGUMENT, "nn_tensor_rand_normal", NULL);
    ASSERT_UNTOUCHED(t);
  }
  TU_ERR(nn_tensor_rand_normal(NN_F64, 2, s, 0, -1, 1, tu_cpu(), &t), NN_ERR_INVALID_ARGUMENT,
         "nn_tensor_rand_normal", "std");
  /* arange */
  const double bad_ar[][3] = {{0, 5, 0},   {0, 5, -1},       {5, 0, 1},       {NAN, 5, 1},
                              {0, NAN, 1}, {0, 5, NAN},      {0, INFINITY, 1}, {-INFINITY, 0, 1},
                              {0, 5, INFINITY}};
  for (size_t i = 0; i < sizeof bad_ar / sizeof bad_ar[0]; i++) {
    TU_ERR(nn_tensor_arange(bad_ar[i][0], bad_ar[i][1], bad_ar[i][2], NN_F32, tu_cpu(), &t), NN_ERR_INVALID_ARGUMENT,
           "nn_tensor_arange", NULL);
    ASSERT_UNTOUCHED(t);
  }
  TU_ERR(nn_tensor_arange(0, 5, 0, NN_F32, tu_cpu(), &t), NN_ERR_INVALID_ARGUMENT, "nn_tensor_arange", "step");
  TU_ERR(nn_tensor_arange(0, 5, 1, (nn_dtype)9, tu_cpu(), &t), NN_ERR_INVALID_ARGUMENT, "nn_tensor_arange", "dt");
  ASSERT_UNTOUCHED(t);
  TU_ERR(nn_tensor_arange(0, 5, 1, NN_F32, tu_cpu(), NULL), NN_ERR_INVALID_ARGUMENT, "nn_tensor_arange", "out");
  TU_ERR(nn_tensor_arange(0, 5, 1, NN_F32, dev(NN_CPU, 2), &t), NN_ERR_DEVICE, "nn_tensor_arange", NULL);
  ASSERT_UNTOUCHED(t);
  if (!have_cuda()) {
    TU_ERR(nn_tensor_arange(0, 5, 1, NN_F32, dev(NN_CUDA, 0), &t), NN_ERR_DEVICE, "nn_tensor_arange", "CUDA");
    ASSERT_UNTOUCHED(t);
  }
  /* an arange too long to allocate */
  TU_ERR(nn_tensor_arange(0, 1e300, 1, NN_F32, tu_cpu(), &t), NN_ERR_INVALID_ARGUMENT, "nn_tensor_arange", NULL);
  ASSERT_UNTOUCHED(t);
}

/* A size that fits int64 but no machine: NN_ERR_OUT_OF_MEMORY, not a crash.
 * (Under AddressSanitizer the test runs with allocator_may_return_null=1.) */
static void test_out_of_memory(void **state) {
  (void)state;
  int64_t s[2] = {INT64_C(1) << 30, INT64_C(1) << 30}; /* 2^60 elements of 2 bytes */
  nn_tensor *t = TU_SENTINEL;
  TU_ERR(nn_tensor_zeros(NN_F16, 2, s, tu_cpu(), &t), NN_ERR_OUT_OF_MEMORY, "nn_tensor_zeros", NULL);
  ASSERT_UNTOUCHED(t);
}

/* ---- queries, read, write ---------------------------------------------------------------- */

static void test_shape_read_write_errors(void **state) {
  (void)state;
  nn_tensor *t = make_23();
  int64_t shape[2] = {-7, -7};
  TU_ERR(nn_tensor_shape(NULL, shape), NN_ERR_INVALID_ARGUMENT, "nn_tensor_shape", NULL);
  assert_int_equal(shape[0], -7);
  TU_ERR(nn_tensor_shape(t, NULL), NN_ERR_INVALID_ARGUMENT, "nn_tensor_shape", "shape");

  /* read: dst_bytes too small names dst_bytes and both numbers; dst untouched */
  unsigned char buf[64];
  memset(buf, 0x77, sizeof buf);
  TU_ERR(nn_tensor_read(t, buf, 23), NN_ERR_INVALID_ARGUMENT, "nn_tensor_read", "dst_bytes", "23", "24");
  for (size_t i = 0; i < sizeof buf; i++) assert_int_equal(buf[i], 0x77);
  TU_ERR(nn_tensor_read(t, buf, 0), NN_ERR_INVALID_ARGUMENT, "nn_tensor_read", "dst_bytes", "24");
  TU_ERR(nn_tensor_read(t, NULL, 24), NN_ERR_INVALID_ARGUMENT, "nn_tensor_read", "dst");
  TU_ERR(nn_tensor_read(NULL, buf, 24), NN_ERR_INVALID_ARGUMENT, "nn_tensor_read", NULL);
  for (size_t i = 0; i < sizeof buf; i++) assert_int_equal(buf[i], 0x77);

  /* write: src_bytes must equal numel*size exactly; tensor untouched */
  float src[8] = {9, 9, 9, 9, 9, 9, 9, 9};
  TU_ERR(nn_tensor_write(t, src, 20), NN_ERR_INVALID_ARGUMENT, "nn_tensor_write", "src_bytes", "20", "24");
  TU_ERR(nn_tensor_write(t, src, 28), NN_ERR_INVALID_ARGUMENT, "nn_tensor_write", "src_bytes", "28", "24");
  TU_ERR(nn_tensor_write(t, NULL, 24), NN_ERR_INVALID_ARGUMENT, "nn_tensor_write", "src");
  TU_ERR(nn_tensor_write(NULL, src, 24), NN_ERR_INVALID_ARGUMENT, "nn_tensor_write", NULL);
  int64_t s[2] = {2, 3};
  double v[6] = {1, 2, 3, 4, 5, 6};
  tu_assert_tensor(t, NN_F32, 2, s, v, 0, 0);
  /* a transposed view checks the same sizes */
  nn_tensor *tt = NULL;
  TU_OK(nn_tensor_transpose(t, 0, 1, &tt));
  TU_ERR(nn_tensor_write(tt, src, 32), NN_ERR_INVALID_ARGUMENT, "nn_tensor_write", "src_bytes");
  TU_ERR(nn_tensor_read(tt, buf, 8), NN_ERR_INVALID_ARGUMENT, "nn_tensor_read", "dst_bytes");
  nn_tensor_free(tt);
  tu_assert_tensor(t, NN_F32, 2, s, v, 0, 0);
  nn_tensor_free(t);
}

/* ---- views and copies -------------------------------------------------------------------------- */

static void test_reshape_errors(void **state) {
  (void)state;
  nn_tensor *t = make_23(), *o = TU_SENTINEL;
  int64_t s4[1] = {4};
  TU_ERR(nn_tensor_reshape(t, 1, s4, &o), NN_ERR_SHAPE, "nn_tensor_reshape", "[2, 3]", "[4]");
  ASSERT_UNTOUCHED(o);
  int64_t s_inf[2] = {-1, 4};
  TU_ERR(nn_tensor_reshape(t, 2, s_inf, &o), NN_ERR_SHAPE, "nn_tensor_reshape", "[2, 3]");
  ASSERT_UNTOUCHED(o);
  int64_t two_neg[2] = {-1, -1};
  TU_ERR(nn_tensor_reshape(t, 2, two_neg, &o), NN_ERR_INVALID_ARGUMENT, "nn_tensor_reshape", NULL);
  ASSERT_UNTOUCHED(o);
  int64_t neg2[2] = {-2, -3};
  TU_ERR(nn_tensor_reshape(t, 2, neg2, &o), NN_ERR_INVALID_ARGUMENT, "nn_tensor_reshape", NULL);
  ASSERT_UNTOUCHED(o);
  int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 2, 3};
  TU_ERR(nn_tensor_reshape(t, 9, nine, &o), NN_ERR_INVALID_ARGUMENT, "nn_tensor_reshape", "ndim");
  ASSERT_UNTOUCHED(o);
  TU_ERR(nn_tensor_reshape(t, -1, s4, &o), NN_ERR_INVALID_ARGUMENT, "nn_tensor_reshape", "ndim");
  TU_ERR(nn_tensor_reshape(t, 1, NULL, &o), NN_ERR_INVALID_ARGUMENT, "nn_tensor_reshape", "shape");
  TU_ERR(nn_tensor_reshape(NULL, 1, s4, &o), NN_ERR_INVALID_ARGUMENT, "nn_tensor_reshape", NULL);
  TU_ERR(nn_tensor_reshape(t, 1, s4, NULL), NN_ERR_INVALID_ARGUMENT, "nn_tensor_reshape", "out");
  ASSERT_UNTOUCHED(o);
  /* 0-dim target from 6 elements */
  TU_ERR(nn_tensor_reshape(t, 0, NULL, &o), NN_ERR_SHAPE, "nn_tensor_reshape", "[2, 3]", "[]");
  ASSERT_UNTOUCHED(o);
  /* -1 with a zero elsewhere cannot be inferred */
  int64_t se[2] = {0, 3};
  nn_tensor *e = NULL;
  TU_OK(nn_tensor_zeros(NN_F32, 2, se, tu_cpu(), &e));
  int64_t inf0[2] = {-1, 0};
  TU_ERR(nn_tensor_reshape(e, 2, inf0, &o), NN_ERR_SHAPE, "nn_tensor_reshape", "[0, 3]");
  ASSERT_UNTOUCHED(o);
  nn_tensor_free(e);
  /* source unchanged */
  int64_t s[2] = {2, 3};
  double v[6] = {1, 2, 3, 4, 5, 6};
  tu_assert_tensor(t, NN_F32, 2, s, v, 0, 0);
  nn_tensor_free(t);
}

static void test_transpose_copy_errors(void **state) {
  (void)state;
  nn_tensor *t = make_23(), *o = TU_SENTINEL;
  TU_ERR(nn_tensor_transpose(t, 0, 2, &o), NN_ERR_INVALID_ARGUMENT, "nn_tensor_transpose", "dim");
  ASSERT_UNTOUCHED(o);
  TU_ERR(nn_tensor_transpose(t, -3, 0, &o), NN_ERR_INVALID_ARGUMENT, "nn_tensor_transpose", "dim");
  ASSERT_UNTOUCHED(o);
  TU_ERR(nn_tensor_transpose(t, 0, NN_ALL_DIMS, &o), NN_ERR_INVALID_ARGUMENT, "nn_tensor_transpose", "dim");
  ASSERT_UNTOUCHED(o);
  TU_ERR(nn_tensor_transpose(NULL, 0, 1, &o), NN_ERR_INVALID_ARGUMENT, "nn_tensor_transpose", NULL);
  TU_ERR(nn_tensor_transpose(t, 0, 1, NULL), NN_ERR_INVALID_ARGUMENT, "nn_tensor_transpose", "out");
  ASSERT_UNTOUCHED(o);
  /* a 0-dim tensor has no dim to swap except... none at all in [-0, 0) */
  double one = 1;
  nn_tensor *s0 = tu_make(NN_F32, 0, NULL, &one);
  TU_ERR(nn_tensor_transpose(s0, 1, 0, &o), NN_ERR_INVALID_ARGUMENT, "nn_tensor_transpose", "dim");
  ASSERT_UNTOUCHED(o);
  nn_tensor_free(s0);

  /* to_dtype */
  TU_ERR(nn_tensor_to_dtype(t, (nn_dtype)8, &o), NN_ERR_INVALID_ARGUMENT, "nn_tensor_to_dtype", "dt");
  ASSERT_UNTOUCHED(o);
  TU_ERR(nn_tensor_to_dtype(t, (nn_dtype)-1, &o), NN_ERR_INVALID_ARGUMENT, "nn_tensor_to_dtype", "dt");
  ASSERT_UNTOUCHED(o);
  TU_ERR(nn_tensor_to_dtype(NULL, NN_F32, &o), NN_ERR_INVALID_ARGUMENT, "nn_tensor_to_dtype", NULL);
  TU_ERR(nn_tensor_to_dtype(t, NN_F32, NULL), NN_ERR_INVALID_ARGUMENT, "nn_tensor_to_dtype", "out");
  ASSERT_UNTOUCHED(o);
  /* clone */
  TU_ERR(nn_tensor_clone(NULL, &o), NN_ERR_INVALID_ARGUMENT, "nn_tensor_clone", NULL);
  TU_ERR(nn_tensor_clone(t, NULL), NN_ERR_INVALID_ARGUMENT, "nn_tensor_clone", "out");
  ASSERT_UNTOUCHED(o);
  /* to_device */
  if (!have_cuda()) {
    TU_ERR(nn_tensor_to_device(t, dev(NN_CUDA, 0), &o), NN_ERR_DEVICE, "nn_tensor_to_device", "CUDA");
    ASSERT_UNTOUCHED(o);
  }
  TU_ERR(nn_tensor_to_device(t, dev(NN_CUDA, 999), &o), NN_ERR_DEVICE, "nn_tensor_to_device", NULL);
  ASSERT_UNTOUCHED(o);
  TU_ERR(nn_tensor_to_device(t, dev(NN_CPU, 1), &o), NN_ERR_DEVICE, "nn_tensor_to_device", NULL);
  ASSERT_UNTOUCHED(o);
  TU_ERR(nn_tensor_to_device(t, dev(7, 0), &o), NN_ERR_INVALID_ARGUMENT, "nn_tensor_to_device", NULL);
  ASSERT_UNTOUCHED(o);
  TU_ERR(nn_tensor_to_device(NULL, tu_cpu(), &o), NN_ERR_INVALID_ARGUMENT, "nn_tensor_to_device", NULL);
  TU_ERR(nn_tensor_to_device(t, tu_cpu(), NULL), NN_ERR_INVALID_ARGUMENT, "nn_tensor_to_device", "out");
  ASSERT_UNTOUCHED(o);
  nn_tensor_free(t);
}

/* ---- operations ----------------------------------------------------------------------------------- */

static void test_unary_binary_errors(void **state) {
  (void)state;
  nn_tensor *a = make_23(), *o = TU_SENTINEL;
  /* unary */
  TU_ERR(nn_unary((nn_unary_op)9, a, &o), NN_ERR_INVALID_ARGUMENT, "nn_unary", "op");
  ASSERT_UNTOUCHED(o);
  TU_ERR(nn_unary((nn_unary_op)-1, a, &o), NN_ERR_INVALID_ARGUMENT, "nn_unary", "op");
  ASSERT_UNTOUCHED(o);
  TU_ERR(nn_unary(NN_OP_EXP, NULL, &o), NN_ERR_INVALID_ARGUMENT, "nn_unary", "x");
  TU_ERR(nn_unary(NN_OP_EXP, a, NULL), NN_ERR_INVALID_ARGUMENT, "nn_unary", "out");
  ASSERT_UNTOUCHED(o);
  /* binary */
  TU_ERR(nn_binary((nn_binary_op)6, a, a, &o), NN_ERR_INVALID_ARGUMENT, "nn_binary", "op");
  ASSERT_UNTOUCHED(o);
  TU_ERR(nn_binary((nn_binary_op)-1, a, a, &o), NN_ERR_INVALID_ARGUMENT, "nn_binary", "op");
  TU_ERR(nn_binary(NN_OP_ADD, NULL, a, &o), NN_ERR_INVALID_ARGUMENT, "nn_binary", NULL);
  TU_ERR(nn_binary(NN_OP_ADD, a, NULL, &o), NN_ERR_INVALID_ARGUMENT, "nn_binary", NULL);
  TU_ERR(nn_binary(NN_OP_ADD, a, a, NULL), NN_ERR_INVALID_ARGUMENT, "nn_binary", "out");
  ASSERT_UNTOUCHED(o);
  /* shapes that do not broadcast: both shapes in the message */
  int64_t s4[1] = {4}, s32[2] = {3, 2}, s2[1] = {2}, s423[3] = {4, 2, 2};
  double z[16] = {0};
  nn_tensor *b4 = tu_make(NN_F32, 1, s4, z), *b32 = tu_make(NN_I32, 2, s32, z), *b2 = tu_make(NN_F64, 1, s2, z);
  nn_tensor *b423 = tu_make(NN_F32, 3, s423, z);
  for (int op = 0; op < 6; op++) {
    TU_ERR(nn_binary((nn_binary_op)op, a, b4, &o), NN_ERR_SHAPE, "nn_binary", "[2, 3]", "[4]");
    ASSERT_UNTOUCHED(o);
    TU_ERR(nn_binary((nn_binary_op)op, b4, a, &o), NN_ERR_SHAPE, "nn_binary", "[2, 3]", "[4]");
    TU_ERR(nn_binary((nn_binary_op)op, a, b32, &o), NN_ERR_SHAPE, "nn_binary", "[2, 3]", "[3, 2]");
    TU_ERR(nn_binary((nn_binary_op)op, a, b2, &o), NN_ERR_SHAPE, "nn_binary", "[2, 3]", "[2]");
    TU_ERR(nn_binary((nn_binary_op)op, a, b423, &o), NN_ERR_SHAPE, "nn_binary", "[2, 3]", "[4, 2, 2]");
    ASSERT_UNTOUCHED(o);
  }
  /* empty against non-1 */
  int64_t se[2] = {0, 3};
  nn_tensor *e = NULL;
  TU_OK(nn_tensor_zeros(NN_F32, 2, se, tu_cpu(), &e));
  TU_ERR(nn_binary(NN_OP_MUL, e, a, &o), NN_ERR_SHAPE, "nn_binary", "[0, 3]", "[2, 3]");
  ASSERT_UNTOUCHED(o);
  nn_tensor_free(e);
  /* binary_scalar */
  TU_ERR(nn_binary_scalar((nn_binary_op)6, a, 1, &o), NN_ERR_INVALID_ARGUMENT, "nn_binary_scalar", "op");
  ASSERT_UNTOUCHED(o);
  TU_ERR(nn_binary_scalar(NN_OP_ADD, NULL, 1, &o), NN_ERR_INVALID_ARGUMENT, "nn_binary_scalar", NULL);
  TU_ERR(nn_binary_scalar(NN_OP_ADD, a, 1, NULL), NN_ERR_INVALID_ARGUMENT, "nn_binary_scalar", "out");
  ASSERT_UNTOUCHED(o);
  nn_tensor_free(b4);
  nn_tensor_free(b32);
  nn_tensor_free(b2);
  nn_tensor_free(b423);
  /* operand unchanged */
  int64_t s[2] = {2, 3};
  double v[6] = {1, 2, 3, 4, 5, 6};
  tu_assert_tensor(a, NN_F32, 2, s, v, 0, 0);
  nn_tensor_free(a);
}

static void test_reduce_errors(void **state) {
  (void)state;
  nn_tensor *a = make_23(), *o = TU_SENTINEL;
  TU_ERR(nn_reduce((nn_reduce_op)5, a, 0, false, &o), NN_ERR_INVALID_ARGUMENT, "nn_reduce", "op");
  ASSERT_UNTOUCHED(o);
  TU_ERR(nn_reduce((nn_reduce_op)-1, a, 0, false, &o), NN_ERR_INVALID_ARGUMENT, "nn_reduce", "op");
  const int bad_dims[] = {2, 3, -3, 100, -100, NN_ALL_DIMS + 1, NN_ALL_DIMS - 1};
  for (size_t i = 0; i < sizeof bad_dims / sizeof bad_dims[0]; i++) {
    TU_ERR(nn_reduce(NN_REDUCE_SUM, a, bad_dims[i], false, &o), NN_ERR_INVALID_ARGUMENT, "nn_reduce", "dim");
    ASSERT_UNTOUCHED(o);
    TU_ERR(nn_reduce(NN_REDUCE_ARGMAX, a, bad_dims[i], true, &o), NN_ERR_INVALID_ARGUMENT, "nn_reduce", "dim");
    ASSERT_UNTOUCHED(o);
  }
  double one = 1;
  nn_tensor *s0 = tu_make(NN_F32, 0, NULL, &one);
  TU_ERR(nn_reduce(NN_REDUCE_SUM, s0, 1, false, &o), NN_ERR_INVALID_ARGUMENT, "nn_reduce", "dim");
  TU_ERR(nn_reduce(NN_REDUCE_SUM, s0, -2, false, &o), NN_ERR_INVALID_ARGUMENT, "nn_reduce", "dim");
  ASSERT_UNTOUCHED(o);
  nn_tensor_free(s0);
  TU_ERR(nn_reduce(NN_REDUCE_SUM, NULL, 0, false, &o), NN_ERR_INVALID_ARGUMENT, "nn_reduce", NULL);
  TU_ERR(nn_reduce(NN_REDUCE_SUM, a, 0, false, NULL), NN_ERR_INVALID_ARGUMENT, "nn_reduce", "out");
  ASSERT_UNTOUCHED(o);
  nn_tensor_free(a);
}

static void test_matmul_errors(void **state) {
  (void)state;
  double z[64] = {0};
  int64_t s23[2] = {2, 3}, s45[2] = {4, 5}, s3[1] = {3}, s4[1] = {4}, s234[3] = {2, 3, 4}, s345[3] = {3, 4, 5};
  nn_tensor *a = tu_make(NN_F32, 2, s23, z), *b = tu_make(NN_F32, 2, s45, z), *v3 = tu_make(NN_F32, 1, s3, z);
  nn_tensor *v4 = tu_make(NN_F32, 1, s4, z), *t234 = tu_make(NN_F32, 3, s234, z), *t345 = tu_make(NN_F32, 3, s345, z);
  nn_tensor *s0 = tu_make(NN_F32, 0, NULL, z), *o = TU_SENTINEL;
  TU_ERR(nn_matmul(a, b, &o), NN_ERR_SHAPE, "nn_matmul", "[2, 3]", "[4, 5]");
  ASSERT_UNTOUCHED(o);
  TU_ERR(nn_matmul(v3, v4, &o), NN_ERR_SHAPE, "nn_matmul", "[3]", "[4]");
  ASSERT_UNTOUCHED(o);
  TU_ERR(nn_matmul(a, v4, &o), NN_ERR_SHAPE, "nn_matmul", "[2, 3]", "[4]");
  TU_ERR(nn_matmul(v4, a, &o), NN_ERR_SHAPE, "nn_matmul", "[4]", "[2, 3]");
  /* 0-dim operands */
  TU_ERR(nn_matmul(s0, v3, &o), NN_ERR_SHAPE, "nn_matmul", "[]", "[3]");
  TU_ERR(nn_matmul(a, s0, &o), NN_ERR_SHAPE, "nn_matmul", "[2, 3]", "[]");
  ASSERT_UNTOUCHED(o);
  TU_ERR(nn_matmul(NULL, a, &o), NN_ERR_INVALID_ARGUMENT, "nn_matmul", NULL);
  TU_ERR(nn_matmul(a, NULL, &o), NN_ERR_INVALID_ARGUMENT, "nn_matmul", NULL);
  TU_ERR(nn_matmul(a, v3, NULL), NN_ERR_INVALID_ARGUMENT, "nn_matmul", "out");
  ASSERT_UNTOUCHED(o);
  /* batch dims 2 and 3 do not broadcast: the operands' shapes in the message */
  TU_ERR(nn_matmul(t234, t345, &o), NN_ERR_SHAPE, "nn_matmul", NULL);
  ASSERT_UNTOUCHED(o);
  TU_ERR(nn_matmul(t234, t345, &o), NN_ERR_SHAPE, "nn_matmul", "[2, 3, 4]", "[3, 4, 5]");
  nn_tensor_free(a);
  nn_tensor_free(b);
  nn_tensor_free(v3);
  nn_tensor_free(v4);
  nn_tensor_free(t234);
  nn_tensor_free(t345);
  nn_tensor_free(s0);
}

/* The message of a failure is kept after further successful calls, and a
 * later failure of another function replaces it. */
static void test_messages_replace(void **state) {
  (void)state;
  nn_tensor *a = make_23(), *o = NULL;
  int64_t s4[1] = {4};
  TU_ERR(nn_tensor_reshape(a, 1, s4, &o), NN_ERR_SHAPE, "nn_tensor_reshape", NULL);
  nn_tensor *c = NULL;
  TU_OK(nn_tensor_clone(a, &c));
  assert_true(strncmp(nn_last_error(), "nn_tensor_reshape", 17) == 0);
  TU_ERR(nn_unary((nn_unary_op)42, a, &o), NN_ERR_INVALID_ARGUMENT, "nn_unary", NULL);
  nn_tensor_free(c);
  nn_tensor_free(a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_create_bad_arguments),
      cmocka_unit_test(test_create_specific_errors),
      cmocka_unit_test(test_out_of_memory),
      cmocka_unit_test(test_shape_read_write_errors),
      cmocka_unit_test(test_reshape_errors),
      cmocka_unit_test(test_transpose_copy_errors),
      cmocka_unit_test(test_unary_binary_errors),
      cmocka_unit_test(test_reduce_errors),
      cmocka_unit_test(test_matmul_errors),
      cmocka_unit_test(test_messages_replace),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
