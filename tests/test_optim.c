/* Parity with PyTorch: optimizers (SGD plain/momentum/Nesterov/weight decay,
 * Adam, Adam + L2, AdamW), StepLR, every loss through a model, and
 * nn_model_fit without shuffling (online, minibatch with a last partial
 * batch, full batch), replayed from tests/fixtures/torch_fixtures.h (written
 * by tests/fixtures/make_torch_fixtures.py) in float32 over 20+ steps.
 *
 * Each fixture runs twice: through the step API (zero_grad, backward, step,
 * epoch_end) and through nn_model_fit(shuffle = false).
 *
 * Device-generic: the model is moved to tu_device() before its optimizer is
 * created, and the data live there too. */
#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TF_NO_LOSS_CASES
#include "fixtures/torch_fixtures.h"

#define RTOL 1e-5
#define ATOL 1e-6

/* ---- helpers ---------------------------------------------------------------- */

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

/* Writes a flat parameter vector (weight [out, in] then bias, per Linear). */
static void params_set(nn_model *m, const float *v, int n_expected) {
  int off = 0;
  for (int i = 0; i < nn_model_num_layers(m); i++) {
    nn_layer *l = NULL;
    TU_OK(nn_model_layer(m, i, &l));
    if (nn_layer_kind_of(l) != NN_LAYER_LINEAR) continue;
    for (int w = 0; w < 2; w++) {
      nn_tensor *p = NULL;
      TU_OK(nn_layer_param(l, (nn_param)w, &p));
      int64_t k = nn_tensor_numel(p);
      TU_OK(nn_tensor_write(p, v + off, (size_t)k * sizeof(float)));
      off += (int)k;
      nn_tensor_free(p);
    }
  }
  assert_int_equal(off, n_expected);
}

static double *params_get(nn_model *m, int n_expected) {
  double *out = calloc((size_t)n_expected, sizeof(double));
  int off = 0;
  for (int i = 0; i < nn_model_num_layers(m); i++) {
    nn_layer *l = NULL;
    TU_OK(nn_model_layer(m, i, &l));
    if (nn_layer_kind_of(l) != NN_LAYER_LINEAR) continue;
    for (int w = 0; w < 2; w++) {
      nn_tensor *p = NULL;
      TU_OK(nn_layer_param(l, (nn_param)w, &p));
      int64_t k = 0;
      double *v = tu_read(p, &k);
      assert_true(off + k <= n_expected);
      memcpy(out + off, v, (size_t)k * sizeof(double));
      off += (int)k;
      free(v);
      nn_tensor_free(p);
    }
  }
  assert_int_equal(off, n_expected);
  return out;
}

typedef struct setup {
  nn_model *m;
  nn_optimizer *opt;
  nn_tensor *x, *y;
} setup;

static setup make_setup(const tf_scenario *s) {
  setup u;
  memset(&u, 0, sizeof u);
  TU_OK(nn_model_mlp(s->n_sizes, s->sizes, (nn_activation)s->hidden, (nn_activation)s->output, &u.m));
  TU_OK(nn_model_to(u.m, tu_device()));
  assert_int_equal(nn_model_num_params(u.m), s->n_params);
  params_set(u.m, s->init, s->n_params);
  if (s->opt_adam)
    TU_OK(nn_optimizer_adam(u.m, s->lr, s->beta1, s->beta2, s->eps, s->weight_decay, s->decoupled != 0, &u.opt));
  else
    TU_OK(nn_optimizer_sgd(u.m, s->lr, s->momentum, s->weight_decay, s->nesterov != 0, &u.opt));
  if (s->step_size > 0) TU_OK(nn_optimizer_set_step_lr(u.opt, s->step_size, s->gamma));
  int64_t xs[2] = {s->n, s->sizes[0]};
  u.x = from_f32(2, xs, s->x);
  if (s->target_ids) {
    u.y = from_i64(s->n, s->y_ids);
  } else {
    int64_t ys[2] = {s->n, s->sizes[s->n_sizes - 1]};
    u.y = from_f32(2, ys, s->y);
  }
  return u;
}

static void free_setup(setup *u) {
  nn_optimizer_free(u->opt);
  nn_model_free(u->m);
  nn_tensor_free(u->x);
  nn_tensor_free(u->y);
}

