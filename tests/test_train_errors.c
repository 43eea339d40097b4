/* Every error path of the training API (layers, models, losses, backward,
 * optimizers, fit, evaluate): the status, a message that starts with the
 * function name and names the argument (shapes: both of them), outputs left
 * alone, and the model (weights, gradients) and optimizer untouched.
 *
 * Device-generic: tensors, models and the layers under test live on
 * tu_device(); the cases about device errors keep their explicit devices. */
#include "test_util.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------------ */

/* nn_last_error() names `word` as a whole word (not inside a longer identifier). */
#define assert_names(word) assert_names_at((word), __FILE__, __LINE__)
static void assert_names_at(const char *word, const char *file, int line) {
  const char *msg = nn_last_error();
  size_t n = strlen(word);
  for (const char *p = msg; (p = strstr(p, word)) != NULL; p++) {
    bool left = p == msg || !(isalnum((unsigned char)p[-1]) || p[-1] == '_');
    bool right = !(isalnum((unsigned char)p[n]) || p[n] == '_');
    if (left && right) return;
  }
  _fail(file, line);
  print_error("message does not name \"%s\": \"%s\"\n", word, msg);
}

typedef struct snap {
  int64_t n;
  float *p, *g;
  double lr;
} snap;

static float *collect(nn_model *m, bool grads, int64_t *count) {
  int64_t total = nn_model_num_params(m), off = 0;
  float *out = malloc((size_t)(total ? total : 1) * sizeof(float));
  for (int i = 0; i < nn_model_num_layers(m); i++) {
    nn_layer *l = NULL;
    TU_OK(nn_model_layer(m, i, &l));
    if (nn_layer_kind_of(l) != NN_LAYER_LINEAR) continue;
    for (int w = 0; w < 2; w++) {
      nn_tensor *t = NULL;
      if (nn_layer_param(l, (nn_param)w, &t) != NN_OK) continue;
      if (grads) {
        nn_tensor_free(t);
        TU_OK(nn_layer_grad(l, (nn_param)w, &t));
      }
      int64_t k = nn_tensor_numel(t);
      TU_OK(nn_tensor_read(t, out + off, (size_t)k * sizeof(float)));
      off += k;
      nn_tensor_free(t);
    }
  }
  *count = total;
  return out;
}

static snap take(nn_model *m, nn_optimizer *opt) {
  snap s;
  s.p = collect(m, false, &s.n);
  s.g = collect(m, true, &s.n);
  s.lr = opt ? nn_optimizer_lr(opt) : 0;
  return s;
}

/* weights, gradients and learning rate unchanged since `before` */
#define assert_untouched(m, opt, before) assert_untouched_at((m), (opt), (before), __FILE__, __LINE__)
static void assert_untouched_at(nn_model *m, nn_optimizer *opt, const snap *before, const char *file, int line) {
  snap now = take(m, opt);
  bool ok = now.n == before->n && memcmp(now.p, before->p, (size_t)now.n * sizeof(float)) == 0;
  bool gok = now.n == before->n && memcmp(now.g, before->g, (size_t)now.n * sizeof(float)) == 0;
  bool lok = !opt || now.lr == before->lr;
  free(now.p);
  free(now.g);
  if (!ok || !gok || !lok) {
    _fail(file, line);
    print_error("model changed by a failing call: weights %s, gradients %s, lr %s\n", ok ? "same" : "CHANGED",
                gok ? "same" : "CHANGED", lok ? "same" : "CHANGED");
  }
}

static void snap_free(snap *s) {
  free(s->p);
  free(s->g);
}

static nn_tensor *f32(int64_t r, int64_t c, double fill) {
  int64_t s[2] = {r, c};
  nn_tensor *t = NULL;
  TU_OK(nn_tensor_full(NN_F32, 2, s, fill, tu_device(), &t));
  return t;
}

static nn_tensor *ids_of(int64_t n, const int64_t *v) { return tu_make_i64(NN_I64, 1, &n, v); }

/* nn_model_mlp (built on the CPU) moved to tu_device(), before any optimizer
 * is made for it (nn.h: move the model first). */
static nn_model *mlp_on_device(int n_sizes, const int64_t *sizes, nn_activation hidden, nn_activation output) {
  nn_model *m = NULL;
  TU_OK(nn_model_mlp(n_sizes, sizes, hidden, output, &m));
  TU_OK(nn_model_to(m, tu_device()));
  return m;
}

/* A free-standing layer on tu_device(). Layers are made on the CPU and only
 * nn_model_to() moves them (nn.h, "Layers"), so off the CPU the layer goes
 * into a one-layer model moved there and is borrowed from it: *holder owns
 * it. On the CPU the layer stays free-standing (*holder NULL). */
static nn_layer *layer_on_device(nn_layer *l, nn_model **holder) {
  *holder = NULL;
  if (tu_on_cpu()) return l;
  TU_OK(nn_model_create(holder));
  TU_OK(nn_model_to(*holder, tu_device()));
  TU_OK(nn_model_add(*holder, l));
  TU_OK(nn_model_layer(*holder, 0, &l));
  return l;
}

static void free_layer_on_device(nn_layer *l, nn_model *holder) {
  if (holder) nn_model_free(holder);
  else nn_layer_free(l);
}

/* A 3-4-2 tanh model with non-zero gradients, its SGD optimizer, data x [6, 3], y [6, 2]. */
typedef struct fix {
  nn_model *m;
  nn_optimizer *opt;
  nn_tensor *x, *y;
} fix;

static fix make_fix(void) {
  fix f;
  const int64_t sizes[3] = {3, 4, 2};
  f.m = mlp_on_device(3, sizes, NN_ACT_TANH, NN_ACT_IDENTITY);
  TU_OK(nn_optimizer_sgd(f.m, 0.1, 0.9, 0, false, &f.opt));
  double xv[18], yv[12];
  for (int i = 0; i < 18; i++) xv[i] = 0.25 * (i % 7) - 0.6;
  for (int i = 0; i < 12; i++) yv[i] = 0.5 * (i % 3) - 0.4;
  const int64_t xs[2] = {6, 3}, ys[2] = {6, 2};
  f.x = tu_make(NN_F32, 2, xs, xv);
  f.y = tu_make(NN_F32, 2, ys, yv);
  double l = 0;
  TU_OK(nn_model_backward(f.m, f.x, f.y, NN_LOSS_MSE, &l)); /* gradients non-zero */
  return f;
}

static void free_fix(fix *f) {
  nn_optimizer_free(f->opt);
  nn_model_free(f->m);
  nn_tensor_free(f->x);
  nn_tensor_free(f->y);
}

