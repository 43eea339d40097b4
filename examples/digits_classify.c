/* digits_classify.c: classify the digits test set with the C file that
 * digits_export wrote, and nothing else: no libnn, no allocation in the
 * model, just `#include` of the generated source.
 *
 *     cc -std=c99 -DDIGITS_MODEL='"digits_model.c"' digits_classify.c -o digits_classify -lm
 *     digits_classify path/to/digits.csv
 *
 * It splits the data as digits.c and digits_export.c do and prints how many
 * of the 360 test images the generated digits_predict() gets right, which
 * must equal libnn's count (examples/run_export_c.cmake checks it).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef DIGITS_MODEL
#define DIGITS_MODEL "digits_model.c"
#endif
#include DIGITS_MODEL /* defines digits_predict, DIGITS_IN_FEATURES, DIGITS_OUT_FEATURES */

#define N_IMAGES 1797
#define N_TEST 360
#define N_TRAIN (N_IMAGES - N_TEST)

static int pixels[N_IMAGES][DIGITS_IN_FEATURES];
static int labels[N_IMAGES];

static uint64_t next_random(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15u);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
  return z ^ (z >> 31);
}

int main(int argc, char **argv) {
  static int order[N_IMAGES];
  uint64_t rng = 2024;
  float x[DIGITS_IN_FEATURES], scores[DIGITS_OUT_FEATURES];
  int i, j, correct = 0;
  FILE *f;
  if (argc != 2) {
    fprintf(stderr, "usage: %s digits.csv\n", argv[0]);
    return 2;
  }
  f = fopen(argv[1], "r");
  if (f == NULL) {
    perror(argv[1]);
    return 1;
  }
  for (i = 0; i < N_IMAGES; i++)
    for (j = 0; j <= DIGITS_IN_FEATURES; j++)
      if (fscanf(f, j ? " ,%d" : "%d", j < DIGITS_IN_FEATURES ? &pixels[i][j] : &labels[i]) != 1) {
        fprintf(stderr, "%s: line %d: bad field %d\n", argv[1], i + 1, j + 1);
        return 1;
      }
  fclose(f);
  for (i = 0; i < N_IMAGES; i++) order[i] = i;
  for (i = N_IMAGES - 1; i > 0; i--) {
    int k = (int)(next_random(&rng) % (uint64_t)(i + 1)), tmp = order[i];
    order[i] = order[k];
    order[k] = tmp;
  }
  for (i = N_TRAIN; i < N_IMAGES; i++) {
    int best = 0;
    for (j = 0; j < DIGITS_IN_FEATURES; j++) x[j] = pixels[order[i]][j] / 16.0f;
    digits_predict(x, scores);
    for (j = 1; j < DIGITS_OUT_FEATURES; j++)
      if (scores[j] > scores[best]) best = j;
    correct += best == labels[order[i]];
  }
  printf("generated C: %d/%d test images correct\n", correct, N_TEST);
  return 0;
}
