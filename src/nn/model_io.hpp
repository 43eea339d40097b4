// Models as safetensors (API.md "Persistence"): tensor names of PyTorch's
// nn.Sequential state_dict ("<i>.weight", "<i>.bias") and the architecture
// as JSON in __metadata__["nn.architecture"].
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "io/safetensors.hpp"
#include "nn/model.hpp"

namespace nn {

// User metadata (nn_model_set_metadata): limits stated in nn.h. Keys
// starting with "nn." are the library's own.
constexpr size_t kMetaMaxKeyBytes = 128;
constexpr size_t kMetaMaxValueBytes = 65536;
constexpr size_t kMetaMaxEntries = 128;
bool is_reserved_key(const std::string &key);
// Throws `code` (InvalidArgument for a setter, Format for a file) naming what
// breaks the rules: key 1..128 bytes, not reserved; value <= 65536 bytes;
// both valid UTF-8 without NUL bytes.
void check_metadata_entry(const std::string &key, const std::string &value, Errc code, const char *what);

// safetensors dtype names of our dtypes, and back (all eight dtypes).
const char *st_dtype(DType dt);
bool st_to_dtype(const std::string &s, DType *dt);
// "<i>.weight" / "<i>.bias"
std::string param_name(int layer, bool bias);
// The key whose presence in __metadata__ marks a checkpoint (nn/checkpoint):
// its "optimizer.*" tensors are then the optimizer's, not the model's.
extern const char *const kOptimizerKey;

// The model's tensors and metadata (nn.architecture, then the user's), with
// `extra` tensors and metadata appended (a checkpoint's optimizer state).
std::vector<uint8_t> save_model(const Model &m, const std::vector<safetensors::Out> &extra = {},
                                const std::vector<std::pair<std::string, std::string>> &extra_meta = {});
// Validates everything before allocating parameters; throws Errc::Format
// naming what is wrong. The model is built on the CPU, then moved to dev.
std::unique_ptr<Model> load_model(const uint8_t *buf, size_t len, Device dev, const char *what);
// The same from a parsed file (errors already prefixed with `what`).
std::unique_ptr<Model> load_model(const safetensors::File &f, Device dev, const char *what);
// Parses a safetensors buffer; errors throw Errc::Format prefixed with `what`.
safetensors::File parse_file(const uint8_t *buf, size_t len, const char *what);

// Bytes of a model file's prefix (the header length) and its check, run on a
// `total`-byte file before the rest is read: throws Errc::Format as
// load_model would.
constexpr size_t kModelPrefixBytes = 8;
void check_model_prefix(const uint8_t *prefix, uint64_t total, const char *what);

}  // namespace nn
