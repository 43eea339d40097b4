/* Loading (issue 15): nn_model_load, nn_model_load_buffer,
 * nn_checkpoint_load and nn_model_load_weights fill each parameter once,
 * straight from the file's bytes (read from the file, copied from a
 * buffer, or converted on the way). Checked here:
 * - save/load round trips are bit-exact for F32 and F64 models, through a
 *   file, an aligned buffer and a misaligned one, and gradients start at 0;
 * - every conversion the loader makes (F16, BF16, F32 and F64 tensors into
 *   an F32 or an F64 model, the model's dtype set by the first tensor)
 *   gives the exactly rounded values, on each of those three paths, for
 *   tensors larger than the loader's conversion step;
 * - a layer of more than 32 MiB (its own mapping) round-trips and trains;
 * - checkpoints and load_weights from files are exact;
 * - truncated or corrupt files fail cleanly: the right status, the output
 *   pointers untouched, a model given to load_weights unchanged. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include "test_util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TMPL "/tmp/nn_test_load_XXXXXX"
static char g_dir[sizeof TMPL];

static void path_in(char *out, size_t cap, const char *name) { snprintf(out, cap, "%s/%s", g_dir, name); }

static void assert_bits(const double *got, const double *want, int64_t n, const char *ctx) {
  for (int64_t i = 0; i < n; i++)
    if (memcmp(&got[i], &want[i], sizeof(double)) != 0)
      fail_msg("%s: element %lld is %.17g, expected %.17g", ctx, (long long)i, got[i], want[i]);
}

static void assert_grads_zero(nn_model *m, const char *ctx) {
  int64_t n = 0;
  double *g = tu_model_values(m, true, &n);
  for (int64_t i = 0; i < n; i++)
    if (g[i] != 0.0) fail_msg("%s: gradient %lld is %g after loading, not 0", ctx, (long long)i, g[i]);
  free(g);
}

/* The model's parameters (tu_model_values) equal want bit for bit, its
 * dtype is dt and its gradients are zero. */
static void check_model(nn_model *m, nn_dtype dt, const double *want, int64_t n, const char *ctx) {
  assert_int_equal(nn_model_dtype(m), dt);
  int64_t got_n = 0;
  double *got = tu_model_values(m, false, &got_n);
  assert_int_equal(got_n, n);
  assert_bits(got, want, n, ctx);
  free(got);
  assert_grads_zero(m, ctx);
}

/* Loads `bytes` three ways (a file, an aligned buffer, a buffer one byte off
 * its alignment) and checks each model against want. */
static void check_three_ways(const unsigned char *bytes, size_t n, nn_dtype dt, const double *want, int64_t count,
                             const char *ctx) {
  char path[512], what[160];
  path_in(path, sizeof path, "three.safetensors");
  tu_write_file(path, bytes, n);
  nn_model *m = NULL;
  TU_OK(nn_model_load(path, tu_device(), &m));
  snprintf(what, sizeof what, "%s (file)", ctx);
  check_model(m, dt, want, count, what);
  nn_model_free(m);

  unsigned char *raw = malloc(n + 64);
  assert_non_null(raw);
  unsigned char *aligned = (unsigned char *)(((uintptr_t)raw + 63) & ~(uintptr_t)63);
  memcpy(aligned, bytes, n);
  m = NULL;
  TU_OK(nn_model_load_buffer(aligned, n, tu_device(), &m));
  snprintf(what, sizeof what, "%s (aligned buffer)", ctx);
  check_model(m, dt, want, count, what);
  nn_model_free(m);
  memmove(aligned + 1, aligned, n);
  m = NULL;
  TU_OK(nn_model_load_buffer(aligned + 1, n, tu_device(), &m));
  snprintf(what, sizeof what, "%s (misaligned buffer)", ctx);
  check_model(m, dt, want, count, what);
  nn_model_free(m);
  free(raw);
}

/* ------------------------------------------------------------ round trips */

/* 70-300-260-5: the 300 x 260 weight (78,000 elements) is larger than one
 * conversion step of the loader. */
static const int64_t kSizes[] = {70, 300, 260, 5};

