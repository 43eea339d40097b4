// The error codes of the modules' C tables (cuda_abi.h, mpi_abi.h: 0 for
// success, else an nn::Errc value with a message) back as nn::Errc.
#pragma once
#include "core/error.hpp"

namespace nn {

// A code from a module as an Errc; a value that is no Errc is Internal.
inline Errc errc_of_code(int code) {
  const Errc c = static_cast<Errc>(code);
  switch (c) {
    case Errc::InvalidArgument: case Errc::Shape: case Errc::DType: case Errc::Device:
    case Errc::OutOfMemory: case Errc::IO: case Errc::Format: case Errc::Unsupported:
    case Errc::NotFinite: case Errc::Cancelled: case Errc::Internal:
      return c;
  }
  return Errc::Internal;
}

}  // namespace nn
