/* digits_export.c: train the digits classifier, then export it as plain C.
 *
 * Trains the 64-64-10 network of digits.c (same data split, Adam, softmax
 * cross-entropy) and writes it with nn_model_export_c() as one C99 file:
 * the weights as static const arrays and digits_predict(x, y). The companion
 * program digits_classify.c includes that file and classifies the test set
 * with it alone, without libnn: the accuracies must agree.
 *
 *     digits_export [path/to/digits.csv] [out.c]     (default: digits_model.c)
 *
 * CTest runs both (examples/run_export_c.cmake): this program, then the C
 * compiler on digits_classify.c + the generated file, then the classifier.
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

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : NN_EXAMPLES_DATA "/digits.csv";
  const char *out = argc > 2 ? argv[2] : "digits_model.c";
  const int64_t sizes[] = {64, 64, 10};
  static int order[N_IMAGES];
  static int64_t predicted[N_TEST], expected[N_TEST];
  nn_tensor *x_train, *y_train, *x_test, *y_test, *logits, *classes;
  nn_model *model;
  nn_optimizer *opt;
  nn_fit_options fit;
  int i, correct = 0;

  digits_load(path);
  digits_shuffle(order, 2024);
  digits_set(order, N_TRAIN, 1, &x_train, &y_train);
  digits_set(order + N_TRAIN, N_TEST, 1, &x_test, &y_test);

  CHECK(nn_model_mlp(3, sizes, NN_ACT_RELU, NN_ACT_IDENTITY, &model));
  CHECK(nn_optimizer_adam(model, 1e-3, 0.9, 0.999, 1e-8, 0.0, false, &opt));
  nn_fit_options_init(&fit);
  fit.epochs = 20;
  fit.batch_size = 32;
  fit.seed = 1;
  fit.loss = NN_LOSS_CROSS_ENTROPY;
  CHECK(nn_model_fit(model, opt, x_train, y_train, &fit, NULL));

  /* libnn's own predictions, to compare with the generated file's. */
  CHECK(nn_model_forward(model, x_test, &logits));
  CHECK(nn_reduce(NN_REDUCE_ARGMAX, logits, 1, false, &classes));
  CHECK(nn_tensor_read(classes, predicted, sizeof predicted));
  CHECK(nn_tensor_read(y_test, expected, sizeof expected));
  for (i = 0; i < N_TEST; i++) correct += predicted[i] == expected[i];
  printf("libnn: %d/%d test images correct\n", correct, N_TEST);

  /* The whole model as C source: digits_predict(const float *x, float *y). */
  CHECK(nn_model_export_c(model, out, "digits"));
  printf("wrote %s\n", out);

  nn_tensor_free(classes);
  nn_tensor_free(logits);
  nn_optimizer_free(opt);
  nn_model_free(model);
  nn_tensor_free(y_test);
  nn_tensor_free(x_test);
  nn_tensor_free(y_train);
  nn_tensor_free(x_train);
  return correct >= 0.9 * N_TEST ? 0 : 1;
}
