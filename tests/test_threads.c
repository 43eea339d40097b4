/* The default CPU thread count comes from the environment: OMP_NUM_THREADS
 * if valid (first value of a list), else NN_NUM_THREADS, else all cores;
 * capped to the cores this process may run on; nn_set_num_threads
 * overrides it (nn.h, nn_set_num_threads / nn_get_num_threads).
 *
 * CMake runs this program several times with different OMP_NUM_THREADS and
 * NN_NUM_THREADS (an empty value stands for unset: it is not a valid count)
 * and NN_TEST_EXPECT_THREADS: the count the environment asks for (a number,
 * expected capped to the cores) or "cores". */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

/* The cores this process may run on (its affinity mask), as libnn caps to. */
static int affinity_cores(void) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return -1;
  return CPU_COUNT(&set);
}

static int expected_threads(void) {
  const char *e = getenv("NN_TEST_EXPECT_THREADS");
  if (e == NULL) fail_msg("NN_TEST_EXPECT_THREADS is not set (CMake sets it for each run of this test)");
  const int cores = affinity_cores();
  assert_true(cores >= 1);
  if (strcmp(e, "cores") == 0) return cores;
  const int n = atoi(e);
  assert_true(n >= 1);
  return n < cores ? n : cores;
}

/* Runs first (cmocka keeps the order): nothing has set a count yet. */
static void test_default_from_environment(void **state) {
  (void)state;
  const int want = expected_threads();
  const char *omp = getenv("OMP_NUM_THREADS"), *nn = getenv("NN_NUM_THREADS");
  printf("# OMP_NUM_THREADS=\"%s\" NN_NUM_THREADS=\"%s\", %d cores: nn_get_num_threads() = %d (expected %d)\n",
         omp ? omp : "(unset)", nn ? nn : "(unset)", affinity_cores(), nn_get_num_threads(), want);
  assert_int_equal(nn_get_num_threads(), want);
  tu_check_parallel_matmul(384);
  assert_int_equal(nn_get_num_threads(), want);
  /* the work used no more threads than that: this one plus want - 1
   * workers (libnn's probe threads have ended) */
  const int t = tu_process_threads();
  if (t > 0 && t > want) fail_msg("%d threads in the process for a count of %d", t, want);
}

static void test_set_overrides_environment(void **state) {
  (void)state;
  const int cores = affinity_cores();
  TU_OK(nn_set_num_threads(1));
  assert_int_equal(nn_get_num_threads(), 1);
  tu_check_parallel_matmul(384);
  TU_OK(nn_set_num_threads(1000)); /* capped */
  assert_int_equal(nn_get_num_threads(), cores);
  tu_check_parallel_matmul(384);
  TU_OK(nn_set_num_threads(0)); /* all cores, not back to the environment's count */
  assert_int_equal(nn_get_num_threads(), cores);
  TU_OK(nn_set_num_threads(-2));
  assert_int_equal(nn_get_num_threads(), cores);
  if (cores >= 2) {
    TU_OK(nn_set_num_threads(2));
    assert_int_equal(nn_get_num_threads(), 2);
    tu_check_parallel_matmul(384);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_default_from_environment),
      cmocka_unit_test(test_set_overrides_environment),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
