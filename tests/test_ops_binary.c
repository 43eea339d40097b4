/* nn_binary / nn_binary_scalar: every op, every dtype pair, PyTorch type
 * promotion (0-dim rule included), NumPy broadcasting on random shapes
 * (size-1 dims, rank differences, empty dims), scalar operands; on the device
 * under test (tu_device(): the CPU, or CUDA for test_ops_binary_cuda).
 * Every result element is one IEEE operation plus one rounding, so the
 * tolerances are the same on every device. */
#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const nn_binary_op all_ops[] = {NN_OP_ADD, NN_OP_SUB, NN_OP_MUL, NN_OP_DIV, NN_OP_MAX, NN_OP_MIN};
#define N_OPS 6
static const char *op_name(nn_binary_op op) {
  static const char *names[] = {"add", "sub", "mul", "div", "max", "min"};
  return (int)op >= 0 && (int)op < 6 ? names[op] : "?";
}

/* torch.result_type for every pair, generated with PyTorch:
 * index [a][b] in nn_dtype order F32 F64 F16 BF16 U8 I16 I32 I64. */
#define F32_ NN_F32
#define F64_ NN_F64
#define F16_ NN_F16
#define BF_ NN_BF16
#define U8_ NN_U8
#define I16_ NN_I16
#define I32_ NN_I32
#define I64_ NN_I64
static const nn_dtype torch_dim_dim[8][8] = {
    {F32_, F64_, F32_, F32_, F32_, F32_, F32_, F32_}, {F64_, F64_, F64_, F64_, F64_, F64_, F64_, F64_},
    {F32_, F64_, F16_, F32_, F16_, F16_, F16_, F16_}, {F32_, F64_, F32_, BF_, BF_, BF_, BF_, BF_},
    {F32_, F64_, F16_, BF_, U8_, I16_, I32_, I64_},   {F32_, F64_, F16_, BF_, I16_, I16_, I32_, I64_},
    {F32_, F64_, F16_, BF_, I32_, I32_, I32_, I64_},  {F32_, F64_, F16_, BF_, I64_, I64_, I64_, I64_},
};
/* a has dims, b is 0-dim */
static const nn_dtype torch_dim_zero[8][8] = {
    {F32_, F32_, F32_, F32_, F32_, F32_, F32_, F32_}, {F64_, F64_, F64_, F64_, F64_, F64_, F64_, F64_},
    {F16_, F16_, F16_, F16_, F16_, F16_, F16_, F16_}, {BF_, BF_, BF_, BF_, BF_, BF_, BF_, BF_},
    {F32_, F64_, F16_, BF_, U8_, U8_, U8_, U8_},      {F32_, F64_, F16_, BF_, I16_, I16_, I16_, I16_},
    {F32_, F64_, F16_, BF_, I32_, I32_, I32_, I32_},  {F32_, F64_, F16_, BF_, I64_, I64_, I64_, I64_},
};

static nn_dtype expected_dtype(nn_binary_op op, nn_dtype a, bool a0, nn_dtype b, bool b0) {
  nn_dtype r;
  if (a0 == b0)
    r = torch_dim_dim[a][b];
  else if (!a0)
    r = torch_dim_zero[a][b];
  else
    r = torch_dim_zero[b][a];
  if (op == NN_OP_DIV && tu_is_int(r)) r = NN_F32;
  return r;
}

static double fmax_nan(double a, double b) {
  if (isnan(a) || isnan(b)) return NAN;
  return a > b ? a : b;
}
static double fmin_nan(double a, double b) {
  if (isnan(a) || isnan(b)) return NAN;
  return a < b ? a : b;
}

/* Reference of one element: inputs already hold values of their own dtypes;
 * they are converted to the result dtype first, as PyTorch does. */
static double ref_elem(nn_binary_op op, nn_dtype rdt, nn_dtype adt, double a, nn_dtype bdt, double b) {
  if (tu_is_int(rdt)) {
    int64_t x = tu_wrap(rdt, (int64_t)a), y = tu_wrap(rdt, (int64_t)b), r = 0;
    (void)adt;
    (void)bdt;
    switch (op) {
      case NN_OP_ADD: r = (int64_t)((uint64_t)x + (uint64_t)y); break;
      case NN_OP_SUB: r = (int64_t)((uint64_t)x - (uint64_t)y); break;
      case NN_OP_MUL: r = (int64_t)((uint64_t)x * (uint64_t)y); break;
      case NN_OP_MAX: r = x > y ? x : y; break;
      case NN_OP_MIN: r = x < y ? x : y; break;
      default: break;
    }
    return (double)tu_wrap(rdt, r);
  }
  double x = tu_is_int(adt) ? tu_cast_int(rdt, (int64_t)a) : tu_cast(rdt, a);
  double y = tu_is_int(bdt) ? tu_cast_int(rdt, (int64_t)b) : tu_cast(rdt, b);
  double r = NAN;
  switch (op) {
    case NN_OP_ADD: r = x + y; break;
    case NN_OP_SUB: r = x - y; break;
    case NN_OP_MUL: r = x * y; break;
    case NN_OP_DIV: r = x / y; break;
    case NN_OP_MAX: r = fmax_nan(x, y); break;
    case NN_OP_MIN: r = fmin_nan(x, y); break;
  }
  return tu_cast(rdt, r);
}

/* Broadcast shape of a and b; false if they do not broadcast. */
static bool broadcast_shape(int na, const int64_t *sa, int nb, const int64_t *sb, int *nout, int64_t *out) {
  int n = na > nb ? na : nb;
  for (int i = 0; i < n; i++) {
    int ia = na - n + i, ib = nb - n + i;
    int64_t da = ia >= 0 ? sa[ia] : 1, db = ib >= 0 ? sb[ib] : 1;
    if (da != db && da != 1 && db != 1) return false;
    out[i] = da == 1 ? db : da;
  }
  *nout = n;
  return true;
}