static void check_final(const tf_scenario *s, nn_model *m, const char *how) {
  double *got = params_get(m, s->n_params);
  double *exp = malloc((size_t)s->n_params * sizeof(double));
  for (int i = 0; i < s->n_params; i++) exp[i] = s->final[i];
  char ctx[160];
  snprintf(ctx, sizeof ctx, "%s (%s): final parameters", s->name, how);
  tu_assert_close(got, exp, s->n_params, RTOL, ATOL, ctx);
  free(got);
  free(exp);
}

/* ---- the step API: zero_grad, backward (all samples), step, epoch_end ------- */

static void test_steps(void **state) {
  const tf_scenario *s = (const tf_scenario *)*state;
  assert_false(s->fit);
  setup u = make_setup(s);
  double *losses = malloc((size_t)s->steps * sizeof(double));
  double *lrs = malloc((size_t)s->steps * sizeof(double));
  for (int k = 0; k < s->steps; k++) {
    lrs[k] = nn_optimizer_lr(u.opt);
    TU_OK(nn_optimizer_zero_grad(u.opt));
    TU_OK(nn_model_backward(u.m, u.x, u.y, (nn_loss)s->loss, &losses[k]));
    TU_OK(nn_optimizer_step(u.opt));
    TU_OK(nn_optimizer_epoch_end(u.opt));
  }
  char ctx[160];
  snprintf(ctx, sizeof ctx, "%s (steps): lr per step", s->name);
  tu_assert_close(lrs, s->lrs, s->steps, 1e-12, 0.0, ctx);
  snprintf(ctx, sizeof ctx, "%s (steps): loss per step", s->name);
  tu_assert_close(losses, s->losses, s->steps, RTOL, ATOL, ctx);
  check_final(s, u.m, "steps");
  free(losses);
  free(lrs);
  free_setup(&u);
}

/* The same steps in float64 (nn_model_to_dtype after loading the float32
 * start): the fixture generator checked that PyTorch's float32 and float64
 * runs agree to 2e-6, so this must match the fixture to 1e-5 as well. */
static void test_steps_f64(void **state) {
  const tf_scenario *s = (const tf_scenario *)*state;
  setup u = make_setup(s);
  nn_optimizer_free(u.opt);
  TU_OK(nn_model_to_dtype(u.m, NN_F64));
  assert_int_equal(nn_model_dtype(u.m), NN_F64);
  if (s->opt_adam)
    TU_OK(nn_optimizer_adam(u.m, s->lr, s->beta1, s->beta2, s->eps, s->weight_decay, s->decoupled != 0, &u.opt));
  else
    TU_OK(nn_optimizer_sgd(u.m, s->lr, s->momentum, s->weight_decay, s->nesterov != 0, &u.opt));
  if (s->step_size > 0) TU_OK(nn_optimizer_set_step_lr(u.opt, s->step_size, s->gamma));
  nn_tensor *x64 = NULL, *y64 = NULL;
  TU_OK(nn_tensor_to_dtype(u.x, NN_F64, &x64));
  if (s->target_ids) TU_OK(nn_tensor_clone(u.y, &y64));
  else TU_OK(nn_tensor_to_dtype(u.y, NN_F64, &y64));
  double *losses = malloc((size_t)s->steps * sizeof(double));
  for (int k = 0; k < s->steps; k++) {
    TU_OK(nn_optimizer_zero_grad(u.opt));
    TU_OK(nn_model_backward(u.m, x64, y64, (nn_loss)s->loss, &losses[k]));
    TU_OK(nn_optimizer_step(u.opt));
    TU_OK(nn_optimizer_epoch_end(u.opt));
  }
  char ctx[160];
  snprintf(ctx, sizeof ctx, "%s (float64 steps): loss per step", s->name);
  tu_assert_close(losses, s->losses, s->steps, RTOL, ATOL, ctx);
  check_final(s, u.m, "float64 steps");
  free(losses);
  nn_tensor_free(x64);
  nn_tensor_free(y64);
  free_setup(&u);
}

/* ---- nn_model_fit (shuffle off) --------------------------------------------- */

typedef struct rec {
  int calls;
  int max;
  double loss[64], lr[64];
  int epoch[64];
} rec;

