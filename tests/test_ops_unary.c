/* nn_unary: every op on every dtype against a float64 reference, on the
 * device under test (tu_device(): the CPU, or CUDA for test_ops_unary_cuda).
 * Elementwise results are checked with the same tolerances on every device:
 * the reference is float64 and each element is one op plus one rounding. */
#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const nn_unary_op all_ops[] = {NN_OP_NEG,  NN_OP_ABS,  NN_OP_EXP,     NN_OP_LOG, NN_OP_SQRT,
                                      NN_OP_RELU, NN_OP_SIGMOID, NN_OP_TANH, NN_OP_STEP};
static const char *op_name(nn_unary_op op) {
  static const char *names[] = {"neg", "abs", "exp", "log", "sqrt", "relu", "sigmoid", "tanh", "step"};
  return (int)op >= 0 && (int)op < 9 ? names[op] : "?";
}

static bool keeps_int(nn_unary_op op) {
  return op == NN_OP_NEG || op == NN_OP_ABS || op == NN_OP_RELU || op == NN_OP_STEP;
}

static nn_dtype result_dtype(nn_unary_op op, nn_dtype dt) {
  if (tu_is_int(dt) && !keeps_int(op)) return NN_F32;
  return dt;
}

static double ref(nn_unary_op op, double x) {
  switch (op) {
    case NN_OP_NEG: return -x;
    case NN_OP_ABS: return fabs(x);
    case NN_OP_EXP: return exp(x);
    case NN_OP_LOG: return log(x);
    case NN_OP_SQRT: return sqrt(x);
    case NN_OP_RELU: return isnan(x) ? x : (x > 0 ? x : 0.0);
    case NN_OP_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case NN_OP_TANH: return tanh(x);
    case NN_OP_STEP: return x > 0 ? 1.0 : 0.0;
  }
  return NAN;
}

/* Integer-exact reference for ops that keep integer dtypes (wrapping). */
static int64_t ref_int(nn_unary_op op, nn_dtype dt, int64_t x) {
  switch (op) {
    case NN_OP_NEG: return tu_wrap(dt, (int64_t)(0u - (uint64_t)x));
    case NN_OP_ABS: return tu_wrap(dt, x < 0 ? (int64_t)(0u - (uint64_t)x) : x);
    case NN_OP_RELU: return x > 0 ? x : 0;
    case NN_OP_STEP: return x > 0 ? 1 : 0;
    default: return 0;
  }
}

static double atol_for(nn_dtype dt) {
  switch (dt) {
    case NN_F64: return 1e-14;
    case NN_F32: return 1e-5; /* torch.testing's default atol for float32 */
    case NN_F16: return 1e-3;
    case NN_BF16: return 8e-3;
    default: return 0;
  }
}

/* Every operation returns its result on the operands' device (nn.h, Operations). */
static void assert_on_device(const nn_tensor *t, const char *ctx) {
  nn_device d = nn_tensor_device(t), want = tu_device();
  if (d.type != want.type || d.index != want.index) {
    print_error("%s: result on device {%d, %d}, expected %s\n", ctx, (int)d.type, (int)d.index, tu_device_name());
    fail();
  }
}

/* When set, the input is a transposed (non-contiguous) view. */
static int strided_mode = 0;

/* When set, check_unary reports and counts mismatches instead of failing. */
static int *soft_errors = NULL;

/* Checks nn_unary(op) on tensor t holding vals (already representable in dt). */
static void check_unary(nn_unary_op op, nn_dtype dt, int ndim, const int64_t *shape, const double *vals,
                        const char *what) {
  nn_tensor *x = strided_mode && ndim >= 2 ? tu_make_strided(dt, ndim, shape, vals, 0, ndim - 1)
                                           : tu_make(dt, ndim, shape, vals);
  nn_tensor *y = NULL;
  nn_status st = nn_unary(op, x, &y);
  if (st != NN_OK) {
    print_error("%s: nn_unary(%s) on %s %s failed: %s\n", what, op_name(op), tu_dtype_name(dt),
                tu_shape_str(ndim, shape), nn_last_error());
    fail();
  }
  nn_dtype rdt = result_dtype(op, dt);
  tu_assert_meta(y, rdt, ndim, shape);
  assert_on_device(y, what);
  int64_t n = tu_numel(ndim, shape);
  double *exp = malloc((size_t)(n ? n : 1) * sizeof(double));
  for (int64_t i = 0; i < n; i++) {
    if (tu_is_int(rdt))
      exp[i] = (double)ref_int(op, dt, (int64_t)vals[i]);
    else
      exp[i] = tu_cast(rdt, ref(op, vals[i]));
  }
  double *got = tu_read(y, NULL);
  char ctx[160];
  snprintf(ctx, sizeof ctx, "%s: %s(%s %s)", what, op_name(op), tu_dtype_name(dt), tu_shape_str(ndim, shape));
  if (soft_errors) {
    /* report every mismatch, count it, go on */
    double rtol = tu_rtol(rdt), atol = atol_for(rdt);
    for (int64_t i = 0; i < n; i++) {
      double g = got[i], e = exp[i];
      bool ok = isnan(e) ? isnan(g)
                         : (!isnan(g) && ((isinf(e) || isinf(g)) ? g == e : fabs(g - e) <= atol + rtol * fabs(e)));
      if (!ok) {
        print_error("%s: x = %g: expected %.9g, got %.9g\n", ctx, vals[i], e, g);
        (*soft_errors)++;
      }
    }
  } else {
    tu_assert_close(got, exp, n, tu_rtol(rdt), atol_for(rdt), ctx);
  }
  free(got);
  free(exp);
  nn_tensor_free(y);
  nn_tensor_free(x);
}

