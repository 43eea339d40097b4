/* Gradients against central finite differences, in float64
 * (nn_model_to_dtype(m, NN_F64)): every loss's d loss / d pred, every
 * activation (step: straight-through, against a hand-computed reference),
 * Linear with and without bias, and 3-layer models under every loss.
 * Inputs are random; kinks (ReLU / leaky ReLU at 0) are kept away from by
 * choosing inputs whose pre-activations are not near 0.
 *
 * Device-generic: models are moved to tu_device() and the data live there;
 * finite differences perturb parameters and predictions in place through
 * fd_open()/fd_set() (host pointer on the CPU, nn_tensor_write elsewhere). */
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

#define FD_H 1e-5
#define FD_RTOL 1e-6
#define FD_ATOL 1e-8

static const char *act_name(nn_activation a) {
  static const char *names[] = {"identity", "relu", "sigmoid", "tanh", "step", "softmax", "leaky_relu"};
  return (int)a >= 0 && (int)a < 7 ? names[a] : "?";
}

static const char *loss_name(nn_loss l) {
  static const char *names[] = {"mse", "sse", "half_mse", "bce", "bce_with_logits", "cross_entropy"};
  return (int)l >= 0 && (int)l < 6 ? names[l] : "?";
}

/* In-place element writes for finite differences on tu_device(). On the CPU
 * through nn_tensor_data(): the host pointer shares the tensor's storage (a
 * parameter handle's storage is the layer's). A CUDA tensor has no host
 * pointer (nn.h: nn_tensor_data is NULL), so there through a host copy that
 * fd_set() writes back whole with nn_tensor_write(), which a parameter
 * handle also passes on to its layer. */
typedef struct fd_elems {
  nn_tensor *t;
  double *host; /* the storage itself (CPU) or a malloc'd copy */
  bool copy;
  int64_t n;
} fd_elems;

static fd_elems fd_open(nn_tensor *t) {
  fd_elems e;
  e.t = t;
  e.n = nn_tensor_numel(t);
  e.copy = !tu_on_cpu();
  assert_int_equal(nn_tensor_dtype(t), NN_F64);
  double *pd = (double *)nn_tensor_data(t);
  if (e.copy) {
    assert_null(pd);
    int64_t n = 0;
    e.host = tu_read(t, &n);
    assert_int_equal(n, e.n);
  } else {
    assert_non_null(pd);
    e.host = pd;
  }
  return e;
}

static void fd_set(fd_elems *e, int64_t k, double v) {
  e->host[k] = v;
  if (e->copy) TU_OK(nn_tensor_write(e->t, e->host, (size_t)e->n * sizeof(double)));
}

static void fd_close(fd_elems *e) {
  if (e->copy) free(e->host);
  e->host = NULL;
}

static nn_tensor *rand_f64(tu_rng *r, int ndim, const int64_t *shape, double lo, double hi) {
  int64_t n = tu_numel(ndim, shape);
  double *v = malloc((size_t)(n ? n : 1) * sizeof(double));
  for (int64_t i = 0; i < n; i++) v[i] = tu_rng_uniform(r, lo, hi);
  nn_tensor *t = tu_make(NN_F64, ndim, shape, v);
  free(v);
  return t;
}

/* A target fitting `loss` for an output [n, c]: F64 values, or I64 class ids
 * when ids is set (cross-entropy). */
