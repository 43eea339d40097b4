/* nn_matmul with torch.matmul's rules against a float64 loop: 1-D dot,
 * matrix-vector, vector-matrix, 2-D, batched with broadcast batch dims,
 * integer matmul (wrapping), sizes 1..~1000 that are not multiples of 8; on
 * the device under test (tu_device(): the CPU, or CUDA (cuBLAS and the
 * integer kernel) for test_matmul_cuda).
 *
 * Tolerances are the same on every device: float inputs are multiples of
 * 1/8 in [-4, 4] (rand_vals), so every product is a multiple of 1/64 of
 * magnitude <= 16 and every partial sum over k <= 1003 terms (< 2^14) is
 * exact in float32 whatever the order of summation or blocking (oneDNN,
 * cuBLAS, split-K), and also with TF32 (at most 5 significant bits per
 * input). F16/BF16 accumulate in F32 (nn.h), so only the final rounding to
 * the dtype remains. Only i64@bf16 (large integers rounded to bf16) can round
 * a partial sum; acc_tol covers any order there (k = 4). */
#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The expected result shape per torch.matmul; returns false for invalid. */
static bool matmul_shape(int na, const int64_t *sa, int nb, const int64_t *sb, int *no, int64_t *so) {
  if (na == 0 || nb == 0) return false;
  if (na == 1 && nb == 1) {
    if (sa[0] != sb[0]) return false;
    *no = 0;
    return true;
  }
  int64_t n = na == 1 ? 1 : sa[na - 2], ka = sa[na - 1];
  int64_t kb = nb == 1 ? sb[0] : sb[nb - 2], m = nb == 1 ? 1 : sb[nb - 1];
  if (ka != kb) return false;
  int ba = na > 2 ? na - 2 : 0, bb = nb > 2 ? nb - 2 : 0;
  int nbatch = ba > bb ? ba : bb;
  int k = 0;
  for (int i = 0; i < nbatch; i++) {
    int ia = ba - nbatch + i, ib = bb - nbatch + i;
    int64_t da = ia >= 0 ? sa[ia] : 1, db = ib >= 0 ? sb[ib] : 1;
    if (da != db && da != 1 && db != 1) return false;
    so[k++] = da == 1 ? db : da;
  }
  if (na > 1) so[k++] = n;
  if (nb > 1) so[k++] = m;
  *no = k;
  (void)n;
  return true;
}

/* float64 (or exact int64) reference; also the per-element sum |a||b|. */
static void reference(nn_dtype rdt, int na, const int64_t *sa, const double *va, int nb, const int64_t *sb,
                      const double *vb, double *out, double *bound) {
  int64_t n = na == 1 ? 1 : sa[na - 2], K = sa[na - 1];
  int64_t m = nb == 1 ? 1 : sb[nb - 1];
  int ba = na > 2 ? na - 2 : 0, bb = nb > 2 ? nb - 2 : 0;
  int nbatch = ba > bb ? ba : bb;
  int64_t bs[TU_MAX_DIMS];
  int64_t nbt = 1;
  for (int i = 0; i < nbatch; i++) {
    int ia = ba - nbatch + i, ib = bb - nbatch + i;
    int64_t da = ia >= 0 ? sa[ia] : 1, db = ib >= 0 ? sb[ib] : 1;
    bs[i] = da == 1 ? db : da;
    nbt *= bs[i];
  }
  for (int64_t t = 0; t < nbt; t++) {
    int64_t idx[TU_MAX_DIMS], rem = t;
    for (int i = nbatch - 1; i >= 0; i--) {
      idx[i] = rem % bs[i];
      rem /= bs[i];
    }
    int64_t offa = 0, offb = 0;
    for (int i = 0; i < ba; i++) {
      int64_t d = sa[i];
      offa = offa * d + (d == 1 ? 0 : idx[nbatch - ba + i]);
    }
    for (int i = 0; i < bb; i++) {
      int64_t d = sb[i];
      offb = offb * d + (d == 1 ? 0 : idx[nbatch - bb + i]);
    }
    const double *A = va + offa * n * K;
    const double *B = vb + offb * K * m;
    for (int64_t i = 0; i < n; i++)
      for (int64_t j = 0; j < m; j++) {
        if (tu_is_int(rdt)) {
          uint64_t acc = 0;
          for (int64_t k = 0; k < K; k++)
            acc += (uint64_t)(int64_t)A[i * K + k] * (uint64_t)(int64_t)B[k * m + j];
          out[(t * n + i) * m + j] = (double)tu_wrap(rdt, (int64_t)acc);
          bound[(t * n + i) * m + j] = 0;
        } else {
          long double acc = 0, ab = 0;
          for (int64_t k = 0; k < K; k++) {
            acc += (long double)A[i * K + k] * B[k * m + j];
            ab += fabsl((long double)A[i * K + k] * B[k * m + j]);
          }
          out[(t * n + i) * m + j] = tu_cast(rdt, (double)acc);
          bound[(t * n + i) * m + j] = (double)ab;
        }
      }
  }
}

