// libFuzzer target for nn_model_import_onnx (nn.h group "onnx": the ONNX
// reader trusts nothing). Built and run by tests/fuzz/run.sh with
// NN_FUZZ_TARGET=fuzz_import_onnx.
//
// The public function reads a path, so each input is written to a file in a
// private temporary folder (on /dev/shm when there is one) first.
// Oracles besides the sanitizers (ASan, UBSan, LeakSanitizer) and
// libFuzzer's -malloc_limit_mb / -timeout:
//  * the status is NN_OK, NN_ERR_FORMAT or NN_ERR_UNSUPPORTED, with a message
//    naming the call, and *out is set only on NN_OK;
//  * a model that imports exports, imports again with the same layers and
//    parameter count, exports again to the same bytes, and runs a forward
//    pass.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "nn.h"

namespace {

std::string g_dir;

[[noreturn]] void die(const char *what, nn_status st) {
  std::fprintf(stderr, "fuzz_import_onnx: %s (status %d: %s)\n", what, static_cast<int>(st), nn_last_error());
  std::abort();
}

void write_file(const std::string &path, const uint8_t *data, size_t size) {
  FILE *f = std::fopen(path.c_str(), "wb");
  if (!f) die("cannot write the input file", NN_ERR_IO);
  if (size && std::fwrite(data, 1, size, f) != size) die("short write", NN_ERR_IO);
  std::fclose(f);
}

std::vector<uint8_t> read_back(const std::string &path) {
  FILE *f = std::fopen(path.c_str(), "rb");
  if (!f) die("cannot read an export back", NN_ERR_IO);
  std::vector<uint8_t> b;
  unsigned char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) b.insert(b.end(), buf, buf + n);
  std::fclose(f);
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
  if (in == 0) in = 3;
  if (in > 4096) return;
  int64_t shape[2] = {2, in};
  nn_tensor *x = nullptr, *y = nullptr;
  nn_device cpu = {NN_CPU, 0};
  if (nn_tensor_full(dt, 2, shape, 0.5, cpu, &x) != NN_OK) die("tensor_full failed", NN_ERR_INTERNAL);
  nn_status st = nn_model_forward(m, x, &y);
  if (st != NN_OK) die("forward of an imported model failed", st);
  nn_tensor_free(x);
  nn_tensor_free(y);
}

void cleanup() {
  if (g_dir.empty()) return;
  for (const char *f : {"/in.onnx", "/a.onnx", "/b.onnx"}) unlink((g_dir + f).c_str());
  rmdir(g_dir.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  nn_set_num_threads(1);
  const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp");
  std::string tmpl = std::string(base) + "/nn_fuzz_onnx_XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) die("cannot make a temporary folder", NN_ERR_IO);
  g_dir = buf.data();
  std::atexit(cleanup);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  nn_device cpu = {NN_CPU, 0};
  const std::string in = g_dir + "/in.onnx", a = g_dir + "/a.onnx", b = g_dir + "/b.onnx";
  write_file(in, data, size);
  nn_model *m = nullptr;
  nn_status st = nn_model_import_onnx(in.c_str(), cpu, &m);
  if (st == NN_ERR_FORMAT || st == NN_ERR_UNSUPPORTED) {
    const char *msg = nn_last_error();
    if (m != nullptr) die("out set on failure", st);
    if (!msg || std::strncmp(msg, "nn_model_import_onnx: ", 22) != 0) die("message does not name the call", st);
    return 0;
  }
  if (st != NN_OK || m == nullptr) die("status other than OK, FORMAT or UNSUPPORTED", st);

  st = nn_model_export_onnx(m, a.c_str());
  if (st != NN_OK) die("export of an imported model failed", st);
  nn_model *m2 = nullptr;
  st = nn_model_import_onnx(a.c_str(), cpu, &m2);
  if (st != NN_OK) die("an exported model does not import", st);
  // (an empty model exports as one Identity node, which imports as one layer)
  const int layers = nn_model_num_layers(m) ? nn_model_num_layers(m) : 1;
  if (nn_model_num_layers(m2) != layers || nn_model_num_params(m2) != nn_model_num_params(m))
    die("the re-imported model differs", st);
  st = nn_model_export_onnx(m2, b.c_str());
  if (st != NN_OK) die("second export failed", st);
  if (nn_model_num_layers(m) && read_back(a) != read_back(b))
    die("export -> import -> export is not byte-identical", st);
  forward_once(m2);
  nn_model_free(m2);
  nn_model_free(m);
  return 0;
}