/* values valid for op (domain), representable in dt */
static void fill_for(tu_rng *r, nn_unary_op op, nn_dtype dt, double *v, int64_t n) {
  double lo = -6, hi = 6;
  if (op == NN_OP_LOG || op == NN_OP_SQRT) lo = 0.125;
  if (dt == NN_U8) {
    lo = op == NN_OP_LOG || op == NN_OP_SQRT ? 1 : 0;
    hi = (op == NN_OP_EXP) ? 10 : 255;
  } else if (tu_is_int(dt) && op != NN_OP_EXP) {
    lo = op == NN_OP_LOG || op == NN_OP_SQRT ? 1 : -1000;
    hi = 1000;
  }
  tu_rng_fill(r, dt, v, n, lo, hi);
}

static void test_every_op_every_dtype_random_shapes(void **state) {
  (void)state;
  tu_rng r = tu_rng_make(100);
  for (size_t oi = 0; oi < sizeof all_ops / sizeof all_ops[0]; oi++) {
    nn_unary_op op = all_ops[oi];
    for (int di = 0; di < 8; di++) {
      nn_dtype dt = tu_all_dtypes[di];
      for (int rep = 0; rep < 4; rep++) {
        int ndim = (int)tu_rng_int(&r, 0, 4);
        int64_t shape[4];
        for (int d = 0; d < ndim; d++) shape[d] = tu_rng_int(&r, rep == 3 ? 0 : 1, 5);
        int64_t n = tu_numel(ndim, shape);
        double *v = malloc((size_t)(n ? n : 1) * sizeof(double));
        fill_for(&r, op, dt, v, n);
        check_unary(op, dt, ndim, shape, v, "random");
        free(v);
      }
    }
  }
}

/* Larger contiguous tensors exercise the vectorised paths and tails (oneDNN
 * on the CPU; grid-stride loops on CUDA). */
static void test_large_tensors(void **state) {
  (void)state;
  tu_rng r = tu_rng_make(101);
  const int64_t sizes[] = {1, 7, 17, 1023, 10007};
  for (size_t oi = 0; oi < sizeof all_ops / sizeof all_ops[0]; oi++) {
    for (int di = 0; di < 4; di++) {
      nn_dtype dt = tu_float_dtypes[di];
      for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        int64_t shape[1] = {sizes[si]};
        double *v = malloc((size_t)sizes[si] * sizeof(double));
        double lo = (all_ops[oi] == NN_OP_LOG || all_ops[oi] == NN_OP_SQRT) ? 1e-3 : -20;
        for (int64_t i = 0; i < sizes[si]; i++) v[i] = tu_cast(dt, tu_rng_uniform(&r, lo, 20));
        check_unary(all_ops[oi], dt, 1, shape, v, "large");
        free(v);
      }
    }
  }
}

static void test_non_contiguous_input(void **state) {
  (void)state;
  tu_rng r = tu_rng_make(102);
  strided_mode = 1;
  const int64_t shapes[][3] = {{37, 29, 0}, {3, 5, 7}, {130, 70, 0}};
  const int ranks[] = {2, 3, 2};
  for (size_t oi = 0; oi < sizeof all_ops / sizeof all_ops[0]; oi++)
    for (int di = 0; di < 8; di++)
      for (int si = 0; si < 3; si++) {
        int64_t n = tu_numel(ranks[si], shapes[si]);
        double *v = malloc((size_t)n * sizeof(double));
        fill_for(&r, all_ops[oi], tu_all_dtypes[di], v, n);
        check_unary(all_ops[oi], tu_all_dtypes[di], ranks[si], shapes[si], v, "strided");
        free(v);
      }
  strided_mode = 0;
}

