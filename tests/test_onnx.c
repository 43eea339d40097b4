/* ONNX export and import (nn.h group "onnx"): round trips through a file,
 * the graphs torch.onnx.export writes (fixtures), graphs built here byte by
 * byte with a small protobuf writer (every accepted form, every refusal),
 * and hostile files: each with its exact status and message fragments.
 *
 * Fixtures: tests/fixtures/onnx/onnx_fixtures.h and the .onnx files next to
 * it, made by tests/fixtures/onnx/make_fixtures.py (PyTorch; not needed
 * here). onnx.checker and onnxruntime check libnn's exports in
 * tests/onnx/check_onnx.py.
 *
 * Device-generic: models are imported onto tu_device() and exported from it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixtures/onnx/onnx_fixtures.h"
#include "test_util.h"

#ifndef NN_ONNX_FIXTURE_DIR
#error "NN_ONNX_FIXTURE_DIR must name tests/fixtures/onnx"
#endif

/* ---- temporary files ------------------------------------------------------------ */

static char g_dir[4096];

static int setup_dir(void **state) {
  (void)state;
  const char *base = getenv("TMPDIR");
  snprintf(g_dir, sizeof g_dir, "%s/nn_onnx_XXXXXX", base && *base ? base : "/tmp");
  return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown_dir(void **state) {
  (void)state;
  tu_rm_tree(g_dir);
  return 0;
}

static const char *tmp_path(const char *name) {
  static char p[8192];
  snprintf(p, sizeof p, "%s/%s", g_dir, name);
  return p;
}

static const char *write_tmp(const char *name, const void *bytes, size_t n) {
  const char *p = tmp_path(name);
  FILE *f = fopen(p, "wb");
  assert_non_null(f);
  if (n) assert_int_equal(fwrite(bytes, 1, n, f), n);
  assert_int_equal(fclose(f), 0);
  return p;
}

/* ---- a protobuf writer ---------------------------------------------------------- */

typedef struct pbuf {
  unsigned char *p;
  size_t n, cap;
} pbuf;

static void pb_raw(pbuf *b, const void *d, size_t n) {
  if (b->n + n > b->cap) {
    b->cap = (b->n + n) * 2 + 64;
    b->p = realloc(b->p, b->cap);
    assert_non_null(b->p);
  }
  if (n) memcpy(b->p + b->n, d, n);
  b->n += n;
}
static void pb_varint(pbuf *b, uint64_t v) {
  unsigned char c;
  while (v >= 0x80) {
    c = (unsigned char)(v | 0x80);
    pb_raw(b, &c, 1);
    v >>= 7;
  }
  c = (unsigned char)v;
  pb_raw(b, &c, 1);
}
static void pb_key(pbuf *b, unsigned f, unsigned w) { pb_varint(b, ((uint64_t)f << 3) | w); }
static void pb_int(pbuf *b, unsigned f, int64_t v) {
  pb_key(b, f, 0);
  pb_varint(b, (uint64_t)v);
}
static void pb_bytes(pbuf *b, unsigned f, const void *d, size_t n) {
  pb_key(b, f, 2);
  pb_varint(b, n);
  pb_raw(b, d, n);
}
static void pb_str(pbuf *b, unsigned f, const char *s) { pb_bytes(b, f, s, strlen(s)); }
static void pb_float(pbuf *b, unsigned f, float v) {
  pb_key(b, f, 5);
  pb_raw(b, &v, 4);
}
/* Appends m as field f and frees it. */
static void pb_msg(pbuf *b, unsigned f, pbuf *m) {
  pb_bytes(b, f, m->p, m->n);
  free(m->p);
  memset(m, 0, sizeof *m);
}

/* TensorProto with float raw_data. */
static pbuf tensor_f32(const char *name, int ndim, const int64_t *dims, const float *v) {
  pbuf t = {0};
  int64_t n = 1;
  for (int i = 0; i < ndim; ++i) {
    pb_int(&t, 1, dims[i]);
    n *= dims[i];
  }
  pb_int(&t, 2, 1);
  pb_str(&t, 8, name);
  pb_bytes(&t, 9, v, (size_t)n * 4);
  return t;
}

/* A graph under construction. */
typedef struct graph {
  pbuf g;
  int64_t opset;
} graph;

/* A node: ins/outs are comma-separated names ("" for an empty name: ",c"). */
static pbuf node(const char *op, const char *name, const char *ins, const char *outs) {
  pbuf n = {0};
  const char *lists[2] = {ins, outs};
  for (int k = 0; k < 2; ++k) {
    const char *s = lists[k];
    while (s && *s) {
      const char *c = strchr(s, ',');
      size_t len = c ? (size_t)(c - s) : strlen(s);
      pb_bytes(&n, k == 0 ? 1 : 2, s, len);
      s = c ? c + 1 : NULL;
    }
  }
  pb_str(&n, 3, name);
  pb_str(&n, 4, op);
  return n;
}
static void attr_i(pbuf *n, const char *name, int64_t v) {
  pbuf a = {0};
  pb_str(&a, 1, name);
  pb_int(&a, 3, v);
  pb_int(&a, 20, 2);
  pb_msg(n, 5, &a);
}
static void attr_f(pbuf *n, const char *name, float v) {
  pbuf a = {0};
  pb_str(&a, 1, name);
  pb_float(&a, 2, v);
  pb_int(&a, 20, 1);
  pb_msg(n, 5, &a);
}
static void attr_t(pbuf *n, const char *name, pbuf *t) {
  pbuf a = {0};
  pb_str(&a, 1, name);
  pb_msg(&a, 5, t);
  pb_int(&a, 20, 4);
  pb_msg(n, 5, &a);
}
static void g_node(graph *g, pbuf *n) { pb_msg(&g->g, 1, n); }
static void g_init(graph *g, pbuf *t) { pb_msg(&g->g, 5, t); }
static void g_f32(graph *g, const char *name, int ndim, const int64_t *dims, const float *v) {
  pbuf t = tensor_f32(name, ndim, dims, v);
  g_init(g, &t);
}
/* ValueInfoProto [batch, features] (features < 0: symbolic) as input (11) or output (12). */
static void g_value(graph *g, unsigned field, const char *name, int64_t elem, int64_t features) {
  pbuf d0 = {0}, d1 = {0}, shape = {0}, tt = {0}, type = {0}, vi = {0};
  pb_str(&d0, 2, "N");
  if (features >= 0)
    pb_int(&d1, 1, features);
  else
    pb_str(&d1, 2, "F");
  pb_msg(&shape, 1, &d0);
  pb_msg(&shape, 1, &d1);
  pb_int(&tt, 1, elem);
  pb_msg(&tt, 2, &shape);
  pb_msg(&type, 1, &tt);
  pb_str(&vi, 1, name);
  pb_msg(&vi, 2, &type);
  pb_msg(&g->g, field, &vi);
}
/* The ModelProto bytes of g (opset 0: no opset_import); frees g. */
static pbuf g_model(graph *g) {
  pbuf m = {0};
  pb_int(&m, 1, 7);
  pb_str(&m, 2, "test_onnx");
  pb_msg(&m, 7, &g->g);
  if (g->opset) {
    pbuf o = {0};
    pb_str(&o, 1, "");
    pb_int(&o, 2, g->opset);
    pb_msg(&m, 8, &o);
  }
  return m;
}

static nn_status import_bytes(const pbuf *m, nn_model **out) {
  const char *p = write_tmp("built.onnx", m->p, m->n);
  return nn_model_import_onnx(p, tu_device(), out);
}

/* ---- helpers --------------------------------------------------------------------- */

static char *summary_of(const nn_model *m) {
  size_t need = 0;
  TU_OK(nn_model_summary(m, NULL, 0, &need));
  char *s = malloc(need);
  assert_non_null(s);
  TU_OK(nn_model_summary(m, s, need, NULL));
  return s;
}

static double *forward_vals(nn_model *m, nn_dtype dt, int ndim, const int64_t *shape, const double *x, int64_t *n) {
  nn_tensor *tx = tu_make(dt, ndim, shape, x);
  nn_tensor *ty = NULL;
  TU_OK(nn_model_forward(m, tx, &ty));
  double *y = tu_read(ty, n);
  nn_tensor_free(tx);
  nn_tensor_free(ty);
  return y;
}

/* Exports m, imports it back, and checks: same summary, same dtype, the
 * same parameters bit for bit and the same outputs. */
static void round_trip(nn_model *m, int64_t in, const char *ctx) {
  const char *p = tmp_path("rt.onnx");
  TU_OK(nn_model_export_onnx(m, p));
  nn_model *r = NULL;
  TU_OK(nn_model_import_onnx(p, tu_device(), &r));
  char *s1 = summary_of(m), *s2 = summary_of(r);
  if (strcmp(s1, s2) != 0) fail_msg("%s: summaries differ:\n%s\n---\n%s", ctx, s1, s2);
  free(s1);
  free(s2);
  nn_dtype dt = nn_model_dtype(m);
  assert_int_equal(nn_model_dtype(r), dt);
  assert_int_equal(nn_model_device(r).type, tu_device().type);
  int64_t n1 = 0, n2 = 0;
  double *v1 = tu_model_values(m, false, &n1), *v2 = tu_model_values(r, false, &n2);
  assert_int_equal(n1, n2);
  for (int64_t i = 0; i < n1; ++i)
    if (memcmp(&v1[i], &v2[i], sizeof(double)) != 0) fail_msg("%s: parameter %lld: %.17g != %.17g", ctx, (long long)i, v1[i], v2[i]);
  free(v1);
  free(v2);
  double x[5 * 8];
  tu_rng rng = tu_rng_make(7);
  for (int i = 0; i < 5 * in; ++i) x[i] = tu_rng_uniform(&rng, -2, 2);
  x[0] = 0.0; /* STEP at 0 */
  int64_t shape[2] = {5, in}, ny1 = 0, ny2 = 0;
  double *y1 = forward_vals(m, dt, 2, shape, x, &ny1), *y2 = forward_vals(r, dt, 2, shape, x, &ny2);
  assert_int_equal(ny1, ny2);
  tu_assert_close(y2, y1, ny1, 0, 0, ctx);
  free(y1);
  free(y2);
  nn_model_free(r);
}

/* ---- round trips ------------------------------------------------------------------ */

static void test_round_trip_activations(void **state) {
  (void)state;
  const nn_activation acts[] = {NN_ACT_IDENTITY, NN_ACT_RELU, NN_ACT_SIGMOID, NN_ACT_TANH,
                                NN_ACT_STEP, NN_ACT_SOFTMAX, NN_ACT_LEAKY_RELU};
  const int64_t sizes[] = {4, 6, 5, 3};
  for (size_t a = 0; a < sizeof acts / sizeof acts[0]; ++a) {
    for (int f64 = 0; f64 < 2; ++f64) {
      nn_model *m = NULL;
      TU_OK(nn_model_mlp(4, sizes, acts[a], acts[(a + 1) % 7], &m));
      TU_OK(nn_model_init(m, NN_INIT_XAVIER_UNIFORM, 11 + a));
      if (f64) TU_OK(nn_model_to_dtype(m, NN_F64));
      TU_OK(nn_model_to(m, tu_device()));
      char ctx[64];
      snprintf(ctx, sizeof ctx, "act %d %s", (int)acts[a], f64 ? "f64" : "f32");
      round_trip(m, 4, ctx);
      nn_model_free(m);
    }
  }
}

static void test_round_trip_layers(void **state) {
  (void)state;
  /* bias-free Linear, two activations in a row, an explicit IDENTITY layer */
  nn_model *m = NULL;
  nn_layer *l = NULL;
  TU_OK(nn_model_create(&m));
  TU_OK(nn_layer_linear(3, 8, false, &l));
  TU_OK(nn_model_add(m, l));
  TU_OK(nn_layer_activation(NN_ACT_TANH, &l));
  TU_OK(nn_model_add(m, l));
  TU_OK(nn_layer_activation(NN_ACT_IDENTITY, &l));
  TU_OK(nn_model_add(m, l));
  TU_OK(nn_layer_activation(NN_ACT_LEAKY_RELU, &l));
  TU_OK(nn_model_add(m, l));
  TU_OK(nn_layer_linear(8, 2, true, &l));
  TU_OK(nn_model_add(m, l));
  TU_OK(nn_model_to(m, tu_device()));
  round_trip(m, 3, "layers f32");
  TU_OK(nn_model_to_dtype(m, NN_F64));
  round_trip(m, 3, "layers f64");
  nn_model_free(m);

  /* an empty model: one Identity node, read back as one IDENTITY layer */
  TU_OK(nn_model_create(&m));
  TU_OK(nn_model_export_onnx(m, tmp_path("empty.onnx")));
  nn_model *r = NULL;
  TU_OK(nn_model_import_onnx(tmp_path("empty.onnx"), tu_device(), &r));
  assert_int_equal(nn_model_num_layers(r), 1);
  TU_OK(nn_model_layer(r, 0, &l));
  assert_int_equal(nn_layer_kind_of(l), NN_LAYER_ACTIVATION);
  nn_model_free(r);
  nn_model_free(m);
}

/* The exported bytes begin as a ModelProto with IR version 7 and declare opset 13. */
static void test_export_header(void **state) {
  (void)state;
  const int64_t sizes[] = {2, 3};
  nn_model *m = NULL;
  TU_OK(nn_model_mlp(2, sizes, NN_ACT_RELU, NN_ACT_SOFTMAX, &m));
  TU_OK(nn_model_export_onnx(m, tmp_path("h.onnx")));
  FILE *f = fopen(tmp_path("h.onnx"), "rb");
  assert_non_null(f);
  unsigned char buf[4096];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  assert_true(n > 100 && n < 4096);
  assert_int_equal(buf[0], 0x08); /* field 1 (ir_version), varint */
  assert_int_equal(buf[1], 7);
  /* the opset_import message (field 8) is last: domain "" and version 13 */
  const unsigned char tail[] = {0x42, 0x04, 0x0a, 0x00, 0x10, 0x0d};
  assert_memory_equal(buf + n - sizeof tail, tail, sizeof tail);
  /* names the symbolic batch dimension, the Gemm and the Softmax */
  const char *want[] = {"batch", "Gemm", "transB", "Softmax", "0.weight", "0.bias"};
  for (size_t k = 0; k < sizeof want / sizeof want[0]; ++k) {
    int found = 0;
    for (size_t i = 0; i + strlen(want[k]) <= n && !found; ++i) found = !memcmp(buf + i, want[k], strlen(want[k]));
    if (!found) fail_msg("export lacks \"%s\"", want[k]);
  }
  nn_model_free(m);
}

/* ---- torch.onnx.export fixtures ---------------------------------------------------- */

static void test_torch_fixtures(void **state) {
  (void)state;
  for (size_t c = 0; c < OF_NUM_CASES; ++c) {
    const of_case *fx = &of_cases[c];
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", NN_ONNX_FIXTURE_DIR, fx->file);
    nn_model *m = NULL;
    if (fx->unsupported[0]) {
      m = (nn_model *)TU_SENTINEL;
      TU_ERR(nn_model_import_onnx(path, tu_device(), &m), NN_ERR_UNSUPPORTED, "nn_model_import_onnx",
             fx->unsupported[0], fx->unsupported[1], fx->unsupported[2]);
      assert_ptr_equal(m, TU_SENTINEL);
      continue;
    }
    TU_OK(nn_model_import_onnx(path, tu_device(), &m));
    assert_int_equal(nn_model_num_layers(m), fx->n_layers);
    for (int i = 0; i < fx->n_layers; ++i) {
      nn_layer *l = NULL;
      TU_OK(nn_model_layer(m, i, &l));
      assert_int_equal(nn_layer_kind_of(l), fx->layers[i] < 0 ? NN_LAYER_LINEAR : NN_LAYER_ACTIVATION);
    }
    nn_dtype dt = fx->f64 ? NN_F64 : NN_F32;
    assert_int_equal(nn_model_dtype(m), dt);
    int64_t n = 0, ny = 1;
    for (int i = 0; i < fx->y_ndim; ++i) ny *= fx->y_shape[i];
    double *y = forward_vals(m, dt, fx->x_ndim, fx->x_shape, fx->x, &n);
    assert_int_equal(n, ny);
    tu_assert_close(y, fx->y, n, fx->f64 ? 1e-12 : 1e-5, fx->f64 ? 1e-14 : 1e-6, fx->name);
    free(y);
    nn_model_free(m);
  }
}

/* ---- graphs built here: accepted forms --------------------------------------------- */

static const float W1[6] = {0.5f, -1.0f, 0.25f, 2.0f, -0.75f, 1.5f}; /* [2 out, 3 in] */
static const float B1[2] = {0.125f, -0.5f};
static const float W1T[6] = {0.5f, 2.0f, -1.0f, -0.75f, 0.25f, 1.5f}; /* [3 in, 2 out] */

/* y = act(x W1^T + B1) for the rows of x [4, 3] against a float64 reference. */
static void check_linear(nn_model *m, int act_relu, int with_bias, const char *ctx) {
  const double x[12] = {1, 2, 3, -1, 0.5, 2, 0, 0, 0, -3, 1, -2};
  double ref[8];
  for (int r = 0; r < 4; ++r)
    for (int o = 0; o < 2; ++o) {
      double s = with_bias ? B1[o] : 0;
      for (int i = 0; i < 3; ++i) s += x[r * 3 + i] * (double)W1[o * 3 + i];
      ref[r * 2 + o] = act_relu && s < 0 ? 0 : s;
    }
  int64_t shape[2] = {4, 3}, n = 0;
  double *y = forward_vals(m, NN_F32, 2, shape, x, &n);
  assert_int_equal(n, 8);
  tu_assert_close(y, ref, 8, 1e-6, 1e-6, ctx);
  free(y);
}

static void test_built_accepted(void **state) {
  (void)state;
  const int64_t d23[2] = {2, 3}, d32[2] = {3, 2}, d2[1] = {2}, d12[2] = {1, 2};
  nn_model *m = NULL;
  pbuf b;

  /* MatMul by a Transpose of the [out, in] weight, then Add(bias, x) (bias first). */
  graph g = {{0}, 13};
  g_f32(&g, "W", 2, d23, W1);
  g_f32(&g, "B", 1, d2, B1);
  pbuf n = node("Transpose", "t", "W", "WT");
  g_node(&g, &n);
  n = node("MatMul", "mm", "x,WT", "h");
  g_node(&g, &n);
  n = node("Add", "add", "B,h", "h2");
  g_node(&g, &n);
  n = node("Relu", "relu", "h2", "y");
  g_node(&g, &n);
  g_value(&g, 11, "x", 1, 3);
  g_value(&g, 12, "y", 1, 2);
  b = g_model(&g);
  TU_OK(import_bytes(&b, &m));
  assert_int_equal(nn_model_num_layers(m), 2);
  check_linear(m, 1, 1, "MatMul+Add");
  nn_model_free(m);
  free(b.p);

  /* Gemm transB=0 (B is [in, out]) with C [1, out] from a Constant node, an
   * Identity and a Flatten, opset 11 (Softmax default axis 1 on a 2-D input). */
  memset(&g, 0, sizeof g);
  g.opset = 11;
  g_f32(&g, "B", 2, d32, W1T);
  pbuf c = tensor_f32("ignored", 2, d12, B1);
  n = node("Constant", "c", "", "C");
  attr_t(&n, "value", &c);
  g_node(&g, &n);
  n = node("Flatten", "f", "x", "xf");
  attr_i(&n, "axis", 1);
  g_node(&g, &n);
  n = node("Gemm", "gemm", "xf,B,C", "h");
  attr_f(&n, "alpha", 1.0f);
  attr_i(&n, "transB", 0);
  g_node(&g, &n);
  n = node("Identity", "id", "h", "y");
  g_node(&g, &n);
  g_value(&g, 11, "x", 1, 3);
  g_value(&g, 12, "y", 1, 2);
  b = g_model(&g);
  TU_OK(import_bytes(&b, &m));
  assert_int_equal(nn_model_num_layers(m), 2); /* Linear, IDENTITY (Flatten adds none) */
  check_linear(m, 0, 1, "Gemm transB=0");
  nn_model_free(m);
  free(b.p);

  /* Gemm without C; the weight in float_data, packed and unpacked; no shape
   * on the input (dtype from the weight). */
  memset(&g, 0, sizeof g);
  g.opset = 17;
  pbuf t = {0};
  pb_int(&t, 1, 2);
  pb_int(&t, 1, 3);
  pb_int(&t, 2, 1);
  pb_str(&t, 8, "W");
  pb_bytes(&t, 4, W1, 4 * sizeof(float));
  pb_float(&t, 4, W1[4]);
  pb_float(&t, 4, W1[5]);
  g_init(&g, &t);
  n = node("Gemm", "gemm", "x,W", "y");
  attr_i(&n, "transB", 1);
  g_node(&g, &n);
  pbuf vi = {0};
  pb_str(&vi, 1, "x");
  pb_msg(&g.g, 11, &vi);
  g_value(&g, 12, "y", 1, 2);
  b = g_model(&g);
  TU_OK(import_bytes(&b, &m));
  check_linear(m, 0, 0, "float_data");
  nn_model_free(m);
  free(b.p);

  /* A float16 weight (int32_data holds the bits) in a double graph: the
   * model is F64, the weight converted exactly. */
  memset(&g, 0, sizeof g);
  g.opset = 13;
  t = (pbuf){0};
  pb_int(&t, 1, 2);
  pb_int(&t, 1, 3);
  pb_int(&t, 2, 10);
  pb_str(&t, 8, "W");
  for (int i = 0; i < 6; ++i) pb_int(&t, 5, tu_f32_to_f16(W1[i]));
  g_init(&g, &t);
  n = node("MatMul", "mm", "x,WT", "y");
  g_node(&g, &n);
  n = node("Transpose", "t", "W", "WT");
  /* a Transpose after its use is not folded in time: put it first instead */
  pbuf g2 = {0};
  pb_msg(&g2, 1, &n);
  pb_raw(&g2, g.g.p, g.g.n);
  free(g.g.p);
  g.g = g2;
  g_value(&g, 11, "x", 11, 3);
  g_value(&g, 12, "y", 11, 2);
  b = g_model(&g);
  TU_OK(import_bytes(&b, &m));
  assert_int_equal(nn_model_dtype(m), NN_F64);
  {
    const double x[3] = {1, 2, 3};
    int64_t shape[2] = {1, 3}, k = 0;
    double *y = forward_vals(m, NN_F64, 2, shape, x, &k);
    double r0 = 0.5 - 2.0 + 0.75, r1 = 2.0 - 1.5 + 4.5;
    assert_int_equal(k, 2);
    assert_true(y[0] == r0 && y[1] == r1);
    free(y);
  }
  nn_model_free(m);
  free(b.p);
}

/* ---- graphs built here: refusals ---------------------------------------------------- */

typedef enum { R_CONV, R_TWO_INPUTS, R_GREATER_RELU, R_LEAKY_ALPHA, R_SOFTMAX_AXIS, R_BRANCH, R_GEMM_B_VAR,
               R_INT_INPUT, R_EXTERNAL, R_DOMAIN, R_OUTPUT, R_OPSET_OLD, R_GEMM_ALPHA, R_CAST_ALONE,
               R_NO_OPSET, R_RAW_SIZE, R_HUGE_DIMS, R_FLOAT_COUNT, R_NEG_DIM, R_WIDTH, R_NO_INPUT,
               R_FUNCTIONS, R_SHARED, R_NUM } refusal;

static pbuf build_refusal(refusal r) {
  const int64_t d23[2] = {2, 3}, d2[1] = {2};
  graph g = {{0}, 13};
  pbuf n;
  int64_t in_elem = 1;
  const char *out_name = "y";
  switch (r) {
    case R_CONV:
      n = node("Conv", "conv0", "x,W", "y");
      g_f32(&g, "W", 2, d23, W1);
      g_node(&g, &n);
      break;
    case R_TWO_INPUTS:
      n = node("Relu", "r", "x", "y");
      g_node(&g, &n);
      g_value(&g, 11, "x2", 1, 3);
      break;
    case R_GREATER_RELU: {
      float z = 0;
      g_f32(&g, "zero", 0, NULL, &z);
      n = node("Greater", "gt", "x,zero", "b");
      g_node(&g, &n);
      n = node("Relu", "r", "b", "y");
      g_node(&g, &n);
      break;
    }
    case R_LEAKY_ALPHA:
      n = node("LeakyRelu", "lr", "x", "y");
      attr_f(&n, "alpha", 0.2f);
      g_node(&g, &n);
      break;
    case R_SOFTMAX_AXIS:
      n = node("Softmax", "sm", "x", "y");
      attr_i(&n, "axis", 0);
      g_node(&g, &n);
      break;
    case R_BRANCH:
      n = node("Relu", "r1", "x", "h");
      g_node(&g, &n);
      n = node("Tanh", "t1", "x", "y");
      g_node(&g, &n);
      break;
    case R_GEMM_B_VAR:
      n = node("Gemm", "g", "x,x", "y");
      g_node(&g, &n);
      break;
    case R_INT_INPUT:
      in_elem = 7;
      n = node("Relu", "r", "x", "y");
      g_node(&g, &n);
      break;
    case R_EXTERNAL: {
      pbuf t = {0};
      pb_int(&t, 1, 2);
      pb_int(&t, 1, 3);
      pb_int(&t, 2, 1);
      pb_str(&t, 8, "W");
      pb_int(&t, 14, 1);
      g_init(&g, &t);
      n = node("Gemm", "g", "x,W", "y");
      attr_i(&n, "transB", 1);
      g_node(&g, &n);
      break;
    }
    case R_DOMAIN:
      n = node("Relu", "r", "x", "y");
      pb_str(&n, 7, "com.microsoft");
      g_node(&g, &n);
      break;
    case R_OUTPUT:
      n = node("Relu", "r", "x", "h");
      g_node(&g, &n);
      out_name = "other";
      break;
    case R_OPSET_OLD:
      g.opset = 6;
      n = node("Relu", "r", "x", "y");
      g_node(&g, &n);
      break;
    case R_GEMM_ALPHA:
      g_f32(&g, "W", 2, d23, W1);
      n = node("Gemm", "g", "x,W", "y");
      attr_f(&n, "alpha", 2.0f);
      attr_i(&n, "transB", 1);
      g_node(&g, &n);
      break;
    case R_CAST_ALONE:
      n = node("Cast", "c", "x", "y");
      attr_i(&n, "to", 1);
      g_node(&g, &n);
      break;
    case R_NO_OPSET:
      g.opset = 0;
      n = node("Relu", "r", "x", "y");
      g_node(&g, &n);
      break;
    case R_RAW_SIZE: {
      pbuf t = tensor_f32("W", 1, d2, W1); /* 8 bytes */
      t.n -= 8 + 2;                        /* drop the raw_data field... */
      pb_bytes(&t, 9, W1, 6);              /* ...and give 6 bytes */
      g_init(&g, &t);
      n = node("Gemm", "g", "x,W", "y");
      g_node(&g, &n);
      break;
    }
    case R_HUGE_DIMS: {
      pbuf t = {0};
      pb_int(&t, 1, (int64_t)1 << 40);
      pb_int(&t, 1, (int64_t)1 << 40);
      pb_int(&t, 2, 1);
      pb_str(&t, 8, "W");
      pb_bytes(&t, 9, W1, 4);
      g_init(&g, &t);
      n = node("Gemm", "g", "x,W", "y");
      attr_i(&n, "transB", 1);
      g_node(&g, &n);
      break;
    }
    case R_FLOAT_COUNT: {
      pbuf t = {0};
      pb_int(&t, 1, 2);
      pb_int(&t, 1, 3);
      pb_int(&t, 2, 1);
      pb_str(&t, 8, "W");
      pb_bytes(&t, 4, W1, 2 * sizeof(float));
      g_init(&g, &t);
      n = node("Gemm", "g", "x,W", "y");
      attr_i(&n, "transB", 1);
      g_node(&g, &n);
      break;
    }
    case R_NEG_DIM: {
      pbuf t = {0};
      pb_int(&t, 1, -2);
      pb_int(&t, 1, 3);
      pb_int(&t, 2, 1);
      pb_str(&t, 8, "W");
      g_init(&g, &t);
      n = node("Gemm", "g", "x,W", "y");
      attr_i(&n, "transB", 1);
      g_node(&g, &n);
      break;
    }
    case R_WIDTH:
      g_f32(&g, "W", 2, d23, W1); /* takes 3 features, the input has 4 */
      n = node("Gemm", "g", "x,W", "y");
      attr_i(&n, "transB", 1);
      g_node(&g, &n);
      g_value(&g, 11, "x", 1, 4);
      g_value(&g, 12, "y", 1, 2);
      return g_model(&g);
    case R_NO_INPUT:
      n = node("Relu", "r", "x", "y");
      g_node(&g, &n);
      g_value(&g, 12, "y", 1, 3);
      return g_model(&g);
    case R_FUNCTIONS: {
      n = node("Relu", "r", "x", "y");
      g_node(&g, &n);
      g_value(&g, 11, "x", 1, 3);
      g_value(&g, 12, "y", 1, 3);
      pbuf m = g_model(&g);
      pb_str(&m, 25, "");
      return m;
    }
    case R_SHARED: {
      const int64_t d33[2] = {3, 3};
      const float w9[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
      g_f32(&g, "W", 2, d33, w9);
      n = node("Gemm", "g0", "x,W", "h");
      attr_i(&n, "transB", 1);
      g_node(&g, &n);
      n = node("Gemm", "g1", "h,W", "y");
      attr_i(&n, "transB", 1);
      g_node(&g, &n);
      break;
    }
    case R_NUM: break;
  }
  g_value(&g, 11, "x", in_elem, 3);
  g_value(&g, 12, out_name, 1, 3);
  return g_model(&g);
}

static void test_built_refused(void **state) {
  (void)state;
  static const struct {
    refusal r;
    nn_status st;
    const char *frag[3];
  } cases[] = {
      {R_CONV, NN_ERR_UNSUPPORTED, {"node 0 \"conv0\" (op Conv) is not supported", "libnn imports chains of Gemm", NULL}},
      {R_TWO_INPUTS, NN_ERR_UNSUPPORTED, {"the graph has 2 inputs; libnn models take one", NULL, NULL}},
      {R_GREATER_RELU, NN_ERR_UNSUPPORTED, {"node 0 \"gt\" (op Greater) is not supported", "not followed by Cast", NULL}},
      {R_LEAKY_ALPHA, NN_ERR_UNSUPPORTED, {"node 0 \"lr\" (op LeakyRelu)", "alpha is not 0.01", NULL}},
      {R_SOFTMAX_AXIS, NN_ERR_UNSUPPORTED, {"node 0 \"sm\" (op Softmax)", "axis is not the last one", NULL}},
      {R_BRANCH, NN_ERR_UNSUPPORTED, {"node 1 \"t1\" (op Tanh)", "does not take the output of the previous layer (\"h\")", NULL}},
      {R_GEMM_B_VAR, NN_ERR_UNSUPPORTED, {"node 0 \"g\" (op Gemm)", "B input is not a constant", NULL}},
      {R_INT_INPUT, NN_ERR_UNSUPPORTED, {"graph input \"x\" has ONNX element type 7", NULL, NULL}},
      {R_EXTERNAL, NN_ERR_UNSUPPORTED, {"initializer \"W\" keeps its data in an external file", NULL, NULL}},
      {R_DOMAIN, NN_ERR_UNSUPPORTED, {"node 0 \"r\" (op Relu)", "domain \"com.microsoft\"", NULL}},
      {R_OUTPUT, NN_ERR_UNSUPPORTED, {"graph output \"other\" is not the end of the chain of layers (\"h\")", NULL, NULL}},
      {R_OPSET_OLD, NN_ERR_UNSUPPORTED, {"opset 6; libnn imports opset 7 or later", NULL, NULL}},
      {R_GEMM_ALPHA, NN_ERR_UNSUPPORTED, {"node 0 \"g\" (op Gemm)", "alpha is not 1", NULL}},
      {R_CAST_ALONE, NN_ERR_UNSUPPORTED, {"node 0 \"c\" (op Cast)", "only after Greater", NULL}},
      {R_FUNCTIONS, NN_ERR_UNSUPPORTED, {"local functions", NULL, NULL}},
      {R_SHARED, NN_ERR_UNSUPPORTED, {"node 1 \"g1\" (op Gemm)", "its constant \"W\" is also used by node 0: libnn layers do not share parameters", NULL}},
      {R_NO_OPSET, NN_ERR_FORMAT, {"imports no version of the default ONNX operator set", NULL, NULL}},
      {R_RAW_SIZE, NN_ERR_FORMAT, {"initializer \"W\" has 6 bytes of raw_data but its shape needs 8", NULL, NULL}},
      {R_HUGE_DIMS, NN_ERR_FORMAT, {"initializer \"W\" declares more elements than any file holds", NULL, NULL}},
      {R_FLOAT_COUNT, NN_ERR_FORMAT, {"initializer \"W\" holds 2 values but its shape needs 6", NULL, NULL}},
      {R_NEG_DIM, NN_ERR_FORMAT, {"initializer \"W\" has a negative dimension -2", NULL, NULL}},
      {R_WIDTH, NN_ERR_FORMAT, {"node 0 \"g\" (op Gemm) takes 3 input features but its input has 4", NULL, NULL}},
      {R_NO_INPUT, NN_ERR_FORMAT, {"the graph has no input", NULL, NULL}},
  };
  assert_int_equal(sizeof cases / sizeof cases[0], R_NUM);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
    pbuf b = build_refusal(cases[i].r);
    nn_model *m = (nn_model *)TU_SENTINEL;
    TU_ERR(import_bytes(&b, &m), cases[i].st, "nn_model_import_onnx", cases[i].frag[0], cases[i].frag[1],
           cases[i].frag[2]);
    assert_ptr_equal(m, TU_SENTINEL);
    free(b.p);
  }
}

/* ---- hostile bytes ------------------------------------------------------------------ */

static void test_hostile(void **state) {
  (void)state;
  static const struct {
    const char *name;
    unsigned char bytes[16];
    size_t n;
    const char *frag[2];
  } cases[] = {
      {"empty", {0}, 0, {"not an ONNX model: ModelProto has no graph", NULL}},
      {"len past end", {0x3a, 0x05, 0x01}, 3, {"malformed protobuf in ModelProto", "runs past the end of the message (1 bytes left)"}},
      {"huge len", {0x3a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, 10, {"malformed protobuf in ModelProto", "runs past the end"}},
      {"long varint", {0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, 12, {"in ModelProto", "longer than 10 bytes"}},
      {"varint overflow", {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, 11, {"in ModelProto", "does not fit in 64 bits"}},
      {"truncated varint", {0x08, 0x80}, 2, {"in ModelProto", "a varint runs past the end"}},
      {"group", {0x0b, 0x0c}, 2, {"in ModelProto", "field 1 has wire type 3"}},
      {"field 0", {0x00, 0x00}, 2, {"in ModelProto", "field number 0 is out of range"}},
      {"graph wire type", {0x38, 0x01}, 2, {"in ModelProto", "field 7 has wire type 0, expected 2"}},
      {"node wire type", {0x3a, 0x04, 0x0a, 0x02, 0x20, 0x01}, 6, {"in NodeProto", "field 4 has wire type 0, expected 2"}},
      {"fixed32 past end", {0x3a, 0x03, 0x1d, 0x00, 0x00}, 5, {"in GraphProto", "a 32-bit value runs past the end"}},
      {"text", {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd', '\n'}, 12, {"malformed protobuf in ModelProto", NULL}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
    const char *p = write_tmp("hostile.onnx", cases[i].bytes, cases[i].n);
    nn_model *m = (nn_model *)TU_SENTINEL;
    nn_status st = nn_model_import_onnx(p, tu_device(), &m);
    if (st != NN_ERR_FORMAT) fail_msg("%s: status %d (%s)", cases[i].name, (int)st, nn_last_error());
    TU_ERR(st, NN_ERR_FORMAT, "nn_model_import_onnx", cases[i].frag[0], cases[i].frag[1]);
    assert_ptr_equal(m, TU_SENTINEL);
  }
}

/* Every truncation and many single-byte corruptions of a real export answer
 * NN_OK, NN_ERR_FORMAT or NN_ERR_UNSUPPORTED, with a message naming the call. */
static void test_mutations(void **state) {
  (void)state;
  const int64_t sizes[] = {3, 4, 2};
  nn_model *m = NULL;
  TU_OK(nn_model_mlp(3, sizes, NN_ACT_STEP, NN_ACT_SOFTMAX, &m));
  TU_OK(nn_model_export_onnx(m, tmp_path("src.onnx")));
  nn_model_free(m);
  FILE *f = fopen(tmp_path("src.onnx"), "rb");
  assert_non_null(f);
  unsigned char buf[4096];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  assert_true(n > 0 && n < sizeof buf);
  unsigned char mut[4096];
  tu_rng rng = tu_rng_make(99);
  int ok = 0, format = 0, unsupported = 0;
  for (size_t k = 0; k < n + 300; ++k) {
    size_t len = n;
    memcpy(mut, buf, n);
    if (k < n) {
      len = k; /* truncation */
    } else {
      size_t at = (size_t)tu_rng_int(&rng, 0, (int64_t)n - 1);
      mut[at] = (unsigned char)tu_rng_int(&rng, 0, 255);
    }
    const char *p = write_tmp("mut.onnx", mut, len);
    nn_model *r = NULL;
    nn_status st = nn_model_import_onnx(p, tu_device(), &r);
    if (st == NN_OK) {
      ++ok;
      assert_non_null(r);
      nn_model_free(r);
      continue;
    }
    if (st != NN_ERR_FORMAT && st != NN_ERR_UNSUPPORTED)
      fail_msg("mutation %zu: status %d: %s", k, (int)st, nn_last_error());
    if (strncmp(nn_last_error(), "nn_model_import_onnx: ", 22) != 0) fail_msg("mutation %zu: message \"%s\"", k, nn_last_error());
    st == NN_ERR_FORMAT ? ++format : ++unsupported;
  }
  assert_true(ok >= 1);  /* the untruncated length is not tried; mutations of names still load */
  assert_true(format > (int)n / 2);
  print_message("mutations: %d ok, %d format, %d unsupported\n", ok, format, unsupported);
}

/* ---- argument errors ------------------------------------------------------------------ */

static void test_arguments(void **state) {
  (void)state;
  const int64_t sizes[] = {2, 2};
  nn_model *m = NULL;
  TU_OK(nn_model_mlp(2, sizes, NN_ACT_RELU, NN_ACT_IDENTITY, &m));
  TU_ERR(nn_model_export_onnx(NULL, tmp_path("a.onnx")), NN_ERR_INVALID_ARGUMENT, "nn_model_export_onnx", "m is NULL");
  TU_ERR(nn_model_export_onnx(m, NULL), NN_ERR_INVALID_ARGUMENT, "nn_model_export_onnx", "path is NULL");
  TU_ERR(nn_model_export_onnx(m, "/nonexistent-dir-nn/x.onnx"), NN_ERR_IO, "nn_model_export_onnx", "/nonexistent-dir-nn");
  nn_model *r = (nn_model *)TU_SENTINEL;
  TU_ERR(nn_model_import_onnx(NULL, tu_cpu(), &r), NN_ERR_INVALID_ARGUMENT, "nn_model_import_onnx", "path is NULL");
  TU_ERR(nn_model_import_onnx(tmp_path("a.onnx"), tu_cpu(), NULL), NN_ERR_INVALID_ARGUMENT, "nn_model_import_onnx",
         "out is NULL");
  TU_ERR(nn_model_import_onnx(tmp_path("missing.onnx"), tu_cpu(), &r), NN_ERR_IO, "nn_model_import_onnx",
         "missing.onnx");
  nn_device bad = {42, 0};
  TU_OK(nn_model_export_onnx(m, tmp_path("a.onnx")));
  TU_ERR(nn_model_import_onnx(tmp_path("a.onnx"), bad, &r), NN_ERR_INVALID_ARGUMENT, "nn_model_import_onnx", "dev");
  assert_ptr_equal(r, TU_SENTINEL);
  /* a failed export leaves the old file intact */
  struct stat st1, st2;
  assert_int_equal(stat(tmp_path("a.onnx"), &st1), 0);
  TU_ERR(nn_model_export_onnx(NULL, tmp_path("a.onnx")), NN_ERR_INVALID_ARGUMENT, "nn_model_export_onnx", NULL);
  assert_int_equal(stat(tmp_path("a.onnx"), &st2), 0);
  assert_int_equal(st1.st_size, st2.st_size);
  nn_model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip_activations),
      cmocka_unit_test(test_round_trip_layers),
      cmocka_unit_test(test_export_header),
      cmocka_unit_test(test_torch_fixtures),
      cmocka_unit_test(test_built_accepted),
      cmocka_unit_test(test_built_refused),
      cmocka_unit_test(test_hostile),
      cmocka_unit_test(test_mutations),
      cmocka_unit_test(test_arguments),
  };
  if (setup_dir(NULL) != 0) {
    fprintf(stderr, "test_onnx: cannot make a temporary folder\n");
    return 1;
  }
  int rc = tu_run_group(tests);
  teardown_dir(NULL);
  return rc;
}
