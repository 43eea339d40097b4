/* Concurrency stress (nn.h "Thread safety"), for ThreadSanitizer: for
 * NN_STRESS_SECONDS (default 2; CI's TSan run uses 20) these run at once:
 *  - 4 threads forwarding one shared model (nn_model_forward may run
 *    concurrently on the same model), each checking every answer against the
 *    output computed before the threads started;
 *  - 2 threads fitting their own models (checked: finite, decreasing loss);
 *  - 1 thread saving and loading its own model (file and buffer), checking
 *    the loaded model's output;
 *  - 1 thread making calls fail and checking that nn_last_error() is its own
 *    message (the message is thread-local);
 *  - 1 thread running work large enough for the parallel (OpenMP) paths.
 * Any wrong answer fails; under TSan any data race report fails the run. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

enum { IN = 16, HID = 32, OUT = 4, ROWS = 64 };

static double g_seconds = 2;
static double g_t0;
static nn_model *g_shared;
static nn_tensor *g_x;
static double g_ref[ROWS * OUT];
static char g_dir[1024];

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static int running(void) { return now_s() - g_t0 < g_seconds; }

typedef struct {
  int id;
  long iterations;
  char error[512]; /* first error, "" if none */
} worker;

#define WFAIL(w, ...)                                                  \
  do {                                                                 \
    if (!(w)->error[0]) snprintf((w)->error, sizeof (w)->error, __VA_ARGS__); \
  } while (0)

static nn_model *mlp(uint64_t seed) {
  const int64_t sizes[] = {IN, HID, OUT};
  nn_model *m = NULL;
  if (nn_model_mlp(3, sizes, NN_ACT_TANH, NN_ACT_IDENTITY, &m) != NN_OK) return NULL;
  if (nn_model_init(m, NN_INIT_XAVIER_UNIFORM, seed) != NN_OK) {
    nn_model_free(m);
    return NULL;
  }
  return m;
}

static nn_tensor *inputs(uint64_t seed) {
  double v[ROWS * IN];
  tu_rng r = tu_rng_make(seed);
  for (int i = 0; i < ROWS * IN; ++i) v[i] = tu_rng_uniform(&r, -1, 1);
  float f[ROWS * IN];
  for (int i = 0; i < ROWS * IN; ++i) f[i] = (float)v[i];
  const int64_t s[] = {ROWS, IN};
  nn_tensor *t = NULL;
  return nn_tensor_from_data(NN_F32, 2, s, f, tu_cpu(), &t) == NN_OK ? t : NULL;
}

static int read_out(const nn_tensor *y, double *out) {
  float f[ROWS * OUT];
  if (nn_tensor_read(y, f, sizeof f) != NN_OK) return 0;
  for (int i = 0; i < ROWS * OUT; ++i) out[i] = f[i];
  return 1;
}

static void *forward_worker(void *arg) {
  worker *w = arg;
  while (running() && !w->error[0]) {
    nn_tensor *y = NULL;
    double got[ROWS * OUT];
    if (nn_model_forward(g_shared, g_x, &y) != NN_OK || !read_out(y, got)) {
      WFAIL(w, "forward %d: %s", w->id, nn_last_error());
    } else {
      for (int i = 0; i < ROWS * OUT; ++i)
        if (got[i] != g_ref[i]) {
          WFAIL(w, "forward %d: y[%d] = %.9g, expected %.9g", w->id, i, got[i], g_ref[i]);
          break;
        }
    }
    nn_tensor_free(y);
    ++w->iterations;
  }
  return NULL;
}

