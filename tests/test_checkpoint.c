/* Checkpoints and exact resume, nn_optimizer_epoch, model metadata and
 * nn_model_load_weights (nn.h, groups "training" and "persistence").
 *
 * Exact resume is checked bit for bit: N epochs of nn_model_fit equal k
 * epochs + checkpoint + load + N-k epochs, in this process and across
 * processes (this program runs itself: `test_checkpoint part1 CASE K PATH`
 * trains K epochs and saves a checkpoint, `test_checkpoint part2 CASE M IN
 * OUT` loads it, trains M more and saves again), for every optimizer
 * configuration the issue names. The comparison is of the whole checkpoint
 * files: weights, optimizer state, counters, learning rate, byte for byte.
 * load_weights is checked against files written by real PyTorch
 * (tests/fixtures/make_load_weights_fixtures.py).
 */
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixtures/load_weights_fixtures.h"
#include "test_util.h"

#ifndef NN_FIXTURES_DIR
#define NN_FIXTURES_DIR "tests/fixtures"
#endif

extern char **environ;

/* ---- temporary files ------------------------------------------------------ */

static char tmp_dir[256];

static const char *tmp_path(const char *name) {
  static char buf[8][512];
  static int k = 0;
  char *p = buf[k++ % 8];
  snprintf(p, 512, "%s/%s", tmp_dir, name);
  return p;
}

static bool contains(const unsigned char *data, size_t len, const char *s) {
  size_t n = strlen(s), i;
  for (i = 0; i + n <= len; i++)
    if (memcmp(data + i, s, n) == 0) return true;
  return false;
}

static void assert_files_equal(const char *a, const char *b) {
  size_t la, lb;
  unsigned char *da = tu_read_file(a, &la), *db = tu_read_file(b, &lb);
  if (la != lb || memcmp(da, db, la) != 0) {
    size_t i = 0;
    while (i < la && i < lb && da[i] == db[i]) i++;
    fail_msg("%s (%zu bytes) and %s (%zu bytes) differ from byte %zu", a, la, b, lb, i);
  }
  free(da);
  free(db);
}

/* ---- the training cases ---------------------------------------------------- */

typedef struct resume_case {
  const char *name;
  int adam;  /* 0: SGD, 1: Adam, 2: AdamW */
  double lr, momentum, weight_decay;
  bool nesterov;
  int step_size; /* 0: no StepLR */
  double gamma;
  bool shuffle;
  nn_dtype dtype;
  nn_loss loss;
} resume_case;

static const resume_case cases[] = {
    {"sgd", 0, 0.05, 0, 0, false, 0, 1, true, NN_F32, NN_LOSS_MSE},
    {"sgd_momentum_wd_steplr", 0, 0.05, 0.9, 1e-3, false, 2, 0.5, true, NN_F32, NN_LOSS_MSE},
    {"sgd_nesterov_wd_steplr", 0, 0.03, 0.8, 5e-3, true, 3, 0.7, true, NN_F32, NN_LOSS_CROSS_ENTROPY},
    {"adam_l2_steplr", 1, 0.01, 0, 1e-2, false, 2, 0.5, true, NN_F32, NN_LOSS_CROSS_ENTROPY},
    {"adamw_steplr", 2, 0.01, 0, 1e-2, false, 2, 0.9, true, NN_F32, NN_LOSS_MSE},
    {"adam_noshuffle", 1, 0.02, 0, 0, false, 0, 1, false, NN_F32, NN_LOSS_MSE},
    {"adamw_f64", 2, 0.01, 0, 1e-2, false, 2, 0.5, true, NN_F64, NN_LOSS_CROSS_ENTROPY},
    {"sgd_nesterov_f64", 0, 0.05, 0.9, 1e-3, true, 2, 0.5, true, NN_F64, NN_LOSS_MSE},
};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))
#define N_EPOCHS 6
#define N_ROWS 37 /* batches of 8: the last one partial */

static const resume_case *find_case(const char *name) {
  int i;
  for (i = 0; i < N_CASES; i++)
    if (strcmp(cases[i].name, name) == 0) return &cases[i];
  fprintf(stderr, "no case %s\n", name);
  exit(2);
}

/* Inputs [37, 5] and targets (I64 classes [37] for cross-entropy, [37, 3] otherwise). */
static void make_data(const resume_case *c, nn_tensor **x, nn_tensor **y) {
  double xv[N_ROWS * 5], yv[N_ROWS * 3];
  int64_t cls[N_ROWS];
  const int64_t xs[] = {N_ROWS, 5}, ys[] = {N_ROWS, 3}, cs[] = {N_ROWS};
  tu_rng r = tu_rng_make(99);
  int i;
  for (i = 0; i < N_ROWS * 5; i++) xv[i] = tu_rng_uniform(&r, -1, 1);
  for (i = 0; i < N_ROWS * 3; i++) yv[i] = tu_rng_uniform(&r, -1, 1);
  for (i = 0; i < N_ROWS; i++) cls[i] = tu_rng_int(&r, 0, 2);
  *x = tu_make(c->dtype, 2, xs, xv);
  *y = c->loss == NN_LOSS_CROSS_ENTROPY ? tu_make_i64(NN_I64, 1, cs, cls) : tu_make(c->dtype, 2, ys, yv);
}

static void make_model(const resume_case *c, nn_model **m, nn_optimizer **opt) {
  const int64_t sizes[] = {5, 8, 3};
  TU_OK(nn_model_mlp(3, sizes, NN_ACT_TANH, NN_ACT_IDENTITY, m));
  if (c->dtype != NN_F32) TU_OK(nn_model_to_dtype(*m, c->dtype));
  TU_OK(nn_model_init(*m, NN_INIT_TORCH_DEFAULT, 7));
  TU_OK(nn_model_set_metadata(*m, "run", c->name));
  if (c->adam)
    TU_OK(nn_optimizer_adam(*m, c->lr, 0.9, 0.999, 1e-8, c->weight_decay, c->adam == 2, opt));
  else
    TU_OK(nn_optimizer_sgd(*m, c->lr, c->momentum, c->weight_decay, c->nesterov, opt));
  if (c->step_size) TU_OK(nn_optimizer_set_step_lr(*opt, c->step_size, c->gamma));
}

static void train(const resume_case *c, nn_model *m, nn_optimizer *opt, int epochs) {
  nn_tensor *x, *y;
  nn_fit_options o;
  make_data(c, &x, &y);
  nn_fit_options_init(&o);
  o.epochs = epochs;
  o.batch_size = 8;
  o.shuffle = c->shuffle;
  o.seed = 42;
  o.loss = c->loss;
  TU_OK(nn_model_fit(m, opt, x, y, &o, NULL));
  nn_tensor_free(x);
  nn_tensor_free(y);
}

/* N epochs in one go; its checkpoint at `path`. */
static void reference_run(const resume_case *c, const char *path) {
  nn_model *m;
  nn_optimizer *opt;
  make_model(c, &m, &opt);
  train(c, m, opt, N_EPOCHS);
  assert_int_equal(nn_optimizer_epoch(opt), N_EPOCHS);
  TU_OK(nn_checkpoint_save(m, opt, path));
  nn_optimizer_free(opt);
  nn_model_free(m);
}

/* ---- the child process ------------------------------------------------------ */