static nn_tensor *make_target(tu_rng *r, nn_loss loss, int64_t n, int64_t c, bool ids) {
  int64_t s[2] = {n, c};
  if (loss == NN_LOSS_CROSS_ENTROPY && ids) {
    int64_t *v = malloc((size_t)n * sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) v[i] = tu_rng_int(r, 0, c - 1);
    nn_tensor *t = tu_make_i64(NN_I64, 1, &n, v);
    free(v);
    return t;
  }
  double *v = malloc((size_t)(n * c) * sizeof(double));
  for (int64_t i = 0; i < n; i++) {
    double sum = 0;
    for (int64_t j = 0; j < c; j++) {
      double u = tu_rng_uniform(r, 0.0, 1.0);
      if (loss == NN_LOSS_CROSS_ENTROPY) u = u + 0.05;      /* probabilities, normalised below */
      else if (loss == NN_LOSS_BCE || loss == NN_LOSS_BCE_WITH_LOGITS) u = (j % 2) ? u : floor(u + 0.5);
      else u = 4 * u - 2;
      v[i * c + j] = u;
      sum += u;
    }
    if (loss == NN_LOSS_CROSS_ENTROPY)
      for (int64_t j = 0; j < c; j++) v[i * c + j] /= sum;
  }
  nn_tensor *t = tu_make(NN_F64, 2, s, v);
  free(v);
  return t;
}

static double model_loss(nn_model *m, const nn_tensor *x, const nn_tensor *y, nn_loss loss) {
  double v = NAN;
  TU_OK(nn_model_evaluate(m, x, y, loss, &v, NULL));
  return v;
}

/* Compares every gradient of m after one nn_model_backward to central
 * differences of nn_model_evaluate. */
static void check_model_grads(nn_model *m, const nn_tensor *x, const nn_tensor *y, nn_loss loss,
                              const char *what) {
  double lv = NAN;
  TU_OK(nn_model_zero_grad(m));
  TU_OK(nn_model_backward(m, x, y, loss, &lv));
  double ev = model_loss(m, x, y, loss);
  if (!(fabs(lv - ev) <= 1e-12 * fabs(ev) + 1e-14))
    fail_msg("%s: backward's loss %.17g != evaluate's %.17g", what, lv, ev);
  int checked = 0;
  for (int i = 0; i < nn_model_num_layers(m); i++) {
    nn_layer *l = NULL;
    TU_OK(nn_model_layer(m, i, &l));
    if (nn_layer_kind_of(l) != NN_LAYER_LINEAR) continue;
    for (int w = 0; w < 2; w++) {
      nn_tensor *p = NULL, *g = NULL;
      nn_status st = nn_layer_param(l, (nn_param)w, &p);
      if (w == 1 && st != NN_OK) continue; /* no bias */
      TU_OK(st);
      TU_OK(nn_layer_grad(l, (nn_param)w, &g));
      assert_int_equal(nn_tensor_dtype(p), NN_F64);
      assert_int_equal(nn_tensor_dtype(g), NN_F64);
      assert_int_equal(nn_tensor_numel(g), nn_tensor_numel(p));
      int64_t n = 0;
      double *gv = tu_read(g, &n);
      fd_elems pd = fd_open(p);
      for (int64_t k = 0; k < n; k++) {
        double keep = pd.host[k];
        fd_set(&pd, k, keep + FD_H);
        double lp = model_loss(m, x, y, loss);
        fd_set(&pd, k, keep - FD_H);
        double lm = model_loss(m, x, y, loss);
        fd_set(&pd, k, keep);
        double fd = (lp - lm) / (2 * FD_H);
        if (!(fabs(gv[k] - fd) <= FD_ATOL + FD_RTOL * fabs(fd)))
          fail_msg("%s: layer %d %s[%lld]: backprop %.12g, finite differences %.12g", what, i,
                   w ? "bias" : "weight", (long long)k, gv[k], fd);
        checked++;
      }
      fd_close(&pd);
      free(gv);
      nn_tensor_free(p);
      nn_tensor_free(g);
    }
  }
  assert_true(checked > 0);
}

static nn_layer *linear(int64_t in, int64_t out, bool bias) {
  nn_layer *l = NULL;
  TU_OK(nn_layer_linear(in, out, bias, &l));
  return l;
}

static nn_layer *act(nn_activation a) {
  nn_layer *l = NULL;
  TU_OK(nn_layer_activation(a, &l));
  return l;
}

/* Builds a model from layers (NULL-terminated), initialises it from seed,
 * converts it to float64, moves it to tu_device(). */
