/* NaN and inf as PyTorch (issue 10, item 2), against float64 references of
 * PyTorch's rules:
 * - forward: every activation keeps NaN (torch.relu = clamp_min(x, 0): NaN
 *   passes; STEP gives NaN for NaN; softmax makes a row with a NaN or +inf,
 *   or of only -inf, all NaN), through nn_layer_forward (the activation
 *   kernels), nn_model_forward and nn_model_predict (Linear + activation
 *   fused: one row with up to 64 inputs, small products and the tiled GEMM
 *   epilogue are different kernels, so rows 1, 3, 64, 1000 and widths off
 *   the 16-lane grid), F32 and F64;
 * - backward (nn_model_backward + nn_layer_grad): ReLU as torch's
 *   threshold_backward(grad, y, 0) = `y <= 0 ? 0 : grad` (the gradient
 *   passes where y is NaN), leaky ReLU as leaky_relu_backward
 *   `y > 0 ? grad : 0.01 grad`, sigmoid grad (1-y) y, tanh grad (1-y^2),
 *   softmax y (grad - sum(grad y)), STEP straight through;
 * - nn_model_evaluate: NaN data give a NaN loss, for every loss;
 * - nn_model_fit: NaN or inf in x, y, val_x or val_y is NN_ERR_NOT_FINITE
 *   naming the tensor, row and column, before any weight changes.
 *
 * Inputs, weights and biases are multiples of 1/8 and 1/16 small enough
 * that every Linear output is exact in float32, so a value on the edge
 * (relu and step at 0) is decided the same way here and in the library, and
 * NaN/inf come out of the same IEEE rules (inf * 0 and inf - inf are NaN in
 * any order of summation).
 *
 * Device-generic: models and data live on tu_device(). */
#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const nn_activation all_acts[] = {NN_ACT_IDENTITY, NN_ACT_RELU, NN_ACT_SIGMOID, NN_ACT_TANH,
                                         NN_ACT_STEP,     NN_ACT_SOFTMAX, NN_ACT_LEAKY_RELU};
#define N_ACTS ((int)(sizeof all_acts / sizeof all_acts[0]))
static const char *act_name(nn_activation a) {
  static const char *names[] = {"identity", "relu", "sigmoid", "tanh", "step", "softmax", "leaky_relu"};
  return names[a];
}
static const int64_t row_counts[] = {1, 3, 64, 1000};
#define N_ROWS ((int)(sizeof row_counts / sizeof row_counts[0]))

/* ---- float64 references of PyTorch's rules ------------------------------------------ */

static double ref_act(nn_activation a, double x) {
  switch (a) {
    case NN_ACT_RELU: return x < 0 ? 0.0 : x; /* clamp_min(x, 0): NaN passes */
    case NN_ACT_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case NN_ACT_TANH: return tanh(x);
    case NN_ACT_STEP: return isnan(x) ? x : (x > 0 ? 1.0 : 0.0);
    case NN_ACT_LEAKY_RELU: return x > 0 ? x : 0.01 * x;
    default: return x;
  }
}

/* y = act(z) over rows of `cols` (softmax: row-wise, torch's max-shifted exp). */
static void ref_act_rows(nn_activation a, double *y, const double *z, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; r++) {
    const double *zr = z + r * cols;
    double *yr = y + r * cols;
    if (a != NN_ACT_SOFTMAX) {
      for (int64_t j = 0; j < cols; j++) yr[j] = ref_act(a, zr[j]);
      continue;
    }
    double mx = -INFINITY;
    bool nan = false;
    for (int64_t j = 0; j < cols; j++) {
      if (isnan(zr[j])) nan = true;
      if (zr[j] > mx) mx = zr[j];
    }
    double s = 0;
    for (int64_t j = 0; j < cols; j++) s += exp(zr[j] - mx); /* inf - inf, -inf - -inf: NaN */
    for (int64_t j = 0; j < cols; j++) yr[j] = nan ? NAN : exp(zr[j] - mx) / s;
  }
}

/* dz from the output y and the upstream gradient g (torch.autograd's formulas). */
static void ref_act_backward(nn_activation a, double *dz, const double *y, const double *g, int64_t rows,
                             int64_t cols) {
  for (int64_t r = 0; r < rows; r++) {
    const double *yr = y + r * cols, *gr = g + r * cols;
    double *d = dz + r * cols;
    double s = 0;
    if (a == NN_ACT_SOFTMAX)
      for (int64_t j = 0; j < cols; j++) s += gr[j] * yr[j];
    for (int64_t j = 0; j < cols; j++) {
      switch (a) {
        case NN_ACT_RELU: d[j] = yr[j] <= 0 ? 0.0 : gr[j]; break;          /* threshold_backward */
        case NN_ACT_LEAKY_RELU: d[j] = yr[j] > 0 ? gr[j] : gr[j] * 0.01; break; /* leaky_relu_backward */
        case NN_ACT_SIGMOID: d[j] = gr[j] * (1.0 - yr[j]) * yr[j]; break;
        case NN_ACT_TANH: d[j] = gr[j] * (1.0 - yr[j] * yr[j]); break;
        case NN_ACT_SOFTMAX: d[j] = yr[j] * (gr[j] - s); break;
        default: d[j] = gr[j]; break; /* identity; step: straight through */
      }
    }
  }
}

