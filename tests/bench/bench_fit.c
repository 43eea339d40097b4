/* bench_fit: what nn_model_fit costs beyond the training it does.
 *
 * For each workload, epochs of exactly 2 steps (256 samples, batch 128, no
 * shuffle, MSE), the loop a user would write with the public calls
 * (per batch nn_optimizer_zero_grad, nn_model_backward, nn_optimizer_step;
 * per epoch nn_optimizer_epoch_end) against the same epochs trained by one
 * nn_model_fit call ("fit") and by one nn_model_fit call per epoch
 * ("fit1"). The three alternate within each repetition (the order rotates),
 * each on its own identically initialised model; prints the medians of the
 * times per epoch and of the per-repetition ratios to the bare loop, and the
 * load average. A benchmark: it prints, never fails on time.
 *
 *   bench_fit [--threads N] [--reps R] [--only tiny|mid|adam]
 *
 * Uses nn.h and bench_common.h only; not part of scripts/bench.sh. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nn.h>
#include "bench_common.h"

enum { kBatch = 128, kSteps = 2, kMaxReps = 64 };

static void print_loadavg(const char *when) {
  char buf[128] = "?";
  FILE *f = fopen("/proc/loadavg", "r");
  if (f) {
    if (!fgets(buf, sizeof buf, f)) strcpy(buf, "?\n");
    fclose(f);
  }
  printf("load average %s: %s", when, buf);
  if (buf[strlen(buf) - 1] != '\n') printf("\n");
}

static nn_tensor *rand_tensor(int64_t rows, int64_t cols) {
  float *p = rand_array(rows * cols);
  nn_tensor *t = tensor2(p, rows, cols, CPU);
  free(p);
  return t;
}

typedef struct {
  const char *name;
  int n_sizes;
  int64_t sizes[4];
  nn_activation hidden;
  int adam;
  int epochs; /* per timed run */
} workload;

typedef struct {
  nn_model *m;
  nn_optimizer *opt;
} trainee;

static trainee make_trainee(const workload *w) {
  trainee t;
  CHECK(nn_model_mlp(w->n_sizes, w->sizes, w->hidden, NN_ACT_IDENTITY, &t.m));
  CHECK(nn_model_init(t.m, NN_INIT_HE_UNIFORM, 1));
  if (w->adam)
    CHECK(nn_optimizer_adam(t.m, 1e-4, 0.9, 0.999, 1e-8, 0.0, false, &t.opt));
  else
    CHECK(nn_optimizer_sgd(t.m, 1e-3, 0.9, 0.0, false, &t.opt));
  return t;
}

/* `epochs` epochs as `calls` nn_model_fit calls of epochs / calls epochs each. */
static double run_fit(trainee *t, const nn_tensor *x, const nn_tensor *y, int epochs, int calls) {
  nn_fit_options o;
  nn_fit_options_init(&o);
  o.epochs = epochs / calls;
  o.batch_size = kBatch;
  o.shuffle = false;
  o.loss = NN_LOSS_MSE;
  double t0 = now_s();
  for (int c = 0; c < calls; ++c) CHECK(nn_model_fit(t->m, t->opt, x, y, &o, NULL));
  return now_s() - t0;
}

/* The same epochs with the public per-step calls. */
static double run_bare(trainee *t, nn_tensor *const *xb, nn_tensor *const *yb, int epochs) {
  double sink = 0;
  double t0 = now_s();
  for (int e = 0; e < epochs; ++e) {
    for (int b = 0; b < kSteps; ++b) {
      double l = 0;
      CHECK(nn_optimizer_zero_grad(t->opt));
      CHECK(nn_model_backward(t->m, xb[b], yb[b], NN_LOSS_MSE, &l));
      CHECK(nn_optimizer_step(t->opt));
      sink += l;
    }
    CHECK(nn_optimizer_epoch_end(t->opt));
  }
  double s = now_s() - t0;
  if (sink != sink) printf("(bare loop: the loss became NaN)\n");
  return s;
}

