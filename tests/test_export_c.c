/* nn_model_export_c: the generated C99 file is compiled with this build's C
 * compiler (NN_TEST_CC) under `-std=c99 -Wall -Wextra -pedantic -Werror`,
 * linked with a small driver that includes nothing of libnn, run on inputs,
 * and its outputs compared with nn_model_forward's (1e-6 relative), for
 * every activation, layers without bias, an activation before the first
 * Linear layer, F32 and F64 models. Also the file's promises that can be
 * read off its text (includes, hex literals, const weights) and every error.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"

#ifndef NN_TEST_CC
#define NN_TEST_CC "cc"
#endif

static char tmp_dir[256];

static const char *tmp_path(const char *name) {
  static char buf[8][512];
  static int k = 0;
  char *p = buf[k++ % 8];
  snprintf(p, 512, "%s/%s", tmp_dir, name);
  return p;
}

/* The driver: reads rows of input (T) from argv[1], writes predict_rows'
 * output to argv[2]; exits 3 unless predict() row by row gives the same bits. */
static void write_driver(const char *prefix, const char *upper, bool f64) {
  const char *T = f64 ? "double" : "float";
  FILE *f = fopen(tmp_path("driver.c"), "w");
  assert_non_null(f);
  fprintf(f,
          "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include \"model.c\"\n"
          "int main(int argc, char **argv) {\n"
          "  FILE *in, *out; long n; size_t rows, r; %s *x, *y, one[%s_OUT_FEATURES];\n"
          "  if (argc != 3) return 2;\n"
          "  in = fopen(argv[1], \"rb\"); if (!in) return 2;\n"
          "  fseek(in, 0, SEEK_END); n = ftell(in); fseek(in, 0, SEEK_SET);\n"
          "  rows = (size_t)n / sizeof(%s) / %s_IN_FEATURES;\n"
          "  x = malloc((size_t)n); y = malloc(rows * %s_OUT_FEATURES * sizeof(%s));\n"
          "  if (!x || !y || fread(x, 1, (size_t)n, in) != (size_t)n) return 2;\n"
          "  %s_predict_rows(rows, x, y);\n"
          "  for (r = 0; r < rows; r++) {\n"
          "    %s_predict(x + r * %s_IN_FEATURES, one);\n"
          "    if (memcmp(one, y + r * %s_OUT_FEATURES, sizeof one) != 0) return 3;\n"
          "  }\n"
          "  out = fopen(argv[2], \"wb\"); if (!out) return 2;\n"
          "  fwrite(y, sizeof(%s), rows * %s_OUT_FEATURES, out); fclose(out); fclose(in);\n"
          "  free(x); free(y); return 0;\n}\n",
          T, upper, T, upper, upper, T, prefix, prefix, upper, upper, T, upper);
  fclose(f);
}

static void run(const char *cmd) {
  int rc = system(cmd);
  if (rc != 0) fail_msg("`%s` exited with %d", cmd, rc);
}

