/* What the CPU and GPU benchmarks share: timing, medians, deterministic data,
 * model construction and the libnn workloads both time (the tiny online
 * training, tiny single-sample inference through the API and minibatch
 * training), each on a given device. Included by one translation unit each
 * (its functions are static inline: a program uses what it needs). */
#ifndef NN_BENCH_COMMON_H
#define NN_BENCH_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <nn.h>

#define CHECK(call)                                                                    \
  do {                                                                                 \
    nn_status st_ = (call);                                                            \
    if (st_ != NN_OK) {                                                                \
      fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, nn_last_error()); \
      exit(1);                                                                         \
    }                                                                                  \
  } while (0)

static const nn_device CPU = {NN_CPU, 0};

static inline double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static inline double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof(double), cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Deterministic pseudo-random data in [-1, 1). */
static uint64_t g_rng = 0x2545F4914F6CDD1Dull;
static inline float frand(void) {
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 7;
  g_rng ^= g_rng << 17;
  return (float)((double)(g_rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}
static inline float *rand_array(int64_t n) {
  float *p = malloc((size_t)n * sizeof(float));
  if (!p) exit(1);
  for (int64_t i = 0; i < n; ++i) p[i] = frand();
  return p;
}

static inline nn_tensor *tensor2(const float *data, int64_t rows, int64_t cols, nn_device dev) {
  int64_t shape[2] = {rows, cols};
  nn_tensor *t = NULL;
  CHECK(nn_tensor_from_data(NN_F32, 2, shape, data, dev, &t));
  return t;
}

/* An MLP with identity output, He-uniform weights (seed 1), on dev. */
static inline nn_model *mlp_on(int n, const int64_t *sizes, nn_activation hidden, nn_device dev) {
  nn_model *m = NULL;
  CHECK(nn_model_mlp(n, sizes, hidden, NN_ACT_IDENTITY, &m));
  CHECK(nn_model_init(m, NN_INIT_HE_UNIFORM, 1));
  if (dev.type != NN_CPU) CHECK(nn_model_to(m, dev));
  return m;
}

/* FLOPs per sample of the work an MLP of `n` widths actually does (bias
 * adds and activations not counted): inference is the forward products,
 * 2 x sum(in x out); a training step adds the weight gradients, 2 x sum(in x
 * out), and the input gradients of every Linear but the first, 2 x sum(in x
 * out) over layers 2..: libnn (dx = NULL for the first layer) and PyTorch
 * (the input needs no gradient) both skip the first layer's. */
static inline double infer_flops_per_sample(int n, const int64_t *sizes) {
  double s = 0;
  for (int i = 0; i + 1 < n; ++i) s += (double)sizes[i] * (double)sizes[i + 1];
  return 2.0 * s;
}
static inline double train_flops_per_sample(int n, const int64_t *sizes) {
  const double fwd = infer_flops_per_sample(n, sizes);
  const double first = n > 1 ? 2.0 * (double)sizes[0] * (double)sizes[1] : 0.0;
  return fwd + fwd + (fwd - first);
}

/* Times nn_model_fit(x, y) `reps` times after one warm-up epoch set; returns
 * the median of scale / seconds per run (scale < 0: seconds * -scale). */
static inline double time_fit(nn_model *m, nn_optimizer *opt, const nn_tensor *x, const nn_tensor *y,
                       const nn_fit_options *o, int reps, double scale) {
  double t[32];
  CHECK(nn_model_fit(m, opt, x, y, o, NULL)); /* warm-up */
  for (int r = 0; r < reps; ++r) {
    double t0 = now_s();
    CHECK(nn_model_fit(m, opt, x, y, o, NULL));
    double s = now_s() - t0;
    t[r] = scale < 0 ? s * -scale : scale / s;
  }
  return median(t, reps);
}

/* Tiny 10-40-40-5 tanh net, online training: nn_model_fit, batch 1, no
 * shuffle (as FANN's incremental training), plain SGD, MSE, on 100 samples
 * held on dev; microseconds per sample. */
static inline double nn_tiny_online(nn_device dev, int epochs, int reps) {
  const int64_t sizes[4] = {10, 40, 40, 5};
  const int64_t n = 100;
  float *xd = rand_array(n * 10), *yd = rand_array(n * 5);
  nn_tensor *x = tensor2(xd, n, 10, dev), *y = tensor2(yd, n, 5, dev);
  nn_model *m = mlp_on(4, sizes, NN_ACT_TANH, dev);
  nn_optimizer *opt = NULL;
  CHECK(nn_optimizer_sgd(m, 0.01, 0.0, 0.0, false, &opt));
  nn_fit_options o;
  nn_fit_options_init(&o);
  o.batch_size = 1;
  o.shuffle = false;
  o.epochs = epochs;
  double us = time_fit(m, opt, x, y, &o, reps, -1e6 / (double)(n * epochs));
  nn_optimizer_free(opt);
  nn_model_free(m);
  nn_tensor_free(x);
  nn_tensor_free(y);
  free(xd);
  free(yd);
  return us;
}

/* Tiny single-sample inference through the public API, microseconds per
 * call: with predict, nn_model_predict on host rows (no handle); else make
 * the 1x10 input on dev from host data, nn_model_forward, read the output
 * back, free both. Each call's input depends on the previous output. */
static inline double nn_tiny_one_row(nn_device dev, int predict, int calls, int reps) {
  const int64_t sizes[4] = {10, 40, 40, 5};
  nn_model *m = mlp_on(4, sizes, NN_ACT_TANH, dev);
  float *xd = rand_array(10);
  float out[5];
  double t[32];
  for (int r = -1; r < reps; ++r) { /* r = -1: warm-up */
    double t0 = now_s();
    for (int i = 0; i < calls; ++i) {
      if (predict) {
        CHECK(nn_model_predict(m, 1, xd, out));
      } else {
        nn_tensor *x = tensor2(xd, 1, 10, dev), *y = NULL;
        CHECK(nn_model_forward(m, x, &y));
        CHECK(nn_tensor_read(y, out, sizeof out));
        nn_tensor_free(y);
        nn_tensor_free(x);
      }
      xd[i % 10] += out[0] * 1e-9f;
    }
    if (r >= 0) t[r] = (now_s() - t0) * 1e6 / calls;
  }
  nn_model_free(m);
  free(xd);
  return median(t, reps);
}

/* Minibatch training with nn_model_fit (SGD momentum 0.9, MSE, shuffled, the
 * data set on dev): samples per second. */
static inline double nn_train(nn_device dev, int n_sizes, const int64_t *sizes, int64_t batch, int steps, int reps) {
  const int64_t in = sizes[0], out = sizes[n_sizes - 1], n = batch * steps;
  float *xd = rand_array(n * in), *yd = rand_array(n * out);
  nn_tensor *x = tensor2(xd, n, in, dev), *y = tensor2(yd, n, out, dev);
  nn_model *m = mlp_on(n_sizes, sizes, NN_ACT_RELU, dev);
  nn_optimizer *opt = NULL;
  CHECK(nn_optimizer_sgd(m, 0.001, 0.9, 0.0, false, &opt));
  nn_fit_options o;
  nn_fit_options_init(&o);
  o.batch_size = batch;
  o.epochs = 1;
  double sps = time_fit(m, opt, x, y, &o, reps, (double)n);
  nn_optimizer_free(opt);
  nn_model_free(m);
  nn_tensor_free(x);
  nn_tensor_free(y);
  free(xd);
  free(yd);
  return sps;
}

#endif /* NN_BENCH_COMMON_H */
