/* Data-parallel nn_model_fit over a process group (nn_fit_options::comm),
 * run under mpirun with 2 and 3 ranks (CTest: test_comm_fit_np2/_np3).
 *
 * Equivalence: with shuffling off, W ranks where rank r holds the rows
 * [r*b, (r+1)*b) of every global batch of W*b rows end with the same weights
 * as one process fitting the concatenated data with batch W*b (each rank
 * computes that single-process reference itself), within 1e-5 relative, for
 * SGD with momentum and Adam over 20 epochs; the ranks' weights are bitwise
 * identical; the reports (loss, validation loss and accuracy) are those of
 * the single process over the union of the ranks' validation sets. Then the
 * collective checks: a mismatch, or an argument error on one rank, fails on
 * every rank with a message and leaves every model untouched (CTest's 60 s
 * timeout catches a hang); cancellation on one rank and a NaN in one rank's
 * data stop every rank. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

static nn_comm *g_comm;
static int g_rank, g_size;
static bool g_other_lr; /* check_mismatch: rank 1's optimizer gets lr 0.1 */

#define IN 6
#define OUT 3
#define B 4        /* rows per rank per batch */
#define K 5        /* batches per epoch */

/* Feature j of global row g, and its targets (a smooth function plus a
 * little structure, so the losses keep falling for 20 epochs). */
static double feature(int64_t g, int j) { return sin(0.37 * (double)g + 1.3 * j) + 0.1 * (double)((g * 7 + j) % 5); }
static double target(int64_t g, int o) {
  double s = 0;
  for (int j = 0; j < IN; ++j) s += feature(g, j) * (double)((j + o) % 3 - 1);
  return tanh(s);
}
static int64_t class_of(int64_t g) { return (int64_t)((g * 5 + g / 3) % OUT); }

/* Rows `rows[i]` (global indices) as x [n, IN] and y ([n, OUT] floats, or
 * [n] class ids). */
static void make_data(nn_dtype dt, const int64_t *rows, int64_t n, bool classes, nn_tensor **x, nn_tensor **y) {
  double *xv = malloc((size_t)(n * IN) * sizeof *xv), *yv = malloc((size_t)(n * OUT) * sizeof *yv);
  int64_t *cv = malloc((size_t)n * sizeof *cv);
  assert_non_null(xv);
  assert_non_null(yv);
  assert_non_null(cv);
  for (int64_t i = 0; i < n; ++i) {
    for (int j = 0; j < IN; ++j) xv[i * IN + j] = feature(rows[i], j);
    for (int o = 0; o < OUT; ++o) yv[i * OUT + o] = target(rows[i], o);
    cv[i] = class_of(rows[i]);
  }
  int64_t xs[2] = {n, IN}, ys[2] = {n, OUT};
  *x = tu_make(dt, 2, xs, xv);
  *y = classes ? tu_make_i64(NN_I64, 1, ys, cv) : tu_make(dt, 2, ys, yv);
  free(xv);
  free(yv);
  free(cv);
}

/* This rank's shard: rows [k*W*B + r*B, k*W*B + (r+1)*B) of every global batch k. */
static void shard_rows(int r, int64_t *rows) {
  for (int k = 0; k < K; ++k)
    for (int j = 0; j < B; ++j) rows[k * B + j] = (int64_t)k * g_size * B + (int64_t)r * B + j;
}
/* Validation: rank r holds 5 + r rows of its own (unequal sizes), after the
 * training rows; the union is all of them in rank order. */
static int64_t val_rows(int r, int64_t *rows) {
  int64_t base = (int64_t)g_size * B * K, n = 5 + r, off = 0;
  for (int q = 0; q < r; ++q) off += 5 + q;
  for (int64_t i = 0; i < n; ++i) rows[i] = base + off + i;
  return n;
}

static nn_model *make_model(nn_dtype dt, uint64_t seed) {
  int64_t sizes[3] = {IN, 8, OUT};
  nn_model *m = NULL;
  TU_OK(nn_model_mlp(3, sizes, NN_ACT_TANH, NN_ACT_IDENTITY, &m));
  TU_OK(nn_model_init(m, NN_INIT_XAVIER_UNIFORM, seed));
  TU_OK(nn_model_to_dtype(m, dt));
  return m;
}