static int child_main(int argc, char **argv) {
  const resume_case *c;
  nn_model *m;
  nn_optimizer *opt;
  if (strcmp(argv[1], "part1") == 0 && argc == 5) {
    c = find_case(argv[2]);
    make_model(c, &m, &opt);
    train(c, m, opt, atoi(argv[3]));
    if (nn_checkpoint_save(m, opt, argv[4]) != NN_OK) return 1;
  } else if (strcmp(argv[1], "part2") == 0 && argc == 6) {
    c = find_case(argv[2]);
    if (nn_checkpoint_load(argv[4], tu_cpu(), &m, &opt) != NN_OK) {
      fprintf(stderr, "%s\n", nn_last_error());
      return 1;
    }
    train(c, m, opt, atoi(argv[3]));
    if (nn_checkpoint_save(m, opt, argv[5]) != NN_OK) return 1;
  } else {
    fprintf(stderr, "usage: %s part1 CASE K OUT | part2 CASE M IN OUT\n", argv[0]);
    return 2;
  }
  nn_optimizer_free(opt);
  nn_model_free(m);
  return 0;
}

static void run_child(char *const argv[]) {
  pid_t pid;
  int status = 0;
  assert_int_equal(posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, environ), 0);
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- tests: the epoch counter and fit --------------------------------------- */

static void test_epoch_counter(void **state) {
  const resume_case *c = &cases[1];
  nn_model *m;
  nn_optimizer *opt;
  (void)state;
  assert_int_equal(nn_optimizer_epoch(NULL), -1);
  make_model(c, &m, &opt);
  assert_int_equal(nn_optimizer_epoch(opt), 0);
  TU_OK(nn_optimizer_epoch_end(opt));
  assert_int_equal(nn_optimizer_epoch(opt), 1);
  train(c, m, opt, 3);
  assert_int_equal(nn_optimizer_epoch(opt), 4);
  nn_optimizer_free(opt);
  nn_model_free(m);
  /* Without a schedule the count still advances. */
  make_model(&cases[0], &m, &opt);
  TU_OK(nn_optimizer_epoch_end(opt));
  TU_OK(nn_optimizer_epoch_end(opt));
  assert_int_equal(nn_optimizer_epoch(opt), 2);
  assert_true(nn_optimizer_lr(opt) == 0.05);
  nn_optimizer_free(opt);
  nn_model_free(m);
}

/* fit(1) + fit(1) + ... == fit(N), every case, bit for bit. */
static void test_fit_in_pieces(void **state) {
  int i, k;
  (void)state;
  for (i = 0; i < N_CASES; i++) {
    const resume_case *c = &cases[i];
    nn_model *m;
    nn_optimizer *opt;
    reference_run(c, tmp_path("ref.ckpt"));
    make_model(c, &m, &opt);
    for (k = 0; k < N_EPOCHS; k++) train(c, m, opt, 1);
    TU_OK(nn_checkpoint_save(m, opt, tmp_path("pieces.ckpt")));
    assert_files_equal(tmp_path("ref.ckpt"), tmp_path("pieces.ckpt"));
    nn_optimizer_free(opt);
    nn_model_free(m);
  }
}

/* The shuffle really depends on the epoch: with shuffling, two epochs
 * starting from the same weights at different epoch counts differ. */
static void test_shuffle_follows_epoch(void **state) {
  const resume_case *c = &cases[1];
  nn_model *a, *b;
  nn_optimizer *oa, *ob;
  double *va, *vb;
  int64_t na, nb;
  (void)state;
  make_model(c, &a, &oa);
  make_model(c, &b, &ob);
  TU_OK(nn_optimizer_set_step_lr(ob, 1000, 0.5)); /* schedule reset: only the epoch count differs */
  TU_OK(nn_optimizer_set_step_lr(oa, 1000, 0.5));
  TU_OK(nn_optimizer_epoch_end(ob));
  train(c, a, oa, 1);
  train(c, b, ob, 1);
  va = tu_model_values(a, false, &na);
  vb = tu_model_values(b, false, &nb);
  assert_int_equal(na, nb);
  assert_true(memcmp(va, vb, (size_t)na * sizeof *va) != 0);
  free(va);
  free(vb);
  nn_optimizer_free(oa);
  nn_optimizer_free(ob);
  nn_model_free(a);
  nn_model_free(b);
}

/* ---- tests: resume ----------------------------------------------------------- */

static void test_resume_in_process(void **state) {
  int i, k;
  (void)state;
  for (i = 0; i < N_CASES; i++) {
    const resume_case *c = &cases[i];
    reference_run(c, tmp_path("ref.ckpt"));
    for (k = 1; k < N_EPOCHS; k += 2) {
      nn_model *m, *m2;
      nn_optimizer *opt, *opt2;
      char md[64];
      size_t needed;
      make_model(c, &m, &opt);
      train(c, m, opt, k);
      TU_OK(nn_checkpoint_save(m, opt, tmp_path("part1.ckpt")));
      nn_optimizer_free(opt);
      nn_model_free(m);
      TU_OK(nn_checkpoint_load(tmp_path("part1.ckpt"), tu_cpu(), &m2, &opt2));
      assert_int_equal(nn_optimizer_epoch(opt2), k);
      assert_int_equal(nn_model_dtype(m2), c->dtype);
      TU_OK(nn_model_get_metadata(m2, "run", md, sizeof md, &needed));
      assert_string_equal(md, c->name);
      train(c, m2, opt2, N_EPOCHS - k);
      TU_OK(nn_checkpoint_save(m2, opt2, tmp_path("resumed.ckpt")));
      assert_files_equal(tmp_path("ref.ckpt"), tmp_path("resumed.ckpt"));
      nn_optimizer_free(opt2);
      nn_model_free(m2);
    }
  }
}

static void test_resume_across_processes(void **state) {
  int i;
  (void)state;
  for (i = 0; i < N_CASES; i++) {
    const resume_case *c = &cases[i];
    char k_s[8], m_s[8];
    char *p1[6], *p2[7];
    snprintf(k_s, sizeof k_s, "%d", 2);
    snprintf(m_s, sizeof m_s, "%d", N_EPOCHS - 2);
    p1[0] = "test_checkpoint";
    p1[1] = "part1";
    p1[2] = (char *)c->name;
    p1[3] = k_s;
    p1[4] = (char *)tmp_path("child1.ckpt");
    p1[5] = NULL;
    run_child(p1);
    p2[0] = "test_checkpoint";
    p2[1] = "part2";
    p2[2] = (char *)c->name;
    p2[3] = m_s;
    p2[4] = (char *)tmp_path("child1.ckpt");
    p2[5] = (char *)tmp_path("child2.ckpt");
    p2[6] = NULL;
    run_child(p2);
    reference_run(c, tmp_path("ref.ckpt"));
    assert_files_equal(tmp_path("ref.ckpt"), tmp_path("child2.ckpt"));
  }
}