static double acc_tol(nn_dtype dt) {
  switch (dt) {
    case NN_F64: return 1e-13;
    case NN_F32: return 1e-5;
    /* F16/BF16 accumulate in F32: only the final rounding (tu_rtol) is coarse */
    case NN_F16: return 1e-5;
    case NN_BF16: return 1e-5;
    default: return 0;
  }
}

/* Every operation returns its result on the operands' device (nn.h, Operations). */
static void assert_on_device(const nn_tensor *t, const char *ctx) {
  nn_device d = nn_tensor_device(t), want = tu_device();
  if (d.type != want.type || d.index != want.index) {
    print_error("%s: result on device {%d, %d}, expected %s\n", ctx, (int)d.type, (int)d.index, tu_device_name());
    fail();
  }
}

/* When set, operands are transposed views (non-contiguous). */
static int strided_mode = 0;

static void check_matmul(nn_dtype adt, int na, const int64_t *sa, const double *va, nn_dtype bdt, int nb,
                         const int64_t *sb, const double *vb, const char *what) {
  nn_tensor *a = strided_mode && na >= 2 ? tu_make_strided(adt, na, sa, va, na - 2, na - 1) : tu_make(adt, na, sa, va);
  nn_tensor *b = strided_mode && nb >= 3 ? tu_make_strided(bdt, nb, sb, vb, 0, nb - 1)
                 : strided_mode && nb == 2 ? tu_make_strided(bdt, nb, sb, vb, 0, 1)
                                           : tu_make(bdt, nb, sb, vb);
  nn_tensor *c = NULL;
  char ctx[200];
  snprintf(ctx, sizeof ctx, "%s: %s%s @ %s%s", what, tu_dtype_name(adt), tu_shape_str(na, sa), tu_dtype_name(bdt),
           tu_shape_str(nb, sb));
  nn_status st = nn_matmul(a, b, &c);
  if (st != NN_OK) {
    print_error("%s failed: %d %s\n", ctx, (int)st, nn_last_error());
    fail();
  }
  int no = 0;
  int64_t so[TU_MAX_DIMS];
  assert_true(matmul_shape(na, sa, nb, sb, &no, so));
  nn_dtype rdt = tu_promote_types(adt, bdt);
  tu_assert_meta(c, rdt, no, so);
  assert_on_device(c, ctx);
  int64_t n = tu_numel(no, so);
  double *exp = malloc((size_t)(n ? n : 1) * sizeof(double));
  double *bound = malloc((size_t)(n ? n : 1) * sizeof(double));
  /* inputs converted to the result dtype first */
  int64_t ca = tu_numel(na, sa), cb = tu_numel(nb, sb);
  double *ca_v = malloc((size_t)(ca ? ca : 1) * sizeof(double)), *cb_v = malloc((size_t)(cb ? cb : 1) * sizeof(double));
  for (int64_t i = 0; i < ca; i++) ca_v[i] = tu_is_int(adt) ? tu_cast_int(rdt, (int64_t)va[i]) : tu_cast(rdt, va[i]);
  for (int64_t i = 0; i < cb; i++) cb_v[i] = tu_is_int(bdt) ? tu_cast_int(rdt, (int64_t)vb[i]) : tu_cast(rdt, vb[i]);
  reference(rdt, na, sa, ca_v, nb, sb, cb_v, exp, bound);
  double *got = tu_read(c, NULL);
  for (int64_t i = 0; i < n; i++) {
    double e = exp[i], g = got[i];
    bool ok = tu_is_int(rdt) ? g == e : fabs(g - e) <= acc_tol(rdt) * bound[i] + tu_rtol(rdt) * fabs(e) + 1e-300;
    if (!ok) {
      print_error("%s: element %lld: expected %.17g, got %.17g (sum|ab| %g)\n", ctx, (long long)i, e, g, bound[i]);
      fail();
    }
  }
  free(got);
  free(exp);
  free(bound);
  free(ca_v);
  free(cb_v);
  nn_tensor_free(c);
  nn_tensor_free(a);
  nn_tensor_free(b);
}

