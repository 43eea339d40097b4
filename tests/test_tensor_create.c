/* Tensor creation: zeros, full, from_data, arange, rand_uniform, rand_normal,
 * and the query functions, for all 8 dtypes and ranks 0..8. Every tensor is
 * made on the device under test, tu_device() (NN_TEST_DEVICE). */
#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A random shape of rank r with small dims (numel <= ~300). */
static void random_shape(tu_rng *r, int rank, int64_t *shape, bool allow_zero) {
  int64_t maxd = rank <= 2 ? 7 : (rank <= 4 ? 4 : 2);
  for (int i = 0; i < rank; i++) shape[i] = tu_rng_int(r, allow_zero ? 0 : 1, maxd);
}

static void test_zeros_all_dtypes_ranks(void **state) {
  (void)state;
  tu_rng r = tu_rng_make(1);
  for (int di = 0; di < 8; di++) {
    nn_dtype dt = tu_all_dtypes[di];
    for (int rank = 0; rank <= 8; rank++) {
      int64_t shape[8];
      random_shape(&r, rank, shape, false);
      nn_tensor *t = NULL;
      TU_OK(nn_tensor_zeros(dt, rank, shape, tu_device(), &t));
      int64_t n = tu_numel(rank, shape);
      double *exp = calloc((size_t)n, sizeof(double));
      tu_assert_tensor(t, dt, rank, shape, exp, 0, 0);
      nn_device d = nn_tensor_device(t);
      assert_int_equal(d.type, tu_device().type);
      assert_int_equal(d.index, tu_device().index);
      /* raw bytes all zero */
      size_t bytes = (size_t)n * tu_dtype_size(dt);
      unsigned char *raw = malloc(bytes);
      memset(raw, 0xAB, bytes);
      TU_OK(nn_tensor_read(t, raw, bytes));
      for (size_t i = 0; i < bytes; i++) assert_int_equal(raw[i], 0);
      free(raw);
      free(exp);
      nn_tensor_free(t);
    }
  }
}

static void test_zeros_empty_and_scalar(void **state) {
  (void)state;
  /* 0-dim: numel 1; NULL shape ok */
  nn_tensor *t = NULL;
  TU_OK(nn_tensor_zeros(NN_F64, 0, NULL, tu_device(), &t));
  assert_int_equal(nn_tensor_ndim(t), 0);
  assert_int_equal(nn_tensor_numel(t), 1);
  TU_OK(nn_tensor_shape(t, NULL));
  nn_tensor_free(t);
  /* empty dims */
  int64_t shapes[][3] = {{0, 3, 2}, {3, 0, 2}, {2, 3, 0}};
  for (int i = 0; i < 3; i++) {
    t = NULL;
    TU_OK(nn_tensor_zeros(NN_I32, 3, shapes[i], tu_device(), &t));
    tu_assert_meta(t, NN_I32, 3, shapes[i]);
    assert_int_equal(nn_tensor_numel(t), 0);
    TU_OK(nn_tensor_read(t, NULL, 0));
    nn_tensor_free(t);
  }
  /* rank 8 */
  int64_t s8[8] = {2, 1, 3, 1, 2, 1, 2, 1};
  TU_OK(nn_tensor_zeros(NN_BF16, 8, s8, tu_device(), &t));
  tu_assert_meta(t, NN_BF16, 8, s8);
  assert_int_equal(nn_tensor_numel(t), 24);
  nn_tensor_free(t);
}

/* An empty tensor may have large other dims, as long as the product of its
 * non-zero dims times the dtype size fits int64 (nn.h: one size rule for
 * every shape, empty or not, so no view, reduction or product of it can
 * reach an overflowing count). torch.zeros(0, 2**62) works in PyTorch; here
 * it is NN_ERR_INVALID_ARGUMENT, as its reshape to [2**62, 0] always was. */
