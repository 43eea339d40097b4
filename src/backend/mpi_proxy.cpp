// MpiComm: a Comm that forwards every collective through the C table
// exported by libnn_mpi.so (mpi_abi.h) and turns a failure code and its
// message into nn::Error. Exceptions never cross the library boundary.
//
// libnn_mpi.so is looked up: $NN_MPI_MODULE_PATH alone when it is set (a
// file, or a folder holding libnn_mpi.so); otherwise next to libnn.so
// (dladdr), then the dynamic linker's default search path.
#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#include "backend/abi_error.hpp"
#include "backend/module.hpp"
#include "backend/comm.hpp"
#include "backend/mpi_abi.h"
#include "core/error.hpp"
#include "core/ops.hpp"

namespace nn {
namespace {

constexpr const char *kLibName = "libnn_mpi.so";

struct Loaded {
  const nn_mpi_iface *table = nullptr;
  std::string reason;  // why table is NULL
};

// The module's dlerror() says "libmpi.so.40: cannot open shared object file"
// when the module is there but the MPI runtime is not.
bool mentions_mpi_runtime(const std::string &e) {
  return e.find("libmpi") != std::string::npos || e.find("libopen-") != std::string::npos ||
         e.find("libnccl") != std::string::npos;
}

Loaded load() {
  Loaded r;
  std::vector<std::string> errors;
  void *h = open_module(kLibName, "NN_MPI_MODULE_PATH", true, errors);
  std::string tried, runtime_missing;
  for (const std::string &msg : errors) {
    if (mentions_mpi_runtime(msg) && runtime_missing.empty()) runtime_missing = msg;
    tried += (tried.empty() ? "" : "; ") + msg;
  }
  if (!h) {
    if (!runtime_missing.empty())
      r.reason = "no MPI runtime: " + std::string(kLibName) +
                 " was found but cannot load its MPI library (install Open MPI, e.g. Debian's openmpi-bin): " +
                 runtime_missing;
    else
#ifdef NN_HAVE_MPI_MODULE
      r.reason = std::string("the MPI module ") + kLibName + " is missing: " + tried;
#else
      r.reason = std::string("this build has no MPI module (") + kLibName +
                 " was not built: CMake found no MPI; tried " + tried + ")";
#endif
    return r;
  }
  dlerror();
  auto fn = reinterpret_cast<nn_mpi_module_table_fn>(dlsym(h, NN_MPI_ENTRY_SYMBOL));
  const nn_mpi_iface *t = fn ? fn() : nullptr;
  if (!t) {
    r.reason = std::string(kLibName) + " has no " NN_MPI_ENTRY_SYMBOL " entry point";
    return r;
  }
  if (t->abi_version < NN_MPI_ABI_VERSION || t->table_size < sizeof(nn_mpi_iface)) {
    r.reason = strprintf("%s speaks MPI module ABI %u, this libnn needs %d or newer (rebuild both together)",
                         kLibName, t->abi_version, NN_MPI_ABI_VERSION);
    return r;
  }
  r.table = t;
  return r;
}

// Loaded once per process; a failed load is retried on the next call (the
// caller may fix NN_MPI_MODULE_PATH), a successful one is kept for good.
const nn_mpi_iface *table_or_throw(const char *what) {
  static std::mutex mu;
  static const nn_mpi_iface *table = nullptr;
  std::lock_guard<std::mutex> lock(mu);
  if (table) return table;
  Loaded l = load();
  if (!l.table) fail(Errc::Unsupported, "%s: %s", what, l.reason.c_str());
  table = l.table;
  return table;
}

template <class F>
void call(const char *what, F &&f) {
  nn_mpi_error e;
  e.message[0] = '\0';
  int code = f(&e);
  if (code == 0) return;
  e.message[sizeof(e.message) - 1] = '\0';
  fail(errc_of_code(code), "%s: %s", what, e.message[0] ? e.message : "MPI module: unknown error");
}

const char *op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return "SUM";
    case ReduceOp::Mean: return "MEAN";
    case ReduceOp::Max: return "MAX";
    case ReduceOp::Min: return "MIN";
    case ReduceOp::Argmax: return "ARGMAX";
  }
  return "?";
}