static nn_optimizer *make_opt(nn_model *m, bool adam) {
  nn_optimizer *o = NULL;
  if (adam)
    TU_OK(nn_optimizer_adam(m, 0.01, 0.9, 0.999, 1e-8, 0.0, false, &o));
  else
    TU_OK(nn_optimizer_sgd(m, 0.05, 0.9, 0.0, false, &o));
  return o;
}

/* Every rank holds exactly these values (MAX and MIN over the group equal them). */
static void assert_same_on_every_rank(const double *v, int64_t n) {
  int64_t shape[1] = {n};
  nn_tensor *mx = tu_make(NN_F64, 1, shape, v), *mn = tu_make(NN_F64, 1, shape, v);
  TU_OK(nn_comm_allreduce(g_comm, mx, NN_REDUCE_MAX));
  TU_OK(nn_comm_allreduce(g_comm, mn, NN_REDUCE_MIN));
  int64_t k = 0;
  double *a = tu_read(mx, &k), *b = tu_read(mn, &k);
  assert_memory_equal(a, v, (size_t)n * sizeof(double));
  assert_memory_equal(b, v, (size_t)n * sizeof(double));
  free(a);
  free(b);
  nn_tensor_free(mx);
  nn_tensor_free(mn);
}

static void equivalence(nn_dtype dt, bool adam, bool classes) {
  const nn_loss loss = classes ? NN_LOSS_CROSS_ENTROPY : NN_LOSS_MSE;
  int64_t rows[K * B], vrows[16], all_rows[3 * K * B], all_vrows[64];
  shard_rows(g_rank, rows);
  int64_t nv = val_rows(g_rank, vrows), nav = 0;
  for (int64_t i = 0; i < (int64_t)g_size * K * B; ++i) all_rows[i] = i;
  for (int r = 0; r < g_size; ++r) nav += val_rows(r, all_vrows + nav);
  nn_tensor *x, *y, *vx, *vy, *ax, *ay, *avx, *avy;
  make_data(dt, rows, K * B, classes, &x, &y);
  make_data(dt, vrows, nv, classes, &vx, &vy);
  make_data(dt, all_rows, (int64_t)g_size * K * B, classes, &ax, &ay);
  make_data(dt, all_vrows, nav, classes, &avx, &avy);

  /* Distributed: each rank starts from its own weights; rank 0's win. */
  nn_model *m = make_model(dt, 11 + (uint64_t)g_rank);
  nn_optimizer *opt = make_opt(m, adam);
  nn_fit_options o;
  nn_fit_options_init(&o);
  o.epochs = 20;
  o.batch_size = B;
  o.shuffle = false;
  o.loss = loss;
  o.val_x = vx;
  o.val_y = vy;
  o.comm = g_comm;
  nn_epoch_report last;
  TU_OK(nn_model_fit(m, opt, x, y, &o, &last));

  /* The single process on the concatenated data, batch W*B. */
  nn_model *ref = make_model(dt, 11);
  nn_optimizer *ropt = make_opt(ref, adam);
  nn_fit_options ro = o;
  ro.batch_size = (int64_t)g_size * B;
  ro.val_x = avx;
  ro.val_y = avy;
  ro.comm = NULL;
  nn_epoch_report rlast;
  TU_OK(nn_model_fit(ref, ropt, ax, ay, &ro, &rlast));

  int64_t n1 = 0, n2 = 0;
  double *w = tu_model_values(m, false, &n1), *rw = tu_model_values(ref, false, &n2);
  assert_int_equal(n1, n2);
  char ctx[96];
  snprintf(ctx, sizeof ctx, "%s %s %s, %d ranks: weights", tu_dtype_name(dt), adam ? "Adam" : "SGD momentum",
           classes ? "cross-entropy" : "MSE", g_size);
  tu_assert_close(w, rw, n1, 1e-5, 1e-7, ctx);
  assert_same_on_every_rank(w, n1);
  /* The weights moved (a fit that did nothing would pass the above). */
  nn_model *start = make_model(dt, 11);
  double *sw = tu_model_values(start, false, &n2);
  double moved = 0;
  for (int64_t i = 0; i < n1; ++i) moved += fabs(w[i] - sw[i]);
  assert_true(moved > 0.1);
  /* Reports over all ranks: the single process's. */
  assert_int_equal(last.epoch, 19);
  double got[3] = {last.loss, last.val_loss, classes ? last.val_accuracy : 0};
  double exp[3] = {rlast.loss, rlast.val_loss, classes ? rlast.val_accuracy : 0};
  snprintf(ctx, sizeof ctx, "%s %s, %d ranks: loss, val_loss, val_accuracy", tu_dtype_name(dt),
           adam ? "Adam" : "SGD", g_size);
  tu_assert_close(got, exp, 3, 1e-5, 1e-9, ctx);
  if (!classes) assert_true(isnan(last.val_accuracy));
  double rep[3] = {last.loss, last.val_loss, last.val_accuracy};
  if (classes) assert_same_on_every_rank(rep, 3);
  free(w);
  free(rw);
  free(sw);
  nn_model_free(start);
  nn_optimizer_free(opt);
  nn_optimizer_free(ropt);
  nn_model_free(m);
  nn_model_free(ref);
  nn_tensor *ts[8] = {x, y, vx, vy, ax, ay, avx, avy};
  for (int i = 0; i < 8; ++i) nn_tensor_free(ts[i]);
}

