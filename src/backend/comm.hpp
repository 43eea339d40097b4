// Process groups for data-parallel training (nn.h group "comm"): a Comm is a
// group of processes that reduce and broadcast tensors together. The MPI
// implementation lives in libnn_mpi.so (src/backend/mpi), loaded with
// dlopen() on the first comm_mpi() through the C table of mpi_abi.h, so
// libnn.so never links MPI or NCCL. CPU tensors go through MPI, CUDA tensors
// through NCCL (when the module was built with it). No MPI header here.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "backend/backend.hpp"
#include "core/tensor.hpp"

namespace nn {

class Comm {
 public:
  virtual ~Comm() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;

  // Collective, in place: every rank passes a tensor of the same dtype and
  // element count on the same kind of device. op: Sum, Mean (floating dtypes),
  // Max, Min. Any strides (a non-contiguous tensor goes through a contiguous
  // copy). `checked` first agrees on (dtype, count, op) with one small
  // allgather, so that a mismatch throws on every rank instead of corrupting
  // memory or hanging; the training loop calls it unchecked.
  virtual void allreduce(const Tensor &t, ReduceOp op, bool checked, const char *what) = 0;
  // Collective, in place: root's values to every rank. `checked` as above
  // (dtype, count, root).
  virtual void broadcast(const Tensor &t, int root, bool checked, const char *what) = 0;
  // Collective: every rank's `bytes` bytes of `send`, in rank order, into
  // `recv` (size() x bytes), host memory.
  virtual void allgather(const void *send, void *recv, size_t bytes, const char *what) = 0;
  // Collective on host doubles, in place (op Sum, Mean, Max, Min).
  virtual void allreduce_host(double *values, int64_t n, ReduceOp op, const char *what) = 0;
};

// A Comm over *(MPI_Comm *)mpi_comm (MPI_COMM_WORLD when NULL), duplicated;
// initialises MPI if the process has not (and finalises it at exit).
// Throws Errc::Unsupported naming what is missing (the module, the MPI
// runtime), or MPI's own error.
std::shared_ptr<Comm> comm_mpi(const void *mpi_comm, const char *what);

}  // namespace nn
