/* nn_lstsq: least squares against known exact solutions and the normal
 * equations solved in long double; dtypes; rank-deficient and non-finite
 * inputs; on the device under test (tu_device(): the CPU, or CUDA for
 * test_lstsq_cuda). nn.h specifies the solve (Householder QR in float64)
 * independently of the device and the result on a's device, so tolerances
 * are the same on every device. */
#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Solves (A^T A) X = A^T B in long double by Gaussian elimination with
 * partial pivoting. A [n,m], B [n,k] row-major; X [m,k]. */
static void normal_equations(int64_t n, int64_t m, int64_t k, const double *A, const double *B, double *X) {
  long double *M = calloc((size_t)(m * (m + k)), sizeof(long double));
  int64_t w = m + k;
  for (int64_t i = 0; i < m; i++) {
    for (int64_t j = 0; j < m; j++) {
      long double s = 0;
      for (int64_t r = 0; r < n; r++) s += (long double)A[r * m + i] * A[r * m + j];
      M[i * w + j] = s;
    }
    for (int64_t j = 0; j < k; j++) {
      long double s = 0;
      for (int64_t r = 0; r < n; r++) s += (long double)A[r * m + i] * B[r * k + j];
      M[i * w + m + j] = s;
    }
  }
  for (int64_t c = 0; c < m; c++) {
    int64_t p = c;
    for (int64_t r = c + 1; r < m; r++)
      if (fabsl(M[r * w + c]) > fabsl(M[p * w + c])) p = r;
    if (p != c)
      for (int64_t j = 0; j < w; j++) {
        long double t = M[c * w + j];
        M[c * w + j] = M[p * w + j];
        M[p * w + j] = t;
      }
    for (int64_t r = 0; r < m; r++) {
      if (r == c) continue;
      long double f = M[r * w + c] / M[c * w + c];
      for (int64_t j = c; j < w; j++) M[r * w + j] -= f * M[c * w + j];
    }
  }
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < k; j++) X[i * k + j] = (double)(M[i * w + m + j] / M[i * w + i]);
  free(M);
}

/* The result lives on the operands' device (nn.h, nn_lstsq). */
static void assert_on_device(const nn_tensor *t, const char *ctx) {
  nn_device d = nn_tensor_device(t), want = tu_device();
  if (d.type != want.type || d.index != want.index) {
    print_error("%s: result on device {%d, %d}, expected %s\n", ctx, (int)d.type, (int)d.index, tu_device_name());
    fail();
  }
}

static nn_tensor *solve(nn_dtype adt, int64_t n, int64_t m, const double *A, nn_dtype bdt, int bnd, int64_t k,
                        const double *B) {
  int64_t sa[2] = {n, m}, sb[2] = {n, k};
  nn_tensor *a = tu_make(adt, 2, sa, A), *b = tu_make(bdt, bnd, sb, B), *x = NULL;
  nn_status st = nn_lstsq(a, b, &x);
  if (st != NN_OK) {
    print_error("nn_lstsq(%s[%lld,%lld], %s) failed: %d %s\n", tu_dtype_name(adt), (long long)n, (long long)m,
                tu_dtype_name(bdt), (int)st, nn_last_error());
    fail();
  }
  assert_on_device(x, "nn_lstsq");
  nn_tensor_free(a);
  nn_tensor_free(b);
  return x;
}

/* The course's closed-form linear regression: X = [1, x], y. */
static void test_course_regression(void **state) {
  (void)state;
  double X[6] = {1, 1, 1, 2, 1, 3}, y[3] = {1, 2, 2};
  nn_tensor *w = solve(NN_F64, 3, 2, X, NN_F64, 1, 1, y);
  int64_t s2[1] = {2};
  double e[2] = {2.0 / 3.0, 0.5};
  tu_assert_tensor(w, NN_F64, 1, s2, e, 1e-12, 1e-14);
  nn_tensor_free(w);
  /* the same in F32 */
  w = solve(NN_F32, 3, 2, X, NN_F32, 1, 1, y);
  double e32[2] = {tu_cast(NN_F32, 2.0 / 3.0), 0.5};
  tu_assert_tensor(w, NN_F32, 1, s2, e32, 1e-6, 1e-6);
  nn_tensor_free(w);
}

