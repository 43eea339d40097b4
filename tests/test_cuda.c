/* CUDA backend: error reporting without a GPU, CPU/GPU parity with one.
 *
 * Without a usable GPU (nn_device_count(NN_CUDA) == 0) the CUDA requests
 * must fail with NN_ERR_DEVICE and a message naming what is missing (the
 * backend file libnn_cuda.so, the driver, or a GPU); the GPU cases report
 * as skipped with that reason. With a GPU, every op and a training run are
 * compared with the CPU backend on fresh random inputs, and the per-model
 * streams are checked: concurrent training and inference from several
 * threads, results read right after the call that made them; the
 * multi-tensor optimizer update (one launch per chunk of parameters) is
 * compared with the CPU and, bit for bit, with one launch per tensor
 * (NN_CUDA_NO_MULTI_TENSOR=1).
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

static const nn_device kCpu = {NN_CPU, 0};
static const nn_device kGpu = {NN_CUDA, 0};

static char g_reason[1024];

static bool have_gpu(void) { return nn_device_count(NN_CUDA) > 0; }

/* The reason CUDA is unavailable, from a failing request. */
static const char *unavailable_reason(void) {
  nn_tensor *t = NULL;
  int64_t shape[1] = {1};
  if (nn_tensor_zeros(NN_F32, 1, shape, kGpu, &t) == NN_OK) {
    nn_tensor_free(t);
    return "CUDA is available";
  }
  snprintf(g_reason, sizeof g_reason, "%s", nn_last_error());
  return g_reason;
}

#define NEED_GPU()                                                        \
  do {                                                                    \
    if (!have_gpu()) {                                                    \
      print_message("skipped: no CUDA device: %s\n", unavailable_reason()); \
      skip();                                                             \
    }                                                                     \
  } while (0)

/* ---- helpers ---------------------------------------------------------------- */

static double *read_f64(const nn_tensor *t) {
  nn_tensor *c = NULL, *d = NULL;
  assert_int_equal(nn_tensor_to_device(t, kCpu, &c), NN_OK);
  assert_int_equal(nn_tensor_to_dtype(c, NN_F64, &d), NN_OK);
  int64_t n = nn_tensor_numel(d);
  double *v = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
  assert_non_null(v);
  assert_int_equal(nn_tensor_read(d, v, sizeof(double) * (size_t)n), NN_OK);
  nn_tensor_free(c);
  nn_tensor_free(d);
  return v;
}

static double tol_of(nn_dtype dt) {
  switch (dt) {
    case NN_F64: return 1e-10;
    case NN_F32: return 1e-5;
    case NN_F16: return 2e-3;
    case NN_BF16: return 1.6e-2;
    default: return 0;
  }
}

/* a (GPU result) against b (CPU result), same shape, rtol relative. */
static void expect_close(const nn_tensor *a, const nn_tensor *b, double rtol, const char *what) {
  assert_int_equal(nn_tensor_ndim(a), nn_tensor_ndim(b));
  assert_int_equal(nn_tensor_dtype(a), nn_tensor_dtype(b));
  int64_t n = nn_tensor_numel(a);
  assert_int_equal(n, nn_tensor_numel(b));
  double *x = read_f64(a), *y = read_f64(b);
  for (int64_t i = 0; i < n; ++i) {
    bool same = (isnan(x[i]) && isnan(y[i])) || x[i] == y[i];
    double diff = fabs(x[i] - y[i]);
    double scale = fmax(fabs(x[i]), fabs(y[i]));
    if (!same && !(diff <= rtol * scale + rtol * 1e-2)) {
      print_error("%s: element %lld: cuda %.10g vs cpu %.10g\n", what, (long long)i, x[i], y[i]);
      fail();
    }
  }
  free(x);
  free(y);
}

static nn_tensor *rand_tensor(nn_dtype dt, int ndim, const int64_t *shape, double lo, double hi, uint64_t seed) {
  nn_tensor *f = NULL, *t = NULL;
  assert_int_equal(nn_tensor_rand_uniform(NN_F64, ndim, shape, lo, hi, seed, kCpu, &f), NN_OK);
  assert_int_equal(nn_tensor_to_dtype(f, dt, &t), NN_OK);
  nn_tensor_free(f);
  return t;
}

static nn_tensor *to_gpu(const nn_tensor *t) {
  nn_tensor *g = NULL;
  assert_int_equal(nn_tensor_to_device(t, kGpu, &g), NN_OK);
  return g;
}

/* ---- without a GPU ------------------------------------------------------------- */

static void test_unavailable_names_missing_piece(void **state) {
  (void)state;
  if (have_gpu()) {
    print_message("skipped: a CUDA device is present\n");
    skip();
  }
  assert_int_equal(nn_device_count(NN_CUDA), 0);
  const char *why = unavailable_reason();
  print_message("CUDA unavailable: %s\n", why);
  bool named = strstr(why, "libnn_cuda.so not found") || strstr(why, "this build has no CUDA backend") ||
               strstr(why, "no CUDA driver") || strstr(why, "no CUDA GPU visible") ||
               strstr(why, "CUDA initialisation failed");
  if (!named) fail_msg("message does not say what is missing: %s", why);
  assert_non_null(strstr(why, "nn_tensor_zeros"));
  nn_tensor *t = NULL, *g = NULL;
  int64_t shape[1] = {2};
  nn_device far = {NN_CUDA, 7};
  assert_int_equal(nn_tensor_zeros(NN_F32, 1, shape, far, &t), NN_ERR_DEVICE);
  assert_int_equal(nn_tensor_zeros(NN_F32, 1, shape, kCpu, &t), NN_OK);
  assert_int_equal(nn_tensor_to_device(t, kGpu, &g), NN_ERR_DEVICE);
  assert_null(g);
  nn_model *m = NULL;
  int64_t sizes[3] = {2, 3, 1};
  assert_int_equal(nn_model_mlp(3, sizes, NN_ACT_RELU, NN_ACT_IDENTITY, &m), NN_OK);
  assert_int_equal(nn_model_to(m, kGpu), NN_ERR_DEVICE);
  assert_int_equal(nn_model_device(m).type, NN_CPU);
  nn_model_free(m);
  nn_tensor_free(t);
}

/* ---- with a GPU ------------------------------------------------------------------ */

