/* Views and copies: reshape (-1, shared storage), transpose (strided views,
 * read/write), clone, to_device, to_dtype (every pair of dtypes against a C
 * reference of docs/semantics.md), nn_tensor_data, read/write.
 *
 * Tensors live on the device under test, tu_device(). nn_tensor_data() is a
 * host pointer to a CPU tensor only (nn.h: NULL for a CUDA tensor): on the
 * CPU the cases write through it; on CUDA they assert the NULL and make the
 * same change with nn_tensor_write(), so every later check still runs. */
#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Overwrites all n elements of t (dtype dt) with vals, element i replaced
 * by x: a host-side stand-in for a write through nn_tensor_data() on CUDA. */
static void write_with(nn_tensor *t, nn_dtype dt, const double *vals, int64_t n, int64_t i, double x) {
  size_t sz = tu_dtype_size(dt);
  unsigned char *buf = malloc((size_t)n * sz);
  for (int64_t k = 0; k < n; k++) tu_store(dt, buf, k, k == i ? x : vals[k]);
  TU_OK(nn_tensor_write(t, buf, (size_t)n * sz));
  free(buf);
}

static nn_tensor *arange_f64(int ndim, const int64_t *shape) {
  int64_t n = tu_numel(ndim, shape);
  double *v = malloc((size_t)(n ? n : 1) * sizeof(double));
  for (int64_t i = 0; i < n; i++) v[i] = (double)i;
  nn_tensor *t = tu_make(NN_F64, ndim, shape, v);
  free(v);
  return t;
}

static void test_reshape_basic_and_minus_one(void **state) {
  (void)state;
  int64_t s[2] = {4, 6};
  nn_tensor *t = arange_f64(2, s);
  double exp[24];
  for (int i = 0; i < 24; i++) exp[i] = i;

  struct {
    int ndim;
    int64_t in[5];
    int64_t out[5];
  } cases[] = {
      {1, {24}, {24}},          {1, {-1}, {24}},          {2, {3, 8}, {3, 8}},
      {2, {-1, 8}, {3, 8}},     {2, {2, -1}, {2, 12}},    {3, {2, 3, 4}, {2, 3, 4}},
      {3, {2, -1, 4}, {2, 3, 4}}, {4, {1, 24, 1, 1}, {1, 24, 1, 1}}, {5, {1, 2, -1, 1, 3}, {1, 2, 4, 1, 3}},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    nn_tensor *v = NULL;
    TU_OK(nn_tensor_reshape(t, cases[c].ndim, cases[c].in, &v));
    tu_assert_tensor(v, NN_F64, cases[c].ndim, cases[c].out, exp, 0, 0);
    nn_tensor_free(v);
  }
  /* 0-dim <-> [1] */
  double one = 3.5;
  nn_tensor *s0 = tu_make(NN_F32, 0, NULL, &one);
  nn_tensor *v = NULL;
  int64_t s1[1] = {-1};
  TU_OK(nn_tensor_reshape(s0, 1, s1, &v));
  int64_t e1[1] = {1};
  tu_assert_tensor(v, NN_F32, 1, e1, &one, 0, 0);
  nn_tensor *back = NULL;
  TU_OK(nn_tensor_reshape(v, 0, NULL, &back));
  tu_assert_tensor(back, NN_F32, 0, NULL, &one, 0, 0);
  nn_tensor_free(back);
  nn_tensor_free(v);
  nn_tensor_free(s0);
  /* empty: [0,3] -> [-1] gives [0]; [0, 3] -> [3, 0] */
  int64_t se[2] = {0, 3};
  nn_tensor *e = NULL;
  TU_OK(nn_tensor_zeros(NN_F32, 2, se, tu_device(), &e));
  int64_t r30[2] = {3, 0};
  TU_OK(nn_tensor_reshape(e, 2, r30, &v));
  tu_assert_meta(v, NN_F32, 2, r30);
  nn_tensor_free(v);
  nn_tensor_free(e);
  nn_tensor_free(t);
}