/* Consistent systems: the exact solution is recovered. */
static void test_exact_solutions(void **state) {
  (void)state;
  tu_rng r = tu_rng_make(500);
  const int64_t nm[][2] = {{1, 1}, {3, 3}, {5, 2}, {10, 4}, {50, 7}, {200, 13}};
  for (size_t c = 0; c < sizeof nm / sizeof nm[0]; c++) {
    int64_t n = nm[c][0], m = nm[c][1];
    for (int64_t k = 1; k <= 3; k++) {
      double *A = malloc((size_t)(n * m) * sizeof(double)), *X = malloc((size_t)(m * k) * sizeof(double));
      double *B = malloc((size_t)(n * k) * sizeof(double));
      for (int64_t i = 0; i < n * m; i++) A[i] = tu_rng_uniform(&r, -1, 1);
      for (int64_t i = 0; i < m; i++) A[i * m + i] += 3.0; /* well conditioned */
      for (int64_t i = 0; i < m * k; i++) X[i] = (double)tu_rng_int(&r, -9, 9) / 4.0;
      for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < k; j++) {
          long double s = 0;
          for (int64_t l = 0; l < m; l++) s += (long double)A[i * m + l] * X[l * k + j];
          B[i * k + j] = (double)s;
        }
      int bnd = k == 1 && (c % 2 == 0) ? 1 : 2; /* b as [n] or [n,1] */
      nn_tensor *x = solve(NN_F64, n, m, A, NN_F64, bnd, k, B);
      int64_t sx[2] = {m, k};
      tu_assert_tensor(x, NN_F64, bnd, sx, X, 1e-10, 1e-10);
      nn_tensor_free(x);
      free(A);
      free(B);
      free(X);
    }
  }
}

/* Inconsistent overdetermined systems against the normal equations. */
static void test_random_overdetermined(void **state) {
  (void)state;
  tu_rng r = tu_rng_make(501);
  const int64_t nmk[][3] = {{4, 2, 1}, {9, 3, 2}, {30, 5, 1}, {101, 10, 3}, {500, 20, 3}, {37, 37, 2}};
  for (size_t c = 0; c < sizeof nmk / sizeof nmk[0]; c++) {
    int64_t n = nmk[c][0], m = nmk[c][1], k = nmk[c][2];
    double *A = malloc((size_t)(n * m) * sizeof(double)), *B = malloc((size_t)(n * k) * sizeof(double));
    double *X = malloc((size_t)(m * k) * sizeof(double));
    for (int64_t i = 0; i < n * m; i++) A[i] = tu_rng_uniform(&r, -2, 2);
    for (int64_t i = 0; i < m; i++) A[i * m + i] += 4.0;
    for (int64_t i = 0; i < n * k; i++) B[i] = tu_rng_uniform(&r, -10, 10);
    normal_equations(n, m, k, A, B, X);
    int bnd = k == 1 ? 1 : 2;
    int64_t sx[2] = {m, k};
    nn_tensor *x = solve(NN_F64, n, m, A, NN_F64, bnd, k, B);
    tu_assert_tensor(x, NN_F64, bnd, sx, X, 1e-9, 1e-11);
    nn_tensor_free(x);
    /* F32 inputs: the solution is computed in float64 and rounded */
    double *A32 = malloc((size_t)(n * m) * sizeof(double)), *B32 = malloc((size_t)(n * k) * sizeof(double));
    for (int64_t i = 0; i < n * m; i++) A32[i] = tu_cast(NN_F32, A[i]);
    for (int64_t i = 0; i < n * k; i++) B32[i] = tu_cast(NN_F32, B[i]);
    normal_equations(n, m, k, A32, B32, X);
    x = solve(NN_F32, n, m, A32, NN_F32, bnd, k, B32);
    for (int64_t i = 0; i < m * k; i++) X[i] = tu_cast(NN_F32, X[i]);
    tu_assert_tensor(x, NN_F32, bnd, sx, X, 2e-6, 1e-6);
    nn_tensor_free(x);
    free(A32);
    free(B32);
    free(A);
    free(B);
    free(X);
  }
}

/* The residual of the solution is orthogonal to the columns of A. */
static void test_residual_orthogonal(void **state) {
  (void)state;
  tu_rng r = tu_rng_make(502);
  int64_t n = 60, m = 6;
  double A[360], B[60];
  for (int i = 0; i < 360; i++) A[i] = tu_rng_uniform(&r, -1, 1);
  for (int i = 0; i < 60; i++) B[i] = tu_rng_uniform(&r, -1, 1);
  nn_tensor *x = solve(NN_F64, n, m, A, NN_F64, 1, 1, B);
  double *xv = tu_read(x, NULL);
  for (int64_t j = 0; j < m; j++) {
    long double dot = 0;
    for (int64_t i = 0; i < n; i++) {
      long double res = B[i];
      for (int64_t l = 0; l < m; l++) res -= (long double)A[i * m + l] * xv[l];
      dot += res * A[i * m + j];
    }
    if (fabsl(dot) > 1e-12) {
      print_error("A^T (b - A x) [%lld] = %Lg, expected 0\n", (long long)j, dot);
      fail();
    }
  }
  free(xv);
  nn_tensor_free(x);
}

