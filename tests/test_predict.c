/* nn_model_predict and the introspection calls (issue 10):
 * - predict equals nn_model_forward bit for bit, F32 and F64 models, row
 *   counts 1, 3, 64 and 1000, nets of every activation;
 * - 8 threads predicting on one model at once get the single-thread bits;
 * - nn_model_in_features / out_features and nn_layer_activation_of on every
 *   layer kind, on a model without Linear layers and on NULL;
 * - every error path with its status and message.
 * (Zero allocations per call after warm-up: tests/test_alloc.c.) */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#define OK(call) assert_int_equal((call), NN_OK)

static float *make_rows(int64_t rows, int64_t in, uint64_t seed) {
  float *x = malloc(sizeof(float) * (size_t)(rows * in));
  assert_non_null(x);
  tu_rng r = tu_rng_make(seed);
  for (int64_t i = 0; i < rows * in; ++i) x[i] = (float)tu_rng_uniform(&r, -2.0, 2.0);
  return x;
}

/* y of nn_model_forward on x as floats (converted from an F64 model's output). */
static float *forward_rows(nn_model *m, const float *x, int64_t rows, int64_t in, int64_t out) {
  int64_t shape[2] = {rows, in};
  nn_tensor *tx = NULL, *ty = NULL, *tf = NULL;
  OK(nn_tensor_from_data(NN_F32, 2, shape, x, tu_cpu(), &tx));
  nn_tensor *txd = NULL;
  OK(nn_tensor_to_device(tx, nn_model_device(m), &txd));
  OK(nn_model_forward(m, txd, &ty));
  OK(nn_tensor_to_dtype(ty, NN_F32, &tf));
  float *y = malloc(sizeof(float) * (size_t)(rows * out));
  assert_non_null(y);
  OK(nn_tensor_read(tf, y, sizeof(float) * (size_t)(rows * out)));
  nn_tensor_free(tx);
  nn_tensor_free(txd);
  nn_tensor_free(ty);
  nn_tensor_free(tf);
  return y;
}

static nn_model *make_net(nn_activation hidden, nn_activation output, nn_dtype dt) {
  const int64_t sizes[] = {10, 40, 33, 5};
  nn_model *m = NULL;
  OK(nn_model_mlp(4, sizes, hidden, output, &m));
  OK(nn_model_init(m, NN_INIT_XAVIER_UNIFORM, 7));
  OK(nn_model_to_dtype(m, dt));
  OK(nn_model_to(m, tu_device()));
  return m;
}

static void check_equal_to_forward(nn_dtype dt) {
  const nn_activation acts[] = {NN_ACT_IDENTITY, NN_ACT_RELU,  NN_ACT_SIGMOID,   NN_ACT_TANH,
                                NN_ACT_STEP,     NN_ACT_SOFTMAX, NN_ACT_LEAKY_RELU};
  const int64_t row_counts[] = {1, 3, 64, 1000};
  for (size_t a = 0; a < sizeof acts / sizeof acts[0]; ++a) {
    nn_model *m = make_net(acts[a], a % 2 ? NN_ACT_SOFTMAX : NN_ACT_IDENTITY, dt);
    assert_int_equal(nn_model_in_features(m), 10);
    assert_int_equal(nn_model_out_features(m), 5);
    for (size_t r = 0; r < sizeof row_counts / sizeof row_counts[0]; ++r) {
      const int64_t rows = row_counts[r];
      float *x = make_rows(rows, 10, 100 + r);
      float *want = forward_rows(m, x, rows, 10, 5);
      float *got = malloc(sizeof(float) * (size_t)(rows * 5));
      assert_non_null(got);
      memset(got, 0xff, sizeof(float) * (size_t)(rows * 5));
      OK(nn_model_predict(m, rows, x, got));
      if (memcmp(got, want, sizeof(float) * (size_t)(rows * 5)) != 0) {
        for (int64_t i = 0; i < rows * 5; ++i)
          if (memcmp(&got[i], &want[i], sizeof(float)) != 0) {
            print_error("%s act %zu rows %lld: y[%lld] = %.9g, forward gives %.9g\n", tu_dtype_name(dt), a,
                        (long long)rows, (long long)i, got[i], want[i]);
            break;
          }
        fail();
      }
      free(x);
      free(want);
      free(got);
    }
    nn_model_free(m);
  }
}