/* Offset (in elements) into a row-major tensor of shape s (rank ns) for the
 * broadcast output index idx (rank n). */
static int64_t bcast_offset(int n, const int64_t *idx, int ns, const int64_t *s) {
  int64_t off = 0;
  for (int i = 0; i < ns; i++) {
    int oi = n - ns + i;
    int64_t k = s[i] == 1 ? 0 : idx[oi];
    off = off * s[i] + k;
  }
  return off;
}

static int64_t value_range_fill(tu_rng *r, nn_dtype dt, double *v, int64_t n) {
  switch (dt) {
    case NN_U8: tu_rng_fill(r, dt, v, n, 0, 255); break;
    case NN_I16: tu_rng_fill(r, dt, v, n, -300, 300); break;
    case NN_I32: tu_rng_fill(r, dt, v, n, -100000, 100000); break;
    case NN_I64: tu_rng_fill(r, dt, v, n, -1000000, 1000000); break;
    default: tu_rng_fill(r, dt, v, n, -20, 20); break;
  }
  return n;
}

static double atol_for(nn_dtype dt) {
  switch (dt) {
    case NN_F64: return 1e-300;
    case NN_F32: return 1e-30;
    case NN_F16: return 1e-7;
    case NN_BF16: return 1e-30;
    default: return 0;
  }
}

static int strided_mode = 0;

/* Every operation returns its result on the operands' device (nn.h, Operations). */
static void assert_on_device(const nn_tensor *t, const char *ctx) {
  nn_device d = nn_tensor_device(t), want = tu_device();
  if (d.type != want.type || d.index != want.index) {
    print_error("%s: result on device {%d, %d}, expected %s\n", ctx, (int)d.type, (int)d.index, tu_device_name());
    fail();
  }
}

/* Runs a op b on tensors with the given dtypes/shapes/values and checks the
 * dtype, the broadcast shape and every value. */
static void check_binary(nn_binary_op op, nn_dtype adt, int na, const int64_t *sa, const double *va, nn_dtype bdt,
                         int nb, const int64_t *sb, const double *vb, const char *what) {
  /* strided_mode: operands are transposed views (non-contiguous memory) */
  nn_tensor *a = strided_mode && na >= 2 ? tu_make_strided(adt, na, sa, va, 0, na - 1) : tu_make(adt, na, sa, va);
  nn_tensor *b = strided_mode && nb >= 2 ? tu_make_strided(bdt, nb, sb, vb, nb - 2, nb - 1) : tu_make(bdt, nb, sb, vb);
  int64_t so[TU_MAX_DIMS];
  int no = 0;
  assert_true(broadcast_shape(na, sa, nb, sb, &no, so));
  nn_dtype rdt = expected_dtype(op, adt, na == 0, bdt, nb == 0);
  nn_tensor *c = NULL;
  char ctx[256];
  snprintf(ctx, sizeof ctx, "%s: %s %s(%s) %s %s(%s)", what, tu_dtype_name(adt), tu_shape_str(na, sa), "a",
           op_name(op), tu_dtype_name(bdt), tu_shape_str(nb, sb));
  nn_status st = nn_binary(op, a, b, &c);
  if (st != NN_OK) {
    print_error("%s failed: %d %s\n", ctx, (int)st, nn_last_error());
    fail();
  }
  if (nn_tensor_dtype(c) != rdt) {
    print_error("%s: result dtype %s, expected %s\n", ctx, tu_dtype_name(nn_tensor_dtype(c)), tu_dtype_name(rdt));
    fail();
  }
  tu_assert_meta(c, rdt, no, so);
  assert_on_device(c, ctx);
  int64_t n = tu_numel(no, so);
  double *exp = malloc((size_t)(n ? n : 1) * sizeof(double));
  int64_t idx[TU_MAX_DIMS] = {0};
  for (int64_t i = 0; i < n; i++) {
    int64_t rem = i;
    for (int d = no - 1; d >= 0; d--) {
      idx[d] = rem % so[d];
      rem /= so[d];
    }
    double x = va[bcast_offset(no, idx, na, sa)];
    double y = vb[bcast_offset(no, idx, nb, sb)];
    exp[i] = ref_elem(op, rdt, adt, x, bdt, y);
  }
  double *got = tu_read(c, NULL);
  tu_assert_close(got, exp, n, tu_rtol(rdt), atol_for(rdt), ctx);
  free(got);
  free(exp);
  nn_tensor_free(c);
  nn_tensor_free(a);
  nn_tensor_free(b);
}

static void rand_pair_shapes(tu_rng *r, int *na, int64_t *sa, int *nb, int64_t *sb, bool allow_empty) {
  int n = (int)tu_rng_int(r, 0, 5);
  int64_t out[5];
  int empty_dim = allow_empty && n > 0 && tu_rng_int(r, 0, 5) == 0 ? (int)tu_rng_int(r, 0, n - 1) : -1;
  for (int i = 0; i < n; i++) out[i] = i == empty_dim ? 0 : tu_rng_int(r, 1, n <= 2 ? 6 : 4);
  int ranks[2];
  ranks[0] = n - (int)(tu_rng_int(r, 0, 2) == 0 ? tu_rng_int(r, 0, n) : 0);
  ranks[1] = n - (int)(tu_rng_int(r, 0, 2) == 0 ? tu_rng_int(r, 0, n) : 0);
  if (tu_rng_int(r, 0, 1)) ranks[tu_rng_int(r, 0, 1)] = n; /* usually one has full rank */
  int64_t *ss[2] = {sa, sb};
  for (int k = 0; k < 2; k++) {
    for (int i = 0; i < ranks[k]; i++) {
      int64_t d = out[n - ranks[k] + i];
      ss[k][i] = tu_rng_int(r, 0, 2) == 0 ? 1 : d;
    }
  }
  *na = ranks[0];
  *nb = ranks[1];
}

