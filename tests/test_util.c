#include "test_util.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const nn_dtype tu_all_dtypes[8] = {NN_F32, NN_F64, NN_F16, NN_BF16, NN_U8, NN_I16, NN_I32, NN_I64};
const nn_dtype tu_float_dtypes[4] = {NN_F32, NN_F64, NN_F16, NN_BF16};
const nn_dtype tu_int_dtypes[4] = {NN_U8, NN_I16, NN_I32, NN_I64};

nn_device tu_cpu(void) {
  nn_device d;
  d.type = NN_CPU;
  d.index = 0;
  return d;
}

static void tu_failf(const char *file, int line, const char *fmt, ...);

nn_device tu_device(void) {
  static int parsed = 0;
  static nn_device dev;
  if (!parsed) {
    const char *e = getenv("NN_TEST_DEVICE");
    dev = tu_cpu();
    if (e && *e && strcmp(e, "cpu") != 0) {
      char *end = NULL;
      long idx = 0;
      if (strncmp(e, "cuda", 4) != 0 || (e[4] != '\0' && e[4] != ':')) {
        fprintf(stderr, "NN_TEST_DEVICE is \"%s\"; use cpu, cuda or cuda:N\n", e);
        abort();
      }
      if (e[4] == ':') {
        idx = strtol(e + 5, &end, 10);
        if (end == e + 5 || *end != '\0' || idx < 0 || idx > 1024) {
          fprintf(stderr, "NN_TEST_DEVICE is \"%s\"; use cpu, cuda or cuda:N\n", e);
          abort();
        }
      }
      dev.type = NN_CUDA;
      dev.index = (int32_t)idx;
    }
    parsed = 1;
  }
  return dev;
}

bool tu_on_cpu(void) { return tu_device().type == NN_CPU; }

const char *tu_device_name(void) {
  static char name[32];
  nn_device d = tu_device();
  if (d.type == NN_CPU) return "cpu";
  snprintf(name, sizeof name, "cuda:%d", (int)d.index);
  return name;
}

nn_tensor *tu_to_device_at(nn_tensor *t, const char *file, int line) {
  if (t == NULL || tu_on_cpu()) return t;
  nn_tensor *d = NULL;
  nn_status st = nn_tensor_to_device(t, tu_device(), &d);
  if (st != NN_OK || d == NULL)
    tu_failf(file, line, "nn_tensor_to_device(%s) failed: status %d: %s", tu_device_name(), (int)st,
             nn_last_error());
  nn_tensor_free(t);
  return d;
}

int tu_run_group_impl(const char *source, const struct CMUnitTest *tests, size_t n) {
  char name[128];
  const char *base = strrchr(source, '/');
  base = base ? base + 1 : source;
  snprintf(name, sizeof name, "%s", base);
  char *dot = strrchr(name, '.');
  if (dot) *dot = '\0';
  nn_device d = tu_device();
  if (d.type != NN_CPU) {
    nn_tensor *probe = NULL;
    int64_t shape[1] = {1};
    nn_status st = nn_tensor_zeros(NN_F32, 1, shape, d, &probe);
    if (st != NN_OK) {
      printf("skipped: %s on %s: %s\n", name, tu_device_name(), nn_last_error());
      fflush(stdout);
      return TU_SKIPPED;
    }
    nn_tensor_free(probe);
  }
  char group[256];
  snprintf(group, sizeof group, "%s on %s", name, tu_device_name());
  return _cmocka_run_group_tests(group, tests, n, NULL, NULL);
}

const char *tu_dtype_name(nn_dtype dt) {
  switch (dt) {
    case NN_F32: return "f32";
    case NN_F64: return "f64";
    case NN_F16: return "f16";
    case NN_BF16: return "bf16";
    case NN_U8: return "u8";
    case NN_I16: return "i16";
    case NN_I32: return "i32";
    case NN_I64: return "i64";
  }
  return "?";
}

bool tu_is_float(nn_dtype dt) {
  return dt == NN_F32 || dt == NN_F64 || dt == NN_F16 || dt == NN_BF16;
}

bool tu_is_int(nn_dtype dt) {
  return dt == NN_U8 || dt == NN_I16 || dt == NN_I32 || dt == NN_I64;
}