static void test_predict_equals_forward_f32(void **state) {
  (void)state;
  check_equal_to_forward(NN_F32);
}

static void test_predict_equals_forward_f64(void **state) {
  (void)state;
  check_equal_to_forward(NN_F64);
}

typedef struct {
  nn_model *m;
  const float *x;
  int64_t rows;
  const float *want;
  int ok;
} thread_job;

static void *predict_thread(void *arg) {
  thread_job *j = arg;
  float *y = malloc(sizeof(float) * (size_t)(j->rows * 5));
  j->ok = y != NULL;
  for (int rep = 0; rep < 50 && j->ok; ++rep) {
    if (nn_model_predict(j->m, j->rows, j->x, y) != NN_OK) j->ok = 0;
    else if (memcmp(y, j->want, sizeof(float) * (size_t)(j->rows * 5)) != 0) j->ok = 0;
  }
  free(y);
  return NULL;
}

static void check_threads(nn_dtype dt) {
  nn_model *m = make_net(NN_ACT_TANH, NN_ACT_SOFTMAX, dt);
  enum { kThreads = 8 };
  pthread_t th[kThreads];
  thread_job jobs[kThreads];
  float *xs[kThreads], *wants[kThreads];
  for (int t = 0; t < kThreads; ++t) {
    const int64_t rows = 1 + 37 * t;  /* each thread its own size */
    xs[t] = make_rows(rows, 10, 500 + (uint64_t)t);
    wants[t] = malloc(sizeof(float) * (size_t)(rows * 5));
    assert_non_null(wants[t]);
    OK(nn_model_predict(m, rows, xs[t], wants[t]));
    jobs[t] = (thread_job){m, xs[t], rows, wants[t], 0};
  }
  for (int t = 0; t < kThreads; ++t) assert_int_equal(pthread_create(&th[t], NULL, predict_thread, &jobs[t]), 0);
  for (int t = 0; t < kThreads; ++t) {
    pthread_join(th[t], NULL);
    assert_true(jobs[t].ok);
    free(xs[t]);
    free(wants[t]);
  }
  nn_model_free(m);
}

static void test_predict_threads_f32(void **state) {
  (void)state;
  check_threads(NN_F32);
}

static void test_predict_threads_f64(void **state) {
  (void)state;
  check_threads(NN_F64);
}

/* Hand-computed: y = W x + b with W = [[1, 2], [3, -4], [0.5, 0]], b = [0.25, 0, -1], then ReLU. */
static void test_predict_values(void **state) {
  (void)state;
  nn_model *m = NULL;
  nn_layer *lin = NULL, *relu = NULL;
  OK(nn_model_create(&m));
  OK(nn_layer_linear(2, 3, true, &lin));
  OK(nn_layer_activation(NN_ACT_RELU, &relu));
  OK(nn_model_add(m, lin));
  OK(nn_model_add(m, relu));
  nn_layer *l0 = NULL;
  OK(nn_model_layer(m, 0, &l0));
  nn_tensor *w = NULL, *b = NULL;
  OK(nn_layer_param(l0, NN_PARAM_WEIGHT, &w));
  OK(nn_layer_param(l0, NN_PARAM_BIAS, &b));
  const float wv[] = {1, 2, 3, -4, 0.5f, 0}, bv[] = {0.25f, 0, -1};
  OK(nn_tensor_write(w, wv, sizeof wv));
  OK(nn_tensor_write(b, bv, sizeof bv));
  OK(nn_model_to(m, tu_device()));
  const float x[] = {1, 1, -2, 0.5f};
  float y[6];
  OK(nn_model_predict(m, 2, x, y));
  const double want[] = {3.25, 0, 0, 0, 0, 0}; /* row 0: 3.25, -1, -0.5; row 1: -0.75, -8, -2 */
  const double got[] = {y[0], y[1], y[2], y[3], y[4], y[5]};
  tu_assert_close(got, want, 6, 0, 0, "predict on a hand-computed net");
  /* rows == 0 reads and writes nothing (NULL pointers allowed). */
  OK(nn_model_predict(m, 0, NULL, NULL));
  nn_tensor_free(w);
  nn_tensor_free(b);
  nn_model_free(m);
}

