/* Persistence (API.md "Persistence"): safetensors files compatible with
 * PyTorch in both directions, bit-identical round trips, atomic saves and
 * loading that trusts nothing.
 *
 * Fixtures: tests/fixtures/persistence_fixtures.h, made by
 * tests/fixtures/make_safetensors_fixtures.py (PyTorch + safetensors; not
 * needed here). With NN_PERSIST_FIXTURES_OUT=<dir> this test also writes the
 * libnn-saved files that script checks with PyTorch (see the script).
 *
 * Device-generic: models are loaded onto (or built and moved to) tu_device()
 * and saved from there; the cases about devices keep their explicit devices.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixtures/persistence_fixtures.h"
#include "test_util.h"

/* ---- helpers ---------------------------------------------------------------- */

static nn_model *load_buf_at(const void *buf, size_t n, const char *file, int line) {
  nn_model *m = NULL;
  nn_status st = nn_model_load_buffer(buf, n, tu_device(), &m);
  if (st != NN_OK || !m) {
    print_error("nn_model_load_buffer: status %d: %s\n", (int)st, nn_last_error());
    _fail(file, line);
  }
  return m;
}
#define load_buf(b, n) load_buf_at((b), (n), __FILE__, __LINE__)

/* model(x) as doubles (malloc'd); x [n, n_in] in the given dtype. */
static double *predict(nn_model *m, nn_dtype dt, int n, int n_in, const double *x, int64_t *count) {
  int64_t shape[2] = {n, n_in};
  nn_tensor *t = tu_make(dt, 2, shape, x); /* on tu_device() */
  nn_device dev = nn_model_device(m), td = nn_tensor_device(t);
  if (dev.type != td.type || dev.index != td.index) {
    nn_tensor *g = NULL;
    TU_OK(nn_tensor_to_device(t, dev, &g));
    nn_tensor_free(t);
    t = g;
  }
  nn_tensor *y = NULL;
  TU_OK(nn_model_forward(m, t, &y));
  double *v = tu_read(y, count);
  nn_tensor_free(t);
  nn_tensor_free(y);
  return v;
}

/* Folder entries (without . and ..), sorted names joined by '|'. */
static void list_dir(const char *dir, char *out, size_t cap) {
  char names[64][256];
  int n = 0;
  DIR *d = opendir(dir);
  assert_non_null(d);
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    assert_true(n < 64);
    snprintf(names[n++], 256, "%s", e->d_name);
  }
  closedir(d);
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
      char t[256];
      memcpy(t, names[j], 256);
      memcpy(names[j], names[j - 1], 256);
      memcpy(names[j - 1], t, 256);
    }
  size_t len = 0;
  out[0] = '\0';
  for (int i = 0; i < n && len < cap; i++) {
    int w = snprintf(out + len, cap - len, "%s%s", i ? "|" : "", names[i]);
    assert_true(w >= 0);
    len += (size_t)w;
  }
}

/* The model libnn_f32 of the fixtures: known weights, every activation kind
 * that PyTorch has a module for, a Linear without bias. Built on the CPU,
 * moved to tu_device(). */
static nn_model *known_model(void) {
  nn_model *m = NULL;
  TU_OK(nn_model_create(&m));
  const struct {
    int linear;
    int64_t in, out;
    bool bias;
    nn_activation act;
  } spec[] = {{1, 3, 5, true, 0},  {0, 0, 0, 0, NN_ACT_TANH},       {1, 5, 4, false, 0},
              {0, 0, 0, 0, NN_ACT_LEAKY_RELU}, {1, 4, 4, true, 0}, {0, 0, 0, 0, NN_ACT_SIGMOID},
              {1, 4, 3, true, 0},  {0, 0, 0, 0, NN_ACT_RELU},       {1, 3, 2, true, 0},
              {0, 0, 0, 0, NN_ACT_SOFTMAX}};
  int k = 0;
  for (size_t i = 0; i < sizeof spec / sizeof spec[0]; i++) {
    nn_layer *l = NULL;
    if (spec[i].linear) {
      TU_OK(nn_layer_linear(spec[i].in, spec[i].out, spec[i].bias, &l));
      for (int p = 0; p < (spec[i].bias ? 2 : 1); p++) {
        nn_tensor *t = NULL;
        TU_OK(nn_layer_param(l, p == 0 ? NN_PARAM_WEIGHT : NN_PARAM_BIAS, &t));
        int64_t n = nn_tensor_numel(t);
        float v[64];
        assert_true(n <= 64);
        for (int64_t j = 0; j < n; j++, k++) v[j] = (float)(((k * 37) % 29) - 14) / 16.0f;
        TU_OK(nn_tensor_write(t, v, (size_t)n * sizeof(float)));
        nn_tensor_free(t);
      }
    } else {
      TU_OK(nn_layer_activation(spec[i].act, &l));
    }
    TU_OK(nn_model_add(m, l));
  }
  TU_OK(nn_model_to(m, tu_device()));
  return m;
}

/* An empty model (nn_model_create makes it on the CPU) on tu_device(). */
static nn_model *empty_model(void) {
  nn_model *m = NULL;
  TU_OK(nn_model_create(&m));
  TU_OK(nn_model_to(m, tu_device()));
  return m;
}

/* Tolerances of float32 predictions against PyTorch's (CPU) outputs. The
 * fixture models are at most 5 wide and 10 layers deep: on the CPU the sums
 * run in another order than PyTorch's, ~1 ulp per term (2e-6). CUDA's expf,
 * tanhf and logf are accurate to 2 ulp (not glibc's <1) and cuBLAS sums in
 * its own order, compounded over up to 5 Linear+activation pairs: 1e-5, as
 * the CPU-vs-GPU check of test_load_arguments_and_devices has always used. */
static double f32_rtol(void) { return tu_on_cpu() ? 2e-6 : 1e-5; }

static void known_inputs(double *x, int n) {
  for (int i = 0; i < n; i++) x[i] = (double)((i * 11) % 17 - 8) / 4.0;
}

static const pf_model *torch_fixture(const char *name) {
  for (int i = 0; i < PF_N_TORCH_MODELS; i++)
    if (!strcmp(pf_torch_models[i].name, name)) return &pf_torch_models[i];
  fail_msg("no fixture %s", name);
  return NULL;
}

static void assert_bits_equal(const double *a, const double *b, int64_t n, const char *ctx) {
  if (memcmp(a, b, (size_t)n * sizeof(double)) != 0) fail_msg("%s: predictions are not bit-identical", ctx);
}