static void test_reshape_shares_storage(void **state) {
  (void)state;
  int64_t s[2] = {2, 3};
  double vals[6] = {1, 2, 3, 4, 5, 6};
  nn_tensor *t = tu_make(NN_F32, 2, s, vals);
  int64_t flat[1] = {-1};
  nn_tensor *v = NULL;
  TU_OK(nn_tensor_reshape(t, 1, flat, &v));
  /* write through the view, read through the source */
  float nv[6] = {10, 20, 30, 40, 50, 60};
  TU_OK(nn_tensor_write(v, nv, sizeof nv));
  double e1[6] = {10, 20, 30, 40, 50, 60};
  tu_assert_tensor(t, NN_F32, 2, s, e1, 0, 0);
  /* write through the source, read through the view */
  float nt[6] = {-1, -2, -3, -4, -5, -6};
  TU_OK(nn_tensor_write(t, nt, sizeof nt));
  double e2[6] = {-1, -2, -3, -4, -5, -6};
  int64_t s6[1] = {6};
  tu_assert_tensor(v, NN_F32, 1, s6, e2, 0, 0);
  /* data pointers alias */
  double e3[6] = {-1, -2, -3, -4, 99, -6};
  if (tu_on_cpu()) {
    float *pt = nn_tensor_data(t), *pv = nn_tensor_data(v);
    assert_non_null(pt);
    assert_non_null(pv);
    assert_ptr_equal(pt, pv);
    pv[4] = 99.0f;
  } else {
    assert_null(nn_tensor_data(t));
    assert_null(nn_tensor_data(v));
    write_with(v, NN_F32, e2, 6, 4, 99.0);
  }
  tu_assert_tensor(t, NN_F32, 2, s, e3, 0, 0);
  /* a view of a view; the storage outlives the source handle */
  int64_t s32[2] = {3, 2};
  nn_tensor *vv = NULL;
  TU_OK(nn_tensor_reshape(v, 2, s32, &vv));
  nn_tensor_free(t);
  nn_tensor_free(v);
  tu_assert_tensor(vv, NN_F32, 2, s32, e3, 0, 0);
  float one = 7.0f;
  if (tu_on_cpu()) {
    float *pvv = nn_tensor_data(vv);
    assert_non_null(pvv);
    pvv[0] = one;
  } else {
    assert_null(nn_tensor_data(vv));
    write_with(vv, NN_F32, e3, 6, 0, one);
  }
  double e4[6] = {7, -2, -3, -4, 99, -6};
  tu_assert_tensor(vv, NN_F32, 2, s32, e4, 0, 0);
  nn_tensor_free(vv);
}

static void test_transpose_views(void **state) {
  (void)state;
  int64_t s[3] = {2, 3, 4};
  nn_tensor *t = arange_f64(3, s);
  struct {
    int d0, d1;
    int64_t shape[3];
    int perm[3]; /* out index j reads source dim perm[j] */
  } cases[] = {
      {0, 1, {3, 2, 4}, {1, 0, 2}}, {0, 2, {4, 3, 2}, {2, 1, 0}},   {1, 2, {2, 4, 3}, {0, 2, 1}},
      {-1, -3, {4, 3, 2}, {2, 1, 0}}, {-1, 1, {2, 4, 3}, {0, 2, 1}}, {2, 2, {2, 3, 4}, {0, 1, 2}},
      {-2, 0, {3, 2, 4}, {1, 0, 2}},
  };
  int64_t strides[3] = {12, 4, 1};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    nn_tensor *v = NULL;
    TU_OK(nn_tensor_transpose(t, cases[c].d0, cases[c].d1, &v));
    double exp[24];
    int64_t *os = cases[c].shape;
    int k = 0;
    for (int64_t i = 0; i < os[0]; i++)
      for (int64_t j = 0; j < os[1]; j++)
        for (int64_t l = 0; l < os[2]; l++) {
          int64_t idx[3] = {i, j, l};
          int64_t src = 0;
          for (int d = 0; d < 3; d++) src += idx[d] * strides[cases[c].perm[d]];
          exp[k++] = (double)src;
        }
    tu_assert_tensor(v, NN_F64, 3, os, exp, 0, 0);
    nn_tensor_free(v);
  }
  nn_tensor_free(t);
}