static void test_round_trip_f32_f64(void **state) {
  (void)state;
  const nn_dtype dts[] = {NN_F32, NN_F64};
  for (int k = 0; k < 2; k++) {
    nn_model *m = NULL;
    TU_OK(nn_model_mlp(4, kSizes, NN_ACT_RELU, NN_ACT_SIGMOID, &m));
    TU_OK(nn_model_init(m, NN_INIT_HE_NORMAL, 5));
    TU_OK(nn_model_to_dtype(m, dts[k]));
    TU_OK(nn_model_to(m, tu_device()));
    int64_t count = 0;
    double *want = tu_model_values(m, false, &count);
    size_t n = 0;
    unsigned char *bytes = tu_save_model(m, &n);
    char ctx[64];
    snprintf(ctx, sizeof ctx, "%s round trip", tu_dtype_name(dts[k]));
    check_three_ways(bytes, n, dts[k], want, count, ctx);

    /* the loaded model predicts exactly as the saved one */
    char path[512];
    path_in(path, sizeof path, "rt.safetensors");
    TU_OK(nn_model_save(m, path));
    nn_model *m2 = NULL;
    TU_OK(nn_model_load(path, tu_device(), &m2));
    float x[3 * 70], y1[3 * 5], y2[3 * 5];
    for (int i = 0; i < 3 * 70; i++) x[i] = (float)((i * 29) % 61 - 30) / 16.0f;
    TU_OK(nn_model_predict(m, 3, x, y1));
    TU_OK(nn_model_predict(m2, 3, x, y2));
    assert_memory_equal(y1, y2, sizeof y1);
    nn_model_free(m2);
    free(bytes);
    free(want);
    nn_model_free(m);
  }
}

/* ------------------------------------------------ files written by hand */

typedef struct {
  const char *name;
  nn_dtype dt;
  int64_t d0, d1; /* d1 == 0: 1-D */
  int kind;       /* values: 0 exact in every dtype (k/64, |k| < 128), 1 not exact in F32 (0.1 + i/2^30) */
} st_tensor;

static const char *st_name(nn_dtype dt) {
  switch (dt) {
    case NN_F16: return "F16";
    case NN_BF16: return "BF16";
    case NN_F64: return "F64";
    default: return "F32";
  }
}

static double st_value(const st_tensor *t, int64_t i) {
  if (t->kind == 1) return 0.1 + (double)i / 1073741824.0;
  return (double)((i * 37 + t->d0) % 255 - 127) / 64.0;
}

/* A safetensors file for linear(300, 260), relu, linear(260, 3) with the
 * given four tensors (0.weight, 0.bias, 2.weight, 2.bias). */
static unsigned char *build_file(const st_tensor *ts, size_t *len) {
  char header[2048];
  int h = snprintf(header, sizeof header,
                   "{\"__metadata__\":{\"nn.architecture\":\"[{\\\"type\\\":\\\"linear\\\",\\\"in\\\":300,"
                   "\\\"out\\\":260,\\\"bias\\\":true},{\\\"type\\\":\\\"activation\\\",\\\"act\\\":\\\"relu\\\"},"
                   "{\\\"type\\\":\\\"linear\\\",\\\"in\\\":260,\\\"out\\\":3,\\\"bias\\\":true}]\"}");
  size_t off = 0;
  for (int i = 0; i < 4; i++) {
    const st_tensor *t = &ts[i];
    size_t bytes = (size_t)(t->d0 * (t->d1 ? t->d1 : 1)) * tu_dtype_size(t->dt);
    if (t->d1)
      h += snprintf(header + h, sizeof header - (size_t)h,
                    ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%lld,%lld],\"data_offsets\":[%zu,%zu]}", t->name,
                    st_name(t->dt), (long long)t->d0, (long long)t->d1, off, off + bytes);
    else
      h += snprintf(header + h, sizeof header - (size_t)h,
                    ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%lld],\"data_offsets\":[%zu,%zu]}", t->name,
                    st_name(t->dt), (long long)t->d0, off, off + bytes);
    off += bytes;
  }
  h += snprintf(header + h, sizeof header - (size_t)h, "}");
  while (h % 8) header[h++] = ' ';
  *len = 8 + (size_t)h + off;
  unsigned char *b = malloc(*len);
  assert_non_null(b);
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)h >> (8 * i));
  memcpy(b + 8, header, (size_t)h);
  unsigned char *p = b + 8 + h;
  for (int i = 0; i < 4; i++) {
    const st_tensor *t = &ts[i];
    int64_t n = t->d0 * (t->d1 ? t->d1 : 1);
    for (int64_t k = 0; k < n; k++) tu_store(t->dt, p, k, st_value(t, k));
    p += (size_t)n * tu_dtype_size(t->dt);
  }
  return b;
}

