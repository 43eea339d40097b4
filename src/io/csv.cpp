// Numeric CSV reader (see csv.hpp).
#include "io/csv.hpp"

#include <locale.h>
#include <stdlib.h>

#include <charconv>
#include <cmath>
#include <limits>
#include <vector>

#include "core/ops.hpp"

namespace nn {

namespace {

bool blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

// strtod in the "C" locale (a '.' decimal point whatever the process locale).
double strtod_c(const char *s) {
  static locale_t c_locale = newlocale(LC_ALL_MASK, "C", static_cast<locale_t>(0));
  return c_locale ? strtod_l(s, nullptr, c_locale) : std::strtod(s, nullptr);
}

// Integer range of an integer dtype.
void int_range(DType dt, int64_t *lo, int64_t *hi) {
  switch (dt) {
    case DType::U8: *lo = 0; *hi = 255; break;
    case DType::I16: *lo = -32768; *hi = 32767; break;
    case DType::I32: *lo = std::numeric_limits<int32_t>::min(); *hi = std::numeric_limits<int32_t>::max(); break;
    default: *lo = std::numeric_limits<int64_t>::min(); *hi = std::numeric_limits<int64_t>::max(); break;
  }
}

}  // namespace

Tensor load_csv(const char *data, size_t len, const std::string &name, char delimiter, int skip_rows, DType dt,
                Device dev, const char *what) {
  if (delimiter == '\n' || delimiter == '\r' || delimiter == '\0' || delimiter == '"' || delimiter == '.' ||
      delimiter == '-' || delimiter == '+' || (delimiter >= '0' && delimiter <= '9') ||
      (delimiter >= 'a' && delimiter <= 'z') || (delimiter >= 'A' && delimiter <= 'Z'))
    fail(Errc::InvalidArgument, "%s: delimiter '%c' (%d) cannot separate numbers", what,
         delimiter >= 0x20 && delimiter < 0x7f ? delimiter : '?', delimiter);
  if (skip_rows < 0) fail(Errc::InvalidArgument, "%s: skip_rows is %d; it must be >= 0", what, skip_rows);
  const bool integral = !is_floating(dt);
  int64_t lo = 0, hi = 0;
  if (integral) int_range(dt, &lo, &hi);
  std::vector<double> fv;
  std::vector<int64_t> iv;
  int64_t rows = 0, cols = -1;
  long long line = 0;
  size_t pos = 0;
  // Skip a UTF-8 byte order mark.
  if (len >= 3 && static_cast<unsigned char>(data[0]) == 0xEF && static_cast<unsigned char>(data[1]) == 0xBB &&
      static_cast<unsigned char>(data[2]) == 0xBF)
    pos = 3;
  while (pos < len) {
    size_t eol = pos;
    while (eol < len && data[eol] != '\n') ++eol;
    ++line;
    const char *b = data + pos, *e = data + eol;
    pos = eol + 1;
    if (line <= skip_rows) continue;
    const char *q = b;
    while (q < e && blank(*q)) ++q;
    if (q == e) continue;  // blank line
    int64_t col = 0;
    const char *f = b;
    for (;;) {
      const char *fe = f;
      while (fe < e && *fe != delimiter) ++fe;
      ++col;
      const char *s = f, *t = fe;
      while (s < t && blank(*s)) ++s;
      while (t > s && blank(t[-1])) --t;
      if (cols >= 0 && col > cols)
        fail(Errc::Format, "%s: %s: line %lld, column %lld: more than the %lld columns of the first row", what,
             name.c_str(), line, static_cast<long long>(col), static_cast<long long>(cols));
      if (s == t)
        fail(Errc::Format, "%s: %s: line %lld, column %lld: empty field", what, name.c_str(), line,
             static_cast<long long>(col));
      const char *num = s;
      if (*num == '+' && t - num > 1 && num[1] != '-') ++num;
      std::string field(s, static_cast<size_t>(t - s));
      auto not_number = [&] {
        fail(Errc::Format, "%s: %s: line %lld, column %lld: \"%.40s\" is not a number", what, name.c_str(), line,
             static_cast<long long>(col), field.c_str());
      };
      if (integral) {
        int64_t v = 0;
        auto r = std::from_chars(num, t, v);
        if (r.ec == std::errc() && r.ptr == t) {
          if (v < lo || v > hi)
            fail(Errc::Format, "%s: %s: line %lld, column %lld: %s is out of range for %s", what, name.c_str(), line,
                 static_cast<long long>(col), field.c_str(), dtype_name(dt));
        } else {
          double dv = 0;
          auto rd = std::from_chars(num, t, dv);
          if (rd.ptr != t || (rd.ec != std::errc() && rd.ec != std::errc::result_out_of_range)) not_number();
          if (!std::isfinite(dv) || dv != std::floor(dv) || rd.ec != std::errc())
            fail(Errc::Format, "%s: %s: line %lld, column %lld: %s is not an integer (dtype %s)", what,
                 name.c_str(), line, static_cast<long long>(col), field.c_str(), dtype_name(dt));
          if (!(dv >= static_cast<double>(lo) && dv <= static_cast<double>(hi)) || dv >= 9.2233720368547758e18)
            fail(Errc::Format, "%s: %s: line %lld, column %lld: %s is out of range for %s", what, name.c_str(), line,
                 static_cast<long long>(col), field.c_str(), dtype_name(dt));
          v = static_cast<int64_t>(dv);
        }
        iv.push_back(v);
      } else {
        double v = 0;
        auto r = std::from_chars(num, t, v);
        // Out of range: from_chars leaves v alone; strtod's answer (inf, or
        // a denormal or 0) is what NumPy's loadtxt gives.
        if (r.ptr != t || (r.ec != std::errc() && r.ec != std::errc::result_out_of_range)) not_number();
        if (r.ec == std::errc::result_out_of_range) v = strtod_c(field.c_str());
        fv.push_back(v);
      }
      if (fe == e) break;
      f = fe + 1;
    }
    if (cols < 0) cols = col;
    else if (col < cols)
      fail(Errc::Format, "%s: %s: line %lld, column %lld: the row has %lld columns but the first row has %lld",
           what, name.c_str(), line, static_cast<long long>(col + 1), static_cast<long long>(col),
           static_cast<long long>(cols));
    ++rows;
  }
  if (rows == 0) fail(Errc::Format, "%s: %s: no data rows (after skipping %d)", what, name.c_str(), skip_rows);
  Shape s{rows, cols};
  if (integral) {
    Tensor t = from_host(DType::I64, s, iv.data(), dev);
    return dt == DType::I64 ? t : to_dtype(t, dt);
  }
  Tensor t = from_host(DType::F64, s, fv.data(), dev);
  return dt == DType::F64 ? t : to_dtype(t, dt);
}

}  // namespace nn