/* NaN and inf must match exactly (NaN to NaN, inf to the same inf); finite
 * values within tol * (1 + the largest finite |expected|). */
static void assert_same_nonfinite(const double *got, const double *exp, int64_t n, double tol, const char *ctx) {
  double scale = 1;
  for (int64_t i = 0; i < n; i++)
    if (isfinite(exp[i]) && fabs(exp[i]) > scale) scale = fabs(exp[i]);
  for (int64_t i = 0; i < n; i++) {
    bool ok;
    if (isnan(exp[i]))
      ok = isnan(got[i]);
    else if (isinf(exp[i]))
      ok = got[i] == exp[i];
    else
      ok = isfinite(got[i]) && fabs(got[i] - exp[i]) <= tol * scale;
    if (!ok) fail_msg("%s: element %lld is %.9g, expected %.9g", ctx, (long long)i, got[i], exp[i]);
  }
}

/* ---- data ----------------------------------------------------------------------------- */

static const double specials[] = {NAN, INFINITY, -INFINITY, 0.0, -0.0, 40.0, -40.0, 100.0, -100.0};
#define N_SPECIALS ((int64_t)(sizeof specials / sizeof specials[0]))

/* rows x cols values: multiples of 1/8 in [-4, 4]; every 5th element a
 * special (NaN, +-inf, +-0, large). sparse: only rows r % 3 == 1 get
 * specials (softmax keeps finite rows to compare). */
static double *activation_input(uint64_t seed, int64_t rows, int64_t cols, bool sparse) {
  tu_rng r = tu_rng_make(seed);
  double *v = malloc((size_t)(rows * cols) * sizeof(double));
  tu_rng_fill(&r, NN_F64, v, rows * cols, -4, 4);
  int64_t k = 0;
  for (int64_t i = 0; i < rows * cols; i++) {
    if (sparse && (i / cols) % 3 != 1) continue;
    if (i % 5 == 2) v[i] = specials[k++ % N_SPECIALS];
  }
  return v;
}

/* The row pattern of Linear inputs: kind (r + shift) % 4 is
 * 0: a NaN; 1: a +inf; 2: finite; 3: +inf in two columns (outputs +-inf or
 * NaN as the two weights' signs agree or not) and a -inf in a third. */
static double *linear_input(uint64_t seed, int64_t rows, int64_t k, int shift) {
  tu_rng r = tu_rng_make(seed);
  double *x = malloc((size_t)(rows * k) * sizeof(double));
  tu_rng_fill(&r, NN_F64, x, rows * k, -2, 2);
  for (int64_t i = 0; i < rows; i++) {
    double *xr = x + i * k;
    switch ((i + shift) % 4) {
      case 0: xr[(i * 5) % k] = NAN; break;
      case 1: xr[(i * 3 + 1) % k] = INFINITY; break;
      case 3:
        xr[i % k] = INFINITY;
        xr[(i + 1) % k] = INFINITY;
        xr[(i + 2) % k] = -INFINITY;
        break;
      default: break;
    }
  }
  return x;
}

static nn_tensor *make2(nn_dtype dt, int64_t rows, int64_t cols, const double *v) {
  int64_t s[2] = {rows, cols};
  return tu_make(dt, 2, s, v);
}

/* ---- a one-Linear model with exact parameters ------------------------------------------ */

typedef struct net {
  nn_model *m;
  int64_t k, n;
  nn_activation act;
  double *w, *b; /* [n, k], [n] */
} net;

/* Linear(k, n) + act (nn_model_mlp; IDENTITY adds no layer), weights
 * multiples of 1/16 in [-1, 1] and never 0 (so an inf input gives +-inf,
 * or NaN where two infs of opposite signs meet), biases multiples of 1/8,
 * then in dtype dt on tu_device(). */
