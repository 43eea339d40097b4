// Shared inside libnn_mpi.so: the comm state, error helpers, and the NCCL
// part (nccl_part.cpp; stubs answering Unsupported when built without NCCL).
#pragma once
#include <mpi.h>

#include "backend/mpi_abi.h"

namespace nn::mpimod {

// nn::Errc values (core/error.hpp) without including libnn's C++ headers.
constexpr int kInvalidArgument = 1, kDType = 3, kDevice = 4, kOutOfMemory = 5, kUnsupported = 8,
              kInternal = 99;

struct NcclState;  // per comm: one NCCL communicator (and stream) per device

struct CommState {
  MPI_Comm comm = MPI_COMM_NULL;  // our duplicate of the caller's communicator
  int rank = 0, size = 1;
  NcclState *nccl = nullptr;
};

int set_error(nn_mpi_error *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int mpi_error(nn_mpi_error *err, const char *call, int rc);

extern const bool kHaveNccl;
int device_allreduce(void *comm, int device, void *data, int64_t count, int dtype, int op, nn_mpi_error *err);
int device_broadcast(void *comm, int device, void *data, int64_t bytes, int root, nn_mpi_error *err);
void nccl_free(CommState *c);   // destroys c's NCCL communicators (before MPI_Comm_free)
void nccl_finalize_all();       // at exit, before MPI_Finalize

}  // namespace nn::mpimod