static void run_random_case(tu_rng *r, nn_binary_op op, nn_dtype adt, nn_dtype bdt, bool allow_empty,
                            const char *what) {
  int na, nb;
  int64_t sa[5], sb[5];
  rand_pair_shapes(r, &na, sa, &nb, sb, allow_empty);
  int64_t ca = tu_numel(na, sa), cb = tu_numel(nb, sb);
  double *va = malloc((size_t)(ca ? ca : 1) * sizeof(double));
  double *vb = malloc((size_t)(cb ? cb : 1) * sizeof(double));
  value_range_fill(r, adt, va, ca);
  value_range_fill(r, bdt, vb, cb);
  check_binary(op, adt, na, sa, va, bdt, nb, sb, vb, what);
  free(va);
  free(vb);
}

static void test_every_op_every_dtype_pair(void **state) {
  (void)state;
  tu_rng r = tu_rng_make(200);
  for (int oi = 0; oi < N_OPS; oi++)
    for (int a = 0; a < 8; a++)
      for (int b = 0; b < 8; b++)
        for (int rep = 0; rep < 2; rep++)
          run_random_case(&r, all_ops[oi], tu_all_dtypes[a], tu_all_dtypes[b], false, "pair");
}

static void test_broadcast_random_shapes(void **state) {
  (void)state;
  tu_rng r = tu_rng_make(201);
  for (int rep = 0; rep < 400; rep++) {
    nn_binary_op op = all_ops[tu_rng_int(&r, 0, N_OPS - 1)];
    nn_dtype adt = tu_all_dtypes[tu_rng_int(&r, 0, 7)];
    nn_dtype bdt = tu_rng_int(&r, 0, 1) ? adt : tu_all_dtypes[tu_rng_int(&r, 0, 7)];
    run_random_case(&r, op, adt, bdt, true, "broadcast");
  }
}

/* Non-contiguous operands (transposed views), broadcasting, every dtype. */
static void test_non_contiguous_operands(void **state) {
  (void)state;
  tu_rng r = tu_rng_make(205);
  strided_mode = 1;
  for (int rep = 0; rep < 300; rep++) {
    nn_binary_op op = all_ops[tu_rng_int(&r, 0, N_OPS - 1)];
    nn_dtype adt = tu_all_dtypes[tu_rng_int(&r, 0, 7)];
    nn_dtype bdt = tu_rng_int(&r, 0, 1) ? adt : tu_all_dtypes[tu_rng_int(&r, 0, 7)];
    run_random_case(&r, op, adt, bdt, true, "strided");
  }
  /* larger float views: the oneDNN path with strided memory on the CPU */
  int64_t sa[2] = {129, 67}, sb[1] = {67}, sc[2] = {129, 1};
  for (int fi = 0; fi < 4; fi++) {
    nn_dtype dt = tu_float_dtypes[fi];
    double *va = malloc(129 * 67 * sizeof(double)), *vb = malloc(129 * 67 * sizeof(double));
    value_range_fill(&r, dt, va, 129 * 67);
    value_range_fill(&r, dt, vb, 129 * 67);
    for (int oi = 0; oi < N_OPS; oi++) {
      check_binary(all_ops[oi], dt, 2, sa, va, dt, 2, sa, vb, "strided large");
      check_binary(all_ops[oi], dt, 2, sa, va, dt, 1, sb, vb, "strided large row");
      check_binary(all_ops[oi], dt, 2, sa, va, dt, 2, sc, vb, "strided large col");
    }
    free(va);
    free(vb);
  }
  strided_mode = 0;
}

static void test_broadcast_corners(void **state) {
  (void)state;
  struct {
    int na;
    int64_t sa[4];
    int nb;
    int64_t sb[4];
  } cases[] = {
      {2, {2, 3}, 1, {3}},          {2, {2, 1}, 1, {3}},          {2, {2, 1}, 2, {1, 3}},
      {3, {4, 1, 3}, 2, {5, 1}},    {1, {1}, 4, {2, 3, 1, 2}},    {0, {0}, 3, {2, 3, 4}},
      {3, {2, 3, 4}, 0, {0}},       {2, {0, 3}, 1, {3}},          {2, {0, 3}, 2, {1, 3}},
      {2, {2, 0}, 2, {2, 1}},       {1, {0}, 1, {1}},             {3, {1, 0, 1}, 2, {1, 5}},
      {4, {1, 1, 1, 1}, 1, {5}},    {1, {1}, 1, {1}},             {0, {0}, 0, {0}},
      {2, {3, 3}, 2, {3, 3}},       {4, {2, 1, 3, 1}, 4, {1, 4, 1, 5}},
  };
  tu_rng r = tu_rng_make(202);
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    double fa[128], fb[128], ia[128], ib[128];
    for (int oi = 0; oi < N_OPS; oi++) {
      value_range_fill(&r, NN_F32, fa, 128);
      value_range_fill(&r, NN_F32, fb, 128);
      value_range_fill(&r, NN_I32, ia, 128);
      value_range_fill(&r, NN_I32, ib, 128);
      check_binary(all_ops[oi], NN_F32, cases[c].na, cases[c].sa, fa, NN_F32, cases[c].nb, cases[c].sb, fb,
                   "corner f32");
      check_binary(all_ops[oi], NN_I32, cases[c].na, cases[c].sa, ia, NN_F64, cases[c].nb, cases[c].sb, fb,
                   "corner i32/f64");
      check_binary(all_ops[oi], NN_I64, cases[c].na, cases[c].sa, ia, NN_I32, cases[c].nb, cases[c].sb, ib,
                   "corner i64/i32");
      /* swapped operands */
      check_binary(all_ops[oi], NN_F32, cases[c].nb, cases[c].sb, fb, NN_F32, cases[c].na, cases[c].sa, fa,
                   "corner swapped");
    }
  }
}