static net make_net(uint64_t seed, int64_t k, int64_t n, nn_activation act, nn_dtype dt) {
  net t;
  t.k = k;
  t.n = n;
  t.act = act;
  const int64_t sizes[2] = {k, n};
  TU_OK(nn_model_mlp(2, sizes, NN_ACT_IDENTITY, act, &t.m));
  t.w = malloc((size_t)(k * n) * sizeof(double));
  t.b = malloc((size_t)n * sizeof(double));
  tu_rng r = tu_rng_make(seed);
  for (int64_t i = 0; i < k * n; i++) {
    double v = 0;
    while (v == 0) v = (double)tu_rng_int(&r, -16, 16) / 16.0;
    t.w[i] = v;
  }
  for (int64_t i = 0; i < n; i++) t.b[i] = (double)tu_rng_int(&r, -8, 8) / 8.0;
  nn_layer *lin = NULL;
  TU_OK(nn_model_layer(t.m, 0, &lin));
  float *f = malloc((size_t)(k * n) * sizeof(float));
  nn_tensor *p = NULL;
  TU_OK(nn_layer_param(lin, NN_PARAM_WEIGHT, &p));
  for (int64_t i = 0; i < k * n; i++) f[i] = (float)t.w[i];
  TU_OK(nn_tensor_write(p, f, (size_t)(k * n) * sizeof(float)));
  nn_tensor_free(p);
  TU_OK(nn_layer_param(lin, NN_PARAM_BIAS, &p));
  for (int64_t i = 0; i < n; i++) f[i] = (float)t.b[i];
  TU_OK(nn_tensor_write(p, f, (size_t)n * sizeof(float)));
  nn_tensor_free(p);
  free(f);
  TU_OK(nn_model_to_dtype(t.m, dt));
  TU_OK(nn_model_to(t.m, tu_device()));
  return t;
}

static void free_net(net *t) {
  nn_model_free(t->m);
  free(t->w);
  free(t->b);
}

/* z = x w^T + b in float64, then y = act(z). */
static void ref_net_forward(const net *t, const double *x, int64_t rows, double *z, double *y) {
  for (int64_t i = 0; i < rows; i++)
    for (int64_t o = 0; o < t->n; o++) {
      double s = 0;
      for (int64_t c = 0; c < t->k; c++) s += x[i * t->k + c] * t->w[o * t->k + c];
      z[i * t->n + o] = s + t->b[o];
    }
  ref_act_rows(t->act, y, z, rows, t->n);
}

/* ---- forward: nn_layer_forward on activation layers ------------------------------------- */

static void test_activation_layers_keep_nan(void **state) {
  (void)state;
  const int64_t widths[] = {1, 5, 16, 17, 40};
  const nn_dtype dts[2] = {NN_F32, NN_F64};
  char ctx[160];
  for (int ai = 0; ai < N_ACTS; ai++) {
    nn_layer *l = NULL;
    TU_OK(nn_layer_activation(all_acts[ai], &l));
    for (int di = 0; di < 2; di++)
      for (int ri = 0; ri < N_ROWS; ri++)
        for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++) {
          const int64_t rows = row_counts[ri], cols = widths[wi];
          double *x = activation_input(100 + wi, rows, cols, all_acts[ai] == NN_ACT_SOFTMAX);
          double *e = malloc((size_t)(rows * cols) * sizeof(double));
          ref_act_rows(all_acts[ai], e, x, rows, cols);
          nn_tensor *xt = make2(dts[di], rows, cols, x), *yt = NULL;
          TU_OK(nn_layer_forward(l, xt, &yt));
          int64_t n = 0;
          double *g = tu_read(yt, &n);
          assert_int_equal(n, rows * cols);
          snprintf(ctx, sizeof ctx, "nn_layer_forward %s %s [%lld, %lld] on %s", act_name(all_acts[ai]),
                   tu_dtype_name(dts[di]), (long long)rows, (long long)cols, tu_device_name());
          assert_same_nonfinite(g, e, n, dts[di] == NN_F32 ? 1e-6 : 1e-14, ctx);
          /* the rule itself, spelled out: NaN in, NaN out */
          for (int64_t i = 0; i < n; i++)
            if (isnan(x[i]) && !isnan(g[i])) fail_msg("%s: NaN at %lld became %g", ctx, (long long)i, g[i]);
          free(g);
          free(e);
          free(x);
          nn_tensor_free(xt);
          nn_tensor_free(yt);
        }
    nn_layer_free(l);
  }
}

/* The documented cases, one by one (F32). */
static void test_activation_special_values(void **state) {
  (void)state;
  const double x[6] = {NAN, INFINITY, -INFINITY, 2.0, -2.0, 0.0};
  const double e[7][6] = {
      [NN_ACT_IDENTITY] = {NAN, INFINITY, -INFINITY, 2.0, -2.0, 0.0},
      [NN_ACT_RELU] = {NAN, INFINITY, 0.0, 2.0, 0.0, 0.0},
      [NN_ACT_SIGMOID] = {NAN, 1.0, 0.0, 0.8807970779778823, 0.11920292202211755, 0.5},
      [NN_ACT_TANH] = {NAN, 1.0, -1.0, 0.9640275800758169, -0.9640275800758169, 0.0},
      [NN_ACT_STEP] = {NAN, 1.0, 0.0, 1.0, 0.0, 0.0},
      [NN_ACT_LEAKY_RELU] = {NAN, INFINITY, -INFINITY, 2.0, -0.02, 0.0},
  };
  int64_t s1[1] = {6};
  nn_tensor *xt = tu_make(NN_F32, 1, s1, x);
  for (int ai = 0; ai < N_ACTS; ai++) {
    if (all_acts[ai] == NN_ACT_SOFTMAX) continue;
    nn_layer *l = NULL;
    TU_OK(nn_layer_activation(all_acts[ai], &l));
    nn_tensor *y = NULL;
    TU_OK(nn_layer_forward(l, xt, &y));
    tu_assert_tensor(y, NN_F32, 1, s1, e[all_acts[ai]], 1e-6, 0);
    nn_tensor_free(y);
    nn_layer_free(l);
  }
  nn_tensor_free(xt);
  /* softmax rows: a NaN; a +inf; all -inf; a -inf among finite values */
  const double sx[4][3] = {{1, NAN, 2}, {1, INFINITY, 2}, {-INFINITY, -INFINITY, -INFINITY}, {0, -INFINITY, 0}};
  const double se[4][3] = {{NAN, NAN, NAN}, {NAN, NAN, NAN}, {NAN, NAN, NAN}, {0.5, 0.0, 0.5}};
  int64_t s2[2] = {4, 3};
  xt = tu_make(NN_F32, 2, s2, &sx[0][0]);
  nn_layer *l = NULL;
  TU_OK(nn_layer_activation(NN_ACT_SOFTMAX, &l));
  nn_tensor *y = NULL;
  TU_OK(nn_layer_forward(l, xt, &y));
  tu_assert_tensor(y, NN_F32, 2, s2, &se[0][0], 1e-6, 0);
  nn_tensor_free(y);
  nn_layer_free(l);
  nn_tensor_free(xt);
}

