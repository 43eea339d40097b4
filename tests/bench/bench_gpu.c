/* libnn GPU benchmark (issue 6): the CPU benchmark's workloads (issue 5) plus
 * 784-512-512-10 at batch 32 (also with CUDA Graphs off, NN_CUDA_GRAPHS=0) and
 * 784-4096-4096-10 at batch 4096, run on CUDA device 0 through the public API,
 * side by side with PyTorch on the same GPU (figures measured by
 * tests/bench/bench_torch_gpu.py, merged with --torch FILE) and the cuBLAS
 * ceiling: cublasSgemm on exactly the GEMMs of one training step (FP32, no
 * TF32, like libnn's default), timed with CUDA events.
 *
 *   bench_gpu [--quick] [--torch FILE]
 *
 * libnn figures are wall-clock (clock_gettime) around calls that end with a
 * synchronising read (nn_model_fit reads its loss; inference ends with
 * nn_tensor_read of the output); each is the median of several repetitions
 * after a warm-up. This program never fails on time; it exits 0 without a GPU
 * (saying why), 1 only when a libnn call fails. Built when CUDA is found,
 * never registered with CTest; scripts/device-test.sh runs it. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <nn.h>
#include "bench_common.h"

#define CU(call)                                                                                      \
  do {                                                                                                \
    cudaError_t e_ = (call);                                                                          \
    if (e_ != cudaSuccess) {                                                                          \
      fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_));        \
      return NAN;                                                                                     \
    }                                                                                                 \
  } while (0)
#define CB(call)                                                                       \
  do {                                                                                 \
    cublasStatus_t s_ = (call);                                                        \
    if (s_ != CUBLAS_STATUS_SUCCESS) {                                                 \
      fprintf(stderr, "%s:%d: %s: cuBLAS status %d\n", __FILE__, __LINE__, #call, (int)s_); \
      return NAN;                                                                      \
    }                                                                                  \
  } while (0)

static const nn_device GPU = {NN_CUDA, 0};
static int g_quick = 0;

/* ---------------------------------------------------------------- results */

enum { MAX_ROWS = 16 };
typedef struct {
  const char *key;   /* shared with bench_torch_gpu.py */
  const char *name;  /* workload */
  const char *unit;  /* "us/sample", "samples/s", ... */
  int higher_better;
  double nn, torch, ceiling;
  double flop;       /* FLOP per unit of the figure (per sample), for GFLOP/s (0: none) */
} Row;
static Row g_rows[MAX_ROWS];
static int g_nrows = 0;

static Row *row(const char *key, const char *name, const char *unit, int higher_better, double flop) {
  Row *r = &g_rows[g_nrows++];
  r->key = key;
  r->name = name;
  r->unit = unit;
  r->higher_better = higher_better;
  r->flop = flop;
  r->nn = r->torch = r->ceiling = NAN;
  return r;
}

/* ------------------------------------------------------- libnn workloads */

/* Batched inference (nn_model_forward on [batch, in] already on the GPU),
 * `calls` back to back, then one read of the last output: samples per second. */
static double nn_infer(int n_sizes, const int64_t *sizes, int64_t batch, int reps) {
  const int64_t in = sizes[0], out = sizes[n_sizes - 1];
  float *xd = rand_array(batch * in), *yd = malloc((size_t)(batch * out) * sizeof(float));
  nn_tensor *x = tensor2(xd, batch, in, GPU);
  nn_model *m = mlp_on(n_sizes, sizes, NN_ACT_RELU, GPU);
  const int calls = g_quick ? 3 : 20;
  double t[32];
  for (int r = -1; r < reps; ++r) {
    double t0 = now_s();
    for (int i = 0; i < calls; ++i) {
      nn_tensor *y = NULL;
      CHECK(nn_model_forward(m, x, &y));
      if (i + 1 == calls) CHECK(nn_tensor_read(y, yd, (size_t)(batch * out) * sizeof(float)));
      nn_tensor_free(y);
    }
    double dt = now_s() - t0;
    if (r >= 0) t[r] = (double)(batch * calls) / dt;
  }
  nn_model_free(m);
  nn_tensor_free(x);
  free(xd);
  free(yd);
  return median(t, reps);
}