/* A checkpoint is a plain model for nn_model_load, and names its state as documented. */
static void test_checkpoint_contents(void **state) {
  const resume_case *c = &cases[3]; /* Adam, StepLR */
  nn_model *m, *plain;
  nn_optimizer *opt;
  unsigned char *bytes;
  size_t len;
  uint64_t hlen = 0;
  char *header;
  double *v1, *v2;
  int64_t n1, n2;
  char md[32];
  int i;
  (void)state;
  make_model(c, &m, &opt);
  train(c, m, opt, 3);
  TU_OK(nn_checkpoint_save(m, opt, tmp_path("c.ckpt")));
  TU_OK(nn_model_load(tmp_path("c.ckpt"), tu_cpu(), &plain));
  v1 = tu_model_values(m, false, &n1);
  v2 = tu_model_values(plain, false, &n2);
  assert_int_equal(n1, n2);
  assert_memory_equal(v1, v2, (size_t)n1 * sizeof *v1);
  TU_OK(nn_model_get_metadata(plain, "run", md, sizeof md, NULL));
  assert_string_equal(md, c->name);
  free(v1);
  free(v2);
  nn_model_free(plain);

  bytes = tu_read_file(tmp_path("c.ckpt"), &len);
  for (i = 7; i >= 0; i--) hlen = (hlen << 8) | bytes[i];
  header = malloc((size_t)hlen + 1);
  memcpy(header, bytes + 8, (size_t)hlen);
  header[hlen] = '\0';
  {
    static const char *const expect[] = {
        "\"0.weight\":{\"dtype\":\"F32\",\"shape\":[8,5]",
        "\"optimizer.0.weight.exp_avg\":{\"dtype\":\"F32\",\"shape\":[8,5]",
        "\"optimizer.0.weight.exp_avg_sq\":{\"dtype\":\"F32\",\"shape\":[8,5]",
        "\"optimizer.2.bias.exp_avg_sq\":{\"dtype\":\"F32\",\"shape\":[3]",
        "\"nn.optimizer\":\"adam\"",
        "\"nn.optimizer.lr\":\"0.005\"", /* 0.01 halved once after 2 of 3 epochs */
        "\"nn.optimizer.beta1\":\"0.9\"",
        "\"nn.optimizer.beta2\":\"0.999\"",
        "\"nn.optimizer.eps\":\"1e-08\"",
        "\"nn.optimizer.weight_decay\":\"0.01\"",
        "\"nn.optimizer.step\":\"15\"", /* 3 epochs of 5 batches */
        "\"nn.optimizer.epoch\":\"3\"",
        "\"nn.step_lr.step_size\":\"2\"",
        "\"nn.step_lr.gamma\":\"0.5\"",
        "\"nn.step_lr.last_epoch\":\"3\"",
        "\"run\":\"adam_l2_steplr\"",
        "\"nn.architecture\":"};
    size_t k;
    for (k = 0; k < sizeof expect / sizeof expect[0]; k++)
      if (strstr(header, expect[k]) == NULL) fail_msg("checkpoint header lacks %s: %s", expect[k], header);
    assert_null(strstr(header, "momentum_buffer"));
  }
  free(header);
  free(bytes);

  /* SGD without momentum keeps no state tensors; with momentum, one per parameter. */
  nn_optimizer_free(opt);
  TU_OK(nn_optimizer_sgd(m, 0.1, 0, 0, false, &opt));
  TU_OK(nn_checkpoint_save(m, opt, tmp_path("c.ckpt")));
  bytes = tu_read_file(tmp_path("c.ckpt"), &len);
  assert_false(contains(bytes, len, "\"optimizer."));
  assert_true(contains(bytes, len, "\"nn.optimizer.momentum\":\"0\""));
  free(bytes);
  nn_optimizer_free(opt);
  TU_OK(nn_optimizer_sgd(m, 0.1, 0.5, 0, true, &opt));
  TU_OK(nn_checkpoint_save(m, opt, tmp_path("c.ckpt")));
  bytes = tu_read_file(tmp_path("c.ckpt"), &len);
  assert_true(contains(bytes, len, "\"optimizer.2.bias.momentum_buffer\""));
  assert_true(contains(bytes, len, "\"nn.optimizer.nesterov\":\"true\""));
  free(bytes);
  nn_optimizer_free(opt);
  nn_model_free(m);
}

static void test_checkpoint_errors(void **state) {
  nn_model *m, *other, *lm = (nn_model *)TU_SENTINEL;
  nn_optimizer *opt, *lo = (nn_optimizer *)TU_SENTINEL;
  (void)state;
  make_model(&cases[1], &m, &opt);
  make_model(&cases[1], &other, &lo);
  nn_optimizer_free(lo);
  lo = (nn_optimizer *)TU_SENTINEL;
  TU_ERR(nn_checkpoint_save(NULL, opt, tmp_path("e.ckpt")), NN_ERR_INVALID_ARGUMENT, "nn_checkpoint_save", "m is NULL");
  TU_ERR(nn_checkpoint_save(m, NULL, tmp_path("e.ckpt")), NN_ERR_INVALID_ARGUMENT, "nn_checkpoint_save", "opt is NULL");
  TU_ERR(nn_checkpoint_save(m, opt, NULL), NN_ERR_INVALID_ARGUMENT, "nn_checkpoint_save", "path is NULL");
  TU_ERR(nn_checkpoint_save(other, opt, tmp_path("e.ckpt")), NN_ERR_INVALID_ARGUMENT, "nn_checkpoint_save",
         "another model");
  TU_ERR(nn_checkpoint_save(m, opt, "/nonexistent-dir/x.ckpt"), NN_ERR_IO, "nn_checkpoint_save", "/nonexistent-dir/x.ckpt");
  TU_ERR(nn_checkpoint_load(NULL, tu_cpu(), &lm, &lo), NN_ERR_INVALID_ARGUMENT, "nn_checkpoint_load", "path is NULL");
  TU_ERR(nn_checkpoint_load(tmp_path("e.ckpt"), tu_cpu(), NULL, &lo), NN_ERR_INVALID_ARGUMENT, "nn_checkpoint_load",
         "model is NULL");
  TU_ERR(nn_checkpoint_load(tmp_path("e.ckpt"), tu_cpu(), &lm, NULL), NN_ERR_INVALID_ARGUMENT, "nn_checkpoint_load",
         "opt is NULL");
  TU_ERR(nn_checkpoint_load(tmp_path("missing.ckpt"), tu_cpu(), &lm, &lo), NN_ERR_IO, "nn_checkpoint_load",
         "missing.ckpt");
  /* A plain model file is not a checkpoint. */
  TU_OK(nn_model_save(m, tmp_path("plain.st")));
  TU_ERR(nn_checkpoint_load(tmp_path("plain.st"), tu_cpu(), &lm, &lo), NN_ERR_FORMAT, "nn_checkpoint_load",
         "no \"nn.optimizer\" entry", "nn_model_load");
  assert_ptr_equal(lm, TU_SENTINEL);
  assert_ptr_equal(lo, TU_SENTINEL);
  nn_optimizer_free(opt);
  nn_model_free(m);
  nn_model_free(other);
}

/* ---- hostile checkpoints: hand-built files, one flaw each --------------------- */

/* A Linear(2, 1) model with Adam: 2 parameters, 4 state tensors. */
typedef struct st_tensor {
  const char *name, *dtype;
  int ndim;
  int64_t shape[2];
} st_tensor;

typedef struct hostile {
  const char *what;       /* the flaw */
  const char *drop_meta;  /* a key to leave out */
  const char *meta_key;   /* a key to set (or add) */
  const char *meta_value;
  const char *drop_tensor;
  st_tensor add_tensor;   /* name NULL: none */
  const char *change_tensor;  /* name of a tensor to change */
  st_tensor changed;
  const char *expect;     /* in the message */
} hostile;

static size_t dtype_bytes(const char *dt) { return strcmp(dt, "F64") == 0 ? 8 : 4; }

