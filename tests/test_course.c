/* The course's own examples, values and printed text (as PyTorch prints them).
 * Device-generic: every tensor lives on tu_device(); on a GPU the printed text
 * carries PyTorch's device='cuda:N' suffix (see printed()). */
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *str(const nn_tensor *t) {
  size_t needed = 0;
  TU_OK(nn_tensor_to_string(t, NULL, 0, &needed));
  char *buf = malloc(needed);
  TU_OK(nn_tensor_to_string(t, buf, needed, NULL));
  return buf;
}

/* The text PyTorch prints for a tensor whose CPU text is `cpu_text`, on
 * tu_device(): unchanged on the CPU; elsewhere with the suffix
 * ", device='cuda:N'" before any dtype= suffix (torch's order). The course's
 * texts are short, so the suffix never wraps to a new line (checked). */
static char *printed(const char *cpu_text) {
  size_t len = strlen(cpu_text);
  char *out = malloc(len + 64);
  assert_non_null(out);
  if (tu_on_cpu()) {
    memcpy(out, cpu_text, len + 1);
    return out;
  }
  const char *dt = strstr(cpu_text, ", dtype=");
  size_t at = dt ? (size_t)(dt - cpu_text) : len - 1; /* before ", dtype=" or the closing ')' */
  snprintf(out, len + 64, "%.*s, device='%s'%s", (int)at, cpu_text, tu_device_name(), cpu_text + at);
  const char *nl = strrchr(out, '\n');
  if (strlen(nl ? nl + 1 : out) > 80) fail_msg("printed(): the device suffix would wrap: %s", out);
  return out;
}

#define ASSERT_PRINTS(t, text)        \
  do {                                \
    char *s_ = str(t);                \
    char *e_ = printed(text);         \
    assert_string_equal(s_, e_);      \
    free(e_);                         \
    free(s_);                         \
  } while (0)

static nn_tensor *vec_i64(int64_t a, int64_t b, int64_t c) {
  int64_t v[3] = {a, b, c};
  int64_t s[1] = {3};
  return tu_make_i64(NN_I64, 1, s, v);
}

/* [1,2,3] . [1,2,3] = 14 */
static void test_dot(void **state) {
  (void)state;
  nn_tensor *x = vec_i64(1, 2, 3), *y = NULL;
  TU_OK(nn_matmul(x, x, &y));
  double e = 14;
  tu_assert_tensor(y, NN_I64, 0, NULL, &e, 0, 0);
  ASSERT_PRINTS(y, "tensor(14)");
  nn_tensor_free(y);
  /* the same in float */
  nn_tensor *xf = NULL;
  TU_OK(nn_tensor_to_dtype(x, NN_F32, &xf));
  TU_OK(nn_matmul(xf, xf, &y));
  tu_assert_tensor(y, NN_F32, 0, NULL, &e, 0, 0);
  ASSERT_PRINTS(y, "tensor(14.)");
  nn_tensor_free(y);
  nn_tensor_free(xf);
  nn_tensor_free(x);
}

/* arange(6).view(2,3) @ [1,2,3] = [8, 26] (int64); with w.view(-1,1): [[8],[26]] */
static void test_matrix_times_weights(void **state) {
  (void)state;
  nn_tensor *r = NULL, *X = NULL, *w = vec_i64(1, 2, 3), *y = NULL;
  TU_OK(nn_tensor_arange(0, 6, 1, NN_I64, tu_device(), &r));
  int64_t s23[2] = {2, 3};
  TU_OK(nn_tensor_reshape(r, 2, s23, &X));
  ASSERT_PRINTS(X, "tensor([[0, 1, 2],\n        [3, 4, 5]])");
  TU_OK(nn_matmul(X, w, &y));
  int64_t s2[1] = {2};
  double e[2] = {8, 26};
  tu_assert_tensor(y, NN_I64, 1, s2, e, 0, 0);
  ASSERT_PRINTS(y, "tensor([ 8, 26])");
  nn_tensor_free(y);
  nn_tensor *wc = NULL;
  int64_t col[2] = {-1, 1};
  TU_OK(nn_tensor_reshape(w, 2, col, &wc));
  int64_t s31[2] = {3, 1};
  tu_assert_meta(wc, NN_I64, 2, s31);
  TU_OK(nn_matmul(X, wc, &y));
  int64_t s21[2] = {2, 1};
  tu_assert_tensor(y, NN_I64, 2, s21, e, 0, 0);
  ASSERT_PRINTS(y, "tensor([[ 8],\n        [26]])");
  nn_tensor_free(y);
  nn_tensor_free(wc);
  nn_tensor_free(w);
  nn_tensor_free(X);
  nn_tensor_free(r);
}

/* [[4,5,6],[7,8,9]] + [1,2,3] = [[5,7,9],[8,10,12]] */
static void test_broadcast_add(void **state) {
  (void)state;
  int64_t m[6] = {4, 5, 6, 7, 8, 9}, s23[2] = {2, 3};
  nn_tensor *a = tu_make_i64(NN_I64, 2, s23, m), *b = vec_i64(1, 2, 3), *c = NULL;
  TU_OK(nn_binary(NN_OP_ADD, a, b, &c));
  double e[6] = {5, 7, 9, 8, 10, 12};
  tu_assert_tensor(c, NN_I64, 2, s23, e, 0, 0);
  ASSERT_PRINTS(c, "tensor([[ 5,  7,  9],\n        [ 8, 10, 12]])");
  nn_tensor_free(c);
  nn_tensor_free(a);
  nn_tensor_free(b);
}