/* ---- layers ---------------------------------------------------------------------- */

static void test_layer_errors(void **state) {
  (void)state;
  nn_layer *l = (nn_layer *)TU_SENTINEL;
  TU_ERR(nn_layer_linear(0, 3, true, &l), NN_ERR_INVALID_ARGUMENT, "nn_layer_linear", "0");
  assert_names("in_features");
  TU_ERR(nn_layer_linear(3, -1, true, &l), NN_ERR_INVALID_ARGUMENT, "nn_layer_linear", "-1");
  assert_names("out_features");
  TU_ERR(nn_layer_linear(3, 2, true, NULL), NN_ERR_INVALID_ARGUMENT, "nn_layer_linear", "");
  assert_names("out");
  TU_ERR(nn_layer_activation((nn_activation)7, &l), NN_ERR_INVALID_ARGUMENT, "nn_layer_activation", "7");
  assert_names("act");
  TU_ERR(nn_layer_activation((nn_activation)-1, &l), NN_ERR_INVALID_ARGUMENT, "nn_layer_activation", "-1");
  TU_ERR(nn_layer_activation(NN_ACT_RELU, NULL), NN_ERR_INVALID_ARGUMENT, "nn_layer_activation", "");
  assert_ptr_equal(l, TU_SENTINEL);
  nn_layer_free(NULL);
  assert_int_equal((int)nn_layer_kind_of(NULL), -1);

  TU_OK(nn_layer_linear(3, 2, true, &l));
  nn_model *lholder = NULL;
  l = layer_on_device(l, &lholder);
  nn_tensor *t = TU_SENTINEL;
  TU_ERR(nn_layer_param(NULL, NN_PARAM_WEIGHT, &t), NN_ERR_INVALID_ARGUMENT, "nn_layer_param", "");
  assert_names("layer");
  TU_ERR(nn_layer_param(l, (nn_param)2, &t), NN_ERR_INVALID_ARGUMENT, "nn_layer_param", "2");
  assert_names("which");
  TU_ERR(nn_layer_param(l, NN_PARAM_WEIGHT, NULL), NN_ERR_INVALID_ARGUMENT, "nn_layer_param", "");
  TU_ERR(nn_layer_grad(NULL, NN_PARAM_WEIGHT, &t), NN_ERR_INVALID_ARGUMENT, "nn_layer_grad", "");
  TU_ERR(nn_layer_grad(l, (nn_param)-1, &t), NN_ERR_INVALID_ARGUMENT, "nn_layer_grad", "");
  assert_names("which");
  TU_ERR(nn_layer_grad(l, NN_PARAM_BIAS, NULL), NN_ERR_INVALID_ARGUMENT, "nn_layer_grad", "");
  assert_ptr_equal(t, TU_SENTINEL);

  /* forward: wrong feature count (both shapes), integer x, F64 x into an F32 Linear, NULLs */
  nn_tensor *x = f32(4, 5, 1.0), *y = TU_SENTINEL;
  TU_ERR(nn_layer_forward(l, x, &y), NN_ERR_SHAPE, "nn_layer_forward", "[4, 5]", ", 3]");
  nn_tensor_free(x);
  const int64_t s[1] = {2};
  TU_OK(nn_tensor_zeros(NN_F32, 1, s, tu_device(), &x));
  TU_ERR(nn_layer_forward(l, x, &y), NN_ERR_SHAPE, "nn_layer_forward", "[2]", ", 3]");
  nn_tensor_free(x);
  const int64_t s3[2] = {4, 3};
  TU_OK(nn_tensor_zeros(NN_I32, 2, s3, tu_device(), &x));
  TU_ERR(nn_layer_forward(l, x, &y), NN_ERR_DTYPE, "nn_layer_forward", "int32");
  nn_tensor_free(x);
  TU_OK(nn_tensor_zeros(NN_F64, 2, s3, tu_device(), &x));
  TU_ERR(nn_layer_forward(l, x, &y), NN_ERR_DTYPE, "nn_layer_forward", "float64");
  TU_ERR(nn_layer_forward(NULL, x, &y), NN_ERR_INVALID_ARGUMENT, "nn_layer_forward", "");
  assert_names("layer");
  TU_ERR(nn_layer_forward(l, NULL, &y), NN_ERR_INVALID_ARGUMENT, "nn_layer_forward", "");
  assert_names("x");
  TU_ERR(nn_layer_forward(l, x, NULL), NN_ERR_INVALID_ARGUMENT, "nn_layer_forward", "");
  assert_names("y");
  assert_ptr_equal(y, TU_SENTINEL);
  nn_tensor_free(x);
  /* an activation layer on integers */
  nn_layer *a = NULL;
  TU_OK(nn_layer_activation(NN_ACT_SIGMOID, &a));
  nn_model *aholder = NULL;
  a = layer_on_device(a, &aholder);
  TU_OK(nn_tensor_zeros(NN_I64, 2, s3, tu_device(), &x));
  TU_ERR(nn_layer_forward(a, x, &y), NN_ERR_DTYPE, "nn_layer_forward", "");
  nn_tensor_free(x);
  free_layer_on_device(a, aholder);
  free_layer_on_device(l, lholder);
}

/* ---- models ------------------------------------------------------------------------- */

