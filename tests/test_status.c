/* Status strings, last error (thread-local), version, devices, dtype sizes. */
#include "test_util.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const nn_status all_status[] = {
    NN_OK,           NN_ERR_INVALID_ARGUMENT, NN_ERR_SHAPE,      NN_ERR_DTYPE,
    NN_ERR_DEVICE,   NN_ERR_OUT_OF_MEMORY,    NN_ERR_IO,         NN_ERR_FORMAT,
    NN_ERR_UNSUPPORTED, NN_ERR_NOT_FINITE,    NN_ERR_CANCELLED,  NN_ERR_INTERNAL};
#define N_STATUS (sizeof all_status / sizeof all_status[0])

static bool contains_ci(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  for (const char *p = hay; *p; p++) {
    size_t i = 0;
    while (i < n && p[i] && tolower((unsigned char)p[i]) == tolower((unsigned char)needle[i])) i++;
    if (i == n) return true;
  }
  return false;
}

/* Must run first: nothing has failed yet in this thread. */
static void test_last_error_initially_empty(void **state) {
  (void)state;
  const char *m = nn_last_error();
  assert_non_null(m);
  assert_string_equal(m, "");
}

static void test_status_enum_values(void **state) {
  (void)state;
  assert_int_equal(NN_OK, 0);
  assert_int_equal(NN_ERR_INVALID_ARGUMENT, 1);
  assert_int_equal(NN_ERR_SHAPE, 2);
  assert_int_equal(NN_ERR_DTYPE, 3);
  assert_int_equal(NN_ERR_DEVICE, 4);
  assert_int_equal(NN_ERR_OUT_OF_MEMORY, 5);
  assert_int_equal(NN_ERR_IO, 6);
  assert_int_equal(NN_ERR_FORMAT, 7);
  assert_int_equal(NN_ERR_UNSUPPORTED, 8);
  assert_int_equal(NN_ERR_NOT_FINITE, 9);
  assert_int_equal(NN_ERR_CANCELLED, 10);
  assert_int_equal(NN_ERR_INTERNAL, 99);
  assert_int_equal(NN_CPU, 1);
  assert_int_equal(NN_CUDA, 2);
  assert_int_equal(NN_F32, 0);
  assert_int_equal(NN_F64, 1);
  assert_int_equal(NN_F16, 2);
  assert_int_equal(NN_BF16, 3);
  assert_int_equal(NN_U8, 4);
  assert_int_equal(NN_I16, 5);
  assert_int_equal(NN_I32, 6);
  assert_int_equal(NN_I64, 7);
  assert_int_equal(NN_ALL_DIMS, -128);
  assert_int_equal(NN_OP_NEG, 0);
  assert_int_equal(NN_OP_STEP, 8);
  assert_int_equal(NN_OP_ADD, 0);
  assert_int_equal(NN_OP_MIN, 5);
  assert_int_equal(NN_REDUCE_SUM, 0);
  assert_int_equal(NN_REDUCE_ARGMAX, 4);
}

static void test_status_strings(void **state) {
  (void)state;
  for (size_t i = 0; i < N_STATUS; i++) {
    const char *s = nn_status_string(all_status[i]);
    assert_non_null(s);
    assert_true(strlen(s) > 0);
    /* distinct texts */
    for (size_t j = 0; j < i; j++) {
      if (strcmp(s, nn_status_string(all_status[j])) == 0) {
        print_error("status %d and %d share the text \"%s\"\n", (int)all_status[i], (int)all_status[j], s);
        fail();
      }
    }
    /* static: same pointer/text each call */
    assert_string_equal(s, nn_status_string(all_status[i]));
  }
  assert_true(contains_ci(nn_status_string(NN_ERR_SHAPE), "shape"));
  assert_true(contains_ci(nn_status_string(NN_ERR_DTYPE), "type"));
  assert_true(contains_ci(nn_status_string(NN_ERR_DEVICE), "device"));
  assert_true(contains_ci(nn_status_string(NN_ERR_OUT_OF_MEMORY), "memory"));
  assert_true(contains_ci(nn_status_string(NN_ERR_INVALID_ARGUMENT), "argument"));
  /* unknown values: generic text, never NULL */
  const int unknown[] = {-1, 11, 12, 98, 100, 12345};
  for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
    const char *s = nn_status_string((nn_status)unknown[i]);
    assert_non_null(s);
    assert_true(strlen(s) > 0);
  }
}

