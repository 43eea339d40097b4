/* Data files, row selection and metrics (nn.h group "data"): .npy load/save
 * (every dtype, versions 1-3, C and Fortran order, byte orders, hostile
 * headers), CSV (values and errors naming line and column), slice views,
 * index_select, concat, nn_metric_compute and nn_confusion_matrix against
 * scikit-learn's values (tests/fixtures/metric_fixtures.h, made by
 * tests/fixtures/make_metric_fixtures.py). NumPy reading what save_npy
 * writes is tests/npy_numpy_check.py (CTest npy_numpy).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixtures/metric_fixtures.h"
#include "test_util.h"

static char g_dir[4096];

static int setup_dir(void **state) {
  (void)state;
  const char *base = getenv("TMPDIR");
  snprintf(g_dir, sizeof g_dir, "%s/nn_data_XXXXXX", base && *base ? base : "/tmp");
  return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown_dir(void **state) {
  (void)state;
  tu_rm_tree(g_dir);
  return 0;
}

static const char *path_of(const char *name) {
  static char buf[4][4200];
  static int at = 0;
  at = (at + 1) % 4;
  snprintf(buf[at], sizeof buf[at], "%s/%s", g_dir, name);
  return buf[at];
}

static void write_text(const char *path, const char *text) { tu_write_file(path, text, strlen(text)); }

/* A .npy file: magic, version, header (padded with spaces to a multiple of
 * 64 and '\n'), then n data bytes. */
static size_t make_npy(unsigned char *buf, int major, const char *header, const void *data, size_t n) {
  size_t pre = major == 1 ? 10 : 12;
  size_t h = strlen(header);
  size_t total = pre + h + 1;
  size_t pad = (64 - total % 64) % 64;
  size_t hlen = h + pad + 1;
  memcpy(buf, "\x93NUMPY", 6);
  buf[6] = (unsigned char)major;
  buf[7] = 0;
  buf[8] = (unsigned char)(hlen & 0xff);
  buf[9] = (unsigned char)(hlen >> 8);
  if (major > 1) buf[10] = buf[11] = 0;
  memcpy(buf + pre, header, h);
  memset(buf + pre + h, ' ', pad);
  buf[pre + h + pad] = '\n';
  if (n) memcpy(buf + pre + hlen, data, n);
  return pre + hlen + n;
}

/* ---- .npy ------------------------------------------------------------------- */

static void test_npy_round_trip_every_dtype(void **state) {
  (void)state;
  const int64_t shape[3] = {2, 3, 4};
  double vals[24];
  for (int i = 0; i < 24; ++i) vals[i] = (i % 7) * 3 - 5 + (i % 2 ? 0.5 : 0);
  for (int d = 0; d < 8; ++d) {
    nn_dtype dt = tu_all_dtypes[d];
    double v[24];
    for (int i = 0; i < 24; ++i) v[i] = tu_is_int(dt) ? (dt == NN_U8 ? (double)(i * 10) : floor(vals[i])) : vals[i];
    /* a transposed (non-contiguous) source is written in logical C order */
    nn_tensor *t = tu_make_strided(dt, 3, shape, v, 0, 2);
    TU_OK(nn_tensor_save_npy(t, path_of("a.npy")));
    nn_tensor *back = NULL;
    TU_OK(nn_tensor_load_npy(path_of("a.npy"), tu_device(), &back));
    nn_dtype want = dt == NN_BF16 ? NN_F32 : dt;
    double exp[24];
    for (int i = 0; i < 24; ++i) exp[i] = tu_cast(dt, v[i]);
    tu_assert_tensor(back, want, 3, shape, exp, 0, 0);
    nn_tensor_free(t);
    nn_tensor_free(back);
    /* the header is what numpy.save writes, the data 64-byte aligned */
    FILE *f = fopen(path_of("a.npy"), "rb");
    unsigned char head[128];
    assert_int_equal(fread(head, 1, 128, f), 128);
    fclose(f);
    assert_memory_equal(head, "\x93NUMPY\x01\x00", 8);
    int hlen = head[8] | head[9] << 8;
    assert_int_equal((10 + hlen) % 64, 0);
    assert_int_equal(head[10 + hlen - 1], '\n');
    static const char *descr[8] = {"<f4", "<f8", "<f2", "<f4", "|u1", "<i2", "<i4", "<i8"};
    char want_h[128];
    snprintf(want_h, sizeof want_h, "{'descr': '%s', 'fortran_order': False, 'shape': (2, 3, 4), }", descr[d]);
    assert_memory_equal(head + 10, want_h, strlen(want_h));
  }
}

