#include "io/json.hpp"

#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace nn {
namespace json {

namespace {

constexpr int kMaxDepth = 64;
constexpr size_t kLinearKeys = 16;  // objects up to this size check duplicates by a scan
// A Value takes ~100 bytes for as little as 2 bytes of text ("0,"): without a
// cap a 100 MB header would need ~5 GB and many seconds before any check.
constexpr size_t kMaxValues = 200000;
static_assert(kMaxValues == 200000, "the error message names the limit");

// Duplicate-key check for one object in O(1) per key: an open-addressing
// table of (hash, member index + 1), keys compared on equal hashes (a flat
// table: a node-based std::unordered_set costs several times more).
class KeySet {
 public:
  // True when `key` is among members[0..n) (already indexed); else indexes
  // it as member n (about to be appended).
  bool seen_or_add(const std::vector<std::pair<std::string, Value>> &members, const std::string &key) {
    if (slots_.empty()) {
      slots_.assign(64, Slot{});
      for (size_t i = 0; i < members.size(); ++i) place(hash(members[i].first), static_cast<uint32_t>(i));
    }
    const uint64_t h = hash(key);
    for (size_t j = h & (slots_.size() - 1);; j = (j + 1) & (slots_.size() - 1)) {
      const Slot &sl = slots_[j];
      if (sl.index1 == 0) break;
      if (sl.hash == h && members[sl.index1 - 1].first == key) return true;
    }
    if (2 * (count_ + 1) > slots_.size()) grow();
    place(h, static_cast<uint32_t>(members.size()));
    return false;
  }

 private:
  struct Slot {
    uint64_t hash = 0;
    uint32_t index1 = 0;  // member index + 1; 0: empty
  };
  std::vector<Slot> slots_;
  size_t count_ = 0;

  static uint64_t hash(const std::string &k) { return std::hash<std::string>()(k); }
  void place(uint64_t h, uint32_t index) {
    size_t j = h & (slots_.size() - 1);
    while (slots_[j].index1 != 0) j = (j + 1) & (slots_.size() - 1);
    slots_[j] = Slot{h, index + 1};
    ++count_;
  }
  void grow() {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(old.size() * 2, Slot{});
    count_ = 0;
    for (const Slot &sl : old)
      if (sl.index1 != 0) place(sl.hash, sl.index1 - 1);
  }
};

class Parser {
 public:
  Parser(const char *s, size_t n, const char *what) : s_(s), n_(n), what_(what) {}

  Value document() {
    skip_ws();
    Value v = value(0);
    skip_ws();
    if (i_ != n_) error("unexpected data after the JSON value");
    return v;
  }

 private:
  const char *s_;
  size_t n_, i_ = 0;
  size_t values_ = 0;
  const char *what_;