/* ---- NN_PERSIST_FIXTURES_OUT: files for the fixture script ---------------------------- */

static void write_libnn_fixture(const char *dir, const char *name, nn_model *m, int n, int n_in,
                                const double *x) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s.safetensors", dir, name);
  TU_OK(nn_model_save(m, path));
  int64_t cnt = 0;
  double *y = predict(m, nn_model_dtype(m), n, n_in, x, &cnt);
  snprintf(path, sizeof path, "%s/%s.json", dir, name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fprintf(f, "{\"n\": %d, \"n_in\": %d, \"x\": [", n, n_in);
  for (int i = 0; i < n * n_in; i++) fprintf(f, "%s%.17g", i ? ", " : "", x[i]);
  fprintf(f, "], \"y\": [");
  for (int64_t i = 0; i < cnt; i++) fprintf(f, "%s%.17g", i ? ", " : "", y[i]);
  fprintf(f, "]}\n");
  assert_int_equal(fclose(f), 0);
  free(y);
  printf("wrote %s/%s.{safetensors,json}\n", dir, name);
}

static void test_write_fixtures(void **state) {
  (void)state;
  const char *dir = getenv("NN_PERSIST_FIXTURES_OUT");
  if (!dir || !*dir) skip();
  nn_model *m = known_model();
  double x[5 * 3];
  known_inputs(x, 15);
  write_libnn_fixture(dir, "libnn_f32", m, 5, 3, x);
  nn_model_free(m);
  const pf_model *f = torch_fixture("torch_f64");
  m = load_buf(f->bytes, f->nbytes);
  write_libnn_fixture(dir, "libnn_f64", m, f->n, f->n_in, f->x);
  nn_model_free(m);
}

/* ---- PyTorch -> libnn ---------------------------------------------------------------- */

static void test_torch_files_predict_like_torch(void **state) {
  (void)state;
  char *dir = tu_make_tmpdir("nn_persist_");
  for (int i = 0; i < PF_N_TORCH_MODELS; i++) {
    const pf_model *f = &pf_torch_models[i];
    nn_model *m = load_buf(f->bytes, f->nbytes);
    assert_int_equal(nn_model_num_layers(m), f->n_layers);
    nn_dtype dt = f->f64 ? NN_F64 : NN_F32;
    assert_int_equal(nn_model_dtype(m), dt);
    int64_t cnt = 0;
    double *y = predict(m, dt, f->n, f->n_in, f->x, &cnt);
    assert_int_equal(cnt, (int64_t)f->n * f->n_out);
    /* float32 sums in another order: ~1 ulp per term (see f32_rtol) */
    tu_assert_close(y, f->y, cnt, f->f64 ? 1e-12 : f32_rtol(), f->f64 ? 1e-13 : 1e-6, f->name);

    /* the file variant gives bit-identical predictions */
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.safetensors", dir, f->name);
    tu_write_file(path, f->bytes, f->nbytes);
    nn_model *mf = NULL;
    TU_OK(nn_model_load(path, tu_device(), &mf));
    int64_t cnt2 = 0;
    double *y2 = predict(mf, dt, f->n, f->n_in, f->x, &cnt2);
    assert_int_equal(cnt, cnt2);
    assert_bits_equal(y, y2, cnt, f->name);
    free(y);
    free(y2);
    nn_model_free(m);
    nn_model_free(mf);
  }
  tu_rm_tree(dir);
  free(dir);
}

/* ---- libnn -> PyTorch ------------------------------------------------------------------ */

static void test_libnn_files_load_in_torch(void **state) {
  (void)state;
  if (PF_N_LIBNN_MODELS == 0) {
    print_message("no libnn-saved fixtures yet (see make_safetensors_fixtures.py)\n");
    skip();
  }
  for (int i = 0; i < PF_N_LIBNN_MODELS; i++) {
    const pf_model *f = &pf_libnn_models[i];
    nn_model *m;
    if (!strcmp(f->name, "libnn_f32")) {
      m = known_model();
    } else {
      assert_string_equal(f->name, "libnn_f64");
      const pf_model *t = torch_fixture("torch_f64");
      m = load_buf(t->bytes, t->nbytes);
    }
    /* libnn still writes exactly the bytes PyTorch was shown to load */
    size_t n = 0;
    unsigned char *b = tu_save_model(m, &n);
    assert_int_equal(n, f->nbytes);
    assert_memory_equal(b, f->bytes, n);
    free(b);
    nn_model_free(m);

    /* and loading them predicts what PyTorch predicted from them */
    m = load_buf(f->bytes, f->nbytes);
    nn_dtype dt = f->f64 ? NN_F64 : NN_F32;
    assert_int_equal(nn_model_dtype(m), dt);
    int64_t cnt = 0;
    double *y = predict(m, dt, f->n, f->n_in, f->x, &cnt);
    assert_int_equal(cnt, (int64_t)f->n * f->n_out);
    tu_assert_close(y, f->y, cnt, f->f64 ? 1e-12 : f32_rtol(), f->f64 ? 1e-13 : 1e-6, f->name);
    free(y);
    nn_model_free(m);
  }
}

/* ---- round trips ----------------------------------------------------------------------- */

static void check_round_trip(nn_model *m, int n_in, const char *ctx, const char *dir) {
  size_t n1 = 0, n2 = 0, n3 = 0;
  unsigned char *b1 = tu_save_model(m, &n1);
  /* layout: little-endian header length, header padded to 8 bytes, '{' first */
  uint64_t hl = 0;
  for (int i = 7; i >= 0; i--) hl = (hl << 8) | b1[i];
  assert_true(hl % 8 == 0 && 8 + hl <= n1);
  assert_int_equal(b1[8], '{');

  nn_model *m2 = load_buf(b1, n1);
  assert_int_equal(nn_model_num_layers(m2), nn_model_num_layers(m));
  assert_int_equal(nn_model_num_params(m2), nn_model_num_params(m));
  assert_int_equal(nn_model_dtype(m2), nn_model_dtype(m));
  unsigned char *b2 = tu_save_model(m2, &n2);
  if (n1 != n2 || memcmp(b1, b2, n1) != 0) fail_msg("%s: save -> load -> save is not byte-identical", ctx);

  /* parameters and predictions bit-identical */
  for (int i = 0; i < nn_model_num_layers(m); i++) {
    nn_layer *la = NULL, *lb = NULL;
    TU_OK(nn_model_layer(m, i, &la));
    TU_OK(nn_model_layer(m2, i, &lb));
    assert_int_equal(nn_layer_kind_of(la), nn_layer_kind_of(lb));
  }
  if (n_in > 0) {
    nn_dtype dt = nn_model_dtype(m);
    double x[7 * 16];
    known_inputs(x, 7 * n_in);
    int64_t c1 = 0, c2 = 0;
    double *y1 = predict(m, dt, 7, n_in, x, &c1);
    double *y2 = predict(m2, dt, 7, n_in, x, &c2);
    assert_int_equal(c1, c2);
    assert_bits_equal(y1, y2, c1, ctx);
    free(y1);
    free(y2);
  }

  /* the file holds the buffer's bytes, and loads to the same model */
  char path[4096];
  snprintf(path, sizeof path, "%s/rt.safetensors", dir);
  TU_OK(nn_model_save(m, path));
  unsigned char *fb = tu_read_file(path, &n3);
  assert_non_null(fb);
  if (n3 != n1 || memcmp(fb, b1, n1) != 0) fail_msg("%s: the file differs from the buffer", ctx);
  nn_model *m3 = NULL;
  TU_OK(nn_model_load(path, tu_device(), &m3));
  free(b2);
  b2 = tu_save_model(m3, &n2);
  if (n1 != n2 || memcmp(b1, b2, n1) != 0) fail_msg("%s: file load -> save is not byte-identical", ctx);
  free(fb);
  free(b1);
  free(b2);
  nn_model_free(m2);
  nn_model_free(m3);
}