static void test_model_errors(void **state) {
  (void)state;
  nn_model *m = (nn_model *)TU_SENTINEL;
  const int64_t sizes[3] = {2, 3, 1}, bad[3] = {2, 0, 1};
  TU_ERR(nn_model_create(NULL), NN_ERR_INVALID_ARGUMENT, "nn_model_create", "");
  TU_ERR(nn_model_mlp(1, sizes, NN_ACT_RELU, NN_ACT_IDENTITY, &m), NN_ERR_INVALID_ARGUMENT, "nn_model_mlp", "");
  assert_names("n_sizes");
  TU_ERR(nn_model_mlp(3, NULL, NN_ACT_RELU, NN_ACT_IDENTITY, &m), NN_ERR_INVALID_ARGUMENT, "nn_model_mlp", "");
  assert_names("sizes");
  TU_ERR(nn_model_mlp(3, bad, NN_ACT_RELU, NN_ACT_IDENTITY, &m), NN_ERR_INVALID_ARGUMENT, "nn_model_mlp",
         "sizes[1]");
  TU_ERR(nn_model_mlp(3, sizes, (nn_activation)9, NN_ACT_IDENTITY, &m), NN_ERR_INVALID_ARGUMENT, "nn_model_mlp",
         "9");
  assert_names("hidden");
  TU_ERR(nn_model_mlp(3, sizes, NN_ACT_RELU, (nn_activation)-3, &m), NN_ERR_INVALID_ARGUMENT, "nn_model_mlp",
         "-3");
  assert_names("output");
  TU_ERR(nn_model_mlp(3, sizes, NN_ACT_RELU, NN_ACT_IDENTITY, NULL), NN_ERR_INVALID_ARGUMENT, "nn_model_mlp", "");
  assert_ptr_equal(m, TU_SENTINEL);

  /* queries on NULL */
  nn_model_free(NULL);
  assert_int_equal(nn_model_num_layers(NULL), -1);
  assert_int_equal(nn_model_num_params(NULL), -1);
  nn_device d = nn_model_device(NULL);
  assert_int_equal(d.type, 0);
  assert_int_equal(d.index, -1);
  assert_int_equal((int)nn_model_dtype(NULL), -1);

  m = mlp_on_device(3, sizes, NN_ACT_RELU, NN_ACT_SIGMOID);
  snap before = take(m, NULL);
  nn_layer *l = (nn_layer *)TU_SENTINEL;
  TU_ERR(nn_model_layer(m, 4, &l), NN_ERR_INVALID_ARGUMENT, "nn_model_layer", "4");
  assert_names("index");
  TU_ERR(nn_model_layer(m, -1, &l), NN_ERR_INVALID_ARGUMENT, "nn_model_layer", "-1");
  TU_ERR(nn_model_layer(NULL, 0, &l), NN_ERR_INVALID_ARGUMENT, "nn_model_layer", "");
  TU_ERR(nn_model_layer(m, 0, NULL), NN_ERR_INVALID_ARGUMENT, "nn_model_layer", "");
  assert_ptr_equal(l, TU_SENTINEL);
  TU_ERR(nn_model_init(m, (nn_init)6, 0), NN_ERR_INVALID_ARGUMENT, "nn_model_init", "6");
  assert_names("scheme");
  TU_ERR(nn_model_init(m, (nn_init)-1, 0), NN_ERR_INVALID_ARGUMENT, "nn_model_init", "");
  TU_ERR(nn_model_init(NULL, NN_INIT_ZEROS, 0), NN_ERR_INVALID_ARGUMENT, "nn_model_init", "");
  TU_ERR(nn_model_to_dtype(m, NN_I32), NN_ERR_DTYPE, "nn_model_to_dtype", "");
  TU_ERR(nn_model_to_dtype(m, NN_F16), NN_ERR_DTYPE, "nn_model_to_dtype", "");
  TU_ERR(nn_model_to_dtype(m, (nn_dtype)42), NN_ERR_INVALID_ARGUMENT, "nn_model_to_dtype", "");
  TU_ERR(nn_model_to_dtype(NULL, NN_F64), NN_ERR_INVALID_ARGUMENT, "nn_model_to_dtype", "");
  assert_int_equal(nn_model_dtype(m), NN_F32);
  nn_device dev = {NN_CPU, 3};
  TU_ERR(nn_model_to(m, dev), NN_ERR_DEVICE, "nn_model_to", "");
  dev.type = 7;
  dev.index = 0;
  TU_ERR(nn_model_to(m, dev), NN_ERR_INVALID_ARGUMENT, "nn_model_to", "");
  if (nn_device_count(NN_CUDA) == 0) {
    dev.type = NN_CUDA;
    TU_ERR(nn_model_to(m, dev), NN_ERR_DEVICE, "nn_model_to", "");
  }
  /* the failed moves left the model where it was */
  d = nn_model_device(m);
  assert_int_equal(d.type, tu_device().type);
  assert_int_equal(d.index, tu_device().index);

  /* add: NULLs, a Linear that does not chain (model and layer unchanged, caller still owns it) */
  TU_ERR(nn_model_add(m, NULL), NN_ERR_INVALID_ARGUMENT, "nn_model_add", "");
  assert_names("layer");
  nn_layer *lin = NULL;
  TU_OK(nn_layer_linear(5, 2, true, &lin));
  TU_ERR(nn_model_add(NULL, lin), NN_ERR_INVALID_ARGUMENT, "nn_model_add", "");
  TU_ERR(nn_model_add(m, lin), NN_ERR_SHAPE, "nn_model_add", "5", "1");
  assert_int_equal(nn_model_num_layers(m), 4);
  /* still usable and owned by the caller */
  nn_tensor *w = NULL;
  TU_OK(nn_layer_param(lin, NN_PARAM_WEIGHT, &w));
  nn_tensor_free(w);
  nn_layer_free(lin);
  /* a layer that already belongs to a model */
  TU_OK(nn_model_layer(m, 1, &l));
  nn_model *m2 = NULL;
  TU_OK(nn_model_create(&m2));
  TU_ERR(nn_model_add(m2, l), NN_ERR_INVALID_ARGUMENT, "nn_model_add", "");
  assert_int_equal(nn_model_num_layers(m2), 0);
  nn_model_free(m2);

  /* forward: wrong feature count (both shapes), integer x, NULLs */
  nn_tensor *x = f32(4, 5, 1.0), *y = TU_SENTINEL;
  TU_ERR(nn_model_forward(m, x, &y), NN_ERR_SHAPE, "nn_model_forward", "[4, 5]", ", 2]");
  nn_tensor_free(x);
  const int64_t s[2] = {4, 2};
  TU_OK(nn_tensor_zeros(NN_I64, 2, s, tu_device(), &x));
  TU_ERR(nn_model_forward(m, x, &y), NN_ERR_DTYPE, "nn_model_forward", "int64");
  TU_ERR(nn_model_forward(NULL, x, &y), NN_ERR_INVALID_ARGUMENT, "nn_model_forward", "");
  assert_names("m");
  TU_ERR(nn_model_forward(m, NULL, &y), NN_ERR_INVALID_ARGUMENT, "nn_model_forward", "");
  assert_names("x");
  TU_ERR(nn_model_forward(m, x, NULL), NN_ERR_INVALID_ARGUMENT, "nn_model_forward", "");
  assert_ptr_equal(y, TU_SENTINEL);
  nn_tensor_free(x);

  /* summary */
  char buf[8];
  TU_ERR(nn_model_summary(NULL, buf, sizeof buf, NULL), NN_ERR_INVALID_ARGUMENT, "nn_model_summary", "");
  TU_ERR(nn_model_summary(m, NULL, 5, NULL), NN_ERR_INVALID_ARGUMENT, "nn_model_summary", "");
  assert_names("buf");
  TU_ERR(nn_model_zero_grad(NULL), NN_ERR_INVALID_ARGUMENT, "nn_model_zero_grad", "");
  assert_untouched(m, NULL, &before);
  snap_free(&before);
  nn_model_free(m);
}

