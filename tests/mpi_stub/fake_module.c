/* A libnn_mpi.so whose MPI library (libmpi.so.999, see fake_libmpi.c) is
 * missing: nn_comm_mpi must answer NN_ERR_UNSUPPORTED saying "no MPI runtime". */
int nn_fake_mpi_symbol(void);
int nn_mpi_module_table(void) { return nn_fake_mpi_symbol(); }