static void test_transpose_write_and_data(void **state) {
  (void)state;
  int64_t s[2] = {2, 3};
  double vals[6] = {0, 1, 2, 3, 4, 5};
  nn_tensor *t = tu_make(NN_I32, 2, s, vals);
  nn_tensor *tt = NULL;
  TU_OK(nn_tensor_transpose(t, 0, 1, &tt));
  int64_t s32[2] = {3, 2};
  double et[6] = {0, 3, 1, 4, 2, 5};
  tu_assert_tensor(tt, NN_I32, 2, s32, et, 0, 0);
  /* a transposed view is not contiguous: no data pointer */
  assert_null(nn_tensor_data(tt));
  if (tu_on_cpu())
    assert_non_null(nn_tensor_data(t));
  else
    assert_null(nn_tensor_data(t)); /* nn.h: NULL for a CUDA tensor */
  /* write through the transpose in its own row-major order */
  int32_t w[6] = {10, 11, 12, 13, 14, 15}; /* tt = [[10,11],[12,13],[14,15]] */
  TU_OK(nn_tensor_write(tt, w, sizeof w));
  double es[6] = {10, 12, 14, 11, 13, 15};
  tu_assert_tensor(t, NN_I32, 2, s, es, 0, 0);
  /* write through the source, seen through the transpose */
  if (tu_on_cpu()) {
    int32_t *p = nn_tensor_data(t);
    p[1] = -7; /* t[0][1] = tt[1][0] */
  } else {
    write_with(t, NN_I32, es, 6, 1, -7);
  }
  double et2[6] = {10, 11, -7, 13, 14, 15};
  tu_assert_tensor(tt, NN_I32, 2, s32, et2, 0, 0);
  /* storage lives while the view does */
  nn_tensor_free(t);
  tu_assert_tensor(tt, NN_I32, 2, s32, et2, 0, 0);

  /* reshape of a non-contiguous view copies (torch.reshape), in logical order */
  int64_t flat[1] = {6};
  nn_tensor *r = NULL;
  TU_OK(nn_tensor_reshape(tt, 1, flat, &r));
  tu_assert_tensor(r, NN_I32, 1, flat, et2, 0, 0);
  int32_t z[6] = {0, 0, 0, 0, 0, 0};
  TU_OK(nn_tensor_write(r, z, sizeof z));
  tu_assert_tensor(tt, NN_I32, 2, s32, et2, 0, 0); /* the copy is independent */
  nn_tensor_free(r);

  /* clone of a transposed view: contiguous, logical order, own storage */
  nn_tensor *c = NULL;
  TU_OK(nn_tensor_clone(tt, &c));
  tu_assert_tensor(c, NN_I32, 2, s32, et2, 0, 0);
  if (tu_on_cpu()) {
    int32_t *pc = nn_tensor_data(c);
    assert_non_null(pc);
    assert_int_equal(pc[0], 10);
    assert_int_equal(pc[1], 11);
    assert_int_equal(pc[2], -7);
  } else {
    assert_null(nn_tensor_data(c)); /* its values: tu_assert_tensor above */
  }
  nn_tensor_free(c);

  /* transpose of a transpose gives the original order */
  nn_tensor *ttt = NULL;
  TU_OK(nn_tensor_transpose(tt, -1, -2, &ttt));
  double eo[6] = {10, -7, 14, 11, 13, 15};
  tu_assert_tensor(ttt, NN_I32, 2, s, eo, 0, 0);
  nn_tensor_free(ttt);
  nn_tensor_free(tt);
}

static void test_transposed_operands_in_ops(void **state) {
  (void)state;
  int64_t s[2] = {3, 4};
  nn_tensor *a = arange_f64(2, s); /* a[i][j] = 4i + j */
  nn_tensor *at = NULL;
  TU_OK(nn_tensor_transpose(a, 0, 1, &at)); /* [4,3]: at[j][i] = 4i + j */
  int64_t s43[2] = {4, 3};
  /* unary on a view */
  nn_tensor *u = NULL;
  TU_OK(nn_unary(NN_OP_NEG, at, &u));
  double eneg[12];
  for (int j = 0; j < 4; j++)
    for (int i = 0; i < 3; i++) eneg[j * 3 + i] = -(4.0 * i + j);
  tu_assert_tensor(u, NN_F64, 2, s43, eneg, 0, 0);
  nn_tensor_free(u);
  /* binary view + broadcast row */
  double rowv[3] = {100, 200, 300};
  int64_t s3[1] = {3};
  nn_tensor *row = tu_make(NN_F64, 1, s3, rowv);
  nn_tensor *sum = NULL;
  TU_OK(nn_binary(NN_OP_ADD, at, row, &sum));
  double esum[12];
  for (int j = 0; j < 4; j++)
    for (int i = 0; i < 3; i++) esum[j * 3 + i] = 4.0 * i + j + rowv[i];
  tu_assert_tensor(sum, NN_F64, 2, s43, esum, 0, 0);
  nn_tensor_free(sum);
  /* reduce over a view */
  nn_tensor *red = NULL;
  TU_OK(nn_reduce(NN_REDUCE_SUM, at, 1, false, &red));
  double ered[4];
  for (int j = 0; j < 4; j++) ered[j] = (0 + 4 + 8) + 3.0 * j;
  int64_t s4[1] = {4};
  tu_assert_tensor(red, NN_F64, 1, s4, ered, 0, 0);
  nn_tensor_free(red);
  /* matmul with a view: at [4,3] x a [3,4] = a^T a */
  nn_tensor *mm = NULL;
  TU_OK(nn_matmul(at, a, &mm));
  double emm[16];
  for (int p = 0; p < 4; p++)
    for (int q = 0; q < 4; q++) {
      double acc = 0;
      for (int i = 0; i < 3; i++) acc += (4.0 * i + p) * (4.0 * i + q);
      emm[p * 4 + q] = acc;
    }
  int64_t s44[2] = {4, 4};
  tu_assert_tensor(mm, NN_F64, 2, s44, emm, 1e-12, 0);
  nn_tensor_free(mm);
  /* to_dtype of a view */
  nn_tensor *cv = NULL;
  TU_OK(nn_tensor_to_dtype(at, NN_I16, &cv));
  double ecv[12];
  for (int j = 0; j < 4; j++)
    for (int i = 0; i < 3; i++) ecv[j * 3 + i] = 4.0 * i + j;
  tu_assert_tensor(cv, NN_I16, 2, s43, ecv, 0, 0);
  nn_tensor_free(cv);
  nn_tensor_free(row);
  nn_tensor_free(at);
  nn_tensor_free(a);
}