/* One row through units of every kind of chaining: Linear(100,16)+tanh
 * (too wide to chain), Linear(16,32)+ReLU and Linear(32,64) (a chain of two
 * in registers), Linear(64,10)+sigmoid (not chained): the chain's output
 * must not land in the scratch buffer its input is in (it did, and when the
 * buffer grew the input was read after it was freed). Each prediction runs on
 * a new thread, whose scratch buffers start empty, against float64. */
typedef struct {
  const nn_model *m;
  const float *x;
  float y[10];
  nn_status st;
} one_row_job;

static void *one_row(void *arg) {
  one_row_job *j = arg;
  j->st = nn_model_predict(j->m, 1, j->x, j->y);
  return NULL;
}

static void test_predict_mixed_chain_values(void **state) {
  (void)state;
  const int64_t ins[] = {100, 16, 32, 64}, outs[] = {16, 32, 64, 10};
  const nn_activation acts[] = {NN_ACT_TANH, NN_ACT_RELU, NN_ACT_IDENTITY, NN_ACT_SIGMOID};
  nn_model *m = NULL;
  OK(nn_model_create(&m));
  for (int l = 0; l < 4; ++l) {
    nn_layer *lin = NULL, *act = NULL;
    OK(nn_layer_linear(ins[l], outs[l], true, &lin));
    OK(nn_model_add(m, lin));
    if (acts[l] != NN_ACT_IDENTITY) {
      OK(nn_layer_activation(acts[l], &act));
      OK(nn_model_add(m, act));
    }
  }
  OK(nn_model_init(m, NN_INIT_XAVIER_UNIFORM, 11));
  double *w[4], *b[4];
  for (int l = 0, li = 0; l < nn_model_num_layers(m); ++l) {
    nn_layer *layer = NULL;
    OK(nn_model_layer(m, l, &layer));
    if (nn_layer_kind_of(layer) != NN_LAYER_LINEAR) continue;
    nn_tensor *tw = NULL, *tb = NULL;
    int64_t n = 0;
    OK(nn_layer_param(layer, NN_PARAM_WEIGHT, &tw));
    OK(nn_layer_param(layer, NN_PARAM_BIAS, &tb));
    w[li] = tu_read(tw, &n);
    b[li] = tu_read(tb, &n);
    nn_tensor_free(tw);
    nn_tensor_free(tb);
    ++li;
  }
  OK(nn_model_to(m, tu_device()));
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    float *x = make_rows(1, 100, seed);
    double a[100], z[100];
    for (int i = 0; i < 100; ++i) a[i] = x[i];
    for (int l = 0; l < 4; ++l) {
      for (int64_t o = 0; o < outs[l]; ++o) {
        double s = b[l][o];
        for (int64_t i = 0; i < ins[l]; ++i) s += w[l][o * ins[l] + i] * a[i];
        z[o] = acts[l] == NN_ACT_TANH ? tanh(s) : acts[l] == NN_ACT_RELU ? (s > 0 ? s : 0)
             : acts[l] == NN_ACT_SIGMOID ? 1 / (1 + exp(-s)) : s;
      }
      memcpy(a, z, sizeof(double) * (size_t)outs[l]);
    }
    one_row_job job = {m, x, {0}, NN_ERR_INTERNAL};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, one_row, &job), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    OK(job.st);
    double got[10];
    for (int o = 0; o < 10; ++o) got[o] = job.y[o];
    tu_assert_close(got, a, 10, 1e-5, 1e-6, "one row through a chain between unchained units");
    free(x);
  }
  for (int l = 0; l < 4; ++l) {
    free(w[l]);
    free(b[l]);
  }
  nn_model_free(m);
}

