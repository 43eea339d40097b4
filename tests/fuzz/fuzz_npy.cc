// libFuzzer target for the .npy parser behind nn_tensor_load_npy (nn.h group
// "data": loading trusts nothing). Built and run by tests/fuzz/run.sh with
// NN_FUZZ_TARGET=npy.
//
// The input is the bytes of a .npy file, parsed by nn::load_npy (what
// nn_tensor_load_npy runs on the file's bytes). Oracles besides the
// sanitizers and libFuzzer's -malloc_limit_mb / -timeout:
//  * the only error is nn::Error with Errc::Format;
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
  nn::Tensor t;
  try {
    t = nn::load_npy(copy.data(), copy.size(), cpu, "fuzz");
  } catch (const nn::Error &e) {
    if (e.code() != nn::Errc::Format) die(e.what());
    return 0;
  }
  if (t.nbytes() > size) die("a tensor larger than the input");
  std::vector<uint8_t> b1 = nn::save_npy(t);
  nn::Tensor t2 = nn::load_npy(b1.data(), b1.size(), cpu, "fuzz reload");
  std::vector<uint8_t> b2 = nn::save_npy(t2);
  if (b1 != b2) die("save -> load -> save is not byte-identical");
  return 0;
}