static void test_round_trips(void **state) {
  (void)state;
  char *dir = tu_make_tmpdir("nn_persist_");
  nn_model *m = known_model();
  check_round_trip(m, 3, "known model", dir);
  nn_model_free(m);

  for (int i = 0; i < PF_N_TORCH_MODELS; i++) {
    const pf_model *f = &pf_torch_models[i];
    m = load_buf(f->bytes, f->nbytes);
    check_round_trip(m, f->n_in, f->name, dir);  /* F64 included */
    nn_model_free(m);
  }

  const int64_t sizes[] = {16, 9, 7, 1};
  m = NULL;
  TU_OK(nn_model_mlp(4, sizes, NN_ACT_RELU, NN_ACT_SIGMOID, &m));
  TU_OK(nn_model_to(m, tu_device()));
  TU_OK(nn_model_init(m, NN_INIT_HE_NORMAL, 7));
  check_round_trip(m, 16, "mlp 16-9-7-1", dir);
  nn_model_free(m);

  /* an empty model and one without parameters */
  m = empty_model();
  check_round_trip(m, 0, "empty model", dir);
  nn_layer *l = NULL;
  TU_OK(nn_layer_activation(NN_ACT_TANH, &l));
  TU_OK(nn_model_add(m, l));
  check_round_trip(m, 3, "activation only", dir);
  nn_model_free(m);

  /* a trained model: parameters are not short decimals any more */
  m = NULL;
  const int64_t xs[] = {2, 3, 1};
  TU_OK(nn_model_mlp(3, xs, NN_ACT_TANH, NN_ACT_SIGMOID, &m));
  TU_OK(nn_model_to(m, tu_device()));
  nn_optimizer *opt = NULL;
  TU_OK(nn_optimizer_adam(m, 0.05, 0.9, 0.999, 1e-8, 0.0, false, &opt));
  const double xv[] = {0, 0, 0, 1, 1, 0, 1, 1}, yv[] = {0, 1, 1, 0};
  int64_t s1[] = {4, 2}, s2[] = {4, 1};
  nn_tensor *tx = tu_make(NN_F32, 2, s1, xv), *ty = tu_make(NN_F32, 2, s2, yv);
  for (int it = 0; it < 20; it++) {
    TU_OK(nn_optimizer_zero_grad(opt));
    double loss = 0;
    TU_OK(nn_model_backward(m, tx, ty, NN_LOSS_BCE, &loss));
    TU_OK(nn_optimizer_step(opt));
  }
  nn_optimizer_free(opt);
  check_round_trip(m, 2, "trained xor", dir);
  nn_tensor_free(tx);
  nn_tensor_free(ty);
  nn_model_free(m);
  tu_rm_tree(dir);
  free(dir);
}

static void test_save_buffer_contract(void **state) {
  (void)state;
  nn_model *m = known_model();
  size_t need = 0;
  TU_OK(nn_model_save_buffer(m, NULL, 0, &need));
  TU_OK(nn_model_save_buffer(m, NULL, 0, NULL));
  unsigned char *b = malloc(need + 8);
  assert_non_null(b);
  memset(b, 0xab, need + 8);
  size_t got = 0;
  TU_ERR(nn_model_save_buffer(m, b, need - 1, &got), NN_ERR_INVALID_ARGUMENT, "nn_model_save_buffer", "cap");
  assert_int_equal(got, need);
  assert_int_equal(b[0], 0xab); /* nothing written */
  TU_ERR(nn_model_save_buffer(NULL, b, need, &got), NN_ERR_INVALID_ARGUMENT, "nn_model_save_buffer", NULL);
  TU_ERR(nn_model_save_buffer(m, NULL, need, &got), NN_ERR_INVALID_ARGUMENT, "nn_model_save_buffer", "buf");
  TU_OK(nn_model_save_buffer(m, b, need + 8, &got));
  assert_int_equal(got, need);
  assert_int_equal(b[need], 0xab); /* not past the model */
  /* tensors in offset order: 0.weight, 0.bias, 2.weight, 4.weight, ... */
  uint64_t hl = 0;
  for (int i = 7; i >= 0; i--) hl = (hl << 8) | b[i];
  char *h = malloc(hl + 1);
  assert_non_null(h);
  memcpy(h, b + 8, hl);
  h[hl] = '\0';
  const char *order[] = {"\"0.weight\"", "\"0.bias\"", "\"2.weight\"", "\"4.weight\"", "\"4.bias\"",
                         "\"6.weight\"", "\"6.bias\"", "\"8.weight\"", "\"8.bias\""};
  const char *prev = h;
  for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
    const char *p = strstr(h, order[i]);
    assert_non_null(p);
    assert_true(p >= prev);
    prev = p;
  }
  assert_null(strstr(h, "\"2.bias\""));
  assert_non_null(strstr(h, "\"nn.architecture\""));
  free(h);
  free(b);

  TU_ERR(nn_model_save(NULL, "x.safetensors"), NN_ERR_INVALID_ARGUMENT, "nn_model_save", NULL);
  TU_ERR(nn_model_save(m, NULL), NN_ERR_INVALID_ARGUMENT, "nn_model_save", "path");
  TU_ERR(nn_model_save(m, ""), NN_ERR_IO, "nn_model_save", NULL);
  nn_model_free(m);
}

