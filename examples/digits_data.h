/* The digits data set of the digits examples (digits.c, digits_export.c,
 * digits_ddp.c): examples/data/digits.csv, 1797 images of 8x8 pixels from
 * scikit-learn, one per line as 64 integers 0..16 then the label 0..9; a
 * seeded shuffle (the same split in every example: train = the first 1437
 * images of the order, test = the last 360), and the tensors of a subset. */
#ifndef NN_EXAMPLES_DIGITS_DATA_H
#define NN_EXAMPLES_DIGITS_DATA_H

#include <nn.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef NN_EXAMPLES_DATA
#define NN_EXAMPLES_DATA "examples/data"
#endif

#define N_IMAGES 1797
#define N_TEST 360
#define N_TRAIN (N_IMAGES - N_TEST)
#define N_PIXELS 64
#define N_CLASSES 10

static int pixels[N_IMAGES][N_PIXELS]; /* the CSV: 64 pixels, then the label */
static int labels[N_IMAGES];

/* Reads the CSV (nn_tensor_load_csv) into pixels and labels; exits with a
 * message on a bad file. */
static void digits_load(const char *path) {
  const nn_device cpu = {NN_CPU, 0};
  static int32_t table[N_IMAGES][N_PIXELS + 1];
  nn_tensor *t = NULL;
  int i, j;
  if (nn_tensor_load_csv(path, ',', 0, NN_I32, cpu, &t) != NN_OK ||
      nn_tensor_numel(t) != (int64_t)N_IMAGES * (N_PIXELS + 1) ||
      nn_tensor_read(t, table, sizeof table) != NN_OK) {
    fprintf(stderr, "%s: %s\n", path, t ? "expected 1797 lines of 65 numbers" : nn_last_error());
    exit(1);
  }
  nn_tensor_free(t);
  for (i = 0; i < N_IMAGES; i++)
    for (j = 0; j <= N_PIXELS; j++) {
      int v = table[i][j];
      if (v < 0 || v > (j < N_PIXELS ? 16 : 9)) {
        fprintf(stderr, "%s: line %d, field %d: expected a number in range\n", path, i + 1, j + 1);
        exit(1);
      }
      if (j < N_PIXELS)
        pixels[i][j] = v;
      else
        labels[i] = v;
    }
}

/* order = 0..N_IMAGES-1 in a reproducible order: a Fisher-Yates shuffle
 * driven by a small seeded generator (splitmix64). */
static void digits_shuffle(int order[N_IMAGES], uint64_t seed) {
  int i;
  for (i = 0; i < N_IMAGES; i++) order[i] = i;
  for (i = N_IMAGES - 1; i > 0; i--) {
    uint64_t z = (seed += 0x9E3779B97F4A7C15u);
    int k, tmp;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    z ^= z >> 31;
    k = (int)(z % (uint64_t)(i + 1));
    tmp = order[i];
    order[i] = order[k];
    order[k] = tmp;
  }
}

/* The tensors of images order[0], order[stride], ... (n of them): x [n, 64]
 * F32 in [0, 1], y [n] I64. */
static void digits_set(const int *order, int n, int stride, nn_tensor **x, nn_tensor **y) {
  const nn_device cpu = {NN_CPU, 0};
  const int64_t xshape[] = {n, N_PIXELS}, yshape[] = {n};
  float *xv = malloc((size_t)n * N_PIXELS * sizeof *xv);
  int64_t *yv = malloc((size_t)n * sizeof *yv);
  int i, j;
  if (xv == NULL || yv == NULL) {
    fprintf(stderr, "out of memory\n");
    exit(1);
  }
  for (i = 0; i < n; i++) {
    for (j = 0; j < N_PIXELS; j++) xv[i * N_PIXELS + j] = pixels[order[i * stride]][j] / 16.0f;
    yv[i] = labels[order[i * stride]];
  }
  if (nn_tensor_from_data(NN_F32, 2, xshape, xv, cpu, x) != NN_OK ||
      nn_tensor_from_data(NN_I64, 1, yshape, yv, cpu, y) != NN_OK) {
    fprintf(stderr, "digits_set: %s\n", nn_last_error());
    exit(1);
  }
  free(yv);
  free(xv);
}

#endif