/* Writes the file of case h (h NULL: the valid one). */
static void build_checkpoint(const hostile *h, const char *path) {
  static const char *const meta[][2] = {
      {"nn.architecture", "[{\\\"type\\\":\\\"linear\\\",\\\"in\\\":2,\\\"out\\\":1,\\\"bias\\\":true}]"},
      {"nn.optimizer", "adam"},      {"nn.optimizer.lr", "0.25"},       {"nn.optimizer.beta1", "0.5"},
      {"nn.optimizer.beta2", "0.75"}, {"nn.optimizer.eps", "0.125"},     {"nn.optimizer.weight_decay", "0"},
      {"nn.optimizer.step", "1"},    {"nn.optimizer.epoch", "1"}};
  st_tensor ts[8] = {{"0.weight", "F32", 2, {1, 2}},
                     {"0.bias", "F32", 1, {1, 0}},
                     {"optimizer.0.weight.exp_avg", "F32", 2, {1, 2}},
                     {"optimizer.0.weight.exp_avg_sq", "F32", 2, {1, 2}},
                     {"optimizer.0.bias.exp_avg", "F32", 1, {1, 0}},
                     {"optimizer.0.bias.exp_avg_sq", "F32", 1, {1, 0}}};
  int nt = 6, i, k;
  char header[4096];
  size_t hl = 0, off = 0, total;
  unsigned char *file;
  if (h && h->add_tensor.name) ts[nt++] = h->add_tensor;
  hl += (size_t)snprintf(header + hl, sizeof header - hl, "{\"__metadata__\":{");
  k = 0;
  for (i = 0; i < (int)(sizeof meta / sizeof meta[0]); i++) {
    const char *v = meta[i][1];
    if (h && h->drop_meta && strcmp(h->drop_meta, meta[i][0]) == 0) continue;
    if (h && h->meta_key && strcmp(h->meta_key, meta[i][0]) == 0) v = h->meta_value;
    hl += (size_t)snprintf(header + hl, sizeof header - hl, "%s\"%s\":\"%s\"", k++ ? "," : "", meta[i][0], v);
  }
  if (h && h->meta_key) {
    bool present = false;
    for (i = 0; i < (int)(sizeof meta / sizeof meta[0]); i++) present = present || strcmp(h->meta_key, meta[i][0]) == 0;
    if (!present) hl += (size_t)snprintf(header + hl, sizeof header - hl, ",\"%s\":\"%s\"", h->meta_key, h->meta_value);
  }
  hl += (size_t)snprintf(header + hl, sizeof header - hl, "}");
  for (i = 0; i < nt; i++) {
    st_tensor t = ts[i];
    size_t bytes = dtype_bytes(t.dtype) * (size_t)(t.ndim == 2 ? t.shape[0] * t.shape[1] : t.shape[0]);
    if (h && h->drop_tensor && strcmp(h->drop_tensor, t.name) == 0) continue;
    if (h && h->change_tensor && strcmp(h->change_tensor, t.name) == 0) {
      t = h->changed;
      bytes = dtype_bytes(t.dtype) * (size_t)(t.ndim == 2 ? t.shape[0] * t.shape[1] : t.shape[0]);
    }
    if (t.ndim == 2)
      hl += (size_t)snprintf(header + hl, sizeof header - hl,
                             ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%lld,%lld],\"data_offsets\":[%zu,%zu]}", t.name,
                             t.dtype, (long long)t.shape[0], (long long)t.shape[1], off, off + bytes);
    else
      hl += (size_t)snprintf(header + hl, sizeof header - hl,
                             ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%lld],\"data_offsets\":[%zu,%zu]}", t.name, t.dtype,
                             (long long)t.shape[0], off, off + bytes);
    off += bytes;
  }
  hl += (size_t)snprintf(header + hl, sizeof header - hl, "}");
  assert_true(hl < sizeof header);
  total = 8 + hl + off;
  file = calloc(1, total);
  for (i = 0; i < 8; i++) file[i] = (unsigned char)((uint64_t)hl >> (8 * i));
  memcpy(file + 8, header, hl);
  /* Data: every F32 value 0.5 (state 0.5 too: a valid second moment). */
  for (i = 0; (size_t)i + 4 <= off; i += 4) {
    float v = 0.5f;
    memcpy(file + 8 + hl + i, &v, 4);
  }
  tu_write_file(path, file, total);
  free(file);
}

static void test_hostile_checkpoints(void **state) {
  static const hostile cases_h[] = {
      {"no kind", "nn.optimizer", NULL, NULL, NULL, {0}, NULL, {0}, "no \"nn.optimizer\" entry"},
      {"unknown kind", NULL, "nn.optimizer", "rmsprop", NULL, {0}, NULL, {0}, "\"rmsprop\"; expected sgd, adam or adamw"},
      {"no lr", "nn.optimizer.lr", NULL, NULL, NULL, {0}, NULL, {0}, "no \"nn.optimizer.lr\" entry"},
      {"no beta2", "nn.optimizer.beta2", NULL, NULL, NULL, {0}, NULL, {0}, "no \"nn.optimizer.beta2\" entry"},
      {"no step", "nn.optimizer.step", NULL, NULL, NULL, {0}, NULL, {0}, "no \"nn.optimizer.step\" entry"},
      {"no epoch", "nn.optimizer.epoch", NULL, NULL, NULL, {0}, NULL, {0}, "no \"nn.optimizer.epoch\" entry"},
      {"lr text", NULL, "nn.optimizer.lr", "fast", NULL, {0}, NULL, {0}, "\"nn.optimizer.lr\" is \"fast\", not a finite number"},
      {"lr nan", NULL, "nn.optimizer.lr", "nan", NULL, {0}, NULL, {0}, "not a finite number"},
      {"lr overflow", NULL, "nn.optimizer.lr", "1e400", NULL, {0}, NULL, {0}, "not a finite number"},
      {"lr trailing", NULL, "nn.optimizer.lr", "0.25 ", NULL, {0}, NULL, {0}, "not a finite number"},
      {"lr negative", NULL, "nn.optimizer.lr", "-0.25", NULL, {0}, NULL, {0}, "lr is -0.25"},
      {"beta1 = 1", NULL, "nn.optimizer.beta1", "1", NULL, {0}, NULL, {0}, "beta1 is 1; it must be in [0, 1)"},
      {"step negative", NULL, "nn.optimizer.step", "-1", NULL, {0}, NULL, {0}, "not an integer"},
      {"step fraction", NULL, "nn.optimizer.step", "1.5", NULL, {0}, NULL, {0}, "not an integer"},
      {"epoch huge", NULL, "nn.optimizer.epoch", "99999999999999999999", NULL, {0}, NULL, {0}, "not an integer"},
      {"sgd entry on adam", NULL, "nn.optimizer.momentum", "0.9", NULL, {0}, NULL, {0},
       "\"nn.optimizer.momentum\" is not one this checkpoint's optimizer has"},
      {"unknown nn. entry", NULL, "nn.optimizer.amsgrad", "true", NULL, {0}, NULL, {0}, "\"nn.optimizer.amsgrad\""},
      {"half a schedule", NULL, "nn.step_lr.step_size", "2", NULL, {0}, NULL, {0}, "no \"nn.step_lr.gamma\" entry"},
      {"schedule without step_size", NULL, "nn.step_lr.gamma", "0.5", NULL, {0}, NULL, {0}, "no \"nn.step_lr.step_size\" entry"},
      {"missing state", NULL, NULL, NULL, "optimizer.0.bias.exp_avg_sq", {0}, NULL, {0},
       "tensor \"optimizer.0.bias.exp_avg_sq\" of the adam optimizer is missing"},
      {"extra state", NULL, NULL, NULL, NULL, {"optimizer.0.weight.momentum_buffer", "F32", 2, {1, 2}}, NULL, {0},
       "tensor \"optimizer.0.weight.momentum_buffer\" is not a state of the adam optimizer"},
      {"state of no parameter", NULL, NULL, NULL, NULL, {"optimizer.1.weight.exp_avg", "F32", 2, {1, 2}}, NULL, {0},
       "\"optimizer.1.weight.exp_avg\" is not a state"},
      {"state dtype", NULL, NULL, NULL, NULL, {0}, "optimizer.0.weight.exp_avg", {"optimizer.0.weight.exp_avg", "F64", 2, {1, 2}},
       "\"optimizer.0.weight.exp_avg\" has dtype F64 but its parameter \"0.weight\" has F32"},
      {"state shape", NULL, NULL, NULL, NULL, {0}, "optimizer.0.weight.exp_avg_sq", {"optimizer.0.weight.exp_avg_sq", "F32", 2, {2, 1}},
       "\"optimizer.0.weight.exp_avg_sq\" has shape [2, 1] but its parameter \"0.weight\" has [1, 2]"},
      {"model part broken", NULL, NULL, NULL, "0.bias", {0}, NULL, {0}, "tensor \"0.bias\" required by nn.architecture is missing"},
  };
  size_t i;
  nn_model *m;
  nn_optimizer *opt;
  (void)state;
  /* The valid file loads, with the values written. */
  build_checkpoint(NULL, tmp_path("h.ckpt"));
  TU_OK(nn_checkpoint_load(tmp_path("h.ckpt"), tu_cpu(), &m, &opt));
  assert_true(nn_optimizer_lr(opt) == 0.25);
  assert_int_equal(nn_optimizer_epoch(opt), 1);
  TU_OK(nn_optimizer_step(opt)); /* zero gradients: Adam moves by the decayed moments */
  nn_optimizer_free(opt);
  nn_model_free(m);
  for (i = 0; i < sizeof cases_h / sizeof cases_h[0]; i++) {
    nn_model *lm = (nn_model *)TU_SENTINEL;
    nn_optimizer *lo = (nn_optimizer *)TU_SENTINEL;
    nn_status st;
    build_checkpoint(&cases_h[i], tmp_path("h.ckpt"));
    st = nn_checkpoint_load(tmp_path("h.ckpt"), tu_cpu(), &lm, &lo);
    if (st != NN_ERR_FORMAT || strstr(nn_last_error(), cases_h[i].expect) == NULL ||
        strncmp(nn_last_error(), "nn_checkpoint_load", 18) != 0)
      fail_msg("case \"%s\": status %d, message \"%s\" (expected FORMAT with \"%s\")", cases_h[i].what, (int)st,
               nn_last_error(), cases_h[i].expect);
    assert_ptr_equal(lm, TU_SENTINEL);
    assert_ptr_equal(lo, TU_SENTINEL);
  }
  /* optimizer.* tensors without "nn.optimizer": nn_model_load refuses them too. */
  build_checkpoint(&cases_h[0], tmp_path("h.ckpt"));
  {
    nn_model *lm = (nn_model *)TU_SENTINEL;
    TU_ERR(nn_model_load(tmp_path("h.ckpt"), tu_cpu(), &lm), NN_ERR_FORMAT, "nn_model_load",
           "does not belong to any layer", "has no \"nn.optimizer\"");
  }
}