/* ---------------------------------------------------------- the ceiling */

/* cublasSgemm (FP32, CUBLAS_DEFAULT_MATH: no TF32) on exactly the GEMMs of
 * one training step, per layer: forward Y = X W^T, weight gradient
 * dW += G^T X, input gradient dX = G W for every layer but the first;
 * train == 0: the forward GEMMs only. Timed with CUDA events; samples/s.
 * Row-major operands seen column-major (cuBLAS): a row-major [R, C] matrix is
 * the column-major C x R matrix (its transpose), ld C. So
 *   Y[B,N] = X[B,K] W[N,K]^T   <=>  Y^T (N x B, ld N) = OP_T(W^T: K x N, ld K) * (X^T: K x B, ld K)
 *   dW[N,K] += G[B,N]^T X[B,K] <=>  dW^T (K x N, ld K) = (X^T: K x B, ld K) * OP_T(G^T: N x B, ld N)
 *   dX[B,K] = G[B,N] W[N,K]    <=>  dX^T (K x B, ld K) = (W^T: K x N, ld K) * (G^T: N x B, ld N) */
static double cublas_ceiling(int n_sizes, const int64_t *sizes, int64_t batch, int train, int reps) {
  int64_t maxf = 0;
  for (int i = 0; i < n_sizes; ++i) maxf = sizes[i] > maxf ? sizes[i] : maxf;
  float *act[8] = {0}, *w[8] = {0}, *dw[8] = {0}, *g = NULL, *dx = NULL;
  float *h = rand_array(batch * maxf > maxf * maxf ? batch * maxf : maxf * maxf);
  CU(cudaMalloc((void **)&g, (size_t)(batch * maxf) * sizeof(float)));
  CU(cudaMalloc((void **)&dx, (size_t)(batch * maxf) * sizeof(float)));
  CU(cudaMemcpy(g, h, (size_t)(batch * maxf) * sizeof(float), cudaMemcpyHostToDevice));
  for (int i = 0; i < n_sizes; ++i) {
    CU(cudaMalloc((void **)&act[i], (size_t)(batch * sizes[i]) * sizeof(float)));
    CU(cudaMemcpy(act[i], h, (size_t)(batch * sizes[i]) * sizeof(float), cudaMemcpyHostToDevice));
  }
  for (int i = 0; i + 1 < n_sizes; ++i) {
    size_t b = (size_t)(sizes[i] * sizes[i + 1]) * sizeof(float);
    CU(cudaMalloc((void **)&w[i], b));
    CU(cudaMalloc((void **)&dw[i], b));
    CU(cudaMemcpy(w[i], h, b, cudaMemcpyHostToDevice));
    CU(cudaMemset(dw[i], 0, b));
  }
  free(h);
  cublasHandle_t hb;
  CB(cublasCreate(&hb));
  CB(cublasSetMathMode(hb, CUBLAS_DEFAULT_MATH));
  cudaEvent_t e0, e1;
  CU(cudaEventCreate(&e0));
  CU(cudaEventCreate(&e1));
  const float one = 1.f, zero = 0.f;
  const int iters = 5;
  const int B = (int)batch;
  double t[32];
  for (int r = -1; r < reps; ++r) {
    CU(cudaEventRecord(e0, 0));
    for (int it = 0; it < iters; ++it) {
      for (int l = 0; l + 1 < n_sizes; ++l) {
        int K = (int)sizes[l], N = (int)sizes[l + 1];
        CB(cublasSgemm(hb, CUBLAS_OP_T, CUBLAS_OP_N, N, B, K, &one, w[l], K, act[l], K, &zero, act[l + 1], N));
      }
      if (!train) continue;
      for (int l = n_sizes - 2; l >= 0; --l) {
        int K = (int)sizes[l], N = (int)sizes[l + 1];
        CB(cublasSgemm(hb, CUBLAS_OP_N, CUBLAS_OP_T, K, N, B, &one, act[l], K, g, N, &one, dw[l], K));
        if (l > 0) CB(cublasSgemm(hb, CUBLAS_OP_N, CUBLAS_OP_N, K, B, N, &one, w[l], K, g, N, &zero, dx, K));
      }
    }
    CU(cudaEventRecord(e1, 0));
    CU(cudaEventSynchronize(e1));
    float ms = 0;
    CU(cudaEventElapsedTime(&ms, e0, e1));
    if (r >= 0) t[r] = (double)(batch * iters) / (ms * 1e-3);
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  cublasDestroy(hb);
  for (int i = 0; i < n_sizes; ++i) cudaFree(act[i]);
  for (int i = 0; i + 1 < n_sizes; ++i) {
    cudaFree(w[i]);
    cudaFree(dw[i]);
  }
  cudaFree(g);
  cudaFree(dx);
  return median(t, reps);
}

/* --------------------------------------------------------------- PyTorch */

/* Lines "key value" from bench_torch_gpu.py. */
static void read_torch(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "no PyTorch figures: cannot open %s\n", path);
    return;
  }
  char key[64];
  double v;
  while (fscanf(f, "%63s %lf", key, &v) == 2)
    for (int i = 0; i < g_nrows; ++i)
      if (strcmp(g_rows[i].key, key) == 0) g_rows[i].torch = v;
  fclose(f);
}

