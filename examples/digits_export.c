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

#ifndef NN_EXAMPLES_DATA
#define NN_EXAMPLES_DATA "examples/data"
#endif

#define N_IMAGES 1797
#define N_TEST 360
#define N_TRAIN (N_IMAGES - N_TEST)
#define N_PIXELS 64

static int pixels[N_IMAGES][N_PIXELS];
static int labels[N_IMAGES];

static void load_csv(const char *path) {
  FILE *f = fopen(path, "r");
  int i, j;
  if (f == NULL) {
    perror(path);
    exit(1);
  }
  for (i = 0; i < N_IMAGES; i++)
    for (j = 0; j <= N_PIXELS; j++) {
      int *v = j < N_PIXELS ? &pixels[i][j] : &labels[i];
      if (fscanf(f, j ? " ,%d" : "%d", v) != 1 || *v < 0 || *v > (j < N_PIXELS ? 16 : 9)) {
        fprintf(stderr, "%s: line %d, field %d: expected a number in range\n", path, i + 1, j + 1);
        exit(1);
      }
    }
  fclose(f);
}

/* The split of digits.c: a splitmix64-seeded Fisher-Yates shuffle (seed 2024). */
static uint64_t next_random(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15u);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
  return z ^ (z >> 31);
}

static void make_set(const int *order, int n, nn_tensor **x, nn_tensor **y) {
  const nn_device cpu = {NN_CPU, 0};
  const int64_t xshape[] = {n, N_PIXELS}, yshape[] = {n};
  float *xv = malloc((size_t)n * N_PIXELS * sizeof *xv);
  int64_t *yv = malloc((size_t)n * sizeof *yv);
  int i, j;
  if (xv == NULL || yv == NULL) exit(1);
  for (i = 0; i < n; i++) {
    for (j = 0; j < N_PIXELS; j++) xv[i * N_PIXELS + j] = pixels[order[i]][j] / 16.0f;
    yv[i] = labels[order[i]];
  }
  CHECK(nn_tensor_from_data(NN_F32, 2, xshape, xv, cpu, x));
  CHECK(nn_tensor_from_data(NN_I64, 1, yshape, yv, cpu, y));
  free(yv);
  free(xv);
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : NN_EXAMPLES_DATA "/digits.csv";
  const char *out = argc > 2 ? argv[2] : "digits_model.c";
  const int64_t sizes[] = {64, 64, 10};
  static int order[N_IMAGES];
  static int64_t predicted[N_TEST], expected[N_TEST];
  uint64_t rng = 2024;
  nn_tensor *x_train, *y_train, *x_test, *y_test, *logits, *classes;
  nn_model *model;
  nn_optimizer *opt;
  nn_fit_options fit;
  int i, correct = 0;

  load_csv(path);
  for (i = 0; i < N_IMAGES; i++) order[i] = i;
  for (i = N_IMAGES - 1; i > 0; i--) {
    int k = (int)(next_random(&rng) % (uint64_t)(i + 1)), tmp = order[i];
    order[i] = order[k];
    order[k] = tmp;
  }
  make_set(order, N_TRAIN, &x_train, &y_train);
  make_set(order + N_TRAIN, N_TEST, &x_test, &y_test);

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
