/* Hardening (issue 11): ABI growth of nn_fit_options (version 1 and 2,
 * on_batch), a loader linear in its input (hostile headers answered well
 * under a second, the header length checked before the body is read),
 * crash-safe saving (permissions, special files, symlinks, long names,
 * temporary files left by kills), the thread cap, fork after a parallel
 * call, and OpenMP thread-creation failure that must not end the process.
 *
 * CPU only. Run as `test_hardening --spawn-child NAME` it is its own helper
 * process for the cases that need a fresh process (see main). */
#define _GNU_SOURCE 1
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TH_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define TH_SANITIZED 1
#endif
#endif
#ifndef TH_SANITIZED
#define TH_SANITIZED 0
#endif

static const char *g_self; /* argv[0], for the helper processes */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- nn_fit_options versions and on_batch ------------------------------------------ */

/* nn_fit_options as version 1 of nn.h declared it (release 0.1.0). */
typedef struct {
  uint32_t version;
  int epochs;
  int64_t batch_size;
  bool shuffle;
  uint64_t seed;
  nn_loss loss;
  const nn_tensor *val_x;
  const nn_tensor *val_y;
  int patience;
  nn_epoch_callback on_epoch;
  void *user_data;
} fit_options_v1;

/* y = 2 x0 - x1 + 0.5 on n rows; a 2-1 linear model with fixed weights. */
typedef struct {
  nn_model *m;
  nn_optimizer *opt;
  nn_tensor *x, *y;
  int64_t n;
} problem;

static problem make_problem(int64_t n) {
  problem p;
  p.n = n;
  double *xv = malloc(sizeof(double) * (size_t)(2 * n)), *yv = malloc(sizeof(double) * (size_t)n);
  assert_non_null(xv);
  assert_non_null(yv);
  for (int64_t i = 0; i < n; ++i) {
    xv[2 * i] = (double)(i % 7) / 7.0 - 0.5;
    xv[2 * i + 1] = (double)(i % 5) / 5.0 - 0.4;
    yv[i] = 2 * xv[2 * i] - xv[2 * i + 1] + 0.5;
  }
  const int64_t xs[] = {n, 2}, ys[] = {n, 1}, sizes[] = {2, 1};
  p.x = tu_make(NN_F32, 2, xs, xv);
  p.y = tu_make(NN_F32, 2, ys, yv);
  free(xv);
  free(yv);
  TU_OK(nn_model_mlp(2, sizes, NN_ACT_IDENTITY, NN_ACT_IDENTITY, &p.m));
  TU_OK(nn_model_init(p.m, NN_INIT_ZEROS, 1));
  TU_OK(nn_optimizer_sgd(p.m, 0.1, 0.0, 0.0, false, &p.opt));
  return p;
}

static void free_problem(problem *p) {
  nn_optimizer_free(p->opt);
  nn_model_free(p->m);
  nn_tensor_free(p->x);
  nn_tensor_free(p->y);
}

typedef struct {
  int calls;
  int stop_at; /* stop (return 1) at this call, 1-based; 0: never */
  nn_batch_report reports[64];
  problem *ref; /* a twin trained batch by batch, for the loss values */
} batch_log;

static int on_batch(const nn_batch_report *r, void *ud) {
  batch_log *log = ud;
  if (log->calls < 64) log->reports[log->calls] = *r;
  ++log->calls;
  return log->stop_at > 0 && log->calls == log->stop_at;
}

