// A small strict JSON (RFC 8259) parser and string escaping, for the
// safetensors header. Input must be valid UTF-8; nesting (64 levels) and the
// number of values (200,000 per document) are limited so a hostile file can
// exhaust neither the stack nor memory. Errors throw Errc::Format.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace nn {
namespace json {

struct Value {
  enum Type { Null, Bool, Number, String, Array, Object } type = Null;
  bool boolean = false;
  double number = 0;
  std::string text;  // String: the decoded string; Number: the literal as written
  std::vector<Value> items;                             // Array
  std::vector<std::pair<std::string, Value>> members;   // Object, in file order

  const Value *find(const std::string &key) const;  // first member named key, or NULL
  // Number that is a non-negative integer without fraction or exponent, <= max.
  bool as_uint(uint64_t max, uint64_t *out) const;
};

// Parses exactly one JSON value filling [text, text+len) (surrounding
// whitespace allowed). `what` prefixes error messages. Objects with
// duplicate keys are rejected.
Value parse(const char *text, size_t len, const char *what);

// `s` as a JSON string literal, quotes included.
std::string quote(const std::string &s);

// True when [s, s+len) is valid UTF-8 (no overlongs, surrogates or > U+10FFFF).
bool valid_utf8(const char *s, size_t len);

}  // namespace json
}  // namespace nn
