/* libnn load benchmark (issue 15): how fast nn_model_load reads a model and
 * how long until its first prediction, for 784-H-H-10 ReLU models of about
 * 9 KB (the tiny 10-40-40-5 net), 2.7 MB, 23 MB and 100 MB, saved as F32
 * safetensors files in a temporary folder.
 *
 *   bench_load [--reps N] [--dir DIR] [--threads N] [--only NAME]
 *
 * Per model, after one untimed load (the page cache is warm: the figures
 * are loads from memory, not from disk), each repetition times
 *   - nn_model_load alone (reported as MB/s of file and ms), and
 *   - nn_model_load + nn_model_predict of one row (ms: time to the first
 *     prediction),
 * freeing the model between them (untimed); figures are medians of the
 * repetitions. It never fails on time: it prints figures.
 *
 * bench_load_model() and the LoadFigures it returns are what bench_cpu.c
 * can call to print the same rows. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nn.h>
#include "bench_common.h"

enum { LOAD_MAX_REPS = 64 };

typedef struct {
  double file_mb;   /* file size, 10^6 bytes */
  double load_ms;   /* nn_model_load alone, median */
  double load_mbps; /* file_mb / load seconds */
  double first_ms;  /* nn_model_load + one-row nn_model_predict, median */
} LoadFigures;

/* Saves an n-layer-size ReLU MLP (He uniform, seed 1) to path and times
 * loading it back `reps` times (at most LOAD_MAX_REPS). */
static LoadFigures bench_load_model(const char *path, int n, const int64_t *sizes, int reps) {
  LoadFigures f;
  double t_load[LOAD_MAX_REPS], t_first[LOAD_MAX_REPS];
  if (reps > LOAD_MAX_REPS) reps = LOAD_MAX_REPS;
  nn_model *m = mlp_on(n, sizes, NN_ACT_RELU, CPU);
  CHECK(nn_model_save(m, path));
  nn_model_free(m);
  struct stat st;
  if (stat(path, &st) != 0) {
    perror(path);
    exit(1);
  }
  f.file_mb = (double)st.st_size / 1e6;
  float *x = rand_array(sizes[0]);
  float *y = malloc((size_t)sizes[n - 1] * sizeof(float));
  if (!y) exit(1);
  CHECK(nn_model_load(path, CPU, &m)); /* warm-up: the file in the page cache */
  CHECK(nn_model_predict(m, 1, x, y));
  nn_model_free(m);
  for (int r = 0; r < reps; ++r) {
    double t0 = now_s();
    CHECK(nn_model_load(path, CPU, &m));
    t_load[r] = now_s() - t0;
    nn_model_free(m);
    t0 = now_s();
    CHECK(nn_model_load(path, CPU, &m));
    CHECK(nn_model_predict(m, 1, x, y));
    t_first[r] = now_s() - t0;
    nn_model_free(m);
  }
  const double load_s = median(t_load, reps);
  f.load_ms = load_s * 1e3;
  f.load_mbps = f.file_mb / load_s;
  f.first_ms = median(t_first, reps) * 1e3;
  free(x);
  free(y);
  return f;
}

int main(int argc, char **argv) {
  int reps = 9, threads = 1;
  const char *dir_arg = NULL, *only = NULL;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
      reps = atoi(argv[++i]);
    } else if (!strcmp(argv[i], "--dir") && i + 1 < argc) {
      dir_arg = argv[++i];
    } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
      threads = atoi(argv[++i]);
    } else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
      only = argv[++i];
    } else {
      fprintf(stderr, "usage: %s [--reps N] [--dir DIR] [--threads N] [--only MODEL]\n", argv[0]);
      return 2;
    }
  }
  if (reps < 1) reps = 1;
  CHECK(nn_set_num_threads(threads));
  char dir[4096];
  if (dir_arg) {
    snprintf(dir, sizeof dir, "%s/bench_load.XXXXXX", dir_arg);
  } else {
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/bench_load.XXXXXX", tmp && *tmp ? tmp : "/tmp");
  }
  if (!mkdtemp(dir)) {
    perror(dir);
    return 1;
  }
  static const struct {
    const char *name;
    int64_t sizes[4];
  } models[] = {{"10-40-40-5", {10, 40, 40, 5}},
                {"784-512-512-10", {784, 512, 512, 10}},
                {"784-2048-2048-10", {784, 2048, 2048, 10}},
                {"784-4608-4608-10", {784, 4608, 4608, 10}}};
  FILE *la = fopen("/proc/loadavg", "r");
  char load[128] = "?";
  if (la) {
    if (!fgets(load, sizeof load, la)) strcpy(load, "?");
    fclose(la);
    load[strcspn(load, "\n")] = 0;
  }
  printf("bench_load: libnn %s, %d thread(s), median of %d, page cache warm; loadavg %s\n", nn_version_string(), threads, reps,
         load);
  printf("%-18s %9s %10s %10s %16s\n", "model (F32)", "file MB", "load ms", "load MB/s", "load+predict ms");
  for (size_t i = 0; i < sizeof models / sizeof models[0]; ++i) {
    if (only && strcmp(only, models[i].name) != 0) continue;
    char path[4200];
    snprintf(path, sizeof path, "%s/model%zu.safetensors", dir, i);
    LoadFigures f = bench_load_model(path, 4, models[i].sizes, reps);
    printf("%-18s %9.3f %10.3f %10.0f %16.3f\n", models[i].name, f.file_mb, f.load_ms, f.load_mbps, f.first_ms);
    fflush(stdout);
    unlink(path);
  }
  rmdir(dir);
  return 0;
}