static void test_equivalence_sgd_momentum(void **state) {
  (void)state;
  equivalence(NN_F64, false, false);
  equivalence(NN_F32, false, false);
}
static void test_equivalence_adam(void **state) {
  (void)state;
  equivalence(NN_F64, true, true);
  equivalence(NN_F32, true, true);
}

/* With shuffling each rank permutes its own shard (seed + rank): the ranks
 * stay identical, and the result differs from the unshuffled run. */
static void test_shuffle_keeps_ranks_identical(void **state) {
  (void)state;
  int64_t rows[K * B];
  shard_rows(g_rank, rows);
  nn_tensor *x, *y;
  make_data(NN_F64, rows, K * B, false, &x, &y);
  double *w[2];
  int64_t n = 0;
  for (int s = 0; s < 2; ++s) {
    nn_model *m = make_model(NN_F64, 3);
    nn_optimizer *opt = make_opt(m, false);
    nn_fit_options o;
    nn_fit_options_init(&o);
    o.epochs = 3;
    o.batch_size = B;
    o.shuffle = s == 1;
    o.seed = 5;
    o.comm = g_comm;
    TU_OK(nn_model_fit(m, opt, x, y, &o, NULL));
    w[s] = tu_model_values(m, false, &n);
    assert_same_on_every_rank(w[s], n);
    nn_optimizer_free(opt);
    nn_model_free(m);
  }
  double diff = 0;
  for (int64_t i = 0; i < n; ++i) diff += fabs(w[0][i] - w[1][i]);
  assert_true(diff > 1e-6);
  free(w[0]);
  free(w[1]);
  nn_tensor_free(x);
  nn_tensor_free(y);
}

/* One mismatching argument on rank 1: every rank fails with `status` and a
 * message containing `msg`, and no model changes. */
typedef void (*mutate_fn)(nn_fit_options *o, nn_tensor **x, nn_tensor **y);

static void check_mismatch(mutate_fn mutate, nn_status status, const char *msg, const char *own_msg) {
  int64_t rows[K * B], vrows[16];
  shard_rows(g_rank, rows);
  int64_t nv = val_rows(g_rank, vrows);
  nn_tensor *x, *y, *vx, *vy;
  make_data(NN_F64, rows, K * B, false, &x, &y);
  make_data(NN_F64, vrows, nv, false, &vx, &vy);
  nn_model *m = make_model(NN_F64, 21 + (uint64_t)g_rank);
  nn_optimizer *opt = make_opt(m, false);
  int64_t n = 0;
  double *before = tu_model_values(m, false, &n);
  nn_fit_options o;
  nn_fit_options_init(&o);
  o.epochs = 2;
  o.batch_size = B;
  o.val_x = vx;
  o.val_y = vy;
  o.comm = g_comm;
  g_other_lr = false;
  if (g_rank == 1) mutate(&o, &x, &y);
  if (g_other_lr) TU_OK(nn_optimizer_set_lr(opt, 0.1));
  if (own_msg && g_rank == 1)
    TU_ERR(nn_model_fit(m, opt, x, y, &o, NULL), status, "nn_model_fit", own_msg);
  else
    TU_ERR(nn_model_fit(m, opt, x, y, &o, NULL), status, "nn_model_fit", msg);
  double *after = tu_model_values(m, false, &n);
  assert_memory_equal(before, after, (size_t)n * sizeof(double));
  free(before);
  free(after);
  nn_optimizer_free(opt);
  nn_model_free(m);
  nn_tensor *ts[4] = {x, y, vx, vy};
  for (int i = 0; i < 4; ++i) nn_tensor_free(ts[i]);
}