class MpiComm final : public Comm {
 public:
  MpiComm(const nn_mpi_iface *t, void *c, int rank, int size) : t_(t), c_(c), rank_(rank), size_(size) {}
  ~MpiComm() override { t_->comm_free(c_); }
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void allreduce(const Tensor &t, ReduceOp op, bool checked, const char *what) override {
    Local local;
    if (op != ReduceOp::Sum && op != ReduceOp::Mean && op != ReduceOp::Max && op != ReduceOp::Min)
      local.set(Errc::InvalidArgument, strprintf("%s: op is %d; a collective reduction takes SUM, MEAN, MAX or MIN",
                                                 what, static_cast<int>(op)));
    else if (op == ReduceOp::Mean && !is_floating(t.dtype()))
      local.set(Errc::DType, strprintf("%s: MEAN needs a floating dtype; got %s", what, dtype_name(t.dtype())));
    else
      check_device(t, local, what);
    if (checked) agree(local, t, static_cast<int64_t>(op), "op", what);
    local.throw_if_failed();
    run_contiguous(t, what, [&](const Tensor &c) {
      const int dt = static_cast<int>(c.dtype());
      if (c.device().type == DeviceType::CPU)
        call(what, [&](nn_mpi_error *e) { return t_->allreduce(c_, c.data(), c.numel(), dt, static_cast<int>(op), e); });
      else
        call(what, [&](nn_mpi_error *e) {
          return t_->device_allreduce(c_, c.device().index, c.data(), c.numel(), dt, static_cast<int>(op), e);
        });
    });
  }

  void broadcast(const Tensor &t, int root, bool checked, const char *what) override {
    Local local;
    if (root < 0 || root >= size_)
      local.set(Errc::InvalidArgument,
                strprintf("%s: root is %d; the group's ranks are 0..%d", what, root, size_ - 1));
    else
      check_device(t, local, what);
    if (checked) agree(local, t, root, "root", what);
    local.throw_if_failed();
    run_contiguous(t, what, [&](const Tensor &c) {
      const int64_t bytes = static_cast<int64_t>(c.nbytes());
      if (c.device().type == DeviceType::CPU)
        call(what, [&](nn_mpi_error *e) { return t_->broadcast(c_, c.data(), bytes, root, e); });
      else
        call(what, [&](nn_mpi_error *e) {
          return t_->device_broadcast(c_, c.device().index, c.data(), bytes, root, e);
        });
    });
  }

  void allgather(const void *send, void *recv, size_t bytes, const char *what) override {
    call(what, [&](nn_mpi_error *e) {
      return t_->allgather(c_, send, recv, static_cast<int64_t>(bytes), e);
    });
  }

  void allreduce_host(double *values, int64_t n, ReduceOp op, const char *what) override {
    call(what, [&](nn_mpi_error *e) {
      return t_->allreduce(c_, values, n, static_cast<int>(DType::F64), static_cast<int>(op), e);
    });
  }

 private:
  // An argument error found on this rank, held back until the ranks have
  // agreed (so that the others fail too instead of waiting).
  struct Local {
    Errc code = Errc::InvalidArgument;
    std::string message;
    bool failed = false;
    void set(Errc c, std::string m) {
      code = c;
      message = std::move(m);
      failed = true;
    }
    void throw_if_failed() const {
      if (failed) throw Error(code, message);
    }
  };
  void check_device(const Tensor &t, Local &local, const char *what) const {
    if (t.device().type == DeviceType::CUDA && !t_->has_nccl)
      local.set(Errc::Unsupported, strprintf("%s: the tensor is on %s, but %s was built without NCCL (GPU tensors "
                                             "need it)", what, t.device().str().c_str(), kLibName));
    else if (t.device().type != DeviceType::CPU && t.device().type != DeviceType::CUDA)
      local.set(Errc::Device, strprintf("%s: tensors on %s cannot be reduced across processes", what,
                                        t.device().str().c_str()));
  }