static void test_on_batch(void **state) {
  (void)state;
  /* 10 rows, batch 3: batches of 3, 3, 3, 1 (4 per epoch); every 2nd batch
   * is reported: batches 1 and 3 of each of 3 epochs. No shuffle, so the
   * loss of batch b is the MSE of rows [3b, 3b + 3) under the weights after
   * b steps, which a twin model trained by nn_optimizer_step reproduces. */
  problem p = make_problem(10), twin = make_problem(10);
  batch_log log;
  memset(&log, 0, sizeof log);
  nn_fit_options o;
  nn_fit_options_init(&o);
  assert_int_equal(o.version, 2);
  assert_null(o.comm);
  assert_null(o.on_batch);
  assert_int_equal(o.batch_every, 0);
  o.epochs = 3;
  o.batch_size = 3;
  o.shuffle = false;
  o.on_batch = on_batch;
  o.batch_every = 2;
  o.user_data = &log;
  nn_epoch_report last;
  TU_OK(nn_model_fit(p.m, p.opt, p.x, p.y, &o, &last));
  assert_int_equal(log.calls, 6);
  assert_int_equal(last.epoch, 2);

  /* the twin: the same steps by hand, recording each batch's loss */
  double losses[12];
  for (int e = 0; e < 3; ++e) {
    for (int b = 0; b < 4; ++b) {
      const int64_t r0 = 3 * b, k = b < 3 ? 3 : 1;
      double xv[6], yv[3];
      int64_t nx = 0, ny = 0;
      double *ax = tu_read(twin.x, &nx), *ay = tu_read(twin.y, &ny);
      for (int64_t i = 0; i < k; ++i) {
        xv[2 * i] = ax[2 * (r0 + i)];
        xv[2 * i + 1] = ax[2 * (r0 + i) + 1];
        yv[i] = ay[r0 + i];
      }
      free(ax);
      free(ay);
      const int64_t xs[] = {k, 2}, ys[] = {k, 1};
      nn_tensor *xb = tu_make(NN_F32, 2, xs, xv), *yb = tu_make(NN_F32, 2, ys, yv);
      double loss = 0;
      TU_OK(nn_model_zero_grad(twin.m));
      TU_OK(nn_model_backward(twin.m, xb, yb, NN_LOSS_MSE, &loss));
      TU_OK(nn_optimizer_step(twin.opt));
      losses[e * 4 + b] = loss;
      nn_tensor_free(xb);
      nn_tensor_free(yb);
    }
    TU_OK(nn_optimizer_epoch_end(twin.opt));
  }
  for (int i = 0; i < 6; ++i) {
    const nn_batch_report *r = &log.reports[i];
    assert_int_equal(r->epoch, i / 2);
    assert_int_equal(r->batch, i % 2 == 0 ? 1 : 3);
    assert_int_equal(r->batches, 4);
    const double want = losses[r->epoch * 4 + (int)r->batch];
    if (fabs(r->loss - want) > 1e-6 * fmax(1.0, fabs(want)))
      fail_msg("report %d: loss %.9g, expected %.9g", i, r->loss, want);
    assert_true(r->seconds >= 0 && r->seconds < 60);
  }
  free_problem(&twin);

  /* stopping at the 3rd report (epoch 1, batch 1): NN_ERR_CANCELLED naming
   * where, `last` = epoch 0, and the model keeps the 6 steps it made */
  free_problem(&p);
  p = make_problem(10);
  memset(&log, 0, sizeof log);
  log.stop_at = 3;
  memset(&last, 0x5a, sizeof last);
  TU_ERR(nn_model_fit(p.m, p.opt, p.x, p.y, &o, &last), NN_ERR_CANCELLED, "nn_model_fit", "on_batch",
         "epoch 1, batch 1");
  assert_int_equal(log.calls, 3);
  assert_int_equal(last.epoch, 0);
  /* the weights after 6 steps: what the twin had after epoch 0 + 2 batches */
  problem t2 = make_problem(10);
  nn_fit_options o2;
  nn_fit_options_init(&o2);
  o2.epochs = 1;
  o2.batch_size = 3;
  o2.shuffle = false;
  TU_OK(nn_model_fit(t2.m, t2.opt, t2.x, t2.y, &o2, NULL));
  /* then 2 batches (rows 0..5) of epoch 1 by hand */
  {
    nn_tensor *xb = NULL, *yb = NULL;
    int64_t nx, ny;
    double *ax = tu_read(t2.x, &nx), *ay = tu_read(t2.y, &ny);
    for (int b = 0; b < 2; ++b) {
      const int64_t xs[] = {3, 2}, ys[] = {3, 1};
      xb = tu_make(NN_F32, 2, xs, ax + 6 * b);
      yb = tu_make(NN_F32, 2, ys, ay + 3 * b);
      double loss;
      TU_OK(nn_model_zero_grad(t2.m));
      TU_OK(nn_model_backward(t2.m, xb, yb, NN_LOSS_MSE, &loss));
      TU_OK(nn_optimizer_step(t2.opt));
      nn_tensor_free(xb);
      nn_tensor_free(yb);
    }
    free(ax);
    free(ay);
  }
  int64_t na = 0, nb = 0;
  double *wa = tu_model_values(p.m, false, &na), *wb = tu_model_values(t2.m, false, &nb);
  assert_int_equal(na, 3);
  assert_int_equal(na, nb);
  for (int64_t i = 0; i < na; ++i) assert_true(fabs(wa[i] - wb[i]) <= 1e-6);
  assert_true(fabs(wa[0]) > 1e-3); /* it did learn something */
  free(wa);
  free(wb);
  free_problem(&t2);

  /* batch_every < 0 and an unknown version are refused, naming them */
  nn_fit_options bad = o;
  bad.batch_every = -1;
  TU_ERR(nn_model_fit(p.m, p.opt, p.x, p.y, &bad, NULL), NN_ERR_INVALID_ARGUMENT, "nn_model_fit", "batch_every");
  bad = o;
  bad.version = 7;
  TU_ERR(nn_model_fit(p.m, p.opt, p.x, p.y, &bad, NULL), NN_ERR_INVALID_ARGUMENT, "nn_model_fit",
         "version is 7");
  /* batch_every 0: never called */
  bad = o;
  bad.batch_every = 0;
  memset(&log, 0, sizeof log);
  TU_OK(nn_model_fit(p.m, p.opt, p.x, p.y, &bad, NULL));
  assert_int_equal(log.calls, 0);
  free_problem(&p);
}

/* The library reads only a version-1 caller's bytes: the struct ends right
 * before an inaccessible page, as does `last` (reading or writing past
 * either would crash). */