/* ---- losses --------------------------------------------------------------------------- */

static void test_loss_errors(void **state) {
  (void)state;
  nn_tensor *p = f32(4, 3, 0.5), *y = f32(4, 3, 1.0), *g = TU_SENTINEL;
  double v = 123.0;
  TU_ERR(nn_loss_compute((nn_loss)6, p, y, &v, &g), NN_ERR_INVALID_ARGUMENT, "nn_loss_compute", "6");
  assert_names("loss");
  TU_ERR(nn_loss_compute((nn_loss)-1, p, y, &v, &g), NN_ERR_INVALID_ARGUMENT, "nn_loss_compute", "");
  TU_ERR(nn_loss_compute(NN_LOSS_MSE, NULL, y, &v, &g), NN_ERR_INVALID_ARGUMENT, "nn_loss_compute", "");
  assert_names("pred");
  TU_ERR(nn_loss_compute(NN_LOSS_MSE, p, NULL, &v, &g), NN_ERR_INVALID_ARGUMENT, "nn_loss_compute", "");
  assert_names("target");
  TU_ERR(nn_loss_compute(NN_LOSS_MSE, p, y, NULL, &g), NN_ERR_INVALID_ARGUMENT, "nn_loss_compute", "");
  assert_names("value");
  /* shapes: both in the message, for every same-shape loss */
  nn_tensor *y2 = f32(4, 2, 1.0), *y5 = f32(5, 3, 0.0);
  for (int l = NN_LOSS_MSE; l <= NN_LOSS_BCE_WITH_LOGITS; l++) {
    TU_ERR(nn_loss_compute((nn_loss)l, p, y2, &v, &g), NN_ERR_SHAPE, "nn_loss_compute", "[4, 3]", "[4, 2]");
    TU_ERR(nn_loss_compute((nn_loss)l, p, y5, &v, &g), NN_ERR_SHAPE, "nn_loss_compute", "[4, 3]", "[5, 3]");
  }
  /* dtypes: integer pred; integer target of a regression/BCE loss (a floating
   * target of another precision is converted, as for x) */
  const int64_t s[2] = {4, 3};
  nn_tensor *pi = NULL, *yi = NULL, *y64 = NULL;
  TU_OK(nn_tensor_zeros(NN_I32, 2, s, tu_device(), &pi));
  TU_OK(nn_tensor_zeros(NN_I64, 2, s, tu_device(), &yi));
  TU_OK(nn_tensor_zeros(NN_F64, 2, s, tu_device(), &y64));
  TU_ERR(nn_loss_compute(NN_LOSS_MSE, pi, y, &v, &g), NN_ERR_DTYPE, "nn_loss_compute", "int32");
  assert_names("pred");
  for (int l = NN_LOSS_MSE; l <= NN_LOSS_BCE_WITH_LOGITS; l++) {
    TU_ERR(nn_loss_compute((nn_loss)l, p, yi, &v, &g), NN_ERR_DTYPE, "nn_loss_compute", "int64");
    assert_names("target");
  }
  /* cross-entropy: pred must be [n, c]; ids I64 [n] in 0..c-1; probabilities [n, c] floating */
  const int64_t ok_ids[4] = {0, 1, 2, 1}, hi[4] = {0, 3, 1, 1}, neg[4] = {0, 1, -1, 2};
  nn_tensor *t = ids_of(4, hi);
  TU_ERR(nn_loss_compute(NN_LOSS_CROSS_ENTROPY, p, t, &v, &g), NN_ERR_INVALID_ARGUMENT, "nn_loss_compute", "3");
  nn_tensor_free(t);
  t = ids_of(4, neg);
  TU_ERR(nn_loss_compute(NN_LOSS_CROSS_ENTROPY, p, t, &v, &g), NN_ERR_INVALID_ARGUMENT, "nn_loss_compute", "-1");
  nn_tensor_free(t);
  t = ids_of(4, ok_ids);
  nn_tensor *t32 = NULL;
  TU_OK(nn_tensor_to_dtype(t, NN_I32, &t32));
  nn_tensor *t41 = NULL;
  const int64_t s41[2] = {4, 1};
  TU_OK(nn_tensor_reshape(t, 2, s41, &t41));
  TU_ERR(nn_loss_compute(NN_LOSS_CROSS_ENTROPY, p, t41, &v, &g), NN_ERR_SHAPE, "nn_loss_compute", "[4, 1]",
         "[4, 3]");
  nn_tensor *t3 = ids_of(3, ok_ids);
  TU_ERR(nn_loss_compute(NN_LOSS_CROSS_ENTROPY, p, t3, &v, &g), NN_ERR_SHAPE, "nn_loss_compute", "[3]", "[4, 3]");
  TU_ERR(nn_loss_compute(NN_LOSS_CROSS_ENTROPY, p, y2, &v, &g), NN_ERR_SHAPE, "nn_loss_compute", "[4, 2]",
         "[4, 3]");
  nn_tensor *p1 = NULL;
  const int64_t s1[1] = {4};
  TU_OK(nn_tensor_zeros(NN_F32, 1, s1, tu_device(), &p1));
  TU_ERR(nn_loss_compute(NN_LOSS_CROSS_ENTROPY, p1, t, &v, &g), NN_ERR_SHAPE, "nn_loss_compute", "[4]");
  /* outputs untouched */
  assert_true(v == 123.0);
  assert_ptr_equal(g, TU_SENTINEL);
  /* the valid call works */
  TU_OK(nn_loss_compute(NN_LOSS_CROSS_ENTROPY, p, t, &v, NULL));
  if (!(fabs(v - log(3.0)) < 1e-6)) fail_msg("CE of equal logits: %g, expected log 3", v);
  nn_tensor_free(p);
  nn_tensor_free(p1);
  nn_tensor_free(y);
  nn_tensor_free(y2);
  nn_tensor_free(y5);
  nn_tensor_free(pi);
  nn_tensor_free(yi);
  nn_tensor_free(y64);
  nn_tensor_free(t);
  nn_tensor_free(t32);
  nn_tensor_free(t41);
  nn_tensor_free(t3);
}

/* ---- backward / evaluate ---------------------------------------------------------------- */