static void test_index_out_of_range(void **state) {
  (void)state;
  NEED_GPU();
  nn_tensor *t = NULL;
  int64_t shape[1] = {2};
  nn_device far = {NN_CUDA, nn_device_count(NN_CUDA)};
  assert_int_equal(nn_tensor_zeros(NN_F32, 1, shape, far, &t), NN_ERR_DEVICE);
  assert_non_null(strstr(nn_last_error(), "cuda"));
}

static void test_transfers_and_conversions(void **state) {
  (void)state;
  NEED_GPU();
  int64_t shape[2] = {37, 53};
  for (int i = 0; i < 8; ++i) {
    nn_dtype s = tu_all_dtypes[i];
    nn_tensor *c = rand_tensor(s, 2, shape, -300, 300, 11 + (uint64_t)i);
    nn_tensor *g = to_gpu(c);
    assert_int_equal(nn_tensor_device(g).type, NN_CUDA);
    expect_close(g, c, 0, "round trip");
    for (int j = 0; j < 8; ++j) {
      nn_tensor *gc = NULL, *cc = NULL;
      assert_int_equal(nn_tensor_to_dtype(g, tu_all_dtypes[j], &gc), NN_OK);
      assert_int_equal(nn_tensor_to_dtype(c, tu_all_dtypes[j], &cc), NN_OK);
      expect_close(gc, cc, 0, "conversion");
      nn_tensor_free(gc);
      nn_tensor_free(cc);
    }
    /* transposed view copied contiguous on the GPU */
    nn_tensor *gt = NULL, *ct = NULL, *gtc = NULL, *ctc = NULL;
    assert_int_equal(nn_tensor_transpose(g, 0, 1, &gt), NN_OK);
    assert_int_equal(nn_tensor_transpose(c, 0, 1, &ct), NN_OK);
    assert_int_equal(nn_tensor_clone(gt, &gtc), NN_OK);
    assert_int_equal(nn_tensor_clone(ct, &ctc), NN_OK);
    expect_close(gtc, ctc, 0, "transposed clone");
    nn_tensor_free(gt);
    nn_tensor_free(ct);
    nn_tensor_free(gtc);
    nn_tensor_free(ctc);
    nn_tensor_free(c);
    nn_tensor_free(g);
  }
}

static void test_ops_parity(void **state) {
  (void)state;
  NEED_GPU();
  int64_t sa[3] = {3, 1, 65}, sb[2] = {40, 65};
  for (int i = 0; i < 8; ++i) {
    nn_dtype dt = tu_all_dtypes[i];
    bool fl = tu_is_float(dt);
    nn_tensor *a = rand_tensor(dt, 3, sa, fl ? -3 : 0, fl ? 3 : 100, 100 + (uint64_t)i);
    nn_tensor *b = rand_tensor(dt, 2, sb, fl ? 0.5 : 1, fl ? 4 : 100, 200 + (uint64_t)i);
    nn_tensor *ga = to_gpu(a), *gb = to_gpu(b);
    for (int op = NN_OP_NEG; op <= NN_OP_STEP; ++op) {
      nn_tensor *co = NULL, *go = NULL;
      nn_status cs = nn_unary((nn_unary_op)op, a, &co);
      nn_status gs = nn_unary((nn_unary_op)op, ga, &go);
      assert_int_equal(cs, gs);
      if (cs == NN_OK) expect_close(go, co, tol_of(nn_tensor_dtype(co)) * 4, "unary");
      nn_tensor_free(co);
      nn_tensor_free(go);
    }
    for (int op = NN_OP_ADD; op <= NN_OP_MIN; ++op) {
      nn_tensor *co = NULL, *go = NULL;
      assert_int_equal(nn_binary((nn_binary_op)op, a, b, &co), NN_OK);
      assert_int_equal(nn_binary((nn_binary_op)op, ga, gb, &go), NN_OK);
      expect_close(go, co, tol_of(nn_tensor_dtype(co)), "binary (broadcast)");
      nn_tensor_free(co);
      nn_tensor_free(go);
    }
    nn_tensor *big = rand_tensor(dt, 2, sb, fl ? -3 : 0, fl ? 3 : 100, 300 + (uint64_t)i), *gbig = to_gpu(big);
    for (int op = NN_REDUCE_SUM; op <= NN_REDUCE_ARGMAX; ++op)
      for (int dim = -1; dim < 2; ++dim) {
        int d = dim < 0 ? NN_ALL_DIMS : dim;
        nn_tensor *co = NULL, *go = NULL;
        nn_status cs = nn_reduce((nn_reduce_op)op, big, d, false, &co);
        nn_status gs = nn_reduce((nn_reduce_op)op, gbig, d, false, &go);
        assert_int_equal(cs, gs);
        if (cs == NN_OK) expect_close(go, co, tol_of(nn_tensor_dtype(co)) * 4, "reduce");
        nn_tensor_free(co);
        nn_tensor_free(go);
      }
    /* matmul [40, 65] @ [65, 40] through a transposed view */
    nn_tensor *bt = NULL, *gbt = NULL, *co = NULL, *go = NULL;
    assert_int_equal(nn_tensor_transpose(big, 0, 1, &bt), NN_OK);
    assert_int_equal(nn_tensor_transpose(gbig, 0, 1, &gbt), NN_OK);
    nn_tensor *sm = rand_tensor(dt, 2, sb, fl ? -1 : -5, fl ? 1 : 5, 400 + (uint64_t)i), *gsm = to_gpu(sm);
    assert_int_equal(nn_matmul(sm, bt, &co), NN_OK);
    assert_int_equal(nn_matmul(gsm, gbt, &go), NN_OK);
    expect_close(go, co, tol_of(dt) * 10, "matmul");
    nn_tensor_free(bt);
    nn_tensor_free(gbt);
    nn_tensor_free(co);
    nn_tensor_free(go);
    nn_tensor_free(sm);
    nn_tensor_free(gsm);
    nn_tensor_free(big);
    nn_tensor_free(gbig);
    nn_tensor_free(a);
    nn_tensor_free(b);
    nn_tensor_free(ga);
    nn_tensor_free(gb);
  }
}