static void test_clone_independent(void **state) {
  (void)state;
  for (int di = 0; di < 8; di++) {
    nn_dtype dt = tu_all_dtypes[di];
    int64_t s[2] = {3, 5};
    double vals[15];
    for (int i = 0; i < 15; i++) vals[i] = i + 1;
    nn_tensor *t = tu_make(dt, 2, s, vals);
    nn_tensor *c = NULL;
    TU_OK(nn_tensor_clone(t, &c));
    tu_assert_tensor(c, dt, 2, s, vals, 0, 0);
    void *pt = nn_tensor_data(t), *pc = nn_tensor_data(c);
    if (tu_on_cpu()) {
      assert_non_null(pt);
      assert_non_null(pc);
      assert_ptr_not_equal(pt, pc);
    } else {
      assert_null(pt);
      assert_null(pc);
    }
    /* writes to the clone do not reach the source and vice versa */
    if (tu_on_cpu())
      tu_store(dt, pc, 0, 42);
    else
      write_with(c, dt, vals, 15, 0, 42);
    tu_assert_tensor(t, dt, 2, s, vals, 0, 0);
    if (tu_on_cpu())
      tu_store(dt, pt, 1, 9);
    else
      write_with(t, dt, vals, 15, 1, 9);
    double ec[15];
    memcpy(ec, vals, sizeof ec);
    ec[0] = 42;
    tu_assert_tensor(c, dt, 2, s, ec, 0, 0);
    nn_tensor_free(t);
    /* clone survives its source */
    tu_assert_tensor(c, dt, 2, s, ec, 0, 0);
    nn_tensor_free(c);
  }
  /* 0-dim and empty */
  double v = -2;
  nn_tensor *t0 = tu_make(NN_I64, 0, NULL, &v);
  nn_tensor *c0 = NULL;
  TU_OK(nn_tensor_clone(t0, &c0));
  tu_assert_tensor(c0, NN_I64, 0, NULL, &v, 0, 0);
  nn_tensor_free(t0);
  nn_tensor_free(c0);
  int64_t se[2] = {2, 0};
  nn_tensor *te = NULL, *ce = NULL;
  TU_OK(nn_tensor_zeros(NN_F16, 2, se, tu_device(), &te));
  TU_OK(nn_tensor_clone(te, &ce));
  tu_assert_meta(ce, NN_F16, 2, se);
  nn_tensor_free(te);
  nn_tensor_free(ce);
}

/* To the CPU from the device under test (on CUDA: a device-to-host copy). */
static void test_to_device_cpu(void **state) {
  (void)state;
  int64_t s[2] = {2, 2};
  double vals[4] = {1, 2, 3, 4};
  nn_tensor *t = tu_make(NN_BF16, 2, s, vals);
  nn_tensor *c = NULL;
  TU_OK(nn_tensor_to_device(t, tu_cpu(), &c));
  tu_assert_tensor(c, NN_BF16, 2, s, vals, 0, 0);
  nn_device d = nn_tensor_device(c);
  assert_int_equal(d.type, NN_CPU);
  assert_int_equal(d.index, 0);
  /* a copy: independent of the source */
  uint16_t z[4] = {0, 0, 0, 0};
  TU_OK(nn_tensor_write(c, z, sizeof z));
  tu_assert_tensor(t, NN_BF16, 2, s, vals, 0, 0);
  nn_tensor_free(c);
  /* of a transposed view: contiguous in logical order */
  nn_tensor *tt = NULL;
  TU_OK(nn_tensor_transpose(t, 0, 1, &tt));
  TU_OK(nn_tensor_to_device(tt, tu_cpu(), &c));
  double et[4] = {1, 3, 2, 4};
  tu_assert_tensor(c, NN_BF16, 2, s, et, 0, 0);
  assert_non_null(nn_tensor_data(c));
  nn_tensor_free(c);
  if (!tu_on_cpu()) {
    /* and back from the CPU to the device under test, of a transposed CPU view too */
    nn_tensor *h = NULL, *ht = NULL, *d = NULL;
    TU_OK(nn_tensor_to_device(t, tu_cpu(), &h));
    TU_OK(nn_tensor_to_device(h, tu_device(), &d));
    nn_device dd = nn_tensor_device(d);
    assert_int_equal(dd.type, tu_device().type);
    assert_int_equal(dd.index, tu_device().index);
    tu_assert_tensor(d, NN_BF16, 2, s, vals, 0, 0);
    nn_tensor_free(d);
    TU_OK(nn_tensor_transpose(h, 0, 1, &ht));
    TU_OK(nn_tensor_to_device(ht, tu_device(), &d));
    tu_assert_tensor(d, NN_BF16, 2, s, et, 0, 0);
    nn_tensor_free(d);
    /* to its own device: an independent copy */
    TU_OK(nn_tensor_to_device(t, tu_device(), &d));
    TU_OK(nn_tensor_write(d, z, sizeof z));
    tu_assert_tensor(t, NN_BF16, 2, s, vals, 0, 0);
    nn_tensor_free(d);
    nn_tensor_free(ht);
    nn_tensor_free(h);
  }
  nn_tensor_free(tt);
  nn_tensor_free(t);
}

