#include "nn/export_c.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/error.hpp"
#include "core/ops.hpp"

namespace nn {

namespace {

// An exact C99 hexadecimal floating literal for v (finite), written from
// its bits: no printf("%a"), whose radix character follows the locale.
std::string hex_float(double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  const bool neg = bits >> 63;
  const int exp_bits = static_cast<int>((bits >> 52) & 0x7ff);
  uint64_t mant = bits & ((uint64_t(1) << 52) - 1);
  std::string s = neg ? "-0x" : "0x";
  int e;
  if (exp_bits == 0 && mant == 0) return s + "0p+0";
  if (exp_bits == 0) {  // subnormal: 0x0.<mant>p-1022
    s += "0";
    e = -1022;
  } else {
    s += "1";
    e = exp_bits - 1023;
  }
  if (mant != 0) {
    static const char digits[] = "0123456789abcdef";
    char m[13];
    for (int i = 0; i < 13; ++i) m[i] = digits[(mant >> (48 - 4 * i)) & 0xf];
    int n = 13;
    while (n > 0 && m[n - 1] == '0') --n;
    s += ".";
    s.append(m, static_cast<size_t>(n));
  }
  s += "p";
  s += e < 0 ? "-" : "+";
  s += std::to_string(e < 0 ? -e : e);
  return s;
}

// A literal of type T ("float" or "double"), NaN and infinities via <math.h>.
std::string literal(double v, bool is_float) {
  if (std::isnan(v)) return is_float ? "NAN" : "(double)NAN";
  if (std::isinf(v)) return v < 0 ? (is_float ? "-INFINITY" : "-(double)INFINITY") : (is_float ? "INFINITY" : "(double)INFINITY");
  return hex_float(v) + (is_float ? "f" : "");
}

bool valid_identifier(const std::string &p) {
  if (p.empty() || p.size() > 64) return false;
  if (!(std::isalpha(static_cast<unsigned char>(p[0])) || p[0] == '_')) return false;
  for (char c : p)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}

const char *act_comment(Act a) {
  switch (a) {
    case Act::Identity: return "identity";
    case Act::Relu: return "ReLU";
    case Act::Sigmoid: return "sigmoid";
    case Act::Tanh: return "tanh";
    case Act::Step: return "step (1 where x > 0, else 0)";
    case Act::Softmax: return "softmax";
    case Act::LeakyRelu: return "leaky ReLU (slope 0.01)";
  }
  return "?";
}

}  // namespace

std::string export_c(const Model &m, const std::string &prefix, const char *what) {
  if (!valid_identifier(prefix))
    fail(Errc::InvalidArgument,
         "%s: prefix \"%s\" is not a C identifier of 1 to 64 characters (letters, digits, '_', not starting "
         "with a digit)",
         what, prefix.size() > 64 ? (prefix.substr(0, 64) + "...").c_str() : prefix.c_str());
  if (m.in_features() <= 0)
    fail(Errc::InvalidArgument, "%s: the model has no Linear layer; there is nothing to export", what);
  const bool is_float = m.dtype() != DType::F64;
  const std::string T = is_float ? "float" : "double";
  std::string P = prefix;
  for (char &c : P) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const std::string &p = prefix;
  const int64_t in = m.in_features(), out = m.out_features();
  int64_t width = in;  // the widest vector the forward pass holds
  for (int i = 0; i < m.num_layers(); ++i)
    if (m.layer(i).kind() == LayerKind::Linear) width = std::max(width, m.layer(i).out_features());

  std::string s;
  s.reserve(4096);
  s += "/* " + p + ": a multilayer perceptron exported by libnn (nn_model_export_c).\n"
       " *\n"
       " * Self-contained C99: needs only <stddef.h> and <math.h> (link with -lm),\n"
       " * allocates nothing and has no writable globals (safe to call from any\n"
       " * number of threads). Weights are exact (hexadecimal literals).\n"
       " *\n"
       " *   void " + p + "_predict(const " + T + " *x, " + T + " *y);\n"
       " *       x: " + P + "_IN_FEATURES values, y: " + P + "_OUT_FEATURES values.\n"
       " *   void " + p + "_predict_rows(size_t rows, const " + T + " *x, " + T + " *y);\n"
       " *       rows of x (row-major) in, rows of y out.\n"
       " *\n"
       " * Sums are accumulated in double; define " + P + "_FLOAT_ACCUMULATE to\n"
       " * accumulate in " + T + " instead (faster on an FPU without double).\n"
       " *\n"
       " * Layers:\n";
  for (int i = 0; i < m.num_layers(); ++i) s += " *   " + std::to_string(i) + ": " + m.layer(i).describe() + "\n";
  s += " */\n#include <stddef.h>\n#include <math.h>\n\n";
  s += "#define " + P + "_IN_FEATURES " + std::to_string(in) + "\n";
  s += "#define " + P + "_OUT_FEATURES " + std::to_string(out) + "\n\n";
  s += "#ifdef " + P + "_FLOAT_ACCUMULATE\ntypedef " + T + " " + p + "_acc_t;\n#else\ntypedef double " + p +
       "_acc_t;\n#endif\n\n";
  s += "void " + p + "_predict(const " + T + " *x, " + T + " *y);\n";
  s += "void " + p + "_predict_rows(size_t rows, const " + T + " *x, " + T + " *y);\n\n";

  // Weights. A Linear layer's weight is written transposed, [in][out]: the
  // generated loop then runs over the outputs innermost, which a compiler
  // vectorises without reassociating any sum (each output's sum still adds
  // its terms in input order).
  std::vector<double> vals;
  auto emit_array = [&](const std::string &name, const Tensor &t, bool transpose, const std::string &dims) {
    const int64_t n = t.numel();
    Tensor host = to_dtype(t, DType::F64);  // exact for F32 and F64
    vals.assign(static_cast<size_t>(n), 0.0);
    to_host(host, vals.data());
    if (transpose) {
      const int64_t rows = t.dim(0), cols = t.dim(1);
      std::vector<double> tr(vals.size());
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) tr[static_cast<size_t>(c * rows + r)] = vals[static_cast<size_t>(r * cols + c)];
      vals.swap(tr);
    }
    s += "static const " + T + " " + name + "[" + std::to_string(n) + "] = { /* " + dims + " */\n";
    for (int64_t k = 0; k < n; ++k) {
      if (k % 6 == 0) s += "  ";
      s += literal(vals[static_cast<size_t>(k)], is_float);
      s += k + 1 < n ? "," : "";
      s += (k % 6 == 5 || k + 1 == n) ? "\n" : " ";
    }
    s += "};\n";
  };
  bool any_softmax = false;
  for (int i = 0; i < m.num_layers(); ++i) {
    const Layer &l = m.layer(i);
    if (l.kind() == LayerKind::Linear) {
      const std::string dims = std::to_string(l.in_features()) + " x " + std::to_string(l.out_features());
      emit_array(p + "_w" + std::to_string(i), l.weight(), true,
                 "layer " + std::to_string(i) + " weight, transposed: " + dims + " (in x out), row-major");
      if (l.has_bias()) emit_array(p + "_b" + std::to_string(i), l.bias(), false, "layer " + std::to_string(i) + " bias");
      s += "\n";
    } else if (l.act() == Act::Softmax) {
      any_softmax = true;
    }
  }