  // One small allgather of (failed, code, dtype, element count, device type,
  // extra, message): an argument error on any rank, or a mismatch, throws on
  // every rank (the same message everywhere for a mismatch).
  struct Record {
    int64_t failed, code, dtype, numel, device, extra;
    char message[208];
  };
  void agree(Local &local, const Tensor &t, int64_t extra, const char *extra_name, const char *what) {
    Record mine;
    std::memset(&mine, 0, sizeof mine);
    mine.failed = local.failed ? 1 : 0;
    mine.code = static_cast<int64_t>(local.code);
    mine.dtype = static_cast<int64_t>(t.dtype());
    mine.numel = t.numel();
    mine.device = static_cast<int64_t>(t.device().type);
    mine.extra = extra;
    std::strncpy(mine.message, local.message.c_str(), sizeof mine.message - 1);
    std::vector<Record> all(static_cast<size_t>(size_));
    allgather(&mine, all.data(), sizeof mine, what);
    if (local.failed) return;  // this rank's own error is thrown by the caller
    for (int r = 0; r < size_; ++r) {
      const Record &o = all[static_cast<size_t>(r)];
      if (o.failed)
        fail(static_cast<Errc>(o.code), "%s: rank %d failed its argument checks: %s", what, r, o.message);
    }
    const Record &a = all[0];
    for (int r = 1; r < size_; ++r) {
      const Record &b = all[static_cast<size_t>(r)];
      if (a.dtype != b.dtype)
        fail(Errc::DType, "%s: the ranks pass different dtypes: rank 0 %s, rank %d %s", what,
             dtype_name(static_cast<DType>(a.dtype)), r, dtype_name(static_cast<DType>(b.dtype)));
      if (a.numel != b.numel)
        fail(Errc::Shape, "%s: the ranks pass different element counts: rank 0 %lld, rank %d %lld", what,
             static_cast<long long>(a.numel), r, static_cast<long long>(b.numel));
      if (a.device != b.device)
        fail(Errc::Device, "%s: the ranks pass tensors on different kinds of device: rank 0 %s, rank %d %s", what,
             a.device == static_cast<int64_t>(DeviceType::CPU) ? "cpu" : "cuda", r,
             b.device == static_cast<int64_t>(DeviceType::CPU) ? "cpu" : "cuda");
      if (a.extra != b.extra) {
        if (std::strcmp(extra_name, "op") == 0)
          fail(Errc::InvalidArgument, "%s: the ranks pass different ops: rank 0 %s, rank %d %s", what,
               op_name(static_cast<ReduceOp>(a.extra)), r, op_name(static_cast<ReduceOp>(b.extra)));
        fail(Errc::InvalidArgument, "%s: the ranks pass different %ss: rank 0 %lld, rank %d %lld", what, extra_name,
             static_cast<long long>(a.extra), r, static_cast<long long>(b.extra));
      }
    }
  }

  // f on t itself when contiguous, else on a contiguous copy written back.
  template <class F>
  void run_contiguous(const Tensor &t, const char *what, F &&f) {
    if (t.numel() == 0) return;
    if (t.is_contiguous()) return f(t);
    Tensor c = t.contiguous();
    f(c);
    copy_into(t, c, what);
  }

  const nn_mpi_iface *t_;
  void *c_;
  int rank_, size_;
};

}  // namespace

std::shared_ptr<Comm> comm_mpi(const void *mpi_comm, const char *what) {
  const nn_mpi_iface *t = table_or_throw(what);
  void *c = nullptr;
  int rank = -1, size = -1;
  call(what, [&](nn_mpi_error *e) { return t->comm_create(mpi_comm, &c, &rank, &size, e); });
  return std::make_shared<MpiComm>(t, c, rank, size);
}

}  // namespace nn