static void test_empty_with_huge_dims(void **state) {
  (void)state;
  int64_t a[2] = {0, INT64_C(1) << 59}, b[3] = {INT64_C(1) << 30, 0, INT64_C(1) << 30};
  nn_tensor *t = NULL;
  TU_OK(nn_tensor_zeros(NN_F64, 2, a, tu_device(), &t));
  tu_assert_meta(t, NN_F64, 2, a);
  assert_int_equal(nn_tensor_numel(t), 0);
  nn_tensor_free(t);
  t = NULL;
  TU_OK(nn_tensor_zeros(NN_I16, 3, b, tu_device(), &t));
  tu_assert_meta(t, NN_I16, 3, b);
  assert_int_equal(nn_tensor_numel(t), 0);
  nn_tensor_free(t);
  t = NULL;
  int64_t c[2] = {0, INT64_C(1) << 62}, d[3] = {INT64_C(1) << 62, 0, INT64_C(1) << 62};
  TU_ERR(nn_tensor_zeros(NN_F64, 2, c, tu_device(), &t), NN_ERR_INVALID_ARGUMENT, "nn_tensor_zeros",
         "shape [0, 4611686018427387904] has too many elements");
  TU_ERR(nn_tensor_zeros(NN_I16, 3, d, tu_device(), &t), NN_ERR_INVALID_ARGUMENT, "nn_tensor_zeros",
         "too many elements");
  assert_null(t);
}

static void check_full(nn_dtype dt, double value, double expected, int line) {
  int64_t shape[2] = {2, 3};
  nn_tensor *t = NULL;
  nn_status st = nn_tensor_full(dt, 2, shape, value, tu_device(), &t);
  if (st != NN_OK) {
    print_error("line %d: nn_tensor_full(%s, %g) failed: %s\n", line, tu_dtype_name(dt), value, nn_last_error());
    fail();
  }
  double exp[6];
  for (int i = 0; i < 6; i++) exp[i] = expected;
  tu_assert_meta(t, dt, 2, shape);
  int64_t n = 0;
  double *got = tu_read(t, &n);
  char ctx[96];
  snprintf(ctx, sizeof ctx, "line %d: full(%s, %.17g)", line, tu_dtype_name(dt), value);
  tu_assert_close(got, exp, n, 0, 0, ctx);
  free(got);
  nn_tensor_free(t);
}

static void check_full_i64(nn_dtype dt, double value, int64_t expected, int line) {
  int64_t shape[1] = {3};
  nn_tensor *t = NULL;
  TU_OK(nn_tensor_full(dt, 1, shape, value, tu_device(), &t));
  int64_t n = 0;
  int64_t *got = tu_read_i64(t, &n);
  for (int i = 0; i < 3; i++) {
    if (got[i] != expected) {
      print_error("line %d: full(%s, %.17g)[%d]: expected %lld got %lld\n", line, tu_dtype_name(dt), value, i,
                  (long long)expected, (long long)got[i]);
      fail();
    }
  }
  free(got);
  nn_tensor_free(t);
}

