/* nn_model_fit and nn_model_evaluate: shuffling (reproducible from the seed),
 * per-epoch reports and StepLR, validation, cancel, NaN/Inf rollback, early
 * stopping, accuracy for class ids / one-hot / one column, bit-identical
 * reproducibility. (Loss and weight values against PyTorch: test_optim.)
 *
 * Device-generic: data (tu_make) and models (mlp_on_device) live on
 * tu_device(); every case runs on each device. */
#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define assert_near(a, b, tol)                                                             \
  do {                                                                                     \
    double a_ = (a), b_ = (b), t_ = (tol);                                                 \
    if (!(fabs(a_ - b_) <= t_)) fail_msg("%s = %.17g, expected %.17g (tol %g)", #a, a_, b_, t_); \
  } while (0)

#define MAX_EPOCHS 64

/* ---- helpers ------------------------------------------------------------------ */

static float *params_raw(nn_model *m, int64_t *count) {
  int64_t total = nn_model_num_params(m), off = 0;
  float *out = malloc((size_t)(total ? total : 1) * sizeof(float));
  for (int i = 0; i < nn_model_num_layers(m); i++) {
    nn_layer *l = NULL;
    TU_OK(nn_model_layer(m, i, &l));
    if (nn_layer_kind_of(l) != NN_LAYER_LINEAR) continue;
    for (int w = 0; w < 2; w++) {
      nn_tensor *p = NULL;
      if (nn_layer_param(l, (nn_param)w, &p) != NN_OK) continue;
      int64_t n = nn_tensor_numel(p);
      TU_OK(nn_tensor_read(p, out + off, (size_t)n * sizeof(float)));
      off += n;
      nn_tensor_free(p);
    }
  }
  assert_int_equal(off, total);
  *count = total;
  return out;
}

static bool same_params(nn_model *a, nn_model *b) {
  int64_t na = 0, nb = 0;
  float *pa = params_raw(a, &na), *pb = params_raw(b, &nb);
  bool same = na == nb && memcmp(pa, pb, (size_t)na * sizeof(float)) == 0;
  free(pa);
  free(pb);
  return same;
}

/* regression data: n rows of in features, out targets (a noisy linear map) */
static void make_data(uint64_t seed, int64_t n, int64_t in, int64_t out, nn_tensor **x, nn_tensor **y) {
  tu_rng r = tu_rng_make(seed);
  double *xv = malloc((size_t)(n * in) * sizeof(double)), *yv = malloc((size_t)(n * out) * sizeof(double));
  for (int64_t i = 0; i < n * in; i++) xv[i] = tu_rng_uniform(&r, -1, 1);
  for (int64_t i = 0; i < n; i++)
    for (int64_t o = 0; o < out; o++) {
      double s = 0.1 * tu_rng_uniform(&r, -1, 1);
      for (int64_t k = 0; k < in; k++) s += xv[i * in + k] * (double)((k + o) % 3 - 1) * 0.7;
      yv[i * out + o] = s;
    }
  int64_t xs[2] = {n, in}, ys[2] = {n, out};
  *x = tu_make(NN_F32, 2, xs, xv);
  *y = tu_make(NN_F32, 2, ys, yv);
  free(xv);
  free(yv);
}

/* nn_model_mlp (built on the CPU) moved to tu_device(), before any optimizer
 * is made for it (nn.h: move the model first). */
static nn_model *mlp_on_device(int n_sizes, const int64_t *sizes, nn_activation hidden, nn_activation output) {
  nn_model *m = NULL;
  TU_OK(nn_model_mlp(n_sizes, sizes, hidden, output, &m));
  TU_OK(nn_model_to(m, tu_device()));
  return m;
}

static nn_model *make_model(uint64_t seed) {
  const int64_t sizes[3] = {4, 8, 3};
  nn_model *m = mlp_on_device(3, sizes, NN_ACT_TANH, NN_ACT_IDENTITY);
  TU_OK(nn_model_init(m, NN_INIT_XAVIER_UNIFORM, seed));
  return m;
}

typedef struct rec {
  int calls;
  int stop_at;  /* return non-zero at this epoch; -1 never */
  nn_epoch_report r[MAX_EPOCHS];
  float *snap[MAX_EPOCHS]; /* weights after each epoch, if snapshot */
  bool snapshot;
  nn_model *m;
  const nn_tensor *vx, *vy; /* if set: evaluate inside the callback */
  nn_loss loss;
  double eval_loss[MAX_EPOCHS], eval_acc[MAX_EPOCHS];
} rec;

static int record(const nn_epoch_report *r, void *ud) {
  rec *c = (rec *)ud;
  if (c->calls < MAX_EPOCHS) {
    c->r[c->calls] = *r;
    if (c->snapshot) {
      int64_t n;
      c->snap[c->calls] = params_raw(c->m, &n);
    }
    if (c->vx) {
      double v = NAN, a = NAN;
      TU_OK(nn_model_evaluate(c->m, c->vx, c->vy, c->loss, &v, &a));
      c->eval_loss[c->calls] = v;
      c->eval_acc[c->calls] = a;
    }
  }
  c->calls++;
  return c->stop_at >= 0 && r->epoch >= c->stop_at;
}

static void rec_init(rec *c, nn_model *m) {
  memset(c, 0, sizeof *c);
  c->stop_at = -1;
  c->m = m;
}

static void rec_free(rec *c) {
  for (int i = 0; i < MAX_EPOCHS; i++) free(c->snap[i]);
}

static nn_fit_options opts(int epochs, int64_t batch, bool shuffle, uint64_t seed, nn_loss loss) {
  nn_fit_options o;
  nn_fit_options_init(&o);
  o.epochs = epochs;
  o.batch_size = batch;
  o.shuffle = shuffle;
  o.seed = seed;
  o.loss = loss;
  return o;
}

/* ---- defaults ------------------------------------------------------------------ */

static void test_options_defaults(void **state) {
  (void)state;
  nn_fit_options o;
  memset(&o, 0xab, sizeof o);
  nn_fit_options_init(&o);
  assert_int_equal(o.version, NN_FIT_OPTIONS_VERSION);
  assert_int_equal(o.epochs, 10);
  assert_int_equal(o.batch_size, 32);
  assert_true(o.shuffle);
  assert_int_equal(o.seed, 0);
  assert_int_equal(o.loss, NN_LOSS_MSE);
  assert_null(o.val_x);
  assert_null(o.val_y);
  assert_int_equal(o.patience, 0);
  assert_null(o.on_epoch);
  assert_null(o.user_data);
  nn_fit_options_init(NULL); /* no-op */
}

/* ---- shuffling ------------------------------------------------------------------ */

static void fit_once(nn_model *m, const nn_tensor *x, const nn_tensor *y, const nn_fit_options *o) {
  nn_optimizer *opt = NULL;
  TU_OK(nn_optimizer_sgd(m, 0.05, 0.9, 0, false, &opt));
  TU_OK(nn_model_fit(m, opt, x, y, o, NULL));
  nn_optimizer_free(opt);
}

static void test_shuffle_reproducible(void **state) {
  (void)state;
  nn_tensor *x, *y;
  make_data(1, 23, 4, 3, &x, &y);
  nn_model *a = make_model(7), *b = make_model(7), *c = make_model(7), *d = make_model(7);
  nn_fit_options o = opts(4, 5, true, 99, NN_LOSS_MSE);
  fit_once(a, x, y, &o);
  fit_once(b, x, y, &o);
  if (!same_params(a, b)) fail_msg("same shuffle seed twice: weights differ");
  o.seed = 100;
  fit_once(c, x, y, &o);
  if (same_params(a, c)) fail_msg("shuffle seeds 99 and 100 gave the same weights");
  o.shuffle = false;
  o.seed = 99;
  fit_once(d, x, y, &o);
  if (same_params(a, d)) fail_msg("shuffle on and off gave the same weights");
  /* full batch: the order does not matter (up to rounding) */
  nn_model *e = make_model(7), *f = make_model(7);
  nn_fit_options o1 = opts(3, 0, true, 1, NN_LOSS_MSE), o2 = opts(3, 0, false, 1, NN_LOSS_MSE);
  fit_once(e, x, y, &o1);
  fit_once(f, x, y, &o2);
  int64_t n;
  float *pe = params_raw(e, &n), *pf = params_raw(f, &n);
  for (int64_t i = 0; i < n; i++) assert_near(pe[i], pf[i], 1e-5 * fabs(pf[i]) + 1e-6);
  free(pe);
  free(pf);
  nn_model_free(a);
  nn_model_free(b);
  nn_model_free(c);
  nn_model_free(d);
  nn_model_free(e);
  nn_model_free(f);
  nn_tensor_free(x);
  nn_tensor_free(y);
}

/* same seeds, same thread count: bit-identical (Adam, minibatch, shuffled, CE).
 * The thread count only concerns the CPU; on CUDA the same kernels and cuBLAS
 * calls must give the same bits too. */
static void test_reproducible_bitwise(void **state) {
  (void)state;
  TU_OK(nn_set_num_threads(2));
  nn_tensor *x, *y0;
  make_data(3, 40, 4, 3, &x, &y0);
  int64_t n = 40;
  int64_t ids[40];
  for (int i = 0; i < 40; i++) ids[i] = (i * 7) % 3;
  nn_tensor *y = tu_make_i64(NN_I64, 1, &n, ids);
  float *first = NULL;
  int64_t np = 0;
  for (int run = 0; run < 2; run++) {
    const int64_t sizes[4] = {4, 16, 16, 3};
    nn_model *m = mlp_on_device(4, sizes, NN_ACT_RELU, NN_ACT_IDENTITY);
    TU_OK(nn_model_init(m, NN_INIT_HE_UNIFORM, 42));
    nn_optimizer *opt = NULL;
    TU_OK(nn_optimizer_adam(m, 0.01, 0.9, 0.999, 1e-8, 0.01, true, &opt));
    nn_fit_options o = opts(5, 7, true, 2024, NN_LOSS_CROSS_ENTROPY);
    nn_epoch_report last;
    TU_OK(nn_model_fit(m, opt, x, y, &o, &last));
    float *p = params_raw(m, &np);
    if (run == 0) {
      first = p;
    } else {
      assert_memory_equal(first, p, (size_t)np * sizeof(float));
      free(p);
    }
    nn_optimizer_free(opt);
    nn_model_free(m);
  }
  free(first);
  TU_OK(nn_set_num_threads(0));
  nn_tensor_free(x);
  nn_tensor_free(y0);
  nn_tensor_free(y);
}

/* ---- reports, StepLR, validation -------------------------------------------------- */

static void test_reports_and_step_lr(void **state) {
  (void)state;
  nn_tensor *x, *y;
  make_data(2, 10, 4, 3, &x, &y);
  nn_model *m = make_model(1);
  nn_optimizer *opt = NULL;
  TU_OK(nn_optimizer_sgd(m, 0.1, 0, 0, false, &opt));
  TU_OK(nn_optimizer_set_step_lr(opt, 2, 0.5));
  rec c;
  rec_init(&c, m);
  nn_fit_options o = opts(7, 3, true, 5, NN_LOSS_MSE);
  o.on_epoch = record;
  o.user_data = &c;
  nn_epoch_report last;
  memset(&last, 0, sizeof last);
  TU_OK(nn_model_fit(m, opt, x, y, &o, &last));
  assert_int_equal(c.calls, 7);
  for (int e = 0; e < 7; e++) {
    assert_int_equal(c.r[e].epoch, e);
    assert_int_equal(c.r[e].epochs, 7);
    assert_near(c.r[e].lr, 0.1 * pow(0.5, e / 2), 1e-15);
    assert_true(isfinite(c.r[e].loss) && c.r[e].loss >= 0);
    assert_true(isnan(c.r[e].val_loss));
    assert_true(isnan(c.r[e].val_accuracy));
    assert_true(c.r[e].seconds >= 0 && c.r[e].seconds < 60);
  }
  /* MSE with a small lr: the training loss goes down */
  assert_true(c.r[6].loss < c.r[0].loss);
  assert_int_equal(last.epoch, 6);
  assert_int_equal(last.epochs, 7);
  assert_true(last.loss == c.r[6].loss);
  assert_true(last.lr == c.r[6].lr);
  /* scheduler stepped once per epoch: lr = 0.1 * 0.5^floor(7/2) */
  assert_near(nn_optimizer_lr(opt), 0.0125, 1e-15);
  /* a second fit continues the schedule */
  rec_init(&c, m);
  o.epochs = 2;
  TU_OK(nn_model_fit(m, opt, x, y, &o, NULL));
  assert_int_equal(c.calls, 2);
  assert_near(c.r[0].lr, 0.0125, 1e-15);
  assert_near(c.r[1].lr, 0.00625, 1e-15);
  assert_int_equal(c.r[0].epoch, 0);
  nn_optimizer_free(opt);
  nn_model_free(m);
  nn_tensor_free(x);
  nn_tensor_free(y);
}

/* the epoch's loss is the mean of its batch losses (no shuffle, SGD lr 0:
 * weights fixed, so each batch loss is the loss of the untouched model) */
static void test_epoch_loss_is_mean_of_batches(void **state) {
  (void)state;
  nn_tensor *x, *y;
  make_data(4, 10, 4, 3, &x, &y);
  nn_model *m = make_model(2);
  nn_optimizer *opt = NULL;
  TU_OK(nn_optimizer_sgd(m, 0.0, 0, 0, false, &opt));
  double expect = 0;
  const int64_t starts[4] = {0, 3, 6, 9}, lens[4] = {3, 3, 3, 1};
  nn_tensor *out = NULL;
  TU_OK(nn_model_forward(m, x, &out));
  int64_t k;
  double *pv = tu_read(out, &k), *yv = tu_read(y, &k);
  for (int b = 0; b < 4; b++) {
    int64_t s[2] = {lens[b], 3};
    nn_tensor *pb = tu_make(NN_F64, 2, s, pv + starts[b] * 3), *yb = tu_make(NN_F64, 2, s, yv + starts[b] * 3);
    double v = 0;
    TU_OK(nn_loss_compute(NN_LOSS_MSE, pb, yb, &v, NULL));
    expect += v / 4;
    nn_tensor_free(pb);
    nn_tensor_free(yb);
  }
  nn_fit_options o = opts(1, 3, false, 0, NN_LOSS_MSE);
  nn_epoch_report last;
  TU_OK(nn_model_fit(m, opt, x, y, &o, &last));
  assert_near(last.loss, expect, 1e-6 * expect);
  /* full batch: the loss of the whole set */
  double whole = 0;
  TU_OK(nn_model_evaluate(m, x, y, NN_LOSS_MSE, &whole, NULL));
  o.batch_size = 0;
  TU_OK(nn_model_fit(m, opt, x, y, &o, &last));
  assert_near(last.loss, whole, 1e-6 * whole);
  free(pv);
  free(yv);
  nn_tensor_free(out);
  nn_optimizer_free(opt);
  nn_model_free(m);
  nn_tensor_free(x);
  nn_tensor_free(y);
}

static void test_validation_report(void **state) {
  (void)state;
  nn_tensor *x, *vx, *y0, *vy0;
  make_data(5, 30, 4, 3, &x, &y0);
  make_data(6, 12, 4, 3, &vx, &vy0);
  int64_t n = 30, vn = 12, ids[30], vids[12];
  for (int i = 0; i < 30; i++) ids[i] = i % 3;
  for (int i = 0; i < 12; i++) vids[i] = (i + 1) % 3;
  nn_tensor *y = tu_make_i64(NN_I64, 1, &n, ids), *vy = tu_make_i64(NN_I64, 1, &vn, vids);
  nn_model *m = make_model(3);
  nn_optimizer *opt = NULL;
  TU_OK(nn_optimizer_adam(m, 0.01, 0.9, 0.999, 1e-8, 0, false, &opt));
  rec c;
  rec_init(&c, m);
  c.vx = vx;
  c.vy = vy;
  c.loss = NN_LOSS_CROSS_ENTROPY;
  nn_fit_options o = opts(4, 8, true, 1, NN_LOSS_CROSS_ENTROPY);
  o.val_x = vx;
  o.val_y = vy;
  o.on_epoch = record;
  o.user_data = &c;
  TU_OK(nn_model_fit(m, opt, x, y, &o, NULL));
  assert_int_equal(c.calls, 4);
  for (int e = 0; e < 4; e++) {
    assert_near(c.r[e].val_loss, c.eval_loss[e], 1e-6 * c.eval_loss[e]);
    assert_near(c.r[e].val_accuracy, c.eval_acc[e], 1e-12);
    assert_true(c.r[e].val_accuracy >= 0 && c.r[e].val_accuracy <= 1);
    /* 12 samples: a multiple of 1/12 */
    assert_near(c.r[e].val_accuracy * 12, round(c.r[e].val_accuracy * 12), 1e-9);
  }
  /* regression loss with a validation set: val_loss set, accuracy NaN */
  nn_model *m2 = make_model(3);
  nn_optimizer *opt2 = NULL;
  TU_OK(nn_optimizer_sgd(m2, 0.05, 0, 0, false, &opt2));
  rec_init(&c, m2);
  nn_fit_options o2 = opts(2, 8, true, 1, NN_LOSS_MSE);
  o2.val_x = vx;
  o2.val_y = vy0;
  o2.on_epoch = record;
  o2.user_data = &c;
  TU_OK(nn_model_fit(m2, opt2, x, y0, &o2, NULL));
  assert_int_equal(c.calls, 2);
  assert_true(isfinite(c.r[1].val_loss));
  assert_true(isnan(c.r[1].val_accuracy));
  double v = 0;
  TU_OK(nn_model_evaluate(m2, vx, vy0, NN_LOSS_MSE, &v, NULL));
  assert_near(c.r[1].val_loss, v, 1e-6 * v);
  nn_optimizer_free(opt);
  nn_optimizer_free(opt2);
  nn_model_free(m);
  nn_model_free(m2);
  nn_tensor_free(x);
  nn_tensor_free(vx);
  nn_tensor_free(y0);
  nn_tensor_free(vy0);
  nn_tensor_free(y);
  nn_tensor_free(vy);
}

/* ---- cancel ------------------------------------------------------------------------ */

static void test_cancel_keeps_weights(void **state) {
  (void)state;
  nn_tensor *x, *y;
  make_data(7, 20, 4, 3, &x, &y);
  nn_model *m = make_model(4), *ref = make_model(4);
  nn_optimizer *opt = NULL, *ropt = NULL;
  TU_OK(nn_optimizer_sgd(m, 0.05, 0.5, 0, false, &opt));
  TU_OK(nn_optimizer_sgd(ref, 0.05, 0.5, 0, false, &ropt));
  rec c;
  rec_init(&c, m);
  c.stop_at = 2;
  nn_fit_options o = opts(10, 6, true, 3, NN_LOSS_MSE);
  o.on_epoch = record;
  o.user_data = &c;
  nn_epoch_report last;
  memset(&last, 0, sizeof last);
  TU_ERR(nn_model_fit(m, opt, x, y, &o, &last), NN_ERR_CANCELLED, NULL, "");
  assert_int_equal(c.calls, 3);
  assert_int_equal(last.epoch, 2);
  assert_int_equal(last.epochs, 10);
  /* the same 3 epochs without a callback give the same weights: kept, not rolled back */
  nn_fit_options o3 = opts(3, 6, true, 3, NN_LOSS_MSE);
  TU_OK(nn_model_fit(ref, ropt, x, y, &o3, NULL));
  if (!same_params(m, ref)) fail_msg("cancelled after epoch 2: weights differ from 3 epochs of training");
  nn_model *fresh = make_model(4);
  assert_false(same_params(m, fresh));
  nn_model_free(fresh);
  /* cancel at epoch 0 */
  rec_init(&c, m);
  c.stop_at = 0;
  TU_ERR(nn_model_fit(m, opt, x, y, &o, NULL), NN_ERR_CANCELLED, NULL, "");
  assert_int_equal(c.calls, 1);
  nn_optimizer_free(opt);
  nn_optimizer_free(ropt);
  nn_model_free(m);
  nn_model_free(ref);
  nn_tensor_free(x);
  nn_tensor_free(y);
}

/* ---- NaN / Inf rollback -------------------------------------------------------------- */

static void test_not_finite_rollback_to_last_finite_epoch(void **state) {
  (void)state;
  nn_tensor *x, *y;
  make_data(8, 16, 4, 3, &x, &y);
  const int64_t sizes[2] = {4, 3};
  nn_model *m = mlp_on_device(2, sizes, NN_ACT_IDENTITY, NN_ACT_IDENTITY);
  nn_optimizer *opt = NULL;
  /* full batch, lr far above 2/L: the weights grow ~x30 per epoch, so the
   * float32 loss overflows a few epochs before the weights would (a backend
   * that sums the loss in float64, as CUDA's does, sees the predictions or
   * the weights overflow first: NN_ERR_NOT_FINITE all the same) */
  TU_OK(nn_optimizer_sgd(m, 50.0, 0, 0, false, &opt));
  rec c;
  rec_init(&c, m);
  c.snapshot = true;
  nn_fit_options o = opts(60, 0, false, 0, NN_LOSS_MSE);
  o.on_epoch = record;
  o.user_data = &c;
  nn_epoch_report last;
  memset(&last, 0xcd, sizeof last);
  TU_ERR(nn_model_fit(m, opt, x, y, &o, &last), NN_ERR_NOT_FINITE, "nn_model_fit", "");
  assert_true(c.calls >= 2 && c.calls < 60);
  for (int e = 0; e < c.calls; e++) assert_true(isfinite(c.r[e].loss));
  int64_t n;
  float *p = params_raw(m, &n);
  for (int64_t i = 0; i < n; i++) assert_true(isfinite(p[i]));
  /* the weights at the end of the last epoch whose loss was finite */
  assert_memory_equal(p, c.snap[c.calls - 1], (size_t)n * sizeof(float));
  free(p);
  /* the model still works */
  double v = 0;
  TU_OK(nn_model_evaluate(m, x, y, NN_LOSS_MSE, &v, NULL));
  rec_free(&c);
  nn_optimizer_free(opt);
  nn_model_free(m);
  nn_tensor_free(x);
  nn_tensor_free(y);
}

static void test_not_finite_rollback_to_start(void **state) {
  (void)state;
  nn_tensor *x, *y;
  make_data(9, 8, 4, 3, &x, &y);
  nn_model *m = make_model(5);
  int64_t n;
  float *p0 = params_raw(m, &n);
  nn_optimizer *opt = NULL;
  /* online: the first step throws the weights to ~1e30, the second sample's loss is inf */
  TU_OK(nn_optimizer_sgd(m, 1e30, 0, 0, false, &opt));
  rec c;
  rec_init(&c, m);
  nn_fit_options o = opts(3, 1, false, 0, NN_LOSS_MSE);
  o.on_epoch = record;
  o.user_data = &c;
  TU_ERR(nn_model_fit(m, opt, x, y, &o, NULL), NN_ERR_NOT_FINITE, "nn_model_fit", "");
  assert_int_equal(c.calls, 0);
  float *p1 = params_raw(m, &n);
  assert_memory_equal(p0, p1, (size_t)n * sizeof(float));
  free(p0);
  free(p1);
  nn_optimizer_free(opt);
  nn_model_free(m);
  nn_tensor_free(x);
  nn_tensor_free(y);
}

/* Each fit rolls back to its own start, optimizer state (momentum, step
 * count) included, also when an earlier fit of the same optimizer saved
 * rollback points of its own. */
static void test_not_finite_rollback_per_fit_with_optimizer_state(void **state) {
  (void)state;
  nn_tensor *x, *y;
  make_data(11, 8, 4, 3, &x, &y);
  nn_model *m = make_model(7), *ref = make_model(7);
  nn_optimizer *opt = NULL, *ropt = NULL;
  TU_OK(nn_optimizer_sgd(m, 0.01, 0.9, 0, false, &opt));
  TU_OK(nn_optimizer_sgd(ref, 0.01, 0.9, 0, false, &ropt));
  nn_fit_options o = opts(3, 2, false, 0, NN_LOSS_MSE);
  TU_OK(nn_model_fit(m, opt, x, y, &o, NULL));
  TU_OK(nn_model_fit(ref, ropt, x, y, &o, NULL));
  int64_t n;
  float *p1 = params_raw(m, &n);
  /* diverges in its first epoch: back to the end of the earlier fit */
  TU_OK(nn_optimizer_set_lr(opt, 1e30));
  nn_fit_options o1 = opts(4, 1, false, 0, NN_LOSS_MSE);
  TU_ERR(nn_model_fit(m, opt, x, y, &o1, NULL), NN_ERR_NOT_FINITE, "nn_model_fit", "starting weights");
  float *p2 = params_raw(m, &n);
  assert_memory_equal(p1, p2, (size_t)n * sizeof(float));
  /* momentum buffers and step count were put back too: training on gives
   * the reference's weights bit for bit */
  TU_OK(nn_optimizer_set_lr(opt, 0.01));
  TU_OK(nn_model_fit(m, opt, x, y, &o, NULL));
  TU_OK(nn_model_fit(ref, ropt, x, y, &o, NULL));
  if (!same_params(m, ref)) fail_msg("after the rollback, training differs from the run that never diverged");
  free(p1);
  free(p2);
  nn_optimizer_free(opt);
  nn_optimizer_free(ropt);
  nn_model_free(m);
  nn_model_free(ref);
  nn_tensor_free(x);
  nn_tensor_free(y);
}

/* ---- early stopping ------------------------------------------------------------------- */

static int expected_stop(const rec *c, int patience, int epochs) {
  double best = INFINITY;
  int bad = 0;
  for (int e = 0; e < c->calls; e++) {
    if (c->r[e].val_loss < best) {
      best = c->r[e].val_loss;
      bad = 0;
    } else if (++bad >= patience) {
      return e + 1;
    }
  }
  return epochs;
}

static void test_early_stopping(void **state) {
  (void)state;
  nn_tensor *x, *y;
  make_data(10, 20, 4, 3, &x, &y);
  /* validation targets -y: the better the fit, the worse the validation loss */
  nn_tensor *neg = NULL;
  TU_OK(nn_binary_scalar(NN_OP_MUL, y, -1.0, &neg));
  nn_model *m = make_model(6);
  nn_optimizer *opt = NULL;
  TU_OK(nn_optimizer_sgd(m, 0.1, 0, 0, false, &opt));
  rec c;
  rec_init(&c, m);
  c.snapshot = true;
  nn_fit_options o = opts(50, 0, false, 0, NN_LOSS_MSE);
  o.val_x = x;
  o.val_y = neg;
  o.patience = 3;
  o.on_epoch = record;
  o.user_data = &c;
  nn_epoch_report last;
  TU_OK(nn_model_fit(m, opt, x, y, &o, &last));
  assert_int_equal(c.calls, expected_stop(&c, 3, 50));
  assert_true(c.calls < 50);
  assert_int_equal(last.epoch, c.calls - 1);
  /* the model keeps its last epoch's weights */
  int64_t n;
  float *p = params_raw(m, &n);
  assert_memory_equal(p, c.snap[c.calls - 1], (size_t)n * sizeof(float));
  free(p);
  rec_free(&c);
  /* validating on the training set itself: improves every epoch, runs them all */
  nn_model *m2 = make_model(6);
  nn_optimizer *opt2 = NULL;
  TU_OK(nn_optimizer_sgd(m2, 0.05, 0, 0, false, &opt2));
  rec_init(&c, m2);
  o.epochs = 12;
  o.val_y = y;
  o.patience = 1;
  TU_OK(nn_model_fit(m2, opt2, x, y, &o, &last));
  assert_int_equal(c.calls, expected_stop(&c, 1, 12));
  nn_optimizer_free(opt);
  nn_optimizer_free(opt2);
  nn_model_free(m);
  nn_model_free(m2);
  nn_tensor_free(neg);
  nn_tensor_free(x);
  nn_tensor_free(y);
}

/* ---- evaluate: loss and accuracy --------------------------------------------------------- */

static void set_linear(nn_model *m, const float *w, size_t wn, const float *b, size_t bn) {
  nn_layer *l = NULL;
  TU_OK(nn_model_layer(m, 0, &l));
  nn_tensor *p = NULL;
  TU_OK(nn_layer_param(l, NN_PARAM_WEIGHT, &p));
  TU_OK(nn_tensor_write(p, w, wn * sizeof(float)));
  nn_tensor_free(p);
  TU_OK(nn_layer_param(l, NN_PARAM_BIAS, &p));
  TU_OK(nn_tensor_write(p, b, bn * sizeof(float)));
  nn_tensor_free(p);
}

static void test_evaluate_accuracy(void **state) {
  (void)state;
  /* Linear(3, 3) = identity: the prediction is x itself */
  const int64_t s33[2] = {3, 3};
  nn_model *m = mlp_on_device(2, (const int64_t[]){3, 3}, NN_ACT_IDENTITY, NN_ACT_IDENTITY);
  const float eye[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1}, zero3[3] = {0, 0, 0};
  set_linear(m, eye, 9, zero3, 3);
  /* 5 samples, argmax 0, 2, 1, 1, 0 */
  const double xv[15] = {3, 1, 0, 0, 1, 2, 0.5, 4, 1, -1, 0, -2, 1, 0.5, 0.25};
  const int64_t xs[2] = {5, 3};
  nn_tensor *x = tu_make(NN_F32, 2, xs, xv);
  int64_t n = 5;
  const int64_t ids[5] = {0, 2, 0, 1, 1}; /* 3 of 5 right */
  nn_tensor *yid = tu_make_i64(NN_I64, 1, &n, ids);
  double loss = NAN, acc = NAN;
  TU_OK(nn_model_evaluate(m, x, yid, NN_LOSS_CROSS_ENTROPY, &loss, &acc));
  assert_near(acc, 0.6, 1e-12);
  double direct = 0;
  nn_tensor *pred = tu_make(NN_F32, 2, xs, xv);
  TU_OK(nn_loss_compute(NN_LOSS_CROSS_ENTROPY, pred, yid, &direct, NULL));
  assert_near(loss, direct, 1e-6 * direct);
  loss = NAN;
  TU_OK(nn_model_evaluate(m, x, yid, NN_LOSS_CROSS_ENTROPY, &loss, NULL)); /* accuracy NULL ok */
  assert_near(loss, direct, 1e-6 * direct);
  /* one-hot targets: the same accuracy */
  double oh[15] = {0};
  for (int i = 0; i < 5; i++) oh[i * 3 + ids[i]] = 1;
  nn_tensor *yoh = tu_make(NN_F32, 2, xs, oh);
  TU_OK(nn_model_evaluate(m, x, yoh, NN_LOSS_CROSS_ENTROPY, &loss, &acc));
  assert_near(acc, 0.6, 1e-12);
  assert_near(loss, direct, 1e-6 * direct);
  /* probability targets: argmax of the target */
  const double pr[15] = {0.6, 0.3, 0.1, 0.2, 0.2, 0.6, 0.1, 0.7, 0.2, 0.5, 0.3, 0.2, 0.1, 0.1, 0.8};
  /* target argmax 0, 2, 1, 0, 2 -> right: 1, 1, 1, 0, 0 */
  nn_tensor *ypr = tu_make(NN_F32, 2, xs, pr);
  TU_OK(nn_model_evaluate(m, x, ypr, NN_LOSS_CROSS_ENTROPY, &loss, &acc));
  assert_near(acc, 0.6, 1e-12);
  /* BCE_WITH_LOGITS over 3 columns of one-hot: argmax too */
  TU_OK(nn_model_evaluate(m, x, yoh, NN_LOSS_BCE_WITH_LOGITS, &loss, &acc));
  assert_near(acc, 0.6, 1e-12);
  /* regression loss: accuracy NaN */
  TU_OK(nn_model_evaluate(m, x, yoh, NN_LOSS_MSE, &loss, &acc));
  assert_true(isnan(acc));
  double mse = 0;
  TU_OK(nn_loss_compute(NN_LOSS_MSE, pred, yoh, &mse, NULL));
  assert_near(loss, mse, 1e-6 * mse);
  nn_tensor_free(x);
  nn_tensor_free(yid);
  nn_tensor_free(yoh);
  nn_tensor_free(ypr);
  nn_tensor_free(pred);
  nn_model_free(m);
  (void)s33;

  /* one column: Linear(1, 1) = identity, then sigmoid (BCE) or logits (BCE_WITH_LOGITS) */
  const int64_t s61[2] = {6, 1};
  const double z[6] = {-2, -0.5, 0, 0.5, 3, -4};       /* sigmoid >= 0.5: 0 0 1 1 1 0 */
  const double t[6] = {0, 1, 1, 0.7, 1, 0.2};          /* thresholded:   0 1 1 1 1 0 -> 5/6 */
  const float one[1] = {1}, zb[1] = {0};
  nn_tensor *xz = tu_make(NN_F32, 2, s61, z), *yt = tu_make(NN_F32, 2, s61, t);
  m = mlp_on_device(2, (const int64_t[]){1, 1}, NN_ACT_IDENTITY, NN_ACT_IDENTITY);
  set_linear(m, one, 1, zb, 1);
  TU_OK(nn_model_evaluate(m, xz, yt, NN_LOSS_BCE_WITH_LOGITS, &loss, &acc));
  assert_near(acc, 5.0 / 6, 1e-12);
  nn_model_free(m);
  m = mlp_on_device(2, (const int64_t[]){1, 1}, NN_ACT_IDENTITY, NN_ACT_SIGMOID);
  set_linear(m, one, 1, zb, 1);
  TU_OK(nn_model_evaluate(m, xz, yt, NN_LOSS_BCE, &loss, &acc));
  assert_near(acc, 5.0 / 6, 1e-12);
  double ref = 0;
  for (int i = 0; i < 6; i++) {
    double p = 1 / (1 + exp(-z[i]));
    ref -= (t[i] * log(p) + (1 - t[i]) * log(1 - p)) / 6;
  }
  assert_near(loss, ref, 1e-5 * ref);
  nn_model_free(m);
  nn_tensor_free(xz);
  nn_tensor_free(yt);
}

/* evaluate leaves the model alone (weights and gradients) */
static void test_evaluate_no_side_effects(void **state) {
  (void)state;
  nn_tensor *x, *y;
  make_data(11, 6, 4, 3, &x, &y);
  nn_model *m = make_model(8);
  double l = 0;
  TU_OK(nn_model_backward(m, x, y, NN_LOSS_MSE, &l));
  nn_layer *l0 = NULL;
  TU_OK(nn_model_layer(m, 0, &l0));
  nn_tensor *g0 = NULL, *g1 = NULL;
  TU_OK(nn_layer_grad(l0, NN_PARAM_WEIGHT, &g0));
  int64_t n;
  float *p0 = params_raw(m, &n);
  double v = 0;
  TU_OK(nn_model_evaluate(m, x, y, NN_LOSS_MSE, &v, NULL));
  assert_near(v, l, 1e-6 * l);
  float *p1 = params_raw(m, &n);
  assert_memory_equal(p0, p1, (size_t)n * sizeof(float));
  TU_OK(nn_layer_grad(l0, NN_PARAM_WEIGHT, &g1));
  int64_t k;
  double *a = tu_read(g0, &k), *b = tu_read(g1, &k);
  tu_assert_close(a, b, k, 0, 0, "gradients after evaluate");
  free(a);
  free(b);
  free(p0);
  free(p1);
  nn_tensor_free(g0);
  nn_tensor_free(g1);
  nn_model_free(m);
  nn_tensor_free(x);
  nn_tensor_free(y);
}

/* a float64 model trains on float32 data (converted) like the float32 model */
static void test_fit_f64_model(void **state) {
  (void)state;
  nn_tensor *x, *y;
  make_data(12, 20, 4, 3, &x, &y);
  nn_model *a = make_model(9), *b = make_model(9);
  TU_OK(nn_model_to_dtype(b, NN_F64));
  nn_optimizer *oa = NULL, *ob = NULL;
  TU_OK(nn_optimizer_adam(a, 0.01, 0.9, 0.999, 1e-8, 0, false, &oa));
  TU_OK(nn_optimizer_adam(b, 0.01, 0.9, 0.999, 1e-8, 0, false, &ob));
  nn_fit_options o = opts(5, 4, true, 3, NN_LOSS_MSE);
  nn_epoch_report la, lb;
  TU_OK(nn_model_fit(a, oa, x, y, &o, &la));
  TU_OK(nn_model_fit(b, ob, x, y, &o, &lb));
  assert_near(la.loss, lb.loss, 1e-4 * lb.loss);
  for (int i = 0; i < nn_model_num_layers(a); i++) {
    nn_layer *l1 = NULL, *l2 = NULL;
    TU_OK(nn_model_layer(a, i, &l1));
    TU_OK(nn_model_layer(b, i, &l2));
    if (nn_layer_kind_of(l1) != NN_LAYER_LINEAR) continue;
    nn_tensor *p1 = NULL, *p2 = NULL;
    TU_OK(nn_layer_param(l1, NN_PARAM_WEIGHT, &p1));
    TU_OK(nn_layer_param(l2, NN_PARAM_WEIGHT, &p2));
    assert_int_equal(nn_tensor_dtype(p2), NN_F64);
    int64_t k;
    double *v1 = tu_read(p1, &k), *v2 = tu_read(p2, &k);
    tu_assert_close(v1, v2, k, 1e-4, 1e-5, "float32 vs float64 model after fit");
    free(v1);
    free(v2);
    nn_tensor_free(p1);
    nn_tensor_free(p2);
  }
  nn_optimizer_free(oa);
  nn_optimizer_free(ob);
  nn_model_free(a);
  nn_model_free(b);
  nn_tensor_free(x);
  nn_tensor_free(y);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_options_defaults),
      cmocka_unit_test(test_shuffle_reproducible),
      cmocka_unit_test(test_reproducible_bitwise),
      cmocka_unit_test(test_reports_and_step_lr),
      cmocka_unit_test(test_epoch_loss_is_mean_of_batches),
      cmocka_unit_test(test_validation_report),
      cmocka_unit_test(test_cancel_keeps_weights),
      cmocka_unit_test(test_not_finite_rollback_to_last_finite_epoch),
      cmocka_unit_test(test_not_finite_rollback_to_start),
      cmocka_unit_test(test_not_finite_rollback_per_fit_with_optimizer_state),
      cmocka_unit_test(test_early_stopping),
      cmocka_unit_test(test_evaluate_accuracy),
      cmocka_unit_test(test_evaluate_no_side_effects),
      cmocka_unit_test(test_fit_f64_model),
  };
  return tu_run_group(tests);
}