/* [1,2,3] * [4,5,6] = [4,10,18] */
static void test_elementwise_mul(void **state) {
  (void)state;
  nn_tensor *a = vec_i64(1, 2, 3), *b = vec_i64(4, 5, 6), *c = NULL;
  TU_OK(nn_binary(NN_OP_MUL, a, b, &c));
  int64_t s3[1] = {3};
  double e[3] = {4, 10, 18};
  tu_assert_tensor(c, NN_I64, 1, s3, e, 0, 0);
  ASSERT_PRINTS(c, "tensor([ 4, 10, 18])");
  nn_tensor_free(c);
  nn_tensor_free(a);
  nn_tensor_free(b);
}

/* [1,2,3] + 1 = [2,3,4] */
static void test_add_scalar(void **state) {
  (void)state;
  nn_tensor *a = vec_i64(1, 2, 3), *c = NULL;
  TU_OK(nn_binary_scalar(NN_OP_ADD, a, 1, &c));
  int64_t s3[1] = {3};
  double e[3] = {2, 3, 4};
  tu_assert_tensor(c, NN_I64, 1, s3, e, 0, 0);
  ASSERT_PRINTS(c, "tensor([2, 3, 4])");
  nn_tensor_free(c);
  nn_tensor_free(a);
}

/* int64 -> float64 */
static void test_int64_to_float64(void **state) {
  (void)state;
  nn_tensor *a = vec_i64(1, 2, 3), *c = NULL;
  TU_OK(nn_tensor_to_dtype(a, NN_F64, &c));
  int64_t s3[1] = {3};
  double e[3] = {1, 2, 3};
  tu_assert_tensor(c, NN_F64, 1, s3, e, 0, 0);
  ASSERT_PRINTS(c, "tensor([1., 2., 3.], dtype=torch.float64)");
  double *p = nn_tensor_data(c);
  if (tu_on_cpu()) {
    assert_non_null(p);
    assert_true(p[0] == 1.0 && p[1] == 2.0 && p[2] == 3.0);
  } else {
    assert_null(p); /* nn.h: no host pointer to a CUDA tensor; the values were read above */
  }
  nn_tensor_free(c);
  nn_tensor_free(a);
}

/* arange(50).view(10, 5): a matrix of 10 training examples with 5 features */
static void test_arange50_view(void **state) {
  (void)state;
  nn_tensor *r = NULL, *X = NULL;
  TU_OK(nn_tensor_arange(0, 50, 1, NN_I64, tu_device(), &r));
  int64_t s[2] = {10, 5};
  TU_OK(nn_tensor_reshape(r, 2, s, &X));
  double e[50];
  for (int i = 0; i < 50; i++) e[i] = i;
  tu_assert_tensor(X, NN_I64, 2, s, e, 0, 0);
  ASSERT_PRINTS(X,
                "tensor([[ 0,  1,  2,  3,  4],\n"
                "        [ 5,  6,  7,  8,  9],\n"
                "        [10, 11, 12, 13, 14],\n"
                "        [15, 16, 17, 18, 19],\n"
                "        [20, 21, 22, 23, 24],\n"
                "        [25, 26, 27, 28, 29],\n"
                "        [30, 31, 32, 33, 34],\n"
                "        [35, 36, 37, 38, 39],\n"
                "        [40, 41, 42, 43, 44],\n"
                "        [45, 46, 47, 48, 49]])");
  /* a view: shares storage with the arange. On the CPU the write goes
   * through the host pointer; a CUDA tensor has none (nn.h), so there it goes
   * through nn_tensor_write of the arange. */
  int64_t *p = nn_tensor_data(r);
  int64_t host[50];
  for (int i = 0; i < 50; i++) host[i] = i;
  if (tu_on_cpu()) {
    assert_non_null(p);
    p[7] = 700;
  } else {
    assert_null(p);
    host[7] = 700;
    TU_OK(nn_tensor_write(r, host, sizeof host));
  }
  int64_t *g = tu_read_i64(X, NULL);
  assert_true(g[7] == 700);
  free(g);
  /* times a weight vector: X @ [1,1,1,1,1] = row sums */
  int64_t ones[5] = {1, 1, 1, 1, 1}, s5[1] = {5};
  nn_tensor *w = tu_make_i64(NN_I64, 1, s5, ones), *y = NULL;
  if (tu_on_cpu()) {
    p[7] = 7;
  } else {
    host[7] = 7;
    TU_OK(nn_tensor_write(r, host, sizeof host));
  }
  TU_OK(nn_matmul(X, w, &y));
  double rs[10];
  for (int i = 0; i < 10; i++) rs[i] = 25.0 * i + 10;
  int64_t s10[1] = {10};
  tu_assert_tensor(y, NN_I64, 1, s10, rs, 0, 0);
  nn_tensor_free(y);
  nn_tensor_free(w);
  nn_tensor_free(X);
  nn_tensor_free(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dot),
      cmocka_unit_test(test_matrix_times_weights),
      cmocka_unit_test(test_broadcast_add),
      cmocka_unit_test(test_elementwise_mul),
      cmocka_unit_test(test_add_scalar),
      cmocka_unit_test(test_int64_to_float64),
      cmocka_unit_test(test_arange50_view),
  };
  return tu_run_group(tests);
}