static void test_full_values_and_casts(void **state) {
  (void)state;
  for (int di = 0; di < 8; di++) {
    nn_dtype dt = tu_all_dtypes[di];
    check_full(dt, 0.0, 0.0, __LINE__);
    check_full(dt, 7.0, 7.0, __LINE__);
    check_full(dt, 2.5, tu_is_float(dt) ? 2.5 : 2.0, __LINE__);
  }
  /* every rank */
  for (int rank = 0; rank <= 8; rank++) {
    int64_t shape[8];
    for (int i = 0; i < rank; i++) shape[i] = (i % 3) + 1;
    nn_tensor *t = NULL;
    TU_OK(nn_tensor_full(NN_F32, rank, shape, -1.25, tu_device(), &t));
    int64_t n = tu_numel(rank, shape);
    double *exp = malloc((size_t)n * sizeof(double));
    for (int64_t i = 0; i < n; i++) exp[i] = -1.25;
    tu_assert_tensor(t, NN_F32, rank, shape, exp, 0, 0);
    free(exp);
    nn_tensor_free(t);
  }
  /* rounding of floats */
  check_full(NN_F32, 0.1, (double)0.1f, __LINE__);
  check_full(NN_F16, 0.1, tu_cast(NN_F16, 0.1), __LINE__);
  check_full(NN_BF16, 1.0 / 3.0, tu_cast(NN_BF16, 1.0 / 3.0), __LINE__);
  check_full(NN_F16, 65504.0, 65504.0, __LINE__);
  check_full(NN_F16, 65519.0, 65504.0, __LINE__);
  check_full(NN_F16, 70000.0, INFINITY, __LINE__);
  check_full(NN_F16, -70000.0, -INFINITY, __LINE__);
  check_full(NN_F16, 1.0 + 1.0 / 2048.0, 1.0, __LINE__);               /* tie -> even */
  check_full(NN_F16, 1.0 + 3.0 / 2048.0, 1.0 + 4.0 / 2048.0, __LINE__); /* tie -> even (up) */
  check_full(NN_BF16, 1.0 + 1.0 / 256.0, 1.0, __LINE__);                /* tie -> even */
  check_full(NN_BF16, 1.0 + 3.0 / 256.0, 1.0 + 4.0 / 256.0, __LINE__);  /* tie -> even (up) */
  check_full(NN_BF16, 3.0e38, tu_cast(NN_BF16, 3.0e38), __LINE__);
  check_full(NN_F32, 1e39, INFINITY, __LINE__);
  check_full(NN_F64, NAN, NAN, __LINE__);
  check_full(NN_F32, NAN, NAN, __LINE__);
  check_full(NN_F16, NAN, NAN, __LINE__);
  check_full(NN_BF16, NAN, NAN, __LINE__);
  check_full(NN_F32, INFINITY, INFINITY, __LINE__);
  check_full(NN_BF16, -INFINITY, -INFINITY, __LINE__);
  /* float -> integer: truncate toward zero, then wrap */
  check_full_i64(NN_U8, 300.0, 44, __LINE__);
  check_full_i64(NN_U8, -1.0, 255, __LINE__);
  check_full_i64(NN_U8, 255.9, 255, __LINE__);
  check_full_i64(NN_I16, 3.9, 3, __LINE__);
  check_full_i64(NN_I16, -3.9, -3, __LINE__);
  check_full_i64(NN_I16, 32768.0, -32768, __LINE__);
  check_full_i64(NN_I16, 40000.0, 40000 - 65536, __LINE__);
  check_full_i64(NN_I32, -2.5, -2, __LINE__);
  check_full_i64(NN_I32, 2147483648.0, INT32_MIN, __LINE__);
  check_full_i64(NN_I64, -0.999, 0, __LINE__);
  check_full_i64(NN_I64, 1e15 + 0.5, 1000000000000000LL, __LINE__);
  check_full_i64(NN_I64, -9007199254740993.0, -9007199254740992LL, __LINE__);
}

/* Out-of-range float -> integer follows docs/semantics.md: NaN -> 0,
 * saturate at the int64 range, then wrap. */
static void test_full_out_of_range_ints(void **state) {
  (void)state;
  check_full_i64(NN_I64, 1e30, INT64_MAX, __LINE__);
  check_full_i64(NN_I64, -1e30, INT64_MIN, __LINE__);
  check_full_i64(NN_I32, NAN, 0, __LINE__);
  check_full_i64(NN_U8, NAN, 0, __LINE__);
  check_full_i64(NN_I64, NAN, 0, __LINE__);
  check_full_i64(NN_I32, 1e10, tu_wrap(NN_I32, 10000000000LL), __LINE__);
  check_full_i64(NN_U8, 1e10, tu_wrap(NN_U8, 10000000000LL), __LINE__);
  check_full_i64(NN_I64, INFINITY, INT64_MAX, __LINE__);
  check_full_i64(NN_I16, INFINITY, tu_wrap(NN_I16, INT64_MAX), __LINE__);
  check_full_i64(NN_I16, -INFINITY, tu_wrap(NN_I16, INT64_MIN), __LINE__);
}

