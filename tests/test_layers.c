/* Layers and models: Linear forward against a float64 reference for
 * [..., in] inputs, activation values, parameters sharing storage, parameter
 * counts, nn_model_mlp's structure, initialisers' statistics and seeding,
 * the summary text, gradient accumulation and zero_grad.
 *
 * Device-generic: models are moved to tu_device() with nn_model_to() and the
 * data live there. A free-standing layer is created on the CPU and nn.h has
 * no call that moves a layer alone, so off the CPU it is run as the only
 * layer of a model on tu_device() (nn_model_add moves it; see on_device()). */
#include "test_util.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define assert_near(a, b, tol)                                                             \
  do {                                                                                     \
    double a_ = (a), b_ = (b), t_ = (tol);                                                 \
    if (!(fabs(a_ - b_) <= t_)) fail_msg("%s = %.17g, expected %.17g (tol %g)", #a, a_, b_, t_); \
  } while (0)

/* Moves m to tu_device() (a no-op on the CPU). */
static void to_dev(nn_model *m) {
  TU_OK(nn_model_to(m, tu_device()));
  nn_device d = nn_model_device(m);
  assert_int_equal(d.type, tu_device().type);
  assert_int_equal(d.index, tu_device().index);
}

/* Puts a new (CPU) layer on tu_device(). On the CPU it stays free-standing
 * and NULL is returned; elsewhere it becomes the only layer of an empty model
 * moved to tu_device() (nn_model_add moves the layer to the model's device),
 * which owns it from then on: the returned model. `l` stays usable (borrowed).
 * Release with release_layer(). */
static nn_model *on_device(nn_layer *l) {
  if (tu_on_cpu()) return NULL;
  nn_model *m = NULL;
  TU_OK(nn_model_create(&m));
  to_dev(m);
  TU_OK(nn_model_add(m, l));
  return m;
}

static void release_layer(nn_layer *l, nn_model *holder) {
  if (holder) nn_model_free(holder);
  else nn_layer_free(l);
}

static nn_layer *get_layer(nn_model *m, int i) {
  nn_layer *l = NULL;
  TU_OK(nn_model_layer(m, i, &l));
  return l;
}

static double *read_param(nn_layer *l, nn_param which, int64_t *n) {
  nn_tensor *p = NULL;
  TU_OK(nn_layer_param(l, which, &p));
  double *v = tu_read(p, n);
  nn_tensor_free(p);
  return v;
}

static void write_param(nn_layer *l, nn_param which, const double *v) {
  nn_tensor *p = NULL;
  TU_OK(nn_layer_param(l, which, &p));
  int64_t n = nn_tensor_numel(p);
  float *f = malloc((size_t)n * sizeof(float));
  for (int64_t i = 0; i < n; i++) f[i] = (float)v[i];
  TU_OK(nn_tensor_write(p, f, (size_t)n * sizeof(float)));
  free(f);
  nn_tensor_free(p);
}

/* every parameter of m as raw float32 values, in layer order */
static float *params_raw(nn_model *m, int64_t *count) {
  int64_t total = nn_model_num_params(m);
  float *out = malloc((size_t)(total ? total : 1) * sizeof(float));
  int64_t off = 0;
  for (int i = 0; i < nn_model_num_layers(m); i++) {
    nn_layer *l = get_layer(m, i);
    if (nn_layer_kind_of(l) != NN_LAYER_LINEAR) continue;
    for (int w = 0; w < 2; w++) {
      nn_tensor *p = NULL;
      if (nn_layer_param(l, (nn_param)w, &p) != NN_OK) continue;
      int64_t n = nn_tensor_numel(p);
      assert_true(off + n <= total);
      TU_OK(nn_tensor_read(p, out + off, (size_t)n * sizeof(float)));
      off += n;
      nn_tensor_free(p);
    }
  }
  assert_int_equal(off, total);
  *count = total;
  return out;
}

/* ---- Linear forward ---------------------------------------------------------- */

static void check_linear_forward(bool bias) {
  const int64_t in = 5, out = 3;
  nn_layer *l = NULL;
  TU_OK(nn_layer_linear(in, out, bias, &l));
  assert_int_equal(nn_layer_kind_of(l), NN_LAYER_LINEAR);
  nn_model *holder = on_device(l);
  tu_rng r = tu_rng_make(bias ? 1 : 2);
  double W[15], B[3] = {0, 0, 0};
  tu_rng_fill(&r, NN_F32, W, 15, -2, 2);
  if (bias) {
    tu_rng_fill(&r, NN_F32, B, 3, -2, 2);
    write_param(l, NN_PARAM_BIAS, B);
  }
  write_param(l, NN_PARAM_WEIGHT, W);
  nn_tensor *p = NULL;
  TU_OK(nn_layer_param(l, NN_PARAM_WEIGHT, &p));
  const int64_t ws[2] = {out, in};
  tu_assert_meta(p, NN_F32, 2, ws);
  nn_tensor_free(p);
  /* x of shape [5], [4, 5], [2, 3, 5] */
  const int64_t shapes[3][3] = {{5, 0, 0}, {4, 5, 0}, {2, 3, 5}};
  const int ndims[3] = {1, 2, 3};
  for (int c = 0; c < 3; c++) {
    int64_t n = tu_numel(ndims[c], shapes[c]);
    int64_t rows = n / in;
    double *x = malloc((size_t)n * sizeof(double));
    double *e = malloc((size_t)(rows * out) * sizeof(double));
    tu_rng_fill(&r, NN_F32, x, n, -3, 3);
    for (int64_t i = 0; i < rows; i++)
      for (int64_t o = 0; o < out; o++) {
        double s = B[o];
        for (int64_t k = 0; k < in; k++) s += x[i * in + k] * W[o * in + k];
        e[i * out + o] = s;
      }
    nn_tensor *xt = tu_make(NN_F32, ndims[c], shapes[c], x);
    nn_tensor *y = NULL;
    TU_OK(nn_layer_forward(l, xt, &y));
    int64_t ys[3];
    memcpy(ys, shapes[c], sizeof ys);
    ys[ndims[c] - 1] = out;
    tu_assert_tensor(y, NN_F32, ndims[c], ys, e, 1e-6, 1e-6);
    nn_tensor_free(y);
    nn_tensor_free(xt);
    free(x);
    free(e);
  }
  release_layer(l, holder);
}

static void test_linear_forward(void **state) {
  (void)state;
  check_linear_forward(true);
  check_linear_forward(false);
}

static void test_linear_no_bias_has_no_bias_param(void **state) {
  (void)state;
  nn_layer *l = NULL;
  TU_OK(nn_layer_linear(3, 2, false, &l));
  nn_tensor *p = TU_SENTINEL;
  TU_ERR(nn_layer_param(l, NN_PARAM_BIAS, &p), NN_ERR_INVALID_ARGUMENT, "nn_layer_param", "bias");
  assert_ptr_equal(p, TU_SENTINEL);
  nn_model *m = NULL;
  TU_OK(nn_model_create(&m));
  to_dev(m);
  TU_OK(nn_model_add(m, l));
  assert_int_equal(nn_model_num_params(m), 6);
  p = TU_SENTINEL; /* still none once on the model's device */
  TU_ERR(nn_layer_param(l, NN_PARAM_BIAS, &p), NN_ERR_INVALID_ARGUMENT, "nn_layer_param", "bias");
  assert_ptr_equal(p, TU_SENTINEL);
  nn_model_free(m);
}

/* ---- activations -------------------------------------------------------------- */

static void test_activation_values(void **state) {
  (void)state;
  const int64_t s[2] = {2, 4};
  const double x[8] = {-2.0, -0.5, 0.0, 1.5, 3.0, -1.0, 0.25, 0.0};
  for (int a = NN_ACT_IDENTITY; a <= NN_ACT_LEAKY_RELU; a++) {
    double e[8];
    for (int i = 0; i < 8; i++) {
      double v = x[i];
      switch (a) {
        case NN_ACT_IDENTITY: e[i] = v; break;
        case NN_ACT_RELU: e[i] = v > 0 ? v : 0; break;
        case NN_ACT_SIGMOID: e[i] = 1 / (1 + exp(-v)); break;
        case NN_ACT_TANH: e[i] = tanh(v); break;
        case NN_ACT_STEP: e[i] = v > 0 ? 1 : 0; break;
        case NN_ACT_LEAKY_RELU: e[i] = v > 0 ? v : 0.01 * v; break;
        default: e[i] = 0;
      }
    }
    if (a == NN_ACT_SOFTMAX)
      for (int r = 0; r < 2; r++) {
        double mx = -INFINITY, sum = 0;
        for (int j = 0; j < 4; j++) mx = fmax(mx, x[r * 4 + j]);
        for (int j = 0; j < 4; j++) sum += exp(x[r * 4 + j] - mx);
        for (int j = 0; j < 4; j++) e[r * 4 + j] = exp(x[r * 4 + j] - mx) / sum;
      }
    for (int d = 0; d < 2; d++) {
      nn_dtype dt = d ? NN_F64 : NN_F32;
      nn_layer *l = NULL;
      TU_OK(nn_layer_activation((nn_activation)a, &l));
      assert_int_equal(nn_layer_kind_of(l), NN_LAYER_ACTIVATION);
      nn_model *holder = on_device(l);
      nn_tensor *xt = tu_make(dt, 2, s, x), *y = NULL;
      TU_OK(nn_layer_forward(l, xt, &y));
      tu_assert_tensor(y, dt, 2, s, e, d ? 1e-14 : 1e-6, d ? 1e-15 : 1e-7);
      nn_tensor_free(y);
      nn_tensor_free(xt);
      /* activation layers have no parameters */
      nn_tensor *p = TU_SENTINEL;
      TU_ERR(nn_layer_param(l, NN_PARAM_WEIGHT, &p), NN_ERR_INVALID_ARGUMENT, "nn_layer_param", "");
      assert_ptr_equal(p, TU_SENTINEL);
      release_layer(l, holder);
    }
  }
}

/* float tanh within 1 ulp of the correctly rounded value (CUDA's tanhf: 2)
 * on ~72k inputs spread over every binade from 2^-30 to 2^5, both signs,
 * and exact at the special points (+-0 keep their sign, +-1 from 9.02 on,
 * +-inf, NaN), through both CPU routes: an activation layer over a [1, n]
 * tensor and a one-row nn_model_predict, where Linear(1, 64) with bias 0,
 * input 1 and weights x feeds each x to the fused tanh of the matvec chain. */
static uint32_t f32_bits(float v) {
  uint32_t b;
  memcpy(&b, &v, sizeof b);
  return b;
}

static int64_t ulps_apart(float a, float b) {
  const int64_t ia = (int32_t)f32_bits(a), ib = (int32_t)f32_bits(b);
  /* signed-magnitude to a monotonic integer line */
  const int64_t la = ia < 0 ? INT32_MIN - ia : ia, lb = ib < 0 ? INT32_MIN - ib : ib;
  return la > lb ? la - lb : lb - la;
}

static void test_tanh_accuracy(void **state) {
  (void)state;
  enum { kSpecial = 10 };
  const float special[kSpecial] = {0.f, -0.f, 9.02f, -9.02f, 12.f, 1e30f, -1e30f, INFINITY, -INFINITY, NAN};
  const int64_t n = kSpecial + 2 * 35 * 1024;
  float *x = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)n);
  double *xd = malloc(sizeof(double) * (size_t)n);
  assert_true(x && y && xd);
  int64_t k = 0;
  for (int i = 0; i < kSpecial; i++) x[k++] = special[i];
  for (int e = -30; e < 5; e++)
    for (int j = 0; j < 1024; j++) {
      const float v = ldexpf(1.f + (float)j / 1024.f + (float)(j % 7) * 0x1p-20f, e);
      x[k++] = v;
      x[k++] = -v;
    }
  assert_int_equal(k, n);
  for (int64_t i = 0; i < n; i++) xd[i] = x[i];
  const int64_t max_ulps = tu_on_cpu() ? 1 : 2;

  for (int route = 0; route < 2; route++) {
    if (route == 0) { /* activation layer over [1, n] */
      nn_layer *l = NULL;
      TU_OK(nn_layer_activation(NN_ACT_TANH, &l));
      nn_model *holder = on_device(l);
      const int64_t s[2] = {1, n};
      nn_tensor *xt = tu_make(NN_F32, 2, s, xd), *yt = NULL;
      TU_OK(nn_layer_forward(l, xt, &yt));
      TU_OK(nn_tensor_read(yt, y, sizeof(float) * (size_t)n));
      nn_tensor_free(yt);
      nn_tensor_free(xt);
      release_layer(l, holder);
    } else { /* one-row predict through Linear(1, 64) + tanh */
      const int64_t sizes[2] = {1, 64};
      nn_model *m = NULL;
      TU_OK(nn_model_mlp(2, sizes, NN_ACT_IDENTITY, NN_ACT_TANH, &m));
      to_dev(m);
      nn_tensor *w = NULL, *b = NULL;
      TU_OK(nn_layer_param(get_layer(m, 0), NN_PARAM_WEIGHT, &w));
      TU_OK(nn_layer_param(get_layer(m, 0), NN_PARAM_BIAS, &b));
      float zeros[64] = {0}, chunk[64], out[64];
      TU_OK(nn_tensor_write(b, zeros, sizeof zeros));
      const float one = 1.f;
      for (int64_t i = 0; i < n; i += 64) {
        const int64_t c = n - i < 64 ? n - i : 64;
        for (int64_t j = 0; j < 64; j++) chunk[j] = j < c ? x[i + j] : 0.f;
        TU_OK(nn_tensor_write(w, chunk, sizeof chunk));
        TU_OK(nn_model_predict(m, 1, &one, out));
        memcpy(y + i, out, sizeof(float) * (size_t)c);
      }
      nn_tensor_free(w);
      nn_tensor_free(b);
      nn_model_free(m);
    }
    for (int64_t i = 0; i < n; i++) {
      const float want = (float)tanh((double)x[i]);
      const int ok = isnan(x[i]) ? isnan(y[i]) != 0
                     /* the sign of zero (1 w + 0 is +0 for w = -0) */
                     : x[i] == 0.f ? f32_bits(y[i]) == f32_bits(route == 0 ? x[i] : 0.f)
                     : fabsf(x[i]) >= 9.02f ? y[i] == (x[i] > 0 ? 1.f : -1.f)       /* saturated exactly */
                     : ulps_apart(y[i], want) <= max_ulps;
      if (!ok) fail_msg("route %d: tanh(%.9g) = %.9g, want %.9g (within %lld ulp)", route, (double)x[i],
                        (double)y[i], (double)want, (long long)max_ulps);
    }
  }
  free(x);
  free(y);
  free(xd);
}