/* ---- forward: nn_model_forward, Linear + activation ----------------------------------------- */

/* (in, out) pairs: in <= 64 takes the one-row kernel at one row (ReLU, tanh,
 * identity); in and out off the 16-lane grid exercise the masked tails. */
static const int64_t shapes[][2] = {{5, 7}, {17, 16}, {64, 17}, {64, 40}, {33, 1}, {100, 100}};
#define N_SHAPES ((int)(sizeof shapes / sizeof shapes[0]))

static void check_model_forward(nn_dtype dt) {
  char ctx[200];
  for (int ai = 0; ai < N_ACTS; ai++)
    for (int si = 0; si < N_SHAPES; si++) {
      net t = make_net(7 + si, shapes[si][0], shapes[si][1], all_acts[ai], dt);
      for (int ri = 0; ri < N_ROWS; ri++) {
        const int64_t rows = row_counts[ri];
        for (int shift = 0; shift < (rows < 4 ? 4 : 1); shift++) {
          double *x = linear_input(31 * si + ri, rows, t.k, shift);
          double *z = malloc((size_t)(rows * t.n) * sizeof(double));
          double *e = malloc((size_t)(rows * t.n) * sizeof(double));
          ref_net_forward(&t, x, rows, z, e);
          nn_tensor *xt = make2(dt, rows, t.k, x), *yt = NULL;
          TU_OK(nn_model_forward(t.m, xt, &yt));
          int64_t n = 0;
          double *g = tu_read(yt, &n);
          assert_int_equal(n, rows * t.n);
          snprintf(ctx, sizeof ctx, "nn_model_forward Linear(%lld, %lld) + %s, %s, %lld rows (pattern %d) on %s",
                   (long long)t.k, (long long)t.n, act_name(t.act), tu_dtype_name(dt), (long long)rows, shift,
                   tu_device_name());
          assert_same_nonfinite(g, e, n, dt == NN_F32 ? 2e-6 : 1e-14, ctx);
          for (int64_t i = 0; i < n; i++)
            if (isnan(z[i]) && !isnan(g[i]))
              fail_msg("%s: pre-activation %lld is NaN, output %g", ctx, (long long)i, g[i]);
          /* nn_model_predict: host floats in and out, the same kernels */
          float *xf = malloc((size_t)(rows * t.k) * sizeof(float)), *yf = malloc((size_t)n * sizeof(float));
          for (int64_t i = 0; i < rows * t.k; i++) xf[i] = (float)x[i];
          TU_OK(nn_model_predict(t.m, rows, xf, yf));
          for (int64_t i = 0; i < n; i++) g[i] = (double)yf[i];
          snprintf(ctx, sizeof ctx, "nn_model_predict Linear(%lld, %lld) + %s, %s, %lld rows (pattern %d) on %s",
                   (long long)t.k, (long long)t.n, act_name(t.act), tu_dtype_name(dt), (long long)rows, shift,
                   tu_device_name());
          assert_same_nonfinite(g, e, n, 2e-6, ctx);
          free(xf);
          free(yf);
          free(g);
          free(e);
          free(z);
          free(x);
          nn_tensor_free(xt);
          nn_tensor_free(yt);
        }
      }
      free_net(&t);
    }
}

static void test_model_forward_f32(void **state) {
  (void)state;
  check_model_forward(NN_F32);
}

static void test_model_forward_f64(void **state) {
  (void)state;
  check_model_forward(NN_F64);
}

/* A deeper MLP: a NaN in a row's input makes that whole output row NaN
 * through every hidden activation (ReLU used to answer with plausible
 * numbers), and the other rows stay finite. */