static void test_from_data_all_dtypes_ranks(void **state) {
  (void)state;
  tu_rng r = tu_rng_make(2);
  for (int di = 0; di < 8; di++) {
    nn_dtype dt = tu_all_dtypes[di];
    size_t sz = tu_dtype_size(dt);
    for (int rank = 0; rank <= 8; rank++) {
      int64_t shape[8];
      random_shape(&r, rank, shape, false);
      int64_t n = tu_numel(rank, shape);
      unsigned char *raw = malloc((size_t)n * sz);
      for (size_t i = 0; i < (size_t)n * sz; i++) raw[i] = (unsigned char)tu_rng_next(&r);
      /* keep floats free of NaN payload questions: store values */
      if (tu_is_float(dt))
        for (int64_t i = 0; i < n; i++) tu_store(dt, raw, i, tu_rng_uniform(&r, -1e3, 1e3));
      nn_tensor *t = NULL;
      TU_OK(nn_tensor_from_data(dt, rank, shape, raw, tu_device(), &t));
      /* the tensor copied the data: scribbling over the source changes nothing */
      unsigned char *copy = malloc((size_t)n * sz);
      memcpy(copy, raw, (size_t)n * sz);
      memset(raw, 0x5A, (size_t)n * sz);
      tu_assert_meta(t, dt, rank, shape);
      unsigned char *back = malloc((size_t)n * sz + 16);
      memset(back, 0xEE, (size_t)n * sz + 16);
      TU_OK(nn_tensor_read(t, back, (size_t)n * sz + 16));
      assert_memory_equal(back, copy, (size_t)n * sz);
      /* exactly numel*size bytes written */
      for (size_t i = 0; i < 16; i++) assert_int_equal(back[(size_t)n * sz + i], 0xEE);
      free(raw);
      free(copy);
      free(back);
      nn_tensor_free(t);
    }
  }
}

static void test_from_data_empty_null_ok(void **state) {
  (void)state;
  int64_t shape[2] = {0, 4};
  nn_tensor *t = NULL;
  TU_OK(nn_tensor_from_data(NN_F32, 2, shape, NULL, tu_device(), &t));
  tu_assert_meta(t, NN_F32, 2, shape);
  nn_tensor_free(t);
}

static void check_arange(double start, double end, double step, nn_dtype dt, int64_t n, const double *exp,
                         int line) {
  nn_tensor *t = NULL;
  nn_status st = nn_tensor_arange(start, end, step, dt, tu_device(), &t);
  if (st != NN_OK) {
    print_error("line %d: arange(%g, %g, %g, %s) failed: %s\n", line, start, end, step, tu_dtype_name(dt),
                nn_last_error());
    fail();
  }
  int64_t shape[1] = {n};
  tu_assert_meta(t, dt, 1, shape);
  int64_t got_n = 0;
  double *got = tu_read(t, &got_n);
  char ctx[96];
  snprintf(ctx, sizeof ctx, "line %d: arange(%g, %g, %g, %s)", line, start, end, step, tu_dtype_name(dt));
  tu_assert_close(got, exp, n, 0, 0, ctx);
  free(got);
  nn_tensor_free(t);
}

