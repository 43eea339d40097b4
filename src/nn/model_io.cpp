#include "nn/model_io.hpp"

#include <algorithm>
#include <map>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "io/json.hpp"
#include "io/safetensors.hpp"

namespace nn {

namespace {

const char *const kArchKey = "nn.architecture";
const char *const kOptimizerPrefix = "optimizer.";
const char *const kActNames[] = {"identity", "relu", "sigmoid", "tanh", "step", "softmax", "leaky_relu"};
constexpr int kNumActs = 7;

// Floating parameter dtypes a model file may hold.
bool param_dtype(const std::string &s, DType *dt) {
  for (DType d : {DType::F32, DType::F64, DType::F16, DType::BF16}) {
    if (s == st_dtype(d)) {
      *dt = d;
      return true;
    }
  }
  return false;
}

// One layer of the architecture as the file describes it.
struct LayerSpec {
  LayerKind kind;
  Act act = Act::Identity;
  int64_t in = 0, out = 0;
  bool bias = false;
};

std::vector<LayerSpec> parse_architecture(const std::string &text, const char *what) {
  json::Value arch = json::parse(text.data(), text.size(), what);
  if (arch.type != json::Value::Array) fail(Errc::Format, "%s: nn.architecture is not a JSON array", what);
  std::vector<LayerSpec> specs;
  for (size_t i = 0; i < arch.items.size(); ++i) {
    const json::Value &l = arch.items[i];
    const json::Value *type = l.type == json::Value::Object ? l.find("type") : nullptr;
    if (!type || type->type != json::Value::String)
      fail(Errc::Format, "%s: nn.architecture layer %zu is not an object with a string \"type\"", what, i);
    LayerSpec s;
    if (type->text == "linear") {
      s.kind = LayerKind::Linear;
      const json::Value *in = l.find("in"), *out = l.find("out"), *bias = l.find("bias");
      uint64_t vin = 0, vout = 0;
      if (!in || !in->as_uint(static_cast<uint64_t>(INT64_MAX), &vin) || vin == 0 || !out ||
          !out->as_uint(static_cast<uint64_t>(INT64_MAX), &vout) || vout == 0)
        fail(Errc::Format, "%s: nn.architecture layer %zu (linear) needs positive integers \"in\" and \"out\"", what, i);
      if (bias && bias->type != json::Value::Bool)
        fail(Errc::Format, "%s: nn.architecture layer %zu (linear) has a \"bias\" that is not true/false", what, i);
      s.in = static_cast<int64_t>(vin);
      s.out = static_cast<int64_t>(vout);
      s.bias = bias ? bias->boolean : true;
    } else if (type->text == "activation") {
      s.kind = LayerKind::Activation;
      const json::Value *act = l.find("act");
      int k = kNumActs;
      if (act && act->type == json::Value::String)
        for (k = 0; k < kNumActs && act->text != kActNames[k]; ++k) {
        }
      if (k == kNumActs)
        fail(Errc::Format, "%s: nn.architecture layer %zu (activation) has no known \"act\" (identity, relu, sigmoid, tanh, step, softmax, leaky_relu)",
             what, i);
      s.act = static_cast<Act>(k);
    } else {
      fail(Errc::Format, "%s: nn.architecture layer %zu has unknown type \"%s\"", what, i, type->text.c_str());
    }
    specs.push_back(s);
  }
  return specs;
}

// Tensors by name (names are unique: the JSON parser rejects duplicates), so
// matching a file of L layers against its architecture takes O(L), not O(L^2).
using EntryIndex = std::unordered_map<std::string, const safetensors::Entry *>;

EntryIndex index_entries(const safetensors::File &f) {
  EntryIndex idx;
  idx.reserve(f.tensors.size());
  for (const auto &e : f.tensors) idx.emplace(e.name, &e);
  return idx;
}

const safetensors::Entry *find_entry(const EntryIndex &idx, const std::string &name) {
  auto it = idx.find(name);
  return it == idx.end() ? nullptr : it->second;
}

std::string shape_str(const std::vector<int64_t> &s) { return Shape::of(static_cast<int>(s.size()), s.data()).str(); }

bool is_optimizer_tensor(const std::string &name) { return name.compare(0, 10, kOptimizerPrefix) == 0; }

}  // namespace

const char *const kOptimizerKey = "nn.optimizer";

const char *st_dtype(DType dt) {
  switch (dt) {
    case DType::F32: return "F32";
    case DType::F64: return "F64";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::U8: return "U8";
    case DType::I16: return "I16";
    case DType::I32: return "I32";
    case DType::I64: return "I64";
  }
  return "?";
}

bool st_to_dtype(const std::string &s, DType *dt) {
  for (DType d : {DType::F32, DType::F64, DType::F16, DType::BF16, DType::U8, DType::I16, DType::I32, DType::I64}) {
    if (s == st_dtype(d)) {
      *dt = d;
      return true;
    }
  }
  return false;
}

std::string param_name(int layer, bool bias) { return std::to_string(layer) + (bias ? ".bias" : ".weight"); }

bool is_reserved_key(const std::string &key) { return key.compare(0, 3, "nn.") == 0; }

void check_metadata_entry(const std::string &key, const std::string &value, Errc code, const char *what) {
  if (key.empty()) fail(code, "%s: a metadata key is empty", what);
  std::string shown = json::valid_utf8(key.data(), key.size()) ? key.substr(0, 64) : std::string("(not UTF-8)");
  if (key.size() > kMetaMaxKeyBytes)
    fail(code, "%s: metadata key \"%s...\" is %zu bytes; at most %zu", what, shown.c_str(), key.size(),
         kMetaMaxKeyBytes);
  if (!json::valid_utf8(key.data(), key.size()) || key.find('\0') != std::string::npos)
    fail(code, "%s: a metadata key is not valid UTF-8 without NUL bytes", what);
  if (is_reserved_key(key))
    fail(code, "%s: metadata key \"%s\" is reserved (keys starting with \"nn.\" are the library's)", what,
         key.c_str());
  if (value.size() > kMetaMaxValueBytes)
    fail(code, "%s: the value of metadata key \"%s\" is %zu bytes; at most %zu", what, key.c_str(), value.size(),
         kMetaMaxValueBytes);
  if (!json::valid_utf8(value.data(), value.size()) || value.find('\0') != std::string::npos)
    fail(code, "%s: the value of metadata key \"%s\" is not valid UTF-8 without NUL bytes", what, key.c_str());
}

safetensors::File parse_file(const uint8_t *buf, size_t len, const char *what) {
  try {
    return safetensors::parse(buf, len);
  } catch (const Error &e) {
    fail(e.code(), "%s: %s", what, e.what());
  }
}

std::vector<uint8_t> save_model(const Model &m, const std::vector<safetensors::Out> &extra,
                                const std::vector<std::pair<std::string, std::string>> &extra_meta) {
  std::string arch = "[";
  std::vector<std::vector<uint8_t>> host;  // parameters copied to the host
  std::vector<safetensors::Out> outs;
  host.reserve(static_cast<size_t>(2 * m.num_layers()));
  for (int i = 0; i < m.num_layers(); ++i) {
    const Layer &l = m.layer(i);
    if (i) arch += ",";
    if (l.kind() == LayerKind::Linear) {
      arch += "{\"type\":\"linear\",\"in\":" + std::to_string(l.in_features()) +
              ",\"out\":" + std::to_string(l.out_features()) + ",\"bias\":" + (l.has_bias() ? "true" : "false") + "}";
      const Tensor *params[2] = {&l.weight(), l.has_bias() ? &l.bias() : nullptr};
      const char *suffix[2] = {".weight", ".bias"};
      for (int p = 0; p < 2; ++p) {
        if (!params[p]) continue;
        const Tensor &t = *params[p];
        host.emplace_back(t.nbytes());
        to_host(t, host.back().data());
        std::vector<int64_t> shape(t.shape().d, t.shape().d + t.ndim());
        outs.push_back({std::to_string(i) + suffix[p], st_dtype(t.dtype()), shape, host.back().data(), t.nbytes()});
      }
    } else {
      arch += std::string("{\"type\":\"activation\",\"act\":\"") + kActNames[static_cast<int>(l.act())] + "\"}";
    }
  }
  arch += "]";
  std::vector<std::pair<std::string, std::string>> meta{{kArchKey, arch}};
  for (const auto &kv : m.metadata()) meta.push_back(kv);
  for (const auto &kv : extra_meta) meta.push_back(kv);
  for (const auto &t : extra) outs.push_back(t);
  return safetensors::serialize(outs, meta);
}

safetensors::File read_file_header(const InputFile &in, const char *what) {
  try {
    return safetensors::read_header(in);
  } catch (const Error &e) {
    if (e.code() != Errc::Format) throw;  // Errc::IO names the file already
    fail(e.code(), "%s: %s", what, e.what());
  }
}

namespace {
constexpr size_t kStepBytes = size_t{1} << 18;  // fill_tensor's conversion step
}  // namespace

void FillStage::reserve() {
  in.resize(kStepBytes);
  conv.resize(kStepBytes);
}

void fill_tensor(const Tensor &dst, DType src_dt, const safetensors::File &f, uint64_t begin, FillStage &stage) {
  const int64_t n = dst.numel();
  if (n == 0) return;
  const DType dt = dst.dtype();
  const bool host = dst.device() == Device{};
  char *out = static_cast<char *>(dst.data());
  if (dt == src_dt && (host || f.data)) {  // one memcpy, read or device copy, straight into the tensor
    if (host)
      f.read(begin, out, dst.nbytes());
    else
      dst.kernels().copy_from_host(out, f.data + begin, dst.nbytes());
    return;
  }
  // Converted on the host by the CPU kernels: in one pass when the bytes
  // are in memory (aligned for their dtype) and go to the CPU, else in
  // steps of kStepBytes through a buffer (read from the file or copied to
  // alignment; converted; copied to the device).
  const size_t ss = dtype_size(src_dt), ds = dtype_size(dt);
  const bool staged = !f.data || reinterpret_cast<uintptr_t>(f.data + begin) % ss != 0;
  const int64_t step = host && !staged ? n : std::max<int64_t>(1, static_cast<int64_t>(kStepBytes / std::max(ss, ds)));
  // step * ss and step * ds are at most kStepBytes when staged or not on the
  // host: buffers sized by FillStage::reserve() never grow.
  std::vector<uint8_t> &in_buf = stage.in, &conv_buf = stage.conv;
  if (staged && in_buf.size() < static_cast<size_t>(step) * ss) in_buf.resize(static_cast<size_t>(step) * ss);
  if (!host && dt != src_dt && conv_buf.size() < static_cast<size_t>(step) * ds)
    conv_buf.resize(static_cast<size_t>(step) * ds);
  TensorKernels &cpu = kernels_for(Device{});
  auto vec = [](const void *p, DType t, int64_t k) { return matrix_view(const_cast<void *>(p), t, 1, k); };
  for (int64_t i = 0; i < n; i += step) {
    const int64_t k = std::min(step, n - i);
    const void *src = staged ? in_buf.data() : f.data + begin + static_cast<uint64_t>(i) * ss;
    if (staged) f.read(begin + static_cast<uint64_t>(i) * ss, in_buf.data(), static_cast<size_t>(k) * ss);
    if (host) {
      cpu.copy(vec(out + i * static_cast<int64_t>(ds), dt, k), vec(src, src_dt, k));
      continue;
    }
    if (dt != src_dt) {
      cpu.copy(vec(conv_buf.data(), dt, k), vec(src, src_dt, k));
      src = conv_buf.data();
    }
    dst.kernels().copy_from_host(out + i * static_cast<int64_t>(ds), src, static_cast<size_t>(k) * ds);
  }
}

std::unique_ptr<Model> load_model(const uint8_t *buf, size_t len, Device dev, const char *what) {
  safetensors::File f = parse_file(buf, len, what);
  return load_model(f, dev, what);
}

std::unique_ptr<Model> load_model(const safetensors::File &f, Device dev, const char *what) {
  // User metadata: checked like nn_model_set_metadata's arguments; other
  // "nn." keys (a checkpoint's optimizer settings, a later version's) are
  // not the user's and are left alone here.
  std::map<std::string, std::string> user_meta;
  for (const auto &kv : f.metadata) {
    if (is_reserved_key(kv.first)) continue;
    check_metadata_entry(kv.first, kv.second, Errc::Format, what);
    user_meta[kv.first] = kv.second;
  }
  if (user_meta.size() > kMetaMaxEntries)
    fail(Errc::Format, "%s: __metadata__ has %zu user entries; at most %zu", what, user_meta.size(), kMetaMaxEntries);
  // A checkpoint's optimizer tensors (checked by nn/checkpoint) are not the model's.
  const bool checkpoint = f.meta(kOptimizerKey) != nullptr;
  size_t optimizer_tensors = 0;
  if (checkpoint)
    for (const auto &e : f.tensors) optimizer_tensors += is_optimizer_tensor(e.name) ? 1 : 0;
  const std::string *arch = f.meta(kArchKey);
  if (!arch) fail(Errc::Format, "%s: __metadata__ has no \"%s\" entry describing the layers", what, kArchKey);
  std::vector<LayerSpec> specs = parse_architecture(*arch, what);

  // Check names, dtypes and shapes against the architecture before allocating.
  const EntryIndex entries = index_entries(f);
  std::unordered_set<std::string> wanted;  // the names the architecture asks for
  size_t expected = 0;
  DType model_dt = DType::F32;
  bool first = true;
  int64_t prev_out = -1;
  for (size_t i = 0; i < specs.size(); ++i) {
    const LayerSpec &s = specs[i];
    if (s.kind != LayerKind::Linear) continue;
    if (prev_out >= 0 && s.in != prev_out)
      fail(Errc::Format, "%s: nn.architecture layer %zu takes %lld inputs but the previous linear layer gives %lld",
           what, i, static_cast<long long>(s.in), static_cast<long long>(prev_out));
    prev_out = s.out;
    for (int p = 0; p < (s.bias ? 2 : 1); ++p) {
      std::string name = std::to_string(i) + (p == 0 ? ".weight" : ".bias");
      const safetensors::Entry *e = find_entry(entries, name);
      if (!e) fail(Errc::Format, "%s: tensor \"%s\" required by nn.architecture is missing", what, name.c_str());
      DType dt = DType::F32;
      if (!param_dtype(e->dtype, &dt))
        fail(Errc::Format, "%s: tensor \"%s\" has dtype %s; parameters must be F32, F64, F16 or BF16", what,
             name.c_str(), e->dtype.c_str());
      if (first) model_dt = dt == DType::F64 ? DType::F64 : DType::F32;
      first = false;
      std::vector<int64_t> want = p == 0 ? std::vector<int64_t>{s.out, s.in} : std::vector<int64_t>{s.out};
      if (e->shape != want)
        fail(Errc::Format, "%s: tensor \"%s\" has shape %s but nn.architecture needs %s", what, name.c_str(),
             shape_str(e->shape).c_str(), shape_str(want).c_str());
      ++expected;
      wanted.insert(name);
    }
  }
  if (f.tensors.size() != expected + optimizer_tensors) {
    for (const auto &e : f.tensors) {
      if (checkpoint && is_optimizer_tensor(e.name)) continue;
      if (!wanted.count(e.name))  // one hash lookup per tensor (linear time)
        fail(Errc::Format, "%s: tensor \"%s\" does not belong to any layer of nn.architecture%s", what,
             e.name.c_str(),
             is_optimizer_tensor(e.name) ? " (optimizer state, but __metadata__ has no \"nn.optimizer\")" : "");
    }
  }

  // Parameters allocated on dev in the model's dtype, uninitialised, then
  // filled once from the file's bytes.
  auto model = std::make_unique<Model>();
  if (dev != Device{}) model->to(dev);
  if (model_dt != DType::F32) model->to_dtype(model_dt);
  model->metadata() = std::move(user_meta);
  FillStage stage;
  for (size_t i = 0; i < specs.size(); ++i) {
    const LayerSpec &s = specs[i];
    if (s.kind == LayerKind::Activation) {
      model->add(Layer::activation(s.act), what);
      continue;
    }
    Layer &l = model->add(Layer::linear_uninit(s.in, s.out, s.bias, model_dt, dev), what);
    for (int p = 0; p < (s.bias ? 2 : 1); ++p) {
      const safetensors::Entry *e = find_entry(entries, std::to_string(i) + (p == 0 ? ".weight" : ".bias"));
      DType dt = DType::F32;
      param_dtype(e->dtype, &dt);  // checked above
      fill_tensor(p == 0 ? l.weight() : l.bias(), dt, f, e->begin, stage);
    }
  }
  return model;
}

}  // namespace nn