static void test_deep_model_nan_rows(void **state) {
  (void)state;
  const int64_t sizes[4] = {20, 64, 48, 10};
  for (int ai = 0; ai < N_ACTS; ai++)
    for (int ri = 0; ri < N_ROWS; ri++) {
      const int64_t rows = row_counts[ri];
      nn_model *m = NULL;
      TU_OK(nn_model_mlp(4, sizes, all_acts[ai], NN_ACT_IDENTITY, &m));
      TU_OK(nn_model_to(m, tu_device()));
      tu_rng r = tu_rng_make(5 + ri);
      double *x = malloc((size_t)(rows * 20) * sizeof(double));
      tu_rng_fill(&r, NN_F64, x, rows * 20, -2, 2);
      for (int64_t i = 0; i < rows; i += 2) x[i * 20 + (i * 7) % 20] = NAN; /* even rows */
      nn_tensor *xt = make2(NN_F32, rows, 20, x), *yt = NULL;
      TU_OK(nn_model_forward(m, xt, &yt));
      int64_t n = 0;
      double *g = tu_read(yt, &n);
      for (int64_t i = 0; i < rows; i++)
        for (int64_t o = 0; o < 10; o++) {
          const double v = g[i * 10 + o];
          if (i % 2 == 0 ? !isnan(v) : !isfinite(v))
            fail_msg("hidden %s, %lld rows on %s: output [%lld, %lld] is %g (input row %s)", act_name(all_acts[ai]),
                     (long long)rows, tu_device_name(), (long long)i, (long long)o, v,
                     i % 2 == 0 ? "has a NaN" : "finite");
        }
      free(g);
      free(x);
      nn_tensor_free(xt);
      nn_tensor_free(yt);
      nn_model_free(m);
    }
}

/* ---- backward: nn_model_backward + nn_layer_grad --------------------------------------------- */

static double *grad_of(nn_model *m, nn_param which) {
  nn_layer *lin = NULL;
  TU_OK(nn_model_layer(m, 0, &lin));
  nn_tensor *g = NULL;
  TU_OK(nn_layer_grad(lin, which, &g));
  int64_t n = 0;
  double *v = tu_read(g, &n);
  nn_tensor_free(g);
  return v;
}

/* Linear(k, n) + act, SSE loss against finite targets: loss gradient
 * 2 (y - target), then the activation's backward, dW = dz^T x, db = sum dz. */
static void check_backward(nn_dtype dt) {
  static const int64_t bshapes[][2] = {{5, 7}, {17, 16}, {64, 40}};
  char ctx[200];
  for (int ai = 0; ai < N_ACTS; ai++)
    for (int si = 0; si < 3; si++) {
      net t = make_net(11 + si, bshapes[si][0], bshapes[si][1], all_acts[ai], dt);
      const int64_t k = t.k, nout = t.n;
      for (int ri = 0; ri < N_ROWS; ri++) {
        const int64_t rows = row_counts[ri];
        for (int shift = 0; shift < (rows < 4 ? 4 : 1); shift++) {
          double *x = linear_input(97 * si + ri, rows, k, shift);
          double *tg = malloc((size_t)(rows * nout) * sizeof(double));
          tu_rng r = tu_rng_make(3 + ri);
          tu_rng_fill(&r, NN_F64, tg, rows * nout, 0, 1);
          double *z = malloc((size_t)(rows * nout) * sizeof(double));
          double *y = malloc((size_t)(rows * nout) * sizeof(double));
          double *gy = malloc((size_t)(rows * nout) * sizeof(double));
          double *dz = malloc((size_t)(rows * nout) * sizeof(double));
          ref_net_forward(&t, x, rows, z, y);
          for (int64_t i = 0; i < rows * nout; i++) gy[i] = 2.0 * (y[i] - tg[i]);
          ref_act_backward(t.act, dz, y, gy, rows, nout);
          double *ew = calloc((size_t)(nout * k), sizeof(double)), *eb = calloc((size_t)nout, sizeof(double));
          for (int64_t o = 0; o < nout; o++) {
            for (int64_t c = 0; c < k; c++) {
              double s = 0;
              for (int64_t i = 0; i < rows; i++) s += dz[i * nout + o] * x[i * k + c];
              ew[o * k + c] = s;
            }
            double s = 0;
            for (int64_t i = 0; i < rows; i++) s += dz[i * nout + o];
            eb[o] = s;
          }
          nn_tensor *xt = make2(dt, rows, k, x), *tt = make2(dt, rows, nout, tg);
          TU_OK(nn_model_zero_grad(t.m));
          double lv = 0;
          TU_OK(nn_model_backward(t.m, xt, tt, NN_LOSS_SSE, &lv));
          double *gw = grad_of(t.m, NN_PARAM_WEIGHT), *gb = grad_of(t.m, NN_PARAM_BIAS);
          snprintf(ctx, sizeof ctx, "grad of Linear(%lld, %lld) + %s, %s, %lld rows (pattern %d) on %s: %%s",
                   (long long)k, (long long)nout, act_name(t.act), tu_dtype_name(dt), (long long)rows, shift,
                   tu_device_name());
          char c2[240];
          const double tol = dt == NN_F32 ? 2e-5 : 1e-12;
          snprintf(c2, sizeof c2, ctx, "bias");
          assert_same_nonfinite(gb, eb, nout, tol, c2);
          snprintf(c2, sizeof c2, ctx, "weight");
          assert_same_nonfinite(gw, ew, nout * k, tol, c2);
          free(gw);
          free(gb);
          free(ew);
          free(eb);
          free(dz);
          free(gy);
          free(y);
          free(z);
          free(tg);
          free(x);
          nn_tensor_free(xt);
          nn_tensor_free(tt);
        }
      }
      free_net(&t);
    }
}