/* Random damage to a real checkpoint (bytes changed in the header or the
 * data, truncation): every load answers NN_OK or NN_ERR_FORMAT naming the
 * call, never anything else (the sanitizer build checks memory). */
static void test_damaged_checkpoints(void **state) {
  const resume_case *c = &cases[2]; /* SGD, Nesterov, StepLR */
  nn_model *m, *target;
  nn_optimizer *opt;
  unsigned char *good, *bad;
  size_t len, hlen = 0;
  tu_rng r = tu_rng_make(2024);
  int i, k, ok = 0, format = 0;
  (void)state;
  make_model(c, &m, &opt);
  train(c, m, opt, 2);
  TU_OK(nn_checkpoint_save(m, opt, tmp_path("good.ckpt")));
  good = tu_read_file(tmp_path("good.ckpt"), &len);
  for (i = 7; i >= 0; i--) hlen = (hlen << 8) | good[i];
  bad = malloc(len);
  {
    const int64_t sizes[] = {5, 8, 3};
    TU_OK(nn_model_mlp(3, sizes, NN_ACT_TANH, NN_ACT_IDENTITY, &target));
  }
  for (i = 0; i < 600; i++) {
    size_t n = len;
    nn_model *lm = NULL;
    nn_optimizer *lo = NULL;
    nn_status st;
    memcpy(bad, good, len);
    if (i % 10 == 9) {
      n = (size_t)tu_rng_int(&r, 0, (int64_t)len - 1); /* truncated */
    } else {
      const int edits = (int)tu_rng_int(&r, 1, 3);
      for (k = 0; k < edits; k++) {
        /* mostly the header, where the structure is */
        size_t at = (size_t)(i % 4 == 0 ? tu_rng_int(&r, 0, (int64_t)len - 1) : tu_rng_int(&r, 0, (int64_t)(8 + hlen - 1)));
        static const char pool[] = "{}[]\",:0123456789-.eE\\ aznu";
        bad[at] = i % 3 == 0 ? (unsigned char)tu_rng_int(&r, 0, 255) : (unsigned char)pool[tu_rng_int(&r, 0, (int64_t)sizeof pool - 2)];
      }
    }
    tu_write_file(tmp_path("bad.ckpt"), bad, n);
    st = nn_checkpoint_load(tmp_path("bad.ckpt"), tu_cpu(), &lm, &lo);
    if (st == NN_OK) {
      ok++;
      nn_optimizer_free(lo);
      nn_model_free(lm);
    } else if (st == NN_ERR_FORMAT && strncmp(nn_last_error(), "nn_checkpoint_load: ", 20) == 0) {
      format++;
    } else {
      fail_msg("damaged checkpoint %d: status %d, \"%s\"", i, (int)st, nn_last_error());
    }
    st = nn_model_load_weights(target, tmp_path("bad.ckpt"));
    if (st != NN_OK && st != NN_ERR_FORMAT) fail_msg("load_weights of damaged file %d: status %d", i, (int)st);
  }
  assert_true(format > 300); /* most damage is caught ... */
  assert_true(ok > 0);       /* ... and some (in the data) is harmless */
  free(bad);
  free(good);
  nn_model_free(target);
  nn_optimizer_free(opt);
  nn_model_free(m);
}

/* ---- metadata ------------------------------------------------------------------ */

