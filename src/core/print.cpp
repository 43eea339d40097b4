// PyTorch-style printing: a faithful port of torch/_tensor_str.py (PyTorch 2.x,
// default print options: precision 4, threshold 1000, edgeitems 3, linewidth 80)
// for real dtypes and strided dense tensors.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "core/ops.hpp"

namespace nn {

namespace {

constexpr int kPrecision = 4;
constexpr int64_t kThreshold = 1000;
constexpr int64_t kEdgeItems = 3;
constexpr int kLineWidth = 80;

// printf into a std::string of any length (a %.4f of 1e300 has 300+ digits).
std::string cformat(const char *fmt, int prec, double v) {
  char small[64];
  int n = std::snprintf(small, sizeof small, fmt, prec, v);
  if (n < 0) return std::string();
  if (static_cast<size_t>(n) < sizeof small) return std::string(small, static_cast<size_t>(n));
  std::string s(static_cast<size_t>(n) + 1, '\0');
  std::snprintf(&s[0], s.size(), fmt, prec, v);
  s.resize(static_cast<size_t>(n));
  return s;
}

// Python's non-finite spellings: "nan" (never "-nan"), "inf", "-inf".
bool nonfinite_str(double v, std::string &out) {
  if (std::isnan(v)) {
    out = "nan";
    return true;
  }
  if (std::isinf(v)) {
    out = v < 0 ? "-inf" : "inf";
    return true;
  }
  return false;
}

// Python's '{:.Nf}'.format(v): correctly rounded, like glibc's printf.
std::string py_fixed(double v, int prec) {
  std::string s;
  if (nonfinite_str(v, s)) return s;
  return cformat("%.*f", prec, v);
}

// Python's '{:.Ne}'.format(v): mantissa, 'e', sign, at least two exponent digits.
std::string py_sci(double v, int prec) {
  std::string s;
  if (nonfinite_str(v, s)) return s;
  return cformat("%.*e", prec, v);
}

void pad_left(std::string &s, size_t width) {
  if (s.size() < width) s.insert(0, width - s.size(), ' ');
}

// The element values in row-major order: doubles for floating dtypes (f16/bf16/
// f32 convert exactly), int64 for integer dtypes (exact for every width).
struct Values {
  bool floating = false;
  std::vector<double> f;
  std::vector<int64_t> i;
};

// torch._tensor_str._Formatter
class Formatter {
 public:
  Formatter(const Values &vals, const std::vector<int64_t> &indices) : floating_(vals.floating) {
    if (!floating_) {
      for (int64_t idx : indices) {
        size_t len = std::to_string(vals.i[static_cast<size_t>(idx)]).size();
        if (len > max_width_) max_width_ = len;
      }
      return;
    }
    std::vector<double> nz;
    nz.reserve(indices.size());
    for (int64_t idx : indices) {
      double v = vals.f[static_cast<size_t>(idx)];
      if (std::isfinite(v) && v != 0.0) nz.push_back(v);
    }
    if (nz.empty()) return;  // no valid number: int_mode, width 1
    double mn = std::fabs(nz[0]), mx = mn;
    for (double v : nz) {
      double a = std::fabs(v);
      if (a < mn) mn = a;
      if (a > mx) mx = a;
    }
    for (double v : nz) {
      if (v != std::ceil(v)) {
        int_mode_ = false;
        break;
      }
    }
    if (int_mode_) {
      if (mx / mn > 1000.0 || mx > 1.0e8) {
        sci_mode_ = true;
        for (double v : nz) widen(py_sci(v, kPrecision).size());
      } else {
        // a '.' is appended to every finite value in int_mode
        for (double v : nz) widen(py_fixed(v, 0).size() + 1);
      }
    } else {
      if (mx / mn > 1000.0 || mx > 1.0e8 || mn < 1.0e-4) {
        sci_mode_ = true;
        for (double v : nz) widen(py_sci(v, kPrecision).size());
      } else {
        for (double v : nz) widen(py_fixed(v, kPrecision).size());
      }
    }
  }

  size_t width() const { return max_width_; }

  std::string format_float(double v) const {
    std::string ret;
    if (sci_mode_) {
      ret = py_sci(v, kPrecision);
    } else if (int_mode_) {
      ret = py_fixed(v, 0);
      if (std::isfinite(v)) ret += '.';
    } else {
      ret = py_fixed(v, kPrecision);
    }
    pad_left(ret, max_width_);
    return ret;
  }

  std::string format_int(int64_t v) const {
    std::string ret = std::to_string(v);
    pad_left(ret, max_width_);
    return ret;
  }

 private:
  void widen(size_t len) {
    if (len > max_width_) max_width_ = len;
  }

  bool floating_;
  bool int_mode_ = true;
  bool sci_mode_ = false;
  size_t max_width_ = 1;
};

class Printer {
 public:
  Printer(const Values &vals, const Shape &shape, bool summarize)
      : vals_(vals), shape_(shape), summarize_(summarize) {
    strides_ = contiguous_strides(shape);
  }

  // The indices (along dim d) that are printed: all, or the edge items when
  // summarising a dim longer than 2 * edgeitems (get_summarized_data).
  bool elided(int d) const { return summarize_ && shape_.d[d] > 2 * kEdgeItems; }

  // Flat indices of every printed element, which are the elements the
  // formatter looks at (the summarised data when summarising).
  void collect(int d, int64_t base, std::vector<int64_t> &out) const {
    if (d == shape_.ndim) {
      out.push_back(base);
      return;
    }
    int64_t n = shape_.d[d];
    for (int64_t k = 0; k < n; ++k) {
      if (elided(d) && k == kEdgeItems) k = n - kEdgeItems;
      collect(d + 1, base + k * strides_.d[d], out);
    }
  }