static void test_backward_f32(void **state) {
  (void)state;
  check_backward(NN_F32);
}

static void test_backward_f64(void **state) {
  (void)state;
  check_backward(NN_F64);
}

/* ReLU backward at a NaN output, spelled out: one sample, Linear(2, 2) +
 * ReLU, x = [inf, inf] with weights of opposite signs in output 0 (z0 =
 * inf - inf = NaN) and of one sign in output 1 (z1 = -inf, relu 0). torch:
 * y = [NaN, 0], dL/dy = 2 (y - t) = [NaN, -2 t1], threshold_backward gives
 * dz = [NaN, 0] (the NaN passes; a rule y > 0 ? g : 0 would give 0). */
static void test_relu_backward_passes_nan(void **state) {
  (void)state;
  nn_model *m = NULL;
  const int64_t sizes[2] = {2, 2};
  TU_OK(nn_model_mlp(2, sizes, NN_ACT_IDENTITY, NN_ACT_RELU, &m));
  nn_layer *lin = NULL;
  TU_OK(nn_model_layer(m, 0, &lin));
  nn_tensor *p = NULL;
  const float w[4] = {1, -1, -1, -1}, b[2] = {0, 0};
  TU_OK(nn_layer_param(lin, NN_PARAM_WEIGHT, &p));
  TU_OK(nn_tensor_write(p, w, sizeof w));
  nn_tensor_free(p);
  TU_OK(nn_layer_param(lin, NN_PARAM_BIAS, &p));
  TU_OK(nn_tensor_write(p, b, sizeof b));
  nn_tensor_free(p);
  TU_OK(nn_model_to(m, tu_device()));
  const double xv[2] = {INFINITY, INFINITY}, tv[2] = {0.5, 0.5};
  nn_tensor *x = make2(NN_F32, 1, 2, xv), *t = make2(NN_F32, 1, 2, tv), *y = NULL;
  TU_OK(nn_model_forward(m, x, &y));
  const double ey[2] = {NAN, 0.0};
  int64_t s2[2] = {1, 2};
  tu_assert_tensor(y, NN_F32, 2, s2, ey, 0, 0);
  double lv = 0;
  TU_OK(nn_model_backward(m, x, t, NN_LOSS_SSE, &lv));
  assert_true(isnan(lv));
  double *gb = grad_of(m, NN_PARAM_BIAS), *gw = grad_of(m, NN_PARAM_WEIGHT);
  assert_true(isnan(gb[0]));     /* dz0 = NaN passes */
  assert_true(gb[1] == 0.0);     /* y1 = 0: no gradient */
  assert_true(isnan(gw[0]) && isnan(gw[1]));
  assert_true(isnan(gw[2]) && isnan(gw[3])); /* 0 * inf */
  free(gb);
  free(gw);
  nn_tensor_free(x);
  nn_tensor_free(t);
  nn_tensor_free(y);
  nn_model_free(m);
}

/* ---- nn_model_evaluate ---------------------------------------------------------------------- */

/* Every loss, with a NaN in x (through a ReLU hidden layer) or in a
 * floating target: the loss is NaN. 3 rows, and 9000 (evaluated in chunks). */
