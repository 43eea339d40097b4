// A minimal Protocol Buffers wire-format reader and writer (proto2/proto3
// binary encoding), enough for the few ONNX messages libnn reads and writes
// (io/onnx.cpp). No libprotobuf: libnn.so gains no shared-library
// dependency. The reader trusts nothing: every length is checked against
// the bytes left, varints are at most 10 bytes, groups (wire types 3 and 4)
// are refused, and nothing recurses (a caller descends into a nested message
// by making a new Reader over its bytes). Errors throw Errc::Format with a
// message that starts with `what`.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace nn {
namespace pb {

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5 };

// Bytes of a length-delimited field, borrowed from the buffer being read.
struct Span {
  const uint8_t *p = nullptr;
  size_t n = 0;
  std::string str() const { return std::string(reinterpret_cast<const char *>(p), n); }
};

class Reader {
 public:
  // `msg` names the message being read in errors ("ModelProto", ...).
  Reader(const uint8_t *p, size_t n, const char *what, const char *msg) : p_(p), end_(p + n), what_(what), msg_(msg) {}
  Reader(Span s, const char *what, const char *msg) : Reader(s.p, s.n, what, msg) {}
  bool done() const { return p_ == end_; }
  // Reads the next field's key; false at the end of the message. Field 0 and
  // wire types other than 0, 1, 2 and 5 are format errors.
  bool next(uint32_t *field, uint32_t *wire);
  uint64_t varint();
  uint32_t fixed32();
  uint64_t fixed64();
  Span bytes();  // length-delimited: length checked against the bytes left
  void skip(uint32_t wire);
  // Typed reads of the current field's value: check the wire type first
  // (a mismatch is a format error naming field and message).
  uint64_t u64(uint32_t field, uint32_t wire);
  int64_t i64(uint32_t field, uint32_t wire) { return static_cast<int64_t>(u64(field, wire)); }
  float f32(uint32_t field, uint32_t wire);
  Span len(uint32_t field, uint32_t wire);
  // A repeated int64 field, packed or not: appends to out.
  void ints(uint32_t field, uint32_t wire, std::vector<int64_t> &out);
  [[noreturn]] void bad(const char *fmt, ...) const __attribute__((format(printf, 2, 3)));

 private:
  void expect(uint32_t field, uint32_t wire, uint32_t want);
  const uint8_t *p_, *end_;
  const char *what_, *msg_;
};

class Writer {
 public:
  void varint_field(uint32_t field, uint64_t v);
  void fixed32_field(uint32_t field, uint32_t bits);
  void float_field(uint32_t field, float f);
  void bytes_field(uint32_t field, const void *data, size_t n);
  void string_field(uint32_t field, const std::string &s) { bytes_field(field, s.data(), s.size()); }
  void message_field(uint32_t field, const Writer &m) { bytes_field(field, m.buf.data(), m.buf.size()); }
  void packed_ints_field(uint32_t field, const std::vector<int64_t> &v);
  std::vector<uint8_t> buf;

 private:
  void key(uint32_t field, uint32_t wire) { raw_varint((static_cast<uint64_t>(field) << 3) | wire); }
  void raw_varint(uint64_t v);
};

}  // namespace pb
}  // namespace nn
