#include "nn/model_onnx.hpp"

#include <cmath>
#include <cstring>
#include <string>
#include <unordered_map>
#include <utility>

#include "core/error.hpp"
#include "core/ops.hpp"
#include "io/protobuf.hpp"

namespace nn {
namespace onnx {

namespace {

// TensorProto.DataType values used here.
enum OnnxType : int64_t { kFloat = 1, kInt32 = 6, kInt64 = 7, kBool = 9, kFloat16 = 10, kDouble = 11, kBFloat16 = 16 };
// AttributeProto.AttributeType values used here.
enum AttrType : int64_t { kAttrFloat = 1, kAttrInt = 2, kAttrString = 3, kAttrTensor = 4 };

constexpr int kMaxRank = 8;
const char *const kSupported =
    "libnn imports chains of Gemm, MatMul, Add (a bias after MatMul or Gemm), Relu, Sigmoid, Tanh, "
    "Softmax (last axis), LeakyRelu (alpha 0.01), Greater (with 0) + Cast (STEP), Flatten (2-D, axis 1) "
    "and Identity";

// ---------------------------------------------------------------------------
// Export
// ---------------------------------------------------------------------------

int64_t onnx_type(DType dt) { return dt == DType::F64 ? kDouble : kFloat; }

pb::Writer tensor_proto(const std::string &name, DType dt, const std::vector<int64_t> &dims, const void *data,
                        size_t nbytes) {
  pb::Writer t;
  for (int64_t d : dims) t.varint_field(1, static_cast<uint64_t>(d));  // dims
  t.varint_field(2, static_cast<uint64_t>(onnx_type(dt)));            // data_type
  t.string_field(8, name);                                            // name
  t.bytes_field(9, data, nbytes);                                     // raw_data (little-endian)
  return t;
}

// ValueInfoProto of a 2-D tensor [batch, features]; features < 0: symbolic.
pb::Writer value_info(const std::string &name, DType dt, int64_t features) {
  pb::Writer batch, feat, shape, tensor, type, vi;
  batch.string_field(2, "batch");  // dim_param: the dynamic batch dimension
  if (features >= 0)
    feat.varint_field(1, static_cast<uint64_t>(features));  // dim_value
  else
    feat.string_field(2, "features");
  shape.message_field(1, batch);
  shape.message_field(1, feat);
  tensor.varint_field(1, static_cast<uint64_t>(onnx_type(dt)));  // elem_type
  tensor.message_field(2, shape);
  type.message_field(1, tensor);  // tensor_type
  vi.string_field(1, name);
  vi.message_field(2, type);
  return vi;
}

pb::Writer node(const std::string &name, const char *op, const std::vector<std::string> &in, const std::string &out) {
  pb::Writer n;
  for (const auto &s : in) n.string_field(1, s);
  n.string_field(2, out);
  n.string_field(3, name);
  n.string_field(4, op);
  return n;
}

pb::Writer attr_int(const char *name, int64_t v) {
  pb::Writer a;
  a.string_field(1, name);
  a.varint_field(3, static_cast<uint64_t>(v));
  a.varint_field(20, kAttrInt);
  return a;
}

pb::Writer attr_float(const char *name, float v) {
  pb::Writer a;
  a.string_field(1, name);
  a.float_field(2, v);
  a.varint_field(20, kAttrFloat);
  return a;
}

}  // namespace

std::vector<uint8_t> export_model(const Model &m, const char *what) {
  (void)what;
  const DType dt = m.dtype();
  pb::Writer graph;
  std::vector<pb::Writer> inits;
  std::string cur = "input";
  const int n = m.num_layers();
  int64_t in_features = -1, out_features = -1;
  for (int i = 0; i < n; ++i) {
    const Layer &l = m.layer(i);
    const std::string idx = std::to_string(i);
    const std::string out = i + 1 == n ? "output" : "layer" + idx;
    const std::string prefix = "/" + idx + "/";
    if (l.kind() == LayerKind::Linear) {
      if (in_features < 0) in_features = l.in_features();
      out_features = l.out_features();
      std::vector<std::string> ins = {cur, idx + ".weight"};
      const Tensor *params[2] = {&l.weight(), l.has_bias() ? &l.bias() : nullptr};
      for (int p = 0; p < 2; ++p) {
        if (!params[p]) continue;
        const Tensor &t = *params[p];
        std::vector<uint8_t> host(t.nbytes());
        to_host(t, host.data());
        std::vector<int64_t> dims(t.shape().d, t.shape().d + t.ndim());
        std::string name = idx + (p == 0 ? ".weight" : ".bias");
        if (p == 1) ins.push_back(name);
        inits.push_back(tensor_proto(name, t.dtype(), dims, host.data(), host.size()));
      }
      pb::Writer g = node(prefix + "Gemm", "Gemm", ins, out);
      g.message_field(5, attr_float("alpha", 1.0f));
      g.message_field(5, attr_float("beta", 1.0f));
      g.message_field(5, attr_int("transB", 1));
      graph.message_field(1, g);
    } else {
      switch (l.act()) {
        case Act::Identity: graph.message_field(1, node(prefix + "Identity", "Identity", {cur}, out)); break;
        case Act::Relu: graph.message_field(1, node(prefix + "Relu", "Relu", {cur}, out)); break;
        case Act::Sigmoid: graph.message_field(1, node(prefix + "Sigmoid", "Sigmoid", {cur}, out)); break;
        case Act::Tanh: graph.message_field(1, node(prefix + "Tanh", "Tanh", {cur}, out)); break;
        case Act::Softmax: {
          pb::Writer s = node(prefix + "Softmax", "Softmax", {cur}, out);
          s.message_field(5, attr_int("axis", -1));
          graph.message_field(1, s);
          break;
        }
        case Act::LeakyRelu: {
          if (dt == DType::F64) {
            // ONNX Runtime has no double LeakyRelu kernel: the same function
            // as Where(Greater(x, 0), x, Mul(x, 0.01)) (NaN gives NaN).
            const std::string zero = "layer" + idx + ".zero", slope = "layer" + idx + ".slope",
                              gt = "layer" + idx + ".greater", mul = "layer" + idx + ".scaled";
            const double z = 0.0, a = 0.01;
            inits.push_back(tensor_proto(zero, dt, {}, &z, sizeof z));
            inits.push_back(tensor_proto(slope, dt, {}, &a, sizeof a));
            graph.message_field(1, node(prefix + "Greater", "Greater", {cur, zero}, gt));
            graph.message_field(1, node(prefix + "Mul", "Mul", {cur, slope}, mul));
            graph.message_field(1, node(prefix + "Where", "Where", {gt, cur, mul}, out));
            break;
          }
          pb::Writer s = node(prefix + "LeakyRelu", "LeakyRelu", {cur}, out);
          s.message_field(5, attr_float("alpha", 0.01f));
          graph.message_field(1, s);
          break;
        }
        case Act::Step: {
          // STEP(x) = Cast(Greater(x, 0)): 1 where x > 0, else 0 (NaN gives 0).
          const std::string zero = "layer" + idx + ".zero", gt = "layer" + idx + ".greater";
          const double z64 = 0.0;
          const float z32 = 0.0f;
          inits.push_back(tensor_proto(zero, dt, {}, dt == DType::F64 ? static_cast<const void *>(&z64) : &z32,
                                       dt == DType::F64 ? sizeof z64 : sizeof z32));
          graph.message_field(1, node(prefix + "Greater", "Greater", {cur, zero}, gt));
          pb::Writer c = node(prefix + "Cast", "Cast", {gt}, out);
          c.message_field(5, attr_int("to", onnx_type(dt)));
          graph.message_field(1, c);
          break;
        }
      }
    }
    cur = out;
  }
  if (n == 0) graph.message_field(1, node("/Identity", "Identity", {cur}, "output"));
  graph.string_field(2, "libnn");
  for (const auto &t : inits) graph.message_field(5, t);
  graph.message_field(11, value_info("input", dt, in_features));
  graph.message_field(12, value_info("output", dt, out_features >= 0 ? out_features : in_features));

  pb::Writer opset, model;
  opset.string_field(1, "");
  opset.varint_field(2, kExportOpset);
  model.varint_field(1, kExportIrVersion);
  model.string_field(2, "libnn");
  model.message_field(7, graph);
  model.message_field(8, opset);
  return std::move(model.buf);
}

// ---------------------------------------------------------------------------
// Import
// ---------------------------------------------------------------------------

namespace {

// A name from the file, safe to print: printable ASCII, at most 80 bytes.
std::string printable(const std::string &s) {
  std::string r;
  for (size_t i = 0; i < s.size() && r.size() < 80; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      r += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      r += buf;
    }
  }
  if (r.size() >= 80 && s.size() > r.size()) r += "...";
  return r;
}

// A TensorProto as found in the file: its fields, the data borrowed.
struct TensorP {
  std::string name;
  std::vector<int64_t> dims;
  int64_t data_type = 0;
  pb::Span raw;
  bool has_raw = false;
  bool external = false;
  pb::Span msg;  // the whole message, re-read to decode typed fields
  // element counts of the typed repeated fields
  uint64_t n_float = 0, n_double = 0, n_i32 = 0, n_i64 = 0;
};

uint64_t count_varints(pb::Span s) {
  uint64_t n = 0;
  for (size_t i = 0; i < s.n; ++i) n += (s.p[i] & 0x80) == 0;
  return n;
}

TensorP parse_tensor(pb::Span s, const char *what) {
  TensorP t;
  t.msg = s;
  pb::Reader r(s, what, "TensorProto");
  uint32_t f, w;
  while (r.next(&f, &w)) {
    switch (f) {
      case 1:
        r.ints(f, w, t.dims);
        if (t.dims.size() > kMaxRank) r.bad("a tensor has more than %d dims", kMaxRank);
        break;
      case 2: t.data_type = r.i64(f, w); break;
      case 4:  // float_data
        if (w == pb::kFixed32) {
          r.fixed32();
          ++t.n_float;
        } else {
          pb::Span p = r.len(f, w);
          if (p.n % 4) r.bad("packed float_data of %zu bytes is not a multiple of 4", p.n);
          t.n_float += p.n / 4;
        }
        break;
      case 10:  // double_data
        if (w == pb::kFixed64) {
          r.fixed64();
          ++t.n_double;
        } else {
          pb::Span p = r.len(f, w);
          if (p.n % 8) r.bad("packed double_data of %zu bytes is not a multiple of 8", p.n);
          t.n_double += p.n / 8;
        }
        break;
      case 5:  // int32_data
      case 7:  // int64_data
      {
        uint64_t &cnt = f == 5 ? t.n_i32 : t.n_i64;
        if (w == pb::kVarint) {
          r.varint();
          ++cnt;
        } else {
          pb::Span p = r.len(f, w);
          if (p.n && (p.p[p.n - 1] & 0x80)) r.bad("packed field %u ends inside a varint", f);
          cnt += count_varints(p);
        }
        break;
      }
      case 8: t.name = r.len(f, w).str(); break;
      case 9:
        t.raw = r.len(f, w);
        t.has_raw = true;
        break;
      case 14: t.external = r.i64(f, w) == 1; break;  // data_location EXTERNAL
      default: r.skip(w);
    }
  }
  return t;
}

// A constant's values in memory: element type (an nn DType) and bytes.
struct Blob {
  DType dt = DType::F32;
  std::vector<int64_t> dims;
  const uint8_t *p = nullptr;
  size_t n = 0;
  std::vector<uint8_t> own;  // when decoded from typed fields or derived
  Blob() = default;
  Blob(const Blob &o) : dt(o.dt), dims(o.dims), p(o.p), n(o.n), own(o.own) {
    if (!own.empty()) p = own.data();  // a copy points at its own bytes
  }
  Blob(Blob &&) = default;  // the moved vector keeps its buffer
  Blob &operator=(const Blob &o) {
    if (this != &o) {
      Blob c(o);
      *this = std::move(c);
    }
    return *this;
  }
  Blob &operator=(Blob &&) = default;
  int64_t numel() const {
    int64_t k = 1;
    for (int64_t d : dims) k *= d;
    return k;
  }
};

// Decodes a TensorProto's data: raw_data, or the typed field of its type.
// Every element the dims declare must be present in the file.
Blob decode(const TensorP &t, const std::string &who, const char *what) {
  const std::string name = printable(t.name);
  if (t.external)
    fail(Errc::Unsupported, "%s: %s \"%s\" keeps its data in an external file; libnn reads self-contained models",
         what, who.c_str(), name.c_str());
  Blob b;
  size_t esize = 0;
  switch (t.data_type) {
    case kFloat: b.dt = DType::F32; esize = 4; break;
    case kDouble: b.dt = DType::F64; esize = 8; break;
    case kFloat16: b.dt = DType::F16; esize = 2; break;
    case kBFloat16: b.dt = DType::BF16; esize = 2; break;
    case kInt64: b.dt = DType::I64; esize = 8; break;
    case kInt32: b.dt = DType::I32; esize = 4; break;
    default:
      fail(Errc::Unsupported,
           "%s: %s \"%s\" has ONNX data type %lld; libnn reads float, double, float16, bfloat16, int32 and int64",
           what, who.c_str(), name.c_str(), static_cast<long long>(t.data_type));
  }
  uint64_t numel = 1;
  const uint64_t limit = uint64_t{1} << 50;
  for (int64_t d : t.dims) {
    if (d < 0) fail(Errc::Format, "%s: %s \"%s\" has a negative dimension %lld", what, who.c_str(), name.c_str(), static_cast<long long>(d));
    if (d != 0 && numel > limit / static_cast<uint64_t>(d))
      fail(Errc::Format, "%s: %s \"%s\" declares more elements than any file holds", what, who.c_str(), name.c_str());
    numel *= static_cast<uint64_t>(d);
  }
  b.dims = t.dims;
  if (t.has_raw) {
    if (t.raw.n != numel * esize)
      fail(Errc::Format, "%s: %s \"%s\" has %zu bytes of raw_data but its shape needs %llu", what, who.c_str(),
           name.c_str(), t.raw.n, static_cast<unsigned long long>(numel * esize));
    b.p = t.raw.p;
    b.n = t.raw.n;
    return b;
  }
  uint32_t field;
  uint64_t have;
  switch (t.data_type) {
    case kFloat: field = 4; have = t.n_float; break;
    case kDouble: field = 10; have = t.n_double; break;
    case kInt64: field = 7; have = t.n_i64; break;
    default: field = 5; have = t.n_i32; break;  // int32, float16, bfloat16
  }
  if (have != numel)
    fail(Errc::Format, "%s: %s \"%s\" holds %llu values but its shape needs %llu", what, who.c_str(), name.c_str(),
         static_cast<unsigned long long>(have), static_cast<unsigned long long>(numel));
  b.own.resize(static_cast<size_t>(numel * esize));  // numel values are in the file: bounded by its size
  uint8_t *out = b.own.data();
  size_t k = 0;
  pb::Reader r(t.msg, what, "TensorProto");
  auto put = [&](uint64_t v) {
    if (k >= numel) r.bad("more values than counted");  // cannot happen: counted in parse_tensor
    for (size_t i = 0; i < esize; ++i) out[k * esize + i] = static_cast<uint8_t>(v >> (8 * i));
    ++k;
  };
  uint32_t f, w;
  while (r.next(&f, &w)) {
    if (f != field) {
      r.skip(w);
      continue;
    }
    if (w == pb::kLen) {
      pb::Reader p(r.bytes(), what, "TensorProto");
      while (!p.done()) put(esize == 8 && field != 7 ? p.fixed64() : field == 4 ? p.fixed32() : p.varint());
    } else {
      put(w == pb::kFixed64 ? r.fixed64() : w == pb::kFixed32 ? r.fixed32() : r.varint());
    }
  }
  b.p = b.own.data();
  b.n = b.own.size();
  return b;
}

struct Attr {
  std::string name;
  int64_t type = 0;
  float f = 0;
  int64_t i = 0;
  bool has_t = false;
  pb::Span t;
  std::vector<int64_t> ints;
};

struct Node {
  std::string name, op, domain;
  std::vector<std::string> in, out;
  std::vector<Attr> attrs;
  const Attr *attr(const char *n) const {
    for (const auto &a : attrs)
      if (a.name == n) return &a;
    return nullptr;
  }
};

Node parse_node(pb::Span s, const char *what) {
  Node n;
  pb::Reader r(s, what, "NodeProto");
  uint32_t f, w;
  while (r.next(&f, &w)) {
    switch (f) {
      case 1: n.in.push_back(r.len(f, w).str()); break;
      case 2: n.out.push_back(r.len(f, w).str()); break;
      case 3: n.name = r.len(f, w).str(); break;
      case 4: n.op = r.len(f, w).str(); break;
      case 7: n.domain = r.len(f, w).str(); break;
      case 5: {
        Attr a;
        pb::Reader ar(r.len(f, w), what, "AttributeProto");
        uint32_t af, aw;
        while (ar.next(&af, &aw)) {
          switch (af) {
            case 1: a.name = ar.len(af, aw).str(); break;
            case 2: a.f = ar.f32(af, aw); break;
            case 3: a.i = ar.i64(af, aw); break;
            case 5:
              a.t = ar.len(af, aw);
              a.has_t = true;
              break;
            case 8: ar.ints(af, aw, a.ints); break;
            case 20: a.type = ar.i64(af, aw); break;
            default: ar.skip(aw);
          }
        }
        n.attrs.push_back(std::move(a));
        break;
      }
      default: r.skip(w);
    }
  }
  return n;
}

struct ValueInfo {
  std::string name;
  int64_t elem_type = 0;
  bool has_shape = false;
  std::vector<int64_t> dims;  // -1: symbolic or unknown
};

ValueInfo parse_value_info(pb::Span s, const char *what) {
  ValueInfo v;
  pb::Reader r(s, what, "ValueInfoProto");
  uint32_t f, w;
  while (r.next(&f, &w)) {
    if (f == 1) {
      v.name = r.len(f, w).str();
    } else if (f == 2) {
      pb::Reader tr(r.len(f, w), what, "TypeProto");
      while (tr.next(&f, &w)) {
        if (f != 1) {  // only tensor_type
          tr.skip(w);
          continue;
        }
        pb::Reader tt(tr.len(f, w), what, "TypeProto.Tensor");
        while (tt.next(&f, &w)) {
          if (f == 1) {
            v.elem_type = tt.i64(f, w);
          } else if (f == 2) {
            v.has_shape = true;
            v.dims.clear();
            pb::Reader sr(tt.len(f, w), what, "TensorShapeProto");
            while (sr.next(&f, &w)) {
              if (f != 1) {
                sr.skip(w);
                continue;
              }
              if (v.dims.size() >= kMaxRank) sr.bad("a shape has more than %d dims", kMaxRank);
              int64_t d = -1;
              pb::Reader dr(sr.len(f, w), what, "TensorShapeProto.Dimension");
              while (dr.next(&f, &w)) {
                if (f == 1)
                  d = dr.i64(f, w);
                else
                  dr.skip(w);
              }
              v.dims.push_back(d < 0 ? -1 : d);
            }
          } else {
            tt.skip(w);
          }
        }
      }
    } else {
      r.skip(w);
    }
  }
  return v;
}

// The value of a one-element constant (float16/bfloat16: only whether it is 0).
bool scalar_value(const Blob &b, double *v) {
  if (b.numel() != 1) return false;
  switch (b.dt) {
    case DType::F32: { float x; std::memcpy(&x, b.p, 4); *v = x; return true; }
    case DType::F64: std::memcpy(v, b.p, 8); return true;
    case DType::I64: { int64_t x; std::memcpy(&x, b.p, 8); *v = static_cast<double>(x); return true; }
    case DType::I32: { int32_t x; std::memcpy(&x, b.p, 4); *v = x; return true; }
    default: { uint16_t x; std::memcpy(&x, b.p, 2); *v = (x & 0x7fff) ? 1 : 0; return true; }
  }
}

// One layer to build.
struct Spec {
  LayerKind kind = LayerKind::Activation;
  Act act = Act::Identity;
  int64_t in = 0, out = 0;
  Blob w;                  // weight values, [out, in] (or [in, out] when w_transposed)
  bool w_transposed = false;
  bool bias = false;
  Blob b;                  // bias values, out elements (or 1, broadcast)
};

// Copies a blob's values into a CPU parameter in one pass (dtype
// converted), reading the blob with `strides` (elements) over the
// parameter's shape: transposed, broadcast or as it is.
void fill_param(const Tensor &dst, const Blob &b, const Shape &strides) {
  Tensor aligned;  // the blob's bytes, copied when not aligned for their dtype
  const void *p = b.p;
  if (reinterpret_cast<uintptr_t>(p) % dtype_size(b.dt) != 0) {
    aligned = from_host(b.dt, Shape{b.numel()}, b.p, Device{});
    p = aligned.data();
  }
  View src = dst.view();
  src.data = const_cast<void *>(p);
  src.dtype = b.dt;
  src.strides = strides;
  dst.kernels().copy(dst.view(), src);
}

class Importer {
 public:
  Importer(const char *what) : what_(what) {}
  std::unique_ptr<Model> run(const uint8_t *buf, size_t len, Device dev);