/* What the model holds: each value as the model's dtype rounds it. */
static double *expected(const st_tensor *ts, nn_dtype model_dt, int64_t *count) {
  int64_t n = 0;
  for (int i = 0; i < 4; i++) n += ts[i].d0 * (ts[i].d1 ? ts[i].d1 : 1);
  double *v = malloc((size_t)n * sizeof(double));
  assert_non_null(v);
  int64_t j = 0;
  for (int i = 0; i < 4; i++) {
    int64_t m = ts[i].d0 * (ts[i].d1 ? ts[i].d1 : 1);
    for (int64_t k = 0; k < m; k++) {
      double x = tu_cast(ts[i].dt, st_value(&ts[i], k));  /* as stored */
      v[j++] = model_dt == NN_F32 ? (double)(float)x : x;
    }
  }
  *count = n;
  return v;
}

static void test_conversions(void **state) {
  (void)state;
  static const struct {
    const char *what;
    nn_dtype dts[4];
    int kinds[4];
    nn_dtype model;
  } cases[] = {
      {"all F16 -> F32 model", {NN_F16, NN_F16, NN_F16, NN_F16}, {0, 0, 0, 0}, NN_F32},
      {"all BF16 -> F32 model", {NN_BF16, NN_BF16, NN_BF16, NN_BF16}, {0, 0, 0, 0}, NN_F32},
      {"F32 first, F64 rounded -> F32 model", {NN_F32, NN_F64, NN_F64, NN_BF16}, {0, 1, 1, 0}, NN_F32},
      {"F64 first -> F64 model", {NN_F64, NN_F32, NN_F16, NN_BF16}, {1, 0, 0, 0}, NN_F64},
      {"all F64 -> F64 model", {NN_F64, NN_F64, NN_F64, NN_F64}, {1, 1, 1, 1}, NN_F64},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    st_tensor ts[4] = {{"0.weight", cases[c].dts[0], 260, 300, cases[c].kinds[0]},
                       {"0.bias", cases[c].dts[1], 260, 0, cases[c].kinds[1]},
                       {"2.weight", cases[c].dts[2], 3, 260, cases[c].kinds[2]},
                       {"2.bias", cases[c].dts[3], 3, 0, cases[c].kinds[3]}};
    size_t n = 0;
    unsigned char *bytes = build_file(ts, &n);
    int64_t count = 0;
    double *want = expected(ts, cases[c].model, &count);
    check_three_ways(bytes, n, cases[c].model, want, count, cases[c].what);
    free(want);
    free(bytes);
  }
}

/* A weight of 2048 x 4100 floats (33.6 MB: more than 32 MiB, so it gets its
 * own mapping, as do its zero gradients): exact round trip, zero
 * gradients, and a training step writes them. */
static void test_large_layer(void **state) {
  (void)state;
  const int64_t sizes[] = {2048, 4100};
  nn_model *m = NULL;
  TU_OK(nn_model_mlp(2, sizes, NN_ACT_RELU, NN_ACT_IDENTITY, &m));
  TU_OK(nn_model_init(m, NN_INIT_HE_UNIFORM, 3));
  char path[512];
  path_in(path, sizeof path, "large.safetensors");
  TU_OK(nn_model_save(m, path));
  nn_model_free(m);
  size_t n1 = 0, n2 = 0;
  unsigned char *file = tu_read_file(path, &n1);
  m = NULL;
  TU_OK(nn_model_load(path, tu_device(), &m));
  unsigned char *again = tu_save_model(m, &n2);
  assert_int_equal(n1, n2);
  assert_true(memcmp(file, again, n1) == 0);
  free(again);
  free(file);

  nn_layer *l = NULL;
  TU_OK(nn_model_layer(m, 0, &l));
  nn_tensor *g = NULL;
  TU_OK(nn_layer_grad(l, NN_PARAM_WEIGHT, &g));
  const size_t count = 2048 * 4100;
  float *gv = malloc(count * sizeof(float));
  assert_non_null(gv);
  TU_OK(nn_tensor_read(g, gv, count * sizeof(float)));
  for (size_t i = 0; i < count; i++)
    if (gv[i] != 0.0f) fail_msg("large layer: gradient %zu is %g after loading", i, (double)gv[i]);
  nn_tensor_free(g);

  double xv[2048], yv[4100];
  for (int i = 0; i < 2048; i++) xv[i] = 1.0;
  for (int i = 0; i < 4100; i++) yv[i] = 1.0;
  const int64_t sx[] = {1, 2048}, sy[] = {1, 4100};
  nn_tensor *x = tu_make(NN_F32, 2, sx, xv), *y = tu_make(NN_F32, 2, sy, yv);
  double loss = 0;
  TU_OK(nn_model_backward(m, x, y, NN_LOSS_MSE, &loss));
  g = NULL;
  TU_OK(nn_layer_grad(l, NN_PARAM_WEIGHT, &g));
  TU_OK(nn_tensor_read(g, gv, count * sizeof(float)));
  size_t nonzero = 0;
  for (size_t i = 0; i < count; i++) nonzero += gv[i] != 0.0f;
  assert_true(nonzero > count / 4);  /* ReLU output: about half the rows have a gradient */
  nn_tensor_free(g);
  nn_tensor_free(x);
  nn_tensor_free(y);
  free(gv);
  nn_model_free(m);
}