/* Rank 8 against rank 8 and against lower ranks. */
static void test_rank8_broadcast(void **state) {
  (void)state;
  tu_rng r = tu_rng_make(206);
  int64_t a8[8] = {2, 1, 2, 1, 2, 1, 2, 1}, b8[8] = {1, 2, 1, 2, 1, 2, 1, 2}, b3[3] = {2, 1, 2}, b0[1] = {0};
  double va[16], vb[16];
  for (int di = 0; di < 8; di++) {
    nn_dtype dt = tu_all_dtypes[di];
    for (int oi = 0; oi < N_OPS; oi++) {
      value_range_fill(&r, dt, va, 16);
      value_range_fill(&r, dt, vb, 16);
      check_binary(all_ops[oi], dt, 8, a8, va, dt, 8, b8, vb, "rank8");
      check_binary(all_ops[oi], dt, 3, b3, vb, dt, 8, a8, va, "rank3 x rank8");
      check_binary(all_ops[oi], dt, 8, a8, va, dt, 0, b0, vb, "rank8 x 0-dim");
    }
  }
}

/* Larger tensors: the oneDNN binary path with broadcast (f32, bf16) on the
 * CPU, the strided kernel on CUDA. */
static void test_large_broadcast(void **state) {
  (void)state;
  tu_rng r = tu_rng_make(203);
  struct {
    int na;
    int64_t sa[3];
    int nb;
    int64_t sb[3];
  } cases[] = {
      {2, {257, 129}, 1, {129}},
      {2, {257, 129}, 2, {257, 1}},
      {3, {64, 1, 33}, 3, {1, 17, 33}},
      {1, {10007}, 1, {10007}},
      {1, {10007}, 0, {0}},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    for (int di = 0; di < 4; di++) {
      nn_dtype dt = tu_float_dtypes[di];
      int64_t ca = tu_numel(cases[c].na, cases[c].sa), cb = tu_numel(cases[c].nb, cases[c].sb);
      double *va = malloc((size_t)ca * sizeof(double)), *vb = malloc((size_t)cb * sizeof(double));
      value_range_fill(&r, dt, va, ca);
      value_range_fill(&r, dt, vb, cb);
      for (int oi = 0; oi < N_OPS; oi++)
        check_binary(all_ops[oi], dt, cases[c].na, cases[c].sa, va, dt, cases[c].nb, cases[c].sb, vb, "large");
      free(va);
      free(vb);
    }
    /* integers too */
    int64_t ca = tu_numel(cases[c].na, cases[c].sa), cb = tu_numel(cases[c].nb, cases[c].sb);
    double *va = malloc((size_t)ca * sizeof(double)), *vb = malloc((size_t)cb * sizeof(double));
    value_range_fill(&r, NN_I32, va, ca);
    value_range_fill(&r, NN_I16, vb, cb);
    for (int oi = 0; oi < N_OPS; oi++)
      check_binary(all_ops[oi], NN_I32, cases[c].na, cases[c].sa, va, NN_I16, cases[c].nb, cases[c].sb, vb,
                   "large int");
    free(va);
    free(vb);
  }
}

/* torch.result_type for every pair and every rank class. */
static void test_promotion_table(void **state) {
  (void)state;
  for (int a = 0; a < 8; a++)
    for (int b = 0; b < 8; b++)
      for (int a0 = 0; a0 < 2; a0++)
        for (int b0 = 0; b0 < 2; b0++) {
          nn_dtype da = tu_all_dtypes[a], db = tu_all_dtypes[b];
          /* the helper's rule agrees with the torch table */
          assert_int_equal(tu_promote(da, a0, db, b0), expected_dtype(NN_OP_ADD, da, a0, db, b0));
          int64_t s2[1] = {2};
          double ones[2] = {1, 1};
          nn_tensor *ta = tu_make(da, a0 ? 0 : 1, s2, ones);
          nn_tensor *tb = tu_make(db, b0 ? 0 : 1, s2, ones);
          for (int oi = 0; oi < N_OPS; oi++) {
            nn_tensor *c = NULL;
            TU_OK(nn_binary(all_ops[oi], ta, tb, &c));
            nn_dtype want = expected_dtype(all_ops[oi], da, a0, db, b0);
            if (nn_tensor_dtype(c) != want) {
              print_error("%s: %s%s %s %s%s gives %s, torch gives %s\n", op_name(all_ops[oi]), tu_dtype_name(da),
                          a0 ? "[]" : "[2]", op_name(all_ops[oi]), tu_dtype_name(db), b0 ? "[]" : "[2]",
                          tu_dtype_name(nn_tensor_dtype(c)), tu_dtype_name(want));
              fail();
            }
            assert_int_equal(nn_tensor_ndim(c), (a0 && b0) ? 0 : 1);
            nn_tensor_free(c);
          }
          nn_tensor_free(ta);
          nn_tensor_free(tb);
        }
}