size_t tu_dtype_size(nn_dtype dt) {
  switch (dt) {
    case NN_F32: return 4;
    case NN_F64: return 8;
    case NN_F16: return 2;
    case NN_BF16: return 2;
    case NN_U8: return 1;
    case NN_I16: return 2;
    case NN_I32: return 4;
    case NN_I64: return 8;
  }
  return 0;
}

/* ---- conversions ------------------------------------------------------------ */

/* double -> float, round to nearest even, overflowing to inf without the
 * undefined behaviour of an out-of-range C cast. */
static float tu_to_f32(double v) {
  const double lim = 340282356779733661637539395458142568448.0; /* 2^128 - 2^103 */
  if (v >= lim) return INFINITY;
  if (v <= -lim) return -INFINITY;
  return (float)v;
}

uint16_t tu_f32_to_f16(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t exp = (x >> 23) & 0xffu;
  uint32_t man = x & 0x7fffffu;
  if (exp == 0xffu) return (uint16_t)(sign | 0x7c00u | (man ? 0x200u : 0u));
  int32_t e = (int32_t)exp - 127 + 15;
  if (e >= 0x1f) return (uint16_t)(sign | 0x7c00u);
  if (e <= 0) {
    if (e < -10) return (uint16_t)sign;
    man |= 0x800000u;
    uint32_t shift = (uint32_t)(14 - e);
    uint32_t h = man >> shift;
    uint32_t rem = man & ((1u << shift) - 1u);
    uint32_t halfway = 1u << (shift - 1u);
    if (rem > halfway || (rem == halfway && (h & 1u))) h++;
    return (uint16_t)(sign | h);
  }
  uint32_t h = sign | ((uint32_t)e << 10) | (man >> 13);
  uint32_t rem = man & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++;
  return (uint16_t)h;
}

float tu_f16_to_f32(uint16_t h) {
  uint32_t sign = ((uint32_t)h & 0x8000u) << 16;
  uint32_t exp = ((uint32_t)h >> 10) & 0x1fu;
  uint32_t man = (uint32_t)h & 0x3ffu;
  float f;
  if (exp == 0) {
    f = ldexpf((float)man, -24);
    return sign ? -f : f;
  }
  uint32_t bits;
  if (exp == 0x1f)
    bits = sign | 0x7f800000u | (man << 13);
  else
    bits = sign | ((exp - 15u + 127u) << 23) | (man << 13);
  memcpy(&f, &bits, 4);
  return f;
}

uint16_t tu_f32_to_bf16(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  if (isnan(f)) return (uint16_t)((x >> 16) | 0x40u);
  uint32_t lsb = (x >> 16) & 1u;
  x += 0x7fffu + lsb;
  return (uint16_t)(x >> 16);
}

float tu_bf16_to_f32(uint16_t h) {
  uint32_t x = (uint32_t)h << 16;
  float f;
  memcpy(&f, &x, 4);
  return f;
}

int64_t tu_wrap(nn_dtype dt, int64_t v) {
  uint64_t u = (uint64_t)v;
  switch (dt) {
    case NN_U8: return (int64_t)(uint8_t)u;
    case NN_I16: {
      uint16_t w = (uint16_t)u;
      return w >= 0x8000u ? (int64_t)w - 0x10000 : (int64_t)w;
    }
    case NN_I32: {
      uint32_t w = (uint32_t)u;
      return w >= 0x80000000u ? (int64_t)w - (int64_t)0x100000000LL : (int64_t)w;
    }
    default: return v;
  }
}

int64_t tu_float_to_i64(double v) {
  if (isnan(v)) return 0;
  if (v >= 9223372036854775807.0) return INT64_MAX;
  if (v <= -9223372036854775808.0) return INT64_MIN;
  return (int64_t)v;
}

double tu_cast(nn_dtype dt, double v) {
  switch (dt) {
    case NN_F64: return v;
    case NN_F32: return (double)tu_to_f32(v);
    case NN_F16: return (double)tu_f16_to_f32(tu_f32_to_f16(tu_to_f32(v)));
    case NN_BF16: return (double)tu_bf16_to_f32(tu_f32_to_bf16(tu_to_f32(v)));
    default: return (double)tu_wrap(dt, tu_float_to_i64(v));
  }
}