static double *rand_vals(tu_rng *r, nn_dtype dt, int64_t n) {
  double *v = malloc((size_t)(n ? n : 1) * sizeof(double));
  switch (dt) {
    case NN_U8: tu_rng_fill(r, dt, v, n, 0, 255); break;
    case NN_I16: tu_rng_fill(r, dt, v, n, -200, 200); break;
    case NN_I32: tu_rng_fill(r, dt, v, n, -50000, 50000); break;
    case NN_I64: tu_rng_fill(r, dt, v, n, -1000000, 1000000); break;
    default: tu_rng_fill(r, dt, v, n, -4, 4); break;
  }
  return v;
}

static void run(tu_rng *r, nn_dtype adt, int na, const int64_t *sa, nn_dtype bdt, int nb, const int64_t *sb,
                const char *what) {
  double *va = rand_vals(r, adt, tu_numel(na, sa)), *vb = rand_vals(r, bdt, tu_numel(nb, sb));
  check_matmul(adt, na, sa, va, bdt, nb, sb, vb, what);
  free(va);
  free(vb);
}

typedef struct mm_case {
  int na;
  int64_t sa[4];
  int nb;
  int64_t sb[4];
} mm_case;

static const mm_case rule_cases[] = {
    {1, {3}, 1, {3}},                     /* dot -> 0-dim */
    {1, {1}, 1, {1}},
    {2, {2, 3}, 1, {3}},                  /* mat-vec -> [2] */
    {1, {3}, 2, {3, 4}},                  /* vec-mat -> [4] */
    {2, {5, 3}, 2, {3, 7}},               /* 2-D */
    {3, {4, 5, 3}, 1, {3}},               /* batched mat-vec -> [4, 5] */
    {1, {3}, 3, {4, 3, 6}},               /* vec-batched -> [4, 6] */
    {3, {2, 3, 4}, 2, {4, 5}},            /* batched x 2-D */
    {2, {3, 4}, 3, {2, 4, 5}},            /* 2-D x batched */
    {3, {2, 3, 4}, 3, {2, 4, 5}},         /* same batch */
    {3, {1, 3, 4}, 3, {6, 4, 5}},         /* batch broadcast 1 */
    {4, {2, 1, 3, 4}, 3, {5, 4, 6}},      /* [2,1,n,k] x [5,k,m] -> [2,5,n,m] */
    {4, {2, 1, 3, 4}, 4, {1, 7, 4, 2}},
    {4, {1, 1, 1, 1}, 4, {3, 2, 1, 1}},
    {2, {0, 3}, 2, {3, 4}},               /* empty n */
    {2, {2, 0}, 2, {0, 3}},               /* empty k: zeros */
    {2, {2, 3}, 2, {3, 0}},               /* empty m */
    {1, {0}, 1, {0}},                     /* empty dot: 0 */
    {3, {0, 2, 3}, 2, {3, 4}},            /* empty batch */
};

static void test_torch_rules_every_dtype(void **state) {
  (void)state;
  tu_rng r = tu_rng_make(400);
  for (size_t c = 0; c < sizeof rule_cases / sizeof rule_cases[0]; c++)
    for (int di = 0; di < 8; di++)
      run(&r, tu_all_dtypes[di], rule_cases[c].na, rule_cases[c].sa, tu_all_dtypes[di], rule_cases[c].nb,
          rule_cases[c].sb, "rules");
}