static void test_zero_dim_rule_values(void **state) {
  (void)state;
  int64_t s3[1] = {3};
  /* the docs' examples */
  double i3[3] = {1, 2, 3};
  double big = 3000000000.0; /* an I64 0-dim value that does not fit I32 */
  {
    nn_tensor *a = tu_make(NN_I32, 1, s3, i3), *b = tu_make(NN_I64, 0, NULL, &big), *c = NULL;
    TU_OK(nn_binary(NN_OP_ADD, a, b, &c));
    double e[3];
    for (int i = 0; i < 3; i++) e[i] = (double)tu_wrap(NN_I32, (int64_t)i3[i] + 3000000000LL);
    tu_assert_tensor(c, NN_I32, 1, s3, e, 0, 0);
    nn_tensor_free(c);
    nn_tensor_free(a);
    nn_tensor_free(b);
  }
  {
    double h = 0.5;
    nn_tensor *a = tu_make(NN_F16, 1, s3, i3), *b = tu_make(NN_F64, 0, NULL, &h), *c = NULL;
    TU_OK(nn_binary(NN_OP_MUL, a, b, &c));
    double e[3] = {0.5, 1, 1.5};
    tu_assert_tensor(c, NN_F16, 1, s3, e, 0, 0);
    nn_tensor_free(c);
    nn_tensor_free(a);
    nn_tensor_free(b);
  }
  {
    double h = 0.25;
    nn_tensor *a = tu_make(NN_I32, 1, s3, i3), *b = tu_make(NN_F64, 0, NULL, &h), *c = NULL;
    TU_OK(nn_binary(NN_OP_ADD, a, b, &c));
    double e[3] = {1.25, 2.25, 3.25};
    tu_assert_tensor(c, NN_F64, 1, s3, e, 0, 0);
    nn_tensor_free(c);
    nn_tensor_free(a);
    nn_tensor_free(b);
  }
  {
    /* torch: uint8 [1,2,3] + int16 tensor(300) -> uint8 [45, 46, 47] */
    double v300 = 300;
    nn_tensor *a = tu_make(NN_U8, 1, s3, i3), *b = tu_make(NN_I16, 0, NULL, &v300), *c = NULL;
    TU_OK(nn_binary(NN_OP_ADD, a, b, &c));
    double e[3] = {45, 46, 47};
    tu_assert_tensor(c, NN_U8, 1, s3, e, 0, 0);
    nn_tensor_free(c);
    /* 0-dim first operand */
    TU_OK(nn_binary(NN_OP_SUB, b, a, &c));
    double e2[3] = {43, 42, 41};
    tu_assert_tensor(c, NN_U8, 1, s3, e2, 0, 0);
    nn_tensor_free(c);
    nn_tensor_free(a);
    nn_tensor_free(b);
  }
  {
    /* both 0-dim: normal promotion, 0-dim result */
    double x = 2, y = 3.5;
    nn_tensor *a = tu_make(NN_I32, 0, NULL, &x), *b = tu_make(NN_I64, 0, NULL, &x), *c = NULL;
    TU_OK(nn_binary(NN_OP_MUL, a, b, &c));
    double e = 4;
    tu_assert_tensor(c, NN_I64, 0, NULL, &e, 0, 0);
    nn_tensor_free(c);
    nn_tensor_free(a);
    nn_tensor_free(b);
    a = tu_make(NN_F16, 0, NULL, &x);
    b = tu_make(NN_BF16, 0, NULL, &y);
    TU_OK(nn_binary(NN_OP_ADD, a, b, &c));
    e = 5.5;
    tu_assert_tensor(c, NN_F32, 0, NULL, &e, 0, 0);
    nn_tensor_free(c);
    nn_tensor_free(a);
    nn_tensor_free(b);
  }
  {
    /* a [1]-shaped tensor is not 0-dim: normal promotion */
    int64_t s1[1] = {1};
    double x = 2;
    nn_tensor *a = tu_make(NN_I32, 1, s3, i3), *b = tu_make(NN_I64, 1, s1, &x), *c = NULL;
    TU_OK(nn_binary(NN_OP_ADD, a, b, &c));
    double e[3] = {3, 4, 5};
    tu_assert_tensor(c, NN_I64, 1, s3, e, 0, 0);
    nn_tensor_free(c);
    nn_tensor_free(a);
    nn_tensor_free(b);
  }
}

