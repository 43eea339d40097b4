// The CUDA backend as libnn.so sees it: libnn_cuda.so, loaded with dlopen()
// the first time a CUDA device is asked for, behind the C table of
// cuda_abi.h. No CUDA header here or in cuda_proxy.cpp.
#pragma once
#include <string>

#include "backend/backend.hpp"

namespace nn {

// Number of usable CUDA devices; 0 when the backend file, the driver or a GPU
// is missing (never throws). Loads libnn_cuda.so on first use.
int cuda_device_count();
// Why cuda_device_count() is 0 ("libnn_cuda.so not found: ...", "no CUDA
// driver: ...", "no CUDA GPU visible ..."); empty when devices exist.
std::string cuda_unavailable_reason();
// The backend of CUDA device `index`; throws Errc::Device naming the missing
// piece, or the index range.
Backend &cuda_backend(int index);

}  // namespace nn