static void test_backward_evaluate_errors(void **state) {
  (void)state;
  fix f = make_fix();
  snap before = take(f.m, f.opt);
  double v = 77.0, acc = 78.0;
  nn_tensor *x5 = f32(6, 5, 0.1), *x7 = f32(7, 3, 0.1), *y7 = f32(7, 2, 0.0), *y3 = f32(6, 3, 0.0);
  /* wrong feature count */
  TU_ERR(nn_model_backward(f.m, x5, f.y, NN_LOSS_MSE, &v), NN_ERR_SHAPE, "nn_model_backward", "[6, 5]", ", 3]");
  TU_ERR(nn_model_evaluate(f.m, x5, f.y, NN_LOSS_MSE, &v, &acc), NN_ERR_SHAPE, "nn_model_evaluate", "[6, 5]",
         ", 3]");
  /* rows of x and y differ */
  TU_ERR(nn_model_backward(f.m, x7, f.y, NN_LOSS_MSE, &v), NN_ERR_SHAPE, "nn_model_backward", "7", "[6, 2]");
  TU_ERR(nn_model_backward(f.m, f.x, y7, NN_LOSS_MSE, &v), NN_ERR_SHAPE, "nn_model_backward", "[7, 2]");
  TU_ERR(nn_model_evaluate(f.m, x7, f.y, NN_LOSS_MSE, &v, &acc), NN_ERR_SHAPE, "nn_model_evaluate", "7",
         "[6, 2]");
  /* target of the wrong width */
  TU_ERR(nn_model_backward(f.m, f.x, y3, NN_LOSS_MSE, &v), NN_ERR_SHAPE, "nn_model_backward", "[6, 3]", "[6, 2]");
  TU_ERR(nn_model_evaluate(f.m, f.x, y3, NN_LOSS_BCE_WITH_LOGITS, &v, &acc), NN_ERR_SHAPE, "nn_model_evaluate",
         "[6, 3]", "[6, 2]");
  /* target dtype */
  nn_tensor *yi = NULL;
  const int64_t ys[2] = {6, 2};
  TU_OK(nn_tensor_zeros(NN_I64, 2, ys, tu_device(), &yi));
  TU_ERR(nn_model_backward(f.m, f.x, yi, NN_LOSS_MSE, &v), NN_ERR_DTYPE, "nn_model_backward", "int64");
  TU_ERR(nn_model_evaluate(f.m, f.x, yi, NN_LOSS_SSE, &v, &acc), NN_ERR_DTYPE, "nn_model_evaluate", "int64");
  /* class ids out of range (2 classes) */
  const int64_t ids_hi[6] = {0, 1, 2, 0, 1, 0}, ids_ok[6] = {0, 1, 1, 0, 1, 0};
  nn_tensor *th = ids_of(6, ids_hi), *tok = ids_of(6, ids_ok), *t5 = ids_of(5, ids_ok);
  TU_ERR(nn_model_backward(f.m, f.x, th, NN_LOSS_CROSS_ENTROPY, &v), NN_ERR_INVALID_ARGUMENT, "nn_model_backward",
         "2");
  TU_ERR(nn_model_evaluate(f.m, f.x, th, NN_LOSS_CROSS_ENTROPY, &v, &acc), NN_ERR_INVALID_ARGUMENT,
         "nn_model_evaluate", "2");
  TU_ERR(nn_model_backward(f.m, f.x, t5, NN_LOSS_CROSS_ENTROPY, &v), NN_ERR_SHAPE, "nn_model_backward", "[5]");
  /* ids are only for cross-entropy */
  TU_ERR(nn_model_backward(f.m, f.x, tok, NN_LOSS_MSE, &v), NN_ERR_SHAPE, "nn_model_backward", "[6]", "[6, 2]");
  /* integer x */
  nn_tensor *xi = NULL;
  const int64_t xs[2] = {6, 3};
  TU_OK(nn_tensor_zeros(NN_I32, 2, xs, tu_device(), &xi));
  TU_ERR(nn_model_backward(f.m, xi, f.y, NN_LOSS_MSE, &v), NN_ERR_DTYPE, "nn_model_backward", "int32");
  /* bad loss, NULLs */
  TU_ERR(nn_model_backward(f.m, f.x, f.y, (nn_loss)17, &v), NN_ERR_INVALID_ARGUMENT, "nn_model_backward", "17");
  assert_names("loss");
  TU_ERR(nn_model_evaluate(f.m, f.x, f.y, (nn_loss)17, &v, &acc), NN_ERR_INVALID_ARGUMENT, "nn_model_evaluate",
         "17");
  TU_ERR(nn_model_backward(NULL, f.x, f.y, NN_LOSS_MSE, &v), NN_ERR_INVALID_ARGUMENT, "nn_model_backward", "");
  assert_names("m");
  TU_ERR(nn_model_backward(f.m, NULL, f.y, NN_LOSS_MSE, &v), NN_ERR_INVALID_ARGUMENT, "nn_model_backward", "");
  assert_names("x");
  TU_ERR(nn_model_backward(f.m, f.x, NULL, NN_LOSS_MSE, &v), NN_ERR_INVALID_ARGUMENT, "nn_model_backward", "");
  assert_names("target");
  TU_ERR(nn_model_backward(f.m, f.x, f.y, NN_LOSS_MSE, NULL), NN_ERR_INVALID_ARGUMENT, "nn_model_backward", "");
  assert_names("loss_value");
  TU_ERR(nn_model_evaluate(NULL, f.x, f.y, NN_LOSS_MSE, &v, &acc), NN_ERR_INVALID_ARGUMENT, "nn_model_evaluate",
         "");
  TU_ERR(nn_model_evaluate(f.m, NULL, f.y, NN_LOSS_MSE, &v, &acc), NN_ERR_INVALID_ARGUMENT, "nn_model_evaluate",
         "");
  TU_ERR(nn_model_evaluate(f.m, f.x, NULL, NN_LOSS_MSE, &v, &acc), NN_ERR_INVALID_ARGUMENT, "nn_model_evaluate",
         "");
  TU_ERR(nn_model_evaluate(f.m, f.x, f.y, NN_LOSS_MSE, NULL, &acc), NN_ERR_INVALID_ARGUMENT, "nn_model_evaluate",
         "");
  assert_names("loss_value");
  assert_true(v == 77.0);
  assert_true(acc == 78.0);
  /* after all that: weights and (accumulated) gradients as before */
  assert_untouched(f.m, f.opt, &before);
  snap_free(&before);
  nn_tensor_free(x5);
  nn_tensor_free(x7);
  nn_tensor_free(y7);
  nn_tensor_free(y3);
  nn_tensor_free(yi);
  nn_tensor_free(th);
  nn_tensor_free(tok);
  nn_tensor_free(t5);
  nn_tensor_free(xi);
  free_fix(&f);
}

/* ---- optimizers ----------------------------------------------------------------------------- */

