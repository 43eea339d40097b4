/* libnn CPU benchmark (issue 5): times, in one run, libnn with 1 and 2
 * threads, FANN (when built with it) and the oneDNN dnnl_sgemm ceiling on the
 * same workloads, optionally merges PyTorch figures measured by
 * tests/bench/bench_torch.py, and prints one table with ratios.
 *
 *   bench_cpu [--quick] [--torch FILE] [--threads N[,M...]] [--only tiny|mid|big]
 *   bench_cpu --rss      peak resident memory while training 784-512-512-10 b128
 *
 * Every figure is the median of several timed repetitions after a warm-up.
 * This program never fails on time: it prints figures (scripts/bench.sh). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <nn.h>
#include "bench_common.h"
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>

#ifdef NN_BENCH_FANN
#include <floatfann.h>
#endif

static int g_quick = 0;

/* ---------------------------------------------------------------- results */

enum { MAX_ROWS = 16, MAX_T = 4 };
typedef struct {
  const char *name;  /* workload */
  const char *unit;  /* "us/sample", "samples/s", ... */
  int higher_better;
  double nn[MAX_T];  /* libnn per thread count (NAN: not run) */
  double fann, torch[MAX_T], ceiling[MAX_T];
  double gflop;      /* FLOP per unit of the figure, for GFLOP/s (0: none) */
} Row;
static Row g_rows[MAX_ROWS];
static int g_nrows = 0;
static int g_threads[MAX_T] = {1, 2};
static int g_nthreads = 2;

static Row *row(const char *name, const char *unit, int higher_better, double gflop) {
  Row *r = &g_rows[g_nrows++];
  r->name = name;
  r->unit = unit;
  r->higher_better = higher_better;
  r->gflop = gflop;
  r->fann = NAN;
  for (int i = 0; i < MAX_T; ++i) r->nn[i] = r->torch[i] = r->ceiling[i] = NAN;
  return r;
}

static void set_threads(int n) {
  CHECK(nn_set_num_threads(n));
  omp_set_num_threads(n); /* for dnnl_sgemm on this thread */
}

/* ------------------------------------------------------- libnn workloads */

/* Batched inference (nn_model_forward on [batch, in]): samples per second. */
static double nn_infer(int n_sizes, const int64_t *sizes, int64_t batch, int reps) {
  const int64_t in = sizes[0];
  float *xd = rand_array(batch * in);
  nn_tensor *x = tensor2(xd, batch, in, CPU);
  nn_model *m = mlp_on(n_sizes, sizes, NN_ACT_RELU, CPU);
  double t[32];
  for (int r = -1; r < reps; ++r) {
    double t0 = now_s();
    nn_tensor *y = NULL;
    CHECK(nn_model_forward(m, x, &y));
    double dt = now_s() - t0;
    nn_tensor_free(y);
    if (r >= 0) t[r] = (double)batch / dt;
  }
  nn_model_free(m);
  nn_tensor_free(x);
  free(xd);
  return median(t, reps);
}

/* ---------------------------------------------------------- the ceiling */

/* dnnl_sgemm on exactly the GEMMs of one training step (per layer: forward
 * Y = X W^T, weight gradient dW += G^T X, and the input gradient dX = G W for
 * every layer but the first, which a step does not need): samples/s.
 * With train == 0, the forward GEMMs only (inference). */
static double ceiling(int n_sizes, const int64_t *sizes, int64_t batch, int train, int reps) {
  int64_t maxf = 0;
  for (int i = 0; i < n_sizes; ++i) maxf = sizes[i] > maxf ? sizes[i] : maxf;
  float *act[8], *w[8], *dw[8], *g = rand_array(batch * maxf), *dx = rand_array(batch * maxf);
  for (int i = 0; i < n_sizes; ++i) act[i] = rand_array(batch * sizes[i]);
  for (int i = 0; i + 1 < n_sizes; ++i) {
    w[i] = rand_array(sizes[i] * sizes[i + 1]);
    dw[i] = rand_array(sizes[i] * sizes[i + 1]);
  }
  const int iters = train ? 3 : 3;
  double t[32];
  for (int r = -1; r < reps; ++r) {
    double t0 = now_s();
    for (int it = 0; it < iters; ++it) {
      for (int l = 0; l + 1 < n_sizes; ++l) {
        int64_t K = sizes[l], N = sizes[l + 1];
        dnnl_sgemm('N', 'T', batch, N, K, 1.f, act[l], K, w[l], K, 0.f, act[l + 1], N);
      }
      if (!train) continue;
      for (int l = n_sizes - 2; l >= 0; --l) {
        int64_t K = sizes[l], N = sizes[l + 1];
        dnnl_sgemm('T', 'N', N, K, batch, 1.f, g, N, act[l], K, 1.f, dw[l], K);
        if (l > 0) dnnl_sgemm('N', 'N', batch, K, N, 1.f, g, N, w[l], K, 0.f, dx, K);
      }
    }
    if (r >= 0) t[r] = (double)(batch * iters) / (now_s() - t0);
  }
  for (int i = 0; i < n_sizes; ++i) free(act[i]);
  for (int i = 0; i + 1 < n_sizes; ++i) {
    free(w[i]);
    free(dw[i]);
  }
  free(g);
  free(dx);
  return median(t, reps);
}

