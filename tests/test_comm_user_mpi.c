/* A program that runs MPI itself (MPI_Init, its own communicators,
 * MPI_Finalize) and hands libnn a communicator: nn_comm_mpi takes the address
 * of an MPI_Comm, works on that group only, leaves MPI to the caller, and
 * answers NN_ERR_UNSUPPORTED once the caller has finalised MPI. Run under
 * mpirun -np 3 (CTest test_comm_user_mpi); includes mpi.h besides nn.h. */
#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include "test_util.h"

static void test_split_communicator(void **state) {
  (void)state;
  int wrank = 0, wsize = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &wrank);
  MPI_Comm_size(MPI_COMM_WORLD, &wsize);
  /* Two groups: even and odd world ranks, each ordered by descending world rank. */
  MPI_Comm half;
  MPI_Comm_split(MPI_COMM_WORLD, wrank % 2, -wrank, &half);
  int hrank = 0, hsize = 0;
  MPI_Comm_rank(half, &hrank);
  MPI_Comm_size(half, &hsize);
  nn_comm *c = NULL;
  TU_OK(nn_comm_mpi(&half, &c));
  assert_int_equal(nn_comm_rank(c), hrank);
  assert_int_equal(nn_comm_size(c), hsize);
  /* The sum over the group is the sum of its world ranks only. */
  double v = (double)wrank, want = 0;
  for (int r = wrank % 2; r < wsize; r += 2) want += r;
  int64_t shape[1] = {1};
  nn_tensor *t = tu_make(NN_F64, 1, shape, &v);
  TU_OK(nn_comm_allreduce(c, t, NN_REDUCE_SUM));
  tu_assert_tensor(t, NN_F64, 1, shape, &want, 0, 0);
  nn_tensor_free(t);
  nn_comm_free(c);
  /* The caller's communicator is still the caller's. */
  int still = 0;
  MPI_Allreduce(&wrank, &still, 1, MPI_INT, MPI_MAX, half);
  assert_true(still >= wrank);
  MPI_Comm_free(&half);
  /* MPI_COMM_NULL is an argument error. */
  MPI_Comm null_comm = MPI_COMM_NULL;
  TU_ERR(nn_comm_mpi(&null_comm, &c), NN_ERR_INVALID_ARGUMENT, "nn_comm_mpi", "MPI_COMM_NULL");
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_split_communicator)};
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  nn_comm *world = NULL;
  TU_OK(nn_comm_mpi(NULL, &world));  /* a comm still alive when the caller finalises */
  MPI_Finalize();
  nn_comm_free(world);               /* after MPI_Finalize: only the handle's memory */
  nn_comm *c = NULL;
  nn_status st = nn_comm_mpi(NULL, &c);
  if (st != NN_ERR_UNSUPPORTED || strstr(nn_last_error(), "MPI has already been finalised") == NULL) {
    fprintf(stderr, "after MPI_Finalize: status %d, \"%s\"\n", (int)st, nn_last_error());
    return 1;
  }
  return failed ? 1 : 0;
}