static void test_npy_shapes_0d_1d_empty(void **state) {
  (void)state;
  double v = 2.5;
  nn_tensor *s = tu_make(NN_F64, 0, NULL, &v);
  TU_OK(nn_tensor_save_npy(s, path_of("s.npy")));
  nn_tensor *b = NULL;
  TU_OK(nn_tensor_load_npy(path_of("s.npy"), tu_device(), &b));
  tu_assert_tensor(b, NN_F64, 0, NULL, &v, 0, 0);
  nn_tensor_free(b);
  nn_tensor_free(s);
  const int64_t sh1[1] = {3}, sh0[2] = {0, 5};
  double v3[3] = {1, 2, 3};
  nn_tensor *o = tu_make(NN_I32, 1, sh1, v3);
  TU_OK(nn_tensor_save_npy(o, path_of("o.npy")));
  TU_OK(nn_tensor_load_npy(path_of("o.npy"), tu_device(), &b));
  tu_assert_tensor(b, NN_I32, 1, sh1, v3, 0, 0);
  nn_tensor_free(b);
  nn_tensor_free(o);
  FILE *f = fopen(path_of("o.npy"), "rb");
  char head[65] = {0};
  assert_int_equal(fread(head, 1, 64, f), 64);
  fclose(f);
  assert_non_null(strstr(head + 10, "'shape': (3,)"));
  nn_tensor *e = NULL;
  TU_OK(nn_tensor_zeros(NN_F32, 2, sh0, tu_device(), &e));
  TU_OK(nn_tensor_save_npy(e, path_of("e.npy")));
  TU_OK(nn_tensor_load_npy(path_of("e.npy"), tu_device(), &b));
  tu_assert_meta(b, NN_F32, 2, sh0);
  nn_tensor_free(b);
  nn_tensor_free(e);
}

