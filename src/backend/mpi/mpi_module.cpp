// libnn_mpi.so: collectives for libnn's process groups (nn.h group "comm")
// on MPI (host memory) and, when built with NCCL, NCCL (CUDA memory; see
// nccl_part.cpp). Exports only nn_mpi_module_table (mpi_abi.h); nothing
// here throws across the boundary.
#include <mpi.h>

#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <new>

#include "backend/mpi/mpi_internal.hpp"
#include "core/dtype.hpp"

namespace nn::mpimod {

int set_error(nn_mpi_error *err, int code, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
  }
  return code;
}

int mpi_error(nn_mpi_error *err, const char *call, int rc) {
  char s[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(rc, s, &len) != MPI_SUCCESS) std::snprintf(s, sizeof s, "error code %d", rc);
  return set_error(err, kInternal, "%s failed: %s", call, s);
}

namespace {

// ---- MPI initialisation --------------------------------------------------------
bool g_we_initialised = false;
std::mutex g_init_mu;

void finalize_at_exit() {
  int fin = 0;
  MPI_Finalized(&fin);
  if (!fin) {
    nccl_finalize_all();
    MPI_Finalize();
  }
}

int ensure_init(nn_mpi_error *err) {
  std::lock_guard<std::mutex> lock(g_init_mu);
  int fin = 0;
  MPI_Finalized(&fin);
  if (fin) return set_error(err, kUnsupported, "MPI has already been finalised in this process");
  int init = 0;
  MPI_Initialized(&init);
  if (init) return 0;
  int provided = 0;
  int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
  if (rc != MPI_SUCCESS) {
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, s, &len) != MPI_SUCCESS) std::snprintf(s, sizeof s, "error code %d", rc);
    return set_error(err, kUnsupported, "no usable MPI runtime: MPI_Init_thread failed: %s", s);
  }
  g_we_initialised = true;
  std::atexit(finalize_at_exit);
  return 0;
}

// ---- element types and reduction operators ------------------------------------
// MPI has no half types: F16/BF16 travel as 16-bit words and are reduced by
// user operators (in float, rounded back each time). Float MAX/MIN use user
// operators too so that NaN propagates, as nn_reduce's do.
struct F16 {
  static float load(uint16_t h) { return f16_to_f32(h); }
  static uint16_t store(float f) { return f32_to_f16(f); }
};
struct BF16 {
  static float load(uint16_t h) { return bf16_to_f32(h); }
  static uint16_t store(float f) { return f32_to_bf16(f); }
};

template <class T>
T nan_max(T a, T b) {
  if (a != a) return a;
  if (b != b) return b;
  return a > b ? a : b;
}
template <class T>
T nan_min(T a, T b) {
  if (a != a) return a;
  if (b != b) return b;
  return a < b ? a : b;
}

template <class H, int Op>  // Op: 0 sum, 2 max, 3 min (ReduceOp values)
void half_op(void *in, void *inout, int *len, MPI_Datatype *) {
  const uint16_t *a = static_cast<const uint16_t *>(in);
  uint16_t *b = static_cast<uint16_t *>(inout);
  for (int i = 0; i < *len; ++i) {
    float x = H::load(a[i]), y = H::load(b[i]);
    float r = Op == 0 ? x + y : (Op == 2 ? nan_max(x, y) : nan_min(x, y));
    b[i] = H::store(r);
  }
}
template <class T, int Op>
void float_op(void *in, void *inout, int *len, MPI_Datatype *) {
  const T *a = static_cast<const T *>(in);
  T *b = static_cast<T *>(inout);
  for (int i = 0; i < *len; ++i) b[i] = Op == 2 ? nan_max(a[i], b[i]) : nan_min(a[i], b[i]);
}

// User operators, made once after MPI_Init (index: [dtype][op]).
MPI_Op g_ops[8][4];
bool g_ops_made = false;

int make_ops(nn_mpi_error *err) {
  std::lock_guard<std::mutex> lock(g_init_mu);
  if (g_ops_made) return 0;
  for (auto &row : g_ops)
    for (MPI_Op &o : row) o = MPI_OP_NULL;
  struct Def {
    DType dt;
    int op;
    MPI_User_function *fn;
  } defs[] = {
      {DType::F16, 0, half_op<F16, 0>},   {DType::F16, 2, half_op<F16, 2>},   {DType::F16, 3, half_op<F16, 3>},
      {DType::BF16, 0, half_op<BF16, 0>}, {DType::BF16, 2, half_op<BF16, 2>}, {DType::BF16, 3, half_op<BF16, 3>},
      {DType::F32, 2, float_op<float, 2>}, {DType::F32, 3, float_op<float, 3>},
      {DType::F64, 2, float_op<double, 2>}, {DType::F64, 3, float_op<double, 3>},
  };
  for (const Def &d : defs) {
    int rc = MPI_Op_create(d.fn, 1, &g_ops[static_cast<int>(d.dt)][d.op]);
    if (rc != MPI_SUCCESS) return mpi_error(err, "MPI_Op_create", rc);
  }
  g_ops_made = true;
  return 0;
}

MPI_Datatype mpi_type(DType dt) {
  switch (dt) {
    case DType::F32: return MPI_FLOAT;
    case DType::F64: return MPI_DOUBLE;
    case DType::F16:
    case DType::BF16: return MPI_UINT16_T;
    case DType::U8: return MPI_UINT8_T;
    case DType::I16: return MPI_INT16_T;
    case DType::I32: return MPI_INT32_T;
    case DType::I64: return MPI_INT64_T;
  }
  return MPI_DATATYPE_NULL;
}

