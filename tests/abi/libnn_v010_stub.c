/* A stand-in for libnn.so.0 of release 0.1.0 at link time: the same SONAME,
 * the functions test_abi_v1_client calls, and, as 0.1.0 had, no symbol
 * versions. A program linked against it has unversioned references, as a
 * program built against 0.1.0 has; at run time (LD_LIBRARY_PATH) the real
 * library answers them. Never run: every body is a placeholder. */
#include "nn_v0.1.0.h"

nn_status nn_tensor_from_data(nn_dtype dt, int ndim, const int64_t *shape, const void *data, nn_device dev,
                              nn_tensor **out) {
  (void)dt, (void)ndim, (void)shape, (void)data, (void)dev, (void)out;
  return NN_ERR_INTERNAL;
}
void nn_tensor_free(nn_tensor *t) { (void)t; }
nn_status nn_model_mlp(int n_sizes, const int64_t *sizes, nn_activation hidden, nn_activation output,
                       nn_model **out) {
  (void)n_sizes, (void)sizes, (void)hidden, (void)output, (void)out;
  return NN_ERR_INTERNAL;
}
nn_status nn_model_init(nn_model *m, nn_init scheme, uint64_t seed) {
  (void)m, (void)scheme, (void)seed;
  return NN_ERR_INTERNAL;
}
void nn_model_free(nn_model *m) { (void)m; }
nn_status nn_optimizer_sgd(nn_model *m, double lr, double momentum, double weight_decay, bool nesterov,
                           nn_optimizer **out) {
  (void)m, (void)lr, (void)momentum, (void)weight_decay, (void)nesterov, (void)out;
  return NN_ERR_INTERNAL;
}
void nn_optimizer_free(nn_optimizer *o) { (void)o; }
void nn_fit_options_init(nn_fit_options *o) { (void)o; }
nn_status nn_model_fit(nn_model *m, nn_optimizer *opt, const nn_tensor *x, const nn_tensor *y,
                       const nn_fit_options *opts, nn_epoch_report *last) {
  (void)m, (void)opt, (void)x, (void)y, (void)opts, (void)last;
  return NN_ERR_INTERNAL;
}
const char *nn_last_error(void) { return ""; }
int nn_version(void) { return 0; }
