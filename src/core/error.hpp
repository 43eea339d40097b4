// The one error type inside libnn. Everything below src/api throws nn::Error;
// src/api turns it into an nn_status and the thread's last-error message.
#pragma once
#include <exception>
#include <string>

namespace nn {

enum class Errc {
  InvalidArgument = 1,
  Shape = 2,
  DType = 3,
  Device = 4,
  OutOfMemory = 5,
  IO = 6,
  Format = 7,
  Unsupported = 8,
  NotFinite = 9,
  Cancelled = 10,
  Internal = 99
};

class Error : public std::exception {
 public:
  Error(Errc code, std::string message) : code_(code), message_(std::move(message)) {}
  Errc code() const noexcept { return code_; }
  const char *what() const noexcept override { return message_.c_str(); }

 private:
  Errc code_;
  std::string message_;
};

// Throws Error(code, printf-formatted message).
[[noreturn]] void fail(Errc code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// printf into a std::string.
std::string strprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace nn