/* Exports m, compiles and runs the driver on `rows` random rows, compares. */
static void check_model(nn_model *m, int64_t in, int64_t out, const char *prefix, const char *extra_flags,
                        double rtol) {
  const bool f64 = nn_model_dtype(m) == NN_F64;
  const int64_t rows = 23;
  char upper[80], cmd[2048];
  double *xv = malloc((size_t)(rows * in) * sizeof *xv), *ref, *got;
  int64_t xs[2], n, i;
  nn_tensor *x, *y;
  tu_rng r = tu_rng_make(5);
  FILE *f;
  size_t k;
  for (k = 0; k <= strlen(prefix); k++) upper[k] = (char)(prefix[k] >= 'a' && prefix[k] <= 'z' ? prefix[k] - 32 : prefix[k]);
  for (i = 0; i < rows * in; i++) xv[i] = tu_rng_uniform(&r, -3, 3);
  for (i = 0; i < in; i++) xv[i] = 40.0 * (i % 2 ? 1 : -1); /* saturating row */
  for (i = 0; i < in; i++) xv[in + i] = 0;                 /* zero row */
  xs[0] = rows;
  xs[1] = in;
  x = tu_make(nn_model_dtype(m), 2, xs, xv);
  TU_OK(nn_model_forward(m, x, &y));
  ref = tu_read(y, &n);
  assert_int_equal(n, rows * out);

  TU_OK(nn_model_export_c(m, tmp_path("model.c"), prefix));
  write_driver(prefix, upper, f64);
  f = fopen(tmp_path("x.bin"), "wb");
  if (f64) {
    fwrite(xv, sizeof(double), (size_t)(rows * in), f);
  } else {
    for (i = 0; i < rows * in; i++) {
      float v = (float)xv[i];
      fwrite(&v, sizeof v, 1, f);
    }
  }
  fclose(f);
  snprintf(cmd, sizeof cmd,
           "cd '%s' && '%s' -std=c99 -Wall -Wextra -pedantic -Werror %s -c model.c -o model.o && "
           "'%s' -std=c99 -Wall -Wextra -pedantic -Werror %s driver.c -o driver -lm && ./driver x.bin y.bin",
           tmp_dir, NN_TEST_CC, extra_flags, NN_TEST_CC, extra_flags);
  run(cmd);
  got = malloc((size_t)(rows * out) * sizeof *got);
  f = fopen(tmp_path("y.bin"), "rb");
  assert_non_null(f);
  for (i = 0; i < rows * out; i++) {
    if (f64) {
      assert_int_equal(fread(&got[i], sizeof(double), 1, f), 1);
    } else {
      float v;
      assert_int_equal(fread(&v, sizeof v, 1, f), 1);
      got[i] = v;
    }
  }
  assert_int_equal(fgetc(f), EOF);
  fclose(f);
  for (i = 0; i < rows * out; i++) {
    const double tol = rtol * fabs(ref[i]) + (f64 ? 1e-14 : 1e-7) * rtol / 1e-6;
    if (!(fabs(got[i] - ref[i]) <= tol) && !(isnan(got[i]) && isnan(ref[i])))
      fail_msg("%s: output %lld (row %lld): generated C %.17g, nn_model_forward %.17g", prefix, (long long)i,
               (long long)(i / out), got[i], ref[i]);
  }
  free(xv);
  free(ref);
  free(got);
  nn_tensor_free(x);
  nn_tensor_free(y);
}

static nn_model *build(const int *spec, int n) {
  /* spec: pairs (kind, value): kind 0 = Linear(in=value>>8, out=value&255) with bias,
     kind 1 = Linear without bias, kind 2 = activation value */
  nn_model *m;
  int i;
  TU_OK(nn_model_create(&m));
  for (i = 0; i < n; i++) {
    nn_layer *l;
    const int kind = spec[2 * i], v = spec[2 * i + 1];
    if (kind == 2)
      TU_OK(nn_layer_activation((nn_activation)v, &l));
    else
      TU_OK(nn_layer_linear(v >> 8, v & 255, kind == 0, &l));
    TU_OK(nn_model_add(m, l));
  }
  return m;
}

static void test_tiny_net(void **state) {
  const int64_t sizes[] = {10, 40, 40, 5};
  nn_model *m;
  (void)state;
  TU_OK(nn_model_mlp(4, sizes, NN_ACT_RELU, NN_ACT_SIGMOID, &m));
  TU_OK(nn_model_init(m, NN_INIT_HE_NORMAL, 3));
  check_model(m, 10, 5, "tiny", "", 1e-6);
  /* Float accumulation: the same file, a looser match. */
  check_model(m, 10, 5, "tiny", "-DTINY_FLOAT_ACCUMULATE", 1e-5);
  nn_model_free(m);
}

static void test_every_activation(void **state) {
  /* Linear(4,6) tanh Linear(6,6, no bias) leaky Linear(6,7) relu Linear(7,5) softmax */
  static const int spec1[] = {0, 4 << 8 | 6, 2, NN_ACT_TANH, 1, 6 << 8 | 6, 2, NN_ACT_LEAKY_RELU,
                              0, 6 << 8 | 7, 2, NN_ACT_RELU, 0, 7 << 8 | 5, 2, NN_ACT_SOFTMAX};
  /* tanh before the first Linear, an identity layer, step at the end */
  static const int spec2[] = {2, NN_ACT_TANH, 0, 3 << 8 | 4, 2, NN_ACT_IDENTITY, 2, NN_ACT_SIGMOID,
                              0, 4 << 8 | 2, 2, NN_ACT_STEP};
  /* one Linear layer, no bias, nothing else */
  static const int spec3[] = {1, 3 << 8 | 2};
  nn_model *m;
  (void)state;
  m = build(spec1, 8);
  TU_OK(nn_model_init(m, NN_INIT_XAVIER_UNIFORM, 11));
  check_model(m, 4, 5, "acts", "", 1e-6);
  TU_OK(nn_model_to_dtype(m, NN_F64));
  check_model(m, 4, 5, "acts64", "", 1e-12);
  nn_model_free(m);
  m = build(spec2, 6);
  check_model(m, 3, 2, "first_act", "", 1e-6);
  nn_model_free(m);
  m = build(spec3, 1);
  check_model(m, 3, 2, "_lin", "", 1e-6);
  nn_model_free(m);
}