static void test_version(void **state) {
  (void)state;
  assert_int_equal(NN_VERSION_MAJOR, 0);
  assert_int_equal(NN_VERSION_MINOR, 1);
  assert_int_equal(NN_VERSION_PATCH, 0);
  assert_int_equal(nn_version(), NN_VERSION_MAJOR * 10000 + NN_VERSION_MINOR * 100 + NN_VERSION_PATCH);
  assert_int_equal(nn_version(), 100);
  const char *v = nn_version_string();
  assert_non_null(v);
  assert_string_equal(v, "0.1.0");
  char buf[64];
  snprintf(buf, sizeof buf, "%d.%d.%d", NN_VERSION_MAJOR, NN_VERSION_MINOR, NN_VERSION_PATCH);
  assert_string_equal(v, buf);
}

static void test_last_error_set_and_kept(void **state) {
  (void)state;
  nn_tensor *t = NULL;
  int64_t shape[2] = {2, -3};
  TU_ERR(nn_tensor_zeros(NN_F32, 2, shape, tu_cpu(), &t), NN_ERR_INVALID_ARGUMENT, "nn_tensor_zeros",
         "shape[1]");
  assert_null(t);
  char saved[512];
  snprintf(saved, sizeof saved, "%s", nn_last_error());
  assert_true(strlen(saved) > 0);

  /* A successful call does not clear the message (like errno). */
  int64_t ok_shape[2] = {2, 3};
  TU_OK(nn_tensor_zeros(NN_F32, 2, ok_shape, tu_cpu(), &t));
  assert_non_null(t);
  assert_string_equal(nn_last_error(), saved);
  nn_tensor_free(t);
  assert_string_equal(nn_last_error(), saved);

  /* A new failure replaces it. */
  TU_ERR(nn_tensor_zeros((nn_dtype)42, 2, ok_shape, tu_cpu(), &t), NN_ERR_INVALID_ARGUMENT,
         "nn_tensor_zeros", NULL);
  assert_string_not_equal(nn_last_error(), saved);
}

/* ---- thread-locality ------------------------------------------------------- */

typedef struct thread_result {
  char initial[256];
  char after_fail[256];
  nn_status st;
} thread_result;

static void *thread_fresh(void *arg) {
  thread_result *r = arg;
  snprintf(r->initial, sizeof r->initial, "%s", nn_last_error());
  return NULL;
}

static void *thread_fail(void *arg) {
  thread_result *r = arg;
  snprintf(r->initial, sizeof r->initial, "%s", nn_last_error());
  nn_tensor *t = NULL;
  r->st = nn_tensor_transpose(NULL, 0, 1, &t);
  snprintf(r->after_fail, sizeof r->after_fail, "%s", nn_last_error());
  return NULL;
}

static void test_last_error_thread_local(void **state) {
  (void)state;
  /* main thread fails with one message */
  int64_t shape[1] = {-7};
  nn_tensor *t = NULL;
  TU_ERR(nn_tensor_zeros(NN_F32, 1, shape, tu_cpu(), &t), NN_ERR_INVALID_ARGUMENT, "nn_tensor_zeros",
         "shape[0]");
  char main_msg[512];
  snprintf(main_msg, sizeof main_msg, "%s", nn_last_error());

  /* a fresh thread sees "" although main has failed */
  thread_result fresh;
  memset(&fresh, 0, sizeof fresh);
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, thread_fresh, &fresh), 0);
  assert_int_equal(pthread_join(th, NULL), 0);
  assert_string_equal(fresh.initial, "");

  /* a thread that fails sees its own message; main keeps its own */
  thread_result failing;
  memset(&failing, 0, sizeof failing);
  assert_int_equal(pthread_create(&th, NULL, thread_fail, &failing), 0);
  assert_int_equal(pthread_join(th, NULL), 0);
  assert_string_equal(failing.initial, "");
  assert_int_equal(failing.st, NN_ERR_INVALID_ARGUMENT);
  assert_true(strncmp(failing.after_fail, "nn_tensor_transpose", strlen("nn_tensor_transpose")) == 0);
  assert_string_equal(nn_last_error(), main_msg);

  /* and a failure in another thread never shows up here */
  thread_result fresh2;
  memset(&fresh2, 0, sizeof fresh2);
  assert_int_equal(pthread_create(&th, NULL, thread_fresh, &fresh2), 0);
  assert_int_equal(pthread_join(th, NULL), 0);
  assert_string_equal(fresh2.initial, "");
}

/* Many threads failing concurrently with different messages. */
typedef struct conc_arg {
  int id;
  int ok;
} conc_arg;