static nn_model *model_of(uint64_t seed, nn_layer *first, ...) {
  nn_model *m = NULL;
  TU_OK(nn_model_create(&m));
  va_list ap;
  va_start(ap, first);
  for (nn_layer *l = first; l; l = va_arg(ap, nn_layer *)) TU_OK(nn_model_add(m, l));
  va_end(ap);
  TU_OK(nn_model_init(m, NN_INIT_TORCH_DEFAULT, seed));
  TU_OK(nn_model_to_dtype(m, NN_F64));
  TU_OK(nn_model_to(m, tu_device()));
  return m;
}

/* min |pre-activation| of the first layer of m on x */
static double min_abs_first_layer(nn_model *m, const nn_tensor *x) {
  nn_layer *l = NULL;
  TU_OK(nn_model_layer(m, 0, &l));
  nn_tensor *z = NULL;
  TU_OK(nn_layer_forward(l, x, &z));
  int64_t n = 0;
  double *v = tu_read(z, &n);
  double mn = INFINITY;
  for (int64_t i = 0; i < n; i++) mn = fmin(mn, fabs(v[i]));
  free(v);
  nn_tensor_free(z);
  return mn;
}

/* ---- losses: d loss / d pred ------------------------------------------------ */

static void check_loss_grad(nn_loss loss, bool ids, int64_t n, int64_t c, uint64_t seed) {
  tu_rng r = tu_rng_make(seed);
  int64_t s[2] = {n, c};
  nn_tensor *pred = loss == NN_LOSS_BCE ? rand_f64(&r, 2, s, 0.05, 0.95) : rand_f64(&r, 2, s, -2.5, 2.5);
  nn_tensor *y = make_target(&r, loss, n, c, ids);
  double v = NAN;
  nn_tensor *g = NULL;
  TU_OK(nn_loss_compute(loss, pred, y, &v, &g));
  tu_assert_meta(g, NN_F64, 2, s);
  int64_t k = 0;
  double *gv = tu_read(g, &k);
  fd_elems pd = fd_open(pred);
  for (int64_t i = 0; i < n * c; i++) {
    double keep = pd.host[i], lp = NAN, lm = NAN;
    fd_set(&pd, i, keep + FD_H);
    TU_OK(nn_loss_compute(loss, pred, y, &lp, NULL));
    fd_set(&pd, i, keep - FD_H);
    TU_OK(nn_loss_compute(loss, pred, y, &lm, NULL));
    fd_set(&pd, i, keep);
    double fd = (lp - lm) / (2 * FD_H);
    if (!(fabs(gv[i] - fd) <= FD_ATOL + FD_RTOL * fabs(fd)))
      fail_msg("loss %s%s [%lld, %lld] element %lld: grad %.12g, finite differences %.12g", loss_name(loss),
               ids ? " (class ids)" : "", (long long)n, (long long)c, (long long)i, gv[i], fd);
  }
  fd_close(&pd);
  free(gv);
  nn_tensor_free(g);
  nn_tensor_free(pred);
  nn_tensor_free(y);
}

static void test_loss_grads(void **state) {
  (void)state;
  for (int l = NN_LOSS_MSE; l <= NN_LOSS_CROSS_ENTROPY; l++) {
    check_loss_grad((nn_loss)l, false, 5, 3, 10 + (uint64_t)l);
    check_loss_grad((nn_loss)l, false, 7, 1, 20 + (uint64_t)l);
  }
  check_loss_grad(NN_LOSS_CROSS_ENTROPY, true, 6, 4, 31);
  check_loss_grad(NN_LOSS_CROSS_ENTROPY, true, 1, 5, 32);
}

/* ---- activations ------------------------------------------------------------ */