static void test_result_dtypes(void **state) {
  (void)state;
  /* x = [1, 2] for A = [[1,0],[0,1],[1,1]], b = [1,2,3] */
  double A[6] = {1, 0, 0, 1, 1, 1}, b[3] = {1, 2, 3}, e[2] = {1, 2};
  int64_t s2[1] = {2};
  struct {
    nn_dtype a, b, want;
  } cases[] = {
      {NN_F64, NN_F64, NN_F64}, {NN_F32, NN_F32, NN_F32}, {NN_F32, NN_F64, NN_F64}, {NN_F64, NN_F32, NN_F64},
      {NN_I64, NN_I64, NN_F32}, {NN_I32, NN_U8, NN_F32},  {NN_I16, NN_F64, NN_F64}, {NN_U8, NN_F16, NN_F16},
      {NN_F16, NN_F16, NN_F16}, {NN_BF16, NN_BF16, NN_BF16}, {NN_F16, NN_BF16, NN_F32}, {NN_I64, NN_BF16, NN_BF16},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    nn_tensor *x = solve(cases[c].a, 3, 2, A, cases[c].b, 1, 1, b);
    if (nn_tensor_dtype(x) != cases[c].want) {
      print_error("lstsq(%s, %s) gives %s, expected %s\n", tu_dtype_name(cases[c].a), tu_dtype_name(cases[c].b),
                  tu_dtype_name(nn_tensor_dtype(x)), tu_dtype_name(cases[c].want));
      fail();
    }
    tu_assert_tensor(x, cases[c].want, 1, s2, e, 1e-6, 1e-6);
    nn_tensor_free(x);
  }
}

static void test_non_contiguous_inputs(void **state) {
  (void)state;
  /* A given as the transpose of a [2,3] tensor */
  double At[6] = {1, 0, 1, 0, 1, 1}, b[3] = {1, 2, 3};
  int64_t s23[2] = {2, 3}, s3[1] = {3};
  nn_tensor *t = tu_make(NN_F64, 2, s23, At), *a = NULL, *tb = tu_make(NN_F64, 1, s3, b), *x = NULL;
  TU_OK(nn_tensor_transpose(t, 0, 1, &a));
  TU_OK(nn_lstsq(a, tb, &x));
  assert_on_device(x, "nn_lstsq (transposed a)");
  int64_t s2[1] = {2};
  double e[2] = {1, 2};
  tu_assert_tensor(x, NN_F64, 1, s2, e, 1e-12, 1e-12);
  nn_tensor_free(x);
  nn_tensor_free(a);
  nn_tensor_free(t);
  nn_tensor_free(tb);
}

static bool contains_any(const char *msg, const char *const *subs) {
  for (; *subs; subs++)
    if (strstr(msg, *subs)) return true;
  return false;
}