static void test_integer_wrap_and_div(void **state) {
  (void)state;
  int64_t s4[1] = {4};
  double a8[4] = {200, 0, 255, 16}, b8[4] = {100, 1, 255, 16};
  nn_tensor *a = tu_make(NN_U8, 1, s4, a8), *b = tu_make(NN_U8, 1, s4, b8), *c = NULL;
  TU_OK(nn_binary(NN_OP_ADD, a, b, &c));
  double eadd[4] = {44, 1, 254, 32};
  tu_assert_tensor(c, NN_U8, 1, s4, eadd, 0, 0);
  nn_tensor_free(c);
  TU_OK(nn_binary(NN_OP_SUB, b, a, &c));
  double esub[4] = {156, 1, 0, 0};
  tu_assert_tensor(c, NN_U8, 1, s4, esub, 0, 0);
  nn_tensor_free(c);
  TU_OK(nn_binary(NN_OP_MUL, a, b, &c));
  double emul[4] = {(200 * 100) % 256, 0, (255 * 255) % 256, 0};
  tu_assert_tensor(c, NN_U8, 1, s4, emul, 0, 0);
  nn_tensor_free(c);
  /* true division: integer / integer gives F32, /0 gives inf or nan */
  TU_OK(nn_binary(NN_OP_DIV, b, a, &c));
  double ediv[4] = {0.5, INFINITY, 1, 1};
  tu_assert_tensor(c, NN_F32, 1, s4, ediv, 0, 0);
  nn_tensor_free(c);
  nn_tensor_free(a);
  nn_tensor_free(b);
  double z[3] = {0, 1, -3}, d[3] = {0, 0, 2};
  int64_t s3[1] = {3};
  a = tu_make(NN_I64, 1, s3, z);
  b = tu_make(NN_I64, 1, s3, d);
  TU_OK(nn_binary(NN_OP_DIV, a, b, &c));
  double e3[3] = {NAN, INFINITY, -1.5};
  tu_assert_tensor(c, NN_F32, 1, s3, e3, 0, 0);
  nn_tensor_free(c);
  nn_tensor_free(a);
  nn_tensor_free(b);
  /* I64 wraps and stays exact beyond 2^53 */
  int64_t x[2] = {INT64_MAX, 9007199254740993LL}, y[2] = {1, 2};
  int64_t s2[1] = {2};
  a = tu_make_i64(NN_I64, 1, s2, x);
  b = tu_make_i64(NN_I64, 1, s2, y);
  TU_OK(nn_binary(NN_OP_ADD, a, b, &c));
  int64_t *g = tu_read_i64(c, NULL);
  assert_true(g[0] == INT64_MIN);
  assert_true(g[1] == 9007199254740995LL);
  free(g);
  nn_tensor_free(c);
  TU_OK(nn_binary(NN_OP_MUL, a, b, &c));
  g = tu_read_i64(c, NULL);
  assert_true(g[0] == (int64_t)((uint64_t)INT64_MAX * 1u));
  assert_true(g[1] == 18014398509481986LL);
  free(g);
  nn_tensor_free(c);
  TU_OK(nn_binary(NN_OP_MAX, a, b, &c));
  g = tu_read_i64(c, NULL);
  assert_true(g[0] == INT64_MAX);
  assert_true(g[1] == 9007199254740993LL);
  free(g);
  nn_tensor_free(c);
  nn_tensor_free(a);
  nn_tensor_free(b);
  /* I16 and I32 overflow wrap */
  double p[2] = {32767, -32768}, q[2] = {1, 1};
  a = tu_make(NN_I16, 1, s2, p);
  b = tu_make(NN_I16, 1, s2, q);
  TU_OK(nn_binary(NN_OP_ADD, a, b, &c));
  double ew[2] = {-32768, -32767};
  tu_assert_tensor(c, NN_I16, 1, s2, ew, 0, 0);
  nn_tensor_free(c);
  TU_OK(nn_binary(NN_OP_SUB, a, b, &c));
  double ew2[2] = {32766, 32767};
  tu_assert_tensor(c, NN_I16, 1, s2, ew2, 0, 0);
  nn_tensor_free(c);
  nn_tensor_free(a);
  nn_tensor_free(b);
  double p32[2] = {2147483647, 65536}, q32[2] = {2, 65536};
  a = tu_make(NN_I32, 1, s2, p32);
  b = tu_make(NN_I32, 1, s2, q32);
  TU_OK(nn_binary(NN_OP_MUL, a, b, &c));
  double ew3[2] = {-2, 0};
  tu_assert_tensor(c, NN_I32, 1, s2, ew3, 0, 0);
  nn_tensor_free(c);
  nn_tensor_free(a);
  nn_tensor_free(b);
}

/* torch.maximum / torch.minimum propagate NaN; inf arithmetic. */
static void test_nan_inf(void **state) {
  (void)state;
  int64_t s5[1] = {5};
  double x[5] = {NAN, 1, NAN, INFINITY, -INFINITY}, y[5] = {2, NAN, NAN, INFINITY, 3};
  for (int di = 0; di < 4; di++) {
    nn_dtype dt = tu_float_dtypes[di];
    for (int oi = 0; oi < N_OPS; oi++) check_binary(all_ops[oi], dt, 1, s5, x, dt, 1, s5, y, "nan/inf");
  }
}

/* F16/BF16 results round to nearest even and overflow to inf. */
static void test_half_rounding(void **state) {
  (void)state;
  int64_t s3[1] = {3};
  double a[3] = {60000, 1, 2048}, b[3] = {10000, 1.0 / 2048.0, 1};
  nn_tensor *ta = tu_make(NN_F16, 1, s3, a), *tb = tu_make(NN_F16, 1, s3, b), *c = NULL;
  TU_OK(nn_binary(NN_OP_ADD, ta, tb, &c));
  double e[3] = {INFINITY, 1.0, 2048}; /* 1 + 2^-11 ties to 1; 2048 + 1 ties to 2048 */
  tu_assert_tensor(c, NN_F16, 1, s3, e, 0, 0);
  nn_tensor_free(c);
  nn_tensor_free(ta);
  nn_tensor_free(tb);
  double ab[3] = {256, 1, 3e38}, bb[3] = {1, 1.0 / 256.0, 3e38};
  ta = tu_make(NN_BF16, 1, s3, ab);
  tb = tu_make(NN_BF16, 1, s3, bb);
  TU_OK(nn_binary(NN_OP_ADD, ta, tb, &c));
  double eb[3] = {256, 1.0, INFINITY};
  tu_assert_tensor(c, NN_BF16, 1, s3, eb, 0, 0);
  nn_tensor_free(c);
  nn_tensor_free(ta);
  nn_tensor_free(tb);
}

/* ---- scalar operands ---------------------------------------------------------------- */

/* A Python int: integral and inside int64 (docs/semantics.md). */
static bool int_scalar(double s) { return isfinite(s) && s == floor(s) && s >= -0x1p63 && s < 0x1p63; }

static nn_dtype scalar_result(nn_binary_op op, nn_dtype dt, double s) {
  bool integral = int_scalar(s);
  if (tu_is_float(dt)) return dt;
  if (!integral) return NN_F32;
  return op == NN_OP_DIV ? NN_F32 : dt;
}