/* Sizes 1..~1000, not multiples of 8, against the float64 loop. */
static void test_sizes_f32(void **state) {
  (void)state;
  tu_rng r = tu_rng_make(401);
  const int64_t nkm[][3] = {
      {1, 1, 1},  {1, 7, 1},    {3, 5, 7},    {17, 33, 9},  {63, 65, 31}, {129, 3, 255},
      {1000, 3, 1}, {1, 999, 1}, {7, 1001, 9}, {997, 13, 1003}, {257, 1003, 129}, {1, 1003, 997},
  };
  for (size_t i = 0; i < sizeof nkm / sizeof nkm[0]; i++) {
    int64_t sa[2] = {nkm[i][0], nkm[i][1]}, sb[2] = {nkm[i][1], nkm[i][2]};
    run(&r, NN_F32, 2, sa, NN_F32, 2, sb, "sizes f32");
  }
  /* long dot products and mat-vec */
  int64_t k1[1] = {999};
  run(&r, NN_F32, 1, k1, NN_F32, 1, k1, "dot 999");
  int64_t a2[2] = {513, 999};
  run(&r, NN_F32, 2, a2, NN_F32, 1, k1, "matvec 513x999");
  int64_t b2[2] = {999, 37};
  run(&r, NN_F32, 1, k1, NN_F32, 2, b2, "vecmat 999x37");
}

static void test_sizes_other_dtypes(void **state) {
  (void)state;
  tu_rng r = tu_rng_make(402);
  const int64_t nkm[][3] = {{1, 1, 1}, {5, 3, 7}, {31, 17, 15}, {67, 129, 33}, {3, 1001, 5}};
  for (int di = 0; di < 8; di++) {
    if (tu_all_dtypes[di] == NN_F32) continue;
    for (size_t i = 0; i < sizeof nkm / sizeof nkm[0]; i++) {
      int64_t sa[2] = {nkm[i][0], nkm[i][1]}, sb[2] = {nkm[i][1], nkm[i][2]};
      run(&r, tu_all_dtypes[di], 2, sa, tu_all_dtypes[di], 2, sb, "sizes");
    }
  }
  /* one bigger bf16 and f64 case */
  int64_t sa[2] = {129, 515}, sb[2] = {515, 67};
  run(&r, NN_BF16, 2, sa, NN_BF16, 2, sb, "bf16 big");
  run(&r, NN_F64, 2, sa, NN_F64, 2, sb, "f64 big");
}

static void test_batched_random(void **state) {
  (void)state;
  tu_rng r = tu_rng_make(403);
  for (int rep = 0; rep < 60; rep++) {
    int64_t n = tu_rng_int(&r, 1, 9), k = tu_rng_int(&r, 1, 9), m = tu_rng_int(&r, 1, 9);
    int nbatch = (int)tu_rng_int(&r, 1, 3);
    int64_t batch[3];
    for (int i = 0; i < nbatch; i++) batch[i] = tu_rng_int(&r, 1, 3);
    int ra = (int)tu_rng_int(&r, 0, nbatch), rb = (int)tu_rng_int(&r, 0, nbatch);
    int64_t sa[6], sb[6];
    for (int i = 0; i < ra; i++) sa[i] = tu_rng_int(&r, 0, 1) ? batch[nbatch - ra + i] : 1;
    for (int i = 0; i < rb; i++) sb[i] = tu_rng_int(&r, 0, 1) ? batch[nbatch - rb + i] : 1;
    int na = ra + 2, nb = rb + 2;
    sa[ra] = n;
    sa[ra + 1] = k;
    sb[rb] = k;
    sb[rb + 1] = m;
    /* sometimes one side is a vector */
    int kind = (int)tu_rng_int(&r, 0, 5);
    if (kind == 0) {
      na = 1;
      sa[0] = k;
    } else if (kind == 1) {
      nb = 1;
      sb[0] = k;
    }
    nn_dtype dt = tu_all_dtypes[tu_rng_int(&r, 0, 7)];
    run(&r, dt, na, sa, dt, nb, sb, "batched");
  }
}

/* Batch dims up to rank 8 (6 batch dims + the matrix). */
static void test_rank8_batches(void **state) {
  (void)state;
  tu_rng r = tu_rng_make(407);
  int64_t sa[8] = {2, 1, 2, 1, 2, 1, 3, 4}, sb[8] = {1, 2, 1, 2, 1, 2, 4, 5}, sc[3] = {2, 4, 5}, sv[1] = {4};
  for (int di = 0; di < 8; di++) {
    nn_dtype dt = tu_all_dtypes[di];
    run(&r, dt, 8, sa, dt, 8, sb, "rank8 x rank8");
    run(&r, dt, 8, sa, dt, 3, sc, "rank8 x rank3");
    run(&r, dt, 8, sa, dt, 1, sv, "rank8 x vec");
    run(&r, dt, 1, sv, dt, 8, sb, "vec x rank8");
  }
}