/* Copies within one dtype move bits (the CPU's convert<T, T> is the
 * identity): a transposed view read, cloned, reshaped or written keeps every
 * pattern, NaN payloads, signalling NaNs, -0.0 and subnormals included (a
 * strided copy through float would rewrite F16/BF16 NaNs). */
static void test_view_copies_keep_bits(void **state) {
  (void)state;
  enum { R = 3, C = 4, N = R * C };
  static const uint16_t f16[N] = {0x7c01, 0xfd55, 0x7e00, 0xfe01, 0x7c00, 0xfc00,
                                  0x8000, 0x0001, 0x3c00, 0x7bff, 0x83ff, 0x7fff};
  static const uint16_t bf16[N] = {0x7f81, 0xffa5, 0x7fc0, 0xff81, 0x7f80, 0xff80,
                                   0x8000, 0x0001, 0x3f80, 0x7f7f, 0x807f, 0x7fff};
  static const uint32_t f32[N] = {0x7f800001u, 0xffc12345u, 0x7fc00000u, 0xff800001u, 0x7f800000u, 0xff800000u,
                                  0x80000000u, 0x00000001u, 0x3f800000u, 0x7f7fffffu, 0x807fffffu, 0x7fbfffffu};
  static const uint64_t f64[N] = {0x7ff0000000000001ull, 0xfff8123456789abcull, 0x7ff8000000000000ull,
                                  0xfff0000000000001ull, 0x7ff0000000000000ull, 0xfff0000000000000ull,
                                  0x8000000000000000ull, 0x0000000000000001ull, 0x3ff0000000000000ull,
                                  0x7fefffffffffffffull, 0x800fffffffffffffull, 0x7ff7ffffffffffffull};
  for (int di = 0; di < 8; di++) {
    nn_dtype dt = tu_all_dtypes[di];
    size_t sz = tu_dtype_size(dt);
    unsigned char src[N * 8], exp[N * 8], got[N * 8];
    for (int k = 0; k < N; k++) {
      switch (dt) {
        case NN_F16: memcpy(src + k * sz, &f16[k], sz); break;
        case NN_BF16: memcpy(src + k * sz, &bf16[k], sz); break;
        case NN_F32: memcpy(src + k * sz, &f32[k], sz); break;
        case NN_F64: memcpy(src + k * sz, &f64[k], sz); break;
        default:
          for (size_t b = 0; b < sz; b++) src[k * sz + b] = (unsigned char)(k * 73 + b * 29 + 0x85);
      }
    }
    /* exp: src [R, C] transposed, row-major [C, R] */
    for (int i = 0; i < R; i++)
      for (int j = 0; j < C; j++) memcpy(exp + (j * R + i) * sz, src + (i * C + j) * sz, sz);
    int64_t s[2] = {R, C};
    nn_tensor *t = NULL, *tt = NULL, *c = NULL, *r = NULL;
    TU_OK(nn_tensor_zeros(dt, 2, s, tu_device(), &t));
    TU_OK(nn_tensor_write(t, src, N * sz));
    TU_OK(nn_tensor_transpose(t, 0, 1, &tt));
    char ctx[64];
    snprintf(ctx, sizeof ctx, "%s", tu_dtype_name(dt));
    /* read of the view */
    memset(got, 0, sizeof got);
    TU_OK(nn_tensor_read(tt, got, N * sz));
    if (memcmp(got, exp, N * sz) != 0) {
      print_error("%s: read of a transposed view changed bits\n", ctx);
      fail();
    }
    /* clone and reshape of the view (strided copies on the device) */
    TU_OK(nn_tensor_clone(tt, &c));
    memset(got, 0, sizeof got);
    TU_OK(nn_tensor_read(c, got, N * sz));
    if (memcmp(got, exp, N * sz) != 0) {
      print_error("%s: clone of a transposed view changed bits\n", ctx);
      fail();
    }
    int64_t flat[1] = {N};
    TU_OK(nn_tensor_reshape(tt, 1, flat, &r));
    memset(got, 0, sizeof got);
    TU_OK(nn_tensor_read(r, got, N * sz));
    if (memcmp(got, exp, N * sz) != 0) {
      print_error("%s: reshape of a transposed view changed bits\n", ctx);
      fail();
    }
    /* write through the view: t gets src transposed back */
    TU_OK(nn_tensor_write(tt, exp, N * sz));
    memset(got, 0, sizeof got);
    TU_OK(nn_tensor_read(t, got, N * sz));
    if (memcmp(got, src, N * sz) != 0) {
      print_error("%s: write through a transposed view changed bits\n", ctx);
      fail();
    }
    nn_tensor_free(r);
    nn_tensor_free(c);
    nn_tensor_free(tt);
    nn_tensor_free(t);
  }
}