static void test_file_text(void **state) {
  const int64_t sizes[] = {3, 2};
  nn_model *m;
  nn_layer *lin;
  nn_tensor *w;
  const float wv[] = {0.1f, -2.5f, 1e-30f, 3.0f, -0.0f, 1.0f / 3.0f};
  char *s, *p;
  size_t len;
  int includes = 0;
  (void)state;
  TU_OK(nn_model_mlp(2, sizes, NN_ACT_RELU, NN_ACT_IDENTITY, &m));
  TU_OK(nn_model_layer(m, 0, &lin));
  TU_OK(nn_layer_param(lin, NN_PARAM_WEIGHT, &w));
  TU_OK(nn_tensor_write(w, wv, sizeof wv));
  nn_tensor_free(w);
  TU_OK(nn_model_export_c(m, tmp_path("t.c"), "Net_1"));
  s = (char *)tu_read_file(tmp_path("t.c"), &len);
  assert_non_null(strstr(s, "#define NET_1_IN_FEATURES 3\n"));
  assert_non_null(strstr(s, "#define NET_1_OUT_FEATURES 2\n"));
  assert_non_null(strstr(s, "void Net_1_predict(const float *x, float *y)"));
  assert_non_null(strstr(s, "void Net_1_predict_rows(size_t rows, const float *x, float *y)"));
  assert_non_null(strstr(s, "static const float Net_1_w0[6]"));
  /* exact hex literals, the weight transposed ([in][out]): 0.1f, 3, -2.5f, -0, 1e-30f, 1/3 */
  assert_non_null(strstr(s, "0x1.99999ap-4f, 0x1.8p+1f, -0x1.4p+1f, -0x0p+0f, 0x1.4484cp-100f, 0x1.555556p-2f"));
  for (p = s; (p = strstr(p, "#include")) != NULL; p++) includes++;
  assert_int_equal(includes, 2);
  assert_non_null(strstr(s, "#include <stddef.h>\n#include <math.h>\n"));
  free(s);
  nn_model_free(m);
}

static void test_errors(void **state) {
  const int64_t sizes[] = {3, 2};
  static const char *const bad[] = {"", "1net", "a-b", "a b", "caf\xc3\xa9",
                                    "a2345678901234567890123456789012345678901234567890123456789012345"};
  nn_model *m, *acts;
  nn_layer *l;
  size_t i;
  (void)state;
  TU_OK(nn_model_mlp(2, sizes, NN_ACT_RELU, NN_ACT_IDENTITY, &m));
  TU_ERR(nn_model_export_c(NULL, tmp_path("e.c"), "p"), NN_ERR_INVALID_ARGUMENT, "nn_model_export_c", "m is NULL");
  TU_ERR(nn_model_export_c(m, NULL, "p"), NN_ERR_INVALID_ARGUMENT, "nn_model_export_c", "path is NULL");
  TU_ERR(nn_model_export_c(m, tmp_path("e.c"), NULL), NN_ERR_INVALID_ARGUMENT, "nn_model_export_c", "prefix is NULL");
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
    TU_ERR(nn_model_export_c(m, tmp_path("e.c"), bad[i]), NN_ERR_INVALID_ARGUMENT, "nn_model_export_c",
           "is not a C identifier of 1 to 64 characters");
  TU_OK(nn_model_export_c(m, tmp_path("e.c"), "a23456789012345678901234567890123456789012345678901234567890123"));
  assert_int_equal(access(tmp_path("e.c"), R_OK), 0);
  TU_ERR(nn_model_export_c(m, "/nonexistent-dir/m.c", "p"), NN_ERR_IO, "nn_model_export_c", "/nonexistent-dir/m.c");
  TU_OK(nn_model_create(&acts));
  TU_OK(nn_layer_activation(NN_ACT_RELU, &l));
  TU_OK(nn_model_add(acts, l));
  TU_ERR(nn_model_export_c(acts, tmp_path("e.c"), "p"), NN_ERR_INVALID_ARGUMENT, "nn_model_export_c",
         "no Linear layer");
  nn_model_free(acts);
  nn_model_free(m);
}

static int setup(void **state) {
  (void)state;
  snprintf(tmp_dir, sizeof tmp_dir, "/tmp/nn_test_export_c_XXXXXX");
  return mkdtemp(tmp_dir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  tu_rm_tree(tmp_dir);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tiny_net),
      cmocka_unit_test(test_every_activation),
      cmocka_unit_test(test_file_text),
      cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