double tu_cast_int(nn_dtype dt, int64_t v) {
  switch (dt) {
    case NN_F64: return (double)v;
    case NN_F32: return (double)(float)v;
    case NN_F16: return (double)tu_f16_to_f32(tu_f32_to_f16((float)v));
    case NN_BF16: return (double)tu_bf16_to_f32(tu_f32_to_bf16((float)v));
    default: return (double)tu_wrap(dt, v);
  }
}

void tu_store_i64(nn_dtype dt, void *buf, int64_t i, int64_t v) {
  switch (dt) {
    case NN_U8: ((uint8_t *)buf)[i] = (uint8_t)(uint64_t)v; break;
    case NN_I16: ((int16_t *)buf)[i] = (int16_t)tu_wrap(NN_I16, v); break;
    case NN_I32: ((int32_t *)buf)[i] = (int32_t)tu_wrap(NN_I32, v); break;
    case NN_I64: ((int64_t *)buf)[i] = v; break;
    default: tu_store(dt, buf, i, tu_cast_int(dt, v)); break;
  }
}

void tu_store(nn_dtype dt, void *buf, int64_t i, double v) {
  switch (dt) {
    case NN_F64: ((double *)buf)[i] = v; break;
    case NN_F32: ((float *)buf)[i] = tu_to_f32(v); break;
    case NN_F16: ((uint16_t *)buf)[i] = tu_f32_to_f16(tu_to_f32(v)); break;
    case NN_BF16: ((uint16_t *)buf)[i] = tu_f32_to_bf16(tu_to_f32(v)); break;
    default: tu_store_i64(dt, buf, i, tu_wrap(dt, tu_float_to_i64(v))); break;
  }
}

int64_t tu_load_i64(nn_dtype dt, const void *buf, int64_t i) {
  switch (dt) {
    case NN_U8: return ((const uint8_t *)buf)[i];
    case NN_I16: return ((const int16_t *)buf)[i];
    case NN_I32: return ((const int32_t *)buf)[i];
    case NN_I64: return ((const int64_t *)buf)[i];
    default: return tu_float_to_i64(tu_load(dt, buf, i));
  }
}

double tu_load(nn_dtype dt, const void *buf, int64_t i) {
  switch (dt) {
    case NN_F64: return ((const double *)buf)[i];
    case NN_F32: return (double)((const float *)buf)[i];
    case NN_F16: return (double)tu_f16_to_f32(((const uint16_t *)buf)[i]);
    case NN_BF16: return (double)tu_bf16_to_f32(((const uint16_t *)buf)[i]);
    default: return (double)tu_load_i64(dt, buf, i);
  }
}

/* ---- promotion ------------------------------------------------------------------ */

nn_dtype tu_promote_types(nn_dtype a, nn_dtype b) {
  if (a == b) return a;
  bool fa = tu_is_float(a), fb = tu_is_float(b);
  if (fa && !fb) return a;
  if (fb && !fa) return b;
  if (!fa) return tu_dtype_size(a) >= tu_dtype_size(b) ? a : b;
  /* both floating */
  if ((a == NN_F16 && b == NN_BF16) || (a == NN_BF16 && b == NN_F16)) return NN_F32;
  return tu_dtype_size(a) >= tu_dtype_size(b) ? a : b;
}

nn_dtype tu_promote(nn_dtype a, bool a_zero_dim, nn_dtype b, bool b_zero_dim) {
  if (a_zero_dim == b_zero_dim) return tu_promote_types(a, b);
  nn_dtype dim = a_zero_dim ? b : a;
  nn_dtype zero = a_zero_dim ? a : b;
  if (tu_is_float(zero) && !tu_is_float(dim)) return tu_promote_types(dim, zero);
  return dim;
}

/* ---- shapes ------------------------------------------------------------------------ */

int64_t tu_numel(int ndim, const int64_t *shape) {
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) n *= shape[i];
  return n;
}