/* ---- to_dtype: every pair ------------------------------------------------------ */

static const double float_specials[] = {
    0.0, -0.0, 1.0, -1.0, 1.5, -1.5, 2.5, -2.5, -2.7, 0.1, 1.0 / 3.0, 100.25, 255.0, 255.9, 256.0, -128.0,
    -129.0, 300.7, 1000.5, 32767.0, 32768.0, -32768.0, -32769.5, 65504.0, 65519.0, 65520.0, 70000.0,
    1.0 + 1.0 / 2048.0, 1.0 + 3.0 / 2048.0, 1.0 + 1.0 / 256.0, 1.0 + 3.0 / 256.0, 1e-3, 6e-8, 1e-9, 2147483520.0,
    -2147483648.0, 3.0e9, -3.0e9, 1e10, 1e15, -1e15, 1.5e18, 1e30, -1e30, 3.0e38, 1e300,
    NAN, INFINITY, -INFINITY,
};
#define N_FLOAT_SPECIALS (sizeof float_specials / sizeof float_specials[0])

static const int64_t int_specials[] = {
    0, 1, -1, 2, 7, 100, 127, 128, 200, 255, 256, 257, -128, -129, -200, 1000, 2049, 2051, 4097,
    32767, 32768, -32768, -32769, 65535, 65536, 70000, 16777217, -16777217, 2147483647, 2147483648LL,
    -2147483648LL, -2147483649LL, 4294967295LL, 1099511627781LL, -1099511627781LL, 9007199254740993LL,
    INT64_MAX, INT64_MIN,
};
#define N_INT_SPECIALS (sizeof int_specials / sizeof int_specials[0])

/* Is converting this value to dst free of the float->int out-of-range zone?
 * (Those values are checked separately, in test_to_dtype_out_of_range.) */
static bool float_to_int_in_range(nn_dtype dst, double v) {
  if (isnan(v) || isinf(v)) return false;
  double t = trunc(v);
  switch (dst) {
    case NN_U8: return t >= 0 && t <= 255;
    case NN_I16: return t >= -32768 && t <= 32767;
    case NN_I32: return t >= -2147483648.0 && t <= 2147483647.0;
    case NN_I64: return t >= -9.2e18 && t <= 9.2e18;
    default: return true;
  }
}

static void check_pair(nn_dtype src, nn_dtype dst, bool out_of_range_only) {
  /* source values, made representable in src */
  double fv[N_FLOAT_SPECIALS + N_INT_SPECIALS];
  int64_t iv[N_INT_SPECIALS];
  int64_t n = 0;
  if (tu_is_float(src)) {
    for (size_t i = 0; i < N_FLOAT_SPECIALS; i++) {
      double v = tu_cast(src, float_specials[i]);
      bool in_range = tu_is_float(dst) || float_to_int_in_range(dst, v);
      if (in_range != out_of_range_only) fv[n++] = v;
    }
    if (n == 0) return;
    int64_t shape[1] = {n};
    nn_tensor *t = tu_make(src, 1, shape, fv);
    nn_tensor *c = NULL;
    TU_OK(nn_tensor_to_dtype(t, dst, &c));
    tu_assert_meta(c, dst, 1, shape);
    char ctx[64];
    snprintf(ctx, sizeof ctx, "%s -> %s", tu_dtype_name(src), tu_dtype_name(dst));
    if (tu_is_float(dst)) {
      double exp[N_FLOAT_SPECIALS];
      for (int64_t i = 0; i < n; i++) exp[i] = tu_cast(dst, fv[i]);
      double *got = tu_read(c, NULL);
      tu_assert_close(got, exp, n, 0, 0, ctx);
      /* signed zero survives */
      for (int64_t i = 0; i < n; i++)
        if (fv[i] == 0 && signbit(fv[i]) != signbit(got[i])) {
          print_error("%s: sign of zero lost at %lld\n", ctx, (long long)i);
          fail();
        }
      free(got);
    } else {
      int64_t *got = tu_read_i64(c, NULL);
      for (int64_t i = 0; i < n; i++) {
        int64_t e = tu_wrap(dst, tu_float_to_i64(fv[i]));
        if (got[i] != e) {
          print_error("%s: value %.17g: expected %lld, got %lld\n", ctx, fv[i], (long long)e, (long long)got[i]);
          fail();
        }
      }
      free(got);
    }
    nn_tensor_free(c);
    nn_tensor_free(t);
  } else {
    if (out_of_range_only) return;
    for (size_t i = 0; i < N_INT_SPECIALS; i++) iv[n++] = tu_wrap(src, int_specials[i]);
    int64_t shape[1] = {n};
    nn_tensor *t = tu_make_i64(src, 1, shape, iv);
    nn_tensor *c = NULL;
    TU_OK(nn_tensor_to_dtype(t, dst, &c));
    tu_assert_meta(c, dst, 1, shape);
    char ctx[64];
    snprintf(ctx, sizeof ctx, "%s -> %s", tu_dtype_name(src), tu_dtype_name(dst));
    if (tu_is_float(dst)) {
      double exp[N_INT_SPECIALS];
      for (int64_t i = 0; i < n; i++) exp[i] = tu_cast_int(dst, iv[i]);
      double *got = tu_read(c, NULL);
      tu_assert_close(got, exp, n, 0, 0, ctx);
      free(got);
    } else {
      int64_t *got = tu_read_i64(c, NULL);
      for (int64_t i = 0; i < n; i++) {
        int64_t e = tu_wrap(dst, iv[i]);
        if (got[i] != e) {
          print_error("%s: value %lld: expected %lld, got %lld\n", ctx, (long long)iv[i], (long long)e,
                      (long long)got[i]);
          fail();
        }
      }
      free(got);
    }
    nn_tensor_free(c);
    nn_tensor_free(t);
  }
}