/* Same model, data and seed on both devices; weights agree after training. */
static void train_and_compare(nn_activation hidden, nn_activation out_act, nn_loss loss, bool adam, bool shuffle) {
  int64_t sizes[4] = {12, 32, 16, 4};
  nn_model *mc = NULL, *mg = NULL;
  assert_int_equal(nn_model_mlp(4, sizes, hidden, out_act, &mc), NN_OK);
  assert_int_equal(nn_model_init(mc, NN_INIT_HE_UNIFORM, 5), NN_OK);
  assert_int_equal(nn_model_mlp(4, sizes, hidden, out_act, &mg), NN_OK);
  assert_int_equal(nn_model_init(mg, NN_INIT_HE_UNIFORM, 5), NN_OK);
  assert_int_equal(nn_model_to(mg, kGpu), NN_OK);
  assert_int_equal(nn_model_device(mg).type, NN_CUDA);
  int64_t xs[2] = {200, 12}, ys[2] = {200, 4}, ids[1] = {200};
  nn_tensor *x = rand_tensor(NN_F32, 2, xs, -1, 1, 77), *y = NULL;
  if (loss == NN_LOSS_CROSS_ENTROPY) {
    nn_tensor *f = rand_tensor(NN_F64, 1, ids, 0, 3.999, 78);
    assert_int_equal(nn_tensor_to_dtype(f, NN_I64, &y), NN_OK);
    nn_tensor_free(f);
  } else {
    y = rand_tensor(NN_F32, 2, ys, 0.05, 0.95, 79);
  }
  nn_tensor *gx = to_gpu(x), *gy = to_gpu(y);
  nn_optimizer *oc = NULL, *og = NULL;
  if (adam) {
    assert_int_equal(nn_optimizer_adam(mc, 1e-3, 0.9, 0.999, 1e-8, 0.01, true, &oc), NN_OK);
    assert_int_equal(nn_optimizer_adam(mg, 1e-3, 0.9, 0.999, 1e-8, 0.01, true, &og), NN_OK);
  } else {
    assert_int_equal(nn_optimizer_sgd(mc, 0.05, 0.9, 1e-4, true, &oc), NN_OK);
    assert_int_equal(nn_optimizer_sgd(mg, 0.05, 0.9, 1e-4, true, &og), NN_OK);
  }
  nn_fit_options o;
  nn_fit_options_init(&o);
  o.epochs = 5;
  o.batch_size = 16;
  o.seed = 3;
  o.loss = loss;
  o.shuffle = shuffle;
  nn_epoch_report rc, rg;
  assert_int_equal(nn_model_fit(mc, oc, x, y, &o, &rc), NN_OK);
  assert_int_equal(nn_model_fit(mg, og, gx, gy, &o, &rg), NN_OK);
  if (fabs(rc.loss - rg.loss) > 1e-4 * fabs(rc.loss) + 1e-7) fail_msg("loss: cpu %.9g cuda %.9g", rc.loss, rg.loss);
  for (int i = 0; i < nn_model_num_layers(mc); ++i) {
    nn_layer *lc = NULL, *lg = NULL;
    assert_int_equal(nn_model_layer(mc, i, &lc), NN_OK);
    assert_int_equal(nn_model_layer(mg, i, &lg), NN_OK);
    if (nn_layer_kind_of(lc) != NN_LAYER_LINEAR) continue;
    for (int p = 0; p < 2; ++p) {
      nn_tensor *pc = NULL, *pg = NULL;
      assert_int_equal(nn_layer_param(lc, (nn_param)p, &pc), NN_OK);
      assert_int_equal(nn_layer_param(lg, (nn_param)p, &pg), NN_OK);
      expect_close(pg, pc, 1e-4, "trained parameter");
      nn_tensor_free(pc);
      nn_tensor_free(pg);
    }
  }
  /* back to the CPU: same forward */
  nn_tensor *pc = NULL, *pg = NULL;
  assert_int_equal(nn_model_to(mg, kCpu), NN_OK);
  assert_int_equal(nn_model_forward(mc, x, &pc), NN_OK);
  assert_int_equal(nn_model_forward(mg, x, &pg), NN_OK);
  expect_close(pg, pc, 1e-4, "forward after nn_model_to(cpu)");
  nn_tensor_free(pc);
  nn_tensor_free(pg);
  nn_optimizer_free(oc);
  nn_optimizer_free(og);
  nn_tensor_free(x);
  nn_tensor_free(y);
  nn_tensor_free(gx);
  nn_tensor_free(gy);
  nn_model_free(mc);
  nn_model_free(mg);
}

static void test_training_parity_adam_mse(void **state) {
  (void)state;
  NEED_GPU();
  train_and_compare(NN_ACT_RELU, NN_ACT_SIGMOID, NN_LOSS_MSE, true, true);
}

static void test_training_parity_sgd_ce(void **state) {
  (void)state;
  NEED_GPU();
  train_and_compare(NN_ACT_TANH, NN_ACT_IDENTITY, NN_LOSS_CROSS_ENTROPY, false, true);
}

static void test_training_parity_bce(void **state) {
  (void)state;
  NEED_GPU();
  train_and_compare(NN_ACT_LEAKY_RELU, NN_ACT_IDENTITY, NN_LOSS_BCE_WITH_LOGITS, true, true);
}

/* Without shuffling the GPU copies each batch into fixed buffers (so a CUDA
 * graph can replay the step): same results as the CPU's row slices. */
static void test_training_parity_no_shuffle(void **state) {
  (void)state;
  NEED_GPU();
  train_and_compare(NN_ACT_RELU, NN_ACT_IDENTITY, NN_LOSS_MSE, false, false);
}

/* ---- CUDA graphs and determinism ---------------------------------------------- */

#define GRAPH_EPOCHS 4

typedef struct fit_run {
  double loss[GRAPH_EPOCHS];  /* every epoch's reported loss */
  double *params;             /* every parameter, float64, in layer order */
  int64_t nparams;
} fit_run;

static int record_loss(const nn_epoch_report *r, void *user) {
  fit_run *run = user;
  if (r->epoch >= 0 && r->epoch < GRAPH_EPOCHS) run->loss[r->epoch] = r->loss;
  return 0;
}

/* One GPU fit from the same start: 200 rows in batches of 16 (12 full, then
 * 8), so both the full-batch and the last-batch steps repeat. graphs:
 * whether NN_CUDA_GRAPHS is left unset (default: graphs) or set to "0". */