static void test_load_arguments_and_devices(void **state) {
  (void)state;
  const pf_model *f = &pf_torch_models[0];
  nn_model *m = (nn_model *)TU_SENTINEL;
  TU_ERR(nn_model_load_buffer(NULL, 16, tu_device(), &m), NN_ERR_INVALID_ARGUMENT, "nn_model_load_buffer", "buf");
  TU_ERR(nn_model_load_buffer(f->bytes, f->nbytes, tu_device(), NULL), NN_ERR_INVALID_ARGUMENT,
         "nn_model_load_buffer", "out");
  TU_ERR(nn_model_load_buffer(NULL, 0, tu_device(), &m), NN_ERR_FORMAT, "nn_model_load_buffer", "8");
  nn_device bad = {7, 0};
  TU_ERR(nn_model_load_buffer(f->bytes, f->nbytes, bad, &m), NN_ERR_INVALID_ARGUMENT, "nn_model_load_buffer",
         NULL);
  nn_device cpu1 = {NN_CPU, 1};
  TU_ERR(nn_model_load_buffer(f->bytes, f->nbytes, cpu1, &m), NN_ERR_DEVICE, "nn_model_load_buffer", NULL);
  TU_ERR(nn_model_load(NULL, tu_device(), &m), NN_ERR_INVALID_ARGUMENT, "nn_model_load", "path");

  nn_device gpu = {NN_CUDA, 0};
  if (nn_device_count(NN_CUDA) == 0) {
    TU_ERR(nn_model_load_buffer(f->bytes, f->nbytes, gpu, &m), NN_ERR_DEVICE, "nn_model_load_buffer", NULL);
    return;
  }
  /* loading onto a GPU puts the model there; saving it gives the same bytes
   * as the CPU model (explicit devices: this case is about them) */
  for (int i = 0; i < PF_N_TORCH_MODELS; i++) {
    f = &pf_torch_models[i];
    nn_model *g = NULL, *c = NULL;
    TU_OK(nn_model_load_buffer(f->bytes, f->nbytes, tu_cpu(), &c));
    assert_int_equal(nn_model_device(c).type, NN_CPU);
    TU_OK(nn_model_load_buffer(f->bytes, f->nbytes, gpu, &g));
    nn_device d = nn_model_device(g);
    assert_int_equal(d.type, NN_CUDA);
    size_t n1 = 0, n2 = 0;
    unsigned char *b1 = tu_save_model(c, &n1), *b2 = tu_save_model(g, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(b1, b2, n1);
    nn_dtype dt = f->f64 ? NN_F64 : NN_F32;
    int64_t cnt = 0;
    double *y = predict(g, dt, f->n, f->n_in, f->x, &cnt);
    tu_assert_close(y, f->y, cnt, f->f64 ? 1e-12 : 1e-5, f->f64 ? 1e-13 : 1e-6, f->name);
    free(y);
    free(b1);
    free(b2);
    nn_model_free(g);
    nn_model_free(c);
  }
}

/* ---- files: missing, not regular, atomic replace ---------------------------------------- */

static void test_load_file_errors(void **state) {
  (void)state;
  char *dir = tu_make_tmpdir("nn_persist_");
  char path[4096];
  nn_model *m = NULL;
  snprintf(path, sizeof path, "%s/missing.safetensors", dir);
  TU_ERR(nn_model_load(path, tu_device(), &m), NN_ERR_IO, "nn_model_load", "missing.safetensors");
  TU_ERR(nn_model_load(dir, tu_device(), &m), NN_ERR_IO, "nn_model_load", NULL);  /* a folder */
  /* a FIFO without a writer: refused at once, not waited on */
  snprintf(path, sizeof path, "%s/fifo", dir);
  assert_int_equal(mkfifo(path, 0600), 0);
  TU_ERR(nn_model_load(path, tu_device(), &m), NN_ERR_IO, "nn_model_load", "not a regular file");
  TU_ERR(nn_model_load("/dev/null", tu_device(), &m), NN_ERR_IO, "nn_model_load", "not a regular file");
  snprintf(path, sizeof path, "%s/empty.safetensors", dir);
  tu_write_file(path, "", 0);
  TU_ERR(nn_model_load(path, tu_device(), &m), NN_ERR_FORMAT, "nn_model_load", "8-byte");
  snprintf(path, sizeof path, "%s/bad.safetensors", dir);
  tu_write_file(path, pf_torch_models[0].bytes, pf_torch_models[0].nbytes - 1);
  TU_ERR(nn_model_load(path, tu_device(), &m), NN_ERR_FORMAT, "nn_model_load", NULL);
  assert_null(m);
  tu_rm_tree(dir);
  free(dir);
}

static void assert_file_is(const char *path, const unsigned char *b, size_t n) {
  size_t got = 0;
  unsigned char *fb = tu_read_file(path, &got);
  assert_non_null(fb);
  assert_int_equal(got, n);
  assert_memory_equal(fb, b, n);
  free(fb);
}

static void test_atomic_save(void **state) {
  (void)state;
  char *dir = tu_make_tmpdir("nn_persist_");
  char path[4096], bad[4096], listing[4096];
  snprintf(path, sizeof path, "%s/model.safetensors", dir);

  nn_model *small = empty_model();
  nn_model *big = known_model();
  size_t ns = 0, nb = 0;
  unsigned char *bs = tu_save_model(small, &ns), *bb = tu_save_model(big, &nb);
  assert_true(nb > ns + 64);

  TU_OK(nn_model_save(small, path));
  assert_file_is(path, bs, ns);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_true((st.st_mode & 0444) == 0444); /* readable, like a normal new file */

  /* replacing works and leaves nothing else behind */
  TU_OK(nn_model_save(big, path));
  assert_file_is(path, bb, nb);
  TU_OK(nn_model_save(small, path));
  assert_file_is(path, bs, ns);
  list_dir(dir, listing, sizeof listing);
  assert_string_equal(listing, "model.safetensors");

  /* a folder that does not exist */
  snprintf(bad, sizeof bad, "%s/no/such/folder/model.safetensors", dir);
  TU_ERR(nn_model_save(big, bad), NN_ERR_IO, "nn_model_save", "model.safetensors");
  /* the path names an existing folder */
  snprintf(bad, sizeof bad, "%s/sub", dir);
  assert_int_equal(mkdir(bad, 0755), 0);
  TU_ERR(nn_model_save(big, bad), NN_ERR_IO, "nn_model_save", "sub");
  /* the existing file used as a folder */
  snprintf(bad, sizeof bad, "%s/model.safetensors/", dir);
  TU_ERR(nn_model_save(big, bad), NN_ERR_IO, "nn_model_save", NULL);
  snprintf(bad, sizeof bad, "%s/model.safetensors/x.safetensors", dir);
  TU_ERR(nn_model_save(big, bad), NN_ERR_IO, "nn_model_save", NULL);
  assert_file_is(path, bs, ns);
  list_dir(dir, listing, sizeof listing);
  assert_string_equal(listing, "model.safetensors|sub");
  snprintf(bad, sizeof bad, "%s/sub", dir);
  list_dir(bad, listing, sizeof listing);
  assert_string_equal(listing, "");
  free(bs);
  free(bb);
  nn_model_free(small);
  nn_model_free(big);
  tu_rm_tree(dir);
  free(dir);
}

/* Saving over the file fails half-way through writing the temporary file
 * (the process's file size limit, which stops root too): the old file stays
 * and the temporary file is removed. */
static void test_atomic_save_write_failure(void **state) {
  (void)state;
  char *dir = tu_make_tmpdir("nn_persist_");
  char path[4096], listing[4096];
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  nn_model *small = empty_model();
  nn_model *big = known_model();
  size_t ns = 0, nb = 0;
  unsigned char *bs = tu_save_model(small, &ns), *bb = tu_save_model(big, &nb);
  TU_OK(nn_model_save(small, path));

  struct rlimit old, lim;
  assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
  lim = old;
  lim.rlim_cur = (rlim_t)(nb / 2);
  void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
  nn_status st = nn_model_save(big, path);
  char msg[1024];
  snprintf(msg, sizeof msg, "%s", nn_last_error());
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
  signal(SIGXFSZ, prev);
  if (st != NN_ERR_IO) fail_msg("expected NN_ERR_IO, got %d: %s", (int)st, msg);
  assert_non_null(strstr(msg, "nn_model_save"));
  assert_file_is(path, bs, ns);
  list_dir(dir, listing, sizeof listing);
  assert_string_equal(listing, "model.safetensors");

  TU_OK(nn_model_save(big, path)); /* and without the limit it works */
  assert_file_is(path, bb, nb);
  free(bs);
  free(bb);
  nn_model_free(small);
  nn_model_free(big);
  tu_rm_tree(dir);
  free(dir);
}

/* ---- trust nothing -------------------------------------------------------------------- */

/* 8-byte little-endian header length, header (padded with spaces to 8 unless
 * pad is 0), then `data` bytes 0x00..; malloc'd, exactly *len bytes. */
static unsigned char *mk(const char *header, size_t data, int pad, size_t *len) {
  size_t h = strlen(header), hp = pad ? (h + 7) / 8 * 8 : h;
  *len = 8 + hp + data;
  unsigned char *b = malloc(*len ? *len : 1);
  assert_non_null(b);
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hp >> (8 * i));
  memcpy(b + 8, header, h);
  memset(b + 8 + h, ' ', hp - h);
  for (size_t i = 0; i < data; i++) b[8 + hp + i] = (unsigned char)(i * 7);
  return b;
}