static void test_v1_options_read_only_v1(void **state) {
  (void)state;
  const long page = sysconf(_SC_PAGESIZE);
  char *mem = mmap(NULL, (size_t)(4 * page), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  assert_true(mem != MAP_FAILED);
  assert_int_equal(mprotect(mem + page, (size_t)page, PROT_NONE), 0);
  assert_int_equal(mprotect(mem + 3 * page, (size_t)page, PROT_NONE), 0);
  fit_options_v1 *o = (fit_options_v1 *)(mem + page - sizeof(fit_options_v1));
  nn_epoch_report *last = (nn_epoch_report *)(mem + 3 * page - sizeof(nn_epoch_report));
  memset(o, 0, sizeof *o);
  o->version = 1;
  o->epochs = 2;
  o->batch_size = 4;
  o->shuffle = true;
  o->seed = 3;
  o->loss = NN_LOSS_MSE;
  problem p = make_problem(10);
  TU_OK(nn_model_fit(p.m, p.opt, p.x, p.y, (const nn_fit_options *)o, last));
  assert_int_equal(last->epoch, 1);
  assert_int_equal(last->epochs, 2);
  assert_true(last->loss > 0 && isfinite(last->loss));
  free_problem(&p);
  munmap(mem, (size_t)(4 * page));
}

/* ---- the loader: linear time, prefix first --------------------------------------------- */

typedef struct {
  char *p;
  size_t n, cap;
} buf_t;

static void put(buf_t *b, const char *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    b->cap = (b->n + n + 1) * 2;
    b->p = realloc(b->p, b->cap);
    assert_non_null(b->p);
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = 0;
}
static void puts_(buf_t *b, const char *s) { put(b, s, strlen(s)); }

/* A safetensors file: 8-byte length, header (padded to 8), no data. */
static unsigned char *file_of(const buf_t *header, size_t *len) {
  size_t h = (header->n + 7) / 8 * 8;
  unsigned char *f = malloc(8 + h);
  assert_non_null(f);
  for (int i = 0; i < 8; ++i) f[i] = (unsigned char)((uint64_t)h >> (8 * i));
  memcpy(f + 8, header->p, header->n);
  memset(f + 8 + header->n, ' ', h - header->n);
  *len = 8 + h;
  return f;
}

static double cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Loads from memory; must answer `want` (with the message containing `msg`)
 * in under `limit` seconds of this thread's CPU time (the loader runs on the
 * calling thread; CPU time, unlike wall time, does not grow with the load of
 * a shared CI machine; the wall time is printed too). */
static void expect_fast(const buf_t *header, nn_status want, const char *msg, double limit) {
  size_t len = 0;
  unsigned char *f = file_of(header, &len);
  nn_model *m = NULL;
  double t0 = now_s(), c0 = cpu_s();
  nn_status st = nn_model_load_buffer(f, len, tu_cpu(), &m);
  double dt = now_s() - t0, dc = cpu_s() - c0;
  if (st != want) fail_msg("status %d, expected %d: %s", (int)st, (int)want, nn_last_error());
  if (msg && !strstr(nn_last_error(), msg)) fail_msg("message \"%s\" lacks \"%s\"", nn_last_error(), msg);
  printf("# %zu-byte header: answered in %.3f s CPU (%.3f s wall)\n", len, dc, dt);
  if (dc > limit) fail_msg("nn_model_load_buffer of %zu bytes took %.3f s of CPU (limit %.1f s)", len, dc, limit);
  if (m) {
    if (want == NN_OK) assert_int_equal(nn_model_num_layers(m), 60000);
    nn_model_free(m);
  }
  free(f);
}

static void test_loader_hostile_headers(void **state) {
  (void)state;
  buf_t b = {0};
  char s[64];
  /* 1. 199,990 distinct keys then a duplicate of the first (~3 MB). */
  puts_(&b, "{");
  for (int i = 0; i < 199990; ++i) {
    snprintf(s, sizeof s, "%s\"key%07d\":0", i ? "," : "", i);
    puts_(&b, s);
  }
  puts_(&b, ",\"key0000000\":1}");
  assert_true(b.n > 2500000);
  expect_fast(&b, NN_ERR_FORMAT, "duplicate key \"key0000000\"", 1.0);

  /* 2. 60,000 layers in nn.architecture, the last one unknown (~2.6 MB). */
  b.n = 0;
  puts_(&b, "{\"__metadata__\":{\"nn.architecture\":\"[");
  for (int i = 0; i < 60000; ++i) {
    puts_(&b, i ? "," : "");
    puts_(&b, i < 59999 ? "{\\\"type\\\":\\\"activation\\\",\\\"act\\\":\\\"relu\\\"}"
                        : "{\\\"type\\\":\\\"bogus\\\"}");
  }
  puts_(&b, "]\"}}");
  expect_fast(&b, NN_ERR_FORMAT, "layer 59999 has unknown type \"bogus\"", 1.0);

  /* 3. the same 60,000 layers, all valid: a model of 60,000 layers loads.
   * (Needs Model::add without a per-layer rebuild of the plan.) */
  b.n = 0;
  puts_(&b, "{\"__metadata__\":{\"nn.architecture\":\"[");
  for (int i = 0; i < 60000; ++i) {
    puts_(&b, i ? "," : "");
    puts_(&b, "{\\\"type\\\":\\\"activation\\\",\\\"act\\\":\\\"relu\\\"}");
  }
  puts_(&b, "]\"}}");
  expect_fast(&b, NN_OK, NULL, 1.0);

  /* 4. deep nesting: 1,000,000 '[' in the header and in nn.architecture */
  b.n = 0;
  puts_(&b, "{\"a\":");
  for (int i = 0; i < 1000000; ++i) put(&b, "[", 1);
  puts_(&b, "}");
  expect_fast(&b, NN_ERR_FORMAT, "nesting too deep", 1.0);
  b.n = 0;
  puts_(&b, "{\"__metadata__\":{\"nn.architecture\":\"");
  for (int i = 0; i < 1000000; ++i) put(&b, "[", 1);
  puts_(&b, "\"}}");
  expect_fast(&b, NN_ERR_FORMAT, "nesting too deep", 1.0);
  free(b.p);
}

