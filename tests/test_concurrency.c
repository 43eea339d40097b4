/* Different handles used from different threads at once (API.md: "different
 * handles may be used from different threads freely"): each thread runs
 * matmul, binary, unary, reduce and conversions on its own tensors, with
 * shapes that differ between threads and iterations so that cached
 * primitives are created concurrently, and checks every answer against the
 * float64 reference. Every tensor lives on the device under test,
 * tu_device() (on CUDA the threads share one device and its stream). */
#include "test_util.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { N_THREADS = 4, N_ITERS = 25 };

typedef struct worker {
  int id;
  int errors;
  char first_error[256];
} worker;

static void note(worker *w, const char *what, double exp, double got) {
  if (w->errors++ == 0)
    snprintf(w->first_error, sizeof w->first_error, "thread %d: %s: expected %.9g got %.9g", w->id, what, exp, got);
}

static bool close_enough(double e, double g, double rtol) { return fabs(g - e) <= rtol * fabs(e) + 1e-4; }

static void *work(void *arg) {
  worker *w = arg;
  tu_rng r = tu_rng_make(1000 + (uint64_t)w->id);
  for (int it = 0; it < N_ITERS && w->errors == 0; it++) {
    int64_t n = 3 + (w->id * 7 + it) % 29, k = 5 + (w->id * 3 + it * 5) % 41, m = 2 + (it * 11 + w->id) % 23;
    int64_t sa[2] = {n, k}, sb[2] = {k, m};
    double *va = malloc((size_t)(n * k) * sizeof(double)), *vb = malloc((size_t)(k * m) * sizeof(double));
    tu_rng_fill(&r, NN_F32, va, n * k, -2, 2);
    tu_rng_fill(&r, NN_F32, vb, k * m, -2, 2);
    nn_dtype dt = (it % 3 == 0) ? NN_F64 : NN_F32;
    nn_tensor *a = NULL, *b = NULL, *c = NULL, *d = NULL, *e = NULL, *f = NULL;
    /* tensors built without the CMocka-failing helpers: count errors instead */
    void *ra = malloc((size_t)(n * k) * 8), *rb = malloc((size_t)(k * m) * 8);
    for (int64_t i = 0; i < n * k; i++) tu_store(dt, ra, i, va[i]);
    for (int64_t i = 0; i < k * m; i++) tu_store(dt, rb, i, vb[i]);
    if (nn_tensor_from_data(dt, 2, sa, ra, tu_device(), &a) != NN_OK ||
        nn_tensor_from_data(dt, 2, sb, rb, tu_device(), &b) != NN_OK || nn_matmul(a, b, &c) != NN_OK ||
        nn_unary(NN_OP_TANH, c, &d) != NN_OK || nn_binary(NN_OP_MUL, d, d, &e) != NN_OK ||
        nn_reduce(NN_REDUCE_SUM, e, 1, false, &f) != NN_OK) {
      note(w, nn_last_error(), 0, 0);
    } else {
      double *got = malloc((size_t)n * sizeof(double));
      nn_tensor *f64 = NULL;
      if (nn_tensor_to_dtype(f, NN_F64, &f64) != NN_OK ||
          nn_tensor_read(f64, got, (size_t)n * sizeof(double)) != NN_OK) {
        note(w, nn_last_error(), 0, 0);
      } else {
        for (int64_t i = 0; i < n && w->errors == 0; i++) {
          double s = 0;
          for (int64_t j = 0; j < m; j++) {
            double acc = 0;
            for (int64_t l = 0; l < k; l++) acc += va[i * k + l] * vb[l * m + j];
            double t = tanh(acc);
            s += t * t;
          }
          if (!close_enough(s, got[i], 1e-4)) note(w, "sum(tanh(a@b)^2)", s, got[i]);
        }
      }
      nn_tensor_free(f64);
      free(got);
    }
    /* a failing call in this thread leaves this thread's own message */
    nn_tensor *bad = NULL;
    int64_t neg[1] = {-(int64_t)(w->id + 1)};
    nn_status st = nn_tensor_zeros(NN_F32, 1, neg, tu_device(), &bad);
    char want[32];
    snprintf(want, sizeof want, "%lld", (long long)neg[0]);
    if (st != NN_ERR_INVALID_ARGUMENT || strstr(nn_last_error(), want) == NULL) note(w, "own last error", 0, 0);
    nn_tensor_free(a);
    nn_tensor_free(b);
    nn_tensor_free(c);
    nn_tensor_free(d);
    nn_tensor_free(e);
    nn_tensor_free(f);
    free(ra);
    free(rb);
    free(va);
    free(vb);
  }
  return NULL;
}

static void test_ops_from_many_threads(void **state) {
  (void)state;
  pthread_t th[N_THREADS];
  worker w[N_THREADS];
  for (int i = 0; i < N_THREADS; i++) {
    memset(&w[i], 0, sizeof w[i]);
    w[i].id = i;
    assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
  }
  for (int i = 0; i < N_THREADS; i++) assert_int_equal(pthread_join(th[i], NULL), 0);
  int total = 0;
  for (int i = 0; i < N_THREADS; i++) {
    if (w[i].errors) print_error("%s: %s\n", tu_device_name(), w[i].first_error);
    total += w[i].errors;
  }
  assert_int_equal(total, 0);
}

/* Reading one tensor from many threads at once (a const use of a handle). */
typedef struct reader {
  const nn_tensor *t;
  int ok;
} reader;

static void *read_many(void *arg) {
  reader *r = arg;
  r->ok = 1;
  float buf[64];
  for (int i = 0; i < 200; i++) {
    nn_tensor *c = NULL;
    if (nn_tensor_read(r->t, buf, sizeof buf) != NN_OK || buf[63] != 63.0f) r->ok = 0;
    if (nn_unary(NN_OP_NEG, r->t, &c) != NN_OK) r->ok = 0;
    nn_tensor_free(c);
  }
  return NULL;
}

static void test_shared_read_only_handle(void **state) {
  (void)state;
  nn_tensor *t = NULL;
  TU_OK(nn_tensor_arange(0, 64, 1, NN_F32, tu_device(), &t));
  pthread_t th[N_THREADS];
  reader rd[N_THREADS];
  for (int i = 0; i < N_THREADS; i++) {
    rd[i].t = t;
    rd[i].ok = 0;
    assert_int_equal(pthread_create(&th[i], NULL, read_many, &rd[i]), 0);
  }
  for (int i = 0; i < N_THREADS; i++) assert_int_equal(pthread_join(th[i], NULL), 0);
  for (int i = 0; i < N_THREADS; i++) assert_true(rd[i].ok);
  nn_tensor_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ops_from_many_threads),
      cmocka_unit_test(test_shared_read_only_handle),
  };
  return tu_run_group(tests);
}