static void test_predict_errors(void **state) {
  (void)state;
  float x[10] = {0}, y[5];
  assert_int_equal(nn_model_predict(NULL, 1, x, y), NN_ERR_INVALID_ARGUMENT);
  assert_string_equal(nn_last_error(), "nn_model_predict: m is NULL");
  nn_model *m = make_net(NN_ACT_RELU, NN_ACT_IDENTITY, NN_F32);
  assert_int_equal(nn_model_predict(m, 1, NULL, y), NN_ERR_INVALID_ARGUMENT);
  assert_string_equal(nn_last_error(), "nn_model_predict: x is NULL");
  assert_int_equal(nn_model_predict(m, 1, x, NULL), NN_ERR_INVALID_ARGUMENT);
  assert_string_equal(nn_last_error(), "nn_model_predict: y is NULL");
  assert_int_equal(nn_model_predict(m, -1, x, y), NN_ERR_INVALID_ARGUMENT);
  assert_string_equal(nn_last_error(), "nn_model_predict: rows is -1; it must be >= 0");
  assert_int_equal(nn_model_predict(m, INT64_MAX / 4, x, y), NN_ERR_INVALID_ARGUMENT);
  assert_non_null(strstr(nn_last_error(), "is too large"));
  nn_model_free(m);
  /* A model without a Linear layer has no input width. */
  nn_model *acts = NULL;
  nn_layer *relu = NULL;
  OK(nn_model_create(&acts));
  assert_int_equal(nn_model_predict(acts, 1, x, y), NN_ERR_INVALID_ARGUMENT);
  assert_string_equal(nn_last_error(),
                      "nn_model_predict: the model has no Linear layer, so its input width is unknown");
  OK(nn_layer_activation(NN_ACT_TANH, &relu));
  OK(nn_model_add(acts, relu));
  assert_int_equal(nn_model_predict(acts, 1, x, y), NN_ERR_INVALID_ARGUMENT);
  nn_model_free(acts);
}

static void test_introspection(void **state) {
  (void)state;
  assert_int_equal(nn_model_in_features(NULL), -1);
  assert_int_equal(nn_model_out_features(NULL), -1);
  assert_int_equal((int)nn_layer_activation_of(NULL), -1);
  nn_model *m = NULL;
  OK(nn_model_create(&m));
  assert_int_equal(nn_model_in_features(m), -1);
  assert_int_equal(nn_model_out_features(m), -1);
  nn_layer *a0 = NULL;
  OK(nn_layer_activation(NN_ACT_SIGMOID, &a0));
  OK(nn_model_add(m, a0));
  assert_int_equal(nn_model_in_features(m), -1);
  const nn_activation acts[] = {NN_ACT_IDENTITY, NN_ACT_RELU,    NN_ACT_SIGMOID,   NN_ACT_TANH,
                                NN_ACT_STEP,     NN_ACT_SOFTMAX, NN_ACT_LEAKY_RELU};
  for (size_t i = 0; i < sizeof acts / sizeof acts[0]; ++i) {
    nn_layer *l = NULL;
    OK(nn_layer_activation(acts[i], &l));
    assert_int_equal((int)nn_layer_activation_of(l), (int)acts[i]);
    nn_layer_free(l);
  }
  nn_layer *l1 = NULL, *l2 = NULL, *a1 = NULL;
  OK(nn_layer_linear(6, 4, true, &l1));
  assert_int_equal((int)nn_layer_activation_of(l1), -1);
  OK(nn_model_add(m, l1));
  OK(nn_layer_activation(NN_ACT_RELU, &a1));
  OK(nn_model_add(m, a1));
  OK(nn_layer_linear(4, 9, false, &l2));
  OK(nn_model_add(m, l2));
  assert_int_equal(nn_model_in_features(m), 6);
  assert_int_equal(nn_model_out_features(m), 9);
  nn_layer *borrowed = NULL;
  OK(nn_model_layer(m, 0, &borrowed));
  assert_int_equal((int)nn_layer_activation_of(borrowed), (int)NN_ACT_SIGMOID);
  OK(nn_model_layer(m, 2, &borrowed));
  assert_int_equal((int)nn_layer_activation_of(borrowed), (int)NN_ACT_RELU);
  OK(nn_model_layer(m, 3, &borrowed));
  assert_int_equal((int)nn_layer_activation_of(borrowed), -1);
  /* An activation after the last Linear keeps the width. */
  nn_layer *a2 = NULL;
  OK(nn_layer_activation(NN_ACT_SOFTMAX, &a2));
  OK(nn_model_add(m, a2));
  assert_int_equal(nn_model_out_features(m), 9);
  nn_model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_predict_values),         cmocka_unit_test(test_predict_equals_forward_f32),
      cmocka_unit_test(test_predict_equals_forward_f64), cmocka_unit_test(test_predict_threads_f32),
      cmocka_unit_test(test_predict_threads_f64),    cmocka_unit_test(test_predict_errors),
      cmocka_unit_test(test_introspection),          cmocka_unit_test(test_predict_mixed_chain_values),
  };
  return tu_run_group(tests);
}