#define ARCH(s) "\"__metadata__\":{\"nn.architecture\":\"" s "\"}"
#define LIN(i, o, b) "{\\\"type\\\":\\\"linear\\\",\\\"in\\\":" #i ",\\\"out\\\":" #o ",\\\"bias\\\":" #b "}"
#define ACT(a) "{\\\"type\\\":\\\"activation\\\",\\\"act\\\":\\\"" a "\\\"}"
#define META ARCH("[" LIN(2, 1, true) "]")
#define T(name, dt, shape, b, e) "\"" name "\":{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}"
#define W T("0.weight", "F32", "[1,2]", 0, 8)
#define B T("0.bias", "F32", "[1]", 8, 12)

typedef struct bad_case {
  const char *header;
  size_t data;
  const char *want; /* substring of the message */
} bad_case;

static const bad_case kBad[] = {
    /* JSON and UTF-8 */
    {"{\"__metadata__\xff\":{}}", 0, "UTF-8"},
    {"{" META "," W ",\"0.b\xc3\x28ias\":{}}", 12, "UTF-8"},
    {"{" META "," W ",\"0.bias\xed\xa0\x80\":{}}", 12, "UTF-8"}, /* encoded surrogate */
    {"{" META "," W ",\"0.bias\xc0\xaf\":{}}", 12, "UTF-8"},     /* overlong */
    {"{" META "," W "," B, 12, "invalid JSON"},
    {"{" META "," W "," B ",}", 12, "invalid JSON"},
    {"{" META "," W "," B "}x", 12, "unexpected data after"},
    {"{" META ";" W "," B "}", 12, "invalid JSON"},
    {"{" META "," W ",\"0.bias\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[08,12]}}", 12, "invalid JSON"},
    {"{" META "," W ",\"0.bias\":{\"dtype\":\"F\\x32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12, "invalid escape"},
    {"{" META "," W ",\"0.bias\\ud800\":{}}", 12, "surrogate"},
    {"{" META "," W ",\"0.bias\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]},\"x\":tru}", 12, "invalid literal"},
    {"{" META "," W "," B ",\"0.weight\":{}}", 12, "duplicate key \"0.weight\""},
    {"{" META "," W "," B "," META "}", 12, "duplicate key \"__metadata__\""},
    /* entries */
    {"{" META "," W ",\"0.bias\":5}", 12, "entry \"0.bias\" is not an object"},
    {"{" META "," W ",\"0.bias\":{\"dtype\":5,\"shape\":[1],\"data_offsets\":[8,12]}}", 12, "no string dtype"},
    {"{" META "," W ",\"0.bias\":{\"dtype\":\"F32\",\"data_offsets\":[8,12]}}", 12, "no shape array"},
    {"{" META "," W ",\"0.bias\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8]}}", 12, "data_offsets"},
    {"{" META "," W ",\"0.bias\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12],\"x\":1}}", 12, "keys other than"},
    {"{" META "," W "," T("0.bias", "F31", "[1]", 8, 12) "}", 12, "unknown dtype \"F31\""},
    {"{" META "," W "," T("0.bias", "f32", "[1]", 8, 12) "}", 12, "unknown dtype \"f32\""},
    {"{" META "," W "," T("0.bias", "F32", "[-1]", 8, 12) "}", 12, "not a non-negative integer"},
    {"{" META "," W "," T("0.bias", "F32", "[1.0]", 8, 12) "}", 12, "not a non-negative integer"},
    {"{" META "," W "," T("0.bias", "F32", "[1e0]", 8, 12) "}", 12, "not a non-negative integer"},
    {"{" META "," W "," T("0.bias", "F32", "[\"1\"]", 8, 12) "}", 12, "not a non-negative integer"},
    {"{" META "," W "," T("0.bias", "F32", "[9223372036854775808]", 8, 12) "}", 12, "not a non-negative integer"},
    {"{" META "," W "," T("0.bias", "F32", "[1,1,1,1,1,1,1,1,1]", 8, 12) "}", 12, "9 dimensions"},
    {"{" META "," W "," T("0.bias", "F32", "[4294967296,4294967296,16]", 8, 12) "}", 12, "more than 2^64"},
    {"{" META "," W "," T("0.bias", "F64", "[2305843009213693952]", 8, 12) "}", 12, "more than 2^64"},
    {"{" META "," W "," T("0.bias", "F32", "[4611686018427387904]", 0, 0) "}", 12, "more than 2^64"},
    {"{" META "," W "," T("0.bias", "F32", "[1]", 8, 18446744073709551616) "}", 12, "not non-negative integers"},
    {"{" META "," W "," T("0.bias", "F32", "[1]", 8, -12) "}", 12, "not non-negative integers"},
    /* offsets and sizes */
    {"{" META "," T("0.weight", "F32", "[1,2]", 4, 12) "," T("0.bias", "F32", "[1]", 12, 16) "}", 16, "starts at byte 4, expected 0"},
    {"{" META "," W "," T("0.bias", "F32", "[1]", 12, 16) "}", 16, "starts at byte 12, expected 8"},
    {"{" META "," W "," T("0.bias", "F32", "[1]", 4, 8) "}", 12, "starts at byte 4, expected 8"},
    {"{" META "," W "," T("0.bias", "F32", "[1]", 0, 4) "}", 12, "\"0.weight\" starts at byte 0, expected 4"},
    {"{" META "," W "," T("0.bias", "F32", "[1]", 12, 8) "}", 12, "END 8 < BEGIN 12"},
    {"{" META "," W "," B "}", 16, "end at byte 12 of a 16-byte data section"},
    {"{" META "," W "," B "}", 11, "end at byte 12 of a 11-byte data section"},
    {"{" META "," W "," B "}", 0, "end at byte 12 of a 0-byte data section"},
    {"{" META "," T("0.weight", "F32", "[1,3]", 0, 8) "," B "}", 12, "has 8 bytes but its shape and dtype F32 need 12"},
    {"{" META "," T("0.weight", "F64", "[1,2]", 0, 8) "," B "}", 12, "need 16"},
    /* metadata and architecture */
    {"{\"__metadata__\":[]," W "," B "}", 12, "__metadata__ is not an object"},
    {"{\"__metadata__\":{\"nn.architecture\":[]}," W "," B "}", 12, "__metadata__ value \"nn.architecture\" is not a string"},
    {"{\"__metadata__\":{\"format\":\"pt\",\"n\":1}," W "," B "}", 12, "__metadata__ value \"n\" is not a string"},
    {"{\"__metadata__\":{\"format\":\"pt\"}," W "," B "}", 12, "no \"nn.architecture\""},
    {"{" W "," B "}", 12, "no \"nn.architecture\""},
    {"{" ARCH("[" LIN(2, 1, true)) "," W "," B "}", 12, "invalid JSON"},
    {"{" ARCH("") "," W "," B "}", 12, "invalid JSON"},
    {"{" ARCH("{}") "," W "," B "}", 12, "not a JSON array"},
    {"{" ARCH("[5]") "," W "," B "}", 12, "layer 0 is not an object"},
    {"{" ARCH("[{}]") "," W "," B "}", 12, "layer 0 is not an object with a string"},
    {"{" ARCH("[{\\\"type\\\":\\\"conv\\\"}]") "," W "," B "}", 12, "unknown type \"conv\""},
    {"{" ARCH("[" LIN(2, 1, true) "," ACT("gelu") "]") "," W "," B "}", 12, "layer 1 (activation) has no known"},
    {"{" ARCH("[" LIN(2, 1, true) ",{\\\"type\\\":\\\"activation\\\"}]") "," W "," B "}", 12, "no known \"act\""},
    {"{" ARCH("[" LIN(0, 1, true) "]") "," W "," B "}", 12, "positive integers"},
    {"{" ARCH("[" LIN(2, -1, true) "]") "," W "," B "}", 12, "positive integers"},
    {"{" ARCH("[" LIN(2, 1.5, true) "]") "," W "," B "}", 12, "positive integers"},
    {"{" ARCH("[{\\\"type\\\":\\\"linear\\\",\\\"out\\\":1}]") "," W "," B "}", 12, "positive integers"},
    {"{" ARCH("[" LIN(2, 1, 1) "]") "," W "," B "}", 12, "\"bias\" that is not true/false"},
    {"{" ARCH("[" LIN(2, 1, true) "," LIN(3, 1, true) "]") "," W "," B "}", 12, "layer 1 takes 3 inputs but the previous linear layer gives 1"},
    {"{" ARCH("[" LIN(2, 1, true) "," ACT("relu") "," LIN(1, 1, false) "]") "," W "," B "}", 12, "tensor \"2.weight\" required by nn.architecture is missing"},
    {"{" META "," T("0.Weight", "F32", "[1,2]", 0, 8) "," B "}", 12, "tensor \"0.weight\" required"},
    {"{" META "," W "," T("1.bias", "F32", "[1]", 8, 12) "}", 12, "tensor \"0.bias\" required"},
    {"{" ARCH("[" LIN(2, 1, false) "]") "," W "," B "}", 12, "tensor \"0.bias\" does not belong"},
    {"{" META "," W "," B "," T("extra", "F32", "[1]", 12, 16) "}", 16, "tensor \"extra\" does not belong"},
    {"{" META "," W "," B "," T("1.weight", "F32", "[0]", 12, 12) "}", 12, "tensor \"1.weight\" does not belong"},
    {"{" META "," T("0.weight", "I32", "[1,2]", 0, 8) "," B "}", 12, "dtype I32; parameters must be F32, F64, F16 or BF16"},
    {"{" META "," W "," T("0.bias", "U8", "[4]", 8, 12) "}", 12, "dtype U8"},
    {"{" META "," T("0.weight", "F32", "[2,1]", 0, 8) "," B "}", 12, "has shape [2, 1] but nn.architecture needs [1, 2]"},
    {"{" META "," T("0.weight", "F32", "[2]", 0, 8) "," B "}", 12, "but nn.architecture needs [1, 2]"},
    {"{" META "," T("0.weight", "F32", "[1,1,2]", 0, 8) "," B "}", 12, "but nn.architecture needs [1, 2]"},
    {"{" META "," W "," T("0.bias", "F32", "[1,1]", 8, 12) "}", 12, "but nn.architecture needs [1]"},
    {"{" META "," W "," T("0.bias", "F32", "[]", 8, 12) "}", 12, "but nn.architecture needs [1]"},
};

static void expect_format(const unsigned char *b, size_t n, const char *want, const char *ctx) {
  nn_model *m = NULL;
  nn_status st = nn_model_load_buffer(b, n, tu_device(), &m);
  const char *msg = nn_last_error();
  if (st != NN_ERR_FORMAT)
    fail_msg("%s: expected NN_ERR_FORMAT, got %d (%s)", ctx, (int)st, st == NN_OK ? "loaded" : msg);
  if (m != NULL) fail_msg("%s: out was set on failure", ctx);
  if (strncmp(msg, "nn_model_load_buffer", 20) != 0 || (want && !strstr(msg, want)))
    fail_msg("%s: message \"%s\" should name \"%s\"", ctx, msg, want ? want : "");
}

static void test_corrupt_headers(void **state) {
  (void)state;
  /* the base case is valid, padded or not */
  size_t n = 0;
  unsigned char *b;
  for (int pad = 0; pad < 2; pad++) {
    b = mk("{" META "," W "," B "}", 12, pad, &n);
    nn_model_free(load_buf(b, n));
    free(b);
  }
  for (size_t i = 0; i < sizeof kBad / sizeof kBad[0]; i++) {
    b = mk(kBad[i].header, kBad[i].data, 1, &n);
    char ctx[64];
    snprintf(ctx, sizeof ctx, "kBad[%zu]", i);
    expect_format(b, n, kBad[i].want, ctx);
    free(b);
  }
  /* deep nesting is refused before it can exhaust the stack */
  const int depths[] = {60, 70, 300000};
  for (int k = 0; k < 3; k++) {
    int d = depths[k];
    char *h = malloc((size_t)d * 2 + 16);
    assert_non_null(h);
    strcpy(h, "{\"a\":");
    memset(h + 5, '[', (size_t)d);
    memset(h + 5 + d, ']', (size_t)d);
    strcpy(h + 5 + 2 * d, "}");
    b = mk(h, 0, 1, &n);
    expect_format(b, n, d < 64 ? "entry \"a\" is not an object" : "nesting too deep", "nesting");
    free(b);
    free(h);
  }
}

/* Valid variations that must load: PyTorch and other writers differ. */
static void test_header_variations_load(void **state) {
  (void)state;
  const char *ok[] = {
      "{" META "," W "," B "}",
      "{" W "," B "," META "}",                                   /* metadata last */
      "{" B "," META "," W "}",                                   /* tensors out of offset order */
      "{ \n\t" META " ,\r\n " W " , " B " \n}\n ",                /* JSON whitespace */
      "{" META ",\"0.weight\":{\"data_offsets\":[0,8],\"shape\":[1,2],\"dtype\":\"F32\"}," B "}", /* key order */
      "{\"__metadata__\":{\"format\":\"pt\",\"nn.architecture\":\"[" LIN(2, 1, true) "]\",\"\\u00e9\":\"\\ud83d\\ude00\"}," W "," B "}",
      "{" ARCH(" [ " LIN(2, 1, true) " ] ") "," W "," B "}",
      "{" ARCH("[{\\\"type\\\":\\\"linear\\\",\\\"in\\\":2,\\\"out\\\":1}]") "," W "," B "}", /* bias defaults to true */
      "{" ARCH("[{\\\"type\\\":\\\"linear\\\",\\\"in\\\":2,\\\"out\\\":1,\\\"bias\\\":true,\\\"note\\\":null}]") "," W "," B "}",
      "{" ARCH("[" LIN(2, 1, true) "," ACT("step") "," ACT("identity") "]") "," W "," B "}",
      "{" ARCH("[" LIN(2, 1, false) "]") "," W "}",
      "{" META "," T("0.weight", "F16", "[1,2]", 0, 4) "," T("0.bias", "BF16", "[1]", 4, 6) "}",
      "{" META "," T("0.weight", "F64", "[1,2]", 0, 16) "," T("0.bias", "F32", "[1]", 16, 20) "}",
  };
  const size_t data[] = {12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 8, 6, 20};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    for (int pad = 0; pad < 2; pad++) {
      size_t n = 0;
      unsigned char *b = mk(ok[i], data[i], pad, &n);
      nn_model *m = NULL;
      nn_status st = nn_model_load_buffer(b, n, tu_device(), &m);
      if (st != NN_OK) fail_msg("ok[%zu] pad %d: status %d: %s", i, pad, (int)st, nn_last_error());
      nn_model_free(m);
      free(b);
    }
  }
  /* F64 first parameter: the model is F64 */
  size_t n = 0;
  unsigned char *b = mk(ok[12], 20, 1, &n);
  nn_model *m = load_buf(b, n);
  assert_int_equal(nn_model_dtype(m), NN_F64);
  nn_model_free(m);
  free(b);
}

