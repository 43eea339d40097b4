#include "io/protobuf.hpp"

#include <cstdarg>
#include <cstring>

#include "core/error.hpp"

namespace nn {
namespace pb {

void Reader::bad(const char *fmt, ...) const {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  fail(Errc::Format, "%s: malformed protobuf in %s: %s", what_, msg_, buf);
}

uint64_t Reader::varint() {
  uint64_t v = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (p_ == end_) bad("a varint runs past the end of the message");
    uint8_t b = *p_++;
    if (shift == 63 && (b & 0x7e)) bad("a varint does not fit in 64 bits");
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
  bad("a varint is longer than 10 bytes");
}

uint32_t Reader::fixed32() {
  if (end_ - p_ < 4) bad("a 32-bit value runs past the end of the message");
  uint32_t v = static_cast<uint32_t>(p_[0]) | static_cast<uint32_t>(p_[1]) << 8 | static_cast<uint32_t>(p_[2]) << 16 |
               static_cast<uint32_t>(p_[3]) << 24;
  p_ += 4;
  return v;
}

uint64_t Reader::fixed64() {
  uint64_t lo = fixed32();
  uint64_t hi = fixed32();
  return lo | hi << 32;
}

Span Reader::bytes() {
  uint64_t n = varint();
  if (n > static_cast<uint64_t>(end_ - p_))
    bad("a length-delimited field of %llu bytes runs past the end of the message (%zu bytes left)",
        static_cast<unsigned long long>(n), static_cast<size_t>(end_ - p_));
  Span s{p_, static_cast<size_t>(n)};
  p_ += n;
  return s;
}

bool Reader::next(uint32_t *field, uint32_t *wire) {
  if (p_ == end_) return false;
  uint64_t k = varint();
  uint64_t f = k >> 3;
  uint32_t w = static_cast<uint32_t>(k & 7);
  if (f == 0 || f > 0x1fffffff) bad("field number %llu is out of range", static_cast<unsigned long long>(f));
  if (w != kVarint && w != kFixed64 && w != kLen && w != kFixed32)
    bad("field %llu has wire type %u (groups and unknown wire types are not accepted)",
        static_cast<unsigned long long>(f), w);
  *field = static_cast<uint32_t>(f);
  *wire = w;
  return true;
}

void Reader::skip(uint32_t wire) {
  switch (wire) {
    case kVarint: varint(); break;
    case kFixed64: fixed64(); break;
    case kLen: bytes(); break;
    case kFixed32: fixed32(); break;
    default: bad("wire type %u cannot be skipped", wire);
  }
}

void Reader::expect(uint32_t field, uint32_t wire, uint32_t want) {
  if (wire != want) bad("field %u has wire type %u, expected %u", field, wire, want);
}

uint64_t Reader::u64(uint32_t field, uint32_t wire) {
  expect(field, wire, kVarint);
  return varint();
}

float Reader::f32(uint32_t field, uint32_t wire) {
  expect(field, wire, kFixed32);
  uint32_t bits = fixed32();
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

Span Reader::len(uint32_t field, uint32_t wire) {
  expect(field, wire, kLen);
  return bytes();
}

void Reader::ints(uint32_t field, uint32_t wire, std::vector<int64_t> &out) {
  if (wire == kVarint) {
    out.push_back(static_cast<int64_t>(varint()));
    return;
  }
  expect(field, wire, kLen);
  Reader r(bytes(), what_, msg_);
  while (!r.done()) out.push_back(static_cast<int64_t>(r.varint()));
}

void Writer::raw_varint(uint64_t v) {
  while (v >= 0x80) {
    buf.push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  buf.push_back(static_cast<uint8_t>(v));
}

void Writer::varint_field(uint32_t field, uint64_t v) {
  key(field, kVarint);
  raw_varint(v);
}

void Writer::fixed32_field(uint32_t field, uint32_t bits) {
  key(field, kFixed32);
  for (int i = 0; i < 4; ++i) buf.push_back(static_cast<uint8_t>(bits >> (8 * i)));
}

void Writer::float_field(uint32_t field, float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  fixed32_field(field, bits);
}

void Writer::bytes_field(uint32_t field, const void *data, size_t n) {
  key(field, kLen);
  raw_varint(n);
  const uint8_t *p = static_cast<const uint8_t *>(data);
  buf.insert(buf.end(), p, p + n);
}

void Writer::packed_ints_field(uint32_t field, const std::vector<int64_t> &v) {
  Writer w;
  for (int64_t x : v) w.raw_varint(static_cast<uint64_t>(x));
  message_field(field, w);
}

}  // namespace pb
}  // namespace nn
