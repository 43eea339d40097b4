/* nn_tensor_to_string: exact text against PyTorch's print() (fixtures made
 * by fixtures/make_print_fixtures.py), and the snprintf-style contract. */
#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures/print_fixtures.h"

static char *to_string(const nn_tensor *t) {
  size_t needed = 0;
  TU_OK(nn_tensor_to_string(t, NULL, 0, &needed));
  assert_true(needed >= 1);
  char *buf = malloc(needed + 8);
  memset(buf, '#', needed + 8);
  size_t needed2 = 0;
  TU_OK(nn_tensor_to_string(t, buf, needed, &needed2));
  assert_int_equal(needed2, needed);
  assert_int_equal(strlen(buf), needed - 1);
  assert_int_equal(buf[needed], '#'); /* nothing written past cap */
  return buf;
}

/* Shows the first difference between two strings. */
static void report_diff(const char *name, const char *exp, const char *got) {
  size_t i = 0;
  while (exp[i] && exp[i] == got[i]) i++;
  print_error("fixture %s differs at offset %zu\n--- expected (torch) ---\n%s\n--- got ---\n%s\n", name, i, exp, got);
}

static void test_pytorch_fixtures(void **state) {
  (void)state;
  int failures = 0;
  for (size_t f = 0; f < N_PRINT_FIXTURES; f++) {
    const print_fixture *pf = &print_fixtures[f];
    nn_tensor *t = NULL;
    if (pf->numel == 0) {
      TU_OK(nn_tensor_zeros(pf->dtype, pf->ndim, pf->shape, tu_cpu(), &t));
    } else {
      t = tu_make(pf->dtype, pf->ndim, pf->shape, pf->values);
    }
    char *s = to_string(t);
    if (strcmp(s, pf->expected) != 0) {
      report_diff(pf->name, pf->expected, s);
      failures++;
    }
    free(s);
    nn_tensor_free(t);
  }
  if (failures) print_error("%d of %d fixtures differ\n", failures, (int)N_PRINT_FIXTURES);
  assert_int_equal(failures, 0);
}

static void test_snprintf_contract(void **state) {
  (void)state;
  int64_t s[2] = {2, 3};
  double v[6] = {5, 7, 9, 8, 10, 12};
  nn_tensor *t = tu_make(NN_I64, 2, s, v);
  const char *exp = "tensor([[ 5,  7,  9],\n        [ 8, 10, 12]])";
  size_t full = strlen(exp) + 1;
  /* needed only */
  size_t needed = 0;
  TU_OK(nn_tensor_to_string(t, NULL, 0, &needed));
  assert_int_equal(needed, full);
  /* exact fit */
  char buf[128];
  memset(buf, 'x', sizeof buf);
  TU_OK(nn_tensor_to_string(t, buf, full, &needed));
  assert_string_equal(buf, exp);
  assert_int_equal(needed, full);
  /* truncated: cap-1 chars and a NUL; still NN_OK and the full length */
  for (size_t cap = 1; cap < full; cap += 7) {
    memset(buf, 'x', sizeof buf);
    needed = 0;
    TU_OK(nn_tensor_to_string(t, buf, cap, &needed));
    assert_int_equal(needed, full);
    assert_int_equal(strlen(buf), cap - 1);
    assert_memory_equal(buf, exp, cap - 1);
    assert_int_equal(buf[cap], 'x');
  }
  /* nothing asked for at all: still fine */
  TU_OK(nn_tensor_to_string(t, NULL, 0, NULL));
  /* needed may be NULL */
  memset(buf, 'x', sizeof buf);
  TU_OK(nn_tensor_to_string(t, buf, sizeof buf, NULL));
  assert_string_equal(buf, exp);
  /* cap 0 with a buffer: nothing written */
  memset(buf, 'x', sizeof buf);
  TU_OK(nn_tensor_to_string(t, buf, 0, &needed));
  assert_int_equal(needed, full);
  assert_int_equal(buf[0], 'x');
  /* errors */
  needed = 12345;
  TU_ERR(nn_tensor_to_string(NULL, buf, sizeof buf, &needed), NN_ERR_INVALID_ARGUMENT, "nn_tensor_to_string", NULL);
  assert_int_equal(needed, 12345);
  TU_ERR(nn_tensor_to_string(t, NULL, 10, &needed), NN_ERR_INVALID_ARGUMENT, "nn_tensor_to_string", NULL);
  assert_int_equal(needed, 12345);
  nn_tensor_free(t);
}

/* Views print in their logical order. */
static void test_views_print_logically(void **state) {
  (void)state;
  int64_t s[2] = {2, 3};
  double v[6] = {1, 2, 3, 4, 5, 6};
  nn_tensor *t = tu_make(NN_I64, 2, s, v), *tt = NULL, *r = NULL;
  TU_OK(nn_tensor_transpose(t, 0, 1, &tt));
  char *str = to_string(tt);
  assert_string_equal(str, "tensor([[1, 4],\n        [2, 5],\n        [3, 6]])");
  free(str);
  int64_t s6[1] = {6};
  TU_OK(nn_tensor_reshape(t, 1, s6, &r));
  str = to_string(r);
  assert_string_equal(str, "tensor([1, 2, 3, 4, 5, 6])");
  free(str);
  nn_tensor_free(r);
  nn_tensor_free(tt);
  nn_tensor_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pytorch_fixtures),
      cmocka_unit_test(test_snprintf_contract),
      cmocka_unit_test(test_views_print_logically),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