static void *fit_worker(void *arg) {
  worker *w = arg;
  nn_model *m = mlp(100 + (uint64_t)w->id);
  nn_tensor *x = inputs(200 + (uint64_t)w->id), *y = NULL;
  nn_optimizer *opt = NULL;
  if (!m || !x || nn_model_forward(m, x, &y) != NN_OK || nn_optimizer_adam(m, 1e-2, 0.9, 0.999, 1e-8, 0, false, &opt) != NN_OK) {
    WFAIL(w, "fit %d: set-up: %s", w->id, nn_last_error());
  }
  /* targets: a fixed function of x, the model learns towards it */
  nn_tensor *t = NULL;
  if (!w->error[0] && nn_unary(NN_OP_TANH, y, &t) != NN_OK) WFAIL(w, "fit %d: targets: %s", w->id, nn_last_error());
  double first = -1;
  while (!w->error[0] && running()) {
    nn_fit_options o;
    nn_fit_options_init(&o);
    o.epochs = 2;
    o.batch_size = 16;
    o.seed = (uint64_t)w->iterations;
    nn_epoch_report last;
    if (nn_model_fit(m, opt, x, t, &o, &last) != NN_OK) {
      WFAIL(w, "fit %d: %s", w->id, nn_last_error());
      break;
    }
    if (!isfinite(last.loss)) WFAIL(w, "fit %d: loss %g", w->id, last.loss);
    if (first < 0) first = last.loss;
    ++w->iterations;
  }
  if (!w->error[0] && w->iterations > 20) {
    double l = 0;
    if (nn_model_evaluate(m, x, t, NN_LOSS_MSE, &l, NULL) != NN_OK || !(l < first))
      WFAIL(w, "fit %d: loss %g after %ld fits, %g after the first", w->id, l, w->iterations, first);
  }
  nn_tensor_free(t);
  nn_tensor_free(y);
  nn_tensor_free(x);
  nn_optimizer_free(opt);
  nn_model_free(m);
  return NULL;
}

static void *save_load_worker(void *arg) {
  worker *w = arg;
  nn_model *m = mlp(7);
  char path[1200];
  snprintf(path, sizeof path, "%s/stress.safetensors", g_dir);
  nn_tensor *y = NULL;
  double ref[ROWS * OUT];
  if (!m || nn_model_forward(m, g_x, &y) != NN_OK || !read_out(y, ref)) WFAIL(w, "save: set-up: %s", nn_last_error());
  nn_tensor_free(y);
  while (!w->error[0] && running()) {
    nn_model *back = NULL;
    size_t n = 0;
    if (w->iterations % 2 == 0) {
      if (nn_model_save(m, path) != NN_OK || nn_model_load(path, tu_cpu(), &back) != NN_OK) {
        WFAIL(w, "save/load: %s", nn_last_error());
        break;
      }
    } else {
      void *buf = NULL;
      if (nn_model_save_buffer(m, NULL, 0, &n) != NN_OK || !(buf = malloc(n)) ||
          nn_model_save_buffer(m, buf, n, &n) != NN_OK || nn_model_load_buffer(buf, n, tu_cpu(), &back) != NN_OK) {
        WFAIL(w, "save/load buffer: %s", nn_last_error());
        free(buf);
        break;
      }
      free(buf);
    }
    double got[ROWS * OUT];
    y = NULL;
    if (nn_model_forward(back, g_x, &y) != NN_OK || !read_out(y, got)) WFAIL(w, "loaded forward: %s", nn_last_error());
    else if (memcmp(got, ref, sizeof got) != 0) WFAIL(w, "the loaded model computes other values");
    nn_tensor_free(y);
    nn_model_free(back);
    ++w->iterations;
  }
  nn_model_free(m);
  return NULL;
}

static void *error_worker(void *arg) {
  worker *w = arg;
  while (!w->error[0] && running()) {
    char want[64];
    const int64_t bad = -1 - (int64_t)(w->iterations % 1000);
    snprintf(want, sizeof want, "shape[1] is %lld", (long long)bad);
    const int64_t s[] = {2, bad};
    nn_tensor *t = NULL;
    if (nn_tensor_zeros(NN_F32, 2, s, tu_cpu(), &t) != NN_ERR_INVALID_ARGUMENT) WFAIL(w, "errors: zeros accepted");
    else if (!strstr(nn_last_error(), want) || strncmp(nn_last_error(), "nn_tensor_zeros", 15) != 0)
      WFAIL(w, "errors: the message is \"%s\", expected one with \"%s\"", nn_last_error(), want);
    nn_model *m = NULL;
    if (nn_model_load_buffer("nope", 4, tu_cpu(), &m) != NN_ERR_FORMAT ||
        !strstr(nn_last_error(), "nn_model_load_buffer"))
      WFAIL(w, "errors: load_buffer of 4 bytes: \"%s\"", nn_last_error());
    ++w->iterations;
  }
  return NULL;
}