/* A 1 GiB sparse file whose header length is 2^63: refused after 8 bytes. */
static void test_loader_prefix_first(void **state) {
  (void)state;
  char *dir = tu_make_tmpdir("nn_harden_");
  char path[4096];
  snprintf(path, sizeof path, "%s/huge.safetensors", dir);
  int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
  assert_true(fd >= 0);
  unsigned char prefix[8] = {0, 0, 0, 0, 0, 0, 0, 0x80};
  assert_int_equal(write(fd, prefix, 8), 8);
  if (ftruncate(fd, (off_t)1 << 30) != 0) {
    close(fd);
    tu_rm_tree(dir);
    free(dir);
    skip();
  }
  close(fd);
  nn_model *m = NULL;
  double t0 = now_s();
  TU_ERR(nn_model_load(path, tu_cpu(), &m), NN_ERR_FORMAT, "nn_model_load", "header length 9223372036854775808",
         "exceeds the limit");
  double dt = now_s() - t0;
  printf("# 1 GiB file with header length 2^63: refused in %.4f s\n", dt);
  assert_true(dt < 0.25);
  assert_null(m);
  /* a header length past the end of a short file is refused the same way */
  fd = open(path, O_WRONLY | O_TRUNC);
  unsigned char p2[12] = {100, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' '};
  assert_int_equal(write(fd, p2, 12), 12);
  close(fd);
  TU_ERR(nn_model_load(path, tu_cpu(), &m), NN_ERR_FORMAT, "nn_model_load", "header length 100 runs past the end");
  tu_rm_tree(dir);
  free(dir);
}

/* ---- saving ------------------------------------------------------------------------------ */

static nn_model *model_of(int64_t in, int64_t out, uint64_t seed) {
  const int64_t sizes[] = {in, out};
  nn_model *m = NULL;
  TU_OK(nn_model_mlp(2, sizes, NN_ACT_IDENTITY, NN_ACT_IDENTITY, &m));
  TU_OK(nn_model_init(m, NN_INIT_XAVIER_UNIFORM, seed));
  return m;
}

/* 1 when the file holds exactly these bytes. */
static int file_equals(const char *path, const unsigned char *b, size_t n) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  unsigned char *got = malloc(n + 1);
  size_t k = fread(got, 1, n + 1, f);
  fclose(f);
  int same = k == n && memcmp(got, b, n) == 0;
  free(got);
  return same;
}

/* Entries of dir other than "." and ".." whose name contains ".tmp.". */
static int count_tmp(const char *dir) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (strstr(e->d_name, ".tmp.")) ++n;
  closedir(d);
  return n;
}

static void test_save_permissions(void **state) {
  (void)state;
  char *dir = tu_make_tmpdir("nn_harden_");
  char path[4096];
  nn_model *m = model_of(3, 2, 1);
  struct stat st;
  const mode_t old = umask(022);
  snprintf(path, sizeof path, "%s/a.safetensors", dir);
  TU_OK(nn_model_save(m, path));
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0644);
  umask(077);
  snprintf(path, sizeof path, "%s/b.safetensors", dir);
  TU_OK(nn_model_save(m, path));
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  /* an existing file keeps its mode, whatever the umask */
  umask(022);
  TU_OK(nn_model_save(m, path));
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  assert_int_equal(chmod(path, 0640), 0);
  TU_OK(nn_model_save(m, path));
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0640);
  umask(old);
  assert_int_equal(count_tmp(dir), 0);
  nn_model_free(m);
  tu_rm_tree(dir);
  free(dir);
}

