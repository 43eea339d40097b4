// Training checkpoints and state-dict loading (nn.h, group "persistence").
//
// A checkpoint is one safetensors file: the model exactly as save_model
// writes it, plus the optimizer's state tensors under
// "optimizer.<param name>.<state>" (momentum_buffer; exp_avg, exp_avg_sq)
// and its settings as "nn.optimizer*" / "nn.step_lr.*" __metadata__
// entries. load_model reads it as a plain model.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "io/safetensors.hpp"
#include "nn/model.hpp"
#include "nn/optim.hpp"

namespace nn {

std::vector<uint8_t> save_checkpoint(const Model &m, const Optimizer &opt, const char *what);

// Validates the whole file (the model as load_model does, then every
// optimizer entry and tensor) before building anything; Errc::Format naming
// what is wrong. The model lives on dev, its optimizer with it; parameters
// and state are filled once from f (in memory or still on disk: see
// nn/model_io's load_model).
std::pair<std::unique_ptr<Model>, std::unique_ptr<Optimizer>> load_checkpoint(const safetensors::File &f,
                                                                               Device dev, const char *what);

// load_state_dict(strict=True): every "<i>.weight" / "<i>.bias" of the model
// present with its shape, nothing else (a checkpoint's optimizer tensors
// aside); values converted to the model's dtype. All or nothing: the file
// is in memory (buf), checked whole, then copied into the parameters.
void load_weights(Model &m, const uint8_t *buf, size_t len, const char *what);

}  // namespace nn