static void check_activation(nn_activation a, bool as_output) {
  /* draw inputs until no first-layer pre-activation is within 1e-3 of a kink */
  for (uint64_t seed = 1; seed < 200; seed++) {
    tu_rng r = tu_rng_make(1000 * (uint64_t)a + seed + (as_output ? 500 : 0));
    nn_model *m = as_output ? model_of(seed, linear(3, 4, true), act(a), NULL)
                            : model_of(seed, linear(3, 5, true), act(a), linear(5, 2, true), NULL);
    int64_t xs[2] = {6, 3};
    nn_tensor *x = rand_f64(&r, 2, xs, -2.0, 2.0);
    if (min_abs_first_layer(m, x) < 1e-3) {
      nn_model_free(m);
      nn_tensor_free(x);
      continue;
    }
    nn_tensor *y = make_target(&r, NN_LOSS_MSE, 6, as_output ? 4 : 2, false);
    char what[96];
    snprintf(what, sizeof what, "activation %s (%s)", act_name(a), as_output ? "output" : "hidden");
    check_model_grads(m, x, y, NN_LOSS_MSE, what);
    nn_tensor_free(x);
    nn_tensor_free(y);
    nn_model_free(m);
    return;
  }
  fail_msg("no kink-free input found");
}

static void test_activation_grads(void **state) {
  (void)state;
  const nn_activation acts[] = {NN_ACT_IDENTITY, NN_ACT_RELU,    NN_ACT_SIGMOID,
                                NN_ACT_TANH,     NN_ACT_SOFTMAX, NN_ACT_LEAKY_RELU};
  for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++) {
    check_activation(acts[i], false);
    check_activation(acts[i], true);
  }
}

/* Leaky ReLU really has slope 0.01 below 0 and ReLU 0 (finite differences
 * would pass for any slope consistent between forward and backward). */
static void test_leaky_relu_slope(void **state) {
  (void)state;
  const int64_t s[2] = {1, 4};
  const double x[4] = {-3.0, -0.5, 0.5, 2.0};
  nn_tensor *t = tu_make(NN_F64, 2, s, x);
  nn_layer *l = act(NN_ACT_LEAKY_RELU);
  /* a new layer is on the CPU and only moves as part of a model (nn.h):
   * off the CPU, run it as the only layer of a model on tu_device() */
  nn_model *holder = NULL;
  if (!tu_on_cpu()) {
    TU_OK(nn_model_create(&holder));
    TU_OK(nn_model_to(holder, tu_device()));
    TU_OK(nn_model_add(holder, l));
  }
  nn_tensor *y = NULL;
  TU_OK(nn_layer_forward(l, t, &y));
  const double e[4] = {-0.03, -0.005, 0.5, 2.0};
  tu_assert_tensor(y, NN_F64, 2, s, e, 1e-15, 0);
  nn_tensor_free(y);
  if (holder) nn_model_free(holder);
  else nn_layer_free(l);
  nn_tensor_free(t);
}

/* Step: forward 0/1, backward straight through: with Linear1 -> step ->
 * Linear2 and MSE, dW2 = G^T S and dW1 = (G W2)^T X where S = step(X W1^T + b1),
 * G = dL/dout. */
