// libFuzzer target for nn_model_load_buffer (API.md "Persistence": loading
// trusts nothing). Built and run by tests/fuzz/run.sh.
//
// Oracles besides the sanitizers (ASan, UBSan, LeakSanitizer) and
// libFuzzer's -malloc_limit_mb / -timeout:
//  * the status is NN_OK or NN_ERR_FORMAT, with a message naming the call,
//    and *out is set only on NN_OK;
//  * a model that loads saves, reloads and saves again to the same bytes,
//    with the same layer count, and runs a forward pass.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "nn.h"

namespace {

[[noreturn]] void die(const char *what, nn_status st) {
  std::fprintf(stderr, "fuzz_load_buffer: %s (status %d: %s)\n", what, static_cast<int>(st), nn_last_error());
  std::abort();
}

std::vector<uint8_t> save(const nn_model *m) {
  size_t n = 0;
  nn_status st = nn_model_save_buffer(m, nullptr, 0, &n);
  if (st != NN_OK) die("save_buffer size failed", st);
  std::vector<uint8_t> b(n);
  st = nn_model_save_buffer(m, b.data(), b.size(), &n);
  if (st != NN_OK || n != b.size()) die("save_buffer failed", st);
  return b;
}

void forward_once(nn_model *m) {
  int64_t in = 0;
  nn_dtype dt = NN_F32;
  for (int i = 0; i < nn_model_num_layers(m) && in == 0; ++i) {
    nn_layer *l = nullptr;
    if (nn_model_layer(m, i, &l) != NN_OK) die("model_layer failed", NN_ERR_INTERNAL);
    if (nn_layer_kind_of(l) != NN_LAYER_LINEAR) continue;
    nn_tensor *w = nullptr;
    if (nn_layer_param(l, NN_PARAM_WEIGHT, &w) != NN_OK) die("layer_param failed", NN_ERR_INTERNAL);
    int64_t shape[8];
    nn_tensor_shape(w, shape);
    in = shape[1];
    dt = nn_tensor_dtype(w);
    nn_tensor_free(w);
  }
  if (in == 0) in = 3;  // no Linear layer: any width
  if (in > 4096) return;
  int64_t shape[2] = {2, in};
  nn_tensor *x = nullptr, *y = nullptr;
  nn_device cpu = {NN_CPU, 0};
  if (nn_tensor_full(dt, 2, shape, 0.5, cpu, &x) != NN_OK) die("tensor_full failed", NN_ERR_INTERNAL);
  nn_status st = nn_model_forward(m, x, &y);
  if (st != NN_OK) die("forward of a loaded model failed", st);
  nn_tensor_free(x);
  nn_tensor_free(y);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  nn_set_num_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  nn_device cpu = {NN_CPU, 0};
  nn_model *m = nullptr;
  // a private copy of exactly `size` bytes, so that ASan sees any overread
  std::vector<uint8_t> copy(data, data + size);
  nn_status st = nn_model_load_buffer(size ? copy.data() : nullptr, size, cpu, &m);
  if (st == NN_ERR_FORMAT) {
    const char *msg = nn_last_error();
    if (m != nullptr) die("out set on failure", st);
    if (!msg || std::strncmp(msg, "nn_model_load_buffer: ", 22) != 0) die("message does not name the call", st);
    return 0;
  }
  if (st != NN_OK || m == nullptr) die("status other than OK or FORMAT", st);

  std::vector<uint8_t> b1 = save(m);
  nn_model *m2 = nullptr;
  st = nn_model_load_buffer(b1.data(), b1.size(), cpu, &m2);
  if (st != NN_OK) die("a saved model does not load", st);
  if (nn_model_num_layers(m2) != nn_model_num_layers(m) || nn_model_num_params(m2) != nn_model_num_params(m))
    die("the reloaded model differs", st);
  std::vector<uint8_t> b2 = save(m2);
  if (b1 != b2) die("save -> load -> save is not byte-identical", st);
  forward_once(m2);
  nn_model_free(m2);
  nn_model_free(m);
  return 0;
}