static void test_softmax_last_dim_3d_and_large(void **state) {
  (void)state;
  const int64_t s[3] = {2, 1, 3};
  const double x[6] = {1000.0, 1001.0, 999.0, -5.0, -5.0, -5.0};
  nn_layer *l = NULL;
  TU_OK(nn_layer_activation(NN_ACT_SOFTMAX, &l));
  nn_model *holder = on_device(l);
  nn_tensor *xt = tu_make(NN_F32, 3, s, x), *y = NULL;
  TU_OK(nn_layer_forward(l, xt, &y));
  double z = exp(-1.0) + 1 + exp(-2.0);
  const double e[6] = {exp(-1.0) / z, 1 / z, exp(-2.0) / z, 1.0 / 3, 1.0 / 3, 1.0 / 3};
  tu_assert_tensor(y, NN_F32, 3, s, e, 1e-6, 1e-7);
  nn_tensor_free(y);
  nn_tensor_free(xt);
  release_layer(l, holder);
}

/* Softmax over rows wider than a warp (45 columns: each lane of a CUDA
 * warp-per-row kernel takes one or two columns) and more rows than a block
 * has warps, F32 and F64; rows with a NaN, a +inf or only -inf give all NaN
 * (PyTorch's exp(x - max) / sum), a single -inf entry gives 0 there. */
