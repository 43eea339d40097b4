/* nn_reduce: every op, every dim (negative too) and NN_ALL_DIMS, keepdim,
 * every dtype, against a float64 reference, on the device under test
 * (tu_device(): the CPU, or CUDA for test_reduce_cuda).
 *
 * Tolerances are the same on every device: every float input is a multiple
 * of 1/8 of magnitude <= 20 (tu_rng_fill), so each sum below (at most 100003
 * terms, |sum| < 2^21) is exact in float32 and float64 whatever the order of
 * summation (the CPU's vectorised order, CUDA's per-thread chunks and tree,
 * or F32/F64 accumulation); only the final rounding to the dtype remains.
 * MAX/MIN/ARGMAX and integer sums are exact on any device. */
#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const nn_reduce_op all_ops[] = {NN_REDUCE_SUM, NN_REDUCE_MEAN, NN_REDUCE_MAX, NN_REDUCE_MIN,
                                       NN_REDUCE_ARGMAX};
#define N_OPS 5
static const char *op_name(nn_reduce_op op) {
  static const char *names[] = {"sum", "mean", "max", "min", "argmax"};
  return (int)op >= 0 && (int)op < 5 ? names[op] : "?";
}

static nn_dtype result_dtype(nn_reduce_op op, nn_dtype dt) {
  if (op == NN_REDUCE_ARGMAX) return NN_I64;
  if (op == NN_REDUCE_SUM && tu_is_int(dt)) return NN_I64;
  return dt;
}

/* Reference: reduce vals (shape) over dim (or all dims when dim == NN_ALL_DIMS).
 * Writes out values, and for each output the sum of |x| (error bound). */
static void reference(nn_reduce_op op, nn_dtype dt, int ndim, const int64_t *shape, const double *vals, int dim,
                      double *out, double *absum, int64_t *nout) {
  int64_t outer = 1, len = 1, inner = 1;
  if (dim == NN_ALL_DIMS) {
    len = tu_numel(ndim, shape);
  } else {
    for (int d = 0; d < dim; d++) outer *= shape[d];
    len = ndim ? shape[dim] : 1;
    for (int d = dim + 1; d < ndim; d++) inner *= shape[d];
  }
  *nout = outer * inner;
  for (int64_t o = 0; o < outer; o++)
    for (int64_t in = 0; in < inner; in++) {
      double acc = 0, ab = 0, best = 0;
      int64_t besti = 0;
      int64_t isum = 0;
      for (int64_t k = 0; k < len; k++) {
        double x = vals[(o * len + k) * inner + in];
        ab += fabs(x);
        acc += x;
        if (tu_is_int(dt)) isum += (int64_t)x;
        if (k == 0) {
          best = x;
          besti = 0;
        } else if (op == NN_REDUCE_MAX || op == NN_REDUCE_ARGMAX) {
          if (!isnan(best) && (isnan(x) || x > best)) {
            best = x;
            besti = k;
          }
        } else if (op == NN_REDUCE_MIN) {
          if (!isnan(best) && (isnan(x) || x < best)) {
            best = x;
            besti = k;
          }
        }
      }
      double r = 0;
      switch (op) {
        case NN_REDUCE_SUM: r = tu_is_int(dt) ? (double)isum : tu_cast(dt, acc); break;
        case NN_REDUCE_MEAN: r = tu_cast(dt, acc / (double)len); break;
        case NN_REDUCE_MAX:
        case NN_REDUCE_MIN: r = best; break;
        case NN_REDUCE_ARGMAX: r = (double)besti; break;
      }
      out[o * inner + in] = r;
      absum[o * inner + in] = op == NN_REDUCE_MEAN ? ab / (double)len : ab;
    }
}

