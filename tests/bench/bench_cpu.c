/* libnn CPU benchmark (issues 5 and 15): times, in one run, libnn with each
 * thread count, FANN (when built with it), ONNX Runtime through its C API
 * (when given the library), the oneDNN dnnl_sgemm ceiling and the measured
 * FMA peak on the same workloads, merges PyTorch figures measured by
 * tests/bench/bench_torch.py, and prints two markdown tables: the figures,
 * then libnn's ratios and its share of the FMA peak.
 *
 *   bench_cpu [--quick] [--torch FILE] [--ort LIBONNXRUNTIME.so] [--threads N[,M...]]
 *             [--only peak|tiny|mid|big|scale|load]
 *   bench_cpu --rss      peak resident memory while training 784-512-512-10 b128
 *
 * Every figure is the median of several timed repetitions after a warm-up.
 * This program never fails on time: it prints figures (scripts/bench.sh). */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nn.h>
#include "bench_common.h"
#include "ort_c_api.h"
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define NN_BENCH_X86 1
#endif

#ifdef NN_BENCH_FANN
#include <floatfann.h>
#endif

static int g_quick = 0;

/* ---------------------------------------------------------------- results */

enum { MAX_ROWS = 24, MAX_T = 4, MAX_NOTES = 8 };
typedef struct {
  const char *key;   /* bench_torch.py's key */
  const char *name;  /* workload, as printed */
  const char *unit;  /* "us/call", "samples/s", ... */
  int higher_better;
  double nn[MAX_T];  /* libnn per thread count (NAN: not run) */
  double fann, torch[MAX_T], ort[MAX_T], ceiling[MAX_T];
  double flop;       /* FLOPs per unit of the figure (per sample), for GFLOP/s and % of peak (0: none) */
} Row;
static Row g_rows[MAX_ROWS];
static int g_nrows = 0;
static int g_threads[MAX_T] = {1, 2};
static int g_nthreads = 2;
static double g_peak[MAX_T];         /* measured FMA peak, GFLOP/s, per thread count */
static const char *g_peak_isa = "-"; /* "AVX-512" or "AVX2" */
static char g_notes[MAX_NOTES][256]; /* "# ..." lines of the PyTorch file */
static int g_nnotes = 0;

static Row *row(const char *key, const char *name, const char *unit, int higher_better, double flop) {
  Row *r = &g_rows[g_nrows++];
  r->key = key;
  r->name = name;
  r->unit = unit;
  r->higher_better = higher_better;
  r->flop = flop;
  r->fann = NAN;
  for (int i = 0; i < MAX_T; ++i) r->nn[i] = r->torch[i] = r->ort[i] = r->ceiling[i] = NAN;
  return r;
}

static void set_threads(int n) {
  CHECK(nn_set_num_threads(n));
  omp_set_num_threads(n); /* for dnnl_sgemm and the FMA loop on this thread */
}

static void print_load(const char *when) {
  char buf[128] = "?";
  FILE *f = fopen("/proc/loadavg", "r");
  if (f) {
    if (!fgets(buf, sizeof buf, f)) snprintf(buf, sizeof buf, "?\n");
    fclose(f);
  }
  printf("load average %s: %s", when, buf);
  fflush(stdout);
}

/* ------------------------------------------------------------ FMA peak */

/* A register-only FMA loop: `acc = acc * a + b` on 16 independent AVX-512
 * accumulators (12 AVX2 ones), enough to keep two FMA ports busy through a
 * 4-cycle latency; no memory traffic. Returns a value that depends on every
 * accumulator so nothing is optimised away. */
#ifdef NN_BENCH_X86
#define FMA_ACC16(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)
#define FMA_ACC12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

__attribute__((target("avx512f"))) static float fma_loop_avx512(long iters) {
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-6f);
#define DECL(k) __m512 c##k = _mm512_set1_ps((float)(k));
  FMA_ACC16(DECL)
#undef DECL
  for (long i = 0; i < iters; ++i) {
#define STEP(k) c##k = _mm512_fmadd_ps(c##k, a, b);
    FMA_ACC16(STEP)
#undef STEP
  }
  __m512 s = _mm512_setzero_ps();