static void test_softmax_wide_rows_and_non_finite(void **state) {
  (void)state;
  const int64_t rows = 37, cols = 45, s[2] = {rows, cols};
  double *x = malloc((size_t)(rows * cols) * sizeof(double)), *e = malloc((size_t)(rows * cols) * sizeof(double));
  for (int d = 0; d < 2; d++) {
    nn_dtype dt = d ? NN_F64 : NN_F32;
    tu_rng r = tu_rng_make(4500 + (uint64_t)d);
    for (int64_t i = 0; i < rows * cols; i++) x[i] = tu_cast(dt, tu_rng_uniform(&r, -8, 8));
    x[3 * cols + 40] = NAN;
    x[5 * cols + 33] = INFINITY;
    for (int64_t j = 0; j < cols; j++) x[7 * cols + j] = -INFINITY;
    x[9 * cols + 44] = -INFINITY;
    x[11 * cols + 0] = 80.0; /* exp would overflow float without the max subtracted */
    for (int64_t i = 0; i < rows; i++) {
      const double *xr = x + i * cols;
      double mx = -INFINITY, sum = 0;
      bool nan = false;
      for (int64_t j = 0; j < cols; j++) {
        if (isnan(xr[j])) nan = true;
        mx = fmax(mx, xr[j]);
      }
      for (int64_t j = 0; j < cols; j++) sum += exp(xr[j] - mx);
      for (int64_t j = 0; j < cols; j++) e[i * cols + j] = nan || isinf(mx) ? NAN : exp(xr[j] - mx) / sum;
    }
    nn_layer *l = NULL;
    TU_OK(nn_layer_activation(NN_ACT_SOFTMAX, &l));
    nn_model *holder = on_device(l);
    nn_tensor *xt = tu_make(dt, 2, s, x), *y = NULL;
    TU_OK(nn_layer_forward(l, xt, &y));
    tu_assert_tensor(y, dt, 2, s, e, d ? 1e-13 : 1e-5, d ? 1e-300 : 1e-30);
    nn_tensor_free(y);
    nn_tensor_free(xt);
    release_layer(l, holder);
  }
  free(x);
  free(e);
}

/* ---- models -------------------------------------------------------------------- */

static void test_mlp_structure(void **state) {
  (void)state;
  const int64_t xor_sizes[3] = {2, 2, 1};
  nn_model *m = NULL;
  TU_OK(nn_model_mlp(3, xor_sizes, NN_ACT_SIGMOID, NN_ACT_SIGMOID, &m));
  assert_int_equal(nn_model_num_layers(m), 4);
  assert_int_equal(nn_model_num_params(m), 9);
  const nn_layer_kind kinds[4] = {NN_LAYER_LINEAR, NN_LAYER_ACTIVATION, NN_LAYER_LINEAR, NN_LAYER_ACTIVATION};
  for (int i = 0; i < 4; i++) assert_int_equal(nn_layer_kind_of(get_layer(m, i)), kinds[i]);
  /* nn_model_mlp builds on the CPU (nn.h); moving keeps the structure */
  nn_device d = nn_model_device(m);
  assert_int_equal(d.type, NN_CPU);
  assert_int_equal(d.index, 0);
  to_dev(m);
  assert_int_equal(nn_model_num_layers(m), 4);
  assert_int_equal(nn_model_num_params(m), 9);
  for (int i = 0; i < 4; i++) assert_int_equal(nn_layer_kind_of(get_layer(m, i)), kinds[i]);
  nn_model_free(m);

  /* IDENTITY adds no layer, hidden or output */
  TU_OK(nn_model_mlp(3, xor_sizes, NN_ACT_SIGMOID, NN_ACT_IDENTITY, &m));
  assert_int_equal(nn_model_num_layers(m), 3);
  assert_int_equal(nn_model_num_params(m), 9);
  nn_model_free(m);
  const int64_t sizes[4] = {3, 4, 5, 2};
  TU_OK(nn_model_mlp(4, sizes, NN_ACT_IDENTITY, NN_ACT_IDENTITY, &m));
  assert_int_equal(nn_model_num_layers(m), 3);
  for (int i = 0; i < 3; i++) assert_int_equal(nn_layer_kind_of(get_layer(m, i)), NN_LAYER_LINEAR);
  nn_model_free(m);
  TU_OK(nn_model_mlp(4, sizes, NN_ACT_RELU, NN_ACT_SOFTMAX, &m));
  to_dev(m);
  assert_int_equal(nn_model_num_layers(m), 6);
  assert_int_equal(nn_model_num_params(m), 3 * 4 + 4 + 4 * 5 + 5 + 5 * 2 + 2);
  /* shapes of each Linear's parameters */
  const int64_t shapes[3][2] = {{4, 3}, {5, 4}, {2, 5}};
  for (int i = 0; i < 3; i++) {
    nn_tensor *w = NULL, *b = NULL;
    TU_OK(nn_layer_param(get_layer(m, 2 * i), NN_PARAM_WEIGHT, &w));
    TU_OK(nn_layer_param(get_layer(m, 2 * i), NN_PARAM_BIAS, &b));
    tu_assert_meta(w, NN_F32, 2, shapes[i]);
    tu_assert_meta(b, NN_F32, 1, &shapes[i][0]);
    nn_tensor_free(w);
    nn_tensor_free(b);
  }
  nn_model_free(m);
  /* nn_model_create + add: empty model, then 2 layers */
  TU_OK(nn_model_create(&m));
  to_dev(m);
  assert_int_equal(nn_model_num_layers(m), 0);
  assert_int_equal(nn_model_num_params(m), 0);
  nn_layer *l = NULL;
  TU_OK(nn_layer_linear(2, 2, true, &l));
  TU_OK(nn_model_add(m, l));
  TU_OK(nn_layer_activation(NN_ACT_TANH, &l));
  TU_OK(nn_model_add(m, l));
  assert_int_equal(nn_model_num_layers(m), 2);
  assert_int_equal(nn_model_num_params(m), 6);
  nn_model_free(m);
}