static void test_metadata(void **state) {
  nn_model *m, *back;
  nn_optimizer *opt;
  char buf[64];
  size_t needed = 99, len;
  char *big;
  int i;
  unsigned char *bytes;
  (void)state;
  make_model(&cases[0], &m, &opt); /* sets "run" */
  TU_OK(nn_model_set_metadata(m, "features", "x0,x1,x2,x3,x4"));
  TU_OK(nn_model_set_metadata(m, "scale", "0.5"));
  TU_OK(nn_model_set_metadata(m, "scale", "0.25")); /* replaces */
  TU_OK(nn_model_set_metadata(m, "empty", ""));
  TU_OK(nn_model_set_metadata(m, "unicode \xc3\xa9", "caf\xc3\xa9 \xe2\x82\xac \"quoted\" \\ \n tab\t"));
  TU_OK(nn_model_get_metadata(m, "scale", buf, sizeof buf, &needed));
  assert_string_equal(buf, "0.25");
  assert_int_equal(needed, 5);
  TU_OK(nn_model_get_metadata(m, "empty", buf, sizeof buf, &needed));
  assert_string_equal(buf, "");
  assert_int_equal(needed, 1);
  TU_OK(nn_model_get_metadata(m, "absent", buf, sizeof buf, &needed));
  assert_string_equal(buf, "");
  assert_int_equal(needed, 0);
  TU_OK(nn_model_get_metadata(m, "features", NULL, 0, &needed)); /* size only */
  assert_int_equal(needed, 15);
  TU_OK(nn_model_get_metadata(m, "features", buf, 5, &needed)); /* truncated */
  assert_string_equal(buf, "x0,x");
  assert_int_equal(needed, 15);
  TU_OK(nn_model_set_metadata(m, "gone", "soon"));
  TU_OK(nn_model_set_metadata(m, "gone", NULL));
  TU_OK(nn_model_set_metadata(m, "never-set", NULL));
  TU_OK(nn_model_get_metadata(m, "gone", buf, sizeof buf, &needed));
  assert_int_equal(needed, 0);
  /* Listing: 5 entries in byte order of the keys. */
  assert_int_equal(nn_model_metadata_count(m), 5);
  assert_int_equal(nn_model_metadata_count(NULL), -1);
  {
    static const char *const keys[] = {"empty", "features", "run", "scale", "unicode \xc3\xa9"};
    for (i = 0; i < 5; i++) {
      TU_OK(nn_model_metadata_key(m, i, buf, sizeof buf, &needed));
      assert_string_equal(buf, keys[i]);
      assert_int_equal(needed, strlen(keys[i]) + 1);
    }
    TU_OK(nn_model_metadata_key(m, 1, buf, 4, &needed));
    assert_string_equal(buf, "fea");
    assert_int_equal(needed, 9);
  }
  TU_ERR(nn_model_metadata_key(m, 5, buf, sizeof buf, NULL), NN_ERR_INVALID_ARGUMENT, "nn_model_metadata_key",
         "index is 5; the model has 5 metadata entries");
  TU_ERR(nn_model_metadata_key(m, -1, buf, sizeof buf, NULL), NN_ERR_INVALID_ARGUMENT, "nn_model_metadata_key",
         "index is -1");
  TU_ERR(nn_model_metadata_key(NULL, 0, buf, sizeof buf, NULL), NN_ERR_INVALID_ARGUMENT, "nn_model_metadata_key",
         "m is NULL");
  TU_ERR(nn_model_metadata_key(m, 0, NULL, 3, NULL), NN_ERR_INVALID_ARGUMENT, "nn_model_metadata_key", "buf is NULL");

  /* Round trips: file, buffer, checkpoint. */
  TU_OK(nn_model_save(m, tmp_path("meta.st")));
  TU_OK(nn_model_load(tmp_path("meta.st"), tu_cpu(), &back));
  assert_int_equal(nn_model_metadata_count(back), 5);
  TU_OK(nn_model_get_metadata(back, "unicode \xc3\xa9", buf, sizeof buf, NULL));
  assert_string_equal(buf, "caf\xc3\xa9 \xe2\x82\xac \"quoted\" \\ \n tab\t");
  TU_OK(nn_model_get_metadata(back, "features", buf, sizeof buf, NULL));
  assert_string_equal(buf, "x0,x1,x2,x3,x4");
  TU_OK(nn_model_get_metadata(back, "empty", buf, sizeof buf, &needed));
  assert_int_equal(needed, 1);
  TU_OK(nn_model_get_metadata(back, "gone", buf, sizeof buf, &needed));
  assert_int_equal(needed, 0);
  nn_model_free(back);
  bytes = tu_save_model(m, &len);
  TU_OK(nn_model_load_buffer(bytes, len, tu_cpu(), &back));
  TU_OK(nn_model_get_metadata(back, "scale", buf, sizeof buf, NULL));
  assert_string_equal(buf, "0.25");
  nn_model_free(back);
  free(bytes);

  /* Reserved keys, bad arguments, limits. */
  TU_ERR(nn_model_set_metadata(m, "nn.architecture", "[]"), NN_ERR_INVALID_ARGUMENT, "nn_model_set_metadata",
         "\"nn.architecture\" is reserved");
  TU_ERR(nn_model_set_metadata(m, "nn.mine", NULL), NN_ERR_INVALID_ARGUMENT, "nn_model_set_metadata", "reserved");
  TU_ERR(nn_model_get_metadata(m, "nn.architecture", buf, sizeof buf, NULL), NN_ERR_INVALID_ARGUMENT,
         "nn_model_get_metadata", "reserved");
  TU_ERR(nn_model_set_metadata(NULL, "k", "v"), NN_ERR_INVALID_ARGUMENT, "nn_model_set_metadata", "m is NULL");
  TU_ERR(nn_model_set_metadata(m, NULL, "v"), NN_ERR_INVALID_ARGUMENT, "nn_model_set_metadata", "key is NULL");
  TU_ERR(nn_model_set_metadata(m, "", "v"), NN_ERR_INVALID_ARGUMENT, "nn_model_set_metadata", "key is empty");
  TU_ERR(nn_model_set_metadata(m, "bad\xff", "v"), NN_ERR_INVALID_ARGUMENT, "nn_model_set_metadata", "not valid UTF-8");
  TU_ERR(nn_model_set_metadata(m, "k", "bad\xc3"), NN_ERR_INVALID_ARGUMENT, "nn_model_set_metadata",
         "value of metadata key \"k\" is not valid UTF-8");
  TU_ERR(nn_model_get_metadata(NULL, "k", buf, sizeof buf, NULL), NN_ERR_INVALID_ARGUMENT, "nn_model_get_metadata",
         "m is NULL");
  TU_ERR(nn_model_get_metadata(m, NULL, buf, sizeof buf, NULL), NN_ERR_INVALID_ARGUMENT, "nn_model_get_metadata",
         "key is NULL");
  TU_ERR(nn_model_get_metadata(m, "k", NULL, 4, NULL), NN_ERR_INVALID_ARGUMENT, "nn_model_get_metadata", "buf is NULL");
  big = malloc(65537 + 1);
  memset(big, 'a', 65537);
  big[129] = '\0';
  TU_OK(nn_model_set_metadata(m, big + 1, "128-byte key")); /* 128 bytes: allowed */
  TU_ERR(nn_model_set_metadata(m, big, "v"), NN_ERR_INVALID_ARGUMENT, "nn_model_set_metadata", "is 129 bytes; at most 128");
  TU_OK(nn_model_set_metadata(m, big + 1, NULL));
  big[129] = 'a';
  big[65537] = '\0';
  TU_OK(nn_model_set_metadata(m, "long", big + 1)); /* 65,536 bytes: allowed */
  TU_ERR(nn_model_set_metadata(m, "long", big), NN_ERR_INVALID_ARGUMENT, "nn_model_set_metadata",
         "is 65537 bytes; at most 65536");
  TU_OK(nn_model_get_metadata(m, "long", NULL, 0, &needed));
  assert_int_equal(needed, 65537);
  TU_OK(nn_model_set_metadata(m, "long", NULL));
  free(big);
  /* At most 128 entries (5 set above). */
  for (i = 0; i < 123; i++) {
    char key[16];
    snprintf(key, sizeof key, "k%d", i);
    TU_OK(nn_model_set_metadata(m, key, "v"));
  }
  TU_ERR(nn_model_set_metadata(m, "one-more", "v"), NN_ERR_INVALID_ARGUMENT, "nn_model_set_metadata",
         "already has 128 metadata entries");
  TU_OK(nn_model_set_metadata(m, "k0", "replacing is fine"));
  /* 128 entries survive a checkpoint. */
  TU_OK(nn_checkpoint_save(m, opt, tmp_path("meta.ckpt")));
  {
    nn_model *cm;
    nn_optimizer *co;
    TU_OK(nn_checkpoint_load(tmp_path("meta.ckpt"), tu_cpu(), &cm, &co));
    TU_OK(nn_model_get_metadata(cm, "k122", buf, sizeof buf, NULL));
    assert_string_equal(buf, "v");
    TU_OK(nn_model_get_metadata(cm, "k0", buf, sizeof buf, NULL));
    assert_string_equal(buf, "replacing is fine");
    nn_optimizer_free(co);
    nn_model_free(cm);
  }
  nn_optimizer_free(opt);
  nn_model_free(m);
}