  std::string element(const Formatter &fmt, int64_t idx) const {
    if (vals_.floating) return fmt.format_float(vals_.f[static_cast<size_t>(idx)]);
    return fmt.format_int(vals_.i[static_cast<size_t>(idx)]);
  }

  // _tensor_str_with_formatter for the sub-tensor starting at dim d.
  std::string str(const Formatter &fmt, int d, int64_t base, int indent) const {
    int dim = shape_.ndim - d;
    if (dim == 0) return element(fmt, base);
    int64_t n = shape_.d[d];
    if (dim == 1) {
      // _vector_str
      double element_length = static_cast<double>(fmt.width() + 2);
      int64_t per_line = static_cast<int64_t>(std::floor((kLineWidth - indent) / element_length));
      if (per_line < 1) per_line = 1;
      std::vector<std::string> data;
      for (int64_t k = 0; k < n; ++k) {
        if (elided(d) && k == kEdgeItems) {
          data.push_back(" ...");
          k = n - kEdgeItems;
        }
        data.push_back(element(fmt, base + k * strides_.d[d]));
      }
      std::string out = "[";
      for (size_t k = 0; k < data.size(); ++k) {
        if (k > 0) {
          if (static_cast<int64_t>(k) % per_line == 0) {
            out += ",\n";
            out.append(static_cast<size_t>(indent + 1), ' ');
          } else {
            out += ", ";
          }
        }
        out += data[k];
      }
      out += ']';
      return out;
    }
    std::string sep = ",";
    sep.append(static_cast<size_t>(dim - 1), '\n');
    sep.append(static_cast<size_t>(indent + 1), ' ');
    std::string out = "[";
    bool first = true;
    for (int64_t k = 0; k < n; ++k) {
      if (!first) out += sep;
      first = false;
      if (elided(d) && k == kEdgeItems) {
        out += "...";
        out += sep;
        k = n - kEdgeItems;
      }
      out += str(fmt, d + 1, base + k * strides_.d[d], indent + 1);
    }
    out += ']';
    return out;
  }

 private:
  const Values &vals_;
  Shape shape_;
  Shape strides_;
  bool summarize_;
};

// str(tuple(shape)): "(0, 3)", "(0,)".
std::string shape_tuple(const Shape &s) {
  std::string out = "(";
  for (int k = 0; k < s.ndim; ++k) {
    if (k > 0) out += ", ";
    out += std::to_string(s.d[k]);
  }
  if (s.ndim == 1) out += ',';
  out += ')';
  return out;
}

// _add_suffixes (never forcing a newline: tensors here are dense).
std::string add_suffixes(const std::string &tensor_str, const std::vector<std::string> &suffixes,
                         int indent) {
  std::string out = tensor_str;
  size_t nl = tensor_str.rfind('\n');
  // len(tensor_str) - tensor_str.rfind("\n") + 1, with rfind -1 when absent
  int64_t last_line_len = static_cast<int64_t>(tensor_str.size()) -
                          (nl == std::string::npos ? -1 : static_cast<int64_t>(nl)) + 1;
  for (const std::string &suffix : suffixes) {
    int64_t suffix_len = static_cast<int64_t>(suffix.size());
    if (last_line_len + suffix_len + 2 > kLineWidth) {
      out += ",\n";
      out.append(static_cast<size_t>(indent), ' ');
      out += suffix;
      last_line_len = indent + suffix_len;
    } else {
      out += ", ";
      out += suffix;
      last_line_len += suffix_len + 2;
    }
  }
  out += ')';
  return out;
}

}  // namespace

std::string to_string(const Tensor &t) {
  const std::string prefix = "tensor(";
  const int indent = static_cast<int>(prefix.size());
  std::vector<std::string> suffixes;
  if (t.device().type != DeviceType::CPU) suffixes.push_back("device='" + t.device().str() + "'");

  const Shape &shape = t.shape();
  std::string tensor_str;
  if (t.numel() == 0) {
    if (shape.ndim != 1) suffixes.push_back("size=" + shape_tuple(shape));
    // An empty tensor shows every dtype but the default one, int64 included.
    if (t.dtype() != DType::F32) suffixes.push_back(std::string("dtype=torch.") + dtype_name(t.dtype()));
    tensor_str = "[]";
  } else {
    if (t.dtype() != DType::F32 && t.dtype() != DType::I64)
      suffixes.push_back(std::string("dtype=torch.") + dtype_name(t.dtype()));

    Values vals;
    vals.floating = is_floating(t.dtype());
    size_t n = static_cast<size_t>(t.numel());
    if (vals.floating) {
      vals.f.resize(n);
      Tensor d = t.dtype() == DType::F64 ? t : to_dtype(t, DType::F64);
      to_host(d.contiguous(), vals.f.data());
    } else {
      vals.i.resize(n);
      Tensor d = t.dtype() == DType::I64 ? t : to_dtype(t, DType::I64);
      to_host(d.contiguous(), vals.i.data());
    }

    bool summarize = t.numel() > kThreshold;
    Printer printer(vals, shape, summarize);
    std::vector<int64_t> shown;
    printer.collect(0, 0, shown);
    Formatter fmt(vals, shown);
    tensor_str = printer.str(fmt, 0, 0, indent);
  }
  return add_suffixes(prefix + tensor_str, suffixes, indent);
}

}  // namespace nn