static void test_integer_matmul_wraps(void **state) {
  (void)state;
  /* U8: 255*255*4 = 260100 -> wraps to 260100 mod 256 = 4 */
  int64_t s[2] = {2, 4}, st[2] = {4, 2};
  double a[8] = {255, 255, 255, 255, 1, 2, 3, 4}, b[8] = {255, 1, 255, 1, 255, 1, 255, 1};
  check_matmul(NN_U8, 2, s, a, NN_U8, 2, st, b, "u8 wrap");
  nn_tensor *ta = tu_make(NN_U8, 2, s, a), *tb = tu_make(NN_U8, 2, st, b), *c = NULL;
  TU_OK(nn_matmul(ta, tb, &c));
  double e[4] = {(255 * 255 * 4) % 256, (255 * 4) % 256, (255 * 10) % 256, 10};
  int64_t s22[2] = {2, 2};
  tu_assert_tensor(c, NN_U8, 2, s22, e, 0, 0);
  nn_tensor_free(c);
  nn_tensor_free(ta);
  nn_tensor_free(tb);
  /* I32 overflow wraps (accumulated in int64) */
  int64_t s1[1] = {3};
  double x[3] = {2000000000, 2000000000, -1}, y[3] = {2, 2, 5};
  ta = tu_make(NN_I32, 1, s1, x);
  tb = tu_make(NN_I32, 1, s1, y);
  TU_OK(nn_matmul(ta, tb, &c));
  double ew = (double)tu_wrap(NN_I32, 8000000000LL - 5);
  tu_assert_tensor(c, NN_I32, 0, NULL, &ew, 0, 0);
  nn_tensor_free(c);
  nn_tensor_free(ta);
  nn_tensor_free(tb);
  /* I64 exact beyond 2^53 */
  int64_t xi[2] = {4503599627370497LL, 3}, yi[2] = {2, 1};
  int64_t s2[1] = {2};
  ta = tu_make_i64(NN_I64, 1, s2, xi);
  tb = tu_make_i64(NN_I64, 1, s2, yi);
  TU_OK(nn_matmul(ta, tb, &c));
  int64_t *g = tu_read_i64(c, NULL);
  assert_true(g[0] == 9007199254740997LL);
  free(g);
  nn_tensor_free(c);
  nn_tensor_free(ta);
  nn_tensor_free(tb);
}

static void test_mixed_dtypes_promote(void **state) {
  (void)state;
  tu_rng r = tu_rng_make(404);
  int64_t sa[2] = {3, 4}, sb[2] = {4, 5};
  run(&r, NN_I32, 2, sa, NN_F32, 2, sb, "i32@f32");
  run(&r, NN_F16, 2, sa, NN_BF16, 2, sb, "f16@bf16");
  run(&r, NN_U8, 2, sa, NN_I16, 2, sb, "u8@i16");
  run(&r, NN_F64, 2, sa, NN_F32, 2, sb, "f64@f32");
  run(&r, NN_I64, 2, sa, NN_BF16, 2, sb, "i64@bf16");
}