static void test_save_special_files(void **state) {
  (void)state;
  char *dir = tu_make_tmpdir("nn_harden_");
  char path[4096], link[4096], target[4096];
  nn_model *m = model_of(3, 2, 1), *m2 = model_of(3, 2, 2);
  size_t n = 0, n2 = 0;
  unsigned char *b = tu_save_model(m, &n), *b2 = tu_save_model(m2, &n2);
  struct stat st;

  /* a FIFO is refused and stays a FIFO (no writer is waited for) */
  snprintf(path, sizeof path, "%s/fifo", dir);
  assert_int_equal(mkfifo(path, 0644), 0);
  TU_ERR(nn_model_save(m, path), NN_ERR_IO, "nn_model_save", "fifo", "is not a regular file", "a FIFO");
  assert_int_equal(lstat(path, &st), 0);
  assert_true(S_ISFIFO(st.st_mode));

  /* a device (through a symlink to /dev/null): refused, untouched */
  snprintf(link, sizeof link, "%s/null-link", dir);
  assert_int_equal(symlink("/dev/null", link), 0);
  TU_ERR(nn_model_save(m, link), NN_ERR_IO, "nn_model_save", "/dev/null", "a character device");
  assert_int_equal(lstat(link, &st), 0);
  assert_true(S_ISLNK(st.st_mode));
  assert_int_equal(stat("/dev/null", &st), 0);
  assert_true(S_ISCHR(st.st_mode));

  /* a symlink (relative, two hops) is followed: its target is replaced, the
   * links stay links */
  snprintf(target, sizeof target, "%s/real.safetensors", dir);
  TU_OK(nn_model_save(m, target));
  snprintf(link, sizeof link, "%s/hop1", dir);
  assert_int_equal(symlink("real.safetensors", link), 0);
  snprintf(path, sizeof path, "%s/hop2", dir);
  assert_int_equal(symlink("hop1", path), 0);
  assert_int_equal(chmod(target, 0600), 0);
  TU_OK(nn_model_save(m2, path));
  assert_int_equal(lstat(path, &st), 0);
  assert_true(S_ISLNK(st.st_mode));
  assert_int_equal(lstat(link, &st), 0);
  assert_true(S_ISLNK(st.st_mode));
  assert_true(file_equals(target, b2, n2));
  assert_int_equal(stat(target, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  /* a dangling symlink: its target is created */
  snprintf(link, sizeof link, "%s/dangling", dir);
  assert_int_equal(symlink("new.safetensors", link), 0);
  TU_OK(nn_model_save(m, link));
  snprintf(target, sizeof target, "%s/new.safetensors", dir);
  assert_true(file_equals(target, b, n));
  /* a symlink loop */
  snprintf(link, sizeof link, "%s/loop", dir);
  assert_int_equal(symlink("loop", link), 0);
  TU_ERR(nn_model_save(m, link), NN_ERR_IO, "nn_model_save", "symbolic links");

  /* a 250-byte file name: saved, loaded back, no temporary file left */
  char name[251];
  memset(name, 'n', 250);
  name[250] = 0;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  TU_OK(nn_model_save(m, path));
  TU_OK(nn_model_save(m2, path));
  assert_true(file_equals(path, b2, n2));
  nn_model *back = NULL;
  TU_OK(nn_model_load(path, tu_cpu(), &back));
  nn_model_free(back);
  assert_int_equal(count_tmp(dir), 0);

  /* a failing step names the temporary file and the user's file: no file
   * descriptor left (works as root too) */
  {
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    int lowest = dup(0);
    assert_true(lowest >= 0);
    close(lowest);
    struct rlimit old_lim, lim;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old_lim), 0);
    lim = old_lim;
    lim.rlim_cur = (rlim_t)lowest;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &lim), 0);
    nn_status st = nn_model_save(m, path);
    char msg[2048];
    snprintf(msg, sizeof msg, "%s", nn_last_error());
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old_lim), 0);
    assert_int_equal(st, NN_ERR_IO);
    if (!strstr(msg, "temporary file") || !strstr(msg, ".tmp.") || !strstr(msg, "(for \"") ||
        !strstr(msg, "/model.safetensors\")"))
      fail_msg("the message does not name the temporary file and the file: %s", msg);
    assert_int_equal(access(path, F_OK), -1);
  }
  free(b);
  free(b2);
  nn_model_free(m);
  nn_model_free(m2);
  tu_rm_tree(dir);
  free(dir);
}

/* A temporary file left by a killed save is removed by the next save of the
 * same file; one that a live save holds (locked) is kept. */
static void test_save_removes_stale_temporaries(void **state) {
  (void)state;
  char *dir = tu_make_tmpdir("nn_harden_");
  char path[4096], stale[4096], live[4096], other[4096];
  nn_model *m = model_of(3, 2, 1);
  snprintf(path, sizeof path, "%s/m.safetensors", dir);
  snprintf(stale, sizeof stale, "%s/m.safetensors.tmp.AbC123", dir);
  snprintf(live, sizeof live, "%s/m.safetensors.tmp.LiVe99", dir);
  snprintf(other, sizeof other, "%s/other.safetensors.tmp.AbC123", dir);
  int fs = open(stale, O_CREAT | O_WRONLY, 0644), fl = open(live, O_CREAT | O_WRONLY, 0644),
      fo = open(other, O_CREAT | O_WRONLY, 0644);
  assert_true(fs >= 0 && fl >= 0 && fo >= 0);
  close(fs);
  close(fo);
  assert_int_equal(flock(fl, LOCK_EX), 0);
  TU_OK(nn_model_save(m, path));
  assert_int_equal(access(stale, F_OK), -1);
  assert_int_equal(access(live, F_OK), 0);
  assert_int_equal(access(other, F_OK), 0); /* another file's */
  close(fl);
  TU_OK(nn_model_save(m, path));
  assert_int_equal(access(live, F_OK), -1);
  nn_model_free(m);
  tu_rm_tree(dir);
  free(dir);
}