/* ------------------------------------------ checkpoints and state dicts */

static nn_model *trained_model(nn_optimizer **opt) {
  const int64_t sizes[] = {6, 20, 3};
  nn_model *m = NULL;
  TU_OK(nn_model_mlp(3, sizes, NN_ACT_TANH, NN_ACT_IDENTITY, &m));
  TU_OK(nn_model_to(m, tu_device()));
  TU_OK(nn_optimizer_adam(m, 0.01, 0.9, 0.999, 1e-8, 0.0, false, opt));
  double xv[4 * 6], yv[4 * 3];
  for (int i = 0; i < 24; i++) xv[i] = (double)(i % 7) / 7.0 - 0.4;
  for (int i = 0; i < 12; i++) yv[i] = (double)(i % 3) - 1.0;
  const int64_t sx[] = {4, 6}, sy[] = {4, 3};
  nn_tensor *x = tu_make(NN_F32, 2, sx, xv), *y = tu_make(NN_F32, 2, sy, yv);
  for (int it = 0; it < 5; it++) {
    double loss = 0;
    TU_OK(nn_optimizer_zero_grad(*opt));
    TU_OK(nn_model_backward(m, x, y, NN_LOSS_MSE, &loss));
    TU_OK(nn_optimizer_step(*opt));
  }
  nn_tensor_free(x);
  nn_tensor_free(y);
  return m;
}

static void test_checkpoint_and_weights(void **state) {
  (void)state;
  nn_optimizer *opt = NULL;
  nn_model *m = trained_model(&opt);
  char p1[512], p2[512], pm[512];
  path_in(p1, sizeof p1, "ck1.safetensors");
  path_in(p2, sizeof p2, "ck2.safetensors");
  path_in(pm, sizeof pm, "weights.safetensors");
  TU_OK(nn_checkpoint_save(m, opt, p1));
  nn_model *m2 = NULL;
  nn_optimizer *opt2 = NULL;
  TU_OK(nn_checkpoint_load(p1, tu_device(), &m2, &opt2));
  TU_OK(nn_checkpoint_save(m2, opt2, p2));  /* parameters and optimizer state read back exactly */
  size_t n1 = 0, n2 = 0;
  unsigned char *b1 = tu_read_file(p1, &n1), *b2 = tu_read_file(p2, &n2);
  assert_int_equal(n1, n2);
  assert_true(memcmp(b1, b2, n1) == 0);
  free(b1);
  free(b2);
  assert_grads_zero(m2, "checkpoint");

  /* load_weights: an F32 file into an F32 model and into an F64 model */
  TU_OK(nn_model_save(m, pm));
  int64_t count = 0;
  double *want = tu_model_values(m, false, &count);
  const nn_dtype dts[] = {NN_F32, NN_F64};
  for (int k = 0; k < 2; k++) {
    const int64_t sizes[] = {6, 20, 3};
    nn_model *w = NULL;
    TU_OK(nn_model_mlp(3, sizes, NN_ACT_TANH, NN_ACT_IDENTITY, &w));
    TU_OK(nn_model_to_dtype(w, dts[k]));
    TU_OK(nn_model_to(w, tu_device()));
    TU_OK(nn_model_load_weights(w, pm));
    int64_t got_n = 0;
    double *got = tu_model_values(w, false, &got_n);
    assert_int_equal(got_n, count);
    assert_bits(got, want, count, dts[k] == NN_F32 ? "load_weights F32" : "load_weights F32 -> F64");
    free(got);
    nn_model_free(w);
  }
  free(want);
  nn_optimizer_free(opt2);
  nn_model_free(m2);
  nn_optimizer_free(opt);
  nn_model_free(m);
}

/* ------------------------------------------------- truncated and corrupt */

