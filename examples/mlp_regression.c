/* mlp_regression.c: the course's PyTorch training script, in C.
 *
 * The PyTorch original:
 *
 *     X, Y = torch.randn(100, 10), torch.randn(100, 5)
 *     model = nn.Sequential(nn.Linear(10, 40), nn.ReLU(),
 *                           nn.Linear(40, 40), nn.ReLU(), nn.Linear(40, 5))
 *     for m in model: nn.init.kaiming_uniform_(weight), zero bias
 *     loss_fn = nn.MSELoss()
 *     opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
 *     sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
 *     loader = DataLoader(TensorDataset(X, Y), batch_size=10, shuffle=True)
 *     for epoch in range(100):
 *         for xb, yb in loader:
 *             opt.zero_grad(); loss = loss_fn(model(xb), yb)
 *             loss.backward(); opt.step()
 *         sched.step()
 *         print(epoch, loss)
 *
 * In libnn the loop is nn_model_fit(), and the per-epoch print is its
 * callback. The program exits 1 unless the loss falls well below its start.
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

/* Called by nn_model_fit() after every epoch: print it, remember the first
 * loss. Returning 0 lets training go on. */
static int on_epoch(const nn_epoch_report *r, void *user_data) {
  double *first_loss = user_data;
  if (r->epoch == 0) *first_loss = r->loss;
  printf("epoch %3d/%d  loss %.6f  lr %.6g\n", r->epoch + 1, r->epochs, r->loss, r->lr);
  return 0;
}

int main(void) {
  const nn_device cpu = {NN_CPU, 0};
  const int64_t xshape[] = {100, 10}, yshape[] = {100, 5}, sizes[] = {10, 40, 40, 5};
  nn_tensor *x, *y;
  nn_model *model;
  nn_optimizer *opt;
  nn_fit_options fit;
  nn_epoch_report last;
  double first_loss = 0.0;
  char summary[2048];

  CHECK(nn_tensor_rand_normal(NN_F32, 2, xshape, 0.0, 1.0, 1, cpu, &x));
  CHECK(nn_tensor_rand_normal(NN_F32, 2, yshape, 0.0, 1.0, 2, cpu, &y));

  CHECK(nn_model_mlp(4, sizes, NN_ACT_RELU, NN_ACT_IDENTITY, &model));
  CHECK(nn_model_init(model, NN_INIT_HE_UNIFORM, 0));
  CHECK(nn_model_summary(model, summary, sizeof summary, NULL));
  printf("%s\n", summary);

  CHECK(nn_optimizer_sgd(model, 0.01, 0.9, 0.0, false, &opt));
  CHECK(nn_optimizer_set_step_lr(opt, 10, 0.5)); /* halve the rate every 10 epochs */

  nn_fit_options_init(&fit);
  fit.epochs = 100;
  fit.batch_size = 10;
  fit.shuffle = true; /* a new order every epoch */
  fit.seed = 0;
  fit.loss = NN_LOSS_MSE;
  fit.on_epoch = on_epoch;
  fit.user_data = &first_loss;
  CHECK(nn_model_fit(model, opt, x, y, &fit, &last));

  printf("loss: first epoch %.6f, last epoch %.6f\n", first_loss, last.loss);

  nn_optimizer_free(opt);
  nn_model_free(model);
  nn_tensor_free(y);
  nn_tensor_free(x);

  if (!(last.loss < 0.5 * first_loss)) {
    fprintf(stderr, "error: the loss did not fall well below its first value\n");
    return 1;
  }
  printf("the loss fell by %.0f%%\n", 100.0 * (1.0 - last.loss / first_loss));
  return 0;
}