static void test_step_straight_through(void **state) {
  (void)state;
  tu_rng r = tu_rng_make(77);
  const int64_t n = 5, in = 3, hid = 4, out = 2;
  nn_model *m = NULL;
  int64_t xs[2] = {n, in};
  nn_tensor *x = NULL;
  for (uint64_t seed = 1;; seed++) {
    assert_true(seed < 100);
    m = model_of(seed, linear(in, hid, true), act(NN_ACT_STEP), linear(hid, out, true), NULL);
    x = rand_f64(&r, 2, xs, -2.0, 2.0);
    if (min_abs_first_layer(m, x) >= 1e-3) break;
    nn_model_free(m);
    nn_tensor_free(x);
  }
  nn_tensor *y = make_target(&r, NN_LOSS_MSE, n, out, false);
  TU_OK(nn_model_zero_grad(m));
  double lv = NAN;
  TU_OK(nn_model_backward(m, x, y, NN_LOSS_MSE, &lv));

  nn_layer *l0 = NULL, *l2 = NULL;
  TU_OK(nn_model_layer(m, 0, &l0));
  TU_OK(nn_model_layer(m, 2, &l2));
  nn_tensor *tw1, *tb1, *tw2, *tb2;
  TU_OK(nn_layer_param(l0, NN_PARAM_WEIGHT, &tw1));
  TU_OK(nn_layer_param(l0, NN_PARAM_BIAS, &tb1));
  TU_OK(nn_layer_param(l2, NN_PARAM_WEIGHT, &tw2));
  TU_OK(nn_layer_param(l2, NN_PARAM_BIAS, &tb2));
  int64_t k;
  double *X = tu_read(x, &k), *Y = tu_read(y, &k);
  double *W1 = tu_read(tw1, &k), *B1 = tu_read(tb1, &k), *W2 = tu_read(tw2, &k), *B2 = tu_read(tb2, &k);
  double S[5][4], G[5][2], GS[5][4];
  double loss = 0;
  for (int i = 0; i < n; i++) {
    for (int j = 0; j < hid; j++) {
      double z = B1[j];
      for (int q = 0; q < in; q++) z += X[i * in + q] * W1[j * in + q];
      S[i][j] = z > 0 ? 1.0 : 0.0;
    }
    for (int o = 0; o < out; o++) {
      double p = B2[o];
      for (int j = 0; j < hid; j++) p += S[i][j] * W2[o * hid + j];
      double d = p - Y[i * out + o];
      loss += d * d / (double)(n * out);
      G[i][o] = 2 * d / (double)(n * out);
    }
    for (int j = 0; j < hid; j++) {
      GS[i][j] = 0;
      for (int o = 0; o < out; o++) GS[i][j] += G[i][o] * W2[o * hid + j];
    }
  }
  assert_near(lv, loss, 1e-12);
  double eW1[4 * 3] = {0}, eB1[4] = {0}, eW2[2 * 4] = {0}, eB2[2] = {0};
  for (int i = 0; i < n; i++) {
    for (int j = 0; j < hid; j++) {
      eB1[j] += GS[i][j];
      for (int q = 0; q < in; q++) eW1[j * in + q] += GS[i][j] * X[i * in + q];
    }
    for (int o = 0; o < out; o++) {
      eB2[o] += G[i][o];
      for (int j = 0; j < hid; j++) eW2[o * hid + j] += G[i][o] * S[i][j];
    }
  }
  nn_tensor *g;
  double *gv;
  TU_OK(nn_layer_grad(l0, NN_PARAM_WEIGHT, &g));
  gv = tu_read(g, &k);
  tu_assert_close(gv, eW1, 12, 1e-12, 1e-14, "step: dW1 (straight-through)");
  free(gv);
  nn_tensor_free(g);
  TU_OK(nn_layer_grad(l0, NN_PARAM_BIAS, &g));
  gv = tu_read(g, &k);
  tu_assert_close(gv, eB1, 4, 1e-12, 1e-14, "step: db1 (straight-through)");
  free(gv);
  nn_tensor_free(g);
  TU_OK(nn_layer_grad(l2, NN_PARAM_WEIGHT, &g));
  gv = tu_read(g, &k);
  tu_assert_close(gv, eW2, 8, 1e-12, 1e-14, "step: dW2");
  free(gv);
  nn_tensor_free(g);
  TU_OK(nn_layer_grad(l2, NN_PARAM_BIAS, &g));
  gv = tu_read(g, &k);
  tu_assert_close(gv, eB2, 2, 1e-12, 1e-14, "step: db2");
  free(gv);
  nn_tensor_free(g);
  /* the layers after the step are still checked by finite differences */
  free(X);
  free(Y);
  free(W1);
  free(B1);
  free(W2);
  free(B2);
  nn_tensor_free(tw1);
  nn_tensor_free(tb1);
  nn_tensor_free(tw2);
  nn_tensor_free(tb2);
  nn_tensor_free(x);
  nn_tensor_free(y);
  nn_model_free(m);
}

/* ---- Linear with / without bias ----------------------------------------------- */