const char *tu_shape_str(int ndim, const int64_t *shape) {
  static char ring[8][160];
  static int next = 0;
  char *s = ring[next];
  next = (next + 1) % 8;
  size_t len = 0;
  len += (size_t)snprintf(s + len, 160 - len, "[");
  for (int i = 0; i < ndim && len < 150; i++)
    len += (size_t)snprintf(s + len, 160 - len, i ? ", %lld" : "%lld", (long long)shape[i]);
  snprintf(s + len, 160 - len, "]");
  return s;
}

/* ---- PRNG -------------------------------------------------------------------------------- */

tu_rng tu_rng_make(uint64_t seed) {
  tu_rng r;
  r.s = seed * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL;
  return r;
}

uint64_t tu_rng_next(tu_rng *r) {
  uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

double tu_rng_uniform(tu_rng *r, double lo, double hi) {
  double u = (double)(tu_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
  return lo + (hi - lo) * u;
}

int64_t tu_rng_int(tu_rng *r, int64_t lo, int64_t hi) {
  uint64_t span = (uint64_t)(hi - lo) + 1u;
  if (span == 0) return (int64_t)tu_rng_next(r);
  return lo + (int64_t)(tu_rng_next(r) % span);
}

void tu_rng_fill(tu_rng *r, nn_dtype dt, double *vals, int64_t n, double lo, double hi) {
  for (int64_t i = 0; i < n; i++) {
    if (tu_is_int(dt)) {
      vals[i] = (double)tu_rng_int(r, (int64_t)ceil(lo), (int64_t)floor(hi));
    } else {
      double k = (double)tu_rng_int(r, (int64_t)ceil(lo * 8), (int64_t)floor(hi * 8));
      vals[i] = tu_cast(dt, k / 8.0);
    }
  }
}

/* ---- tensors ----------------------------------------------------------------------------- */

static void tu_failf(const char *file, int line, const char *fmt, ...) {
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  print_error("%s\n", msg);
  _fail(file, line);
}

nn_tensor *tu_make_at(nn_dtype dt, int ndim, const int64_t *shape, const double *vals,
                      const char *file, int line) {
  int64_t n = tu_numel(ndim, shape);
  size_t sz = tu_dtype_size(dt);
  void *buf = malloc((size_t)(n > 0 ? n : 1) * sz);
  if (!buf) tu_failf(file, line, "malloc failed");
  for (int64_t i = 0; i < n; i++) tu_store(dt, buf, i, vals[i]);
  nn_tensor *t = NULL;
  nn_status st = nn_tensor_from_data(dt, ndim, shape, buf, tu_device(), &t);
  free(buf);
  if (st != NN_OK || t == NULL)
    tu_failf(file, line, "nn_tensor_from_data(%s, %s) failed: status %d: %s", tu_dtype_name(dt),
             tu_shape_str(ndim, shape), (int)st, nn_last_error());
  return t;
}

nn_tensor *tu_make_i64_at(nn_dtype dt, int ndim, const int64_t *shape, const int64_t *vals,
                          const char *file, int line) {
  int64_t n = tu_numel(ndim, shape);
  size_t sz = tu_dtype_size(dt);
  void *buf = malloc((size_t)(n > 0 ? n : 1) * sz);
  if (!buf) tu_failf(file, line, "malloc failed");
  for (int64_t i = 0; i < n; i++) tu_store_i64(dt, buf, i, vals[i]);
  nn_tensor *t = NULL;
  nn_status st = nn_tensor_from_data(dt, ndim, shape, buf, tu_device(), &t);
  free(buf);
  if (st != NN_OK || t == NULL)
    tu_failf(file, line, "nn_tensor_from_data(%s, %s) failed: status %d: %s", tu_dtype_name(dt),
             tu_shape_str(ndim, shape), (int)st, nn_last_error());
  return t;
}

double *tu_model_values_at(nn_model *m, bool grads, int64_t *n, const char *file, int line) {
  const int64_t total = nn_model_num_params(m);
  double *out = malloc((size_t)(total > 0 ? total : 1) * sizeof(double));
  if (!out) tu_failf(file, line, "malloc failed");
  int64_t off = 0;
  for (int i = 0; i < nn_model_num_layers(m); i++) {
    nn_layer *l = NULL;
    if (nn_model_layer(m, i, &l) != NN_OK) tu_failf(file, line, "nn_model_layer(%d): %s", i, nn_last_error());
    if (nn_layer_kind_of(l) != NN_LAYER_LINEAR) continue;
    for (int w = 0; w < 2; w++) {
      nn_tensor *t = NULL;
      nn_status st = grads ? nn_layer_grad(l, (nn_param)w, &t) : nn_layer_param(l, (nn_param)w, &t);
      if (st != NN_OK) {
        if (w == 1) continue; /* a Linear layer without bias (the count check below still holds) */
        tu_failf(file, line, "layer %d %s: %s", i, w ? "bias" : "weight", nn_last_error());
      }
      int64_t k = 0;
      double *v = tu_read_at(t, &k, file, line);
      if (off + k > total) tu_failf(file, line, "more values than nn_model_num_params (%lld)", (long long)total);
      memcpy(out + off, v, (size_t)k * sizeof(double));
      off += k;
      free(v);
      nn_tensor_free(t);
    }
  }
  if (off != total) tu_failf(file, line, "%lld values read, nn_model_num_params is %lld", (long long)off, (long long)total);
  *n = total;
  return out;
}

nn_tensor *tu_make_strided_at(nn_dtype dt, int ndim, const int64_t *shape, const double *vals, int d0, int d1,
                              const char *file, int line) {
  if (ndim < 2 || d0 == d1) return tu_make_at(dt, ndim, shape, vals, file, line);
  int64_t bshape[TU_MAX_DIMS];
  for (int i = 0; i < ndim; i++) bshape[i] = shape[i];
  bshape[d0] = shape[d1];
  bshape[d1] = shape[d0];
  int64_t n = tu_numel(ndim, shape);
  double *bv = malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
  int64_t idx[TU_MAX_DIMS];
  for (int64_t f = 0; f < n; f++) {
    int64_t rem = f;
    for (int d = ndim - 1; d >= 0; d--) {
      idx[d] = rem % bshape[d];
      rem /= bshape[d];
    }
    int64_t t = idx[d0];
    idx[d0] = idx[d1];
    idx[d1] = t;
    int64_t lf = 0;
    for (int d = 0; d < ndim; d++) lf = lf * shape[d] + idx[d];
    bv[f] = vals[lf];
  }
  nn_tensor *base = tu_make_at(dt, ndim, bshape, bv, file, line);
  free(bv);
  nn_tensor *view = NULL;
  nn_status st = nn_tensor_transpose(base, d0, d1, &view);
  nn_tensor_free(base);
  if (st != NN_OK || view == NULL)
    tu_failf(file, line, "nn_tensor_transpose failed: status %d: %s", (int)st, nn_last_error());
  return view;
}

static void *tu_read_raw(const nn_tensor *t, int64_t *n, const char *file, int line) {
  if (t == NULL) tu_failf(file, line, "tensor is NULL");
  int64_t numel = nn_tensor_numel(t);
  nn_dtype dt = nn_tensor_dtype(t);
  size_t sz = tu_dtype_size(dt);
  if (numel < 0 || sz == 0)
    tu_failf(file, line, "bad tensor: numel %lld dtype %d", (long long)numel, (int)dt);
  void *buf = malloc((size_t)(numel > 0 ? numel : 1) * sz);
  if (!buf) tu_failf(file, line, "malloc failed");
  nn_status st = nn_tensor_read(t, buf, (size_t)numel * sz);
  if (st != NN_OK) {
    free(buf);
    tu_failf(file, line, "nn_tensor_read failed: status %d: %s", (int)st, nn_last_error());
  }
  *n = numel;
  return buf;
}

double *tu_read_at(const nn_tensor *t, int64_t *n, const char *file, int line) {
  int64_t numel = 0;
  void *raw = tu_read_raw(t, &numel, file, line);
  nn_dtype dt = nn_tensor_dtype(t);
  double *out = malloc((size_t)(numel > 0 ? numel : 1) * sizeof(double));
  for (int64_t i = 0; i < numel; i++) out[i] = tu_load(dt, raw, i);
  free(raw);
  if (n) *n = numel;
  return out;
}

int64_t *tu_read_i64_at(const nn_tensor *t, int64_t *n, const char *file, int line) {
  int64_t numel = 0;
  void *raw = tu_read_raw(t, &numel, file, line);
  nn_dtype dt = nn_tensor_dtype(t);
  int64_t *out = malloc((size_t)(numel > 0 ? numel : 1) * sizeof(int64_t));
  for (int64_t i = 0; i < numel; i++) out[i] = tu_load_i64(dt, raw, i);
  free(raw);
  if (n) *n = numel;
  return out;
}

void tu_assert_meta_at(const nn_tensor *t, nn_dtype dt, int ndim, const int64_t *shape,
                       const char *file, int line) {
  if (t == NULL) tu_failf(file, line, "tensor is NULL");
  nn_dtype got_dt = nn_tensor_dtype(t);
  if (got_dt != dt)
    tu_failf(file, line, "dtype: expected %s, got %s (%d)", tu_dtype_name(dt), tu_dtype_name(got_dt),
             (int)got_dt);
  int got_ndim = nn_tensor_ndim(t);
  if (got_ndim != ndim) tu_failf(file, line, "ndim: expected %d, got %d", ndim, got_ndim);
  int64_t got_shape[TU_MAX_DIMS + 1];
  memset(got_shape, 0, sizeof got_shape);
  nn_status st = nn_tensor_shape(t, got_shape);
  if (st != NN_OK) tu_failf(file, line, "nn_tensor_shape failed: %s", nn_last_error());
  for (int i = 0; i < ndim; i++)
    if (got_shape[i] != shape[i])
      tu_failf(file, line, "shape: expected %s, got %s", tu_shape_str(ndim, shape),
               tu_shape_str(ndim, got_shape));
  int64_t numel = nn_tensor_numel(t);
  if (numel != tu_numel(ndim, shape))
    tu_failf(file, line, "numel: expected %lld, got %lld", (long long)tu_numel(ndim, shape),
             (long long)numel);
}

static bool tu_close1(double g, double e, double rtol, double atol) {
  if (isnan(e)) return isnan(g);
  if (isnan(g)) return false;
  if (isinf(e) || isinf(g)) return g == e;
  return fabs(g - e) <= atol + rtol * fabs(e);
}

void tu_assert_close_at(const double *got, const double *exp, int64_t n, double rtol, double atol,
                        const char *ctx, const char *file, int line) {
  int64_t bad = 0, first = -1;
  for (int64_t i = 0; i < n; i++) {
    if (!tu_close1(got[i], exp[i], rtol, atol)) {
      if (first < 0) first = i;
      bad++;
    }
  }
  if (bad) {
    char detail[1024];
    size_t len = 0;
    int shown = 0;
    for (int64_t i = first; i < n && shown < 6; i++) {
      if (!tu_close1(got[i], exp[i], rtol, atol)) {
        len += (size_t)snprintf(detail + len, sizeof detail - len, "\n    [%lld] expected %.17g got %.17g",
                                (long long)i, exp[i], got[i]);
        if (len >= sizeof detail) len = sizeof detail - 1;
        shown++;
      }
    }
    tu_failf(file, line, "%s: %lld of %lld values differ (rtol %g atol %g):%s", ctx ? ctx : "values",
             (long long)bad, (long long)n, rtol, atol, detail);
  }
}

void tu_assert_tensor_at(const nn_tensor *t, nn_dtype dt, int ndim, const int64_t *shape,
                         const double *exp, double rtol, double atol, const char *file, int line) {
  tu_assert_meta_at(t, dt, ndim, shape, file, line);
  int64_t n = 0;
  double *got = tu_read_at(t, &n, file, line);
  tu_assert_close_at(got, exp, n, rtol, atol, "tensor values", file, line);
  free(got);
}

double tu_rtol(nn_dtype dt) {
  switch (dt) {
    case NN_F64: return 1e-12;
    case NN_F32: return 2e-6;
    case NN_F16: return 2e-3;
    case NN_BF16: return 1.6e-2;
    default: return 0.0;
  }
}

/* ---- status ------------------------------------------------------------------------------- */

void tu_assert_ok_at(nn_status st, const char *expr, const char *file, int line) {
  if (st != NN_OK)
    tu_failf(file, line, "%s returned %d (%s): %s", expr, (int)st, nn_status_string(st), nn_last_error());
}

void tu_assert_err_at(nn_status st, nn_status expected, const char *func, const char *expr,
                      const char *file, int line, ...) {
  if (st != expected)
    tu_failf(file, line, "%s: expected status %d (%s), got %d (%s); last error: \"%s\"", expr,
             (int)expected, nn_status_string(expected), (int)st, nn_status_string(st), nn_last_error());
  const char *msg = nn_last_error();
  if (msg == NULL) tu_failf(file, line, "%s: nn_last_error() returned NULL", expr);
  if (func && strncmp(msg, func, strlen(func)) != 0)
    tu_failf(file, line, "%s: message should start with \"%s\": \"%s\"", expr, func, msg);
  va_list ap;
  va_start(ap, line);
  for (;;) {
    const char *sub = va_arg(ap, const char *);
    if (sub == NULL) break;
    if (strstr(msg, sub) == NULL) {
      va_end(ap);
      tu_failf(file, line, "%s: message should contain \"%s\": \"%s\"", expr, sub, msg);
    }
  }
  va_end(ap);
}

void tu_check_parallel_matmul(int n) {
  double *av = malloc(sizeof(double) * (size_t)n * (size_t)n), *bv = malloc(sizeof(double) * (size_t)n * (size_t)n);
  assert_non_null(av);
  assert_non_null(bv);
  for (int i = 0; i < n * n; ++i) {
    av[i] = (double)((i * 7) % 13) - 6;
    bv[i] = (double)((i * 5) % 11) - 5;
  }
  const int64_t s[] = {n, n};
  nn_tensor *a = tu_make(NN_F32, 2, s, av), *b = tu_make(NN_F32, 2, s, bv), *c = NULL;
  TU_OK(nn_matmul(a, b, &c));
  int64_t count = 0;
  double *cv = tu_read(c, &count);
  assert_int_equal(count, (int64_t)n * n);
  for (int i = 0; i < n; i += 37)
    for (int j = 0; j < n; j += 29) {
      double want = 0;
      for (int k = 0; k < n; ++k) want += av[i * n + k] * bv[k * n + j];
      if (cv[i * n + j] != want) fail_msg("c[%d][%d] = %g, expected %g", i, j, cv[i * n + j], want);
    }
  free(cv);
  free(av);
  free(bv);
  nn_tensor_free(a);
  nn_tensor_free(b);
  nn_tensor_free(c);
}

int tu_process_threads(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  int n = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "Threads: %d", &n) == 1) break;
  fclose(f);
  return n;
}