  // Helpers
  s += "#define " + P + "_WIDTH " + std::to_string(width) + " /* the widest layer */\n\n";
  s += "/* y[j] = b[j] + sum_i wt[i * n_out + j] * x[i], summed in order of i (b may be NULL) */\n";
  s += "static void " + p + "_linear(const " + T + " *wt, const " + T + " *b, size_t n_in, size_t n_out, const " + T +
       " *x, " + T + " *y) {\n"
       "  " + p + "_acc_t acc[" + P + "_WIDTH];\n"
       "  size_t i, j;\n"
       "  for (j = 0; j < n_out; j++) acc[j] = b != NULL ? (" + p + "_acc_t)b[j] : (" + p + "_acc_t)0;\n"
       "  for (i = 0; i < n_in; i++) {\n"
       "    const " + T + " *row = wt + i * n_out;\n"
       "    const " + p + "_acc_t xi = (" + p + "_acc_t)x[i];\n"
       "    for (j = 0; j < n_out; j++) acc[j] += (" + p + "_acc_t)row[j] * xi;\n"
       "  }\n"
       "  for (j = 0; j < n_out; j++) y[j] = (" + T + ")acc[j];\n"
       "}\n\n";
  if (any_softmax) {
    s += "/* softmax over v[0..n-1], in place */\n";
    s += "static void " + p + "_softmax(" + T + " *v, size_t n) {\n"
         "  size_t i;\n"
         "  double max = v[0], sum = 0;\n"
         "  for (i = 1; i < n; i++) if (v[i] > max || v[i] != v[i]) max = v[i];\n"
         "  for (i = 0; i < n; i++) sum += exp((double)v[i] - max);\n"
         "  for (i = 0; i < n; i++) v[i] = (" + T + ")(exp((double)v[i] - max) / sum);\n"
         "}\n\n";
  }