static void bench(const workload *w, int reps) {
  const int64_t n = (int64_t)kBatch * kSteps, in = w->sizes[0], out = w->sizes[w->n_sizes - 1];
  nn_tensor *x = rand_tensor(n, in), *y = rand_tensor(n, out);
  nn_tensor *xb[kSteps], *yb[kSteps];
  for (int b = 0; b < kSteps; ++b) {
    CHECK(nn_tensor_slice(x, 0, (int64_t)b * kBatch, (int64_t)(b + 1) * kBatch, &xb[b]));
    CHECK(nn_tensor_slice(y, 0, (int64_t)b * kBatch, (int64_t)(b + 1) * kBatch, &yb[b]));
  }
  /* Three identical trainees: bare loop, one fit of all epochs, one fit per epoch. */
  trainee t[3] = {make_trainee(w), make_trainee(w), make_trainee(w)};
  double sec[3][kMaxReps], ratio[2][kMaxReps];
  for (int r = -1; r < reps; ++r) { /* r = -1: warm-up (workspaces, caches) */
    const int epochs = r < 0 ? 2 : w->epochs;
    for (int k = 0; k < 3; ++k) { /* the order rotates with the repetition */
      const int v = (k + (r < 0 ? 0 : r)) % 3;
      const double s = v == 0 ? run_bare(&t[0], xb, yb, epochs) : run_fit(&t[v], x, y, epochs, v == 1 ? 1 : epochs);
      if (r >= 0) sec[v][r] = s;
    }
    if (r >= 0) {
      ratio[0][r] = sec[1][r] / sec[0][r];
      ratio[1][r] = sec[2][r] / sec[0][r];
    }
  }
  const double per_epoch = 1e6 / (double)w->epochs;
  printf("%-26s %6d %10.1f %10.1f %8.4f %10.1f %8.4f\n", w->name, w->epochs, median(sec[0], reps) * per_epoch,
         median(sec[1], reps) * per_epoch, median(ratio[0], reps), median(sec[2], reps) * per_epoch,
         median(ratio[1], reps));
  fflush(stdout);
  for (int k = 0; k < 3; ++k) {
    nn_optimizer_free(t[k].opt);
    nn_model_free(t[k].m);
  }
  for (int b = 0; b < kSteps; ++b) {
    nn_tensor_free(xb[b]);
    nn_tensor_free(yb[b]);
  }
  nn_tensor_free(x);
  nn_tensor_free(y);
}

int main(int argc, char **argv) {
  int threads = 1, reps = 11;
  const char *only = NULL;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
      threads = atoi(argv[++i]);
    } else if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
      reps = atoi(argv[++i]);
    } else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
      only = argv[++i];
    } else {
      fprintf(stderr, "usage: %s [--threads N] [--reps R (9..%d)] [--only tiny|mid|adam]\n", argv[0], kMaxReps);
      return 2;
    }
  }
  if (reps < 1 || reps > kMaxReps) reps = 11;
  CHECK(nn_set_num_threads(threads));
  const workload ws[] = {
      {"tiny 10-40-40-5 SGD-m", 4, {10, 40, 40, 5}, NN_ACT_TANH, 0, 4000},
      {"mid 784-512-512-10 SGD-m", 4, {784, 512, 512, 10}, NN_ACT_RELU, 0, 24},
      {"adam 784-512-512-10 Adam", 4, {784, 512, 512, 10}, NN_ACT_RELU, 1, 24},
  };
  printf("bench_fit: nn_model_fit vs the bare zero_grad/backward/step loop, batch %d, %d steps per epoch,\n"
         "no shuffle, MSE, %d thread(s), median of %d alternating repetitions\n",
         kBatch, kSteps, threads, reps);
  print_loadavg("before");
  printf("%-26s %6s %10s %10s %8s %10s %8s\n", "workload", "epochs", "bare us/ep", "fit us/ep", "fit/bare",
         "fit1 us/ep", "fit1/bare");
  for (size_t i = 0; i < sizeof ws / sizeof ws[0]; ++i) {
    if (only && strncmp(ws[i].name, only, strlen(only)) != 0) continue;
    bench(&ws[i], reps);
  }
  print_loadavg("after");
  return 0;
}