static void test_empty_model_forward_copies(void **state) {
  (void)state;
  nn_model *m = NULL;
  TU_OK(nn_model_create(&m));
  to_dev(m);
  const int64_t s[2] = {2, 3};
  const double v[6] = {1, 2, 3, 4, 5, 6};
  nn_tensor *x = tu_make(NN_F32, 2, s, v), *y = NULL;
  TU_OK(nn_model_forward(m, x, &y));
  tu_assert_tensor(y, NN_F32, 2, s, v, 0, 0);
  /* a copy: writing y leaves x alone */
  const float z[6] = {0};
  TU_OK(nn_tensor_write(y, z, sizeof z));
  int64_t n;
  double *xv = tu_read(x, &n);
  tu_assert_close(xv, v, 6, 0, 0, "x after writing y");
  free(xv);
  nn_tensor_free(x);
  nn_tensor_free(y);
  nn_model_free(m);
}

/* model forward = the layers' forwards in order; each row independent */
static void test_model_forward_composes_layers(void **state) {
  (void)state;
  const int64_t sizes[4] = {4, 6, 5, 3};
  nn_model *m = NULL;
  TU_OK(nn_model_mlp(4, sizes, NN_ACT_TANH, NN_ACT_SOFTMAX, &m));
  to_dev(m);
  TU_OK(nn_model_init(m, NN_INIT_XAVIER_UNIFORM, 5));
  tu_rng r = tu_rng_make(3);
  double xv[7 * 4];
  tu_rng_fill(&r, NN_F32, xv, 28, -2, 2);
  const int64_t xs[2] = {7, 4};
  nn_tensor *x = tu_make(NN_F32, 2, xs, xv), *y = NULL, *h = NULL;
  TU_OK(nn_model_forward(m, x, &y));
  for (int i = 0; i < nn_model_num_layers(m); i++) {
    nn_tensor *t = NULL;
    TU_OK(nn_layer_forward(get_layer(m, i), h ? h : x, &t));
    nn_tensor_free(h);
    h = t;
  }
  int64_t n = 0, n2 = 0;
  double *a = tu_read(y, &n), *b = tu_read(h, &n2);
  assert_int_equal(n, 21);
  assert_int_equal(n2, 21);
  /* The CPU runs both ways (and one row alone, below) in the same summation
   * order. On CUDA cuBLAS(Lt) may pick another kernel per call shape (fused
   * activation, M = 1 vs 7), i.e. another order: each of the three float32
   * layers sums <= 6 products of magnitude < 2, so its outputs may move by a
   * few ulps (~1e-6 at most once propagated to the logits), and the softmax
   * outputs in (0, 1) by that much relative: 1e-5 relative, 1e-6 absolute. */
  const double rtol = tu_on_cpu() ? 1e-6 : 1e-5, atol = tu_on_cpu() ? 1e-7 : 1e-6;
  tu_assert_close(a, b, n, rtol, atol, "model forward vs layer by layer");
  /* row 5 alone */
  const int64_t xs1[2] = {1, 4};
  nn_tensor *x1 = tu_make(NN_F32, 2, xs1, xv + 5 * 4), *y1 = NULL;
  TU_OK(nn_model_forward(m, x1, &y1));
  int64_t n1 = 0;
  double *c = tu_read(y1, &n1);
  tu_assert_close(c, a + 5 * 3, 3, rtol, atol, "row 5 alone vs in the batch");
  free(a);
  free(b);
  free(c);
  nn_tensor_free(x);
  nn_tensor_free(x1);
  nn_tensor_free(y);
  nn_tensor_free(y1);
  nn_tensor_free(h);
  nn_model_free(m);
}

/* ---- parameter sharing ----------------------------------------------------------- */

static void test_param_sharing(void **state) {
  (void)state;
  const int64_t sizes[2] = {2, 1};
  nn_model *m = NULL;
  TU_OK(nn_model_mlp(2, sizes, NN_ACT_IDENTITY, NN_ACT_IDENTITY, &m));
  to_dev(m); /* before taking the handles: a move leaves old handles on the old storage */
  nn_layer *l = get_layer(m, 0);
  nn_tensor *w = NULL, *b = NULL;
  TU_OK(nn_layer_param(l, NN_PARAM_WEIGHT, &w));
  TU_OK(nn_layer_param(l, NN_PARAM_BIAS, &b));
  const float wv[2] = {2.0f, -3.0f}, bv[1] = {0.5f};
  TU_OK(nn_tensor_write(w, wv, sizeof wv));
  TU_OK(nn_tensor_write(b, bv, sizeof bv));
  const int64_t xs[2] = {2, 2};
  const double xv[4] = {1, 1, 2, -1};
  nn_tensor *x = tu_make(NN_F32, 2, xs, xv), *y = NULL;
  TU_OK(nn_model_forward(m, x, &y));
  const int64_t ys[2] = {2, 1};
  const double e1[2] = {-0.5, 7.5};
  tu_assert_tensor(y, NN_F32, 2, ys, e1, 0, 0);
  nn_tensor_free(y);
  /* through nn_tensor_data too; a CUDA tensor has no host pointer (nn.h):
   * there the same change goes through nn_tensor_write of the handle */
  float *wd = (float *)nn_tensor_data(w);
  if (tu_on_cpu()) {
    assert_non_null(wd);
    wd[1] = 1.0f;
  } else {
    assert_null(wd);
    const float wv2[2] = {2.0f, 1.0f};
    TU_OK(nn_tensor_write(w, wv2, sizeof wv2));
  }
  TU_OK(nn_model_forward(m, x, &y));
  const double e2[2] = {3.5, 3.5};
  tu_assert_tensor(y, NN_F32, 2, ys, e2, 0, 0);
  nn_tensor_free(y);
  /* training is seen through the handle */
  const double tv[2] = {0.0, 0.0};
  nn_tensor *t = tu_make(NN_F32, 2, ys, tv);
  nn_optimizer *opt = NULL;
  TU_OK(nn_optimizer_sgd(m, 0.1, 0, 0, false, &opt));
  double loss = 0;
  TU_OK(nn_model_backward(m, x, t, NN_LOSS_MSE, &loss));
  assert_near(loss, 3.5 * 3.5, 1e-5);
  TU_OK(nn_optimizer_step(opt));
  /* dW = sum_i 2*(p_i - t_i)/2 * x_i = 3.5*[1,1] + 3.5*[2,-1] = [10.5, 0]; db = 7 */
  int64_t n;
  double *wn = tu_read(w, &n), *bn = tu_read(b, &n);
  const double ew[2] = {2.0 - 1.05, 1.0}, eb[1] = {0.5 - 0.7};
  tu_assert_close(wn, ew, 2, 1e-6, 1e-7, "weight after a step, seen through the handle");
  tu_assert_close(bn, eb, 1, 1e-6, 1e-7, "bias after a step, seen through the handle");
  free(wn);
  free(bn);
  /* handles outlive the model */
  nn_optimizer_free(opt);
  nn_model_free(m);
  double *wk = tu_read(w, &n);
  tu_assert_close(wk, ew, 2, 1e-6, 1e-7, "weight handle after nn_model_free");
  free(wk);
  nn_tensor_free(w);
  nn_tensor_free(b);
  nn_tensor_free(x);
  nn_tensor_free(t);
}