static fit_run gpu_fit(nn_loss loss, bool adam, bool shuffle, bool graphs) {
  int64_t sizes[4] = {12, 32, 16, 4};
  nn_model *m = NULL;
  assert_int_equal(nn_model_mlp(4, sizes, NN_ACT_RELU, NN_ACT_IDENTITY, &m), NN_OK);
  assert_int_equal(nn_model_init(m, NN_INIT_HE_UNIFORM, 9), NN_OK);
  assert_int_equal(nn_model_to(m, kGpu), NN_OK);
  int64_t xs[2] = {200, 12}, ys[2] = {200, 4}, ids[1] = {200};
  nn_tensor *x = rand_tensor(NN_F32, 2, xs, -1, 1, 91), *y = NULL;
  if (loss == NN_LOSS_CROSS_ENTROPY) {
    nn_tensor *f = rand_tensor(NN_F64, 1, ids, 0, 3.999, 92);
    assert_int_equal(nn_tensor_to_dtype(f, NN_I64, &y), NN_OK);
    nn_tensor_free(f);
  } else {
    y = rand_tensor(NN_F32, 2, ys, -1, 1, 93);
  }
  nn_tensor *gx = to_gpu(x), *gy = to_gpu(y);
  nn_optimizer *opt = NULL;
  if (adam)
    assert_int_equal(nn_optimizer_adam(m, 1e-3, 0.9, 0.999, 1e-8, 0.01, true, &opt), NN_OK);
  else
    assert_int_equal(nn_optimizer_sgd(m, 0.05, 0.9, 1e-4, false, &opt), NN_OK);
  fit_run run;
  memset(&run, 0, sizeof run);
  nn_fit_options o;
  nn_fit_options_init(&o);
  o.epochs = GRAPH_EPOCHS;
  o.batch_size = 16;
  o.seed = 11;
  o.loss = loss;
  o.shuffle = shuffle;
  o.on_epoch = record_loss;
  o.user_data = &run;
  if (graphs)
    unsetenv("NN_CUDA_GRAPHS");
  else
    setenv("NN_CUDA_GRAPHS", "0", 1);
  nn_status st = nn_model_fit(m, opt, gx, gy, &o, NULL);
  unsetenv("NN_CUDA_GRAPHS");
  assert_int_equal(st, NN_OK);
  /* every parameter, read back */
  assert_true(nn_model_num_params(m) > 0);
  run.params = tu_model_values(m, false, &run.nparams);
  nn_optimizer_free(opt);
  nn_tensor_free(x);
  nn_tensor_free(y);
  nn_tensor_free(gx);
  nn_tensor_free(gy);
  nn_model_free(m);
  return run;
}

/* Bit for bit: every epoch's loss and every trained parameter. */
static void expect_same_run(const fit_run *a, const fit_run *b, const char *what) {
  for (int e = 0; e < GRAPH_EPOCHS; ++e)
    if (memcmp(&a->loss[e], &b->loss[e], sizeof(double)) != 0)
      fail_msg("%s: epoch %d loss %.17g vs %.17g", what, e, a->loss[e], b->loss[e]);
  assert_int_equal(a->nparams, b->nparams);
  for (int64_t i = 0; i < a->nparams; ++i)
    if (memcmp(&a->params[i], &b->params[i], sizeof(double)) != 0)
      fail_msg("%s: parameter %lld: %.17g vs %.17g", what, (long long)i, a->params[i], b->params[i]);
}

/* Graphs on (default) and off give the same bits; so do two identical runs
 * (the loss sum is reduced in a fixed order, no float atomics). */
static void graphs_case(nn_loss loss, bool adam, bool shuffle) {
  fit_run eager = gpu_fit(loss, adam, shuffle, false);
  fit_run g1 = gpu_fit(loss, adam, shuffle, true);
  fit_run g2 = gpu_fit(loss, adam, shuffle, true);
  fit_run eager2 = gpu_fit(loss, adam, shuffle, false);
  expect_same_run(&g1, &eager, "NN_CUDA_GRAPHS default vs 0");
  expect_same_run(&g1, &g2, "two runs with graphs");
  expect_same_run(&eager, &eager2, "two runs without graphs");
  free(eager.params);
  free(g1.params);
  free(g2.params);
  free(eager2.params);
}

static void test_graphs_bit_identical_sgd_shuffle(void **state) {
  (void)state;
  NEED_GPU();
  graphs_case(NN_LOSS_MSE, false, true);
}

static void test_graphs_bit_identical_sgd_no_shuffle(void **state) {
  (void)state;
  NEED_GPU();
  graphs_case(NN_LOSS_CROSS_ENTROPY, false, false);
}

static void test_graphs_bit_identical_adam_shuffle(void **state) {
  (void)state;
  NEED_GPU();
  graphs_case(NN_LOSS_CROSS_ENTROPY, true, true);
}

static void test_graphs_bit_identical_adam_no_shuffle(void **state) {
  (void)state;
  NEED_GPU();
  graphs_case(NN_LOSS_MSE, true, false);
}

static void test_save_load_on_gpu(void **state) {
  (void)state;
  NEED_GPU();
  int64_t sizes[3] = {5, 7, 2};
  nn_model *m = NULL, *g = NULL;
  assert_int_equal(nn_model_mlp(3, sizes, NN_ACT_TANH, NN_ACT_SOFTMAX, &m), NN_OK);
  size_t need = 0;
  assert_int_equal(nn_model_save_buffer(m, NULL, 0, &need), NN_OK);
  void *buf = malloc(need);
  assert_int_equal(nn_model_save_buffer(m, buf, need, &need), NN_OK);
  assert_int_equal(nn_model_load_buffer(buf, need, kGpu, &g), NN_OK);
  assert_int_equal(nn_model_device(g).type, NN_CUDA);
  int64_t xs[2] = {9, 5};
  nn_tensor *x = rand_tensor(NN_F32, 2, xs, -2, 2, 9), *gx = to_gpu(x), *yc = NULL, *yg = NULL;
  assert_int_equal(nn_model_forward(m, x, &yc), NN_OK);
  assert_int_equal(nn_model_forward(g, gx, &yg), NN_OK);
  expect_close(yg, yc, 1e-5, "forward of a model loaded onto the GPU");
  free(buf);
  nn_tensor_free(x);
  nn_tensor_free(gx);
  nn_tensor_free(yc);
  nn_tensor_free(yg);
  nn_model_free(m);
  nn_model_free(g);
}

/* ---- one stream per model ------------------------------------------------------
 * Each model on a GPU runs on its own stream: two models trained from two
 * threads run concurrently, and must give exactly the weights each gives
 * when trained alone (per-stream workspaces and scratch, deterministic
 * kernels). A result read with nn_tensor_read right after the call that
 * made it is final (the model stream is joined into the device's order
 * when the call returns). Threads use no cmocka assertion: they record a
 * status and the main thread checks it. */

typedef struct stream_job {
  nn_model *m;
  nn_optimizer *opt;
  nn_tensor *x, *y; /* on the GPU */
  nn_loss loss;
  nn_status st;
  char err[512];
  float *params; /* every parameter, read with nn_tensor_read right after the fit */
  int64_t nparams;
} stream_job;