static void test_optimizer_errors(void **state) {
  (void)state;
  fix f = make_fix();
  nn_optimizer *o = (nn_optimizer *)TU_SENTINEL;
  TU_ERR(nn_optimizer_sgd(NULL, 0.1, 0, 0, false, &o), NN_ERR_INVALID_ARGUMENT, "nn_optimizer_sgd", "");
  assert_names("m");
  TU_ERR(nn_optimizer_sgd(f.m, 0.1, 0, 0, false, NULL), NN_ERR_INVALID_ARGUMENT, "nn_optimizer_sgd", "");
  TU_ERR(nn_optimizer_sgd(f.m, -0.1, 0, 0, false, &o), NN_ERR_INVALID_ARGUMENT, "nn_optimizer_sgd", "");
  assert_names("lr");
  TU_ERR(nn_optimizer_sgd(f.m, NAN, 0, 0, false, &o), NN_ERR_INVALID_ARGUMENT, "nn_optimizer_sgd", "");
  assert_names("lr");
  TU_ERR(nn_optimizer_sgd(f.m, INFINITY, 0, 0, false, &o), NN_ERR_INVALID_ARGUMENT, "nn_optimizer_sgd", "");
  TU_ERR(nn_optimizer_sgd(f.m, 0.1, -0.5, 0, false, &o), NN_ERR_INVALID_ARGUMENT, "nn_optimizer_sgd", "");
  assert_names("momentum");
  TU_ERR(nn_optimizer_sgd(f.m, 0.1, 0, -1e-3, false, &o), NN_ERR_INVALID_ARGUMENT, "nn_optimizer_sgd", "");
  assert_names("weight_decay");
  TU_ERR(nn_optimizer_sgd(f.m, 0.1, 0, 0, true, &o), NN_ERR_INVALID_ARGUMENT, "nn_optimizer_sgd", "");
  assert_names("nesterov");
  TU_ERR(nn_optimizer_adam(NULL, 1e-3, 0.9, 0.999, 1e-8, 0, false, &o), NN_ERR_INVALID_ARGUMENT,
         "nn_optimizer_adam", "");
  TU_ERR(nn_optimizer_adam(f.m, -1e-3, 0.9, 0.999, 1e-8, 0, false, &o), NN_ERR_INVALID_ARGUMENT,
         "nn_optimizer_adam", "");
  assert_names("lr");
  TU_ERR(nn_optimizer_adam(f.m, 1e-3, 1.0, 0.999, 1e-8, 0, false, &o), NN_ERR_INVALID_ARGUMENT,
         "nn_optimizer_adam", "");
  assert_names("beta1");
  TU_ERR(nn_optimizer_adam(f.m, 1e-3, -0.1, 0.999, 1e-8, 0, false, &o), NN_ERR_INVALID_ARGUMENT,
         "nn_optimizer_adam", "");
  assert_names("beta1");
  TU_ERR(nn_optimizer_adam(f.m, 1e-3, 0.9, 1.5, 1e-8, 0, false, &o), NN_ERR_INVALID_ARGUMENT,
         "nn_optimizer_adam", "");
  assert_names("beta2");
  TU_ERR(nn_optimizer_adam(f.m, 1e-3, 0.9, 0.999, -1e-8, 0, false, &o), NN_ERR_INVALID_ARGUMENT,
         "nn_optimizer_adam", "");
  assert_names("eps");
  TU_ERR(nn_optimizer_adam(f.m, 1e-3, 0.9, 0.999, 1e-8, NAN, true, &o), NN_ERR_INVALID_ARGUMENT,
         "nn_optimizer_adam", "");
  assert_names("weight_decay");
  TU_ERR(nn_optimizer_adam(f.m, 1e-3, 0.9, 0.999, 1e-8, 0, true, NULL), NN_ERR_INVALID_ARGUMENT,
         "nn_optimizer_adam", "");
  assert_ptr_equal(o, TU_SENTINEL);

  snap before = take(f.m, f.opt);
  TU_ERR(nn_optimizer_set_lr(f.opt, -1), NN_ERR_INVALID_ARGUMENT, "nn_optimizer_set_lr", "");
  assert_names("lr");
  TU_ERR(nn_optimizer_set_lr(f.opt, NAN), NN_ERR_INVALID_ARGUMENT, "nn_optimizer_set_lr", "");
  TU_ERR(nn_optimizer_set_lr(NULL, 0.1), NN_ERR_INVALID_ARGUMENT, "nn_optimizer_set_lr", "");
  TU_ERR(nn_optimizer_set_step_lr(f.opt, 0, 0.5), NN_ERR_INVALID_ARGUMENT, "nn_optimizer_set_step_lr", "");
  assert_names("step_size");
  TU_ERR(nn_optimizer_set_step_lr(f.opt, 2, 0.0), NN_ERR_INVALID_ARGUMENT, "nn_optimizer_set_step_lr", "");
  assert_names("gamma");
  TU_ERR(nn_optimizer_set_step_lr(f.opt, 2, -0.5), NN_ERR_INVALID_ARGUMENT, "nn_optimizer_set_step_lr", "");
  TU_ERR(nn_optimizer_set_step_lr(f.opt, 2, INFINITY), NN_ERR_INVALID_ARGUMENT, "nn_optimizer_set_step_lr", "");
  TU_ERR(nn_optimizer_set_step_lr(NULL, 2, 0.5), NN_ERR_INVALID_ARGUMENT, "nn_optimizer_set_step_lr", "");
  TU_ERR(nn_optimizer_step(NULL), NN_ERR_INVALID_ARGUMENT, "nn_optimizer_step", "");
  TU_ERR(nn_optimizer_zero_grad(NULL), NN_ERR_INVALID_ARGUMENT, "nn_optimizer_zero_grad", "");
  TU_ERR(nn_optimizer_epoch_end(NULL), NN_ERR_INVALID_ARGUMENT, "nn_optimizer_epoch_end", "");
  assert_true(isnan(nn_optimizer_lr(NULL)));
  nn_optimizer_free(NULL);
  assert_untouched(f.m, f.opt, &before);
  /* a failed set_step_lr left no schedule behind: epoch_end keeps the lr */
  TU_OK(nn_optimizer_epoch_end(f.opt));
  TU_OK(nn_optimizer_epoch_end(f.opt));
  assert_true(nn_optimizer_lr(f.opt) == 0.1);
  snap_free(&before);
  free_fix(&f);
}

/* ---- fit ---------------------------------------------------------------------------------------- */

static int never_called(const nn_epoch_report *r, void *ud) {
  (void)r;
  (*(int *)ud)++;
  return 0;
}