static void *thread_conc(void *p) {
  conc_arg *a = p;
  a->ok = 1;
  for (int it = 0; it < 200; it++) {
    int64_t shape[1];
    shape[0] = -(int64_t)(a->id * 1000 + it + 1);
    nn_tensor *t = NULL;
    nn_status st = nn_tensor_zeros(NN_F32, 1, shape, tu_cpu(), &t);
    char expect[64];
    snprintf(expect, sizeof expect, "%lld", (long long)shape[0]);
    if (st != NN_ERR_INVALID_ARGUMENT || t != NULL || strstr(nn_last_error(), expect) == NULL) {
      a->ok = 0;
      break;
    }
  }
  return NULL;
}

static void test_last_error_concurrent(void **state) {
  (void)state;
  enum { NT = 4 };
  pthread_t th[NT];
  conc_arg args[NT];
  for (int i = 0; i < NT; i++) {
    args[i].id = i + 1;
    args[i].ok = 0;
    assert_int_equal(pthread_create(&th[i], NULL, thread_conc, &args[i]), 0);
  }
  for (int i = 0; i < NT; i++) assert_int_equal(pthread_join(th[i], NULL), 0);
  for (int i = 0; i < NT; i++) {
    if (!args[i].ok) print_error("thread %d saw a wrong status or message (expected its own -N)\n", i);
    assert_true(args[i].ok);
  }
}

/* ---- devices and dtypes --------------------------------------------------- */

static void test_device_count(void **state) {
  (void)state;
  assert_int_equal(nn_device_count(NN_CPU), 1);
  assert_true(nn_device_count(NN_CUDA) >= 0);
  assert_int_equal(nn_device_count((nn_device_type)0), 0);
  assert_int_equal(nn_device_count((nn_device_type)3), 0);
  assert_int_equal(nn_device_count((nn_device_type)-1), 0);
}

static void test_set_num_threads(void **state) {
  (void)state;
  int64_t shape[1] = {4099};
  nn_tensor *a = NULL, *b = NULL, *c = NULL;
  TU_OK(nn_set_num_threads(1));
  TU_OK(nn_tensor_rand_uniform(NN_F32, 1, shape, -1.0, 1.0, 77, tu_cpu(), &a));
  TU_OK(nn_set_num_threads(0));
  TU_OK(nn_tensor_rand_uniform(NN_F32, 1, shape, -1.0, 1.0, 77, tu_cpu(), &b));
  TU_OK(nn_set_num_threads(2));
  TU_OK(nn_tensor_rand_uniform(NN_F32, 1, shape, -1.0, 1.0, 77, tu_cpu(), &c));
  TU_OK(nn_set_num_threads(-5));
  float *va = malloc(4099 * 4), *vb = malloc(4099 * 4), *vc = malloc(4099 * 4);
  TU_OK(nn_tensor_read(a, va, 4099 * 4));
  TU_OK(nn_tensor_read(b, vb, 4099 * 4));
  TU_OK(nn_tensor_read(c, vc, 4099 * 4));
  assert_memory_equal(va, vb, 4099 * 4);
  assert_memory_equal(va, vc, 4099 * 4);
  free(va);
  free(vb);
  free(vc);
  nn_tensor_free(a);
  nn_tensor_free(b);
  nn_tensor_free(c);
  TU_OK(nn_set_num_threads(0));
}

static void test_dtype_size(void **state) {
  (void)state;
  assert_int_equal(nn_dtype_size(NN_F32), 4);
  assert_int_equal(nn_dtype_size(NN_F64), 8);
  assert_int_equal(nn_dtype_size(NN_F16), 2);
  assert_int_equal(nn_dtype_size(NN_BF16), 2);
  assert_int_equal(nn_dtype_size(NN_U8), 1);
  assert_int_equal(nn_dtype_size(NN_I16), 2);
  assert_int_equal(nn_dtype_size(NN_I32), 4);
  assert_int_equal(nn_dtype_size(NN_I64), 8);
  assert_int_equal(nn_dtype_size((nn_dtype)8), 0);
  assert_int_equal(nn_dtype_size((nn_dtype)-1), 0);
  assert_int_equal(nn_dtype_size((nn_dtype)1000), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_last_error_initially_empty),
      cmocka_unit_test(test_status_enum_values),
      cmocka_unit_test(test_status_strings),
      cmocka_unit_test(test_version),
      cmocka_unit_test(test_last_error_set_and_kept),
      cmocka_unit_test(test_last_error_thread_local),
      cmocka_unit_test(test_last_error_concurrent),
      cmocka_unit_test(test_device_count),
      cmocka_unit_test(test_set_num_threads),
      cmocka_unit_test(test_dtype_size),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
