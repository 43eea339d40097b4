/* Process groups (nn.h group "comm"), run under mpirun with 2 or 3 ranks
 * (CTest: test_comm_np2, test_comm_np3, test_comm_tcp) and alone
 * (test_comm_single: MPI initialised by libnn, a group of one).
 *
 * Every collective is checked against a local float64 reference: each rank
 * knows every other rank's input (a function of the rank), so it computes
 * the expected result itself. Values are small integers (and halves), so
 * sums are exact in every dtype and the comparisons are exact. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

static nn_comm *g_comm;
static int g_rank, g_size;

#define N_ELEMS 15

/* Input value i of rank r for dtype dt (non-negative for U8). */
static double input_value(nn_dtype dt, int r, int i) {
  double v = (double)((i * 7 + r * 3) % 11);
  if (dt != NN_U8) v -= 5;
  if (tu_is_float(dt) && (i % 3 == 0)) v += 0.5;
  return v;
}

static nn_tensor *make_input(nn_dtype dt, int r, int64_t n) {
  double vals[64];
  for (int64_t i = 0; i < n; ++i) vals[i] = input_value(dt, r, (int)i);
  int64_t shape[2] = {3, n / 3};
  return tu_make(dt, 2, shape, vals);
}

/* The expected element i of the reduction, computed as the library
 * defines it: exact sums; MEAN = the sum divided by the size in the dtype's
 * own arithmetic (float for F32/F16/BF16, then rounded). */
static double expected(nn_dtype dt, nn_reduce_op op, int i) {
  double acc = input_value(dt, 0, i);
  for (int r = 1; r < g_size; ++r) {
    double v = input_value(dt, r, i);
    if (op == NN_REDUCE_SUM || op == NN_REDUCE_MEAN) acc += v;
    if (op == NN_REDUCE_MAX) acc = v > acc ? v : acc;
    if (op == NN_REDUCE_MIN) acc = v < acc ? v : acc;
  }
  if (op == NN_REDUCE_MEAN) {
    if (dt == NN_F64) return acc / g_size;
    float q = (float)acc / (float)g_size;
    return tu_cast(dt, (double)q);
  }
  return acc;
}

static void test_rank_size(void **state) {
  (void)state;
  const char *env = getenv("OMPI_COMM_WORLD_SIZE");
  int want = env ? atoi(env) : 1;
  assert_int_equal(nn_comm_size(g_comm), want);
  assert_true(g_rank >= 0 && g_rank < want);
  const char *er = getenv("OMPI_COMM_WORLD_RANK");
  assert_int_equal(g_rank, er ? atoi(er) : 0);
  assert_int_equal(nn_comm_rank(NULL), -1);
  assert_int_equal(nn_comm_size(NULL), -1);
  nn_comm_free(NULL);
  TU_ERR(nn_comm_mpi(NULL, NULL), NN_ERR_INVALID_ARGUMENT, "nn_comm_mpi", "out is NULL");
  /* A second group over the same processes works independently. */
  nn_comm *c2 = NULL;
  TU_OK(nn_comm_mpi(NULL, &c2));
  assert_int_equal(nn_comm_rank(c2), g_rank);
  nn_comm_free(c2);
}

static void test_allreduce_every_dtype_and_op(void **state) {
  (void)state;
  const nn_reduce_op ops[4] = {NN_REDUCE_SUM, NN_REDUCE_MEAN, NN_REDUCE_MAX, NN_REDUCE_MIN};
  for (int d = 0; d < 8; ++d) {
    nn_dtype dt = tu_all_dtypes[d];
    for (int k = 0; k < 4; ++k) {
      nn_reduce_op op = ops[k];
      nn_tensor *t = make_input(dt, g_rank, N_ELEMS);
      if (op == NN_REDUCE_MEAN && !tu_is_float(dt)) {
        TU_ERR(nn_comm_allreduce(g_comm, t, op), NN_ERR_DTYPE, "nn_comm_allreduce", "MEAN needs a floating dtype");
        nn_tensor_free(t);
        continue;
      }
      TU_OK(nn_comm_allreduce(g_comm, t, op));
      double exp[N_ELEMS];
      for (int i = 0; i < N_ELEMS; ++i) exp[i] = expected(dt, op, i);
      int64_t shape[2] = {3, N_ELEMS / 3};
      tu_assert_tensor(t, dt, 2, shape, exp, 0, 0);
      nn_tensor_free(t);
    }
  }
}

