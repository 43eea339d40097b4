// libFuzzer target for the .npy parser behind nn_tensor_load_npy (nn.h group
// "data": loading trusts nothing). Built and run by tests/fuzz/run.sh with
// NN_FUZZ_TARGET=npy.
//
// The input is the bytes of a .npy file, parsed by nn::load_npy (what
// nn_tensor_load_npy runs on the file's bytes). Oracles besides the
// sanitizers and libFuzzer's -malloc_limit_mb / -timeout:
//  * the only error is nn::Error with Errc::Format, and the header check on
//    the prefix (nn::parse_npy_header) agrees with the whole parse;
//  * a tensor that loads is no larger than the input, saves (nn::save_npy),
//    and the saved bytes load back to a tensor that saves to the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "core/error.hpp"
#include "io/npy.hpp"
#include "nn.h"

namespace {

[[noreturn]] void die(const char *what) {
  std::fprintf(stderr, "fuzz_npy: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  nn_set_num_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  // a private copy of exactly `size` bytes, so that ASan sees any overread
  std::vector<uint8_t> copy(data, data + size);
  const nn::Device cpu{};
  // The header check on the file's prefix (what nn_tensor_load_npy runs
  // before reading the data) must agree with the whole parse.
  bool header_ok = true;
  try {
    const size_t pre = size < nn::kNpyPrefixBytes ? size : nn::kNpyPrefixBytes;
    std::vector<uint8_t> prefix(copy.begin(), copy.begin() + static_cast<std::ptrdiff_t>(pre));
    nn::parse_npy_header(prefix.data(), prefix.size(), size, "fuzz prefix");
  } catch (const nn::Error &e) {
    if (e.code() != nn::Errc::Format) die(e.what());
    header_ok = false;
  }
  nn::Tensor t;
  try {
    t = nn::load_npy(copy.data(), copy.size(), cpu, "fuzz");
  } catch (const nn::Error &e) {
    if (e.code() != nn::Errc::Format) die(e.what());
    if (header_ok) die("the header check passed but the parse failed");
    return 0;
  }
  if (!header_ok) die("the header check failed but the parse passed");
  if (t.nbytes() > size) die("a tensor larger than the input");
  std::vector<uint8_t> b1 = nn::save_npy(t);
  nn::Tensor t2 = nn::load_npy(b1.data(), b1.size(), cpu, "fuzz reload");
  std::vector<uint8_t> b2 = nn::save_npy(t2);
  if (b1 != b2) die("save -> load -> save is not byte-identical");
  return 0;
}