static void test_integer_results(void **state) {
  (void)state;
  int64_t s3[1] = {3};
  /* NEG on U8 wraps */
  double u[3] = {0, 1, 255};
  nn_tensor *x = tu_make(NN_U8, 1, s3, u), *y = NULL;
  TU_OK(nn_unary(NN_OP_NEG, x, &y));
  double eu[3] = {0, 255, 1};
  tu_assert_tensor(y, NN_U8, 1, s3, eu, 0, 0);
  nn_tensor_free(y);
  TU_OK(nn_unary(NN_OP_ABS, x, &y));
  tu_assert_tensor(y, NN_U8, 1, s3, u, 0, 0);
  nn_tensor_free(y);
  TU_OK(nn_unary(NN_OP_STEP, x, &y));
  double su[3] = {0, 1, 1};
  tu_assert_tensor(y, NN_U8, 1, s3, su, 0, 0);
  nn_tensor_free(y);
  nn_tensor_free(x);
  /* ABS/NEG of the most negative value wrap to itself */
  double m16[3] = {-32768, -5, 32767};
  x = tu_make(NN_I16, 1, s3, m16);
  TU_OK(nn_unary(NN_OP_ABS, x, &y));
  double a16[3] = {-32768, 5, 32767};
  tu_assert_tensor(y, NN_I16, 1, s3, a16, 0, 0);
  nn_tensor_free(y);
  TU_OK(nn_unary(NN_OP_NEG, x, &y));
  double n16[3] = {-32768, 5, -32767};
  tu_assert_tensor(y, NN_I16, 1, s3, n16, 0, 0);
  nn_tensor_free(y);
  TU_OK(nn_unary(NN_OP_RELU, x, &y));
  double r16[3] = {0, 0, 32767};
  tu_assert_tensor(y, NN_I16, 1, s3, r16, 0, 0);
  nn_tensor_free(y);
  nn_tensor_free(x);
  /* I64 beyond 2^53 stays exact */
  int64_t big[3] = {INT64_MIN, -9007199254740993LL, 9007199254740993LL};
  x = tu_make_i64(NN_I64, 1, s3, big);
  TU_OK(nn_unary(NN_OP_NEG, x, &y));
  int64_t *g = tu_read_i64(y, NULL);
  assert_true(g[0] == INT64_MIN);
  assert_true(g[1] == 9007199254740993LL);
  assert_true(g[2] == -9007199254740993LL);
  free(g);
  nn_tensor_free(y);
  TU_OK(nn_unary(NN_OP_ABS, x, &y));
  g = tu_read_i64(y, NULL);
  assert_true(g[0] == INT64_MIN);
  assert_true(g[1] == 9007199254740993LL);
  assert_true(g[2] == 9007199254740993LL);
  free(g);
  nn_tensor_free(y);
  nn_tensor_free(x);
  /* floating ops on integers give F32 */
  double i4[4] = {0, 1, 4, 9};
  int64_t s4[1] = {4};
  x = tu_make(NN_I32, 1, s4, i4);
  TU_OK(nn_unary(NN_OP_SQRT, x, &y));
  double sq[4] = {0, 1, 2, 3};
  tu_assert_tensor(y, NN_F32, 1, s4, sq, 0, 0);
  nn_tensor_free(y);
  TU_OK(nn_unary(NN_OP_LOG, x, &y));
  double lg[4] = {-INFINITY, 0, tu_cast(NN_F32, log(4.0)), tu_cast(NN_F32, log(9.0))};
  tu_assert_tensor(y, NN_F32, 1, s4, lg, 2e-6, 1e-5);
  nn_tensor_free(y);
  nn_tensor_free(x);
  /* sigmoid of a large U8 is exactly 1 in F32; exp(200) overflows F32 */
  double big8[2] = {200, 0};
  int64_t s2[1] = {2};
  x = tu_make(NN_U8, 1, s2, big8);
  TU_OK(nn_unary(NN_OP_SIGMOID, x, &y));
  double sg[2] = {1.0, 0.5};
  tu_assert_tensor(y, NN_F32, 1, s2, sg, 0, 0);
  nn_tensor_free(y);
  TU_OK(nn_unary(NN_OP_EXP, x, &y));
  double ex[2] = {INFINITY, 1.0};
  tu_assert_tensor(y, NN_F32, 1, s2, ex, 0, 0);
  nn_tensor_free(y);
  nn_tensor_free(x);
}

