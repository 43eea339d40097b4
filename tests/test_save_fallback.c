/* Saving without O_TMPFILE (nn.h "Saving"): on file systems that cannot make
 * unnamed files, nn_model_save writes a named temporary "<name>.tmp.XXXXXX"
 * and removes stale ones left by killed saves, those no live save holds
 * locked. An open() interposer in this executable makes every O_TMPFILE open
 * fail with EOPNOTSUPP, as such a file system does, so the named route runs.
 *
 * - 4 threads save the same path 150 times each: every save succeeds (a
 *   save's fresh temporary, created but not yet locked, is never taken for a
 *   stale one by another save), the file loads, and no temporary is left.
 * (Stale temporaries left by killed saves: test_hardening.)
 * Not built in sanitizer trees (TSan/ASan interpose open themselves). */
#define _GNU_SOURCE 1
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_util.h"

/* ---- the interposer ------------------------------------------------------ */
static volatile long g_tmpfile_refused = 0;

static int forward_open(const char *sym, const char *path, int flags, mode_t mode) {
  if ((flags & O_TMPFILE) == O_TMPFILE) {
    __atomic_fetch_add(&g_tmpfile_refused, 1, __ATOMIC_RELAXED);
    errno = EOPNOTSUPP;
    return -1;
  }
  int (*real)(const char *, int, ...) = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, sym);
  return real(path, flags, mode);
}
static mode_t mode_arg(int flags, va_list ap) {
  return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}
int open(const char *path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return forward_open("open", path, flags, mode);
}
int open64(const char *path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return forward_open("open64", path, flags, mode);
}

/* ---- helpers ------------------------------------------------------------- */
static char g_dir[256];

static int count_temporaries(void) {
  DIR *d = opendir(g_dir);
  assert_non_null(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (strstr(e->d_name, ".tmp.") != NULL) ++n;
  closedir(d);
  return n;
}

static nn_model *small_model(void) {
  const int64_t sizes[] = {3, 4, 2};
  nn_model *m = NULL;
  assert_int_equal(nn_model_mlp(3, sizes, NN_ACT_TANH, NN_ACT_IDENTITY, &m), NN_OK);
  return m;
}

typedef struct {
  const nn_model *m;
  const char *path;
  int failures;
  char last_error[512];
} SaveJob;

static void *save_loop(void *arg) {
  SaveJob *job = (SaveJob *)arg;
  for (int i = 0; i < 150; ++i)
    if (nn_model_save(job->m, job->path) != NN_OK) {
      ++job->failures;
      snprintf(job->last_error, sizeof job->last_error, "%s", nn_last_error());
    }
  return NULL;
}

/* ---- tests --------------------------------------------------------------- */
static void concurrent_saves_of_one_path(void **state) {
  (void)state;
  char path[320];
  snprintf(path, sizeof path, "%s/shared.safetensors", g_dir);
  nn_model *m = small_model();
  g_tmpfile_refused = 0;
  SaveJob jobs[4];
  pthread_t th[4];
  for (int t = 0; t < 4; ++t) {
    jobs[t] = (SaveJob){m, path, 0, ""};
    assert_int_equal(pthread_create(&th[t], NULL, save_loop, &jobs[t]), 0);
  }
  for (int t = 0; t < 4; ++t) assert_int_equal(pthread_join(th[t], NULL), 0);
  for (int t = 0; t < 4; ++t) {
    if (jobs[t].failures) fprintf(stderr, "thread %d: %d failed saves, last: %s\n", t, jobs[t].failures, jobs[t].last_error);
    assert_int_equal(jobs[t].failures, 0);
  }
  assert_true(g_tmpfile_refused >= 600); /* every save took the named route */
  assert_int_equal(count_temporaries(), 0);
  nn_model *back = NULL;
  assert_int_equal(nn_model_load(path, tu_cpu(), &back), NN_OK);
  assert_int_equal(nn_model_num_layers(back), nn_model_num_layers(m));
  nn_model_free(back);
  nn_model_free(m);
  unlink(path);
}

int main(void) {
  snprintf(g_dir, sizeof g_dir, "/tmp/nn_save_fallback_XXXXXX");
  if (mkdtemp(g_dir) == NULL) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(concurrent_saves_of_one_path),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  rmdir(g_dir);
  return rc;
}