static void test_to_dtype_every_pair(void **state) {
  (void)state;
  for (int s = 0; s < 8; s++)
    for (int d = 0; d < 8; d++) check_pair(tu_all_dtypes[s], tu_all_dtypes[d], false);
}

/* float -> int outside the target range, NaN and inf: docs/semantics.md
 * (truncate to int64 with NaN -> 0 and saturation, then wrap). */
static void test_to_dtype_out_of_range(void **state) {
  (void)state;
  for (int s = 0; s < 4; s++)
    for (int d = 0; d < 4; d++) check_pair(tu_float_dtypes[s], tu_int_dtypes[d], true);
}

static void test_to_dtype_examples(void **state) {
  (void)state;
  /* the semantics doc's own examples */
  int64_t s2[1] = {2};
  double v[2] = {300.0, -1.0};
  nn_tensor *t = tu_make(NN_F32, 1, s2, v);
  nn_tensor *c = NULL;
  TU_OK(nn_tensor_to_dtype(t, NN_U8, &c));
  double e[2] = {44, 255};
  tu_assert_tensor(c, NN_U8, 1, s2, e, 0, 0);
  nn_tensor_free(c);
  nn_tensor_free(t);
  /* shape kept for every rank, multi-dim and 0-dim */
  int64_t s3[3] = {2, 1, 3};
  double v6[6] = {1.25, -2.75, 3.5, 1e5, -0.5, 7};
  t = tu_make(NN_F64, 3, s3, v6);
  TU_OK(nn_tensor_to_dtype(t, NN_F16, &c));
  double e6[6] = {1.25, -2.75, 3.5, INFINITY, -0.5, 7};
  tu_assert_tensor(c, NN_F16, 3, s3, e6, 0, 0);
  nn_tensor_free(c);
  TU_OK(nn_tensor_to_dtype(t, NN_I16, &c));
  double ei[6] = {1, -2, 3, tu_wrap(NN_I16, 100000), 0, 7};
  tu_assert_tensor(c, NN_I16, 3, s3, ei, 0, 0);
  nn_tensor_free(c);
  nn_tensor_free(t);
  double x = 2.75;
  t = tu_make(NN_BF16, 0, NULL, &x);
  TU_OK(nn_tensor_to_dtype(t, NN_I64, &c));
  double ex = 2;
  tu_assert_tensor(c, NN_I64, 0, NULL, &ex, 0, 0);
  nn_tensor_free(c);
  /* same dtype: an independent copy */
  TU_OK(nn_tensor_to_dtype(t, NN_BF16, &c));
  tu_assert_tensor(c, NN_BF16, 0, NULL, &x, 0, 0);
  void *pc = nn_tensor_data(c);
  if (tu_on_cpu()) {
    assert_non_null(pc);
    assert_ptr_not_equal(pc, nn_tensor_data(t));
    tu_store(NN_BF16, pc, 0, 5.0);
  } else {
    assert_null(pc);
    assert_null(nn_tensor_data(t));
    write_with(c, NN_BF16, &x, 1, 0, 5.0);
  }
  tu_assert_tensor(t, NN_BF16, 0, NULL, &x, 0, 0);
  nn_tensor_free(c);
  nn_tensor_free(t);
  /* empty */
  int64_t se[2] = {0, 2};
  TU_OK(nn_tensor_zeros(NN_I32, 2, se, tu_device(), &t));
  TU_OK(nn_tensor_to_dtype(t, NN_F64, &c));
  tu_assert_meta(c, NN_F64, 2, se);
  nn_tensor_free(c);
  nn_tensor_free(t);
}