static void test_linear_grads(void **state) {
  (void)state;
  for (int b = 0; b < 2; b++) {
    tu_rng r = tu_rng_make(5 + (uint64_t)b);
    nn_model *m = model_of(3 + (uint64_t)b, linear(4, 3, b != 0), NULL);
    int64_t xs[2] = {7, 4};
    nn_tensor *x = rand_f64(&r, 2, xs, -1.5, 1.5);
    nn_tensor *y = make_target(&r, NN_LOSS_MSE, 7, 3, false);
    check_model_grads(m, x, y, NN_LOSS_MSE, b ? "Linear(4, 3) with bias" : "Linear(4, 3) without bias");
    check_model_grads(m, x, y, NN_LOSS_SSE, b ? "Linear(4, 3) with bias, SSE" : "Linear(4, 3) without bias, SSE");
    nn_tensor_free(x);
    nn_tensor_free(y);
    nn_model_free(m);
  }
}

/* ---- 3-layer models under every loss ------------------------------------------- */

static void test_three_layer_models(void **state) {
  (void)state;
  struct {
    nn_loss loss;
    bool ids;
    nn_activation output;
  } cases[] = {
      {NN_LOSS_MSE, false, NN_ACT_IDENTITY},          {NN_LOSS_SSE, false, NN_ACT_TANH},
      {NN_LOSS_HALF_MSE, false, NN_ACT_IDENTITY},     {NN_LOSS_BCE, false, NN_ACT_SIGMOID},
      {NN_LOSS_BCE_WITH_LOGITS, false, NN_ACT_IDENTITY}, {NN_LOSS_CROSS_ENTROPY, true, NN_ACT_IDENTITY},
      {NN_LOSS_CROSS_ENTROPY, false, NN_ACT_IDENTITY}, {NN_LOSS_MSE, false, NN_ACT_SOFTMAX},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    tu_rng r = tu_rng_make(300 + i);
    /* Linear(4,6) tanh Linear(6,5) sigmoid Linear(5,3) [output] */
    nn_model *m = cases[i].output == NN_ACT_IDENTITY
                      ? model_of(40 + i, linear(4, 6, true), act(NN_ACT_TANH), linear(6, 5, true),
                                 act(NN_ACT_SIGMOID), linear(5, 3, true), NULL)
                      : model_of(40 + i, linear(4, 6, true), act(NN_ACT_TANH), linear(6, 5, true),
                                 act(NN_ACT_SIGMOID), linear(5, 3, true), act(cases[i].output), NULL);
    int64_t xs[2] = {8, 4};
    nn_tensor *x = rand_f64(&r, 2, xs, -2.0, 2.0);
    nn_tensor *y = make_target(&r, cases[i].loss, 8, 3, cases[i].ids);
    char what[96];
    snprintf(what, sizeof what, "3-layer model, %s%s, output %s", loss_name(cases[i].loss),
             cases[i].ids ? " (class ids)" : "", act_name(cases[i].output));
    check_model_grads(m, x, y, cases[i].loss, what);
    nn_tensor_free(x);
    nn_tensor_free(y);
    nn_model_free(m);
  }
  /* nn_model_mlp with ReLU hidden layers, away from the kinks */
  for (uint64_t seed = 1;; seed++) {
    assert_true(seed < 200);
    const int64_t sizes[4] = {3, 5, 4, 2};
    nn_model *m = NULL;
    TU_OK(nn_model_mlp(4, sizes, NN_ACT_RELU, NN_ACT_IDENTITY, &m));
    TU_OK(nn_model_init(m, NN_INIT_TORCH_DEFAULT, seed));
    TU_OK(nn_model_to_dtype(m, NN_F64));
    TU_OK(nn_model_to(m, tu_device()));
    tu_rng r = tu_rng_make(seed * 7);
    int64_t xs[2] = {6, 3};
    nn_tensor *x = rand_f64(&r, 2, xs, -2.0, 2.0);
    /* second ReLU's pre-activations: forward through layers 0..2 */
    nn_tensor *h = NULL, *t = NULL;
    double mn = min_abs_first_layer(m, x);
    for (int i = 0; i < 3; i++) {
      nn_layer *l = NULL;
      TU_OK(nn_model_layer(m, i, &l));
      TU_OK(nn_layer_forward(l, h ? h : x, &t));
      nn_tensor_free(h);
      h = t;
    }
    int64_t k = 0;
    double *hv = tu_read(h, &k);
    for (int64_t i = 0; i < k; i++) mn = fmin(mn, fabs(hv[i]));
    free(hv);
    nn_tensor_free(h);
    if (mn < 1e-3) {
      nn_tensor_free(x);
      nn_model_free(m);
      continue;
    }
    nn_tensor *y = make_target(&r, NN_LOSS_MSE, 6, 2, false);
    check_model_grads(m, x, y, NN_LOSS_MSE, "mlp 3-5-4-2 relu");
    nn_tensor_free(x);
    nn_tensor_free(y);
    nn_model_free(m);
    break;
  }
}

