"""Process groups for data-parallel training (nn.h group "comm").

    import nn
    comm = nn.Comm()                 # MPI_COMM_WORLD (libnn initialises MPI if needed)
    comm = nn.Comm(MPI.COMM_WORLD)   # or an mpi4py communicator (mpi4py installed)
    m.fit(x_shard, y_shard, comm=comm, batch_size=32)   # per-rank batch
    comm.allreduce(t, "mean"); comm.broadcast(t, root=0); comm.broadcast_model(m)

Run the script with ``mpirun -np 2 python3 script.py``. Every method but
``rank``/``size`` is collective: all ranks call it in the same order. Without
libnn_mpi.so or an MPI runtime, ``nn.Comm()`` raises ``nn.UnsupportedError``
saying which is missing.
"""

import ctypes

from . import _capi
from ._capi import C, ReduceOp, check


def _mpi_comm_address(mpi_comm):
    """The address of the MPI_Comm behind mpi_comm (None: MPI_COMM_WORLD)."""
    if mpi_comm is None:
        return None
    if isinstance(mpi_comm, int):
        return mpi_comm
    try:
        from mpi4py import MPI  # noqa: PLC0415 - optional dependency
    except ImportError:
        raise TypeError("nn.Comm: mpi_comm must be None, the address of an MPI_Comm (int) or an "
                        "mpi4py communicator, and mpi4py is not installed") from None
    if not isinstance(mpi_comm, MPI.Comm):
        raise TypeError("nn.Comm: mpi_comm must be None, an int address or an mpi4py MPI.Comm; got %s"
                        % type(mpi_comm).__name__)
    return MPI._addressof(mpi_comm)


class Comm(_capi.Handle):
    """A group of processes (nn_comm) over an MPI communicator.

    ``mpi_comm``: None for MPI_COMM_WORLD, an mpi4py ``MPI.Comm`` (where
    mpi4py is installed; libnn duplicates it), or the address of an
    ``MPI_Comm`` as an int.
    """

    _h = None

    def __init__(self, mpi_comm=None):
        addr = _mpi_comm_address(mpi_comm)
        out = ctypes.c_void_p()
        check(C.nn_comm_mpi(addr, ctypes.byref(out)))
        self._h = out.value

    def close(self):
        """Frees the group (collective, like MPI_Comm_free)."""
        if self._h:
            C.nn_comm_free(self._h)
            self._h = None

    @property
    def _ptr(self):
        if not self._h:
            raise ValueError("nn: this Comm is closed")
        return self._h

    @property
    def rank(self):
        """This process's rank, 0..size-1."""
        return C.nn_comm_rank(self._ptr)

    @property
    def size(self):
        """Number of processes in the group."""
        return C.nn_comm_size(self._ptr)

    def allreduce(self, tensor, op="sum"):
        """Reduces an nn.Tensor over the group in place ("sum", "mean", "max",
        "min") and returns it."""
        o = _capi.enum_arg(ReduceOp, op, "reduce op")
        check(C.nn_comm_allreduce(self._ptr, tensor._ptr, o))
        return tensor

    def broadcast(self, tensor, root=0):
        """Copies root's nn.Tensor into every rank's, in place; returns it."""
        check(C.nn_comm_broadcast(self._ptr, tensor._ptr, int(root)))
        return tensor

    def broadcast_model(self, model, root=0):
        """Copies root's parameters into every rank's model (same architecture)."""
        check(C.nn_model_broadcast(self._ptr, model._ptr, int(root)))
        return model

    def __repr__(self):
        if not self._h:
            return "nn.Comm(closed)"
        return "nn.Comm(rank=%d, size=%d)" % (self.rank, self.size)