/* Random round trips on a larger tensor (vectorised paths). */
static void test_to_dtype_random_large(void **state) {
  (void)state;
  tu_rng r = tu_rng_make(31);
  const int64_t n = 10007;
  int64_t shape[1] = {n};
  double *v = malloc((size_t)n * sizeof(double));
  double *exp = malloc((size_t)n * sizeof(double));
  for (int s = 0; s < 8; s++) {
    nn_dtype src = tu_all_dtypes[s];
    for (int64_t i = 0; i < n; i++) {
      if (tu_is_int(src))
        v[i] = (double)tu_rng_int(&r, src == NN_U8 ? 0 : -30000, src == NN_U8 ? 255 : 30000);
      else
        v[i] = tu_cast(src, tu_rng_uniform(&r, -300.0, 300.0));
    }
    nn_tensor *t = tu_make(src, 1, shape, v);
    for (int d = 0; d < 8; d++) {
      nn_dtype dst = tu_all_dtypes[d];
      nn_tensor *c = NULL;
      TU_OK(nn_tensor_to_dtype(t, dst, &c));
      for (int64_t i = 0; i < n; i++) exp[i] = tu_is_int(src) ? tu_cast_int(dst, (int64_t)v[i]) : tu_cast(dst, v[i]);
      double *got = tu_read(c, NULL);
      char ctx[64];
      snprintf(ctx, sizeof ctx, "random %s -> %s", tu_dtype_name(src), tu_dtype_name(dst));
      tu_assert_close(got, exp, n, 0, 0, ctx);
      free(got);
      nn_tensor_free(c);
    }
    nn_tensor_free(t);
  }
  free(v);
  free(exp);
}

/* ---- read / write / data -------------------------------------------------------------- */

static void test_read_write_data(void **state) {
  (void)state;
  for (int di = 0; di < 8; di++) {
    nn_dtype dt = tu_all_dtypes[di];
    size_t sz = tu_dtype_size(dt);
    int64_t s[3] = {2, 3, 2};
    nn_tensor *t = NULL;
    TU_OK(nn_tensor_zeros(dt, 3, s, tu_device(), &t));
    unsigned char src[12 * 8];
    for (int i = 0; i < 12; i++) tu_store(dt, src, i, (double)(i * 3 % 11));
    TU_OK(nn_tensor_write(t, src, 12 * sz));
    unsigned char *p = nn_tensor_data(t);
    if (tu_on_cpu()) {
      assert_non_null(p);
      assert_memory_equal(p, src, 12 * sz);
      /* writes through the data pointer are seen by read */
      tu_store(dt, p, 5, 1.0);
    } else {
      assert_null(p); /* nn.h: NULL for a CUDA tensor */
      unsigned char first[12 * 8];
      TU_OK(nn_tensor_read(t, first, 12 * sz));
      assert_memory_equal(first, src, 12 * sz);
      /* a second write replaces every element */
      tu_store(dt, src, 5, 1.0);
      TU_OK(nn_tensor_write(t, src, 12 * sz));
    }
    unsigned char back[12 * 8 + 8];
    memset(back, 0xCD, sizeof back);
    TU_OK(nn_tensor_read(t, back, sizeof back)); /* a larger buffer is fine */
    assert_true(tu_load(dt, back, 5) == 1.0);
    assert_true(tu_load(dt, back, 4) == (double)(4 * 3 % 11));
    assert_int_equal(back[12 * sz], 0xCD);
    if (tu_on_cpu()) {
      /* the data pointer is stable */
      assert_ptr_equal(nn_tensor_data(t), p);
    } else {
      assert_memory_equal(back, src, 12 * sz);
    }
    nn_tensor_free(t);
  }
  /* write to a 0-dim tensor */
  nn_tensor *t = NULL;
  TU_OK(nn_tensor_zeros(NN_I64, 0, NULL, tu_device(), &t));
  int64_t v = -123456789012345LL;
  TU_OK(nn_tensor_write(t, &v, sizeof v));
  int64_t *got = tu_read_i64(t, NULL);
  assert_true(got[0] == v);
  free(got);
  nn_tensor_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reshape_basic_and_minus_one),
      cmocka_unit_test(test_reshape_shares_storage),
      cmocka_unit_test(test_transpose_views),
      cmocka_unit_test(test_transpose_write_and_data),
      cmocka_unit_test(test_transposed_operands_in_ops),
      cmocka_unit_test(test_clone_independent),
      cmocka_unit_test(test_to_device_cpu),
      cmocka_unit_test(test_view_copies_keep_bits),
      cmocka_unit_test(test_to_dtype_every_pair),
      cmocka_unit_test(test_to_dtype_out_of_range),
      cmocka_unit_test(test_to_dtype_examples),
      cmocka_unit_test(test_to_dtype_random_large),
      cmocka_unit_test(test_read_write_data),
  };
  return tu_run_group(tests);
}