#define STREAM_ROWS 2048
#define STREAM_EPOCHS 6

/* Two different set-ups (variant 0 / 1), each the same every time. */
static void job_init(stream_job *j, int variant) {
  memset(j, 0, sizeof *j);
  int64_t s0[4] = {32, 256, 128, 8}, s1[4] = {16, 192, 192, 5};
  const int64_t *sizes = variant == 0 ? s0 : s1;
  assert_int_equal(nn_model_mlp(4, sizes, NN_ACT_RELU, NN_ACT_IDENTITY, &j->m), NN_OK);
  assert_int_equal(nn_model_init(j->m, NN_INIT_HE_UNIFORM, 31 + (uint64_t)variant), NN_OK);
  assert_int_equal(nn_model_to(j->m, kGpu), NN_OK);
  if (variant == 0)
    assert_int_equal(nn_optimizer_adam(j->m, 1e-3, 0.9, 0.999, 1e-8, 0.01, true, &j->opt), NN_OK);
  else
    assert_int_equal(nn_optimizer_sgd(j->m, 0.02, 0.9, 1e-4, true, &j->opt), NN_OK);
  int64_t xs[2] = {STREAM_ROWS, sizes[0]}, ys[2] = {STREAM_ROWS, sizes[3]}, ids[1] = {STREAM_ROWS};
  nn_tensor *x = rand_tensor(NN_F32, 2, xs, -1, 1, 500 + (uint64_t)variant), *y = NULL;
  if (variant == 1) {
    nn_tensor *f = rand_tensor(NN_F64, 1, ids, 0, (double)sizes[3] - 0.001, 510);
    assert_int_equal(nn_tensor_to_dtype(f, NN_I64, &y), NN_OK);
    nn_tensor_free(f);
    j->loss = NN_LOSS_CROSS_ENTROPY;
  } else {
    y = rand_tensor(NN_F32, 2, ys, -1, 1, 520);
    j->loss = NN_LOSS_MSE;
  }
  j->x = to_gpu(x);
  j->y = to_gpu(y);
  nn_tensor_free(x);
  nn_tensor_free(y);
  j->nparams = nn_model_num_params(j->m);
  j->params = calloc((size_t)j->nparams, sizeof(float));
  assert_non_null(j->params);
}

static void job_fail(stream_job *j, nn_status st) {
  j->st = st;
  snprintf(j->err, sizeof j->err, "%s", nn_last_error());
}

/* Trains, then reads every parameter at once: safe on any thread. */
static void *job_run(void *arg) {
  stream_job *j = arg;
  nn_fit_options o;
  nn_fit_options_init(&o);
  o.epochs = STREAM_EPOCHS;
  o.batch_size = 64;
  o.seed = 7;
  o.loss = j->loss;
  o.shuffle = true;
  nn_status st = nn_model_fit(j->m, j->opt, j->x, j->y, &o, NULL);
  if (st != NN_OK) {
    job_fail(j, st);
    return NULL;
  }
  int64_t at = 0;
  for (int i = 0; i < nn_model_num_layers(j->m); ++i) {
    nn_layer *l = NULL;
    if ((st = nn_model_layer(j->m, i, &l)) != NN_OK) return job_fail(j, st), NULL;
    if (nn_layer_kind_of(l) != NN_LAYER_LINEAR) continue;
    for (int p = 0; p < 2; ++p) {
      nn_tensor *t = NULL;
      if ((st = nn_layer_param(l, (nn_param)p, &t)) != NN_OK) return job_fail(j, st), NULL;
      const int64_t n = nn_tensor_numel(t);
      if (at + n > j->nparams) {
        nn_tensor_free(t);
        j->st = NN_ERR_INTERNAL;
        snprintf(j->err, sizeof j->err, "more parameters than nn_model_num_params says");
        return NULL;
      }
      st = nn_tensor_read(t, j->params + at, sizeof(float) * (size_t)n);
      nn_tensor_free(t);
      if (st != NN_OK) return job_fail(j, st), NULL;
      at += n;
    }
  }
  j->st = at == j->nparams ? NN_OK : NN_ERR_INTERNAL;
  if (j->st != NN_OK) snprintf(j->err, sizeof j->err, "read %lld of %lld parameters", (long long)at, (long long)j->nparams);
  return NULL;
}

static void job_free(stream_job *j) {
  nn_optimizer_free(j->opt);
  nn_model_free(j->m);
  nn_tensor_free(j->x);
  nn_tensor_free(j->y);
  free(j->params);
  memset(j, 0, sizeof *j);
}

static void expect_job_ok(const stream_job *j, const char *what) {
  if (j->st != NN_OK) fail_msg("%s: status %d: %s", what, (int)j->st, j->err);
}

static void expect_same_params(const stream_job *a, const stream_job *b, const char *what) {
  assert_int_equal(a->nparams, b->nparams);
  for (int64_t i = 0; i < a->nparams; ++i)
    if (memcmp(&a->params[i], &b->params[i], sizeof(float)) != 0)
      fail_msg("%s: parameter %lld: %.9g vs %.9g", what, (long long)i, (double)a->params[i], (double)b->params[i]);
}

static void test_two_models_two_threads_bit_identical(void **state) {
  (void)state;
  NEED_GPU();
  stream_job alone[2];
  for (int v = 0; v < 2; ++v) {
    job_init(&alone[v], v);
    job_run(&alone[v]);
    expect_job_ok(&alone[v], "alone");
  }
  for (int round = 0; round < 3; ++round) {
    stream_job both[2];
    pthread_t th[2];
    for (int v = 0; v < 2; ++v) job_init(&both[v], v);
    for (int v = 0; v < 2; ++v) assert_int_equal(pthread_create(&th[v], NULL, job_run, &both[v]), 0);
    for (int v = 0; v < 2; ++v) assert_int_equal(pthread_join(th[v], NULL), 0);
    for (int v = 0; v < 2; ++v) {
      char what[64];
      snprintf(what, sizeof what, "round %d, model %d: concurrent vs alone", round, v);
      expect_job_ok(&both[v], what);
      expect_same_params(&both[v], &alone[v], what);
      job_free(&both[v]);
    }
  }
  for (int v = 0; v < 2; ++v) job_free(&alone[v]);
}

/* Several threads forward one model at once (nn_model_forward is
 * thread-safe): each reads its output right away, and it equals the
 * output of the same input forwarded alone, bit for bit. */