#define SUM(k) s = _mm512_add_ps(s, c##k);
  FMA_ACC16(SUM)
#undef SUM
  return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) static float fma_loop_avx2(long iters) {
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-6f);
#define DECL(k) __m256 c##k = _mm256_set1_ps((float)(k));
  FMA_ACC12(DECL)
#undef DECL
  for (long i = 0; i < iters; ++i) {
#define STEP(k) c##k = _mm256_fmadd_ps(c##k, a, b);
    FMA_ACC12(STEP)
#undef STEP
  }
  __m256 s = _mm256_setzero_ps();
#define SUM(k) s = _mm256_add_ps(s, c##k);
  FMA_ACC12(SUM)
#undef SUM
  float v[8];
  _mm256_storeu_ps(v, s);
  return v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
}
#endif

/* GFLOP/s of the FMA loop run on `threads` threads at once (the median of
 * several runs of about 0.2 s each); NAN without AVX2. */
static double fma_peak(int threads, int reps) {
#ifdef NN_BENCH_X86
  const int avx512 = __builtin_cpu_supports("avx512f");
  if (!avx512 && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) return NAN;
  g_peak_isa = avx512 ? "AVX-512" : "AVX2";
  const double flop_per_iter = avx512 ? 16 * 16 * 2 : 12 * 8 * 2;
  volatile float sink = 0;
  double t0 = now_s();
  sink += avx512 ? fma_loop_avx512(1000000) : fma_loop_avx2(1000000);
  const double per_iter = (now_s() - t0) / 1e6;
  const long iters = (long)((g_quick ? 0.05 : 0.2) / (per_iter > 0 ? per_iter : 1e-9));
  double t[32];
  for (int r = 0; r < reps; ++r) {
    double start = now_s();
#pragma omp parallel num_threads(threads)
    {
      float v = avx512 ? fma_loop_avx512(iters) : fma_loop_avx2(iters);
#pragma omp atomic
      sink += v;
    }
    t[r] = (double)threads * (double)iters * flop_per_iter / (now_s() - start) * 1e-9;
  }
  (void)sink;
  return median(t, reps);
#else
  (void)threads;
  (void)reps;
  return NAN;
#endif
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

/* Time to first prediction from a file: nn_model_load + nn_model_predict of
 * one row, milliseconds (the file in the page cache after the warm-up). */
static double nn_first_prediction(const char *path, int64_t in, int64_t out, int reps) {
  float *x = rand_array(in), *y = malloc((size_t)out * sizeof(float));
  double t[32];
  for (int r = -1; r < reps; ++r) {
    nn_model *m = NULL;
    double t0 = now_s();
    CHECK(nn_model_load(path, CPU, &m));
    CHECK(nn_model_predict(m, 1, x, y));
    double dt = now_s() - t0;
    nn_model_free(m);
    if (r >= 0) t[r] = dt * 1e3;
  }
  free(x);
  free(y);
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
  const int iters = g_quick ? 1 : 3;
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

/* ---------------------------------------------------- ONNX Runtime (C API) */

static const OrtApi *g_ort = NULL; /* NULL: no ONNX Runtime column */
static OrtEnv *g_ort_env = NULL;
static OrtMemoryInfo *g_ort_mem = NULL;
static char g_ort_note[256];       /* library and environment start-up cost */
static const char *const g_ort_in[1] = {"input"}, *const g_ort_out[1] = {"output"}; /* nn_model_export_onnx's names */

/* 1 for success; prints and releases a failed status. */
static int ort_ok(OrtStatus *st, const char *what) {
  if (!st) return 1;
  fprintf(stderr, "ONNX Runtime: %s: %s\n", what, g_ort->GetErrorMessage(st));
  g_ort->ReleaseStatus(st);
  return 0;
}

/* Loads the library, gets the API table and checks that it behaves like the
 * declaration in ort_c_api.h (a missing model file gives ORT_NO_SUCHFILE and
 * a message naming the file). Returns 0 with the column off on any failure. */
static int ort_open(const char *lib) {
  const double t0 = now_s();
  void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
  const double t1 = now_s();
  if (!h) {
    fprintf(stderr, "ONNX Runtime: %s\n", dlerror());
    return 0;
  }
  OrtGetApiBaseFn get_base = NULL;
  *(void **)&get_base = dlsym(h, "OrtGetApiBase");
  const OrtApiBase *base = get_base ? get_base() : NULL;
  const OrtApi *api = base ? base->GetApi(NN_ORT_API_VERSION) : NULL;
  if (!api) {
    fprintf(stderr, "ONNX Runtime: %s has no API version %u\n", lib, NN_ORT_API_VERSION);
    return 0;
  }
  g_ort = api;
  if (!ort_ok(api->CreateEnv(ORT_LOGGING_LEVEL_ERROR, "bench_cpu", &g_ort_env), "CreateEnv") ||
      !ort_ok(api->CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &g_ort_mem), "CreateCpuMemoryInfo")) {
    g_ort = NULL;
    return 0;
  }
  snprintf(g_ort_note, sizeof g_ort_note,
           "ONNX Runtime start-up, once per process, not in the rows: dlopen %.1f ms, CreateEnv %.1f ms",
           (t1 - t0) * 1e3, (now_s() - t1) * 1e3);
  OrtSessionOptions *o = NULL;
  OrtSession *s = NULL;
  const char *missing = "/nonexistent/nn_bench_missing.onnx";
  OrtStatus *st = ort_ok(api->CreateSessionOptions(&o), "CreateSessionOptions") ? api->CreateSession(g_ort_env, missing, o, &s) : NULL;
  OrtGetErrorCodeFn code_of = (OrtGetErrorCodeFn)api->s0_1[1];
  const int good = st && code_of(st) == ORT_NO_SUCHFILE && strstr(api->GetErrorMessage(st), "nn_bench_missing.onnx");
  printf("ONNX Runtime %s (%s), C API table version %u: CreateSession on a missing file says [%d] %s -> %s\n",
         base->GetVersionString(), lib, NN_ORT_API_VERSION, st ? code_of(st) : 0,
         st ? api->GetErrorMessage(st) : "(no error)", good ? "slots check out" : "UNEXPECTED: no ONNX Runtime column");
  if (st) api->ReleaseStatus(st);
  if (s) api->ReleaseSession(s);
  api->ReleaseSessionOptions(o);
  if (!good) g_ort = NULL;
  return good;
}

/* A session on `path` with `threads` intra-op threads, sequential execution
 * (one inter-op thread), all graph optimisations; NULL on failure. */
static OrtSession *ort_session(const char *path, int threads) {
  OrtSessionOptions *o = NULL;
  OrtSession *s = NULL;
  if (ort_ok(g_ort->CreateSessionOptions(&o), "CreateSessionOptions") &&
      ort_ok(g_ort->SetIntraOpNumThreads(o, threads), "SetIntraOpNumThreads") &&
      ort_ok(g_ort->SetInterOpNumThreads(o, 1), "SetInterOpNumThreads") &&
      ort_ok(g_ort->SetSessionExecutionMode(o, ORT_SEQUENTIAL), "SetSessionExecutionMode") &&
      ort_ok(g_ort->SetSessionGraphOptimizationLevel(o, ORT_ENABLE_ALL), "SetSessionGraphOptimizationLevel"))
    ort_ok(g_ort->CreateSession(g_ort_env, path, o, &s), "CreateSession");
  if (o) g_ort->ReleaseSessionOptions(o);
  return s;
}

/* An OrtValue over caller-owned floats [rows, cols]; NULL on failure. */
static OrtValue *ort_tensor(float *data, int64_t rows, int64_t cols) {
  const int64_t shape[2] = {rows, cols};
  OrtValue *v = NULL;
  ort_ok(g_ort->CreateTensorWithDataAsOrtValue(g_ort_mem, data, (size_t)(rows * cols) * sizeof(float), shape, 2,
                                               ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, &v),
         "CreateTensorWithDataAsOrtValue");
  return v;
}

/* One Run with the output bound to caller memory (no allocation for it). */
static int ort_run(OrtSession *s, const OrtValue *in, OrtValue *out) {
  return ort_ok(g_ort->Run(s, NULL, g_ort_in, &in, 1, g_ort_out, 1, &out), "Run");
}

/* Largest |a - b| / max(1, |b|). */
static double max_rel_diff(const float *a, const float *b, int64_t n) {
  double d = 0;
  for (int64_t i = 0; i < n; ++i) {
    double e = fabs((double)a[i] - (double)b[i]) / fmax(1.0, fabs((double)b[i]));
    if (!(e <= d)) d = e;
  }
  return d;
}

/* ORT Run on `rows` rows of the model exported to `onnx`, against libnn's
 * nn_model_predict on the same weights (`m`) once for agreement; then the
 * median time: microseconds per call (rows == 1) or samples per second. */
static double ort_predict(const char *onnx, const nn_model *m, int64_t in, int64_t out, int64_t rows, int threads,
                          int calls, int reps) {
  OrtSession *s = ort_session(onnx, threads);
  if (!s) return NAN;
  float *x = rand_array(rows * in), *y = calloc((size_t)(rows * out), sizeof(float)),
        *ref = calloc((size_t)(rows * out), sizeof(float));
  OrtValue *xv = ort_tensor(x, rows, in), *yv = ort_tensor(y, rows, out);
  double res = NAN, t[32];
  if (xv && yv && ort_run(s, xv, yv)) {
    CHECK(nn_model_predict(m, rows, x, ref));
    const double diff = max_rel_diff(y, ref, rows * out);
    if (diff > 1e-4) {
      printf("ONNX Runtime and libnn disagree on %s: max relative difference %.3g (no figure)\n", onnx, diff);
    } else {
      int ok = 1;
      for (int r = -1; r < reps && ok; ++r) {
        double t0 = now_s();
        for (int i = 0; i < calls && ok; ++i) {
          ok = ort_run(s, xv, yv);
          x[i % in] += y[0] * 1e-9f;
        }
        const double dt = now_s() - t0;
        if (r >= 0) t[r] = rows == 1 ? dt * 1e6 / calls : (double)(rows * calls) / dt;
      }
      if (ok) res = median(t, reps);
    }
  }
  if (xv) g_ort->ReleaseValue(xv);
  if (yv) g_ort->ReleaseValue(yv);
  g_ort->ReleaseSession(s);
  free(x);
  free(y);
  free(ref);
  return res;
}

/* Time to first prediction: CreateSession from the file + one Run of one
 * row (the environment, created once per process, not counted; the file in
 * the page cache after the warm-up), milliseconds. */
static double ort_first_prediction(const char *onnx, int64_t in, int64_t out, int threads, int reps) {
  float *x = rand_array(in), *y = calloc((size_t)out, sizeof(float));
  double t[32], res = NAN;
  int ok = 1;
  for (int r = -1; r < reps && ok; ++r) {
    double t0 = now_s();
    OrtSession *s = ort_session(onnx, threads);
    OrtValue *xv = ort_tensor(x, 1, in), *yv = ort_tensor(y, 1, out);
    ok = s && xv && yv && ort_run(s, xv, yv);
    const double dt = now_s() - t0;
    if (xv) g_ort->ReleaseValue(xv);
    if (yv) g_ort->ReleaseValue(yv);
    if (s) g_ort->ReleaseSession(s);
    if (r >= 0) t[r] = dt * 1e3;
  }
  if (ok) res = median(t, reps);
  free(x);
  free(y);
  return res;
}

/* --------------------------------------------------------------- PyTorch */

/* Lines "key threads value" from bench_torch.py; lines starting with '#'
 * are notes printed under the tables. */
static void read_torch(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return;
  char line[512], key[64];
  int th;
  double v;
  while (fgets(line, sizeof line, f)) {
    if (line[0] == '#') {
      if (g_nnotes < MAX_NOTES) {
        line[strcspn(line, "\n")] = 0;
        snprintf(g_notes[g_nnotes++], sizeof g_notes[0], "%s", line + 1 + (line[1] == ' '));
      }
      continue;
    }
    if (sscanf(line, "%63s %d %lf", key, &th, &v) != 3) continue;
    for (int i = 0; i < g_nrows; ++i) {
      if (strcmp(g_rows[i].key, key) != 0) continue;
      for (int j = 0; j < g_nthreads; ++j)
        if (g_threads[j] == th) g_rows[i].torch[j] = v;
    }
  }
  fclose(f);
}

/* ---------------------------------------------------------------- output */

static const char *fmt(char *buf, size_t cap, double v) {
  if (isnan(v))
    snprintf(buf, cap, "-");
  else if (v >= 1e4)
    snprintf(buf, cap, "%.1fk", v / 1e3);
  else if (v >= 100)
    snprintf(buf, cap, "%.0f", v);
  else
    snprintf(buf, cap, "%.3g", v);
  return buf;
}

/* "how many times better libnn is" (> 1: libnn ahead). */
static double ratio(const Row *r, double nn, double other) {
  if (isnan(nn) || isnan(other) || nn <= 0 || other <= 0) return NAN;
  return r->higher_better ? nn / other : other / nn;
}

/* One cell of per-thread-count values, "a / b". */
static void cell(const double *v, const char *suffix) {
  char b[32];
  int any = 0;
  for (int j = 0; j < g_nthreads; ++j) any |= !isnan(v[j]);
  if (!any) {
    printf(" - |");
    return;
  }
  for (int j = 0; j < g_nthreads; ++j) printf("%s%s%s", j ? " / " : " ", fmt(b, sizeof b, v[j]), isnan(v[j]) ? "" : suffix);
  printf(" |");
}

static void print_tables(void) {
  char b[32];
  printf("\n| workload | unit |");
  for (int j = 0; j < g_nthreads; ++j) printf(" libnn %dT |", g_threads[j]);
  for (int j = 0; j < g_nthreads; ++j) printf(" PyTorch %dT |", g_threads[j]);
  for (int j = 0; j < g_nthreads; ++j) printf(" ONNX RT %dT |", g_threads[j]);
  printf(" FANN |");
  for (int j = 0; j < g_nthreads; ++j) printf(" sgemm %dT |", g_threads[j]);
  printf("\n|---|---|");
  for (int j = 0; j < 4 * g_nthreads + 1; ++j) printf("---|");
  printf("\n| FMA peak (%s register loop) | GFLOP/s |", g_peak_isa);
  for (int j = 0; j < g_nthreads; ++j) printf(" %s |", fmt(b, sizeof b, g_peak[j]));
  for (int j = 0; j < 3 * g_nthreads + 1; ++j) printf(" |");
  printf("\n");
  for (int i = 0; i < g_nrows; ++i) {
    const Row *r = &g_rows[i];
    printf("| %s | %s |", r->name, r->unit);
    for (int j = 0; j < g_nthreads; ++j) printf(" %s |", fmt(b, sizeof b, r->nn[j]));
    for (int j = 0; j < g_nthreads; ++j) printf(" %s |", fmt(b, sizeof b, r->torch[j]));
    for (int j = 0; j < g_nthreads; ++j) printf(" %s |", fmt(b, sizeof b, r->ort[j]));
    printf(" %s |", fmt(b, sizeof b, r->fann));
    for (int j = 0; j < g_nthreads; ++j) printf(" %s |", fmt(b, sizeof b, r->ceiling[j]));
    printf("\n");
  }

  printf("\n| workload (libnn, ");
  for (int j = 0; j < g_nthreads; ++j) printf("%s%dT", j ? " / " : "", g_threads[j]);
  printf(") | x PyTorch | x ONNX RT | x FANN | %% of sgemm | GFLOP/s | %% of FMA peak |\n|---|---|---|---|---|---|---|\n");
  for (int i = 0; i < g_nrows; ++i) {
    const Row *r = &g_rows[i];
    double vt[MAX_T], vo[MAX_T], vf[MAX_T], vc[MAX_T], vg[MAX_T], vp[MAX_T];
    for (int j = 0; j < g_nthreads; ++j) {
      vt[j] = ratio(r, r->nn[j], r->torch[j]);
      vo[j] = ratio(r, r->nn[j], r->ort[j]);
      vf[j] = ratio(r, r->nn[j], r->fann);
      vc[j] = isnan(r->ceiling[j]) || isnan(r->nn[j]) ? NAN : 100.0 * r->nn[j] / r->ceiling[j];
      vg[j] = r->flop > 0 && !isnan(r->nn[j]) ? r->nn[j] * r->flop * 1e-9 : NAN;
      vp[j] = vg[j] / g_peak[j] * 100.0;
    }
    printf("| %s |", r->name);
    cell(vt, "x");
    cell(vo, "x");
    cell(vf, "x");
    cell(vc, "%");
    cell(vg, "");
    cell(vp, "%");
    printf("\n");
  }
  printf("\nLegend:\n"
         "- nT: n threads (nn_set_num_threads, torch.set_num_threads, ONNX Runtime intra-op threads with sequential\n"
         "  execution); FANN is single-threaded. Medians of repetitions after a warm-up; x ...: > 1 when libnn is ahead.\n"
         "- GFLOP/s and %% of FMA peak count the FLOPs actually executed per sample: inference 2 x sum(in x out);\n"
         "  training 2 x sum(in x out) forward + 2 x sum(in x out) weight gradients + 2 x sum(in x out) input\n"
         "  gradients of every Linear but the first (neither libnn nor PyTorch computes the first layer's); bias\n"
         "  adds and activations not counted.\n"
         "- The two 10-40-40-5 inference rows share PyTorch's figure (its fastest route) and FANN's (fann_run).\n"
         "- FMA peak: %s FMAs on independent register accumulators, no memory traffic, on every thread at once.\n"
         "- sgemm: dnnl_sgemm on exactly the products of one step (the same FLOPs).\n"
         "- ONNX RT: its C API, the model exported by nn_model_export_onnx (same weights), inputs and outputs bound\n"
         "  to caller memory (CreateTensorWithDataAsOrtValue) as nn_model_predict has them.\n"
         "- Time to first prediction: nn_model_load + one nn_model_predict, against CreateSession from the .onnx file\n"
         "  + one Run; in one process, the file in the page cache, ONNX Runtime's environment made once before.\n",
         g_peak_isa);
  if (g_ort_note[0]) printf("- %s\n", g_ort_note);
  for (int i = 0; i < g_nnotes; ++i) printf("PyTorch: %s\n", g_notes[i]);
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

/* A model saved both ways (libnn's file, ONNX) from the same weights. */
typedef struct {
  const int64_t *sizes;
  nn_activation act;
  char nn_path[256], onnx_path[256];
  nn_model *m;
} SavedModel;

static void save_model(SavedModel *s, const char *dir, const char *stem, const int64_t *sizes, nn_activation act) {
  s->sizes = sizes;
  s->act = act;
  s->m = mlp_on(4, sizes, act, CPU);
  snprintf(s->nn_path, sizeof s->nn_path, "%s/%s.safetensors", dir, stem);
  snprintf(s->onnx_path, sizeof s->onnx_path, "%s/%s.onnx", dir, stem);
  CHECK(nn_model_save(s->m, s->nn_path));
  CHECK(nn_model_export_onnx(s->m, s->onnx_path));
}

static int want(const char *only, const char *group) { return !only || strcmp(only, group) == 0; }

int main(int argc, char **argv) {
  const char *torch = NULL, *only = NULL, *ort_lib = NULL;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--quick") == 0) {
      g_quick = 1;
    } else if (strcmp(argv[i], "--torch") == 0 && i + 1 < argc) {
      torch = argv[++i];
    } else if (strcmp(argv[i], "--ort") == 0 && i + 1 < argc) {
      ort_lib = argv[++i];
    } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
      only = argv[++i];
    } else if (strcmp(argv[i], "--rss") == 0) {
      return run_rss();
    } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      g_nthreads = 0;
      for (char *s = strtok(argv[++i], ","); s && g_nthreads < MAX_T; s = strtok(NULL, ","))
        g_threads[g_nthreads++] = atoi(s);
    } else {
      fprintf(stderr,
              "usage: %s [--quick] [--torch FILE] [--ort LIB] [--threads 1,2] [--only peak|tiny|mid|big|scale|load] "
              "| --rss\n",
              argv[0]);
      return 2;
    }
  }
  print_load("at start");
  const int reps = g_quick ? 1 : 5;
  static const int64_t tiny[4] = {10, 40, 40, 5}, mid[4] = {784, 512, 512, 10}, big[4] = {784, 2048, 2048, 10};
  static const int64_t h256[4] = {784, 256, 256, 10}, h1024[4] = {784, 1024, 1024, 10}, h4096[4] = {784, 4096, 4096, 10};

  char dir[] = "/tmp/nn_bench_XXXXXX";
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  SavedModel s_tiny, s_mid, s_big;
  save_model(&s_tiny, dir, "tiny", tiny, NN_ACT_TANH);
  save_model(&s_mid, dir, "mid", mid, NN_ACT_RELU);
  save_model(&s_big, dir, "big", big, NN_ACT_RELU);
  if (ort_lib) ort_open(ort_lib);

  Row *r_online = row("tiny_online_train", "10-40-40-5 online training (nn_model_fit, batch 1)", "us/sample", 0, 0);
  Row *r_tinf = row("tiny_1-sample_infer", "10-40-40-5 1-sample inference via tensors", "us/call", 0, 0);
  Row *r_tpred = row("tiny_1-sample_infer", "10-40-40-5 1-row nn_model_predict", "us/call", 0, 0);
  Row *r_mid = row("784-512-512-10_b128_train", "784-512-512-10 b128 training", "samples/s", 1,
                   train_flops_per_sample(4, mid));
  Row *r_big = row("784-2048-2048-10_b512_train", "784-2048-2048-10 b512 training", "samples/s", 1,
                   train_flops_per_sample(4, big));
  Row *r_binf = row("784-2048-2048-10_b1024_infer", "784-2048-2048-10 b1024 inference", "samples/s", 1,
                    infer_flops_per_sample(4, big));
  const int64_t *scale_sizes[3] = {h256, h1024, h4096};
  Row *r_scale[3] = {
      row("784-256-256-10_b256_train", "784-H-H-10 b256 training, H = 256", "samples/s", 1, train_flops_per_sample(4, h256)),
      row("784-1024-1024-10_b256_train", "784-H-H-10 b256 training, H = 1024", "samples/s", 1,
          train_flops_per_sample(4, h1024)),
      row("784-4096-4096-10_b256_train", "784-H-H-10 b256 training, H = 4096", "samples/s", 1,
          train_flops_per_sample(4, h4096)),
  };
  const SavedModel *saved[3] = {&s_tiny, &s_mid, &s_big};
  static char load_names[3][96];
  Row *r_load[3];
  for (int k = 0; k < 3; ++k) {
    struct stat st;
    const double bytes = stat(saved[k]->nn_path, &st) == 0 ? (double)st.st_size : NAN;
    snprintf(load_names[k], sizeof load_names[k], "time to first prediction, %lld-%lld-%lld-%lld (%.3g %s file)",
             (long long)saved[k]->sizes[0], (long long)saved[k]->sizes[1], (long long)saved[k]->sizes[2],
             (long long)saved[k]->sizes[3], bytes >= 1e6 ? bytes / 1e6 : bytes / 1e3, bytes >= 1e6 ? "MB" : "kB");
    r_load[k] = row("", load_names[k], "ms", 0, 0);
  }
  const int load_reps[3] = {g_quick ? 3 : 21, g_quick ? 2 : 11, g_quick ? 1 : 5};

  for (int j = 0; j < g_nthreads; ++j) {
    const int th = g_threads[j];
    set_threads(th);
    if (want(only, "peak")) {
      fprintf(stderr, "%d thread(s): FMA peak...\n", th);
      g_peak[j] = fma_peak(th, g_quick ? 3 : 5);
    }
    if (want(only, "tiny")) {
      fprintf(stderr, "%d thread(s): tiny...\n", th);
      r_online->nn[j] = nn_tiny_online(CPU, g_quick ? 2 : 20, reps);
      r_tinf->nn[j] = nn_tiny_one_row(CPU, 0, g_quick ? 200 : 20000, reps);
      r_tpred->nn[j] = nn_tiny_one_row(CPU, 1, g_quick ? 2000 : 200000, reps);
      if (g_ort) r_tpred->ort[j] = ort_predict(s_tiny.onnx_path, s_tiny.m, 10, 5, 1, th, g_quick ? 2000 : 100000, reps);
    }
    if (want(only, "mid")) {
      fprintf(stderr, "%d thread(s): 784-512-512-10...\n", th);
      r_mid->nn[j] = nn_train(CPU, 4, mid, 128, g_quick ? 2 : 16, reps);
      r_mid->ceiling[j] = ceiling(4, mid, 128, 1, reps);
    }
    if (want(only, "big")) {
      fprintf(stderr, "%d thread(s): 784-2048-2048-10...\n", th);
      r_big->nn[j] = nn_train(CPU, 4, big, 512, g_quick ? 1 : 2, g_quick ? 1 : 3);
      r_big->ceiling[j] = ceiling(4, big, 512, 1, g_quick ? 1 : 3);
      r_binf->nn[j] = nn_infer(4, big, 1024, reps);
      r_binf->ceiling[j] = ceiling(4, big, 1024, 0, reps);
      if (g_ort) r_binf->ort[j] = ort_predict(s_big.onnx_path, s_big.m, 784, 10, 1024, th, 1, reps);
    }
    if (want(only, "scale")) {
      for (int k = 0; k < 3; ++k) {
        fprintf(stderr, "%d thread(s): 784-%lld-%lld-10 b256...\n", th, (long long)scale_sizes[k][1],
                (long long)scale_sizes[k][1]);
        const int steps = scale_sizes[k][1] >= 4096 ? (g_quick ? 1 : 2) : (g_quick ? 2 : 8);
        r_scale[k]->nn[j] = nn_train(CPU, 4, scale_sizes[k], 256, steps, g_quick ? 1 : 3);
        r_scale[k]->ceiling[j] = ceiling(4, scale_sizes[k], 256, 1, g_quick ? 1 : 3);
      }
    }
    if (want(only, "load")) {
      fprintf(stderr, "%d thread(s): time to first prediction...\n", th);
      for (int k = 0; k < 3; ++k) {
        const SavedModel *s = saved[k];
        r_load[k]->nn[j] = nn_first_prediction(s->nn_path, s->sizes[0], s->sizes[3], load_reps[k]);
        if (g_ort) r_load[k]->ort[j] = ort_first_prediction(s->onnx_path, s->sizes[0], s->sizes[3], th, load_reps[k]);
      }
    }
  }
#ifdef NN_BENCH_FANN
  fprintf(stderr, "FANN...\n");
  if (want(only, "tiny")) {
    r_online->fann = 1e6 / fann_train_rate(4, tiny, 100, 0.f, g_quick ? 1 : 5);
    r_tinf->fann = 1e6 / fann_run_rate(4, tiny, 1000, reps);
    r_tpred->fann = r_tinf->fann; /* fann_run is FANN's one-call inference */
  }
  if (want(only, "mid")) r_mid->fann = fann_train_rate(4, mid, g_quick ? 16 : 256, 0.9f, g_quick ? 1 : 3);
  if (want(only, "big")) {
    r_big->fann = fann_train_rate(4, big, g_quick ? 2 : 24, 0.9f, g_quick ? 1 : 3);
    r_binf->fann = fann_run_rate(4, big, g_quick ? 16 : 256, g_quick ? 1 : 3);
  }
#endif
  if (torch) read_torch(torch);
  for (int k = 0; k < 3; ++k) {
    remove(saved[k]->nn_path);
    remove(saved[k]->onnx_path);
    nn_model_free(saved[k]->m);
  }
  rmdir(dir);
  print_tables();
  print_load("at end");
  return 0;
}
