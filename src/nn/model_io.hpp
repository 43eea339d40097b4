// Models as safetensors (API.md "Persistence"): tensor names of PyTorch's
// nn.Sequential state_dict ("<i>.weight", "<i>.bias") and the architecture
// as JSON in __metadata__["nn.architecture"].
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "nn/model.hpp"

namespace nn {

std::vector<uint8_t> save_model(const Model &m);
// Validates everything before allocating parameters; throws Errc::Format
// naming what is wrong. The model is built on the CPU, then moved to dev.
std::unique_ptr<Model> load_model(const uint8_t *buf, size_t len, Device dev, const char *what);

// Bytes of a model file's prefix (the header length) and its check, run on a
// `total`-byte file before the rest is read: throws Errc::Format as
// load_model would.
constexpr size_t kModelPrefixBytes = 8;
void check_model_prefix(const uint8_t *prefix, uint64_t total, const char *what);

}  // namespace nn
