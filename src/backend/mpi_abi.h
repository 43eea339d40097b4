/* The boundary between libnn.so and libnn_mpi.so: plain C, no exceptions,
 * no C++ types, no MPI or NCCL types. libnn.so dlopen()s libnn_mpi.so on the
 * first nn_comm_mpi() and calls nn_mpi_module_table() (the only symbol the
 * module exports); every collective goes through the returned table.
 *
 * Conventions: every function returns 0 on success or an nn::Errc value
 * (1 InvalidArgument, 3 DType, 4 Device, 8 Unsupported, 99 Internal, ...) and
 * then writes a NUL-terminated message into err->message. `dtype` carries the
 * values of nn::DType (dtype.hpp), `op` those of nn::ReduceOp (SUM 0, MEAN 1,
 * MAX 2, MIN 3). A comm is the module's own handle (a duplicate of the
 * caller's MPI communicator, plus the NCCL communicators made for it). */
#ifndef NN_MPI_ABI_H
#define NN_MPI_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NN_MPI_ABI_VERSION 1
#define NN_MPI_ENTRY_SYMBOL "nn_mpi_module_table"

typedef struct nn_mpi_error {
  char message[512];
} nn_mpi_error;

typedef struct nn_mpi_iface {
  uint32_t abi_version; /* NN_MPI_ABI_VERSION */
  uint32_t table_size;  /* sizeof(nn_mpi_iface) */
  uint32_t has_nccl;    /* 1 when the module was built with NCCL (GPU tensors) */
  uint32_t reserved;

  /* Duplicates *(MPI_Comm *)mpi_comm (MPI_COMM_WORLD when NULL), initialising
   * MPI first if nobody has (then MPI_Finalize runs at exit). */
  int (*comm_create)(const void *mpi_comm, void **out, int *rank, int *size, nn_mpi_error *err);
  /* Frees the duplicate and its NCCL communicators (nothing after MPI_Finalize). */
  void (*comm_free)(void *comm);

  /* In place over `count` contiguous host elements. */
  int (*allreduce)(void *comm, void *data, int64_t count, int dtype, int op, nn_mpi_error *err);
  /* `bytes` contiguous host bytes from `root` to everyone. */
  int (*broadcast)(void *comm, void *data, int64_t bytes, int root, nn_mpi_error *err);
  /* Every rank's `bytes` bytes of `send`, in rank order, into `recv`
   * (size x bytes). */
  int (*allgather)(void *comm, const void *send, void *recv, int64_t bytes, nn_mpi_error *err);

  /* The same on GPU memory of CUDA device `device`, with NCCL (one NCCL
   * communicator per comm and device, made on first use, its unique id
   * broadcast over MPI). Synchronous: the device is synchronised before,
   * the module's stream after. Unsupported without NCCL. */
  int (*device_allreduce)(void *comm, int device, void *data, int64_t count, int dtype, int op,
                          nn_mpi_error *err);
  int (*device_broadcast)(void *comm, int device, void *data, int64_t bytes, int root, nn_mpi_error *err);
} nn_mpi_iface;

typedef const nn_mpi_iface *(*nn_mpi_module_table_fn)(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* NN_MPI_ABI_H */