/* ---- init schemes ------------------------------------------------------------------ */

typedef struct stats {
  double mean, std, maxabs;
  int64_t n, zeros;
} stats;

static stats stats_of(const double *v, int64_t n) {
  stats s = {0, 0, 0, n, 0};
  for (int64_t i = 0; i < n; i++) {
    s.mean += v[i];
    s.maxabs = fmax(s.maxabs, fabs(v[i]));
    if (v[i] == 0) s.zeros++;
  }
  s.mean /= (double)n;
  for (int64_t i = 0; i < n; i++) s.std += (v[i] - s.mean) * (v[i] - s.mean);
  s.std = sqrt(s.std / (double)(n - 1));
  return s;
}

static void test_init_statistics(void **state) {
  (void)state;
  const int64_t fan_in = 300, fan_out = 200;
  const int64_t sizes[2] = {fan_in, fan_out};
  nn_model *m = NULL;
  TU_OK(nn_model_mlp(2, sizes, NN_ACT_IDENTITY, NN_ACT_IDENTITY, &m));
  to_dev(m);
  nn_layer *l = get_layer(m, 0);
  for (int scheme = NN_INIT_TORCH_DEFAULT; scheme <= NN_INIT_ZEROS; scheme++) {
    TU_OK(nn_model_init(m, (nn_init)scheme, 11));
    int64_t nw = 0, nb = 0;
    double *w = read_param(l, NN_PARAM_WEIGHT, &nw);
    double *b = read_param(l, NN_PARAM_BIAS, &nb);
    assert_int_equal(nw, fan_in * fan_out);
    stats sw = stats_of(w, nw), sb = stats_of(b, nb);
    double bound = 0, sd = 0;
    switch (scheme) {
      case NN_INIT_TORCH_DEFAULT: bound = 1 / sqrt((double)fan_in); break;
      case NN_INIT_HE_UNIFORM: bound = sqrt(6.0 / (double)fan_in); break;
      case NN_INIT_XAVIER_UNIFORM: bound = sqrt(6.0 / (double)(fan_in + fan_out)); break;
      case NN_INIT_HE_NORMAL: sd = sqrt(2.0 / (double)fan_in); break;
      case NN_INIT_XAVIER_NORMAL: sd = sqrt(2.0 / (double)(fan_in + fan_out)); break;
      default: break;
    }
    if (bound > 0) {
      /* uniform in [-bound, bound]: reaches near both ends, std bound/sqrt(3) */
      if (!(sw.maxabs <= bound * (1 + 1e-6) && sw.maxabs > 0.99 * bound))
        fail_msg("init %d: max |w| %g, bound %g", scheme, sw.maxabs, bound);
      assert_near(sw.std, bound / sqrt(3.0), 0.02 * bound / sqrt(3.0));
      assert_near(sw.mean, 0, 0.02 * bound);
    } else if (sd > 0) {
      assert_near(sw.std, sd, 0.02 * sd);
      assert_near(sw.mean, 0, 0.02 * sd);
      assert_true(sw.maxabs > 3 * sd); /* normal tails, not a bounded distribution */
    } else {
      assert_int_equal(sw.zeros, nw);
    }
    if (scheme == NN_INIT_TORCH_DEFAULT) {
      double bb = 1 / sqrt((double)fan_in);
      if (!(sb.maxabs <= bb * (1 + 1e-6) && sb.maxabs > 0.9 * bb))
        fail_msg("torch default bias: max |b| %g, bound %g", sb.maxabs, bb);
      assert_true(sb.zeros < 3);
    } else {
      if (sb.zeros != nb) fail_msg("init %d: biases must be 0 (max |b| %g)", scheme, sb.maxabs);
    }
    free(w);
    free(b);
  }
  nn_model_free(m);
}

static void test_init_seeding(void **state) {
  (void)state;
  const int64_t sizes[4] = {20, 30, 30, 20};
  nn_model *a = NULL, *b = NULL;
  TU_OK(nn_model_mlp(4, sizes, NN_ACT_RELU, NN_ACT_IDENTITY, &a));
  TU_OK(nn_model_mlp(4, sizes, NN_ACT_TANH, NN_ACT_SIGMOID, &b));
  to_dev(a);
  to_dev(b);
  int64_t n = 0, n2 = 0;
  for (int scheme = NN_INIT_TORCH_DEFAULT; scheme < NN_INIT_ZEROS; scheme++) {
    TU_OK(nn_model_init(a, (nn_init)scheme, 1234));
    TU_OK(nn_model_init(b, (nn_init)scheme, 1234));
    float *pa = params_raw(a, &n), *pb = params_raw(b, &n2);
    assert_int_equal(n, n2);
    if (memcmp(pa, pb, (size_t)n * sizeof(float)) != 0) fail_msg("init %d: same seed, different weights", scheme);
    TU_OK(nn_model_init(b, (nn_init)scheme, 1235));
    free(pb);
    pb = params_raw(b, &n2);
    int64_t same = 0;
    for (int64_t i = 0; i < n; i++) same += pa[i] == pb[i] && pa[i] != 0; /* biases are 0 but for TORCH_DEFAULT */
    if (same > n / 100) fail_msg("init %d: seeds 1234 and 1235 share %lld of %lld values", scheme, (long long)same, (long long)n);
    /* the two 30x30-ish layers of one model draw different values */
    int64_t nw1 = 0, nw2 = 0;
    double *w1 = read_param(get_layer(a, 2), NN_PARAM_WEIGHT, &nw1);
    double *w0 = read_param(get_layer(a, 0), NN_PARAM_WEIGHT, &nw2);
    int64_t k = nw1 < nw2 ? nw1 : nw2, eq = 0;
    for (int64_t i = 0; i < k; i++) eq += w1[i] == w0[i];
    if (eq > k / 100) fail_msg("init %d: layers 0 and 2 start with the same values", scheme);
    free(w1);
    free(w0);
    free(pa);
    free(pb);
  }
  nn_model_free(a);
  nn_model_free(b);
}

