/* bench_ddp: data-parallel training over MPI against one process with
 * threads (issue 14). Prints figures; never fails on time.
 *
 * Model 784-2048-2048-10 (ReLU, cross-entropy, SGD momentum, F32: 5.8 M
 * parameters, 23.3 MB of gradients), batch 512 per rank.
 *
 *   mpirun -np 2 -x OMP_NUM_THREADS=1 bench_ddp [steps]   (2 ranks x 1 thread)
 *       - s/step of nn_model_fit with fit.comm (global batch 1024);
 *       - s/step of the same per-rank work without comm, both ranks at once
 *         (the difference is what the group costs per step);
 *       - s of one nn_comm_allreduce (MEAN) of a 23.3 MB F32 tensor,
 *         the size of the step's one fused gradient allreduce, and the
 *         bandwidth it implies (ring: 2(W-1)/W x bytes / time).
 *   OMP_NUM_THREADS=2 bench_ddp [steps]                    (1 process x 2 threads)
 *       - s/step of nn_model_fit at batch 1024 (the same global batch).
 *
 * tests/bench/run_ddp.sh runs both; docs/distributed.md uses the figures.
 */
#include <stdio.h>
#include <stdlib.h>

#include "bench_common.h"

#define BATCH 512

static const int64_t SIZES[4] = {784, 2048, 2048, 10};

static void make_data(int64_t rows, nn_tensor **x, nn_tensor **y) {
  float *xd = rand_array(rows * 784);
  int64_t *yd = malloc((size_t)rows * sizeof *yd);
  if (!yd) exit(1);
  for (int64_t i = 0; i < rows; ++i) yd[i] = (i * 7) % 10;
  int64_t ys[1] = {rows};
  *x = tensor2(xd, rows, 784, CPU);
  CHECK(nn_tensor_from_data(NN_I64, 1, ys, yd, CPU, y));
  free(xd);
  free(yd);
}

/* Seconds per step of nn_model_fit over `steps` batches of `batch` rows
 * (one warm-up fit of one batch first). */
static double step_seconds(const nn_comm *comm, int64_t batch, int steps) {
  nn_tensor *x, *y, *xw, *yw;
  make_data(batch * steps, &x, &y);
  make_data(batch, &xw, &yw);
  nn_model *m = mlp_on(4, SIZES, NN_ACT_RELU, CPU);
  nn_optimizer *opt = NULL;
  CHECK(nn_optimizer_sgd(m, 0.01, 0.9, 0.0, false, &opt));
  nn_fit_options o;
  nn_fit_options_init(&o);
  o.epochs = 1;
  o.batch_size = batch;
  o.shuffle = false;
  o.loss = NN_LOSS_CROSS_ENTROPY;
  o.comm = comm;
  CHECK(nn_model_fit(m, opt, xw, yw, &o, NULL));
  double t0 = now_s();
  CHECK(nn_model_fit(m, opt, x, y, &o, NULL));
  double s = (now_s() - t0) / steps;
  nn_optimizer_free(opt);
  nn_model_free(m);
  nn_tensor_free(x);
  nn_tensor_free(y);
  nn_tensor_free(xw);
  nn_tensor_free(yw);
  return s;
}

int main(int argc, char **argv) {
  int steps = argc > 1 ? atoi(argv[1]) : 4;
  if (steps < 1) steps = 1;
  nn_comm *comm = NULL;
  CHECK(nn_comm_mpi(NULL, &comm));
  const int rank = nn_comm_rank(comm), size = nn_comm_size(comm);
  const char *threads = getenv("OMP_NUM_THREADS");
  double params = 0;
  for (int i = 0; i + 1 < 4; ++i) params += (double)SIZES[i] * (double)SIZES[i + 1] + (double)SIZES[i + 1];
  if (size == 1) {
    double s = step_seconds(NULL, (int64_t)2 * BATCH, steps);
    printf("1 process x %s threads, batch %d: %.3f s/step, %.0f samples/s\n", threads ? threads : "(default)",
           2 * BATCH, s, 2 * BATCH / s);
  } else {
    double ddp = step_seconds(comm, BATCH, steps);
    double alone = step_seconds(NULL, BATCH, steps);
    /* One fused gradient allreduce's worth: params F32 elements. */
    int64_t n = (int64_t)params, shape[1] = {n};
    nn_tensor *g = NULL;
    CHECK(nn_tensor_zeros(NN_F32, 1, shape, CPU, &g));
    double t[16];
    CHECK(nn_comm_allreduce(comm, g, NN_REDUCE_MEAN));  /* warm-up */
    for (int r = 0; r < 5; ++r) {
      double t0 = now_s();
      CHECK(nn_comm_allreduce(comm, g, NN_REDUCE_MEAN));
      t[r] = now_s() - t0;
    }
    double ar = median(t, 5);
    nn_tensor_free(g);
    double bytes = params * 4;
    if (rank == 0) {
      printf("%d ranks x %s thread(s), batch %d per rank (global %d): %.3f s/step, %.0f samples/s\n", size,
             threads ? threads : "(default)", BATCH, size * BATCH, ddp, size * BATCH / ddp);
      printf("  same per-rank work without the group: %.3f s/step (group overhead %.3f s/step, %.1f%%)\n", alone,
             ddp - alone, 100 * (ddp - alone) / ddp);
      printf("  allreduce MEAN of %.0f F32 (%.1f MB): %.4f s, %.2f GB/s ring bus bandwidth (2(W-1)/W x bytes / t)\n",
             params, bytes / 1e6, ar, 2.0 * (size - 1) / size * bytes / ar / 1e9);
    }
  }
  nn_comm_free(comm);
  return 0;
}