static int record(const nn_epoch_report *r, void *ud) {
  rec *c = (rec *)ud;
  if (c->calls < 64) {
    c->loss[c->calls] = r->loss;
    c->lr[c->calls] = r->lr;
    c->epoch[c->calls] = r->epoch;
  }
  c->calls++;
  return 0;
}

static void run_fit(const tf_scenario *s, int64_t batch_size, const char *how) {
  setup u = make_setup(s);
  rec c;
  memset(&c, 0, sizeof c);
  nn_fit_options o;
  nn_fit_options_init(&o);
  o.epochs = s->steps;
  o.batch_size = batch_size;
  o.shuffle = false;
  o.loss = (nn_loss)s->loss;
  o.on_epoch = record;
  o.user_data = &c;
  nn_epoch_report last;
  memset(&last, 0, sizeof last);
  TU_OK(nn_model_fit(u.m, u.opt, u.x, u.y, &o, &last));
  assert_int_equal(c.calls, s->steps);
  for (int k = 0; k < s->steps; k++) assert_int_equal(c.epoch[k], k);
  char ctx[160];
  snprintf(ctx, sizeof ctx, "%s (%s): lr per epoch", s->name, how);
  tu_assert_close(c.lr, s->lrs, s->steps, 1e-12, 0.0, ctx);
  snprintf(ctx, sizeof ctx, "%s (%s): mean batch loss per epoch", s->name, how);
  tu_assert_close(c.loss, s->losses, s->steps, RTOL, ATOL, ctx);
  assert_int_equal(last.epoch, s->steps - 1);
  assert_int_equal(last.epochs, s->steps);
  assert_true(last.loss == c.loss[s->steps - 1]);
  check_final(s, u.m, how);
  free_setup(&u);
}

static void test_fit(void **state) {
  const tf_scenario *s = (const tf_scenario *)*state;
  if (s->fit) {
    run_fit(s, s->batch_size, "fit");
  } else {
    /* a "steps" fixture is full-batch training: batch_size 0, and a batch
     * larger than the data set gives the same single batch */
    run_fit(s, 0, "fit, batch_size 0");
    run_fit(s, 1000, "fit, batch_size > n");
  }
}

/* ---- many parameter tensors --------------------------------------------------
 * A 36-layer MLP has 72 parameter tensors: more than one CUDA multi-tensor
 * launch holds (64), of sizes from 2 to 90,000 elements (a tensor spanning
 * hundreds of blocks). Three steps of each optimizer against a float64 host
 * reference computed from the parameters and gradients read back before
 * each step (torch.optim single-tensor order: weight decay, momentum
 * buffer cloned on the first step, Nesterov; Adam's bias corrections, L2
 * into the gradient, AdamW's decoupled decay), in F32 and F64. */
typedef struct many_ref {
  double *p, *g, *m, *v;
  int64_t n;
} many_ref;

/* Copies the model's parameters (or gradients) into out; returns the count. */
static int64_t many_read(nn_model *m, double *out, bool grads) {
  int64_t n = 0;
  double *v = tu_model_values(m, grads, &n);
  memcpy(out, v, (size_t)n * sizeof(double));
  free(v);
  return n;
}