/* nn_model_mlp initialises as nn_model_init(TORCH_DEFAULT, 0); new layers are deterministic */
static void test_default_init(void **state) {
  (void)state;
  const int64_t sizes[3] = {5, 7, 3};
  nn_model *m = NULL;
  TU_OK(nn_model_mlp(3, sizes, NN_ACT_RELU, NN_ACT_IDENTITY, &m));
  to_dev(m); /* the weights nn_model_mlp drew, moved; re-drawn on tu_device() below */
  int64_t n = 0, n2 = 0;
  float *p0 = params_raw(m, &n);
  TU_OK(nn_model_init(m, NN_INIT_ZEROS, 0));
  TU_OK(nn_model_init(m, NN_INIT_TORCH_DEFAULT, 0));
  float *p1 = params_raw(m, &n2);
  assert_int_equal(n, n2);
  assert_memory_equal(p0, p1, (size_t)n * sizeof(float));
  free(p0);
  free(p1);
  nn_model_free(m);

  nn_layer *a = NULL, *b = NULL;
  TU_OK(nn_layer_linear(16, 8, true, &a));
  TU_OK(nn_layer_linear(16, 8, true, &b));
  nn_model *ha = on_device(a), *hb = on_device(b);
  int64_t k = 0;
  double *wa = read_param(a, NN_PARAM_WEIGHT, &k), *wb = read_param(b, NN_PARAM_WEIGHT, &k);
  tu_assert_close(wa, wb, k, 0, 0, "two new Linear(16, 8): seed 0 both");
  stats s = stats_of(wa, k);
  assert_true(s.maxabs <= 0.25 * (1 + 1e-6));
  assert_true(s.std > 0.05);
  free(wa);
  free(wb);
  double *ba = read_param(a, NN_PARAM_BIAS, &k);
  s = stats_of(ba, k);
  assert_true(s.maxabs <= 0.25 * (1 + 1e-6));
  assert_true(s.zeros < k);
  free(ba);
  release_layer(a, ha);
  release_layer(b, hb);
}

/* ---- summary --------------------------------------------------------------------------- */

static void test_summary(void **state) {
  (void)state;
  const int64_t sizes[3] = {2, 2, 1};
  nn_model *m = NULL;
  TU_OK(nn_model_mlp(3, sizes, NN_ACT_SIGMOID, NN_ACT_SIGMOID, &m));
  to_dev(m);
  size_t need = 0;
  TU_OK(nn_model_summary(m, NULL, 0, &need));
  assert_true(need > 20);
  char *buf = malloc(need);
  size_t need2 = 0;
  TU_OK(nn_model_summary(m, buf, need, &need2));
  assert_int_equal(need, need2);
  assert_int_equal(strlen(buf), need - 1);
  assert_non_null(strstr(buf, "Linear(2, 2)"));
  assert_non_null(strstr(buf, "Linear(2, 1)"));
  assert_non_null(strstr(buf, "Sigmoid"));
  assert_non_null(strstr(buf, "9"));
  if (!strstr(buf, tu_device_name())) fail_msg("summary does not name the device %s:\n%s", tu_device_name(), buf);
  /* truncated to cap - 1 characters */
  char small[11];
  memset(small, 'x', sizeof small);
  TU_OK(nn_model_summary(m, small, 10, NULL));
  assert_int_equal(strlen(small), 9);
  assert_memory_equal(small, buf, 9);
  assert_int_equal(small[10], 'x');
  free(buf);
  nn_model_free(m);

  const int64_t big[3] = {784, 512, 10};
  TU_OK(nn_model_mlp(3, big, NN_ACT_RELU, NN_ACT_SOFTMAX, &m));
  to_dev(m);
  TU_OK(nn_model_summary(m, NULL, 0, &need));
  buf = malloc(need);
  TU_OK(nn_model_summary(m, buf, need, NULL));
  assert_non_null(strstr(buf, "Linear(784, 512)"));
  assert_non_null(strstr(buf, "ReLU"));
  assert_non_null(strstr(buf, "Linear(512, 10)"));
  assert_non_null(strstr(buf, "401920")); /* 784*512 + 512 */
  char total[32];
  snprintf(total, sizeof total, "%d", 784 * 512 + 512 + 512 * 10 + 10);
  if (!strstr(buf, total)) {
    /* allow a thousands separator */
    if (!strstr(buf, "407,050") && !strstr(buf, "407 050")) fail_msg("summary lacks the total 407050:\n%s", buf);
  }
  free(buf);
  nn_model_free(m);
}

/* ---- gradients accumulate; zero_grad clears ---------------------------------------------- */

static double *grads_of(nn_model *m, int64_t *n) { return tu_model_values(m, true, n); }