/* A file whose user metadata breaks the limits is refused by the loader. */
static void test_metadata_in_files(void **state) {
  const char *arch = "[{\\\"type\\\":\\\"linear\\\",\\\"in\\\":1,\\\"out\\\":1,\\\"bias\\\":false}]";
  char header[512], key[200];
  unsigned char file[600];
  size_t hl, i;
  nn_model *m = (nn_model *)TU_SENTINEL;
  char buf[16];
  float w = 2.0f;
  (void)state;
  /* 1. PyTorch's "format": "pt" loads as an ordinary entry. */
  hl = (size_t)snprintf(header, sizeof header,
                        "{\"__metadata__\":{\"nn.architecture\":\"%s\",\"format\":\"pt\",\"nn.future\":\"x\"},"
                        "\"0.weight\":{\"dtype\":\"F32\",\"shape\":[1,1],\"data_offsets\":[0,4]}}",
                        arch);
  for (i = 0; i < 8; i++) file[i] = (unsigned char)(hl >> (8 * i));
  memcpy(file + 8, header, hl);
  memcpy(file + 8 + hl, &w, 4);
  TU_OK(nn_model_load_buffer(file, 8 + hl + 4, tu_cpu(), &m));
  TU_OK(nn_model_get_metadata(m, "format", buf, sizeof buf, NULL));
  assert_string_equal(buf, "pt");
  nn_model_free(m);
  /* 2. A 129-byte key. */
  memset(key, 'k', 129);
  key[129] = '\0';
  hl = (size_t)snprintf(header, sizeof header,
                        "{\"__metadata__\":{\"nn.architecture\":\"%s\",\"%s\":\"v\"},"
                        "\"0.weight\":{\"dtype\":\"F32\",\"shape\":[1,1],\"data_offsets\":[0,4]}}",
                        arch, key);
  for (i = 0; i < 8; i++) file[i] = (unsigned char)(hl >> (8 * i));
  memcpy(file + 8, header, hl);
  memcpy(file + 8 + hl, &w, 4);
  m = (nn_model *)TU_SENTINEL;
  TU_ERR(nn_model_load_buffer(file, 8 + hl + 4, tu_cpu(), &m), NN_ERR_FORMAT, "nn_model_load_buffer",
         "is 129 bytes; at most 128");
  assert_ptr_equal(m, TU_SENTINEL);
  /* 3. A NUL inside a value. */
  hl = (size_t)snprintf(header, sizeof header,
                        "{\"__metadata__\":{\"nn.architecture\":\"%s\",\"k\":\"a\\u0000b\"},"
                        "\"0.weight\":{\"dtype\":\"F32\",\"shape\":[1,1],\"data_offsets\":[0,4]}}",
                        arch);
  for (i = 0; i < 8; i++) file[i] = (unsigned char)(hl >> (8 * i));
  memcpy(file + 8, header, hl);
  memcpy(file + 8 + hl, &w, 4);
  TU_ERR(nn_model_load_buffer(file, 8 + hl + 4, tu_cpu(), &m), NN_ERR_FORMAT, "nn_model_load_buffer",
         "value of metadata key \"k\" is not valid UTF-8 without NUL bytes");
  assert_ptr_equal(m, TU_SENTINEL);
}

/* ---- load_weights ---------------------------------------------------------------- */

static nn_model *lw_model(const int64_t *layers, int n_layers) {
  /* layers: in/out pairs as (in, out) with out 0 for a ReLU, bias flag in sign of out (-out: no bias) */
  nn_model *m;
  int i;
  TU_OK(nn_model_create(&m));
  for (i = 0; i < n_layers; i++) {
    nn_layer *l;
    if (layers[2 * i + 1] == 0)
      TU_OK(nn_layer_activation(NN_ACT_RELU, &l));
    else
      TU_OK(nn_layer_linear(layers[2 * i], layers[2 * i + 1] < 0 ? -layers[2 * i + 1] : layers[2 * i + 1],
                            layers[2 * i + 1] > 0, &l));
    TU_OK(nn_model_add(m, l));
  }
  return m;
}

static void check_forward(nn_model *m, const double *expect, double rtol) {
  const int64_t xs[] = {LW_ROWS, LW_IN};
  nn_tensor *x = tu_make(NN_F32, 2, xs, lw_x), *y;
  int64_t ys[] = {LW_ROWS, LW_OUT};
  TU_OK(nn_model_forward(m, x, &y));
  tu_assert_tensor(y, nn_model_dtype(m), 2, ys, expect, rtol, 1e-7);
  nn_tensor_free(x);
  nn_tensor_free(y);
}

static void test_load_weights_torch(void **state) {
  static const int64_t good[] = {3, 4, 0, 0, 4, 2};
  nn_model *m = lw_model(good, 3);
  (void)state;
  /* nn_model_load refuses a file without nn.architecture; load_weights takes it. */
  {
    nn_model *lm = (nn_model *)TU_SENTINEL;
    TU_ERR(nn_model_load(NN_FIXTURES_DIR "/torch_state_dict.safetensors", tu_cpu(), &lm), NN_ERR_FORMAT,
           "nn_model_load", "nn.architecture");
  }
  TU_OK(nn_model_load_weights(m, NN_FIXTURES_DIR "/torch_state_dict.safetensors"));
  check_forward(m, lw_y_f32, 1e-6);
  /* F16 values convert to the model's F32 (exactly: F16 fits in F32). */
  TU_OK(nn_model_load_weights(m, NN_FIXTURES_DIR "/torch_state_dict_f16.safetensors"));
  check_forward(m, lw_y_f16, 1e-6);
  /* ... and to F64. */
  TU_OK(nn_model_to_dtype(m, NN_F64));
  TU_OK(nn_model_load_weights(m, NN_FIXTURES_DIR "/torch_state_dict.safetensors"));
  check_forward(m, lw_y_f32, 1e-12);
  /* A libnn file and a checkpoint load as state dicts too (metadata ignored). */
  {
    nn_model *src = lw_model(good, 3), *dst = lw_model(good, 3);
    nn_optimizer *opt;
    double *a, *b;
    int64_t na, nb;
    TU_OK(nn_model_init(src, NN_INIT_HE_NORMAL, 5));
    TU_OK(nn_model_set_metadata(dst, "mine", "kept"));
    TU_OK(nn_optimizer_adam(src, 0.1, 0.9, 0.999, 1e-8, 0, false, &opt));
    TU_OK(nn_checkpoint_save(src, opt, tmp_path("lw.ckpt")));
    TU_OK(nn_model_load_weights(dst, tmp_path("lw.ckpt")));
    a = tu_model_values(src, false, &na);
    b = tu_model_values(dst, false, &nb);
    assert_memory_equal(a, b, (size_t)na * sizeof *a);
    {
      char buf[8];
      TU_OK(nn_model_get_metadata(dst, "mine", buf, sizeof buf, NULL));
      assert_string_equal(buf, "kept");
    }
    free(a);
    free(b);
    nn_optimizer_free(opt);
    nn_model_free(src);
    nn_model_free(dst);
  }
  nn_model_free(m);
}