/* float32 and float64 backprop agree (the F32 path is the fused one) */
static void test_f32_matches_f64(void **state) {
  (void)state;
  const int64_t sizes[4] = {4, 6, 5, 3};
  nn_model *a = NULL, *b = NULL;
  TU_OK(nn_model_mlp(4, sizes, NN_ACT_TANH, NN_ACT_IDENTITY, &a));
  TU_OK(nn_model_mlp(4, sizes, NN_ACT_TANH, NN_ACT_IDENTITY, &b));
  TU_OK(nn_model_to_dtype(b, NN_F64));
  TU_OK(nn_model_to(a, tu_device()));
  TU_OK(nn_model_to(b, tu_device()));
  tu_rng r = tu_rng_make(9);
  double xv[8 * 4], yv[8 * 3];
  for (int i = 0; i < 32; i++) xv[i] = tu_rng_uniform(&r, -1, 1);
  for (int i = 0; i < 24; i++) yv[i] = tu_rng_uniform(&r, -1, 1);
  int64_t xs[2] = {8, 4}, ys[2] = {8, 3};
  nn_tensor *x32 = tu_make(NN_F32, 2, xs, xv), *y32 = tu_make(NN_F32, 2, ys, yv);
  nn_tensor *x64 = tu_make(NN_F64, 2, xs, xv), *y64 = tu_make(NN_F64, 2, ys, yv);
  double la = NAN, lb = NAN;
  TU_OK(nn_model_backward(a, x32, y32, NN_LOSS_MSE, &la));
  TU_OK(nn_model_backward(b, x64, y64, NN_LOSS_MSE, &lb));
  assert_near(la, lb, 1e-5 * fabs(lb));
  for (int i = 0; i < nn_model_num_layers(a); i++) {
    nn_layer *la_ = NULL, *lb_ = NULL;
    TU_OK(nn_model_layer(a, i, &la_));
    TU_OK(nn_model_layer(b, i, &lb_));
    if (nn_layer_kind_of(la_) != NN_LAYER_LINEAR) continue;
    for (int w = 0; w < 2; w++) {
      nn_tensor *ga = NULL, *gb = NULL;
      TU_OK(nn_layer_grad(la_, (nn_param)w, &ga));
      TU_OK(nn_layer_grad(lb_, (nn_param)w, &gb));
      assert_int_equal(nn_tensor_dtype(ga), NN_F32);
      int64_t k;
      double *va = tu_read(ga, &k), *vb = tu_read(gb, &k);
      tu_assert_close(va, vb, k, 1e-4, 1e-6, "float32 vs float64 gradients");
      free(va);
      free(vb);
      nn_tensor_free(ga);
      nn_tensor_free(gb);
    }
  }
  nn_tensor_free(x32);
  nn_tensor_free(y32);
  nn_tensor_free(x64);
  nn_tensor_free(y64);
  nn_model_free(a);
  nn_model_free(b);
}