static void test_evaluate_nan_loss(void **state) {
  (void)state;
  const nn_loss losses[] = {NN_LOSS_MSE, NN_LOSS_SSE, NN_LOSS_HALF_MSE, NN_LOSS_BCE, NN_LOSS_BCE_WITH_LOGITS,
                            NN_LOSS_CROSS_ENTROPY};
  const int64_t ns[2] = {3, 9000};
  for (size_t li = 0; li < sizeof losses / sizeof losses[0]; li++)
    for (int ni = 0; ni < 2; ni++)
      for (int where = 0; where < 4; where++) { /* 0: NaN in x, 1: inf in x, 2: NaN in y, 3: CE ids */
        const nn_loss loss = losses[li];
        const bool ce = loss == NN_LOSS_CROSS_ENTROPY;
        if (where == 3 && !ce) continue;
        const int64_t n = ns[ni], in = 4, out = 3;
        const int64_t sizes[3] = {in, 8, out};
        nn_model *m = NULL;
        TU_OK(nn_model_mlp(3, sizes, NN_ACT_RELU, loss == NN_LOSS_BCE ? NN_ACT_SIGMOID : NN_ACT_IDENTITY, &m));
        TU_OK(nn_model_to(m, tu_device()));
        tu_rng r = tu_rng_make(9);
        double *x = malloc((size_t)(n * in) * sizeof(double)), *y = malloc((size_t)(n * out) * sizeof(double));
        tu_rng_fill(&r, NN_F64, x, n * in, -1, 1);
        tu_rng_fill(&r, NN_F64, y, n * out, 0, 1);
        const int64_t bad_row = n - 2;
        if (where == 0) x[bad_row * in + 1] = NAN;
        if (where == 1) x[bad_row * in + 2] = INFINITY;
        if (where == 2) y[bad_row * out + 2] = NAN;
        nn_tensor *xt = make2(NN_F32, n, in, x), *yt = NULL;
        if (where == 3) {
          int64_t *ids = malloc((size_t)n * sizeof(int64_t));
          for (int64_t i = 0; i < n; i++) ids[i] = i % out;
          int64_t s1[1] = {n};
          yt = tu_make_i64(NN_I64, 1, s1, ids);
          free(ids);
          x[bad_row * in] = NAN;
          nn_tensor_free(xt);
          xt = make2(NN_F32, n, in, x);
        } else {
          yt = make2(NN_F32, n, out, y);
        }
        double v = 0, acc = 0;
        TU_OK(nn_model_evaluate(m, xt, yt, loss, &v, &acc));
        if (where == 1 ? isfinite(v) : !isnan(v))
          fail_msg("loss %d, %lld rows, case %d on %s: evaluate gave %g", (int)loss, (long long)n, where,
                   tu_device_name(), v);
        free(x);
        free(y);
        nn_tensor_free(xt);
        nn_tensor_free(yt);
        nn_model_free(m);
      }
}

/* ---- nn_model_fit refuses non-finite data ---------------------------------------------------- */

static float *params_raw(nn_model *m, int64_t *count) {
  int64_t nv = 0;
  double *v = tu_model_values(m, false, &nv);
  float *f = malloc((size_t)(nv ? nv : 1) * sizeof(float));
  for (int64_t i = 0; i < nv; i++) f[i] = (float)v[i];
  free(v);
  *count = nv;
  return f;
}

static int count_epochs(const nn_epoch_report *r, void *ud) {
  (void)r;
  ++*(int *)ud;
  return 0;
}

typedef struct fit_case {
  const char *tensor;   /* which one is bad: "x", "y", "val_x", "val_y" */
  int64_t row, col;     /* col < 0: y is 1-D [n] (one output) */
  double value;
  const char *expect;   /* in the message */
  nn_dtype x_dtype;     /* x (and val_x) dtype; the model is F32 */
} fit_case;

static void run_fit_case(const fit_case *c) {
  const int64_t n = 40, nv = 12, in = 5;
  const int64_t out = c->col < 0 ? 1 : 3;
  const int64_t sizes[3] = {in, 8, out};
  nn_model *m = NULL;
  TU_OK(nn_model_mlp(3, sizes, NN_ACT_RELU, NN_ACT_IDENTITY, &m));
  TU_OK(nn_model_to(m, tu_device()));
  nn_optimizer *opt = NULL;
  TU_OK(nn_optimizer_adam(m, 0.01, 0.9, 0.999, 1e-8, 0, false, &opt));
  tu_rng r = tu_rng_make(17);
  double *x = malloc((size_t)(n * in) * sizeof(double)), *y = malloc((size_t)(n * out) * sizeof(double));
  double *vx = malloc((size_t)(nv * in) * sizeof(double)), *vy = malloc((size_t)(nv * out) * sizeof(double));
  tu_rng_fill(&r, NN_F64, x, n * in, -1, 1);
  tu_rng_fill(&r, NN_F64, y, n * out, -1, 1);
  tu_rng_fill(&r, NN_F64, vx, nv * in, -1, 1);
  tu_rng_fill(&r, NN_F64, vy, nv * out, -1, 1);
  const int64_t cc = c->col < 0 ? 0 : c->col;
  if (strcmp(c->tensor, "x") == 0) x[c->row * in + cc] = c->value;
  if (strcmp(c->tensor, "y") == 0) y[c->row * out + cc] = c->value;
  if (strcmp(c->tensor, "val_x") == 0) vx[c->row * in + cc] = c->value;
  if (strcmp(c->tensor, "val_y") == 0) vy[c->row * out + cc] = c->value;
  int64_t s1[1] = {n}, s1v[1] = {nv};
  nn_tensor *xt = make2(c->x_dtype, n, in, x), *vxt = make2(c->x_dtype, nv, in, vx);
  nn_tensor *yt = c->col < 0 ? tu_make(NN_F32, 1, s1, y) : make2(NN_F32, n, out, y);
  nn_tensor *vyt = c->col < 0 ? tu_make(NN_F32, 1, s1v, vy) : make2(NN_F32, nv, out, vy);
  int64_t np = 0;
  float *before = params_raw(m, &np);
  int epochs = 0;
  nn_fit_options o;
  nn_fit_options_init(&o);
  o.epochs = 3;
  o.batch_size = 8;
  o.val_x = vxt;
  o.val_y = vyt;
  o.on_epoch = count_epochs;
  o.user_data = &epochs;
  nn_epoch_report last;
  memset(&last, 0, sizeof last);
  TU_ERR(nn_model_fit(m, opt, xt, yt, &o, &last), NN_ERR_NOT_FINITE, "nn_model_fit", c->expect,
         "training data must be finite");
  assert_int_equal(epochs, 0);
  int64_t np2 = 0;
  float *after = params_raw(m, &np2);
  assert_int_equal(np, np2);
  assert_memory_equal(before, after, (size_t)np * sizeof(float)); /* bit for bit */
  /* the gradients were not touched either */
  double *grads = tu_model_values(m, true, &np2);
  for (int64_t i = 0; i < np2; i++) assert_true(grads[i] == 0.0);
  free(grads);
  free(after);
  free(before);
  free(x);
  free(y);
  free(vx);
  free(vy);
  nn_tensor_free(xt);
  nn_tensor_free(yt);
  nn_tensor_free(vxt);
  nn_tensor_free(vyt);
  nn_optimizer_free(opt);
  nn_model_free(m);
}

