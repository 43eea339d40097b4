/* perceptron.c: Rosenblatt's perceptron learns AND, OR and NOT.
 *
 * The classic perceptron rule, for each sample x with label y in {0, 1}:
 *
 *     y^ = step(w . x + b)        (1 if w . x + b > 0, else 0)
 *     w += (y - y^) x,  b += (y - y^)
 *
 * is exactly what libnn's generic training does with Linear + STEP, zero
 * initial weights, SGD with learning rate 1, one sample per step, no
 * shuffling, and the 1/2 MSE loss: its gradient is (y^ - y), and the step
 * activation passes it straight through.
 *
 * For each gate the program trains that model one epoch at a time, runs the
 * rule by hand in plain C alongside it, prints the weights after every epoch
 * and checks that both agree exactly and that the gate is learned.
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

#define EPOCHS 6

/* Trains one gate with n inputs on its m samples (x: m rows of n, y: m).
 * Returns 0 on success, 1 if anything disagrees. */
static int learn(const char *name, int n, int m, const float *xv, const float *yv) {
  const nn_device cpu = {NN_CPU, 0};
  const int64_t xshape[] = {m, n}, yshape[] = {m, 1};
  float w_rule[2] = {0, 0}, b_rule = 0; /* the rule by hand */
  float w[2], b, out[4];
  nn_tensor *x, *y, *weight, *bias, *pred;
  nn_model *model;
  nn_layer *linear, *step;
  nn_optimizer *opt;
  nn_fit_options fit;
  int epoch, i, j, failed = 0;

  CHECK(nn_tensor_from_data(NN_F32, 2, xshape, xv, cpu, &x));
  CHECK(nn_tensor_from_data(NN_F32, 2, yshape, yv, cpu, &y));

  /* Linear(n, 1) + step, zero weights. */
  CHECK(nn_model_create(&model));
  CHECK(nn_layer_linear(n, 1, true, &linear));
  CHECK(nn_model_add(model, linear)); /* the model owns it now */
  CHECK(nn_layer_activation(NN_ACT_STEP, &step));
  CHECK(nn_model_add(model, step));
  CHECK(nn_model_init(model, NN_INIT_ZEROS, 0));
  /* Views that share the layer's storage: they see every update. */
  CHECK(nn_layer_param(linear, NN_PARAM_WEIGHT, &weight));
  CHECK(nn_layer_param(linear, NN_PARAM_BIAS, &bias));

  CHECK(nn_optimizer_sgd(model, 1.0, 0.0, 0.0, false, &opt));
  nn_fit_options_init(&fit);
  fit.epochs = 1;
  fit.batch_size = 1;
  fit.shuffle = false;
  fit.loss = NN_LOSS_HALF_MSE;

  printf("%s\n", name);
  for (epoch = 1; epoch <= EPOCHS; epoch++) {
    CHECK(nn_model_fit(model, opt, x, y, &fit, NULL));
    CHECK(nn_tensor_read(weight, w, (size_t)n * sizeof(float)));
    CHECK(nn_tensor_read(bias, &b, sizeof b));

    for (i = 0; i < m; i++) { /* one epoch of the rule by hand */
      const float *xi = xv + i * n;
      float z = b_rule, err;
      for (j = 0; j < n; j++) z += w_rule[j] * xi[j];
      err = yv[i] - (z > 0 ? 1.0f : 0.0f);
      for (j = 0; j < n; j++) w_rule[j] += err * xi[j];
      b_rule += err;
    }

    printf("  epoch %d: w = [", epoch);
    for (j = 0; j < n; j++) printf(j ? ", %g" : "%g", w[j]);
    printf("], b = %g\n", b);
    for (j = 0; j < n; j++) failed |= w[j] != w_rule[j];
    failed |= b != b_rule;
    if (failed) {
      fprintf(stderr, "error: %s: libnn's weights differ from the rule's: w = [", name);
      for (j = 0; j < n; j++) fprintf(stderr, j ? ", %g" : "%g", w_rule[j]);
      fprintf(stderr, "], b = %g\n", b_rule);
      break;
    }
  }

  CHECK(nn_model_forward(model, x, &pred));
  CHECK(nn_tensor_read(pred, out, (size_t)m * sizeof(float)));
  for (i = 0; i < m; i++) {
    printf("  %s(", name);
    for (j = 0; j < n; j++) printf(j ? ", %g" : "%g", xv[i * n + j]);
    printf(") = %g\n", out[i]);
    if (out[i] != yv[i]) {
      fprintf(stderr, "error: %s: sample %d predicted %g, expected %g\n", name, i, out[i], yv[i]);
      failed = 1;
    }
  }
  if (!failed) printf("  %s learned; weights equal the perceptron rule's\n", name);

  nn_tensor_free(pred);
  nn_optimizer_free(opt);
  nn_tensor_free(bias);
  nn_tensor_free(weight);
  nn_model_free(model);
  nn_tensor_free(y);
  nn_tensor_free(x);
  return failed;
}

int main(void) {
  static const float x2[] = {0, 0, 0, 1, 1, 0, 1, 1};
  static const float and_y[] = {0, 0, 0, 1}, or_y[] = {0, 1, 1, 1};
  static const float x1[] = {0, 1}, not_y[] = {1, 0};
  int failed = 0;
  failed |= learn("AND", 2, 4, x2, and_y);
  failed |= learn("OR", 2, 4, x2, or_y);
  failed |= learn("NOT", 1, 2, x1, not_y);
  return failed;
}