static void test_arange(void **state) {
  (void)state;
  double e6[6] = {0, 1, 2, 3, 4, 5};
  for (int di = 0; di < 8; di++) check_arange(0, 6, 1, tu_all_dtypes[di], 6, e6, __LINE__);
  double e4[4] = {0, 3, 6, 9};
  check_arange(0, 10, 3, NN_I64, 4, e4, __LINE__);
  check_arange(0, 10, 3, NN_I16, 4, e4, __LINE__);
  double d4[4] = {5, 3.5, 2, 0.5};
  check_arange(5, 0, -1.5, NN_F32, 4, d4, __LINE__);
  check_arange(5, 0, -1.5, NN_F64, 4, d4, __LINE__);
  /* numel = ceil((end-start)/step); element i = start + i*step cast */
  double tenth[10];
  for (int i = 0; i < 10; i++) tenth[i] = (double)(float)(0.0 + i * 0.1);
  check_arange(0, 1, 0.1, NN_F32, 10, tenth, __LINE__);
  double tenth64[10];
  for (int i = 0; i < 10; i++) tenth64[i] = 0.0 + i * 0.1;
  check_arange(0, 1, 0.1, NN_F64, 10, tenth64, __LINE__);
  double h[3] = {-1.0, -0.25, 0.5};
  check_arange(-1, 1.25, 0.75, NN_F16, 3, h, __LINE__);
  double third[3] = {tu_cast(NN_BF16, 0.0), tu_cast(NN_BF16, 1.0 / 3.0), tu_cast(NN_BF16, 2.0 / 3.0)};
  check_arange(0, 0.9, 1.0 / 3.0, NN_BF16, 3, third, __LINE__);
  /* numel from ceil((end - start) / step) computed in double, as torch */
  double ar5[5], ar7[7];
  for (int i = 0; i < 5; i++) ar5[i] = -1.0 + i * 0.3;
  check_arange(-1, 0.5, 0.3, NN_F64, 5, ar5, __LINE__);
  for (int i = 0; i < 7; i++) ar7[i] = 0.0 + i * 0.1;
  check_arange(0, 0.7, 0.1, NN_F64, 7, ar7, __LINE__);
  double ar3[3] = {0.0, 0.1, 0.2};
  for (int i = 0; i < 3; i++) ar3[i] = (double)(float)ar3[i];
  check_arange(0, 0.3, 0.1, NN_F32, 3, ar3, __LINE__);
  /* negative integer steps */
  double neg[5] = {10, 8, 6, 4, 2};
  check_arange(10, 1, -2, NN_I32, 5, neg, __LINE__);
  check_arange(10, 1, -2, NN_BF16, 5, neg, __LINE__);
  /* start == end: empty [0] */
  check_arange(3, 3, 1, NN_F32, 0, NULL, __LINE__);
  check_arange(3, 3, -1, NN_I64, 0, NULL, __LINE__);
  /* one element */
  double one[1] = {2};
  check_arange(2, 2.5, 1, NN_F64, 1, one, __LINE__);
  /* arange(50) */
  double e50[50];
  for (int i = 0; i < 50; i++) e50[i] = i;
  check_arange(0, 50, 1, NN_I64, 50, e50, __LINE__);
  /* bigger: 100000 elements of F32 */
  nn_tensor *t = NULL;
  TU_OK(nn_tensor_arange(0, 100000, 1, NN_F32, tu_device(), &t));
  assert_int_equal(nn_tensor_numel(t), 100000);
  int64_t n = 0;
  double *got = tu_read(t, &n);
  for (int64_t i = 0; i < n; i++)
    if (got[i] != (double)i) {
      print_error("arange(100000)[%lld] = %g\n", (long long)i, got[i]);
      fail();
    }
  free(got);
  nn_tensor_free(t);
}

/* ---- random ------------------------------------------------------------------- */

static double *read_all(const nn_tensor *t, int64_t *n) { return tu_read(t, n); }

static void test_rand_uniform_range_and_stats(void **state) {
  (void)state;
  const int64_t N = 100000;
  int64_t shape[2] = {250, 400};
  for (int fi = 0; fi < 4; fi++) {
    nn_dtype dt = tu_float_dtypes[fi];
    double lo = -2.0, hi = 3.0;
    nn_tensor *t = NULL;
    TU_OK(nn_tensor_rand_uniform(dt, 2, shape, lo, hi, 12345, tu_device(), &t));
    tu_assert_meta(t, dt, 2, shape);
    int64_t n = 0;
    double *v = read_all(t, &n);
    assert_int_equal(n, N);
    double sum = 0, sum2 = 0, mn = INFINITY, mx = -INFINITY;
    int64_t bins[10] = {0};
    for (int64_t i = 0; i < n; i++) {
      double x = v[i];
      if (!(x >= lo && (x < hi || ((dt == NN_F16 || dt == NN_BF16) && x <= hi)))) {
        print_error("%s: uniform value %.17g at %lld outside [%g, %g)\n", tu_dtype_name(dt), x, (long long)i, lo, hi);
        fail();
      }
      sum += x;
      sum2 += x * x;
      if (x < mn) mn = x;
      if (x > mx) mx = x;
      int b = (int)((x - lo) / (hi - lo) * 10);
      if (b > 9) b = 9;
      bins[b]++;
    }
    double mean = sum / n, var = sum2 / n - mean * mean;
    double exp_mean = 0.5 * (lo + hi), exp_std = (hi - lo) / sqrt(12.0);
    /* 5 sigma of the sample mean; 2% on std */
    if (fabs(mean - exp_mean) > 5 * exp_std / sqrt((double)n) + 0.01 * (dt == NN_BF16)) {
      print_error("%s: uniform mean %g, expected %g\n", tu_dtype_name(dt), mean, exp_mean);
      fail();
    }
    if (fabs(sqrt(var) - exp_std) > 0.02 * exp_std) {
      print_error("%s: uniform std %g, expected %g\n", tu_dtype_name(dt), sqrt(var), exp_std);
      fail();
    }
    assert_true(mn < lo + 0.05);
    assert_true(mx > hi - 0.05);
    for (int b = 0; b < 10; b++) {
      /* each bin ~ N/10 = 10000, sigma ~ 95; bf16/f16 rounding moves a little mass */
      if (llabs(bins[b] - N / 10) > (dt == NN_BF16 ? 1500 : 600)) {
        print_error("%s: histogram bin %d has %lld values, expected ~%lld\n", tu_dtype_name(dt), b,
                    (long long)bins[b], (long long)(N / 10));
        fail();
      }
    }
    free(v);
    nn_tensor_free(t);
  }
}

