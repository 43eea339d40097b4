/* digits.c: a handwritten-digit classifier trained on a real data set.
 *
 * The UCI optical digits (examples/data/README.md): 1797 images of 8x8
 * pixels, each pixel 0..16, labelled 0-9. We shuffle them with a fixed seed,
 * keep 1437 for training and 360 for testing, scale pixels to [0, 1], and
 * train a 64-64-10 network (ReLU hidden layer, 10 logits) with softmax
 * cross-entropy and Adam. Each epoch prints its training loss and the
 * accuracy on the test set; at the end the program prints the test accuracy
 * and the confusion matrix, and exits 1 if the accuracy is below 0.95.
 *
 *     digits [path/to/digits.csv]
 *
 * Without an argument it reads the copy in the source tree (NN_EXAMPLES_DATA,
 * set by examples/CMakeLists.txt).
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
  static int64_t predicted[N_TEST], expected[N_TEST];
  int confusion[N_CLASSES][N_CLASSES] = {{0}};
  nn_tensor *x_train, *y_train, *x_test, *y_test, *logits, *classes;
  nn_model *model;
  nn_optimizer *opt;
  nn_fit_options fit;
  double loss, accuracy;
  int i, j, correct = 0;
  size_t len;
  char *summary;

  digits_load(path);
  printf("%d images of %dx%d pixels from %s\n", N_IMAGES, 8, 8, path);

  /* A seeded Fisher-Yates shuffle, then train = first 1437, test = last 360. */
  digits_shuffle(order, 2024);
  digits_set(order, N_TRAIN, 1, &x_train, &y_train);
  digits_set(order + N_TRAIN, N_TEST, 1, &x_test, &y_test);
  printf("training set %d, test set %d\n\n", N_TRAIN, N_TEST);

  /* Linear(64, 64), ReLU, Linear(64, 10): logits for the softmax loss. */
  CHECK(nn_model_mlp(3, sizes, NN_ACT_RELU, NN_ACT_IDENTITY, &model));
  CHECK(nn_model_summary(model, NULL, 0, &len));
  summary = malloc(len);
  if (summary == NULL) return 1;
  CHECK(nn_model_summary(model, summary, len, NULL));
  printf("%s\n", summary);
  free(summary);

  CHECK(nn_optimizer_adam(model, 1e-3, 0.9, 0.999, 1e-8, 0.0, false, &opt));
  nn_fit_options_init(&fit);
  fit.epochs = 30;
  fit.batch_size = 32;
  fit.shuffle = true;
  fit.seed = 1;
  fit.loss = NN_LOSS_CROSS_ENTROPY; /* I64 class ids as targets */
  fit.val_x = x_test;
  fit.val_y = y_test;
  fit.on_epoch = on_epoch;
  CHECK(nn_model_fit(model, opt, x_train, y_train, &fit, NULL));

  /* Predicted class = argmax of the logits. */
  CHECK(nn_model_forward(model, x_test, &logits));
  CHECK(nn_reduce(NN_REDUCE_ARGMAX, logits, 1, false, &classes)); /* [360] I64 */
  CHECK(nn_tensor_read(classes, predicted, sizeof predicted));
  CHECK(nn_tensor_read(y_test, expected, sizeof expected));
  for (i = 0; i < N_TEST; i++) {
    if (predicted[i] < 0 || predicted[i] >= N_CLASSES) {
      fprintf(stderr, "error: argmax gave class %lld\n", (long long)predicted[i]);
      return 1;
    }
    confusion[expected[i]][predicted[i]]++;
    correct += predicted[i] == expected[i];
  }
  CHECK(nn_model_evaluate(model, x_test, y_test, NN_LOSS_CROSS_ENTROPY, &loss, &accuracy));

  printf("\ntest loss %.4f, test accuracy %.4f (%d/%d)\n\n", loss, (double)correct / N_TEST,
         correct, N_TEST);
  printf("confusion matrix (rows: true digit, columns: predicted)\n     ");
  for (j = 0; j < N_CLASSES; j++) printf("%4d", j);
  printf("\n");
  for (i = 0; i < N_CLASSES; i++) {
    printf("%4d ", i);
    for (j = 0; j < N_CLASSES; j++) printf("%4d", confusion[i][j]);
    printf("\n");
  }

  nn_tensor_free(classes);
  nn_tensor_free(logits);
  nn_optimizer_free(opt);
  nn_model_free(model);
  nn_tensor_free(y_test);
  nn_tensor_free(x_test);
  nn_tensor_free(y_train);
  nn_tensor_free(x_train);

  if (accuracy * N_TEST < correct - 0.5 || accuracy * N_TEST > correct + 0.5) {
    fprintf(stderr, "error: nn_model_evaluate says accuracy %.4f, the argmax count %d/%d\n",
            accuracy, correct, N_TEST);
    return 1;
  }
  if (correct < 0.95 * N_TEST) {
    fprintf(stderr, "error: test accuracy below 0.95\n");
    return 1;
  }
  return 0;
}