/* ----------------------------------------------------------------- FANN */
#ifdef NN_BENCH_FANN
static struct fann *fann_net(int n_sizes, const int64_t *sizes, float lr, float momentum) {
  unsigned int layers[8];
  for (int i = 0; i < n_sizes; ++i) layers[i] = (unsigned int)sizes[i];
  struct fann *ann = fann_create_standard_array((unsigned int)n_sizes, layers);
  fann_set_activation_function_hidden(ann, FANN_SIGMOID_SYMMETRIC);
  fann_set_activation_function_output(ann, FANN_LINEAR);
  fann_set_training_algorithm(ann, FANN_TRAIN_INCREMENTAL);
  fann_set_train_error_function(ann, FANN_ERRORFUNC_LINEAR);
  fann_set_learning_rate(ann, lr);
  fann_set_learning_momentum(ann, momentum);
  return ann;
}

/* Incremental training (fann_train per sample): samples per second. */
static double fann_train_rate(int n_sizes, const int64_t *sizes, int64_t samples, float momentum, int reps) {
  const int64_t in = sizes[0], out = sizes[n_sizes - 1];
  struct fann *ann = fann_net(n_sizes, sizes, 0.001f, momentum);
  float *xd = rand_array(samples * in), *yd = rand_array(samples * out);
  double t[32];
  for (int r = -1; r < reps; ++r) {
    double t0 = now_s();
    for (int64_t i = 0; i < samples; ++i) fann_train(ann, xd + i * in, yd + i * out);
    if (r >= 0) t[r] = (double)samples / (now_s() - t0);
  }
  fann_destroy(ann);
  free(xd);
  free(yd);
  return median(t, reps);
}

/* fann_run per sample: samples per second. */
static double fann_run_rate(int n_sizes, const int64_t *sizes, int64_t samples, int reps) {
  const int64_t in = sizes[0];
  struct fann *ann = fann_net(n_sizes, sizes, 0.01f, 0.f);
  float *xd = rand_array(samples * in);
  double t[32], sink = 0;
  for (int r = -1; r < reps; ++r) {
    double t0 = now_s();
    for (int64_t i = 0; i < samples; ++i) sink += fann_run(ann, xd + i * in)[0];
    if (r >= 0) t[r] = (double)samples / (now_s() - t0);
  }
  if (sink == 12345.678) puts("");
  fann_destroy(ann);
  free(xd);
  return median(t, reps);
}
#endif

/* --------------------------------------------------------------- PyTorch */

/* Lines "key threads value" from bench_torch.py. */
static void read_torch(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return;
  char key[64];
  int th;
  double v;
  while (fscanf(f, "%63s %d %lf", key, &th, &v) == 3) {
    for (int i = 0; i < g_nrows; ++i) {
      char k[64];
      snprintf(k, sizeof k, "%s", g_rows[i].name);
      for (char *c = k; *c; ++c)
        if (*c == ' ') *c = '_';
      if (strcmp(k, key) != 0) continue;
      for (int j = 0; j < g_nthreads; ++j)
        if (g_threads[j] == th) g_rows[i].torch[j] = v;
    }
  }
  fclose(f);
}

/* ---------------------------------------------------------------- output */

static void fmt(char *buf, size_t cap, double v) {
  if (isnan(v))
    snprintf(buf, cap, "-");
  else if (v >= 1e4)
    snprintf(buf, cap, "%.0f", v);
  else if (v >= 100)
    snprintf(buf, cap, "%.1f", v);
  else
    snprintf(buf, cap, "%.3g", v);
}

/* "how many times better libnn is" (> 1: libnn ahead). */
static double ratio(const Row *r, double nn, double other) {
  if (isnan(nn) || isnan(other) || nn <= 0 || other <= 0) return NAN;
  return r->higher_better ? nn / other : other / nn;
}