static void test_grad_accumulation(void **state) {
  (void)state;
  const int64_t sizes[3] = {3, 4, 2};
  nn_model *m = NULL;
  TU_OK(nn_model_mlp(3, sizes, NN_ACT_TANH, NN_ACT_IDENTITY, &m));
  to_dev(m);
  const int64_t xs[2] = {5, 3}, ys[2] = {5, 2};
  tu_rng r = tu_rng_make(8);
  double xv[15], yv[10];
  tu_rng_fill(&r, NN_F32, xv, 15, -2, 2);
  tu_rng_fill(&r, NN_F32, yv, 10, -2, 2);
  nn_tensor *x = tu_make(NN_F32, 2, xs, xv), *y = tu_make(NN_F32, 2, ys, yv);
  int64_t n = 0, np = 0;
  /* fresh model: zero gradients */
  double *g0 = grads_of(m, &n);
  for (int64_t i = 0; i < n; i++) assert_true(g0[i] == 0);
  free(g0);
  float *p0 = params_raw(m, &np);
  double l1 = 0, l2 = 0;
  TU_OK(nn_model_backward(m, x, y, NN_LOSS_MSE, &l1));
  double *g1 = grads_of(m, &n);
  TU_OK(nn_model_backward(m, x, y, NN_LOSS_MSE, &l2));
  assert_true(l1 == l2);
  double *g2 = grads_of(m, &n);
  double *twice = malloc((size_t)n * sizeof(double));
  int nonzero = 0;
  for (int64_t i = 0; i < n; i++) {
    twice[i] = 2 * g1[i];
    nonzero += g1[i] != 0;
  }
  assert_true(nonzero > n / 2);
  /* The second call adds its gradient (GEMM with beta 1) to the first. The
   * CPU repeats the first call's summation order, so g2 is 2*g1 to rounding.
   * On CUDA cuBLAS may pick another kernel, i.e. another order, for beta 1.
   * Each weight gradient is a float32 sum over the 5 rows whose terms add up
   * to at most ~9 in magnitude (|dL/dout| <= 0.9, |x| <= 2, |tanh| <= 1,
   * |W| <= 0.5), so two summation orders differ by at most
   * 2 * 4 * 2^-24 * 9 ~ 4.3e-6; cancellation makes a relative bound useless
   * for the small entries, hence the absolute 5e-6 there. */
  tu_assert_close(g2, twice, n, 1e-6, tu_on_cpu() ? 1e-9 : 5e-6, "gradients after two backward calls");
  /* backward does not change the weights */
  float *p1 = params_raw(m, &np);
  assert_memory_equal(p0, p1, (size_t)np * sizeof(float));
  /* nn_layer_grad returns a copy: writing it (through its host pointer on
   * the CPU; a CUDA tensor has none, nn.h, so there with nn_tensor_write)
   * leaves the model's gradient alone */
  nn_tensor *g = NULL;
  TU_OK(nn_layer_grad(get_layer(m, 0), NN_PARAM_WEIGHT, &g));
  float *gd = (float *)nn_tensor_data(g);
  if (tu_on_cpu()) {
    assert_non_null(gd);
    gd[0] = 12345.0f;
  } else {
    assert_null(gd);
    float gw[4 * 3];
    assert_int_equal(nn_tensor_numel(g), 12);
    TU_OK(nn_tensor_read(g, gw, sizeof gw));
    gw[0] = 12345.0f;
    TU_OK(nn_tensor_write(g, gw, sizeof gw));
  }
  nn_tensor_free(g);
  double *g3 = grads_of(m, &n);
  tu_assert_close(g3, g2, n, 0, 0, "gradients after writing a copy");
  free(g3);
  /* zero_grad clears; then one backward gives g1 again */
  TU_OK(nn_model_zero_grad(m));
  double *gz = grads_of(m, &n);
  for (int64_t i = 0; i < n; i++) assert_true(gz[i] == 0);
  free(gz);
  TU_OK(nn_model_backward(m, x, y, NN_LOSS_MSE, &l2));
  double *g4 = grads_of(m, &n);
  tu_assert_close(g4, g1, n, 0, 0, "gradient after zero_grad + backward");
  free(g4);
  /* optimizer's zero_grad too */
  nn_optimizer *opt = NULL;
  TU_OK(nn_optimizer_sgd(m, 0.1, 0, 0, false, &opt));
  TU_OK(nn_optimizer_zero_grad(opt));
  gz = grads_of(m, &n);
  for (int64_t i = 0; i < n; i++) assert_true(gz[i] == 0);
  free(gz);
  /* a step with zero gradients and no decay changes nothing */
  TU_OK(nn_optimizer_step(opt));
  free(p1);
  p1 = params_raw(m, &np);
  assert_memory_equal(p0, p1, (size_t)np * sizeof(float));
  nn_optimizer_free(opt);
  free(p0);
  free(p1);
  free(g1);
  free(g2);
  free(twice);
  nn_tensor_free(x);
  nn_tensor_free(y);
  nn_model_free(m);
}

/* Large products (at least 2^24 multiply-adds each: the CPU runs them through
 * oneDNN's matmul, smaller ones through libnn's own GEMM) give the float64
 * model's outputs, loss and gradients to float32 rounding: a 256-256-256
 * MLP at batch 256 (forward, weight-gradient and input-gradient products of
 * exactly 2^24), then a second backward accumulates (gradients doubled). */
static void test_large_products_match_f64(void **state) {
  (void)state;
  const int64_t B = 256, sizes[3] = {256, 256, 256};
  nn_model *m = NULL;
  TU_OK(nn_model_mlp(3, sizes, NN_ACT_TANH, NN_ACT_IDENTITY, &m));
  to_dev(m);
  const int64_t xs[2] = {B, 256};
  tu_rng r = tu_rng_make(21);
  double *xv = malloc((size_t)(B * 256) * sizeof(double)), *yv = malloc((size_t)(B * 256) * sizeof(double));
  tu_rng_fill(&r, NN_F32, xv, B * 256, -1, 1);
  tu_rng_fill(&r, NN_F32, yv, B * 256, -1, 1);
  double loss[2][2];
  double *out[2], *grad[2], *grad2[2];
  int64_t n_out = 0, n = 0;
  for (int pass = 0; pass < 2; ++pass) { /* 0: F32, 1: the same weights in F64 */
    const nn_dtype dt = pass == 0 ? NN_F32 : NN_F64;
    if (pass == 1) TU_OK(nn_model_to_dtype(m, NN_F64));
    TU_OK(nn_model_zero_grad(m));
    nn_tensor *x = tu_make(dt, 2, xs, xv), *y = tu_make(dt, 2, xs, yv), *pred = NULL;
    TU_OK(nn_model_forward(m, x, &pred));
    out[pass] = tu_read(pred, &n_out);
    TU_OK(nn_model_backward(m, x, y, NN_LOSS_MSE, &loss[pass][0]));
    grad[pass] = grads_of(m, &n);
    TU_OK(nn_model_backward(m, x, y, NN_LOSS_MSE, &loss[pass][1]));
    grad2[pass] = grads_of(m, &n);
    nn_tensor_free(pred);
    nn_tensor_free(x);
    nn_tensor_free(y);
  }
  assert_int_equal(n_out, B * 256);
  /* Each output sums 256 float32 products of |x| <= 1, |w| <= 1/16 twice
   * over: errors ~ 256 * 2^-24 * 16 per layer, far below 2e-4. */
  tu_assert_close(out[0], out[1], n_out, 1e-4, 2e-4, "F32 outputs (large products) vs F64");
  assert_true(fabs(loss[0][0] - loss[1][0]) <= 1e-5 * fabs(loss[1][0]));
  assert_true(loss[0][0] == loss[0][1]);
  tu_assert_close(grad[0], grad[1], n, 1e-3, 2e-6, "F32 gradients (large products) vs F64");
  for (int64_t i = 0; i < n; ++i) grad[1][i] *= 2;
  tu_assert_close(grad2[0], grad[1], n, 1e-3, 4e-6, "F32 accumulated gradients vs twice F64");
  for (int pass = 0; pass < 2; ++pass) {
    free(out[pass]);
    free(grad[pass]);
    free(grad2[pass]);
  }
  free(xv);
  free(yv);
  nn_model_free(m);
}

/* The perceptron rule: Linear + STEP, zero init, SGD lr 1, batch 1, HALF_MSE
 * gives w += (y - y^) x exactly (straight-through step). */