static void test_rand_normal_stats(void **state) {
  (void)state;
  int64_t shape[1] = {100000};
  for (int fi = 0; fi < 4; fi++) {
    nn_dtype dt = tu_float_dtypes[fi];
    double mu = 1.5, sd = 2.0;
    nn_tensor *t = NULL;
    TU_OK(nn_tensor_rand_normal(dt, 1, shape, mu, sd, 777, tu_device(), &t));
    tu_assert_meta(t, dt, 1, shape);
    int64_t n = 0;
    double *v = read_all(t, &n);
    double sum = 0, sum2 = 0, sum4 = 0;
    int64_t within1 = 0, within2 = 0;
    for (int64_t i = 0; i < n; i++) {
      assert_true(isfinite(v[i]));
      sum += v[i];
    }
    double mean = sum / n;
    for (int64_t i = 0; i < n; i++) {
      double d = v[i] - mean;
      sum2 += d * d;
      sum4 += d * d * d * d;
      if (fabs(v[i] - mu) < sd) within1++;
      if (fabs(v[i] - mu) < 2 * sd) within2++;
    }
    double var = sum2 / n;
    double kurt = (sum4 / n) / (var * var);
    double tol_mean = 5 * sd / sqrt((double)n) + (dt == NN_BF16 ? 0.01 : 0.0);
    if (fabs(mean - mu) > tol_mean || fabs(sqrt(var) - sd) > 0.02 * sd) {
      print_error("%s: normal mean %g std %g, expected %g %g\n", tu_dtype_name(dt), mean, sqrt(var), mu, sd);
      fail();
    }
    double f1 = (double)within1 / n, f2 = (double)within2 / n;
    if (fabs(f1 - 0.682689) > 0.01 || fabs(f2 - 0.954500) > 0.006 || fabs(kurt - 3.0) > 0.15) {
      print_error("%s: normal shape off: P(|z|<1)=%g P(|z|<2)=%g kurtosis=%g\n", tu_dtype_name(dt), f1, f2, kurt);
      fail();
    }
    free(v);
    nn_tensor_free(t);
  }
  /* std 0: every element equals mean */
  int64_t s2[2] = {3, 5};
  nn_tensor *t = NULL;
  TU_OK(nn_tensor_rand_normal(NN_F32, 2, s2, -0.75, 0.0, 1, tu_device(), &t));
  double exp[15];
  for (int i = 0; i < 15; i++) exp[i] = -0.75;
  tu_assert_tensor(t, NN_F32, 2, s2, exp, 0, 0);
  nn_tensor_free(t);
}

static void *read_raw(const nn_tensor *t, size_t *bytes) {
  *bytes = (size_t)nn_tensor_numel(t) * tu_dtype_size(nn_tensor_dtype(t));
  void *p = malloc(*bytes ? *bytes : 1);
  TU_OK(nn_tensor_read(t, p, *bytes));
  return p;
}