static void test_corrupt_prefix(void **state) {
  (void)state;
  const pf_model *f = &pf_torch_models[0];
  unsigned char *b = malloc(f->nbytes);
  assert_non_null(b);
  for (size_t n = 0; n < 8; n++) {
    memcpy(b, f->bytes, n);
    expect_format(n ? b : NULL, n, "shorter than the 8-byte header length", "short");
  }
  const uint64_t lens[] = {100000001ull, 0xffffffffffffffffull, 0x8000000000000000ull, 1ull << 32};
  for (size_t i = 0; i < 4; i++) {
    memcpy(b, f->bytes, f->nbytes);
    for (int k = 0; k < 8; k++) b[k] = (unsigned char)(lens[i] >> (8 * k));
    expect_format(b, f->nbytes, "exceeds the limit of 100000000 bytes", "huge header length");
  }
  const uint64_t past[] = {100000000ull, f->nbytes - 7, f->nbytes - 8 + 1};
  for (size_t i = 0; i < 3; i++) {
    memcpy(b, f->bytes, f->nbytes);
    for (int k = 0; k < 8; k++) b[k] = (unsigned char)(past[i] >> (8 * k));
    expect_format(b, f->nbytes, "runs past the end of the data", "header past the end");
  }
  memcpy(b, f->bytes, f->nbytes);
  for (int k = 0; k < 8; k++) b[k] = 0;
  expect_format(b, f->nbytes, "does not start with '{'", "empty header");
  memcpy(b, f->bytes, f->nbytes);
  b[8] = ' ';
  expect_format(b, f->nbytes, "does not start with '{'", "leading space");
  memcpy(b, f->bytes, f->nbytes);
  b[8] = '[';
  expect_format(b, f->nbytes, "does not start with '{'", "array header");
  free(b);
}