/* accumulation error allowed per unit of sum|x| */
static double acc_tol(nn_dtype dt) {
  switch (dt) {
    case NN_F64: return 1e-13;
    case NN_F32: return 2e-6;
    /* F16/BF16 accumulate in F32: only the final rounding (tu_rtol) is coarse */
    case NN_F16: return 1e-5;
    case NN_BF16: return 1e-5;
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

static void check_reduce(nn_reduce_op op, nn_dtype dt, int ndim, const int64_t *shape, const double *vals, int dim,
                         bool keepdim, const char *what) {
  nn_tensor *x = strided_mode && ndim >= 2 ? tu_make_strided(dt, ndim, shape, vals, 0, ndim - 1)
                                           : tu_make(dt, ndim, shape, vals);
  nn_tensor *y = NULL;
  char ctx[200];
  snprintf(ctx, sizeof ctx, "%s: %s(%s %s, dim=%d, keepdim=%d)", what, op_name(op), tu_dtype_name(dt),
           tu_shape_str(ndim, shape), dim, (int)keepdim);
  nn_status st = nn_reduce(op, x, dim, keepdim, &y);
  if (st != NN_OK) {
    print_error("%s failed: %d %s\n", ctx, (int)st, nn_last_error());
    fail();
  }
  int d = dim;
  if (d != NN_ALL_DIMS && d < 0) d += ndim;
  if (ndim == 0 && d != NN_ALL_DIMS) d = NN_ALL_DIMS; /* 0-dim: dim 0/-1 reduce everything */
  int64_t oshape[TU_MAX_DIMS];
  int ond = 0;
  for (int i = 0; i < ndim; i++) {
    if (d == NN_ALL_DIMS || i == d) {
      if (keepdim) oshape[ond++] = 1;
    } else {
      oshape[ond++] = shape[i];
    }
  }
  nn_dtype rdt = result_dtype(op, dt);
  if (nn_tensor_dtype(y) != rdt || nn_tensor_ndim(y) != ond) {
    print_error("%s: got %s rank %d, expected %s rank %d\n", ctx, tu_dtype_name(nn_tensor_dtype(y)), nn_tensor_ndim(y),
                tu_dtype_name(rdt), ond);
    fail();
  }
  tu_assert_meta(y, rdt, ond, oshape);
  assert_on_device(y, ctx);
  int64_t n = tu_numel(ond, oshape);
  double *exp = malloc((size_t)(n ? n : 1) * sizeof(double));
  double *ab = malloc((size_t)(n ? n : 1) * sizeof(double));
  int64_t nref = 0;
  reference(op, dt, ndim, shape, vals, d, exp, ab, &nref);
  assert_int_equal(nref, n);
  double *got = tu_read(y, NULL);
  for (int64_t i = 0; i < n; i++) {
    double e = exp[i], g = got[i];
    bool ok;
    if (isnan(e))
      ok = isnan(g);
    else if (isinf(e) || isnan(g) || isinf(g))
      ok = g == e;
    else if (op == NN_REDUCE_SUM || op == NN_REDUCE_MEAN)
      ok = fabs(g - e) <= acc_tol(dt) * ab[i] + tu_rtol(rdt) * fabs(e) + 1e-300;
    else
      ok = g == e;
    if (!ok) {
      print_error("%s: output %lld: expected %.17g, got %.17g\n", ctx, (long long)i, e, g);
      fail();
    }
  }
  free(got);
  free(exp);
  free(ab);
  nn_tensor_free(y);
  nn_tensor_free(x);
}

static void fill_values(tu_rng *r, nn_dtype dt, double *v, int64_t n, bool ties) {
  if (ties) {
    /* few distinct values: ties test "first index of the maximum" */
    tu_rng_fill(r, dt, v, n, 0, 3);
    return;
  }
  switch (dt) {
    case NN_U8: tu_rng_fill(r, dt, v, n, 0, 255); break;
    case NN_I16: tu_rng_fill(r, dt, v, n, -32768, 32767); break;
    case NN_I32: tu_rng_fill(r, dt, v, n, -2147483648.0, 2147483647.0); break;
    case NN_I64: tu_rng_fill(r, dt, v, n, -1e12, 1e12); break;
    default: tu_rng_fill(r, dt, v, n, -20, 20); break;
  }
}

static void test_every_op_dim_keepdim_dtype(void **state) {
  (void)state;
  tu_rng r = tu_rng_make(300);
  for (int di = 0; di < 8; di++) {
    nn_dtype dt = tu_all_dtypes[di];
    for (int rank = 0; rank <= 4; rank++) {
      for (int rep = 0; rep < 2; rep++) {
        int64_t shape[4];
        for (int i = 0; i < rank; i++) shape[i] = tu_rng_int(&r, 1, 5);
        int64_t n = tu_numel(rank, shape);
        double *v = malloc((size_t)n * sizeof(double));
        fill_values(&r, dt, v, n, rep == 1);
        for (int oi = 0; oi < N_OPS; oi++) {
          nn_reduce_op op = all_ops[oi];
          if (op == NN_REDUCE_MEAN && tu_is_int(dt)) continue;
          for (int keep = 0; keep < 2; keep++) {
            check_reduce(op, dt, rank, shape, v, NN_ALL_DIMS, keep, "all");
            for (int dim = -rank; dim < rank; dim++) check_reduce(op, dt, rank, shape, v, dim, keep, "dim");
            if (rank == 0) {
              check_reduce(op, dt, 0, shape, v, 0, keep, "0-dim dim 0");
              check_reduce(op, dt, 0, shape, v, -1, keep, "0-dim dim -1");
            }
          }
        }
        free(v);
      }
    }
  }
}

static void test_rank8_and_large(void **state) {
  (void)state;
  tu_rng r = tu_rng_make(301);
  int64_t s8[8] = {2, 1, 3, 2, 1, 2, 3, 2};
  int64_t n8 = tu_numel(8, s8);
  double *v = malloc((size_t)n8 * sizeof(double));
  fill_values(&r, NN_F32, v, n8, false);
  for (int oi = 0; oi < N_OPS; oi++) {
    check_reduce(all_ops[oi], NN_F32, 8, s8, v, NN_ALL_DIMS, true, "rank 8");
    for (int dim = -8; dim < 8; dim += 3) check_reduce(all_ops[oi], NN_F32, 8, s8, v, dim, false, "rank 8");
  }
  free(v);
  /* larger: the oneDNN reduction path on the CPU; CUDA's one-thread and
   * one-block-per-output kernels */
  int64_t s2[2] = {1000, 37};
  v = malloc(37000 * sizeof(double));
  for (int fi = 0; fi < 4; fi++) {
    nn_dtype dt = tu_float_dtypes[fi];
    fill_values(&r, dt, v, 37000, false);
    for (int oi = 0; oi < N_OPS; oi++) {
      check_reduce(all_ops[oi], dt, 2, s2, v, 0, false, "large");
      check_reduce(all_ops[oi], dt, 2, s2, v, 1, true, "large");
      check_reduce(all_ops[oi], dt, 2, s2, v, NN_ALL_DIMS, false, "large");
    }
  }
  fill_values(&r, NN_I32, v, 37000, false);
  check_reduce(NN_REDUCE_SUM, NN_I32, 2, s2, v, 0, false, "large int");
  check_reduce(NN_REDUCE_SUM, NN_I32, 2, s2, v, NN_ALL_DIMS, false, "large int");
  check_reduce(NN_REDUCE_ARGMAX, NN_I32, 2, s2, v, 1, false, "large int");
  free(v);
  int64_t s1[1] = {100003};
  v = malloc(100003 * sizeof(double));
  fill_values(&r, NN_F32, v, 100003, false);
  check_reduce(NN_REDUCE_SUM, NN_F32, 1, s1, v, NN_ALL_DIMS, false, "100003");
  check_reduce(NN_REDUCE_MEAN, NN_F32, 1, s1, v, 0, false, "100003");
  check_reduce(NN_REDUCE_ARGMAX, NN_F32, 1, s1, v, 0, false, "100003");
  free(v);
}

static void test_non_contiguous_input(void **state) {
  (void)state;
  tu_rng r = tu_rng_make(302);
  strided_mode = 1;
  const int64_t shapes[][3] = {{37, 29, 0}, {3, 5, 7}, {300, 70, 0}};
  const int ranks[] = {2, 3, 2};
  for (int di = 0; di < 8; di++)
    for (int si = 0; si < 3; si++) {
      nn_dtype dt = tu_all_dtypes[di];
      int64_t n = tu_numel(ranks[si], shapes[si]);
      double *v = malloc((size_t)n * sizeof(double));
      fill_values(&r, dt, v, n, si == 1);
      for (int oi = 0; oi < N_OPS; oi++) {
        if (all_ops[oi] == NN_REDUCE_MEAN && tu_is_int(dt)) continue;
        check_reduce(all_ops[oi], dt, ranks[si], shapes[si], v, NN_ALL_DIMS, false, "strided");
        for (int d = 0; d < ranks[si]; d++) check_reduce(all_ops[oi], dt, ranks[si], shapes[si], v, d, d == 1, "strided");
      }
      free(v);
    }
  strided_mode = 0;
}

static void test_integer_sum_is_i64(void **state) {
  (void)state;
  int64_t s3[1] = {3};
  double u[3] = {255, 255, 255};
  nn_tensor *x = tu_make(NN_U8, 1, s3, u), *y = NULL;
  TU_OK(nn_reduce(NN_REDUCE_SUM, x, 0, false, &y));
  double e = 765;
  tu_assert_tensor(y, NN_I64, 0, NULL, &e, 0, 0);
  nn_tensor_free(y);
  /* MAX keeps U8 */
  TU_OK(nn_reduce(NN_REDUCE_MAX, x, NN_ALL_DIMS, false, &y));
  double m = 255;
  tu_assert_tensor(y, NN_U8, 0, NULL, &m, 0, 0);
  nn_tensor_free(y);
  nn_tensor_free(x);
  double big[3] = {2147483647, 2147483647, 2147483647};
  x = tu_make(NN_I32, 1, s3, big);
  TU_OK(nn_reduce(NN_REDUCE_SUM, x, -1, true, &y));
  int64_t s1[1] = {1};
  double eb = 3.0 * 2147483647.0;
  tu_assert_tensor(y, NN_I64, 1, s1, &eb, 0, 0);
  nn_tensor_free(y);
  nn_tensor_free(x);
  /* I64 sums exact beyond 2^53 */
  int64_t iv[2] = {9007199254740993LL, 2};
  int64_t s2[1] = {2};
  x = tu_make_i64(NN_I64, 1, s2, iv);
  TU_OK(nn_reduce(NN_REDUCE_SUM, x, NN_ALL_DIMS, false, &y));
  int64_t *g = tu_read_i64(y, NULL);
  assert_true(g[0] == 9007199254740995LL);
  free(g);
  nn_tensor_free(y);
  nn_tensor_free(x);
}

static void test_argmax_first_index_and_nan(void **state) {
  (void)state;
  int64_t s6[1] = {6};
  double v[6] = {1, 5, 2, 5, 0, 5};
  for (int di = 0; di < 8; di++) {
    nn_tensor *x = tu_make(tu_all_dtypes[di], 1, s6, v), *y = NULL;
    TU_OK(nn_reduce(NN_REDUCE_ARGMAX, x, 0, false, &y));
    double e = 1;
    tu_assert_tensor(y, NN_I64, 0, NULL, &e, 0, 0);
    nn_tensor_free(y);
    nn_tensor_free(x);
  }
  /* NaN counts as the maximum (first NaN) */
  double vn[6] = {1, 7, NAN, 9, NAN, 3};
  for (int fi = 0; fi < 4; fi++) {
    nn_tensor *x = tu_make(tu_float_dtypes[fi], 1, s6, vn), *y = NULL;
    TU_OK(nn_reduce(NN_REDUCE_ARGMAX, x, 0, false, &y));
    double e = 2;
    tu_assert_tensor(y, NN_I64, 0, NULL, &e, 0, 0);
    nn_tensor_free(y);
    /* MAX and MIN propagate NaN */
    TU_OK(nn_reduce(NN_REDUCE_MAX, x, 0, false, &y));
    double en = NAN;
    tu_assert_tensor(y, tu_float_dtypes[fi], 0, NULL, &en, 0, 0);
    nn_tensor_free(y);
    TU_OK(nn_reduce(NN_REDUCE_MIN, x, 0, false, &y));
    tu_assert_tensor(y, tu_float_dtypes[fi], 0, NULL, &en, 0, 0);
    nn_tensor_free(y);
    TU_OK(nn_reduce(NN_REDUCE_SUM, x, 0, false, &y));
    tu_assert_tensor(y, tu_float_dtypes[fi], 0, NULL, &en, 0, 0);
    nn_tensor_free(y);
    nn_tensor_free(x);
  }
  /* -inf only: argmax 0; +inf max */
  double vi[3] = {-INFINITY, -INFINITY, INFINITY};
  int64_t s3[1] = {3};
  nn_tensor *x = tu_make(NN_F32, 1, s3, vi), *y = NULL;
  TU_OK(nn_reduce(NN_REDUCE_ARGMAX, x, 0, false, &y));
  double e2 = 2;
  tu_assert_tensor(y, NN_I64, 0, NULL, &e2, 0, 0);
  nn_tensor_free(y);
  nn_tensor_free(x);
  /* with NN_ALL_DIMS: the index into the row-major flattened tensor; keepdim gives all-ones */
  int64_t s23[2] = {2, 3};
  double m[6] = {1, 3, 0, 3, 9, 9};
  x = tu_make(NN_I16, 2, s23, m);
  TU_OK(nn_reduce(NN_REDUCE_ARGMAX, x, NN_ALL_DIMS, false, &y));
  double e4 = 4;
  tu_assert_tensor(y, NN_I64, 0, NULL, &e4, 0, 0);
  nn_tensor_free(y);
  TU_OK(nn_reduce(NN_REDUCE_ARGMAX, x, NN_ALL_DIMS, true, &y));
  int64_t s11[2] = {1, 1};
  tu_assert_tensor(y, NN_I64, 2, s11, &e4, 0, 0);
  nn_tensor_free(y);
  TU_OK(nn_reduce(NN_REDUCE_ARGMAX, x, 1, false, &y));
  double er[2] = {1, 1};
  int64_t s2[1] = {2};
  tu_assert_tensor(y, NN_I64, 1, s2, er, 0, 0);
  nn_tensor_free(y);
  nn_tensor_free(x);
}

/* Long rows (n >= 512 with few outputs: CUDA's one-block-per-output kernel,
 * whose tree merges partials out of index order): ARGMAX still gives the
 * first maximum and the first NaN, MAX/MIN propagate NaN, ties and signed
 * zeros included; along dim 0 (inner > 1), dim 1 and all dims. */
static void test_long_rows_ties_nan(void **state) {
  (void)state;
  enum { R = 4, L = 1000 };
  static double v[R * L], vt[L * R];
  for (int di = 0; di < 8; di++) {
    nn_dtype dt = tu_all_dtypes[di];
    bool fl = tu_is_float(dt);
    for (int k = 0; k < L; k++) {
      /* row 0: maximum 5 tied at 999, 777, 333 (first: 333) */
      v[0 * L + k] = (k == 333 || k == 777 || k == 999) ? 5 : (k % 3);
      /* row 1: NaN at 900 and 450 (first: 450); integers: a tie of 9 there */
      v[1 * L + k] = (k == 900 || k == 450) ? (fl ? NAN : 9) : (k == 10 ? 7 : 1);
      /* row 2: -inf everywhere but one 0 (integers: 0 and one 1) */
      v[2 * L + k] = k == 640 ? (fl ? 0 : 1) : (fl ? -INFINITY : 0);
      /* row 3: zeros of both signs: every one ties (first: 0) */
      v[3 * L + k] = (fl && k % 2 == 0) ? -0.0 : 0.0;
    }
    for (int i = 0; i < R; i++)
      for (int k = 0; k < L; k++) vt[k * R + i] = v[i * L + k];
    int64_t s[2] = {R, L}, st[2] = {L, R};
    for (int oi = 0; oi < N_OPS; oi++) {
      nn_reduce_op op = all_ops[oi];
      if (op == NN_REDUCE_MEAN && !fl) continue;
      check_reduce(op, dt, 2, s, v, 1, false, "long rows");
      check_reduce(op, dt, 2, s, v, NN_ALL_DIMS, false, "long rows");
      check_reduce(op, dt, 2, st, vt, 0, true, "long columns");
    }
  }
}

static void test_empty_dims(void **state) {
  (void)state;
  int64_t s[2] = {3, 0};
  nn_tensor *x = NULL, *y = NULL;
  for (int fi = 0; fi < 4; fi++) {
    nn_dtype dt = tu_float_dtypes[fi];
    TU_OK(nn_tensor_zeros(dt, 2, s, tu_device(), &x));
    /* SUM over the empty dim: zeros [3] */
    TU_OK(nn_reduce(NN_REDUCE_SUM, x, 1, false, &y));
    double z[3] = {0, 0, 0};
    int64_t s3[1] = {3};
    tu_assert_tensor(y, dt, 1, s3, z, 0, 0);
    nn_tensor_free(y);
    /* MEAN over the empty dim: NaN */
    TU_OK(nn_reduce(NN_REDUCE_MEAN, x, -1, true, &y));
    double nn3[3] = {NAN, NAN, NAN};
    int64_t s31[2] = {3, 1};
    tu_assert_tensor(y, dt, 2, s31, nn3, 0, 0);
    nn_tensor_free(y);
    /* over the non-empty dim: an empty result */
    TU_OK(nn_reduce(NN_REDUCE_MAX, x, 0, false, &y));
    int64_t s0[1] = {0};
    tu_assert_meta(y, dt, 1, s0);
    nn_tensor_free(y);
    TU_OK(nn_reduce(NN_REDUCE_ARGMAX, x, 0, true, &y));
    int64_t s10[2] = {1, 0};
    tu_assert_meta(y, NN_I64, 2, s10);
    nn_tensor_free(y);
    /* all dims: SUM 0, MEAN NaN */
    TU_OK(nn_reduce(NN_REDUCE_SUM, x, NN_ALL_DIMS, false, &y));
    double zero = 0;
    tu_assert_tensor(y, dt, 0, NULL, &zero, 0, 0);
    nn_tensor_free(y);
    TU_OK(nn_reduce(NN_REDUCE_MEAN, x, NN_ALL_DIMS, false, &y));
    double nan1 = NAN;
    tu_assert_tensor(y, dt, 0, NULL, &nan1, 0, 0);
    nn_tensor_free(y);
    /* MAX/MIN/ARGMAX over an empty dim: NN_ERR_SHAPE, out untouched */
    const nn_reduce_op bad[3] = {NN_REDUCE_MAX, NN_REDUCE_MIN, NN_REDUCE_ARGMAX};
    for (int b = 0; b < 3; b++) {
      y = TU_SENTINEL;
      TU_ERR(nn_reduce(bad[b], x, 1, false, &y), NN_ERR_SHAPE, "nn_reduce", NULL);
      assert_ptr_equal(y, TU_SENTINEL);
      TU_ERR(nn_reduce(bad[b], x, NN_ALL_DIMS, false, &y), NN_ERR_SHAPE, "nn_reduce", NULL);
      assert_ptr_equal(y, TU_SENTINEL);
    }
    nn_tensor_free(x);
  }
  /* integer SUM over an empty dim: I64 zeros */
  TU_OK(nn_tensor_zeros(NN_U8, 2, s, tu_device(), &x));
  TU_OK(nn_reduce(NN_REDUCE_SUM, x, 1, false, &y));
  double z3[3] = {0, 0, 0};
  int64_t s3[1] = {3};
  tu_assert_tensor(y, NN_I64, 1, s3, z3, 0, 0);
  nn_tensor_free(y);
  nn_tensor_free(x);
}

static void test_mean_of_integers_is_dtype_error(void **state) {
  (void)state;
  int64_t s[1] = {3};
  double v[3] = {1, 2, 3};
  for (int ii = 0; ii < 4; ii++) {
    nn_tensor *x = tu_make(tu_int_dtypes[ii], 1, s, v), *y = TU_SENTINEL;
    TU_ERR(nn_reduce(NN_REDUCE_MEAN, x, 0, false, &y), NN_ERR_DTYPE, "nn_reduce", NULL);
    assert_ptr_equal(y, TU_SENTINEL);
    TU_ERR(nn_reduce(NN_REDUCE_MEAN, x, NN_ALL_DIMS, true, &y), NN_ERR_DTYPE, "nn_reduce", NULL);
    assert_ptr_equal(y, TU_SENTINEL);
    nn_tensor_free(x);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_op_dim_keepdim_dtype),
      cmocka_unit_test(test_rank8_and_large),
      cmocka_unit_test(test_non_contiguous_input),
      cmocka_unit_test(test_integer_sum_is_i64),
      cmocka_unit_test(test_argmax_first_index_and_nan),
      cmocka_unit_test(test_long_rows_ties_nan),
      cmocka_unit_test(test_empty_dims),
      cmocka_unit_test(test_mean_of_integers_is_dtype_error),
  };
  return tu_run_group(tests);
}