static void test_perceptron_rule(void **state) {
  (void)state;
  nn_model *m = NULL;
  TU_OK(nn_model_create(&m));
  nn_layer *l = NULL;
  TU_OK(nn_layer_linear(2, 1, true, &l));
  TU_OK(nn_model_add(m, l));
  TU_OK(nn_layer_activation(NN_ACT_STEP, &l));
  TU_OK(nn_model_add(m, l));
  to_dev(m);
  TU_OK(nn_model_init(m, NN_INIT_ZEROS, 0));
  nn_optimizer *opt = NULL;
  TU_OK(nn_optimizer_sgd(m, 1.0, 0, 0, false, &opt));
  /* AND */
  const double X[8] = {0, 0, 0, 1, 1, 0, 1, 1}, Y[4] = {0, 0, 0, 1};
  double w[2] = {0, 0}, b = 0;
  const int64_t xs[2] = {1, 2}, ys[2] = {1, 1};
  for (int epoch = 0; epoch < 6; epoch++)
    for (int i = 0; i < 4; i++) {
      double z = w[0] * X[2 * i] + w[1] * X[2 * i + 1] + b;
      double yhat = z > 0 ? 1 : 0, d = Y[i] - yhat;
      w[0] += d * X[2 * i];
      w[1] += d * X[2 * i + 1];
      b += d;
      nn_tensor *x = tu_make(NN_F32, 2, xs, X + 2 * i), *y = tu_make(NN_F32, 2, ys, Y + i);
      double loss = 0;
      TU_OK(nn_optimizer_zero_grad(opt));
      TU_OK(nn_model_backward(m, x, y, NN_LOSS_HALF_MSE, &loss));
      assert_near(loss, 0.5 * d * d, 0);
      TU_OK(nn_optimizer_step(opt));
      nn_tensor_free(x);
      nn_tensor_free(y);
      int64_t k;
      double *wv = read_param(get_layer(m, 0), NN_PARAM_WEIGHT, &k);
      double *bv = read_param(get_layer(m, 0), NN_PARAM_BIAS, &k);
      const double ew[2] = {w[0], w[1]};
      tu_assert_close(wv, ew, 2, 0, 0, "perceptron weights");
      tu_assert_close(bv, &b, 1, 0, 0, "perceptron bias");
      free(wv);
      free(bv);
    }
  nn_optimizer_free(opt);
  nn_model_free(m);
}

/* nn_model_init: the same seed gives the same weights at every thread count
 * (nn.h: "on every device and thread count", so on tu_device() too) */
static void test_init_thread_count_invariant(void **state) {
  (void)state;
  const int64_t sizes[3] = {64, 128, 10};
  nn_model *a = NULL, *b = NULL;
  TU_OK(nn_model_mlp(3, sizes, NN_ACT_RELU, NN_ACT_IDENTITY, &a));
  TU_OK(nn_model_mlp(3, sizes, NN_ACT_RELU, NN_ACT_IDENTITY, &b));
  to_dev(a);
  to_dev(b);
  for (int scheme = NN_INIT_TORCH_DEFAULT; scheme < NN_INIT_ZEROS; scheme++) {
    TU_OK(nn_set_num_threads(1));
    TU_OK(nn_model_init(a, (nn_init)scheme, 99));
    TU_OK(nn_set_num_threads(0));
    TU_OK(nn_model_init(b, (nn_init)scheme, 99));
    int64_t n = 0, n2 = 0;
    float *pa = params_raw(a, &n), *pb = params_raw(b, &n2);
    assert_int_equal(n, n2);
    if (memcmp(pa, pb, (size_t)n * sizeof(float)) != 0) fail_msg("init %d: 1 thread and all threads differ", scheme);
    free(pa);
    free(pb);
  }
  nn_model_free(a);
  nn_model_free(b);
}

/* nn_model_forward may run concurrently on the same model from many threads */
typedef struct fwd_job {
  nn_model *m;
  const nn_tensor *x;
  const double *expect;
  int64_t n;
  int bad;
} fwd_job;

static void *fwd_worker(void *arg) {
  fwd_job *j = (fwd_job *)arg;
  for (int it = 0; it < 50; it++) {
    nn_tensor *y = NULL;
    if (nn_model_forward(j->m, j->x, &y) != NN_OK) {
      j->bad++;
      continue;
    }
    float v[64 * 5];
    if (nn_tensor_numel(y) != j->n || nn_tensor_read(y, v, sizeof v) != NN_OK) j->bad++;
    else
      for (int64_t i = 0; i < j->n; i++)
        if ((double)v[i] != j->expect[i]) {
          j->bad++;
          break;
        }
    nn_tensor_free(y);
  }
  return NULL;
}

static void test_concurrent_forward(void **state) {
  (void)state;
  const int64_t sizes[4] = {8, 32, 16, 5};
  nn_model *m = NULL;
  TU_OK(nn_model_mlp(4, sizes, NN_ACT_RELU, NN_ACT_SOFTMAX, &m));
  to_dev(m);
  tu_rng r = tu_rng_make(12);
  double xv[64 * 8];
  tu_rng_fill(&r, NN_F32, xv, 64 * 8, -2, 2);
  const int64_t xs[2] = {64, 8};
  nn_tensor *x = tu_make(NN_F32, 2, xs, xv), *y = NULL;
  TU_OK(nn_model_forward(m, x, &y));
  int64_t n = 0;
  double *e = tu_read(y, &n);
  fwd_job jobs[4];
  pthread_t th[4];
  for (int i = 0; i < 4; i++) {
    jobs[i].m = m;
    jobs[i].x = x;
    jobs[i].expect = e;
    jobs[i].n = n;
    jobs[i].bad = 0;
    assert_int_equal(pthread_create(&th[i], NULL, fwd_worker, &jobs[i]), 0);
  }
  for (int i = 0; i < 4; i++) assert_int_equal(pthread_join(th[i], NULL), 0);
  for (int i = 0; i < 4; i++) assert_int_equal(jobs[i].bad, 0);
  free(e);
  nn_tensor_free(y);
  nn_tensor_free(x);
  nn_model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_linear_forward),
      cmocka_unit_test(test_linear_no_bias_has_no_bias_param),
      cmocka_unit_test(test_activation_values),
      cmocka_unit_test(test_tanh_accuracy),
      cmocka_unit_test(test_softmax_last_dim_3d_and_large),
      cmocka_unit_test(test_softmax_wide_rows_and_non_finite),
      cmocka_unit_test(test_mlp_structure),
      cmocka_unit_test(test_empty_model_forward_copies),
      cmocka_unit_test(test_model_forward_composes_layers),
      cmocka_unit_test(test_param_sharing),
      cmocka_unit_test(test_init_statistics),
      cmocka_unit_test(test_init_seeding),
      cmocka_unit_test(test_default_init),
      cmocka_unit_test(test_summary),
      cmocka_unit_test(test_grad_accumulation),
      cmocka_unit_test(test_large_products_match_f64),
      cmocka_unit_test(test_perceptron_rule),
      cmocka_unit_test(test_init_thread_count_invariant),
      cmocka_unit_test(test_concurrent_forward),
  };
  return tu_run_group(tests);
}