/* Big hostile headers are refused quickly and without memory blow-up (the
 * JSON parser caps the number of values); big honest models still load. */
static void test_large_headers(void **state) {
  (void)state;
  const size_t nv = 4000000; /* an 8 MB header of "0," */
  for (int mode = 0; mode < 2; mode++) {
    char *h = malloc(nv * 2 + 128);
    assert_non_null(h);
    size_t k = (size_t)sprintf(h, mode == 0 ? "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,0],\"shape\":["
                                            : "{\"__metadata__\":{\"nn.architecture\":\"[");
    for (size_t i = 0; i < nv; i++) {
      h[k++] = '0';
      h[k++] = ',';
    }
    strcpy(h + k - 1, mode == 0 ? "]}}" : "]\"}}");
    size_t n = 0;
    unsigned char *b = mk(h, 0, 1, &n);
    expect_format(b, n, "more than 200000 values", mode == 0 ? "huge shape" : "huge architecture");
    free(b);
    free(h);
  }

  /* 1500 Linear(2, 2) + ReLU pairs: 3000 layers, 3000 tensors */
  nn_model *m = NULL;
  TU_OK(nn_model_create(&m));
  for (int i = 0; i < 1500; i++) {
    nn_layer *l = NULL;
    TU_OK(nn_layer_linear(2, 2, true, &l));
    TU_OK(nn_model_add(m, l));
    TU_OK(nn_layer_activation(NN_ACT_RELU, &l));
    TU_OK(nn_model_add(m, l));
  }
  TU_OK(nn_model_to(m, tu_device()));
  char *dir = tu_make_tmpdir("nn_persist_");
  check_round_trip(m, 2, "3000 layers", dir);
  tu_rm_tree(dir);
  free(dir);
  nn_model_free(m);
}

