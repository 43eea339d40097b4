// safetensors files: an 8-byte little-endian header length N, N bytes of
// JSON header (UTF-8, padded with spaces), then the tensor data. The reader
// trusts nothing (checks of API.md "Persistence"); errors throw Errc::Format.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "io/file.hpp"

namespace nn {
namespace safetensors {

constexpr uint64_t kMaxHeaderBytes = 100000000;

struct Entry {
  std::string name;
  std::string dtype;  // as in the file: "F32", "I64", ...
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte range inside the data section
};

struct File {
  std::vector<Entry> tensors;  // sorted by begin
  std::vector<std::pair<std::string, std::string>> metadata;
  // The data section: in memory (borrowed from the buffer parse() read), or
  // (data NULL) still in `file` from byte data_offset on (read_header()).
  const uint8_t *data = nullptr;
  const InputFile *file = nullptr;
  uint64_t data_offset = 0;
  uint64_t data_bytes = 0;
  const std::string *meta(const std::string &key) const;
  // Copies bytes [begin, begin + n) of the data section (inside it: parse
  // checked the offsets) to dst: a memcpy, or one read from the file
  // (Errc::IO when it shrank since).
  void read(uint64_t begin, void *dst, size_t n) const;
};

// Bytes per element of a safetensors dtype string; 0 when unknown.
size_t dtype_bytes(const std::string &dtype);

// Checks the 8-byte prefix of a `total`-byte file (the header length: at
// most kMaxHeaderBytes and inside the file) and returns the header length;
// `prefix` holds min(total, 8) bytes. parse() runs the same check first; the
// file loader runs it before reading the body, so a hostile length is
// refused after 8 bytes.
uint64_t check_prefix(const uint8_t *prefix, uint64_t total);

// Parses and validates a whole file held in [buf, buf+len).
File parse(const uint8_t *buf, size_t len);
// The same for a file on disk, reading only its prefix (checked before
// anything else is read) and header; the tensors stay in the file (File::
// read). `in` must outlive the result. Memory: the header's.
File read_header(const InputFile &in);

// A tensor to write: name, dtype string, shape and its raw little-endian bytes.
struct Out {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  const void *bytes;
  size_t nbytes;
};
// Serialises tensors (in the given order, back to back) and metadata; the
// header is padded with spaces to a multiple of 8 bytes.
std::vector<uint8_t> serialize(const std::vector<Out> &tensors,
                               const std::vector<std::pair<std::string, std::string>> &metadata);

}  // namespace safetensors
}  // namespace nn
