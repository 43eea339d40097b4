// The nn_comm handle, shared by the comm shims (comm.cpp) and nn_model_fit
// (fit.cpp reads nn_fit_options::comm).
#pragma once
#include <memory>

#include "backend/comm.hpp"

struct nn_comm {
  std::shared_ptr<nn::Comm> comm;
};