/* Every truncation of valid files fails cleanly (the last tensor must end at
 * the end of the file), each tried in a buffer of exactly that size. */
static void test_truncation_everywhere(void **state) {
  (void)state;
  for (int i = 0; i < PF_N_TORCH_MODELS; i++) {
    const pf_model *f = &pf_torch_models[i];
    for (size_t n = 0; n < f->nbytes; n++) {
      unsigned char *b = malloc(n ? n : 1);
      assert_non_null(b);
      memcpy(b, f->bytes, n);
      char ctx[96];
      snprintf(ctx, sizeof ctx, "%s truncated to %zu bytes", f->name, n);
      expect_format(b, n, NULL, ctx);
      free(b);
    }
  }
}

/* Deterministic random corruption: flips, byte stores and ASCII mutations
 * in the header; the load answers OK or FORMAT, and a loaded model works. */
static void test_random_corruption(void **state) {
  (void)state;
  tu_rng r = tu_rng_make(20240531);
  const char ascii[] = "{}[]\",:0123456789.-eE \\u tfn";
  int ok = 0, bad = 0;
  for (int it = 0; it < 4000; it++) {
    const pf_model *f = &pf_torch_models[it % PF_N_TORCH_MODELS];
    unsigned char *b = malloc(f->nbytes);
    assert_non_null(b);
    memcpy(b, f->bytes, f->nbytes);
    uint64_t hl = 0;
    for (int k = 7; k >= 0; k--) hl = (hl << 8) | b[k];
    int edits = (int)tu_rng_int(&r, 1, 4);
    for (int e = 0; e < edits; e++) {
      size_t pos;
      int kind = (int)tu_rng_int(&r, 0, 9);
      if (kind < 7) pos = 8 + (size_t)tu_rng_int(&r, 0, (int64_t)hl - 1);  /* header */
      else pos = (size_t)tu_rng_int(&r, 0, (int64_t)f->nbytes - 1);       /* anywhere */
      if (kind < 3) b[pos] = (unsigned char)ascii[tu_rng_int(&r, 0, (int64_t)sizeof ascii - 2)];
      else if (kind < 6) b[pos] ^= (unsigned char)(1u << tu_rng_int(&r, 0, 7));
      else b[pos] = (unsigned char)tu_rng_int(&r, 0, 255);
    }
    nn_model *m = NULL;
    nn_status st = nn_model_load_buffer(b, f->nbytes, tu_device(), &m);
    if (st == NN_OK) {
      ok++;
      size_t n1 = 0, n2 = 0;
      unsigned char *b1 = tu_save_model(m, &n1);
      nn_model *m2 = load_buf(b1, n1);
      unsigned char *b2 = tu_save_model(m2, &n2);
      assert_int_equal(n1, n2);
      assert_memory_equal(b1, b2, n1);
      free(b1);
      free(b2);
      nn_model_free(m2);
      nn_model_free(m);
    } else {
      bad++;
      if (st != NN_ERR_FORMAT) fail_msg("iteration %d: status %d: %s", it, (int)st, nn_last_error());
      assert_null(m);
      assert_true(strlen(nn_last_error()) > 20);
    }
    free(b);
  }
  print_message("random corruption: %d loaded, %d rejected\n", ok, bad);
  assert_true(bad > 1000);
}

int main(void) {
  nn_set_num_threads(1);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_write_fixtures),
      cmocka_unit_test(test_torch_files_predict_like_torch),
      cmocka_unit_test(test_libnn_files_load_in_torch),
      cmocka_unit_test(test_round_trips),
      cmocka_unit_test(test_save_buffer_contract),
      cmocka_unit_test(test_load_arguments_and_devices),
      cmocka_unit_test(test_load_file_errors),
      cmocka_unit_test(test_atomic_save),
      cmocka_unit_test(test_atomic_save_write_failure),
      cmocka_unit_test(test_corrupt_headers),
      cmocka_unit_test(test_header_variations_load),
      cmocka_unit_test(test_corrupt_prefix),
      cmocka_unit_test(test_large_headers),
      cmocka_unit_test(test_truncation_everywhere),
      cmocka_unit_test(test_random_corruption),
  };
  return tu_run_group(tests);
}