static void fmt(char *buf, size_t cap, double v) {
  if (isnan(v))
    snprintf(buf, cap, "-");
  else if (v >= 1000)
    snprintf(buf, cap, "%.0f", v);
  else if (v >= 10)
    snprintf(buf, cap, "%.1f", v);
  else
    snprintf(buf, cap, "%.3g", v);
}

/* libnn / other, oriented so > 1 means libnn is better. */
static double ratio(const Row *r, double other) {
  if (isnan(r->nn) || isnan(other) || other == 0 || r->nn == 0) return NAN;
  return r->higher_better ? r->nn / other : other / r->nn;
}

static void print_table(void) {
  printf("\n| %-34s | %-10s | %11s | %11s | %8s | %11s | %9s | %8s |\n", "workload", "unit", "libnn", "torch",
         "x torch", "cuBLAS", "%% ceiling", "GFLOP/s");
  printf("|%s|%s|%s|%s|%s|%s|%s|%s|\n", "------------------------------------", "------------", "-------------",
         "-------------", "----------", "-------------", "-----------", "----------");
  for (int i = 0; i < g_nrows; ++i) {
    const Row *r = &g_rows[i];
    char a[32], b[32], c[32], d[32], e[32], f[32];
    fmt(a, sizeof a, r->nn);
    fmt(b, sizeof b, r->torch);
    fmt(c, sizeof c, ratio(r, r->torch));
    fmt(d, sizeof d, r->ceiling);
    double pc = ratio(r, r->ceiling);
    fmt(e, sizeof e, isnan(pc) ? NAN : 100.0 * pc);
    fmt(f, sizeof f, r->flop > 0 && !isnan(r->nn) ? r->nn * r->flop * 1e-9 : NAN);
    printf("| %-34s | %-10s | %11s | %11s | %8s | %11s | %9s | %8s |\n", r->name, r->unit, a, b, c, d, e, f);
  }
  printf("\nx torch > 1: libnn faster than PyTorch on the same GPU; %% ceiling = libnn / cublasSgemm on the step's GEMMs\n"
         "(FP32, no TF32). libnn: wall clock around synchronising calls; torch and cuBLAS: CUDA events; medians.\n");
}

