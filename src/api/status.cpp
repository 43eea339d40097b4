// Status strings, the last error, version, devices and dtypes.
#include <cstring>

#include "api/api.hpp"
#include "backend/cuda_proxy.hpp"

namespace nn::api {

static thread_local std::string last_error;

void set_last_error(const std::string &message) { last_error = message; }

nn_status status_of(Errc code) {
  switch (code) {
    case Errc::InvalidArgument: return NN_ERR_INVALID_ARGUMENT;
    case Errc::Shape: return NN_ERR_SHAPE;
    case Errc::DType: return NN_ERR_DTYPE;
    case Errc::Device: return NN_ERR_DEVICE;
    case Errc::OutOfMemory: return NN_ERR_OUT_OF_MEMORY;
    case Errc::IO: return NN_ERR_IO;
    case Errc::Format: return NN_ERR_FORMAT;
    case Errc::Unsupported: return NN_ERR_UNSUPPORTED;
    case Errc::NotFinite: return NN_ERR_NOT_FINITE;
    case Errc::Cancelled: return NN_ERR_CANCELLED;
    case Errc::Internal: return NN_ERR_INTERNAL;
  }
  return NN_ERR_INTERNAL;
}

DType dtype_arg(int dt, const char *fn, const char *name) {
  if (!dtype_valid(dt)) fail(Errc::InvalidArgument, "%s: %s is %d, not a valid nn_dtype (0..7)", fn, name, dt);
  return static_cast<DType>(dt);
}

Device device_arg(nn_device dev, const char *fn, const char *name) {
  if (dev.type != NN_CPU && dev.type != NN_CUDA)
    fail(Errc::InvalidArgument, "%s: %s.type is %d, not NN_CPU (1) or NN_CUDA (2)", fn, name, dev.type);
  Device d{static_cast<DeviceType>(dev.type), dev.index};
  check_device(d, fn);
  return d;
}

void write_text(const std::string &text, char *buf, size_t cap, size_t *needed, const char *fn) {
  if (cap > 0 && buf == nullptr) fail(Errc::InvalidArgument, "%s: buf is NULL with cap %zu", fn, cap);
  if (needed) *needed = text.size() + 1;
  if (cap == 0) return;
  size_t n = text.size() < cap - 1 ? text.size() : cap - 1;
  std::memcpy(buf, text.data(), n);
  buf[n] = '\0';
}

}  // namespace nn::api

using namespace nn;
using namespace nn::api;

extern "C" {

NN_API const char *nn_status_string(nn_status s) {
  switch (s) {
    case NN_OK: return "ok";
    case NN_ERR_INVALID_ARGUMENT: return "invalid argument";
    case NN_ERR_SHAPE: return "shape mismatch";
    case NN_ERR_DTYPE: return "dtype not allowed";
    case NN_ERR_DEVICE: return "device error";
    case NN_ERR_OUT_OF_MEMORY: return "out of memory";
    case NN_ERR_IO: return "i/o error";
    case NN_ERR_FORMAT: return "invalid format";
    case NN_ERR_UNSUPPORTED: return "unsupported";
    case NN_ERR_NOT_FINITE: return "non-finite value";
    case NN_ERR_CANCELLED: return "cancelled";
    case NN_ERR_INTERNAL: return "internal error";
  }
  return "unknown status";
}

NN_API const char *nn_last_error(void) { return last_error.c_str(); }

NN_API int nn_version(void) { return NN_VERSION_MAJOR * 10000 + NN_VERSION_MINOR * 100 + NN_VERSION_PATCH; }

#define NN_STR2(x) #x
#define NN_STR(x) NN_STR2(x)
NN_API const char *nn_version_string(void) {
  return NN_STR(NN_VERSION_MAJOR) "." NN_STR(NN_VERSION_MINOR) "." NN_STR(NN_VERSION_PATCH);
}

NN_API int nn_device_count(nn_device_type type) {
  if (enum_value(type) == NN_CPU) return 1;
  if (enum_value(type) == NN_CUDA) return nn::cuda_device_count();  // 0 without backend file, driver or GPU
  return 0;
}

NN_API nn_status nn_set_num_threads(int n) {
  return guard("nn_set_num_threads", [&] { cpu_set_num_threads(n); });
}

NN_API int nn_get_num_threads(void) { return cpu_get_num_threads(); }

NN_API size_t nn_dtype_size(nn_dtype dt) {
  int v = enum_value(dt);
  return dtype_valid(v) ? nn::dtype_size(static_cast<DType>(v)) : 0;
}

}  // extern "C"
