/* A program written for release 0.1.0: compiled against its header
 * (tests/abi/nn_v0.1.0.h, nn_fit_options version 1) and linked against a
 * 0.1.0 stand-in without symbol versions (libnn_v010_stub.c), run against
 * the current libnn.so.0. The library must fill and read only the version-1
 * struct and write only a 0.1.0 nn_epoch_report: canaries right after each
 * must survive nn_fit_options_init and nn_model_fit. Exit 0 on success. */
#include <stdio.h>
#include <string.h>

#include "nn_v0.1.0.h"

#define CANARY 0xA5

typedef struct {
  nn_fit_options o;
  unsigned char canary[64];
} guarded_options;

typedef struct {
  nn_epoch_report r;
  unsigned char canary[64];
} guarded_report;

static int intact(const unsigned char *c, size_t n, const char *what) {
  for (size_t i = 0; i < n; ++i)
    if (c[i] != CANARY) {
      fprintf(stderr, "fit_v1_client: the library wrote past %s (byte %zu after it is 0x%02x)\n", what, i, c[i]);
      return 0;
    }
  return 1;
}

static int epochs_seen = 0;
static int on_epoch(const nn_epoch_report *r, void *ud) {
  (void)r;
  ++*(int *)ud;
  return 0;
}

int main(void) {
  if (NN_FIT_OPTIONS_VERSION != 1) return 10; /* the old header */
  if (nn_version() < 100) {
    fprintf(stderr, "fit_v1_client: running against the stub, not libnn (set LD_LIBRARY_PATH)\n");
    return 11;
  }
  guarded_options g;
  memset(&g, CANARY, sizeof g);
  nn_fit_options_init(&g.o);
  if (!intact(g.canary, sizeof g.canary, "a version-1 nn_fit_options (nn_fit_options_init)")) return 1;
  if (g.o.version != 1 || g.o.epochs != 10 || g.o.batch_size != 32 || !g.o.shuffle || g.o.on_epoch != NULL) {
    fprintf(stderr, "fit_v1_client: nn_fit_options_init gave version %u, epochs %d, batch_size %lld\n",
            g.o.version, g.o.epochs, (long long)g.o.batch_size);
    return 2;
  }

  const nn_device cpu = {NN_CPU, 0};
  const float xv[] = {0, 0, 0, 1, 1, 0, 1, 1}, yv[] = {0, 1, 1, 2};
  const int64_t xs[] = {4, 2}, ys[] = {4, 1}, sizes[] = {2, 1};
  nn_tensor *x = NULL, *y = NULL;
  nn_model *m = NULL;
  nn_optimizer *opt = NULL;
  nn_status st = nn_tensor_from_data(NN_F32, 2, xs, xv, cpu, &x);
  if (st == NN_OK) st = nn_tensor_from_data(NN_F32, 2, ys, yv, cpu, &y);
  if (st == NN_OK) st = nn_model_mlp(2, sizes, NN_ACT_IDENTITY, NN_ACT_IDENTITY, &m);
  if (st == NN_OK) st = nn_model_init(m, NN_INIT_ZEROS, 0);
  if (st == NN_OK) st = nn_optimizer_sgd(m, 0.1, 0.0, 0.0, false, &opt);
  guarded_report last;
  memset(&last, CANARY, sizeof last);
  g.o.epochs = 3;
  g.o.batch_size = 2;
  g.o.on_epoch = on_epoch;
  g.o.user_data = &epochs_seen;
  if (st == NN_OK) st = nn_model_fit(m, opt, x, y, &g.o, &last.r);
  if (st != NN_OK) {
    fprintf(stderr, "fit_v1_client: status %d: %s\n", (int)st, nn_last_error());
    return 3;
  }
  if (!intact(last.canary, sizeof last.canary, "a 0.1.0 nn_epoch_report (nn_model_fit)")) return 4;
  if (!intact(g.canary, sizeof g.canary, "a version-1 nn_fit_options (nn_model_fit)")) return 5;
  if (last.r.epoch != 2 || last.r.epochs != 3 || !(last.r.loss > 0) || epochs_seen != 3) {
    fprintf(stderr, "fit_v1_client: last epoch %d of %d, loss %g, %d callbacks\n", last.r.epoch, last.r.epochs,
            last.r.loss, epochs_seen);
    return 6;
  }
  nn_optimizer_free(opt);
  nn_model_free(m);
  nn_tensor_free(x);
  nn_tensor_free(y);
  printf("fit_v1_client: version-1 options and report intact with libnn %d\n", nn_version());
  return 0;
}