static void test_fit_errors(void **state) {
  (void)state;
  fix f = make_fix();
  snap before = take(f.m, f.opt);
  int calls = 0;
  nn_fit_options o;
  nn_fit_options_init(&o);
  o.epochs = 2;
  o.on_epoch = never_called;
  o.user_data = &calls;
  nn_epoch_report last;
  memset(&last, 0x5a, sizeof last);
  nn_epoch_report last0 = last;

  /* NULLs */
  TU_ERR(nn_model_fit(NULL, f.opt, f.x, f.y, &o, &last), NN_ERR_INVALID_ARGUMENT, "nn_model_fit", "");
  assert_names("m");
  TU_ERR(nn_model_fit(f.m, NULL, f.x, f.y, &o, &last), NN_ERR_INVALID_ARGUMENT, "nn_model_fit", "");
  assert_names("opt");
  TU_ERR(nn_model_fit(f.m, f.opt, NULL, f.y, &o, &last), NN_ERR_INVALID_ARGUMENT, "nn_model_fit", "");
  assert_names("x");
  TU_ERR(nn_model_fit(f.m, f.opt, f.x, NULL, &o, &last), NN_ERR_INVALID_ARGUMENT, "nn_model_fit", "");
  assert_names("y");
  TU_ERR(nn_model_fit(f.m, f.opt, f.x, f.y, NULL, &last), NN_ERR_INVALID_ARGUMENT, "nn_model_fit", "");
  assert_names("opts");

  /* options */
  nn_fit_options b = o;
  b.version = 0;
  TU_ERR(nn_model_fit(f.m, f.opt, f.x, f.y, &b, &last), NN_ERR_INVALID_ARGUMENT, "nn_model_fit", "version");
  b.version = NN_FIT_OPTIONS_VERSION + 1;
  TU_ERR(nn_model_fit(f.m, f.opt, f.x, f.y, &b, &last), NN_ERR_INVALID_ARGUMENT, "nn_model_fit", "version");
  b = o;
  b.epochs = 0;
  TU_ERR(nn_model_fit(f.m, f.opt, f.x, f.y, &b, &last), NN_ERR_INVALID_ARGUMENT, "nn_model_fit", "epochs");
  b.epochs = -3;
  TU_ERR(nn_model_fit(f.m, f.opt, f.x, f.y, &b, &last), NN_ERR_INVALID_ARGUMENT, "nn_model_fit", "epochs");
  b = o;
  b.batch_size = -1;
  TU_ERR(nn_model_fit(f.m, f.opt, f.x, f.y, &b, &last), NN_ERR_INVALID_ARGUMENT, "nn_model_fit", "batch_size");
  b = o;
  b.patience = -1;
  TU_ERR(nn_model_fit(f.m, f.opt, f.x, f.y, &b, &last), NN_ERR_INVALID_ARGUMENT, "nn_model_fit", "patience");
  b.patience = 2; /* without a validation set */
  TU_ERR(nn_model_fit(f.m, f.opt, f.x, f.y, &b, &last), NN_ERR_INVALID_ARGUMENT, "nn_model_fit", "patience");
  b = o;
  b.val_x = f.x; /* val_y missing */
  TU_ERR(nn_model_fit(f.m, f.opt, f.x, f.y, &b, &last), NN_ERR_INVALID_ARGUMENT, "nn_model_fit", "val_y");
  b = o;
  b.val_y = f.y; /* val_x missing */
  TU_ERR(nn_model_fit(f.m, f.opt, f.x, f.y, &b, &last), NN_ERR_INVALID_ARGUMENT, "nn_model_fit", "val_x");
  b = o;
  b.loss = (nn_loss)6;
  TU_ERR(nn_model_fit(f.m, f.opt, f.x, f.y, &b, &last), NN_ERR_INVALID_ARGUMENT, "nn_model_fit", "6");
  assert_names("loss");
  b.loss = (nn_loss)-1;
  TU_ERR(nn_model_fit(f.m, f.opt, f.x, f.y, &b, &last), NN_ERR_INVALID_ARGUMENT, "nn_model_fit", "");

  /* an optimizer of another model (same architecture) */
  const int64_t sizes[3] = {3, 4, 2};
  nn_model *other = NULL;
  nn_optimizer *oopt = NULL;
  other = mlp_on_device(3, sizes, NN_ACT_TANH, NN_ACT_IDENTITY);
  TU_OK(nn_optimizer_sgd(other, 0.1, 0, 0, false, &oopt));
  snap obefore = take(other, oopt);
  TU_ERR(nn_model_fit(f.m, oopt, f.x, f.y, &o, &last), NN_ERR_INVALID_ARGUMENT, "nn_model_fit", "another model");
  assert_untouched(other, oopt, &obefore);
  snap_free(&obefore);

  /* data: feature count, rows, target shape and dtype per loss, class ids */
  nn_tensor *x5 = f32(6, 5, 0.1), *x7 = f32(7, 3, 0.1), *y3 = f32(6, 3, 0.0), *y7 = f32(7, 2, 0.0);
  TU_ERR(nn_model_fit(f.m, f.opt, x5, f.y, &o, &last), NN_ERR_SHAPE, "nn_model_fit", "[6, 5]", ", 3]");
  TU_ERR(nn_model_fit(f.m, f.opt, x7, f.y, &o, &last), NN_ERR_SHAPE, "nn_model_fit", "[7, 3]", "[6, 2]");
  TU_ERR(nn_model_fit(f.m, f.opt, f.x, y7, &o, &last), NN_ERR_SHAPE, "nn_model_fit", "[6, 3]", "[7, 2]");
  TU_ERR(nn_model_fit(f.m, f.opt, f.x, y3, &o, &last), NN_ERR_SHAPE, "nn_model_fit", "[6, 3]", "[6, 2]");
  nn_tensor *yi = NULL;
  const int64_t ys[2] = {6, 2};
  TU_OK(nn_tensor_zeros(NN_I64, 2, ys, tu_device(), &yi));
  TU_ERR(nn_model_fit(f.m, f.opt, f.x, yi, &o, &last), NN_ERR_DTYPE, "nn_model_fit", "int64");
  b = o;
  b.loss = NN_LOSS_BCE;
  TU_ERR(nn_model_fit(f.m, f.opt, f.x, yi, &b, &last), NN_ERR_DTYPE, "nn_model_fit", "int64");
  b.loss = NN_LOSS_CROSS_ENTROPY;
  const int64_t ids_hi[6] = {0, 1, 1, 2, 0, 1}, ids_neg[6] = {0, -1, 1, 1, 0, 1}, ids_ok[6] = {0, 1, 1, 0, 0, 1};
  nn_tensor *th = ids_of(6, ids_hi), *tn = ids_of(6, ids_neg), *tok = ids_of(6, ids_ok), *t5 = ids_of(5, ids_ok);
  nn_tensor *t32 = NULL;
  TU_OK(nn_tensor_to_dtype(tok, NN_I32, &t32));
  TU_ERR(nn_model_fit(f.m, f.opt, f.x, th, &b, &last), NN_ERR_INVALID_ARGUMENT, "nn_model_fit", "2");
  TU_ERR(nn_model_fit(f.m, f.opt, f.x, tn, &b, &last), NN_ERR_INVALID_ARGUMENT, "nn_model_fit", "-1");
  TU_ERR(nn_model_fit(f.m, f.opt, f.x, t5, &b, &last), NN_ERR_SHAPE, "nn_model_fit", "[5]");
  TU_ERR(nn_model_fit(f.m, f.opt, f.x, y3, &b, &last), NN_ERR_SHAPE, "nn_model_fit", "[6, 3]", "[6, 2]");
  /* class ids with a regression loss */
  TU_ERR(nn_model_fit(f.m, f.opt, f.x, tok, &o, &last), NN_ERR_SHAPE, "nn_model_fit", "[6]", "[6, 2]");
  /* a bad validation set: checked before any training */
  b = o;
  b.val_x = x5;
  b.val_y = f.y;
  TU_ERR(nn_model_fit(f.m, f.opt, f.x, f.y, &b, &last), NN_ERR_SHAPE, "nn_model_fit", "[6, 5]");
  b.val_x = f.x;
  b.val_y = y7;
  TU_ERR(nn_model_fit(f.m, f.opt, f.x, f.y, &b, &last), NN_ERR_SHAPE, "nn_model_fit", "[7, 2]");
  b.loss = NN_LOSS_CROSS_ENTROPY;
  b.val_y = th;
  TU_ERR(nn_model_fit(f.m, f.opt, f.x, tok, &b, &last), NN_ERR_INVALID_ARGUMENT, "nn_model_fit", "2");
  /* integer x */
  nn_tensor *xi = NULL;
  const int64_t xs[2] = {6, 3};
  TU_OK(nn_tensor_zeros(NN_I32, 2, xs, tu_device(), &xi));
  TU_ERR(nn_model_fit(f.m, f.opt, xi, f.y, &o, &last), NN_ERR_DTYPE, "nn_model_fit", "int32");
  /* x with no rows */
  nn_tensor *x0 = f32(0, 3, 0), *y0 = f32(0, 2, 0);
  nn_status st = nn_model_fit(f.m, f.opt, x0, y0, &o, &last);
  assert_int_not_equal(st, NN_OK);
  assert_true(strncmp(nn_last_error(), "nn_model_fit", 12) == 0);

  /* nothing happened: no callback, last untouched, model/optimizer unchanged */
  assert_int_equal(calls, 0);
  assert_memory_equal(&last, &last0, sizeof last);
  assert_untouched(f.m, f.opt, &before);
  /* and a valid call still works afterwards */
  TU_OK(nn_model_fit(f.m, f.opt, f.x, f.y, &o, &last));
  assert_int_equal(calls, 2);
  assert_int_equal(last.epoch, 1);

  snap_free(&before);
  nn_optimizer_free(oopt);
  nn_model_free(other);
  nn_tensor_free(x5);
  nn_tensor_free(x7);
  nn_tensor_free(y3);
  nn_tensor_free(y7);
  nn_tensor_free(yi);
  nn_tensor_free(th);
  nn_tensor_free(tn);
  nn_tensor_free(tok);
  nn_tensor_free(t5);
  nn_tensor_free(t32);
  nn_tensor_free(xi);
  nn_tensor_free(x0);
  nn_tensor_free(y0);
  free_fix(&f);
}

