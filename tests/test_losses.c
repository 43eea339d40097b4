/* Losses: value and d loss / d pred of every loss against PyTorch
 * (tests/fixtures/torch_fixtures.h), plus hand-computed cases: shapes
 * (0-dim, 1-D, [n, c]), numerical stability (log-sum-exp, logits forms,
 * BCE's log clamp at -100), float64 and the grad's shape/dtype.
 * Device-generic: every tensor lives on tu_device(). */
#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* |a - b| <= tol, in double (cmocka 1.1 has only a float version) */
#define assert_near(a, b, tol)                                                             \
  do {                                                                                     \
    double a_ = (a), b_ = (b), t_ = (tol);                                                 \
    if (!(fabs(a_ - b_) <= t_)) fail_msg("%s = %.17g, expected %.17g (tol %g)", #a, a_, b_, t_); \
  } while (0)

#define TF_NO_SCENARIOS
#include "fixtures/torch_fixtures.h"

static nn_tensor *from_f32(int ndim, const int64_t *shape, const float *v) {
  nn_tensor *t = NULL;
  TU_OK(nn_tensor_from_data(NN_F32, ndim, shape, v, tu_device(), &t));
  return t;
}

static nn_tensor *from_i64(int64_t n, const int64_t *v) {
  nn_tensor *t = NULL;
  TU_OK(nn_tensor_from_data(NN_I64, 1, &n, v, tu_device(), &t));
  return t;
}

static void test_torch_loss_cases(void **state) {
  (void)state;
  for (int i = 0; i < TF_N_LOSS_CASES; i++) {
    const tf_loss_case *c = &tf_loss_cases[i];
    nn_tensor *pred = from_f32(c->ndim, c->shape, c->pred);
    nn_tensor *target = c->ids ? from_i64(c->shape[0], c->ids) : from_f32(c->ndim, c->shape, c->target);
    double v = NAN;
    nn_tensor *g = NULL;
    TU_OK(nn_loss_compute((nn_loss)c->loss, pred, target, &v, &g));
    char ctx[128];
    snprintf(ctx, sizeof ctx, "loss %s: value", c->name);
    tu_assert_close(&v, &c->value, 1, 1e-5, 1e-6, ctx);
    int64_t n = c->shape[0] * c->shape[1];
    double *exp = malloc((size_t)n * sizeof(double));
    for (int64_t k = 0; k < n; k++) exp[k] = c->grad[k];
    snprintf(ctx, sizeof ctx, "loss %s: grad", c->name);
    tu_assert_meta(g, NN_F32, c->ndim, c->shape);
    int64_t ng = 0;
    double *got = tu_read(g, &ng);
    tu_assert_close(got, exp, n, 1e-5, 1e-7, ctx);
    /* grad NULL: value only, same value */
    double v2 = NAN;
    TU_OK(nn_loss_compute((nn_loss)c->loss, pred, target, &v2, NULL));
    assert_true(v2 == v);
    free(got);
    free(exp);
    nn_tensor_free(g);
    nn_tensor_free(pred);
    nn_tensor_free(target);
  }
}

/* value and grad of a loss on double inputs, computed by libnn */
static double loss_of(nn_dtype dt, nn_loss loss, int ndim, const int64_t *shape, const double *p,
                      const double *y, double *grad_out) {
  nn_tensor *pt = tu_make(dt, ndim, shape, p);
  nn_tensor *yt = tu_make(dt, ndim, shape, y);
  double v = NAN;
  nn_tensor *g = NULL;
  TU_OK(nn_loss_compute(loss, pt, yt, &v, grad_out ? &g : NULL));
  if (grad_out) {
    tu_assert_meta(g, dt, ndim, shape);
    int64_t n = 0;
    double *gv = tu_read(g, &n);
    memcpy(grad_out, gv, (size_t)n * sizeof(double));
    free(gv);
    nn_tensor_free(g);
  }
  nn_tensor_free(pt);
  nn_tensor_free(yt);
  return v;
}

static void test_regression_losses_by_hand(void **state) {
  (void)state;
  /* [2, 2]: p - y = {1, -2, 3, 0.5} */
  const int64_t s[2] = {2, 2};
  const double p[4] = {1.0, 0.0, 4.0, 1.5}, y[4] = {0.0, 2.0, 1.0, 1.0};
  const double ss = 1 + 4 + 9 + 0.25;
  for (int d = 0; d < 2; d++) {
    nn_dtype dt = d ? NN_F64 : NN_F32;
    double g[4];
    double v = loss_of(dt, NN_LOSS_MSE, 2, s, p, y, g);
    assert_near(v, ss / 4, 1e-12);
    const double gm[4] = {2 * 1.0 / 4, 2 * -2.0 / 4, 2 * 3.0 / 4, 2 * 0.5 / 4};
    tu_assert_close(g, gm, 4, 1e-12, 0, "MSE grad");
    v = loss_of(dt, NN_LOSS_SSE, 2, s, p, y, g);
    assert_near(v, ss, 1e-12);
    const double gs[4] = {2.0, -4.0, 6.0, 1.0};
    tu_assert_close(g, gs, 4, 1e-12, 0, "SSE grad");
    /* HALF_MSE divides by the number of samples (2), not of elements (4) */
    v = loss_of(dt, NN_LOSS_HALF_MSE, 2, s, p, y, g);
    assert_near(v, ss / 4, 1e-12);
    const double gh[4] = {1.0 / 2, -2.0 / 2, 3.0 / 2, 0.5 / 2};
    tu_assert_close(g, gh, 4, 1e-12, 0, "HALF_MSE grad");
    /* 1-D pred [4]: four samples */
    const int64_t s1[1] = {4};
    v = loss_of(dt, NN_LOSS_HALF_MSE, 1, s1, p, y, g);
    assert_near(v, ss / 8, 1e-12);
    v = loss_of(dt, NN_LOSS_MSE, 1, s1, p, y, g);
    assert_near(v, ss / 4, 1e-12);
    /* 0-dim pred: one sample */
    v = loss_of(dt, NN_LOSS_HALF_MSE, 0, NULL, p + 2, y + 2, g);
    assert_near(v, 0.5 * 9, 1e-12);
    assert_near(g[0], 3.0, 1e-12);
    v = loss_of(dt, NN_LOSS_MSE, 0, NULL, p + 2, y + 2, g);
    assert_near(v, 9.0, 1e-12);
    assert_near(g[0], 6.0, 1e-12);
  }
}

static void test_bce_clamp_and_stability(void **state) {
  (void)state;
  const int64_t s[2] = {4, 1};
  /* torch BCELoss clamps log at -100: p = 0 with y = 1 costs 100, p = 1 with y = 0 costs 100 */
  const double p[4] = {0.0, 1.0, 1.0, 0.0}, y[4] = {1.0, 0.0, 1.0, 0.0};
  double v = loss_of(NN_F32, NN_LOSS_BCE, 2, s, p, y, NULL);
  assert_near(v, 200.0 / 4, 1e-6);
  v = loss_of(NN_F64, NN_LOSS_BCE, 2, s, p, y, NULL);
  assert_near(v, 200.0 / 4, 1e-12);
  /* BCE with logits from huge logits: stable (softplus), finite gradient */
  const double z[4] = {100.0, -100.0, 100.0, -100.0}, yz[4] = {0.0, 1.0, 1.0, 0.0};
  double g[6];
  v = loss_of(NN_F32, NN_LOSS_BCE_WITH_LOGITS, 2, s, z, yz, g);
  assert_near(v, 200.0 / 4, 1e-4);
  const double ge[4] = {0.25, -0.25, 0.0, 0.0};
  tu_assert_close(g, ge, 4, 1e-6, 1e-7, "BCE_WITH_LOGITS grad at +-100");
  /* cross-entropy on logits near float32's range: log-sum-exp */
  const int64_t sc[2] = {2, 3};
  const double big[6] = {1000.0, 0.0, -1000.0, 500.0, 500.0, 0.0};
  const double onehot[6] = {0, 1, 0, 1, 0, 0};
  v = loss_of(NN_F32, NN_LOSS_CROSS_ENTROPY, 2, sc, big, onehot, g);
  /* sample 0: 1000 - 0 = 1000; sample 1: log(2) */
  assert_near(v, (1000.0 + log(2.0)) / 2, 1e-3);
  assert_true(isfinite(g[0]) && isfinite(g[3]));
}

static void test_cross_entropy_ids_equal_onehot(void **state) {
  (void)state;
  const int64_t s[2] = {3, 4};
  const double logits[12] = {0.5, -1.0, 2.0, 0.25, 1.0, 1.0, 1.0, 1.0, -3.0, 0.0, 0.5, 4.0};
  const int64_t ids[3] = {2, 0, 3};
  double onehot[12] = {0};
  for (int i = 0; i < 3; i++) onehot[i * 4 + ids[i]] = 1.0;
  for (int d = 0; d < 2; d++) {
    nn_dtype dt = d ? NN_F64 : NN_F32;
    nn_tensor *p = tu_make(dt, 2, s, logits);
    int64_t n = 3;
    nn_tensor *t_ids = tu_make_i64(NN_I64, 1, &n, ids);
    nn_tensor *t_oh = tu_make(dt, 2, s, onehot);
    double v1 = NAN, v2 = NAN;
    nn_tensor *g1 = NULL, *g2 = NULL;
    TU_OK(nn_loss_compute(NN_LOSS_CROSS_ENTROPY, p, t_ids, &v1, &g1));
    TU_OK(nn_loss_compute(NN_LOSS_CROSS_ENTROPY, p, t_oh, &v2, &g2));
    /* reference in double */
    double ref = 0, gref[12];
    for (int i = 0; i < 3; i++) {
      double mx = -INFINITY, se = 0;
      for (int j = 0; j < 4; j++) mx = fmax(mx, logits[i * 4 + j]);
      for (int j = 0; j < 4; j++) se += exp(logits[i * 4 + j] - mx);
      double lse = mx + log(se);
      ref += (lse - logits[i * 4 + ids[i]]) / 3;
      for (int j = 0; j < 4; j++) gref[i * 4 + j] = (exp(logits[i * 4 + j] - lse) - onehot[i * 4 + j]) / 3;
    }
    double tol = d ? 1e-12 : 1e-6;
    assert_near(v1, ref, tol);
    assert_near(v2, ref, tol);
    int64_t k = 0;
    double *a = tu_read(g1, &k);
    tu_assert_close(a, gref, 12, tol, tol * 0.1, "CE grad, class ids");
    free(a);
    a = tu_read(g2, &k);
    tu_assert_close(a, gref, 12, tol, tol * 0.1, "CE grad, one-hot");
    free(a);
    tu_assert_meta(g1, dt, 2, s);
    nn_tensor_free(g1);
    nn_tensor_free(g2);
    nn_tensor_free(p);
    nn_tensor_free(t_ids);
    nn_tensor_free(t_oh);
  }
}

/* A NaN prediction makes every loss NaN, as in PyTorch (BCE's clamp of the
 * logs at -100 must not turn it into a finite value), on every device. */
static void test_nan_prediction_propagates(void **state) {
  (void)state;
  const int64_t s[2] = {2, 2};
  const double p[4] = {NAN, 0.25, 0.5, 0.75}, y[4] = {1.0, 0.0, 1.0, 0.0};
  const nn_loss elementwise[5] = {NN_LOSS_MSE, NN_LOSS_SSE, NN_LOSS_HALF_MSE, NN_LOSS_BCE,
                                  NN_LOSS_BCE_WITH_LOGITS};
  for (int d = 0; d < 2; d++) {
    nn_dtype dt = d ? NN_F64 : NN_F32;
    for (int k = 0; k < 5; k++) {
      double g[4];
      double v = loss_of(dt, elementwise[k], 2, s, p, y, g);
      if (!isnan(v)) fail_msg("loss %d (%s): a NaN prediction gives %g, not NaN", (int)elementwise[k],
                              tu_dtype_name(dt), v);
      assert_true(isnan(g[0]));
    }
    /* cross-entropy: class ids, a NaN logit in row 0 only */
    nn_tensor *pt = tu_make(dt, 2, s, p);
    const int64_t ids[2] = {1, 0}, ns[1] = {2};
    nn_tensor *it = tu_make_i64(NN_I64, 1, ns, ids);
    double v = 0;
    TU_OK(nn_loss_compute(NN_LOSS_CROSS_ENTROPY, pt, it, &v, NULL));
    assert_true(isnan(v));
    nn_tensor_free(pt);
    nn_tensor_free(it);
  }
}

/* Shapes that take the device kernels past their small-case paths: an
 * elementwise loss over more elements than the loss grid covers in one pass
 * (CUDA: at most 1,024 blocks of 256 threads, grid-stride beyond, partial
 * sums reduced in a fixed order), and cross-entropy with more classes than a
 * warp has lanes (c = 70: each lane several columns, c not a multiple of 32)
 * and with more rows than the grid has warps (9,001 rows). Value and every
 * gradient element against a float64 reference from the dtype-rounded
 * inputs; the same call twice gives the same bits. */
static double ref_elem_term(nn_loss loss, double p, double y) {
  switch (loss) {
    case NN_LOSS_BCE: {
      double lp = fmax(log(p), -100.0), l1p = fmax(log1p(-p), -100.0);
      return -(y * lp + (1 - y) * l1p);
    }
    case NN_LOSS_BCE_WITH_LOGITS: return fmax(p, 0.0) - p * y + log1p(exp(-fabs(p)));
    default: return (p - y) * (p - y);
  }
}

static double ref_elem_grad(nn_loss loss, double p, double y) {
  switch (loss) {
    case NN_LOSS_BCE: return (p - y) / fmax((1 - p) * p, 1e-12);
    case NN_LOSS_BCE_WITH_LOGITS: return 1 / (1 + exp(-p)) - y;
    default: return 2 * (p - y);
  }
}

static void check_large_elementwise(nn_dtype dt, nn_loss loss, int64_t n) {
  tu_rng r = tu_rng_make(77 + (uint64_t)loss);
  double *p = malloc((size_t)n * sizeof(double)), *y = malloc((size_t)n * sizeof(double));
  for (int64_t i = 0; i < n; i++) {
    p[i] = tu_cast(dt, loss == NN_LOSS_BCE ? tu_rng_uniform(&r, 0.02, 0.98) : tu_rng_uniform(&r, -3, 3));
    y[i] = tu_cast(dt, loss == NN_LOSS_BCE || loss == NN_LOSS_BCE_WITH_LOGITS ? (double)(tu_rng_next(&r) & 1)
                                                                              : tu_rng_uniform(&r, -3, 3));
  }
  const double c = loss == NN_LOSS_SSE ? 1.0 : loss == NN_LOSS_HALF_MSE ? 0.5 / (double)n : 1.0 / (double)n;
  double ref = 0;
  double *gref = malloc((size_t)n * sizeof(double));
  for (int64_t i = 0; i < n; i++) {
    ref += ref_elem_term(loss, p[i], y[i]);
    gref[i] = c * ref_elem_grad(loss, p[i], y[i]);
  }
  ref *= c;
  const int64_t s[1] = {n};
  double *g = malloc((size_t)n * sizeof(double));
  double v = loss_of(dt, loss, 1, s, p, y, g);
  double v2 = loss_of(dt, loss, 1, s, p, y, NULL);
  char ctx[96];
  snprintf(ctx, sizeof ctx, "loss %d (%s) over %lld elements: value", (int)loss, tu_dtype_name(dt), (long long)n);
  tu_assert_close(&v, &ref, 1, dt == NN_F64 ? 1e-12 : 1e-6, 0, ctx);
  if (memcmp(&v, &v2, sizeof v) != 0) fail_msg("%s: %.17g, then %.17g (not deterministic)", ctx, v, v2);
  snprintf(ctx, sizeof ctx, "loss %d (%s) over %lld elements: grad", (int)loss, tu_dtype_name(dt), (long long)n);
  tu_assert_close(g, gref, n, dt == NN_F64 ? 1e-12 : 2e-6, dt == NN_F64 ? 1e-20 : 1e-13, ctx);
  free(p);
  free(y);
  free(g);
  free(gref);
}

static void check_wide_cross_entropy(nn_dtype dt, bool ids, int64_t n, int64_t c) {
  tu_rng r = tu_rng_make(500 + (uint64_t)(n * c) + ids);
  const int64_t s[2] = {n, c};
  double *x = malloc((size_t)(n * c) * sizeof(double)), *t = calloc((size_t)(n * c), sizeof(double));
  int64_t *cls = malloc((size_t)n * sizeof(int64_t));
  for (int64_t i = 0; i < n * c; i++) x[i] = tu_cast(dt, tu_rng_uniform(&r, -6, 6));
  for (int64_t i = 0; i < n; i++) {
    cls[i] = tu_rng_int(&r, 0, c - 1);
    if (ids) {
      t[i * c + cls[i]] = 1;
    } else { /* probabilities, some exactly 0; a row need not sum to 1 */
      for (int64_t j = 0; j < c; j++)
        t[i * c + j] = tu_cast(dt, (tu_rng_next(&r) & 3) == 0 ? 0.0 : tu_rng_uniform(&r, 0, 2.0 / (double)c));
    }
  }
  double ref = 0, *gref = malloc((size_t)(n * c) * sizeof(double));
  for (int64_t i = 0; i < n; i++) {
    const double *xr = x + i * c, *tr = t + i * c;
    double mx = -INFINITY, se = 0, ts = 0, l = 0;
    for (int64_t j = 0; j < c; j++) mx = fmax(mx, xr[j]);
    for (int64_t j = 0; j < c; j++) se += exp(xr[j] - mx);
    const double lse = mx + log(se);
    for (int64_t j = 0; j < c; j++) {
      ts += tr[j];
      l -= tr[j] * (xr[j] - lse);
    }
    ref += l / (double)n;
    for (int64_t j = 0; j < c; j++) gref[i * c + j] = (exp(xr[j] - lse) * ts - tr[j]) / (double)n;
  }
  nn_tensor *pt = tu_make(dt, 2, s, x);
  nn_tensor *tt = ids ? tu_make_i64(NN_I64, 1, &n, cls) : tu_make(dt, 2, s, t);
  double v = NAN, v2 = NAN;
  nn_tensor *g = NULL;
  TU_OK(nn_loss_compute(NN_LOSS_CROSS_ENTROPY, pt, tt, &v, &g));
  TU_OK(nn_loss_compute(NN_LOSS_CROSS_ENTROPY, pt, tt, &v2, NULL));
  char ctx[128];
  snprintf(ctx, sizeof ctx, "CE %s [%lld, %lld] (%s): value", ids ? "class ids" : "probabilities", (long long)n,
           (long long)c, tu_dtype_name(dt));
  tu_assert_close(&v, &ref, 1, dt == NN_F64 ? 1e-12 : 1e-6, 0, ctx);
  if (memcmp(&v, &v2, sizeof v) != 0) fail_msg("%s: %.17g, then %.17g (not deterministic)", ctx, v, v2);
  tu_assert_meta(g, dt, 2, s);
  int64_t k = 0;
  double *gv = tu_read(g, &k);
  snprintf(ctx, sizeof ctx, "CE %s [%lld, %lld] (%s): grad", ids ? "class ids" : "probabilities", (long long)n,
           (long long)c, tu_dtype_name(dt));
  tu_assert_close(gv, gref, n * c, dt == NN_F64 ? 1e-11 : 1e-5, (dt == NN_F64 ? 1e-15 : 3e-7) / (double)n, ctx); /* F32: p - 1 of the target class rounds to ulp(1/n) */
  free(gv);
  nn_tensor_free(g);
  nn_tensor_free(pt);
  nn_tensor_free(tt);
  free(x);
  free(t);
  free(cls);
  free(gref);
}

static void test_large_and_wide_losses(void **state) {
  (void)state;
  for (int d = 0; d < 2; d++) {
    nn_dtype dt = d ? NN_F64 : NN_F32;
    for (int l = NN_LOSS_MSE; l <= NN_LOSS_BCE_WITH_LOGITS; l++) check_large_elementwise(dt, (nn_loss)l, 300001);
    for (int ids = 0; ids < 2; ids++) {
      check_wide_cross_entropy(dt, ids, 257, 70);
      check_wide_cross_entropy(dt, ids, 9001, 3);
      check_wide_cross_entropy(dt, ids, 5, 33);
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_nan_prediction_propagates),
      cmocka_unit_test(test_torch_loss_cases),
      cmocka_unit_test(test_regression_losses_by_hand),
      cmocka_unit_test(test_bce_clamp_and_stability),
      cmocka_unit_test(test_cross_entropy_ids_equal_onehot),
      cmocka_unit_test(test_large_and_wide_losses),
  };
  return tu_run_group(tests);
}