static void test_errors(void **state) {
  (void)state;
  int64_t s32[2] = {3, 2}, s3[1] = {3};
  double b[3] = {1, 2, 3};
  nn_tensor *tb = tu_make(NN_F64, 1, s3, b), *x = TU_SENTINEL;
  static const char *const rank_words[] = {"rank", "singular", NULL};
  static const char *const finite_words[] = {"finite", "NaN", "nan", "inf", NULL};
  /* rank deficient: duplicate column, zero column */
  double dup[6] = {1, 1, 2, 2, 3, 3}, zero[6] = {1, 0, 2, 0, 3, 0};
  nn_tensor *a = tu_make(NN_F64, 2, s32, dup);
  TU_ERR(nn_lstsq(a, tb, &x), NN_ERR_INVALID_ARGUMENT, "nn_lstsq", NULL);
  assert_true(contains_any(nn_last_error(), rank_words));
  assert_ptr_equal(x, TU_SENTINEL);
  nn_tensor_free(a);
  a = tu_make(NN_F32, 2, s32, zero);
  TU_ERR(nn_lstsq(a, tb, &x), NN_ERR_INVALID_ARGUMENT, "nn_lstsq", NULL);
  assert_true(contains_any(nn_last_error(), rank_words));
  assert_ptr_equal(x, TU_SENTINEL);
  nn_tensor_free(a);
  /* nearly dependent columns (below the documented threshold) */
  double near[6] = {1, 1, 2, 2 + 4.440892098500626e-16, 3, 3};
  a = tu_make(NN_F64, 2, s32, near);
  TU_ERR(nn_lstsq(a, tb, &x), NN_ERR_INVALID_ARGUMENT, "nn_lstsq", NULL);
  nn_tensor_free(a);
  /* all-zero matrix */
  double zz[6] = {0, 0, 0, 0, 0, 0};
  a = tu_make(NN_F64, 2, s32, zz);
  TU_ERR(nn_lstsq(a, tb, &x), NN_ERR_INVALID_ARGUMENT, "nn_lstsq", NULL);
  assert_ptr_equal(x, TU_SENTINEL);
  nn_tensor_free(a);
  /* non-finite in a or b */
  double ok[6] = {1, 0, 0, 1, 1, 1};
  double nan_a[6] = {1, 0, NAN, 1, 1, 1};
  a = tu_make(NN_F64, 2, s32, nan_a);
  TU_ERR(nn_lstsq(a, tb, &x), NN_ERR_INVALID_ARGUMENT, "nn_lstsq", NULL);
  assert_true(contains_any(nn_last_error(), finite_words));
  assert_ptr_equal(x, TU_SENTINEL);
  nn_tensor_free(a);
  a = tu_make(NN_F64, 2, s32, ok);
  double inf_b[3] = {1, INFINITY, 3};
  nn_tensor *bi = tu_make(NN_F32, 1, s3, inf_b);
  TU_ERR(nn_lstsq(a, bi, &x), NN_ERR_INVALID_ARGUMENT, "nn_lstsq", NULL);
  assert_true(contains_any(nn_last_error(), finite_words));
  assert_ptr_equal(x, TU_SENTINEL);
  nn_tensor_free(bi);
  /* n < m */
  int64_t s23[2] = {2, 3}, s2[1] = {2};
  double w[6] = {1, 2, 3, 4, 5, 6}, b2[2] = {1, 2};
  nn_tensor *wide = tu_make(NN_F64, 2, s23, w), *tb2 = tu_make(NN_F64, 1, s2, b2);
  TU_ERR(nn_lstsq(wide, tb2, &x), NN_ERR_INVALID_ARGUMENT, "nn_lstsq", NULL);
  assert_ptr_equal(x, TU_SENTINEL);
  nn_tensor_free(wide);
  nn_tensor_free(tb2);
  /* shapes: a not 2-D, b 3-D or 0-dim, row counts differ */
  nn_tensor *a1 = tu_make(NN_F64, 1, s3, b);
  TU_ERR(nn_lstsq(a1, tb, &x), NN_ERR_SHAPE, "nn_lstsq", NULL);
  assert_ptr_equal(x, TU_SENTINEL);
  nn_tensor_free(a1);
  int64_t s311[3] = {3, 1, 1};
  nn_tensor *b3 = tu_make(NN_F64, 3, s311, b);
  TU_ERR(nn_lstsq(a, b3, &x), NN_ERR_SHAPE, "nn_lstsq", NULL);
  assert_ptr_equal(x, TU_SENTINEL);
  nn_tensor_free(b3);
  nn_tensor *b0 = tu_make(NN_F64, 0, NULL, b);
  TU_ERR(nn_lstsq(a, b0, &x), NN_ERR_SHAPE, "nn_lstsq", NULL);
  nn_tensor_free(b0);
  int64_t s4[1] = {4};
  double b4[4] = {1, 2, 3, 4};
  nn_tensor *tb4 = tu_make(NN_F64, 1, s4, b4);
  TU_ERR(nn_lstsq(a, tb4, &x), NN_ERR_SHAPE, "nn_lstsq", "[3, 2]", "[4]");
  assert_ptr_equal(x, TU_SENTINEL);
  nn_tensor_free(tb4);
  /* NULLs */
  TU_ERR(nn_lstsq(NULL, tb, &x), NN_ERR_INVALID_ARGUMENT, "nn_lstsq", NULL);
  TU_ERR(nn_lstsq(a, NULL, &x), NN_ERR_INVALID_ARGUMENT, "nn_lstsq", NULL);
  TU_ERR(nn_lstsq(a, tb, NULL), NN_ERR_INVALID_ARGUMENT, "nn_lstsq", NULL);
  assert_ptr_equal(x, TU_SENTINEL);
  /* inputs unchanged after all of this */
  tu_assert_tensor(a, NN_F64, 2, s32, ok, 0, 0);
  tu_assert_tensor(tb, NN_F64, 1, s3, b, 0, 0);
  nn_tensor_free(a);
  nn_tensor_free(tb);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_course_regression),
      cmocka_unit_test(test_exact_solutions),
      cmocka_unit_test(test_random_overdetermined),
      cmocka_unit_test(test_residual_orthogonal),
      cmocka_unit_test(test_result_dtypes),
      cmocka_unit_test(test_non_contiguous_inputs),
      cmocka_unit_test(test_errors),
  };
  return tu_run_group(tests);
}