int main(int argc, char **argv) {
  const char *torch_file = NULL;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--quick") == 0)
      g_quick = 1;
    else if (strcmp(argv[i], "--torch") == 0 && i + 1 < argc)
      torch_file = argv[++i];
    else {
      fprintf(stderr, "usage: %s [--quick] [--torch FILE]\n", argv[0]);
      return 2;
    }
  }
  if (nn_device_count(NN_CUDA) <= 0) {
    nn_tensor *t = NULL;
    int64_t s[1] = {1};
    if (nn_tensor_zeros(NN_F32, 1, s, GPU, &t) == NN_OK) nn_tensor_free(t);
    printf("bench_gpu: CUDA unavailable, nothing to time: %s\n", nn_last_error());
    return 0;
  }
  struct cudaDeviceProp prop;
  if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess)
    printf("bench_gpu: %s (%d SMs, %.0f GiB), libnn %s\n", prop.name, prop.multiProcessorCount,
           (double)prop.totalGlobalMem / (1 << 30), nn_version_string());
  (void)CPU;
  const int reps = g_quick ? 3 : 7;
  const int64_t s_512[4] = {784, 512, 512, 10};
  const int64_t s_2048[4] = {784, 2048, 2048, 10};
  const int64_t s_4096[4] = {784, 4096, 4096, 10};
  Row *r;

  fprintf(stderr, "tiny online...\n");
  r = row("tiny_online", "10-40-40-5 online train (b1)", "us/sample", 0, 0);
  r->nn = nn_tiny_online(GPU, g_quick ? 2 : 10, reps);
  fprintf(stderr, "tiny inference...\n");
  r = row("tiny_infer", "10-40-40-5 infer 1 sample (API)", "us/call", 0, 0);
  r->nn = nn_tiny_one_row(GPU, 0, g_quick ? 200 : 5000, reps);

  struct {
    const char *key, *name;
    const int64_t *sizes;
    int64_t batch;
    int steps, train;
  } big[] = {
      {"train_512_b32", "784-512-512-10 train b32", s_512, 32, 200, 1},
      {"train_512_b128", "784-512-512-10 train b128", s_512, 128, 100, 1},
      {"train_2048_b512", "784-2048-2048-10 train b512", s_2048, 512, 40, 1},
      {"infer_2048_b1024", "784-2048-2048-10 infer b1024", s_2048, 1024, 0, 0},
      {"train_4096_b4096", "784-4096-4096-10 train b4096", s_4096, 4096, 10, 1},
      {"infer_4096_b4096", "784-4096-4096-10 infer b4096", s_4096, 4096, 0, 0},
  };
  for (size_t i = 0; i < sizeof big / sizeof big[0]; ++i) {
    fprintf(stderr, "%s...\n", big[i].name);
    double fl = big[i].train ? train_flops_per_sample(4, big[i].sizes) : infer_flops_per_sample(4, big[i].sizes);
    r = row(big[i].key, big[i].name, "samples/s", 1, fl);
    int steps = g_quick ? (big[i].steps > 4 ? 4 : big[i].steps) : big[i].steps;
    r->nn = big[i].train ? nn_train(GPU, 4, big[i].sizes, big[i].batch, steps, reps)
                         : nn_infer(4, big[i].sizes, big[i].batch, reps);
    r->ceiling = cublas_ceiling(4, big[i].sizes, big[i].batch, big[i].train, reps);
  }
  /* The small-batch step with CUDA Graphs off (NN_CUDA_GRAPHS=0, read at
   * every fit): what the graph replay buys; no PyTorch column. */
  fprintf(stderr, "784-512-512-10 train b32, graphs off...\n");
  r = row("train_512_b32_nographs", "784-512-512-10 train b32, no graphs", "samples/s", 1,
          train_flops_per_sample(4, s_512));
  setenv("NN_CUDA_GRAPHS", "0", 1);
  r->nn = nn_train(GPU, 4, s_512, 32, g_quick ? 4 : 200, reps);
  unsetenv("NN_CUDA_GRAPHS");
  r->ceiling = cublas_ceiling(4, s_512, 32, 1, reps);
  if (torch_file) read_torch(torch_file);
  print_table();
  return 0;
}