 private:
  [[noreturn]] void unsupported(size_t i, const Node &n, const char *why) const {
    fail(Errc::Unsupported, "%s: node %zu \"%s\" (op %s) is not supported: %s", what_, i, printable(n.name).c_str(),
         printable(n.op).c_str(), why);
  }
  const Blob *constant(const std::string &name);
  // Marks a constant as used by a layer or a fold: each may be used once,
  // so that a small file cannot make many large layers from one tensor.
  void consume(size_t i, const Node &n, const std::string &name);
  void chain_node(size_t i, const Node &n);
  bool leaky_where(size_t i, const Node &gt, const Node &mul, const Node &where);
  void add_linear(size_t i, const Node &n, const Blob &w, bool transposed);
  float attr_f(const Node &n, const char *name, float dflt) const;
  int64_t attr_i(const Node &n, const char *name, int64_t dflt) const;

  const char *what_;
  int64_t opset_ = 0;
  std::vector<TensorP> inits_;
  std::unordered_map<std::string, size_t> init_index_;
  std::unordered_map<std::string, Blob> consts_;  // decoded (initializers on first use, Constant nodes)
  std::unordered_map<std::string, size_t> consumed_;  // constant name -> the node that used it
  std::vector<Spec> specs_;
  std::string cur_;
  int rank_ = -1;            // rank of cur_ (-1 unknown)
  int64_t features_ = -1;    // last dim of cur_ (-1 unknown)
  bool bias_slot_ = false;   // cur_ is the output of a Linear without bias (an Add may give it one)
  bool pending_greater_ = false;
  size_t greater_node_ = 0;
  std::string greater_name_;
};

float Importer::attr_f(const Node &n, const char *name, float dflt) const {
  const Attr *a = n.attr(name);
  if (!a) return dflt;
  if (a->type != kAttrFloat && a->type != 0)
    fail(Errc::Format, "%s: node \"%s\" (op %s): attribute %s is not a float", what_, printable(n.name).c_str(),
         printable(n.op).c_str(), name);
  return a->f;
}

int64_t Importer::attr_i(const Node &n, const char *name, int64_t dflt) const {
  const Attr *a = n.attr(name);
  if (!a) return dflt;
  if (a->type != kAttrInt && a->type != 0)
    fail(Errc::Format, "%s: node \"%s\" (op %s): attribute %s is not an integer", what_, printable(n.name).c_str(),
         printable(n.op).c_str(), name);
  return a->i;
}

const Blob *Importer::constant(const std::string &name) {
  auto c = consts_.find(name);
  if (c != consts_.end()) return &c->second;
  auto it = init_index_.find(name);
  if (it == init_index_.end()) return nullptr;
  Blob b = decode(inits_[it->second], "initializer", what_);
  return &consts_.emplace(name, std::move(b)).first->second;
}

void Importer::consume(size_t i, const Node &n, const std::string &name) {
  auto it = consumed_.emplace(name, i);
  if (!it.second)
    unsupported(i, n, strprintf("its constant \"%s\" is also used by node %zu: libnn layers do not share parameters",
                                printable(name).c_str(), it.first->second)
                          .c_str());
}

void Importer::add_linear(size_t i, const Node &n, const Blob &w, bool transposed) {
  if (w.dims.size() != 2) unsupported(i, n, "the weight is not a 2-D constant");
  if (w.dt != DType::F32 && w.dt != DType::F64 && w.dt != DType::F16 && w.dt != DType::BF16)
    unsupported(i, n, "the weight is not floating point");
  Spec s;
  s.kind = LayerKind::Linear;
  s.out = transposed ? w.dims[1] : w.dims[0];
  s.in = transposed ? w.dims[0] : w.dims[1];
  if (s.in <= 0 || s.out <= 0) unsupported(i, n, "the weight has a zero dimension");
  if (features_ >= 0 && s.in != features_)
    fail(Errc::Format, "%s: node %zu \"%s\" (op %s) takes %lld input features but its input has %lld", what_, i,
         printable(n.name).c_str(), printable(n.op).c_str(), static_cast<long long>(s.in),
         static_cast<long long>(features_));
  s.w = w;
  s.w_transposed = transposed;
  specs_.push_back(std::move(s));
  features_ = specs_.back().out;
  bias_slot_ = true;
}

void Importer::chain_node(size_t i, const Node &n) {
  const std::string &op = n.op;
  if (n.out.empty() || n.out[0].empty()) fail(Errc::Format, "%s: node %zu \"%s\" (op %s) has no output", what_, i, printable(n.name).c_str(), printable(op).c_str());
  // The data input: the chain's current value. Add may take it second.
  size_t data_in = 0;
  if (op == "Add" && n.in.size() == 2 && n.in[1] == cur_) data_in = 1;
  if (n.in.empty() || n.in[data_in] != cur_)
    unsupported(i, n, ("it does not take the output of the previous layer (\"" + printable(cur_) +
                       "\"): libnn imports a single chain of layers").c_str());
  if (pending_greater_ && op != "Cast")
    fail(Errc::Unsupported, "%s: node %zu \"%s\" (op Greater) is not supported: it is not followed by Cast (libnn imports Greater only as Greater + Cast, its STEP activation)",
         what_, greater_node_, printable(greater_name_).c_str());
  const bool slot = bias_slot_;
  bias_slot_ = false;
  auto extra_inputs = [&](size_t max) {
    if (n.in.size() > max) unsupported(i, n, "it has more inputs than libnn understands");
  };
  auto act = [&](Act a) {
    extra_inputs(1);
    Spec s;
    s.act = a;
    specs_.push_back(std::move(s));
  };
  if (op == "Gemm") {
    extra_inputs(3);
    if (n.in.size() < 2) fail(Errc::Format, "%s: node %zu \"%s\" (op Gemm) has fewer than 2 inputs", what_, i, printable(n.name).c_str());
    const Blob *w = constant(n.in[1]);
    if (!w) unsupported(i, n, "its B input is not a constant (an initializer or Constant node)");
    consume(i, n, n.in[1]);
    if (attr_f(n, "alpha", 1.0f) != 1.0f) unsupported(i, n, "alpha is not 1");
    if (attr_i(n, "transA", 0) != 0) unsupported(i, n, "transA is not 0");
    const int64_t tb = attr_i(n, "transB", 0);
    if (tb != 0 && tb != 1) fail(Errc::Format, "%s: node %zu \"%s\" (op Gemm): transB is %lld", what_, i, printable(n.name).c_str(), static_cast<long long>(tb));
    if (rank_ >= 0 && rank_ != 2) unsupported(i, n, "its input is not 2-D");
    add_linear(i, n, *w, tb == 0);
    rank_ = 2;  // Gemm is 2-D
    if (n.in.size() == 3 && !n.in[2].empty()) {
      const Blob *c = constant(n.in[2]);
      if (!c) unsupported(i, n, "its C input is not a constant");
      consume(i, n, n.in[2]);
      if (attr_f(n, "beta", 1.0f) != 1.0f) unsupported(i, n, "beta is not 1");
      Spec &s = specs_.back();
      const int64_t k = c->numel();
      const bool vec = (c->dims.size() == 1 && (c->dims[0] == s.out || c->dims[0] == 1)) ||
                       (c->dims.size() == 2 && c->dims[0] == 1 && (c->dims[1] == s.out || c->dims[1] == 1)) ||
                       c->dims.empty();
      if (!vec || (k != s.out && k != 1)) unsupported(i, n, "C is not a bias vector of the output width");
      if (c->dt != DType::F32 && c->dt != DType::F64 && c->dt != DType::F16 && c->dt != DType::BF16)
        unsupported(i, n, "C is not floating point");
      s.bias = true;
      s.b = *c;
      bias_slot_ = false;
    }
  } else if (op == "MatMul") {
    extra_inputs(2);
    if (n.in.size() < 2) fail(Errc::Format, "%s: node %zu \"%s\" (op MatMul) has fewer than 2 inputs", what_, i, printable(n.name).c_str());
    const Blob *w = constant(n.in[1]);
    if (!w) unsupported(i, n, "its second input is not a constant (an initializer or Constant node)");
    consume(i, n, n.in[1]);
    if (rank_ == 1) unsupported(i, n, "its input is 1-D");
    add_linear(i, n, *w, true);
  } else if (op == "Add") {
    extra_inputs(2);
    if (n.in.size() < 2) fail(Errc::Format, "%s: node %zu \"%s\" (op Add) has fewer than 2 inputs", what_, i, printable(n.name).c_str());
    if (!slot) unsupported(i, n, "it does not add a bias to the output of a MatMul or Gemm without one");
    const Blob *c = constant(n.in[1 - data_in]);
    if (!c) unsupported(i, n, "its other input is not a constant");
    consume(i, n, n.in[1 - data_in]);
    Spec &s = specs_.back();
    if (c->dims.size() != 1 || c->dims[0] != s.out) unsupported(i, n, "the added constant is not a vector of the output width");
    if (c->dt != DType::F32 && c->dt != DType::F64 && c->dt != DType::F16 && c->dt != DType::BF16)
      unsupported(i, n, "the added constant is not floating point");
    s.bias = true;
    s.b = *c;
  } else if (op == "Relu") {
    act(Act::Relu);
  } else if (op == "Sigmoid") {
    act(Act::Sigmoid);
  } else if (op == "Tanh") {
    act(Act::Tanh);
  } else if (op == "LeakyRelu") {
    const float alpha = attr_f(n, "alpha", 0.01f);
    if (std::fabs(alpha - 0.01f) > 1e-6f) unsupported(i, n, "alpha is not 0.01 (libnn's leaky ReLU slope)");
    act(Act::LeakyRelu);
  } else if (op == "Softmax") {
    const int64_t axis = attr_i(n, "axis", opset_ >= 13 ? -1 : 1);
    if (!(axis == -1 || (rank_ > 0 && axis == rank_ - 1)))
      unsupported(i, n, "its axis is not the last one");
    act(Act::Softmax);
  } else if (op == "Greater") {
    extra_inputs(2);
    const Blob *z = n.in.size() == 2 ? constant(n.in[1]) : nullptr;
    double v = 1;
    if (!z || !scalar_value(*z, &v) || v != 0) unsupported(i, n, "it does not compare with the constant 0 (libnn's STEP is Greater(x, 0) + Cast)");
    pending_greater_ = true;
    greater_node_ = i;
    greater_name_ = n.name;
  } else if (op == "Cast") {
    extra_inputs(1);
    if (!pending_greater_) unsupported(i, n, "libnn imports Cast only after Greater (its STEP activation)");
    const int64_t to = attr_i(n, "to", 0);
    if (to != kFloat && to != kDouble && to != kFloat16 && to != kBFloat16)
      unsupported(i, n, "it does not cast to a floating type");
    pending_greater_ = false;
    Spec s;
    s.act = Act::Step;
    specs_.push_back(std::move(s));
  } else if (op == "Flatten") {
    extra_inputs(1);
    const int64_t axis = attr_i(n, "axis", 1);
    if (rank_ != 2 || (axis != 1 && axis != -1)) unsupported(i, n, "it is not a no-op (libnn imports Flatten only on a 2-D input with axis 1)");
  } else if (op == "Identity") {
    act(Act::Identity);  // an IDENTITY layer: libnn's own exports keep their layer indices
  } else {
    unsupported(i, n, kSupported);
  }
  cur_ = n.out[0];
}

// Where(Greater(x, 0), x, Mul(x, 0.01)): leaky ReLU as libnn exports it for
// double models (ONNX Runtime has no double LeakyRelu).
bool Importer::leaky_where(size_t i, const Node &gt, const Node &mul, const Node &where) {
  (void)i;
  if (pending_greater_ || gt.in.size() != 2 || gt.in[0] != cur_ || gt.out.size() != 1) return false;
  if (mul.op != "Mul" || !(mul.domain.empty() || mul.domain == "ai.onnx") || mul.in.size() != 2 || mul.out.size() != 1)
    return false;
  if (where.op != "Where" || !(where.domain.empty() || where.domain == "ai.onnx") || where.out.empty() ||
      where.out[0].empty() || where.in != std::vector<std::string>{gt.out[0], cur_, mul.out[0]})
    return false;
  const bool first = mul.in[0] == cur_;
  if (!first && mul.in[1] != cur_) return false;
  const Blob *z = constant(gt.in[1]);
  const Blob *a = constant(mul.in[first ? 1 : 0]);
  double zv = 1, av = 0;
  if (!z || !a || !scalar_value(*z, &zv) || zv != 0 || !scalar_value(*a, &av) || std::fabs(av - 0.01) > 1e-6)
    return false;
  bias_slot_ = false;
  Spec s;
  s.act = Act::LeakyRelu;
  specs_.push_back(std::move(s));
  cur_ = where.out[0];
  return true;
}

std::unique_ptr<Model> Importer::run(const uint8_t *buf, size_t len, Device dev) {
  // ModelProto
  pb::Span graph;
  bool has_graph = false;
  bool has_opset = false;
  {
    pb::Reader r(buf, len, what_, "ModelProto");
    uint32_t f, w;
    while (r.next(&f, &w)) {
      if (f == 7) {
        graph = r.len(f, w);
        has_graph = true;
      } else if (f == 8) {
        pb::Reader o(r.len(f, w), what_, "OperatorSetIdProto");
        std::string domain;
        int64_t version = 0;
        while (o.next(&f, &w)) {
          if (f == 1)
            domain = o.len(f, w).str();
          else if (f == 2)
            version = o.i64(f, w);
          else
            o.skip(w);
        }
        if (domain.empty() || domain == "ai.onnx") {
          opset_ = version;
          has_opset = true;
        }
      } else if (f == 25) {
        r.len(f, w);
        fail(Errc::Unsupported, "%s: the model defines local functions; libnn imports plain graphs", what_);
      } else {
        r.skip(w);
      }
    }
  }
  if (!has_graph) fail(Errc::Format, "%s: not an ONNX model: ModelProto has no graph", what_);

  // GraphProto: nodes are kept as spans and parsed one at a time.
  std::vector<pb::Span> nodes;
  std::vector<ValueInfo> inputs, outputs;
  {
    pb::Reader r(graph, what_, "GraphProto");
    uint32_t f, w;
    while (r.next(&f, &w)) {
      switch (f) {
        case 1:
          nodes.push_back(r.len(f, w));
          parse_node(nodes.back(), what_);  // checks the encoding now; parsed again when used
          break;
        case 5: {
          TensorP t = parse_tensor(r.len(f, w), what_);
          if (!init_index_.emplace(t.name, inits_.size()).second)
            fail(Errc::Format, "%s: two initializers are named \"%s\"", what_, printable(t.name).c_str());
          inits_.push_back(std::move(t));
          break;
        }
        case 11: inputs.push_back(parse_value_info(r.len(f, w), what_)); break;
        case 12: outputs.push_back(parse_value_info(r.len(f, w), what_)); break;
        case 15:
          r.len(f, w);
          fail(Errc::Unsupported, "%s: the graph has sparse initializers; libnn imports dense ones", what_);
        default: r.skip(w);
      }
    }
  }
  if (!has_opset) fail(Errc::Format, "%s: the model imports no version of the default ONNX operator set", what_);
  if (opset_ < 7)
    fail(Errc::Unsupported, "%s: the model uses ONNX opset %lld; libnn imports opset 7 or later", what_,
         static_cast<long long>(opset_));

  // The one real input (older exporters list initializers as inputs too).
  const ValueInfo *input = nullptr;
  size_t real_inputs = 0;
  for (const auto &v : inputs) {
    if (init_index_.count(v.name)) continue;
    ++real_inputs;
    if (!input) input = &v;
  }
  if (real_inputs == 0) fail(Errc::Format, "%s: the graph has no input", what_);
  if (real_inputs > 1)
    fail(Errc::Unsupported, "%s: the graph has %zu inputs; libnn models take one", what_, real_inputs);
  if (outputs.size() != 1)
    fail(outputs.empty() ? Errc::Format : Errc::Unsupported, "%s: the graph has %zu outputs; libnn models give one",
         what_, outputs.size());
  DType model_dt = DType::F32;
  bool dt_known = true;
  switch (input->elem_type) {
    case kFloat: break;
    case kDouble: model_dt = DType::F64; break;
    case 0: dt_known = false; break;
    default:
      fail(Errc::Unsupported, "%s: graph input \"%s\" has ONNX element type %lld; libnn models take float or double",
           what_, printable(input->name).c_str(), static_cast<long long>(input->elem_type));
  }
  cur_ = input->name;
  if (input->has_shape) {
    rank_ = static_cast<int>(input->dims.size());
    if (rank_ == 0) fail(Errc::Unsupported, "%s: graph input \"%s\" is a scalar; libnn models take rows", what_, printable(input->name).c_str());
    features_ = input->dims.back();
  }

  for (size_t i = 0; i < nodes.size(); ++i) {
    Node n = parse_node(nodes[i], what_);
    if (!n.domain.empty() && n.domain != "ai.onnx")
      unsupported(i, n, ("its domain \"" + printable(n.domain) + "\" is not the default ONNX domain").c_str());
    if (n.op == "Constant") {
      const Attr *v = n.attr("value");
      if (!v || !v->has_t || n.attrs.size() != 1 || n.out.size() != 1)
        unsupported(i, n, "libnn reads Constant nodes with a single tensor \"value\"");
      TensorP t = parse_tensor(v->t, what_);
      t.name = n.out[0];
      init_index_[t.name] = inits_.size();  // a later definition of a name replaces an earlier one
      consts_.erase(t.name);
      inits_.push_back(std::move(t));
      continue;
    }
    // Constant folding of what exporters put between an initializer and its use.
    if ((n.op == "Transpose" || n.op == "Identity") && n.in.size() == 1 && n.out.size() == 1 && n.in[0] != cur_) {
      const Blob *c = constant(n.in[0]);
      if (c) {
        consume(i, n, n.in[0]);
        Blob b = *c;
        if (n.op == "Transpose") {
          const Attr *perm = n.attr("perm");
          if (c->dims.size() != 2 || (perm && perm->ints != std::vector<int64_t>{1, 0}))
            unsupported(i, n, "libnn folds Transpose only of a 2-D constant");
          const size_t es = dtype_size(c->dt), rows = static_cast<size_t>(c->dims[0]), cols = static_cast<size_t>(c->dims[1]);
          b.own.resize(c->n);
          for (size_t r = 0; r < rows; ++r)
            for (size_t k = 0; k < cols; ++k) std::memcpy(&b.own[(k * rows + r) * es], c->p + (r * cols + k) * es, es);
          b.p = b.own.data();
          b.dims = {c->dims[1], c->dims[0]};
        } else if (!b.own.empty()) {
          b.p = b.own.data();
        }
        consts_[n.out[0]] = std::move(b);
        continue;
      }
    }
    if (n.op == "Greater" && i + 2 < nodes.size() && leaky_where(i, n, parse_node(nodes[i + 1], what_),
                                                              parse_node(nodes[i + 2], what_))) {
      i += 2;
      continue;
    }
    chain_node(i, n);
  }
  if (pending_greater_)
    fail(Errc::Unsupported, "%s: node %zu \"%s\" (op Greater) is not supported: it is not followed by Cast (libnn imports Greater only as Greater + Cast, its STEP activation)",
         what_, greater_node_, printable(greater_name_).c_str());
  if (outputs[0].name != cur_)
    fail(Errc::Unsupported, "%s: the graph output \"%s\" is not the end of the chain of layers (\"%s\")", what_,
         printable(outputs[0].name).c_str(), printable(cur_).c_str());

  if (!dt_known)
    for (const auto &s : specs_)
      if (s.kind == LayerKind::Linear) {
        model_dt = s.w.dt == DType::F64 ? DType::F64 : DType::F32;
        break;
      }
  auto model = std::make_unique<Model>();
  if (model_dt != DType::F32) model->to_dtype(model_dt);
  for (const Spec &s : specs_) {
    if (s.kind == LayerKind::Activation) {
      model->add(Layer::activation(s.act), what_);
      continue;
    }
    // Parameters uninitialised in the model's dtype, then filled in one
    // pass each (transposed or broadcast on the way).
    Layer &l = model->add(Layer::linear_uninit(s.in, s.out, s.bias, model_dt, Device{}), what_);
    fill_param(l.weight(), s.w, s.w_transposed ? Shape{1, s.out} : Shape{s.in, 1});
    if (s.bias) fill_param(l.bias(), s.b, s.b.numel() != s.out ? Shape{0} : Shape{1});  // one value: broadcast
  }
  if (dev != Device{}) model->to(dev);
  return model;
}

}  // namespace

std::unique_ptr<Model> import_model(const uint8_t *buf, size_t len, Device dev, const char *what) {
  Importer imp(what);
  return imp.run(buf, len, dev);
}

}  // namespace onnx
}  // namespace nn