static void test_bad_files(void **state) {
  (void)state;
  nn_optimizer *opt = NULL;
  nn_model *good = trained_model(&opt);
  char path[512], bad[512];
  path_in(path, sizeof path, "good.safetensors");
  path_in(bad, sizeof bad, "bad.safetensors");
  TU_OK(nn_checkpoint_save(good, opt, path));
  size_t n = 0;
  unsigned char *b = tu_read_file(path, &n);
  uint64_t hl = 0;
  for (int i = 7; i >= 0; i--) hl = (hl << 8) | b[i];
  assert_true(8 + hl < n);
  int64_t count = 0;
  double *before = tu_model_values(good, false, &count);

  nn_model *sentinel = (nn_model *)&n, *m = sentinel, *m2 = sentinel;
  nn_optimizer *osent = (nn_optimizer *)&hl, *o2 = osent;
  const size_t cuts[] = {0, 1, 7, 8, 9, 8 + hl / 2, 8 + hl - 1, 8 + hl, 8 + hl + 1, 8 + hl + 100, n / 2 + 3, n - 4, n - 1};
  for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
    tu_write_file(bad, b, cuts[c]);
    nn_status st = nn_model_load(bad, tu_device(), &m);
    if (st != NN_ERR_FORMAT) fail_msg("model truncated to %zu bytes: status %d (%s)", cuts[c], st, nn_last_error());
    assert_ptr_equal(m, sentinel);
    st = nn_checkpoint_load(bad, tu_device(), &m2, &o2);
    if (st != NN_ERR_FORMAT) fail_msg("checkpoint truncated to %zu bytes: status %d", cuts[c], st);
    assert_ptr_equal(m2, sentinel);
    assert_ptr_equal(o2, osent);
    st = nn_model_load_weights(good, bad);
    if (st != NN_ERR_FORMAT) fail_msg("weights truncated to %zu bytes: status %d", cuts[c], st);
  }

  /* corrupt: a hostile header length, one past the end, a broken header */
  unsigned char *c = malloc(n);
  assert_non_null(c);
  const struct {
    size_t at;
    unsigned char byte;
  } flips[] = {{5, 0x40}, {0, (unsigned char)((hl + 1) & 0xff)}, {8, 'x'}, {8 + hl / 2, '\x01'}};
  for (size_t f = 0; f < sizeof flips / sizeof flips[0]; f++) {
    memcpy(c, b, n);
    c[flips[f].at] = flips[f].byte;
    if (f == 1) /* the header length one past the end of the file */
      for (int i = 0; i < 8; i++) c[i] = (unsigned char)((uint64_t)(n - 7) >> (8 * i));
    tu_write_file(bad, c, n);
    nn_status st = nn_model_load(bad, tu_device(), &m);
    if (st != NN_ERR_FORMAT) fail_msg("corruption %zu: status %d (%s)", f, st, nn_last_error());
    assert_ptr_equal(m, sentinel);
    assert_int_equal(nn_checkpoint_load(bad, tu_device(), &m2, &o2), NN_ERR_FORMAT);
    assert_ptr_equal(m2, sentinel);
    assert_ptr_equal(o2, osent);
    assert_int_equal(nn_model_load_weights(good, bad), NN_ERR_FORMAT);
  }
  free(c);

  /* not a regular file, missing */
  assert_int_equal(nn_model_load(g_dir, tu_device(), &m), NN_ERR_IO);
  assert_ptr_equal(m, sentinel);
  path_in(bad, sizeof bad, "missing.safetensors");
  assert_int_equal(nn_model_load(bad, tu_device(), &m), NN_ERR_IO);
  assert_int_equal(nn_checkpoint_load(bad, tu_device(), &m2, &o2), NN_ERR_IO);
  assert_ptr_equal(m, sentinel);
  assert_ptr_equal(m2, sentinel);
  assert_ptr_equal(o2, osent);

  /* load_weights changed nothing on any failure */
  int64_t after_n = 0;
  double *after = tu_model_values(good, false, &after_n);
  assert_int_equal(after_n, count);
  assert_bits(after, before, count, "load_weights after failures");
  free(after);
  free(before);
  free(b);
  nn_optimizer_free(opt);
  nn_model_free(good);
}

static int setup(void **state) {
  (void)state;
  memcpy(g_dir, TMPL, sizeof TMPL);
  return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  tu_rm_tree(g_dir);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_round_trip_f32_f64, setup, teardown),
      cmocka_unit_test_setup_teardown(test_conversions, setup, teardown),
      cmocka_unit_test_setup_teardown(test_large_layer, setup, teardown),
      cmocka_unit_test_setup_teardown(test_checkpoint_and_weights, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_files, setup, teardown),
  };
  return tu_run_group(tests);
}