static void fewer_rows(nn_fit_options *o, nn_tensor **x, nn_tensor **y) {
  (void)o;
  int64_t rows[K * B - 1];
  for (int64_t i = 0; i < K * B - 1; ++i) rows[i] = i;
  nn_tensor_free(*x);
  nn_tensor_free(*y);
  make_data(NN_F64, rows, K * B - 1, false, x, y);
}
static void more_epochs(nn_fit_options *o, nn_tensor **x, nn_tensor **y) { (void)x; (void)y; o->epochs = 3; }
static void other_batch(nn_fit_options *o, nn_tensor **x, nn_tensor **y) { (void)x; (void)y; o->batch_size = 5; }
static void other_loss(nn_fit_options *o, nn_tensor **x, nn_tensor **y) { (void)x; (void)y; o->loss = NN_LOSS_SSE; }
static void no_val(nn_fit_options *o, nn_tensor **x, nn_tensor **y) {
  (void)x;
  (void)y;
  o->val_x = NULL;
  o->val_y = NULL;
}
static void other_patience(nn_fit_options *o, nn_tensor **x, nn_tensor **y) { (void)x; (void)y; o->patience = 2; }
static void other_lr(nn_fit_options *o, nn_tensor **x, nn_tensor **y) { (void)o; (void)x; (void)y; g_other_lr = true; }
static void other_batch_every(nn_fit_options *o, nn_tensor **x, nn_tensor **y) { (void)x; (void)y; o->batch_every = 3; }
static void bad_features(nn_fit_options *o, nn_tensor **x, nn_tensor **y) {
  (void)o;
  (void)y;
  nn_tensor_free(*x);
  int64_t s[2] = {K * B, IN + 1};
  TU_OK(nn_tensor_zeros(NN_F64, 2, s, tu_cpu(), x));
}
static void bad_epochs(nn_fit_options *o, nn_tensor **x, nn_tensor **y) { (void)x; (void)y; o->epochs = 0; }

static void test_mismatches_fail_everywhere(void **state) {
  (void)state;
  if (g_size < 2) skip();
  check_mismatch(fewer_rows, NN_ERR_SHAPE,
                 "the ranks disagree on the number of training rows: rank 0 has 20, rank 1 has 19", NULL);
  check_mismatch(more_epochs, NN_ERR_INVALID_ARGUMENT, "the ranks disagree on epochs: rank 0 has 2, rank 1 has 3",
                 NULL);
  check_mismatch(other_batch, NN_ERR_INVALID_ARGUMENT,
                 "the ranks disagree on batch_size: rank 0 has 4, rank 1 has 5", NULL);
  check_mismatch(other_loss, NN_ERR_INVALID_ARGUMENT, "the ranks disagree on the loss: rank 0 has MSE, rank 1 has SSE",
                 NULL);
  check_mismatch(no_val, NN_ERR_INVALID_ARGUMENT,
                 "the ranks disagree on whether there is a validation set: rank 0 has yes, rank 1 has no", NULL);
  check_mismatch(other_patience, NN_ERR_INVALID_ARGUMENT, "the ranks disagree on patience: rank 0 has 0, rank 1 has 2",
                 NULL);
  check_mismatch(other_lr, NN_ERR_INVALID_ARGUMENT,
                 "the ranks disagree on the learning rate: rank 0 has 0.05, rank 1 has 0.1", NULL);
  check_mismatch(other_batch_every, NN_ERR_INVALID_ARGUMENT,
                 "the ranks disagree on batch_every: rank 0 has 0, rank 1 has 3", NULL);
  /* An argument error on rank 1 alone: its own message there, and the
   * others hear of it instead of waiting. */
  check_mismatch(bad_features, NN_ERR_SHAPE, "rank 1 failed its argument checks: ", "x has shape [20, 7] but the model expects");
  check_mismatch(bad_epochs, NN_ERR_INVALID_ARGUMENT, "rank 1 failed its argument checks: epochs is 0",
                 "epochs is 0; it must be >= 1");
}

static int cancel_on_rank0(const nn_epoch_report *r, void *ud) {
  (void)ud;
  return g_rank == 0 && r->epoch == 1;
}

