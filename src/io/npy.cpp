// .npy reader/writer (see npy.hpp). The header is a Python dict literal,
//   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
// padded with spaces and ending with '\n'. The parser accepts exactly that
// grammar (keys in any order, either quote, optional trailing comma) and
// nothing else.
#include "io/npy.hpp"

#include <cstdint>
#include <cstring>
#include <string>

#include "core/ops.hpp"

namespace nn {

namespace {


struct Parser {
  const char *p, *end;
  const char *what;

  [[noreturn]] void bad(const char *msg) const { fail(Errc::Format, "%s: bad .npy header: %s", what, msg); }
  void ws() {
    while (p < end && (*p == ' ' || *p == '\t')) ++p;
  }
  bool eat(char c) {
    ws();
    if (p < end && *p == c) {
      ++p;
      return true;
    }
    return false;
  }
  void expect(char c, const char *msg) {
    if (!eat(c)) bad(msg);
  }
  std::string str() {
    ws();
    if (p >= end || (*p != '\'' && *p != '"')) bad("expected a quoted string");
    char q = *p++;
    const char *s = p;
    while (p < end && *p != q) {
      if (*p == '\\') bad("escapes in strings are not supported");
      ++p;
    }
    if (p >= end) bad("unterminated string");
    std::string out(s, static_cast<size_t>(p - s));
    ++p;
    return out;
  }
  bool word(const char *w) {
    ws();
    size_t n = std::strlen(w);
    if (static_cast<size_t>(end - p) >= n && std::memcmp(p, w, n) == 0) {
      p += n;
      return true;
    }
    return false;
  }
  int64_t integer() {
    ws();
    if (p >= end || *p < '0' || *p > '9') bad("a shape entry is not a non-negative integer");
    int64_t v = 0;
    while (p < end && *p >= '0' && *p <= '9') {
      if (__builtin_mul_overflow(v, int64_t{10}, &v) || __builtin_add_overflow(v, int64_t{*p - '0'}, &v))
        bad("a shape entry overflows int64");
      ++p;
    }
    return v;
  }
};

struct Descr {
  DType dt = DType::F32;  // every other path of the chain below fails
  bool swap;  // big-endian data
};

Descr parse_descr(const std::string &s, const char *what) {
  auto bad = [&] { fail(Errc::Format, "%s: .npy dtype '%s' is not supported (libnn reads <f2 <f4 <f8 |u1 <i2 <i4 <i8, either byte order)", what, s.c_str()); };
  if (s.size() != 3) bad();
  char order = s[0], kind = s[1], size = s[2];
  if (order != '<' && order != '>' && order != '|' && order != '=') bad();
  DType dt = DType::F32;  // every other path of the chain below fails
  if (kind == 'f' && size == '2') dt = DType::F16;
  else if (kind == 'f' && size == '4') dt = DType::F32;
  else if (kind == 'f' && size == '8') dt = DType::F64;
  else if (kind == 'u' && size == '1') dt = DType::U8;
  else if (kind == 'i' && size == '2') dt = DType::I16;
  else if (kind == 'i' && size == '4') dt = DType::I32;
  else if (kind == 'i' && size == '8') dt = DType::I64;
  else bad();
  if (order == '|' && dtype_size(dt) != 1) bad();  // '|' is for single bytes only
  return {dt, order == '>' && dtype_size(dt) > 1};
}

}  // namespace

NpyHeader parse_npy_header(const uint8_t *data, size_t avail, uint64_t total, const char *what) {
  static const uint8_t magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  // Only [data, data + avail) is read; total is the file's length. A header
  // within the file lies within avail whenever avail >= kNpyPrefixBytes.
  const size_t len = total < avail ? static_cast<size_t>(total) : avail;
  if (total > avail && avail < kNpyPrefixBytes)
    fail(Errc::Internal, "%s: .npy prefix of %zu bytes is too short", what, avail);
  if (len < 10 || std::memcmp(data, magic, 6) != 0)
    fail(Errc::Format, "%s: not a .npy file (no \\x93NUMPY magic)", what);
  const int major = data[6], minor = data[7];
  if (major < 1 || major > 3 || minor != 0)
    fail(Errc::Format, "%s: .npy format version %d.%d is not supported (1.0, 2.0 and 3.0 are)", what, major, minor);
  size_t hlen, pre;
  if (major == 1) {
    hlen = static_cast<size_t>(data[8]) | static_cast<size_t>(data[9]) << 8;
    pre = 10;
  } else {
    if (len < 12) fail(Errc::Format, "%s: truncated .npy preamble", what);
    hlen = static_cast<size_t>(data[8]) | static_cast<size_t>(data[9]) << 8 | static_cast<size_t>(data[10]) << 16 |
           static_cast<size_t>(data[11]) << 24;
    pre = 12;
  }
  if (hlen > kMaxHeader) fail(Errc::Format, "%s: .npy header length %zu is too large", what, hlen);
  if (hlen > total - pre)
    fail(Errc::Format, "%s: .npy header length %zu runs past the end of the file (%llu bytes)", what, hlen,
         static_cast<unsigned long long>(total));
  const char *h = reinterpret_cast<const char *>(data + pre);
  if (hlen == 0 || h[hlen - 1] != '\n') fail(Errc::Format, "%s: bad .npy header: it does not end with a newline", what);
  for (size_t i = 0; i < hlen; ++i) {
    unsigned char c = static_cast<unsigned char>(h[i]);
    if (c >= 0x80 || (c < 0x20 && c != '\n' && c != '\t') || (c == '\n' && i + 1 != hlen))
      fail(Errc::Format, "%s: bad .npy header: unexpected byte 0x%02x at offset %zu", what, c, pre + i);
  }
  Parser ps{h, h + hlen - 1, what};
  ps.expect('{', "it does not start with '{'");
  bool have_descr = false, have_order = false, have_shape = false;
  std::string descr;
  bool fortran = false;
  Shape shape;
  for (;;) {
    if (ps.eat('}')) break;
    std::string key = ps.str();
    ps.expect(':', "expected ':' after a key");
    if (key == "descr") {
      if (have_descr) ps.bad("duplicate key 'descr'");
      ps.ws();
      if (ps.p < ps.end && *ps.p == '[') ps.bad("structured dtypes are not supported");
      descr = ps.str();
      have_descr = true;
    } else if (key == "fortran_order") {
      if (have_order) ps.bad("duplicate key 'fortran_order'");
      if (ps.word("True")) fortran = true;
      else if (ps.word("False")) fortran = false;
      else ps.bad("fortran_order is not True or False");
      have_order = true;
    } else if (key == "shape") {
      if (have_shape) ps.bad("duplicate key 'shape'");
      ps.expect('(', "shape is not a tuple");
      shape.ndim = 0;
      bool comma = true;  // a value may follow
      for (;;) {
        if (ps.eat(')')) break;
        if (!comma) ps.bad("expected ',' or ')' in shape");
        if (shape.ndim == kMaxDims) fail(Errc::Format, "%s: .npy shape has more than %d dimensions", what, kMaxDims);
        shape.d[shape.ndim++] = ps.integer();
        comma = ps.eat(',');
      }
      if (shape.ndim == 1 && !comma) ps.bad("a 1-tuple needs a trailing comma: (n,)");
      have_shape = true;
    } else {
      fail(Errc::Format, "%s: bad .npy header: unknown key '%s'", what, key.c_str());
    }
    if (!ps.eat(',')) {
      ps.expect('}', "expected ',' or '}'");
      break;
    }
  }
  ps.ws();
  if (ps.p != ps.end) ps.bad("text after the closing '}'");
  if (!have_descr || !have_order || !have_shape)
    ps.bad("it needs the keys 'descr', 'fortran_order' and 'shape'");
  Descr d = parse_descr(descr, what);
  const size_t esize = dtype_size(d.dt);
  const uint64_t body_bytes = total - pre - hlen;
  // Element count against the bytes present, overflow-free: a zero dim
  // makes it 0 (the shape must still be one a tensor can have: Tensor::make's
  // size rule); otherwise each partial product stays <= body_bytes / esize.
  bool empty = false;
  for (int i = 0; i < shape.ndim; ++i) empty |= shape.d[i] == 0;
  uint64_t numel = 1;
  const uint64_t cap = body_bytes / esize;
  if (!empty)
    for (int i = 0; i < shape.ndim; ++i) {
      uint64_t di = static_cast<uint64_t>(shape.d[i]);
      if (di > cap || numel > cap / di)
        fail(Errc::Format, "%s: .npy shape %s needs more data than the file holds (%llu bytes)", what,
             shape.str().c_str(), static_cast<unsigned long long>(body_bytes));
      numel *= di;
    }
  else if (!shape_fits(shape, esize))
    fail(Errc::Format, "%s: .npy shape %s has too many elements (the product of its non-zero dimensions times %zu bytes overflows int64)",
         what, shape.str().c_str(), esize);
  else
    numel = 0;
  if (numel * esize != body_bytes)
    fail(Errc::Format, "%s: .npy shape %s of %s needs %llu data bytes but the file holds %llu", what,
         shape.str().c_str(), descr.c_str(), static_cast<unsigned long long>(numel * esize),
         static_cast<unsigned long long>(body_bytes));
  return NpyHeader{d.dt, d.swap, fortran, shape, pre + hlen};
}

Tensor load_npy(const uint8_t *data, size_t len, Device dev, const char *what) {
  const NpyHeader hd = parse_npy_header(data, len, len, what);
  const size_t esize = dtype_size(hd.dt);
  const size_t avail = len - hd.data_offset;
  const Shape &shape = hd.shape;
  const bool fortran = hd.fortran;
  const uint8_t *body = data + hd.data_offset;
  std::vector<uint8_t> swapped;
  if (hd.swap && avail > 0) {
    swapped.assign(body, body + avail);
    for (size_t i = 0; i < avail; i += esize)
      for (size_t a = 0, b = esize - 1; a < b; ++a, --b) std::swap(swapped[i + a], swapped[i + b]);
    body = swapped.data();
  }
  if (!fortran || shape.ndim < 2) return from_host(hd.dt, shape, body, dev);
  // Fortran order: the bytes are the C-order array of the reversed shape.
  Shape rev;
  rev.ndim = shape.ndim;
  for (int i = 0; i < shape.ndim; ++i) rev.d[i] = shape.d[shape.ndim - 1 - i];
  Tensor t = from_host(hd.dt, rev, body, dev);
  Shape st;
  st.ndim = shape.ndim;
  const Shape cs = contiguous_strides(rev);
  for (int i = 0; i < shape.ndim; ++i) st.d[i] = cs.d[shape.ndim - 1 - i];
  return clone(t.as_strided(shape, st, 0));
}

std::vector<uint8_t> save_npy(const Tensor &t) {
  Tensor src = t.dtype() == DType::BF16 ? to_dtype(t, DType::F32) : t;
  const char *descr = "";
  switch (src.dtype()) {
    case DType::F16: descr = "<f2"; break;
    case DType::F32: descr = "<f4"; break;
    case DType::F64: descr = "<f8"; break;
    case DType::U8: descr = "|u1"; break;
    case DType::I16: descr = "<i2"; break;
    case DType::I32: descr = "<i4"; break;
    case DType::I64: descr = "<i8"; break;
    case DType::BF16: break;
  }
  std::string h = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (";
  for (int i = 0; i < src.ndim(); ++i) {
    h += std::to_string(src.dim(i));
    if (i + 1 < src.ndim() || src.ndim() == 1) h += src.ndim() == 1 ? "," : ", ";
  }
  h += "), }";
  // Pad with spaces so that the data starts at a multiple of 64, then '\n'.
  size_t total = 10 + h.size() + 1;
  h.append((64 - total % 64) % 64, ' ');
  h += '\n';
  std::vector<uint8_t> out(10 + h.size() + src.nbytes());
  static const uint8_t magic[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  std::memcpy(out.data(), magic, 8);
  out[8] = static_cast<uint8_t>(h.size() & 0xff);
  out[9] = static_cast<uint8_t>(h.size() >> 8);
  std::memcpy(out.data() + 10, h.data(), h.size());
  if (src.numel() > 0) to_host(src, out.data() + 10 + h.size());
  return out;
}

}  // namespace nn
