/* nn_tensor_to_string: exact text against PyTorch's print() (fixtures made
 * by fixtures/make_print_fixtures.py), and the snprintf-style contract.
 *
 * Tensors live on the device under test, tu_device(). The fixtures are
 * PyTorch's text for CPU tensors; a GPU tensor prints the same text with
 * device='cuda:0' as its first suffix (nn.h), placed by PyTorch's rule
 * (torch/_tensor_str.py, _add_suffixes): expected_text() below derives it. */
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

/* ---- PyTorch's suffixes ------------------------------------------------------ */

static const char *torch_dtype(nn_dtype dt) {
  switch (dt) {
    case NN_F32: return "float32";
    case NN_F64: return "float64";
    case NN_F16: return "float16";
    case NN_BF16: return "bfloat16";
    case NN_U8: return "uint8";
    case NN_I16: return "int16";
    case NN_I32: return "int32";
    default: return "int64";
  }
}

enum { MAX_SUFFIXES = 3, SUFFIX_LEN = 96, TORCH_LINEWIDTH = 80, TORCH_INDENT = 7 /* strlen("tensor(") */ };

/* The suffixes torch's _str_intern gives a tensor of this dtype and shape
 * on the CPU: size=(...) for an empty tensor of rank != 1; dtype=torch.X
 * unless float32 (and unless int64 when not empty). Returns their count. */
static int cpu_suffixes(nn_dtype dt, int ndim, const int64_t *shape, char out[MAX_SUFFIXES][SUFFIX_LEN]) {
  int n = 0;
  if (tu_numel(ndim, shape) == 0) {
    if (ndim != 1) {
      int len = snprintf(out[n], SUFFIX_LEN, "size=(");
      for (int k = 0; k < ndim; k++)
        len += snprintf(out[n] + len, (size_t)(SUFFIX_LEN - len), "%s%lld", k ? ", " : "", (long long)shape[k]);
      snprintf(out[n] + len, (size_t)(SUFFIX_LEN - len), ")");
      n++;
    }
    if (dt != NN_F32) snprintf(out[n++], SUFFIX_LEN, "dtype=torch.%s", torch_dtype(dt));
  } else if (dt != NN_F32 && dt != NN_I64) {
    snprintf(out[n++], SUFFIX_LEN, "dtype=torch.%s", torch_dtype(dt));
  }
  return n;
}

/* torch's _add_suffixes: appends each suffix after ", ", or after ",\n" and
 * the indent when the last line would pass 80 columns, then ")". */
static char *add_suffixes(const char *tensor_str, size_t len, char suffixes[][SUFFIX_LEN], int n) {
  size_t cap = len + (size_t)n * (SUFFIX_LEN + TORCH_INDENT + 2) + 2;
  char *out = malloc(cap);
  memcpy(out, tensor_str, len);
  size_t o = len;
  const char *nl = NULL;
  for (size_t i = 0; i < len; i++)
    if (tensor_str[i] == '\n') nl = tensor_str + i;
  /* len(tensor_str) - tensor_str.rfind("\n") + 1, rfind giving -1 when absent */
  long last_line_len = (long)len - (nl ? (long)(nl - tensor_str) : -1) + 1;
  for (int k = 0; k < n; k++) {
    long sl = (long)strlen(suffixes[k]);
    if (last_line_len + sl + 2 > TORCH_LINEWIDTH) {
      o += (size_t)sprintf(out + o, ",\n%*s%s", TORCH_INDENT, "", suffixes[k]);
      last_line_len = TORCH_INDENT + sl;
    } else {
      o += (size_t)sprintf(out + o, ", %s", suffixes[k]);
      last_line_len += sl + 2;
    }
  }
  out[o++] = ')';
  out[o] = '\0';
  return out;
}

/* PyTorch's text for the tensor of the CPU text `cpu` (dtype, shape) on
 * device `dev` ("cuda:0"), or NULL for the CPU: the CPU suffixes are taken
 * off the end of `cpu` and put back after device='...'. With dev NULL the
 * result is `cpu` rebuilt (test_suffix_rule checks it is `cpu` itself).
 * Caller frees. */
static char *text_on(const char *cpu, nn_dtype dt, int ndim, const int64_t *shape, const char *dev) {
  char sfx[MAX_SUFFIXES + 1][SUFFIX_LEN];
  int n = cpu_suffixes(dt, ndim, shape, sfx + 1);
  size_t len = strlen(cpu);
  if (len < 2 || cpu[len - 1] != ')') {
    print_error("not a tensor's text: %s\n", cpu);
    fail();
  }
  len--; /* the closing ')' */
  for (int k = n; k >= 1; k--) {
    size_t sl = strlen(sfx[k]);
    bool same_line = len >= sl + 2 && memcmp(cpu + len - sl - 2, ", ", 2) == 0;
    bool new_line = len >= sl + 2 + TORCH_INDENT && memcmp(cpu + len - sl - 2 - TORCH_INDENT, ",\n       ", 9) == 0;
    if (len < sl || memcmp(cpu + len - sl, sfx[k], sl) != 0 || !(same_line || new_line)) {
      print_error("text does not end with suffix %s: %s\n", sfx[k], cpu);
      fail();
    }
    len -= sl + 2 + (new_line ? TORCH_INDENT : 0);
  }
  if (dev == NULL) return add_suffixes(cpu, len, sfx + 1, n);
  snprintf(sfx[0], SUFFIX_LEN, "device='%s'", dev);
  return add_suffixes(cpu, len, sfx, n + 1);
}