/* Class ids are I64 (nn.h: "I64 class ids [n]"; torch: "expected scalar type
 * Long"); other integer dtypes are a target of the wrong dtype. Kept apart so
 * that a failure here does not hide the checks above. */
static void test_class_ids_must_be_i64(void **state) {
  (void)state;
  fix f = make_fix();
  snap before = take(f.m, f.opt);
  const int64_t ids[6] = {0, 1, 1, 0, 0, 1};
  nn_tensor *t = ids_of(6, ids);
  const nn_dtype bad[3] = {NN_I32, NN_I16, NN_U8};
  for (int i = 0; i < 3; i++) {
    nn_tensor *tb = NULL, *p = NULL;
    TU_OK(nn_tensor_to_dtype(t, bad[i], &tb));
    TU_OK(nn_model_forward(f.m, f.x, &p));
    double v = 5.0;
    TU_ERR(nn_loss_compute(NN_LOSS_CROSS_ENTROPY, p, tb, &v, NULL), NN_ERR_DTYPE, "nn_loss_compute", "");
    assert_true(v == 5.0);
    TU_ERR(nn_model_backward(f.m, f.x, tb, NN_LOSS_CROSS_ENTROPY, &v), NN_ERR_DTYPE, "nn_model_backward", "");
    nn_fit_options o;
    nn_fit_options_init(&o);
    o.loss = NN_LOSS_CROSS_ENTROPY;
    o.epochs = 1;
    TU_ERR(nn_model_fit(f.m, f.opt, f.x, tb, &o, NULL), NN_ERR_DTYPE, "nn_model_fit", "");
    assert_untouched(f.m, f.opt, &before);
    nn_tensor_free(tb);
    nn_tensor_free(p);
  }
  snap_free(&before);
  nn_tensor_free(t);
  free_fix(&f);
}

/* status strings of the training statuses */
static void test_training_statuses(void **state) {
  (void)state;
  assert_true(strlen(nn_status_string(NN_ERR_NOT_FINITE)) > 0);
  assert_true(strlen(nn_status_string(NN_ERR_CANCELLED)) > 0);
  assert_string_not_equal(nn_status_string(NN_ERR_NOT_FINITE), nn_status_string(NN_ERR_CANCELLED));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_layer_errors),
      cmocka_unit_test(test_model_errors),
      cmocka_unit_test(test_loss_errors),
      cmocka_unit_test(test_backward_evaluate_errors),
      cmocka_unit_test(test_optimizer_errors),
      cmocka_unit_test(test_fit_errors),
      cmocka_unit_test(test_class_ids_must_be_i64),
      cmocka_unit_test(test_training_statuses),
  };
  return tu_run_group(tests);
}