/* Softmax output over 45 classes (wider than a warp, not a multiple of 32)
 * on 37 rows (more rows than a block has warps, more than the 8 row stripes
 * of the bias-gradient column sums, two 32-column blocks), F64, SSE loss:
 * the weight and bias gradients against the closed form
 * dz = y (dy - sum(dy y)), dW = dz^T x, db = column sums of dz. */
static void test_wide_softmax_output_grads(void **state) {
  (void)state;
  enum { N = 37, K = 4, C = 45 };
  nn_model *m = model_of(7, linear(K, C, true), act(NN_ACT_SOFTMAX), NULL);
  tu_rng r = tu_rng_make(4537);
  const int64_t xs[2] = {N, K}, ys[2] = {N, C};
  nn_tensor *x = rand_f64(&r, 2, xs, -2, 2), *t = rand_f64(&r, 2, ys, 0, 0.1);
  double loss = NAN;
  TU_OK(nn_model_zero_grad(m));
  TU_OK(nn_model_backward(m, x, t, NN_LOSS_SSE, &loss));
  nn_layer *l = NULL;
  TU_OK(nn_model_layer(m, 0, &l));
  nn_tensor *wt = NULL, *bt = NULL, *gwt = NULL, *gbt = NULL;
  TU_OK(nn_layer_param(l, NN_PARAM_WEIGHT, &wt));
  TU_OK(nn_layer_param(l, NN_PARAM_BIAS, &bt));
  TU_OK(nn_layer_grad(l, NN_PARAM_WEIGHT, &gwt));
  TU_OK(nn_layer_grad(l, NN_PARAM_BIAS, &gbt));
  int64_t k = 0;
  double *X = tu_read(x, &k), *T = tu_read(t, &k), *W = tu_read(wt, &k), *B = tu_read(bt, &k);
  double *GW = tu_read(gwt, &k), *GB = tu_read(gbt, &k);
  static double dz[N][C], dw[C * K], db[C];
  memset(dw, 0, sizeof dw);
  memset(db, 0, sizeof db);
  double ref_loss = 0;
  for (int i = 0; i < N; i++) {
    double z[C], y[C], mx = -INFINITY, sum = 0, s = 0;
    for (int o = 0; o < C; o++) {
      z[o] = B[o];
      for (int j = 0; j < K; j++) z[o] += X[i * K + j] * W[o * K + j];
      mx = fmax(mx, z[o]);
    }
    for (int o = 0; o < C; o++) sum += exp(z[o] - mx);
    for (int o = 0; o < C; o++) {
      y[o] = exp(z[o] - mx) / sum;
      ref_loss += (y[o] - T[i * C + o]) * (y[o] - T[i * C + o]);
      s += 2 * (y[o] - T[i * C + o]) * y[o];
    }
    for (int o = 0; o < C; o++) {
      dz[i][o] = y[o] * (2 * (y[o] - T[i * C + o]) - s);
      db[o] += dz[i][o];
      for (int j = 0; j < K; j++) dw[o * K + j] += dz[i][o] * X[i * K + j];
    }
  }
  assert_near(loss, ref_loss, 1e-12 * fabs(ref_loss));
  tu_assert_close(GW, dw, C * K, 1e-10, 1e-14, "wide softmax output: weight grad");
  tu_assert_close(GB, db, C, 1e-10, 1e-14, "wide softmax output: bias grad");
  free(X);
  free(T);
  free(W);
  free(B);
  free(GW);
  free(GB);
  nn_tensor_free(wt);
  nn_tensor_free(bt);
  nn_tensor_free(gwt);
  nn_tensor_free(gbt);
  nn_tensor_free(x);
  nn_tensor_free(t);
  nn_model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_loss_grads),           cmocka_unit_test(test_activation_grads),
      cmocka_unit_test(test_leaky_relu_slope),     cmocka_unit_test(test_step_straight_through),
      cmocka_unit_test(test_linear_grads),         cmocka_unit_test(test_three_layer_models),
      cmocka_unit_test(test_f32_matches_f64),      cmocka_unit_test(test_wide_softmax_output_grads),
  };
  return tu_run_group(tests);
}