static void test_rand_reproducible(void **state) {
  (void)state;
  int64_t shape[3] = {7, 11, 13};
  for (int fi = 0; fi < 4; fi++) {
    nn_dtype dt = tu_float_dtypes[fi];
    for (int kind = 0; kind < 2; kind++) {
      nn_tensor *a = NULL, *b = NULL, *c = NULL;
      if (kind == 0) {
        TU_OK(nn_tensor_rand_uniform(dt, 3, shape, 0.0, 1.0, 42, tu_device(), &a));
        TU_OK(nn_tensor_rand_uniform(dt, 3, shape, 0.0, 1.0, 42, tu_device(), &b));
        TU_OK(nn_tensor_rand_uniform(dt, 3, shape, 0.0, 1.0, 43, tu_device(), &c));
      } else {
        TU_OK(nn_tensor_rand_normal(dt, 3, shape, 0.0, 1.0, 42, tu_device(), &a));
        TU_OK(nn_tensor_rand_normal(dt, 3, shape, 0.0, 1.0, 42, tu_device(), &b));
        TU_OK(nn_tensor_rand_normal(dt, 3, shape, 0.0, 1.0, 43, tu_device(), &c));
      }
      size_t na, nb, nc;
      void *ra = read_raw(a, &na), *rb = read_raw(b, &nb), *rc = read_raw(c, &nc);
      assert_int_equal(na, nb);
      assert_memory_equal(ra, rb, na);
      if (!tu_on_cpu()) {
        /* nn.h: the same seed gives the same values on every device (bit for bit) */
        nn_tensor *h = NULL;
        if (kind == 0)
          TU_OK(nn_tensor_rand_uniform(dt, 3, shape, 0.0, 1.0, 42, tu_cpu(), &h));
        else
          TU_OK(nn_tensor_rand_normal(dt, 3, shape, 0.0, 1.0, 42, tu_cpu(), &h));
        size_t nh;
        void *rh = read_raw(h, &nh);
        assert_int_equal(nh, na);
        assert_memory_equal(rh, ra, na);
        free(rh);
        nn_tensor_free(h);
      }
      /* a different seed gives different values almost everywhere */
      int64_t n = nn_tensor_numel(a), same = 0;
      double *va = tu_read(a, NULL), *vc = tu_read(c, NULL);
      for (int64_t i = 0; i < n; i++) same += va[i] == vc[i];
      if (same > n / 10) {
        print_error("%s %s: seeds 42 and 43 share %lld of %lld values\n", tu_dtype_name(dt),
                    kind ? "normal" : "uniform", (long long)same, (long long)n);
        fail();
      }
      /* values are not all equal */
      int64_t distinct_from_first = 0;
      for (int64_t i = 1; i < n; i++) distinct_from_first += va[i] != va[0];
      assert_true(distinct_from_first > n / 2);
      free(va);
      free(vc);
      free(ra);
      free(rb);
      free(rc);
      nn_tensor_free(a);
      nn_tensor_free(b);
      nn_tensor_free(c);
    }
  }
}

/* Counter-based: element i depends only on (seed, i), not on the shape. */
static void test_rand_counter_based(void **state) {
  (void)state;
  int64_t s_small[1] = {10}, s_big[1] = {1000}, s_2d[2] = {25, 40};
  for (int kind = 0; kind < 2; kind++) {
    nn_tensor *a = NULL, *b = NULL, *c = NULL;
    if (kind == 0) {
      TU_OK(nn_tensor_rand_uniform(NN_F32, 1, s_small, -1, 1, 9, tu_device(), &a));
      TU_OK(nn_tensor_rand_uniform(NN_F32, 1, s_big, -1, 1, 9, tu_device(), &b));
      TU_OK(nn_tensor_rand_uniform(NN_F32, 2, s_2d, -1, 1, 9, tu_device(), &c));
    } else {
      TU_OK(nn_tensor_rand_normal(NN_F32, 1, s_small, 0, 1, 9, tu_device(), &a));
      TU_OK(nn_tensor_rand_normal(NN_F32, 1, s_big, 0, 1, 9, tu_device(), &b));
      TU_OK(nn_tensor_rand_normal(NN_F32, 2, s_2d, 0, 1, 9, tu_device(), &c));
    }
    double *va = tu_read(a, NULL), *vb = tu_read(b, NULL), *vc = tu_read(c, NULL);
    tu_assert_close(va, vb, 10, 0, 0, "prefix of a longer tensor");
    tu_assert_close(vb, vc, 1000, 0, 0, "same values whatever the shape");
    free(va);
    free(vb);
    free(vc);
    nn_tensor_free(a);
    nn_tensor_free(b);
    nn_tensor_free(c);
  }
}