#define FWD_THREADS 4
#define FWD_ROUNDS 16

typedef struct fwd_job {
  nn_model *m;
  nn_tensor *x;   /* on the GPU */
  float *expect;  /* the output forwarded alone */
  int64_t n;
  nn_status st;
  char err[512];
  int64_t bad;    /* first differing element, or -1 */
} fwd_job;

static void *fwd_run(void *arg) {
  fwd_job *j = arg;
  float *got = malloc(sizeof(float) * (size_t)j->n);
  j->bad = -1;
  if (!got) {
    j->st = NN_ERR_OUT_OF_MEMORY;
    return NULL;
  }
  for (int r = 0; r < FWD_ROUNDS && j->st == NN_OK && j->bad < 0; ++r) {
    nn_tensor *y = NULL;
    nn_status st = nn_model_forward(j->m, j->x, &y);
    if (st == NN_OK) st = nn_tensor_read(y, got, sizeof(float) * (size_t)j->n);
    if (st != NN_OK) {
      j->st = st;
      snprintf(j->err, sizeof j->err, "%s", nn_last_error());
    }
    nn_tensor_free(y);
    for (int64_t i = 0; st == NN_OK && i < j->n; ++i)
      if (memcmp(&got[i], &j->expect[i], sizeof(float)) != 0) {
        j->bad = i;
        break;
      }
  }
  free(got);
  return NULL;
}

static void test_concurrent_forward_one_model(void **state) {
  (void)state;
  NEED_GPU();
  int64_t sizes[4] = {64, 512, 256, 10};
  nn_model *m = NULL;
  assert_int_equal(nn_model_mlp(4, sizes, NN_ACT_TANH, NN_ACT_SOFTMAX, &m), NN_OK);
  assert_int_equal(nn_model_to(m, kGpu), NN_OK);
  fwd_job jobs[FWD_THREADS];
  for (int t = 0; t < FWD_THREADS; ++t) {
    memset(&jobs[t], 0, sizeof jobs[t]);
    int64_t xs[2] = {1024 + 64 * t, 64};
    nn_tensor *x = rand_tensor(NN_F32, 2, xs, -2, 2, 600 + (uint64_t)t), *y = NULL;
    jobs[t].m = m;
    jobs[t].x = to_gpu(x);
    jobs[t].n = xs[0] * 10;
    jobs[t].expect = malloc(sizeof(float) * (size_t)jobs[t].n);
    assert_non_null(jobs[t].expect);
    assert_int_equal(nn_model_forward(m, jobs[t].x, &y), NN_OK);
    assert_int_equal(nn_tensor_read(y, jobs[t].expect, sizeof(float) * (size_t)jobs[t].n), NN_OK);
    nn_tensor_free(y);
    nn_tensor_free(x);
  }
  pthread_t th[FWD_THREADS];
  for (int t = 0; t < FWD_THREADS; ++t) assert_int_equal(pthread_create(&th[t], NULL, fwd_run, &jobs[t]), 0);
  for (int t = 0; t < FWD_THREADS; ++t) assert_int_equal(pthread_join(th[t], NULL), 0);
  for (int t = 0; t < FWD_THREADS; ++t) {
    if (jobs[t].st != NN_OK) fail_msg("thread %d: status %d: %s", t, (int)jobs[t].st, jobs[t].err);
    if (jobs[t].bad >= 0) fail_msg("thread %d: output element %lld differs from the lone forward", t, (long long)jobs[t].bad);
    nn_tensor_free(jobs[t].x);
    free(jobs[t].expect);
  }
  nn_model_free(m);
}

/* A forward's output and a fit's weights, read right after the call, are
 * the final values: the forward against the CPU's, the weights against a
 * second read after another call on the model (evaluate waits for its
 * stream). */
static void test_read_right_after_call_is_final(void **state) {
  (void)state;
  NEED_GPU();
  int64_t sizes[4] = {256, 1024, 1024, 10};
  nn_model *m = NULL, *g = NULL;
  assert_int_equal(nn_model_mlp(4, sizes, NN_ACT_RELU, NN_ACT_IDENTITY, &m), NN_OK);
  size_t need = 0;
  assert_int_equal(nn_model_save_buffer(m, NULL, 0, &need), NN_OK);
  void *buf = malloc(need);
  assert_non_null(buf);
  assert_int_equal(nn_model_save_buffer(m, buf, need, &need), NN_OK);
  assert_int_equal(nn_model_load_buffer(buf, need, kGpu, &g), NN_OK);
  free(buf);
  int64_t xs[2] = {4096, 256}, ys[2] = {4096, 10};
  nn_tensor *x = rand_tensor(NN_F32, 2, xs, -1, 1, 700), *gx = to_gpu(x), *yc = NULL, *yg = NULL;
  assert_int_equal(nn_model_forward(m, x, &yc), NN_OK);
  assert_int_equal(nn_model_forward(g, gx, &yg), NN_OK);
  const int64_t n = xs[0] * 10;
  float *got = malloc(sizeof(float) * (size_t)n), *want = malloc(sizeof(float) * (size_t)n);
  assert_non_null(got);
  assert_non_null(want);
  /* right away; a read that overtook the model's stream would see garbage */
  assert_int_equal(nn_tensor_read(yg, got, sizeof(float) * (size_t)n), NN_OK);
  assert_int_equal(nn_tensor_read(yc, want, sizeof(float) * (size_t)n), NN_OK);
  for (int64_t i = 0; i < n; ++i) {
    double diff = fabs((double)got[i] - want[i]), scale = fmax(fabs((double)got[i]), fabs((double)want[i]));
    if (!(diff <= 1e-4 * scale + 1e-4)) fail_msg("forward element %lld: cuda %.9g vs cpu %.9g", (long long)i, got[i], want[i]);
  }
  free(got);
  free(want);
  /* fit, then read the first weight right away, then again after evaluate */
  nn_tensor *y = rand_tensor(NN_F32, 2, ys, -1, 1, 701), *gy = to_gpu(y);
  nn_optimizer *opt = NULL;
  assert_int_equal(nn_optimizer_sgd(g, 0.01, 0.9, 0, false, &opt), NN_OK);
  nn_layer *l0 = NULL;
  nn_tensor *w = NULL;
  assert_int_equal(nn_model_layer(g, 0, &l0), NN_OK);
  assert_int_equal(nn_layer_param(l0, NN_PARAM_WEIGHT, &w), NN_OK);
  const int64_t nw = nn_tensor_numel(w);
  float *w0 = malloc(sizeof(float) * (size_t)nw), *w1 = malloc(sizeof(float) * (size_t)nw),
        *w2 = malloc(sizeof(float) * (size_t)nw);
  assert_non_null(w0);
  assert_non_null(w1);
  assert_non_null(w2);
  assert_int_equal(nn_tensor_read(w, w0, sizeof(float) * (size_t)nw), NN_OK);
  nn_fit_options o;
  nn_fit_options_init(&o);
  o.epochs = 3;
  o.batch_size = 128;
  o.loss = NN_LOSS_MSE;
  assert_int_equal(nn_model_fit(g, opt, gx, gy, &o, NULL), NN_OK);
  assert_int_equal(nn_tensor_read(w, w1, sizeof(float) * (size_t)nw), NN_OK);  /* right away */
  double loss = 0;
  assert_int_equal(nn_model_evaluate(g, gx, gy, NN_LOSS_MSE, &loss, NULL), NN_OK);
  assert_true(isfinite(loss));
  assert_int_equal(nn_tensor_read(w, w2, sizeof(float) * (size_t)nw), NN_OK);
  assert_true(memcmp(w0, w1, sizeof(float) * (size_t)nw) != 0);  /* the fit changed them */
  for (int64_t i = 0; i < nw; ++i)
    if (memcmp(&w1[i], &w2[i], sizeof(float)) != 0)
      fail_msg("weight %lld read right after the fit: %.9g, later: %.9g", (long long)i, (double)w1[i], (double)w2[i]);
  free(w0);
  free(w1);
  free(w2);
  nn_tensor_free(w);
  nn_optimizer_free(opt);
  nn_tensor_free(x);
  nn_tensor_free(gx);
  nn_tensor_free(y);
  nn_tensor_free(gy);
  nn_tensor_free(yc);
  nn_tensor_free(yg);
  nn_model_free(m);
  nn_model_free(g);
}

