/* linear_regression.c: one data set, three ways to fit a line (a plane).
 *
 * The data: 200 points x = (x1, x2) drawn uniformly from [-1, 1]^2 and
 * y = 3 x1 - 2 x2 + 1 + noise, the noise normal with std 0.05 (all from
 * fixed seeds, so every run sees the same numbers). We fit w and b three ways:
 *
 *   1. closed form: least squares on [x1, x2, 1] (nn_lstsq, QR);
 *   2. ADALINE: a Linear(2, 1) neuron without activation, trained by SGD on
 *      the MSE one sample at a time (Widrow-Hoff's LMS rule);
 *   3. minibatch SGD: the same neuron, 16 samples per step.
 *
 * The program prints the three answers and exits 1 unless they agree.
 */
#include <nn.h>

#include <math.h>
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

#define N 200
#define TOLERANCE 0.02 /* how close the SGD answers must come to the exact one */

/* Trains Linear(2, 1) from zero weights by SGD on the MSE; writes w and b. */
static void fit_sgd(const nn_tensor *x, const nn_tensor *y, int64_t batch_size, double lr,
                    int epochs, float w[2], float *b) {
  nn_model *model;
  nn_layer *linear;
  nn_optimizer *opt;
  nn_tensor *t;
  nn_fit_options fit;

  CHECK(nn_model_create(&model));
  CHECK(nn_layer_linear(2, 1, true, &linear));
  CHECK(nn_model_add(model, linear));
  CHECK(nn_model_init(model, NN_INIT_ZEROS, 0));
  CHECK(nn_optimizer_sgd(model, lr, 0.0, 0.0, false, &opt));
  nn_fit_options_init(&fit);
  fit.epochs = epochs;
  fit.batch_size = batch_size;
  fit.shuffle = true;
  fit.seed = 7;
  fit.loss = NN_LOSS_MSE;
  CHECK(nn_model_fit(model, opt, x, y, &fit, NULL));

  CHECK(nn_layer_param(linear, NN_PARAM_WEIGHT, &t)); /* [1, 2] */
  CHECK(nn_tensor_read(t, w, 2 * sizeof(float)));
  nn_tensor_free(t);
  CHECK(nn_layer_param(linear, NN_PARAM_BIAS, &t)); /* [1] */
  CHECK(nn_tensor_read(t, b, sizeof(float)));
  nn_tensor_free(t);
  nn_optimizer_free(opt);
  nn_model_free(model);
}

int main(void) {
  const nn_device cpu = {NN_CPU, 0};
  const int64_t xshape[] = {N, 2}, nshape[] = {N}, wshape[] = {2};
  const int64_t ycol[] = {N, 1}, ashape[] = {N, 3};
  const float w_true[] = {3.0f, -2.0f};
  static float a_host[N][3];
  float xv[N][2], exact[3], adaline_w[2], adaline_b, batch_w[2], batch_b;
  nn_tensor *x, *noise, *wt, *xw, *t, *y, *y_col, *a, *sol;
  int i;

  /* The data set: y = x w_true + 1 + noise, computed with tensor ops. */
  CHECK(nn_tensor_rand_uniform(NN_F32, 2, xshape, -1.0, 1.0, 42, cpu, &x));
  CHECK(nn_tensor_rand_normal(NN_F32, 1, nshape, 0.0, 0.05, 43, cpu, &noise));
  CHECK(nn_tensor_from_data(NN_F32, 1, wshape, w_true, cpu, &wt));
  CHECK(nn_matmul(x, wt, &xw));                  /* [N] */
  CHECK(nn_binary_scalar(NN_OP_ADD, xw, 1.0, &t));
  CHECK(nn_binary(NN_OP_ADD, t, noise, &y));     /* [N] */
  CHECK(nn_tensor_reshape(y, 2, ycol, &y_col));  /* [N, 1]: one output column */
  nn_tensor_free(t);
  nn_tensor_free(xw);

  /* 1. Closed form: least squares on the design matrix [x1, x2, 1]. */
  CHECK(nn_tensor_read(x, xv, sizeof xv));
  for (i = 0; i < N; i++) {
    a_host[i][0] = xv[i][0];
    a_host[i][1] = xv[i][1];
    a_host[i][2] = 1.0f;
  }
  CHECK(nn_tensor_from_data(NN_F32, 2, ashape, a_host, cpu, &a));
  CHECK(nn_lstsq(a, y, &sol)); /* [3]: w1, w2, b */
  CHECK(nn_tensor_read(sol, exact, sizeof exact));

  /* 2. ADALINE: online SGD, one sample per step. */
  fit_sgd(x, y_col, 1, 0.01, 30, adaline_w, &adaline_b);

  /* 3. Minibatch SGD: 16 samples per step. */
  fit_sgd(x, y_col, 16, 0.1, 200, batch_w, &batch_b);

  printf("true:          w = [%8.5f, %8.5f], b = %8.5f\n", w_true[0], w_true[1], 1.0);
  printf("least squares: w = [%8.5f, %8.5f], b = %8.5f\n", exact[0], exact[1], exact[2]);
  printf("ADALINE:       w = [%8.5f, %8.5f], b = %8.5f\n", adaline_w[0], adaline_w[1], adaline_b);
  printf("minibatch SGD: w = [%8.5f, %8.5f], b = %8.5f\n", batch_w[0], batch_w[1], batch_b);

  nn_tensor_free(sol);
  nn_tensor_free(a);
  nn_tensor_free(y_col);
  nn_tensor_free(y);
  nn_tensor_free(wt);
  nn_tensor_free(noise);
  nn_tensor_free(x);

  {
    const float fits[2][3] = {{adaline_w[0], adaline_w[1], adaline_b},
                              {batch_w[0], batch_w[1], batch_b}};
    const float truth[3] = {3.0f, -2.0f, 1.0f};
    double worst = 0.0;
    int f, k;
    for (k = 0; k < 3; k++) {
      if (fabs(exact[k] - truth[k]) > 0.05) {
        fprintf(stderr, "error: least squares is far from the true coefficients\n");
        return 1;
      }
      for (f = 0; f < 2; f++) {
        double d = fabs(fits[f][k] - exact[k]);
        if (d > worst) worst = d;
      }
    }
    printf("largest difference from least squares: %.5f\n", worst);
    if (worst > TOLERANCE) {
      fprintf(stderr, "error: the SGD fits differ from least squares by more than %g\n", TOLERANCE);
      return 1;
    }
  }
  printf("all three agree within %g\n", TOLERANCE);
  return 0;
}