static void test_allreduce_nan_and_strided(void **state) {
  (void)state;
  /* NaN on the last rank propagates through MAX and MIN on every rank. */
  for (int d = 0; d < 4; ++d) {
    nn_dtype dt = tu_float_dtypes[d];
    for (int k = 0; k < 2; ++k) {
      nn_reduce_op op = k ? NN_REDUCE_MIN : NN_REDUCE_MAX;
      double vals[3] = {1, 2, 3};
      if (g_rank == g_size - 1) vals[1] = NAN;
      int64_t shape[1] = {3};
      nn_tensor *t = tu_make(dt, 1, shape, vals);
      TU_OK(nn_comm_allreduce(g_comm, t, op));
      int64_t n = 0;
      double *got = tu_read(t, &n);
      assert_true(got[0] == 1 && got[2] == 3);
      if (!isnan(got[1])) fail_msg("%s %s: element 1 is %g, expected NaN", tu_dtype_name(dt), k ? "MIN" : "MAX", got[1]);
      free(got);
      nn_tensor_free(t);
    }
  }
  /* A transposed (non-contiguous) view is reduced in place. */
  nn_tensor *t = make_input(NN_F32, g_rank, 12), *tt = NULL;
  TU_OK(nn_tensor_transpose(t, 0, 1, &tt));
  TU_OK(nn_comm_allreduce(g_comm, tt, NN_REDUCE_SUM));
  double exp[12];
  for (int i = 0; i < 12; ++i) exp[i] = expected(NN_F32, NN_REDUCE_SUM, i);
  int64_t shape[2] = {3, 4};
  tu_assert_tensor(t, NN_F32, 2, shape, exp, 0, 0);
  nn_tensor_free(tt);
  nn_tensor_free(t);
}

static void test_broadcast_every_dtype(void **state) {
  (void)state;
  const int root = g_size - 1;
  for (int d = 0; d < 8; ++d) {
    nn_dtype dt = tu_all_dtypes[d];
    nn_tensor *t = make_input(dt, g_rank, N_ELEMS);
    TU_OK(nn_comm_broadcast(g_comm, t, root));
    double exp[N_ELEMS];
    for (int i = 0; i < N_ELEMS; ++i) exp[i] = tu_cast(dt, input_value(dt, root, i));
    int64_t shape[2] = {3, N_ELEMS / 3};
    tu_assert_tensor(t, dt, 2, shape, exp, 0, 0);
    nn_tensor_free(t);
  }
  nn_tensor *t = make_input(NN_F32, g_rank, 6);
  TU_ERR(nn_comm_broadcast(g_comm, t, g_size), NN_ERR_INVALID_ARGUMENT, "nn_comm_broadcast", "root is",
         "ranks are 0..");
  TU_ERR(nn_comm_broadcast(g_comm, t, -1), NN_ERR_INVALID_ARGUMENT, "nn_comm_broadcast", "root is -1");
  TU_ERR(nn_comm_broadcast(NULL, t, 0), NN_ERR_INVALID_ARGUMENT, "nn_comm_broadcast", "c is NULL");
  TU_ERR(nn_comm_allreduce(g_comm, NULL, NN_REDUCE_SUM), NN_ERR_INVALID_ARGUMENT, "nn_comm_allreduce", "t is NULL");
  nn_tensor_free(t);
}