static void check_many_params(nn_dtype dt, int which) {
  int64_t sizes[37];
  sizes[0] = 3;
  sizes[1] = 300;
  sizes[2] = 300;
  for (int i = 3; i < 36; i++) sizes[i] = 4 + i % 3;
  sizes[36] = 2;
  nn_model *m = NULL;
  TU_OK(nn_model_mlp(37, sizes, NN_ACT_TANH, NN_ACT_IDENTITY, &m));
  TU_OK(nn_model_init(m, NN_INIT_TORCH_DEFAULT, 99));
  if (dt == NN_F64) TU_OK(nn_model_to_dtype(m, NN_F64));
  TU_OK(nn_model_to(m, tu_device()));
  const int64_t np = nn_model_num_params(m);
  many_ref R;
  R.n = np;
  R.p = malloc((size_t)np * sizeof(double));
  R.g = malloc((size_t)np * sizeof(double));
  R.m = calloc((size_t)np, sizeof(double));
  R.v = calloc((size_t)np, sizeof(double));
  double *got = malloc((size_t)np * sizeof(double));
  const double lr = 0.05, mom = 0.9, wd = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8;
  nn_optimizer *opt = NULL;
  if (which == 0) TU_OK(nn_optimizer_sgd(m, lr, mom, wd, true, &opt));
  else TU_OK(nn_optimizer_adam(m, lr, b1, b2, eps, wd, which == 2, &opt));
  tu_rng r = tu_rng_make(5);
  const int64_t xs[2] = {6, 3}, ys[2] = {6, 2};
  double xv[18], yv[12];
  tu_rng_fill(&r, dt, xv, 18, -2, 2);
  tu_rng_fill(&r, dt, yv, 12, -1, 1);
  nn_tensor *x = tu_make(dt, 2, xs, xv), *y = tu_make(dt, 2, ys, yv);
  static const char *names[3] = {"SGD (momentum, Nesterov, weight decay)", "Adam (L2)", "AdamW"};
  for (int t = 1; t <= 3; t++) {
    double loss = NAN;
    TU_OK(nn_optimizer_zero_grad(opt));
    TU_OK(nn_model_backward(m, x, y, NN_LOSS_MSE, &loss));
    assert_int_equal(many_read(m, R.p, false), np);
    assert_int_equal(many_read(m, R.g, true), np);
    for (int64_t i = 0; i < np; i++) {
      double p = R.p[i], g = R.g[i];
      if (which == 0) {
        double d = g + wd * p;
        R.m[i] = t == 1 ? d : R.m[i] * mom + d;
        d = d + mom * R.m[i];
        R.p[i] = p - lr * d;
      } else {
        if (which == 2) p = p * (1 - lr * wd);
        else g = g + wd * p;
        R.m[i] = R.m[i] * b1 + (1 - b1) * g;
        R.v[i] = R.v[i] * b2 + (1 - b2) * g * g;
        const double bc1 = 1 - pow(b1, t), bc2 = 1 - pow(b2, t);
        R.p[i] = p - (lr / bc1) * (R.m[i] / (sqrt(R.v[i]) / sqrt(bc2) + eps));
      }
    }
    TU_OK(nn_optimizer_step(opt));
    many_read(m, got, false);
    char ctx[128];
    snprintf(ctx, sizeof ctx, "%s, %s, %lld parameters: step %d", names[which], tu_dtype_name(dt), (long long)np, t);
    tu_assert_close(got, R.p, np, dt == NN_F64 ? 1e-12 : 2e-5, dt == NN_F64 ? 1e-12 : 2e-6, ctx);
  }
  nn_tensor_free(x);
  nn_tensor_free(y);
  nn_optimizer_free(opt);
  nn_model_free(m);
  free(R.p);
  free(R.g);
  free(R.m);
  free(R.v);
  free(got);
}

static void test_many_parameter_tensors(void **state) {
  (void)state;
  for (int d = 0; d < 2; d++)
    for (int which = 0; which < 3; which++) check_many_params(d ? NN_F64 : NN_F32, which);
}

/* Appends one named case to the table being built in main. */
static void add_case(struct CMUnitTest *tests, size_t *n, char *name, CMUnitTestFunction f, const void *state) {
  tests[*n].name = name;
  tests[*n].test_func = f;
  tests[*n].setup_func = NULL;
  tests[*n].teardown_func = NULL;
  tests[*n].initial_state = (void *)state;
  ++*n;
}

int main(void) {
  struct CMUnitTest tests[3 * TF_N_SCENARIOS + 1];
  static char names[3 * TF_N_SCENARIOS + 1][96];
  size_t n = 0;
  for (int i = 0; i < TF_N_SCENARIOS; i++) {
    const tf_scenario *s = &tf_scenarios[i];
    if (!s->fit) {
      snprintf(names[n], sizeof names[n], "steps_%s", s->name);
      add_case(tests, &n, names[n], test_steps, s);
      snprintf(names[n], sizeof names[n], "steps_f64_%s", s->name);
      add_case(tests, &n, names[n], test_steps_f64, s);
    }
    snprintf(names[n], sizeof names[n], "fit_%s", s->name);
    add_case(tests, &n, names[n], test_fit, s);
  }
  snprintf(names[n], sizeof names[n], "many_parameter_tensors");
  add_case(tests, &n, names[n], test_many_parameter_tensors, NULL);
  /* tu_run_group() needs a full array; only the first n entries are filled */
  return tu_run_group_impl(__FILE__, tests, n);
}