/* 60 SIGKILLs at random moments of a child that saves two models in turn:
 * after each, the file is one of the two models and at most one temporary
 * file exists; the next save leaves none. */
static void test_save_sigkill_loop(void **state) {
  (void)state;
  char *dir = tu_make_tmpdir("nn_harden_");
  char path[4096];
  snprintf(path, sizeof path, "%s/k.safetensors", dir);
  nn_model *a = model_of(512, 1024, 1), *b = model_of(512, 1024, 2); /* 2 MiB each */
  size_t na = 0, nb = 0;
  unsigned char *ba = tu_save_model(a, &na), *bb = tu_save_model(b, &nb);
  TU_OK(nn_model_save(a, path));
  tu_rng r = tu_rng_make(42);
  int max_tmp = 0, kills = 0;
  const double t0 = now_s();
  for (int i = 0; i < 60; ++i) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      for (int k = 0;; ++k)
        if (nn_model_save(k % 2 ? b : a, path) != NN_OK) _exit(3);
    }
    struct timespec d = {0, (long)tu_rng_int(&r, 0, 20000000)};
    nanosleep(&d, NULL);
    kill(pid, SIGKILL);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status)) ++kills;
    else fail_msg("the saving child exited with %d: %s", WEXITSTATUS(status), "save failed");
    if (!file_equals(path, ba, na) && !file_equals(path, bb, nb)) fail_msg("kill %d: the file is neither model", i);
    const int t = count_tmp(dir);
    if (t > max_tmp) max_tmp = t;
    if (t > 1) fail_msg("kill %d: %d temporary files", i, t);
  }
  printf("# %d SIGKILLs during saves in %.1f s; at most %d temporary file(s) at a time\n", kills,
         now_s() - t0, max_tmp);
  assert_true(kills >= 50);
  TU_OK(nn_model_save(b, path));
  assert_true(file_equals(path, bb, nb));
  assert_int_equal(count_tmp(dir), 0);
  free(ba);
  free(bb);
  nn_model_free(a);
  nn_model_free(b);
  tu_rm_tree(dir);
  free(dir);
}

/* ---- threads ------------------------------------------------------------------------------- */


static void test_thread_cap(void **state) {
  (void)state;
  const long cores = sysconf(_SC_NPROCESSORS_ONLN);
  TU_OK(nn_set_num_threads(1000));
  tu_check_parallel_matmul(256);
  const int t = tu_process_threads();
  printf("# nn_set_num_threads(1000) on %ld cores: %d threads in the process\n", cores, t);
  /* the team is capped at the cores: this thread + cores - 1 workers, plus
   * at most a few of the runtime's own */
  assert_true(t >= 1 && t <= cores + 4);
  TU_OK(nn_set_num_threads(0));
}

/* Runs `self --spawn-child name` and returns its exit status (-1: signal or
 * more than `limit` seconds). */
static int run_child(const char *name, int limit) {
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    execl(g_self, g_self, "--spawn-child", name, (char *)NULL);
    _exit(127);
  }
  for (int i = 0; i < limit * 100; ++i) {
    int status = 0;
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    struct timespec d = {0, 10000000};
    nanosleep(&d, NULL);
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  fprintf(stderr, "child %s: no answer in %d s (killed)\n", name, limit);
  return -1;
}

/* Fork rule (nn.h): a child forked after parallel work in the parent
 * computes (single-threaded) instead of hanging in libgomp. */
static void test_fork_after_parallel(void **state) {
  (void)state;
  tu_check_parallel_matmul(256); /* the parent's OpenMP team exists now */
  problem p = make_problem(64);
  nn_fit_options o;
  nn_fit_options_init(&o);
  o.epochs = 2;
  TU_OK(nn_model_fit(p.m, p.opt, p.x, p.y, &o, NULL));
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    alarm(60);
    tu_check_parallel_matmul(256);
    if (nn_model_fit(p.m, p.opt, p.x, p.y, &o, NULL) != NN_OK) _exit(2);
    _exit(0);
  }
  int status = 0, done = 0;
  for (int i = 0; i < 3000 && !done; ++i) {
    if (waitpid(pid, &status, WNOHANG) == pid) done = 1;
    else {
      struct timespec d = {0, 10000000};
      nanosleep(&d, NULL);
    }
  }
  if (!done) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    fail_msg("the forked child hung (killed after 30 s)");
  }
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  tu_check_parallel_matmul(256); /* and the parent still computes in parallel */
  free_problem(&p);
}

