#include "io/safetensors.hpp"

#include <algorithm>
#include <cstring>

#include "core/error.hpp"
#include "io/json.hpp"

namespace nn {
namespace safetensors {

static const char *const kWhat = "safetensors";

const std::string *File::meta(const std::string &key) const {
  for (const auto &m : metadata)
    if (m.first == key) return &m.second;
  return nullptr;
}

size_t dtype_bytes(const std::string &d) {
  static const struct {
    const char *name;
    size_t bytes;
  } table[] = {{"BOOL", 1}, {"U8", 1},   {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"I16", 2},
               {"U16", 2},  {"F16", 2},  {"BF16", 2}, {"I32", 4},     {"U32", 4},     {"F32", 4},
               {"I64", 8},  {"U64", 8},  {"F64", 8}};
  for (const auto &t : table)
    if (d == t.name) return t.bytes;
  return 0;
}

uint64_t check_prefix(const uint8_t *buf, uint64_t len) {
  if (len < 8)
    fail(Errc::Format, "%s: the data is %llu bytes, shorter than the 8-byte header length", kWhat,
         static_cast<unsigned long long>(len));
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | buf[i];
  if (n > kMaxHeaderBytes)
    fail(Errc::Format, "%s: header length %llu exceeds the limit of %llu bytes", kWhat,
         static_cast<unsigned long long>(n), static_cast<unsigned long long>(kMaxHeaderBytes));
  if (n > len - 8)
    fail(Errc::Format, "%s: header length %llu runs past the end of the data (%llu bytes)", kWhat,
         static_cast<unsigned long long>(n), static_cast<unsigned long long>(len));
  return n;
}

void File::read(uint64_t begin, void *dst, size_t n) const {
  if (n == 0) return;
  if (data)
    std::memcpy(dst, data + begin, n);
  else
    file->read_at(data_offset + begin, dst, n);
}

namespace {

// The header's n bytes at `text` of a file of `total` bytes (n checked by
// check_prefix), validated against a data section of total - 8 - n bytes.
File parse_header(const char *text, uint64_t n, uint64_t total) {
  if (n == 0 || text[0] != '{') fail(Errc::Format, "%s: the header does not start with '{'", kWhat);
  size_t hlen = static_cast<size_t>(n);
  while (hlen > 0 && text[hlen - 1] == ' ') --hlen;  // trailing padding
  json::Value root = json::parse(text, hlen, kWhat);
  if (root.type != json::Value::Object) fail(Errc::Format, "%s: the header is not a JSON object", kWhat);

  File f;
  f.data_offset = 8 + n;
  f.data_bytes = total - 8 - n;
  for (const auto &m : root.members) {
    const std::string &name = m.first;
    const json::Value &v = m.second;
    if (name == "__metadata__") {
      if (v.type != json::Value::Object) fail(Errc::Format, "%s: __metadata__ is not an object", kWhat);
      for (const auto &kv : v.members) {
        if (kv.second.type != json::Value::String)
          fail(Errc::Format, "%s: __metadata__ value \"%s\" is not a string", kWhat, kv.first.c_str());
        f.metadata.emplace_back(kv.first, kv.second.text);
      }
      continue;
    }
    if (v.type != json::Value::Object) fail(Errc::Format, "%s: entry \"%s\" is not an object", kWhat, name.c_str());
    const json::Value *dt = v.find("dtype"), *shape = v.find("shape"), *off = v.find("data_offsets");
    if (!dt || dt->type != json::Value::String)
      fail(Errc::Format, "%s: tensor \"%s\" has no string dtype", kWhat, name.c_str());
    if (!shape || shape->type != json::Value::Array)
      fail(Errc::Format, "%s: tensor \"%s\" has no shape array", kWhat, name.c_str());
    if (!off || off->type != json::Value::Array || off->items.size() != 2)
      fail(Errc::Format, "%s: tensor \"%s\" needs data_offsets [BEGIN, END]", kWhat, name.c_str());
    if (v.members.size() != 3)
      fail(Errc::Format, "%s: tensor \"%s\" has keys other than dtype, shape, data_offsets", kWhat, name.c_str());
    Entry e;
    e.name = name;
    e.dtype = dt->text;
    size_t esize = dtype_bytes(e.dtype);
    if (esize == 0) fail(Errc::Format, "%s: tensor \"%s\" has unknown dtype \"%s\"", kWhat, name.c_str(), e.dtype.c_str());
    if (shape->items.size() > 8)
      fail(Errc::Format, "%s: tensor \"%s\" has %zu dimensions (at most 8)", kWhat, name.c_str(), shape->items.size());
    uint64_t numel = 1;
    bool overflow = false;
    for (const auto &d : shape->items) {
      uint64_t x;
      if (!d.as_uint(static_cast<uint64_t>(INT64_MAX), &x))
        fail(Errc::Format, "%s: tensor \"%s\" has a shape entry that is not a non-negative integer", kWhat,
             name.c_str());
      e.shape.push_back(static_cast<int64_t>(x));
      if (x != 0 && numel > UINT64_MAX / x) overflow = true;
      numel *= x;
    }
    if (!off->items[0].as_uint(UINT64_MAX, &e.begin) || !off->items[1].as_uint(UINT64_MAX, &e.end))
      fail(Errc::Format, "%s: tensor \"%s\" has data_offsets that are not non-negative integers", kWhat, name.c_str());
    if (e.end < e.begin)
      fail(Errc::Format, "%s: tensor \"%s\" has END %llu < BEGIN %llu", kWhat, name.c_str(),
           static_cast<unsigned long long>(e.end), static_cast<unsigned long long>(e.begin));
    bool has_zero = std::find(e.shape.begin(), e.shape.end(), 0) != e.shape.end();
    if (has_zero) numel = 0, overflow = false;
    if (numel > UINT64_MAX / esize) overflow = true;  // the byte count, not just the element count
    if (overflow || numel * esize != e.end - e.begin)
      fail(Errc::Format, "%s: tensor \"%s\" has %llu bytes but its shape and dtype %s need %s", kWhat, name.c_str(),
           static_cast<unsigned long long>(e.end - e.begin), e.dtype.c_str(),
           overflow ? "more than 2^64" : std::to_string(numel * esize).c_str());
    f.tensors.push_back(std::move(e));
  }
  std::sort(f.tensors.begin(), f.tensors.end(), [](const Entry &a, const Entry &b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t pos = 0;
  for (const Entry &e : f.tensors) {
    if (e.begin != pos)
      fail(Errc::Format, "%s: tensor \"%s\" starts at byte %llu, expected %llu (tensors must be back to back, no holes or overlaps)",
           kWhat, e.name.c_str(), static_cast<unsigned long long>(e.begin), static_cast<unsigned long long>(pos));
    pos = e.end;
  }
  if (pos != f.data_bytes)
    fail(Errc::Format, "%s: the tensors end at byte %llu of a %llu-byte data section", kWhat,
         static_cast<unsigned long long>(pos), static_cast<unsigned long long>(f.data_bytes));
  return f;
}

}  // namespace

File parse(const uint8_t *buf, size_t len) {
  const uint64_t n = check_prefix(buf, len);
  File f = parse_header(reinterpret_cast<const char *>(buf + 8), n, len);
  f.data = buf + f.data_offset;
  return f;
}

File read_header(const InputFile &in) {
  uint8_t prefix[8];
  const size_t got = in.read_some(0, prefix, in.size() < 8 ? static_cast<size_t>(in.size()) : 8);
  const uint64_t n = check_prefix(prefix, got < 8 ? got : in.size());
  std::string header(static_cast<size_t>(n), '\0');
  in.read_at(8, &header[0], header.size());
  File f = parse_header(header.data(), n, in.size());
  f.file = &in;
  return f;
}

std::vector<uint8_t> serialize(const std::vector<Out> &tensors,
                               const std::vector<std::pair<std::string, std::string>> &metadata) {
  std::string h = "{";
  if (!metadata.empty()) {
    h += "\"__metadata__\":{";
    for (size_t i = 0; i < metadata.size(); ++i) {
      if (i) h += ",";
      h += json::quote(metadata[i].first) + ":" + json::quote(metadata[i].second);
    }
    h += "}";
  }
  uint64_t pos = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Out &t = tensors[i];
    if (i || !metadata.empty()) h += ",";
    h += json::quote(t.name) + ":{\"dtype\":" + json::quote(t.dtype) + ",\"shape\":[";
    for (size_t k = 0; k < t.shape.size(); ++k) {
      if (k) h += ",";
      h += std::to_string(t.shape[k]);
    }
    h += "],\"data_offsets\":[" + std::to_string(pos) + "," + std::to_string(pos + t.nbytes) + "]}";
    pos += t.nbytes;
  }
  h += "}";
  while (h.size() % 8 != 0) h += ' ';
  std::vector<uint8_t> out(8 + h.size() + pos);
  uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<uint8_t>(n >> (8 * i));
  std::memcpy(out.data() + 8, h.data(), h.size());
  uint8_t *p = out.data() + 8 + h.size();
  for (const Out &t : tensors) {
    if (t.nbytes) std::memcpy(p, t.bytes, t.nbytes);
    p += t.nbytes;
  }
  return out;
}

}  // namespace safetensors
}  // namespace nn