static void test_load_weights_mismatch(void **state) {
  static const struct {
    int64_t layers[10];
    int n;
    const char *expect[3];
  } cases_m[] = {
      /* wrong width: size mismatch for both tensors of layer 0 and layer 2's weight */
      {{3, 5, 0, 0, 5, 2}, 3, {"size mismatch for 3 tensor(s)", "\"0.weight\" is [4, 3] in the file but [5, 3] in the model",
                               "\"2.weight\" is [2, 4] in the file but [2, 5] in the model"}},
      /* a third Linear layer: its tensors are missing */
      {{3, 4, 0, 0, 4, 2, 0, 0, 2, 2}, 5, {"missing 2 tensor(s): \"4.weight\", \"4.bias\"", NULL, NULL}},
      /* only the first layer: the rest is unexpected */
      {{3, 4}, 1, {"unexpected 2 tensor(s): \"2.bias\", \"2.weight\"", NULL, NULL}},
      /* no bias in layer 2: 2.bias unexpected */
      {{3, 4, 0, 0, 4, -2}, 3, {"unexpected 1 tensor(s): \"2.bias\"", NULL, NULL}},
      /* an extra activation shifts the index: 3.* missing, 2.* unexpected */
      {{3, 4, 0, 0, 0, 0, 4, 2}, 4,
       {"missing 2 tensor(s): \"3.weight\", \"3.bias\"", "unexpected 2 tensor(s): \"2.bias\", \"2.weight\"", NULL}},
  };
  size_t i, k;
  (void)state;
  for (i = 0; i < sizeof cases_m / sizeof cases_m[0]; i++) {
    nn_model *m = lw_model(cases_m[i].layers, cases_m[i].n);
    double *before, *after;
    int64_t nb, na;
    nn_status st;
    before = tu_model_values(m, false, &nb);
    st = nn_model_load_weights(m, NN_FIXTURES_DIR "/torch_state_dict.safetensors");
    if (st != NN_ERR_FORMAT) fail_msg("case %zu: status %d (%s)", i, (int)st, nn_last_error());
    assert_non_null(strstr(nn_last_error(), "nn_model_load_weights: "));
    for (k = 0; k < 3 && cases_m[i].expect[k]; k++)
      if (!strstr(nn_last_error(), cases_m[i].expect[k]))
        fail_msg("case %zu: \"%s\" lacks \"%s\"", i, nn_last_error(), cases_m[i].expect[k]);
    after = tu_model_values(m, false, &na);
    assert_memory_equal(before, after, (size_t)nb * sizeof *before); /* unchanged */
    free(before);
    free(after);
    nn_model_free(m);
  }
  /* Partly matching: nothing is loaded (all or nothing). */
  {
    static const int64_t l[] = {3, 4, 0, 0, 4, 3};
    nn_model *m = lw_model(l, 3);
    double *before, *after;
    int64_t n;
    before = tu_model_values(m, false, &n);
    TU_ERR(nn_model_load_weights(m, NN_FIXTURES_DIR "/torch_state_dict.safetensors"), NN_ERR_FORMAT,
           "nn_model_load_weights", "\"2.weight\" is [2, 4] in the file but [3, 4]", "\"2.bias\" is [2]");
    after = tu_model_values(m, false, &n);
    assert_memory_equal(before, after, (size_t)n * sizeof *before);
    free(before);
    free(after);
    /* Errors of the arguments and of the file. */
    TU_ERR(nn_model_load_weights(NULL, "x"), NN_ERR_INVALID_ARGUMENT, "nn_model_load_weights", "m is NULL");
    TU_ERR(nn_model_load_weights(m, NULL), NN_ERR_INVALID_ARGUMENT, "nn_model_load_weights", "path is NULL");
    TU_ERR(nn_model_load_weights(m, tmp_path("nope.st")), NN_ERR_IO, "nn_model_load_weights", "nope.st");
    tu_write_file(tmp_path("short.st"), "abc", 3);
    TU_ERR(nn_model_load_weights(m, tmp_path("short.st")), NN_ERR_FORMAT, "nn_model_load_weights", "shorter than");
    nn_model_free(m);
  }
  /* A dtype libnn has no use for (BOOL) is named. */
  {
    static const int64_t l[] = {1, 1};
    nn_model *m = lw_model(l, 1);
    const char *h = "{\"0.weight\":{\"dtype\":\"BOOL\",\"shape\":[1,1],\"data_offsets\":[0,1]},"
                    "\"0.bias\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[1,9]}}";
    unsigned char file[256];
    size_t hl = strlen(h), i2;
    int64_t three = 3;
    for (i2 = 0; i2 < 8; i2++) file[i2] = (unsigned char)(hl >> (8 * i2));
    memcpy(file + 8, h, hl);
    file[8 + hl] = 1;
    memcpy(file + 9 + hl, &three, 8);
    tu_write_file(tmp_path("bool.st"), file, 8 + hl + 9);
    TU_ERR(nn_model_load_weights(m, tmp_path("bool.st")), NN_ERR_FORMAT, "nn_model_load_weights",
           "\"0.weight\" has dtype BOOL");
    nn_model_free(m);
  }
  /* Integers convert: I64 3 becomes 3.0. */
  {
    static const int64_t l[] = {1, 1};
    nn_model *m = lw_model(l, 1);
    const char *h = "{\"0.weight\":{\"dtype\":\"F32\",\"shape\":[1,1],\"data_offsets\":[0,4]},"
                    "\"0.bias\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[4,12]}}";
    unsigned char file[256];
    size_t hl = strlen(h), i2;
    int64_t three = 3;
    float two = 2.0f;
    double *v;
    int64_t n;
    for (i2 = 0; i2 < 8; i2++) file[i2] = (unsigned char)(hl >> (8 * i2));
    memcpy(file + 8, h, hl);
    memcpy(file + 8 + hl, &two, 4);
    memcpy(file + 12 + hl, &three, 8);
    tu_write_file(tmp_path("int.st"), file, 8 + hl + 12);
    TU_OK(nn_model_load_weights(m, tmp_path("int.st")));
    v = tu_model_values(m, false, &n);
    assert_int_equal(n, 2);
    assert_true(v[0] == 2.0 && v[1] == 3.0);
    free(v);
    nn_model_free(m);
  }
}

/* ---- main ---------------------------------------------------------------------------- */

static int setup(void **state) {
  (void)state;
  snprintf(tmp_dir, sizeof tmp_dir, "/tmp/nn_test_checkpoint_XXXXXX");
  return mkdtemp(tmp_dir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  tu_rm_tree(tmp_dir);
  return 0;
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_epoch_counter),
      cmocka_unit_test(test_fit_in_pieces),
      cmocka_unit_test(test_shuffle_follows_epoch),
      cmocka_unit_test(test_resume_in_process),
      cmocka_unit_test(test_resume_across_processes),
      cmocka_unit_test(test_checkpoint_contents),
      cmocka_unit_test(test_checkpoint_errors),
      cmocka_unit_test(test_hostile_checkpoints),
      cmocka_unit_test(test_damaged_checkpoints),
      cmocka_unit_test(test_metadata),
      cmocka_unit_test(test_metadata_in_files),
      cmocka_unit_test(test_load_weights_torch),
      cmocka_unit_test(test_load_weights_mismatch),
  };
  if (argc > 1) return child_main(argc, argv);
  return cmocka_run_group_tests(tests, setup, teardown);
}
