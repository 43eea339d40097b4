/* No heap allocation in the steady state (issue 5, nn.h "a step allocates
 * nothing"): a malloc interposer in this executable counts every
 * malloc/calloc/realloc/posix_memalign/aligned_alloc/memalign made by any
 * thread (libnn, libstdc++, oneDNN, libgomp) while counting is on, and
 * forwards to glibc's __libc_* functions.
 *
 * - A training step after warm-up (nn_model_backward + nn_optimizer_step +
 *   nn_optimizer_zero_grad) allocates nothing, F32 and F64, SGD with momentum
 *   and Adam, 1 and 2 threads, a tiny net at batch 1 and a larger one at a
 *   batch big enough to run in parallel.
 * - nn_model_forward allocates only its output tensor (a small constant).
 * - nn_model_predict allocates nothing after a thread's first call for a size.
 *
 * Not built in sanitizer trees (the sanitizers own malloc there). Set
 * NN_ALLOC_TRACE=1 to print a backtrace of each counted allocation. */
#define _GNU_SOURCE 1
#include <execinfo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"

/* ---- the interposer ------------------------------------------------------ */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static volatile int g_counting = 0;
static int g_trace = 0;
static long g_count = 0;
static __thread int t_in_trace = 0;

static void counted(size_t bytes) {
  if (!g_counting) return;
  __atomic_fetch_add(&g_count, 1, __ATOMIC_RELAXED);
  if (g_trace && !t_in_trace) {
    void *frames[32];
    t_in_trace = 1;
    int n = backtrace(frames, 32);
    char head[64];
    int len = snprintf(head, sizeof head, "--- allocation of %zu bytes:\n", bytes);
    if (write(2, head, (size_t)len) < 0) {
    }
    backtrace_symbols_fd(frames, n, 2);
    t_in_trace = 0;
  }
}

void *malloc(size_t n) {
  counted(n);
  return __libc_malloc(n);
}
void *calloc(size_t a, size_t b) {
  counted(a * b);
  return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n) {
  counted(n);
  return __libc_realloc(p, n);
}
void free(void *p) { __libc_free(p); }
void *memalign(size_t al, size_t n) {
  counted(n);
  return __libc_memalign(al, n);
}
void *aligned_alloc(size_t al, size_t n) {
  counted(n);
  return __libc_memalign(al, n);
}
int posix_memalign(void **out, size_t al, size_t n) {
  counted(n);
  void *p = __libc_memalign(al, n);
  if (!p) return 12; /* ENOMEM */
  *out = p;
  return 0;
}

static void count_start(void) {
  __atomic_store_n(&g_count, 0, __ATOMIC_SEQ_CST);
  g_counting = 1;
}
static long count_stop(void) {
  g_counting = 0;
  return __atomic_load_n(&g_count, __ATOMIC_SEQ_CST);
}

/* ---- helpers ------------------------------------------------------------- */
#define OK(call) assert_int_equal((call), NN_OK)

static nn_tensor *rand_tensor(nn_dtype dt, int64_t rows, int64_t cols, uint64_t seed) {
  int64_t shape[2] = {rows, cols};
  nn_tensor *t = NULL;
  OK(nn_tensor_rand_uniform(dt, 2, shape, -1.0, 1.0, seed, tu_cpu(), &t));
  return t;
}

typedef struct {
  int n_sizes;
  int64_t sizes[4];
  nn_activation hidden;
  int64_t batch;
} net_case;

static const net_case k_nets[] = {
    {4, {10, 40, 40, 5}, NN_ACT_TANH, 1},        /* tiny, online */
    {4, {10, 40, 40, 5}, NN_ACT_SIGMOID, 7},     /* tiny minibatch */
    {4, {200, 256, 256, 10}, NN_ACT_RELU, 128},  /* parallel with 2 threads */
};

