/* A stand-in "MPI library" (libmpi.so.999) that test_comm_absent's fake
 * module links against and that is then not found at run time: dlopen() of
 * the module fails on it as it fails on a machine with libnn_mpi.so but
 * without Open MPI. */
int nn_fake_mpi_symbol(void) { return 0; }
