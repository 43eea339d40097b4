/* bench_export_c: per-row latency of the C source nn_model_export_c writes,
 * against nn_model_predict and nn_model_forward, on the tiny 10-40-40-5 net
 * (ReLU hidden layers) of the CPU benchmark. Prints figures; never fails on
 * time (exit 1 only when something does not work).
 *
 *     build/tests/bench_export_c [iterations]     (default 200000)
 *
 * The generated file is compiled with the build's C compiler (NN_BENCH_CC)
 * at -O2 and -O3, with double (default) and float accumulation, into shared objects and loaded with dlopen, so the generated code
 * is timed as a user would build it. One row per call in every case.
 */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn.h"

#ifndef NN_BENCH_CC
#define NN_BENCH_CC "cc"
#endif

#define CHECK(call)                                                                                   \
  do {                                                                                                \
    nn_status s_ = (call);                                                                            \
    if (s_ != NN_OK) {                                                                                \
      fprintf(stderr, "%s failed: %s\n", #call, nn_last_error());                                     \
      exit(1);                                                                                        \
    }                                                                                                 \
  } while (0)

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef void (*predict_fn)(const float *x, float *y);

int main(int argc, char **argv) {
  const int64_t sizes[] = {10, 40, 40, 5}, xshape[] = {1, 10};
  const long iters = argc > 1 ? atol(argv[1]) : 200000;
  const long lib_iters = iters / 4 > 0 ? iters / 4 : 1;
  char dir[] = "/tmp/nn_bench_export_c_XXXXXX", path[256], cmd[1024];
  nn_model *m;
  nn_tensor *x, *y;
  static const char *const variants[] = {"-O2", "-O3", "-O2 -DTINY_FLOAT_ACCUMULATE", "-O3 -DTINY_FLOAT_ACCUMULATE"};
  enum { N_VARIANTS = 4 };
  void *so[N_VARIANTS];
  predict_fn predict[N_VARIANTS];
  double t_gen[N_VARIANTS];
  int v;
  void *sym;
  float xv[10], yc[5], yl[5], sink = 0;
  double t0, t_fwd, t_np, t_pred, maxdiff = 0;
  long i;
  int k;

  CHECK(nn_set_num_threads(1));
  CHECK(nn_model_mlp(4, sizes, NN_ACT_RELU, NN_ACT_IDENTITY, &m));
  CHECK(nn_model_init(m, NN_INIT_TORCH_DEFAULT, 1));
  if (!mkdtemp(dir)) return 1;
  snprintf(path, sizeof path, "%s/tiny.c", dir);
  CHECK(nn_model_export_c(m, path, "tiny"));
  for (v = 0; v < N_VARIANTS; v++) {
    snprintf(cmd, sizeof cmd, "'%s' -std=c99 %s -shared -fPIC '%s/tiny.c' -o '%s/tiny%d.so' -lm", NN_BENCH_CC,
             variants[v], dir, dir, v);
    if (system(cmd) != 0) {
      fprintf(stderr, "cannot compile the generated file: %s\n", cmd);
      return 1;
    }
    snprintf(path, sizeof path, "%s/tiny%d.so", dir, v);
    so[v] = dlopen(path, RTLD_NOW);
    if (!so[v]) {
      fprintf(stderr, "dlopen: %s\n", dlerror());
      return 1;
    }
    sym = dlsym(so[v], "tiny_predict");
    if (!sym) return 1;
    memcpy(&predict[v], &sym, sizeof predict[v]);
  }

  for (k = 0; k < 10; k++) xv[k] = (float)(0.1 * k - 0.45);
  CHECK(nn_tensor_from_data(NN_F32, 2, xshape, xv, (nn_device){NN_CPU, 0}, &x));
  /* Same outputs first. */
  predict[0](xv, yc);
  CHECK(nn_model_forward(m, x, &y));
  CHECK(nn_tensor_read(y, yl, sizeof yl));
  nn_tensor_free(y);
  for (k = 0; k < 5; k++) maxdiff = fmax(maxdiff, fabs((double)yc[k] - (double)yl[k]) / fmax(fabs((double)yl[k]), 1e-30));

  for (v = 0; v < N_VARIANTS; v++) {
    t0 = now();
    for (i = 0; i < iters; i++) {
      xv[0] = (float)(i & 7);
      predict[v](xv, yc);
      sink += yc[0];
    }
    t_gen[v] = (now() - t0) / (double)iters;
  }

  t0 = now();
  for (i = 0; i < lib_iters; i++) {
    CHECK(nn_model_forward(m, x, &y));
    nn_tensor_free(y);
  }
  t_fwd = (now() - t0) / (double)lib_iters;

  t0 = now();
  for (i = 0; i < lib_iters; i++) {
    xv[0] = (float)(i & 7);
    CHECK(nn_model_predict(m, 1, xv, yl));
    sink += yl[0];
  }
  t_np = (now() - t0) / (double)lib_iters;

  /* forward with the input written into a reused tensor and the output read back: the whole host round trip */
  t0 = now();
  for (i = 0; i < lib_iters; i++) {
    xv[0] = (float)(i & 7);
    CHECK(nn_tensor_write(x, xv, sizeof xv));
    CHECK(nn_model_forward(m, x, &y));
    CHECK(nn_tensor_read(y, yl, sizeof yl));
    nn_tensor_free(y);
    sink += yl[0];
  }
  t_pred = (now() - t0) / (double)lib_iters;

  printf("tiny 10-40-40-5 (ReLU), one row per call, 1 thread; the generated file built with %s\n", NN_BENCH_CC);
  for (v = 0; v < N_VARIANTS; v++)
    printf("  generated C %-28s %9.1f ns/row\n", variants[v], 1e9 * t_gen[v]);
  printf("  nn_model_predict                         %9.1f ns/row\n", 1e9 * t_np);
  printf("  nn_model_forward                         %9.1f ns/row\n", 1e9 * t_fwd);
  printf("  nn_tensor_write + forward + read         %9.1f ns/row\n", 1e9 * t_pred);
  printf("  max relative difference generated vs nn_model_forward: %.3g\n", maxdiff);
  printf("  (checksum %g)\n", (double)sink);

  for (v = 0; v < N_VARIANTS; v++) dlclose(so[v]);
  nn_tensor_free(x);
  nn_model_free(m);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : 1;
}