/* The text expected on tu_device() for a tensor whose CPU text is `cpu`. */
static char *expected_text(const char *cpu, nn_dtype dt, int ndim, const int64_t *shape) {
  if (tu_on_cpu()) {
    char *s = malloc(strlen(cpu) + 1);
    strcpy(s, cpu);
    return s;
  }
  return text_on(cpu, dt, ndim, shape, tu_device_name());
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
      TU_OK(nn_tensor_zeros(pf->dtype, pf->ndim, pf->shape, tu_device(), &t));
    } else {
      t = tu_make(pf->dtype, pf->ndim, pf->shape, pf->values);
    }
    char *s = to_string(t);
    char *exp = expected_text(pf->expected, pf->dtype, pf->ndim, pf->shape);
    if (strcmp(s, exp) != 0) {
      report_diff(pf->name, exp, s);
      failures++;
    }
    free(exp);
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
  char *exp = expected_text("tensor([[ 5,  7,  9],\n        [ 8, 10, 12]])", NN_I64, 2, s);
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
  free(exp);
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
  int64_t s32[2] = {3, 2};
  char *exp = expected_text("tensor([[1, 4],\n        [2, 5],\n        [3, 6]])", NN_I64, 2, s32);
  assert_string_equal(str, exp);
  free(exp);
  free(str);
  int64_t s6[1] = {6};
  TU_OK(nn_tensor_reshape(t, 1, s6, &r));
  str = to_string(r);
  exp = expected_text("tensor([1, 2, 3, 4, 5, 6])", NN_I64, 1, s6);
  assert_string_equal(str, exp);
  free(exp);
  free(str);
  nn_tensor_free(r);
  nn_tensor_free(tt);
  nn_tensor_free(t);
}

/* The suffix rule expected_text() uses on a GPU, checked on every device
 * (it is plain string work): taking the CPU suffixes off each fixture and
 * putting them back gives the fixture again, and known PyTorch GPU texts. */
static void test_suffix_rule(void **state) {
  (void)state;
  for (size_t f = 0; f < N_PRINT_FIXTURES; f++) {
    const print_fixture *pf = &print_fixtures[f];
    char *s = text_on(pf->expected, pf->dtype, pf->ndim, pf->shape, NULL);
    if (strcmp(s, pf->expected) != 0) report_diff(pf->name, pf->expected, s);
    assert_string_equal(s, pf->expected);
    free(s);
  }
  struct {
    const char *cpu;
    nn_dtype dt;
    int ndim;
    int64_t shape[2];
    const char *gpu;
  } cases[] = {
      /* print(torch.tensor([1, 2, 3], device='cuda')) and friends, PyTorch 2.x */
      {"tensor([1, 2, 3])", NN_I64, 1, {3}, "tensor([1, 2, 3], device='cuda:0')"},
      {"tensor([1, 2, 3], dtype=torch.int32)", NN_I32, 1, {3},
       "tensor([1, 2, 3], device='cuda:0', dtype=torch.int32)"},
      {"tensor(3.5000)", NN_F32, 0, {0}, "tensor(3.5000, device='cuda:0')"},
      {"tensor([], size=(0, 3))", NN_F32, 2, {0, 3}, "tensor([], device='cuda:0', size=(0, 3))"},
      {"tensor([], dtype=torch.int64)", NN_I64, 1, {0}, "tensor([], device='cuda:0', dtype=torch.int64)"},
      {"tensor([], size=(2, 0), dtype=torch.int32)", NN_I32, 2, {2, 0},
       "tensor([], device='cuda:0', size=(2, 0), dtype=torch.int32)"},
      /* a last line of 79 characters: device='cuda:0' goes on a line of its own */
      {"tensor([0.0000, 0.3333, 0.6667, 1.0000, 1.3333, 1.6667, 2.0000, 2.3333, 2.6667])", NN_F32, 1, {9},
       "tensor([0.0000, 0.3333, 0.6667, 1.0000, 1.3333, 1.6667, 2.0000, 2.3333, 2.6667],\n"
       "       device='cuda:0')"},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    char *s = text_on(cases[c].cpu, cases[c].dt, cases[c].ndim, cases[c].shape, "cuda:0");
    assert_string_equal(s, cases[c].gpu);
    free(s);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_suffix_rule),
      cmocka_unit_test(test_pytorch_fixtures),
      cmocka_unit_test(test_snprintf_contract),
      cmocka_unit_test(test_views_print_logically),
  };
  return tu_run_group(tests);
}