/* Mismatched arguments fail on every rank with a message (no hang). */
static void test_mismatches(void **state) {
  (void)state;
  if (g_size < 2) skip();
  char buf[160];
  /* element counts */
  nn_tensor *t = make_input(NN_F32, g_rank, g_rank == 1 ? 12 : 9);
  snprintf(buf, sizeof buf, "rank 0 9, rank 1 12");
  TU_ERR(nn_comm_allreduce(g_comm, t, NN_REDUCE_SUM), NN_ERR_SHAPE, "nn_comm_allreduce",
         "the ranks pass different element counts", buf);
  TU_ERR(nn_comm_broadcast(g_comm, t, 0), NN_ERR_SHAPE, "nn_comm_broadcast", "different element counts", buf);
  nn_tensor_free(t);
  /* dtypes */
  t = make_input(g_rank == 1 ? NN_F64 : NN_F32, g_rank, 9);
  TU_ERR(nn_comm_allreduce(g_comm, t, NN_REDUCE_SUM), NN_ERR_DTYPE, "nn_comm_allreduce",
         "the ranks pass different dtypes: rank 0 float32, rank 1 float64");
  nn_tensor_free(t);
  /* ops */
  t = make_input(NN_F32, g_rank, 9);
  TU_ERR(nn_comm_allreduce(g_comm, t, g_rank == 1 ? NN_REDUCE_MAX : NN_REDUCE_SUM), NN_ERR_INVALID_ARGUMENT,
         "nn_comm_allreduce", "the ranks pass different ops: rank 0 SUM, rank 1 MAX");
  /* roots */
  TU_ERR(nn_comm_broadcast(g_comm, t, g_rank == 1 ? 1 : 0), NN_ERR_INVALID_ARGUMENT, "nn_comm_broadcast",
         "the ranks pass different roots: rank 0 0, rank 1 1");
  /* An argument error on rank 1 only: rank 1 gets its own error, the others
   * learn of it instead of waiting. */
  if (g_rank == 1) {
    TU_ERR(nn_comm_allreduce(g_comm, t, NN_REDUCE_ARGMAX), NN_ERR_INVALID_ARGUMENT, "nn_comm_allreduce",
           "op is 4; a collective reduction takes SUM, MEAN, MAX or MIN");
  } else {
    TU_ERR(nn_comm_allreduce(g_comm, t, NN_REDUCE_SUM), NN_ERR_INVALID_ARGUMENT, "nn_comm_allreduce",
           "rank 1 failed its argument checks: nn_comm_allreduce: op is 4");
  }
  /* The group still works afterwards. */
  TU_OK(nn_comm_allreduce(g_comm, t, NN_REDUCE_SUM));
  double exp[9];
  for (int i = 0; i < 9; ++i) exp[i] = expected(NN_F32, NN_REDUCE_SUM, i);
  int64_t shape[2] = {3, 3};
  tu_assert_tensor(t, NN_F32, 2, shape, exp, 0, 0);
  nn_tensor_free(t);
}

static nn_model *mlp(int64_t hidden, uint64_t seed) {
  int64_t sizes[3] = {4, hidden, 3};
  nn_model *m = NULL;
  TU_OK(nn_model_mlp(3, sizes, NN_ACT_TANH, NN_ACT_IDENTITY, &m));
  TU_OK(nn_model_init(m, NN_INIT_XAVIER_UNIFORM, seed));
  return m;
}

static void test_model_broadcast(void **state) {
  (void)state;
  const int root = g_size - 1;
  nn_model *m = mlp(5, 100 + (uint64_t)g_rank);
  nn_model *ref = mlp(5, 100 + (uint64_t)root);
  TU_OK(nn_model_broadcast(g_comm, m, root));
  int64_t n1 = 0, n2 = 0;
  double *a = tu_model_values(m, false, &n1), *b = tu_model_values(ref, false, &n2);
  assert_int_equal(n1, n2);
  assert_int_equal(n1, 4 * 5 + 5 + 5 * 3 + 3);
  assert_memory_equal(a, b, (size_t)n1 * sizeof(double));
  free(a);
  free(b);
  TU_ERR(nn_model_broadcast(g_comm, m, g_size), NN_ERR_INVALID_ARGUMENT, "nn_model_broadcast", "root is");
  TU_ERR(nn_model_broadcast(NULL, m, 0), NN_ERR_INVALID_ARGUMENT, "nn_model_broadcast", "c is NULL");
  nn_model_free(m);
  nn_model_free(ref);
  if (g_size < 2) return;
  /* Different architectures: every rank fails, naming the difference. */
  m = mlp(g_rank == 1 ? 6 : 5, 1);
  TU_ERR(nn_model_broadcast(g_comm, m, 0), NN_ERR_SHAPE, "nn_model_broadcast",
         "the ranks disagree on the number of parameters: rank 0 has 43, rank 1 has 51");
  nn_model_free(m);
  m = mlp(5, 1);
  if (g_rank == 1) TU_OK(nn_model_to_dtype(m, NN_F64));
  TU_ERR(nn_model_broadcast(g_comm, m, 0), NN_ERR_DTYPE, "nn_model_broadcast",
         "the ranks disagree on the model's dtype: rank 0 has float32, rank 1 has float64");
  nn_model_free(m);
}

int main(void) {
  nn_status st = nn_comm_mpi(NULL, &g_comm);
  if (st != NN_OK) {
    fprintf(stderr, "test_comm: nn_comm_mpi failed: %s\n", nn_last_error());
    return 1;
  }
  g_rank = nn_comm_rank(g_comm);
  g_size = nn_comm_size(g_comm);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rank_size),
      cmocka_unit_test(test_allreduce_every_dtype_and_op),
      cmocka_unit_test(test_allreduce_nan_and_strided),
      cmocka_unit_test(test_broadcast_every_dtype),
      cmocka_unit_test(test_mismatches),
      cmocka_unit_test(test_model_broadcast),
  };
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  nn_comm_free(g_comm);
  return failed ? 1 : 0;
}
