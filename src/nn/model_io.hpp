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
#include "io/file.hpp"
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
// naming what is wrong. The parameters are allocated on dev in the model's
// dtype, uninitialised, and filled once from the file (fill_tensor).
std::unique_ptr<Model> load_model(const uint8_t *buf, size_t len, Device dev, const char *what);
// The same from a parsed file (errors already prefixed with `what`): in
// memory or still on disk (read_file_header).
std::unique_ptr<Model> load_model(const safetensors::File &f, Device dev, const char *what);
// Parses a safetensors buffer; errors throw Errc::Format prefixed with `what`.
safetensors::File parse_file(const uint8_t *buf, size_t len, const char *what);
// Reads and parses a safetensors file's header: its 8-byte prefix first
// (a header length over the limit or past the end is refused before
// anything else is read), then the header; the tensors stay in `in`.
// Errc::Format prefixed with `what`, Errc::IO as InputFile's.
safetensors::File read_file_header(const InputFile &in, const char *what);

// Fills dst (contiguous, on any device) with its elements stored as src_dt
// at byte `begin` of f's data section (validated by the parse): the same
// dtype into CPU memory is one memcpy or one read straight into dst; a
// conversion runs on the host in one pass (from memory to the CPU) or in
// bounded steps (from the file, or to another device).
// stage: the staging buffers of the stepped route, reused across calls;
// stage.reserve() sizes them up front, so that a caller filling several
// tensors in place (load_weights: all or nothing) has nothing left to
// allocate once it starts.
struct FillStage {
  std::vector<uint8_t> in, conv;
  void reserve();
};
void fill_tensor(const Tensor &dst, DType src_dt, const safetensors::File &f, uint64_t begin, FillStage &stage);

}  // namespace nn