  [[noreturn]] void error(const char *msg) {
    fail(Errc::Format, "%s: invalid JSON at byte %zu: %s", what_, i_, msg);
  }
  void skip_ws() {
    while (i_ < n_ && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  bool eat(char c) {
    if (i_ < n_ && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  void literal(const char *word) {
    for (const char *p = word; *p; ++p)
      if (!eat(*p)) error("invalid literal");
  }

  Value value(int depth) {
    if (depth > kMaxDepth) error("nesting too deep");
    if (++values_ > kMaxValues) error("more than 200000 values");
    if (i_ >= n_) error("unexpected end of input");
    Value v;
    char c = s_[i_];
    if (c == '{') {
      KeySet seen;  // the keys, once the object has kLinearKeys
      v.type = Value::Object;
      ++i_;
      skip_ws();
      if (eat('}')) return v;
      for (;;) {
        skip_ws();
        if (i_ >= n_ || s_[i_] != '"') error("expected a string key");
        std::string key = string();
        // Duplicate check in time linear in the object: a scan while it is
        // small, a hash set beyond (200,000 keys: milliseconds, not minutes).
        bool dup = false;
        if (v.members.size() < kLinearKeys) {
          for (const auto &m : v.members) dup |= m.first == key;
        } else {
          dup = seen.seen_or_add(v.members, key);
        }
        if (dup) fail(Errc::Format, "%s: duplicate key \"%s\" in the JSON header", what_, key.c_str());
        skip_ws();
        if (!eat(':')) error("expected ':'");
        skip_ws();
        v.members.emplace_back(std::move(key), value(depth + 1));
        skip_ws();
        if (eat('}')) return v;
        if (!eat(',')) error("expected ',' or '}'");
      }
    }
    if (c == '[') {
      v.type = Value::Array;
      ++i_;
      skip_ws();
      if (eat(']')) return v;
      for (;;) {
        skip_ws();
        v.items.push_back(value(depth + 1));
        skip_ws();
        if (eat(']')) return v;
        if (!eat(',')) error("expected ',' or ']'");
      }
    }
    if (c == '"') {
      v.type = Value::String;
      v.text = string();
      return v;
    }
    if (c == 't') {
      literal("true");
      v.type = Value::Bool;
      v.boolean = true;
      return v;
    }
    if (c == 'f') {
      literal("false");
      v.type = Value::Bool;
      return v;
    }
    if (c == 'n') {
      literal("null");
      return v;
    }
    if (c == '-' || (c >= '0' && c <= '9')) return number();
    error("unexpected character");
  }

  Value number() {
    size_t start = i_;
    eat('-');
    if (i_ >= n_) error("truncated number");
    if (s_[i_] == '0') {
      ++i_;
    } else if (s_[i_] >= '1' && s_[i_] <= '9') {
      while (i_ < n_ && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
    } else {
      error("invalid number");
    }
    if (eat('.')) {
      if (i_ >= n_ || s_[i_] < '0' || s_[i_] > '9') error("invalid fraction");
      while (i_ < n_ && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
    }
    if (i_ < n_ && (s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
      if (!eat('+')) eat('-');
      if (i_ >= n_ || s_[i_] < '0' || s_[i_] > '9') error("invalid exponent");
      while (i_ < n_ && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
    }
    Value v;
    v.type = Value::Number;
    v.text.assign(s_ + start, i_ - start);
    v.number = std::strtod(v.text.c_str(), nullptr);
    return v;
  }

  unsigned hex4() {
    if (n_ - i_ < 4) error("truncated \\u escape");
    unsigned u = 0;
    for (int k = 0; k < 4; ++k) {
      char c = s_[i_++];
      u <<= 4;
      if (c >= '0' && c <= '9') u |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f') u |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') u |= static_cast<unsigned>(c - 'A' + 10);
      else error("invalid \\u escape");
    }
    return u;
  }

  static void put_utf8(std::string &out, unsigned cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xc0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xe0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    }
  }

  std::string string() {
    ++i_;  // opening quote
    std::string out;
    for (;;) {
      if (i_ >= n_) error("unterminated string");
      unsigned char c = static_cast<unsigned char>(s_[i_]);
      if (c == '"') {
        ++i_;
        return out;
      }
      if (c < 0x20) error("control character in string");
      if (c != '\\') {
        out += static_cast<char>(c);
        ++i_;
        continue;
      }
      ++i_;
      if (i_ >= n_) error("unterminated escape");
      char e = s_[i_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned cp = hex4();
          if (cp >= 0xd800 && cp < 0xdc00) {
            if (n_ - i_ < 2 || s_[i_] != '\\' || s_[i_ + 1] != 'u') error("unpaired surrogate");
            i_ += 2;
            unsigned lo = hex4();
            if (lo < 0xdc00 || lo >= 0xe000) error("unpaired surrogate");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          } else if (cp >= 0xdc00 && cp < 0xe000) {
            error("unpaired surrogate");
          }
          put_utf8(out, cp);
          break;
        }
        default: error("invalid escape");
      }
    }
  }
};

}  // namespace

const Value *Value::find(const std::string &key) const {
  for (const auto &m : members)
    if (m.first == key) return &m.second;
  return nullptr;
}

bool Value::as_uint(uint64_t max, uint64_t *out) const {
  if (type != Number || text.empty() || text.size() > 20) return false;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;  // sign, fraction or exponent
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  if (v > max) return false;
  *out = v;
  return true;
}

Value parse(const char *text, size_t len, const char *what) {
  if (!valid_utf8(text, len)) fail(Errc::Format, "%s: the JSON header is not valid UTF-8", what);
  return Parser(text, len, what).document();
}

std::string quote(const std::string &s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          static const char hex[] = "0123456789abcdef";
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

bool valid_utf8(const char *str, size_t len) {
  const unsigned char *s = reinterpret_cast<const unsigned char *>(str);
  size_t i = 0;
  while (i < len) {
    unsigned c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    int n;
    unsigned cp;
    if ((c & 0xe0) == 0xc0) {
      n = 1;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (len - i <= static_cast<size_t>(n)) return false;
    for (int k = 1; k <= n; ++k) {
      if ((s[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    static const unsigned min_cp[4] = {0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000)) return false;
    i += static_cast<size_t>(n) + 1;
  }
  return true;
}

}  // namespace json
}  // namespace nn