static void check_scalar(nn_binary_op op, nn_dtype dt, int ndim, const int64_t *shape, const double *v, double s) {
  nn_tensor *a = tu_make(dt, ndim, shape, v), *c = NULL;
  char ctx[160];
  snprintf(ctx, sizeof ctx, "%s %s %s %.17g", tu_dtype_name(dt), tu_shape_str(ndim, shape), op_name(op), s);
  nn_status st = nn_binary_scalar(op, a, s, &c);
  if (st != NN_OK) {
    print_error("%s failed: %s\n", ctx, nn_last_error());
    fail();
  }
  nn_dtype rdt = scalar_result(op, dt, s);
  if (nn_tensor_dtype(c) != rdt) {
    print_error("%s: result dtype %s, expected %s\n", ctx, tu_dtype_name(nn_tensor_dtype(c)), tu_dtype_name(rdt));
    fail();
  }
  tu_assert_meta(c, rdt, ndim, shape);
  assert_on_device(c, ctx);
  int64_t n = tu_numel(ndim, shape);
  double *exp = malloc((size_t)(n ? n : 1) * sizeof(double));
  bool integral = isfinite(s) && s == floor(s);
  for (int64_t i = 0; i < n; i++) {
    if (tu_is_int(rdt)) {
      /* int tensor op int scalar: exact integer arithmetic, wrapped */
      int64_t x = (int64_t)v[i], y = tu_float_to_i64(s), r = 0;
      switch (op) {
        case NN_OP_ADD: r = (int64_t)((uint64_t)x + (uint64_t)y); break;
        case NN_OP_SUB: r = (int64_t)((uint64_t)x - (uint64_t)y); break;
        case NN_OP_MUL: r = (int64_t)((uint64_t)x * (uint64_t)y); break;
        case NN_OP_MAX: r = x > y ? x : y; break;
        case NN_OP_MIN: r = x < y ? x : y; break;
        default: break;
      }
      exp[i] = (double)tu_wrap(rdt, r);
    } else {
      double x = tu_is_int(dt) ? tu_cast_int(rdt, (int64_t)v[i]) : v[i];
      double y = tu_cast(rdt, s);
      (void)integral;
      double r = NAN;
      switch (op) {
        case NN_OP_ADD: r = x + y; break;
        case NN_OP_SUB: r = x - y; break;
        case NN_OP_MUL: r = x * y; break;
        case NN_OP_DIV: r = x / y; break;
        case NN_OP_MAX: r = fmax_nan(x, y); break;
        case NN_OP_MIN: r = fmin_nan(x, y); break;
      }
      exp[i] = tu_cast(rdt, r);
    }
  }
  double *got = tu_read(c, NULL);
  tu_assert_close(got, exp, n, tu_rtol(rdt), atol_for(rdt), ctx);
  free(got);
  free(exp);
  nn_tensor_free(c);
  nn_tensor_free(a);
}

static void test_scalar_every_op_every_dtype(void **state) {
  (void)state;
  tu_rng r = tu_rng_make(204);
  const double int_scalars[] = {0, 1, -1, 2, 3, 7, -5, 100};
  const double float_scalars[] = {0.5, -2.25, 2.5, 0.125};
  int64_t shape[2] = {3, 5};
  double v[15];
  for (int di = 0; di < 8; di++) {
    nn_dtype dt = tu_all_dtypes[di];
    for (int oi = 0; oi < N_OPS; oi++) {
      for (size_t k = 0; k < sizeof int_scalars / sizeof int_scalars[0]; k++) {
        /* max/min of uint8 with a negative int: no torch answer (no scalar overload) */
        if (dt == NN_U8 && int_scalars[k] < 0 && (all_ops[oi] == NN_OP_MAX || all_ops[oi] == NN_OP_MIN)) continue;
        value_range_fill(&r, dt, v, 15);
        check_scalar(all_ops[oi], dt, 2, shape, v, int_scalars[k]);
      }
      for (size_t k = 0; k < sizeof float_scalars / sizeof float_scalars[0]; k++) {
        value_range_fill(&r, dt, v, 15);
        check_scalar(all_ops[oi], dt, 2, shape, v, float_scalars[k]);
      }
    }
    /* 0-dim and empty tensors */
    double one = 3;
    check_scalar(NN_OP_ADD, dt, 0, NULL, &one, 2);
    check_scalar(NN_OP_MUL, dt, 0, NULL, &one, 0.5);
    int64_t se[2] = {0, 4};
    check_scalar(NN_OP_SUB, dt, 2, se, NULL, 1);
  }
}

