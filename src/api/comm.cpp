// extern "C" shims for process groups (nn.h group "comm").
#include "api/comm.hpp"

#include "api/api.hpp"
#include "nn/fit_comm.hpp"

using namespace nn;
using namespace nn::api;

namespace {

Comm &comm_arg(const nn_comm *c, const char *fn) { return *non_null(c, fn, "c")->comm; }

}  // namespace

extern "C" {

NN_API nn_status nn_comm_mpi(const void *mpi_comm, nn_comm **out) {
  const char *fn = "nn_comm_mpi";
  return guard(fn, [&] {
    non_null(out, fn, "out");
    *out = nullptr;
    std::shared_ptr<Comm> c = comm_mpi(mpi_comm, fn);
    *out = new nn_comm{std::move(c)};
  });
}

NN_API void nn_comm_free(nn_comm *c) {
  try {
    delete c;
  } catch (...) {
  }
}

NN_API int nn_comm_rank(const nn_comm *c) { return c ? c->comm->rank() : -1; }

NN_API int nn_comm_size(const nn_comm *c) { return c ? c->comm->size() : -1; }

NN_API nn_status nn_comm_allreduce(const nn_comm *c, nn_tensor *t, nn_reduce_op op) {
  const char *fn = "nn_comm_allreduce";
  return guard(fn, [&] {
    Comm &comm = comm_arg(c, fn);
    const Tensor &tt = tensor_arg(t, fn, "t");
    // Any int: an unknown op is an argument error that the ranks agree on.
    comm.allreduce(tt, static_cast<ReduceOp>(enum_value(op)), true, fn);
  });
}

NN_API nn_status nn_comm_broadcast(const nn_comm *c, nn_tensor *t, int root) {
  const char *fn = "nn_comm_broadcast";
  return guard(fn, [&] {
    Comm &comm = comm_arg(c, fn);
    const Tensor &tt = tensor_arg(t, fn, "t");
    comm.broadcast(tt, root, true, fn);
  });
}

NN_API nn_status nn_model_broadcast(const nn_comm *c, nn_model *m, int root) {
  const char *fn = "nn_model_broadcast";
  return guard(fn, [&] {
    Comm &comm = comm_arg(c, fn);
    Model &model = model_arg(m, fn);
    broadcast_parameters(comm, model, root, fn);
  });
}

}  // extern "C"