static int g_batch_reports;
static int stop_on_rank0(const nn_batch_report *r, void *ud) {
  (void)ud;
  ++g_batch_reports;
  assert_int_equal(r->batches, K);
  assert_true(isfinite(r->loss) && r->loss > 0);
  return r->epoch == 0 && r->batch == 3;
}

static void test_cancel_and_nan_on_one_rank(void **state) {
  (void)state;
  int64_t rows[K * B];
  shard_rows(g_rank, rows);
  nn_tensor *x, *y;
  make_data(NN_F64, rows, K * B, false, &x, &y);
  nn_model *m = make_model(NN_F64, 31 + (uint64_t)g_rank);
  nn_optimizer *opt = make_opt(m, false);
  nn_fit_options o;
  nn_fit_options_init(&o);
  o.epochs = 5;
  o.batch_size = B;
  o.comm = g_comm;
  /* Only rank 0 has a callback, and it cancels after epoch 1: all stop there. */
  if (g_rank == 0) o.on_epoch = cancel_on_rank0;
  nn_epoch_report last;
  TU_ERR(nn_model_fit(m, opt, x, y, &o, &last), NN_ERR_CANCELLED, "nn_model_fit", "cancelled");
  assert_int_equal(last.epoch, 1);
  nn_optimizer_free(opt);
  nn_model_free(m);

  /* Only rank 0 has an on_batch, and it stops at epoch 0, batch 3: every
   * rank stops there (all ranks halt at the report batches to agree). */
  m = make_model(NN_F64, 31 + (uint64_t)g_rank);
  opt = make_opt(m, false);
  o.on_epoch = NULL;
  o.batch_every = 2;
  if (g_rank == 0) o.on_batch = stop_on_rank0;
  TU_ERR(nn_model_fit(m, opt, x, y, &o, NULL), NN_ERR_CANCELLED, "nn_model_fit", "cancelled by on_batch at epoch 0, batch 3");
  if (g_rank == 0) assert_int_equal(g_batch_reports, 2);
  o.on_batch = NULL;
  o.batch_every = 0;
  nn_optimizer_free(opt);
  nn_model_free(m);

  /* A NaN in the last rank's data: fit checks the data before anything
   * changes, so that rank fails with its own NOT_FINITE message, every other
   * rank hears of it at the agreement (no wait), and no model changes. */
  m = make_model(NN_F64, 41 + (uint64_t)g_rank);
  opt = make_opt(m, false);
  o.on_epoch = NULL;
  if (g_rank == g_size - 1) {
    int64_t k = 0;
    double *xv = tu_read(x, &k);
    xv[3] = NAN;
    int64_t s[2] = {K * B, IN};
    nn_tensor_free(x);
    x = tu_make(NN_F64, 2, s, xv);
    free(xv);
  }
  int64_t n = 0;
  double *before = tu_model_values(m, false, &n);
  if (g_rank == g_size - 1)
    TU_ERR(nn_model_fit(m, opt, x, y, &o, NULL), NN_ERR_NOT_FINITE, "nn_model_fit", "x[0, 3] is NaN");
  else
    TU_ERR(nn_model_fit(m, opt, x, y, &o, NULL), NN_ERR_NOT_FINITE, "nn_model_fit", "failed its argument checks",
           "x[0, 3] is NaN");
  double *after = tu_model_values(m, false, &n);
  assert_memory_equal(before, after, (size_t)n * sizeof(double));
  free(before);
  free(after);
  nn_optimizer_free(opt);
  nn_model_free(m);
  nn_tensor_free(x);
  nn_tensor_free(y);
}

int main(void) {
  if (nn_comm_mpi(NULL, &g_comm) != NN_OK) {
    fprintf(stderr, "test_comm_fit: nn_comm_mpi failed: %s\n", nn_last_error());
    return 1;
  }
  g_rank = nn_comm_rank(g_comm);
  g_size = nn_comm_size(g_comm);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_equivalence_sgd_momentum),
      cmocka_unit_test(test_equivalence_adam),
      cmocka_unit_test(test_shuffle_keeps_ranks_identical),
      cmocka_unit_test(test_mismatches_fail_everywhere),
      cmocka_unit_test(test_cancel_and_nan_on_one_rank),
  };
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  nn_comm_free(g_comm);
  return failed ? 1 : 0;
}