static void test_fit_refuses_non_finite(void **state) {
  (void)state;
  const fit_case cases[] = {
      {"x", 17, 3, NAN, "x[17, 3] is NaN", NN_F32},
      {"x", 0, 0, INFINITY, "x[0, 0] is inf", NN_F32},
      {"x", 39, 4, -INFINITY, "x[39, 4] is -inf", NN_F32},
      {"y", 5, -1, INFINITY, "y[5] is inf", NN_F32},
      {"y", 4, 1, -INFINITY, "y[4, 1] is -inf", NN_F32},
      {"y", 39, 2, NAN, "y[39, 2] is NaN", NN_F32},
      {"val_x", 2, 0, -INFINITY, "val_x[2, 0] is -inf", NN_F32},
      {"val_x", 11, 4, NAN, "val_x[11, 4] is NaN", NN_F32},
      {"val_y", 2, -1, INFINITY, "val_y[2] is inf", NN_F32},
      {"val_y", 0, 2, NAN, "val_y[0, 2] is NaN", NN_F32},
      /* float64 data for a float32 model: 1e300 becomes inf on conversion */
      {"x", 3, 1, 1e300, "x[3, 1] is inf once converted to float32", NN_F64},
      {"x", 3, 1, NAN, "x[3, 1] is NaN once converted to float32", NN_F64},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_fit_case(&cases[i]);
}

/* The first non-finite value in row-major order is the one named. */
static void test_fit_names_first_bad_element(void **state) {
  (void)state;
  const int64_t n = 6, in = 3, sizes[2] = {3, 1};
  nn_model *m = NULL;
  TU_OK(nn_model_mlp(2, sizes, NN_ACT_IDENTITY, NN_ACT_IDENTITY, &m));
  TU_OK(nn_model_to(m, tu_device()));
  nn_optimizer *opt = NULL;
  TU_OK(nn_optimizer_sgd(m, 0.1, 0, 0, false, &opt));
  double x[18] = {0}, y[6] = {0};
  x[2 * in + 2] = INFINITY;
  x[4 * in + 0] = NAN;
  x[1 * in + 1] = NAN; /* first */
  nn_tensor *xt = make2(NN_F32, n, in, x), *yt = make2(NN_F32, n, 1, y);
  nn_fit_options o;
  nn_fit_options_init(&o);
  TU_ERR(nn_model_fit(m, opt, xt, yt, &o, NULL), NN_ERR_NOT_FINITE, "nn_model_fit", "x[1, 1] is NaN");
  /* finite data train as before */
  x[2 * in + 2] = x[4 * in + 0] = x[1 * in + 1] = 0.5;
  nn_tensor_free(xt);
  xt = make2(NN_F32, n, in, x);
  o.epochs = 2;
  TU_OK(nn_model_fit(m, opt, xt, yt, &o, NULL));
  nn_tensor_free(xt);
  nn_tensor_free(yt);
  nn_optimizer_free(opt);
  nn_model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_activation_layers_keep_nan),
      cmocka_unit_test(test_activation_special_values),
      cmocka_unit_test(test_model_forward_f32),
      cmocka_unit_test(test_model_forward_f64),
      cmocka_unit_test(test_deep_model_nan_rows),
      cmocka_unit_test(test_backward_f32),
      cmocka_unit_test(test_backward_f64),
      cmocka_unit_test(test_relu_backward_passes_nan),
      cmocka_unit_test(test_evaluate_nan_loss),
      cmocka_unit_test(test_fit_refuses_non_finite),
      cmocka_unit_test(test_fit_names_first_bad_element),
  };
  return tu_run_group(tests);
}