  // predict
  s += "void " + p + "_predict(const " + T + " *x, " + T + " *y) {\n";
  s += "  " + T + " h[2][" + P + "_WIDTH];\n";
  s += "  size_t i;\n";
  s += "  (void)i;\n";
  // Where the current vector lives: "x" (input, read-only), "h[k]" or "y".
  std::string cur = "x";
  int64_t cur_n = in;
  int next_buf = 0;
  int last_linear = -1;
  for (int i = 0; i < m.num_layers(); ++i)
    if (m.layer(i).kind() == LayerKind::Linear) last_linear = i;
  for (int i = 0; i < m.num_layers(); ++i) {
    const Layer &l = m.layer(i);
    const std::string idx = std::to_string(i);
    if (l.kind() == LayerKind::Linear) {
      std::string dst = i == last_linear ? "y" : "h[" + std::to_string(next_buf) + "]";
      if (i != last_linear) next_buf ^= 1;
      s += "  " + p + "_linear(" + p + "_w" + idx + ", " + (l.has_bias() ? p + "_b" + idx : std::string("NULL")) +
           ", " + std::to_string(l.in_features()) + ", " + std::to_string(l.out_features()) + ", " + cur + ", " + dst +
           "); /* " + idx + ": " + l.describe() + " */\n";
      cur = dst;
      cur_n = l.out_features();
      continue;
    }
    if (l.act() == Act::Identity) continue;
    if (cur == "x") {  // an activation before any Linear layer: work on a copy
      const std::string dst = "h[" + std::to_string(next_buf) + "]";
      next_buf ^= 1;
      s += "  for (i = 0; i < " + std::to_string(cur_n) + "; i++) " + dst + "[i] = x[i];\n";
      cur = dst;
    }
    const std::string n = std::to_string(cur_n), v = cur + "[i]";
    s += "  /* " + idx + ": " + act_comment(l.act()) + " */\n";
    switch (l.act()) {
      case Act::Relu:
        s += "  for (i = 0; i < " + n + "; i++) if (" + v + " < 0) " + v + " = 0;\n";
        break;
      case Act::Sigmoid:
        s += "  for (i = 0; i < " + n + "; i++) " + v + " = (" + T + ")(1.0 / (1.0 + exp(-(double)" + v + ")));\n";
        break;
      case Act::Tanh:
        s += "  for (i = 0; i < " + n + "; i++) " + v + " = (" + T + ")tanh((double)" + v + ");\n";
        break;
      case Act::Step:
        s += "  for (i = 0; i < " + n + "; i++) " + v + " = " + v + " > 0 ? (" + T + ")1 : (" + T + ")0;\n";
        break;
      case Act::Softmax:
        s += "  " + p + "_softmax(" + cur + ", " + n + ");\n";
        break;
      case Act::LeakyRelu:
        s += "  for (i = 0; i < " + n + "; i++) if (" + v + " < 0) " + v + " = " + v + " * (" + T + ")0.01;\n";
        break;
      case Act::Identity:
        break;
    }
  }
  if (cur != "y") s += "  for (i = 0; i < " + std::to_string(cur_n) + "; i++) y[i] = " + cur + "[i];\n";
  s += "  (void)h;\n}\n\n";

  s += "void " + p + "_predict_rows(size_t rows, const " + T + " *x, " + T + " *y) {\n"
       "  size_t r;\n"
       "  for (r = 0; r < rows; r++) " + p + "_predict(x + r * " + P + "_IN_FEATURES, y + r * " + P +
       "_OUT_FEATURES);\n"
       "}\n";
  return s;
}

}  // namespace nn