/* ---- multi-tensor optimizer updates -------------------------------------------- */

/* 40 Linear layers: 80 parameter tensors, more than one launch of the
 * multi-tensor update takes (NN_CUDA_MT_TENSORS, 64), so a step is two
 * launches. Widths vary (6..12) so that neighbouring tensors differ in size. */
#define MT_LAYERS 40

typedef struct mt_config {
  const char *name;
  bool adam;
  double lr, momentum, weight_decay;
  bool nesterov, decoupled;
} mt_config;

static const mt_config kMtConfigs[] = {
    {"sgd", false, 0.05, 0, 0, false, false},
    {"sgd weight decay", false, 0.05, 0, 1e-2, false, false},
    {"sgd momentum", false, 0.05, 0.9, 0, false, false},
    {"sgd nesterov", false, 0.05, 0.9, 0, true, false},
    {"sgd momentum weight decay", false, 0.05, 0.9, 1e-2, false, false},
    {"sgd nesterov weight decay", false, 0.05, 0.9, 1e-2, true, false},
    {"adam", true, 1e-3, 0, 0, false, false},
    {"adam weight decay", true, 1e-3, 0, 1e-2, false, false},
    {"adamw", true, 1e-3, 0, 1e-2, false, true},
};
#define MT_CONFIGS ((int)(sizeof kMtConfigs / sizeof kMtConfigs[0]))

static nn_model *mt_model(nn_dtype dt, nn_device dev) {
  int64_t sizes[MT_LAYERS + 1];
  for (int i = 0; i <= MT_LAYERS; ++i) sizes[i] = 6 + (i * 5) % 7;
  nn_model *m = NULL;
  assert_int_equal(nn_model_mlp(MT_LAYERS + 1, sizes, NN_ACT_TANH, NN_ACT_IDENTITY, &m), NN_OK);
  assert_int_equal(nn_model_init(m, NN_INIT_XAVIER_UNIFORM, 21), NN_OK);
  if (dt != NN_F32) assert_int_equal(nn_model_to_dtype(m, dt), NN_OK);
  if (dev.type != NN_CPU) assert_int_equal(nn_model_to(m, dev), NN_OK);
  return m;
}

static nn_optimizer *mt_optimizer(nn_model *m, const mt_config *c) {
  nn_optimizer *o = NULL;
  if (c->adam)
    assert_int_equal(nn_optimizer_adam(m, c->lr, 0.9, 0.999, 1e-8, c->weight_decay, c->decoupled, &o), NN_OK);
  else
    assert_int_equal(nn_optimizer_sgd(m, c->lr, c->momentum, c->weight_decay, c->nesterov, &o), NN_OK);
  return o;
}

#define MT_STEPS 4

/* MT_STEPS optimizer steps (zero_grad, backward over 32 rows, step) of the
 * 40-layer model on dev; returns its parameters. multi: whether
 * NN_CUDA_NO_MULTI_TENSOR is left unset (one launch per chunk) or set to
 * "1" (one launch per tensor). */
static double *mt_train(const mt_config *c, nn_dtype dt, nn_device dev, bool multi, int64_t *n) {
  nn_model *m = mt_model(dt, dev);
  nn_optimizer *o = mt_optimizer(m, c);
  int64_t xs[2] = {32, 6}, ys[2] = {32, 6 + (MT_LAYERS * 5) % 7};
  nn_tensor *xc = rand_tensor(dt, 2, xs, -1, 1, 31), *yc = rand_tensor(dt, 2, ys, -1, 1, 32), *x = xc, *y = yc;
  if (dev.type != NN_CPU) {
    assert_int_equal(nn_tensor_to_device(xc, dev, &x), NN_OK);
    assert_int_equal(nn_tensor_to_device(yc, dev, &y), NN_OK);
  }
  if (multi)
    unsetenv("NN_CUDA_NO_MULTI_TENSOR");
  else
    setenv("NN_CUDA_NO_MULTI_TENSOR", "1", 1);
  nn_status st = NN_OK;
  for (int s = 0; s < MT_STEPS && st == NN_OK; ++s) {
    double loss = 0;
    st = nn_optimizer_zero_grad(o);
    if (st == NN_OK) st = nn_model_backward(m, x, y, NN_LOSS_MSE, &loss);
    if (st == NN_OK) st = nn_optimizer_step(o);
  }
  unsetenv("NN_CUDA_NO_MULTI_TENSOR");
  if (st != NN_OK) fail_msg("%s: %s", c->name, nn_last_error());
  double *p = tu_model_values(m, false, n);
  if (x != xc) nn_tensor_free(x);
  if (y != yc) nn_tensor_free(y);
  nn_tensor_free(xc);
  nn_tensor_free(yc);
  nn_optimizer_free(o);
  nn_model_free(m);
  return p;
}