static void test_npy_versions_orders_endianness(void **state) {
  (void)state;
  unsigned char buf[512];
  /* Fortran order [2, 3]: the bytes are column-major. */
  float colmajor[6] = {1, 4, 2, 5, 3, 6};
  const int64_t sh[2] = {2, 3};
  const double exp[6] = {1, 2, 3, 4, 5, 6};
  for (int major = 1; major <= 3; ++major) {
    size_t n = make_npy(buf, major, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", colmajor, 24);
    tu_write_file(path_of("f.npy"), buf, n);
    nn_tensor *t = NULL;
    TU_OK(nn_tensor_load_npy(path_of("f.npy"), tu_device(), &t));
    tu_assert_tensor(t, NN_F32, 2, sh, exp, 0, 0);
    nn_tensor_free(t);
  }
  /* Big-endian int32 and float64; double quotes, keys in another order, no trailing comma. */
  unsigned char be[12] = {0, 0, 0, 1, 0xff, 0xff, 0xff, 0xfe, 0, 1, 0, 0};
  size_t n = make_npy(buf, 1, "{\"shape\": (3,), \"fortran_order\": False, \"descr\": \">i4\"}", be, 12);
  tu_write_file(path_of("b.npy"), buf, n);
  nn_tensor *t = NULL;
  TU_OK(nn_tensor_load_npy(path_of("b.npy"), tu_device(), &t));
  const int64_t s3[1] = {3};
  const double e3[3] = {1, -2, 65536};
  tu_assert_tensor(t, NN_I32, 1, s3, e3, 0, 0);
  nn_tensor_free(t);
  unsigned char bed[8] = {0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18}; /* pi */
  n = make_npy(buf, 2, "{'descr': '>f8', 'fortran_order': False, 'shape': (), }", bed, 8);
  tu_write_file(path_of("p.npy"), buf, n);
  TU_OK(nn_tensor_load_npy(path_of("p.npy"), tu_device(), &t));
  const double pi = 3.141592653589793;
  tu_assert_tensor(t, NN_F64, 0, NULL, &pi, 0, 0);
  nn_tensor_free(t);
}

typedef struct hostile {
  const char *name;
  int major;
  const char *header; /* NULL: raw bytes below */
  size_t data_bytes;
  const char *expect;
} hostile;

static void test_npy_hostile_headers(void **state) {
  (void)state;
  static const hostile cases[] = {
      {"unknown key", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1, }", 8, "unknown key 'x'"},
      {"missing shape", 1, "{'descr': '<f4', 'fortran_order': False, }", 4, "needs the keys"},
      {"duplicate", 1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 4, "duplicate"},
      {"negative dim", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", 4, "non-negative"},
      {"huge dim", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", 4, "overflows"},
      {"overflow product", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", 8,
       "more data than the file holds"},
      {"empty but oversized", 1,
       "{'descr': '>i2', 'fortran_order': False, 'shape': (0, 15322, 0, 0, 150115330, 2251, 6606, 2), }", 0,
       "too many elements"}, /* fuzz_npy found it: a zero dim, the rest overflowing */
      {"short data", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 8, "needs more data than the file holds (8 bytes)"},
      {"long data", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 8, "holds 8"},
      {"bool dtype", 1, "{'descr': '|b1', 'fortran_order': False, 'shape': (1,), }", 1, "'|b1' is not supported"},
      {"int8 dtype", 1, "{'descr': '|i1', 'fortran_order': False, 'shape': (1,), }", 1, "not supported"},
      {"structured", 1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", 4, "structured"},
      {"nine dims", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", 4,
       "more than 8 dimensions"},
      {"not a tuple", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': 3, }", 12, "not a tuple"},
      {"one tuple without comma", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3), }", 12,
       "trailing comma"},
      {"fortran not bool", 1, "{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }", 4, "True or False"},
      {"unterminated string", 1, "{'descr': '<f4, 'fortran_order': False, 'shape': (1,), }", 4, "bad .npy header"},
      {"no brace", 1, "'descr': '<f4', 'fortran_order': False, 'shape': (1,)", 4, "'{'"},
      {"trailing text", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } x", 4, "after the closing"},
      {"version 4", 4, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 4, "version 4.0"},
  };
  unsigned char buf[1024];
  unsigned char zeros[64] = {0};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
    size_t n = make_npy(buf, cases[i].major, cases[i].header, zeros, cases[i].data_bytes);
    tu_write_file(path_of("h.npy"), buf, n);
    nn_tensor *t = TU_SENTINEL;
    nn_status st = nn_tensor_load_npy(path_of("h.npy"), tu_device(), &t);
    if (st != NN_ERR_FORMAT || !strstr(nn_last_error(), cases[i].expect)) {
      print_error("case \"%s\": status %d, message \"%s\"\n", cases[i].name, (int)st, nn_last_error());
      fail();
    }
    assert_ptr_equal(t, TU_SENTINEL);
  }
  /* raw byte cases */
  nn_tensor *t = NULL;
  tu_write_file(path_of("r.npy"), "\x93NUMPX\x01\x00\x00\x00", 10);
  TU_ERR(nn_tensor_load_npy(path_of("r.npy"), tu_device(), &t), NN_ERR_FORMAT, "nn_tensor_load_npy", "magic");
  tu_write_file(path_of("r.npy"), "\x93NUMPY\x01", 7);
  TU_ERR(nn_tensor_load_npy(path_of("r.npy"), tu_device(), &t), NN_ERR_FORMAT, "nn_tensor_load_npy", "r.npy");
  /* header length past the end; v2 header length of 4 GiB - 1 */
  tu_write_file(path_of("r.npy"), "\x93NUMPY\x01\x00\xff\x00{}\n", 13);
  TU_ERR(nn_tensor_load_npy(path_of("r.npy"), tu_device(), &t), NN_ERR_FORMAT, "nn_tensor_load_npy",
         "runs past the end");
  tu_write_file(path_of("r.npy"), "\x93NUMPY\x02\x00\xff\xff\xff\xff{}\n", 15);
  TU_ERR(nn_tensor_load_npy(path_of("r.npy"), tu_device(), &t), NN_ERR_FORMAT, "nn_tensor_load_npy",
         "too large");
  /* a 1 GiB sparse file whose header asks for 12 bytes: refused from its header */
  {
    size_t n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", zeros, 0);
    tu_write_file(path_of("big.npy"), buf, n);
    assert_int_equal(truncate(path_of("big.npy"), (off_t)1 << 30), 0);
    TU_ERR(nn_tensor_load_npy(path_of("big.npy"), tu_device(), &t), NN_ERR_FORMAT, "nn_tensor_load_npy",
           "big.npy", "needs 12 data bytes but the file holds 1073741696");
    unlink(path_of("big.npy"));
  }
  /* header without the final newline, and with a NUL inside */
  memcpy(buf, "\x93NUMPY\x01\x00\x08\x00{}      ", 18);
  tu_write_file(path_of("r.npy"), buf, 18);
  TU_ERR(nn_tensor_load_npy(path_of("r.npy"), tu_device(), &t), NN_ERR_FORMAT, "nn_tensor_load_npy", "newline");
  memcpy(buf, "\x93NUMPY\x01\x00\x08\x00{}  \0  \n", 18);
  tu_write_file(path_of("r.npy"), buf, 18);
  TU_ERR(nn_tensor_load_npy(path_of("r.npy"), tu_device(), &t), NN_ERR_FORMAT, "nn_tensor_load_npy",
         "unexpected byte 0x00");
}

static void test_npy_io_and_argument_errors(void **state) {
  (void)state;
  nn_tensor *t = NULL;
  TU_ERR(nn_tensor_load_npy(path_of("missing.npy"), tu_device(), &t), NN_ERR_IO, "nn_tensor_load_npy",
         "missing.npy");
  TU_ERR(nn_tensor_load_npy(g_dir, tu_device(), &t), NN_ERR_IO, "nn_tensor_load_npy", "not a regular file");
  TU_ERR(nn_tensor_load_npy(NULL, tu_device(), &t), NN_ERR_INVALID_ARGUMENT, "nn_tensor_load_npy", "path");
  TU_ERR(nn_tensor_load_npy(path_of("x"), tu_device(), NULL), NN_ERR_INVALID_ARGUMENT, "nn_tensor_load_npy", "out");
  double v = 1;
  nn_tensor *s = tu_make(NN_F32, 0, NULL, &v);
  TU_ERR(nn_tensor_save_npy(NULL, path_of("x")), NN_ERR_INVALID_ARGUMENT, "nn_tensor_save_npy", "t");
  TU_ERR(nn_tensor_save_npy(s, NULL), NN_ERR_INVALID_ARGUMENT, "nn_tensor_save_npy", "path");
  TU_ERR(nn_tensor_save_npy(s, path_of("no/such/dir/x.npy")), NN_ERR_IO, "nn_tensor_save_npy", "x.npy");
  /* atomic: a failed save leaves the old file and no temporary */
  TU_OK(nn_tensor_save_npy(s, path_of("keep.npy")));
  TU_ERR(nn_tensor_save_npy(s, g_dir), NN_ERR_IO, "nn_tensor_save_npy", NULL);
  nn_tensor *b = NULL;
  TU_OK(nn_tensor_load_npy(path_of("keep.npy"), tu_device(), &b));
  nn_tensor_free(b);
  nn_tensor_free(s);
}

/* ---- CSV -------------------------------------------------------------------- */

static void test_csv_values(void **state) {
  (void)state;
  write_text(path_of("a.csv"), "\xEF\xBB\xBF" "x,y,label\n1, 2.5 ,0\r\n-3e2,+4,1\n\n inf,nan,2\n");
  nn_tensor *t = NULL;
  TU_OK(nn_tensor_load_csv(path_of("a.csv"), ',', 1, NN_F64, tu_device(), &t));
  const int64_t sh[2] = {3, 3};
  const double exp[9] = {1, 2.5, 0, -300, 4, 1, INFINITY, NAN, 2};
  tu_assert_tensor(t, NN_F64, 2, sh, exp, 0, 0);
  nn_tensor_free(t);
  write_text(path_of("b.tsv"), "1\t2\n3.0\t-4\n");
  TU_OK(nn_tensor_load_csv(path_of("b.tsv"), '\t', 0, NN_I64, tu_device(), &t));
  const int64_t sh2[2] = {2, 2};
  const double e2[4] = {1, 2, 3, -4};
  tu_assert_tensor(t, NN_I64, 2, sh2, e2, 0, 0);
  nn_tensor_free(t);
  write_text(path_of("c.csv"), "9007199254740993;1\n");  /* 2^53 + 1: exact as I64 */
  TU_OK(nn_tensor_load_csv(path_of("c.csv"), ';', 0, NN_I64, tu_device(), &t));
  int64_t n = 0;
  int64_t *iv = tu_read_i64(t, &n);
  assert_int_equal(n, 2);
  assert_true(iv[0] == 9007199254740993LL);
  free(iv);
  nn_tensor_free(t);
  /* out of float64's range: inf and 0, as NumPy's loadtxt reads them */
  write_text(path_of("o.csv"), "1.5e999,-2e999,1.5e-999\n");
  TU_OK(nn_tensor_load_csv(path_of("o.csv"), ',', 0, NN_F64, tu_device(), &t));
  const int64_t sh4[2] = {1, 3};
  const double e4[3] = {INFINITY, -INFINITY, 0};
  tu_assert_tensor(t, NN_F64, 2, sh4, e4, 0, 0);
  nn_tensor_free(t);
  write_text(path_of("d.csv"), "0.1,0.2\n");
  TU_OK(nn_tensor_load_csv(path_of("d.csv"), ',', 0, NN_F32, tu_device(), &t));
  const int64_t sh3[2] = {1, 2};
  const double e3[2] = {(double)0.1f, (double)0.2f};
  tu_assert_tensor(t, NN_F32, 2, sh3, e3, 0, 0);
  nn_tensor_free(t);
}

static void test_csv_errors(void **state) {
  (void)state;
  nn_tensor *t = NULL;
  const char *p = path_of("e.csv");
  write_text(p, "a,b\n1,2\n3,x1\n");
  TU_ERR(nn_tensor_load_csv(p, ',', 1, NN_F32, tu_device(), &t), NN_ERR_FORMAT, "nn_tensor_load_csv", "e.csv",
         "line 3, column 2", "\"x1\" is not a number");
  TU_ERR(nn_tensor_load_csv(p, ',', 0, NN_F32, tu_device(), &t), NN_ERR_FORMAT, "nn_tensor_load_csv",
         "line 1, column 1", "\"a\"");
  write_text(p, "1,2\n3\n");
  TU_ERR(nn_tensor_load_csv(p, ',', 0, NN_F32, tu_device(), &t), NN_ERR_FORMAT, "nn_tensor_load_csv",
         "line 2, column 2", "has 1 columns but the first row has 2");
  write_text(p, "1,2\n3,4,5\n");
  TU_ERR(nn_tensor_load_csv(p, ',', 0, NN_F32, tu_device(), &t), NN_ERR_FORMAT, "nn_tensor_load_csv",
         "line 2, column 3", "more than the 2 columns");
  write_text(p, "1,,2\n");
  TU_ERR(nn_tensor_load_csv(p, ',', 0, NN_F32, tu_device(), &t), NN_ERR_FORMAT, "nn_tensor_load_csv",
         "line 1, column 2: empty field");
  write_text(p, "1,2.5\n");
  TU_ERR(nn_tensor_load_csv(p, ',', 0, NN_I32, tu_device(), &t), NN_ERR_FORMAT, "nn_tensor_load_csv",
         "line 1, column 2", "not an integer");
  write_text(p, "1,256\n");
  TU_ERR(nn_tensor_load_csv(p, ',', 0, NN_U8, tu_device(), &t), NN_ERR_FORMAT, "nn_tensor_load_csv",
         "line 1, column 2", "out of range for uint8");
  write_text(p, "h\n\n");
  TU_ERR(nn_tensor_load_csv(p, ',', 1, NN_F32, tu_device(), &t), NN_ERR_FORMAT, "nn_tensor_load_csv",
         "no data rows");
  TU_ERR(nn_tensor_load_csv(p, '1', 0, NN_F32, tu_device(), &t), NN_ERR_INVALID_ARGUMENT, "nn_tensor_load_csv",
         "delimiter");
  TU_ERR(nn_tensor_load_csv(p, ',', -1, NN_F32, tu_device(), &t), NN_ERR_INVALID_ARGUMENT, "nn_tensor_load_csv",
         "skip_rows");
  TU_ERR(nn_tensor_load_csv(p, ',', 0, (nn_dtype)42, tu_device(), &t), NN_ERR_INVALID_ARGUMENT,
         "nn_tensor_load_csv", "dt");
  TU_ERR(nn_tensor_load_csv(path_of("none.csv"), ',', 0, NN_F32, tu_device(), &t), NN_ERR_IO,
         "nn_tensor_load_csv", "none.csv");
}

/* ---- slice / index_select / concat ------------------------------------------ */

static void test_slice_is_a_view(void **state) {
  (void)state;
  const int64_t sh[2] = {4, 3};
  double v[12];
  for (int i = 0; i < 12; ++i) v[i] = i;
  nn_tensor *t = tu_make(NN_F32, 2, sh, v);
  nn_tensor *s = NULL;
  TU_OK(nn_tensor_slice(t, 0, 1, 3, &s));
  const int64_t s1[2] = {2, 3};
  const double e1[6] = {3, 4, 5, 6, 7, 8};
  tu_assert_tensor(s, NN_F32, 2, s1, e1, 0, 0);
  /* a view: writing through it changes t */
  const float nines[6] = {9, 9, 9, 9, 9, 9};
  TU_OK(nn_tensor_write(s, nines, sizeof nines));
  int64_t n;
  double *all = tu_read(t, &n);
  for (int i = 0; i < 12; ++i) assert_true(all[i] == ((i >= 3 && i < 9) ? 9 : i));
  free(all);
  nn_tensor_free(s);
  /* negative and clamped bounds, columns, empty */
  TU_OK(nn_tensor_slice(t, -1, -2, 100, &s));
  const int64_t s2[2] = {4, 2};
  const double e2[8] = {1, 2, 9, 9, 9, 9, 10, 11};
  tu_assert_tensor(s, NN_F32, 2, s2, e2, 0, 0);
  nn_tensor_free(s);
  TU_OK(nn_tensor_slice(t, 0, 3, 1, &s));
  const int64_t s3[2] = {0, 3};
  tu_assert_meta(s, NN_F32, 2, s3);
  nn_tensor_free(s);
  TU_ERR(nn_tensor_slice(t, 2, 0, 1, &s), NN_ERR_INVALID_ARGUMENT, "nn_tensor_slice", "dim 2");
  TU_ERR(nn_tensor_slice(NULL, 0, 0, 1, &s), NN_ERR_INVALID_ARGUMENT, "nn_tensor_slice", "t");
  double x = 1;
  nn_tensor *z = tu_make(NN_F32, 0, NULL, &x);
  TU_ERR(nn_tensor_slice(z, 0, 0, 1, &s), NN_ERR_SHAPE, "nn_tensor_slice", "0-dim");
  nn_tensor_free(z);
  nn_tensor_free(t);
}

static void test_index_select(void **state) {
  (void)state;
  const int64_t sh[2] = {4, 3};
  double v[12];
  for (int i = 0; i < 12; ++i) v[i] = i;
  for (int strided = 0; strided < 2; ++strided) {
    nn_tensor *t = strided ? tu_make_strided(NN_F64, 2, sh, v, 0, 1) : tu_make(NN_F64, 2, sh, v);
    const int64_t ish[1] = {4};
    const int64_t iv[4] = {3, 0, 3, -3};
    nn_tensor *idx = tu_make_i64(NN_I64, 1, ish, iv);
    nn_tensor *r = NULL;
    TU_OK(nn_tensor_index_select(t, 0, idx, &r));
    const int64_t rs[2] = {4, 3};
    const double e[12] = {9, 10, 11, 0, 1, 2, 9, 10, 11, 3, 4, 5};
    tu_assert_tensor(r, NN_F64, 2, rs, e, 0, 0);
    nn_tensor_free(r);
    const int64_t iv2[2] = {2, 0};
    const int64_t ish2[1] = {2};
    nn_tensor *idx2 = tu_make_i64(NN_I32, 1, ish2, iv2);
    TU_OK(nn_tensor_index_select(t, 1, idx2, &r));
    const int64_t rs2[2] = {4, 2};
    const double e2[8] = {2, 0, 5, 3, 8, 6, 11, 9};
    tu_assert_tensor(r, NN_F64, 2, rs2, e2, 0, 0);
    nn_tensor_free(r);
    const int64_t bad[2] = {1, 4};
    nn_tensor *ib = tu_make_i64(NN_I64, 1, ish2, bad);
    TU_ERR(nn_tensor_index_select(t, 0, ib, &r), NN_ERR_INVALID_ARGUMENT, "nn_tensor_index_select",
           "index[1] is 4", "size 4");
    nn_tensor *fi = tu_make(NN_F32, 1, ish2, v);
    TU_ERR(nn_tensor_index_select(t, 0, fi, &r), NN_ERR_DTYPE, "nn_tensor_index_select", "float32");
    TU_ERR(nn_tensor_index_select(t, 0, t, &r), NN_ERR_SHAPE, "nn_tensor_index_select", "1-D");
    nn_tensor_free(fi);
    nn_tensor_free(ib);
    nn_tensor_free(idx2);
    nn_tensor_free(idx);
    nn_tensor_free(t);
  }
}

static void test_concat(void **state) {
  (void)state;
  const int64_t sa[2] = {2, 2}, sb[2] = {1, 2}, sc[2] = {2, 1};
  const double va[4] = {1, 2, 3, 4}, vb[2] = {5, 6}, vc[2] = {7, 8};
  nn_tensor *a = tu_make(NN_F32, 2, sa, va);
  nn_tensor *b = tu_make(NN_I64, 2, sb, vb);
  nn_tensor *c = tu_make_strided(NN_F64, 2, sc, vc, 0, 1);
  const nn_tensor *ab[2] = {a, b};
  nn_tensor *r = NULL;
  TU_OK(nn_tensor_concat(2, ab, 0, &r));
  const int64_t rs[2] = {3, 2};
  const double e[6] = {1, 2, 3, 4, 5, 6};
  tu_assert_tensor(r, NN_F32, 2, rs, e, 0, 0); /* promote(f32, i64) = f32 */
  nn_tensor_free(r);
  const nn_tensor *ac[2] = {a, c};
  TU_OK(nn_tensor_concat(2, ac, -1, &r));
  const int64_t rs2[2] = {2, 3};
  const double e2[6] = {1, 2, 7, 3, 4, 8};
  tu_assert_tensor(r, NN_F64, 2, rs2, e2, 0, 0);
  nn_tensor_free(r);
  TU_ERR(nn_tensor_concat(2, ab, 1, &r), NN_ERR_SHAPE, "nn_tensor_concat", "ts[1] [1, 2]", "ts[0] [2, 2]");
  const nn_tensor *an[2] = {a, NULL};
  TU_ERR(nn_tensor_concat(2, an, 0, &r), NN_ERR_INVALID_ARGUMENT, "nn_tensor_concat", "ts[1] is NULL");
  TU_ERR(nn_tensor_concat(0, ab, 0, &r), NN_ERR_INVALID_ARGUMENT, "nn_tensor_concat", "n is 0");
  /* a train/test split joins back to the original */
  nn_tensor *head = NULL, *tail = NULL;
  TU_OK(nn_tensor_slice(a, 0, 0, 1, &head));
  TU_OK(nn_tensor_slice(a, 0, 1, 2, &tail));
  const nn_tensor *ht[2] = {head, tail};
  TU_OK(nn_tensor_concat(2, ht, 0, &r));
  tu_assert_tensor(r, NN_F32, 2, sa, va, 0, 0);
  nn_tensor_free(r);
  nn_tensor_free(head);
  nn_tensor_free(tail);
  nn_tensor_free(a);
  nn_tensor_free(b);
  nn_tensor_free(c);
}

/* ---- metrics ---------------------------------------------------------------- */

static double metric(nn_metric m, const nn_tensor *p, const nn_tensor *y) {
  double v = -12345;
  TU_OK(nn_metric_compute(m, p, y, &v));
  return v;
}

static void test_metrics_regression_vs_sklearn(void **state) {
  (void)state;
  const int64_t sh[2] = {MF_REG_N, MF_REG_K};
  for (int d = 0; d < 2; ++d) {
    nn_dtype dt = d ? NN_F32 : NN_F64;
    nn_tensor *p = tu_make(dt, 2, sh, mf_reg_p), *y = tu_make(dt, 2, sh, mf_reg_y);
    double rtol = 1e-12;
    assert_true(fabs(metric(NN_METRIC_MAE, p, y) - mf_reg_mae) <= rtol * fabs(mf_reg_mae));
    assert_true(fabs(metric(NN_METRIC_RMSE, p, y) - mf_reg_rmse) <= rtol * fabs(mf_reg_rmse));
    assert_true(fabs(metric(NN_METRIC_R2, p, y) - mf_reg_r2) <= rtol * fabs(mf_reg_r2));
    /* one column as [n] */
    nn_tensor *p0 = NULL, *y0 = NULL, *p0v = NULL, *y0v = NULL;
    TU_OK(nn_tensor_slice(p, 1, 0, 1, &p0v));
    TU_OK(nn_tensor_slice(y, 1, 0, 1, &y0v));
    const int64_t n1[1] = {MF_REG_N};
    TU_OK(nn_tensor_reshape(p0v, 1, n1, &p0));
    TU_OK(nn_tensor_reshape(y0v, 1, n1, &y0));
    assert_true(fabs(metric(NN_METRIC_MAE, p0, y0) - mf_reg_mae_col0) <= rtol * fabs(mf_reg_mae_col0));
    assert_true(fabs(metric(NN_METRIC_RMSE, p0, y0) - mf_reg_rmse_col0) <= rtol * fabs(mf_reg_rmse_col0));
    assert_true(fabs(metric(NN_METRIC_R2, p0v, y0v) - mf_reg_r2_col0) <= rtol * fabs(mf_reg_r2_col0));
    nn_tensor_free(p0);
    nn_tensor_free(y0);
    nn_tensor_free(p0v);
    nn_tensor_free(y0v);
    nn_tensor *yc = tu_make(dt, 2, sh, mf_const_y), *pc = tu_make(dt, 2, sh, mf_const_p_exact);
    assert_true(fabs(metric(NN_METRIC_R2, p, yc) - mf_const_r2) <= 1e-12 * fabs(mf_const_r2));
    assert_true(fabs(metric(NN_METRIC_R2, pc, yc) - mf_const_r2_exact) <= 1e-12 * fabs(mf_const_r2_exact));
    nn_tensor_free(yc);
    nn_tensor_free(pc);
    nn_tensor_free(p);
    nn_tensor_free(y);
  }
}

static void test_metrics_classification_vs_sklearn(void **state) {
  (void)state;
  const int64_t sh[2] = {MF_CLS_N, MF_CLS_C}, n1[1] = {MF_CLS_N}, nb[2] = {MF_CLS_N, 1};
  nn_tensor *s = tu_make(NN_F32, 2, sh, mf_cls_scores);
  nn_tensor *ids = tu_make_i64(NN_I64, 1, n1, mf_cls_ids);
  assert_true(metric(NN_METRIC_ACCURACY, s, ids) == mf_cls_acc);
  nn_tensor *cm = NULL;
  TU_OK(nn_confusion_matrix(s, ids, MF_CLS_C, &cm));
  const int64_t cs[2] = {MF_CLS_C, MF_CLS_C};
  double ecm[MF_CLS_C * MF_CLS_C];
  for (int i = 0; i < MF_CLS_C * MF_CLS_C; ++i) ecm[i] = (double)mf_cls_cm[i];
  tu_assert_tensor(cm, NN_I64, 2, cs, ecm, 0, 0);
  nn_tensor_free(cm);
  /* the same with one-hot targets, and with predicted ids */
  nn_tensor *pid = NULL;
  double ohv[MF_CLS_N * MF_CLS_C];
  for (int i = 0; i < MF_CLS_N * MF_CLS_C; ++i) ohv[i] = (i % MF_CLS_C) == mf_cls_ids[i / MF_CLS_C];
  nn_tensor *oh = tu_make(NN_F32, 2, sh, ohv);
  assert_true(metric(NN_METRIC_ACCURACY, s, oh) == mf_cls_acc);
  TU_OK(nn_reduce(NN_REDUCE_ARGMAX, s, 1, false, &pid));
  TU_OK(nn_confusion_matrix(pid, oh, MF_CLS_C, &cm));
  tu_assert_tensor(cm, NN_I64, 2, cs, ecm, 0, 0);
  nn_tensor_free(cm);
  /* and with accuracy as nn_model_evaluate computes it */
  nn_tensor_free(oh);
  nn_tensor_free(pid);
  /* binary, one column of probabilities */
  nn_tensor *pb = tu_make(NN_F64, 2, nb, mf_bin_prob);
  nn_tensor *yb = tu_make_i64(NN_I64, 2, nb, mf_bin_y);
  assert_true(metric(NN_METRIC_ACCURACY, pb, yb) == mf_bin_acc);
  nn_tensor *yb1 = tu_make_i64(NN_I64, 1, n1, mf_bin_y);
  TU_OK(nn_confusion_matrix(pb, yb1, 2, &cm));
  const int64_t c2[2] = {2, 2};
  const double ebin[4] = {(double)mf_bin_cm[0], (double)mf_bin_cm[1], (double)mf_bin_cm[2], (double)mf_bin_cm[3]};
  tu_assert_tensor(cm, NN_I64, 2, c2, ebin, 0, 0);
  nn_tensor_free(cm);
  /* errors */
  double v;
  TU_ERR(nn_confusion_matrix(s, ids, 3, &cm), NN_ERR_INVALID_ARGUMENT, "nn_confusion_matrix", "outside 0..2");
  TU_ERR(nn_confusion_matrix(s, ids, 0, &cm), NN_ERR_INVALID_ARGUMENT, "nn_confusion_matrix", "classes is 0");
  nn_tensor *fid = tu_make(NN_F32, 1, n1, mf_bin_prob);
  TU_ERR(nn_confusion_matrix(fid, ids, 4, &cm), NN_ERR_DTYPE, "nn_confusion_matrix", "pred [n]", "integer");
  TU_ERR(nn_metric_compute(NN_METRIC_ACCURACY, s, fid, &v), NN_ERR_DTYPE, "nn_metric_compute", "class ids");
  TU_ERR(nn_metric_compute(NN_METRIC_MAE, s, ids, &v), NN_ERR_SHAPE, "nn_metric_compute", "[30]", "[30, 4]");
  TU_ERR(nn_metric_compute((nn_metric)9, s, ids, &v), NN_ERR_INVALID_ARGUMENT, "nn_metric_compute", "metric is 9");
  TU_ERR(nn_metric_compute(NN_METRIC_MAE, s, s, NULL), NN_ERR_INVALID_ARGUMENT, "nn_metric_compute", "value");
  nn_tensor *few = NULL;
  TU_OK(nn_tensor_slice(s, 0, 0, 10, &few));
  TU_ERR(nn_metric_compute(NN_METRIC_RMSE, few, s, &v), NN_ERR_SHAPE, "nn_metric_compute", "10 rows");
  nn_tensor_free(few);
  nn_tensor_free(fid);
  nn_tensor_free(yb1);
  nn_tensor_free(pb);
  nn_tensor_free(yb);
  nn_tensor_free(s);
  nn_tensor_free(ids);
}

/* ACCURACY is nn_model_evaluate's accuracy, on the same predictions. */
static void test_accuracy_matches_evaluate(void **state) {
  (void)state;
  nn_model *m = NULL;
  const int64_t sizes[2] = {MF_CLS_C, 3};
  TU_OK(nn_model_mlp(2, sizes, NN_ACT_RELU, NN_ACT_IDENTITY, &m));
  TU_OK(nn_model_init(m, NN_INIT_XAVIER_UNIFORM, 7));
  TU_OK(nn_model_to(m, tu_device()));
  const int64_t sh[2] = {MF_CLS_N, MF_CLS_C}, n1[1] = {MF_CLS_N};
  nn_tensor *x = tu_make(NN_F32, 2, sh, mf_cls_scores);
  int64_t y3[MF_CLS_N];
  for (int i = 0; i < MF_CLS_N; ++i) y3[i] = mf_cls_ids[i] % 3;
  nn_tensor *y = tu_make_i64(NN_I64, 1, n1, y3);
  double loss, acc;
  TU_OK(nn_model_evaluate(m, x, y, NN_LOSS_CROSS_ENTROPY, &loss, &acc));
  nn_tensor *p = NULL;
  TU_OK(nn_model_forward(m, x, &p));
  assert_true(metric(NN_METRIC_ACCURACY, p, y) == acc);
  nn_tensor_free(p);
  nn_tensor_free(x);
  nn_tensor_free(y);
  nn_model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_npy_round_trip_every_dtype),
      cmocka_unit_test(test_npy_shapes_0d_1d_empty),
      cmocka_unit_test(test_npy_versions_orders_endianness),
      cmocka_unit_test(test_npy_hostile_headers),
      cmocka_unit_test(test_npy_io_and_argument_errors),
      cmocka_unit_test(test_csv_values),
      cmocka_unit_test(test_csv_errors),
      cmocka_unit_test(test_slice_is_a_view),
      cmocka_unit_test(test_index_select),
      cmocka_unit_test(test_concat),
      cmocka_unit_test(test_metrics_regression_vs_sklearn),
      cmocka_unit_test(test_metrics_classification_vs_sklearn),
      cmocka_unit_test(test_accuracy_matches_evaluate),
  };
  if (setup_dir(NULL) != 0) return 1;
  int rc = tu_run_group(tests);
  teardown_dir(NULL);
  return rc;
}