static void test_special_values(void **state) {
  (void)state;
  const double sv[] = {NAN, INFINITY, -INFINITY, 0.0, -0.0, 1.0, -1.0, 30.0, -30.0, 100.0};
  const int64_t n = (int64_t)(sizeof sv / sizeof sv[0]);
  int64_t shape[1] = {n};
  int errors = 0;
  soft_errors = &errors;
  for (int di = 0; di < 4; di++) {
    nn_dtype dt = tu_float_dtypes[di];
    double v[10];
    for (int64_t i = 0; i < n; i++) v[i] = tu_cast(dt, sv[i]);
    for (size_t oi = 0; oi < sizeof all_ops / sizeof all_ops[0]; oi++) {
      if (all_ops[oi] == NN_OP_RELU) { /* relu(NaN) has its own test */
        int64_t s1[1] = {n - 1};
        check_unary(all_ops[oi], dt, 1, s1, v + 1, "special");
      } else {
        check_unary(all_ops[oi], dt, 1, shape, v, "special");
      }
    }
  }
  soft_errors = NULL;
  assert_int_equal(errors, 0);
  /* documented corner cases, spelled out */
  double xs[4] = {0.0, -1.0, INFINITY, NAN};
  int64_t s4[1] = {4};
  nn_tensor *x = tu_make(NN_F32, 1, s4, xs), *y = NULL;
  TU_OK(nn_unary(NN_OP_LOG, x, &y));
  double el[4] = {-INFINITY, NAN, INFINITY, NAN};
  tu_assert_tensor(y, NN_F32, 1, s4, el, 0, 0);
  nn_tensor_free(y);
  TU_OK(nn_unary(NN_OP_SQRT, x, &y));
  double es[4] = {0.0, NAN, INFINITY, NAN};
  tu_assert_tensor(y, NN_F32, 1, s4, es, 0, 0);
  nn_tensor_free(y);
  TU_OK(nn_unary(NN_OP_STEP, x, &y));
  double est[4] = {0, 0, 1, 0};
  tu_assert_tensor(y, NN_F32, 1, s4, est, 0, 0);
  nn_tensor_free(y);
  nn_tensor_free(x);
}

/* torch.relu(nan) is nan (NaN propagates). */
static void test_relu_nan_propagates(void **state) {
  (void)state;
  double xs[3] = {NAN, -2, 2};
  int64_t s3[1] = {3};
  for (int di = 0; di < 4; di++) {
    nn_tensor *x = tu_make(tu_float_dtypes[di], 1, s3, xs), *y = NULL;
    TU_OK(nn_unary(NN_OP_RELU, x, &y));
    double e[3] = {NAN, 0, 2};
    tu_assert_tensor(y, tu_float_dtypes[di], 1, s3, e, 0, 0);
    nn_tensor_free(y);
    nn_tensor_free(x);
  }
}

/* The input is left untouched; the output is a new tensor with own storage. */
static void test_input_unchanged(void **state) {
  (void)state;
  double xs[4] = {-1, 2, -3, 4};
  int64_t s[2] = {2, 2};
  const float junk[4] = {100, 200, 300, 400};
  nn_tensor *x = tu_make(NN_F32, 2, s, xs), *y = NULL;
  for (size_t oi = 0; oi < sizeof all_ops / sizeof all_ops[0]; oi++) {
    TU_OK(nn_unary(all_ops[oi], x, &y));
    if (tu_on_cpu()) {
      assert_ptr_not_equal(nn_tensor_data(y), nn_tensor_data(x));
    } else {
      /* nn.h: nn_tensor_data is NULL for a CUDA tensor (the write below checks the storage) */
      assert_null(nn_tensor_data(y));
      assert_null(nn_tensor_data(x));
    }
    /* on any device: overwriting the result leaves the input as it was */
    TU_OK(nn_tensor_write(y, junk, sizeof junk));
    nn_tensor_free(y);
    tu_assert_tensor(x, NN_F32, 2, s, xs, 0, 0);
  }
  nn_tensor_free(x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_op_every_dtype_random_shapes),
      cmocka_unit_test(test_large_tensors),
      cmocka_unit_test(test_non_contiguous_input),
      cmocka_unit_test(test_integer_results),
      cmocka_unit_test(test_special_values),
      cmocka_unit_test(test_relu_nan_propagates),
      cmocka_unit_test(test_input_unchanged),
  };
  return tu_run_group(tests);
}