static void test_rand_all_ranks(void **state) {
  (void)state;
  tu_rng r = tu_rng_make(5);
  for (int rank = 0; rank <= 8; rank++) {
    int64_t shape[8];
    random_shape(&r, rank, shape, true);
    for (int fi = 0; fi < 4; fi++) {
      nn_tensor *t = NULL;
      TU_OK(nn_tensor_rand_uniform(tu_float_dtypes[fi], rank, shape, 10.0, 10.5, (uint64_t)rank, tu_device(), &t));
      tu_assert_meta(t, tu_float_dtypes[fi], rank, shape);
      int64_t n = 0;
      double *v = tu_read(t, &n);
      for (int64_t i = 0; i < n; i++) assert_true(v[i] >= 10.0 && v[i] <= 10.5);
      free(v);
      nn_tensor_free(t);
      TU_OK(nn_tensor_rand_normal(tu_float_dtypes[fi], rank, shape, 0.0, 1.0, (uint64_t)rank, tu_device(), &t));
      tu_assert_meta(t, tu_float_dtypes[fi], rank, shape);
      nn_tensor_free(t);
    }
  }
}

/* ---- queries ------------------------------------------------------------------ */

static void test_queries(void **state) {
  (void)state;
  int64_t shape[4] = {2, 3, 1, 4};
  nn_tensor *t = NULL;
  TU_OK(nn_tensor_zeros(NN_I16, 4, shape, tu_device(), &t));
  assert_int_equal(nn_tensor_ndim(t), 4);
  assert_int_equal(nn_tensor_numel(t), 24);
  assert_int_equal(nn_tensor_dtype(t), NN_I16);
  nn_device d = nn_tensor_device(t);
  assert_int_equal(d.type, tu_device().type);
  assert_int_equal(d.index, tu_device().index);
  /* nn.h: no host pointer to a CUDA tensor's elements */
  if (!tu_on_cpu()) assert_null(nn_tensor_data(t));
  int64_t got[9] = {-9, -9, -9, -9, -9, -9, -9, -9, -9};
  TU_OK(nn_tensor_shape(t, got));
  assert_int_equal(got[0], 2);
  assert_int_equal(got[1], 3);
  assert_int_equal(got[2], 1);
  assert_int_equal(got[3], 4);
  assert_int_equal(got[4], -9); /* writes exactly ndim values */
  nn_tensor_free(t);

  /* NULL handle queries */
  assert_int_equal(nn_tensor_ndim(NULL), -1);
  assert_int_equal(nn_tensor_numel(NULL), -1);
  assert_int_equal((int)nn_tensor_dtype(NULL), -1);
  nn_device nd = nn_tensor_device(NULL);
  assert_int_equal(nd.type, 0);
  assert_int_equal(nd.index, -1);
  assert_null(nn_tensor_data(NULL));
  nn_tensor_free(NULL); /* no-op */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_zeros_all_dtypes_ranks),
      cmocka_unit_test(test_zeros_empty_and_scalar),
      cmocka_unit_test(test_empty_with_huge_dims),
      cmocka_unit_test(test_full_values_and_casts),
      cmocka_unit_test(test_full_out_of_range_ints),
      cmocka_unit_test(test_from_data_all_dtypes_ranks),
      cmocka_unit_test(test_from_data_empty_null_ok),
      cmocka_unit_test(test_arange),
      cmocka_unit_test(test_rand_uniform_range_and_stats),
      cmocka_unit_test(test_rand_normal_stats),
      cmocka_unit_test(test_rand_reproducible),
      cmocka_unit_test(test_rand_counter_based),
      cmocka_unit_test(test_rand_all_ranks),
      cmocka_unit_test(test_queries),
  };
  return tu_run_group(tests);
}