static void check_case(nn_dtype dt, int threads, int adam) {
  OK(nn_set_num_threads(threads));
  for (size_t c = 0; c < sizeof k_nets / sizeof k_nets[0]; ++c) {
    const net_case *nc = &k_nets[c];
    nn_model *m = NULL;
    OK(nn_model_mlp(nc->n_sizes, nc->sizes, nc->hidden, NN_ACT_IDENTITY, &m));
    OK(nn_model_to_dtype(m, dt));
    nn_optimizer *opt = NULL;
    if (adam)
      OK(nn_optimizer_adam(m, 1e-3, 0.9, 0.999, 1e-8, 0.01, true, &opt));
    else
      OK(nn_optimizer_sgd(m, 1e-3, 0.9, 1e-4, false, &opt));
    nn_tensor *x = rand_tensor(dt, nc->batch, nc->sizes[0], 1);
    nn_tensor *y = rand_tensor(dt, nc->batch, nc->sizes[nc->n_sizes - 1], 2);
    double loss = 0;
    for (int warm = 0; warm < 3; ++warm) {
      OK(nn_optimizer_zero_grad(opt));
      OK(nn_model_backward(m, x, y, NN_LOSS_MSE, &loss));
      OK(nn_optimizer_step(opt));
    }
    count_start();
    for (int s = 0; s < 4; ++s) {
      nn_optimizer_zero_grad(opt);
      nn_model_backward(m, x, y, NN_LOSS_MSE, &loss);
      nn_optimizer_step(opt);
    }
    long n_step = count_stop();
    if (n_step != 0)
      print_error("training step, %s, %d thread(s), %s, net %zu: %ld allocations in 4 steps\n", tu_dtype_name(dt),
                  threads, adam ? "adam" : "sgd", c, n_step);
    assert_int_equal(n_step, 0);

    /* Inference: warm up, then one call allocates its output only. */
    nn_tensor *out = NULL;
    for (int warm = 0; warm < 3; ++warm) {
      OK(nn_model_forward(m, x, &out));
      nn_tensor_free(out);
    }
    count_start();
    nn_status st = nn_model_forward(m, x, &out);
    long n_fwd = count_stop();
    OK(st);
    nn_tensor_free(out);
    if (n_fwd > 3)
      print_error("forward, %s, %d thread(s), net %zu: %ld allocations (the output tensor needs 3)\n",
                  tu_dtype_name(dt), threads, c, n_fwd);
    assert_true(n_fwd <= 3);

    /* nn_model_predict on host rows: nothing at all after the first call. */
    {
      const int64_t in = nc->sizes[0], outf = nc->sizes[nc->n_sizes - 1];
      float *px = malloc(sizeof(float) * (size_t)(nc->batch * in));
      float *py = malloc(sizeof(float) * (size_t)(nc->batch * outf));
      assert_non_null(px);
      assert_non_null(py);
      for (int64_t i = 0; i < nc->batch * in; ++i) px[i] = (float)((i % 17) - 8) / 8.0f;
      OK(nn_model_predict(m, nc->batch, px, py));
      count_start();
      for (int r = 0; r < 8; ++r) nn_model_predict(m, nc->batch, px, py);
      long n_pred = count_stop();
      if (n_pred != 0)
        print_error("predict, %s, %d thread(s), net %zu: %ld allocations in 8 calls\n", tu_dtype_name(dt), threads,
                    c, n_pred);
      assert_int_equal(n_pred, 0);
      free(px);
      free(py);
    }

    nn_tensor_free(x);
    nn_tensor_free(y);
    nn_optimizer_free(opt);
    nn_model_free(m);
  }
}

static void test_f32_1_thread(void **state) {
  (void)state;
  check_case(NN_F32, 1, 0);
  check_case(NN_F32, 1, 1);
}
static void test_f32_2_threads(void **state) {
  (void)state;
  check_case(NN_F32, 2, 0);
  check_case(NN_F32, 2, 1);
}
static void test_f64_1_thread(void **state) {
  (void)state;
  check_case(NN_F64, 1, 0);
  check_case(NN_F64, 1, 1);
}
static void test_f64_2_threads(void **state) {
  (void)state;
  check_case(NN_F64, 2, 0);
  check_case(NN_F64, 2, 1);
}

/* The interposer itself counts (a guard against a build where it is not used). */
static void test_interposer_counts(void **state) {
  (void)state;
  count_start();
  nn_tensor *t = rand_tensor(NN_F32, 4, 4, 3);
  long n = count_stop();
  nn_tensor_free(t);
  assert_true(n >= 1);
}

int main(void) {
  const char *trace = getenv("NN_ALLOC_TRACE");
  g_trace = trace && trace[0] && strcmp(trace, "0") != 0;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_interposer_counts), cmocka_unit_test(test_f32_1_thread),
      cmocka_unit_test(test_f32_2_threads),     cmocka_unit_test(test_f64_1_thread),
      cmocka_unit_test(test_f64_2_threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