char *tu_make_tmpdir(const char *prefix) {
  const char *base = getenv("TMPDIR");
  char tmpl[4096];
  snprintf(tmpl, sizeof tmpl, "%s/%sXXXXXX", base && *base ? base : "/tmp", prefix);
  char *d = mkdtemp(tmpl);
  assert_non_null(d);
  char *out = malloc(strlen(d) + 1);
  assert_non_null(out);
  strcpy(out, d);
  return out;
}

void tu_rm_tree(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  char p[8192];
  while ((e = readdir(d)) != NULL) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    struct stat st;
    if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
      tu_rm_tree(p);
    else
      unlink(p);
  }
  closedir(d);
  rmdir(dir);
}

unsigned char *tu_read_file(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  assert_int_equal(fseek(f, 0, SEEK_END), 0);
  const long len = ftell(f);
  assert_true(len >= 0);
  rewind(f);
  unsigned char *b = malloc((size_t)len + 1);
  assert_non_null(b);
  assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
  fclose(f);
  b[len] = '\0';
  *n = (size_t)len;
  return b;
}

void tu_write_file(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, n, f), n);
  assert_int_equal(fclose(f), 0);
}

unsigned char *tu_save_model(const nn_model *m, size_t *n) {
  size_t need = 0, again = 0;
  TU_OK(nn_model_save_buffer(m, NULL, 0, &need));
  assert_true(need >= 16);  /* 8-byte header length and a header */
  unsigned char *b = malloc(need);
  assert_non_null(b);
  TU_OK(nn_model_save_buffer(m, b, need, &again));
  assert_int_equal(need, again);
  *n = need;
  return b;
}