static void print_table(void) {
  char a[32], b[32], c[32], d[32], e[32], f[32], g[32], h[32];
  printf("\n%-34s %-10s", "workload", "unit");
  for (int j = 0; j < g_nthreads; ++j) printf(" %9s%dT", "libnn ", g_threads[j]);
  printf(" %10s", "FANN");
  for (int j = 0; j < g_nthreads; ++j) printf(" %9s%dT", "torch ", g_threads[j]);
  for (int j = 0; j < g_nthreads; ++j) printf(" %8s%dT", "sgemm ", g_threads[j]);
  printf("\n");
  for (int i = 0; i < g_nrows; ++i) {
    const Row *r = &g_rows[i];
    printf("%-34s %-10s", r->name, r->unit);
    for (int j = 0; j < g_nthreads; ++j) {
      fmt(a, sizeof a, r->nn[j]);
      printf(" %11s", a);
    }
    fmt(b, sizeof b, r->fann);
    printf(" %10s", b);
    for (int j = 0; j < g_nthreads; ++j) {
      fmt(c, sizeof c, r->torch[j]);
      printf(" %11s", c);
    }
    for (int j = 0; j < g_nthreads; ++j) {
      fmt(d, sizeof d, r->ceiling[j]);
      printf(" %10s", d);
    }
    printf("\n");
  }
  printf("\nratios (> 1: libnn better; 'x FANN' against FANN's single thread; %% of ceiling = libnn / sgemm):\n");
  for (int i = 0; i < g_nrows; ++i) {
    const Row *r = &g_rows[i];
    const int last = g_nthreads - 1;
    fmt(e, sizeof e, ratio(r, r->nn[last], r->fann));
    fmt(f, sizeof f, ratio(r, r->nn[last], r->torch[last]));
    double pct = isnan(r->ceiling[last]) ? NAN : 100.0 * r->nn[last] / r->ceiling[last];
    fmt(g, sizeof g, pct);
    double scale = g_nthreads > 1 ? ratio(r, r->nn[last], r->nn[0]) : NAN;
    fmt(h, sizeof h, scale);
    printf("  %-34s %dT: x FANN %6s  x torch %6s  %% ceiling %6s  %dT/%dT %5s", r->name, g_threads[last], e, f, g,
           g_threads[last], g_threads[0], h);
    if (r->gflop > 0 && !isnan(r->nn[last])) printf("  GFLOP/s %.1f", r->nn[last] * r->gflop * 1e-9);
    if (r->gflop > 0 && !isnan(r->ceiling[last])) printf(" (ceiling %.1f)", r->ceiling[last] * r->gflop * 1e-9);
    printf("\n");
  }
}

/* ----------------------------------------------------------- peak memory */

static long rss_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0) kb = atol(line + 6);
  if (f) fclose(f);
  return kb;
}