/* The child: OpenMP cannot create a single thread (the address space is
 * capped before the first libnn call so that no thread stack fits); the
 * parallel work must still be done, on the calling thread, instead of
 * libgomp exiting the process ("Thread creation failed"). */
static int child_no_threads(void) {
  enum { N = 256 };
  float *av = malloc(sizeof(float) * N * N), *bv = malloc(sizeof(float) * N * N), *cv = malloc(sizeof(float) * N * N);
  if (!av || !bv || !cv) return 2;
  for (int i = 0; i < N * N; ++i) {
    av[i] = (float)((i * 7) % 13) - 6;
    bv[i] = (float)((i * 5) % 11) - 5;
  }
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long pages = 0;
  if (!f || fscanf(f, "%lu", &pages) != 1) return 3;
  fclose(f);
  /* headroom 3 MiB: three 256 KiB tensors fit, a thread stack (8 MiB by
   * default) does not */
  struct rlimit lim = {(rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + (3u << 20), RLIM_INFINITY};
  if (setrlimit(RLIMIT_AS, &lim) != 0) return 4;
  const int64_t s[] = {N, N};
  nn_tensor *a = NULL, *b = NULL, *c = NULL;
  nn_status st = nn_tensor_from_data(NN_F32, 2, s, av, tu_cpu(), &a);
  if (st == NN_OK) st = nn_tensor_from_data(NN_F32, 2, s, bv, tu_cpu(), &b);
  if (st == NN_OK) st = nn_matmul(a, b, &c);
  if (st == NN_OK) st = nn_tensor_read(c, cv, sizeof(float) * N * N);
  if (st != NN_OK) {
    fprintf(stderr, "child no-threads: %s: %s\n", nn_status_string(st), nn_last_error());
    return 5;
  }
  for (int i = 0; i < N; i += 37)
    for (int j = 0; j < N; j += 29) {
      double want = 0;
      for (int k = 0; k < N; ++k) want += (double)av[i * N + k] * bv[k * N + j];
      if (cv[i * N + j] != want) return 6;
    }
  nn_tensor_free(a);
  nn_tensor_free(b);
  nn_tensor_free(c);
  return 0;
}

static void test_thread_creation_failure(void **state) {
  (void)state;
  if (TH_SANITIZED) skip(); /* sanitizers need a large address space */
  if (sysconf(_SC_NPROCESSORS_ONLN) < 2) skip(); /* no thread to create */
  assert_int_equal(run_child("no-threads", 60), 0);
}

/* ---- one size rule for shapes; scalars ---------------------------------------------- */

static void test_shape_overflow(void **state) {
  (void)state;
  const int64_t big = (INT64_C(1) << 62) + 1, t40 = INT64_C(1) << 40;
  const int64_t hostile[3] = {0, big, 4};
  nn_tensor *t = NULL;
  /* every constructor */
  TU_ERR(nn_tensor_zeros(NN_F32, 3, hostile, tu_cpu(), &t), NN_ERR_INVALID_ARGUMENT, "nn_tensor_zeros",
         "too many elements");
  TU_ERR(nn_tensor_full(NN_F32, 3, hostile, 1, tu_cpu(), &t), NN_ERR_INVALID_ARGUMENT, "nn_tensor_full",
         "too many elements");
  TU_ERR(nn_tensor_rand_uniform(NN_F32, 3, hostile, 0, 1, 1, tu_cpu(), &t), NN_ERR_INVALID_ARGUMENT,
         "nn_tensor_rand_uniform", "too many elements");
  TU_ERR(nn_tensor_rand_normal(NN_F32, 3, hostile, 0, 1, 1, tu_cpu(), &t), NN_ERR_INVALID_ARGUMENT,
         "nn_tensor_rand_normal", "too many elements");
  float one = 1;
  TU_ERR(nn_tensor_from_data(NN_F32, 3, hostile, &one, tu_cpu(), &t), NN_ERR_INVALID_ARGUMENT,
         "nn_tensor_from_data", "too many elements");
  assert_null(t);
  /* a view: reshape of an empty tensor, as the constructors */
  const int64_t zero[1] = {0};
  nn_tensor *e = NULL;
  TU_OK(nn_tensor_zeros(NN_F32, 1, zero, tu_cpu(), &e));
  TU_ERR(nn_tensor_reshape(e, 3, hostile, &t), NN_ERR_INVALID_ARGUMENT, "nn_tensor_reshape", "too many elements");
  const int64_t hostile2[3] = {big, 4, 0};
  TU_ERR(nn_tensor_reshape(e, 3, hostile2, &t), NN_ERR_INVALID_ARGUMENT, "nn_tensor_reshape", "too many elements");
  nn_tensor_free(e);
  /* results of operations: a broadcast and a K = 0 matmul of valid inputs */
  const int64_t sa[3] = {t40, 1, 0}, sb[3] = {1, t40, 0}, ma[2] = {t40, 0}, mb[2] = {0, t40};
  nn_tensor *a = NULL, *b = NULL;
  TU_OK(nn_tensor_zeros(NN_F32, 3, sa, tu_cpu(), &a));
  TU_OK(nn_tensor_zeros(NN_F32, 3, sb, tu_cpu(), &b));
  TU_ERR(nn_binary(NN_OP_ADD, a, b, &t), NN_ERR_INVALID_ARGUMENT, "nn_binary", "too many elements");
  nn_tensor_free(a);
  nn_tensor_free(b);
  TU_OK(nn_tensor_zeros(NN_F32, 2, ma, tu_cpu(), &a));
  TU_OK(nn_tensor_zeros(NN_F32, 2, mb, tu_cpu(), &b));
  TU_ERR(nn_matmul(a, b, &t), NN_ERR_INVALID_ARGUMENT, "nn_matmul", "too many elements");
  assert_null(t);
  /* its transpose and a reduction of a valid empty tensor still work */
  TU_OK(nn_tensor_transpose(a, 0, 1, &t));
  assert_int_equal(nn_tensor_numel(t), 0);
  nn_tensor_free(t);
  t = NULL;
  nn_tensor_free(a);
  nn_tensor_free(b);
  /* layers and models: numel * 4 must not wrap to 0 */
  nn_layer *l = NULL;
  TU_ERR(nn_layer_linear(INT64_C(1) << 31, INT64_C(1) << 31, true, &l), NN_ERR_INVALID_ARGUMENT, "nn_layer_linear",
         NULL);
  TU_ERR(nn_layer_linear(INT64_C(1) << 62, 4, true, &l), NN_ERR_INVALID_ARGUMENT, "nn_layer_linear", NULL);
  assert_null(l);
  const int64_t sizes[2] = {INT64_C(1) << 31, INT64_C(1) << 31};
  nn_model *m = NULL;
  TU_ERR(nn_model_mlp(2, sizes, NN_ACT_RELU, NN_ACT_IDENTITY, &m), NN_ERR_INVALID_ARGUMENT, "nn_model_mlp", NULL);
  assert_null(m);
}

static void test_scalar_out_of_int64(void **state) {
  (void)state;
  const int64_t s[1] = {3};
  const int64_t v[3] = {1, 0, -5};
  nn_tensor *a = NULL, *c = NULL;
  TU_OK(nn_tensor_from_data(NN_I64, 1, s, v, tu_cpu(), &a));
  /* 1e19 is not an int64: a float, F32 result as PyTorch's torch.tensor([1, 0, -5]) + 1e19 */
  TU_OK(nn_binary_scalar(NN_OP_ADD, a, 1e19, &c));
  assert_int_equal(nn_tensor_dtype(c), NN_F32);
  float f[3];
  TU_OK(nn_tensor_read(c, f, sizeof f));
  for (int i = 0; i < 3; ++i) assert_true(f[i] == (float)1e19);
  nn_tensor_free(c);
  /* 2^63 is just outside; -2^63 just inside (an int: wraps as int64 does) */
  TU_OK(nn_binary_scalar(NN_OP_SUB, a, 9223372036854775808.0, &c));
  assert_int_equal(nn_tensor_dtype(c), NN_F32);
  TU_OK(nn_tensor_read(c, f, sizeof f));
  assert_true(f[0] == (float)(1.0 - 9223372036854775808.0));
  nn_tensor_free(c);
  TU_OK(nn_binary_scalar(NN_OP_ADD, a, -9223372036854775808.0, &c));
  assert_int_equal(nn_tensor_dtype(c), NN_I64);
  int64_t r[3];
  TU_OK(nn_tensor_read(c, r, sizeof r));
  assert_true(r[0] == INT64_MIN + 1 && r[1] == INT64_MIN && r[2] == INT64_MAX - 4);
  nn_tensor_free(c);
  /* within range stays an integer op */
  TU_OK(nn_binary_scalar(NN_OP_MUL, a, 3, &c));
  assert_int_equal(nn_tensor_dtype(c), NN_I64);
  TU_OK(nn_tensor_read(c, r, sizeof r));
  assert_true(r[0] == 3 && r[1] == 0 && r[2] == -15);
  nn_tensor_free(c);
  nn_tensor_free(a);
}

int main(int argc, char **argv) {
  g_self = argv[0];
  if (argc == 3 && strcmp(argv[1], "--spawn-child") == 0) {
    if (strcmp(argv[2], "no-threads") == 0) return child_no_threads();
    return 126;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_on_batch),
      cmocka_unit_test(test_v1_options_read_only_v1),
      cmocka_unit_test(test_loader_hostile_headers),
      cmocka_unit_test(test_loader_prefix_first),
      cmocka_unit_test(test_save_permissions),
      cmocka_unit_test(test_save_special_files),
      cmocka_unit_test(test_save_removes_stale_temporaries),
      cmocka_unit_test(test_save_sigkill_loop),
      cmocka_unit_test(test_thread_cap),
      cmocka_unit_test(test_fork_after_parallel),
      cmocka_unit_test(test_thread_creation_failure),
      cmocka_unit_test(test_shape_overflow),
      cmocka_unit_test(test_scalar_out_of_int64),
  };
  return tu_run_group(tests);
}