MPI_Op mpi_op(DType dt, int op) {
  const int reduce = op == 1 ? 0 : op;  // MEAN: SUM, then divided
  MPI_Op user = g_ops[static_cast<int>(dt)][reduce];
  if (user != MPI_OP_NULL) return user;
  return reduce == 0 ? MPI_SUM : (reduce == 2 ? MPI_MAX : MPI_MIN);
}

template <class T>
void divide(T *p, int64_t n, int size) {
  for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(p[i] / static_cast<T>(size));
}
template <class H>
void divide_half(uint16_t *p, int64_t n, int size) {
  for (int64_t i = 0; i < n; ++i) p[i] = H::store(H::load(p[i]) / static_cast<float>(size));
}

// Counts above INT_MAX go in chunks.
constexpr int64_t kChunk = int64_t{1} << 30;

int comm_create(const void *mpi_comm, void **out, int *rank, int *size, nn_mpi_error *err) {
  int rc = ensure_init(err);
  if (rc) return rc;
  if ((rc = make_ops(err))) return rc;
  MPI_Comm base = mpi_comm ? *static_cast<const MPI_Comm *>(mpi_comm) : MPI_COMM_WORLD;
  if (base == MPI_COMM_NULL) return set_error(err, kInvalidArgument, "the MPI communicator is MPI_COMM_NULL");
  auto *c = new (std::nothrow) CommState;
  if (!c) return set_error(err, kOutOfMemory, "out of memory");
  int mrc = MPI_Comm_dup(base, &c->comm);
  if (mrc != MPI_SUCCESS) {
    delete c;
    return mpi_error(err, "MPI_Comm_dup", mrc);
  }
  MPI_Comm_set_errhandler(c->comm, MPI_ERRORS_RETURN);
  MPI_Comm_rank(c->comm, &c->rank);
  MPI_Comm_size(c->comm, &c->size);
  *rank = c->rank;
  *size = c->size;
  *out = c;
  return 0;
}

void comm_free(void *p) {
  auto *c = static_cast<CommState *>(p);
  if (!c) return;
  int fin = 0;
  MPI_Finalized(&fin);
  if (!fin) {
    nccl_free(c);
    MPI_Comm_free(&c->comm);
  }
  delete c;
}

int allreduce(void *p, void *data, int64_t count, int dtype, int op, nn_mpi_error *err) {
  auto *c = static_cast<CommState *>(p);
  if (!dtype_valid(dtype)) return set_error(err, kInvalidArgument, "dtype %d is not valid", dtype);
  if (op < 0 || op > 3) return set_error(err, kInvalidArgument, "op %d is not SUM, MEAN, MAX or MIN", op);
  const DType dt = static_cast<DType>(dtype);
  if (op == 1 && !is_floating(dt)) return set_error(err, kDType, "MEAN needs a floating dtype");
  const MPI_Datatype type = mpi_type(dt);
  const MPI_Op mop = mpi_op(dt, op);
  const size_t es = dtype_size(dt);
  char *bytes = static_cast<char *>(data);
  for (int64_t done = 0; done < count; done += kChunk) {
    const int64_t k = count - done < kChunk ? count - done : kChunk;
    int rc = MPI_Allreduce(MPI_IN_PLACE, bytes + done * static_cast<int64_t>(es), static_cast<int>(k), type, mop,
                           c->comm);
    if (rc != MPI_SUCCESS) return mpi_error(err, "MPI_Allreduce", rc);
  }
  if (op == 1) {
    switch (dt) {
      case DType::F32: divide(static_cast<float *>(data), count, c->size); break;
      case DType::F64: divide(static_cast<double *>(data), count, c->size); break;
      case DType::F16: divide_half<F16>(static_cast<uint16_t *>(data), count, c->size); break;
      case DType::BF16: divide_half<BF16>(static_cast<uint16_t *>(data), count, c->size); break;
      default: break;
    }
  }
  return 0;
}

int broadcast(void *p, void *data, int64_t bytes, int root, nn_mpi_error *err) {
  auto *c = static_cast<CommState *>(p);
  if (root < 0 || root >= c->size) return set_error(err, kInvalidArgument, "root %d is not a rank", root);
  char *b = static_cast<char *>(data);
  for (int64_t done = 0; done < bytes; done += kChunk) {
    const int64_t k = bytes - done < kChunk ? bytes - done : kChunk;
    int rc = MPI_Bcast(b + done, static_cast<int>(k), MPI_BYTE, root, c->comm);
    if (rc != MPI_SUCCESS) return mpi_error(err, "MPI_Bcast", rc);
  }
  return 0;
}

int allgather(void *p, const void *send, void *recv, int64_t bytes, nn_mpi_error *err) {
  auto *c = static_cast<CommState *>(p);
  if (bytes > std::numeric_limits<int>::max()) return set_error(err, kInvalidArgument, "allgather of too many bytes");
  int rc = MPI_Allgather(send, static_cast<int>(bytes), MPI_BYTE, recv, static_cast<int>(bytes), MPI_BYTE, c->comm);
  if (rc != MPI_SUCCESS) return mpi_error(err, "MPI_Allgather", rc);
  return 0;
}

const nn_mpi_iface g_table = {
    NN_MPI_ABI_VERSION,
    sizeof(nn_mpi_iface),
    kHaveNccl ? 1u : 0u,
    0,
    comm_create,
    comm_free,
    allreduce,
    broadcast,
    allgather,
    device_allreduce,
    device_broadcast,
};

}  // namespace
}  // namespace nn::mpimod

extern "C" __attribute__((visibility("default"))) const nn_mpi_iface *nn_mpi_module_table(void) {
  return &nn::mpimod::g_table;
}