static int run_rss(void) {
  const int64_t sizes[4] = {784, 512, 512, 10}, batch = 128, steps = 40, n = batch * steps;
  float *xd = rand_array(n * 784), *yd = rand_array(n * 10);
  nn_tensor *x = tensor2(xd, n, 784, CPU), *y = tensor2(yd, n, 10, CPU);
  const long base_kb = rss_kb(); /* process, libraries, the data set */
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  const long peak_before_kb = ru.ru_maxrss;
  nn_model *m = mlp_on(4, sizes, NN_ACT_RELU, CPU);
  nn_optimizer *opt = NULL;
  CHECK(nn_optimizer_sgd(m, 0.001, 0.9, 0.0, false, &opt));
  nn_fit_options o;
  nn_fit_options_init(&o);
  o.batch_size = batch;
  o.epochs = 2;
  CHECK(nn_model_fit(m, opt, x, y, &o, NULL));
  getrusage(RUSAGE_SELF, &ru);
  const double params = (double)nn_model_num_params(m);
  /* parameters + gradients + momentum, one batch of input, activations and
   * their gradients (F32). */
  const double acts = (double)batch * (784 + 2.0 * (512 + 512 + 10));
  const double bound_mb = 2.0 * (3.0 * params + acts) * 4.0 / 1048576.0 + 32.0;
  const double used_mb = (double)(ru.ru_maxrss - base_kb) / 1024.0;
  printf("peak RSS training 784-512-512-10 b128 (%d threads): %.1f MB total, %.1f MB above the %.1f MB before "
         "the model (libraries + %.1f MB data set; peak before %.1f MB); bound 2 x (params + grads + momentum + "
         "one batch) + 32 MB = %.1f MB: %s\n",
         omp_get_max_threads(), (double)ru.ru_maxrss / 1024.0, used_mb, (double)base_kb / 1024.0,
         (double)n * (784 + 10) * 4 / 1048576.0, (double)peak_before_kb / 1024.0, bound_mb,
         used_mb <= bound_mb ? "met" : "MISSED");
  nn_optimizer_free(opt);
  nn_model_free(m);
  nn_tensor_free(x);
  nn_tensor_free(y);
  free(xd);
  free(yd);
  return 0;
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv) {
  const char *torch = NULL, *only = NULL; /* --only tiny|mid|big: one group of rows (profiling) */
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--quick") == 0) {
      g_quick = 1;
    } else if (strcmp(argv[i], "--torch") == 0 && i + 1 < argc) {
      torch = argv[++i];
    } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
      only = argv[++i];
    } else if (strcmp(argv[i], "--rss") == 0) {
      return run_rss();
    } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      g_nthreads = 0;
      for (char *s = strtok(argv[++i], ","); s && g_nthreads < MAX_T; s = strtok(NULL, ","))
        g_threads[g_nthreads++] = atoi(s);
    } else {
      fprintf(stderr, "usage: %s [--quick] [--torch FILE] [--threads 1,2] | --rss\n", argv[0]);
      return 2;
    }
  }
  const int reps = g_quick ? 1 : 5;
  const int64_t tiny[4] = {10, 40, 40, 5}, mid[4] = {784, 512, 512, 10}, big[4] = {784, 2048, 2048, 10};

  Row *r_online = row("tiny online train", "us/sample", 0, 0);
  Row *r_tinf = row("tiny 1-sample infer", "us/call", 0, 0);
  Row *r_tpred = row("tiny 1-row nn_model_predict", "us/call", 0, 0);
  Row *r_mid = row("784-512-512-10 b128 train", "samples/s", 1, 6.0 * flops_per_sample(4, mid));
  Row *r_big = row("784-2048-2048-10 b512 train", "samples/s", 1, 6.0 * flops_per_sample(4, big));
  Row *r_binf = row("784-2048-2048-10 b1024 infer", "samples/s", 1, 2.0 * flops_per_sample(4, big));

  for (int j = 0; j < g_nthreads; ++j) {
    set_threads(g_threads[j]);
    fprintf(stderr, "libnn, %d thread(s)...\n", g_threads[j]);
    if (!only || strcmp(only, "tiny") == 0) {
      r_online->nn[j] = nn_tiny_online(CPU, g_quick ? 2 : 20, reps);
      r_tinf->nn[j] = nn_tiny_infer(CPU, g_quick ? 200 : 20000, reps);
      r_tpred->nn[j] = nn_tiny_predict(CPU, g_quick ? 2000 : 200000, reps);
    }
    if (!only || strcmp(only, "mid") == 0) {
      r_mid->nn[j] = nn_train(CPU, 4, mid, 128, g_quick ? 2 : 16, reps);
      r_mid->ceiling[j] = ceiling(4, mid, 128, 1, reps);
    }
    if (only && strcmp(only, "big") != 0) continue;
    r_big->nn[j] = nn_train(CPU, 4, big, 512, g_quick ? 1 : 2, g_quick ? 1 : 3);
    r_big->ceiling[j] = ceiling(4, big, 512, 1, g_quick ? 1 : 3);
    r_binf->nn[j] = nn_infer(4, big, 1024, reps);
    r_binf->ceiling[j] = ceiling(4, big, 1024, 0, reps);
  }
#ifdef NN_BENCH_FANN
  fprintf(stderr, "FANN...\n");
  if (!only || strcmp(only, "tiny") == 0) {
  r_online->fann = 1e6 / fann_train_rate(4, tiny, 100, 0.f, g_quick ? 1 : 5);
  r_tinf->fann = 1e6 / fann_run_rate(4, tiny, 1000, reps);
  r_tpred->fann = r_tinf->fann;  /* fann_run is FANN's one-call inference */
  }
  if (!only) {
  r_mid->fann = fann_train_rate(4, mid, g_quick ? 16 : 256, 0.9f, g_quick ? 1 : 3);
  r_big->fann = fann_train_rate(4, big, g_quick ? 2 : 24, 0.9f, g_quick ? 1 : 3);
  r_binf->fann = fann_run_rate(4, big, g_quick ? 16 : 256, g_quick ? 1 : 3);
  }
#else
  (void)tiny;
#endif
  if (torch) read_torch(torch);
  print_table();
  return 0;
}