static void test_scalar_examples(void **state) {
  (void)state;
  int64_t s3[1] = {3};
  /* [1,2,3] + 1 is I64 [2,3,4] */
  double v[3] = {1, 2, 3};
  nn_tensor *a = tu_make(NN_I64, 1, s3, v), *c = NULL;
  TU_OK(nn_binary_scalar(NN_OP_ADD, a, 1, &c));
  double e[3] = {2, 3, 4};
  tu_assert_tensor(c, NN_I64, 1, s3, e, 0, 0);
  nn_tensor_free(c);
  /* / 2 is true division, F32 */
  TU_OK(nn_binary_scalar(NN_OP_DIV, a, 2, &c));
  double ed[3] = {0.5, 1, 1.5};
  tu_assert_tensor(c, NN_F32, 1, s3, ed, 0, 0);
  nn_tensor_free(c);
  /* a - b, not b - a */
  TU_OK(nn_binary_scalar(NN_OP_SUB, a, 10, &c));
  double es[3] = {-9, -8, -7};
  tu_assert_tensor(c, NN_I64, 1, s3, es, 0, 0);
  nn_tensor_free(c);
  /* NaN and inf scalars are floats: int tensor gives F32 */
  TU_OK(nn_binary_scalar(NN_OP_ADD, a, NAN, &c));
  double en[3] = {NAN, NAN, NAN};
  tu_assert_tensor(c, NN_F32, 1, s3, en, 0, 0);
  nn_tensor_free(c);
  TU_OK(nn_binary_scalar(NN_OP_MUL, a, -INFINITY, &c));
  double ei[3] = {-INFINITY, -INFINITY, -INFINITY};
  tu_assert_tensor(c, NN_F32, 1, s3, ei, 0, 0);
  nn_tensor_free(c);
  nn_tensor_free(a);
  /* torch: uint8 [250] + 10 -> uint8 [4]; uint8 [2] * 300 -> [88]; [1,2,3] - 1 */
  double u[3] = {250, 2, 1};
  a = tu_make(NN_U8, 1, s3, u);
  TU_OK(nn_binary_scalar(NN_OP_ADD, a, 10, &c));
  double eu[3] = {4, 12, 11};
  tu_assert_tensor(c, NN_U8, 1, s3, eu, 0, 0);
  nn_tensor_free(c);
  TU_OK(nn_binary_scalar(NN_OP_MUL, a, 300, &c));
  double em[3] = {(250 * 300) % 256, 88, 44};
  tu_assert_tensor(c, NN_U8, 1, s3, em, 0, 0);
  nn_tensor_free(c);
  TU_OK(nn_binary_scalar(NN_OP_SUB, a, 3, &c));
  double eus[3] = {247, 255, 254};
  tu_assert_tensor(c, NN_U8, 1, s3, eus, 0, 0);
  nn_tensor_free(c);
  /* int16 + 2.5 -> float32 */
  nn_tensor_free(a);
  double i16[2] = {1, 2};
  int64_t s2[1] = {2};
  a = tu_make(NN_I16, 1, s2, i16);
  TU_OK(nn_binary_scalar(NN_OP_ADD, a, 2.5, &c));
  double e16[2] = {3.5, 4.5};
  tu_assert_tensor(c, NN_F32, 1, s2, e16, 0, 0);
  nn_tensor_free(c);
  nn_tensor_free(a);
  /* float tensors keep their dtype: f16 + 1e5 overflows to inf; f64 + 0.1 exact */
  double f[2] = {1, 2};
  a = tu_make(NN_F16, 1, s2, f);
  TU_OK(nn_binary_scalar(NN_OP_ADD, a, 1e5, &c));
  double einf[2] = {INFINITY, INFINITY};
  tu_assert_tensor(c, NN_F16, 1, s2, einf, 0, 0);
  nn_tensor_free(c);
  nn_tensor_free(a);
  a = tu_make(NN_F64, 1, s2, f);
  TU_OK(nn_binary_scalar(NN_OP_ADD, a, 0.1, &c));
  double e64[2] = {1.1, 2.1};
  tu_assert_tensor(c, NN_F64, 1, s2, e64, 0, 0);
  nn_tensor_free(c);
  TU_OK(nn_binary_scalar(NN_OP_DIV, a, 0, &c));
  double edz[2] = {INFINITY, INFINITY};
  tu_assert_tensor(c, NN_F64, 1, s2, edz, 0, 0);
  nn_tensor_free(c);
  nn_tensor_free(a);
  /* bf16 * 3 stays bf16 */
  a = tu_make(NN_BF16, 1, s2, f);
  TU_OK(nn_binary_scalar(NN_OP_MUL, a, 3, &c));
  double eb[2] = {3, 6};
  tu_assert_tensor(c, NN_BF16, 1, s2, eb, 0, 0);
  nn_tensor_free(c);
  nn_tensor_free(a);
}

/* Operands are never modified; the result has its own storage. */
static void test_operands_unchanged(void **state) {
  (void)state;
  int64_t s[2] = {2, 2};
  double va[4] = {1, 2, 3, 4}, vb[4] = {5, 6, 7, 8};
  const float junk[4] = {-100, -200, -300, -400};
  nn_tensor *a = tu_make(NN_F32, 2, s, va), *b = tu_make(NN_F32, 2, s, vb), *c = NULL;
  for (int oi = 0; oi < N_OPS; oi++) {
    TU_OK(nn_binary(all_ops[oi], a, b, &c));
    if (tu_on_cpu()) {
      assert_ptr_not_equal(nn_tensor_data(c), nn_tensor_data(a));
      assert_ptr_not_equal(nn_tensor_data(c), nn_tensor_data(b));
    } else {
      /* nn.h: nn_tensor_data is NULL for a CUDA tensor (the write below checks the storage) */
      assert_null(nn_tensor_data(c));
      assert_null(nn_tensor_data(a));
      assert_null(nn_tensor_data(b));
    }
    /* on any device: overwriting the result leaves the operands as they were */
    TU_OK(nn_tensor_write(c, junk, sizeof junk));
    nn_tensor_free(c);
    TU_OK(nn_binary(all_ops[oi], a, a, &c)); /* same handle twice */
    nn_tensor_free(c);
    TU_OK(nn_binary_scalar(all_ops[oi], a, 2, &c));
    nn_tensor_free(c);
  }
  tu_assert_tensor(a, NN_F32, 2, s, va, 0, 0);
  tu_assert_tensor(b, NN_F32, 2, s, vb, 0, 0);
  nn_tensor_free(a);
  nn_tensor_free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_promotion_table),
      cmocka_unit_test(test_every_op_every_dtype_pair),
      cmocka_unit_test(test_broadcast_random_shapes),
      cmocka_unit_test(test_broadcast_corners),
      cmocka_unit_test(test_non_contiguous_operands),
      cmocka_unit_test(test_large_broadcast),
      cmocka_unit_test(test_rank8_broadcast),
      cmocka_unit_test(test_zero_dim_rule_values),
      cmocka_unit_test(test_integer_wrap_and_div),
      cmocka_unit_test(test_nan_inf),
      cmocka_unit_test(test_half_rounding),
      cmocka_unit_test(test_scalar_every_op_every_dtype),
      cmocka_unit_test(test_scalar_examples),
      cmocka_unit_test(test_operands_unchanged),
  };
  return tu_run_group(tests);
}