/* The multi-tensor update on CUDA matches the CPU's per-tensor one, every
 * optimizer variant, float32 and float64 (1e-5 relative per weight for
 * float32; float64 tighter). */
static void test_multi_tensor_update_matches_cpu(void **state) {
  (void)state;
  NEED_GPU();
  const nn_dtype dts[2] = {NN_F32, NN_F64};
  for (int d = 0; d < 2; ++d) {
    const double rtol = dts[d] == NN_F32 ? 1e-5 : 1e-8;
    for (int c = 0; c < MT_CONFIGS; ++c) {
      int64_t nc = 0, ng = 0;
      double *pc = mt_train(&kMtConfigs[c], dts[d], kCpu, true, &nc);
      double *pg = mt_train(&kMtConfigs[c], dts[d], kGpu, true, &ng);
      assert_int_equal(nc, ng);
      for (int64_t i = 0; i < nc; ++i) {
        const double diff = fabs(pg[i] - pc[i]), scale = fmax(fabs(pg[i]), fabs(pc[i]));
        if (!(diff <= rtol * scale + rtol * 1e-2))
          fail_msg("%s %s: parameter %lld: cuda %.17g vs cpu %.17g", kMtConfigs[c].name,
                   dts[d] == NN_F32 ? "float32" : "float64", (long long)i, pg[i], pc[i]);
      }
      free(pc);
      free(pg);
    }
  }
}

/* One launch per chunk and one launch per tensor (NN_CUDA_NO_MULTI_TENSOR=1)
 * give the same bits: the same per-element code. */
static void test_multi_tensor_update_bit_identical_to_per_tensor(void **state) {
  (void)state;
  NEED_GPU();
  const nn_dtype dts[2] = {NN_F32, NN_F64};
  for (int d = 0; d < 2; ++d) {
    for (int c = 0; c < MT_CONFIGS; ++c) {
      int64_t na = 0, nb = 0;
      double *a = mt_train(&kMtConfigs[c], dts[d], kGpu, true, &na);
      double *b = mt_train(&kMtConfigs[c], dts[d], kGpu, false, &nb);
      assert_int_equal(na, nb);
      for (int64_t i = 0; i < na; ++i)
        if (memcmp(&a[i], &b[i], sizeof(double)) != 0)
          fail_msg("%s %s: parameter %lld: multi-tensor %.17g vs per-tensor %.17g", kMtConfigs[c].name,
                   dts[d] == NN_F32 ? "float32" : "float64", (long long)i, a[i], b[i]);
      free(a);
      free(b);
    }
  }
}

/* Inside nn_model_fit (the step replayed as a CUDA graph, the update eager
 * after it): multi-tensor and per-tensor updates, same bits. */
static void test_multi_tensor_update_in_fit(void **state) {
  (void)state;
  NEED_GPU();
  const int cfgs[2] = {4 /* sgd momentum weight decay */, 8 /* adamw */};
  for (int k = 0; k < 2; ++k) {
    const mt_config *c = &kMtConfigs[cfgs[k]];
    double *got[2];
    int64_t n[2];
    for (int multi = 0; multi < 2; ++multi) {
      nn_model *m = mt_model(NN_F32, kGpu);
      nn_optimizer *o = mt_optimizer(m, c);
      int64_t xs[2] = {40, 6}, ys[2] = {40, 6 + (MT_LAYERS * 5) % 7};
      nn_tensor *xc = rand_tensor(NN_F32, 2, xs, -1, 1, 41), *yc = rand_tensor(NN_F32, 2, ys, -1, 1, 42);
      nn_tensor *x = to_gpu(xc), *y = to_gpu(yc);
      nn_fit_options fo;
      nn_fit_options_init(&fo);
      fo.epochs = 3;
      fo.batch_size = 16; /* 16, 16, 8 */
      fo.seed = 5;
      fo.loss = NN_LOSS_MSE;
      if (multi)
        unsetenv("NN_CUDA_NO_MULTI_TENSOR");
      else
        setenv("NN_CUDA_NO_MULTI_TENSOR", "1", 1);
      nn_status st = nn_model_fit(m, o, x, y, &fo, NULL);
      unsetenv("NN_CUDA_NO_MULTI_TENSOR");
      if (st != NN_OK) fail_msg("%s fit: %s", c->name, nn_last_error());
      got[multi] = tu_model_values(m, false, &n[multi]);
      nn_tensor_free(x);
      nn_tensor_free(y);
      nn_tensor_free(xc);
      nn_tensor_free(yc);
      nn_optimizer_free(o);
      nn_model_free(m);
    }
    assert_int_equal(n[0], n[1]);
    for (int64_t i = 0; i < n[0]; ++i)
      if (memcmp(&got[0][i], &got[1][i], sizeof(double)) != 0)
        fail_msg("%s fit: parameter %lld: per-tensor %.17g vs multi-tensor %.17g", c->name, (long long)i,
                 got[0][i], got[1][i]);
    free(got[0]);
    free(got[1]);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_unavailable_names_missing_piece),
      cmocka_unit_test(test_index_out_of_range),
      cmocka_unit_test(test_transfers_and_conversions),
      cmocka_unit_test(test_ops_parity),
      cmocka_unit_test(test_training_parity_adam_mse),
      cmocka_unit_test(test_training_parity_sgd_ce),
      cmocka_unit_test(test_training_parity_bce),
      cmocka_unit_test(test_training_parity_no_shuffle),
      cmocka_unit_test(test_graphs_bit_identical_sgd_shuffle),
      cmocka_unit_test(test_graphs_bit_identical_sgd_no_shuffle),
      cmocka_unit_test(test_graphs_bit_identical_adam_shuffle),
      cmocka_unit_test(test_graphs_bit_identical_adam_no_shuffle),
      cmocka_unit_test(test_save_load_on_gpu),
      cmocka_unit_test(test_two_models_two_threads_bit_identical),
      cmocka_unit_test(test_concurrent_forward_one_model),
      cmocka_unit_test(test_read_right_after_call_is_final),
      cmocka_unit_test(test_multi_tensor_update_matches_cpu),
      cmocka_unit_test(test_multi_tensor_update_bit_identical_to_per_tensor),
      cmocka_unit_test(test_multi_tensor_update_in_fit),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
