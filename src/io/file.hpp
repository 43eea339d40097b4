// Whole-file reads and atomic whole-file writes. Errors throw Errc::IO.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace nn {

// Reads the whole file (regular files only).
std::vector<uint8_t> read_file(const std::string &path, const char *what);

// Writes data to path atomically: a temporary file in the same folder is
// written, flushed and fsync'ed, renamed over path, and the folder fsync'ed.
// On failure the old file is intact and no temporary file is left behind.
void write_file_atomic(const std::string &path, const void *data, size_t len, const char *what);

}  // namespace nn