/* Work big enough for libnn's parallel paths (OpenMP teams inside the
 * calls): a 256x256x256 matmul and a 64k-element binary op, checked. */
static void *parallel_worker(void *arg) {
  worker *w = arg;
  enum { N = 256 };
  float *av = malloc(sizeof(float) * N * N), *cv = malloc(sizeof(float) * N * N);
  for (int i = 0; i < N * N; ++i) av[i] = (float)((i % 7) - 3);
  const int64_t sh[] = {N, N};
  nn_tensor *a = NULL;
  if (nn_tensor_from_data(NN_F32, 2, sh, av, tu_cpu(), &a) != NN_OK) WFAIL(w, "parallel: %s", nn_last_error());
  while (!w->error[0] && running()) {
    nn_tensor *c = NULL, *d = NULL;
    if (nn_matmul(a, a, &c) != NN_OK || nn_binary(NN_OP_ADD, c, a, &d) != NN_OK ||
        nn_tensor_read(d, cv, sizeof(float) * N * N) != NN_OK) {
      WFAIL(w, "parallel: %s", nn_last_error());
    } else {
      for (int i = 0; i < N; i += 51)
        for (int j = 0; j < N; j += 43) {
          double want = av[i * N + j];
          for (int k = 0; k < N; ++k) want += (double)av[i * N + k] * av[k * N + j];
          if (cv[i * N + j] != want) WFAIL(w, "parallel: d[%d][%d] = %g, expected %g", i, j, cv[i * N + j], want);
        }
    }
    nn_tensor_free(c);
    nn_tensor_free(d);
    ++w->iterations;
  }
  nn_tensor_free(a);
  free(av);
  free(cv);
  return NULL;
}

static void test_stress(void **state) {
  (void)state;
  const char *s = getenv("NN_STRESS_SECONDS");
  if (s && *s) g_seconds = atof(s);
  const char *base = getenv("TMPDIR");
  snprintf(g_dir, sizeof g_dir, "%s/nn_stress_XXXXXX", base && *base ? base : "/tmp");
  assert_non_null(mkdtemp(g_dir));
  g_shared = mlp(1);
  g_x = inputs(2);
  assert_non_null(g_shared);
  assert_non_null(g_x);
  nn_tensor *y = NULL;
  TU_OK(nn_model_forward(g_shared, g_x, &y));
  assert_true(read_out(y, g_ref));
  nn_tensor_free(y);

  enum { NW = 9 };
  void *(*fn[NW])(void *) = {forward_worker, forward_worker,   forward_worker, forward_worker, fit_worker,
                              fit_worker,     save_load_worker, error_worker,   parallel_worker};
  const char *names[NW] = {"forward", "forward", "forward", "forward", "fit", "fit", "save/load", "errors",
                           "parallel"};
  worker w[NW];
  pthread_t th[NW];
  memset(w, 0, sizeof w);
  g_t0 = now_s();
  for (int i = 0; i < NW; ++i) {
    w[i].id = i;
    assert_int_equal(pthread_create(&th[i], NULL, fn[i], &w[i]), 0);
  }
  for (int i = 0; i < NW; ++i) pthread_join(th[i], NULL);
  printf("# %.0f s:", g_seconds);
  for (int i = 0; i < NW; ++i) printf(" %s %ld%s", names[i], w[i].iterations, i + 1 < NW ? "," : "\n");
  for (int i = 0; i < NW; ++i) {
    if (w[i].error[0]) fail_msg("%s", w[i].error);
    assert_true(w[i].iterations > 0);
  }
  char path[1200];
  snprintf(path, sizeof path, "%s/stress.safetensors", g_dir);
  unlink(path);
  rmdir(g_dir);
  nn_tensor_free(g_x);
  nn_model_free(g_shared);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_stress)};
  return tu_run_group(tests);
}