static void test_transposed_operands(void **state) {
  (void)state;
  tu_rng r = tu_rng_make(405);
  for (int fi = 0; fi < 4; fi++) {
    nn_dtype dt = tu_float_dtypes[fi];
    int64_t sa[2] = {37, 19}, sb[2] = {23, 37};
    double *va = rand_vals(&r, dt, 37 * 19), *vb = rand_vals(&r, dt, 23 * 37);
    nn_tensor *a = tu_make(dt, 2, sa, va), *b = tu_make(dt, 2, sb, vb), *at = NULL, *bt = NULL, *c = NULL;
    TU_OK(nn_tensor_transpose(a, 0, 1, &at)); /* [19, 37] */
    TU_OK(nn_tensor_transpose(b, 0, 1, &bt)); /* [37, 23] */
    TU_OK(nn_matmul(at, bt, &c));
    double *vat = malloc(19 * 37 * sizeof(double)), *vbt = malloc(37 * 23 * sizeof(double));
    for (int i = 0; i < 37; i++)
      for (int j = 0; j < 19; j++) vat[j * 37 + i] = va[i * 19 + j];
    for (int i = 0; i < 23; i++)
      for (int j = 0; j < 37; j++) vbt[j * 23 + i] = vb[i * 37 + j];
    int64_t sat[2] = {19, 37}, sbt[2] = {37, 23};
    /* compare with the same product on contiguous copies */
    check_matmul(dt, 2, sat, vat, dt, 2, sbt, vbt, "transposed reference");
    nn_tensor *cc = NULL, *ac = tu_make(dt, 2, sat, vat), *bc = tu_make(dt, 2, sbt, vbt);
    TU_OK(nn_matmul(ac, bc, &cc));
    int64_t n = 0;
    double *g1 = tu_read(c, &n), *g2 = tu_read(cc, NULL);
    tu_assert_close(g1, g2, n, tu_rtol(dt), 1e-5, "transposed vs contiguous");
    free(g1);
    free(g2);
    free(vat);
    free(vbt);
    free(va);
    free(vb);
    nn_tensor_free(c);
    nn_tensor_free(cc);
    nn_tensor_free(ac);
    nn_tensor_free(bc);
    nn_tensor_free(at);
    nn_tensor_free(bt);
    nn_tensor_free(a);
    nn_tensor_free(b);
  }
}

/* Batched and 2-D products of non-contiguous views, every dtype. */
static void test_strided_batched(void **state) {
  (void)state;
  tu_rng r = tu_rng_make(408);
  strided_mode = 1;
  for (size_t c = 0; c < sizeof rule_cases / sizeof rule_cases[0]; c++)
    for (int di = 0; di < 8; di++)
      run(&r, tu_all_dtypes[di], rule_cases[c].na, rule_cases[c].sa, tu_all_dtypes[di], rule_cases[c].nb,
          rule_cases[c].sb, "strided rules");
  int64_t sa[3] = {3, 67, 129}, sb[2] = {129, 33};
  run(&r, NN_F32, 3, sa, NN_F32, 2, sb, "strided f32 batched");
  run(&r, NN_BF16, 3, sa, NN_BF16, 2, sb, "strided bf16 batched");
  strided_mode = 0;
}

/* Repeated calls (cached primitives, the same cuBLAS algorithm) give the
 * bit-identical answer on every device; operands unchanged. */
static void test_repeatable(void **state) {
  (void)state;
  tu_rng r = tu_rng_make(406);
  int64_t sa[2] = {33, 65}, sb[2] = {65, 17};
  double *va = rand_vals(&r, NN_F32, 33 * 65), *vb = rand_vals(&r, NN_F32, 65 * 17);
  nn_tensor *a = tu_make(NN_F32, 2, sa, va), *b = tu_make(NN_F32, 2, sb, vb);
  nn_tensor *c0 = NULL;
  TU_OK(nn_matmul(a, b, &c0));
  double *g0 = tu_read(c0, NULL);
  for (int it = 0; it < 5; it++) {
    nn_tensor *c = NULL;
    TU_OK(nn_matmul(a, b, &c));
    double *g = tu_read(c, NULL);
    tu_assert_close(g, g0, 33 * 17, 0, 0, "repeat");
    free(g);
    nn_tensor_free(c);
  }
  tu_assert_tensor(a, NN_F32, 2, sa, va, 0, 0);
  tu_assert_tensor(b, NN_F32, 2, sb, vb, 0, 0);
  free(g0);
  free(va);
  free(vb);
  nn_tensor_free(c0);
  nn_tensor_free(a);
  nn_tensor_free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_torch_rules_every_dtype),
      cmocka_unit_test(test_sizes_f32),
      cmocka_unit_test(test_sizes_other_dtypes),
      cmocka_unit_test(test_batched_random),
      cmocka_unit_test(test_rank8_batches),
      cmocka_unit_test(test_integer_matmul_wraps),
      cmocka_unit_test(test_mixed_dtypes_promote),
      cmocka_unit_test(test_transposed_operands),
      cmocka_unit_test(test_strided_batched),
      cmocka_unit_test(test_repeatable),
  };
  return tu_run_group(tests);
}
