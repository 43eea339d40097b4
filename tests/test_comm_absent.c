/* nn_comm_mpi without the MPI module answers NN_ERR_UNSUPPORTED and says
 * what is missing. CTest runs it with NN_MPI_MODULE_PATH pointing at a
 * folder without libnn_mpi.so (the module is looked up there alone), or, in
 * a build without MPI, as it is; and (test_comm_no_runtime) with a module
 * whose MPI library is missing. */
#include <stdlib.h>

#include "test_util.h"

static void test_module_absent(void **state) {
  (void)state;
  nn_comm *c = (nn_comm *)0x1;
  const char *path = getenv("NN_MPI_MODULE_PATH");
  const char *no_runtime = getenv("NN_EXPECT_NO_RUNTIME");
  if (no_runtime && no_runtime[0] == '1') {
    /* The module is there, its MPI library is not. */
    TU_ERR(nn_comm_mpi(NULL, &c), NN_ERR_UNSUPPORTED, "nn_comm_mpi", "no MPI runtime: libnn_mpi.so was found but",
           "libmpi.so.999");
  } else if (path && path[0]) {
    TU_ERR(nn_comm_mpi(NULL, &c), NN_ERR_UNSUPPORTED, "nn_comm_mpi", "the MPI module libnn_mpi.so is missing",
           "no-such-dir/libnn_mpi.so");
  } else {
    TU_ERR(nn_comm_mpi(NULL, &c), NN_ERR_UNSUPPORTED, "nn_comm_mpi", "this build has no MPI module");
  }
  assert_null(c);
  /* Still missing on a second try (not cached as loaded). */
  TU_ERR(nn_comm_mpi(NULL, &c), NN_ERR_UNSUPPORTED, "nn_comm_mpi", "libnn_mpi.so");
  assert_int_equal(nn_comm_rank(NULL), -1);
  assert_int_equal(nn_comm_size(NULL), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_module_absent)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
