// The GPU half of libnn_mpi.so: tensors in CUDA memory are reduced and
// broadcast with NCCL. One NCCL communicator (and one CUDA stream) per comm
// and device, made on the first collective on that device: rank 0 draws the
// unique id and broadcasts it over the comm's MPI communicator, then every
// rank calls ncclCommInitRank. libnccl.so.2 is opened with dlopen() on that
// first use (so the module loads on machines without NCCL; the CUDA runtime
// is linked statically and needs only the driver, when a GPU is used).
//
// Every call is synchronous: the device is synchronised first (the tensor
// may have been written on any stream, e.g. a model's), then the collective
// runs on the module's stream, which is synchronised before returning.
//
// Built only with NN_MPI_WITH_NCCL (CMake found the CUDA Toolkit and
// nccl.h); otherwise the stubs at the end answer Unsupported.
#include "backend/mpi/mpi_internal.hpp"

#ifdef NN_MPI_WITH_NCCL

#include <cuda_runtime.h>
#include <dlfcn.h>
#include <nccl.h>

#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "core/dtype.hpp"

namespace nn::mpimod {

const bool kHaveNccl = true;

namespace {

struct NcclApi {
  ncclResult_t (*GetUniqueId)(ncclUniqueId *);
  ncclResult_t (*CommInitRank)(ncclComm_t *, int, ncclUniqueId, int);
  ncclResult_t (*AllReduce)(const void *, void *, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t, cudaStream_t);
  ncclResult_t (*Broadcast)(const void *, void *, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t);
  ncclResult_t (*CommDestroy)(ncclComm_t);
  const char *(*GetErrorString)(ncclResult_t);
};

// libnccl.so.2, or NULL with the reason in *why.
const NcclApi *nccl_api(std::string *why) {
  static std::mutex mu;
  static NcclApi api;
  static bool loaded = false;
  static std::string reason;
  std::lock_guard<std::mutex> lock(mu);
  if (loaded) return &api;
  if (!reason.empty()) {
    *why = reason;
    return nullptr;
  }
  void *h = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
  if (!h) h = dlopen("libnccl.so", RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *e = dlerror();
    reason = std::string("NCCL is not installed (libnccl.so.2: ") + (e ? e : "not found") + ")";
    *why = reason;
    return nullptr;
  }
  bool ok = true;
  auto sym = [&](const char *name) {
    void *p = dlsym(h, name);
    if (!p) ok = false;
    return p;
  };
  api.GetUniqueId = reinterpret_cast<decltype(api.GetUniqueId)>(sym("ncclGetUniqueId"));
  api.CommInitRank = reinterpret_cast<decltype(api.CommInitRank)>(sym("ncclCommInitRank"));
  api.AllReduce = reinterpret_cast<decltype(api.AllReduce)>(sym("ncclAllReduce"));
  api.Broadcast = reinterpret_cast<decltype(api.Broadcast)>(sym("ncclBroadcast"));
  api.CommDestroy = reinterpret_cast<decltype(api.CommDestroy)>(sym("ncclCommDestroy"));
  api.GetErrorString = reinterpret_cast<decltype(api.GetErrorString)>(sym("ncclGetErrorString"));
  if (!ok) {
    reason = "libnccl.so.2 lacks an entry point libnn needs (NCCL 2.10 or newer is needed)";
    *why = reason;
    return nullptr;
  }
  loaded = true;
  return &api;
}

struct PerDevice {
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;
};

}  // namespace

struct NcclState {
  std::map<int, PerDevice> devices;
};

namespace {

std::mutex g_all_mu;
std::set<CommState *> g_all;  // comms with NCCL state, for nccl_finalize_all

// Restores the calling thread's current device on scope exit.
struct DeviceGuard {
  int prev = -1;
  explicit DeviceGuard(int dev) {
    if (cudaGetDevice(&prev) != cudaSuccess) prev = -1;
    cudaSetDevice(dev);
  }
  ~DeviceGuard() {
    if (prev >= 0) cudaSetDevice(prev);
  }
};

int cuda_error(nn_mpi_error *err, const char *call, cudaError_t e) {
  return set_error(err, kDevice, "%s failed: %s", call, cudaGetErrorString(e));
}
int nccl_error(nn_mpi_error *err, const NcclApi *api, const char *call, ncclResult_t r) {
  return set_error(err, kInternal, "%s failed: %s", call, api->GetErrorString(r));
}

// The NCCL communicator of c on `device`, made collectively on first use.
int per_device(CommState *c, int device, const NcclApi **api_out, PerDevice **out, nn_mpi_error *err) {
  // Every rank takes part in the id broadcast even when its own NCCL is
  // missing, so that a missing library fails on every rank instead of hanging.
  std::string why;
  const NcclApi *api = nccl_api(&why);
  if (!c->nccl) {
    c->nccl = new NcclState;
    std::lock_guard<std::mutex> lock(g_all_mu);
    g_all.insert(c);
  }
  auto it = c->nccl->devices.find(device);
  if (it != c->nccl->devices.end()) {
    *api_out = api;
    *out = &it->second;
    return 0;
  }
  struct {
    int32_t ok;
    int32_t pad;
    ncclUniqueId id;
  } msg;
  std::memset(&msg, 0, sizeof msg);
  if (c->rank == 0) {
    msg.ok = api && api->GetUniqueId(&msg.id) == ncclSuccess;
  }
  int rc = MPI_Bcast(&msg, sizeof msg, MPI_BYTE, 0, c->comm);
  if (rc != MPI_SUCCESS) return mpi_error(err, "MPI_Bcast (NCCL unique id)", rc);
  // Every rank must have NCCL before any calls ncclCommInitRank (which
  // would wait for the missing ones forever).
  int have = api ? 1 : 0, all_have = 0;
  rc = MPI_Allreduce(&have, &all_have, 1, MPI_INT, MPI_MIN, c->comm);
  if (rc != MPI_SUCCESS) return mpi_error(err, "MPI_Allreduce (NCCL presence)", rc);
  if (!api) return set_error(err, kUnsupported, "%s", why.c_str());
  if (!all_have) return set_error(err, kUnsupported, "another rank of the group has no usable NCCL");
  if (!msg.ok) return set_error(err, kUnsupported, "rank 0 could not make an NCCL unique id");
  DeviceGuard g(device);
  PerDevice pd;
  cudaError_t ce = cudaStreamCreateWithFlags(&pd.stream, cudaStreamNonBlocking);
  if (ce != cudaSuccess) return cuda_error(err, "cudaStreamCreateWithFlags", ce);
  ncclResult_t nr = api->CommInitRank(&pd.comm, c->size, msg.id, c->rank);
  if (nr != ncclSuccess) {
    cudaStreamDestroy(pd.stream);
    return nccl_error(err, api, "ncclCommInitRank", nr);
  }
  auto ins = c->nccl->devices.emplace(device, pd);
  *api_out = api;
  *out = &ins.first->second;
  return 0;
}

bool nccl_type(int dtype, ncclDataType_t *t) {
  switch (static_cast<DType>(dtype)) {
    case DType::F32: *t = ncclFloat32; return true;
    case DType::F64: *t = ncclFloat64; return true;
    case DType::F16: *t = ncclFloat16; return true;
    case DType::BF16: *t = ncclBfloat16; return true;
    case DType::U8: *t = ncclUint8; return true;
    case DType::I32: *t = ncclInt32; return true;
    case DType::I64: *t = ncclInt64; return true;
    case DType::I16: return false;  // NCCL has no 16-bit integer type
  }
  return false;
}

// One collective on `device`: the device's earlier work first, then `call`
// on the comm's NCCL stream, waited for (correct, not overlapped).
template <class F>
int run_collective(CommState *c, int device, const char *what, nn_mpi_error *err, F &&call) {
  const NcclApi *api = nullptr;
  PerDevice *pd = nullptr;
  int rc = per_device(c, device, &api, &pd, err);
  if (rc) return rc;
  DeviceGuard g(device);
  cudaError_t ce = cudaDeviceSynchronize();
  if (ce != cudaSuccess) return cuda_error(err, "cudaDeviceSynchronize", ce);
  ncclResult_t nr = call(api, pd);
  if (nr != ncclSuccess) return nccl_error(err, api, what, nr);
  ce = cudaStreamSynchronize(pd->stream);
  if (ce != cudaSuccess) return cuda_error(err, "cudaStreamSynchronize", ce);
  return 0;
}

}  // namespace

int device_allreduce(void *p, int device, void *data, int64_t count, int dtype, int op, nn_mpi_error *err) {
  auto *c = static_cast<CommState *>(p);
  ncclDataType_t t;
  if (!dtype_valid(dtype)) return set_error(err, kInvalidArgument, "dtype %d is not valid", dtype);
  if (!nccl_type(dtype, &t))
    return set_error(err, kDType, "NCCL has no %s type: reduce an int16 tensor on the CPU", dtype_name(static_cast<DType>(dtype)));
  ncclRedOp_t o;
  switch (op) {
    case 0: o = ncclSum; break;
    case 1: o = ncclAvg; break;
    case 2: o = ncclMax; break;
    case 3: o = ncclMin; break;
    default: return set_error(err, kInvalidArgument, "op %d is not SUM, MEAN, MAX or MIN", op);
  }
  return run_collective(c, device, "ncclAllReduce", err, [&](const NcclApi *api, PerDevice *pd) {
    return api->AllReduce(data, data, static_cast<size_t>(count), t, o, pd->comm, pd->stream);
  });
}

int device_broadcast(void *p, int device, void *data, int64_t bytes, int root, nn_mpi_error *err) {
  auto *c = static_cast<CommState *>(p);
  if (root < 0 || root >= c->size) return set_error(err, kInvalidArgument, "root %d is not a rank", root);
  return run_collective(c, device, "ncclBroadcast", err, [&](const NcclApi *api, PerDevice *pd) {
    return api->Broadcast(data, data, static_cast<size_t>(bytes), ncclUint8, root, pd->comm, pd->stream);
  });
}

void nccl_free(CommState *c) {
  if (!c->nccl) return;
  std::string why;
  const NcclApi *api = nccl_api(&why);
  for (auto &kv : c->nccl->devices) {
    DeviceGuard g(kv.first);
    if (api) api->CommDestroy(kv.second.comm);
    cudaStreamDestroy(kv.second.stream);
  }
  delete c->nccl;
  c->nccl = nullptr;
  std::lock_guard<std::mutex> lock(g_all_mu);
  g_all.erase(c);
}

void nccl_finalize_all() {
  std::set<CommState *> all;
  {
    std::lock_guard<std::mutex> lock(g_all_mu);
    all = g_all;
  }
  for (CommState *c : all) nccl_free(c);
}

}  // namespace nn::mpimod

#else  // no NCCL in this build

namespace nn::mpimod {

const bool kHaveNccl = false;
struct NcclState {};

int device_allreduce(void *, int, void *, int64_t, int, int, nn_mpi_error *err) {
  return set_error(err, kUnsupported, "libnn_mpi.so was built without NCCL: GPU tensors cannot be reduced");
}
int device_broadcast(void *, int, void *, int64_t, int, nn_mpi_error *err) {
  return set_error(err, kUnsupported, "libnn_mpi.so was built without NCCL: GPU tensors cannot be broadcast");
}
void nccl_free(CommState *) {}
void nccl_finalize_all() {}

}  // namespace nn::mpimod

#endif
