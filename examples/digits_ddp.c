/* digits_ddp.c: the digits classifier of digits.c, trained data-parallel on
 * several processes with MPI (nn.h group "comm").
 *
 *     mpirun -np 2 ./examples/digits_ddp [path/to/digits.csv]
 *
 * Every process reads the data and shuffles it with the same seed as
 * digits.c (training set 1437 images, test set 360). Then, as PyTorch's
 * DistributedSampler does, rank r keeps the training images r, r + W,
 * r + 2W, ... (W processes; all ranks keep the same number, so the last
 * 1437 mod W images are left out) and validates on its share of the test
 * set. Each rank trains on batches of 32 / W images: together one step sees
 * a global batch of 32, as in digits.c. nn_model_fit with fit.comm averages
 * the gradients over the ranks after every batch (one allreduce), so all
 * ranks hold the same weights; rank 0's weights are sent to everyone
 * before the first step. The reported loss and validation accuracy are
 * over all ranks. Rank 0 prints the progress and, at the end, the accuracy
 * on the whole test set; the program exits 1 if it is below 0.95, the bar
 * digits.c sets for one process.
 *
 * Threads per rank: OMP_NUM_THREADS (e.g. mpirun -x OMP_NUM_THREADS=4 ...).
 */
#include <nn.h>

#include <stdio.h>
#include <stdlib.h>

#define CHECK(call)                                                          \
  do {                                                                       \
    nn_status check_status_ = (call);                                        \
    if (check_status_ != NN_OK) {                                            \
      fprintf(stderr, "%s:%d: %s failed: %s: %s\n", __FILE__, __LINE__,      \
              #call, nn_status_string(check_status_), nn_last_error());      \
      exit(1);                                                               \
    }                                                                        \
  } while (0)

#include "digits_data.h"

static int on_epoch(const nn_epoch_report *r, void *user_data) {
  (void)user_data;
  printf("epoch %2d/%d  loss %.4f  val accuracy %.4f  %.2f s\n", r->epoch + 1, r->epochs, r->loss,
         r->val_accuracy, r->seconds);
  fflush(stdout);
  return 0;
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : NN_EXAMPLES_DATA "/digits.csv";
  const int64_t sizes[] = {64, 64, 10};
  static int order[N_IMAGES];
  nn_comm *comm;
  nn_tensor *x_train, *y_train, *x_val, *y_val, *x_test, *y_test;
  nn_model *model;
  nn_optimizer *opt;
  nn_fit_options fit;
  nn_epoch_report last;
  double loss, accuracy;
  int rank, size, n_train, n_val;

  /* Initialises MPI (nobody else did) and finalises it at exit. */
  CHECK(nn_comm_mpi(NULL, &comm));
  rank = nn_comm_rank(comm);
  size = nn_comm_size(comm);

  digits_load(path);
  digits_shuffle(order, 2024);
  /* This rank's share: every size-th image from its rank on. */
  n_train = N_TRAIN / size;
  n_val = (N_TEST - rank + size - 1) / size;
  digits_set(order + rank, n_train, size, &x_train, &y_train);
  digits_set(order + N_TRAIN + rank, n_val, size, &x_val, &y_val);
  digits_set(order + N_TRAIN, N_TEST, 1, &x_test, &y_test);
  printf("rank %d of %d: %d training images, %d validation images\n", rank, size, n_train, n_val);
  fflush(stdout);

  /* Every rank builds the model; fit sends rank 0's weights to the others. */
  CHECK(nn_model_mlp(3, sizes, NN_ACT_RELU, NN_ACT_IDENTITY, &model));
  CHECK(nn_model_init(model, NN_INIT_TORCH_DEFAULT, 100 + (uint64_t)rank));
  CHECK(nn_optimizer_adam(model, 1e-3, 0.9, 0.999, 1e-8, 0.0, false, &opt));
  nn_fit_options_init(&fit);
  fit.epochs = 30;
  fit.batch_size = size < 32 ? 32 / size : 1; /* per rank: a global batch of 32 */
  fit.shuffle = true;                         /* each rank its own shard, seed + rank */
  fit.seed = 1;
  fit.loss = NN_LOSS_CROSS_ENTROPY;
  fit.val_x = x_val;
  fit.val_y = y_val;
  fit.on_epoch = rank == 0 ? on_epoch : NULL; /* only rank 0 prints */
  fit.comm = comm;
  CHECK(nn_model_fit(model, opt, x_train, y_train, &fit, &last));

  CHECK(nn_model_evaluate(model, x_test, y_test, NN_LOSS_CROSS_ENTROPY, &loss, &accuracy));
  if (rank == 0) {
    printf("\n%d ranks x batch %lld: test loss %.4f, test accuracy %.4f (%.0f/%d)\n", size,
           (long long)fit.batch_size, loss, accuracy, accuracy * N_TEST, N_TEST);
    printf("the validation accuracy over all ranks' shares was %.4f\n", last.val_accuracy);
  }

  nn_optimizer_free(opt);
  nn_model_free(model);
  nn_tensor_free(y_test);
  nn_tensor_free(x_test);
  nn_tensor_free(y_val);
  nn_tensor_free(x_val);
  nn_tensor_free(y_train);
  nn_tensor_free(x_train);
  nn_comm_free(comm);

  if (accuracy < 0.95) {
    fprintf(stderr, "rank %d: error: test accuracy %.4f below 0.95\n", rank, accuracy);
    return 1;
  }
  return 0;
}
